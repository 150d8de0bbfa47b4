//! Dump of one segment `.log` file: each batch's header fields, position,
//! size and CRC verdict, base offsets that do not follow on (checked by the
//! storage crate's walk, as the partition's verification checks them), and
//! with `--records` the records themselves.

use std::io::Write;
use std::path::Path;

use ferrolog_client::batch::decode_batches;
use ferrolog_storage::inspect::{self, BatchInfo, SegmentEntry};
use ferrolog_storage::io::FileSystem;
use serde_json::{Value, json};

use super::codec_name;
use crate::args::{Global, Output};
use crate::output::{count, json_record};
use crate::timespec::{format_horizon_ms, format_ms};

/// Prints every batch; returns whether the segment is free of damage.
pub fn dump(
    global: &Global,
    fs: &dyn FileSystem,
    path: &Path,
    with_records: bool,
) -> anyhow::Result<bool> {
    let mut out = std::io::stdout().lock();
    let (mut batches, mut records, mut bad) = (0u64, 0u64, 0u64);
    if global.output == Output::Text {
        writeln!(out, "segment {}", path.display())?;
        writeln!(out, "{}", table_line(COLUMNS.map(|(name, ..)| name)))?;
    }
    for entry in inspect::segment_batches(fs, path)?.with_bytes(with_records) {
        match entry? {
            SegmentEntry::Batch(b) => {
                batches += 1;
                records += u64::try_from(b.records_count()).unwrap_or(0);
                let offset_problem = b.offset_problem();
                bad += u64::from(!b.is_valid() || offset_problem.is_some());
                print_batch(global.output, &mut out, &b, with_records)?;
                if let (Some(detail), Output::Text) = (offset_problem, global.output) {
                    writeln!(out, "DAMAGE at byte {}: {detail}", b.position)?;
                }
            }
            SegmentEntry::Damage {
                position,
                bytes_remaining,
                detail,
            } => {
                bad += 1;
                match global.output {
                    Output::Json => writeln!(
                        out,
                        "{}",
                        json!({"damage": {"position": position, "bytes_remaining": bytes_remaining, "detail": detail}})
                    )?,
                    Output::Text => writeln!(
                        out,
                        "DAMAGE at byte {position}: {detail} ({bytes_remaining} bytes not readable)"
                    )?,
                }
            }
        }
    }
    let ok = bad == 0;
    match global.output {
        Output::Json => writeln!(
            out,
            "{}",
            json!({"summary": {"batches": batches, "records": records, "damaged": bad, "ok": ok}})
        )?,
        Output::Text => writeln!(
            out,
            "{}, {}, {}",
            count(batches, "batch"),
            count(records, "record"),
            if ok {
                "all CRCs ok".to_owned()
            } else {
                format!("{bad} DAMAGED")
            }
        )?,
    }
    out.flush()?;
    Ok(ok)
}

#[derive(Clone, Copy, Debug)]
enum Align {
    Left,
    Right,
}

/// The text table's columns, one list for the header and every row so that
/// they stay aligned. 24 fits an RFC 3339 time with milliseconds. CRC is
/// last and unpadded: notes on the batch follow it.
const COLUMNS: [(&str, usize, Align); 13] = [
    ("POSITION", 10, Align::Right),
    ("SIZE", 8, Align::Right),
    ("BASE", 12, Align::Right),
    ("LAST", 12, Align::Right),
    ("COUNT", 6, Align::Right),
    ("FIRST_TIMESTAMP", 24, Align::Left),
    ("MAX_TIMESTAMP", 24, Align::Left),
    ("DELETE_HORIZON", 24, Align::Left),
    ("PID", 8, Align::Right),
    ("EPOCH", 5, Align::Right),
    ("SEQ", 8, Align::Right),
    ("CODEC", 6, Align::Left),
    ("CRC", 0, Align::Left),
];

/// One line of the text table: each cell padded to its column's width.
fn table_line<S: AsRef<str>>(cells: [S; COLUMNS.len()]) -> String {
    let mut line = String::new();
    for (cell, (_, width, align)) in cells.iter().zip(COLUMNS) {
        if !line.is_empty() {
            line.push(' ');
        }
        let cell = cell.as_ref();
        line.push_str(&match align {
            Align::Left => format!("{cell:<width$}"),
            Align::Right => format!("{cell:>width$}"),
        });
    }
    line
}

