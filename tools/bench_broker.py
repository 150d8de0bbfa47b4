"""Stages 2 and 3 of tools/bench: run a release ferrologd under a fixed matrix, print one table.

The matrix (each cell on a fresh topic, deleted afterwards so disk use stays at
one cell's data):
  produce   record size 100 B / 1 KiB x partitions 1 / 8 x acks 1 / all x producers 1 / 4,
            with `ferrolog perf produce` (one process per producer, 4 requests in flight each);
  consume   after each acks=1, 1-producer cell: read everything back from the page cache,
            then again from disk after evicting the topic's files from the page cache
            (broker stopped, posix_fadvise DONTNEED on its segments: only our files, not the
            machine's cache; then started again);
  1 in flight  1 KiB, 1 partition, one request at a time (p99 = the round trip): acks 1 / all
            with 256 records a request, and acks=all with 1000 (1 MB requests);
  latency   1 KiB, 1 partition, acks 1 / all at half of the peak measured above (open loop,
            latency counted from each request's scheduled send time; the round trip alone
            beside it), run LATENCY_RUNS times on fresh topics: the row is the run with the
            median p99, and every run's p99 is kept in the JSON and printed below the table;
  rdkafka   `tools/rdkafka_perf.rs` (librdkafka through the rdkafka crate, batching on)
            producing then consuming, and librdkafka's own `rdkafka_performance` producing
            (client `librdkafka-c`, tools/bench_rdkafka_c.py), so the figures do not only
            flatter our own client. Their produce p50/p99 is the request round trip from
            librdkafka's own statistics (tools/bench_rdkafka_stats.py).

Every cell also records the CPU time the hypervisor stole from this machine while it ran
(`steal` in /proc/stat, as a share of all CPU time): on a shared host, latency tails move
with it. A cell that lost more than 5% is measured again after a pause, within the run's
retry budget, and keeps its attempt with the least steal (tools/bench_steal.py); a figure
still taken under heavy steal says so in its row.

Every produce throughput is payload bytes (record values), as the peers' tools count them;
`ferrolog perf consume` counts the record batches it fetched, headers included, which is
about 1% more than the values at 1 KiB and 10% more at 100 B. Each throughput is
compared with the matching limit from stage 1: acks=1 with buffered sequential write (dd),
acks=all with fsync'd 1 MiB writes, consume with loopback TCP. A produce cell is also
compared with the same disk limit measured again right before it (`limit_near_mb_s`, the
table's "beside" column), and each half-peak acks=all run with a 4 KiB fsync p99 taken right
before it (`fsync_4k_p99_near_ms`; that run's target is this + 1 ms).
"""

import json
import os
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import time

import bench_flushes
import bench_limits
import bench_rdkafka_c
import bench_rdkafka_stats
from bench_limits import free_port, log
from bench_steal import STEAL_PCT, StealMeter

SIZES = [100, 1024]
PARTITIONS = [1, 8]
ACKS = ["1", "all"]
PRODUCERS = [1, 4]
# Produce requests in flight per producer. The Java client allows 5 by default and
# librdkafka 5 once idempotence is on (1,000,000 otherwise); one producer's window,
# 4 x 256 KiB, also bounds how much one acks=all group commit can cover.
IN_FLIGHT = 4
RUN_TIMEOUT_S = 300
LATENCY_RUNS = 3
ONE_IN_FLIGHT_MODE = "produce 1 in flight"
ONE_IN_FLIGHT_1MB_MODE = "produce 1 in flight 1MB"
ONE_IN_FLIGHT = [(ONE_IN_FLIGHT_MODE, "1", 256), (ONE_IN_FLIGHT_MODE, "all", 256),
                 (ONE_IN_FLIGHT_1MB_MODE, "all", 1000)]


