//! `export FILE` and `import FILE`: the whole store as JSON lines, and back into an empty store
//! of any backend (how an operator moves from the embedded SQLite default to PostgreSQL).

use crate::cli::*;
use crate::service::backup::ImportOptions;
use std::io::Write;
use std::path::Path;

pub(crate) async fn export(
    svc: &Service,
    actor: &Actor,
    file: &Path,
    force: bool,
    json: bool,
) -> ServiceResult<i32> {
    if file.as_os_str() == "-" {
        svc.authorize_export(actor).await?;
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        svc.export_to(actor, &mut out, "standard output").await?;
        return Ok(0);
    }
    let s = svc.export_file(actor, file, force).await?;
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
    opts: ImportOptions,
    json: bool,
) -> ServiceResult<i32> {
    let cannot =
        |e: String| ServiceError::field("file", format!("cannot read {}: {e}", file.display()));
    let reader = std::io::BufReader::new(
        crate::files::open_regular(file).map_err(|e| cannot(e.to_string()))?,
    );
    let s = svc.import(actor, reader, opts).await?;
    if json {
        print_json(&s);
    } else {
        for n in &s.notes {
            eprintln!("note: {n}");
        }
        outln!(
            "Imported {} ledger events and {} audit records from {}; both chains verified, head seq {} hash {}, audit seq {}",
            s.ledger_events,
            s.audit_records,
            file.display(),
            s.head_seq,
            s.head_hash,
            s.audit_head_seq
        );
    }
    let _ = std::io::stdout().flush();
    Ok(0)
}
