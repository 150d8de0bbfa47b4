//! An in-memory file system for tests: it can fail, tear and forget.
//!
//! Each file keeps two contents: what was written (`current`, the page cache)
//! and what was last fsynced (`durable`, the disk). [`MemFileSystem::crash`]
//! returns the file system a power loss would leave: every file rolled back to
//! its durable content. Directory operations (create, rename, remove) are
//! treated as durable at once by `crash`. [`MemFileSystem::power_loss`] is
//! stricter: a file's name (its creation, rename or removal) is durable only
//! once its directory is synced, and unsynced appended bytes survive only up
//! to a 512-byte boundary chosen at random — what a real disk may leave.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::{File, FileSystem, LockGuard, OpenMode};
use crate::sync_util::lock;

/// A one-shot fault, triggered by the first matching operation and then forgotten.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The next append to a file whose path contains the string fails; nothing is written.
    FailWrite { path_contains: String },
    /// The next append to a matching file writes only `keep_bytes` bytes, then fails.
    TornWrite {
        path_contains: String,
        keep_bytes: usize,
    },
    /// The next `sync_data` of a matching file fails (and makes nothing durable).
    FailSync { path_contains: String },
    /// The next `start_writeback` of a matching file fails with an I/O error.
    FailWriteback { path_contains: String },
}

#[derive(Debug, Default)]
struct FileData {
    current: Vec<u8>,
    durable: Vec<u8>,
}

#[derive(Debug, Default)]
struct State {
    files: BTreeMap<PathBuf, Arc<Mutex<FileData>>>,
    /// Each name as of its directory's last `sync_dir`: the names a power
    /// loss keeps (`power_loss`). Directories themselves stay durable at once.
    durable_names: BTreeMap<PathBuf, Arc<Mutex<FileData>>>,
    dirs: BTreeSet<PathBuf>,
    faults: Vec<Fault>,
    syncs: u64,
    /// Every `start_writeback` call that succeeded: (path, position, len).
    writebacks: Vec<(PathBuf, u64, u64)>,
    sync_delay: std::time::Duration,
    /// `map` and `map_growing` of segment logs fail (see `refuse_mappings`).
    unmappable: bool,
    /// Directory creations that wait for the test (`stall_dir_creation`).
    stalls: Vec<Stall>,
    /// Paths locked by live `lock_exclusive` guards.
    locks: Arc<Mutex<BTreeSet<PathBuf>>>,
    /// One clone in every live handle (`open_file_count`).
    handles: Arc<()>,
}

/// A `create_dir_all` that stops midway until the test lets it go.
#[derive(Debug)]
struct Stall {
    path_contains: String,
    reached: Sender<()>,
    release: Receiver<()>,
}

/// In-memory [`FileSystem`]. Clones share the same files.
#[derive(Debug, Default, Clone)]
pub struct MemFileSystem {
    state: Arc<Mutex<State>>,
}

#[derive(Debug)]
struct MemFile {
    path: PathBuf,
    data: Arc<Mutex<FileData>>,
    state: Arc<Mutex<State>>,
    writable: bool,
    /// Counts this handle while it lives, as a descriptor would.
    _handle: Arc<()>,
}

/// Re-keys every entry below directory `from` to the same place below `to`.
fn move_below<V>(entries: &mut BTreeMap<PathBuf, V>, from: &Path, to: &Path) {
    let moved: Vec<PathBuf> = entries
        .keys()
        .filter(|p| p.starts_with(from))
        .cloned()
        .collect();
    for old in moved {
        if let (Some(value), Ok(rest)) = (entries.remove(&old), old.strip_prefix(from)) {
            entries.insert(to.join(rest), value);
        }
    }
}

fn not_found(path: &Path) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::NotFound,
        format!("{} not found", path.display()),
    )
}

fn injected(what: &str) -> std::io::Error {
    std::io::Error::other(format!("injected {what} fault"))
}

impl MemFileSystem {
    pub fn new() -> Self {
        Self::default()
    }

    /// Arms a one-shot fault.
    pub fn inject(&self, fault: Fault) {
        lock(&self.state).faults.push(fault);
    }

