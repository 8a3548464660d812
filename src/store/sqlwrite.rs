//! The SQL of writes, for both database backends: the row each entity inserts, multi-row inserts
//! and updates (PostgreSQL `unnest` arrays, so one prepared plan serves any batch size; SQLite
//! `VALUES` lists), the counters' upsert, and a whole batch as one statement (PostgreSQL) or one
//! call (SQLite). `writer.rs` runs them.

use super::counters::Deltas;
use super::sql::{
    API_KEYS, ASSETS, AUDIT, Arg, COUNTERS, Dialect, INSTITUTIONS, LEDGER, POLICIES,
    POSITION_EVENTS, POSITIONS, Q, TEMPLATES, Table, Ty, insert, select_list, t, ts,
};
use super::sqlrows::{
    self, ApiKeyRow, AssetRow, InstitutionRow, PolicyRow, PositionRow, TemplateRow,
};
use super::{Change, PolicySeen};
use crate::domain::{InstitutionPolicy, Position, PositionState, time};
use Ty::*;
use std::collections::HashSet;

/// One statement inserting `rows` (each in column order), in order. PostgreSQL: `unnest` over
/// one array per column, so the statement's text (and its prepared plan) is the same for any
/// number of rows. SQLite: a `VALUES` list.
pub fn insert_many(d: Dialect, table: &Table, rows: Vec<Vec<Arg>>) -> Q {
    let mut q = Q::new(d, "");
    push_insert_many(&mut q, table, rows);
    q
}

/// `insert_many`, appended to a statement under construction.
pub fn push_insert_many(q: &mut Q, table: &Table, rows: Vec<Vec<Arg>>) {
    q.push(&format!("INSERT INTO {} ({}) ", table.name, table.names()));
    let types = table.cols.iter().map(|(_, ty, _)| *ty);
    match q.d {
        Dialect::Sqlite => {
            q.push("VALUES ");
            push_values(q, types, rows);
        }
        Dialect::Postgres => {
            q.push("SELECT * FROM ");
            push_unnest(q, types, rows);
        }
    }
}

/// `(…), (…)`: one parenthesised list of placeholders per row.
fn push_values(q: &mut Q, types: impl Iterator<Item = Ty> + Clone, rows: Vec<Vec<Arg>>) {
    for (r, row) in rows.into_iter().enumerate() {
        q.push(if r > 0 { ", (" } else { "(" });
        for (i, (arg, ty)) in row.into_iter().zip(types.clone()).enumerate() {
            if i > 0 {
                q.push(", ");
            }
            q.bind(ty, arg);
        }
        q.push(")");
    }
}

/// `unnest($1::text[], $2::bigint[], …)`: the rows as one array per column.
fn push_unnest(q: &mut Q, types: impl Iterator<Item = Ty> + Clone, rows: Vec<Vec<Arg>>) {
    let width = types.clone().count();
    q.push("unnest(");
    for (i, (arg, ty)) in columns(rows, width).into_iter().zip(types).enumerate() {
        if i > 0 {
            q.push(", ");
        }
        q.bind_array(ty, arg);
    }
    q.push(")");
}

/// Rows of arguments turned into one array argument per column.
fn columns(rows: Vec<Vec<Arg>>, width: usize) -> Vec<Arg> {
    let mut cols: Vec<Arg> = Vec::with_capacity(width);
    for row in rows {
        debug_assert_eq!(row.len(), width);
        for (i, arg) in row.into_iter().enumerate() {
            if cols.len() <= i {
                cols.push(match arg {
                    Arg::Int(_) | Arg::OptInt(_) => Arg::Ints(Vec::new()),
                    _ => Arg::Texts(Vec::new()),
                });
            }
            match (&mut cols[i], arg) {
                (Arg::Ints(v), Arg::Int(n)) => v.push(Some(n)),
                (Arg::Ints(v), Arg::OptInt(n)) => v.push(n),
                (Arg::Texts(v), Arg::Text(s)) => v.push(s),
                _ => unreachable!("a column holds one kind of value"),
            }
        }
    }
    cols
}

/// Applies many position transitions in one statement; returns the ids it updated. A position
/// is updated only if it still has its expected state and version, and only if its newest
/// ledger event agrees (a row edited behind the ledger is never written on). No two items may
/// name the same position (the writer puts such writes in separate statements), and every
/// earlier ledger event of the positions must be inserted before it runs.
pub fn update_positions_states(
    d: Dialect,
    items: &[(&Position, crate::domain::PositionState, i64)],
) -> Q {
    let mut q = Q::new(d, "");
    push_update_positions_states(&mut q, items);
    q.push(" RETURNING positions.id");
    q
}

