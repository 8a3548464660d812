//! The SQL both database backends share: table layouts, query building with numbered parameters,
//! and the reads. The statements of writes are in `sqlwrite.rs`, row decoding in `sqlrows.rs`. SQLite and PostgreSQL differ only in column types, which this module hides:
//! every value crosses the driver as text or an integer, with PostgreSQL casts written into the
//! SQL (`$3::timestamptz`, `amount::text`), so one row type decodes both.

use super::{AuditQuery, LedgerQuery, PositionFilter, PositionQuery, PositionSortKey};
use crate::domain::time;
use std::fmt::Write as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A bound value. Everything is text or an integer; PostgreSQL casts are in the SQL.
#[derive(Debug, Clone)]
pub enum Arg {
    Text(Option<String>),
    Int(i64),
    OptInt(Option<i64>),
    /// PostgreSQL arrays (one column of a multi-row statement).
    Texts(Vec<Option<String>>),
    Ints(Vec<Option<i64>>),
}

pub(crate) fn t(s: impl Into<String>) -> Arg {
    Arg::Text(Some(s.into()))
}
pub(crate) fn ot(s: Option<impl Into<String>>) -> Arg {
    Arg::Text(s.map(Into::into))
}

/// Column types, for casts and select expressions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Text,
    Ts,
    Amount,
    Json,
    Int,
    /// PostgreSQL's `ledger_head` key only; never bound.
    Bool,
}

/// A table: its name and columns (name, kind, may be NULL), as `tables.rs` declares them.
pub struct Table {
    pub name: &'static str,
    pub cols: &'static [(&'static str, Ty, bool)],
}

impl Table {
    /// The column names, comma-separated, in declaration order.
    pub fn names(&self) -> String {
        self.cols
            .iter()
            .map(|(c, ..)| *c)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

pub use super::tables::{
    API_KEYS, ASSETS, AUDIT, COUNTERS, INSTITUTIONS, LEDGER, POLICIES, POSITION_EVENTS, POSITIONS,
    TEMPLATES,
};

use Ty::*;

/// A statement under construction: SQL text plus its arguments, numbered `$1, $2, …`.
#[derive(Debug, Clone)]
pub struct Q {
    pub d: Dialect,
    pub sql: String,
    pub args: Vec<Arg>,
}

impl Q {
    pub fn new(d: Dialect, sql: &str) -> Self {
        Q {
            d,
            sql: sql.to_string(),
            args: Vec::new(),
        }
    }
    pub fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }
    /// Appends a placeholder for `arg`, cast to `ty` on PostgreSQL.
    pub fn bind(&mut self, ty: Ty, arg: Arg) -> &mut Self {
        self.args.push(arg);
        let n = self.args.len();
        let _ = write!(self.sql, "${n}{}", cast(self.d, ty));
        self
    }
    /// Appends a placeholder for an array argument, cast to an array of `ty` (PostgreSQL).
    pub fn bind_array(&mut self, ty: Ty, arg: Arg) -> &mut Self {
        self.args.push(arg);
        let n = self.args.len();
        let elem = match ty {
            Text => "text",
            Int => "bigint",
            Ts => "timestamptz",
            Amount => "numeric",
            Json => "jsonb",
            Bool => "boolean",
        };
        let _ = write!(self.sql, "${n}::{elem}[]");
        self
    }
    /// A placeholder for an argument already bound (PostgreSQL and SQLite both allow reuse).
    pub fn again(&mut self, n: usize, ty: Ty) -> &mut Self {
        let _ = write!(self.sql, "${n}{}", cast(self.d, ty));
        self
    }
}

fn cast(d: Dialect, ty: Ty) -> &'static str {
    match (d, ty) {
        (Dialect::Sqlite, _) | (_, Text) | (_, Int) | (_, Bool) => "",
        (Dialect::Postgres, Ts) => "::timestamptz",
        (Dialect::Postgres, Amount) => "::numeric",
        (Dialect::Postgres, Json) => "::jsonb",
    }
}