class Broker:
    """A release ferrologd on a temporary data directory; stopped and deleted on exit."""

    def __init__(self, root, workdir):
        self.bin = os.path.join(root, "target", "release", "ferrologd")
        self.cli = os.path.join(root, "target", "release", "ferrolog")
        self.workdir = workdir
        self.data = tempfile.mkdtemp(prefix="ferrologd-", dir=workdir)
        self.port = free_port()
        self.addr = f"127.0.0.1:{self.port}"
        self.proc = None
        self.start()

    def start(self):
        """Starts ferrologd on the data directory; returns seconds until it answers a request.

        It binds its listener before it opens (and recovers) the data directory, so a
        connection is accepted at once and only an answer shows the store is open: until
        the nineteenth session this timed the bind alone."""
        started = time.time()
        self.proc = subprocess.Popen(
            [self.bin, "--data-dir", self.data, "--listen", self.addr, "--log-level", "warn"],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.workdir, "ferrologd.log"), "a"))
        wait_until_listening(self.proc, self.port, "ferrologd", started + 120, poll_s=0.005)
        wait_until_answering(self.proc, self.port, started + 120)
        return time.time() - started

    def stop(self, crash=False):
        """SIGTERM (clean shutdown) or SIGKILL (a crash, as far as the data directory can tell)."""
        stop_process(self.proc, crash)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        shutil.rmtree(self.data, ignore_errors=True)

    def ferrolog(self, *args, timeout=RUN_TIMEOUT_S):
        res = subprocess.run([self.cli, "-b", self.addr, "--output", "json", *args],
                             capture_output=True, text=True, timeout=timeout)
        if res.returncode != 0:
            raise RuntimeError(f"ferrolog {' '.join(args)} failed: {res.stderr.strip()[-400:]}")
        return res.stdout

    def create_topic(self, name, partitions):
        self.ferrolog("topic", "create", name, "--partitions", str(partitions))

    def delete_topic(self, name):
        self.ferrolog("topic", "delete", name)

    def evict_topic(self, name):
        """Drop the topic's segment files from the page cache, so the next read comes from disk.

        The broker is restarted around it: pages a process has mapped cannot be dropped, and
        ferrologd maps the segments it reads. Returns the bytes still resident afterwards
        (mincore, through util-linux's fincore; None if it is not installed)."""
        self.stop()
        evicted = 0
        for entry in os.listdir(self.data):
            if not entry.startswith(name + "-") or not os.path.isdir(os.path.join(self.data, entry)):
                continue
            for f in os.listdir(os.path.join(self.data, entry)):
                path = os.path.join(self.data, entry, f)
                fd = os.open(path, os.O_RDONLY)
                try:
                    os.fdatasync(fd)  # dirty pages cannot be dropped
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                    evicted += os.fstat(fd).st_size
                finally:
                    os.close(fd)
        resident = self.resident_bytes(name)
        self.start()
        return resident

    def resident_bytes(self, name):
        """Bytes of the topic's log files in the page cache, or None without fincore."""
        if not shutil.which("fincore"):
            return None
        logs = [os.path.join(self.data, e, f) for e in os.listdir(self.data) if e.startswith(name + "-")
                for f in os.listdir(os.path.join(self.data, e)) if f.endswith(".log")]
        if not logs:
            return 0
        out = subprocess.run(["fincore", "--bytes", "--noheadings", "--output", "RES", *logs],
                             capture_output=True, text=True, timeout=60).stdout
        return sum(int(x) for x in out.split() if x.isdigit())

    def disk_bytes(self):
        total = 0
        for dirpath, _, files in os.walk(self.data):
            for f in files:
                try:
                    total += os.path.getsize(os.path.join(dirpath, f))
                except OSError:
                    pass
        return total

    def cpu_s(self):
        """CPU seconds (user + system) the broker has used so far."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_kib(self, field="VmRSS"):
        """Resident memory; field="RssAnon" leaves out mapped segment pages (page cache the
        kernel can take back at any time, counted in VmRSS only because they are mapped)."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        return 0


def wait_until_listening(proc, port, name, deadline, poll_s):
    """Returns once `proc` accepts TCP connections on `port`; raises if it exits or the deadline passes."""
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}")
            time.sleep(poll_s)
    proc.kill()
    raise RuntimeError(f"{name} did not start listening on port {port} in time")


# ApiVersions v0, correlation id 1, null client id: the smallest request every version answers.
API_VERSIONS_V0 = struct.pack(">ihhih", 10, 18, 0, 1, -1)


