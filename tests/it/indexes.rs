//! Every query of the Positions screens and commands is answered by an index of the positions
//! table, on SQLite and PostgreSQL: no full scan, and no sort of the table for a sort key (each
//! key's order is an index's). Run over enough rows, analysed, that a scan would be the worse
//! plan; the plans are the database's own (`Diagnostics::explain_positions`).

use crate::common::{Harness, raw_sql, skip_postgres};
use escrowgrid::domain::PositionState;
use escrowgrid::store::{Backend, PositionFilter, PositionQuery, PositionSortKey};

for_sql_backends!(positions_screens_read_through_indexes);

/// `rows` positions of the fixture's asset, in six states, loaded straight into the table.
async fn load(h: &Harness, backend: Backend, institution: &str, asset: &str, rows: u32) {
    let sql = match backend {
        Backend::Postgres => format!(
            "INSERT INTO positions SELECT 'pos_01900000-0000-7000-8000-' || lpad(i::text, 12, '0'), \
             '{institution}', '{asset}', 'H-' || (i % 5000), 'USD', 100 + i % 9973, \
             (ARRAY['CREATED','FUNDED','PARTIALLY_RELEASED','RELEASED','CANCELLED','EXPIRED'])[1 + i % 6], \
             NULL, 0, now() - (i || ' seconds')::interval, now(), 0, 100 + i % 9973 \
             FROM generate_series(1, {rows}) AS i; ANALYZE positions"
        ),
        _ => format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows}) \
             INSERT INTO positions SELECT printf('pos_01900000-0000-7000-8000-%012d', i), \
             '{institution}', '{asset}', 'H-' || (i % 5000), 'USD', \
             printf('%016d.%08d', 100 + i % 9973, 0), \
             CASE i % 6 WHEN 0 THEN 'CREATED' WHEN 1 THEN 'FUNDED' WHEN 2 THEN 'PARTIALLY_RELEASED' \
                        WHEN 3 THEN 'RELEASED' WHEN 4 THEN 'CANCELLED' ELSE 'EXPIRED' END, \
             NULL, 0, strftime('%Y-%m-%dT%H:%M:%fZ', 1780000000 - i, 'unixepoch'), \
             strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), '0000000000000000.00000000', \
             printf('%016d.%08d', 100 + i % 9973, 0) FROM n; ANALYZE"
        ),
    };
    raw_sql(h, &sql).await.unwrap();
}

async fn positions_screens_read_through_indexes(backend: Backend) {
    let Some(h) = Harness::new(backend).await else {
        return skip_postgres("positions_screens_read_through_indexes");
    };
    let f = h.fixture().await;
    load(&h, backend, &f.institution, &f.asset, 30_000).await;
    let explain = |q: PositionQuery| {
        let store = h.store.clone();
        async move {
            store
                .diagnostics()
                .explain_positions(&q)
                .await
                .unwrap()
                .expect("a SQL store explains its queries")
        }
    };
    // A full scan of the table: PostgreSQL's "Seq Scan on positions", SQLite's "SCAN positions"
    // without an index. A sort of the rows: PostgreSQL's "Sort", SQLite's temporary b-tree.
    let scans = |plan: &str| match backend {
        Backend::Postgres => plan.contains("Seq Scan on positions"),
        _ => plan
            .lines()
            .any(|l| l.contains("SCAN positions") && !l.contains("USING")),
    };
    let sorts = |plan: &str| match backend {
        Backend::Postgres => plan.contains("Sort"),
        _ => plan.contains("TEMP B-TREE"),
    };
    let page = |sort, descending, filter| PositionQuery {
        filter,
        sort,
        descending,
        limit: 51,
        ..Default::default()
    };
    // The table sorted by each key, both ways: an index in that key's order.
    for key in PositionSortKey::ALL {
        for descending in [false, true] {
            let plan = explain(page(*key, descending, PositionFilter::default())).await;
            assert!(
                !scans(&plan) && !sorts(&plan),
                "{backend}: sorted by {} (descending: {descending}):\n{plan}",
                key.as_str()
            );
        }
    }
    // The filters the screens and `position list` offer, in creation order.
    let filters = [
        PositionFilter {
            institution_id: Some(f.institution.clone()),
            ..Default::default()
        },
        PositionFilter {
            institution_id: Some(f.institution.clone()),
            state: Some(PositionState::Expired),
            ..Default::default()
        },
        PositionFilter {
            state: Some(PositionState::Funded),
            ..Default::default()
        },
        PositionFilter {
            asset_id: Some(f.asset.clone()),
            ..Default::default()
        },
        PositionFilter {
            template_id: Some(f.template.clone()),
            ..Default::default()
        },
        PositionFilter {
            holder_reference: Some("H-42".into()),
            ..Default::default()
        },
    ];
    for filter in filters {
        let plan = explain(page(PositionSortKey::Created, false, filter.clone())).await;
        assert!(!scans(&plan), "{backend}: {filter:?}:\n{plan}");
    }
}
