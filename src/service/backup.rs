//! Backups that move between backends. `export` writes the whole store — institutions,
//! templates, assets, positions with their lifecycle, policies, API key records (their hashes,
//! never a token), the ledger and the audit trail — as JSON lines, between a header and a
//! trailer that gives the counts, both chains' heads and the SHA-256 of every byte before it: a
//! file cut short, or changed, is refused.
//!
//! `import` trusts nothing in the file but what the chains prove. The ledger is verified and
//! replayed (`domain::replay`): every entity the store gets is built from the ledger's events
//! alone, and the export's entity rows are only compared with that replay — a row that differs
//! (a forged key hash, an edited reason) refuses the import, naming it. The audit trail is
//! verified as a chain and written in its order, each success record with its ledger event. The
//! whole load is one transaction (`Store::import`): all of it lands, or — on any failure, an
//! interrupted process included — none of it, and the store stays empty.

use super::*;
use crate::domain::audit::{AuditVerifier, link_hash};
use crate::domain::replay::{Effect, Recorded, Replay, differing_fields};
use crate::store::Heads;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::io::BufRead;

pub const FORMAT: &str = "escrowgrid-export";
/// 2: the trailer, the audit chain, and payloads that record key hashes and step metadata.
pub const VERSION: u32 = 2;

/// The first line of an export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportHeader {
    pub format: String,
    pub version: u32,
    pub backend: String,
    pub head_seq: i64,
    pub head_hash: String,
    #[serde(default)]
    pub audit_head_seq: i64,
    #[serde(default)]
    pub audit_head_hash: Option<String>,
    #[serde(with = "crate::domain::time::rfc3339")]
    pub exported_at: time::Timestamp,
}

/// The last line of an export: what came before it, and the SHA-256 of its bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportTrailer {
    /// Lines before the trailer, the header included.
    pub lines: u64,
    pub ledger_events: u64,
    pub audit_records: u64,
    pub head_seq: i64,
    pub head_hash: String,
    pub audit_head_seq: i64,
    pub audit_head_hash: String,
    /// Lower-case hex SHA-256 of every byte before the trailer (each line and its newline).
    pub sha256: String,
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
    Trailer(ExportTrailer),
}

/// How much an export or import moved.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupSummary {
    pub lines: u64,
    pub ledger_events: u64,
    pub audit_records: u64,
    pub head_seq: i64,
    pub head_hash: String,
    pub audit_head_seq: i64,
    pub audit_head_hash: String,
    /// What could not be proven from the ledger and was taken from the file (exports of an
    /// older escrowgrid), once each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

pub use super::export_file::ExportFile;

/// What `import` accepts beyond a whole export of this version.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImportOptions {
    /// Accept an export of version 1, which has no trailer (so a file cut at a line boundary
    /// cannot be told from a whole one).
    pub legacy: bool,
}

fn bad(m: impl Into<String>) -> ServiceError {
    ServiceError::field("file", m)
}

impl Service {
    /// May `actor` export the store? Root only (it spans every institution); a refusal is
    /// audited. Asked before any file is touched.
    pub async fn authorize_export(&self, actor: &Actor) -> ServiceResult<()> {
        self.op("authorize_export", actor, async move {
            if actor.is_root() {
                return Ok(());
            }
            let refused = Err(Self::forbidden(actor, "export the store"));
            self.audit_read(actor, Read::Export, None, refused).await
        })
        .await
    }

