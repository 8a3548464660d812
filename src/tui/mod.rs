//! The terminal console: `terminal.rs` owns the terminal (raw mode in, restored on every way
//! out), `runtime.rs` runs the loop around `App` (state and update, `app.rs`) and its drawing
//! (`ui.rs`); `exec.rs` runs what the app asks of the service.

pub mod app;
pub mod exec;
pub mod form;
pub mod keymap;
mod runtime;
mod terminal;
pub mod theme;
pub mod ui;

pub use runtime::run;
pub use terminal::restore_terminal;

use std::time::Instant;

/// How the console was started.
pub struct Options {
    pub demo: bool,
    pub demo_rate: f64,
    pub seed_demo: bool,
    /// When the process started: the first frame is timed from here.
    pub process_start: Instant,
}
