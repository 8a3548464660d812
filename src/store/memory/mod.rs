//! The in-memory store for demos and tests. One lock guards all data; a commit checks everything
//! that can fail before it changes anything, so a write is all-or-nothing like a transaction.
//! What it keeps of each write is in `records.rs`.

mod import;
mod lock;
mod marks;
mod positions;
mod ready;
mod records;
mod seal;
mod sid;

use super::{
    AssetQuery, AuditQuery, Backend, Change, Committed, Counts, Diagnostics, FaultInjector,
    InstitutionQuery, LedgerQuery, LedgerWaker, PositionFilter, PositionQuery, Store, StoreError,
    StoreResult, TemplateQuery, Write, clamp_limit, counters,
};
use crate::domain::apikey::ApiKey;
use crate::domain::audit::AuditEvent;
use crate::domain::ledger::{LedgerEvent, hex32};
use crate::domain::{
    Asset, AssetTemplate, Institution, InstitutionPolicy, Position, PositionLifecycleEvent,
    PositionState, Region,
};
use async_trait::async_trait;
use positions::{Pos, PosEntry, PosKey, Positions};
use ready::Ready;
use records::{Au, AuditIds, Chunked, Ev, Lc, Names, prev_hex};
use rustc_hash::FxHashMap;
use sid::Sid;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The counters of one scope, at their places in `counters::NAMES`.
type Tally = [i64; counters::NAMES.len()];

#[derive(Default)]
struct Data {
    institutions: BTreeMap<String, Institution>,
    templates: BTreeMap<String, AssetTemplate>,
    assets: BTreeMap<String, Asset>,
    positions: Positions,
    policies: BTreeMap<(String, Region), InstitutionPolicy>,
    api_keys: BTreeMap<String, ApiKey>,
    ledger: Chunked<Ev>,
    audit: Chunked<Au>,
    audit_ids: AuditIds,
    /// The store-wide counters, and each institution's (see `counters.rs`).
    all: Tally,
    counters: FxHashMap<Box<str>, Tally>,
    names: Names,
}

impl Data {
    /// Both chains' heads (`hashes`: the chains' hashes, sealed up to here).
    fn heads(&self, hashes: &seal::Hashes) -> super::Heads {
        let mut h = super::Heads::default();
        if let Some(e) = hashes.ledger.get(self.ledger.len().wrapping_sub(1)) {
            h.ledger = (self.ledger.len() as i64, hex32(e));
        }
        if let Some(a) = hashes.audit.get(self.audit.len().wrapping_sub(1)) {
            h.audit = (self.audit.len() as i64, hex32(a));
        }
        h
    }

    fn tally(&self, scope: &str) -> Option<&Tally> {
        if scope == counters::ALL {
            return Some(&self.all);
        }
        self.counters.get(scope)
    }

    fn count(&mut self, scope: &str, counter: usize, n: i64) {
        if scope == counters::ALL {
            self.all[counter] += n;
            return;
        }
        match self.counters.get_mut(scope) {
            Some(t) => t[counter] += n,
            None => {
                let mut t = Tally::default();
                t[counter] = n;
                self.counters.insert(scope.into(), t);
            }
        }
    }

    fn ledger_event(&self, hashes: &seal::Hashes, i: usize) -> Option<LedgerEvent> {
        let e = self.ledger.get(i)?;
        let prev = prev_hex(&hashes.ledger, i);
        Some(e.to_event(i as i64 + 1, prev, hashes.ledger.get(i)?))
    }

    fn audit_record(&self, hashes: &seal::Hashes, i: usize) -> Option<AuditEvent> {
        let a = self.audit.get(i)?;
        let prev = prev_hex(&hashes.audit, i);
        Some(a.to_event(i as i64 + 1, prev, hashes.audit.get(i)?))
    }
}

