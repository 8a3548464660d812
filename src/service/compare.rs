//! `compare`: do two stores hold the same book? Each side's heads (ledger and audit trail, seq
//! and hash), its own `check`, and a digest of every stored row of each kind — institutions,
//! templates, assets, positions, lifecycle steps, policies, API keys (with their hashes) and
//! audit records — each in canonical JSON, read from the tables, not rebuilt from the ledger, so a row changed behind
//! the ledger shows. The first difference is named: where two ledgers part (found by halving,
//! as each event's hash covers all before it), a failed check, or the first row that one side
//! lacks or holds otherwise (with the fields that differ).

use super::mirror::{Chain, first_differing, hash_at};
use super::*;
use crate::domain::replay::differing_fields;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// The kinds of rows compared, in the order a difference is looked for.
const KINDS: [&str; 8] = [
    "institution",
    "template",
    "asset",
    "position",
    "lifecycle step",
    "policy",
    "API key",
    "audit record",
];

/// One store's side of a comparison.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BookSide {
    /// Where it is (a PostgreSQL password replaced by `***`).
    pub store: String,
    pub head_seq: i64,
    pub head_hash: String,
    pub audit_head_seq: i64,
    pub audit_head_hash: String,
    /// Its `check`: clean, or how many findings and the first.
    pub check_ok: bool,
    pub check_findings: usize,
    pub first_finding: Option<String>,
    pub digests: Vec<KindDigest>,
}

/// The rows of one kind: how many, and the SHA-256 over each row's digest in key order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KindDigest {
    pub kind: &'static str,
    pub rows: u64,
    pub sha256: String,
}

/// Two stores compared: `same` when both heads, both checks and every digest agree.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Comparison {
    pub same: bool,
    pub a: BookSide,
    pub b: BookSide,
    /// The first difference, in words (None when the same).
    pub first_difference: Option<String>,
}

/// Every row of one store, each (key, digest of its JSON), by kind in `KINDS` order.
struct Rows(Vec<BTreeMap<String, [u8; 32]>>);

/// A row's digest: SHA-256 over its canonical JSON (keys sorted, compact — PostgreSQL's
/// `jsonb` keeps no key order, so the order an object's keys were written in is no
/// difference) and `extra` (what the row's JSON leaves out: an API key's hash).
fn row_digest<T: Serialize>(row: &T, extra: &str) -> ServiceResult<[u8; 32]> {
    let v = serde_json::to_value(row).map_err(|e| ServiceError::Internal(e.to_string()))?;
    let mut h = Sha256::new();
    h.update(crate::domain::ledger::canonical_value(&v).as_bytes());
    h.update(extra.as_bytes());
    Ok(h.finalize().into())
}

impl Service {
    /// Compares this store (A) with `other` (B), as `actor` (root: it reads everything) on
    /// both. `names` says where each is, for the report.
    pub async fn compare(
        &self,
        other: &Service,
        actor: &Actor,
        names: (String, String),
    ) -> ServiceResult<Comparison> {
        if !actor.is_root() {
            return Err(Self::forbidden(
                actor,
                "compare stores (it reads every institution)",
            ));
        }
        let (a, rows_a) = self.book(actor, names.0).await?;
        let (b, rows_b) = other.book(actor, names.1).await?;
        let mut first = None;
        if (a.head_seq, &a.head_hash) != (b.head_seq, &b.head_hash) {
            first = Some(match first_ledger_difference(self, other).await? {
                Some(seq) if seq > a.head_seq => format!(
                    "A's ledger ends at seq {}; B's goes on to seq {}",
                    a.head_seq, b.head_seq
                ),
                Some(seq) if seq > b.head_seq => format!(
                    "B's ledger ends at seq {}; A's goes on to seq {}",
                    b.head_seq, a.head_seq
                ),
                Some(seq) => format!("the ledgers differ from seq {seq} on"),
                None => "the ledgers' heads differ".into(),
            });
        }
        for (side, s) in [("A", &a), ("B", &b)] {
            if first.is_none() && !s.check_ok {
                first = Some(format!(
                    "{side}'s check finds {} problem(s); the first: {}",
                    s.check_findings,
                    s.first_finding.as_deref().unwrap_or("-")
                ));
            }
        }
        if first.is_none()
            && (a.audit_head_seq, &a.audit_head_hash) != (b.audit_head_seq, &b.audit_head_hash)
        {
            first = Some(format!(
                "the audit trails' heads differ (A: audit seq {}, B: audit seq {})",
                a.audit_head_seq, b.audit_head_seq
            ));
        }
        if first.is_none() {
            first = self.first_row_difference(other, &rows_a, &rows_b).await?;
        }
        Ok(Comparison {
            same: first.is_none(),
            a,
            b,
            first_difference: first,
        })
    }

