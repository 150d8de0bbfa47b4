//! `ferrolog inspect`: offline dump and verification of a stopped broker's
//! files, through the storage crate's own format code (never a second parser).

use std::process::ExitCode;

use crate::args::{Global, InspectArgs};

pub fn run(_global: &Global, args: &InspectArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!(
        "inspect {}: not available yet (waiting for ferrolog_storage::inspect)",
        args.path.display()
    )
}
