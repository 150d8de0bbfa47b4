//! `tools/bench --compare OLD.json NEW.json` (tools/bench_compare.py): the
//! verdicts follow a cell that moved against the rest of its run, not a host
//! that got faster as a whole, and bad files get one line and exit 2. The
//! table of a run counts the cells that ran under more steal than a verdict
//! allows, and gives the KiB each acks=all cell's disk cache flushes covered
//! (bench_flushes.FlushMeter, tested here on the disk under `target/`).
#![allow(clippy::unwrap_used)]
use std::path::Path;
use std::process::Output;

use serde_json::{Value, json};

mod tools_support;
use tools_support::{bench, python};

fn cell(
    mode: &str,
    partitions: u32,
    acks: &str,
    mb_s: f64,
    steal_pct: f64,
    cpu_s_per_gb: f64,
) -> Value {
    json!({
        "mode": mode, "client": "ferrolog", "size": 1024, "partitions": partitions, "acks": acks,
        "producers": 1, "mb_s": mb_s, "records_s": mb_s * 1e6 / 1024.0, "p99_ms": 2.0,
        "steal_pct": steal_pct, "broker_cpu_s_per_gb": cpu_s_per_gb,
    })
}

/// A run with the given limits and cells, as `tools/bench --json` writes it.
fn results(commit: &str, dd_mb_s: f64, runs: Vec<Value>) -> Value {
    json!({
        "machine": {"commit": commit, "time": "2026-11-22T13:00:00+00:00", "cores": 2, "kernel": "test"},
        "profile": "quick",
        "limits": {
            "dd_buffered": {"mb_s": dd_mb_s},
            "fsync_write_64k": {"mb_s": 300.0},
            "fsync_write_1M": {"mb_s": 900.0},
            "fsync_latency_4k": {"p50_ms": 0.1, "p99_ms": 0.2, "p99_9_ms": 0.4},
            "loopback_tcp": {"mb_s": 3500.0},
        },
        "runs": runs,
    })
}

/// Five acks=1 produce cells (1 to 5 partitions) at 1000, 1100, ... MB/s and
/// a consume cell, each multiplied by `scale`.
fn acks1_cells(scale: f64) -> Vec<Value> {
    let mut cells: Vec<Value> = (0..5)
        .map(|n| {
            cell(
                "produce",
                n + 1,
                "1",
                (1000.0 + 100.0 * f64::from(n)) * scale,
                0.0,
                0.8,
            )
        })
        .collect();
    cells.push(cell("consume-cache", 1, "-", 2000.0 * scale, 0.0, 0.3));
    cells
}

/// acks=all cells with one and four producers at `mb_s`, and the half-peak
/// cell at half of it with `half_peak_cpu` broker CPU s/GB.
fn acks_all_cells(mb_s: f64, half_peak_cpu: f64) -> Vec<Value> {
    let mut four = cell("produce", 1, "all", mb_s, 0.0, 1.3);
    four["producers"] = json!(4);
    vec![
        cell("produce", 1, "all", mb_s, 0.0, 1.2),
        four,
        cell(
            "produce@half-peak",
            1,
            "all",
            mb_s / 2.0,
            0.0,
            half_peak_cpu,
        ),
    ]
}

fn compare(dir: &Path, old: &Value, new: &Value) -> Output {
    let (old_path, new_path) = (dir.join("old.json"), dir.join("new.json"));
    std::fs::write(&old_path, old.to_string()).unwrap();
    std::fs::write(&new_path, new.to_string()).unwrap();
    bench(&[
        "--compare".as_ref(),
        old_path.as_os_str(),
        new_path.as_os_str(),
    ])
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn a_faster_host_is_drift_not_a_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let old = results("aaaaaaa", 1000.0, acks1_cells(1.0));
    // Every cell 40% faster and the disk limit lower: the host, not the code.
    let new = results("bbbbbbb", 700.0, acks1_cells(1.4));
    let report = stdout(&compare(dir.path(), &old, &new));
    assert!(report.contains("old: commit aaaaaaa"), "{report}");
    assert!(report.contains("new: commit bbbbbbb"), "{report}");
    assert!(
        report.contains("dd +40.0%"),
        "the drift of the dd-bound cells: {report}"
    );
    assert!(
        report.contains("No cell moved beyond the noise."),
        "{report}"
    );
    assert!(!report.contains("faster"), "{report}");
}

