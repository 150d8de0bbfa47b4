//! tools/bench_steal.py: a cell measured under heavy steal is measured
//! again, keeps the attempt that lost the least (whatever its figures), and
//! the extra attempts stay within the run's budget of seconds.
#![allow(clippy::unwrap_used)]
use serde_json::Value;

mod tools_support;
use tools_support::python;

/// Runs `body` and prints its `out` as JSON. In scope: `retries(budget_s,
/// attempt_s)`, a `Retries` over a fake clock on which each attempt takes
/// `attempt_s` seconds and a pause its own length; and `cells(r, attempts,
/// resets)`, a measure returning the next of `attempts`, each a
/// `(steal_pct, mb_s)`, with how many resets were recorded before it.
fn run(body: &str) -> Value {
    let script = format!(
        "import json\n\
         import bench_steal\n\
         now = [0.0]\n\
         def sleep(s): now[0] += s\n\
         def retries(budget_s, attempt_s):\n\
         \x20   r = bench_steal.Retries(budget_s, clock=lambda: now[0], sleep=sleep)\n\
         \x20   r.attempt_s = attempt_s\n\
         \x20   return r\n\
         def cells(r, attempts, resets):\n\
         \x20   left = list(attempts)\n\
         \x20   def measure():\n\
         \x20       now[0] += r.attempt_s\n\
         \x20       steal, mb_s = left.pop(0)\n\
         \x20       return {{'steal_pct': steal, 'mb_s': mb_s, 'resets_before': len(resets)}}\n\
         \x20   return measure\n\
         {body}\n\
         print(json.dumps(out))"
    );
    serde_json::from_str(&python(&script, &[], "")).unwrap()
}

#[test]
fn a_quiet_cell_is_measured_once() {
    let out = run("r = retries(300, 20)\n\
         resets = []\n\
         kept = r.quietest(cells(r, [(5.0, 800.0)], resets), 'cell', reset=lambda: resets.append(1))\n\
         out = {'kept': kept, 'resets': len(resets), 'summary': r.summary()}");
    // Exactly 5% is not more than the threshold.
    assert_eq!(out["kept"]["mb_s"], 800.0, "{out}");
    assert!(out["kept"].get("attempts_steal_pct").is_none(), "{out}");
    assert_eq!(out["resets"], 0, "{out}");
    assert_eq!(out["summary"]["extra_attempts"], 0, "{out}");
    assert_eq!(out["summary"]["spent_s"], 0.0, "{out}");
}

#[test]
fn a_stolen_cell_keeps_its_attempt_with_the_least_steal_not_its_best_figure() {
    // Three attempts: 30% steal and the best figure, 8% and the worst, 12%.
    let out = run("r = retries(300, 20)\n\
         resets = []\n\
         kept = r.quietest(cells(r, [(30.0, 900.0), (8.0, 500.0), (12.0, 700.0), (0.0, 1.0)], resets),\n\
         \x20                 'cell', reset=lambda: resets.append(1))\n\
         out = {'kept': kept, 'resets': len(resets), 'summary': r.summary()}");
    assert_eq!(out["kept"]["mb_s"], 500.0, "{out}");
    assert_eq!(out["kept"]["steal_pct"], 8.0, "{out}");
    // Reset before each extra attempt, so the kept one (the second) came after one.
    assert_eq!(out["kept"]["resets_before"], 1, "{out}");
    assert_eq!(out["resets"], 2, "{out}");
    // At most three attempts in all, though the third was stolen too.
    let seen: Vec<f64> = out["kept"]["attempts_steal_pct"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(seen, [30.0, 8.0, 12.0], "{out}");
    // Two pauses of 10 s and two attempts of 20 s.
    assert_eq!(out["summary"]["spent_s"], 60.0, "{out}");
    assert_eq!(out["summary"]["cells_again"], 1, "{out}");
    assert_eq!(out["summary"]["extra_attempts"], 2, "{out}");
}

#[test]
fn a_quiet_attempt_ends_the_retries() {
    let out = run("r = retries(300, 20)\n\
         kept = r.quietest(cells(r, [(30.0, 900.0), (1.0, 600.0), (0.0, 1.0)], []), 'cell')\n\
         out = {'kept': kept, 'summary': r.summary()}");
    assert_eq!(out["kept"]["mb_s"], 600.0, "{out}");
    assert_eq!(out["summary"]["extra_attempts"], 1, "{out}");
}

#[test]
fn the_budget_is_never_overrun_by_an_attempt_it_can_foresee() {
    // 100 s of budget; an attempt takes 40 s and a pause 10 s, so a retry
    // costs 50 s. The first cell's retry is quiet (50 s spent). The second
    // cell's retry brings the total to exactly 100 s; its third attempt would
    // pass it, so is not started. A third cell finds nothing left.
    let out = run("r = retries(100, 40)\n\
         first = r.quietest(cells(r, [(20.0, 1.0), (0.0, 2.0)], []), 'a')\n\
         second = r.quietest(cells(r, [(20.0, 1.0), (30.0, 2.0), (0.0, 3.0)], []), 'b')\n\
         third = r.quietest(cells(r, [(20.0, 1.0), (0.0, 2.0)], []), 'c')\n\
         out = {'first': first, 'second': second, 'third': third, 'summary': r.summary()}");
    assert_eq!(out["first"]["mb_s"], 2.0, "{out}");
    let attempts = |c: &str| out[c]["attempts_steal_pct"].as_array().map_or(1, Vec::len);
    assert_eq!(attempts("second"), 2, "{out}");
    // Of two stolen attempts, the one with less steal.
    assert_eq!(out["second"]["mb_s"], 1.0, "{out}");
    assert_eq!(attempts("third"), 1, "{out}");
    assert_eq!(out["third"]["mb_s"], 1.0, "{out}");
    assert_eq!(out["summary"]["spent_s"], 100.0, "{out}");
    assert_eq!(out["summary"]["refused_for_budget"], 2, "{out}");
}

#[test]
fn no_budget_means_one_attempt_each() {
    let out = run("r = retries(0, 20)\n\
         kept = r.quietest(cells(r, [(40.0, 1.0), (0.0, 2.0)], []), 'cell')\n\
         out = {'kept': kept, 'summary': r.summary()}");
    assert_eq!(out["kept"]["mb_s"], 1.0, "{out}");
    assert_eq!(out["summary"]["extra_attempts"], 0, "{out}");
}
