//! End-to-end verification of a partition directory or a data directory,
//! through `ferrolog_storage::inspect::verify_*`; damage → non-zero exit.

use std::io::Write;
use std::path::Path;

use ferrolog_storage::inspect::{self, PartitionReport, ProblemKind};
use ferrolog_storage::io::FileSystem;
use serde_json::json;

use crate::args::{Global, Output};
use crate::output::count;

pub fn partition(global: &Global, fs: &dyn FileSystem, dir: &Path) -> anyhow::Result<bool> {
    let report = inspect::verify_partition(fs, dir)?;
    print(global, std::slice::from_ref(&report))
}

pub fn data_dir(global: &Global, fs: &dyn FileSystem, dir: &Path) -> anyhow::Result<bool> {
    let report = inspect::verify_data_dir(fs, dir)?;
    if report.partitions.is_empty() {
        anyhow::bail!(
            "{} holds no partition directories (<topic>-<partition>) or segment files",
            dir.display()
        );
    }
    print(global, &report.partitions)
}

fn print(global: &Global, reports: &[PartitionReport]) -> anyhow::Result<bool> {
    let mut out = std::io::stdout().lock();
    let damaged = reports.iter().filter(|r| !r.is_ok()).count();
    for r in reports {
        let name = r.id.as_ref().map_or_else(
            || r.dir.display().to_string(),
            |id| format!("{}-{}", id.topic, id.partition),
        );
        let batches: u64 = r.segments.iter().map(|s| s.batches).sum();
        let records: u64 = r.segments.iter().map(|s| s.records).sum();
        let start = r.checkpoint.map_or_else(
            || r.segments.first().map_or(0, |s| s.base_offset),
            |c| c.log_start_offset,
        );
        let end = r.segments.last().map_or(start, |s| s.next_offset);
        match global.output {
            Output::Json => {
                let problems: Vec<_> = r.problems.iter().map(|p| json!({
                    "path": p.path.display().to_string(), "position": p.position, "detail": p.detail,
                    "repairable": p.repairable(), "kind": kind_name(p.kind),
                })).collect();
                writeln!(
                    out,
                    "{}",
                    json!({
                        "partition": name, "segments": r.segments.len(), "batches": batches, "records": records,
                        "start_offset": start, "end_offset": end,
                        "clean_shutdown": r.checkpoint.map(|c| c.clean_shutdown), "problems": problems, "ok": r.is_ok(),
                    })
                )?;
            }
            Output::Text => {
                let verdict = if r.is_ok() { "ok" } else { "DAMAGED" };
                writeln!(
                    out,
                    "{name}: {}, {}, {}, offsets {start}..{end}: {verdict}",
                    count(r.segments.len(), "segment"),
                    count(batches, "batch"),
                    count(records, "record"),
                )?;
                for p in &r.problems {
                    let at = p
                        .position
                        .map_or_else(String::new, |pos| format!(" at byte {pos}"));
                    let kind = match p.kind {
                        ProblemKind::Repairable => "repairable on open",
                        ProblemKind::StaleIndex => {
                            "stale index, not checked on open: remove this segment's .index and .timeindex to have them rebuilt"
                        }
                        ProblemKind::DataDamaged => "data damaged",
                    };
                    writeln!(out, "  {}{at}: {} ({kind})", p.path.display(), p.detail)?;
                }
                if r.problems
                    .iter()
                    .any(|p| p.kind == ProblemKind::DataDamaged)
                {
                    // The broker keeps such a partition failed rather than
                    // choose what to drop; the operator chooses.
                    writeln!(
                        out,
                        "  to repair (broker stopped, directory copied first): remove {} to cut the log at the first damage, or delete the segments up to the damage to keep what follows (docs/DURABILITY.md, \"Getting a failed partition back\")",
                        r.dir.join("partition.checkpoint").display()
                    )?;
                }
            }
        }
    }
    if global.output == Output::Text {
        writeln!(
            out,
            "verified {}: {} ok, {damaged} damaged",
            count(reports.len(), "partition"),
            reports.len() - damaged
        )?;
    }
    out.flush()?;
    Ok(damaged == 0)
}

/// A problem's kind in JSON output.
fn kind_name(kind: ProblemKind) -> &'static str {
    match kind {
        ProblemKind::Repairable => "repairable",
        ProblemKind::StaleIndex => "stale_index",
        ProblemKind::DataDamaged => "data_damaged",
    }
}