/// `update_positions_states` without its `RETURNING`, appended to a statement.
pub fn push_update_positions_states(
    q: &mut Q,
    items: &[(&Position, crate::domain::PositionState, i64)],
) {
    let d = q.d;
    let rows: Vec<Vec<Arg>> = items
        .iter()
        .map(|(p, expected_state, expected_version)| {
            vec![
                t(&p.id),
                t(p.state.as_str()),
                Arg::Int(p.version),
                ts(&p.updated_at),
                t(expected_state.as_str()),
                Arg::Int(*expected_version),
                Arg::Text(p.released.map(|b| sqlrows::stored_balance(d, b))),
                t(sqlrows::stored_balance(d, p.held_for_sorting())),
            ]
        })
        .collect();
    // The balance is written under the same guard as the state and version: a release computed
    // from a version another write has moved on from never lands (and the tables' checks keep
    // `released` within the amount whatever writes it).
    const TYPES: [Ty; 8] = [Text, Text, Int, Ts, Text, Int, Amount, Amount];
    q.push("UPDATE positions SET ");
    match q.d {
        Dialect::Sqlite => {
            q.push(
                "state = v.column2, version = v.column3, updated_at = v.column4, \
                 released = v.column7, held = v.column8 FROM (VALUES ",
            );
            push_values(q, TYPES.into_iter(), rows);
            q.push(
                ") AS v WHERE positions.id = v.column1 AND positions.state = v.column5 \
                 AND positions.version = v.column6 AND (SELECT coalesce(json_extract(le.payload, \
                 '$.toState'), json_extract(le.payload, '$.state')) || '/' || \
                 coalesce(json_extract(le.payload, '$.version'), 0) FROM ledger_events AS le \
                 WHERE le.position_id = positions.id ORDER BY le.seq DESC LIMIT 1) \
                 = v.column5 || '/' || v.column6",
            );
        }
        Dialect::Postgres => {
            q.push(
                "state = v.state, version = v.version, updated_at = v.updated_at, \
                 released = v.released, held = v.held FROM ",
            );
            let ids = q.args.len() + 1;
            push_unnest(q, TYPES.into_iter(), rows);
            // The id array again as an index condition, so the plan is an index lookup per
            // item whatever the planner guesses of the unnest.
            q.push(
                " AS v (id, state, version, updated_at, expected_state, expected_version, \
                 released, held) \
                 WHERE positions.id = ANY(",
            );
            q.again(ids, Text);
            q.push(
                ") AND positions.id = v.id AND positions.state = v.expected_state \
                 AND positions.version = v.expected_version AND (SELECT \
                 coalesce(le.payload::jsonb ->> 'toState', le.payload::jsonb ->> 'state') || '/' \
                 || coalesce(le.payload::jsonb ->> 'version', '0') FROM ledger_events AS le \
                 WHERE le.position_id = positions.id ORDER BY le.seq DESC LIMIT 1) \
                 = v.expected_state || '/' || v.expected_version::text",
            );
        }
    }
}

/// Adds a batch's counter deltas (see `counters.rs`), rows in key order.
pub fn add_counters(d: Dialect, deltas: &Deltas<'_>) -> Q {
    let mut q = Q::new(d, "");
    push_add_counters(&mut q, deltas);
    q
}

/// `add_counters`, appended to a statement.
pub fn push_add_counters(q: &mut Q, deltas: &Deltas<'_>) {
    let rows = deltas
        .iter()
        .map(|(scope, name, n)| {
            super::tables::CounterRow {
                scope: scope.into(),
                name: name.into(),
                n,
            }
            .args()
        })
        .collect();
    push_insert_many(q, &COUNTERS, rows);
    q.push(" ON CONFLICT (scope, name) DO UPDATE SET n = counters.n + excluded.n");
}