    /// The export as JSON lines into `out`, ending with its trailer (`escrowgrid export`, the
    /// console's `:export`); a write that fails is an error naming `what` (the file).
    pub async fn export_to<W: std::io::Write + ?Sized>(
        &self,
        actor: &Actor,
        out: &mut W,
        what: &str,
    ) -> ServiceResult<BackupSummary> {
        self.op("export", actor, async move {
            if !actor.is_root() {
                let refused = Err(Self::forbidden(actor, "export the store"));
                return self.audit_read(actor, Read::Export, None, refused).await;
            }
            let cannot = |e: std::io::Error| bad(format!("cannot write {what}: {e}"));
            let mut digest = Sha256::new();
            let mut s = BackupSummary::default();
            let mut emit = |line: &ExportLine, s: &mut BackupSummary| -> ServiceResult<()> {
                let mut text = serde_json::to_string(line)
                    .map_err(|e| ServiceError::Internal(e.to_string()))?;
                text.push('\n');
                digest.update(text.as_bytes());
                s.lines += 1;
                out.write_all(text.as_bytes()).map_err(cannot)
            };
            self.export_lines(&mut s, &mut emit).await?;
            let trailer = ExportLine::Trailer(ExportTrailer {
                lines: s.lines,
                ledger_events: s.ledger_events,
                audit_records: s.audit_records,
                head_seq: s.head_seq,
                head_hash: s.head_hash.clone(),
                audit_head_seq: s.audit_head_seq,
                audit_head_hash: s.audit_head_hash.clone(),
                sha256: hex::encode(digest.finalize()),
            });
            let text = serde_json::to_string(&trailer)
                .map_err(|e| ServiceError::Internal(e.to_string()))?;
            writeln!(out, "{text}").map_err(cannot)?;
            out.flush().map_err(cannot)?;
            Ok(s)
        })
        .await
    }

    /// The export into `path`, never damaging what is there: the caller's rights are checked
    /// before any file is touched; an existing file is replaced only with `force`; the export
    /// is written to an owner-only temporary file beside it, flushed to disk and renamed into
    /// place only when complete (a killed or refused export leaves the old file as it was).
    pub async fn export_file(
        &self,
        actor: &Actor,
        path: &std::path::Path,
        force: bool,
    ) -> ServiceResult<BackupSummary> {
        self.authorize_export(actor).await?;
        let mut file = ExportFile::create(path, force)?;
        let shown = file.shown.clone();
        let s = {
            let mut out = std::io::BufWriter::new(file.tmp.as_file_mut());
            self.export_to(actor, &mut out, &shown).await?
        };
        file.commit()?;
        Ok(s)
    }

    /// Every line of the export but the trailer, in order, to `emit`: the header with both
    /// chains' heads (read together), the ledger and the audit trail up to those heads, and the
    /// entities as the ledger's replay up to its head — so an export of a store that is being
    /// written to is still one consistent moment, and carries what the ledger proves.
    async fn export_lines(
        &self,
        s: &mut BackupSummary,
        emit: &mut impl FnMut(&ExportLine, &mut BackupSummary) -> ServiceResult<()>,
    ) -> ServiceResult<()> {
        let heads = self.store.heads().await?;
        (s.head_seq, s.head_hash) = heads.ledger.clone();
        (s.audit_head_seq, s.audit_head_hash) = heads.audit.clone();
        let header = ExportHeader {
            format: FORMAT.into(),
            version: VERSION,
            backend: self.store.backend().to_string(),
            head_seq: heads.ledger.0,
            head_hash: heads.ledger.1.clone(),
            audit_head_seq: heads.audit.0,
            audit_head_hash: Some(heads.audit.1.clone()),
            exported_at: time::now(),
        };
        emit(&ExportLine::Header(header), s)?;
        let mut replay = Replay::default();
        let head = heads.ledger.0;
        self.ledger_pages(0, |page| {
            for e in page.into_iter().filter(|e| e.seq <= head) {
                replay.push(&e);
                s.ledger_events += 1;
                emit(&ExportLine::Ledger(e), s)?;
            }
            Ok(true)
        })
        .await?;
        if let Some(p) = replay.problems.first() {
            return Err(ServiceError::Internal(format!(
                "the ledger does not replay at seq {} ({}): {}; run `escrowgrid check`",
                p.seq, p.entity, p.what
            )));
        }
        self.export_entities(replay, s, emit).await?;
        let audit_head = heads.audit.0;
        self.audit_chain_pages(0, |page| {
            for a in page
                .into_iter()
                .filter(|a| a.seq.is_some_and(|n| n <= audit_head))
            {
                s.audit_records += 1;
                emit(&ExportLine::Audit(a), s)?;
            }
            Ok(true)
        })
        .await?;
        for a in self.unchained_audit().await? {
            s.audit_records += 1;
            emit(&ExportLine::Audit(a), s)?;
        }
        Ok(())
    }

