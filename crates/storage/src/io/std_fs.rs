//! The real file system.
use std::io::{IoSlice, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use super::{File, FileSystem, LockGuard, OpenMode};

#[derive(Debug, Default, Clone, Copy)]
pub struct StdFileSystem;

#[derive(Debug)]
struct StdFile(std::fs::File);

impl File for StdFile {
    fn read_at(&self, buf: &mut [u8], position: u64) -> std::io::Result<usize> {
        loop {
            match self.0.read_at(buf, position) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                other => return other,
            }
        }
    }

    fn append(&self, data: &[u8]) -> std::io::Result<()> {
        // The file is opened with O_APPEND, so each write lands at the end.
        (&self.0).write_all(data)
    }

    fn append_vectored(&self, parts: &[IoSlice<'_>]) -> std::io::Result<()> {
        // O_APPEND: each writev lands at the end. One writev takes at most
        // IOV_MAX parts (std caps the count), and any write may be short, so
        // loop until every byte is in; the caller holds the writer lock.
        let mut storage = parts.to_vec();
        let mut rest = storage.as_mut_slice();
        IoSlice::advance_slices(&mut rest, 0);
        while !rest.is_empty() {
            match (&self.0).write_vectored(rest) {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => IoSlice::advance_slices(&mut rest, n),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.0.set_len(len)
    }

    fn len(&self) -> std::io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }

    fn sync_data(&self) -> std::io::Result<()> {
        self.0.sync_data()
    }

    fn start_writeback(&self, position: u64, len: u64) -> std::io::Result<()> {
        use std::os::fd::AsRawFd;
        let offset = libc::off64_t::try_from(position).map_err(std::io::Error::other)?;
        let nbytes = libc::off64_t::try_from(len).map_err(std::io::Error::other)?;
        loop {
            // SAFETY: sync_file_range only reads the descriptor number (open
            // for the whole call: `self.0` is alive) and integer arguments;
            // it touches no memory of ours.
            #[allow(unsafe_code)]
            let rc = unsafe {
                libc::sync_file_range(
                    self.0.as_raw_fd(),
                    offset,
                    nbytes,
                    libc::SYNC_FILE_RANGE_WRITE,
                )
            };
            if rc == 0 {
                return Ok(());
            }
            let error = std::io::Error::last_os_error();
            match error.raw_os_error() {
                Some(libc::EINTR) => continue,
                // Not a file system or kernel that supports the hint.
                Some(libc::ENOSYS | libc::EOPNOTSUPP | libc::ESPIPE) => {
                    return Err(std::io::Error::new(std::io::ErrorKind::Unsupported, error));
                }
                _ => return Err(error),
            }
        }
    }
}

impl FileSystem for StdFileSystem {
    fn open(&self, path: &Path, mode: OpenMode) -> std::io::Result<Arc<dyn File>> {
        let mut options = std::fs::OpenOptions::new();
        match mode {
            OpenMode::Read => options.read(true),
            OpenMode::ReadAppend => options.read(true).append(true).create(true),
        };
        Ok(Arc::new(StdFile(options.open(path)?)))
    }

    fn map(&self, path: &Path) -> std::io::Result<Bytes> {
        let file = std::fs::File::open(path)?;
        if file.metadata()?.len() == 0 {
            // Mapping an empty file fails on Linux; an empty view is what we mean.
            return Ok(Bytes::new());
        }
        // SAFETY: only sealed logs and index files are mapped. While a
        // mapping is alive the engine only appends to such a file or unlinks
        // it (both keep every mapped page valid and unchanged); an index is
        // truncated for a rebuild only after its mapping was dropped. So the
        // memory stays readable and unchanged for the mapping's lifetime, as
        // long as no other process truncates our files (the data directory is
        // ours: see the store's lock).
        #[allow(unsafe_code)]
        let map = unsafe { memmap2::Mmap::map(&file)? };
        Ok(Bytes::from_owner(map))
    }

    fn map_growing(&self, path: &Path, len: u64) -> std::io::Result<Option<Bytes>> {
        let len = usize::try_from(len).map_err(std::io::Error::other)?;
        if len == 0 {
            return Ok(None);
        }
        let file = std::fs::File::open(path)?;
        // SAFETY: the mapping may reach past the end of the file; touching
        // such a page would raise SIGBUS, so the engine reads only published
        // bytes, which were written before they were published and lie below
        // the end. The file is only appended to while mapped: recovery, the
        // one place that truncates a log, runs when a partition opens, before
        // any read maps it, and cuts only bytes that were never published.
        // Appends change no byte already mapped. Unlinking keeps the pages.
        // As for `map`, no other process may truncate our files.
        #[allow(unsafe_code)]
        let map = unsafe { memmap2::MmapOptions::new().len(len).map(&file)? };
        Ok(Some(Bytes::from_owner(map)))
    }

    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        std::fs::rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> std::io::Result<()> {
        std::fs::remove_file(path)
    }

    fn remove_dir_all(&self, path: &Path) -> std::io::Result<()> {
        std::fs::remove_dir_all(path)
    }

    fn create_dir_all(&self, path: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(path)
    }

    fn sync_dir(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::File::open(dir)?.sync_all()
    }

    fn read_dir(&self, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
        std::fs::read_dir(dir)?
            .map(|entry| entry.map(|e| e.path()))
            .collect()
    }

    fn is_dir(&self, path: &Path) -> bool {
        path.is_dir()
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn created_ms(&self, path: &Path) -> Option<i64> {
        // statx's birth time (ext4, xfs, btrfs); None where it is not kept.
        let created = std::fs::metadata(path).ok()?.created().ok()?;
        let since_epoch = created.duration_since(std::time::UNIX_EPOCH).ok()?;
        i64::try_from(since_epoch.as_millis()).ok()
    }

    fn lock_exclusive(&self, path: &Path) -> std::io::Result<LockGuard> {
        use std::os::fd::AsRawFd;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        // SAFETY: flock only reads the descriptor number, which stays open
        // for the whole call because `file` is alive; it touches no memory.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // The lock lives as long as the descriptor: the guard owns the file.
        Ok(LockGuard::new(file))
    }
}