pub struct MemoryStore {
    data: lock::DataLock<Data>,
    /// The thread that links both chains (`seal.rs`).
    seal: seal::Seal,
    anchors: super::anchors::MemoryAnchors,
    head_tx: watch::Sender<i64>,
    faults: FaultInjector,
    /// The mark of a mirror's target, and the mirrors of this store (`marks.rs`).
    marks: marks::Marks,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        MemoryStore {
            data: lock::DataLock::new(Data::default()),
            seal: seal::Seal::new(),
            anchors: Default::default(),
            head_tx: watch::channel(0).0,
            faults: FaultInjector::default(),
            marks: Default::default(),
        }
    }

    /// Puts positions straight into the store, with no ledger event or audit record: for
    /// benchmarks that need a large table to read (`bench write`), never for real data.
    pub fn load_positions_unchecked(&self, positions: impl IntoIterator<Item = Position>) {
        let mut d = self.data.write_blocking();
        for p in positions {
            let counter = counters::positions_index(p.state);
            d.count(counters::ALL, counter, 1);
            d.count(&p.institution_id, counter, 1);
            let (k, p) = (PosKey::of(&p.id), Pos::keep(p, &mut d.names));
            d.positions.insert(
                k,
                PosEntry {
                    p,
                    events: Vec::new(),
                },
            );
        }
    }

    /// Applies one write under the lock: everything that can fail is checked before anything
    /// changes, so a refused write leaves the data as it was.
    fn apply(&self, d: &mut Data, w: Ready) -> StoreResult<Committed> {
        let Ready {
            change,
            pos_key,
            mut ledger,
            mut audit,
        } = w;
        // 1. Check everything that can fail.
        if let Some((institution, seen)) = change.policy_seen()
            && !seen.is_current(d.policies.get(&(institution.to_string(), seen.region)))
        {
            return Err(StoreError::PolicyChanged {
                institution_id: institution.to_string(),
                region: seen.region,
            });
        }
        let mut policy_to_store = None;
        match &change {
            Change::None => {}
            Change::CreateInstitution(x) => {
                if d.institutions.contains_key(&x.id) {
                    return Err(dup("institution", &x.id));
                }
            }
            Change::CreateTemplate(x) => {
                if d.templates.contains_key(&x.id) {
                    return Err(dup("template", &x.id));
                }
                if !d.institutions.contains_key(&x.institution_id) {
                    return Err(missing("institution", &x.institution_id));
                }
            }
            Change::CreateAsset(x) => {
                if d.assets.contains_key(&x.id) {
                    return Err(dup("asset", &x.id));
                }
                if !d.institutions.contains_key(&x.institution_id) {
                    return Err(missing("institution", &x.institution_id));
                }
                if !d.templates.contains_key(&x.template_id) {
                    return Err(missing("template", &x.template_id));
                }
            }
            Change::CreatePosition(x, _) => {
                if pos_key.as_ref().is_some_and(|k| d.positions.contains(k)) {
                    return Err(dup("position", &x.id));
                }
                if !d.institutions.contains_key(&x.institution_id) {
                    return Err(missing("institution", &x.institution_id));
                }
                if !d.assets.contains_key(&x.asset_id) {
                    return Err(missing("asset", &x.asset_id));
                }
            }
            Change::CreateApiKey(x) => {
                if d.api_keys.contains_key(&x.id)
                    || d.api_keys.values().any(|k| k.key_hash == x.key_hash)
                {
                    return Err(dup("API key", &x.id));
                }
                if !d.institutions.contains_key(&x.institution_id) {
                    return Err(missing("institution", &x.institution_id));
                }
            }
            Change::TransitionPosition {
                position,
                expected_state,
                expected_version,
                ..
            } => {
                let cur = &pos_key
                    .as_ref()
                    .and_then(|k| d.positions.get(k))
                    .ok_or_else(|| StoreError::NotFound {
                        entity: "position",
                        id: position.id.clone(),
                    })?
                    .p;
                if cur.state != *expected_state || cur.version != *expected_version {
                    return Err(StoreError::Conflict {
                        id: position.id.clone(),
                        expected: *expected_state,
                        expected_version: *expected_version,
                        actual: cur.state,
                        actual_version: cur.version,
                    });
                }
            }
            Change::UpsertPolicy(p) => {
                if !d.institutions.contains_key(&p.institution_id) {
                    return Err(missing("institution", &p.institution_id));
                }
                let mut stored = p.clone();
                if let Some(existing) = d.policies.get(&(p.institution_id.clone(), p.region)) {
                    stored.id = existing.id.clone();
                    stored.created_at = existing.created_at;
                }
                ledger = ledger.map(|l| l.with_entity_id(&stored.id));
                if let Some(a) = audit.as_mut() {
                    a.with_resource_id(&stored.id);
                }
                policy_to_store = Some(stored);
            }
            Change::RevokeApiKey { id, .. } => {
                let key = d.api_keys.get(id).ok_or_else(|| StoreError::NotFound {
                    entity: "API key",
                    id: id.clone(),
                })?;
                if key.revoked_at.is_some() {
                    return Ok(Committed {
                        applied: false,
                        batch: 1,
                        ..Default::default()
                    });
                }
            }
        }
        if let Some(a) = &audit
            && d.audit_ids.contains(&a.record.id, a.key)
        {
            return Err(dup("audit record", &a.record.id));
        }
        if ledger.is_some() {
            self.faults.check_ledger_append()?;
        }

        // 2. Apply; nothing below can fail.
        counters::each_delta(
            &change,
            ledger
                .as_ref()
                .map(|l| l.prepared.draft.institution_id.as_str()),
            audit.as_ref().map(|a| &a.record),
            &mut |(scope, counter, n)| d.count(scope, counter, n),
        );
        match change {
            Change::None => {}
            Change::CreateInstitution(x) => {
                d.institutions.insert(x.id.clone(), x);
            }
            Change::CreateTemplate(x) => {
                d.templates.insert(x.id.clone(), x);
            }
            Change::CreateAsset(x) => {
                d.assets.insert(x.id.clone(), x);
            }
            Change::CreatePosition(x, _) => {
                let k = pos_key.unwrap_or_else(|| PosKey::of(&x.id));
                let p = Pos::keep(x, &mut d.names);
                d.positions.insert(
                    k,
                    PosEntry {
                        p,
                        events: Vec::new(),
                    },
                );
            }
            Change::CreateApiKey(x) => {
                d.api_keys.insert(x.id.clone(), x);
            }
            Change::TransitionPosition {
                position, event, ..
            } => {
                let lc = Lc::keep(event, &mut d.names);
                let k = pos_key.unwrap_or_else(|| PosKey::of(&position.id));
                if let Some(entry) = d.positions.get_mut(&k) {
                    entry.p.step(&position);
                    entry.events.push(lc);
                }
            }
            Change::UpsertPolicy(_) => {
                let p = policy_to_store.clone().expect("set above");
                d.policies.insert((p.institution_id.clone(), p.region), p);
            }
            Change::RevokeApiKey { id, at } => {
                if let Some(k) = d.api_keys.get_mut(&id) {
                    k.revoked_at = Some(at);
                }
            }
        }
        // The records in place, their canonical text to the linking thread in the same order.
        let ledger_seq = ledger.map(|l| {
            let draft = &l.prepared.draft;
            d.ledger.push(Ev {
                id: l.id,
                kind: draft.kind,
                entity_type: draft.entity_type,
                entity_id: l.entity,
                institution_id: d.names.get(&draft.institution_id),
                position: l.position,
                at: draft.at,
                payload: draft.payload.shared().clone(),
            });
            (d.ledger.len() as i64, l.prepared.prefix)
        });
        let audit_seq = audit.map(|a| {
            d.audit_ids.insert(&a.record.id, a.key);
            let kept = Au::keep(a.record, a.ids, &mut d.names);
            d.audit.push(kept);
            (d.audit.len() as i64, a.body)
        });
        let (ledger, ledger_text) = ledger_seq.unzip();
        let (audit, audit_text) = audit_seq.unzip();
        self.seal.hand(ledger_text, audit_text);
        Ok(Committed {
            ledger,
            audit,
            policy: policy_to_store,
            applied: true,
            batch: 1,
        })
    }

    fn read(&self) -> parking_lot::RwLockReadGuard<'_, Data> {
        self.data.read_blocking()
    }

    /// Both chains' heads in `d` (held under the data's lock), once linked.
    fn heads_of(&self, d: &Data) -> super::Heads {
        d.heads(&self.sealed(d))
    }

    /// The chains' hashes for everything in `d` (held under the data's lock), once linked.
    fn sealed(&self, d: &Data) -> parking_lot::MappedMutexGuard<'_, seal::Hashes> {
        let h = self.seal.sealed();
        debug_assert_eq!(
            (h.ledger.len(), h.audit.len()),
            (d.ledger.len(), d.audit.len()),
            "every record in the data is linked"
        );
        h
    }
}

