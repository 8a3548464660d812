//! How reads are scoped and refused. A key reads its own institution: naming another is refused
//! (never silently narrowed to its own, which would let a script believe it read the other book),
//! and every refusal of a read leaves one audit record, as refused writes do. An id in a filter
//! that names nothing is "not found", not an empty list.

use super::*;

/// The audit action of a refused read.
#[derive(Debug, Clone, Copy)]
pub(super) enum Read {
    Institution,
    Template,
    Asset,
    Position,
    Positions,
    Templates,
    Assets,
    Policies,
    Ledger,
    Audit,
    ApiKeys,
    Verify,
    Check,
    Export,
}

impl Read {
    pub(super) const ALL: [Read; 14] = [
        Read::Institution,
        Read::Template,
        Read::Asset,
        Read::Position,
        Read::Positions,
        Read::Templates,
        Read::Assets,
        Read::Policies,
        Read::Ledger,
        Read::Audit,
        Read::ApiKeys,
        Read::Verify,
        Read::Check,
        Read::Export,
    ];

    pub(super) fn action(self) -> &'static str {
        match self {
            Read::Institution => "INSTITUTION_READ",
            Read::Template => "TEMPLATE_READ",
            Read::Asset => "ASSET_READ",
            Read::Position => "POSITION_READ",
            Read::Positions => "POSITIONS_LIST",
            Read::Templates => "TEMPLATES_LIST",
            Read::Assets => "ASSETS_LIST",
            Read::Policies => "POLICIES_READ",
            Read::Ledger => "LEDGER_READ",
            Read::Audit => "AUDIT_READ",
            Read::ApiKeys => "API_KEYS_LIST",
            Read::Verify => "LEDGER_VERIFY",
            Read::Check => "STORE_CHECK",
            Read::Export => "STORE_EXPORT",
        }
    }

    fn entity(self) -> Option<EntityType> {
        match self {
            Read::Institution => Some(EntityType::Institution),
            Read::Template | Read::Templates => Some(EntityType::AssetTemplate),
            Read::Asset | Read::Assets => Some(EntityType::Asset),
            Read::Position | Read::Positions => Some(EntityType::Position),
            Read::Policies => Some(EntityType::Policy),
            Read::ApiKeys => Some(EntityType::ApiKey),
            Read::Ledger | Read::Audit | Read::Verify | Read::Check | Read::Export => None,
        }
    }
}

impl Service {
    /// Passes a read's result through; a refusal is recorded in the audit trail first.
    pub(super) async fn audit_read<T>(
        &self,
        actor: &Actor,
        read: Read,
        resource_id: Option<&str>,
        result: ServiceResult<T>,
    ) -> ServiceResult<T> {
        if let Err(e @ ServiceError::Forbidden { .. }) = &result {
            let mut rec = self.audit_record(
                actor,
                read.action(),
                Outcome::Failure,
                read.entity(),
                resource_id,
                None,
                None,
            );
            rec.error = Some(AuditError {
                code: e.code().to_string(),
                message: e.to_string(),
            });
            self.write_audit_only(rec).await;
        }
        result
    }

    /// The institution a read is limited to: a key's own (naming another is refused); for root,
    /// the one it names, which must exist.
    pub(super) async fn read_scope(
        &self,
        actor: &Actor,
        requested: Option<&str>,
        what: &str,
    ) -> ServiceResult<Option<String>> {
        let requested = requested.map(str::trim).filter(|s| !s.is_empty());
        match (actor.scope(), requested) {
            (Some(own), Some(r)) if r != own => Err(Self::forbidden(
                actor,
                format!("read {what} of institution {r} (this key belongs to {own})"),
            )),
            (Some(own), _) => Ok(Some(own.to_string())),
            (None, Some(r)) => match self.institution_record(r).await? {
                Some(_) => Ok(Some(r.to_string())),
                None => Err(ServiceError::NotFound {
                    what: "institution",
                    id: r.to_string(),
                }),
            },
            (None, None) => Ok(None),
        }
    }

    /// A template named in a filter: it exists and the caller may see it.
    pub(super) async fn filter_template(&self, actor: &Actor, id: &str) -> ServiceResult<()> {
        let found = self.template_record(id).await?;
        Self::visible(actor, "template", id, found, |x| x.institution_id.as_str()).map(|_| ())
    }

    /// An asset named in a filter: it exists and the caller may see it.
    pub(super) async fn filter_asset(&self, actor: &Actor, id: &str) -> ServiceResult<()> {
        let found = self.asset_record(id).await?;
        Self::visible(actor, "asset", id, found, |x| x.institution_id.as_str()).map(|_| ())
    }

    /// A position named in a filter: it exists and the caller may see it.
    pub(super) async fn filter_position(&self, actor: &Actor, id: &str) -> ServiceResult<()> {
        let found = self.store.get_position(id).await?;
        Self::visible(actor, "position", id, found, |x| x.institution_id.as_str()).map(|_| ())
    }

    /// A positions filter checked and scoped: its institution, template and asset exist and are
    /// the caller's to see.
    pub(super) async fn scoped_filter(
        &self,
        actor: &Actor,
        mut f: PositionFilter,
    ) -> ServiceResult<PositionFilter> {
        f.institution_id = self
            .read_scope(actor, f.institution_id.as_deref(), "positions")
            .await?;
        if let Some(t) = &f.template_id {
            self.filter_template(actor, t).await?;
        }
        if let Some(a) = &f.asset_id {
            self.filter_asset(actor, a).await?;
        }
        Ok(f)
    }
}
