//! The terminal the console owns: raw mode and the alternate screen on the way in, and back on
//! every way out (quit, error, panic, SIGTERM/SIGINT); the clipboard by OSC 52; the signals.

use crossterm::execute;
use crossterm::terminal::{self, EnterAlternateScreen, LeaveAlternateScreen};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use std::io::Write;

pub(crate) type Term = Terminal<CrosstermBackend<std::io::Stdout>>;

/// Restores the terminal: leaves raw mode and the alternate screen, shows the cursor.
pub fn restore_terminal() {
    let _ = terminal::disable_raw_mode();
    let _ = execute!(
        std::io::stdout(),
        crossterm::event::DisableMouseCapture,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    );
}

/// Restores the terminal when dropped, whatever path leaves the console.
pub(crate) struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

pub(crate) fn setup_terminal(mouse: bool) -> Result<(Term, TerminalGuard), String> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        hook(info);
    }));
    terminal::enable_raw_mode()
        .map_err(|e| format!("cannot switch the terminal to raw mode: {e}"))?;
    let guard = TerminalGuard;
    let mut out = std::io::stdout();
    execute!(out, EnterAlternateScreen, crossterm::cursor::Hide)
        .map_err(|e| format!("terminal: {e}"))?;
    if mouse {
        execute!(out, crossterm::event::EnableMouseCapture)
            .map_err(|e| format!("terminal: {e}"))?;
    }
    let term = Terminal::new(CrosstermBackend::new(out)).map_err(|e| format!("terminal: {e}"))?;
    Ok((term, guard))
}

/// Writes an OSC 52 sequence: the terminal puts `text` on the system clipboard.
pub(crate) fn osc52(text: &str) {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
    let mut out = std::io::stdout();
    let _ = write!(out, "\x1b]52;c;{b64}\x07");
    let _ = out.flush();
}

/// SIGTERM and SIGINT, as one stream.
pub(crate) struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    pub(crate) fn new() -> Result<Signals, String> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate()).map_err(|e| format!("signals: {e}"))?,
            int: signal(SignalKind::interrupt()).map_err(|e| format!("signals: {e}"))?,
        })
    }
    pub(crate) async fn recv(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {},
            _ = self.int.recv() => {},
        }
    }
}