fn missing(entity: &'static str, id: &str) -> StoreError {
    StoreError::Constraint(format!("referenced record does not exist ({entity} {id})"))
}

fn dup(what: &str, id: &str) -> StoreError {
    StoreError::Duplicate(format!("{what} {id} already exists"))
}

fn page<T: Clone>(
    map: &BTreeMap<String, T>,
    after: &Option<String>,
    limit: u32,
    keep: impl Fn(&T) -> bool,
) -> Vec<T> {
    let start = match after {
        Some(a) => std::ops::Bound::Excluded(a.clone()),
        None => std::ops::Bound::Unbounded,
    };
    map.range((start, std::ops::Bound::Unbounded))
        .map(|(_, v)| v)
        .filter(|v| keep(v))
        .take(clamp_limit(limit) as usize)
        .cloned()
        .collect()
}

#[async_trait]
impl Diagnostics for MemoryStore {
    fn target(&self) -> String {
        "memory (this process only)".into()
    }

    fn durability(&self) -> String {
        "none: the data lives in this process's memory".into()
    }

    async fn ping(&self) -> StoreResult<Duration> {
        let start = Instant::now();
        drop(self.read());
        Ok(start.elapsed())
    }

    async fn schema_version(&self) -> StoreResult<Option<i64>> {
        Ok(None)
    }
}

