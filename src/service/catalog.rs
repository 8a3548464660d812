//! Institutions, asset templates and assets: creating them (root creates institutions; a key
//! creates templates and assets in its own institution) and reading them, scoped to the caller.

use super::*;

impl Service {
    // ---- institutions ---------------------------------------------------------------------------

    pub async fn create_institution(
        &self,
        actor: &Actor,
        input: NewInstitution,
    ) -> ServiceResult<Institution> {
        self.op("create_institution", actor, async move {
            let r = self.create_institution_inner(actor, input).await;
            self.audit_failure(
                actor,
                LedgerKind::InstitutionCreated,
                (EntityType::Institution, None),
                None,
                r,
            )
            .await
        })
        .await
    }

    async fn create_institution_inner(
        &self,
        actor: &Actor,
        input: NewInstitution,
    ) -> ServiceResult<Institution> {
        self.authorize_write(actor, "create institutions")?;
        if !actor.is_root() {
            return Err(Self::forbidden(actor, "create institutions"));
        }
        let mut errs = Errors::new();
        let regions: Vec<Region> = input
            .regions
            .iter()
            .filter_map(|r| errs.take(Region::parse_field("regions", r)))
            .collect();
        let verticals: Vec<Vertical> = input
            .verticals
            .iter()
            .filter_map(|v| errs.take(Vertical::parse_field("verticals", v)))
            .collect();
        errs.finish()?;
        let (regions, verticals) = model::validate_institution(&input.name, &regions, &verticals)?;
        let now = time::now();
        let inst = Institution {
            id: ids::new_id(ids::INSTITUTION),
            name: input.name,
            regions,
            verticals,
            created_at: now,
            updated_at: now,
        };
        let payload = Payload::InstitutionCreated(payloads::InstitutionCreated {
            name: inst.name.clone(),
            regions: inst.regions.clone(),
            verticals: inst.verticals.clone(),
            actor: actor.audit_name(),
        });
        let record = Record {
            entity: EntityType::Institution,
            entity_id: &inst.id,
            institution_id: &inst.id,
            position_id: None,
            at: now,
            payload,
        };
        self.commit_recorded(actor, Change::CreateInstitution(inst.clone()), record)
            .await?;
        Ok(inst)
    }

    pub async fn list_institutions(
        &self,
        actor: &Actor,
        page: Page,
    ) -> ServiceResult<Vec<Institution>> {
        self.op("list_institutions", actor, async move {
            Ok(self
                .store
                .list_institutions(&InstitutionQuery {
                    id: actor.scope().map(str::to_string),
                    page,
                })
                .await?)
        })
        .await
    }

    pub async fn get_institution(&self, actor: &Actor, id: &str) -> ServiceResult<Institution> {
        self.op("get_institution", actor, async move {
            let found = self.store.get_institution(id).await?;
            let r = Self::visible(actor, "institution", id, found, |x| x.id.as_str());
            self.audit_read(actor, Read::Institution, Some(id), r).await
        })
        .await
    }

    /// Counts of templates, assets and positions of one institution.
    pub async fn institution_summary(
        &self,
        actor: &Actor,
        id: &str,
    ) -> ServiceResult<InstitutionSummary> {
        self.op("institution_summary", actor, async move {
            let inst = self.get_institution(actor, id).await?;
            let c = self.store.counts(Some(id)).await?;
            Ok(InstitutionSummary {
                institution: Some(inst),
                templates: c.templates,
                assets: c.assets,
                positions: c.positions,
            })
        })
        .await
    }

