//! `export FILE` and `import FILE`: the whole store as JSON lines, and back into an empty store
//! of any backend (how an operator moves from the embedded SQLite default to PostgreSQL).

use crate::cli::*;
use crate::service::backup::ImportOptions;
use std::io::Write;
use std::path::Path;

pub(crate) async fn export(
    svc: &dyn Api,
    actor: &Actor,
    file: &Path,
    force: bool,
    json: bool,
) -> ServiceResult<i32> {
    if file.as_os_str() == "-" {
        svc.authorize_export(actor).await?;
        let mut out = PipeWatch {
            inner: std::io::BufWriter::new(std::io::stdout()),
            closed: false,
        };
        return match svc
            .export_to_writer(actor, &mut out, "standard output")
            .await
        {
            // A reader that stops early (`export - | head`) ends the export quietly.
            Err(_) if out.closed => Ok(0),
            r => r.map(|_| 0),
        };
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

/// A writer that remembers whether its reader went away (a broken pipe).
struct PipeWatch<W> {
    inner: W,
    closed: bool,
}

impl<W: Write> PipeWatch<W> {
    fn note<T>(&mut self, r: std::io::Result<T>) -> std::io::Result<T> {
        if let Err(e) = &r
            && e.kind() == std::io::ErrorKind::BrokenPipe
        {
            self.closed = true;
        }
        r
    }
}

impl<W: Write> Write for PipeWatch<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let r = self.inner.write(buf);
        self.note(r)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        let r = self.inner.flush();
        self.note(r)
    }
}

pub(crate) async fn import(
    svc: &dyn Api,
    actor: &Actor,
    file: &Path,
    opts: ImportOptions,
    json: bool,
) -> ServiceResult<i32> {
    let s = svc.import_file(actor, file, opts).await?;
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