    /// The entities of a replay, each kind in creation order; what older ledgers did not record
    /// (a key's hash, a step's metadata) is taken from the store.
    async fn export_entities(
        &self,
        r: Replay,
        s: &mut BackupSummary,
        emit: &mut impl FnMut(&ExportLine, &mut BackupSummary) -> ServiceResult<()>,
    ) -> ServiceResult<()> {
        fn by_seq<T>(m: HashMap<String, Recorded<T>>) -> Vec<T> {
            let mut v: Vec<Recorded<T>> = m.into_values().collect();
            v.sort_by_key(|x| x.created);
            v.into_iter().map(|x| x.value).collect()
        }
        let Replay {
            institutions,
            templates,
            assets,
            positions,
            mut lifecycle,
            policies,
            keys,
            ..
        } = r;
        for i in by_seq(institutions) {
            emit(&ExportLine::Institution(i), s)?;
        }
        for t in by_seq(templates) {
            emit(&ExportLine::Template(t), s)?;
        }
        for a in by_seq(assets) {
            emit(&ExportLine::Asset(a), s)?;
        }
        for p in by_seq(positions) {
            let steps = lifecycle.remove(&p.id).unwrap_or_default();
            let stored = if steps.iter().any(|x| !x.metadata_recorded) {
                self.store.position_events(&p.id).await?
            } else {
                Vec::new()
            };
            emit(&ExportLine::Position(p), s)?;
            for mut step in steps {
                if !step.metadata_recorded
                    && let Some(row) = stored.iter().find(|x| x.id == step.event.id)
                {
                    step.event.metadata = row.metadata.clone();
                }
                emit(&ExportLine::Lifecycle(step.event), s)?;
            }
        }
        for p in by_seq(policies) {
            emit(&ExportLine::Policy(p), s)?;
        }
        for k in by_seq(keys) {
            let mut key = k.key;
            if !k.hash_recorded
                && let Some(stored) = self.store.get_api_key(&key.id).await?
            {
                key.key_hash = stored.key_hash;
            }
            let key_hash = key.key_hash.clone();
            emit(&ExportLine::ApiKey(ApiKeyRecord { key, key_hash }), s)?;
        }
        Ok(())
    }

    /// Loads an export into this store, which must be empty (root only): see the module's
    /// documentation. Nothing is written unless all of it can be.
    /// The export as JSON lines into `out`, a writer any task may hold (`export -`).
    pub async fn export_to_writer(
        &self,
        actor: &Actor,
        out: &mut (dyn std::io::Write + Send),
        what: &str,
    ) -> ServiceResult<BackupSummary> {
        self.export_to(actor, out, what).await
    }

    /// An import of the export in the file at `path` (a regular file, read as it is parsed).
    pub async fn import_file(
        &self,
        actor: &Actor,
        path: &std::path::Path,
        opts: ImportOptions,
    ) -> ServiceResult<BackupSummary> {
        let reader = std::io::BufReader::new(crate::files::open_regular(path).map_err(|e| {
            ServiceError::field("file", format!("cannot read {}: {e}", path.display()))
        })?);
        self.import(actor, reader, opts).await
    }

    pub async fn import(
        &self,
        actor: &Actor,
        file: impl BufRead,
        opts: ImportOptions,
    ) -> ServiceResult<BackupSummary> {
        self.op("import", actor, async move {
            if !actor.is_root() {
                let refused = Err(Self::forbidden(actor, "import into the store"));
                return self.audit_read(actor, Read::Export, None, refused).await;
            }
            let held = self.store.counts(None).await?;
            if held.ledger_events > 0 || held.institutions > 0 || held.audit_events > 0 {
                return Err(bad(format!(
                    "an import needs an empty store; this one holds {} ledger events and {} audit records",
                    held.ledger_events, held.audit_events
                )));
            }
            let export = Export::read(file, opts)?;
            let plan = export.plan()?;
            let writes = plan.writes.len();
            self.store
                .import(plan.writes, None, plan.heads.clone())
                .await
                .map_err(|e| match e {
                    StoreError::Constraint(m) => bad(format!("nothing was imported: {m}")),
                    other => ServiceError::from(other),
                })?;
            tracing::info!(writes, "import committed");
            Ok(BackupSummary {
                lines: export.lines,
                ledger_events: export.ledger.len() as u64,
                audit_records: export.audits.len() as u64,
                head_seq: plan.heads.ledger.0,
                head_hash: plan.heads.ledger.1,
                audit_head_seq: plan.heads.audit.0,
                audit_head_hash: plan.heads.audit.1,
                notes: plan.notes,
            })
        })
        .await
    }
}

