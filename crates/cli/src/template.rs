//! The `--format` template of `consume`: `{topic}`, `{partition}`,
//! `{offset}`, `{timestamp}` (ms), `{time}` (RFC 3339), `{key}`, `{value}`,
//! `{headers}` (`k=v,k=v`), escapes `\n` `\t` `\\`, and `{{`/`}}` for braces.
//! Parsed once, rendered per record into raw bytes (values need not be UTF-8).
//!
//! `{key}` and `{value}` are written raw, byte for byte, as kcat and Kafka's
//! console consumer write them: users pipe payloads on. `{headers}` packs
//! many keys and values between its own separators, so it is escaped (see
//! `push_escaped`) to stay splittable; `--output json` is the lossless form.

use ferrolog_client::ConsumedRecord;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(Vec<u8>),
    Topic,
    Partition,
    Offset,
    Timestamp,
    Time,
    Key,
    Value,
    Headers,
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
}

const PLACEHOLDERS: &str =
    "{topic} {partition} {offset} {timestamp} {time} {key} {value} {headers}";

impl Template {
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut pieces = Vec::new();
        let mut literal = Vec::new();
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => literal.push(b'\n'),
                    Some('t') => literal.push(b'\t'),
                    Some('\\') => literal.push(b'\\'),
                    Some(other) => push_char(&mut literal, other, Some('\\')),
                    None => literal.push(b'\\'),
                },
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push(b'{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push(b'}');
                }
                '{' => {
                    let mut name = String::new();
                    let mut closed = false;
                    for c in chars.by_ref() {
                        if c == '}' {
                            closed = true;
                            break;
                        }
                        name.push(c);
                    }
                    if !closed {
                        return Err(format!(
                            "unclosed {{{name} in template; use {{{{ for a literal brace"
                        ));
                    }
                    if !literal.is_empty() {
                        pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                    }
                    pieces.push(placeholder(&name)?);
                }
                other => push_char(&mut literal, other, None),
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
        Ok(Self { pieces })
    }

    /// Appends the rendering of `record` (without the trailing newline) to `out`.
    pub fn render(&self, topic: &str, partition: i32, record: &ConsumedRecord, out: &mut Vec<u8>) {
        for piece in &self.pieces {
            match piece {
                Piece::Literal(bytes) => out.extend_from_slice(bytes),
                Piece::Topic => out.extend_from_slice(topic.as_bytes()),
                Piece::Partition => out.extend_from_slice(partition.to_string().as_bytes()),
                Piece::Offset => out.extend_from_slice(record.offset.to_string().as_bytes()),
                Piece::Timestamp => {
                    out.extend_from_slice(record.timestamp_ms.to_string().as_bytes())
                }
                Piece::Time => out
                    .extend_from_slice(crate::timespec::format_ms(record.timestamp_ms).as_bytes()),
                Piece::Key => out.extend_from_slice(record.key.as_deref().unwrap_or_default()),
                Piece::Value => out.extend_from_slice(record.value.as_deref().unwrap_or_default()),
                Piece::Headers => {
                    for (i, (k, v)) in record.headers.iter().enumerate() {
                        if i > 0 {
                            out.push(b',');
                        }
                        push_escaped(out, k.as_bytes());
                        out.push(b'=');
                        push_escaped(out, v.as_deref().unwrap_or_default());
                    }
                }
            }
        }
    }
}

/// Appends a header key or value so that `{headers}` splits back apart at
/// its unescaped `,` and `=`, and writes no control or stray bytes to a
/// terminal: `\`, `=` and `,` get a `\` before them, a control character or
/// a byte that is not part of valid UTF-8 becomes `\xNN` (each byte of it),
/// and other text is kept as it is.
fn push_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' | '=' | ',' => push_char(out, c, Some('\\')),
                c if c.is_control() => {
                    let mut buf = [0u8; 4];
                    for &b in c.encode_utf8(&mut buf).as_bytes() {
                        push_hex(out, b);
                    }
                }
                c => push_char(out, c, None),
            }
        }
        for &b in chunk.invalid() {
            push_hex(out, b);
        }
    }
}

/// `\xNN`, lower-case hex.
fn push_hex(out: &mut Vec<u8>, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.extend_from_slice(&[
        b'\\',
        b'x',
        HEX[usize::from(b >> 4)],
        HEX[usize::from(b & 0x0f)],
    ]);
}

fn push_char(out: &mut Vec<u8>, c: char, prefix: Option<char>) {
    let mut buf = [0u8; 4];
    if let Some(p) = prefix {
        out.extend_from_slice(p.encode_utf8(&mut buf).as_bytes());
    }
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

fn placeholder(name: &str) -> Result<Piece, String> {
    Ok(match name {
        "topic" => Piece::Topic,
        "partition" => Piece::Partition,
        "offset" => Piece::Offset,
        "timestamp" => Piece::Timestamp,
        "time" => Piece::Time,
        "key" => Piece::Key,
        "value" => Piece::Value,
        "headers" => Piece::Headers,
        other => {
            return Err(format!(
                "unknown placeholder {{{other}}}; accepted: {PLACEHOLDERS}"
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn record() -> ConsumedRecord {
        ConsumedRecord {
            offset: 7,
            timestamp_ms: 1500,
            log_append_time: false,
            key: Some(Bytes::from_static(b"k")),
            value: Some(Bytes::from_static(b"v\xff")),
            headers: vec![
                ("a".into(), Some(Bytes::from_static(b"1"))),
                ("b".into(), None),
            ],
        }
    }

    fn render(t: &str) -> Vec<u8> {
        let mut out = Vec::new();
        Template::parse(t)
            .expect("parse")
            .render("orders", 3, &record(), &mut out);
        out
    }

    #[test]
    fn every_placeholder() {
        assert_eq!(
            render("{topic}/{partition}@{offset} {timestamp}"),
            b"orders/3@7 1500"
        );
        assert_eq!(render("{time}"), b"1970-01-01T00:00:01.500Z");
        assert_eq!(render("{key}={value}"), b"k=v\xff");
        assert_eq!(render("[{headers}]"), b"[a=1,b=]");
    }

    #[test]
    fn header_keys_and_values_are_escaped_but_key_and_value_are_raw() {
        let mut record = record();
        record.key = Some(Bytes::from_static(b"a=b,\x00"));
        record.value = Some(Bytes::from_static(b"\\\x1b"));
        record.headers = vec![
            (
                "k=,\\".into(),
                Some(Bytes::from_static(b"\xc3\xa9\xc3\t\x7f\xc2\x85")),
            ),
            ("n".into(), None),
        ];
        let mut out = Vec::new();
        Template::parse("{key}|{value}|{headers}")
            .expect("parse")
            .render("t", 0, &record, &mut out);
        // é stays; the lone \xc3, the tab, DEL and the C1 control NEL (U+0085) do not.
        assert_eq!(
            out,
            b"a=b,\x00|\\\x1b|k\\=\\,\\\\=\xc3\xa9\\xc3\\x09\\x7f\\xc2\\x85,n="
        );
    }

    #[test]
    fn escapes_and_braces() {
        assert_eq!(render("{key}\\t{value}\\n"), b"k\tv\xff\n");
        assert_eq!(render("{{literal}} \\q"), b"{literal} \\q");
    }

    #[test]
    fn unclosed_placeholder_is_an_error() {
        assert!(Template::parse("{key").is_err());
    }

    #[test]
    fn unknown_placeholder_lists_accepted_ones() {
        let err = Template::parse("{nope}").expect_err("unknown");
        assert!(err.contains("{value}"), "{err}");
    }
}
