//! `ferrolog inspect PATH`: offline dump and verification of a stopped
//! broker's files. Every byte is parsed by `ferrolog_storage`'s own format
//! and inspect code — this module only chooses what to call and prints it.
//! Records inside a batch (`--records`) are decoded by the client crate's
//! batch decoder, which also decompresses them.
//!
//! - `segment` — a `.log` file: every batch, optionally its records.
//! - `index` — a `.index` / `.timeindex` file: entries, checked against the segment.
//! - `verify` — a partition directory or a whole data directory, end to end.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use ferrolog_storage::format::names::FileKind;
use ferrolog_storage::inspect;
use ferrolog_storage::io::StdFileSystem;

use crate::args::{Global, InspectArgs};

mod index;
mod segment;
mod verify;

pub fn run(global: &Global, args: &InspectArgs) -> anyhow::Result<ExitCode> {
    let path = args.path.as_path();
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot inspect {}", path.display()))?;
    let fs = StdFileSystem;
    let clean = if meta.is_dir() {
        if is_partition_dir(path)? {
            verify::partition(global, &fs, path)?
        } else {
            verify::data_dir(global, &fs, path)?
        }
    } else {
        match inspect::classify(path) {
            Some((_, FileKind::Log)) => segment::dump(global, &fs, path, args.records)?,
            Some((_, FileKind::OffsetIndex)) => index::offset_index(global, &fs, path)?,
            Some((_, FileKind::TimeIndex)) => index::time_index(global, &fs, path)?,
            None => anyhow::bail!(
                "{} is not a segment (<offset>.log), an index (.index, .timeindex), a partition or a data directory",
                path.display()
            ),
        }
    };
    Ok(if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// A partition directory holds segment files; a data directory holds partition directories.
fn is_partition_dir(path: &Path) -> anyhow::Result<bool> {
    for entry in
        std::fs::read_dir(path).with_context(|| format!("cannot list {}", path.display()))?
    {
        let entry = entry.with_context(|| format!("cannot list {}", path.display()))?;
        if inspect::classify(&entry.path()).is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Compression codec name from the attributes' low bits.
pub fn codec_name(codec: u8) -> &'static str {
    match codec {
        0 => "none",
        1 => "gzip",
        2 => "snappy",
        3 => "lz4",
        4 => "zstd",
        _ => "unknown",
    }
}
