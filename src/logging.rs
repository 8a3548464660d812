//! Logs go to a daily-rolling file in the data directory, never to the terminal (the console owns
//! it). The guard must live as long as the program so buffered lines are flushed.

use std::path::{Path, PathBuf};
use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{RollingFileAppender, Rotation};

pub struct Logging {
    pub _guard: WorkerGuard,
    /// Today's file.
    pub file: PathBuf,
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

pub fn init(dir: &Path, level: &str, format: LogFormat) -> Result<Logging, String> {
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
    let filter =
        tracing_subscriber::EnvFilter::try_new(level).map_err(|e| format!("log_level: {e}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false);
    match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    }
    .map_err(|e| format!("logging already initialised: {e}"))?;
    let file = dir.join(format!(
        "escrowgrid.{}.log",
        chrono::Utc::now().format("%Y-%m-%d")
    ));
    Ok(Logging {
        _guard: guard,
        file,
    })
}
