//! `export FILE` and `import FILE`: the whole store as JSON lines, and back into an empty store
//! of any backend (how an operator moves from the embedded SQLite default to PostgreSQL).

use crate::cli::*;
use crate::service::backup::ExportLine;
use std::io::{BufRead, Write};
use std::path::Path;

pub(crate) async fn export(
    svc: &Service,
    actor: &Actor,
    file: &Path,
    json: bool,
) -> ServiceResult<i32> {
    let cannot = |e: std::io::Error| {
        ServiceError::field("file", format!("cannot write {}: {e}", file.display()))
    };
    let to_stdout = file.as_os_str() == "-";
    let mut out: Box<dyn Write> = if to_stdout {
        Box::new(std::io::BufWriter::new(std::io::stdout().lock()))
    } else {
        Box::new(std::io::BufWriter::new(
            std::fs::File::create(file).map_err(cannot)?,
        ))
    };
    let s = svc
        .export_to(actor, &mut out, &file.display().to_string())
        .await?;
    drop(out);
    if to_stdout {
        return Ok(0);
    }
    if json {
        print_json(&s);
    } else {
        outln!(
            "Exported {} lines ({} ledger events, {} audit records) to {}; head seq {} hash {}",
            s.lines,
            s.ledger_events,
            s.audit_records,
            file.display(),
            s.head_seq,
            s.head_hash
        );
    }
    Ok(0)
}

pub(crate) async fn import(
    svc: &Service,
    actor: &Actor,
    file: &Path,
    json: bool,
) -> ServiceResult<i32> {
    let cannot =
        |e: String| ServiceError::field("file", format!("cannot read {}: {e}", file.display()));
    let reader =
        std::io::BufReader::new(std::fs::File::open(file).map_err(|e| cannot(e.to_string()))?);
    let mut lines = Vec::new();
    for (n, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| cannot(e.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed: ExportLine = serde_json::from_str(&line)
            .map_err(|e| cannot(format!("line {}: not an export line ({e})", n + 1)))?;
        lines.push(parsed);
    }
    let s = svc.import(actor, lines).await?;
    if json {
        print_json(&s);
    } else {
        outln!(
            "Imported {} ledger events and {} audit records from {}; the chain verified as it went, head seq {} hash {}",
            s.ledger_events,
            s.audit_records,
            file.display(),
            s.head_seq,
            s.head_hash
        );
    }
    Ok(0)
}
