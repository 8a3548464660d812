//! EscrowGrid Console: a terminal operations console for an escrow / tokenization platform.
//! Layers: `domain` (pure rules) ← `store` (persistence) ← `service` (the one API) ← `cli` / `tui`.

pub mod anchor;
pub mod bench;
pub mod boot;
pub mod build;
pub mod cli;
pub mod client;
pub mod config;
pub mod demo;
pub mod domain;
pub mod files;
pub mod logging;
pub mod metrics;
pub mod server;
pub mod service;
pub mod settings;
pub mod store;
pub mod tui;
pub mod witness;