#[async_trait]
impl Store for MemoryStore {
    fn backend(&self) -> Backend {
        Backend::Memory
    }

    fn faults(&self) -> &FaultInjector {
        &self.faults
    }

    fn diagnostics(&self) -> &dyn Diagnostics {
        self
    }

    fn outbox(&self) -> &dyn super::AnchorOutbox {
        &self.anchors
    }

    async fn counts(&self, inst: Option<&str>) -> StoreResult<Counts> {
        let d = self.read();
        let tally = d.tally(inst.unwrap_or(counters::ALL));
        Ok(counters::counts_of(tally.into_iter().flat_map(|t| {
            counters::NAMES
                .iter()
                .zip(t.iter())
                .map(|(name, n)| (*name, *n))
        })))
    }

    async fn held_totals(
        &self,
        inst: Option<&str>,
    ) -> StoreResult<Vec<(crate::domain::Currency, crate::domain::Balance)>> {
        Ok(self.read().positions.held_totals(inst))
    }

    async fn commit(&self, w: Write) -> StoreResult<Committed> {
        // Everything but the data's part, before the lock (`ready.rs`).
        let w = Ready::of(w);
        self.faults.pass_gate().await;
        if let Some(m) = self.marks.mark() {
            return Err(StoreError::Mirrored { of: m.source });
        }
        let mut guard = self.data.write().await;
        let c = self.apply(&mut guard, w)?;
        drop(guard);
        self.seal.wake();
        // Only a ledger waker listens, and a send takes eight locks (the channel's lists of
        // waiters) whether anyone listens or not: with no waker, nothing is sent. A waker made
        // later is woken by later writes only, as it would be if this one had been sent.
        if let Some(seq) = &c.ledger
            && self.head_tx.receiver_count() > 0
        {
            self.head_tx.send_replace(*seq);
        }
        Ok(c)
    }

    async fn import(
        &self,
        writes: Vec<Write>,
        after: Option<super::Heads>,
        expect: super::Heads,
    ) -> StoreResult<()> {
        self.import_writes(writes, after, expect)
    }

    async fn mirror_of(&self) -> StoreResult<Option<super::MirrorOf>> {
        Ok(self.marks.mark())
    }

    async fn set_mirror_of(&self, mark: Option<&super::MirrorOf>) -> StoreResult<()> {
        self.marks.set_mark(mark);
        Ok(())
    }

    async fn mirrored_to(&self) -> StoreResult<Vec<super::MirroredTo>> {
        Ok(self.marks.mirrors())
    }

    async fn set_mirrored_to(
        &self,
        target: &str,
        m: Option<&super::MirroredTo>,
    ) -> StoreResult<()> {
        self.marks.set_mirror(target, m);
        Ok(())
    }

    async fn get_institution(&self, id: &str) -> StoreResult<Option<Institution>> {
        Ok(self.read().institutions.get(id).cloned())
    }

