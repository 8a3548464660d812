//! The integration tests, in one binary (one link of the whole crate instead of one per suite):
//! each suite keeps its own module.

#[macro_use]
mod common;

mod access;
mod backups;
mod cli;
mod compare;
mod conformance;
mod e2e_tmux;
mod indexes;
mod integrity;
mod migrations;
mod mirror;
mod mirror_kill;
mod multiprocess;
#[cfg(feature = "onchain")]
mod onchain;
mod outage;
mod own_pg;
mod production;
mod properties;
mod releases;
mod replica;
mod serve;
mod service;
mod snapshots;
mod tls;
mod tui;
mod write_path;
