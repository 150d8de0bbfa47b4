//! tools/bench_disk.py: a bench run's disk budget, checked before it starts,
//! and the peak its work directory held, sampled while it ran.
#![allow(clippy::unwrap_used)]
use serde_json::Value;

mod tools_support;
use tools_support::python;

/// Runs `body` (Python, with `tools/` importable and the profiles of
/// `tools/bench` as `PROFILES`) and parses what it prints as JSON.
fn run(body: &str, args: &[&str]) -> Value {
    let script = format!(
        "import json, importlib.machinery, importlib.util\n\
         import bench_disk\n\
         loader = importlib.machinery.SourceFileLoader('bench_main', 'tools/bench')\n\
         spec = importlib.util.spec_from_loader('bench_main', loader)\n\
         bench_main = importlib.util.module_from_spec(spec)\n\
         loader.exec_module(bench_main)\n\
         PROFILES = bench_main.PROFILES\n\
         {body}"
    );
    serde_json::from_str(&python(&script, args, "")).unwrap()
}

const GIB: f64 = 1073741824.0;

#[test]
fn the_budget_holds_each_stages_largest_data_set() {
    let got = run(
        "out = {}\n\
         for name, prof in PROFILES.items():\n\
         \x20   out[name] = {s: bench_disk.needed_bytes(prof, [s]) for s in ['limits', 'matrix', 'peer', 'startup']}\n\
         \x20   out[name]['all'] = bench_disk.needed_bytes(prof, ['limits', 'matrix', 'peer', 'startup'])\n\
         \x20   out[name]['prof'] = prof\n\
         print(json.dumps(out))",
        &[],
    );
    for (name, need) in got.as_object().unwrap() {
        let prof = &need["prof"];
        let n = |k: &str| need[k].as_f64().unwrap();
        let p = |k: &str| prof[k].as_f64().unwrap();
        // Headroom on top of the dd file, the largest thing the limits stage writes.
        assert!(
            n("limits") >= p("dd_mib") * 1048576.0 + GIB,
            "{name}: {need}"
        );
        // One matrix cell's payload, at either record size.
        for (records, size) in [("records_large", 1024.0), ("records_small", 100.0)] {
            assert!(n("matrix") > p(records) * size + GIB, "{name}: {need}");
        }
        assert!(n("startup") > p("startup_gb") * 1e9 + GIB, "{name}: {need}");
        // The stages run one after another: the run needs its largest, not their sum.
        let largest = ["limits", "matrix", "peer", "startup"]
            .iter()
            .map(|s| n(s))
            .fold(0.0, f64::max);
        assert_eq!(n("all"), largest, "{name}: {need}");
    }
    // The full profile's start-up stage is the 10 GB data set the targets name.
    assert!(got["full"]["all"].as_f64().unwrap() > 10e9 + GIB);
}

#[test]
fn too_little_free_space_is_refused_with_both_figures() {
    let dir = tempfile::tempdir().unwrap();
    let got = run(
        "d = sys.argv[1]\n\
         print(json.dumps([bench_disk.shortfall(d, 5e9, free=2e9),\n\
         \x20                 bench_disk.shortfall(d, 5e9, free=5e9),\n\
         \x20                 bench_disk.shortfall(d, 1)]))",
        &[dir.path().to_str().unwrap()],
    );
    let refused = got[0].as_str().unwrap();
    assert!(
        refused.contains("5.0 GB") && refused.contains("2.0 GB is free"),
        "{refused}"
    );
    assert!(refused.contains(dir.path().to_str().unwrap()), "{refused}");
    assert_eq!(got[1], Value::Null);
    // This filesystem's own free space is read when none is given.
    assert_eq!(got[2], Value::Null);
}

#[test]
fn the_watch_keeps_the_peak_of_a_file_that_came_and_went() {
    let dir = tempfile::tempdir().unwrap();
    let got = run(
        "import os, time\n\
         d = sys.argv[1]\n\
         os.makedirs(os.path.join(d, 'broker', 'topic-0'))\n\
         watch = bench_disk.Watch(d, sample_s=0.02)\n\
         path = os.path.join(d, 'broker', 'topic-0', 'segment.log')\n\
         with open(path, 'wb') as f:\n\
         \x20   f.write(b'x' * (8 << 20))\n\
         \x20   f.flush()\n\
         \x20   os.fsync(f.fileno())\n\
         time.sleep(0.3)\n\
         os.remove(path)\n\
         time.sleep(0.1)\n\
         print(json.dumps({'peak': watch.stop(), 'left': bench_disk.allocated_bytes(d)}))",
        &[dir.path().to_str().unwrap()],
    );
    let peak = got["peak"].as_u64().unwrap();
    assert!(peak >= 8 << 20, "{got}");
    assert!(peak < 9 << 20, "{got}");
    assert_eq!(got["left"], 0, "{got}");
}
