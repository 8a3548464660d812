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

pub fn init(dir: &Path, level: &str) -> Result<Logging, String> {
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
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .try_init()
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
