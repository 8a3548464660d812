//! `seed --demo`: the demo data set, into an empty database.

use crate::cli::*;

pub(crate) async fn seed(
    svc: &dyn Api,
    actor: &Actor,
    a: SeedArgs,
    json: bool,
) -> ServiceResult<i32> {
    let report = crate::demo::seed::load_demo(svc, actor, a.positions, a.seed, a.force).await?;
    if json {
        print_json(&report);
    } else {
        outln!(
            "Loaded the demo data set: {} institutions, {} templates, {} assets, {} positions, {} transitions, {} policies",
            report.institutions,
            report.templates,
            report.assets,
            report.positions,
            report.transitions,
            report.policies
        );
    }
    Ok(0)
}