    async fn list_institutions(&self, q: &InstitutionQuery) -> StoreResult<Vec<Institution>> {
        Ok(page(
            &self.read().institutions,
            &q.page.after,
            q.page.limit,
            |i| q.id.as_ref().is_none_or(|x| x == &i.id),
        ))
    }

    async fn get_template(&self, id: &str) -> StoreResult<Option<AssetTemplate>> {
        Ok(self.read().templates.get(id).cloned())
    }

    async fn list_templates(&self, q: &TemplateQuery) -> StoreResult<Vec<AssetTemplate>> {
        Ok(page(
            &self.read().templates,
            &q.page.after,
            q.page.limit,
            |t| {
                q.institution_id
                    .as_ref()
                    .is_none_or(|x| x == &t.institution_id)
            },
        ))
    }

    async fn get_asset(&self, id: &str) -> StoreResult<Option<Asset>> {
        Ok(self.read().assets.get(id).cloned())
    }

    async fn list_assets(&self, q: &AssetQuery) -> StoreResult<Vec<Asset>> {
        Ok(page(
            &self.read().assets,
            &q.page.after,
            q.page.limit,
            |a| {
                q.institution_id
                    .as_ref()
                    .is_none_or(|x| x == &a.institution_id)
                    && q.template_id.as_ref().is_none_or(|x| x == &a.template_id)
            },
        ))
    }

    async fn get_position(&self, id: &str) -> StoreResult<Option<Position>> {
        Ok(self.data.read().await.positions.position(id))
    }

    fn get_position_now(&self, id: &str) -> Option<StoreResult<Option<Position>>> {
        // Not while a write holds the data: the caller then reads without blocking its thread.
        let d = self.data.try_read()?;
        Some(Ok(d.positions.position(id)))
    }

    async fn list_positions(&self, q: &PositionQuery) -> StoreResult<Vec<Position>> {
        let d = self.read();
        Ok(d.positions.page(q, &d.assets))
    }

    async fn count_positions(&self, f: &PositionFilter) -> StoreResult<i64> {
        let d = self.read();
        if let Some((scope, state)) = counters::answers(f) {
            let tally = d.tally(scope);
            let n = |s| tally.map_or(0, |t| t[counters::positions_index(s)]);
            return Ok(match state {
                Some(s) => n(s),
                None => PositionState::ALL.iter().map(|s| n(*s)).sum(),
            });
        }
        Ok(d.positions.count(f, &d.assets) as i64)
    }

    async fn position_events(&self, position_id: &str) -> StoreResult<Vec<PositionLifecycleEvent>> {
        Ok(self.read().positions.events(position_id))
    }

    async fn get_policy(
        &self,
        institution_id: &str,
        region: Region,
    ) -> StoreResult<Option<InstitutionPolicy>> {
        Ok(self
            .read()
            .policies
            .get(&(institution_id.to_string(), region))
            .cloned())
    }

    async fn list_policies(
        &self,
        institution_id: Option<&str>,
    ) -> StoreResult<Vec<InstitutionPolicy>> {
        Ok(self
            .read()
            .policies
            .values()
            .filter(|p| institution_id.is_none_or(|i| i == p.institution_id))
            .cloned()
            .collect())
    }

    async fn get_api_key(&self, id: &str) -> StoreResult<Option<ApiKey>> {
        Ok(self.read().api_keys.get(id).cloned())
    }

    async fn find_api_key_by_hash(&self, key_hash: &str) -> StoreResult<Option<ApiKey>> {
        Ok(self
            .read()
            .api_keys
            .values()
            .find(|k| k.key_hash == key_hash)
            .cloned())
    }

    async fn list_api_keys(&self, institution_id: Option<&str>) -> StoreResult<Vec<ApiKey>> {
        Ok(self
            .read()
            .api_keys
            .values()
            .filter(|k| institution_id.is_none_or(|i| i == k.institution_id))
            .cloned()
            .collect())
    }