def wait_until_answering(proc, port, deadline):
    """Returns once the broker on `port` answers an ApiVersions request (its store is open)."""
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=max(deadline - time.time(), 0.1)) as s:
                s.sendall(API_VERSIONS_V0)
                if len(s.recv(4)) > 0:
                    return
        except OSError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"ferrologd exited with {proc.returncode}")
        time.sleep(0.005)
    proc.kill()
    raise RuntimeError("ferrologd did not answer a request in time")


def stop_process(proc, crash=False):
    """SIGTERM and up to 60 s to exit (then SIGKILL); SIGKILL at once if `crash`."""
    if crash:
        proc.kill()
    else:
        proc.terminate()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# ---------------------------------------------------------------- one cell each

def records_for(size, small, large):
    """The records a cell of `size`-byte records writes: the profile's count for 100 B cells
    (`small`) or for 1 KiB ones (`large`)."""
    return small if size <= 100 else large


def mib_of(records, size):
    """The MiB of record values a cell writes: what its beside measurement writes too."""
    return records * size / 2**20


def beside_limit(broker, acks, mib, produce):
    """Runs `produce()` right after a measurement of the disk limit the cell is held to,
    writing the cell's `mib` MiB (tools/bench_limits.py: the disk's pace moves within a run,
    and the page cache's cost depends on the memory it fills), and records it in the cell."""
    near = bench_limits.near(broker.workdir, bench_limits.kind_of("produce", acks), mib)
    r = produce()
    r["limit_near_mb_s"] = near
    return r


