//! Printing: results as text or JSON on stdout, errors as one line.

use std::io::Write;

use bytes::Bytes;
use serde_json::{Value, json};

use crate::args::Output;

/// One line from an error chain, skipping causes their parent already quotes
/// (the client's errors include their source in their own message).
pub fn one_line(err: &anyhow::Error) -> String {
    ferrolog_storage::error::chain_line(err.as_ref())
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

/// Bytes shown in JSON: UTF-8 as is, anything else lossily.
pub fn json_bytes(bytes: Option<&[u8]>) -> Value {
    bytes.map_or(Value::Null, |b| {
        Value::String(String::from_utf8_lossy(b).into_owned())
    })
}

/// Record headers in JSON: a list of `{"key": .., "value": ..}` in record
/// order, not an object, because Kafka allows a key to repeat and an object
/// would keep only one of them.
pub fn json_headers(headers: &[(String, Option<Bytes>)]) -> Value {
    Value::Array(
        headers
            .iter()
            .map(|(k, v)| json!({"key": k, "value": json_bytes(v.as_deref())}))
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
    use super::*;

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
    fn table_aligns_columns() {
        let t = table(&["A", "BB"], &[vec!["xxx".into(), "y".into()]]);
        assert_eq!(t, "A    BB\nxxx  y\n");
    }
}