    async fn read_ledger(&self, q: &LedgerQuery) -> StoreResult<Vec<LedgerEvent>> {
        let d = self.read();
        let position = q.position_id.as_deref().map(Sid::of);
        let keep = |e: &Ev| {
            position.as_ref().is_none_or(|p| e.position_id() == Some(p))
                && q.kind.is_none_or(|k| e.kind == k)
                && q.institution_id
                    .as_deref()
                    .is_none_or(|i| &*e.institution_id == i)
                && q.since.is_none_or(|t| e.at >= t)
                && q.text.as_deref().is_none_or(|text| e.text_matches(text))
        };
        let n = clamp_limit(q.limit) as usize;
        // seq n is at index n - 1: the scan starts and ends there rather than at either end.
        let start = q.after_seq.max(0) as usize;
        let end = q.before_seq.map_or(d.ledger.len(), |b| {
            (b.max(1) as usize - 1).min(d.ledger.len())
        });
        let rows: Vec<usize> = if q.newest_first {
            d.ledger
                .backward_to(start)
                .skip(d.ledger.len().saturating_sub(end))
                .filter(|(_, e)| keep(e))
                .take(n)
                .map(|(i, _)| i)
                .collect()
        } else {
            d.ledger
                .forward_from(start)
                .take_while(|(i, _)| *i < end)
                .filter(|(_, e)| keep(e))
                .take(n)
                .map(|(i, _)| i)
                .collect()
        };
        let h = self.sealed(&d);
        Ok(rows
            .into_iter()
            .filter_map(|i| d.ledger_event(&h, i))
            .collect())
    }

    async fn ledger_head(&self) -> StoreResult<Option<(i64, String)>> {
        Ok(Some(self.heads_of(&self.read()).ledger).filter(|(seq, _)| *seq > 0))
    }

    async fn heads(&self) -> StoreResult<super::Heads> {
        Ok(self.heads_of(&self.read()))
    }

    async fn list_audit(&self, q: &AuditQuery) -> StoreResult<Vec<AuditEvent>> {
        let d = self.read();
        let sid = |x: &Option<String>| x.as_deref().map(Sid::of);
        let (before, after, id) = (sid(&q.before), sid(&q.after), sid(&q.id));
        let resource = sid(&q.resource_id);
        let keep = |a: &Au| {
            q.action.as_deref().is_none_or(|x| x == &*a.action)
                && q.outcome.is_none_or(|o| o == a.outcome)
                && q.institution_id.as_deref().is_none_or(|i| {
                    a.institution_id.as_deref() == Some(i)
                        || a.subject_institution_id.as_deref() == Some(i)
                })
                && before.as_ref().is_none_or(|b| &a.id < b)
                && after.as_ref().is_none_or(|x| &a.id > x)
                && id.as_ref().is_none_or(|x| &a.id == x)
                && resource
                    .as_ref()
                    .is_none_or(|r| a.resource_id.as_ref() == Some(r))
                && q.text.as_deref().is_none_or(|text| a.text_matches(text))
        };
        // Every record here is in the audit chain (seq N at index N - 1).
        if q.unchained {
            return Ok(Vec::new());
        }
        let limit = clamp_limit(q.limit) as usize;
        let rows: Vec<usize> = match q.after_seq {
            Some(after) => d
                .audit
                .forward_from(after.max(0) as usize)
                .filter(|(_, a)| keep(a))
                .take(limit)
                .map(|(i, _)| i)
                .collect(),
            // The trail is in seq order, which is id order for everything written here.
            None if q.oldest_first || q.after.is_some() => d
                .audit
                .forward_from(0)
                .filter(|(_, a)| keep(a))
                .take(limit)
                .map(|(i, _)| i)
                .collect(),
            None => d
                .audit
                .backward_to(0)
                .filter(|(_, a)| keep(a))
                .take(limit)
                .map(|(i, _)| i)
                .collect(),
        };
        let h = self.sealed(&d);
        Ok(rows
            .into_iter()
            .filter_map(|i| d.audit_record(&h, i))
            .collect())
    }

    async fn ledger_waker(&self) -> StoreResult<Box<dyn LedgerWaker>> {
        Ok(Box::new(WatchWaker(self.head_tx.subscribe())))
    }
}

/// In-process notification: wakes as soon as a commit moves the head.
struct WatchWaker(watch::Receiver<i64>);

#[async_trait]
impl LedgerWaker for WatchWaker {
    async fn wait(&mut self, max_wait: Duration) -> StoreResult<()> {
        let _ = tokio::time::timeout(max_wait, self.0.changed()).await;
        Ok(())
    }
}