/// A batch's row of the text table. `-` marks a field the batch does not
/// have: a first timestamp where base_timestamp holds the horizon, a
/// horizon where compaction set none.
fn text_row(b: &BatchInfo, first_timestamp: Option<i64>, horizon: Option<i64>) -> String {
    let h = &b.header;
    let absent = || "-".to_owned();
    table_line([
        b.position.to_string(),
        b.size.to_string(),
        b.base_offset().to_string(),
        b.last_offset().to_string(),
        h.records_count.to_string(),
        first_timestamp.map_or_else(absent, format_ms),
        format_ms(h.max_timestamp),
        horizon.map_or_else(absent, format_horizon_ms),
        h.producer_id.to_string(),
        h.producer_epoch.to_string(),
        h.base_sequence.to_string(),
        codec_name(b.compression()).to_owned(),
        if b.crc_ok { "ok" } else { "BAD" }.to_owned(),
    ])
}

/// What follows a row whose record count does not fit its offsets.
fn count_note(b: &BatchInfo) -> &'static str {
    if b.count_ok {
        ""
    } else {
        " (record count does not match last offset delta)"
    }
}

fn print_batch(
    mode: Output,
    out: &mut impl Write,
    b: &BatchInfo,
    with_records: bool,
) -> anyhow::Result<()> {
    let h = &b.header;
    // With a delete horizon (KIP-534), the base timestamp field holds it,
    // not the first record's timestamp. JSON keeps the horizon a number
    // (i64::MAX where the text says never) so that scripts compare it as is.
    let horizon = h.delete_horizon_ms();
    let first_timestamp = horizon.is_none().then_some(h.base_timestamp);
    let records = if with_records {
        Some(batch_records(b))
    } else {
        None
    };
    match mode {
        Output::Json => {
            let mut v = json!({
                "position": b.position, "size": b.size, "base_offset": b.base_offset(), "last_offset": b.last_offset(),
                "record_count": h.records_count, "first_timestamp": first_timestamp, "max_timestamp": h.max_timestamp,
                "delete_horizon": horizon,
                "producer_id": h.producer_id, "producer_epoch": h.producer_epoch, "base_sequence": h.base_sequence,
                "compression": codec_name(b.compression()), "crc_ok": b.crc_ok, "count_ok": b.count_ok,
                "expected_base_offset": b.expected_base_offset, "offset_ok": b.offset_problem().is_none(),
                "transactional": h.is_transactional(), "control": h.is_control(),
            });
            if let (Some(records), Some(obj)) = (records, v.as_object_mut()) {
                obj.insert(
                    "records".into(),
                    records.unwrap_or_else(|e| json!({"error": e})),
                );
            }
            writeln!(out, "{v}")?;
        }
        Output::Text => {
            writeln!(
                out,
                "{}{}",
                text_row(b, first_timestamp, horizon),
                count_note(b)
            )?;
            match records {
                Some(Ok(Value::Array(list))) => {
                    for r in list {
                        writeln!(
                            out,
                            "    offset {} time {} key {} value {} headers {}",
                            r["offset"],
                            r["time"],
                            shown(&r, "key"),
                            shown(&r, "value"),
                            r["headers"]
                        )?;
                    }
                }
                Some(Err(e)) => writeln!(out, "    records not decoded: {e}")?,
                _ => {}
            }
        }
    }
    Ok(())
}

/// A key or value of a record from [`batch_records`] for the text dump:
/// quoted text, or `base64:…` for bytes that are not UTF-8.
fn shown(record: &Value, name: &str) -> String {
    match record.get(format!("{name}_base64")).and_then(Value::as_str) {
        Some(encoded) => format!("base64:{encoded}"),
        None => record[name].to_string(),
    }
}

/// The batch's records as JSON values, decoded (and decompressed) by the client crate.
fn batch_records(b: &BatchInfo) -> Result<Value, String> {
    if !b.crc_ok {
        return Err("CRC mismatch: the records cannot be trusted".into());
    }
    let bytes = b.bytes.clone().unwrap_or_default();
    let records = decode_batches(bytes, i64::MIN).map_err(|e| e.to_string())?;
    Ok(Value::Array(
        records
            .iter()
            .map(|r| {
                let fields = json!({"offset": r.offset, "timestamp": r.timestamp_ms,
                                    "time": format_ms(r.timestamp_ms)});
                json_record(fields, r)
            })
            .collect(),
    ))
}