    /// This store's side: heads, check, and every row's digest.
    async fn book(&self, actor: &Actor, store: String) -> ServiceResult<(BookSide, Rows)> {
        let heads = self.store.heads().await?;
        let report = self.check(actor).await?;
        let rows = self.rows().await?;
        let digests = KINDS
            .iter()
            .zip(&rows.0)
            .map(|(kind, m)| {
                let mut h = Sha256::new();
                for (key, d) in m {
                    h.update(key.as_bytes());
                    h.update(d);
                }
                KindDigest {
                    kind,
                    rows: m.len() as u64,
                    sha256: hex::encode(h.finalize()),
                }
            })
            .collect();
        let side = BookSide {
            store,
            head_seq: heads.ledger.0,
            head_hash: heads.ledger.1,
            audit_head_seq: heads.audit.0,
            audit_head_hash: heads.audit.1,
            check_ok: report.ok,
            check_findings: report.findings.len() + report.more as usize,
            first_finding: report.findings.first().map(|f| f.what.clone()),
            digests,
        };
        Ok((side, rows))
    }

    /// Every stored row, read from the tables.
    async fn rows(&self) -> ServiceResult<Rows> {
        let mut out: Vec<BTreeMap<String, [u8; 32]>> =
            KINDS.iter().map(|_| BTreeMap::new()).collect();
        for x in self.all_institutions().await? {
            out[0].insert(x.id.clone(), row_digest(&x, "")?);
        }
        for x in self.all_templates().await? {
            out[1].insert(x.id.clone(), row_digest(&x, "")?);
        }
        for x in self.all_assets().await? {
            out[2].insert(x.id.clone(), row_digest(&x, "")?);
        }
        let mut last: Option<Position> = None;
        loop {
            let page = self.positions_after(last.as_ref()).await?;
            let Some(end) = page.last().cloned() else {
                break;
            };
            for p in page {
                for e in self.store.position_events(&p.id).await? {
                    out[4].insert(format!("{}/{}", p.id, e.id), row_digest(&e, "")?);
                }
                out[3].insert(p.id.clone(), row_digest(&p, "")?);
            }
            last = Some(end);
        }
        for x in self.store.list_policies(None).await? {
            out[5].insert(x.id.clone(), row_digest(&x, "")?);
        }
        for x in self.store.list_api_keys(None).await? {
            out[6].insert(x.id.clone(), row_digest(&x, &x.key_hash)?);
        }
        let mut audit = Vec::new();
        self.audit_chain_pages(0, |page| {
            audit.extend(page);
            Ok(true)
        })
        .await?;
        audit.extend(self.unchained_audit().await?);
        for a in audit {
            out[7].insert(a.id.clone(), row_digest(&a, "")?);
        }
        Ok(Rows(out))
    }

    /// The first row, by kind then key, that one side lacks or holds otherwise.
    async fn first_row_difference(
        &self,
        other: &Service,
        a: &Rows,
        b: &Rows,
    ) -> ServiceResult<Option<String>> {
        for (k, kind) in KINDS.iter().enumerate() {
            let (ma, mb) = (&a.0[k], &b.0[k]);
            let keys: BTreeSet<&String> = ma.keys().chain(mb.keys()).collect();
            for key in keys {
                let shown = key.rsplit('/').next().unwrap_or(key);
                match (ma.get(key), mb.get(key)) {
                    (Some(x), Some(y)) if x == y => continue,
                    (Some(_), None) => return Ok(Some(format!("B lacks {kind} {shown}"))),
                    (None, Some(_)) => return Ok(Some(format!("A lacks {kind} {shown}"))),
                    _ => {
                        let fields = match (
                            self.row_value(k, key).await?,
                            other.row_value(k, key).await?,
                        ) {
                            (Some(x), Some(y)) => differing_fields(&x, &y),
                            _ => Vec::new(),
                        };
                        let fields = if fields.is_empty() {
                            "its stored hash".to_string()
                        } else {
                            fields.join(", ")
                        };
                        return Ok(Some(format!("{kind} {shown} differs, in: {fields}")));
                    }
                }
            }
        }
        Ok(None)
    }

