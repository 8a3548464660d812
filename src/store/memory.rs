//! The in-memory store for demos and tests. One lock guards all data; a commit checks everything
//! that can fail before it changes anything, so a write is all-or-nothing like a transaction.

use super::{
    AssetQuery, AuditQuery, Backend, Change, Committed, Counts, FaultInjector, InstitutionQuery,
    LedgerQuery, LedgerWaker, PoolStats, PositionFilter, PositionQuery, PositionSortKey, Store,
    StoreError, StoreResult, TemplateQuery, Write, clamp_limit, counters,
};
use crate::domain::anchor::{AnchorRecord, AnchorSummary};
use crate::domain::apikey::ApiKey;
use crate::domain::audit::AuditEvent;
use crate::domain::ledger::{GENESIS_HASH, LedgerEvent};
use crate::domain::{
    Asset, AssetTemplate, Institution, InstitutionPolicy, Position, PositionLifecycleEvent,
    PositionState, Region,
};
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::RwLock;
use std::time::{Duration, Instant};
use tokio::sync::watch;

#[derive(Default)]
// Boxed records: a growing Vec then moves pointers, not whole records (mimalloc copies a large
// block on realloc; at 200,000 events that was a 200 ms pause).
#[allow(clippy::vec_box)]
struct Data {
    institutions: BTreeMap<String, Institution>,
    templates: BTreeMap<String, AssetTemplate>,
    assets: BTreeMap<String, Asset>,
    positions: BTreeMap<String, Position>,
    events: HashMap<String, Vec<PositionLifecycleEvent>>,
    policies: BTreeMap<(String, Region), InstitutionPolicy>,
    api_keys: BTreeMap<String, ApiKey>,
    ledger: Vec<Box<LedgerEvent>>,
    audit: Vec<Box<AuditEvent>>,
    audit_ids: HashSet<String>,
    /// scope → counter name → count (see `counters.rs`).
    counters: HashMap<String, HashMap<&'static str, i64>>,
}

impl Data {
    /// Both chains' heads.
    fn heads(&self) -> super::Heads {
        let mut h = super::Heads::default();
        if let Some(e) = self.ledger.last() {
            h.ledger = (e.seq, e.hash.clone());
        }
        if let Some((seq, hash)) = self
            .audit
            .last()
            .and_then(|a| Some((a.seq?, a.hash.clone()?)))
        {
            h.audit = (seq, hash);
        }
        h
    }
}

