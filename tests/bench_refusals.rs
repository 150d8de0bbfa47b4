//! `tools/bench` checks the paths a run needs before it measures anything: a
//! run that could only fail at its end (its JSON unwritable) or part way (its
//! work directory unusable, its retry budget nonsense) stops at once with one
//! line and exit 2.
#![allow(clippy::unwrap_used)]
mod tools_support;
use tools_support::bench;

/// Runs `tools/bench --limits-only ARGS`; returns its exit code and stderr.
fn limits_only(args: &[&str]) -> (Option<i32>, String) {
    let out = bench(&[&["--limits-only"], args].concat());
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn wrong_paths_stop_the_run_before_it_measures() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"").unwrap();
    let file = file.to_str().unwrap();
    let missing_dir_json = dir.path().join("no-such-dir").join("out.json");
    let missing_dir_json = missing_dir_json.to_str().unwrap();
    let json_is_dir = dir.path().to_str().unwrap();
    let cases: [(&[&str], &str); 6] = [
        (&["--workdir", file], "--workdir"),
        (
            &["--json", missing_dir_json],
            "must be a writable directory",
        ),
        (&["--json", json_is_dir], "is a directory"),
        (&["--peer-iggy", json_is_dir], "no executable iggy-server"),
        (&["--retry-budget", "-5"], "from 0 to 86400"),
        (&["--retry-budget", "abc"], "from 0 to 86400"),
    ];
    for (args, says) in cases {
        let (code, stderr) = limits_only(args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("bench: ") && stderr.contains(says),
            "{args:?}: {stderr}"
        );
    }
    // Nothing was written beside the file the test made.
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(left.len(), 1);
}
