"""Stage 1 of tools/bench: the machine's own limits, and short re-measurements beside each cell.

The full limits are measured once, before the broker starts: buffered sequential write (dd),
fsync'd write bandwidth at 64 KiB and 1 MiB, fsync latency at 4 KiB (fio), loopback TCP
(iperf3).

A cloud disk changes pace within minutes: in one quick profile the fsync'd 1 MiB limit was
1002 MB/s at the start and 437-472 MB/s twenty minutes later. A cell compared only with the
limit from the start of the run then reads as 80% of a limit it actually matched. So the
disk-bound cells also take a measurement of their own limit right before they run
(`near`), and the table shows the cell against both.

Some of that drift was never the disk. A virtual machine whose balloon device reports free
pages to its host (Firecracker's, and other virtio-balloon set-ups with free page reporting)
gives memory back to the host a few seconds after the guest frees it, and the guest's next
touch of that memory faults on the host. A buffered write pays that for every page-cache page
it fills, and it is not small: on the machine of docs/PERFORMANCE.md's twenty-fifth session, 1 GiB
written into memory freed long ago ran at 540-570 MB/s, and the same write right after a
1 GiB file was deleted at 4.3 GB/s. A limit measured into freshly freed memory (fio's file
right after dd's was deleted) and a cell writing into memory the host took back are not the
same measurement. So a measurement beside a cell writes as many bytes as the cell, into
memory just freed (`recycle_memory` first), and the cell then writes into the memory that
measurement just freed: both meet the page cache in the state of a machine whose memory is
in use, which a broker that has run for a while is. The limits stage shows both states
(`page_cache_fill`), and the disk's own pace without the page cache (O_DIRECT) for scale.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time

# Size of a measurement beside a cell when the cell does not say how much it writes.
NEAR_MIB = 512
NEAR_FSYNC_LATENCY_S = 2
# The page-cache fill probe of the limits stage: one file of this size into whatever memory
# the guest has free, then another right after the first is deleted.
FILL_PROBE_MIB = 1024

# The limit each kind of produce cell is held to, by the key of the full measurement.
DD = "dd"
FSYNC_1M = "fsync 1M"
LOOPBACK = "loopback"
FULL_KEY = {DD: "dd_buffered", FSYNC_1M: "fsync_write_1M", LOOPBACK: "loopback_tcp"}


def log(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def run(cmd, timeout, **kw):
    """Run a command with a hard time limit; return its stdout and stderr (str)."""
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({res.returncode}): {res.stderr.strip()[-400:]}")
    return res.stdout + res.stderr


def ensure_tools(names, packages=None):
    """Installs, from Debian's packages, each tool in `names` that is not on PATH; `packages`
    names the package of a tool whose package is named otherwise (perf: linux-perf)."""
    missing = [n for n in names if shutil.which(n) is None]
    if not missing:
        return
    wanted = [(packages or {}).get(n, n) for n in missing]
    log(f"installing {' '.join(wanted)} from Debian's packages")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    subprocess.run(sudo + ["apt-get", "install", "-y", "-qq"] + wanted, check=True, timeout=600,
                   stdout=subprocess.DEVNULL)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def limit_dd(workdir, mib):
    path = os.path.join(workdir, "dd.bin")
    try:
        out = run(["dd", "if=/dev/zero", f"of={path}", "bs=1M", f"count={mib}", "conv=fdatasync"], timeout=600)
    finally:
        if os.path.exists(path):
            os.remove(path)
    m = re.search(r"(\d+) bytes .* copied, ([\d.]+) s", out)
    return {"bytes": int(m.group(1)), "seconds": float(m.group(2)),
            "mb_s": int(m.group(1)) / float(m.group(2)) / 1e6}


def fill_page_cache(workdir, name, mib):
    """Writes `mib` MiB through the page cache, no fsync, and deletes the file before
    writeback, so the disk sees almost none of it; returns the write's MB/s. The next `mib`
    MiB a writer puts in the page cache go to the memory this freed (module docstring)."""
    path = os.path.join(workdir, name)
    try:
        started = time.monotonic()
        run(["dd", "if=/dev/zero", f"of={path}", "bs=1M", f"count={mib}"], timeout=600)
        return mib * 2**20 / (time.monotonic() - started) / 1e6
    finally:
        if os.path.exists(path):
            os.remove(path)


def recycle_memory(workdir, mib):
    """Leaves `mib` MiB of just-freed memory for the next writer (see `fill_page_cache`)."""
    fill_page_cache(workdir, "recycle.bin", mib)


def limit_page_cache_fill(workdir, mib):
    """Page-cache fill rate (no fsync) into the memory the guest has free, then into memory
    freed a moment before. Far apart, they say this machine charges for memory its host took
    back, and by how much."""
    first = fill_page_cache(workdir, "fill-first.bin", mib)
    return {"mib": mib, "first_mb_s": first,
            "recycled_mb_s": fill_page_cache(workdir, "fill-recycled.bin", mib)}


def fio_json(workdir, name, extra, timeout):
    path = os.path.join(workdir, f"fio-{name}.bin")
    try:
        out = subprocess.run(["fio", "--output-format=json", f"--name={name}", f"--filename={path}",
                              "--ioengine=psync", "--rw=write", "--end_fsync=0"] + extra,
                             capture_output=True, text=True, timeout=timeout, check=True).stdout
    finally:
        if os.path.exists(path):
            os.remove(path)
    return json.loads(out)["jobs"][0]


def limit_fsync_bw(workdir, bs, mib, direct=False):
    # fsync after every write: the best a writer that must be durable per write can do.
    # O_DIRECT leaves the page cache out: the disk's own pace, for scale.
    extra = [f"--bs={bs}", f"--size={mib}M", "--fsync=1"] + (["--direct=1"] if direct else [])
    job = fio_json(workdir, f"fsync-bw-{bs}{'-direct' if direct else ''}", extra, timeout=900)
    return {"block": bs, "mib": mib, "direct": direct, "mb_s": job["write"]["bw_bytes"] / 1e6}


def limit_fsync_latency(workdir, seconds):
    job = fio_json(workdir, "fsync-lat-4k", ["--bs=4k", "--size=256M", "--fsync=1", "--time_based",
                                              f"--runtime={seconds}"], timeout=seconds + 120)
    pct = job["sync"]["lat_ns"]["percentile"]
    return {"block": "4k", "fsyncs": job["sync"]["total_ios"] if "total_ios" in job["sync"] else None,
            "p50_ms": pct["50.000000"] / 1e6, "p99_ms": pct["99.000000"] / 1e6,
            "p99_9_ms": pct["99.900000"] / 1e6}


def limit_loopback(seconds):
    port = free_port()
    server = subprocess.Popen(["iperf3", "-s", "-1", "-B", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        out = run(["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", str(seconds), "-J"], timeout=seconds + 60)
        data = json.loads(out[: out.rindex("}") + 1])
        return {"mb_s": data["end"]["sum_received"]["bits_per_second"] / 8 / 1e6}
    finally:
        server.kill()
        server.wait()


def measure_limits(workdir, prof):
    ensure_tools(["fio", "iperf3"])
    limits = {}
    # First, while the memory the guest has free is most likely memory its host took back.
    log(f"dd: page-cache fill of {FILL_PROBE_MIB} MiB into free memory, then into memory just freed")
    limits["page_cache_fill"] = limit_page_cache_fill(workdir, FILL_PROBE_MIB)
    log(f"dd: {prof['dd_mib']} MiB, bs=1M, conv=fdatasync")
    limits["dd_buffered"] = limit_dd(workdir, prof["dd_mib"])
    for bs in ["64k", "1M"]:
        log(f"fio: fsync'd sequential writes, bs={bs}")
        limits[f"fsync_write_{bs}"] = limit_fsync_bw(workdir, bs, prof["fio_mib"] if bs == "1M" else prof["fio_mib"] // 4)
    log("fio: fsync'd sequential writes, bs=1M, O_DIRECT")
    limits["fsync_write_1M_direct"] = limit_fsync_bw(workdir, "1M", prof["fio_mib"], direct=True)
    log("fio: fsync latency at 4 KiB")
    limits["fsync_latency_4k"] = limit_fsync_latency(workdir, prof["fsync_lat_s"])
    log("iperf3: loopback TCP")
    limits["loopback_tcp"] = limit_loopback(prof["iperf_s"])
    return limits


def print_limits(limits):
    print("\nMachine limits (same run)")
    print(f"  buffered sequential write (dd 1M, fdatasync) {limits['dd_buffered']['mb_s']:9.1f} MB/s")
    print(f"  fsync'd write, 64 KiB                        {limits['fsync_write_64k']['mb_s']:9.1f} MB/s")
    print(f"  fsync'd write, 1 MiB                         {limits['fsync_write_1M']['mb_s']:9.1f} MB/s")
    if "fsync_write_1M_direct" in limits:
        print(f"  fsync'd write, 1 MiB, O_DIRECT (no page cache){limits['fsync_write_1M_direct']['mb_s']:8.1f} MB/s")
    fill = limits.get("page_cache_fill")
    if fill:
        print(f"  page-cache fill, no fsync: into free memory {fill['first_mb_s']:.0f} MB/s,"
              f" into memory just freed {fill['recycled_mb_s']:.0f} MB/s")
    lat = limits["fsync_latency_4k"]
    print(f"  fsync latency, 4 KiB  p50 {lat['p50_ms']:.3f} ms  p99 {lat['p99_ms']:.3f} ms  p99.9 {lat['p99_9_ms']:.3f} ms")
    print(f"  loopback TCP (iperf3)                        {limits['loopback_tcp']['mb_s']:9.1f} MB/s")


# ---------------------------------------------------------------- beside a cell

def kind_of(mode, acks):
    """The limit a cell is held to: produce acks=all against fsync'd 1 MiB writes, other
    produce cells against buffered writes, consume cells against loopback TCP."""
    if mode.startswith("produce"):
        return FSYNC_1M if acks == "all" else DD
    return LOOPBACK


def near(workdir, kind, mib=NEAR_MIB):
    """A measurement of a disk limit right before a cell that is held to it, writing as many
    MiB as the cell (`mib`) into memory just freed, as the cell will; None for loopback,
    whose pace the disk does not move."""
    if kind not in (DD, FSYNC_1M):
        return None
    mib = max(int(mib), 64)
    recycle_memory(workdir, mib)
    if kind == DD:
        return limit_dd(workdir, mib)["mb_s"]
    return limit_fsync_bw(workdir, "1M", mib)["mb_s"]


def near_fsync_p99(workdir):
    """4 KiB fsync p99 (ms) right before a half-peak acks=all run: that run's latency target
    is this plus 1 ms."""
    return limit_fsync_latency(workdir, NEAR_FSYNC_LATENCY_S)["p99_ms"]
