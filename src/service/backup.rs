//! Backups that move between backends. `export` writes the whole store — institutions,
//! templates, assets, positions with their lifecycle, policies, API key records (their hashes,
//! never a token), the ledger and the audit trail — as JSON lines. `import` loads such a file into
//! an empty store of any backend by replaying its ledger in order, each event with the change it
//! recorded, its own id and time and its audit record: the store seals every event again, and the
//! import checks that each comes out with the exported hash (so the chain is verified as it goes
//! and ends on the same head). Memory, SQLite and PostgreSQL hold byte-identical ledgers after.

use super::*;
use crate::store::AuditQuery;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};

pub const FORMAT: &str = "escrowgrid-export";
pub const VERSION: u32 = 1;

/// The first line of an export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportHeader {
    pub format: String,
    pub version: u32,
    pub backend: String,
    pub head_seq: i64,
    pub head_hash: String,
    #[serde(with = "crate::domain::time::rfc3339")]
    pub exported_at: time::Timestamp,
}

/// An API key as exported: the record with its token's hash (never the token).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyRecord {
    #[serde(flatten)]
    pub key: ApiKey,
    pub key_hash: String,
}

/// One line of an export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "camelCase")]
pub enum ExportLine {
    Header(ExportHeader),
    Institution(Institution),
    Template(AssetTemplate),
    Asset(Asset),
    Position(Position),
    Lifecycle(PositionLifecycleEvent),
    Policy(InstitutionPolicy),
    ApiKey(ApiKeyRecord),
    Ledger(LedgerEvent),
    Audit(AuditEvent),
}

/// How much an export or import moved.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupSummary {
    pub lines: u64,
    pub ledger_events: u64,
    pub audit_records: u64,
    pub head_seq: i64,
    pub head_hash: String,
}

impl Service {
    /// Writes the whole store, line by line, to `emit` (root only: it spans every institution).
    pub async fn export(
        &self,
        actor: &Actor,
        mut emit: impl FnMut(&ExportLine) -> ServiceResult<()>,
    ) -> ServiceResult<BackupSummary> {
        self.op("export", actor, async move {
            if !actor.is_root() {
                let refused = Err(Self::forbidden(actor, "export the store"));
                return self.audit_read(actor, Read::Export, None, refused).await;
            }
            let (head_seq, head_hash) = self
                .store
                .ledger_head()
                .await?
                .unwrap_or((0, crate::domain::ledger::GENESIS_HASH.to_string()));
            let mut s = BackupSummary {
                head_seq,
                head_hash: head_hash.clone(),
                ..Default::default()
            };
            let mut out = |line: ExportLine, s: &mut BackupSummary| {
                s.lines += 1;
                emit(&line)
            };
            out(
                ExportLine::Header(ExportHeader {
                    format: FORMAT.into(),
                    version: VERSION,
                    backend: self.store.backend().to_string(),
                    head_seq,
                    head_hash,
                    exported_at: time::now(),
                }),
                &mut s,
            )?;
            for i in self.all_institutions().await? {
                out(ExportLine::Institution(i), &mut s)?;
            }
            for t in self.all_templates().await? {
                out(ExportLine::Template(t), &mut s)?;
            }
            for a in self.all_assets().await? {
                out(ExportLine::Asset(a), &mut s)?;
            }
            let mut last: Option<Position> = None;
            loop {
                let page = self.positions_after(last.as_ref()).await?;
                let Some(end) = page.last() else { break };
                last = Some(end.clone());
                for p in page {
                    let steps = self.store.position_events(&p.id).await?;
                    out(ExportLine::Position(p), &mut s)?;
                    for e in steps {
                        out(ExportLine::Lifecycle(e), &mut s)?;
                    }
                }
            }
            for p in self.store.list_policies(None).await? {
                out(ExportLine::Policy(p), &mut s)?;
            }
            for k in self.store.list_api_keys(None).await? {
                let key_hash = k.key_hash.clone();
                out(
                    ExportLine::ApiKey(ApiKeyRecord { key: k, key_hash }),
                    &mut s,
                )?;
            }
            self.ledger_pages(0, |page| {
                for e in page {
                    s.ledger_events += 1;
                    out(ExportLine::Ledger(e), &mut s)?;
                }
                Ok(true)
            })
            .await?;
            let mut before = None;
            loop {
                let q = AuditQuery {
                    before: before.clone(),
                    limit: 1000,
                    ..Default::default()
                };
                let page = self.store.list_audit(&q).await?;
                let Some(last) = page.last() else { break };
                before = Some(last.id.clone());
                for a in page {
                    s.audit_records += 1;
                    out(ExportLine::Audit(a), &mut s)?;
                }
            }
            Ok(s)
        })
        .await
    }