/// A whole batch for one statement: its rows, table by table.
pub struct OneStatement<'a> {
    /// New rows per table, parents first.
    pub creates: Vec<(&'static Table, Vec<Vec<Arg>>)>,
    pub transitions: Vec<(&'a Position, crate::domain::PositionState, i64)>,
    pub position_events: Vec<Vec<Arg>>,
    /// The ledger rows and audit rows, whole (SQLite: linked by the writer). PostgreSQL links
    /// them itself: their `seq`, `prev_hash` and `hash` are then the database's, from
    /// `prefixes` (each event's canonical bytes up to its previous hash) and `digests`.
    pub ledger: Vec<Vec<Arg>>,
    pub audit: Vec<Vec<Arg>>,
    pub prefixes: Vec<String>,
    pub digests: Vec<String>,
    pub deltas: &'a Deltas<'a>,
    /// The policies the batch's creates were checked against (`policy_guards`).
    pub guards: Vec<(&'a str, &'a PolicySeen)>,
    /// Refused while the store is a mirror's target (PostgreSQL's statement; every commit, but
    /// not a mirror's step, which is an import).
    pub unmarked: bool,
}

/// The policies a batch's creates and releases were checked against, each (institution, as
/// seen) once.
pub fn policy_guards<'a>(changes: &[&'a Change]) -> Vec<(&'a str, &'a PolicySeen)> {
    let mut guards: Vec<(&str, &PolicySeen)> = Vec::new();
    for g in changes.iter().filter_map(|c| c.policy_seen()) {
        if !guards.contains(&g) {
            guards.push(g);
        }
    }
    guards
}

/// A condition true only while every guard's policy is the one in force: the same row (id,
/// config, updatedAt) or, where none was seen, still none. Non-empty `guards` only.
fn push_policies_current(q: &mut Q, guards: &[(&str, &PolicySeen)]) {
    for (i, (institution, seen)) in guards.iter().enumerate() {
        if i > 0 {
            q.push(" AND ");
        }
        q.push(if seen.policy.is_some() {
            "EXISTS (SELECT 1 FROM policies WHERE institution_id = "
        } else {
            "NOT EXISTS (SELECT 1 FROM policies WHERE institution_id = "
        })
        .bind(Text, t(*institution))
        .push(" AND region = ")
        .bind(Text, t(seen.region.as_str()));
        if let Some(p) = &seen.policy {
            q.push(" AND id = ")
                .bind(Text, t(&p.id))
                .push(" AND updated_at = ")
                .bind(Ts, ts(&p.updated_at))
                .push(" AND config = ")
                .bind(Json, t(super::sql::json_text(&p.config)));
        }
        q.push(")");
    }
}

/// The columns a chain fills in: a row's place in its chain.
const CHAIN_COLUMNS: [&str; 3] = ["seq", "prev_hash", "hash"];

