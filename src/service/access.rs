//! Per-region policies and institution API keys.

use super::*;

impl Service {
    // ---- policies -------------------------------------------------------------------------------

    pub async fn set_policy(
        &self,
        actor: &Actor,
        input: PolicyInput,
    ) -> ServiceResult<InstitutionPolicy> {
        self.op("set_policy", actor, async move {
            let subject = input
                .institution_id
                .clone()
                .or(actor.scope().map(str::to_string));
            self.audit_failure(
                actor,
                LedgerKind::PolicyUpserted,
                (EntityType::Policy, None),
                subject.as_deref(),
                self.set_policy_inner(actor, input).await,
            )
            .await
        })
        .await
    }

    async fn set_policy_inner(
        &self,
        actor: &Actor,
        input: PolicyInput,
    ) -> ServiceResult<InstitutionPolicy> {
        self.authorize_write(actor, "set policies")?;
        let inst_id =
            Self::effective_institution(actor, input.institution_id.as_deref(), "set policies")?;
        let mut errs = Errors::new();
        let region = errs.take(Region::parse_field("region", &input.region));
        let position = errs.take(
            PositionPolicy::parse(
                input.min_amount.as_deref(),
                input.max_amount.as_deref(),
                input.allowed_currencies.as_deref(),
            )
            .and_then(|p| p.with_release_cap(input.max_release_amount.as_deref())),
        );
        errs.finish()?;
        let (region, position) = (region.expect("ok"), position.expect("ok"));
        let inst = self.existing_institution(&inst_id).await?;
        if !inst.regions.contains(&region) {
            return Err(ServiceError::field(
                "region",
                format!(
                    "{region} is not one of the institution's regions ({})",
                    inst.regions
                        .iter()
                        .map(|r| r.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        let now = time::now();
        let policy = InstitutionPolicy {
            id: ids::new_id(ids::POLICY),
            institution_id: inst_id.clone(),
            region,
            config: PolicyConfig { region, position },
            created_at: now,
            updated_at: now,
        };
        let payload = Payload::PolicyUpserted(payloads::PolicyUpserted {
            institution_id: inst_id.clone(),
            region,
            config: policy.config.clone(),
            actor: actor.audit_name(),
        });
        // The store names the stored policy's id in both records (an existing policy keeps it).
        let record = Record {
            entity: EntityType::Policy,
            entity_id: &policy.id,
            institution_id: &inst_id,
            position_id: None,
            at: now,
            payload,
        };
        let c = self
            .commit_recorded(actor, Change::UpsertPolicy(policy.clone()), record)
            .await;
        // Whatever the outcome, the next create reads the policy again.
        self.policies.forget(&inst_id, region);
        Ok(c?.policy.unwrap_or(policy))
    }

    /// The policy of an institution for a region, if one is set.
    pub async fn get_policy(
        &self,
        actor: &Actor,
        institution_id: &str,
        region: Region,
    ) -> ServiceResult<Option<InstitutionPolicy>> {
        self.op("get_policy", actor, async move {
            let r = async {
                self.read_scope(actor, Some(institution_id), "policies")
                    .await?;
                Ok(self.store.get_policy(institution_id, region).await?)
            }
            .await;
            self.audit_read(actor, Read::Policies, None, r).await
        })
        .await
    }

    pub async fn list_policies(
        &self,
        actor: &Actor,
        institution_id: Option<String>,
    ) -> ServiceResult<Vec<InstitutionPolicy>> {
        self.op("list_policies", actor, async move {
            let r = async {
                let institution_id = self
                    .read_scope(actor, institution_id.as_deref(), "policies")
                    .await?;
                Ok(self.store.list_policies(institution_id.as_deref()).await?)
            }
            .await;
            self.audit_read(actor, Read::Policies, None, r).await
        })
        .await
    }

    // ---- API keys -------------------------------------------------------------------------------

    pub async fn create_api_key(
        &self,
        actor: &Actor,
        institution_id: Option<String>,
        label: String,
        role: String,
    ) -> ServiceResult<CreatedKey> {
        self.op("create_api_key", actor, async move {
            let subject = institution_id.clone().or(actor.scope().map(str::to_string));
            let r = self
                .create_api_key_inner(actor, institution_id, label, role)
                .await;
            self.audit_failure(
                actor,
                LedgerKind::ApiKeyCreated,
                (EntityType::ApiKey, None),
                subject.as_deref(),
                r,
            )
            .await
        })
        .await
    }

    async fn create_api_key_inner(
        &self,
        actor: &Actor,
        institution_id: Option<String>,
        label: String,
        role: String,
    ) -> ServiceResult<CreatedKey> {
        self.authorize_write(actor, "create API keys")?;
        let inst_id =
            Self::effective_institution(actor, institution_id.as_deref(), "create API keys")?;
        let mut errs = Errors::new();
        errs.take(text::required("label", &label, model::NAME_MAX));
        let role = errs.take(Role::parse_field("role", &role));
        errs.finish()?;
        let role = role.expect("ok");
        self.existing_institution(&inst_id).await?;
        let token = apikey::generate_token();
        let key = ApiKey {
            id: ids::new_id(ids::API_KEY),
            institution_id: inst_id.clone(),
            key_hash: apikey::hash_token(&token),
            label,
            role,
            created_at: time::now(),
            revoked_at: None,
        };
        let payload = Payload::ApiKeyCreated(payloads::ApiKeyChange {
            institution_id: inst_id.clone(),
            label: key.label.clone(),
            role: key.role,
            actor: actor.audit_name(),
            key_hash: Some(key.key_hash.clone()),
        });
        let record = Record {
            entity: EntityType::ApiKey,
            entity_id: &key.id,
            institution_id: &inst_id,
            position_id: None,
            at: key.created_at,
            payload,
        };
        self.commit_recorded(actor, Change::CreateApiKey(key.clone()), record)
            .await?;
        Ok(CreatedKey {
            api_key: key,
            token,
        })
    }

    pub async fn list_api_keys(
        &self,
        actor: &Actor,
        institution_id: Option<String>,
    ) -> ServiceResult<Vec<ApiKey>> {
        self.op("list_api_keys", actor, async move {
            let r = async {
                if !actor.can_write() {
                    return Err(Self::forbidden(actor, "list API keys"));
                }
                let institution_id = self
                    .read_scope(actor, institution_id.as_deref(), "API keys")
                    .await?;
                Ok(self.store.list_api_keys(institution_id.as_deref()).await?)
            }
            .await;
            self.audit_read(actor, Read::ApiKeys, None, r).await
        })
        .await
    }

    pub async fn revoke_api_key(
        &self,
        actor: &Actor,
        key_id: &str,
    ) -> ServiceResult<RevokeOutcome> {
        self.op("revoke_api_key", actor, async move {
            self.audit_failure(
                actor,
                LedgerKind::ApiKeyRevoked,
                (EntityType::ApiKey, Some(key_id)),
                actor.scope(),
                self.revoke_inner(actor, key_id).await,
            )
            .await
        })
        .await
    }

    async fn revoke_inner(&self, actor: &Actor, key_id: &str) -> ServiceResult<RevokeOutcome> {
        self.authorize_write(actor, "revoke API keys")?;
        let key = self
            .store
            .get_api_key(key_id)
            .await?
            .ok_or_else(|| ServiceError::NotFound {
                what: "API key",
                id: key_id.to_string(),
            })?;
        Self::check_scope(actor, &key.institution_id, "API key", key_id)?;
        if key.revoked_at.is_some() {
            return Ok(RevokeOutcome {
                api_key: key,
                already_revoked: true,
            });
        }
        let now = time::now();
        let payload = Payload::ApiKeyRevoked(payloads::ApiKeyChange {
            institution_id: key.institution_id.clone(),
            label: key.label.clone(),
            role: key.role,
            actor: actor.audit_name(),
            key_hash: None,
        });
        let record = Record {
            entity: EntityType::ApiKey,
            entity_id: &key.id,
            institution_id: &key.institution_id,
            position_id: None,
            at: now,
            payload,
        };
        let c = self
            .commit_recorded(
                actor,
                Change::RevokeApiKey {
                    id: key.id.clone(),
                    at: now,
                },
                record,
            )
            .await?;
        // Its sessions in this process end with their next operation, not after a recheck.
        self.sessions.forget(&key.id);
        let mut key = key;
        if c.applied {
            key.revoked_at = Some(now);
        } else if let Some(k) = self.store.get_api_key(key_id).await? {
            key = k;
        }
        Ok(RevokeOutcome {
            api_key: key,
            already_revoked: !c.applied,
        })
    }
}
