//! `ferrolog perf produce|consume`: load generators.

use std::process::ExitCode;

use crate::args::{Global, PerfCommand};

pub async fn run(_global: &Global, _command: PerfCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("perf: not available yet")
}