    /// An institution with its counts, policies, templates, assets and — if the caller may see
    /// them — API keys (first 1,000 templates and assets).
    pub async fn institution_detail(
        &self,
        actor: &Actor,
        id: &str,
    ) -> ServiceResult<InstitutionDetail> {
        self.op("institution_detail", actor, async move {
            let summary = self.institution_summary(actor, id).await?;
            let institution = summary
                .institution
                .clone()
                .ok_or_else(|| ServiceError::Internal("summary without institution".into()))?;
            let policies = self.list_policies(actor, Some(id.to_string())).await?;
            let templates = self
                .list_templates(actor, Some(id.to_string()), Page::first(1000))
                .await?;
            let assets = self
                .list_assets(actor, Some(id.to_string()), None, Page::first(1000))
                .await?;
            // Keys are for those who may manage them; others see that there are keys to see.
            let keys = if actor.can_write() {
                Some(self.list_api_keys(actor, Some(id.to_string())).await?)
            } else {
                None
            };
            Ok(InstitutionDetail {
                institution,
                summary,
                policies,
                templates,
                assets,
                keys,
            })
        })
        .await
    }

    // ---- templates ------------------------------------------------------------------------------

    pub async fn create_template(
        &self,
        actor: &Actor,
        input: NewTemplate,
    ) -> ServiceResult<AssetTemplate> {
        self.op("create_template", actor, async move {
            let subject = input.institution_id.clone();
            let r = self.create_template_inner(actor, input).await;
            self.audit_failure(
                actor,
                LedgerKind::TemplateCreated,
                (EntityType::AssetTemplate, None),
                subject.as_deref(),
                r,
            )
            .await
        })
        .await
    }

    async fn create_template_inner(
        &self,
        actor: &Actor,
        input: NewTemplate,
    ) -> ServiceResult<AssetTemplate> {
        self.authorize_write(actor, "create asset templates")?;
        let inst_id = Self::effective_institution(
            actor,
            input.institution_id.as_deref(),
            "create templates",
        )?;
        let mut errs = Errors::new();
        let code = errs.take(TemplateCode::parse_field("code", &input.code));
        let vertical = errs.take(Vertical::parse_field("vertical", &input.vertical));
        let region = errs.take(Region::parse_field("region", &input.region));
        errs.take(text::required("name", &input.name, model::NAME_MAX));
        errs.finish()?;
        let (code, vertical, region) = (
            code.expect("ok"),
            vertical.expect("ok"),
            region.expect("ok"),
        );
        let inst = self.existing_institution(&inst_id).await?;
        // What the row stores is what the ledger records, number for number.
        let config = crate::domain::ledger::as_recorded("config", &input.config)?;
        template::validate_template(&inst, code, &input.name, vertical, region, &config)?;
        let now = time::now();
        let t = AssetTemplate {
            id: ids::new_id(ids::TEMPLATE),
            institution_id: inst_id.clone(),
            code,
            name: input.name,
            vertical,
            region,
            config,
            created_at: now,
            updated_at: now,
        };
        let payload = Payload::TemplateCreated(payloads::TemplateCreated {
            institution_id: t.institution_id.clone(),
            code: t.code,
            name: t.name.clone(),
            vertical: t.vertical,
            region: t.region,
            config: t.config.clone(),
            actor: actor.audit_name(),
        });
        let record = Record {
            entity: EntityType::AssetTemplate,
            entity_id: &t.id,
            institution_id: &inst_id,
            position_id: None,
            at: now,
            payload,
        };
        self.commit_recorded(actor, Change::CreateTemplate(t.clone()), record)
            .await?;
        Ok(t)
    }

    pub async fn list_templates(
        &self,
        actor: &Actor,
        institution_id: Option<String>,
        page: Page,
    ) -> ServiceResult<Vec<AssetTemplate>> {
        self.op("list_templates", actor, async move {
            let r = async {
                let institution_id = self
                    .read_scope(actor, institution_id.as_deref(), "templates")
                    .await?;
                let q = TemplateQuery {
                    institution_id,
                    page,
                };
                Ok(self.store.list_templates(&q).await?)
            }
            .await;
            self.audit_read(actor, Read::Templates, None, r).await
        })
        .await
    }