    /// Disarms every fault not yet triggered.
    pub fn clear_faults(&self) {
        lock(&self.state).faults.clear();
    }

    /// Makes every `sync_data` take at least this long, like a real disk
    /// flush (to test that concurrent appends share fsyncs).
    pub fn set_sync_delay(&self, delay: std::time::Duration) {
        lock(&self.state).sync_delay = delay;
    }

    /// Makes the next `create_dir_all` of a path containing `path_contains`
    /// stop, holding whatever locks its caller holds, until the test lets it
    /// go: it sends on the returned receiver's channel once it has stopped,
    /// and goes on when the returned sender sends or is dropped.
    pub fn stall_dir_creation(&self, path_contains: &str) -> (Receiver<()>, Sender<()>) {
        let (reached, on_reached) = channel();
        let (release, on_release) = channel();
        lock(&self.state).stalls.push(Stall {
            path_contains: path_contains.to_owned(),
            reached,
            release: on_release,
        });
        (on_reached, release)
    }

    /// Makes every `map` and `map_growing` of a segment log (`.log`) fail,
    /// here and in what `crash` and `power_loss` return, so readers take
    /// their fallback path (positioned reads), which the real file system
    /// never needs. Index files still map: a partition needs them to open.
    pub fn refuse_mappings(&self) {
        lock(&self.state).unmappable = true;
    }

    /// How many handles `open` returned are still alive: the file
    /// descriptors a real file system would hold open.
    pub fn open_file_count(&self) -> usize {
        Arc::strong_count(&lock(&self.state).handles) - 1
    }

    /// How many `sync_data` calls succeeded so far (to test group commit).
    pub fn sync_count(&self) -> u64 {
        lock(&self.state).syncs
    }

    /// Every `start_writeback` hint that succeeded so far: (path, position, len).
    pub fn writebacks(&self) -> Vec<(PathBuf, u64, u64)> {
        lock(&self.state).writebacks.clone()
    }

    /// The file system a power loss would leave: a new, independent copy in
    /// which every file holds only its fsynced content.
    pub fn crash(&self) -> MemFileSystem {
        let state = lock(&self.state);
        let files = state
            .files
            .iter()
            .map(|(path, data)| {
                let durable = lock(data).durable.clone();
                let copy = FileData {
                    current: durable.clone(),
                    durable,
                };
                (path.clone(), Arc::new(Mutex::new(copy)))
            })
            .collect();
        let copy = State {
            files,
            dirs: state.dirs.clone(),
            unmappable: state.unmappable,
            ..State::default()
        };
        MemFileSystem {
            state: Arc::new(Mutex::new(copy)),
        }
    }

    /// The file system a power loss would leave, strictly: only names whose
    /// directory was synced since they changed survive (an unsynced create,
    /// rename or removal is undone), each file holds its fsynced content, and
    /// bytes appended since its last fsync survive up to a 512-byte boundary
    /// of the file picked from `seed` (none, some, or all of them).
    pub fn power_loss(&self, seed: u64) -> MemFileSystem {
        const SECTOR_BYTES: usize = 512;
        let mut random = Xorshift(seed | 1);
        let state = lock(&self.state);
        let files = state
            .durable_names
            .iter()
            .filter(|(path, _)| state.dirs.contains(super::parent_dir(path)))
            .map(|(path, data)| {
                let data = lock(data);
                let mut kept = data.durable.clone();
                if data.current.len() > kept.len() && data.current.starts_with(&kept) {
                    let first = kept.len().div_ceil(SECTOR_BYTES);
                    let last = data.current.len().div_ceil(SECTOR_BYTES);
                    let cut = (first + random.below(last - first + 1)) * SECTOR_BYTES;
                    let cut = cut.max(kept.len()).min(data.current.len());
                    kept = data.current.get(..cut).unwrap_or_default().to_vec();
                }
                let copy = FileData {
                    current: kept.clone(),
                    durable: kept,
                };
                (path.clone(), Arc::new(Mutex::new(copy)))
            })
            .collect::<BTreeMap<_, _>>();
        let copy = State {
            durable_names: files.clone(),
            files,
            dirs: state.dirs.clone(),
            unmappable: state.unmappable,
            ..State::default()
        };
        MemFileSystem {
            state: Arc::new(Mutex::new(copy)),
        }
    }

