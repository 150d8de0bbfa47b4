//! A fault-injecting `FileSystem` over the real one, and an in-process broker
//! that runs on it: fail the next write or fsync of files whose path contains
//! a pattern, as a failing disk would (EIO), or hold such calls at a gate, as
//! a stalled disk would.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrolog_broker::{BrokerConfig, Server, ServerOptions};
use ferrolog_storage::StoreOptions;
use ferrolog_storage::io::{File, FileSystem, LockGuard, OpenMode, StdFileSystem};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The operation a fault applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Write,
    Sync,
}

/// Fails the next `count` calls of `op` on files whose path contains `path_contains`.
#[derive(Clone, Debug)]
struct Rule {
    op: Op,
    path_contains: String,
    count: u32,
}

/// The real file system, with faults armed by the test. A std Mutex: it is
/// held only to look at the rules, never across I/O or an await.
#[derive(Clone, Debug, Default)]
pub struct FaultyFs {
    rules: Arc<Mutex<Vec<Rule>>>,
    injected: Arc<Mutex<Vec<(Op, PathBuf)>>>,
    gates: Arc<Mutex<Vec<Gate>>>,
}

/// Holds `op` calls on paths containing a pattern until it is opened, or
/// until `HELD_MAX` passes, so that a test whose broker waits on it from a
/// runtime worker (the defect it looks for) still ends.
#[derive(Clone, Debug)]
pub struct Gate {
    op: Op,
    path_contains: String,
    deadline: Instant,
    state: Arc<(Mutex<GateState>, Condvar)>,
}

#[derive(Debug, Default)]
struct GateState {
    open: bool,
    arrived: usize,
}

impl Gate {
    /// How long a gate holds at most.
    pub const HELD_MAX: Duration = Duration::from_secs(10);

    /// Calls that have reached the gate so far, held or not.
    pub fn arrived(&self) -> usize {
        self.state.0.lock().unwrap().arrived
    }

    /// Whether held calls have been let through (by `open` or the deadline).
    pub fn is_open(&self) -> bool {
        self.state.0.lock().unwrap().open || Instant::now() >= self.deadline
    }

    /// Lets every held call, and every later one, through.
    pub fn open(&self) {
        self.state.0.lock().unwrap().open = true;
        self.state.1.notify_all();
    }

    fn pass(&self) {
        let (lock, opened) = &*self.state;
        let mut state = lock.lock().unwrap();
        state.arrived += 1;
        while !state.open {
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            state = opened.wait_timeout(state, left).unwrap().0;
        }
    }
}

impl FaultyFs {
    /// Fails the next `count` `op` calls on paths containing `path_contains` with EIO.
    pub fn fail_next(&self, op: Op, path_contains: &str, count: u32) {
        self.rules.lock().unwrap().push(Rule {
            op,
            path_contains: path_contains.into(),
            count,
        });
    }

    /// Faults injected so far, as (operation, file).
    pub fn injected(&self) -> Vec<(Op, PathBuf)> {
        self.injected.lock().unwrap().clone()
    }

    /// Holds the `op` calls on paths containing `path_contains` until the
    /// returned gate is opened.
    pub fn hold(&self, op: Op, path_contains: &str) -> Gate {
        let gate = Gate {
            op,
            path_contains: path_contains.into(),
            deadline: Instant::now() + Gate::HELD_MAX,
            state: Arc::default(),
        };
        self.gates.lock().unwrap().push(gate.clone());
        gate
    }

    fn check(&self, op: Op, path: &Path) -> std::io::Result<()> {
        let text = path.to_string_lossy();
        let gate = self
            .gates
            .lock()
            .unwrap()
            .iter()
            .find(|g| g.op == op && text.contains(&g.path_contains))
            .cloned();
        if let Some(gate) = gate {
            gate.pass();
        }
        let mut rules = self.rules.lock().unwrap();
        let hit = rules
            .iter_mut()
            .find(|r| r.op == op && r.count > 0 && text.contains(&r.path_contains));
        let Some(rule) = hit else { return Ok(()) };
        rule.count -= 1;
        self.injected.lock().unwrap().push((op, path.to_path_buf()));
        Err(std::io::Error::from_raw_os_error(libc_eio()))
    }
}

/// EIO on Linux (and every Unix we run on).
const fn libc_eio() -> i32 {
    5
}

