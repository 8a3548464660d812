//! One file per command group; `cli::run` dispatches to them.

#[cfg(feature = "onchain")]
pub(crate) mod anchor;
pub(super) mod apikey;
pub(super) mod asset;
pub(super) mod audit;
pub(super) mod backup;
pub(super) mod check;
pub(crate) mod compare;
pub(super) mod health;
pub(super) mod institution;
pub(super) mod ledger;
pub(super) mod migrate;
pub(crate) mod mirror;
pub(super) mod policy;
pub(super) mod position;
pub(super) mod seed;
pub mod serve;
pub(super) mod template;
