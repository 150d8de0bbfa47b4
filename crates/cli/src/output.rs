//! Printing: results as text or JSON on stdout, errors as one line.

use std::io::Write;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use ferrolog_client::ConsumedRecord;
use serde_json::{Map, Value};

use crate::args::Output;

/// One line from an error chain, skipping causes their parent already quotes
/// (the client's errors include their source in their own message).
pub fn one_line(err: &anyhow::Error) -> String {
    ferrolog_storage::error::chain_line(err.as_ref())
}

/// `n` and `noun`, plural unless `n` is one: "1 record", "3 batches".
pub fn count<N: std::fmt::Display + PartialEq + From<u8>>(n: N, noun: &str) -> String {
    if n == N::from(1) {
        format!("1 {noun}")
    } else if noun.ends_with("ch") || noun.ends_with('s') {
        format!("{n} {noun}es")
    } else {
        format!("{n} {noun}s")
    }
}

/// `bytes` for people, in binary units with one decimal: "512 B", "12.3 MiB".
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    // Past 1023.95 the value would print as "1024.0": move up a unit first.
    while value >= 1023.95 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS.get(unit).copied().unwrap_or("EiB"))
}

/// A closed pipe (`ferrolog consume t | head`) is a normal way to stop.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Prints `json` in JSON mode, else `text()` — one result per command.
pub fn emit(mode: Output, json: &Value, text: impl FnOnce() -> String) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match mode {
        Output::Json => writeln!(out, "{json}")?,
        Output::Text => {
            let text = text();
            out.write_all(text.as_bytes())?;
            if !text.is_empty() && !text.ends_with('\n') {
                out.write_all(b"\n")?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

/// Adds a record's key, value and headers to `fields` (a JSON object).
pub fn json_record(mut fields: Value, record: &ConsumedRecord) -> Value {
    if let Some(obj) = fields.as_object_mut() {
        put_bytes(obj, "key", record.key.as_deref());
        put_bytes(obj, "value", record.value.as_deref());
        obj.insert("headers".into(), json_headers(&record.headers));
    }
    fields
}

/// Puts `bytes` in `obj`: under `name` as a string when they are UTF-8 (null
/// when absent), else base64 (standard, padded) under `{name}_base64` and no
/// `name` at all. A JSON string holds text only, and a lossy one could not be
/// turned back into the bytes; leaving `name` out keeps a binary value from
/// reading as a null one.
fn put_bytes(obj: &mut Map<String, Value>, name: &str, bytes: Option<&[u8]>) {
    let (field, value) = match bytes.map(|b| (b, std::str::from_utf8(b))) {
        None => (name.to_owned(), Value::Null),
        Some((_, Ok(text))) => (name.to_owned(), Value::String(text.to_owned())),
        Some((raw, Err(_))) => (format!("{name}_base64"), Value::String(BASE64.encode(raw))),
    };
    obj.insert(field, value);
}

/// Record headers in JSON: a list of `{"key": .., "value": ..}` in record
/// order, not an object, because Kafka allows a key to repeat and an object
/// would keep only one of them.
fn json_headers(headers: &[(String, Option<Bytes>)]) -> Value {
    Value::Array(
        headers
            .iter()
            .map(|(k, v)| {
                let mut header = Map::new();
                header.insert("key".into(), Value::String(k.clone()));
                put_bytes(&mut header, "value", v.as_deref());
                Value::Object(header)
            })
            .collect(),
    )
}

/// Left-aligned columns for text tables.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths.get(i).copied().unwrap_or(0)))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn counts_are_plural_unless_one() {
        assert_eq!(count(1u64, "record"), "1 record");
        assert_eq!(count(0usize, "record"), "0 records");
        assert_eq!(count(2i32, "batch"), "2 batches");
        assert_eq!(count(-1i64, "partition"), "-1 partitions");
    }

    #[test]
    fn one_line_drops_repeated_causes() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let err = anyhow::Error::new(io).context("cannot connect to h:1: refused");
        assert_eq!(one_line(&err), "cannot connect to h:1: refused");
    }

    #[test]
    fn headers_keep_repeated_keys_in_order() {
        let headers = [
            ("a".to_owned(), Some(Bytes::from_static(b"1"))),
            ("b".to_owned(), None),
            ("a".to_owned(), Some(Bytes::from_static(b"2"))),
        ];
        assert_eq!(
            json_headers(&headers),
            json!([{"key": "a", "value": "1"}, {"key": "b", "value": null}, {"key": "a", "value": "2"}])
        );
    }

    #[test]
    fn bytes_that_are_not_utf8_are_base64_beside_the_text_field() {
        let record = ConsumedRecord {
            offset: 0,
            timestamp_ms: 0,
            log_append_time: false,
            key: None,
            value: Some(Bytes::from_static(b"\xff\xfe\x00bin")),
            headers: vec![("h".into(), Some(Bytes::from_static(b"\xc0")))],
        };
        assert_eq!(
            json_record(json!({"offset": 0}), &record),
            json!({"offset": 0, "key": null, "value_base64": "//4AYmlu",
                   "headers": [{"key": "h", "value_base64": "wA=="}]})
        );
    }

    #[test]
    fn sizes_read_in_binary_units_with_one_decimal() {
        let cases = [
            (0, "0 B"),
            (1023, "1023 B"),
            (1024, "1.0 KiB"),
            (12_897_485, "12.3 MiB"),
            (1024 * 1024 - 1, "1.0 MiB"),
            (5 << 30, "5.0 GiB"),
            (u64::MAX, "16.0 EiB"),
        ];
        for (bytes, text) in cases {
            assert_eq!(human_bytes(bytes), text, "{bytes}");
        }
    }

    #[test]
    fn table_aligns_columns() {
        let t = table(&["A", "BB"], &[vec!["xxx".into(), "y".into()]]);
        assert_eq!(t, "A    BB\nxxx  y\n");
    }
}