pub struct MemoryStore {
    data: RwLock<Data>,
    anchors: super::anchors::MemoryAnchors,
    head_tx: watch::Sender<i64>,
    faults: FaultInjector,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        MemoryStore {
            data: RwLock::new(Data::default()),
            anchors: Default::default(),
            head_tx: watch::channel(0).0,
            faults: FaultInjector::default(),
        }
    }

    /// Puts positions straight into the store, with no ledger event or audit record: for
    /// benchmarks that need a large table to read (`bench write`), never for real data.
    pub fn load_positions_unchecked(&self, positions: impl IntoIterator<Item = Position>) {
        let mut d = self.data.write().unwrap_or_else(|p| p.into_inner());
        for p in positions {
            for scope in [counters::ALL, p.institution_id.as_str()] {
                *d.counters
                    .entry(scope.to_string())
                    .or_default()
                    .entry(counters::positions_in(p.state))
                    .or_default() += 1;
            }
            d.positions.insert(p.id.clone(), p);
        }
    }

    /// Applies one write under the lock: everything that can fail is checked before anything
    /// changes, so a refused write leaves the data as it was.
    fn apply(
        &self,
        d: &mut Data,
        change: Change,
        mut ledger: Option<crate::domain::ledger::PreparedEvent>,
        mut audit: Option<AuditEvent>,
        mut audit_digest: Option<String>,
    ) -> StoreResult<Committed> {
        // 1. Check everything that can fail.
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
            Change::CreatePosition(x) => {
                if d.positions.contains_key(&x.id) {
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
                let cur = d
                    .positions
                    .get(&position.id)
                    .ok_or_else(|| StoreError::NotFound {
                        entity: "position",
                        id: position.id.clone(),
                    })?;
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
                if let Some(a) = audit.as_mut()
                    && a.resource_id.as_ref() != Some(&stored.id)
                {
                    a.resource_id = Some(stored.id.clone());
                    audit_digest = Some(a.digest());
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
            && d.audit_ids.contains(&a.id)
        {
            return Err(dup("audit record", &a.id));
        }
        let sealed = match ledger {
            Some(prepared) => {
                self.faults.check_ledger_append()?;
                let (seq, prev) = d
                    .ledger
                    .last()
                    .map(|e| (e.seq, e.hash.as_str()))
                    .unwrap_or((0, GENESIS_HASH));
                let hash = prepared.chain_hash(seq, prev);
                let prev = prev.to_string();
                // Kept as the SQL stores keep it, in its canonical form (keys in RFC 8785
                // order), so every backend prints a ledger byte for byte the same.
                let sealed = prepared.into_event(seq, &prev, hash);
                let mut event = sealed.event;
                if let Ok(canonical) = serde_json::from_str(&sealed.payload_json) {
                    event.payload = canonical;
                }
                Some(event)
            }
            None => None,
        };

        // 2. Apply; nothing below can fail.
        let mut deltas = counters::Deltas::default();
        deltas.record(
            &change,
            sealed.as_ref().map(|e| e.institution_id.as_str()),
            audit.as_ref(),
        );
        for (scope, name, n) in deltas.iter() {
            let scoped = match d.counters.get_mut(scope) {
                Some(c) => c,
                None => d.counters.entry(scope.to_string()).or_default(),
            };
            *scoped.entry(name).or_default() += n;
        }
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
            Change::CreatePosition(x) => {
                d.positions.insert(x.id.clone(), x);
            }
            Change::CreateApiKey(x) => {
                d.api_keys.insert(x.id.clone(), x);
            }
            Change::TransitionPosition {
                position, event, ..
            } => {
                d.events.entry(position.id.clone()).or_default().push(event);
                d.positions.insert(position.id.clone(), position);
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
        if let Some(ev) = &sealed {
            d.ledger.push(Box::new(ev.clone()));
        }
        let mut audit_link = None;
        if let (Some(mut a), Some(digest)) = (audit, audit_digest) {
            let (seq, prev) = d
                .audit
                .last()
                .and_then(|x| Some((x.seq?, x.hash.as_deref()?)))
                .unwrap_or((0, GENESIS_HASH));
            a.seal(&digest, seq, prev);
            audit_link = Some((seq + 1, a.hash.clone().unwrap_or_default()));
            d.audit_ids.insert(a.id.clone());
            d.audit.push(Box::new(a));
        }
        Ok(Committed {
            ledger: sealed,
            audit: audit_link,
            policy: policy_to_store,
            applied: true,
            batch: 1,
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Data> {
        self.data.read().unwrap_or_else(|p| p.into_inner())
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

fn matches(p: &Position, f: &PositionFilter, assets: &BTreeMap<String, Asset>) -> bool {
    let eq = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
    if !eq(&f.institution_id, &p.institution_id)
        || !eq(&f.asset_id, &p.asset_id)
        || !eq(&f.holder_reference, &p.holder_reference)
        || f.state.is_some_and(|s| s != p.state)
    {
        return false;
    }
    if let Some(t) = &f.template_id
        && assets.get(&p.asset_id).is_none_or(|a| &a.template_id != t)
    {
        return false;
    }
    if let Some(text) = f.text.as_deref().filter(|s| !s.is_empty()) {
        // ASCII case folding, like SQLite's LIKE.
        let needle = text.to_ascii_lowercase();
        let hit = |s: &str| s.to_ascii_lowercase().contains(&needle);
        return hit(&p.id)
            || hit(&p.holder_reference)
            || p.external_reference.as_deref().is_some_and(hit);
    }
    true
}

#[async_trait]
impl Store for MemoryStore {
    fn backend(&self) -> Backend {
        Backend::Memory
    }

    fn target(&self) -> String {
        "memory (this process only)".into()
    }

    fn durability(&self) -> String {
        "none: the data lives in this process's memory".into()
    }

    fn faults(&self) -> &FaultInjector {
        &self.faults
    }

    async fn ping(&self) -> StoreResult<Duration> {
        let start = Instant::now();
        drop(self.read());
        Ok(start.elapsed())
    }

    async fn schema_version(&self) -> StoreResult<Option<i64>> {
        Ok(None)
    }

    fn pool_stats(&self) -> Option<PoolStats> {
        None
    }

    async fn counts(&self, inst: Option<&str>) -> StoreResult<Counts> {
        let d = self.read();
        let scope = inst.unwrap_or(counters::ALL);
        Ok(counters::counts_of(
            d.counters
                .get(scope)
                .into_iter()
                .flatten()
                .map(|(name, n)| (*name, *n)),
        ))
    }

    async fn commit(&self, w: Write) -> StoreResult<Committed> {
        let Write {
            change,
            ledger,
            audit,
        } = w;
        // Everything of sealing that does not need the chains' heads, before the lock.
        let ledger = ledger.map(crate::domain::ledger::LedgerDraft::prepare_with_id);
        let audit_digest = audit.as_ref().map(AuditEvent::digest);
        self.faults.pass_gate().await;
        let mut guard = self.data.write().unwrap_or_else(|p| p.into_inner());
        let c = self.apply(&mut guard, change, ledger, audit, audit_digest)?;
        drop(guard);
        if let Some(ev) = &c.ledger {
            self.head_tx.send_replace(ev.seq);
        }
        Ok(c)
    }

    async fn import(&self, writes: Vec<Write>, expect: super::Heads) -> StoreResult<()> {
        let mut guard = self.data.write().unwrap_or_else(|p| p.into_inner());
        let d = &mut *guard;
        if !d.ledger.is_empty() || !d.audit.is_empty() || !d.institutions.is_empty() {
            return Err(StoreError::Constraint(
                "an import needs an empty store; this one holds records".into(),
            ));
        }
        let run = || {
            for (i, w) in writes.into_iter().enumerate() {
                let ledger = w
                    .ledger
                    .map(crate::domain::ledger::LedgerDraft::prepare_with_id);
                let digest = w.audit.as_ref().map(AuditEvent::digest);
                self.apply(d, w.change, ledger, w.audit, digest)
                    .map_err(|e| StoreError::Constraint(format!("write {} failed: {e}", i + 1)))?;
            }
            let heads = d.heads();
            if heads != expect {
                return Err(StoreError::Constraint(format!(
                    "the import would end at ledger seq {} and audit seq {}, the export at \
                     ledger seq {} and audit seq {}",
                    heads.ledger.0, heads.audit.0, expect.ledger.0, expect.audit.0
                )));
            }
            Ok(heads.ledger.0)
        };
        match run() {
            Ok(seq) => {
                drop(guard);
                self.head_tx.send_replace(seq);
                Ok(())
            }
            Err(e) => {
                // The store was empty: nothing of the import stays.
                *d = Data::default();
                Err(e)
            }
        }
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
        Ok(self.read().positions.get(id).cloned())
    }

    async fn list_positions(&self, q: &PositionQuery) -> StoreResult<Vec<Position>> {
        let d = self.read();
        let key = q.sort;
        let desc = q.descending ^ q.backwards;
        let limit = clamp_limit(q.limit) as usize;
        if key == PositionSortKey::Created {
            // Creation order is id order: walk the map from the cursor (a keyset page).
            use std::ops::Bound::{Excluded, Unbounded};
            let after = q.cursor.as_ref().map(|c| c.id.as_str());
            let rows: Box<dyn Iterator<Item = &Position>> = match (after, desc) {
                (None, false) => Box::new(d.positions.values()),
                (None, true) => Box::new(d.positions.values().rev()),
                (Some(id), false) => Box::new(
                    d.positions
                        .range::<str, _>((Excluded(id), Unbounded))
                        .map(|(_, p)| p),
                ),
                (Some(id), true) => Box::new(
                    d.positions
                        .range::<str, _>((Unbounded, Excluded(id)))
                        .rev()
                        .map(|(_, p)| p),
                ),
            };
            let mut out: Vec<Position> = rows
                .filter(|p| matches(p, &q.filter, &d.assets))
                .take(limit)
                .cloned()
                .collect();
            if q.backwards {
                out.reverse();
            }
            return Ok(out);
        }
        let mut rows: Vec<(String, &Position)> = d
            .positions
            .values()
            .filter(|p| matches(p, &q.filter, &d.assets))
            .map(|p| (key.cursor_value(p), p))
            .collect();
        rows.sort_by(|a, b| (a.0.as_str(), a.1.id.as_str()).cmp(&(b.0.as_str(), b.1.id.as_str())));
        if desc {
            rows.reverse();
        }
        let after = |r: &(String, &Position)| match &q.cursor {
            None => true,
            Some(c) => {
                let here = (r.0.as_str(), r.1.id.as_str());
                let there = (c.value.as_str(), c.id.as_str());
                if desc { here < there } else { here > there }
            }
        };
        let mut out: Vec<Position> = rows
            .iter()
            .filter(|r| after(r))
            .take(limit)
            .map(|(_, p)| (*p).clone())
            .collect();
        if q.backwards {
            out.reverse();
        }
        Ok(out)
    }

    async fn count_positions(&self, f: &PositionFilter) -> StoreResult<i64> {
        let d = self.read();
        if let Some((scope, state)) = counters::answers(f) {
            let scoped = d.counters.get(scope);
            let n = |s| {
                scoped
                    .and_then(|c| c.get(counters::positions_in(s)))
                    .copied()
            };
            return Ok(match state {
                Some(s) => n(s).unwrap_or(0),
                None => PositionState::ALL.iter().filter_map(|s| n(*s)).sum(),
            });
        }
        Ok(d.positions
            .values()
            .filter(|p| matches(p, f, &d.assets))
            .count() as i64)
    }

    async fn position_events(&self, position_id: &str) -> StoreResult<Vec<PositionLifecycleEvent>> {
        Ok(self
            .read()
            .events
            .get(position_id)
            .cloned()
            .unwrap_or_default())
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
        let keep = |e: &&LedgerEvent| {
            e.seq > q.after_seq
                && q.before_seq.is_none_or(|b| e.seq < b)
                && q.position_id
                    .as_ref()
                    .is_none_or(|p| e.position_id.as_ref() == Some(p))
                && q.kind.is_none_or(|k| e.kind == k)
                && q.institution_id
                    .as_ref()
                    .is_none_or(|i| &e.institution_id == i)
                && q.since.is_none_or(|t| e.at >= t)
                && q.text
                    .as_deref()
                    .is_none_or(|text| super::ledger_text_matches(e, text))
        };
        let n = clamp_limit(q.limit) as usize;
        // seq n is at index n-1: start the scan there rather than at the beginning.
        let start = (q.after_seq.max(0) as usize).min(d.ledger.len());
        Ok(if q.newest_first {
            d.ledger[start..]
                .iter()
                .rev()
                .map(|e| &**e)
                .filter(keep)
                .take(n)
                .cloned()
                .collect()
        } else {
            d.ledger[start..]
                .iter()
                .map(|e| &**e)
                .filter(keep)
                .take(n)
                .cloned()
                .collect()
        })
    }

    async fn ledger_head(&self) -> StoreResult<Option<(i64, String)>> {
        Ok(self.read().ledger.last().map(|e| (e.seq, e.hash.clone())))
    }

    async fn heads(&self) -> StoreResult<super::Heads> {
        Ok(self.read().heads())
    }

    async fn list_audit(&self, q: &AuditQuery) -> StoreResult<Vec<AuditEvent>> {
        let d = self.read();
        let keep = |a: &AuditEvent| {
            q.action.as_ref().is_none_or(|x| x == &a.action)
                && q.outcome.is_none_or(|o| o == a.outcome)
                && q.institution_id.as_ref().is_none_or(|i| {
                    a.institution_id.as_ref() == Some(i)
                        || a.subject_institution_id.as_ref() == Some(i)
                })
                && q.before.as_ref().is_none_or(|b| &a.id < b)
                && q.after.as_ref().is_none_or(|x| &a.id > x)
                && q.id.as_ref().is_none_or(|x| &a.id == x)
                && q.resource_id
                    .as_ref()
                    .is_none_or(|r| a.resource_id.as_ref() == Some(r))
                && (!q.unchained || a.seq.is_none())
                && q.text
                    .as_deref()
                    .is_none_or(|text| super::audit_text_matches(a, text))
        };
        let limit = clamp_limit(q.limit) as usize;
        let rows: Vec<AuditEvent> = match q.after_seq {
            // Every record here is chained, in seq order from 1: seq N is at N - 1.
            Some(after) => d
                .audit
                .iter()
                .skip(after.max(0) as usize)
                .filter(|a| keep(a))
                .take(limit)
                .map(|a| (**a).clone())
                .collect(),
            // The trail is in seq order, which is id order for everything written here.
            None if q.oldest_first || q.after.is_some() => d
                .audit
                .iter()
                .filter(|a| keep(a))
                .take(limit)
                .map(|a| (**a).clone())
                .collect(),
            None => d
                .audit
                .iter()
                .rev()
                .filter(|a| keep(a))
                .take(limit)
                .map(|a| (**a).clone())
                .collect(),
        };
        Ok(rows)
    }

    async fn ledger_waker(&self) -> StoreResult<Box<dyn LedgerWaker>> {
        Ok(Box::new(WatchWaker(self.head_tx.subscribe())))
    }

    async fn anchor_enqueue(&self, seq: i64, head: &str) -> StoreResult<bool> {
        Ok(self.anchors.enqueue(seq, head))
    }
    async fn anchor_claim(
        &self,
        owner: &str,
        lease: Duration,
    ) -> StoreResult<Option<AnchorRecord>> {
        Ok(self.anchors.claim(owner, lease))
    }
    async fn anchor_save(&self, a: &AnchorRecord) -> StoreResult<()> {
        self.anchors.save(a)
    }
    async fn list_anchors(&self, limit: u32) -> StoreResult<Vec<AnchorRecord>> {
        Ok(self.anchors.list(limit))
    }
    async fn anchor_summary(&self) -> StoreResult<AnchorSummary> {
        Ok(self.anchors.summary())
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
