//! The terminal the console owns: raw mode and the alternate screen on the way in, and back on
//! every way out (quit, error, panic, SIGTERM, SIGINT, SIGHUP, SIGQUIT); the clipboard by OSC 52; the signals.

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

/// The signals that end the console — SIGTERM, SIGINT, SIGHUP (the terminal went away) and
/// SIGQUIT — as one stream. Each is caught, so the console ends the normal way and the
/// terminal is restored; the process then exits 128 + the signal's number (143, 130, 129, 131),
/// as a shell reports a process a signal ended.
pub(crate) struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
    quit: tokio::signal::unix::Signal,
    /// The exit status of the first signal caught.
    caught: Option<i32>,
}

impl Signals {
    pub(crate) fn new() -> Result<Signals, String> {
        use tokio::signal::unix::{SignalKind, signal};
        let on = |k: SignalKind| signal(k).map_err(|e| format!("signals: {e}"));
        Ok(Signals {
            term: on(SignalKind::terminate())?,
            int: on(SignalKind::interrupt())?,
            hup: on(SignalKind::hangup())?,
            quit: on(SignalKind::quit())?,
            caught: None,
        })
    }

    pub(crate) async fn recv(&mut self) {
        let signo = tokio::select! {
            _ = self.term.recv() => libc::SIGTERM,
            _ = self.int.recv() => libc::SIGINT,
            _ = self.hup.recv() => libc::SIGHUP,
            _ = self.quit.recv() => libc::SIGQUIT,
        };
        tracing::info!(signal = signo, "console: ended by a signal");
        self.caught.get_or_insert(128 + signo);
    }

    /// The process's exit status: 128 + the signal that ended the console, else 0.
    pub(crate) fn exit_code(&self) -> i32 {
        self.caught.unwrap_or(0)
    }
}
