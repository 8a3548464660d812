// sqlx::migrate! embeds the migrations at compile time; rebuild when they change. The commit
// built from (for `--version` and `escrowgrid_build_info`), when built from a git checkout.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=ESCROWGRID_COMMIT={commit}");
    // Rebuild when HEAD moves (a new commit, another branch).
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        println!("cargo:rerun-if-changed={dir}/HEAD");
        if let Some(head) = git(&["symbolic-ref", "-q", "HEAD"]) {
            println!("cargo:rerun-if-changed={dir}/{head}");
        }
    }
}