/// Inserts `rows` of a chained table (`ledger_events`, `audit_events`) with the place in the
/// chain `linked` gave each (`chain` 'L' or 'A', in row order): the rows' own chain columns are
/// left out and taken from `linked`.
fn push_insert_linked(q: &mut Q, table: &Table, rows: Vec<Vec<Arg>>, chain: &str) {
    let kept: Vec<usize> = (0..table.cols.len())
        .filter(|i| !CHAIN_COLUMNS.contains(&table.cols[*i].0))
        .collect();
    let rows: Vec<Vec<Arg>> = rows
        .into_iter()
        .map(|row| {
            row.into_iter()
                .enumerate()
                .filter(|(i, _)| kept.contains(i))
                .map(|(_, a)| a)
                .collect()
        })
        .collect();
    let projection = table
        .cols
        .iter()
        .map(|(c, ..)| match *c {
            "seq" => "l.link_seq".to_string(),
            "prev_hash" => "l.link_prev".to_string(),
            "hash" => "l.link_hash".to_string(),
            c => format!("u.{c}"),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let aliases = kept
        .iter()
        .map(|i| table.cols[*i].0)
        .collect::<Vec<_>>()
        .join(", ");
    q.push(&format!(
        "INSERT INTO {} ({}) SELECT {projection} FROM ",
        table.name,
        table.names()
    ));
    push_unnest(q, kept.iter().map(|i| table.cols[*i].1), rows);
    q.push(&format!(
        " WITH ORDINALITY AS u ({aliases}, ord) JOIN linked AS l \
         ON l.link_chain = '{chain}' AND l.link_ord = u.ord"
    ));
}

/// One statement that stores a whole batch and links its chains, committed on its own (no BEGIN
/// or COMMIT round trips). Data-modifying CTEs insert the batch's entities, move its positions
/// and insert their lifecycle rows; then `escrowgrid_link` (migration 12) takes the chains' head
/// row, checks the head, links each ledger event and audit record onto it, moves it and
/// notifies `channel`; then the ledger events, audit records and counters are inserted. The head
/// is taken after the rows that do not need it, so writers in several processes write those
/// while another holds the head. The statement ends by calling `escrowgrid_batch_check`, which
/// aborts it (nothing of it is stored) unless every transition applied, and answers with the
/// links as JSON: `[[chain, ord, seq, prev, hash], …]`. No two writes may touch the same
/// entity: the CTEs share one snapshot.
pub fn linked_statement(s: OneStatement<'_>, channel: &str) -> Q {
    let mut q = Q::new(Dialect::Postgres, "WITH ");
    let mut ready = Vec::new();
    let mut first = true;
    // Starts the next CTE: `name AS (`, or `name AS MATERIALIZED (` for `linked`, whose
    // function must run once, whoever reads its rows.
    let mut cte = |q: &mut Q, name: &str| {
        if !first {
            q.push(", ");
        }
        first = false;
        q.push(name).push(if name == "linked" {
            " AS MATERIALIZED ("
        } else {
            " AS ("
        });
    };
    for (i, (table, rows)) in s.creates.into_iter().enumerate() {
        if !rows.is_empty() {
            let name = format!("new{i}");
            cte(&mut q, &name);
            push_insert_many(&mut q, table, rows);
            q.push(" RETURNING 1)");
            ready.push(name);
        }
    }
    let transitions = s.transitions.len();
    if transitions > 0 {
        cte(&mut q, "moved");
        push_update_positions_states(&mut q, &s.transitions);
        q.push(" RETURNING 1)");
        ready.push("moved".into());
    }
    if !s.position_events.is_empty() {
        cte(&mut q, "events");
        push_insert_many(&mut q, &POSITION_EVENTS, s.position_events);
        q.push(" RETURNING 1)");
        ready.push("events".into());
    }
    cte(&mut q, "linked");
    q.push("SELECT * FROM escrowgrid_link(")
        .bind_array(Text, Arg::Texts(s.prefixes.into_iter().map(Some).collect()))
        .push(", ")
        .bind_array(Text, Arg::Texts(s.digests.into_iter().map(Some).collect()))
        .push(", ");
    if ready.is_empty() {
        q.push("0");
    } else {
        let counts: Vec<String> = ready
            .iter()
            .map(|r| format!("(SELECT count(*) FROM {r})"))
            .collect();
        q.push(&counts.join(" + "));
    }
    q.push(", ").bind(Text, t(channel)).push("))");
    if !s.ledger.is_empty() {
        cte(&mut q, "ledger");
        push_insert_linked(&mut q, &LEDGER, s.ledger, "L");
        q.push(")");
    }
    if !s.audit.is_empty() {
        cte(&mut q, "audit");
        push_insert_linked(&mut q, &AUDIT, s.audit, "A");
        q.push(")");
    }
    if !s.deltas.is_empty() {
        cte(&mut q, "counted");
        push_add_counters(&mut q, s.deltas);
        q.push(")");
    }
    // Aborted while the store is a mirror's target: only the mirror writes there.
    q.push(" SELECT escrowgrid_batch_check(")
        .push(if s.unmarked {
            super::mirror_mark::NOT_MARKED
        } else {
            "true"
        });
    if !s.guards.is_empty() {
        q.push(" AND ");
        push_policies_current(&mut q, &s.guards);
    }
    if transitions > 0 {
        q.push(" AND (SELECT count(*) FROM moved) = ")
            .bind(Int, Arg::Int(transitions as i64));
    }
    q.push(
        ")::text, (SELECT json_agg(json_build_array(link_chain, link_ord, link_seq, link_prev, \
         link_hash) ORDER BY link_chain, link_ord) FROM linked)::text",
    );
    q
}

/// A whole batch for SQLite, after its transaction was begun and its head read: every insert and
/// update of the batch, then `COMMIT`, as one multi-statement query (sqlx runs them in one call to
/// its SQLite thread; each statement binds the `$N` it names). After the transitions' UPDATE, a
/// guard fails the query unless every transition applied (`changes()`), so a stale one makes the
/// caller roll back and isolate the batch. SQLite's write lock orders the chain (the writer
/// linked the rows), and the stream watches the file.
pub fn sqlite_batch(s: OneStatement<'_>) -> Q {
    let mut q = Q::new(Dialect::Sqlite, "");
    if s.unmarked {
        // Refused while the store is a mirror's target (the careful path says why).
        q.push("SELECT CASE WHEN ")
            .push(super::mirror_mark::NOT_MARKED)
            .push(" THEN 0 ELSE abs(-9223372036854775808) END; ");
    }
    if !s.guards.is_empty() {
        // A create's policy changed since it was checked: the caller isolates the batch, and
        // the careful path refuses that create alone.
        q.push("SELECT CASE WHEN ");
        push_policies_current(&mut q, &s.guards);
        q.push(" THEN 0 ELSE abs(-9223372036854775808) END; ");
    }
    for (table, rows) in s.creates {
        if !rows.is_empty() {
            push_insert_many(&mut q, table, rows);
            q.push("; ");
        }
    }
    if !s.transitions.is_empty() {
        let n = s.transitions.len() as i64;
        push_update_positions_states(&mut q, &s.transitions);
        // abs() of the smallest integer is SQLite's way to raise an error from plain SQL.
        q.push("; SELECT CASE WHEN changes() = ")
            .bind(Int, Arg::Int(n))
            .push(" THEN 0 ELSE abs(-9223372036854775808) END; ");
    }
    for (table, rows) in [
        (&POSITION_EVENTS, s.position_events),
        (&LEDGER, s.ledger),
        (&AUDIT, s.audit),
    ] {
        if !rows.is_empty() {
            push_insert_many(&mut q, table, rows);
            q.push("; ");
        }
    }
    if !s.deltas.is_empty() {
        push_add_counters(&mut q, s.deltas);
        q.push("; ");
    }
    q.push("COMMIT");
    q
}

/// Inserts or replaces the policy of (institution, region), keeping an existing id and createdAt,
/// and returns the stored row.
pub fn upsert_policy(d: Dialect, p: &InstitutionPolicy) -> Q {
    let mut q = insert(d, &POLICIES, PolicyRow::of(p).args());
    q.push(
        " ON CONFLICT (institution_id, region) DO UPDATE SET config = excluded.config, \
         updated_at = excluded.updated_at RETURNING ",
    );
    q.push(&select_list(d, &POLICIES));
    q
}

/// The state and version the newest ledger event of a position leaves it in.
pub fn ledger_state(d: Dialect, id: &str) -> Q {
    let sql = match d {
        Dialect::Sqlite => {
            "SELECT coalesce(json_extract(payload, '$.toState'), json_extract(payload, '$.state')), \
             coalesce(json_extract(payload, '$.version'), 0) FROM ledger_events WHERE position_id = "
        }
        Dialect::Postgres => {
            "SELECT coalesce(payload::jsonb ->> 'toState', payload::jsonb ->> 'state'), \
             coalesce(payload::jsonb ->> 'version', '0')::bigint FROM ledger_events \
             WHERE position_id = "
        }
    };
    let mut q = Q::new(d, sql);
    q.bind(Text, t(id)).push(" ORDER BY seq DESC LIMIT 1");
    q
}

pub fn position_state(d: Dialect, id: &str) -> Q {
    let mut q = Q::new(d, "SELECT state, version FROM positions WHERE id = ");
    q.bind(Text, t(id));
    q
}

pub fn revoke_api_key(d: Dialect, id: &str, at: &time::Timestamp) -> Q {
    let mut q = Q::new(d, "UPDATE api_keys SET revoked_at = ");
    q.bind(Ts, ts(at))
        .push(" WHERE id = ")
        .bind(Text, t(id))
        .push(" AND revoked_at IS NULL");
    q
}

// ---- which writes share a statement ------------------------------------------------------------

/// The rows a group of writes inserts, per table (parents first, so references within the group
/// hold), and its transitions: (new position, expected state, expected version, lifecycle event).
#[allow(clippy::type_complexity)]
pub fn rows_of<'a>(
    d: Dialect,
    changes: &[&'a Change],
) -> (
    Vec<(&'static Table, Vec<Vec<Arg>>)>,
    Vec<(
        &'a crate::domain::Position,
        PositionState,
        i64,
        &'a crate::domain::PositionLifecycleEvent,
    )>,
) {
    let mut creates: Vec<(&'static Table, Vec<Vec<Arg>>)> = vec![
        (&INSTITUTIONS, Vec::new()),
        (&TEMPLATES, Vec::new()),
        (&ASSETS, Vec::new()),
        (&POSITIONS, Vec::new()),
        (&API_KEYS, Vec::new()),
    ];
    let mut transitions = Vec::new();
    for c in changes {
        match c {
            Change::CreateInstitution(x) => creates[0].1.push(InstitutionRow::of(x).args()),
            Change::CreateTemplate(x) => creates[1].1.push(TemplateRow::of(x).args()),
            Change::CreateAsset(x) => creates[2].1.push(AssetRow::of(x).args()),
            Change::CreatePosition(x, _) => creates[3].1.push(PositionRow::of(d, x).args()),
            Change::CreateApiKey(x) => creates[4].1.push(ApiKeyRow::of(x).args()),
            Change::TransitionPosition {
                position,
                expected_state,
                expected_version,
                event,
                ..
            } => transitions.push((position, *expected_state, *expected_version, event)),
            Change::None | Change::UpsertPolicy(_) | Change::RevokeApiKey { .. } => {}
        }
    }
    (creates, transitions)
}

/// Whether the live writes can go in one statement: no policy upsert or key revocation (they need
/// the database's answer before their records), and no two writes on one entity (one snapshot).
pub fn whole_batch_fits(writes: &[&Change]) -> bool {
    let mut seen = HashSet::new();
    !writes.is_empty()
        && writes.iter().all(|c| {
            !matches!(c, Change::UpsertPolicy(_) | Change::RevokeApiKey { .. })
                && entity_of(c).is_none_or(|e| seen.insert(e))
        })
}

/// The entity a write creates or changes, if any: two writes on one entity never share a
/// statement.
pub fn entity_of(c: &Change) -> Option<&str> {
    match c {
        Change::None => None,
        Change::CreateInstitution(x) => Some(&x.id),
        Change::CreateTemplate(x) => Some(&x.id),
        Change::CreateAsset(x) => Some(&x.id),
        Change::CreatePosition(x, _) => Some(&x.id),
        Change::CreateApiKey(x) => Some(&x.id),
        Change::TransitionPosition { position, .. } => Some(&position.id),
        Change::UpsertPolicy(x) => Some(&x.id),
        Change::RevokeApiKey { id, .. } => Some(id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_rows_are_one_statement() {
        let rows = vec![
            vec![t("a"), t("x"), Arg::Int(1)],
            vec![t("b"), t("y"), Arg::Int(-1)],
        ];
        let pg = insert_many(Dialect::Postgres, &COUNTERS, rows.clone());
        assert_eq!(
            pg.sql,
            "INSERT INTO counters (scope, name, n) SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])",
            "the same text for any number of rows"
        );
        assert!(
            matches!(&pg.args[0], Arg::Texts(v) if v == &[Some("a".to_string()), Some("b".to_string())])
        );
        assert!(matches!(&pg.args[2], Arg::Ints(v) if v == &[Some(1), Some(-1)]));
        let lite = insert_many(Dialect::Sqlite, &COUNTERS, rows);
        assert_eq!(
            lite.sql,
            "INSERT INTO counters (scope, name, n) VALUES ($1, $2, $3), ($4, $5, $6)"
        );
        assert_eq!(lite.args.len(), 6);
    }

    #[test]
    fn a_sqlite_batch_guards_its_transitions_and_commits() {
        use crate::domain::{Money, PositionState};
        let now = time::now();
        let p = Position {
            id: "pos_1".into(),
            institution_id: "inst_1".into(),
            asset_id: "ast_1".into(),
            holder_reference: "H".into(),
            currency: "USD".parse().unwrap(),
            amount: Money::parse("10").unwrap(),
            state: PositionState::Funded,
            external_reference: None,
            version: 1,
            released: Some(crate::domain::Balance::ZERO),
            held: Some(Money::parse("10").unwrap().into()),
            created_at: now,
            updated_at: now,
        };
        let deltas = Deltas::default();
        let q = sqlite_batch(OneStatement {
            creates: vec![(
                &POSITIONS,
                vec![PositionRow::of(Dialect::Sqlite, &p).args()],
            )],
            transitions: vec![(&p, PositionState::Created, 0)],
            position_events: vec![],
            ledger: vec![],
            audit: vec![],
            prefixes: vec![],
            digests: vec![],
            deltas: &deltas,
            guards: vec![],
            unmarked: true,
        });
        let statements: Vec<&str> = q.sql.split("; ").collect();
        assert_eq!(
            statements[0],
            "SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM mirror_of) THEN 0 \
             ELSE abs(-9223372036854775808) END",
            "refused while the store is a mirror's target"
        );
        assert!(statements[1].starts_with("INSERT INTO positions"));
        assert!(statements[2].starts_with("UPDATE positions SET"));
        assert_eq!(
            statements[3],
            "SELECT CASE WHEN changes() = $22 THEN 0 ELSE abs(-9223372036854775808) END",
            "the guard counts the transitions"
        );
        assert_eq!(*statements.last().unwrap(), "COMMIT");
        assert!(matches!(q.args[21], Arg::Int(1)));
    }
}