/// An export as read: each kind of line by id, the ledger and the audit trail in file order.
#[derive(Default)]
struct Export {
    lines: u64,
    institutions: HashMap<String, Institution>,
    templates: HashMap<String, AssetTemplate>,
    assets: HashMap<String, Asset>,
    positions: HashMap<String, Position>,
    lifecycle: HashMap<String, PositionLifecycleEvent>,
    policies: HashMap<String, InstitutionPolicy>,
    keys: HashMap<String, ApiKey>,
    ledger: Vec<LedgerEvent>,
    audits: Vec<AuditEvent>,
    trailer: Option<ExportTrailer>,
}

/// What an import writes, and the heads its chains must end on.
struct Plan {
    writes: Vec<Write>,
    heads: Heads,
    notes: Vec<String>,
}

impl Export {
    /// Reads and checks the file: the header first, the trailer last, its digest and counts.
    fn read(file: impl BufRead, opts: ImportOptions) -> ServiceResult<Export> {
        let mut x = Export::default();
        let mut digest = Sha256::new();
        let mut header: Option<ExportHeader> = None;
        for (n, line) in file.lines().enumerate() {
            let line = line.map_err(|e| bad(format!("cannot read line {}: {e}", n + 1)))?;
            if x.trailer.is_some() {
                if line.trim().is_empty() {
                    continue;
                }
                return Err(bad(format!(
                    "line {}: lines after the trailer (the file was changed)",
                    n + 1
                )));
            }
            let parsed: ExportLine = serde_json::from_str(&line)
                .map_err(|e| bad(format!("line {}: not an export line ({e})", n + 1)))?;
            if let ExportLine::Trailer(t) = parsed {
                x.trailer = Some(t);
                continue;
            }
            digest.update(line.as_bytes());
            digest.update(b"\n");
            x.lines += 1;
            match parsed {
                ExportLine::Header(h) if n == 0 => header = Some(h),
                ExportLine::Header(_) => {
                    return Err(bad(format!("line {}: a second header", n + 1)));
                }
                _ if header.is_none() => {
                    return Err(bad("no header line: not an EscrowGrid export"));
                }
                ExportLine::Institution(i) => _ = x.institutions.insert(i.id.clone(), i),
                ExportLine::Template(t) => _ = x.templates.insert(t.id.clone(), t),
                ExportLine::Asset(a) => _ = x.assets.insert(a.id.clone(), a),
                ExportLine::Position(p) => _ = x.positions.insert(p.id.clone(), p),
                ExportLine::Lifecycle(e) => _ = x.lifecycle.insert(e.id.clone(), e),
                ExportLine::Policy(p) => _ = x.policies.insert(p.id.clone(), p),
                ExportLine::ApiKey(k) => {
                    let mut key = k.key;
                    key.key_hash = k.key_hash;
                    x.keys.insert(key.id.clone(), key);
                }
                ExportLine::Ledger(e) => x.ledger.push(e),
                ExportLine::Audit(a) => x.audits.push(a),
                ExportLine::Trailer(_) => unreachable!("taken above"),
            }
        }
        let header = header.ok_or_else(|| bad("no header line: not an EscrowGrid export"))?;
        if header.format != FORMAT || header.version > VERSION {
            return Err(bad(format!(
                "format {} version {} is not one this version reads ({FORMAT} up to {VERSION}): \
                 upgrade escrowgrid",
                header.format, header.version
            )));
        }
        let Some(t) = &x.trailer else {
            if header.version < 2 && opts.legacy {
                return Ok(x);
            }
            return Err(bad(if header.version < 2 {
                "the export was written by an older escrowgrid (version 1) and has no trailer, \
                 so a file cut short cannot be told from a whole one; pass --legacy to import \
                 it all the same"
                    .to_string()
            } else {
                "the export has no trailer: the file was cut short (or its last line removed)"
                    .to_string()
            }));
        };
        let sha256 = hex::encode(digest.finalize());
        if t.sha256 != sha256 {
            return Err(bad(format!(
                "the export does not match its trailer (SHA-256 {sha256}, the trailer says {}): \
                 the file was changed or damaged",
                t.sha256
            )));
        }
        let counts = (x.lines, x.ledger.len() as u64, x.audits.len() as u64);
        if counts != (t.lines, t.ledger_events, t.audit_records) {
            return Err(bad(format!(
                "the export holds {} lines, {} ledger events and {} audit records; its trailer \
                 says {}, {} and {}",
                counts.0, counts.1, counts.2, t.lines, t.ledger_events, t.audit_records
            )));
        }
        if (t.head_seq, &t.head_hash) != (header.head_seq, &header.head_hash) {
            return Err(bad("the export's trailer and header name different heads"));
        }
        Ok(x)
    }

