//! Reading the files an operator names (`@FILE` arguments, `--config`, an import): regular files
//! only — a FIFO, a device or a directory is refused before it is read, so nothing waits on a
//! pipe for ever or reads `/dev/zero` without end — and, where a size bound applies, no more
//! than it.

use std::io::{self, Read};
use std::path::Path;

/// Opens `path` for reading if it is a regular file. The open does not wait for a writer (a
/// FIFO would block a plain open until one came); the kind is checked on the open file.
pub fn open_regular(path: &Path) -> io::Result<std::fs::File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NONBLOCK);
    }
    let file = opts.open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        let kind = if meta.is_dir() {
            "a directory"
        } else {
            "not a regular file (a pipe, socket or device)"
        };
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("it is {kind}"),
        ));
    }
    Ok(file)
}

/// The text of a regular file, refused once it passes `max` bytes.
pub fn read_capped(path: &Path, max: u64) -> io::Result<String> {
    let mut text = String::new();
    open_regular(path)?
        .take(max + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > max {
        return Err(io::Error::other(format!("it is over {max} bytes")));
    }
    Ok(text)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_are_read_and_only_up_to_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a path string of our own; mkfifo only creates the node.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let t0 = std::time::Instant::now();
        let e = read_capped(&fifo, 10).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(2),
            "did not wait for a writer"
        );
        assert!(
            read_capped(Path::new("/dev/zero"), 10)
                .unwrap_err()
                .to_string()
                .contains("not a regular file")
        );
        assert!(
            read_capped(dir.path(), 10)
                .unwrap_err()
                .to_string()
                .contains("directory")
        );
        let f = dir.path().join("f");
        std::fs::write(&f, "0123456789").unwrap();
        assert_eq!(read_capped(&f, 10).unwrap(), "0123456789");
        assert!(
            read_capped(&f, 9)
                .unwrap_err()
                .to_string()
                .contains("over 9 bytes")
        );
    }
}
