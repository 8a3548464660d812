//! The SQL both database backends share: table layouts, query building with numbered parameters,
//! and row decoding. SQLite and PostgreSQL differ only in column types, which this module hides:
//! every value crosses the driver as text or an integer, with PostgreSQL casts written into the
//! SQL (`$3::timestamptz`, `amount::text`), so one row type decodes both.

use super::counters::Deltas;
use super::{
    AuditQuery, LedgerQuery, PositionFilter, PositionQuery, PositionSortKey, StoreError,
    StoreResult,
};
use crate::domain::apikey::ApiKey;
use crate::domain::audit::{AuditError, AuditEvent};
use crate::domain::ledger::{LedgerEvent, PreparedEvent};
use crate::domain::policy::PolicyConfig;
use crate::domain::{
    Asset, AssetTemplate, Institution, InstitutionPolicy, Money, Position, PositionLifecycleEvent,
    time,
};
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
    /// PostgreSQL arrays (one column of a multi-row statement).
    Texts(Vec<Option<String>>),
    Ints(Vec<i64>),
}

fn t(s: impl Into<String>) -> Arg {
    Arg::Text(Some(s.into()))
}
fn ot(s: Option<impl Into<String>>) -> Arg {
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
}

pub struct Table {
    pub name: &'static str,
    pub cols: &'static [(&'static str, Ty)],
}

use Ty::*;

pub const INSTITUTIONS: Table = Table {
    name: "institutions",
    cols: &[
        ("id", Text),
        ("name", Text),
        ("regions", Json),
        ("verticals", Json),
        ("created_at", Ts),
        ("updated_at", Ts),
    ],
};
pub const TEMPLATES: Table = Table {
    name: "asset_templates",
    cols: &[
        ("id", Text),
        ("institution_id", Text),
        ("code", Text),
        ("name", Text),
        ("vertical", Text),
        ("region", Text),
        ("config", Json),
        ("created_at", Ts),
        ("updated_at", Ts),
    ],
};
pub const ASSETS: Table = Table {
    name: "assets",
    cols: &[
        ("id", Text),
        ("institution_id", Text),
        ("template_id", Text),
        ("label", Text),
        ("metadata", Json),
        ("created_at", Ts),
        ("updated_at", Ts),
    ],
};
pub const POSITIONS: Table = Table {
    name: "positions",
    cols: &[
        ("id", Text),
        ("institution_id", Text),
        ("asset_id", Text),
        ("holder_reference", Text),
        ("currency", Text),
        ("amount", Amount),
        ("state", Text),
        ("external_reference", Text),
        ("version", Int),
        ("created_at", Ts),
        ("updated_at", Ts),
    ],
};
pub const POSITION_EVENTS: Table = Table {
    name: "position_events",
    cols: &[
        ("id", Text),
        ("position_id", Text),
        ("from_state", Text),
        ("to_state", Text),
        ("reason", Text),
        ("at", Ts),
        ("metadata", Json),
    ],
};
pub const POLICIES: Table = Table {
    name: "policies",
    cols: &[
        ("id", Text),
        ("institution_id", Text),
        ("region", Text),
        ("config", Json),
        ("created_at", Ts),
        ("updated_at", Ts),
    ],
};
pub const API_KEYS: Table = Table {
    name: "api_keys",
    cols: &[
        ("id", Text),
        ("institution_id", Text),
        ("key_hash", Text),
        ("label", Text),
        ("role", Text),
        ("created_at", Ts),
        ("revoked_at", Ts),
    ],
};
/// The ledger payload is stored as its canonical JSON text in both backends: it is hashed, so it
/// must come back byte for byte.
pub const LEDGER: Table = Table {
    name: "ledger_events",
    cols: &[
        ("seq", Int),
        ("id", Text),
        ("kind", Text),
        ("entity_type", Text),
        ("entity_id", Text),
        ("institution_id", Text),
        ("position_id", Text),
        ("at", Ts),
        ("payload", Text),
        ("prev_hash", Text),
        ("hash", Text),
    ],
};
pub const AUDIT: Table = Table {
    name: "audit_events",
    cols: &[
        ("id", Text),
        ("occurred_at", Ts),
        ("actor", Text),
        ("api_key_id", Text),
        ("institution_id", Text),
        ("action", Text),
        ("outcome", Text),
        ("resource_type", Text),
        ("resource_id", Text),
        ("subject_institution_id", Text),
        ("payload", Json),
        ("error", Json),
    ],
};