    /// One row as JSON, for naming the fields that differ (None for a kind not fetched alone).
    async fn row_value(&self, kind: usize, key: &str) -> ServiceResult<Option<Value>> {
        fn json<T: Serialize>(v: &T) -> Value {
            serde_json::to_value(v).unwrap_or(Value::Null)
        }
        Ok(match kind {
            0 => self.store.get_institution(key).await?.map(|x| json(&x)),
            1 => self.store.get_template(key).await?.map(|x| json(&x)),
            2 => self.store.get_asset(key).await?.map(|x| json(&x)),
            3 => self.store.get_position(key).await?.map(|x| json(&x)),
            4 => {
                let (position, id) = key.split_once('/').unwrap_or((key, ""));
                self.store
                    .position_events(position)
                    .await?
                    .into_iter()
                    .find(|e| e.id == id)
                    .map(|x| json(&x))
            }
            6 => self.store.get_api_key(key).await?.map(|x| {
                let mut v = json(&x);
                v["keyHash"] = Value::String(x.key_hash.clone());
                v
            }),
            _ => None,
        })
    }
}

/// The first seq at which the two ledgers differ (one ending before the other's end counts as
/// differing just past its head), or None when both heads are the same.
pub async fn first_ledger_difference(a: &Service, b: &Service) -> ServiceResult<Option<i64>> {
    let (ha, hb) = (a.store.ledger_head().await?, b.store.ledger_head().await?);
    if ha == hb {
        return Ok(None);
    }
    let common = ha.map_or(0, |h| h.0).min(hb.map_or(0, |h| h.0));
    if hash_at(a, Chain::Ledger, common).await? == hash_at(b, Chain::Ledger, common).await? {
        return Ok(Some(common + 1));
    }
    Ok(Some(first_differing(a, b, Chain::Ledger, 0, common).await?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;

    fn service() -> Service {
        Service::new(Arc::new(MemoryStore::new()), ServiceConfig::default())
    }

    async fn institutions(svc: &Service, n: usize) {
        for i in 0..n {
            let new = NewInstitution {
                name: format!("Bank {i}"),
                regions: vec!["US".into()],
                verticals: vec!["CONSTRUCTION".into()],
            };
            svc.create_institution(&Actor::Root, new).await.unwrap();
        }
    }

    /// B imports A's export (the same ledger, seq 1 to 13); then each goes on its own way.
    #[tokio::test]
    async fn the_first_differing_seq_is_found_by_halving() {
        let (a, b) = (service(), service());
        institutions(&a, 13).await;
        let mut file = Vec::new();
        a.export_to(&Actor::Root, &mut file, "memory")
            .await
            .unwrap();
        b.import(&Actor::Root, &file[..], Default::default())
            .await
            .unwrap();
        assert_eq!(first_ledger_difference(&a, &b).await.unwrap(), None);
        institutions(&a, 2).await;
        assert_eq!(
            first_ledger_difference(&a, &b).await.unwrap(),
            Some(14),
            "B ends at 13; A goes on"
        );
        assert_eq!(first_ledger_difference(&b, &a).await.unwrap(), Some(14));
        institutions(&b, 3).await;
        assert_eq!(first_ledger_difference(&a, &b).await.unwrap(), Some(14));
        // Two histories apart from the start.
        let c = service();
        institutions(&c, 20).await;
        assert_eq!(first_ledger_difference(&a, &c).await.unwrap(), Some(1));
        let empty = service();
        assert_eq!(first_ledger_difference(&empty, &a).await.unwrap(), Some(1));
    }
}
