//! EscrowGrid Console: a terminal operations console for an escrow / tokenization platform.
//! Layers: `domain` (pure rules) ← `store` (persistence) ← `service` (the one API) ← `cli` / `tui`.

pub mod domain;
pub mod store;