def perf_produce(broker, topic, size, acks, producers, records, rate=None, in_flight=IN_FLIGHT, batch=None):
    """`producers` concurrent `ferrolog perf produce` processes; records/s summed over the
    wall time of the slowest, latency percentiles the worst of the producers."""
    per = max(1, records // producers)
    batch = batch or (1000 if size <= 100 else 256)  # ~100-256 KiB requests, as a batching client sends
    cmd = ["perf", "produce", topic, "--records", str(per), "--record-size", str(size),
           "--batch-size", str(batch), "--concurrency", str(in_flight), "--acks", acks]
    if rate:
        cmd += ["--rate", str(int(rate / producers))]
    started, cpu, steal = time.time(), broker.cpu_s(), StealMeter()
    flushes = bench_flushes.FlushMeter(broker.workdir)
    procs = [subprocess.Popen([broker.cli, "-b", broker.addr, "--output", "json", *cmd],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(producers)]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=RUN_TIMEOUT_S)
        if p.returncode != 0:
            raise RuntimeError(f"perf produce failed: {err.strip()[-400:]}")
        outs.append(json.loads(out))
    wall = max(o["seconds"] for o in outs)
    total_records = sum(o["records"] for o in outs)
    total_bytes = sum(o["bytes"] for o in outs)
    worst = lambda q, key="latency_ms": max(o[key][q] for o in outs)
    out = {"records": total_records, "bytes": total_bytes, "seconds": wall, "in_flight": in_flight,
           "records_per_request": batch,
           "wall_seconds": time.time() - started, "steal_pct": steal.share(),
           "broker_cpu_s_per_gb": (broker.cpu_s() - cpu) / (total_bytes / 1e9),
           "records_s": total_records / wall, "mb_s": total_bytes / 1e6 / wall,
           "p50_ms": worst("p50"), "p99_ms": worst("p99"), "p99_9_ms": worst("p99_9")}
    flushed = flushes.count()
    if acks == "all" and flushed:
        out["device_flushes"] = flushed
        out["kib_per_flush"] = total_bytes / 1024 / flushed
    if all("round_trip_ms" in o for o in outs):
        out["round_trip_p50_ms"] = worst("p50", "round_trip_ms")
        out["round_trip_p99_ms"] = worst("p99", "round_trip_ms")
    return out


def perf_consume(broker, topic):
    cpu, steal = broker.cpu_s(), StealMeter()
    out = json.loads(broker.ferrolog("perf", "consume", topic))
    return {"records": out["records"], "bytes": out["bytes"], "seconds": out["seconds"],
            "steal_pct": steal.share(),
            "broker_cpu_s_per_gb": (broker.cpu_s() - cpu) / (out["bytes"] / 1e9),
            "records_s": out["records_per_sec"], "mb_s": out["mb_per_sec"], "rss_kib": broker.rss_kib()}


RDKAFKA_RATE = re.compile(r"= ([\d.]+) records/s, ([\d.]+) MB/s; client cpu ([\d.]+) s \(([\d.]+) cores\)")


def rdkafka_perf(exe, broker, topic, size, partitions, acks, records):
    res = subprocess.run([exe, "--bootstrap", broker.addr, "--topic", topic, "--partitions", str(partitions),
                          "--records", str(records), "--record-bytes", str(size), "--acks", acks,
                          "--stats-interval-ms", str(bench_rdkafka_stats.INTERVAL_MS)],
                         capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    if res.returncode != 0:
        raise RuntimeError(f"rdkafka_perf failed: {res.stderr.strip()[-400:]}")
    found = {}
    for line in res.stdout.splitlines():
        # "produce: N records, X MB in S s = R records/s, M MB/s; client cpu C s (K cores)"
        head, _, tail = line.partition(":")
        m = RDKAFKA_RATE.search(tail)
        if not m:
            continue
        found[head.strip()] = {"records_s": float(m.group(1)), "mb_s": float(m.group(2)),
                               "client_cpu_s": float(m.group(3)), "client_cores": float(m.group(4))}
    if "produce" in found:
        seconds = records / found["produce"]["records_s"]
        found["produce"].update(bench_rdkafka_stats.round_trip(res.stdout, seconds) or {})
    return found


# ---------------------------------------------------------------- the matrix

def on_fresh_topic(broker, retries, topic, partitions, measure):
    """Creates `topic` and measures a cell on it through `retries.quietest`. Before another
    attempt the topic is deleted and created again, so every attempt writes to an empty
    topic, as the first did, and the cell holds one attempt's data (as tools/bench_disk.py
    budgets it). The caller deletes the topic when done with it."""
    broker.create_topic(topic, partitions)

    def reset():
        broker.delete_topic(topic)
        broker.create_topic(topic, partitions)

    return retries.quietest(measure, topic, reset=reset)


def run_matrix(root, workdir, prof, limits, retries):
    if prof.get("build", True):
        build(root)
    runs = []
    small, large = prof["records_small"], prof["records_large"]
    with Broker(root, workdir) as broker:
        log(f"ferrologd on {broker.addr}, data in {broker.data}")
        n = 0
        latency_only = prof.get("latency_only", False)
        for size in [1024] if latency_only else SIZES:
            for partitions in [1] if latency_only else PARTITIONS:
                for acks in ACKS:
                    for producers in [1] if latency_only else PRODUCERS:
                        n += 1
                        topic = f"p{n}-{size}b-{partitions}p-acks{acks}-{producers}w"
                        records = records_for(size, small, large)
                        r = on_fresh_topic(broker, retries, topic, partitions, lambda: beside_limit(
                            broker, acks, mib_of(records, size), lambda: perf_produce(
                                broker, topic, size, acks, producers, records)))
                        runs.append(cell("produce", "ferrolog", size, partitions, acks, producers, r))
                        log(f"{topic}: {r['records_s']:.0f} records/s, {r['mb_s']:.1f} MB/s, p99 {r['p99_ms']:.2f} ms")
                        if acks == "1" and producers == 1 and not latency_only:
                            c = retries.quietest(lambda: perf_consume(broker, topic), f"{topic} consume (cache)")
                            runs.append(cell("consume-cache", "ferrolog", size, partitions, "-", 1, c))
                            log(f"{topic}: consume (cache) {c['mb_s']:.1f} MB/s")

                            def from_disk():
                                resident = broker.evict_topic(topic)
                                log(f"{topic}: evicted; {resident} bytes of its logs still cached")
                                return perf_consume(broker, topic)

                            c = retries.quietest(from_disk, f"{topic} consume (disk)")
                            runs.append(cell("consume-disk", "ferrolog", size, partitions, "-", 1, c))
                            log(f"{topic}: consume (disk) {c['mb_s']:.1f} MB/s")
                        broker.delete_topic(topic)
        runs += one_in_flight(broker, large, retries)
        runs += latency_at_half_peak(broker, runs, large, retries)
        if not latency_only:
            runs += rdkafka_cells(root, broker, small, large, retries)
        log(f"data directory after the matrix: {broker.disk_bytes() / 1e6:.1f} MB")
    return runs


def one_in_flight(broker, records, retries):
    """1 KiB, 1 partition, one request at a time, so no request waits behind another of its
    connection and p99 is the round trip alone (the peer's bench tool sends this way): acks 1
    and all with 256 records a request, and acks=all with 1000 (1 MB requests, the largest a
    default topic takes; the peer's fsync is per request only from 1 MiB up)."""
    out = []
    for mode, acks, batch in ONE_IN_FLIGHT:
        topic = f"one-in-flight-acks{acks}-{batch}"
        r = on_fresh_topic(broker, retries, topic, 1, lambda: beside_limit(
            broker, acks, mib_of(records, 1024), lambda: perf_produce(
                broker, topic, 1024, acks, 1, records, in_flight=1, batch=batch)))
        log(f"{topic}: {r['records_s']:.0f} records/s, {r['mb_s']:.1f} MB/s, p99 {r['p99_ms']:.2f} ms")
        broker.delete_topic(topic)
        out.append(cell(mode, "ferrolog", 1024, 1, acks, 1, r))
    return out


def latency_at_half_peak(broker, runs, records, retries):
    out = []
    for acks in ACKS:
        peak = next(r for r in runs if r["mode"] == "produce" and r["size"] == 1024 and r["partitions"] == 1
                    and r["acks"] == acks and r["producers"] == 1)
        rate = peak["records_s"] / 2
        tries = []
        for n in range(LATENCY_RUNS):
            topic = f"half-peak-acks{acks}-{n}"

            def measure():
                # acks=all's target is the 4 KiB fsync p99 + 1 ms: take it beside each run too.
                fsync_p99 = bench_limits.near_fsync_p99(broker.workdir) if acks == "all" else None
                half = max(records // 2, 1000)
                r = beside_limit(broker, acks, mib_of(half, 1024),
                                 lambda: perf_produce(broker, topic, 1024, acks, 1, half, rate=rate))
                return dict(r, fsync_4k_p99_near_ms=fsync_p99)

            r = on_fresh_topic(broker, retries, topic, 1, measure)
            fsync_p99 = r["fsync_4k_p99_near_ms"]
            log(f"{topic}: {r['records_s']:.0f} records/s (asked {rate:.0f}), p99 {r['p99_ms']:.2f} ms"
                f" (round trip {r.get('round_trip_p99_ms', float('nan')):.2f} ms), steal {r['steal_pct'] or 0:.1f}%"
                + (f", 4 KiB fsync p99 beside it {fsync_p99:.3f} ms" if fsync_p99 else ""))
            broker.delete_topic(topic)
            tries.append(r)
        tries.sort(key=lambda r: r["p99_ms"])
        median = dict(tries[len(tries) // 2])
        median["runs"] = [{k: r.get(k) for k in ("p50_ms", "p99_ms", "p99_9_ms", "round_trip_p99_ms", "steal_pct",
                                                   "mb_s", "limit_near_mb_s", "fsync_4k_p99_near_ms",
                                                   "attempts_steal_pct")}
                          for r in tries]
        out.append(cell("produce@half-peak", "ferrolog", 1024, 1, acks, 1, median))
    return out


def rdkafka_cells(root, broker, small, large, retries):
    out = []
    cells = [(size, partitions, acks) for size in SIZES for partitions, acks in [(1, "1"), (8, "1"), (1, "all")]]
    perf_exe = os.path.join(root, "target", "release", "examples", "rdkafka_perf")
    if not os.path.exists(perf_exe):
        log("target/release/examples/rdkafka_perf not built: librdkafka rows skipped")
        return out
    for size, partitions, acks in cells:
        topic = f"rdkafka-{size}b-{partitions}p-acks{acks}"
        records = records_for(size, small, large)

        def produce_consume():
            near = bench_limits.near(broker.workdir, bench_limits.kind_of("produce", acks), mib_of(records, size))
            steal = StealMeter()
            found = rdkafka_perf(perf_exe, broker, topic, size, partitions, acks, records)
            # Over the produce and the consume: one process runs both.
            return {"found": found, "near": near, "steal_pct": steal.share()}

        # rdkafka_perf creates its topic: a new attempt needs it gone.
        run = retries.quietest(produce_consume, topic, reset=lambda: broker.delete_topic(topic))
        found, near, stolen = run["found"], run["near"], run["steal_pct"]
        again = {"attempts_steal_pct": run["attempts_steal_pct"]} if "attempts_steal_pct" in run else {}
        prod = found.get("produce")
        cons = found.get("consume (from the first record)")
        if prod:
            out.append(cell("produce", "librdkafka", size, partitions, acks, 1,
                            {**prod, "records": records, "limit_near_mb_s": near, "steal_pct": stolen, **again}))
        if cons:
            out.append(cell("consume-cache", "librdkafka", size, partitions, "-", 1,
                            {**cons, "records": records, "steal_pct": stolen, **again}))
        log(f"{topic}: {prod} / {cons}")
        broker.delete_topic(topic)
    exe = bench_rdkafka_c.build(root, log)
    for size, partitions, acks in cells if exe else []:
        topic = f"rdkafka-c-{size}b-{partitions}p-acks{acks}"
        records = records_for(size, small, large)

        def produce_c():
            # Steal over the produce alone, as the other cells count it, not over the
            # disk-limit measurement beside_limit takes first.
            steal = StealMeter()
            r = bench_rdkafka_c.produce(exe, broker.addr, topic, size, partitions, acks,
                                        records, RUN_TIMEOUT_S)
            r["steal_pct"] = steal.share()
            return r

        r = on_fresh_topic(broker, retries, topic, partitions,
                           lambda: beside_limit(broker, acks, mib_of(records, size), produce_c))
        out.append(cell("produce", "librdkafka-c", size, partitions, acks, 1, r))
        log(f"{topic}: {r['records_s']:.0f} records/s, {r['mb_s']:.1f} MB/s, client {r['client_cores']:.2f} cores")
        broker.delete_topic(topic)
    return out


def startup_and_memory(root, workdir, prof):
    """Reopen time after a clean shutdown and after a crash, RSS while a consumer reads the
    whole topic, and the RSS cost of 1,000 idle partitions. Sized by the profile (quick: 1 GB
    in 10 segments, full: 10 GB in 100); the targets are stated for 10 GB in 100 segments."""
    gb, segments = prof["startup_gb"], prof["startup_segments"]
    segment_bytes = int(gb * 1e9 / segments)
    out = {"data_gb": gb, "segments": segments}
    with Broker(root, workdir) as broker:
        topic = "startup"
        broker.ferrolog("topic", "create", topic, "--partitions", "1", "--config", f"segment.bytes={segment_bytes}")
        perf_produce(broker, topic, 1024, "1", 1, int(gb * 1e9 / 1024))
        broker.stop()
        out["reopen_clean_s"] = broker.start()
        # A crash with a small unflushed tail: recovery should cost the tail, not the data.
        perf_produce(broker, topic, 1024, "1", 1, 10_000)
        broker.stop(crash=True)
        out["reopen_after_crash_s"] = broker.start()
        out["rss_idle_kib"] = broker.rss_kib()
        sampler = RssSampler(broker)
        c = perf_consume(broker, topic)
        out["rss_max_while_consuming_kib"], out["rss_anon_max_while_consuming_kib"] = sampler.stop()
        out["consume_mb_s"] = c["mb_s"]
        broker.delete_topic(topic)
        time.sleep(1)
        before = broker.rss_kib()
        broker.create_topic("idle", 1000)
        time.sleep(2)
        out["rss_1000_idle_partitions_kib"] = broker.rss_kib() - before
        out["idle_partition_dirs"] = sum(1 for d in os.listdir(broker.data) if d.startswith("idle-"))
        broker.delete_topic("idle")
    log(f"startup/memory: {out}")
    return out


class RssSampler:
    """Samples the broker's RSS every 20 ms on a thread until stopped; returns the maximum."""

    def __init__(self, broker):
        import threading
        self.broker, self.done = broker, threading.Event()
        self.max_kib, self.anon_max_kib = broker.rss_kib(), broker.rss_kib("RssAnon")
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.done.wait(0.02):
            self.max_kib = max(self.max_kib, self.broker.rss_kib())
            self.anon_max_kib = max(self.anon_max_kib, self.broker.rss_kib("RssAnon"))

    def stop(self):
        self.done.set()
        self.thread.join()
        return self.max_kib, self.anon_max_kib


def print_startup(s):
    print(f"\nStart-up and memory ({s['data_gb']} GB in {s['segments']} segments)")
    print(f"  reopen after clean shutdown   {s['reopen_clean_s']:7.3f} s (process start to its first answer)")
    print(f"  reopen after a crash (SIGKILL, 10 MB unflushed tail) {s['reopen_after_crash_s']:7.3f} s")
    print(f"  RSS idle after reopen          {s['rss_idle_kib'] / 1024:7.1f} MiB")
    print(f"  RSS max while consuming it all {s['rss_max_while_consuming_kib'] / 1024:7.1f} MiB"
          f" (of which anonymous {s['rss_anon_max_while_consuming_kib'] / 1024:.1f} MiB;"
          f" the rest is mapped segment pages) at {s['consume_mb_s']:.0f} MB/s")
    print(f"  RSS of 1,000 idle partitions   {s['rss_1000_idle_partitions_kib'] / 1024:7.1f} MiB"
          f" ({s['idle_partition_dirs']} partition directories)")


def cell(mode, client, size, partitions, acks, producers, r):
    return {"mode": mode, "client": client, "size": size, "partitions": partitions, "acks": acks,
            "producers": producers, **r}


def build(root):
    log("building release ferrologd, ferrolog and the rdkafka_perf example (own target/)")
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "ferrolog-broker", "-p", "ferrolog-cli"],
                   cwd=root, check=True, timeout=3600)
    if os.path.exists(os.path.join(root, "tools", "rdkafka_perf.rs")):
        subprocess.run(["cargo", "build", "--release", "-q", "--example", "rdkafka_perf"],
                       cwd=root, check=True, timeout=3600)


# ---------------------------------------------------------------- the table

def limit_for(run, limits):
    kind = bench_limits.kind_of(run["mode"], run["acks"])
    return kind, limits[bench_limits.FULL_KEY[kind]]["mb_s"]


def near_share(run):
    """The cell's MB/s as a percentage of its limit measured beside it, or None without one."""
    near = run.get("limit_near_mb_s")
    return 100.0 * run["mb_s"] / near if near else None


def near_pct(r):
    share = near_share(r)
    return f"{share:5.1f}%" if share is not None else " " * 6


def steal(r):
    share = r.get("steal_pct")
    return f"{share:6.1f}%" if share is not None else " " * 7


def print_steal_footer(runs):
    """A line for the cells measured again under steal, and one when cells kept more than
    STEAL_PCT steal all the same: how many, and the worst."""
    # A half-peak row is the median of its runs, each measured again on its own.
    again = [t["attempts_steal_pct"] for r in runs for t in r.get("runs", [r]) if t.get("attempts_steal_pct")]
    if again:
        print(f"  measured again: {len(again)} cells or runs lost more than {STEAL_PCT:.0f}% of the CPU to the hypervisor"
              f" and were run again ({sum(len(a) - 1 for a in again)} more attempts); each row keeps its"
              " attempt with the least steal")
    stolen = [r["steal_pct"] for r in runs if (r.get("steal_pct") or 0) > STEAL_PCT]
    if stolen:
        print(f"  steal: {len(stolen)} of {len(runs)} cells lost more than {STEAL_PCT:.0f}% of the CPU to the"
              f" hypervisor (up to {max(stolen):.0f}%); their figures are the host's as much as Ferrolog's,"
              " and --compare gives them no verdict: run again when the host is quieter")


def print_group_commits(runs):
    """A line for the ferrolog acks=all cells: the disk's cache flushes (about one per group
    commit) and the record bytes each covered, against the bytes a cell keeps in flight."""
    cells = [f"{r['size']} B {r['partitions']}p {r['producers']}w"
             + (" half-peak" if r["mode"] == "produce@half-peak" else "")
             + (f" 1 in flight ({r['records_per_request']} a request)" if r["mode"].startswith(ONE_IN_FLIGHT_MODE) else "")
             + f" {r['kib_per_flush']:.0f}"
             for r in runs if r.get("kib_per_flush") and r["client"] == "ferrolog"]
    if cells:
        print("  acks=all group commits: KiB of records per disk cache flush (one per fsync; each producer"
              f" keeps {IN_FLIGHT} requests in flight): " + ", ".join(cells))


def print_table(runs, limits):
    print("\nBroker (produce: payload bytes; ferrolog consume: fetched batch bytes, ~1% over the values at 1 KiB; latency = produce request round trip, or at half peak from each request's"
          " scheduled send time; for librdkafka, the round trip in its own statistics, from the request's last byte"
          " written, p50 and p99 only;"
          " steal = CPU time the hypervisor took; % of limit = of the matching limit at the"
          " start of the run; beside = of the same limit measured again right before the cell)")
    head = (f"{'mode':<24}{'client':<13}{'size':>5}{'parts':>6}{'acks':>5}{'prod':>5}"
            f"{'records/s':>12}{'MB/s':>9}{'p50 ms':>8}{'p99 ms':>8}{'p99.9':>8}{'cpu s/GB':>9}{'steal':>7}"
            f"  {'% of limit':<16}{'beside':>7}")
    print(head)
    print("-" * len(head))
    for r in runs:
        name, limit = limit_for(r, limits)
        num = lambda k, w: f"{r[k]:{w}.2f}" if k in r else " " * w
        print(f"{r['mode']:<24}{r['client']:<13}{r['size']:>5}{r['partitions']:>6}{r['acks']:>5}{r['producers']:>5}"
              f"{r['records_s']:>12.0f}{r['mb_s']:>9.1f}{num('p50_ms', 8)}{num('p99_ms', 8)}{num('p99_9_ms', 8)}"
              f"{num('broker_cpu_s_per_gb', 9)}{steal(r)}  {100 * r['mb_s'] / limit:5.1f}% {name:<9} {near_pct(r)}")
    for r in runs:
        if "runs" in r:
            each = ", ".join(f"{t['p99_ms']:.2f} (round trip {t['round_trip_p99_ms'] or 0:.2f}, steal {t['steal_pct'] or 0:.0f}%"
                             + (f", target {t['fsync_4k_p99_near_ms'] + 1:.2f}" if t.get("fsync_4k_p99_near_ms") else "")
                             + ")" for t in r["runs"])
            print(f"  {r['mode']} acks={r['acks']}: p99 ms of each run: {each}")
    busy = [f"{r['client']} {r['size']} B {r['partitions']}p acks={r['acks']} {r['client_cores']:.2f}"
            for r in runs if r["client"].startswith("librdkafka") and r["mode"] == "produce" and "client_cores" in r]
    if busy:
        print("  librdkafka-c = librdkafka's own examples/rdkafka_performance.c; librdkafka = through the rdkafka crate")
        print(f"  librdkafka's own CPU while producing, in cores (of {os.cpu_count()}, shared with the broker): "
              + ", ".join(busy))
    print_steal_footer(runs)
    print_group_commits(runs)
    deep = [f"{r['client']} {r['size']} B {r['partitions']}p acks={r['acks']} {r['in_flight_mean']:.1f}"
            for r in runs if r.get("in_flight_mean") is not None]
    if deep:
        print("  librdkafka's produce requests in flight on its connection, on average (its round trip includes"
              " the wait behind them; ferrolog perf keeps 4 a producer): " + ", ".join(deep))