/// The select list of a table, with every column read back as text or integer.
pub fn select_list(d: Dialect, table: &Table) -> String {
    table
        .cols
        .iter()
        .map(|(c, ty, _)| match (d, ty) {
            (Dialect::Postgres, Ts) => {
                format!(
                    r#"to_char({c} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS {c}"#
                )
            }
            (Dialect::Postgres, Amount | Json) => format!("{c}::text AS {c}"),
            _ => c.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn select(d: Dialect, table: &Table, rest: &str) -> Q {
    Q::new(
        d,
        &format!(
            "SELECT {} FROM {} {rest}",
            select_list(d, table),
            table.name
        ),
    )
}

/// `INSERT INTO table (cols…) VALUES ($1…)`; `args` in column order.
pub fn insert(d: Dialect, table: &Table, args: Vec<Arg>) -> Q {
    assert_eq!(args.len(), table.cols.len(), "{}", table.name);
    let mut q = Q::new(
        d,
        &format!("INSERT INTO {} ({}) VALUES (", table.name, table.names()),
    );
    for (i, (arg, (_, ty, _))) in args.into_iter().zip(table.cols).enumerate() {
        if i > 0 {
            q.push(", ");
        }
        q.bind(*ty, arg);
    }
    q.push(")");
    q
}

pub fn by_id(d: Dialect, table: &Table, id: &str) -> Q {
    let mut q = select(d, table, "WHERE id = ");
    q.bind(Text, t(id));
    q
}

pub(crate) fn json_text(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v).expect("serialisable")
}

pub(crate) fn ts(v: &time::Timestamp) -> Arg {
    t(time::format(v))
}

/// The counters of one scope (`counters::ALL` for the whole store).
pub fn counters_of(d: Dialect, scope: &str) -> Q {
    let mut q = Q::new(d, "SELECT name, n FROM counters WHERE scope = ");
    q.bind(Text, t(scope));
    q
}

/// What the funded positions hold, by currency: (currency, integer part, fraction in 1e-8) as
/// text, summed exactly (SQLite from its fixed-width text; PostgreSQL's NUMERIC whole).
pub fn held_by_currency(d: Dialect, scope: Option<&str>) -> Q {
    let sums = match d {
        Dialect::Postgres => "sum(held)::text, '0'",
        Dialect::Sqlite => {
            "CAST(sum(CAST(substr(held, 1, 16) AS INTEGER)) AS TEXT), \
             CAST(sum(CAST(substr(held, 18, 8) AS INTEGER)) AS TEXT)"
        }
    };
    let mut q = Q::new(
        d,
        &format!(
            "SELECT currency, {sums} FROM positions WHERE state IN ('FUNDED', \
             'PARTIALLY_RELEASED') AND released IS NOT NULL"
        ),
    );
    if let Some(scope) = scope {
        q.push(" AND institution_id = ").bind(Text, t(scope));
    }
    q.push(" GROUP BY currency ORDER BY currency");
    q
}

pub fn last_ledger_event(d: Dialect) -> Q {
    Q::new(
        d,
        "SELECT seq, hash FROM ledger_events ORDER BY seq DESC LIMIT 1",
    )
}

/// Gives an audit record written before the audit chain its place in it (the append-only
/// trigger lets this through only while the record has none).
pub fn seal_audit_record(d: Dialect, id: &str, (seq, prev, hash): (i64, &str, &str)) -> Q {
    let mut q = Q::new(d, "UPDATE audit_events SET seq = ");
    q.bind(Int, Arg::Int(seq))
        .push(", prev_hash = ")
        .bind(Text, t(prev))
        .push(", hash = ")
        .bind(Text, t(hash))
        .push(" WHERE id = ")
        .bind(Text, t(id))
        .push(" AND seq IS NULL");
    q
}

/// How many rows an import finds in the tables it must find empty.
pub const HELD_ROWS: &str = "SELECT (SELECT count(*) FROM ledger_events) \
     + (SELECT count(*) FROM audit_events) + (SELECT count(*) FROM institutions)";

/// SQLite, as the writer opens a batch: the write lock, then both chains' heads (the newest
/// ledger event's and the newest audit record's seq and hash; NULL when a chain is empty).
pub const SQLITE_BEGIN_WITH_HEADS: &str = "BEGIN IMMEDIATE; SELECT \
     (SELECT seq FROM ledger_events ORDER BY seq DESC LIMIT 1), \
     (SELECT hash FROM ledger_events ORDER BY seq DESC LIMIT 1), \
     (SELECT seq FROM audit_events WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1), \
     (SELECT hash FROM audit_events WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1)";

/// Both chains' heads in one read (PostgreSQL: the head row, which every batch moves in its own
/// transaction; SQLite: the newest rows, in one statement's snapshot).
pub fn heads(d: Dialect) -> Q {
    match d {
        Dialect::Postgres => Q::new(
            d,
            "SELECT seq, hash, audit_seq, audit_hash FROM ledger_head WHERE id",
        ),
        Dialect::Sqlite => Q::new(d, &SQLITE_BEGIN_WITH_HEADS["BEGIN IMMEDIATE; ".len()..]),
    }
}

/// Both chains' heads, as a writer that holds the write lock reads them (PostgreSQL: the head
/// row, locked until commit; SQLite: the newest rows).
pub fn heads_for_update(d: Dialect) -> Q {
    match d {
        Dialect::Postgres => Q::new(
            d,
            "SELECT seq, hash, audit_seq, audit_hash FROM ledger_head WHERE id FOR UPDATE",
        ),
        Dialect::Sqlite => Q::new(d, &SQLITE_BEGIN_WITH_HEADS["BEGIN IMMEDIATE; ".len()..]),
    }
}

/// The ledger event at `seq` (the head, when the writer checks it).
pub fn ledger_event_at(d: Dialect, seq: i64) -> Q {
    let mut q = select(d, &LEDGER, "WHERE seq = ");
    q.bind(Int, Arg::Int(seq));
    q
}

// ---- lists ------------------------------------------------------------------------------------

fn page_clause(q: &mut Q, after: &Option<String>, limit: u32) {
    if let Some(a) = after {
        q.push(" AND id > ").bind(Text, t(a));
    }
    let _ = write!(q.sql, " ORDER BY id LIMIT {}", super::clamp_limit(limit));
}

fn eq_opt(q: &mut Q, col: &str, v: &Option<String>) {
    if let Some(v) = v {
        q.push(&format!(" AND {col} = ")).bind(Text, t(v));
    }
}

pub fn list_institutions(d: Dialect, x: &super::InstitutionQuery) -> Q {
    let mut q = select(d, &INSTITUTIONS, "WHERE 1 = 1");
    eq_opt(&mut q, "id", &x.id);
    page_clause(&mut q, &x.page.after, x.page.limit);
    q
}

pub fn list_templates(d: Dialect, x: &super::TemplateQuery) -> Q {
    let mut q = select(d, &TEMPLATES, "WHERE 1 = 1");
    eq_opt(&mut q, "institution_id", &x.institution_id);
    page_clause(&mut q, &x.page.after, x.page.limit);
    q
}

pub fn list_assets(d: Dialect, x: &super::AssetQuery) -> Q {
    let mut q = select(d, &ASSETS, "WHERE 1 = 1");
    eq_opt(&mut q, "institution_id", &x.institution_id);
    eq_opt(&mut q, "template_id", &x.template_id);
    page_clause(&mut q, &x.page.after, x.page.limit);
    q
}

/// A position's searchable text on PostgreSQL: id, holder reference and external reference,
/// separated by a character no search term contains. Migration 0006 indexes this expression,
/// so it must stay the same text.
const POSITION_DOC: &str =
    "(id || chr(31) || holder_reference || chr(31) || coalesce(external_reference, ''))";

fn like_pattern(text: &str) -> String {
    let mut p = String::from("%");
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// `AND` one of `fields` contains `text`: case-insensitive (SQLite's LIKE folds ASCII,
/// PostgreSQL's ILIKE every letter), `%` and `_` taken literally. A scan: the ledger and the
/// audit trail are searched a page at a time, newest first, so it stops at a page of matches.
fn text_clause(q: &mut Q, fields: &[&str], text: &str) {
    let like = match q.d {
        Dialect::Postgres => "ILIKE",
        Dialect::Sqlite => "LIKE",
    };
    q.push(" AND (");
    let mut first = None;
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            q.push(" OR ");
        }
        q.push(&format!("{f} {like} "));
        match first {
            None => {
                q.bind(Text, t(like_pattern(text)));
                first = Some(q.args.len());
            }
            Some(n) => {
                q.again(n, Text);
            }
        }
        q.push(" ESCAPE '\\'");
    }
    q.push(")");
}

fn position_filter(q: &mut Q, f: &PositionFilter) {
    eq_opt(q, "institution_id", &f.institution_id);
    eq_opt(q, "asset_id", &f.asset_id);
    if let Some(tid) = &f.template_id {
        q.push(" AND asset_id IN (SELECT id FROM assets WHERE template_id = ")
            .bind(Text, t(tid))
            .push(")");
    }
    if let Some(s) = &f.state {
        q.push(" AND state = ").bind(Text, t(s.as_str()));
    }
    eq_opt(q, "holder_reference", &f.holder_reference);
    if let Some(text) = f.text.as_deref().filter(|s| !s.is_empty()) {
        if q.d == Dialect::Sqlite && text.chars().count() >= 3 {
            // The trigram index answers "contains" for three characters or more (migration 0002).
            q.push(" AND rowid IN (SELECT rowid FROM position_search WHERE position_search MATCH ")
                .bind(Text, t(format!("\"{}\"", text.replace('"', "\"\""))))
                .push(")");
        } else if q.d == Dialect::Postgres {
            // One expression over the three fields, which the trigram index of migration 0006
            // answers where pg_trgm exists (and which scans where it does not).
            let term: String = text.chars().filter(|c| *c != '\u{1f}').collect();
            q.push(&format!(" AND {POSITION_DOC} ILIKE "))
                .bind(Text, t(like_pattern(&term)))
                .push(" ESCAPE '\\'");
        } else {
            let like = "LIKE";
            q.push(&format!(" AND (id {like} "))
                .bind(Text, t(like_pattern(text)));
            let n = q.args.len();
            q.push(&format!(" ESCAPE '\\' OR holder_reference {like} "))
                .again(n, Text)
                .push(&format!(" ESCAPE '\\' OR external_reference {like} "))
                .again(n, Text)
                .push(" ESCAPE '\\')");
        }
    }
}

fn sort_column(k: PositionSortKey) -> Option<(&'static str, Ty)> {
    match k {
        PositionSortKey::Created => None,
        PositionSortKey::Updated => Some(("updated_at", Ts)),
        PositionSortKey::Institution => Some(("institution_id", Text)),
        PositionSortKey::Asset => Some(("asset_id", Text)),
        PositionSortKey::Holder => Some(("holder_reference", Text)),
        PositionSortKey::Amount => Some(("amount", Amount)),
        PositionSortKey::Currency => Some(("currency", Text)),
        PositionSortKey::State => Some(("state", Text)),
        PositionSortKey::Held => Some(("held", Amount)),
    }
}

/// A page of positions in (sort key, id) order; reading backwards returns the rows in reverse
/// order (the store flips them back).
pub fn list_positions(d: Dialect, x: &PositionQuery) -> Q {
    let mut q = select(d, &POSITIONS, "WHERE 1 = 1");
    position_filter(&mut q, &x.filter);
    let desc = x.descending ^ x.backwards;
    let (op, dir) = if desc { ("<", "DESC") } else { (">", "ASC") };
    let col = sort_column(x.sort);
    if let Some(c) = &x.cursor {
        match col {
            None => {
                q.push(&format!(" AND id {op} ")).bind(Text, t(&c.id));
            }
            Some((name, ty)) => {
                q.push(&format!(" AND ({name}, id) {op} ("))
                    .bind(ty, t(&c.value))
                    .push(", ")
                    .bind(Text, t(&c.id))
                    .push(")");
            }
        }
    }
    match col {
        None => q.push(&format!(" ORDER BY id {dir}")),
        // Qualified: on PostgreSQL a bare name would sort by the text-cast output column.
        Some((name, _)) => q.push(&format!(" ORDER BY positions.{name} {dir}, id {dir}")),
    };
    let _ = write!(q.sql, " LIMIT {}", super::clamp_limit(x.limit));
    q
}

pub fn count_positions(d: Dialect, f: &PositionFilter) -> Q {
    let mut q = Q::new(d, "SELECT count(*) FROM positions WHERE 1 = 1");
    position_filter(&mut q, f);
    q
}

pub fn position_events(d: Dialect, position_id: &str) -> Q {
    let mut q = select(d, &POSITION_EVENTS, "WHERE position_id = ");
    q.bind(Text, t(position_id)).push(" ORDER BY id");
    q
}

pub fn get_policy(d: Dialect, institution_id: &str, region: &str) -> Q {
    let mut q = select(d, &POLICIES, "WHERE institution_id = ");
    q.bind(Text, t(institution_id))
        .push(" AND region = ")
        .bind(Text, t(region));
    q
}

pub fn list_policies(d: Dialect, institution_id: Option<&str>) -> Q {
    let mut q = select(d, &POLICIES, "WHERE 1 = 1");
    eq_opt(
        &mut q,
        "institution_id",
        &institution_id.map(str::to_string),
    );
    q.push(" ORDER BY institution_id, region");
    q
}

pub fn api_key_by_hash(d: Dialect, hash: &str) -> Q {
    let mut q = select(d, &API_KEYS, "WHERE key_hash = ");
    q.bind(Text, t(hash));
    q
}

pub fn list_api_keys(d: Dialect, institution_id: Option<&str>) -> Q {
    let mut q = select(d, &API_KEYS, "WHERE 1 = 1");
    eq_opt(
        &mut q,
        "institution_id",
        &institution_id.map(str::to_string),
    );
    q.push(" ORDER BY id");
    q
}

pub fn read_ledger(d: Dialect, x: &LedgerQuery) -> Q {
    let mut q = select(d, &LEDGER, "WHERE seq > ");
    q.bind(Int, Arg::Int(x.after_seq));
    if let Some(b) = x.before_seq {
        q.push(" AND seq < ").bind(Int, Arg::Int(b));
    }
    eq_opt(&mut q, "position_id", &x.position_id);
    eq_opt(&mut q, "kind", &x.kind.map(|k| k.as_str().to_string()));
    eq_opt(&mut q, "institution_id", &x.institution_id);
    if let Some(since) = &x.since {
        q.push(" AND at >= ").bind(Ts, ts(since));
    }
    if let Some(text) = x.text.as_deref().filter(|s| !s.is_empty()) {
        text_clause(
            &mut q,
            &[
                "kind",
                "id",
                "entity_id",
                "coalesce(position_id, '')",
                "institution_id",
                "payload",
            ],
            text,
        );
    }
    let dir = if x.newest_first { "DESC" } else { "ASC" };
    let _ = write!(
        q.sql,
        " ORDER BY seq {dir} LIMIT {}",
        super::clamp_limit(x.limit)
    );
    q
}

pub fn list_audit(d: Dialect, x: &AuditQuery) -> Q {
    let mut q = select(d, &AUDIT, "WHERE 1 = 1");
    eq_opt(&mut q, "action", &x.action);
    eq_opt(
        &mut q,
        "outcome",
        &x.outcome.map(|o| o.as_str().to_string()),
    );
    if let Some(i) = &x.institution_id {
        q.push(" AND (institution_id = ")
            .bind(Text, t(i))
            .push(" OR subject_institution_id = ");
        let n = q.args.len();
        q.again(n, Text).push(")");
    }
    if let Some(b) = &x.before {
        q.push(" AND id < ").bind(Text, t(b));
    }
    if let Some(a) = &x.after {
        q.push(" AND id > ").bind(Text, t(a));
    }
    eq_opt(&mut q, "id", &x.id);
    eq_opt(&mut q, "resource_id", &x.resource_id);
    if x.unchained {
        q.push(" AND seq IS NULL");
    }
    if let Some(text) = x.text.as_deref().filter(|s| !s.is_empty()) {
        let code = match d {
            Dialect::Postgres => "coalesce(error->>'code', '')",
            Dialect::Sqlite => "coalesce(json_extract(error, '$.code'), '')",
        };
        text_clause(
            &mut q,
            &[
                "id",
                "actor",
                "coalesce(api_key_id, '')",
                "action",
                "outcome",
                "coalesce(resource_id, '')",
                "coalesce(op_id, '')",
                code,
            ],
            text,
        );
    }
    let order = match x.after_seq {
        Some(after) => {
            q.push(" AND seq > ").bind(Int, Arg::Int(after));
            "seq"
        }
        // Records outside the chain come oldest first: the order they are sealed in.
        None if x.unchained || x.oldest_first || x.after.is_some() => "id",
        None => "id DESC",
    };
    let _ = write!(
        q.sql,
        " ORDER BY {order} LIMIT {}",
        super::clamp_limit(x.limit)
    );
    q
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::PositionCursor;

    #[test]
    fn postgres_casts_and_numbering() {
        let q = list_positions(
            Dialect::Postgres,
            &PositionQuery {
                filter: PositionFilter {
                    institution_id: Some("inst_1".into()),
                    text: Some("a_b%".into()),
                    ..Default::default()
                },
                sort: PositionSortKey::Amount,
                descending: true,
                cursor: Some(PositionCursor {
                    value: "0000000000000010.00000000".into(),
                    id: "pos_1".into(),
                }),
                backwards: false,
                limit: 50,
            },
        );
        assert!(q.sql.contains("institution_id = $1"), "{}", q.sql);
        assert!(
            q.sql
                .contains(&format!("{POSITION_DOC} ILIKE $2 ESCAPE '\\'")),
            "{}",
            q.sql
        );
        assert!(
            q.sql.contains("(amount, id) < ($3::numeric, $4)"),
            "{}",
            q.sql
        );
        assert!(
            q.sql
                .ends_with("ORDER BY positions.amount DESC, id DESC LIMIT 50"),
            "{}",
            q.sql
        );
        assert!(matches!(&q.args[1], Arg::Text(Some(p)) if p == "%a\\_b\\%%"));
        assert!(q.sql.contains("amount::text AS amount"));
    }

    #[test]
    fn sqlite_has_no_casts_and_backwards_flips() {
        let q = list_positions(
            Dialect::Sqlite,
            &PositionQuery {
                sort: PositionSortKey::Updated,
                backwards: true,
                cursor: Some(PositionCursor {
                    value: "2026-01-01T00:00:00.000Z".into(),
                    id: "pos_9".into(),
                }),
                limit: 0,
                ..Default::default()
            },
        );
        assert!(q.sql.contains("(updated_at, id) < ($1, $2)"), "{}", q.sql);
        assert!(
            q.sql
                .ends_with("ORDER BY positions.updated_at DESC, id DESC LIMIT 100"),
            "{}",
            q.sql
        );
        assert!(!q.sql.contains("::"));
    }

    #[test]
    fn sqlite_text_filter_uses_the_trigram_index_from_three_characters() {
        let q = |text: &str| {
            count_positions(
                Dialect::Sqlite,
                &PositionFilter {
                    text: Some(text.into()),
                    ..Default::default()
                },
            )
        };
        let long = q("ab\"c");
        assert!(
            long.sql.contains(
                "rowid IN (SELECT rowid FROM position_search WHERE position_search MATCH $1)"
            ),
            "{}",
            long.sql
        );
        assert!(
            matches!(&long.args[0], Arg::Text(Some(p)) if p == "\"ab\"\"c\""),
            "a quoted phrase"
        );
        let short = q("ab");
        assert!(short.sql.contains("LIKE $1 ESCAPE"), "{}", short.sql);
    }
}
