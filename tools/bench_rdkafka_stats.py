"""The produce round trip as librdkafka sees it, for tools/bench's librdkafka rows.

Both librdkafka clients print librdkafka's statistics to stdout while they
produce (`statistics.interval.ms`, one JSON object a line): `tools/rdkafka_perf.rs`
from its stats callback, `rdkafka_performance` with `-T`. For each broker the
object has `rtt`, the round trips of the requests answered since the previous
object (librdkafka's `rd_avg`, a histogram at two significant digits). It is not
quite the span `ferrolog perf` calls the round trip:
- its clock starts when librdkafka's write of the request's last byte returns,
  where `ferrolog perf`'s starts before the first, so a large request's
  transfer is partly outside it;
- librdkafka keeps many requests in flight on its one connection, and a broker
  answers a connection's requests in order, so it includes the wait behind the
  requests sent before it (`in_flight_mean` tells how many there were).
`rdkafka_perf` waits for the statistics after its last request;
`rdkafka_performance` exits without them, so up to INTERVAL_MS at the end of
its run goes uncounted (`rtt_requests` says how many requests were counted).

A window publishes only some percentiles, so windows cannot be merged exactly.
Each is read as a distribution linear between its published points (min, p50,
p75, p90, p95, p99, p99.99, max), and the run's percentile is that of their
mixture, each window weighted by its number of requests.
"""

import json

# librdkafka's statistics interval while producing, given to both clients.
INTERVAL_MS = 250

# A window's published percentiles, as (field, cumulative share).
POINTS = [("min", 0.0), ("p50", 0.5), ("p75", 0.75), ("p90", 0.9), ("p95", 0.95),
          ("p99", 0.99), ("p99_99", 0.9999), ("max", 1.0)]


def windows(stdout):
    """The non-empty `rtt` windows of the brokers proper (not the bootstrap
    connection, whose node id is -1) in the statistics lines of `stdout`."""
    found = []
    for line in stdout.splitlines():
        if not line.startswith("{"):
            continue
        try:
            stats = json.loads(line)
        except ValueError:
            continue
        for broker in (stats.get("brokers") or {}).values():
            window = broker.get("rtt") or {}
            if broker.get("nodeid", -1) >= 0 and window.get("cnt", 0) > 0:
                found.append(window)
    return found


def share_below(window, us):
    """The share of `window`'s requests under `us` microseconds, linear between its points."""
    last_x, last_q = None, 0.0
    for field, q in POINTS:
        x = window[field]
        if us < x:
            if last_x is None or x == last_x:
                return last_q
            return last_q + (q - last_q) * (us - last_x) / (x - last_x)
        last_x, last_q = x, q
    return 1.0


def percentile_us(found, q):
    total = sum(w["cnt"] for w in found)
    mixed = lambda us: sum(w["cnt"] * share_below(w, us) for w in found) / total
    lo, hi = 0.0, float(max(w["max"] for w in found))
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if mixed(mid) < q else (lo, mid)
    return hi


def round_trip(stdout, seconds):
    """p50 and p99 of the produce round trip in ms, the requests counted, and how
    many were in flight on average over `seconds` (the summed round trips over
    the run's time); None when the output has no statistics with requests."""
    found = windows(stdout)
    if not found:
        return None
    return {"p50_ms": percentile_us(found, 0.5) / 1000, "p99_ms": percentile_us(found, 0.99) / 1000,
            "rtt_requests": sum(w["cnt"] for w in found), "rtt_windows": len(found),
            "in_flight_mean": sum(w["sum"] for w in found) / 1e6 / seconds if seconds > 0 else None}
