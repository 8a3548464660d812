//! `compare URL_A URL_B`: whether two stores hold the same book (see `service::compare`); exit
//! 0 when they do, 1 with the first difference. Neither store is changed, and a SQLite file that
//! does not exist is refused rather than created.

use crate::boot::{open_url as open, shown};
use crate::cli::*;

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
