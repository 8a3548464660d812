//! What this binary is: its version, the commit it was built from (`unknown` outside a git
//! checkout) and the optional features built in — for `--version` and `escrowgrid_build_info`.

#[cfg(feature = "onchain")]
macro_rules! features {
    () => {
        "onchain"
    };
}
#[cfg(not(feature = "onchain"))]
macro_rules! features {
    () => {
        "none"
    };
}

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const COMMIT: &str = env!("ESCROWGRID_COMMIT");
/// The optional features built in, comma-separated ("none" when none).
pub const FEATURES: &str = features!();
/// `--version`: "0.1.0 (commit 1a2b3c4d5e6f, features: onchain)".
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("ESCROWGRID_COMMIT"),
    ", features: ",
    features!(),
    ")"
);
