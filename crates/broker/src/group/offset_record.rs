//! The record format of the internal offsets log (`__consumer_offsets-0`): one Kafka record per
//! committed partition offset; the latest record per key wins on replay; a record without a
//! value (a tombstone) deletes the key.
//!
//! Key grammar (big-endian): `{ version i16 = 1 | group_len u16 | group utf8 | topic_len u16 |
//! topic utf8 | partition i32 }`.
//! Value grammar: `{ version i16 = 1 | offset i64 | leader_epoch i32 | commit_timestamp_ms i64 |
//! metadata_len i32 (-1 = null) | metadata utf8 }`.
//! The record batches around them are ordinary v2 batches, so the storage engine checks their CRC
//! like any other data.

use bytes::{BufMut, Bytes, BytesMut};
use ferrolog_wire::Cursor;

const KEY_VERSION: i16 = 1;
const VALUE_VERSION: i16 = 1;

/// Which committed offset a record is about.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OffsetKey {
    pub group: String,
    pub topic: String,
    pub partition: i32,
}

/// A committed offset as stored and as answered by OffsetFetch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommittedOffset {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
    pub commit_timestamp_ms: i64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OffsetRecordError {
    #[error("offset record {part} ends early")]
    Truncated { part: &'static str },
    #[error("offset record {part} has unknown version {version}")]
    UnknownVersion { part: &'static str, version: i16 },
    #[error("offset record {part} has a string that is not UTF-8")]
    NotUtf8 { part: &'static str },
    #[error("offset record {part} has {extra} trailing bytes")]
    Trailing { part: &'static str, extra: usize },
}

impl OffsetKey {
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(10 + self.group.len() + self.topic.len());
        out.put_i16(KEY_VERSION);
        put_short_string(&mut out, &self.group);
        put_short_string(&mut out, &self.topic);
        out.put_i32(self.partition);
        out.freeze()
    }

    pub fn decode(bytes: &[u8]) -> Result<OffsetKey, OffsetRecordError> {
        let mut r = Reader::new(bytes, "key");
        let version = r.i16()?;
        if version != KEY_VERSION {
            return Err(OffsetRecordError::UnknownVersion {
                part: "key",
                version,
            });
        }
        let group = r.short_string()?;
        let topic = r.short_string()?;
        let partition = r.i32()?;
        r.finish()?;
        Ok(OffsetKey {
            group,
            topic,
            partition,
        })
    }
}

impl CommittedOffset {
    pub fn encode(&self) -> Bytes {
        let metadata = self.metadata.as_deref();
        let mut out = BytesMut::with_capacity(26 + metadata.map_or(0, str::len));
        out.put_i16(VALUE_VERSION);
        out.put_i64(self.offset);
        out.put_i32(self.leader_epoch);
        out.put_i64(self.commit_timestamp_ms);
        match metadata {
            None => out.put_i32(-1),
            Some(text) => {
                out.put_i32(i32::try_from(text.len()).unwrap_or(i32::MAX));
                out.put_slice(text.as_bytes());
            }
        }
        out.freeze()
    }

    pub fn decode(bytes: &[u8]) -> Result<CommittedOffset, OffsetRecordError> {
        let mut r = Reader::new(bytes, "value");
        let version = r.i16()?;
        if version != VALUE_VERSION {
            return Err(OffsetRecordError::UnknownVersion {
                part: "value",
                version,
            });
        }
        let offset = r.i64()?;
        let leader_epoch = r.i32()?;
        let commit_timestamp_ms = r.i64()?;
        let metadata_len = r.i32()?;
        let metadata = match usize::try_from(metadata_len) {
            Err(_) => None,
            Ok(len) => Some(r.string(len)?),
        };
        r.finish()?;
        Ok(CommittedOffset {
            offset,
            leader_epoch,
            metadata,
            commit_timestamp_ms,
        })
    }
}

/// Strings longer than u16::MAX are cut to it: group ids and topic names are far shorter
/// (topic names ≤ 249 bytes; group ids are checked against this limit before commit).
fn put_short_string(out: &mut BytesMut, text: &str) {
    let len = text.len().min(usize::from(u16::MAX));
    out.put_u16(u16::try_from(len).unwrap_or(u16::MAX));
    out.put_slice(text.as_bytes().get(..len).unwrap_or_default());
}

/// A bounds-checked big-endian reader: every length comes from disk and is checked.
struct Reader<'a> {
    cursor: Cursor<'a>,
    part: &'static str,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8], part: &'static str) -> Reader<'a> {
        Reader {
            cursor: Cursor::new(bytes),
            part,
        }
    }

    fn truncated(&self) -> OffsetRecordError {
        OffsetRecordError::Truncated { part: self.part }
    }

    fn i16(&mut self) -> Result<i16, OffsetRecordError> {
        self.cursor.i16().map_err(|_| self.truncated())
    }

    fn i32(&mut self) -> Result<i32, OffsetRecordError> {
        self.cursor.i32().map_err(|_| self.truncated())
    }

    fn i64(&mut self) -> Result<i64, OffsetRecordError> {
        self.cursor.i64().map_err(|_| self.truncated())
    }

    fn string(&mut self, len: usize) -> Result<String, OffsetRecordError> {
        let bytes = self.cursor.take(len).map_err(|_| self.truncated())?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| OffsetRecordError::NotUtf8 { part: self.part })
    }

    fn short_string(&mut self) -> Result<String, OffsetRecordError> {
        let len = self.cursor.u16().map_err(|_| self.truncated())?;
        self.string(usize::from(len))
    }

    fn finish(&self) -> Result<(), OffsetRecordError> {
        match self.cursor.remaining() {
            0 => Ok(()),
            extra => Err(OffsetRecordError::Trailing {
                part: self.part,
                extra,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> OffsetKey {
        OffsetKey {
            group: "g-1".into(),
            topic: "orders".into(),
            partition: 5,
        }
    }

    #[test]
    fn keys_and_values_round_trip() {
        assert_eq!(OffsetKey::decode(&key().encode()), Ok(key()));
        for metadata in [None, Some(String::new()), Some("ünïcode meta".to_owned())] {
            let value = CommittedOffset {
                offset: 42,
                leader_epoch: -1,
                metadata,
                commit_timestamp_ms: 1_700_000_000_000,
            };
            assert_eq!(CommittedOffset::decode(&value.encode()), Ok(value));
        }
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let value = CommittedOffset {
            offset: 1,
            leader_epoch: 0,
            metadata: Some("m".into()),
            commit_timestamp_ms: 0,
        };
        let (k, v) = (key().encode(), value.encode());
        for cut in 0..k.len() {
            assert!(OffsetKey::decode(&k[..cut]).is_err(), "key cut at {cut}");
        }
        for cut in 0..v.len() {
            assert!(
                CommittedOffset::decode(&v[..cut]).is_err(),
                "value cut at {cut}"
            );
        }
    }

    #[test]
    fn unknown_versions_and_trailing_bytes_are_refused() {
        let mut k = key().encode().to_vec();
        k[1] = 9;
        assert!(matches!(
            OffsetKey::decode(&k),
            Err(OffsetRecordError::UnknownVersion { .. })
        ));
        let mut k = key().encode().to_vec();
        k.push(0);
        assert!(matches!(
            OffsetKey::decode(&k),
            Err(OffsetRecordError::Trailing { .. })
        ));
        let mut v = CommittedOffset {
            offset: 1,
            leader_epoch: 0,
            metadata: None,
            commit_timestamp_ms: 0,
        }
        .encode()
        .to_vec();
        v[22..26].copy_from_slice(&i32::MAX.to_be_bytes());
        v.truncate(26);
        assert!(matches!(
            CommittedOffset::decode(&v),
            Err(OffsetRecordError::Truncated { .. })
        ));
    }
}
