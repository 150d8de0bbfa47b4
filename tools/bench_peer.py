"""Stage 4 of tools/bench (with --peer-iggy DIR): the fastest peer, on the same machine, in the same run.

The peer is Apache Iggy (a Rust streaming server with its own binary protocol), driven by its
own bench tool, `iggy-bench`. Neither is part of this repository: build `iggy-server` and
`iggy-bench` in release mode from Iggy's repository and pass the directory holding them.

Each peer cell mirrors Ferrolog cells of the matrix, with the same request shape (records per
request and record size), one producer or consumer and one partition:
  produce   100 B (1000 a request) and 1 KiB (256 a request);
  fsync     1 KiB with Iggy's `enforce_fsync` topic option, at 256 and at 1024 records a
            request. Iggy keeps produced messages in memory and writes (and then fsyncs) them
            once 1024 messages or 1 MiB have gathered, so at 256 a request three requests in
            four are acknowledged before they reach the disk. Only the 1024 cell is durable
            per request like acks=all; it is compared with Ferrolog's 1 MB requests (1000
            records, the largest a default topic takes);
  consume   1 KiB, everything the 1 KiB produce wrote, from the page cache.

`iggy-bench` sends one request at a time per producer and times each from its send; `ferrolog
perf` keeps 4 in flight in the matrix. So each produce cell is compared with the matrix cell
(throughput) and with Ferrolog's "1 in flight" cell (throughput and p99, the same client
model). `iggy-bench`'s rate limit lets bursts through (asked for 338 MB/s, it sent 470-710), so
latency at half peak is not compared.

Throughputs are payload bytes, as both tools count them. The server runs with its shipped
configuration except for the data directory, one TCP listener on a free loopback port, no
other listeners, and fixed root credentials.
"""

import os
import re
import shutil
import subprocess
import tempfile
import time

from bench_broker import (ONE_IN_FLIGHT_1MB_MODE, ONE_IN_FLIGHT_MODE, cell, free_port, log, stop_process,
                          wait_until_listening)
from bench_steal import StealMeter

RUN_TIMEOUT_S = 300
RESULT = re.compile(
    r"Total throughput: ([\d.]+) MB/s, (\d+) messages/s.*?p50 latency: ([\d.]+) ms.*?"
    r"p99 latency: ([\d.]+) ms, p999 latency: ([\d.]+) ms")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
BINARIES = ("iggy-server", "iggy-bench")


def missing_binaries(bindir):
    """Names of the peer's binaries that `bindir` lacks or cannot execute."""
    return [b for b in BINARIES if not os.access(os.path.join(bindir, b), os.X_OK)]


class IggyServer:
    """iggy-server on a temporary data directory; stopped and deleted on exit."""

    def __init__(self, bindir, workdir):
        missing = missing_binaries(bindir)
        if missing:
            raise RuntimeError(f"{bindir}: no executable {' or '.join(missing)}")
        self.server, self.bench = (os.path.join(bindir, b) for b in BINARIES)
        self.workdir = workdir
        self.data = tempfile.mkdtemp(prefix="iggy-", dir=workdir)
        self.port = free_port()
        self.addr = f"127.0.0.1:{self.port}"
        env = dict(os.environ, IGGY_SYSTEM_PATH=self.data, IGGY_TCP_ADDRESS=self.addr,
                   IGGY_HTTP_ENABLED="false", IGGY_QUIC_ENABLED="false", IGGY_WEBSOCKET_ENABLED="false",
                   IGGY_ROOT_USERNAME="iggy", IGGY_ROOT_PASSWORD="iggy")
        self.proc = subprocess.Popen([self.server], env=env, stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(workdir, "iggy-server.log"), "a"))
        wait_until_listening(self.proc, self.port, "iggy-server", time.time() + 60, poll_s=0.05)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        stop_process(self.proc)
        shutil.rmtree(self.data, ignore_errors=True)

    def run(self, kind, size, per_request, records, fsync=False):
        """One iggy-bench run on stream 1 (recreated unless consuming); returns throughput and latency."""
        cmd = [self.bench, "-m", str(size), "-P", str(per_request), "-T", f"{records * size}B"]
        if fsync:
            cmd.append("--enforce-fsync")
        actor = "--consumers" if kind == "pinned-consumer" else "--producers"
        cmd += [kind, "--streams", "1", actor, "1", "tcp", "--server-address", self.addr]
        steal = StealMeter()
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
        text = ANSI.sub("", res.stdout + res.stderr)
        found = RESULT.search(text)
        if res.returncode != 0 or not found:
            raise RuntimeError(f"iggy-bench {' '.join(cmd[1:])} failed ({res.returncode}): {text.strip()[-400:]}")
        rec_s = float(found.group(2))
        return {"records": records, "records_s": rec_s, "mb_s": rec_s * size / 1e6,
                "p50_ms": float(found.group(3)), "p99_ms": float(found.group(4)),
                "p99_9_ms": float(found.group(5)), "steal_pct": steal.share()}


