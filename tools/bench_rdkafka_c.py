"""librdkafka's own benchmark tool, `examples/rdkafka_performance.c`, as a second
librdkafka client for tools/bench.

`tools/rdkafka_perf.rs` drives librdkafka through the `rdkafka` crate, whose
`send` copies the topic name into a new C string and hands librdkafka a varargs
list for every record. At 100-byte records that binding, not the broker, set the
pace. The C tool is what librdkafka's authors measure with; built from the
librdkafka sources the `rdkafka-sys` crate already vendors and compiled into
target/, and linked to the same static library, it adds no download. Nothing of
it is kept in this repository.
"""

import glob
import os
import re
import resource
import subprocess

import bench_rdkafka_stats

# Everything the rdkafka_perf example sets, so the two clients batch alike.
CONFIG = {"linger.ms": "5", "batch.size": "1000000", "batch.num.messages": "100000",
          "queue.buffering.max.messages": "1000000", "queue.buffering.max.kbytes": "1048576"}
# "% 5000000 messages produced (500000000 bytes), 5000000 delivered (offset 4999999,
#  0 failed) in 3142ms: 1591217 msgs/s and 159.12 MB/s, ..."
SUMMARY = re.compile(r"% (\d+) messages produced \((\d+) bytes\), (\d+) delivered "
                     r"\(offset -?\d+, (\d+) failed\) in (\d+)ms: (\d+) msgs/s and ([\d.]+) MB/s")


def newest(pattern):
    found = glob.glob(pattern)
    return max(found, key=os.path.getmtime) if found else None


def build(root, log):
    """Compiles the tool against the librdkafka the rdkafka_perf build left in target/release;
    returns its path, or None (with a log line saying why) when it cannot be built."""
    lib = newest(os.path.join(root, "target", "release", "build", "rdkafka-sys-*", "out", "src", "librdkafka.a"))
    if lib is None:
        log("no librdkafka.a under target/release/build: librdkafka-c rows skipped")
        return None
    out = os.path.dirname(os.path.dirname(lib))
    source = os.path.join(out, "examples", "rdkafka_performance.c")
    exe = os.path.join(root, "target", "release", "rdkafka_performance")
    if os.path.exists(exe) and os.path.getmtime(exe) > os.path.getmtime(lib):
        return exe
    zstd = newest(os.path.join(root, "target", "release", "build", "zstd-sys-*", "out", "libzstd.a"))
    cmd = ["gcc", "-O2", "-w", "-I", os.path.join(out, "src"), "-o", exe, source, lib]
    cmd += [zstd] if zstd else []
    cmd += ["-lpthread", "-lm", "-ldl", "-lz", "-lrt"]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    except FileNotFoundError:
        log("gcc not found: librdkafka-c rows skipped")
        return None
    if res.returncode != 0:
        log(f"building rdkafka_performance failed, librdkafka-c rows skipped: {res.stderr.strip()[-400:]}")
        return None
    return exe


def produce(exe, addr, topic, size, partitions, acks, records, timeout_s):
    """Produces `records` of `size` bytes; returns records/s, MB/s and the tool's CPU time.
    Raises unless every record was delivered without failure."""
    cmd = [exe, "-P", "-t", topic, "-b", addr, "-s", str(size), "-c", str(records),
           "-a", "-1" if acks == "all" else acks, "-T", str(bench_rdkafka_stats.INTERVAL_MS)]
    if partitions == 1:
        cmd += ["-p", "0"]
    for key, value in CONFIG.items():
        cmd += ["-X", f"{key}={value}"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    summaries = SUMMARY.findall(res.stdout + res.stderr)
    if res.returncode != 0 or not summaries:
        raise RuntimeError(f"rdkafka_performance failed: {(res.stdout + res.stderr).strip()[-400:]}")
    produced, _, delivered, failed, ms, _, _ = (int(float(x)) for x in summaries[-1])
    if produced != records or delivered != records or failed != 0:
        raise RuntimeError(f"rdkafka_performance delivered {delivered} of {records}, {failed} failed")
    seconds = ms / 1000
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"records": records, "seconds": seconds, "records_s": records / seconds,
            "mb_s": records * size / 1e6 / seconds, "client_cpu_s": cpu, "client_cores": cpu / seconds,
            **(bench_rdkafka_stats.round_trip(res.stdout, seconds) or {})}
