//! The free-space floor: a sampler thread measures the free space of the
//! data directory's file system every `free_space_check_ms`; while it is
//! below `free_space_floor_bytes`, Produce is refused with a retriable error
//! (fetches, group commits and retention go on, and retention is what frees
//! space). Writes resume at the first sample above the floor, with no restart.
//!
//! Sampled rather than measured per request: a `statvfs` per produce would
//! cost a syscall on the hot path for a value that moves slowly. The admin
//! answer that reports the volume (DescribeLogDirs v4) measures it when
//! asked instead, through the same probe: it is rare, and must be current.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// Where free space comes from; tests swap in their own.
pub trait FreeSpaceProbe: Send + Sync + std::fmt::Debug {
    /// Bytes an unprivileged writer can still use on the file system holding `dir`.
    fn free_bytes(&self, dir: &Path) -> std::io::Result<u64>;

    /// The file system holding `dir`: its size, when the probe knows it
    /// (a test's dial knows only free space), and its usable bytes.
    fn volume(&self, dir: &Path) -> std::io::Result<Volume> {
        Ok(Volume {
            total_bytes: None,
            usable_bytes: self.free_bytes(dir)?,
        })
    }
}

/// The size and usable space of a file system, as Kafka's DescribeLogDirs
/// reports them (`FileStore::getTotalSpace`, `getUsableSpace`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Volume {
    pub total_bytes: Option<u64>,
    /// What [`FreeSpaceProbe::free_bytes`] reports: blocks available to
    /// unprivileged users, not the root reserve.
    pub usable_bytes: u64,
}

/// The real probe: `statvfs(2)`, counting blocks available to unprivileged users.
#[derive(Debug, Default, Clone, Copy)]
pub struct Statvfs;

impl FreeSpaceProbe for Statvfs {
    fn free_bytes(&self, dir: &Path) -> std::io::Result<u64> {
        self.volume(dir).map(|v| v.usable_bytes)
    }

    fn volume(&self, dir: &Path) -> std::io::Result<Volume> {
        let stat = rustix::fs::statvfs(dir)?;
        #[allow(
            clippy::unnecessary_cast,
            reason = "f_frsize is c_long or c_uint depending on the target"
        )]
        let block_bytes = stat.f_frsize as u64;
        Ok(Volume {
            total_bytes: Some(stat.f_blocks.saturating_mul(block_bytes)),
            usable_bytes: stat.f_bavail.saturating_mul(block_bytes),
        })
    }
}

/// The latest sample, shared by the sampler thread and every produce.
#[derive(Debug)]
pub struct FreeSpace {
    /// The data directory and the probe that measures it, for the sampler
    /// and for [`FreeSpace::volume`].
    dir: PathBuf,
    probe: Arc<dyn FreeSpaceProbe>,
    floor_bytes: u64,
    free_bytes: AtomicU64,
    below_floor: AtomicBool,
}

impl FreeSpace {
    /// Samples once now, then every `check_ms` on a thread that ends when the
    /// returned value is dropped. A floor of 0 turns the check off.
    pub fn start(
        dir: PathBuf,
        floor_bytes: u64,
        check_ms: u64,
        probe: Arc<dyn FreeSpaceProbe>,
    ) -> Arc<FreeSpace> {
        let space = Arc::new(FreeSpace {
            dir,
            probe,
            floor_bytes,
            free_bytes: AtomicU64::new(u64::MAX),
            below_floor: AtomicBool::new(false),
        });
        if floor_bytes == 0 {
            return space;
        }
        space.sample();
        let weak = Arc::downgrade(&space);
        let spawned = std::thread::Builder::new()
            .name("ferrolog-free-space".into())
            .spawn(move || sample_until_dropped(&weak, Duration::from_millis(check_ms)));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the free-space sampler; the floor is checked only at start-up");
        }
        space
    }

    /// Whether produce must be refused now.
    pub fn below_floor(&self) -> bool {
        self.below_floor.load(Ordering::Acquire)
    }

    /// Free bytes at the last sample (`u64::MAX` when unchecked).
    pub fn free_bytes(&self) -> u64 {
        self.free_bytes.load(Ordering::Acquire)
    }

    pub fn floor_bytes(&self) -> u64 {
        self.floor_bytes
    }

    /// The data directory's file system measured now (one `statvfs`), not
    /// the last sample: the sampler does not run when the floor is off.
    pub fn volume(&self) -> std::io::Result<Volume> {
        self.probe.volume(&self.dir)
    }

    fn sample(&self) {
        let dir = &self.dir;
        match self.probe.free_bytes(dir) {
            Ok(free) => {
                self.free_bytes.store(free, Ordering::Release);
                let below = free < self.floor_bytes;
                let was = self.below_floor.swap(below, Ordering::AcqRel);
                if below && !was {
                    tracing::error!(free_bytes = free, floor_bytes = self.floor_bytes, dir = %dir.display(),
                        "free space below the floor: refusing produce until space is freed");
                } else if was && !below {
                    tracing::warn!(
                        free_bytes = free,
                        floor_bytes = self.floor_bytes,
                        "free space above the floor again: produce resumes"
                    );
                }
            }
            // Keep the last verdict: a failed statvfs says nothing about space.
            Err(e) => tracing::warn!(error = %e, dir = %dir.display(), "cannot measure free space"),
        }
    }
}

fn sample_until_dropped(space: &Weak<FreeSpace>, every: Duration) {
    loop {
        std::thread::sleep(every);
        let Some(space) = space.upgrade() else { return };
        space.sample();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Debug)]
    struct Scripted(Mutex<u64>);

    impl FreeSpaceProbe for Scripted {
        fn free_bytes(&self, _: &Path) -> std::io::Result<u64> {
            Ok(*self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner))
        }
    }

    #[test]
    fn the_verdict_follows_the_samples_both_ways() {
        let probe = Arc::new(Scripted(Mutex::new(10)));
        let space = FreeSpace::start(PathBuf::from("."), 100, 5, probe.clone());
        assert!(space.below_floor(), "sampled at start");
        *probe
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = 1000;
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while space.below_floor() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(
            !space.below_floor(),
            "space freed: writes resume without a restart"
        );
        assert_eq!(space.free_bytes(), 1000);
    }

    #[test]
    fn a_zero_floor_never_refuses_and_statvfs_works_here() {
        let space = FreeSpace::start(PathBuf::from("."), 0, 5, Arc::new(Statvfs));
        assert!(!space.below_floor());
        assert!(
            Statvfs
                .free_bytes(Path::new("."))
                .is_ok_and(|free| free > 0)
        );
    }

    #[test]
    fn the_volume_is_measured_when_asked_even_with_the_floor_off() {
        let space = FreeSpace::start(PathBuf::from("."), 0, 5, Arc::new(Statvfs));
        let volume = space.volume().expect("statvfs works here");
        let total = volume.total_bytes.expect("statvfs knows the size");
        assert!(
            volume.usable_bytes > 0 && volume.usable_bytes <= total,
            "{volume:?}"
        );
        // A probe that knows only free space reports no total.
        let dial = Arc::new(Scripted(Mutex::new(7)));
        let space = FreeSpace::start(PathBuf::from("."), 0, 5, dial);
        assert_eq!(
            space.volume().ok(),
            Some(Volume {
                total_bytes: None,
                usable_bytes: 7
            })
        );
    }
}