pub const COUNTERS: Table = Table {
    name: "counters",
    cols: &[("scope", Text), ("name", Text), ("n", Int)],
};

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
        (Dialect::Sqlite, _) | (_, Text) | (_, Int) => "",
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
        .map(|(c, ty)| match (d, ty) {
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
    debug_assert_eq!(args.len(), table.cols.len(), "{}", table.name);
    let names = table
        .cols
        .iter()
        .map(|(c, _)| *c)
        .collect::<Vec<_>>()
        .join(", ");
    let mut q = Q::new(d, &format!("INSERT INTO {} ({names}) VALUES (", table.name));
    for (i, (arg, (_, ty))) in args.into_iter().zip(table.cols).enumerate() {
        if i > 0 {
            q.push(", ");
        }
        q.bind(*ty, arg);
    }
    q.push(")");
    q
}

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
    let names = table
        .cols
        .iter()
        .map(|(c, _)| *c)
        .collect::<Vec<_>>()
        .join(", ");
    q.push(&format!("INSERT INTO {} ({names}) ", table.name));
    let types = table.cols.iter().map(|(_, ty)| *ty);
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
                    Arg::Int(_) => Arg::Ints(Vec::new()),
                    _ => Arg::Texts(Vec::new()),
                });
            }
            match (&mut cols[i], arg) {
                (Arg::Ints(v), Arg::Int(n)) => v.push(n),
                (Arg::Texts(v), Arg::Text(s)) => v.push(s),
                _ => unreachable!("a column holds one kind of value"),
            }
        }
    }
    cols
}

/// Applies many position transitions in one statement; returns the ids it updated. A position
/// is updated only if it still has its expected state and version. No two items may name the
/// same position (the writer puts such writes in separate statements).
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
            ]
        })
        .collect();
    const TYPES: [Ty; 6] = [Text, Text, Int, Ts, Text, Int];
    q.push("UPDATE positions SET ");
    match q.d {
        Dialect::Sqlite => {
            q.push("state = v.column2, version = v.column3, updated_at = v.column4 FROM (VALUES ");
            push_values(q, TYPES.into_iter(), rows);
            q.push(
                ") AS v WHERE positions.id = v.column1 AND positions.state = v.column5 \
                 AND positions.version = v.column6",
            );
        }
        Dialect::Postgres => {
            q.push("state = v.state, version = v.version, updated_at = v.updated_at FROM ");
            let ids = q.args.len() + 1;
            push_unnest(q, TYPES.into_iter(), rows);
            // The id array again as an index condition, so the plan is an index lookup per
            // item whatever the planner guesses of the unnest.
            q.push(
                " AS v (id, state, version, updated_at, expected_state, expected_version) \
                 WHERE positions.id = ANY(",
            );
            q.again(ids, Text);
            q.push(
                ") AND positions.id = v.id AND positions.state = v.expected_state \
                 AND positions.version = v.expected_version",
            );
        }
    }
}

pub fn by_id(d: Dialect, table: &Table, id: &str) -> Q {
    let mut q = select(d, table, "WHERE id = ");
    q.bind(Text, t(id));
    q
}

fn json_text(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v).expect("serialisable")
}

fn amount_arg(d: Dialect, m: &Money) -> Arg {
    match d {
        Dialect::Sqlite => t(m.to_sortable()),
        Dialect::Postgres => t(m.to_string()),
    }
}

fn ts(v: &time::Timestamp) -> Arg {
    t(time::format(v))
}

// ---- inserts ----------------------------------------------------------------------------------

pub fn institution_row(i: &Institution) -> Vec<Arg> {
    vec![
        t(&i.id),
        t(&i.name),
        t(json_text(&i.regions)),
        t(json_text(&i.verticals)),
        ts(&i.created_at),
        ts(&i.updated_at),
    ]
}

pub fn template_row(x: &AssetTemplate) -> Vec<Arg> {
    vec![
        t(&x.id),
        t(&x.institution_id),
        t(x.code.as_str()),
        t(&x.name),
        t(x.vertical.as_str()),
        t(x.region.as_str()),
        t(json_text(&x.config)),
        ts(&x.created_at),
        ts(&x.updated_at),
    ]
}

