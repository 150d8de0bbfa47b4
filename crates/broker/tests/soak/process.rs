//! A real `ferrologd` child process on a fixed loopback port, so clients
//! keep the same bootstrap address across SIGKILL and restart.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a (re)started broker may take to accept connections; recovery of
/// a few small partitions is far quicker than this.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a SIGTERM'd broker may take to shut down cleanly.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// A broker process that can be killed and started again on the same data
/// directory and port.
#[derive(Debug)]
pub struct BrokerProcess {
    binary: PathBuf,
    config_file: PathBuf,
    data_dir: PathBuf,
    log_file: PathBuf,
    pub addr: SocketAddr,
    child: Option<Child>,
    pub starts: u32,
}

impl BrokerProcess {
    /// Writes the config file and starts the broker. `extra_toml` is appended
    /// to the generated config (e.g. a `[log]` table).
    pub fn start(
        binary: &Path,
        work_dir: &Path,
        extra_toml: &str,
    ) -> Result<BrokerProcess, String> {
        let addr = free_port()?;
        let data_dir = work_dir.join("data");
        let config_file = work_dir.join("ferrologd.toml");
        let config = format!(
            "data_dir = {:?}\nlisten = \"{addr}\"\nauto_create_topics = false\n{extra_toml}\n",
            data_dir.display().to_string()
        );
        std::fs::write(&config_file, config).map_err(|e| format!("cannot write config: {e}"))?;
        let mut broker = BrokerProcess {
            binary: binary.to_path_buf(),
            config_file,
            data_dir,
            log_file: work_dir.join("ferrologd.log"),
            addr,
            child: None,
            starts: 0,
        };
        broker.spawn()?;
        Ok(broker)
    }

    pub fn bootstrap(&self) -> String {
        self.addr.to_string()
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Starts the child and waits until it accepts connections.
    pub fn spawn(&mut self) -> Result<(), String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_file)
            .map_err(|e| format!("cannot open broker log: {e}"))?;
        let child = Command::new(&self.binary)
            .arg("--config")
            .arg(&self.config_file)
            .arg("--log-level")
            .arg("warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.binary.display()))?;
        self.child = Some(child);
        self.starts += 1;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(format!(
                    "broker exited at start with {status}; log:\n{}",
                    self.log_tail()
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "broker did not listen within {START_TIMEOUT:?}; log:\n{}",
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: no shutdown code runs, nothing is flushed.
    pub fn kill9(&mut self) -> Result<(), String> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        child
            .kill()
            .map_err(|e| format!("cannot SIGKILL the broker: {e}"))?;
        child
            .wait()
            .map_err(|e| format!("cannot reap the broker: {e}"))?;
        Ok(())
    }

    /// SIGTERM and a clean shutdown; an error if it does not exit cleanly in time.
    pub fn stop(&mut self) -> Result<(), String> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .map_err(|e| format!("cannot run kill: {e}"))?;
        if !status.success() {
            return Err(format!("kill -TERM failed: {status}"));
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            match child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(()),
                Ok(Some(status)) => {
                    return Err(format!(
                        "broker exited with {status}; log:\n{}",
                        self.log_tail()
                    ));
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Ok(None) => {
                    child.kill().ok();
                    child.wait().ok();
                    return Err(format!("broker did not stop within {STOP_TIMEOUT:?}"));
                }
                Err(e) => return Err(format!("cannot wait for the broker: {e}")),
            }
        }
    }

    /// The last lines the broker logged (warnings and errors), for reports.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log_file).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Lines the broker logged at ERROR level over all its runs.
    pub fn logged_errors(&self) -> Vec<String> {
        let text = std::fs::read_to_string(&self.log_file).unwrap_or_default();
        text.lines()
            .filter(|l| l.contains("ERROR"))
            .map(str::to_string)
            .collect()
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }
}

/// A loopback port that was free a moment ago. The broker binds it with
/// SO_REUSEADDR (tokio's default), so restarts can take it again at once.
fn free_port() -> Result<SocketAddr, String> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("cannot pick a port: {e}"))?;
    listener
        .local_addr()
        .map_err(|e| format!("cannot pick a port: {e}"))
}
