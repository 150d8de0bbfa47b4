"""`tools/bench --compare OLD.json NEW.json`: two runs of the bench, cell by cell.

Absolute figures on a shared machine move with the disk's phase and the
hypervisor's steal, and the limits measured beside them move too (`dd` gave
779 to 1274 MB/s on the same disk in one day, and the median cell of two
runs of the same engine differed by 18-24%). A slower or faster host moves every cell,
a change in the code moves some. So each cell's change in MB/s is taken
relative to the run-wide drift, the median change over the broker's cells
measured against the same limit (dd, fsync'd writes or loopback), and a
cell gets a verdict only when that relative change passes MOVED_PCT and neither run lost more than STEAL_PCT of the CPU to the
hypervisor while it ran. Each throughput is also shown as a share of the
limit its own run measured (the table's `% of limit`). The cells held to
fsync'd writes are all acks=all cells, so a change to the group commit would
move them together, and their own median would call it drift. When both runs
measured that limit again right before each cell (`limit_near_mb_s`), the
median change of those measurements (the disk's drift) is printed beside,
and a warning says when the cells the disk bounds (at least DISK_BOUND_PCT
of the limit beside them, in both runs) moved more than MOVED_PCT against
it. It is not used for verdicts: a single measurement beside a cell is noisy (489
to 965 MB/s within one run), and many acks=all cells are bound by the
client or the CPU rather than the disk (100 B records, librdkafka), so
holding them to the disk's drift gave false verdicts. Broker CPU per GB,
the least noisy figure the bench takes, gets its own note past
CPU_MOVED_PCT. p99 latency, the peer's cells and the start-up stage are
shown beside, without verdicts.

Reading two files is all it does: nothing is built, started or measured.
"""

import json

from bench_broker import limit_for, near_share
from bench_limits import FSYNC_1M
from bench_steal import STEAL_PCT

# Three quick-profile runs of the same engine (the sixth, eighth and ninth
# sessions') compared pairwise: relative to the drift, 90% of the cells
# stayed within 15-26% of each other, the farthest 38%. So a verdict is a
# reason to run the cell again, not proof.
MOVED_PCT = 30.0
# Broker CPU per GB is less sensitive to the host than throughput, but not
# immune (steal and cache misses): a note, not a verdict.
CPU_MOVED_PCT = 25.0
# Fewest fsync'd cells with a limit measured beside them in both runs for their
# median to stand for the disk's drift (the quick profile has 12 such cells).
BESIDE_MIN = 3
# A cell at this share of the fsync'd limit measured beside it is bound by the
# disk's pace; well below it, by the client or the CPU (librdkafka at 100 B
# reached 18-30%).
DISK_BOUND_PCT = 50.0

LIMITS = [
    ("buffered sequential write, MB/s", lambda l: l["dd_buffered"]["mb_s"]),
    ("fsync'd write 64 KiB, MB/s", lambda l: l["fsync_write_64k"]["mb_s"]),
    ("fsync'd write 1 MiB, MB/s", lambda l: l["fsync_write_1M"]["mb_s"]),
    ("fsync'd write 1 MiB O_DIRECT, MB/s", lambda l: l["fsync_write_1M_direct"]["mb_s"]),
    ("page-cache fill, free memory, MB/s", lambda l: l["page_cache_fill"]["first_mb_s"]),
    ("page-cache fill, just freed, MB/s", lambda l: l["page_cache_fill"]["recycled_mb_s"]),
    ("fsync 4 KiB p99, ms", lambda l: l["fsync_latency_4k"]["p99_ms"]),
    ("loopback TCP, MB/s", lambda l: l["loopback_tcp"]["mb_s"]),
]

STARTUP = [
    ("reopen after clean shutdown, s", "reopen_clean_s"),
    ("reopen after a crash, s", "reopen_after_crash_s"),
    ("RSS idle after reopen, KiB", "rss_idle_kib"),
    ("RSS max while consuming, KiB", "rss_max_while_consuming_kib"),
    ("consume while measuring RSS, MB/s", "consume_mb_s"),
    ("RSS of 1,000 idle partitions, KiB", "rss_1000_idle_partitions_kib"),
]


CELL_FIELDS = ("mode", "client", "size", "partitions", "acks", "producers", "mb_s")


class CompareError(Exception):
    """A file that is not a bench result; the message names it and why."""