#[test]
fn a_cell_that_moves_against_its_run_gets_a_verdict_unless_steal_explains_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut old_runs = acks1_cells(1.0);
    old_runs.extend(acks_all_cells(800.0, 1.6));
    let old = results("aaaaaaa", 1000.0, old_runs);

    let mut new_runs = acks1_cells(1.1);
    // The 1-partition cell halves while the others gain 10%: -55% against the drift.
    new_runs[0]["mb_s"] = json!(500.0);
    // The same fall with 12% steal in the cell: noted, not judged.
    new_runs[1]["mb_s"] = json!(550.0); // 1100 before
    new_runs[1]["steal_pct"] = json!(12.0);
    // The fsync-bound cells have their own drift: both fell by a quarter, so neither is judged.
    new_runs.extend(acks_all_cells(600.0, 2.4));
    let new = results("bbbbbbb", 1000.0, new_runs);

    let report = stdout(&compare(dir.path(), &old, &new));
    // The table's own columns: mode, client, size, partitions, acks, producers.
    let row = |mode: &str, partitions: u32, acks: &str| {
        let start = format!(
            "{mode:<24}{:<13}{:>5}{partitions:>6}{acks:>5}{:>5}",
            "ferrolog", 1024, 1
        );
        report
            .lines()
            .find(|l| l.starts_with(&start))
            .unwrap_or_else(|| panic!("no row {start:?}: {report}"))
            .to_owned()
    };
    assert!(report.contains("dd +10.0%"), "{report}");
    assert!(row("produce", 1, "1").ends_with("SLOWER -55%"), "{report}");
    assert!(
        row("produce", 2, "1").ends_with("(moved -55%, but steal 12%)"),
        "{report}"
    );
    assert!(row("produce", 3, "1").ends_with("  "), "{report}");
    assert!(report.contains("fsync 1M -25.0%"), "{report}");
    assert!(!row("produce", 1, "all").contains("SLOWER"), "{report}");
    // A half-peak cell's rate follows its peak; its CPU is still noted.
    assert!(
        row("produce@half-peak", 1, "all").ends_with("cpu/GB +50%"),
        "{report}"
    );
    assert!(
        report.contains(
            "1 cell(s) moved beyond the noise:\n  produce ferrolog 1024 B 1p acks=1 x1: SLOWER -55%"
        ),
        "{report}"
    );
}

#[test]
fn files_that_are_not_bench_results_get_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let good = results("aaaaaaa", 1000.0, acks1_cells(1.0));
    let mut no_throughput = good.clone();
    no_throughput["runs"][1]
        .as_object_mut()
        .unwrap()
        .remove("mb_s");
    let cases = [
        (json!([1, 2]), "not a tools/bench result"),
        (no_throughput, "runs[1] is not a cell"),
    ];
    for (bad, expected) in cases {
        let out = compare(dir.path(), &good, &bad);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with("bench: ") && stderr.contains(expected),
            "{stderr}"
        );
    }
    let old = dir.path().join("old.json");
    let missing = bench(&[
        "--compare".as_ref(),
        "/nonexistent/old.json".as_ref(),
        old.as_os_str(),
    ]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("No such file"));
}