    /// Verifies both chains, replays the ledger, compares every entity row with the replay,
    /// and orders the writes as the audit trail says they were made.
    fn plan(&self) -> ServiceResult<Plan> {
        let mut notes = Vec::new();
        // The ledger: a chain from seq 1, and a replay without problems.
        let mut chain = ChainVerifier::default();
        let mut replay = Replay::default();
        let mut effects = Vec::with_capacity(self.ledger.len());
        for e in &self.ledger {
            chain.push(e).map_err(|b| {
                bad(format!(
                    "the export's ledger breaks at seq {}: {}",
                    b.seq, b.reason
                ))
            })?;
            let effect = replay.push(e);
            if let Some(p) = replay.problems.first() {
                return Err(bad(format!(
                    "the export's ledger does not replay at seq {} ({}): {}",
                    p.seq, p.entity, p.what
                )));
            }
            effects.push(effect.expect("an event without a problem has its effect"));
        }
        if let Some(t) = &self.trailer {
            let (seq, hash) = chain.head();
            if (seq, hash) != (t.head_seq, t.head_hash.as_str()) {
                return Err(bad(format!(
                    "the export's ledger ends at seq {seq}, its trailer at seq {}",
                    t.head_seq
                )));
            }
        }
        self.compare_with(&replay)?;
        // Legacy: what older ledgers did not record comes from the rows (said in a note).
        let mut from_rows = (0u64, 0u64);
        for effect in &mut effects {
            match effect {
                Effect::Key(k) if !k.hash_recorded => {
                    k.key.key_hash = self.keys[&k.key.id].key_hash.clone();
                    from_rows.0 += 1;
                }
                Effect::Step { step, .. } if !step.metadata_recorded => {
                    if let Some(row) = self.lifecycle.get(&step.event.id) {
                        step.event.metadata = row.metadata.clone();
                    }
                    from_rows.1 += 1;
                }
                _ => {}
            }
        }
        if from_rows.0 > 0 {
            notes.push(format!(
                "{} API key hash(es) are not recorded in the export's ledger (an older \
                 escrowgrid): taken from the file",
                from_rows.0
            ));
        }
        if from_rows.1 > 0 {
            notes.push(format!(
                "{} lifecycle step(s) have no metadata recorded in the ledger (an older \
                 escrowgrid): taken from the file",
                from_rows.1
            ));
        }
        // The audit trail: its chained records verified in order, then the rest.
        let (mut chained, mut rest): (Vec<&AuditEvent>, Vec<&AuditEvent>) =
            self.audits.iter().partition(|a| a.seq.is_some());
        chained.sort_by_key(|a| a.seq);
        rest.sort_by(|a, b| a.id.cmp(&b.id));
        let mut audit_chain = AuditVerifier::default();
        for a in &chained {
            audit_chain.push(a).map_err(|b| {
                bad(format!(
                    "the export's audit trail breaks at audit seq {}: {}",
                    b.seq, b.reason
                ))
            })?;
        }
        if let Some(t) = &self.trailer {
            let (seq, hash) = audit_chain.head();
            if (seq, hash) != (t.audit_head_seq, t.audit_head_hash.as_str()) {
                return Err(bad(format!(
                    "the export's audit trail ends at audit seq {seq}, its trailer at {}",
                    t.audit_head_seq
                )));
            }
        }
        // The rest go after the chain, as the store will link them.
        let (mut seq, mut prev) = {
            let (s, h) = audit_chain.head();
            (s, h.to_string())
        };
        for a in &rest {
            seq += 1;
            prev = link_hash(&a.digest(), &prev, seq);
        }
        let writes = self.writes(&effects, chained.into_iter().chain(rest))?;
        let (ledger_seq, ledger_hash) = chain.head();
        Ok(Plan {
            writes,
            heads: Heads {
                ledger: (ledger_seq, ledger_hash.to_string()),
                audit: (seq, prev),
            },
            notes,
        })
    }

