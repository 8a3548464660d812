//! `check`: a full consistency audit of the store. `ledger verify` proves the chain agrees with
//! itself; this proves the rest of the store agrees with the chain. The ledger is replayed
//! (`domain::replay`) into every entity it recorded, and each stored entity is compared with
//! that replay field by field — institutions, templates, assets, positions (state, version,
//! times), every lifecycle step (state, reason, time, metadata, actor), policies (every field of
//! the last upsert), API keys (hash, role, institution, revocation). Every ledger event has its
//! audit record with the same actor, key, institution and payload, and no change is audited
//! that the ledger does not hold; references hold; the counters equal real counts.
//!
//! It reads everything once: the ledger and the audit trail page by page, the entities in
//! pages, and each position's lifecycle with one read per position.

use super::*;
use crate::domain::audit::AuditVerifier;
use crate::domain::ledger::{ChainBreak, canonical_value};
use crate::domain::replay::{Replay, differing_fields};
use crate::store::counters;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};

/// How many findings a report lists (the rest are counted).
const SHOWN: usize = 1000;

/// One thing that does not agree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// The entity it concerns (an id), if one.
    pub entity: Option<String>,
    /// The ledger event it concerns, if one.
    pub seq: Option<i64>,
    pub what: String,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckReport {
    pub ok: bool,
    #[serde(with = "crate::domain::time::rfc3339")]
    pub at: time::Timestamp,
    /// Ledger events read (and verified, up to a break).
    pub events: u64,
    /// Entities compared with their events.
    pub entities: u64,
    pub audit_records: u64,
    pub head_seq: i64,
    pub head_hash: String,
    /// The audit trail's head as verified.
    pub audit_head_seq: i64,
    pub audit_head_hash: String,
    pub findings: Vec<Finding>,
    /// Findings beyond the ones listed.
    pub more: u64,
    /// What could not be checked and is not a fault (records older than what the ledger
    /// records), once each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// What a ledger event says its audit record must say.
struct Expected {
    seq: i64,
    actor: String,
    institution_id: String,
    entity_type: EntityType,
    payload: [u8; 32],
}

/// A success audit record, as far as `check` compares it.
struct Audited {
    id: String,
    actor: String,
    api_key_id: Option<String>,
    institution_id: Option<String>,
    subject: Option<String>,
    resource_type: Option<String>,
    payload: Option<[u8; 32]>,
}

/// The SHA-256 of a payload's canonical text: two payloads compare equal exactly when they hash
/// alike, whichever backend stored them (JSON text, JSONB).
fn digest(canonical: &str) -> [u8; 32] {
    Sha256::digest(canonical.as_bytes()).into()
}

/// Counters as `counters.rs` keeps them, counted again from the rows: (scope, name) → n.
#[derive(Default)]
struct Recount(BTreeMap<(String, &'static str), i64>);

impl Recount {
    fn add(&mut self, scope: &str, name: &'static str) {
        *self.0.entry((scope.to_string(), name)).or_default() += 1;
    }
    fn both(&mut self, institution: &str, name: &'static str) {
        self.add(counters::ALL, name);
        self.add(institution, name);
    }
    fn scopes(&self) -> Vec<String> {
        let mut s: Vec<String> = self.0.keys().map(|(s, _)| s.clone()).collect();
        s.dedup();
        s
    }
    fn counts(&self, scope: &str) -> Counts {
        counters::counts_of(
            self.0
                .iter()
                .filter(|((s, _), _)| s == scope)
                .map(|((_, name), n)| (*name, *n)),
        )
    }
}

#[derive(Default)]
struct Findings {
    shown: Vec<Finding>,
    more: u64,
}

impl Findings {
    fn add(&mut self, entity: Option<&str>, seq: Option<i64>, what: impl Into<String>) {
        if self.shown.len() < SHOWN {
            self.shown.push(Finding {
                entity: entity.map(str::to_string),
                seq,
                what: what.into(),
            });
        } else {
            self.more += 1;
        }
    }

    /// A stored record against the one its events replay to: each differing field named.
    fn compare<T: Serialize>(
        &mut self,
        what: &str,
        id: &str,
        seq: i64,
        stored: &T,
        replayed: &T,
    ) -> bool {
        let fields = differing_fields(stored, replayed);
        if !fields.is_empty() {
            self.add(
                Some(id),
                Some(seq),
                format!(
                    "the {what} differs from what its ledger events recorded, in: {}",
                    fields.join(", ")
                ),
            );
        }
        fields.is_empty()
    }
}

/// The ledger replayed, and what each event says of its audit record.
struct Told {
    replay: Replay,
    /// By (audit action, entity id), in seq order.
    expected: HashMap<(&'static str, String), Vec<Expected>>,
    events: u64,
    head: (i64, String),
}

impl Service {
    /// The full consistency audit (root only: it reads every institution).
    pub async fn check(&self, actor: &Actor) -> ServiceResult<CheckReport> {
        self.op("check", actor, async move {
            if !actor.is_root() {
                let refused = Err(Self::forbidden(
                    actor,
                    "check the store (it spans every institution)",
                ));
                return self.audit_read(actor, Read::Check, None, refused).await;
            }
            let mut f = Findings::default();
            let mut notes = Vec::new();
            let mut recount = Recount::default();
            let told = self.check_ledger(&mut f, &mut recount).await?;
            let (audit_records, audit_head) = self.check_audit(&told, &mut f, &mut recount).await?;
            let entities = self
                .check_entities(&told.replay, &mut f, &mut notes, &mut recount)
                .await?;
            self.check_counters(&recount, &mut f).await?;
            Ok(CheckReport {
                ok: f.shown.is_empty(),
                at: time::now(),
                events: told.events,
                entities,
                audit_records,
                head_seq: told.head.0,
                head_hash: told.head.1,
                audit_head_seq: audit_head.0,
                audit_head_hash: audit_head.1,
                findings: f.shown,
                more: f.more,
                notes,
            })
        })
        .await
    }

    /// The chain, replayed.
    async fn check_ledger(&self, f: &mut Findings, recount: &mut Recount) -> ServiceResult<Told> {
        let mut replay = Replay::default();
        let mut expected: HashMap<(&'static str, String), Vec<Expected>> = HashMap::new();
        let mut chain = ChainVerifier::default();
        let mut broken: Option<ChainBreak> = None;
        let mut events = 0u64;
        self.ledger_pages(0, |page| {
            for e in &page {
                events += 1;
                recount.both(&e.institution_id, counters::LEDGER);
                if broken.is_none()
                    && let Err(b) = chain.push(e)
                {
                    f.add(
                        Some(&e.entity_id),
                        Some(b.seq),
                        format!("chain: {}", b.reason),
                    );
                    broken = Some(b);
                }
                replay.push(e);
                let actor = e
                    .payload
                    .get("actor")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                expected
                    .entry((e.kind.audit_action(), e.entity_id.clone()))
                    .or_default()
                    .push(Expected {
                        seq: e.seq,
                        actor: actor.to_string(),
                        institution_id: e.institution_id.clone(),
                        entity_type: e.entity_type,
                        payload: digest(&canonical_value(&e.payload)),
                    });
            }
            Ok(true)
        })
        .await?;
        for p in std::mem::take(&mut replay.problems) {
            f.add(Some(&p.entity), Some(p.seq), p.what);
        }
        if let Some((seq, hash)) = self.store.ledger_head().await?
            && broken.is_none()
        {
            let (verified, verified_hash) = chain.head();
            if seq != verified || hash != verified_hash {
                f.add(
                    None,
                    Some(seq),
                    format!("the stored head (seq {seq}) is not the last event's (seq {verified})"),
                );
            }
        }
        let (seq, hash) = chain.head();
        Ok(Told {
            replay,
            expected,
            events,
            head: (seq, hash.to_string()),
        })
    }

    /// Every ledger event has its audit record (one each) saying what the event says — actor,
    /// key, institution, payload — and no change is audited as done that the ledger does not
    /// hold. Every record is counted for the counters.
    async fn check_audit(
        &self,
        told: &Told,
        f: &mut Findings,
        recount: &mut Recount,
    ) -> ServiceResult<(u64, (i64, String))> {
        let actions: HashSet<&'static str> =
            LedgerKind::ALL.iter().map(|k| k.audit_action()).collect();
        let mut audited: HashMap<(&'static str, String), Vec<Audited>> = HashMap::new();
        let mut read = 0u64;
        let mut take = |a: AuditEvent| {
            read += 1;
            recount.add(counters::ALL, counters::AUDIT);
            let by = a.institution_id.as_deref();
            if let Some(i) = by {
                recount.add(i, counters::AUDIT);
            }
            if let Some(s) = a
                .subject_institution_id
                .as_deref()
                .filter(|s| Some(*s) != by)
            {
                recount.add(s, counters::AUDIT);
            }
            if a.outcome != Outcome::Success {
                return;
            }
            let Some(action) = actions.get(a.action.as_str()).copied() else {
                return;
            };
            let id = a.resource_id.clone().unwrap_or_default();
            audited.entry((action, id)).or_default().push(Audited {
                payload: a.payload.as_ref().map(|p| digest(p.as_str())),
                id: a.id,
                actor: a.actor,
                api_key_id: a.api_key_id,
                institution_id: a.institution_id,
                subject: a.subject_institution_id,
                resource_type: a.resource_type,
            });
        };
        // The chain, in order (the order the writes committed in), verified as it is read.
        let mut chain = AuditVerifier::default();
        let mut broken = false;
        self.audit_chain_pages(0, |page| {
            for a in page {
                if !broken && let Err(b) = chain.push(&a) {
                    f.add(None, Some(b.seq), format!("audit chain: {}", b.reason));
                    broken = true;
                }
                take(a);
            }
            Ok(true)
        })
        .await?;
        if !broken
            && let (seq, hash) = self.store.heads().await?.audit
            && (seq, hash.as_str()) != chain.head()
        {
            f.add(
                None,
                Some(seq),
                format!(
                    "audit chain: the stored audit head (seq {seq}) is not the last record's (seq {})",
                    chain.head().0
                ),
            );
        }
        // Records outside the chain (an older version writing since this store was opened): the
        // first thousand are compared; the counters' check sees the rest.
        let page = self.unchained_audit().await?;
        let outside = page.len();
        page.into_iter().for_each(&mut take);
        if outside > 0 {
            f.add(
                None,
                None,
                format!(
                    "{outside}{} audit record(s) are outside the audit chain (written by an older \
                     escrowgrid, or inserted behind it); they are chained when a store is next opened",
                    if outside == 1000 { " or more" } else { "" }
                ),
            );
        }
        let mut keys: Vec<&(&'static str, String)> = told.expected.keys().collect();
        keys.sort_by_key(|k| told.expected[*k][0].seq);
        for key in keys {
            let (action, id) = key;
            let events = &told.expected[key];
            let records = audited.remove(key).unwrap_or_default();
            let (n, m) = (events.len(), records.len());
            if m < n {
                f.add(
                    Some(id),
                    Some(events[m].seq),
                    format!("{} {action} ledger event(s) without an audit record", n - m),
                );
            } else if m > n {
                f.add(
                    Some(id),
                    Some(events[0].seq),
                    format!("{} {action} audit record(s) more than ledger events", m - n),
                );
            }
            for (e, a) in events.iter().zip(&records) {
                let differs = self.audit_differs(&told.replay, e, a);
                if !differs.is_empty() {
                    f.add(
                        Some(id),
                        Some(e.seq),
                        format!(
                            "audit record {} differs from its ledger event, in: {}",
                            a.id,
                            differs.join(", ")
                        ),
                    );
                }
            }
        }
        let mut rest: Vec<_> = audited.into_iter().collect();
        rest.sort_by(|a, b| a.0.cmp(&b.0));
        for ((action, id), records) in rest {
            f.add(
                Some(&id),
                None,
                format!(
                    "{} {action} audit record(s) of a change the ledger does not hold",
                    records.len()
                ),
            );
        }
        let (seq, hash) = chain.head();
        Ok((read, (seq, hash.to_string())))
    }

    /// The fields in which a success audit record disagrees with its ledger event.
    fn audit_differs(&self, replay: &Replay, e: &Expected, a: &Audited) -> Vec<&'static str> {
        // A key's records name the key, and the key's institution as the caller's.
        let key = replay.keys.get(&e.actor).map(|k| &k.value.key);
        let mut out = Vec::new();
        if a.actor != e.actor {
            out.push("actor");
        }
        if a.api_key_id.as_deref() != key.map(|k| k.id.as_str()) {
            out.push("apiKeyId");
        }
        if a.institution_id.as_deref() != key.map(|k| k.institution_id.as_str()) {
            out.push("institutionId");
        }
        if a.subject.as_deref() != Some(e.institution_id.as_str()) {
            out.push("subjectInstitutionId");
        }
        if a.resource_type.as_deref() != Some(e.entity_type.as_str()) {
            out.push("resourceType");
        }
        if a.payload != Some(e.payload) {
            out.push("payload");
        }
        out
    }

    /// Every stored entity against its replay, its references and (positions) its lifecycle;
    /// every entity the ledger created against a stored one.
    async fn check_entities(
        &self,
        r: &Replay,
        f: &mut Findings,
        notes: &mut Vec<String>,
        recount: &mut Recount,
    ) -> ServiceResult<u64> {
        let mut seen: HashSet<String> = HashSet::new();
        let mut n = 0u64;
        let missing = |f: &mut Findings, id: &str| {
            f.add(Some(id), None, "no creation event in the ledger");
        };
        // Institutions.
        let mut institutions: HashSet<String> = HashSet::new();
        for i in self.all_institutions().await? {
            n += 1;
            recount.both(&i.id, counters::INSTITUTIONS);
            match r.institutions.get(&i.id) {
                Some(x) => _ = f.compare("institution", &i.id, x.created, &i, &x.value),
                None => missing(f, &i.id),
            }
            seen.insert(i.id.clone());
            institutions.insert(i.id);
        }
        // Templates.
        let mut templates: HashMap<String, String> = HashMap::new();
        for t in self.all_templates().await? {
            n += 1;
            recount.both(&t.institution_id, counters::TEMPLATES);
            match r.templates.get(&t.id) {
                Some(x) => _ = f.compare("template", &t.id, x.created, &t, &x.value),
                None => missing(f, &t.id),
            }
            if !institutions.contains(&t.institution_id) {
                f.add(
                    Some(&t.id),
                    None,
                    format!("its institution {} does not exist", t.institution_id),
                );
            }
            seen.insert(t.id.clone());
            templates.insert(t.id, t.institution_id);
        }
        // Assets.
        let mut assets: HashMap<String, String> = HashMap::new();
        for a in self.all_assets().await? {
            n += 1;
            recount.both(&a.institution_id, counters::ASSETS);
            match r.assets.get(&a.id) {
                Some(x) => _ = f.compare("asset", &a.id, x.created, &a, &x.value),
                None => missing(f, &a.id),
            }
            match templates.get(&a.template_id) {
                None => f.add(
                    Some(&a.id),
                    None,
                    format!("its template {} does not exist", a.template_id),
                ),
                Some(i) if *i != a.institution_id => f.add(
                    Some(&a.id),
                    None,
                    format!("its template {} is another institution's", a.template_id),
                ),
                Some(_) => {}
            }
            seen.insert(a.id.clone());
            assets.insert(a.id, a.institution_id);
        }
        // Positions, with their lifecycles.
        let mut last: Option<Position> = None;
        let mut unrecorded_metadata = 0u64;
        loop {
            let page = self.positions_after(last.as_ref()).await?;
            let Some(end) = page.last() else { break };
            last = Some(end.clone());
            for p in page {
                n += 1;
                recount.both(&p.institution_id, counters::positions_in(p.state));
                unrecorded_metadata += self.check_position(r, f, &p, &assets).await?;
                seen.insert(p.id);
            }
        }
        if unrecorded_metadata > 0 {
            notes.push(format!(
                "{unrecorded_metadata} lifecycle step(s) predate the ledger recording step \
                 metadata: their metadata could not be checked"
            ));
        }
        // Policies.
        for p in self.store.list_policies(None).await? {
            n += 1;
            match r.policies.get(&p.id) {
                Some(x) => _ = f.compare("policy", &p.id, x.last, &p, &x.value),
                None => f.add(
                    Some(&p.id),
                    None,
                    "a policy without a POLICY_UPSERTED event",
                ),
            }
            seen.insert(p.id);
        }
        // API keys: the record, and the hash (never serialised, so compared on its own).
        let mut unrecorded_hash: Vec<String> = Vec::new();
        for k in self.store.list_api_keys(None).await? {
            n += 1;
            match r.keys.get(&k.id) {
                Some(x) => {
                    let mut fields = differing_fields(&k, &x.value.key);
                    if !x.value.hash_recorded {
                        unrecorded_hash.push(k.id.clone());
                    } else if k.key_hash != x.value.key.key_hash {
                        fields.push("keyHash (it no longer matches the token created)".into());
                    }
                    if !fields.is_empty() {
                        f.add(
                            Some(&k.id),
                            Some(x.last),
                            format!(
                                "the API key differs from what its ledger events recorded, in: {}",
                                fields.join(", ")
                            ),
                        );
                    }
                }
                None => missing(f, &k.id),
            }
            seen.insert(k.id);
        }
        if !unrecorded_hash.is_empty() {
            notes.push(format!(
                "{} API key(s) predate the ledger recording key hashes: their hash is not \
                 recorded in the ledger and could not be checked ({})",
                unrecorded_hash.len(),
                unrecorded_hash.join(", ")
            ));
        }
        // What the ledger created that the store does not hold.
        let mut gone: Vec<(&String, i64)> = r
            .institutions
            .iter()
            .map(|(id, x)| (id, x.created))
            .chain(r.templates.iter().map(|(id, x)| (id, x.created)))
            .chain(r.assets.iter().map(|(id, x)| (id, x.created)))
            .chain(r.positions.iter().map(|(id, x)| (id, x.created)))
            .chain(r.policies.iter().map(|(id, x)| (id, x.created)))
            .chain(r.keys.iter().map(|(id, x)| (id, x.created)))
            .filter(|(id, _)| !seen.contains(*id))
            .collect();
        gone.sort_by_key(|(_, seq)| *seq);
        for (id, seq) in gone {
            f.add(
                Some(id),
                Some(seq),
                "created in the ledger, but not in the store",
            );
        }
        Ok(n)
    }

    /// A position against its replay, its asset, and its stored lifecycle against the replayed
    /// steps one for one. Returns how many steps' metadata the ledger did not record.
    async fn check_position(
        &self,
        r: &Replay,
        f: &mut Findings,
        p: &Position,
        assets: &HashMap<String, String>,
    ) -> ServiceResult<u64> {
        match assets.get(&p.asset_id) {
            None => f.add(
                Some(&p.id),
                None,
                format!("its asset {} does not exist", p.asset_id),
            ),
            Some(i) if *i != p.institution_id => f.add(
                Some(&p.id),
                None,
                format!("its asset {} is another institution's", p.asset_id),
            ),
            Some(_) => {}
        }
        let Some(x) = r.positions.get(&p.id) else {
            f.add(Some(&p.id), None, "no creation event in the ledger");
            return Ok(0);
        };
        let want = &x.value;
        if (p.state, p.version) != (want.state, want.version) {
            f.add(
                Some(&p.id),
                Some(x.last),
                format!(
                    "stored as {} (version {}), but its ledger replays to {} (version {})",
                    p.state, p.version, want.state, want.version
                ),
            );
        } else {
            f.compare("position", &p.id, x.last, p, want);
        }
        let steps = r.lifecycle.get(&p.id).map(Vec::as_slice).unwrap_or(&[]);
        let stored = self.store.position_events(&p.id).await?;
        if stored.len() != steps.len() {
            f.add(
                Some(&p.id),
                steps.first().map(|s| s.seq),
                format!(
                    "{} lifecycle event(s) stored, {} in the ledger",
                    stored.len(),
                    steps.len()
                ),
            );
        }
        let mut unrecorded = 0;
        for (l, s) in stored.iter().zip(steps) {
            let mut want = s.event.clone();
            if !s.metadata_recorded {
                unrecorded += 1;
                want.metadata = l.metadata.clone();
            }
            let fields = differing_fields(l, &want);
            if !fields.is_empty() {
                f.add(
                    Some(&p.id),
                    Some(s.seq),
                    format!(
                        "lifecycle event {} differs from its ledger step, in: {}",
                        l.id,
                        fields.join(", ")
                    ),
                );
            }
        }
        Ok(unrecorded)
    }

    /// The counters the store keeps (what `health` and the console show) against the rows
    /// counted again, for the whole store and each institution.
    async fn check_counters(&self, recount: &Recount, f: &mut Findings) -> ServiceResult<()> {
        for scope in recount.scopes() {
            let kept = self
                .store
                .counts((scope != counters::ALL).then_some(scope.as_str()))
                .await?;
            let fields = differing_fields(&kept, &recount.counts(&scope));
            if !fields.is_empty() {
                let whose = if scope == counters::ALL {
                    "the store's".to_string()
                } else {
                    format!("{scope}'s")
                };
                f.add(
                    (scope != counters::ALL).then_some(scope.as_str()),
                    None,
                    format!(
                        "{whose} kept counts differ from the rows counted, in: {}",
                        fields.join(", ")
                    ),
                );
            }
        }
        Ok(())
    }
}
