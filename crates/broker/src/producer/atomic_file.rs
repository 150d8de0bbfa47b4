//! Replace a small file atomically: write a temp file, fsync it, rename it over the target,
//! fsync the directory. A crash leaves either the old or the new content, never a mix.
//!
//! The storage crate's own atomic-write helper works through its `FileSystem` seam; this one
//! serves the producer module's small state files (producer-id blocks) and is kept to that job.

use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
#[error("atomic write of {path} failed during {op}")]
pub struct AtomicWriteError {
    pub path: PathBuf,
    pub op: &'static str,
    #[source]
    pub source: std::io::Error,
}

pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), AtomicWriteError> {
    let err = |op: &'static str| {
        move |source| AtomicWriteError {
            path: path.to_owned(),
            op,
            source,
        }
    };
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp).map_err(err("create temp"))?;
    file.write_all(bytes).map_err(err("write temp"))?;
    file.sync_all().map_err(err("fsync temp"))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(err("rename"))?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(err("fsync directory"))?;
    Ok(())
}