def load(path):
    try:
        with open(path) as f:
            results = json.load(f)
    except OSError as e:
        raise CompareError(f"{path}: {e.strerror or e}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CompareError(f"{path}: not JSON ({e})") from None
    if not isinstance(results, dict) or not isinstance(results.get("machine"), dict):
        raise CompareError(f"{path}: not a tools/bench result (no \"machine\" section)")
    for section in ("runs", "peer"):
        for n, run in enumerate(results.get(section) or []):
            if not isinstance(run, dict) or any(field not in run for field in CELL_FIELDS):
                raise CompareError(f"{path}: {section}[{n}] is not a cell (needs {', '.join(CELL_FIELDS)})")
            if not isinstance(run["mb_s"], (int, float)) or run["mb_s"] < 0:
                raise CompareError(f"{path}: {section}[{n}] has no throughput (mb_s {run['mb_s']!r})")
    return results


def key(run):
    return (run["mode"], run["client"], run["size"], run["partitions"], run["acks"], run["producers"])


def label(k):
    mode, client, size, partitions, acks, producers = k
    return f"{mode} {client} {size} B {partitions}p acks={acks} x{producers}"


def ratio(old, new):
    return f"{new / old:7.2f}" if old else "      -"


def describe(which, results):
    m = results["machine"]
    return (f"{which}: commit {m.get('commit') or '?'}, {m.get('time', '?')}, {results.get('profile', '?')} profile,"
            f" {m.get('cores', '?')} cores, kernel {m.get('kernel', '?')}")


def matching_limit(run, limits):
    """The name and MB/s of the limit the cell is measured against in `limits`
    ('dd', 'fsync 1M', 'loopback'), or ('?', None) when that run has no such limit."""
    try:
        return limit_for(run, limits)
    except (KeyError, TypeError):
        return "?", None


def share(run, limits):
    """The run's throughput as a percentage of its own run's matching limit, or None."""
    limit = matching_limit(run, limits)[1]
    return 100.0 * run["mb_s"] / limit if limit else None


def change(old, new):
    """Percent change from old to new, or None when old is missing or zero."""
    return 100.0 * (new - old) / old if old and new is not None else None


def against(moved, drift):
    """A change of `moved` percent, relative to a drift of `drift` percent that moved its
    whole kind of cell: how far it went beyond the host's own change."""
    return 100.0 * ((100.0 + moved) / (100.0 + drift) - 1.0)


def bound_by(run, limits):
    """Which of the machine's limits the cell is measured against ('dd', 'fsync 1M', 'loopback')."""
    return matching_limit(run, limits)[0]


def steal_of(old, new):
    return max(old.get("steal_pct") or 0.0, new.get("steal_pct") or 0.0)


def median(values):
    return sorted(values)[len(values) // 2]


def drift(before, after, limits):
    """Per kind of limit, the median change in MB/s over the cells both runs have
    (half-peak cells and cells under heavy steal excluded): a faster disk moves
    the fsync'd cells, a less loaded host the rest. Also the median change of the
    fsync'd limit measured beside those cells, when BESIDE_MIN of them have it in
    both runs, and of the cells the disk bounds when BESIDE_MIN are (each else None)."""
    changes, disk, bound = {}, [], []
    for k, a in before.items():
        if (k in after and not k[0].endswith("@half-peak") and a["mb_s"]
                and steal_of(a, after[k]) <= STEAL_PCT):
            kind, moved = bound_by(a, limits), change(a["mb_s"], after[k]["mb_s"])
            changes.setdefault(kind, []).append(moved)
            beside = change(a.get("limit_near_mb_s"), after[k].get("limit_near_mb_s"))
            if kind == FSYNC_1M and beside is not None:
                disk.append(beside)
                if min(near_share(a) or 0.0, near_share(after[k]) or 0.0) >= DISK_BOUND_PCT:
                    bound.append(moved)
    enough = lambda c: median(c) if len(c) >= BESIDE_MIN else None
    return {kind: median(c) for kind, c in changes.items()}, enough(disk), enough(bound)


def verdict(old, new, run_drift):
    """'faster +N%' or 'SLOWER -N%' against the run-wide drift, a note in parentheses
    when steal forbids a verdict, and a broker CPU note; '' when nothing moved."""
    notes = []
    cpu = change(old.get("broker_cpu_s_per_gb"), new.get("broker_cpu_s_per_gb"))
    if cpu is not None and abs(cpu) > CPU_MOVED_PCT:
        notes.append(f"cpu/GB {cpu:+.0f}%")
    moved = change(old["mb_s"], new["mb_s"])
    # A half-peak cell's rate is half of its own run's peak: the peak's row carries the verdict.
    if not old["mode"].endswith("@half-peak") and moved is not None:
        relative = against(moved, run_drift)
        worst_steal = steal_of(old, new)
        if abs(relative) > MOVED_PCT:
            if worst_steal > STEAL_PCT:
                notes.insert(0, f"(moved {relative:+.0f}%, but steal {worst_steal:.0f}%)")
            else:
                notes.insert(0, f"{'faster' if relative > 0 else 'SLOWER'} {relative:+.0f}%")
    return ", ".join(notes)


def compare_limits(old, new):
    lines = [f"{'Machine limits':<40}{'old':>10}{'new':>10}{'new/old':>8}"]
    for label, get in LIMITS:
        try:
            a, b = get(old), get(new)
        except (KeyError, TypeError):
            continue
        lines.append(f"  {label:<38}{a:>10.3f}{b:>10.3f}{ratio(a, b)}"
                     if "ms" in label else f"  {label:<38}{a:>10.1f}{b:>10.1f}{ratio(a, b)}")
    return lines


def compare_runs(old, new, old_limits, new_limits, title):
    before = {key(r): r for r in old}
    after = {key(r): r for r in new}
    drifts, disk, bound = drift(before, after, new_limits)
    head = (f"{'mode':<24}{'client':<13}{'size':>5}{'parts':>6}{'acks':>5}{'prod':>5}"
            f"{'MB/s old':>10}{'new':>8}{'%lim old':>9}{'new':>7}{'p99 old':>9}{'new':>7}"
            f"{'cpu/GB old':>11}{'new':>6}  verdict")
    lines = [title, "  run-wide drift (median change of MB/s), by the limit cells are measured against: "
             + ", ".join(f"{kind} {d:+.1f}%" for kind, d in sorted(drifts.items()))]
    if disk is not None:
        lines.append(f"  the fsync'd limit measured beside the {FSYNC_1M} cells moved {disk:+.1f}%")
        if bound is not None and abs(against(bound, disk)) > MOVED_PCT:
            lines.append(f"  WARNING: the {FSYNC_1M} cells the disk bounds moved {bound:+.1f}% while it moved"
                         f" {disk:+.1f}%: a change to the group commit would look like this (no verdicts; rerun them)")
    lines += [head, "-" * len(head)]
    moved = []
    for k, a in before.items():
        b = after.get(k)
        if b is None:
            continue
        sa, sb = share(a, old_limits), share(b, new_limits)
        num = lambda r, f, w, p: f"{r[f]:{w}.{p}f}" if r.get(f) is not None else " " * w
        pct = lambda s, w: f"{s:{w}.1f}" if s is not None else " " * w
        v = verdict(a, b, drifts.get(bound_by(a, new_limits), 0.0))
        if v.startswith(("faster", "SLOWER")):
            moved.append(f"{label(k)}: {v.split(',')[0]}")
        lines.append(f"{k[0]:<24}{k[1]:<13}{k[2]:>5}{k[3]:>6}{k[4]:>5}{k[5]:>5}"
                     f"{a['mb_s']:>10.1f}{b['mb_s']:>8.1f}{pct(sa, 9)}{pct(sb, 7)}"
                     f"{num(a, 'p99_ms', 9, 2)}{num(b, 'p99_ms', 7, 2)}"
                     f"{num(a, 'broker_cpu_s_per_gb', 11, 2)}{num(b, 'broker_cpu_s_per_gb', 6, 2)}  {v}")
    for side, cells in (("old", before.keys() - after.keys()), ("new", after.keys() - before.keys())):
        if len(cells) > 5:
            lines.append(f"  {len(cells)} cells only in {side} (the other run had fewer stages, as --latency-only has, or an older matrix)")
        else:
            lines += [f"  only in {side}: {label(k)}" for k in sorted(cells, key=str)]
    return lines, moved


def compare_startup(old, new):
    lines = [f"{'Start-up and memory':<40}{'old':>12}{'new':>12}{'new/old':>8}"]
    for label, field in STARTUP:
        if field in old and field in new:
            a, b = old[field], new[field]
            lines.append(f"  {label:<38}{a:>12.3f}{b:>12.3f}{ratio(a, b)}" if label.endswith(", s")
                         else f"  {label:<38}{a:>12.0f}{b:>12.0f}{ratio(a, b)}")
    if old.get("data_gb") != new.get("data_gb"):
        lines.append(f"  (different sizes: {old.get('data_gb')} GB against {new.get('data_gb')} GB)")
    return lines


def compare(old_path, new_path):
    """The report as a list of lines, and how many cells were marked faster or slower."""
    old, new = load(old_path), load(new_path)
    lines = [describe("old", old), describe("new", new)]
    if old.get("profile") != new.get("profile"):
        lines.append("  the runs used different profiles: record counts differ, compare shares, not totals")
    old_limits, new_limits = old.get("limits"), new.get("limits")
    if old_limits and new_limits:
        lines += [""] + compare_limits(old_limits, new_limits)
    moved = []
    if old.get("runs") and new.get("runs"):
        table, moved = compare_runs(old["runs"], new["runs"], old_limits, new_limits,
                                    "\nBroker cells (MB/s of payload; %lim = of that run's own matching limit;"
                                    f" a verdict needs MB/s to move over {MOVED_PCT:.0f}% against the run-wide drift,"
                                    f" with steal at most {STEAL_PCT:.0f}% in both runs)")
        lines += table
    if old.get("peer") and new.get("peer"):
        table, _ = compare_runs(old["peer"], new["peer"], old_limits, new_limits, "\nPeer cells (Iggy)")
        lines += table
    if old.get("startup") and new.get("startup"):
        lines += [""] + compare_startup(old["startup"], new["startup"])
    lines.append("")
    if moved:
        lines.append(f"{len(moved)} cell(s) moved beyond the noise:")
        lines += [f"  {m}" for m in moved]
    else:
        lines.append("No cell moved beyond the noise.")
    return lines, len(moved)
