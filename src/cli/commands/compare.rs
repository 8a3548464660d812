//! `compare URL_A URL_B`: whether two stores hold the same book (see `service::compare`); exit
//! 0 when they do, 1 with the first difference. Neither store is changed, and a SQLite file that
//! does not exist is refused rather than created.

use crate::cli::*;
use crate::service::{Service, ServiceConfig};
use crate::store::{self, Backend};

/// Opens the store at `url` (`which` names the argument in errors); a SQLite file that does not
/// exist is refused unless `new_ok`.
pub(super) async fn open(
    cfg: &crate::config::Config,
    which: &str,
    url: &str,
    new_ok: bool,
) -> ServiceResult<Service> {
    let backend = crate::config::backend_of_url(which, url)
        .map_err(|e| ServiceError::field(which, e.to_string()))?;
    if backend == Backend::Sqlite
        && !new_ok
        && let Some(path) = store::sqlite::file_path(url)
        && !path.exists()
    {
        return Err(ServiceError::field(
            which,
            format!("no database at {}", path.display()),
        ));
    }
    let store = store::open_with(backend, url, &cfg.store_options())
        .await
        .map_err(|e| match ServiceError::from(e) {
            ServiceError::Unavailable(m) => {
                ServiceError::Unavailable(format!("{which} ({}): {m}", shown(url)))
            }
            other => other,
        })?;
    Ok(Service::new(store, ServiceConfig::default()))
}

/// Where a store is, for people (a PostgreSQL password replaced by `***`).
pub(super) fn shown(url: &str) -> String {
    store::postgres::redact(url)
}

pub(crate) async fn compare(
    cfg: &crate::config::Config,
    a: &str,
    b: &str,
    json: bool,
) -> ServiceResult<i32> {
    let (sa, sb) = (
        open(cfg, "URL_A", a, false).await?,
        open(cfg, "URL_B", b, false).await?,
    );
    let actor = Actor::local();
    let c = sa.compare(&sb, &actor, (shown(a), shown(b))).await?;
    if json {
        print_json(&c);
    } else {
        for (side, x) in [("A", &c.a), ("B", &c.b)] {
            let check = if x.check_ok {
                "check clean".to_string()
            } else {
                format!("check: {} finding(s)", x.check_findings)
            };
            outln!(
                "{side}  {}\n   ledger seq {} {}  audit seq {} {}  {check}",
                s(&x.store),
                x.head_seq,
                short_hash(&x.head_hash),
                x.audit_head_seq,
                short_hash(&x.audit_head_hash)
            );
        }
        outln!("{:<16} {:>10} {:>10}", "rows", "A", "B");
        for (da, db) in c.a.digests.iter().zip(&c.b.digests) {
            let same = if da == db { "same" } else { "DIFFER" };
            outln!("{:<16} {:>10} {:>10}  {same}", da.kind, da.rows, db.rows);
        }
        match &c.first_difference {
            None => outln!("same book"),
            Some(d) => outln!("differ: {}", s(d)),
        }
    }
    Ok(if c.same { 0 } else { 1 })
}
