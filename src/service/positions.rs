//! Positions: creating them within their template's limits and their institution's policy,
//! reading them, and moving them through their lifecycle with optimistic concurrency.

use super::*;
use crate::domain::{Balance, Money};

/// A transition request, checked (`transition_inner`).
struct Asked {
    to: PositionState,
    expect: Option<PositionState>,
    expect_version: Option<i64>,
    reason: Option<String>,
    metadata: Option<serde_json::Value>,
    release: Option<Money>,
}

/// Creates tried against a policy that another process changed meanwhile, before giving up.
const POLICY_TRIES: u32 = 3;

impl Service {
    // ---- positions ------------------------------------------------------------------------------

    pub async fn create_position(
        &self,
        actor: &Actor,
        input: NewPosition,
    ) -> ServiceResult<Position> {
        self.op("create_position", actor, async move {
            let subject = input.institution_id.clone();
            self.audit_failure(
                actor,
                LedgerKind::PositionCreated,
                (EntityType::Position, None),
                subject.as_deref(),
                self.create_position_inner(actor, input).await,
            )
            .await
        })
        .await
    }

    async fn create_position_inner(
        &self,
        actor: &Actor,
        input: NewPosition,
    ) -> ServiceResult<Position> {
        self.authorize_write(actor, "create positions")?;
        let inst_id = Self::effective_institution(
            actor,
            input.institution_id.as_deref(),
            "create positions",
        )?;
        let external = opt_text(input.external_reference);
        let mut errs = Errors::new();
        if input.asset_id.trim().is_empty() {
            errs.add("assetId", "is required");
        }
        let fields = errs.take(model::validate_position_fields(
            &input.holder_reference,
            &input.currency,
            &input.amount,
            external.as_deref(),
        ));
        errs.finish()?;
        let (currency, amount) = fields.expect("validated");
        self.existing_institution(&inst_id).await?;
        let asset = self.asset_record(&input.asset_id).await?.ok_or_else(|| {
            ServiceError::field(
                "assetId",
                format!("asset {} does not exist", input.asset_id),
            )
        })?;
        if asset.institution_id != inst_id {
            return Err(ServiceError::field(
                "assetId",
                format!(
                    "asset {} belongs to another institution, not {inst_id}",
                    asset.id
                ),
            ));
        }
        let tmpl = self
            .template_record(&asset.template_id)
            .await?
            .ok_or_else(|| {
                ServiceError::field(
                    "assetId",
                    format!(
                        "the template {} of asset {} does not exist",
                        asset.template_id, asset.id
                    ),
                )
            })?;
        let limits = TemplateLimits::from_config(tmpl.code, &tmpl.config);
        if let Some(c) = limits.currency
            && c != currency
        {
            return Err(ServiceError::field(
                "currency",
                format!("{currency} does not match the template's currency {c}"),
            ));
        }
        if let Some(min) = limits.min_amount
            && amount < min
        {
            return Err(ServiceError::field(
                "amount",
                format!("{amount} is below the template minimum of {min}"),
            ));
        }
        if let Some(max) = limits.max_amount
            && amount > max
        {
            return Err(ServiceError::field(
                "amount",
                format!("{amount} is above the template maximum of {max}"),
            ));
        }
        let now = time::now();
        let p = Position {
            id: ids::new_id(ids::POSITION),
            institution_id: inst_id.clone(),
            asset_id: asset.id.clone(),
            holder_reference: input.holder_reference,
            currency,
            amount,
            state: PositionState::Created,
            external_reference: external,
            version: 0,
            released: Some(Balance::ZERO),
            held: Some(amount.into()),
            created_at: now,
            updated_at: now,
        };
        let payload = Payload::PositionCreated(payloads::PositionCreated {
            institution_id: p.institution_id.clone(),
            asset_id: p.asset_id.clone(),
            holder_reference: p.holder_reference.clone(),
            currency: p.currency,
            amount: p.amount,
            external_reference: p.external_reference.clone(),
            state: p.state,
            actor: actor.audit_name(),
        });
        let record = Record {
            entity: EntityType::Position,
            entity_id: &p.id,
            institution_id: &inst_id,
            position_id: Some(&p.id),
            at: now,
            payload,
        };
        // The policy as last read (no read of its own in the common case); the store refuses
        // the create if it is no longer the one in force, and it is read again.
        let mut tries = 0;
        loop {
            let seen = self
                .policy_passing(&inst_id, tmpl.region, |policy| {
                    Ok(policy
                        .config
                        .position
                        .check(amount, currency, tmpl.region)?)
                })
                .await?;
            let change = Change::CreatePosition(p.clone(), Some(seen));
            let write = self.recorded_write(actor, change, &record);
            match self.store.commit(write).await {
                Ok(_) => {
                    self.written.keep(&p);
                    return Ok(p);
                }
                Err(StoreError::PolicyChanged { .. }) if tries < POLICY_TRIES => {
                    self.policies.forget(&inst_id, tmpl.region);
                    tries += 1;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    pub async fn get_position(&self, actor: &Actor, id: &str) -> ServiceResult<Position> {
        let now = self.op_now("get_position", actor, || {
            let found = self.store.get_position_now(id)?;
            Some(found.map_err(Into::into).and_then(|found| {
                Self::visible(actor, "position", id, found, |x| x.institution_id.as_str())
            }))
        });
        if let Some(p) = now {
            return Ok(p);
        }
        self.op("get_position", actor, async move {
            let found = self.store.get_position(id).await?;
            let r = Self::visible(actor, "position", id, found, |x| x.institution_id.as_str());
            self.audit_read(actor, Read::Position, Some(id), r).await
        })
        .await
    }

    /// A position with its lifecycle history.
    pub async fn position_detail(&self, actor: &Actor, id: &str) -> ServiceResult<PositionDetail> {
        self.op("position_detail", actor, async move {
            let position = self.get_position(actor, id).await?;
            let events = self.store.position_events(id).await?;
            Ok(PositionDetail { position, events })
        })
        .await
    }

    pub async fn list_positions(
        &self,
        actor: &Actor,
        mut q: PositionQuery,
    ) -> ServiceResult<Vec<Position>> {
        self.op("list_positions", actor, async move {
            let r = async {
                q.filter = self.scoped_filter(actor, q.filter).await?;
                Ok(self.store.list_positions(&q).await?)
            }
            .await;
            self.audit_read(actor, Read::Positions, None, r).await
        })
        .await
    }

    pub async fn count_positions(&self, actor: &Actor, f: PositionFilter) -> ServiceResult<i64> {
        self.op("count_positions", actor, async move {
            let r = async {
                let f = self.scoped_filter(actor, f).await?;
                Ok(self.store.count_positions(&f).await?)
            }
            .await;
            self.audit_read(actor, Read::Positions, None, r).await
        })
        .await
    }

    pub async fn transition_position(
        &self,
        actor: &Actor,
        id: &str,
        req: TransitionRequest,
    ) -> ServiceResult<TransitionOutcome> {
        self.op("transition_position", actor, async move {
            let r = self.transition_inner(actor, id, req).await;
            if r.is_ok() {
                return r;
            }
            // The record is about the position's institution, whoever tried.
            let subject = match self.store.get_position(id).await {
                Ok(Some(p)) => Some(p.institution_id),
                _ => actor.scope().map(str::to_string),
            };
            self.audit_failure(
                actor,
                LedgerKind::PositionStateChanged,
                (EntityType::Position, Some(id)),
                subject.as_deref(),
                r,
            )
            .await
        })
        .await
    }

    async fn transition_inner(
        &self,
        actor: &Actor,
        id: &str,
        req: TransitionRequest,
    ) -> ServiceResult<TransitionOutcome> {
        self.authorize_write(actor, "transition positions")?;
        let mut errs = Errors::new();
        let to = errs.take(PositionState::parse_field("toState", &req.to));
        let expect = req
            .expect_state
            .as_deref()
            .and_then(|s| errs.take(PositionState::parse_field("expectState", s)));
        let reason = opt_text(req.reason);
        errs.take(model::validate_reason(reason.as_deref()));
        if let Some(m) = &req.metadata {
            errs.take(model::validate_metadata("metadata", m));
        }
        let release = match req.amount.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(a) => match Money::parse(a) {
                Ok(m) => Some(m),
                Err(e) => {
                    errs.add("amount", e);
                    None
                }
            },
        };
        errs.finish()?;
        let asked = Asked {
            to: to.expect("validated"),
            expect,
            expect_version: req.expect_version,
            reason,
            // What the lifecycle row stores is what the ledger records, number for number.
            metadata: req
                .metadata
                .as_ref()
                .map(|m| crate::domain::ledger::as_recorded("metadata", m))
                .transpose()?,
            release,
        };
        // The position as this process last wrote it, if it did: no read. A refusal or a no-op
        // on it is checked again on the position as stored (see `cache::Written`).
        if let Some(kept) = self.written.get(id) {
            // Scoped as a stored one is (its institution never changes).
            let kept = Self::visible(actor, "position", id, Some((*kept).clone()), |x| {
                x.institution_id.as_str()
            })?;
            match self.transition_from(actor, id, &asked, kept).await {
                // Nothing written: "already there" is taken from the stored position only.
                Ok(o) if !o.applied => self.written.forget(id),
                Err(
                    ServiceError::Validation(_)
                    | ServiceError::InvalidTransition { .. }
                    | ServiceError::Conflict { .. },
                ) => self.written.forget(id),
                r => return r,
            }
        }
        // Read without a read record of its own: a refused transition is one audit record.
        // In place when the store can (in memory), without a call to await.
        let found = match self.store.get_position_now(id) {
            Some(found) => found?,
            None => self.store.get_position(id).await?,
        };
        let current = Self::visible(actor, "position", id, found, |x| x.institution_id.as_str())?;
        self.transition_from(actor, id, &asked, current).await
    }

    /// The transition `asked` of `current` (the position `id` as read or as last written here).
    async fn transition_from(
        &self,
        actor: &Actor,
        id: &str,
        asked: &Asked,
        current: Position,
    ) -> ServiceResult<TransitionOutcome> {
        let Asked {
            to,
            expect,
            expect_version,
            ref reason,
            ref metadata,
            release,
        } = *asked;
        if expect.is_some_and(|exp| exp != current.state)
            || expect_version.is_some_and(|v| v != current.version)
        {
            let expected = expect.unwrap_or(current.state);
            return Err(ServiceError::Conflict {
                id: id.to_string(),
                expected,
                current: Some(Box::new(current)),
            });
        }
        if lifecycle::check(current.state, to)? == lifecycle::TransitionCheck::NoOp {
            if release.is_some() {
                return Err(ServiceError::field(
                    "amount",
                    format!("the position already is {to}: nothing moves"),
                ));
            }
            return Ok(TransitionOutcome {
                position: current,
                applied: false,
                event: None,
                ledger_seq: None,
            });
        }
        let money =
            lifecycle::balance_step(current.amount, current.released, current.state, to, release)
                .map_err(|e| ServiceError::field("amount", e))?;
        let moved = money.moved.and_then(|m| m.as_money()).filter(|_| {
            matches!(
                to,
                PositionState::PartiallyReleased | PositionState::Released
            )
        });
        let now = time::now();
        // The position as it will be: the one read, changed in place (no copy of it).
        let (from, from_version) = (current.state, current.version);
        let mut next = current;
        next.state = to;
        next.version += 1;
        next.updated_at = now;
        next.released = money.released;
        next.held = money.held;
        let event = PositionLifecycleEvent {
            id: ids::new_id(ids::LIFECYCLE_EVENT),
            position_id: id.to_string(),
            from_state: from,
            to_state: to,
            reason: reason.clone(),
            at: now,
            metadata: metadata.clone(),
            actor: Some(actor.audit_name()),
            amount: money.moved,
            held: money.held,
        };
        let payload = Payload::PositionStateChanged(payloads::Transition {
            from_state: from,
            to_state: to,
            reason: reason.clone(),
            lifecycle_event_id: event.id.clone(),
            version: next.version,
            actor: actor.audit_name(),
            metadata: Some(metadata.clone()),
            amount: Some(money.moved),
            held: Some(money.held),
        });
        let record = Record {
            entity: EntityType::Position,
            entity_id: id,
            institution_id: &next.institution_id,
            position_id: Some(id),
            at: now,
            payload,
        };
        let mut tries = 0;
        let committed = loop {
            // A release is checked against its policy's cap as last read; the store writes it
            // only if that is still the policy in force (as a create's, see `create_position`).
            let policy = match moved {
                Some(moved) => self.check_release_cap(&next, moved).await?,
                None => None,
            };
            let change = Change::TransitionPosition {
                position: next.clone(),
                expected_state: from,
                expected_version: from_version,
                event: event.clone(),
                policy: policy.clone(),
            };
            let write = self.recorded_write(actor, change, &record);
            match self.store.commit(write).await {
                Err(StoreError::PolicyChanged { .. }) if tries < POLICY_TRIES => {
                    if let Some(seen) = &policy {
                        self.policies.forget(&next.institution_id, seen.region);
                    }
                    tries += 1;
                }
                r => break r.map_err(ServiceError::from),
            }
        };
        match committed {
            Ok(c) => {
                self.written.keep(&next);
                Ok(TransitionOutcome {
                    position: next,
                    applied: true,
                    event: Some(event),
                    ledger_seq: c.ledger,
                })
            }
            Err(ServiceError::Conflict { id, expected, .. }) => {
                self.written.forget(&id);
                let fresh = self.store.get_position(&id).await.ok().flatten();
                Err(ServiceError::Conflict {
                    id,
                    expected,
                    current: fresh.map(Box::new),
                })
            }
            Err(e) => Err(e),
        }
    }

    /// A policy's cap on one release (`max_release_amount` for the position's region): the
    /// policy checked (None: the position's asset or template is not found), read from the
    /// policies kept (`cache::Policies`); a release is never refused on a kept policy alone.
    async fn check_release_cap(
        &self,
        p: &Position,
        moved: Money,
    ) -> ServiceResult<Option<PolicySeen>> {
        let Some(asset) = self.asset_record(&p.asset_id).await? else {
            return Ok(None);
        };
        let Some(tmpl) = self.template_record(&asset.template_id).await? else {
            return Ok(None);
        };
        let seen = self
            .policy_passing(&p.institution_id, tmpl.region, |policy| {
                match policy.config.position.max_release_amount {
                    Some(cap) if moved > cap => Err(ServiceError::field(
                        "amount",
                        format!(
                            "a release of {} is above the {} policy's cap of {} for one release",
                            moved.display_grouped(),
                            tmpl.region,
                            cap.display_grouped()
                        ),
                    )),
                    _ => Ok(()),
                }
            })
            .await?;
        Ok(Some(seen))
    }

    /// The policy of (`institution`, `region`) as last read (`cache::Policies`), once `check`
    /// passes it. A refusal is never made on a kept policy alone (another process may have
    /// loosened it): a policy `check` refuses is read again, and only the stored one's refusal
    /// stands.
    async fn policy_passing(
        &self,
        institution: &str,
        region: Region,
        check: impl Fn(&InstitutionPolicy) -> ServiceResult<()>,
    ) -> ServiceResult<PolicySeen> {
        let mut read_again = false;
        loop {
            let policy = self
                .policies
                .get(institution, region, || {
                    self.store.get_policy(institution, region)
                })
                .await?;
            match policy.as_deref().map(&check) {
                Some(Err(refused)) if read_again => return Err(refused),
                Some(Err(_)) => {
                    self.policies.forget(institution, region);
                    read_again = true;
                }
                _ => return Ok(PolicySeen { region, policy }),
            }
        }
    }
}
