//! The `ferrologd` binary: starts on port 0 with flags, logs the bound
//! address, serves, and shuts down cleanly on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

/// A broker started and listening, with its log so far.
struct Started {
    child: std::process::Child,
    lines: BufReader<std::process::ChildStdout>,
    log: String,
    address: String,
}

/// Runs `command` (ferrologd, or a wrapper that execs it) on port 0 over
/// `data_dir`, and reads its log until it says where it listens.
fn start(mut command: Command, data_dir: &std::path::Path) -> Started {
    let mut child = command
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("ferrologd starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout"));
    let mut log = String::new();
    let address = loop {
        let mut line = String::new();
        if lines.read_line(&mut line).expect("read log") == 0 {
            panic!("ferrologd exited before listening: {log}");
        }
        log.push_str(&line);
        if let Some(rest) = line.split("address=").nth(1) {
            break rest
                .split_whitespace()
                .next()
                .expect("an address")
                .to_string();
        }
    };
    Started {
        child,
        lines,
        log,
        address,
    }
}

#[test]
fn ferrologd_serves_on_port_0_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut command = Command::new(env!("CARGO_BIN_EXE_ferrologd"));
    command.args(["--log-level", "info"]);
    let Started {
        mut child,
        mut lines,
        log,
        address,
    } = start(command, dir.path());

    // ApiVersions v0 round trip on the logged address.
    let mut stream = TcpStream::connect(&address).expect("connect to the logged address");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let request = [0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 42, 0, 0];
    stream.write_all(&request).expect("send");
    let mut head = [0u8; 10];
    stream.read_exact(&mut head).expect("an answer");
    assert_eq!(&head[4..8], &42i32.to_be_bytes());

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let mut rest = String::new();
    lines
        .read_to_string(&mut rest)
        .expect("read the rest of the log");
    let exit = child.wait().expect("exits");
    assert!(exit.success(), "exit {exit:?}; log: {log}{rest}");
    assert!(rest.contains("clean shutdown complete"), "{rest}");
    assert!(dir.path().join("topics.json").exists());
}

/// Runs a ferrologd on `dir`, which another one holds, to its exit.
fn second_ferrologd(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ferrologd"))
        .args(args)
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env_remove("FERROLOG_LOG")
        .output()
        .expect("a second ferrologd runs")
}

#[test]
fn a_second_ferrologd_on_one_data_directory_says_why_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Started { mut child, .. } =
        start(Command::new(env!("CARGO_BIN_EXE_ferrologd")), dir.path());
    let second = second_ferrologd(dir.path(), &[]);
    child.kill().ok();
    child.wait().ok();
    assert!(!second.status.success());
    let log = String::from_utf8_lossy(&second.stdout);
    let error = log
        .lines()
        .find(|l| l.contains("ERROR"))
        .unwrap_or_else(|| panic!("an error line: {log}"));
    assert!(
        error.contains("is another ferrologd using this data directory?"),
        "{error}"
    );
    // The cause was printed twice: "...(os error 11): Resource temporarily unavailable (os error 11)".
    assert_eq!(error.matches("(os error 11)").count(), 1, "{error}");
}

/// Why the broker could not start is said once, whatever `--log-level` says:
/// a filter that names only one target used to silence every other one, this
/// line included, and the broker exited 1 with no output at all.
#[test]
fn a_failed_start_says_why_under_any_log_filter() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Started { mut child, .. } =
        start(Command::new(env!("CARGO_BIN_EXE_ferrologd")), dir.path());
    let mut seen = Vec::new();
    for filter in ["ferrolog_broker=debug", "off", "info,ferrologd=off"] {
        let second = second_ferrologd(dir.path(), &["--log-level", filter]);
        let out = format!(
            "{}{}",
            String::from_utf8_lossy(&second.stdout),
            String::from_utf8_lossy(&second.stderr)
        );
        seen.push((
            filter,
            second.status.code(),
            out.matches("is another ferrologd").count(),
        ));
    }
    child.kill().ok();
    child.wait().ok();
    assert_eq!(
        seen,
        [
            ("ferrolog_broker=debug", Some(1), 1),
            ("off", Some(1), 1),
            ("info,ferrologd=off", Some(1), 1)
        ]
    );
}

/// The soft and hard "Max open files" of process `pid`.
fn open_file_limits(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("a Max open files line");
    let mut fields = line["Max open files".len()..].split_whitespace();
    let soft = fields.next().expect("soft").to_string();
    let hard = fields.next().expect("hard").to_string();
    (soft, hard)
}

/// Started under a low soft limit (a common 1024, here 256), the broker
/// raises it to the hard limit: one open file per partition would otherwise
/// cap it at a few hundred partitions and then refuse connections.
#[test]
fn ferrologd_raises_its_open_file_limit_to_the_hard_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The shell lowers its soft limit, then becomes the broker.
    let mut command = Command::new("sh");
    command
        .args(["-c", "ulimit -S -n 256 && exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_ferrologd"));
    let Started { mut child, log, .. } = start(command, dir.path());
    let (soft, hard) = open_file_limits(child.id());
    child.kill().expect("kill");
    child.wait().expect("exits");
    assert_ne!(
        hard, "256",
        "this test needs a hard open-file limit above 256"
    );
    assert_eq!(soft, hard, "soft limit raised to the hard one; log: {log}");
}

/// A `--log-level` that does not parse, or a bare word that is not a level
/// (tracing reads `lol` as a target, which silences every other line, the
/// listen address included), stops the broker before it starts: one line on
/// stderr and exit 2.
#[test]
fn ferrologd_refuses_a_log_filter_it_would_misread() {
    for filter in ["nonsense=[", "lol", "info,lol"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut child = Command::new(env!("CARGO_BIN_EXE_ferrologd"))
            .args([
                "--log-level",
                filter,
                "--listen",
                "127.0.0.1:0",
                "--data-dir",
            ])
            .arg(dir.path())
            .env_remove("FERROLOG_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ferrologd starts");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            if std::time::Instant::now() > deadline {
                child.kill().expect("kill");
                child.wait().expect("exits");
                panic!("ferrologd --log-level {filter:?} started instead of refusing");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut err = String::new();
        child
            .stderr
            .take()
            .expect("stderr")
            .read_to_string(&mut err)
            .expect("read stderr");
        assert_eq!(status.code(), Some(2), "{filter:?}: {err}");
        assert!(
            err.starts_with("error: invalid --log-level"),
            "{filter:?}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{filter:?}: {err}");
    }
}