def run_peer(bindir, workdir, prof, retries):
    """The peer's cells, in the order they reuse data: the 1 KiB consume reads what the 1 KiB
    produce just wrote. A cell under heavy steal is measured again as ours are (iggy-bench
    recreates its stream for each producing run)."""
    small, large = prof["records_small"], prof["records_large"]
    latency_only = prof.get("latency_only", False)
    out = []

    def record(mode, size, acks, measure):
        r = retries.quietest(measure, f"iggy {mode} {size} B acks={acks}")
        out.append(cell(mode, "iggy", size, 1, acks, 1, r))
        log(f"iggy {mode} {size} B acks={acks}: {r['records_s']:.0f} records/s, {r['mb_s']:.1f} MB/s,"
            f" p99 {r['p99_ms']:.2f} ms, steal {r['steal_pct'] or 0:.1f}%")

    with IggyServer(bindir, workdir) as iggy:
        log(f"iggy-server on {iggy.addr}, data in {iggy.data}")
        if not latency_only:
            record("produce", 100, "1", lambda: iggy.run("pinned-producer", 100, 1000, small))
        record("produce", 1024, "1", lambda: iggy.run("pinned-producer", 1024, 256, large))
        if not latency_only:
            record("consume-cache", 1024, "-", lambda: iggy.run("pinned-consumer", 1024, 256, large))
        record("produce", 1024, "all", lambda: iggy.run("pinned-producer", 1024, 256, large, fsync=True))
        record(ONE_IN_FLIGHT_1MB_MODE, 1024, "all", lambda: iggy.run("pinned-producer", 1024, 1024, large, fsync=True))
    return out


def matching(runs, peer, mode):
    """The Ferrolog cell of `mode` that a peer cell mirrors, or None."""
    for r in runs:
        if (r["client"] == "ferrolog" and r["mode"] == mode and r["size"] == peer["size"]
                and r["partitions"] == 1 and r["acks"] == peer["acks"] and r["producers"] == 1):
            return r
    return None


def print_comparison(runs, peer_runs):
    print("\nAgainst the peer, same run (Apache Iggy with iggy-bench; 1 partition, 1 producer or consumer,"
          " same records per request; ratio = Ferrolog / Iggy)")
    head = f"{'cell':<50}{'Ferrolog':>12}{'Iggy':>12}{'ratio':>8}"
    print(head)
    print("-" * len(head))

    def row(what, ours, theirs, fmt):
        print(f"{what:<50}{ours:>12{fmt}}{theirs:>12{fmt}}{ours / theirs:>8.2f}")

    for p in peer_runs:
        label = "produce 1MB" if p["mode"] == ONE_IN_FLIGHT_1MB_MODE else p["mode"]
        what = f"{label} {p['size']} B" + (f" acks={p['acks']}" if p["acks"] != "-" else "")
        ours = matching(runs, p, p["mode"])
        if ours and p["size"] == 100:
            row(what + " records/s", ours["records_s"], p["records_s"], ".0f")
        elif ours and "in_flight" in ours:
            row(what + f" MB/s, {ours['in_flight']} in flight", ours["mb_s"], p["mb_s"], ".1f")
        elif ours:
            row(what + " MB/s", ours["mb_s"], p["mb_s"], ".1f")
        one = matching(runs, p, ONE_IN_FLIGHT_MODE) if p["mode"] == "produce" else None
        if one:
            row(what + " MB/s, 1 in flight", one["mb_s"], p["mb_s"], ".1f")
        if one or p["mode"] == ONE_IN_FLIGHT_1MB_MODE:
            row(what + " p99 ms, 1 in flight", (one or ours)["p99_ms"], p["p99_ms"], ".2f")
    print("  Iggy's acks=all-like cell at 256 records a request writes and fsyncs every fourth request only"
          " (its 1024-message / 1 MiB threshold);\n  the 1MB cell fsyncs every request in both (1000 records a request for Ferrolog, 1024 for Iggy).")