    /// Every entity row of the export against the replay; the first difference refuses the
    /// import, naming the row and its fields.
    fn compare_with(&self, r: &Replay) -> ServiceResult<()> {
        // (seq, what): the first by seq is reported.
        let mut diffs: Vec<(i64, String)> = Vec::new();
        fn rows<T: Serialize>(
            kind: &str,
            rows: &HashMap<String, T>,
            replayed: &HashMap<String, Recorded<T>>,
            diffs: &mut Vec<(i64, String)>,
        ) {
            for (id, row) in rows {
                match replayed.get(id) {
                    None => diffs.push((
                        i64::MAX,
                        format!("the export holds {kind} {id}, which no ledger event created"),
                    )),
                    Some(x) => {
                        let fields = differing_fields(row, &x.value);
                        if !fields.is_empty() {
                            diffs.push((
                                x.last,
                                format!(
                                    "the export's {kind} {id} differs from what its ledger events \
                                     recorded, in: {}",
                                    fields.join(", ")
                                ),
                            ));
                        }
                    }
                }
            }
            for (id, x) in replayed {
                if !rows.contains_key(id) {
                    diffs.push((
                        x.created,
                        format!("the export lacks {kind} {id}, which its ledger created"),
                    ));
                }
            }
        }
        rows(
            "institution",
            &self.institutions,
            &r.institutions,
            &mut diffs,
        );
        rows("template", &self.templates, &r.templates, &mut diffs);
        rows("asset", &self.assets, &r.assets, &mut diffs);
        rows("position", &self.positions, &r.positions, &mut diffs);
        rows("policy", &self.policies, &r.policies, &mut diffs);
        let keys: HashMap<String, Recorded<ApiKey>> = r
            .keys
            .iter()
            .map(|(id, k)| {
                let mut key = k.value.key.clone();
                if !k.value.hash_recorded {
                    key.key_hash = self
                        .keys
                        .get(id)
                        .map(|x| x.key_hash.clone())
                        .unwrap_or_default();
                }
                let rec = Recorded {
                    created: k.created,
                    last: k.last,
                    value: key,
                };
                (id.clone(), rec)
            })
            .collect();
        rows("API key", &self.keys, &keys, &mut diffs);
        // The key hash is never serialised: compared on its own.
        for (id, row) in &self.keys {
            if let Some(k) = r.keys.get(id)
                && k.value.hash_recorded
                && k.value.key.key_hash != row.key_hash
            {
                diffs.push((
                    k.created,
                    format!(
                        "the export's API key {id} differs from what its ledger events recorded, \
                         in: keyHash"
                    ),
                ));
            }
        }
        // Lifecycle rows against the replayed steps.
        let mut steps: HashMap<&str, &crate::domain::replay::Step> = HashMap::new();
        for s in r.lifecycle.values().flatten() {
            steps.insert(s.event.id.as_str(), s);
        }
        for (id, row) in &self.lifecycle {
            match steps.remove(id.as_str()) {
                None => diffs.push((
                    i64::MAX,
                    format!("the export holds lifecycle event {id}, which no ledger step recorded"),
                )),
                Some(s) => {
                    let mut want = s.event.clone();
                    if !s.metadata_recorded {
                        want.metadata = row.metadata.clone();
                    }
                    // Rows of an older export name no actor.
                    if row.actor.is_none() {
                        want.actor = None;
                    }
                    let fields = differing_fields(row, &want);
                    if !fields.is_empty() {
                        diffs.push((
                            s.seq,
                            format!(
                                "the export's lifecycle event {id} differs from its ledger step, \
                                 in: {}",
                                fields.join(", ")
                            ),
                        ));
                    }
                }
            }
        }
        for s in steps.values() {
            diffs.push((
                s.seq,
                format!(
                    "the export lacks lifecycle event {}, which its ledger recorded",
                    s.event.id
                ),
            ));
        }
        diffs.sort();
        let n = diffs.len();
        if let Some((seq, what)) = diffs.into_iter().next() {
            let at = if seq == i64::MAX {
                String::new()
            } else {
                format!("seq {seq}: ")
            };
            let more = if n > 1 {
                format!(" ({} more difference(s))", n - 1)
            } else {
                String::new()
            };
            return Err(bad(format!(
                "refused, nothing was imported: {at}{what}{more}"
            )));
        }
        Ok(())
    }

