//! Freed request buffers are kept for the next request instead of going back
//! to the kernel (`ferrolog_broker::freed_memory`). In a process of its own:
//! malloc's settings and the page-fault count are the whole process's.

/// Minor page faults of this process so far.
fn minor_faults() -> i64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    #[allow(unsafe_code)]
    // SAFETY: getrusage fills the struct it is given; RUSAGE_SELF is valid.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    assert_eq!(rc, 0, "getrusage failed");
    #[allow(unsafe_code)]
    // SAFETY: getrusage returned 0, so it wrote the struct.
    let usage = unsafe { usage.assume_init() };
    usage.ru_minflt
}

/// Rounds of `in_flight` request-sized buffers, each written through (as a
/// socket read fills it) and all freed at the end of the round, as a
/// connection with that many produce requests in flight does.
fn faults_over_rounds(rounds: usize, in_flight: usize, bytes: usize) -> i64 {
    let before = minor_faults();
    for round in 0..rounds {
        let buffers: Vec<Vec<u8>> = (0..in_flight)
            .map(|i| {
                let mut buf = Vec::with_capacity(bytes);
                buf.resize(bytes, (round + i) as u8);
                buf
            })
            .collect();
        std::hint::black_box(&buffers);
    }
    minor_faults() - before
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn request_buffers_freed_in_a_round_are_reused_by_the_next_without_faults() {
    const ROUNDS: usize = 200;
    const IN_FLIGHT: usize = 8;
    const BYTES: usize = 256 << 10;
    let pages_per_round = (IN_FLIGHT * BYTES / 4096) as i64;
    assert!(ferrolog_broker::freed_memory::keep_for_reuse());
    // The first round touches its memory; the rest must find it touched.
    let faults = faults_over_rounds(ROUNDS, IN_FLIGHT, BYTES);
    assert!(
        faults < 4 * pages_per_round,
        "{faults} page faults over {ROUNDS} rounds of {pages_per_round} pages: \
         freed buffers went back to the kernel"
    );
}
