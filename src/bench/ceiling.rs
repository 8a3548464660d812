//! The schema's ceiling for creates (PostgreSQL): the rows one create writes — its position,
//! ledger event and audit record, the chain head and the counters — written by plain SQL, 64
//! creates to a statement (one statement of data-modifying CTEs, as the writer sends them),
//! from 16 connections at once, with nothing computed: no service, no validation, no hashing.
//! What the database itself can take of this schema's writes on this machine; `bench write`
//! reports the service's creates as a share of it.

use super::scratch::{Scratch, pg_connect};
use crate::domain::audit::AuditEvent;
use crate::domain::ledger::{CanonicalJson, LedgerDraft, PreparedEvent};
use crate::domain::{EntityType, LedgerKind, Money, Outcome, Position, PositionState, ids, time};
use crate::service::{Actor, Service, ServiceConfig};
use crate::service::{ServiceError, ServiceResult};
use crate::store::counters::{self, Deltas};
use crate::store::sql::{Arg, Dialect, Q, Ty};
use crate::store::sqlrows::{AuditRow, LedgerRow, PositionRow};
use crate::store::sqlwrite::{push_add_counters, push_insert_many};
use crate::store::tables::{AUDIT, LEDGER, POSITIONS};
use crate::store::{Backend, Options};
use std::time::Instant;

/// Creates per statement and connections, as the target defines the ceiling.
pub const PER_STATEMENT: usize = 64;
pub const CONNECTIONS: usize = 16;

fn internal(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(e.to_string())
}

/// The rows of `n` creates in `institution`'s `asset`, their ledger events and audit records
/// numbered from `seq + 1` (each connection numbers in a range of its own, so they never meet
/// on a key; the head row they all move is the one place they meet, as writers do).
fn statement(institution: &str, asset: &str, n: usize, seq: i64) -> Q {
    let now = time::now();
    let hash = "ab".repeat(32);
    let mut positions = Vec::with_capacity(n);
    let mut ledger = Vec::with_capacity(n);
    let mut audit = Vec::with_capacity(n);
    for i in 0..n {
        let p = Position {
            id: ids::new_id(ids::POSITION),
            institution_id: institution.to_string(),
            asset_id: asset.to_string(),
            holder_reference: format!("CEIL-{seq}-{i}"),
            currency: crate::domain::Currency::Usd,
            amount: Money::parse("1250.50").expect("an amount"),
            state: PositionState::Created,
            external_reference: None,
            version: 0,
            released: Some(crate::domain::Balance::ZERO),
            held: Some(Money::parse("1250.50").expect("an amount").into()),
            created_at: now,
            updated_at: now,
        };
        let payload: CanonicalJson = serde_json::json!({
            "institutionId": institution, "assetId": asset, "holderReference": p.holder_reference,
            "currency": "USD", "amount": "1250.50", "externalReference": null,
            "state": "CREATED", "actor": "local:bench",
        })
        .into();
        let event: PreparedEvent = LedgerDraft {
            id: None,
            kind: LedgerKind::PositionCreated,
            entity_type: EntityType::Position,
            entity_id: p.id.clone(),
            institution_id: institution.to_string(),
            position_id: Some(p.id.clone()),
            at: now,
            payload: payload.clone(),
        }
        .prepare_with_id();
        let record = AuditEvent {
            id: ids::new_id(ids::AUDIT),
            occurred_at: now,
            actor: "local:bench".into(),
            api_key_id: None,
            institution_id: None,
            action: LedgerKind::PositionCreated.audit_action().into(),
            outcome: Outcome::Success,
            resource_type: Some(EntityType::Position.as_str().into()),
            resource_id: Some(p.id.clone()),
            subject_institution_id: Some(institution.to_string()),
            payload: Some(payload),
            error: None,
            op_id: Some(ids::new_id(ids::OPERATION)),
            client: None,
            seq: None,
            prev_hash: None,
            hash: None,
        };
        let s = seq + 1 + i as i64;
        ledger.push(LedgerRow::of(&event, s, &hash, &hash).args());
        audit.push(AuditRow::of(&record, (s, &hash, &hash)).args());
        positions.push(PositionRow::of(Dialect::Postgres, &p).args());
    }
    let mut deltas = Deltas::default();
    for scope in [counters::ALL, institution] {
        let created = counters::positions_in(PositionState::Created);
        for name in [created, counters::LEDGER, counters::AUDIT] {
            deltas.0.insert((scope, name), n as i64);
        }
    }
    // The rows every writer moves (the head, the counters) last: each is held from then to the
    // commit, so the rows before them are written while another statement holds them. (Taking
    // the head first, as the writer did, serialises every statement whole.)
    let mut q = Q::new(Dialect::Postgres, "WITH positions_ AS (");
    push_insert_many(&mut q, &POSITIONS, positions);
    q.push(" RETURNING 1), ledger_ AS (");
    push_insert_many(&mut q, &LEDGER, ledger);
    q.push(" RETURNING 1), audit_ AS (");
    push_insert_many(&mut q, &AUDIT, audit);
    q.push(" RETURNING 1), head AS (UPDATE ledger_head SET seq = ");
    q.bind(Ty::Int, Arg::Int(seq + n as i64));
    let at = q.args.len();
    q.push(", hash = ")
        .bind(Ty::Text, Arg::Text(Some(hash.clone())))
        .push(", audit_seq = ")
        .again(at, Ty::Int)
        .push(", audit_hash = ")
        .again(at + 1, Ty::Text)
        .push(
            " WHERE id AND (SELECT count(*) FROM positions_) + (SELECT count(*) FROM ledger_) \
             + (SELECT count(*) FROM audit_) > 0 RETURNING 1), counted AS (",
        );
    push_add_counters(&mut q, &deltas);
    // Evaluated in order: the head (after the rows it waits for), then the counters.
    q.push(" RETURNING 1) SELECT (SELECT count(*) FROM head) + (SELECT count(*) FROM counted)");
    q
}