    pub async fn get_template(&self, actor: &Actor, id: &str) -> ServiceResult<AssetTemplate> {
        self.op("get_template", actor, async move {
            let found = self.store.get_template(id).await?;
            let r = Self::visible(actor, "template", id, found, |x| x.institution_id.as_str());
            self.audit_read(actor, Read::Template, Some(id), r).await
        })
        .await
    }

    // ---- assets ---------------------------------------------------------------------------------

    pub async fn create_asset(&self, actor: &Actor, input: NewAsset) -> ServiceResult<Asset> {
        self.op("create_asset", actor, async move {
            let subject = input.institution_id.clone();
            self.audit_failure(
                actor,
                LedgerKind::AssetCreated,
                (EntityType::Asset, None),
                subject.as_deref(),
                self.create_asset_inner(actor, input).await,
            )
            .await
        })
        .await
    }

    async fn create_asset_inner(&self, actor: &Actor, input: NewAsset) -> ServiceResult<Asset> {
        self.authorize_write(actor, "create assets")?;
        let inst_id =
            Self::effective_institution(actor, input.institution_id.as_deref(), "create assets")?;
        let mut errs = Errors::new();
        errs.take(text::required("label", &input.label, model::NAME_MAX));
        let metadata = input.metadata.unwrap_or_else(|| json!({}));
        errs.take(model::validate_metadata("metadata", &metadata));
        if input.template_id.trim().is_empty() {
            errs.add("templateId", "is required");
        }
        errs.finish()?;
        // What the row stores is what the ledger records, number for number.
        let metadata = crate::domain::ledger::as_recorded("metadata", &metadata)?;
        self.existing_institution(&inst_id).await?;
        let t = self
            .template_record(&input.template_id)
            .await?
            .ok_or_else(|| {
                ServiceError::field(
                    "templateId",
                    format!("template {} does not exist", input.template_id),
                )
            })?;
        if t.institution_id != inst_id {
            return Err(ServiceError::field(
                "templateId",
                format!(
                    "template {} belongs to another institution, not {inst_id}",
                    t.id
                ),
            ));
        }
        let now = time::now();
        let a = Asset {
            id: ids::new_id(ids::ASSET),
            institution_id: inst_id.clone(),
            template_id: t.id.clone(),
            label: input.label,
            metadata,
            created_at: now,
            updated_at: now,
        };
        let payload = Payload::AssetCreated(payloads::AssetCreated {
            institution_id: a.institution_id.clone(),
            template_id: a.template_id.clone(),
            label: a.label.clone(),
            metadata: a.metadata.clone(),
            actor: actor.audit_name(),
        });
        let record = Record {
            entity: EntityType::Asset,
            entity_id: &a.id,
            institution_id: &inst_id,
            position_id: None,
            at: now,
            payload,
        };
        self.commit_recorded(actor, Change::CreateAsset(a.clone()), record)
            .await?;
        Ok(a)
    }

    pub async fn list_assets(
        &self,
        actor: &Actor,
        institution_id: Option<String>,
        template_id: Option<String>,
        page: Page,
    ) -> ServiceResult<Vec<Asset>> {
        self.op("list_assets", actor, async move {
            let r = async {
                let institution_id = self
                    .read_scope(actor, institution_id.as_deref(), "assets")
                    .await?;
                if let Some(t) = &template_id {
                    self.filter_template(actor, t).await?;
                }
                let q = AssetQuery {
                    institution_id,
                    template_id,
                    page,
                };
                Ok(self.store.list_assets(&q).await?)
            }
            .await;
            self.audit_read(actor, Read::Assets, None, r).await
        })
        .await
    }

    pub async fn get_asset(&self, actor: &Actor, id: &str) -> ServiceResult<Asset> {
        self.op("get_asset", actor, async move {
            let found = self.store.get_asset(id).await?;
            let r = Self::visible(actor, "asset", id, found, |x| x.institution_id.as_str());
            self.audit_read(actor, Read::Asset, Some(id), r).await
        })
        .await
    }
}
