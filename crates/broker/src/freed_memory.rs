//! How much freed memory the allocator keeps for the next request.
//!
//! Each produce request arrives in a buffer of its own size (256 KiB to a
//! few MiB) that is freed once the batches are in the page cache. glibc's
//! malloc serves such sizes with `mmap` at first and gives the top of a heap
//! back to the kernel as soon as 128-512 KiB of it is free, so with a few
//! requests in flight the broker unmapped and faulted in, and the kernel
//! zeroed, every request's buffer again: 6% of the broker's CPU in a 1 KiB
//! acks=all profile (docs/PERFORMANCE.md, twenty-fifth session). On a guest
//! whose host takes freed memory back, each of those faults also costs the
//! host's. Keeping up to `TRIM_BYTES` free at the top of each heap, and
//! serving requests up to `MMAP_BYTES` from the heaps, turns the next
//! request's buffer into memory already touched.
//!
//! Other allocators (musl's, or a target without glibc) are left as they are.

/// Requests up to this size come from malloc's heaps, not a fresh mapping:
/// above the 1 MiB batches librdkafka and the Java client send by default.
pub const MMAP_BYTES: i32 = 8 << 20;

/// Free bytes a heap keeps at its top before giving memory back: a few
/// connections' worth of in-flight requests, small beside the page cache.
pub const TRIM_BYTES: i32 = 64 << 20;

/// Sets glibc's thresholds (once, at start-up, before the runtime's threads
/// exist). Returns false where there is no glibc malloc to tune, or it
/// refused a value.
pub fn keep_for_reuse() -> bool {
    imp::keep_for_reuse()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod imp {
    use super::{MMAP_BYTES, TRIM_BYTES};

    pub fn keep_for_reuse() -> bool {
        #[allow(unsafe_code)]
        // SAFETY: mallopt only sets malloc's parameters; glibc takes its own
        // lock, and these two values are within its documented ranges.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_BYTES) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_BYTES) == 1
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod imp {
    pub fn keep_for_reuse() -> bool {
        false
    }
}