pub fn asset_row(x: &Asset) -> Vec<Arg> {
    vec![
        t(&x.id),
        t(&x.institution_id),
        t(&x.template_id),
        t(&x.label),
        t(json_text(&x.metadata)),
        ts(&x.created_at),
        ts(&x.updated_at),
    ]
}

pub fn position_row(d: Dialect, p: &Position) -> Vec<Arg> {
    vec![
        t(&p.id),
        t(&p.institution_id),
        t(&p.asset_id),
        t(&p.holder_reference),
        t(p.currency.as_str()),
        amount_arg(d, &p.amount),
        t(p.state.as_str()),
        ot(p.external_reference.clone()),
        Arg::Int(p.version),
        ts(&p.created_at),
        ts(&p.updated_at),
    ]
}

pub fn position_event_row(e: &PositionLifecycleEvent) -> Vec<Arg> {
    vec![
        t(&e.id),
        t(&e.position_id),
        t(e.from_state.as_str()),
        t(e.to_state.as_str()),
        ot(e.reason.clone()),
        ts(&e.at),
        ot(e.metadata.as_ref().map(json_text)),
    ]
}

pub fn api_key_row(k: &ApiKey) -> Vec<Arg> {
    vec![
        t(&k.id),
        t(&k.institution_id),
        t(&k.key_hash),
        t(&k.label),
        t(k.role.as_str()),
        ts(&k.created_at),
        ot(k.revoked_at.as_ref().map(time::format)),
    ]
}

/// The ledger row of a prepared event at its place in the chain; the payload is stored as the
/// canonical text that was hashed.
pub fn ledger_row(e: &PreparedEvent, seq: i64, prev_hash: &str, hash: &str) -> Vec<Arg> {
    let x = &e.draft;
    vec![
        Arg::Int(seq),
        t(&e.id),
        t(x.kind.as_str()),
        t(x.entity_type.as_str()),
        t(&x.entity_id),
        t(&x.institution_id),
        ot(x.position_id.clone()),
        ts(&x.at),
        t(&e.payload_json),
        t(prev_hash),
        t(hash),
    ]
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
        .map(|(scope, name, n)| vec![t(scope), t(name), Arg::Int(n)])
        .collect();
    push_insert_many(q, &COUNTERS, rows);
    q.push(" ON CONFLICT (scope, name) DO UPDATE SET n = counters.n + excluded.n");
}

/// A chain head: (seq, hash).
pub type Head<'a> = (i64, &'a str);

