//! The file an export is written into: never the target itself until the export is whole.

use super::{ServiceError, ServiceResult};

/// An export's file while it is written: an owner-only temporary file beside the target,
/// renamed into place (flushed, the rename durable) only by `commit`; dropped, it leaves the
/// target as it was. `create` refuses a target that is not a regular file, or that exists
/// without `force`.
pub struct ExportFile {
    pub tmp: tempfile::NamedTempFile,
    path: std::path::PathBuf,
    dir: std::path::PathBuf,
    /// The target as messages name it.
    pub shown: String,
}

impl ExportFile {
    pub fn create(path: &std::path::Path, force: bool) -> ServiceResult<Self> {
        let shown = path.display().to_string();
        match std::fs::symlink_metadata(path) {
            Ok(m) if !m.is_file() => {
                return Err(ServiceError::field(
                    "file",
                    format!("{shown} exists and is not a regular file"),
                ));
            }
            Ok(_) if !force => {
                return Err(ServiceError::field(
                    "file",
                    format!(
                        "{shown} exists: pass --force to replace it (it is kept as it is until the \
                     new export is complete)"
                    ),
                ));
            }
            _ => {}
        }
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        };
        let tmp = tempfile::Builder::new()
            .prefix(".escrowgrid-export-")
            .suffix(".partial")
            .tempfile_in(&dir)
            .map_err(|e| ServiceError::field("file", format!("cannot write {shown}: {e}")))?;
        Ok(ExportFile {
            tmp,
            path: path.to_path_buf(),
            dir,
            shown,
        })
    }

    pub fn commit(self) -> ServiceResult<()> {
        let shown = self.shown;
        let cannot =
            |e: std::io::Error| ServiceError::field("file", format!("cannot write {shown}: {e}"));
        self.tmp.as_file().sync_all().map_err(cannot)?;
        self.tmp.persist(&self.path).map_err(|e| cannot(e.error))?;
        // The rename itself, durable.
        if let Ok(d) = std::fs::File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}