    /// Current (unsynced included) content of a file, for tests.
    pub fn contents(&self, path: &Path) -> Option<Vec<u8>> {
        let state = lock(&self.state);
        state.files.get(path).map(|d| lock(d).current.clone())
    }

    /// Replaces a file's content, both current and durable (to plant damage in tests).
    pub fn set_contents(&self, path: &Path, bytes: Vec<u8>) {
        let mut state = lock(&self.state);
        let data = Arc::new(Mutex::new(FileData {
            current: bytes.clone(),
            durable: bytes,
        }));
        state
            .durable_names
            .insert(path.to_owned(), Arc::clone(&data));
        state.files.insert(path.to_owned(), data);
    }
}

fn take_fault(
    state: &Mutex<State>,
    path: &Path,
    pick: impl Fn(&Fault) -> Option<&String>,
) -> Option<Fault> {
    let mut state = lock(state);
    let text = path.to_string_lossy();
    let at = state
        .faults
        .iter()
        .position(|f| pick(f).is_some_and(|s| text.contains(s.as_str())))?;
    Some(state.faults.remove(at))
}

fn write_fault(f: &Fault) -> Option<&String> {
    match f {
        Fault::FailWrite { path_contains } | Fault::TornWrite { path_contains, .. } => {
            Some(path_contains)
        }
        Fault::FailSync { .. } | Fault::FailWriteback { .. } => None,
    }
}

fn sync_fault(f: &Fault) -> Option<&String> {
    match f {
        Fault::FailSync { path_contains } => Some(path_contains),
        _ => None,
    }
}

fn writeback_fault(f: &Fault) -> Option<&String> {
    match f {
        Fault::FailWriteback { path_contains } => Some(path_contains),
        _ => None,
    }
}

impl File for MemFile {
    fn read_at(&self, buf: &mut [u8], position: u64) -> std::io::Result<usize> {
        let data = lock(&self.data);
        let start = usize::try_from(position)
            .unwrap_or(usize::MAX)
            .min(data.current.len());
        let src = data.current.get(start..).unwrap_or_default();
        let n = src.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), src.get(..n)) {
            dst.copy_from_slice(src);
        }
        Ok(n)
    }

    fn append(&self, bytes: &[u8]) -> std::io::Result<()> {
        if !self.writable {
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "opened read-only",
            ));
        }
        match take_fault(&self.state, &self.path, write_fault) {
            Some(Fault::TornWrite { keep_bytes, .. }) => {
                let keep = bytes.get(..keep_bytes.min(bytes.len())).unwrap_or_default();
                lock(&self.data).current.extend_from_slice(keep);
                Err(injected("torn write"))
            }
            Some(_) => Err(injected("write")),
            None => {
                lock(&self.data).current.extend_from_slice(bytes);
                Ok(())
            }
        }
    }

    fn set_len(&self, len: u64) -> std::io::Result<()> {
        let len = usize::try_from(len).map_err(std::io::Error::other)?;
        lock(&self.data).current.resize(len, 0);
        Ok(())
    }

    fn len(&self) -> std::io::Result<u64> {
        Ok(lock(&self.data).current.len() as u64)
    }

    fn sync_data(&self) -> std::io::Result<()> {
        if take_fault(&self.state, &self.path, sync_fault).is_some() {
            return Err(injected("sync"));
        }
        // Like fdatasync, the sync covers what was written before the call,
        // not what arrives while it runs.
        let covered = lock(&self.data).current.clone();
        let delay = lock(&self.state).sync_delay;
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        let mut data = lock(&self.data);
        if data.current.starts_with(&covered) {
            data.durable = covered;
        } else {
            // Truncated while syncing: what is durable is the shorter state.
            data.durable = data.current.clone();
        }
        drop(data);
        lock(&self.state).syncs += 1;
        Ok(())
    }

    /// Records the hint (it changes nothing durable: only `sync_data` does).
    fn start_writeback(&self, position: u64, len: u64) -> std::io::Result<()> {
        if take_fault(&self.state, &self.path, writeback_fault).is_some() {
            return Err(injected("writeback"));
        }
        lock(&self.state)
            .writebacks
            .push((self.path.clone(), position, len));
        Ok(())
    }
}

