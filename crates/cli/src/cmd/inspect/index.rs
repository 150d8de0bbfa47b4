//! Dump of an offset index or time index, checked against its segment by the
//! storage crate's own checks.

use std::io::Write;
use std::path::Path;

use ferrolog_storage::inspect;
use ferrolog_storage::io::FileSystem;
use serde_json::json;

use crate::args::{Global, Output};
use crate::timespec::format_ms;

pub fn offset_index(global: &Global, fs: &dyn FileSystem, path: &Path) -> anyhow::Result<bool> {
    let (base, _) = inspect::classify(path)
        .unwrap_or((0, ferrolog_storage::format::names::FileKind::OffsetIndex));
    let (entries, trailing) = inspect::offset_index_entries(fs, path)?;
    let problems = inspect::check_offset_index(fs, path)?;
    let rows: Vec<_> = entries
        .iter()
        .map(|e| json!({"offset": base + i64::from(e.relative_offset), "relative_offset": e.relative_offset, "position": e.position}))
        .collect();
    finish(
        global,
        path,
        "offset index",
        rows,
        trailing,
        &problems,
        |out, r| {
            writeln!(
                out,
                "{:>12} {:>10}",
                r["offset"].to_string(),
                r["position"].to_string()
            )
        },
        format!("{:>12} {:>10}", "OFFSET", "POSITION"),
    )
}

pub fn time_index(global: &Global, fs: &dyn FileSystem, path: &Path) -> anyhow::Result<bool> {
    let (base, _) = inspect::classify(path)
        .unwrap_or((0, ferrolog_storage::format::names::FileKind::TimeIndex));
    let (entries, trailing) = inspect::time_index_entries(fs, path)?;
    let problems = inspect::check_time_index(fs, path)?;
    let rows: Vec<_> = entries
        .iter()
        .map(|e| json!({"timestamp": e.timestamp_ms, "time": format_ms(e.timestamp_ms), "offset": base + i64::from(e.relative_offset)}))
        .collect();
    finish(
        global,
        path,
        "time index",
        rows,
        trailing,
        &problems,
        |out, r| {
            writeln!(
                out,
                "{:>24} {:>12}",
                r["time"].as_str().unwrap_or_default(),
                r["offset"].to_string()
            )
        },
        format!("{:>24} {:>12}", "TIME", "OFFSET"),
    )
}

#[expect(
    clippy::too_many_arguments,
    reason = "one shared printer for both index kinds"
)]
fn finish(
    global: &Global,
    path: &Path,
    kind: &str,
    rows: Vec<serde_json::Value>,
    trailing: usize,
    problems: &[String],
    row: impl Fn(&mut std::io::StdoutLock<'static>, &serde_json::Value) -> std::io::Result<()>,
    header: String,
) -> anyhow::Result<bool> {
    let ok = problems.is_empty();
    let mut out = std::io::stdout().lock();
    match global.output {
        Output::Json => writeln!(
            out,
            "{}",
            json!({"path": path.display().to_string(), "kind": kind, "entries": rows, "trailing_bytes": trailing, "problems": problems, "ok": ok})
        )?,
        Output::Text => {
            writeln!(out, "{kind} {}", path.display())?;
            writeln!(out, "{header}")?;
            for r in &rows {
                row(&mut out, r)?;
            }
            for p in problems {
                writeln!(out, "PROBLEM: {p}")?;
            }
            writeln!(
                out,
                "{} entries, {}",
                rows.len(),
                if ok {
                    "consistent with the segment".to_owned()
                } else {
                    format!("{} PROBLEM(S)", problems.len())
                }
            )?;
        }
    }
    out.flush()?;
    Ok(ok)
}
