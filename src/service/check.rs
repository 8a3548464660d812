//! `check`: a full consistency audit of the store. `ledger verify` proves the chain agrees with
//! itself; this proves the rest of the store agrees with the chain: every entity has its creation
//! event with the same content, every position's state and version are the replay of its
//! lifecycle, each lifecycle step has its ledger event and the other way round, every ledger
//! event has its audit record, and every reference points at something that exists.
//!
//! It reads everything once: the ledger and the audit trail page by page, the entities in pages,
//! and each position's lifecycle with one read per position.

use super::*;
use crate::domain::ledger::ChainBreak;
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// How many findings a report lists (the rest are counted).
const SHOWN: usize = 1000;

/// One thing that does not agree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// The entity it concerns (an id), if one.
    pub entity: Option<String>,
    /// The ledger event it concerns, if one.
    pub seq: Option<i64>,
    pub what: String,
}

#[derive(Debug, Clone, Serialize)]
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
    pub findings: Vec<Finding>,
    /// Findings beyond the ones listed.
    pub more: u64,
}

/// What the ledger says happened, gathered in one pass.
#[derive(Default)]
struct Told {
    /// Creation events by entity id: (seq, payload).
    created: HashMap<String, (i64, Payload)>,
    /// Lifecycle steps by position id, in seq order.
    steps: HashMap<String, Vec<(i64, payloads::Transition)>>,
    /// The newest policy event by policy id.
    policies: HashMap<String, (i64, payloads::PolicyUpserted)>,
    revoked: HashSet<String>,
    /// Events by (audit action, entity id), with the first seq of each.
    recorded: HashMap<(&'static str, String), (u64, i64)>,
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
            let (told, events, (head_seq, head_hash)) = self.check_ledger(&mut f).await?;
            let audit_records = self.check_audit(&told, &mut f).await?;
            let entities = self.check_entities(&told, &mut f).await?;
            Ok(CheckReport {
                ok: f.shown.is_empty(),
                at: time::now(),
                events,
                entities,
                audit_records,
                head_seq,
                head_hash,
                findings: f.shown,
                more: f.more,
            })
        })
        .await
    }

    /// The chain, and what it says happened.
    async fn check_ledger(&self, f: &mut Findings) -> ServiceResult<(Told, u64, (i64, String))> {
        let mut told = Told::default();
        let mut chain = ChainVerifier::default();
        let mut broken: Option<ChainBreak> = None;
        let mut events = 0u64;
        self.ledger_pages(0, |page| {
            for e in &page {
                events += 1;
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
                let key = (e.kind.audit_action(), e.entity_id.clone());
                told.recorded.entry(key).or_insert((0, e.seq)).0 += 1;
                let Some(p) = e.typed() else {
                    f.add(
                        Some(&e.entity_id),
                        Some(e.seq),
                        format!("the payload does not read as {}", e.kind),
                    );
                    continue;
                };
                match p {
                    Payload::PositionStateChanged(t) => told
                        .steps
                        .entry(e.entity_id.clone())
                        .or_default()
                        .push((e.seq, t)),
                    Payload::PolicyUpserted(p) => {
                        told.policies.insert(e.entity_id.clone(), (e.seq, p));
                    }
                    Payload::ApiKeyRevoked(_) => {
                        told.revoked.insert(e.entity_id.clone());
                    }
                    created => {
                        if let Some((first, _)) = told.created.get(&e.entity_id) {
                            f.add(
                                Some(&e.entity_id),
                                Some(e.seq),
                                format!("created a second time (first at seq {first})"),
                            );
                        } else {
                            told.created.insert(e.entity_id.clone(), (e.seq, created));
                        }
                    }
                }
            }
            Ok(true)
        })
        .await?;
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
        Ok((told, events, (seq, hash.to_string())))
    }

    /// Every ledger event has its audit record (one each), and no change is audited as done
    /// that the ledger does not hold.
    async fn check_audit(&self, told: &Told, f: &mut Findings) -> ServiceResult<u64> {
        let actions: HashSet<&'static str> =
            LedgerKind::ALL.iter().map(|k| k.audit_action()).collect();
        let mut audited: HashMap<(&'static str, String), u64> = HashMap::new();
        let (mut before, mut read) = (None, 0u64);
        loop {
            let q = AuditQuery {
                outcome: Some(Outcome::Success),
                before: before.clone(),
                limit: 1000,
                ..Default::default()
            };
            let page = self.store.list_audit(&q).await?;
            let Some(last) = page.last() else { break };
            before = Some(last.id.clone());
            for a in &page {
                read += 1;
                let Some(action) = actions.get(a.action.as_str()).copied() else {
                    continue;
                };
                let id = a.resource_id.clone().unwrap_or_default();
                *audited.entry((action, id)).or_default() += 1;
            }
        }
        for ((action, id), (n, seq)) in &told.recorded {
            let m = audited.remove(&(*action, id.clone())).unwrap_or(0);
            if m < *n {
                f.add(
                    Some(id),
                    Some(*seq),
                    format!("{} {action} ledger event(s) without an audit record", n - m),
                );
            } else if m > *n {
                f.add(
                    Some(id),
                    Some(*seq),
                    format!("{} {action} audit record(s) more than ledger events", m - n),
                );
            }
        }
        for ((action, id), m) in audited {
            f.add(
                Some(&id),
                None,
                format!("{m} {action} audit record(s) of a change the ledger does not hold"),
            );
        }
        Ok(read)
    }

    /// Every stored entity against its creation event, its references and (positions) the
    /// replay of its lifecycle; every creation event against a stored entity.
    async fn check_entities(&self, told: &Told, f: &mut Findings) -> ServiceResult<u64> {
        let mut seen: HashSet<String> = HashSet::new();
        let mut n = 0u64;
        // Institutions.
        let mut institutions: HashSet<String> = HashSet::new();
        for i in self.all_institutions().await? {
            n += 1;
            let same = |p: &Payload| {
                matches!(p, Payload::InstitutionCreated(c)
                    if c.name == i.name && c.regions == i.regions && c.verticals == i.verticals)
            };
            creation(told, f, &i.id, same);
            seen.insert(i.id.clone());
            institutions.insert(i.id);
        }
        // Templates.
        let mut templates: HashMap<String, String> = HashMap::new();
        for t in self.all_templates().await? {
            n += 1;
            let same = |p: &Payload| {
                matches!(p, Payload::TemplateCreated(c)
                    if c.institution_id == t.institution_id && c.code == t.code
                        && c.name == t.name && c.vertical == t.vertical
                        && c.region == t.region && c.config == t.config)
            };
            creation(told, f, &t.id, same);
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
            let same = |p: &Payload| {
                matches!(p, Payload::AssetCreated(c)
                    if c.institution_id == a.institution_id && c.template_id == a.template_id
                        && c.label == a.label && c.metadata == a.metadata)
            };
            creation(told, f, &a.id, same);
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
        loop {
            let page = self.positions_after(last.as_ref()).await?;
            let Some(end) = page.last() else { break };
            last = Some(end.clone());
            for p in page {
                n += 1;
                self.check_position(told, f, &p, &assets).await?;
                seen.insert(p.id);
            }
        }
        // Policies and API keys.
        for p in self.store.list_policies(None).await? {
            n += 1;
            match told.policies.get(&p.id) {
                None => f.add(
                    Some(&p.id),
                    None,
                    "a policy without a POLICY_UPSERTED event",
                ),
                Some((seq, e)) if e.config != p.config || e.institution_id != p.institution_id => f
                    .add(
                        Some(&p.id),
                        Some(*seq),
                        "the policy differs from its latest POLICY_UPSERTED event",
                    ),
                Some(_) => {}
            }
        }
        for k in self.store.list_api_keys(None).await? {
            n += 1;
            let same = |p: &Payload| {
                matches!(p, Payload::ApiKeyCreated(c)
                    if c.institution_id == k.institution_id && c.label == k.label && c.role == k.role)
            };
            creation(told, f, &k.id, same);
            if k.revoked_at.is_some() != told.revoked.contains(&k.id) {
                f.add(
                    Some(&k.id),
                    None,
                    "its revocation and the ledger's API_KEY_REVOKED events disagree",
                );
            }
            seen.insert(k.id);
        }
        // Creation events of things the store does not hold.
        let mut missing: Vec<(&String, i64)> = told
            .created
            .iter()
            .filter(|(id, _)| !seen.contains(*id))
            .map(|(id, (seq, _))| (id, *seq))
            .collect();
        missing.sort_by_key(|(_, seq)| *seq);
        for (id, seq) in missing {
            f.add(
                Some(id),
                Some(seq),
                "created in the ledger, but not in the store",
            );
        }
        Ok(n)
    }

    /// A position against its creation event, its asset, the replay of its ledger steps and its
    /// stored lifecycle.
    async fn check_position(
        &self,
        told: &Told,
        f: &mut Findings,
        p: &Position,
        assets: &HashMap<String, String>,
    ) -> ServiceResult<()> {
        let mut state = PositionState::Created;
        let same = |e: &Payload| match e {
            Payload::PositionCreated(c) => {
                state = c.state;
                c.institution_id == p.institution_id
                    && c.asset_id == p.asset_id
                    && c.holder_reference == p.holder_reference
                    && c.currency == p.currency
                    && c.amount == p.amount
                    && c.external_reference == p.external_reference
            }
            _ => false,
        };
        creation(told, f, &p.id, same);
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
        let steps = told.steps.get(&p.id).map(Vec::as_slice).unwrap_or(&[]);
        let mut version = 0;
        for (seq, t) in steps {
            if t.from_state != state {
                f.add(
                    Some(&p.id),
                    Some(*seq),
                    format!("a step from {} when the replay is at {state}", t.from_state),
                );
            }
            state = t.to_state;
            version = t.version;
        }
        if (p.state, p.version) != (state, version) {
            f.add(
                Some(&p.id),
                steps.last().map(|(s, _)| *s),
                format!(
                    "stored as {} (version {}), but its ledger replays to {state} (version {version})",
                    p.state, p.version
                ),
            );
        }
        let lifecycle = self.store.position_events(&p.id).await?;
        let agree = lifecycle.len() == steps.len()
            && lifecycle.iter().zip(steps).all(|(l, (_, t))| {
                l.id == t.lifecycle_event_id
                    && l.from_state == t.from_state
                    && l.to_state == t.to_state
            });
        if !agree {
            f.add(
                Some(&p.id),
                steps.first().map(|(s, _)| *s),
                format!(
                    "{} lifecycle event(s) stored, {} in the ledger, and they differ",
                    lifecycle.len(),
                    steps.len()
                ),
            );
        }
        Ok(())
    }
}

/// An entity against its creation event: there is one, and `same` holds for it.
fn creation(told: &Told, f: &mut Findings, id: &str, mut same: impl FnMut(&Payload) -> bool) {
    match told.created.get(id) {
        None => f.add(Some(id), None, "no creation event in the ledger"),
        Some((seq, p)) if !same(p) => f.add(
            Some(id),
            Some(*seq),
            "differs from what its creation event recorded",
        ),
        Some(_) => {}
    }
}