impl FileSystem for MemFileSystem {
    fn open(&self, path: &Path, mode: OpenMode) -> std::io::Result<Arc<dyn File>> {
        let mut state = lock(&self.state);
        let data = match (state.files.get(path), mode) {
            (Some(data), _) => Arc::clone(data),
            (None, OpenMode::Read) => return Err(not_found(path)),
            (None, OpenMode::ReadAppend) => {
                let parent = super::parent_dir(path);
                if !state.dirs.contains(parent) {
                    return Err(not_found(parent));
                }
                let data = Arc::new(Mutex::new(FileData::default()));
                state.files.insert(path.to_owned(), Arc::clone(&data));
                data
            }
        };
        Ok(Arc::new(MemFile {
            path: path.to_owned(),
            data,
            state: Arc::clone(&self.state),
            writable: mode == OpenMode::ReadAppend,
            _handle: Arc::clone(&state.handles),
        }))
    }

    fn map(&self, path: &Path) -> std::io::Result<Bytes> {
        let state = lock(&self.state);
        if state.unmappable && path.extension().is_some_and(|e| e == "log") {
            return Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "mappings refused (MemFileSystem::refuse_mappings)",
            ));
        }
        let data = state.files.get(path).ok_or_else(|| not_found(path))?;
        Ok(Bytes::from(lock(data).current.clone()))
    }

    /// A copy of what the file holds now, not `len` bytes: the bytes an
    /// append-only file already holds never change, so the copy reads as a
    /// real mapping would, and a reader that needs more than it covers maps
    /// again. So tests take the same read path as the real file system.
    fn map_growing(&self, path: &Path, _len: u64) -> std::io::Result<Option<Bytes>> {
        self.map(path).map(Some)
    }

    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        let mut state = lock(&self.state);
        if let Some(data) = state.files.remove(from) {
            state.files.insert(to.to_owned(), data);
            return Ok(());
        }
        if !state.dirs.contains(from) {
            return Err(not_found(from));
        }
        // Renaming a directory moves everything below it. Directories are
        // durable at once, so the durable names below move with them.
        move_below(&mut state.files, from, to);
        move_below(&mut state.durable_names, from, to);
        let dirs: Vec<PathBuf> = state
            .dirs
            .iter()
            .filter(|p| p.starts_with(from))
            .cloned()
            .collect();
        for old in dirs {
            state.dirs.remove(&old);
            if let Ok(rest) = old.strip_prefix(from) {
                state.dirs.insert(to.join(rest));
            }
        }
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> std::io::Result<()> {
        lock(&self.state)
            .files
            .remove(path)
            .map(drop)
            .ok_or_else(|| not_found(path))
    }

    fn remove_dir_all(&self, path: &Path) -> std::io::Result<()> {
        let mut state = lock(&self.state);
        if !state.dirs.contains(path) {
            return Err(not_found(path));
        }
        state.files.retain(|p, _| !p.starts_with(path));
        state.durable_names.retain(|p, _| !p.starts_with(path));
        state.dirs.retain(|p| !p.starts_with(path));
        Ok(())
    }

    fn create_dir_all(&self, path: &Path) -> std::io::Result<()> {
        let stall = {
            let mut state = lock(&self.state);
            let text = path.to_string_lossy();
            let at = state
                .stalls
                .iter()
                .position(|s| text.contains(&s.path_contains));
            at.map(|i| state.stalls.remove(i))
        };
        if let Some(stall) = stall {
            // Errors mean the test stopped caring: go on either way.
            stall.reached.send(()).ok();
            stall.release.recv().ok();
        }
        let mut state = lock(&self.state);
        for ancestor in path.ancestors() {
            if !ancestor.as_os_str().is_empty() {
                state.dirs.insert(ancestor.to_owned());
            }
        }
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> std::io::Result<()> {
        let mut state = lock(&self.state);
        if !state.dirs.contains(dir) {
            return Err(not_found(dir));
        }
        // The directory's entries, as they are now, become what a power loss keeps.
        state.durable_names.retain(|p, _| p.parent() != Some(dir));
        let entries: Vec<(PathBuf, Arc<Mutex<FileData>>)> = state
            .files
            .iter()
            .filter(|(p, _)| p.parent() == Some(dir))
            .map(|(p, d)| (p.clone(), Arc::clone(d)))
            .collect();
        state.durable_names.extend(entries);
        Ok(())
    }

    fn read_dir(&self, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
        let state = lock(&self.state);
        if !state.dirs.contains(dir) {
            return Err(not_found(dir));
        }
        let files = state.files.keys().filter(|p| p.parent() == Some(dir));
        let dirs = state.dirs.iter().filter(|p| p.parent() == Some(dir));
        Ok(files.chain(dirs).cloned().collect())
    }

    fn is_dir(&self, path: &Path) -> bool {
        lock(&self.state).dirs.contains(path)
    }

    fn exists(&self, path: &Path) -> bool {
        let state = lock(&self.state);
        state.files.contains_key(path) || state.dirs.contains(path)
    }

    fn lock_exclusive(&self, path: &Path) -> std::io::Result<LockGuard> {
        let locks = Arc::clone(&lock(&self.state).locks);
        if !lock(&locks).insert(path.to_owned()) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::WouldBlock,
                "already locked",
            ));
        }
        Ok(LockGuard::new(MemLock {
            locks,
            path: path.to_owned(),
        }))
    }
}