    /// The writes, in the order the audit trail gives: each success record with the ledger
    /// event it records (the first of its action and entity not yet written), every other
    /// record on its own, and ledger events with no record where they fall.
    fn writes<'a>(
        &self,
        effects: &[Effect],
        audits: impl Iterator<Item = &'a AuditEvent>,
    ) -> ServiceResult<Vec<Write>> {
        // Each ledger event's audit record: the success records by (action, entity), in order.
        let mut events_of: HashMap<(String, String), VecDeque<usize>> = HashMap::new();
        for (i, e) in self.ledger.iter().enumerate() {
            events_of
                .entry((e.kind.audit_action().to_string(), e.entity_id.clone()))
                .or_default()
                .push_back(i);
        }
        let mut out = Vec::with_capacity(self.ledger.len() + self.audits.len());
        let mut next = 0usize;
        for a in audits {
            let paired = (a.outcome == Outcome::Success)
                .then(|| {
                    let key = (a.action.clone(), a.resource_id.clone().unwrap_or_default());
                    events_of.get_mut(&key).and_then(VecDeque::pop_front)
                })
                .flatten();
            match paired {
                Some(i) if i < next => {
                    return Err(bad(format!(
                        "the export's audit record {} comes after a later ledger event than its \
                         own (seq {}): the audit trail and the ledger disagree",
                        a.id, self.ledger[i].seq
                    )));
                }
                Some(i) => {
                    while next < i {
                        out.push(self.write(next, &effects[next], None));
                        next += 1;
                    }
                    out.push(self.write(i, &effects[i], Some(a.clone())));
                    next = i + 1;
                }
                None => out.push(Write {
                    change: Change::None,
                    ledger: None,
                    audit: Some(a.clone()),
                }),
            }
        }
        while next < self.ledger.len() {
            out.push(self.write(next, &effects[next], None));
            next += 1;
        }
        Ok(out)
    }

    /// Ledger event `i` with the change its replay made, and its audit record.
    fn write(&self, i: usize, effect: &Effect, audit: Option<AuditEvent>) -> Write {
        replayed_write(&self.ledger[i], effect.clone(), audit)
    }
}

/// The write that stores ledger event `e` again elsewhere: the change its replay made (`effect`),
/// the event itself to be sealed again under its own id (so its hash comes out the same), and
/// its audit record. What an import and a mirror write.
pub(super) fn replayed_write(e: &LedgerEvent, effect: Effect, audit: Option<AuditEvent>) -> Write {
    let change = match effect {
        Effect::Institution(x) => Change::CreateInstitution(x),
        Effect::Template(x) => Change::CreateTemplate(x),
        Effect::Asset(x) => Change::CreateAsset(x),
        Effect::Position(x) => Change::CreatePosition(x, None),
        Effect::Step {
            position,
            from,
            from_version,
            step,
        } => Change::TransitionPosition {
            position,
            expected_state: from,
            expected_version: from_version,
            event: step.event,
            policy: None,
        },
        Effect::Policy(p) => Change::UpsertPolicy(p),
        Effect::Key(k) => Change::CreateApiKey(k.key),
        Effect::Revoked { id, at } => Change::RevokeApiKey { id, at },
    };
    Write {
        change,
        ledger: Some(LedgerDraft {
            id: Some(e.id.clone()),
            kind: e.kind,
            entity_type: e.entity_type,
            entity_id: e.entity_id.clone(),
            institution_id: e.institution_id.clone(),
            position_id: e.position_id.clone(),
            at: e.at,
            payload: e.payload.clone().into(),
        }),
        audit,
    }
}