#[test]
fn acks_all_cells_that_leave_their_disk_behind_get_a_warning_not_a_verdict() {
    let dir = tempfile::tempdir().unwrap();
    // Four acks=all cells at `mb_s`, each with the fsync'd 1 MiB limit
    // measured right before it at `disk`.
    let cells = |mb_s: f64, disk: f64| -> Vec<Value> {
        let mut cells = acks1_cells(1.0);
        cells.extend((1..=4).map(|partitions| {
            let mut c = cell("produce", partitions, "all", mb_s, 0.0, 1.2);
            c["limit_near_mb_s"] = json!(disk);
            c
        }));
        cells
    };
    let report = |old: Value, new: Value| stdout(&compare(dir.path(), &old, &new));
    let warning = "WARNING: the fsync 1M cells the disk bounds moved";

    // Every acks=all cell 40% slower while the disk beside them stayed: what
    // a slower group commit looks like. Their own median calls it drift, so
    // no verdict, but the warning says so.
    let same_disk = report(
        results("aaaaaaa", 1000.0, cells(800.0, 900.0)),
        results("bbbbbbb", 1000.0, cells(480.0, 900.0)),
    );
    assert!(
        same_disk.contains("the fsync'd limit measured beside the fsync 1M cells moved +0.0%"),
        "{same_disk}"
    );
    assert!(
        same_disk.contains(&format!("{warning} -40.0% while it moved +0.0%")),
        "{same_disk}"
    );
    assert!(
        same_disk.contains("No cell moved beyond the noise."),
        "{same_disk}"
    );

    // The same cells with the disk 40% slower beside each: drift, no warning.
    let slower_disk = report(
        results("aaaaaaa", 1000.0, cells(800.0, 900.0)),
        results("ccccccc", 1000.0, cells(480.0, 540.0)),
    );
    assert!(slower_disk.contains("moved -40.0%"), "{slower_disk}");
    assert!(!slower_disk.contains(warning), "{slower_disk}");

    // Cells far below their disk (a client at 100 MB/s against 900) are not
    // bound by it: the disk slowing under them is no warning.
    let client_bound = report(
        results("aaaaaaa", 1000.0, cells(100.0, 900.0)),
        results("ddddddd", 1000.0, cells(100.0, 540.0)),
    );
    assert!(client_bound.contains("moved -40.0%"), "{client_bound}");
    assert!(!client_bound.contains(warning), "{client_bound}");
}

/// The table `tools/bench` prints for `run` (bench_broker.print_table).
fn table(run: &Value) -> String {
    let script = "import json, bench_broker\n\
                  run = json.loads(sys.argv[1])\n\
                  bench_broker.print_table(run['runs'], run['limits'])";
    python(script, &[&run.to_string()], "")
}

#[test]
fn the_table_counts_the_cells_run_under_heavy_steal() {
    // Two cells, the first under `steal` percent.
    let printed = |steal: f64| {
        table(&results(
            "a",
            1000.0,
            vec![
                cell("produce", 1, "1", 900.0, steal, 1.0),
                cell("produce", 8, "1", 900.0, 1.0, 1.0),
            ],
        ))
    };
    let noisy = printed(12.0);
    assert!(
        noisy.contains("steal: 1 of 2 cells lost more than 5% of the CPU")
            && noisy.contains("up to 12%"),
        "{noisy}"
    );
    // Exactly the threshold is not counted.
    let quiet = printed(5.0);
    assert!(!quiet.contains("steal:"), "{quiet}");
}

#[test]
fn the_table_counts_the_cells_and_half_peak_runs_measured_again() {
    // A produce cell measured three times, and a half-peak row whose median
    // run (kept in `runs` too) and one other run were measured twice.
    let mut again = cell("produce", 1, "1", 900.0, 2.0, 1.0);
    again["attempts_steal_pct"] = json!([20.0, 9.0, 2.0]);
    let mut half = cell("produce@half-peak", 1, "1", 500.0, 1.0, 1.0);
    half["attempts_steal_pct"] = json!([15.0, 1.0]);
    half["round_trip_p99_ms"] = json!(1.0);
    half["runs"] = json!([
        {"p99_ms": 1.5, "round_trip_p99_ms": 1.0, "steal_pct": 0.0},
        {"p99_ms": 2.0, "round_trip_p99_ms": 1.0, "steal_pct": 1.0, "attempts_steal_pct": [15.0, 1.0]},
        {"p99_ms": 2.5, "round_trip_p99_ms": 1.0, "steal_pct": 3.0, "attempts_steal_pct": [7.0, 3.0]},
    ]);
    let printed = table(&results(
        "a",
        1000.0,
        vec![again, half, cell("produce", 8, "1", 900.0, 1.0, 1.0)],
    ));
    assert!(
        printed.contains("measured again: 3 cells or runs lost more than 5%")
            && printed.contains("(4 more attempts)"),
        "{printed}"
    );
    // Each kept attempt was quiet: no steal line.
    assert!(!printed.contains("steal: "), "{printed}");
    // Nothing measured again, no line.
    let plain = table(&results(
        "a",
        1000.0,
        vec![cell("produce", 1, "1", 900.0, 1.0, 1.0)],
    ));
    assert!(!plain.contains("measured again:"), "{plain}");
}