#[derive(Debug)]
struct FaultyFile {
    path: PathBuf,
    inner: Arc<dyn File>,
    fs: FaultyFs,
}

impl File for FaultyFile {
    fn read_at(&self, buf: &mut [u8], position: u64) -> std::io::Result<usize> {
        self.inner.read_at(buf, position)
    }
    fn append(&self, data: &[u8]) -> std::io::Result<()> {
        self.fs.check(Op::Write, &self.path)?;
        self.inner.append(data)
    }
    fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.inner.set_len(len)
    }
    fn len(&self) -> std::io::Result<u64> {
        self.inner.len()
    }
    fn sync_data(&self) -> std::io::Result<()> {
        self.fs.check(Op::Sync, &self.path)?;
        self.inner.sync_data()
    }
}

impl FileSystem for FaultyFs {
    fn open(&self, path: &Path, mode: OpenMode) -> std::io::Result<Arc<dyn File>> {
        let inner = StdFileSystem.open(path, mode)?;
        Ok(Arc::new(FaultyFile {
            path: path.to_path_buf(),
            inner,
            fs: self.clone(),
        }))
    }
    fn map(&self, path: &Path) -> std::io::Result<Bytes> {
        StdFileSystem.map(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        StdFileSystem.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> std::io::Result<()> {
        StdFileSystem.remove_file(path)
    }
    fn remove_dir_all(&self, path: &Path) -> std::io::Result<()> {
        StdFileSystem.remove_dir_all(path)
    }
    fn create_dir_all(&self, path: &Path) -> std::io::Result<()> {
        StdFileSystem.create_dir_all(path)
    }
    fn sync_dir(&self, dir: &Path) -> std::io::Result<()> {
        self.check(Op::Sync, dir)?;
        StdFileSystem.sync_dir(dir)
    }
    fn read_dir(&self, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
        StdFileSystem.read_dir(dir)
    }
    fn is_dir(&self, path: &Path) -> bool {
        StdFileSystem.is_dir(path)
    }
    fn exists(&self, path: &Path) -> bool {
        StdFileSystem.exists(path)
    }
    fn lock_exclusive(&self, path: &Path) -> std::io::Result<LockGuard> {
        StdFileSystem.lock_exclusive(path)
    }
}

/// An in-process broker over a given file system; `stop` shuts it down cleanly.
pub struct FaultyBroker {
    pub addr: std::net::SocketAddr,
    pub fs: FaultyFs,
    pub server: Arc<ferrolog_broker::Broker>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ferrolog_broker::ServerError>>>,
}

impl FaultyBroker {
    pub async fn start(data_dir: &Path, adjust: impl FnOnce(&mut BrokerConfig)) -> FaultyBroker {
        Self::start_with_probe(data_dir, adjust, Arc::new(ferrolog_broker::disk::Statvfs)).await
    }

    /// `start` with free space measured by `probe`.
    pub async fn start_with_probe(
        data_dir: &Path,
        adjust: impl FnOnce(&mut BrokerConfig),
        probe: Arc<dyn ferrolog_broker::disk::FreeSpaceProbe>,
    ) -> FaultyBroker {
        let mut config = BrokerConfig {
            listen: "127.0.0.1:0".into(),
            data_dir: data_dir.to_path_buf(),
            ..BrokerConfig::default()
        };
        adjust(&mut config);
        let fs = FaultyFs::default();
        let store = StoreOptions {
            fs: Arc::new(fs.clone()),
            ..StoreOptions::default()
        };
        let options = ServerOptions {
            store,
            free_space: probe,
        };
        let server = Server::bind_with(config, options)
            .await
            .expect("broker starts");
        let addr = server.local_addr();
        let broker = server.broker().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            stopped.await.ok();
        }));
        FaultyBroker {
            addr,
            fs,
            server: broker,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Shuts down; the result of the broker's own close (a failed partition
    /// may make a clean close report an error).
    pub async fn stop(mut self) -> Result<(), ferrolog_broker::ServerError> {
        if let Some(stop) = self.stop.take() {
            stop.send(()).ok();
        }
        let task = self.task.take().unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(20), task)
            .await
            .expect("shutdown in time")
            .unwrap()
    }
}

impl Drop for FaultyBroker {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop.send(()).ok();
        }
    }
}
