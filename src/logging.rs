//! Logs go to a daily-rolling file (by default), to standard error or to the systemd journal
//! (`log_target`) — never to the terminal while the console owns it. The guard must live as
//! long as the program so buffered lines are flushed.

use std::path::{Path, PathBuf};
use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{RollingFileAppender, Rotation};

pub struct Logging {
    pub _guard: Option<WorkerGuard>,
    /// Where the lines go: today's file, or "standard error" / "the systemd journal".
    pub file: PathBuf,
}

/// Where log lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogTarget {
    /// Daily files in the log directory, 14 kept.
    #[default]
    File,
    /// Standard error (a container's log, or journald through a unit's stderr).
    Stderr,
    /// The systemd journal, natively (fields and priorities).
    Journald,
}

impl LogTarget {
    pub fn parse(s: &str) -> Option<LogTarget> {
        match s.trim().to_ascii_lowercase().as_str() {
            "file" => Some(LogTarget::File),
            "stderr" => Some(LogTarget::Stderr),
            "journald" => Some(LogTarget::Journald),
            _ => None,
        }
    }
}

/// How each log line is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// One human-readable line per event, with its spans (`op{op=… op_id=…}`).
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `fields`, `target`, and `span` / `spans`
    /// with the operation's `op` and `op_id`.
    Json,
}

impl LogFormat {
    pub fn parse(s: &str) -> Option<LogFormat> {
        match s.trim().to_ascii_lowercase().as_str() {
            "text" => Some(LogFormat::Text),
            "json" => Some(LogFormat::Json),
            _ => None,
        }
    }
}

/// Starts logging; an error says why (the directory cannot be made, the journal is not there),
/// and the caller stops rather than run without a log.
pub fn init(
    dir: &Path,
    level: &str,
    format: LogFormat,
    target: LogTarget,
) -> Result<Logging, String> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter =
        tracing_subscriber::EnvFilter::try_new(level).map_err(|e| format!("log_level: {e}"))?;
    let already =
        |e: tracing_subscriber::util::TryInitError| format!("logging already initialised: {e}");
    match target {
        LogTarget::Journald => {
            let layer = tracing_journald::layer()
                .map_err(|e| format!("cannot reach the systemd journal: {e}"))?;
            tracing_subscriber::registry()
                .with(filter)
                .with(layer)
                .try_init()
                .map_err(already)?;
            return Ok(Logging {
                _guard: None,
                file: PathBuf::from("the systemd journal"),
            });
        }
        LogTarget::Stderr => {
            let (writer, guard) = tracing_appender::non_blocking(std::io::stderr());
            fmt_init(filter, writer, format)?;
            return Ok(Logging {
                _guard: Some(guard),
                file: PathBuf::from("standard error"),
            });
        }
        LogTarget::File => {}
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("cannot create log directory {}: {e}", dir.display()))?;
    let appender = RollingFileAppender::builder()
        .rotation(Rotation::DAILY)
        .filename_prefix("escrowgrid")
        .filename_suffix("log")
        .max_log_files(14)
        .build(dir)
        .map_err(|e| format!("cannot open log file in {}: {e}", dir.display()))?;
    let (writer, guard) = tracing_appender::non_blocking(appender);
    fmt_init(filter, writer, format)?;
    let file = dir.join(format!(
        "escrowgrid.{}.log",
        chrono::Utc::now().format("%Y-%m-%d")
    ));
    Ok(Logging {
        _guard: Some(guard),
        file,
    })
}

/// Lines as text or JSON into `writer` (a file's or stderr's non-blocking writer), no colours.
fn fmt_init(
    filter: tracing_subscriber::EnvFilter,
    writer: tracing_appender::non_blocking::NonBlocking,
    format: LogFormat,
) -> Result<(), String> {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false);
    match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    }
    .map_err(|e| format!("logging already initialised: {e}"))
}