    /// The export as JSON lines into `out` (`escrowgrid export`, the console's `:export`); a
    /// write that fails is an error naming `what` (the file).
    pub async fn export_to<W: std::io::Write + ?Sized>(
        &self,
        actor: &Actor,
        out: &mut W,
        what: &str,
    ) -> ServiceResult<BackupSummary> {
        let cannot =
            |e: std::io::Error| ServiceError::field("file", format!("cannot write {what}: {e}"));
        let s = self
            .export(actor, |line| {
                let text = serde_json::to_string(line)
                    .map_err(|e| ServiceError::Internal(e.to_string()))?;
                writeln!(out, "{text}").map_err(cannot)
            })
            .await?;
        out.flush().map_err(cannot)?;
        Ok(s)
    }

    /// Loads an export into this store, which must be empty, replaying its ledger (root only).
    pub async fn import(
        &self,
        actor: &Actor,
        lines: Vec<ExportLine>,
    ) -> ServiceResult<BackupSummary> {
        self.op("import", actor, async move {
        if !actor.is_root() {
            let refused = Err(Self::forbidden(actor, "import into the store"));
            return self.audit_read(actor, Read::Export, None, refused).await;
        }
        let bad = |m: String| ServiceError::field("file", m);
        let held = self.store.counts(None).await?;
        if held.ledger_events > 0 || held.institutions > 0 || held.audit_events > 0 {
            return Err(bad(format!(
                "an import needs an empty store; this one holds {} ledger events and {} audit records",
                held.ledger_events, held.audit_events
            )));
        }
        let mut header = None;
        let (mut institutions, mut templates, mut assets) =
            (HashMap::new(), HashMap::new(), HashMap::new());
        let (mut positions, mut steps, mut policies, mut keys) = (
            HashMap::new(),
            HashMap::new(),
            HashMap::new(),
            HashMap::new(),
        );
        let (mut ledger, mut audits) = (Vec::new(), Vec::new());
        for l in lines {
            match l {
                ExportLine::Header(h) => header = Some(h),
                ExportLine::Institution(i) => {
                    institutions.insert(i.id.clone(), i);
                }
                ExportLine::Template(t) => {
                    templates.insert(t.id.clone(), t);
                }
                ExportLine::Asset(a) => {
                    assets.insert(a.id.clone(), a);
                }
                ExportLine::Position(p) => {
                    positions.insert(p.id.clone(), p);
                }
                ExportLine::Lifecycle(e) => {
                    steps.insert(e.id.clone(), e);
                }
                ExportLine::Policy(p) => {
                    policies.insert(p.id.clone(), p);
                }
                ExportLine::ApiKey(k) => {
                    let mut key = k.key;
                    key.key_hash = k.key_hash;
                    keys.insert(key.id.clone(), key);
                }
                ExportLine::Ledger(e) => ledger.push(e),
                ExportLine::Audit(a) => audits.push(a),
            }
        }
        let header =
            header.ok_or_else(|| bad("no header line: not an EscrowGrid export".into()))?;
        if header.format != FORMAT || header.version != VERSION {
            return Err(bad(format!(
                "format {} version {} is not one this version reads ({FORMAT} {VERSION})",
                header.format, header.version
            )));
        }
        ledger.sort_by_key(|e| e.seq);
        audits.sort_by(|a, b| a.id.cmp(&b.id));
        // Each ledger event's audit record: the first unused success of its action and entity.
        let mut recorded: HashMap<(String, String), VecDeque<AuditEvent>> = HashMap::new();
        let mut rest = Vec::new();
        for a in audits {
            match (&a.outcome, &a.resource_id) {
                (Outcome::Success, Some(r)) => recorded
                    .entry((a.action.clone(), r.clone()))
                    .or_default()
                    .push_back(a),
                _ => rest.push(a),
            }
        }
        let mut chain = ChainVerifier::default();
        let mut current: HashMap<String, Position> = HashMap::new();
        let mut s = BackupSummary::default();
        for e in &ledger {
            if let Err(b) = chain.push(e) {
                return Err(bad(format!(
                    "the export's chain breaks at seq {}: {}",
                    b.seq, b.reason
                )));
            }
            let missing =
                |what: &str| bad(format!("seq {}: its {what} is not in the export", e.seq));
            let change = match e.typed().ok_or_else(|| missing("payload (unreadable)"))? {
                Payload::InstitutionCreated(_) => Change::CreateInstitution(
                    institutions
                        .get(&e.entity_id)
                        .cloned()
                        .ok_or_else(|| missing("institution"))?,
                ),
                Payload::TemplateCreated(_) => Change::CreateTemplate(
                    templates
                        .get(&e.entity_id)
                        .cloned()
                        .ok_or_else(|| missing("template"))?,
                ),
                Payload::AssetCreated(_) => Change::CreateAsset(
                    assets
                        .get(&e.entity_id)
                        .cloned()
                        .ok_or_else(|| missing("asset"))?,
                ),
                Payload::PositionCreated(c) => {
                    let mut p = positions
                        .get(&e.entity_id)
                        .cloned()
                        .ok_or_else(|| missing("position"))?;
                    p.state = c.state;
                    p.version = 0;
                    p.updated_at = p.created_at;
                    current.insert(p.id.clone(), p.clone());
                    Change::CreatePosition(p)
                }
                Payload::PositionStateChanged(t) => {
                    let cur = current
                        .get(&e.entity_id)
                        .cloned()
                        .ok_or_else(|| missing("position's creation"))?;
                    let mut next = cur.clone();
                    next.state = t.to_state;
                    next.version = t.version;
                    next.updated_at = e.at;
                    let event = steps
                        .get(&t.lifecycle_event_id)
                        .cloned()
                        .ok_or_else(|| missing("lifecycle event"))?;
                    current.insert(next.id.clone(), next.clone());
                    Change::TransitionPosition {
                        position: next,
                        expected_state: cur.state,
                        expected_version: cur.version,
                        event,
                    }
                }
                Payload::PolicyUpserted(p) => {
                    let created_at = policies
                        .get(&e.entity_id)
                        .map(|x: &InstitutionPolicy| x.created_at)
                        .unwrap_or(e.at);
                    Change::UpsertPolicy(InstitutionPolicy {
                        id: e.entity_id.clone(),
                        institution_id: p.institution_id,
                        region: p.region,
                        config: p.config,
                        created_at,
                        updated_at: e.at,
                    })
                }
                Payload::ApiKeyCreated(_) => {
                    let mut k: ApiKey = keys
                        .get(&e.entity_id)
                        .cloned()
                        .ok_or_else(|| missing("API key"))?;
                    k.revoked_at = None;
                    Change::CreateApiKey(k)
                }
                Payload::ApiKeyRevoked(_) => Change::RevokeApiKey {
                    id: e.entity_id.clone(),
                    at: e.at,
                },
            };
            let audit = recorded
                .get_mut(&(e.kind.audit_action().to_string(), e.entity_id.clone()))
                .and_then(VecDeque::pop_front);
            let draft = LedgerDraft {
                id: Some(e.id.clone()),
                kind: e.kind,
                entity_type: e.entity_type,
                entity_id: e.entity_id.clone(),
                institution_id: e.institution_id.clone(),
                position_id: e.position_id.clone(),
                at: e.at,
                payload: e.payload.clone(),
            };
            let c = self
                .store
                .commit(Write {
                    change,
                    ledger: Some(draft),
                    audit,
                })
                .await?;
            match c.ledger {
                Some(sealed) if sealed.seq == e.seq && sealed.hash == e.hash => {}
                other => {
                    return Err(ServiceError::Internal(format!(
                        "the import diverged at seq {}: sealed as {:?}",
                        e.seq,
                        other.map(|o| (o.seq, o.hash))
                    )));
                }
            }
            s.ledger_events += 1;
        }
        // Refusals and anything else the trail holds, in order.
        let mut leftover: Vec<AuditEvent> = recorded.into_values().flatten().collect();
        leftover.extend(rest);
        leftover.sort_by(|a, b| a.id.cmp(&b.id));
        for a in leftover {
            self.store
                .commit(Write {
                    change: Change::None,
                    ledger: None,
                    audit: Some(a),
                })
                .await?;
        }
        s.audit_records = self.store.counts(None).await?.audit_events as u64;
        let (seq, hash) = self
            .store
            .ledger_head()
            .await?
            .unwrap_or((0, crate::domain::ledger::GENESIS_HASH.to_string()));
        if (seq, hash.as_str()) != (header.head_seq, header.head_hash.as_str()) {
            return Err(ServiceError::Internal(format!(
                "the import ends at seq {seq} hash {hash}, the export at seq {} hash {}",
                header.head_seq, header.head_hash
            )));
        }
        s.head_seq = seq;
        s.head_hash = hash;
        s.lines = s.ledger_events + s.audit_records;
        Ok(s)
        })
        .await
    }
}