/// A schema of the ceiling's own (its rows move the chain head, which no service must see),
/// with an institution and an asset for its positions to belong to.
pub struct Ceiling {
    scratch: Scratch,
    institution: String,
    asset: String,
}

impl Ceiling {
    pub async fn prepare(configured_url: &str, opts: &Options) -> ServiceResult<Ceiling> {
        let scratch = Scratch::create(Backend::Postgres, configured_url).await?;
        let fixture = async {
            let store = crate::store::open_with(Backend::Postgres, scratch.url(), opts).await?;
            let svc = Service::new(store, ServiceConfig::default());
            super::fixture(&svc, &Actor::local()).await
        }
        .await;
        match fixture {
            Ok((institution, asset)) => Ok(Ceiling {
                scratch,
                institution,
                asset,
            }),
            Err(e) => {
                let _ = scratch.remove().await;
                Err(e)
            }
        }
    }

    /// Creates per second at the ceiling: at least `creates` in all, from `CONNECTIONS`
    /// connections, each in a range of seqs of its own.
    pub async fn measure(&self, creates: usize, round: usize) -> ServiceResult<f64> {
        let statements = creates.div_ceil(PER_STATEMENT * CONNECTIONS);
        let mut conns = Vec::new();
        for _ in 0..CONNECTIONS {
            conns.push(pg_connect(self.scratch.url()).await?);
        }
        let start = Instant::now();
        let mut tasks = Vec::new();
        for (k, mut conn) in conns.into_iter().enumerate() {
            let (institution, asset) = (self.institution.clone(), self.asset.clone());
            let base = ((round * CONNECTIONS + k) as i64 + 1) * 1_000_000_000;
            tasks.push(tokio::spawn(async move {
                for s in 0..statements {
                    let seq = base + (s * PER_STATEMENT) as i64;
                    let q = statement(&institution, &asset, PER_STATEMENT, seq);
                    crate::store::sqlconn::pg_execute(&mut conn, q).await?;
                }
                Ok::<_, sqlx::Error>(())
            }));
        }
        for t in tasks {
            t.await.map_err(internal)?.map_err(internal)?;
        }
        Ok((statements * PER_STATEMENT * CONNECTIONS) as f64 / start.elapsed().as_secs_f64())
    }

    pub async fn remove(self) -> ServiceResult<()> {
        self.scratch.remove().await
    }
}
