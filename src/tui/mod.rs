//! The terminal console. `terminal.rs` owns the terminal (raw mode in, restored on every way
//! out); `runtime.rs` runs the loop around `App`, the router (`app.rs`), and draws it with
//! `chrome.rs`; `exec.rs` runs what the app asks of the service. Each tab and detail view is a
//! module under `views/`, each dialog one under `popups/`; `layout.rs` computes the frame's areas,
//! `keymap.rs` holds every key, `widgets.rs` the pieces every screen draws with.

pub mod app;
pub mod chain;
pub mod chrome;
pub mod exec;
pub mod keymap;
pub mod layout;
pub mod msg;
pub mod nav;
pub mod popups;
mod runtime;
mod terminal;
pub mod theme;
pub mod views;
pub mod widgets;

pub use runtime::run;
pub use terminal::restore_terminal;

use std::time::Instant;

/// How the console was started.
pub struct Options {
    pub demo: bool,
    pub demo_rate: f64,
    pub seed_demo: bool,
    /// `--demo-keep URL`: the demo session mirrored into this store as it runs.
    pub demo_keep: Option<String>,
    /// When the process started: the first frame is timed from here.
    pub process_start: Instant,
}

/// Checks the console's settings (`[console.keys]`, `[console.theme]`) the way the console
/// reads them, so every command refuses a mistyped action or colour, not only the console.
pub fn check_settings(c: &crate::config::ConsoleConfig) -> Result<(), String> {
    keymap::KeyMap::default().with_overrides(&c.keys)?;
    theme::Theme::load(&c.theme, false)?;
    Ok(())
}
