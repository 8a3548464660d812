//! Reading the whole store page by page, for the audits and the backups that read everything
//! (`check`, `export`, `verify`, the anchors' check): the catalog in full (it is small),
//! positions and the ledger a page at a time (they are not).

use super::*;

/// Rows per page when reading everything.
const PAGE: u32 = 1000;

impl Service {
    /// The ledger after seq `after`, oldest first, a page at a time: each page goes to `each`,
    /// until the ledger ends or `each` answers false.
    pub(super) async fn ledger_pages(
        &self,
        mut after: i64,
        mut each: impl FnMut(Vec<LedgerEvent>) -> ServiceResult<bool>,
    ) -> ServiceResult<()> {
        loop {
            let page = self
                .store
                .read_ledger(&LedgerQuery {
                    after_seq: after,
                    limit: PAGE,
                    ..Default::default()
                })
                .await?;
            let Some(last) = page.last() else {
                return Ok(());
            };
            after = last.seq;
            if !each(page)? {
                return Ok(());
            }
        }
    }

    /// The audit chain after seq `after`, in chain order, a page at a time (as `ledger_pages`).
    pub(super) async fn audit_chain_pages(
        &self,
        mut after: i64,
        mut each: impl FnMut(Vec<AuditEvent>) -> ServiceResult<bool>,
    ) -> ServiceResult<()> {
        loop {
            let page = self
                .store
                .list_audit(&AuditQuery {
                    after_seq: Some(after),
                    limit: PAGE,
                    ..Default::default()
                })
                .await?;
            let Some(last) = page.last().and_then(|a| a.seq) else {
                return Ok(());
            };
            after = last;
            if !each(page)? {
                return Ok(());
            }
        }
    }

    /// The audit records outside the chain (written by an older version since this store was
    /// opened), the first thousand: the counters' check sees any beyond.
    pub(super) async fn unchained_audit(&self) -> ServiceResult<Vec<AuditEvent>> {
        let q = AuditQuery {
            unchained: true,
            limit: 1000,
            ..Default::default()
        };
        Ok(self.store.list_audit(&q).await?)
    }

    pub(super) async fn all_institutions(&self) -> ServiceResult<Vec<Institution>> {
        let mut out: Vec<Institution> = Vec::new();
        loop {
            let page = Page {
                after: out.last().map(|x| x.id.clone()),
                limit: PAGE,
            };
            let q = InstitutionQuery { id: None, page };
            let rows = self.store.list_institutions(&q).await?;
            if rows.is_empty() {
                return Ok(out);
            }
            out.extend(rows);
        }
    }

    pub(super) async fn all_templates(&self) -> ServiceResult<Vec<AssetTemplate>> {
        let mut out: Vec<AssetTemplate> = Vec::new();
        loop {
            let page = Page {
                after: out.last().map(|x| x.id.clone()),
                limit: PAGE,
            };
            let q = TemplateQuery {
                institution_id: None,
                page,
            };
            let rows = self.store.list_templates(&q).await?;
            if rows.is_empty() {
                return Ok(out);
            }
            out.extend(rows);
        }
    }

    pub(super) async fn all_assets(&self) -> ServiceResult<Vec<Asset>> {
        let mut out: Vec<Asset> = Vec::new();
        loop {
            let page = Page {
                after: out.last().map(|x| x.id.clone()),
                limit: PAGE,
            };
            let q = AssetQuery {
                institution_id: None,
                template_id: None,
                page,
            };
            let rows = self.store.list_assets(&q).await?;
            if rows.is_empty() {
                return Ok(out);
            }
            out.extend(rows);
        }
    }

    /// The page of positions after `after` (the last of the previous page), in creation order.
    pub(super) async fn positions_after(
        &self,
        after: Option<&Position>,
    ) -> ServiceResult<Vec<Position>> {
        let q = PositionQuery {
            cursor: after.map(|p| PositionCursor::of(PositionSortKey::Created, p)),
            limit: PAGE,
            ..Default::default()
        };
        Ok(self.store.list_positions(&q).await?)
    }
}