/// A whole batch as one PostgreSQL statement (see `one_statement`).
pub struct OneStatement<'a> {
    /// The chain head the batch starts from and the head it leaves, if it has ledger events.
    pub head: Option<(Head<'a>, Head<'a>)>,
    /// New rows per table, parents first.
    pub creates: Vec<(&'static Table, Vec<Vec<Arg>>)>,
    pub transitions: Vec<(&'a Position, crate::domain::PositionState, i64)>,
    pub position_events: Vec<Vec<Arg>>,
    pub ledger: Vec<Vec<Arg>>,
    pub audit: Vec<Vec<Arg>>,
    pub deltas: &'a Deltas<'a>,
    /// Notifies the ledger channel of this seq.
    pub notify: Option<(&'a str, i64)>,
}

/// One statement that stores a whole batch, committed on its own (no BEGIN or COMMIT round
/// trips): data-modifying CTEs move the chain head only if it is still `head.0`, insert and
/// update every row, add the counters, and notify. Its last step calls `escrowgrid_batch_check`,
/// which aborts the statement (so nothing of it is stored) unless the head moved and every
/// transition applied. No two writes may touch the same entity: the CTEs share one snapshot.
pub fn one_statement(s: OneStatement<'_>) -> Q {
    let mut q = Q::new(Dialect::Postgres, "WITH ");
    let mut n = 0;
    let mut cte = |q: &mut Q, name: &str| {
        if n > 0 {
            q.push(", ");
        }
        n += 1;
        q.push(name).push(" AS (");
    };
    if let Some(((from_seq, from_hash), (to_seq, to_hash))) = s.head {
        cte(&mut q, "head");
        q.push("UPDATE ledger_head SET seq = ")
            .bind(Int, Arg::Int(to_seq))
            .push(", hash = ")
            .bind(Text, t(to_hash))
            .push(" WHERE id AND seq = ")
            .bind(Int, Arg::Int(from_seq))
            .push(" AND hash = ")
            .bind(Text, t(from_hash))
            .push(" RETURNING 1)");
    }
    for (i, (table, rows)) in s.creates.into_iter().enumerate() {
        if !rows.is_empty() {
            cte(&mut q, &format!("new{i}"));
            push_insert_many(&mut q, table, rows);
            q.push(")");
        }
    }
    let transitions = s.transitions.len();
    if transitions > 0 {
        cte(&mut q, "moved");
        push_update_positions_states(&mut q, &s.transitions);
        q.push(" RETURNING 1)");
    }
    for (name, table, rows) in [
        ("events", &POSITION_EVENTS, s.position_events),
        ("ledger", &LEDGER, s.ledger),
        ("audit", &AUDIT, s.audit),
    ] {
        if !rows.is_empty() {
            cte(&mut q, name);
            push_insert_many(&mut q, table, rows);
            q.push(")");
        }
    }
    if !s.deltas.is_empty() {
        cte(&mut q, "counted");
        push_add_counters(&mut q, s.deltas);
        q.push(")");
    }
    if n == 0 {
        // Nothing to write; keep the statement valid.
        q.push("nothing AS (SELECT 1)");
    }
    q.push(" SELECT escrowgrid_batch_check(true");
    if s.head.is_some() {
        q.push(" AND (SELECT count(*) FROM head) = 1");
    }
    if transitions > 0 {
        q.push(" AND (SELECT count(*) FROM moved) = ")
            .bind(Int, Arg::Int(transitions as i64));
    }
    q.push(")");
    if let Some((channel, seq)) = s.notify {
        q.push(", pg_notify('")
            .push(channel)
            .push("', ")
            .bind(Text, t(seq.to_string()))
            .push(")");
    }
    q
}

/// A whole batch for SQLite, after its transaction was begun and its head read: every insert and
/// update of the batch, then `COMMIT`, as one multi-statement query (sqlx runs them in one call to
/// its SQLite thread; each statement binds the `$N` it names). After the transitions' UPDATE, a
/// guard fails the query unless every transition applied (`changes()`), so a stale one makes the
/// caller roll back and isolate the batch. `head` and `notify` are not used: SQLite's write lock
/// orders the chain and the stream watches the file.
pub fn sqlite_batch(s: OneStatement<'_>) -> Q {
    let mut q = Q::new(Dialect::Sqlite, "");
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

/// The counters of one scope (`counters::ALL` for the whole store).
pub fn counters_of(d: Dialect, scope: &str) -> Q {
    let mut q = Q::new(d, "SELECT name, n FROM counters WHERE scope = ");
    q.bind(Text, t(scope));
    q
}

pub fn audit_row(a: &AuditEvent) -> Vec<Arg> {
    vec![
        t(&a.id),
        ts(&a.occurred_at),
        t(&a.actor),
        ot(a.api_key_id.clone()),
        ot(a.institution_id.clone()),
        t(&a.action),
        t(a.outcome.as_str()),
        ot(a.resource_type.clone()),
        ot(a.resource_id.clone()),
        ot(a.subject_institution_id.clone()),
        ot(a.payload.as_ref().map(json_text)),
        ot(a.error.as_ref().map(json_text)),
    ]
}

/// Inserts or replaces the policy of (institution, region), keeping an existing id and createdAt,
/// and returns the stored row.
pub fn upsert_policy(d: Dialect, p: &InstitutionPolicy) -> Q {
    let mut q = insert(
        d,
        &POLICIES,
        vec![
            t(&p.id),
            t(&p.institution_id),
            t(p.region.as_str()),
            t(json_text(&p.config)),
            ts(&p.created_at),
            ts(&p.updated_at),
        ],
    );
    q.push(
        " ON CONFLICT (institution_id, region) DO UPDATE SET config = excluded.config, \
         updated_at = excluded.updated_at RETURNING ",
    );
    q.push(&select_list(d, &POLICIES));
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

pub fn last_ledger_event(d: Dialect) -> Q {
    Q::new(
        d,
        "SELECT seq, hash FROM ledger_events ORDER BY seq DESC LIMIT 1",
    )
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
        } else {
            let like = match q.d {
                Dialect::Sqlite => "LIKE",
                Dialect::Postgres => "ILIKE",
            };
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
    let _ = write!(
        q.sql,
        " ORDER BY id DESC LIMIT {}",
        super::clamp_limit(x.limit)
    );
    q
}

// ---- rows -------------------------------------------------------------------------------------

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn parse_ts(s: &str) -> StoreResult<time::Timestamp> {
    time::parse(s).map_err(|e| corrupt("timestamp", e))
}

fn parse_json<T: serde::de::DeserializeOwned>(what: &str, s: &str) -> StoreResult<T> {
    serde_json::from_str(s).map_err(|e| corrupt(what, e))
}

fn parse_enum<T: std::str::FromStr>(s: &str) -> StoreResult<T>
where
    T::Err: std::fmt::Display,
{
    s.parse().map_err(|e| corrupt("enum", e))
}

#[derive(sqlx::FromRow)]
pub struct InstitutionRow {
    id: String,
    name: String,
    regions: String,
    verticals: String,
    created_at: String,
    updated_at: String,
}

impl TryFrom<InstitutionRow> for Institution {
    type Error = StoreError;
    fn try_from(r: InstitutionRow) -> StoreResult<Self> {
        Ok(Institution {
            id: r.id,
            name: r.name,
            regions: parse_json("regions", &r.regions)?,
            verticals: parse_json("verticals", &r.verticals)?,
            created_at: parse_ts(&r.created_at)?,
            updated_at: parse_ts(&r.updated_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct TemplateRow {
    id: String,
    institution_id: String,
    code: String,
    name: String,
    vertical: String,
    region: String,
    config: String,
    created_at: String,
    updated_at: String,
}

impl TryFrom<TemplateRow> for AssetTemplate {
    type Error = StoreError;
    fn try_from(r: TemplateRow) -> StoreResult<Self> {
        Ok(AssetTemplate {
            id: r.id,
            institution_id: r.institution_id,
            code: parse_enum(&r.code)?,
            name: r.name,
            vertical: parse_enum(&r.vertical)?,
            region: parse_enum(&r.region)?,
            config: parse_json("config", &r.config)?,
            created_at: parse_ts(&r.created_at)?,
            updated_at: parse_ts(&r.updated_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct AssetRow {
    id: String,
    institution_id: String,
    template_id: String,
    label: String,
    metadata: String,
    created_at: String,
    updated_at: String,
}

impl TryFrom<AssetRow> for Asset {
    type Error = StoreError;
    fn try_from(r: AssetRow) -> StoreResult<Self> {
        Ok(Asset {
            id: r.id,
            institution_id: r.institution_id,
            template_id: r.template_id,
            label: r.label,
            metadata: parse_json("metadata", &r.metadata)?,
            created_at: parse_ts(&r.created_at)?,
            updated_at: parse_ts(&r.updated_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct PositionRow {
    id: String,
    institution_id: String,
    asset_id: String,
    holder_reference: String,
    currency: String,
    amount: String,
    state: String,
    external_reference: Option<String>,
    version: i64,
    created_at: String,
    updated_at: String,
}

impl TryFrom<PositionRow> for Position {
    type Error = StoreError;
    fn try_from(r: PositionRow) -> StoreResult<Self> {
        Ok(Position {
            id: r.id,
            institution_id: r.institution_id,
            asset_id: r.asset_id,
            holder_reference: r.holder_reference,
            currency: parse_enum(&r.currency)?,
            amount: Money::parse(&r.amount).map_err(|e| corrupt("amount", e))?,
            state: parse_enum(&r.state)?,
            external_reference: r.external_reference,
            version: r.version,
            created_at: parse_ts(&r.created_at)?,
            updated_at: parse_ts(&r.updated_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct PositionEventRow {
    id: String,
    position_id: String,
    from_state: String,
    to_state: String,
    reason: Option<String>,
    at: String,
    metadata: Option<String>,
}

impl TryFrom<PositionEventRow> for PositionLifecycleEvent {
    type Error = StoreError;
    fn try_from(r: PositionEventRow) -> StoreResult<Self> {
        Ok(PositionLifecycleEvent {
            id: r.id,
            position_id: r.position_id,
            from_state: parse_enum(&r.from_state)?,
            to_state: parse_enum(&r.to_state)?,
            reason: r.reason,
            at: parse_ts(&r.at)?,
            metadata: r.metadata.map(|m| parse_json("metadata", &m)).transpose()?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct PolicyRow {
    id: String,
    institution_id: String,
    region: String,
    config: String,
    created_at: String,
    updated_at: String,
}

impl TryFrom<PolicyRow> for InstitutionPolicy {
    type Error = StoreError;
    fn try_from(r: PolicyRow) -> StoreResult<Self> {
        let config: PolicyConfig = parse_json("policy config", &r.config)?;
        Ok(InstitutionPolicy {
            id: r.id,
            institution_id: r.institution_id,
            region: parse_enum(&r.region)?,
            config,
            created_at: parse_ts(&r.created_at)?,
            updated_at: parse_ts(&r.updated_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct ApiKeyRow {
    id: String,
    institution_id: String,
    key_hash: String,
    label: String,
    role: String,
    created_at: String,
    revoked_at: Option<String>,
}

impl TryFrom<ApiKeyRow> for ApiKey {
    type Error = StoreError;
    fn try_from(r: ApiKeyRow) -> StoreResult<Self> {
        Ok(ApiKey {
            id: r.id,
            institution_id: r.institution_id,
            key_hash: r.key_hash,
            label: r.label,
            role: parse_enum(&r.role)?,
            created_at: parse_ts(&r.created_at)?,
            revoked_at: r.revoked_at.as_deref().map(parse_ts).transpose()?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct LedgerRow {
    seq: i64,
    id: String,
    kind: String,
    entity_type: String,
    entity_id: String,
    institution_id: String,
    position_id: Option<String>,
    at: String,
    payload: String,
    prev_hash: String,
    hash: String,
}

impl TryFrom<LedgerRow> for LedgerEvent {
    type Error = StoreError;
    fn try_from(r: LedgerRow) -> StoreResult<Self> {
        Ok(LedgerEvent {
            seq: r.seq,
            id: r.id,
            kind: parse_enum(&r.kind)?,
            entity_type: parse_enum(&r.entity_type)?,
            entity_id: r.entity_id,
            institution_id: r.institution_id,
            position_id: r.position_id,
            at: parse_ts(&r.at)?,
            payload: parse_json("ledger payload", &r.payload)?,
            prev_hash: r.prev_hash,
            hash: r.hash,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct AuditRow {
    id: String,
    occurred_at: String,
    actor: String,
    api_key_id: Option<String>,
    institution_id: Option<String>,
    action: String,
    outcome: String,
    resource_type: Option<String>,
    resource_id: Option<String>,
    subject_institution_id: Option<String>,
    payload: Option<String>,
    error: Option<String>,
}

impl TryFrom<AuditRow> for AuditEvent {
    type Error = StoreError;
    fn try_from(r: AuditRow) -> StoreResult<Self> {
        Ok(AuditEvent {
            id: r.id,
            occurred_at: parse_ts(&r.occurred_at)?,
            actor: r.actor,
            api_key_id: r.api_key_id,
            institution_id: r.institution_id,
            action: r.action,
            outcome: parse_enum(&r.outcome)?,
            resource_type: r.resource_type,
            resource_id: r.resource_id,
            subject_institution_id: r.subject_institution_id,
            payload: r
                .payload
                .map(|p| parse_json("audit payload", &p))
                .transpose()?,
            error: r
                .error
                .map(|e| parse_json::<AuditError>("audit error", &e))
                .transpose()?,
        })
    }
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
                .contains("id ILIKE $2 ESCAPE '\\' OR holder_reference ILIKE $2"),
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
        assert!(matches!(&pg.args[2], Arg::Ints(v) if v == &[1, -1]));
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
            created_at: now,
            updated_at: now,
        };
        let deltas = Deltas::default();
        let q = sqlite_batch(OneStatement {
            head: None,
            creates: vec![(&POSITIONS, vec![position_row(Dialect::Sqlite, &p)])],
            transitions: vec![(&p, PositionState::Created, 0)],
            position_events: vec![],
            ledger: vec![],
            audit: vec![],
            deltas: &deltas,
            notify: None,
        });
        let statements: Vec<&str> = q.sql.split("; ").collect();
        assert!(statements[0].starts_with("INSERT INTO positions"));
        assert!(statements[1].starts_with("UPDATE positions SET"));
        assert_eq!(
            statements[2],
            "SELECT CASE WHEN changes() = $18 THEN 0 ELSE abs(-9223372036854775808) END",
            "the guard counts the transitions"
        );
        assert_eq!(*statements.last().unwrap(), "COMMIT");
        assert!(matches!(q.args[17], Arg::Int(1)));
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
