//! Running the repository's Python tools from a test: `tools/bench` as a
//! user runs it, or a snippet that imports one of the modules in `tools/`.
#![allow(dead_code, clippy::unwrap_used)]

use std::ffi::OsStr;
use std::io::Write;
use std::process::{Command, Output, Stdio};

const TOP: &str = env!("CARGO_MANIFEST_DIR");

/// `tools/bench ARGS`, run to its end from the repository's top directory.
pub fn bench<S: AsRef<OsStr>>(args: &[S]) -> Output {
    Command::new("python3")
        .arg("tools/bench")
        .args(args)
        .current_dir(TOP)
        .output()
        .expect("python3 runs tools/bench")
}

/// Runs the Python `script` with `tools/` importable, `args` as
/// `sys.argv[1:]` and `stdin` as its input. Panics with its stderr unless it
/// exits 0; returns what it printed.
pub fn python(script: &str, args: &[&str], stdin: &str) -> String {
    let script = format!("import sys\nsys.path.insert(0, 'tools')\n{script}");
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .current_dir(TOP)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