#[test]
fn the_table_gives_the_kib_each_acks_all_flush_covered() {
    let mut all = cell("produce", 1, "all", 700.0, 0.0, 1.0);
    all["device_flushes"] = json!(4193);
    all["kib_per_flush"] = json!(477.4);
    let mut one_mb = cell("produce 1 in flight 1MB", 1, "all", 600.0, 0.0, 1.0);
    one_mb["records_per_request"] = json!(1000);
    one_mb["kib_per_flush"] = json!(998.2);
    let printed = table(&results(
        "a",
        1000.0,
        vec![all, one_mb, cell("produce", 1, "1", 900.0, 0.0, 1.0)],
    ));
    let line = printed
        .lines()
        .find(|l| l.contains("KiB of records per disk cache flush"))
        .unwrap_or_else(|| panic!("no group-commit line in:\n{printed}"));
    assert!(
        line.ends_with(": 1024 B 1p 1w 477, 1024 B 1p 1w 1 in flight (1000 a request) 998"),
        "{line}"
    );
    // Without a flush count (acks=1 cells, or a kernel that keeps none), no line.
    let plain = table(&results(
        "a",
        1000.0,
        vec![cell("produce", 1, "all", 900.0, 0.0, 1.0)],
    ));
    assert!(!plain.contains("per disk cache flush"), "{plain}");
}

/// `bench_flushes.FlushMeter` on the disk under `target/`: it counts the flush
/// an fdatasync ends in where the kernel keeps the count (the 16th field of
/// the device's stat file), and is None where it does not.
#[test]
fn the_flush_meter_counts_an_fdatasync_where_the_kernel_keeps_the_count() {
    let dir = tempfile::tempdir_in(concat!(env!("CARGO_MANIFEST_DIR"), "/target")).unwrap();
    let script = "import os, bench_flushes\n\
                  d = sys.argv[1]\n\
                  st = os.stat(d).st_dev\n\
                  print(f'/sys/dev/block/{os.major(st)}:{os.minor(st)}/stat')\n\
                  m = bench_flushes.FlushMeter(d)\n\
                  with open(os.path.join(d, 'f'), 'wb') as f:\n\
                  \x20   f.write(b'x' * 4096)\n\
                  \x20   f.flush()\n\
                  \x20   os.fdatasync(f.fileno())\n\
                  print(m.count())\n\
                  print(bench_flushes.device_flushes('/proc'))";
    let out = python(script, &[dir.path().to_str().unwrap()], "");
    let lines: Vec<&str> = out.lines().collect();
    let [stat_path, counted, proc_flushes] = lines[..] else {
        panic!("unexpected output: {out}");
    };
    // /proc has no block device behind it.
    assert_eq!(proc_flushes, "None");
    let kept = std::fs::read_to_string(stat_path)
        .map(|s| s.split_whitespace().count() > 15)
        .unwrap_or(false);
    if kept {
        let n: u64 = counted
            .parse()
            .unwrap_or_else(|_| panic!("no count: {out}"));
        assert!(n >= 1, "an fdatasync and no flush counted: {out}");
    } else {
        assert_eq!(counted, "None", "{out}");
    }
}