/// Releases a [`MemFileSystem`] lock when dropped.
struct MemLock {
    locks: Arc<Mutex<BTreeSet<PathBuf>>>,
    path: PathBuf,
}

impl Drop for MemLock {
    fn drop(&mut self) {
        lock(&self.locks).remove(&self.path);
    }
}

/// A tiny deterministic generator for `power_loss` (no dependency in the library).
struct Xorshift(u64);

impl Xorshift {
    /// A number in `0..n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        usize::try_from(self.0 % n.max(1) as u64).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crash_forgets_unsynced_writes() {
        let fs = MemFileSystem::new();
        fs.create_dir_all(Path::new("/d")).unwrap();
        let f = fs.open(Path::new("/d/a"), OpenMode::ReadAppend).unwrap();
        f.append(b"hello").unwrap();
        f.sync_data().unwrap();
        f.append(b" world").unwrap();
        assert_eq!(fs.contents(Path::new("/d/a")).unwrap(), b"hello world");
        let after = fs.crash();
        assert_eq!(after.contents(Path::new("/d/a")).unwrap(), b"hello");
    }

    #[test]
    fn torn_write_keeps_a_prefix_and_fails() {
        let fs = MemFileSystem::new();
        fs.create_dir_all(Path::new("/d")).unwrap();
        let f = fs
            .open(Path::new("/d/a.log"), OpenMode::ReadAppend)
            .unwrap();
        fs.inject(Fault::TornWrite {
            path_contains: ".log".into(),
            keep_bytes: 3,
        });
        assert!(f.append(b"abcdef").is_err());
        assert_eq!(fs.contents(Path::new("/d/a.log")).unwrap(), b"abc");
        f.append(b"gh").unwrap();
        assert_eq!(fs.contents(Path::new("/d/a.log")).unwrap(), b"abcgh");
    }

    #[test]
    fn failed_sync_makes_nothing_durable() {
        let fs = MemFileSystem::new();
        fs.create_dir_all(Path::new("/d")).unwrap();
        let f = fs.open(Path::new("/d/a"), OpenMode::ReadAppend).unwrap();
        f.append(b"x").unwrap();
        fs.inject(Fault::FailSync {
            path_contains: "/d/a".into(),
        });
        assert!(f.sync_data().is_err());
        assert_eq!(fs.crash().contents(Path::new("/d/a")).unwrap(), b"");
    }
}
