//! A message layout: the fields of a struct, each present in a range of
//! versions, and the first flexible version (compact lengths and tagged
//! fields, KIP-482).

/// One field kind. Booleans are `I8`; every length-bearing kind may be null.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    I8,
    I16,
    I32,
    I64,
    Uuid,
    /// A (nullable) string: an i16 length, or a compact length when flexible.
    Str,
    /// (Nullable) bytes, e.g. records: an i32 length, or a compact length.
    Bytes,
    /// One nested struct with these fields (as in tagged fields).
    Struct(&'static [Field]),
    /// A (nullable) array of structs with these fields.
    Structs(&'static [Field]),
    /// A (nullable) array of i32.
    Int32s,
    /// A (nullable) array of strings.
    Strs,
}

/// A field present in versions `since..=until`, or a tagged field.
#[derive(Clone, Copy, Debug)]
pub struct Field {
    pub(crate) kind: Kind,
    pub(crate) since: i16,
    pub(crate) until: i16,
    /// `Some(tag)` for a tagged field of a flexible version: it lives in the
    /// struct's tagged-field section, not in the field order.
    pub(crate) tag: Option<u32>,
}

impl Field {
    /// Whether this is a field of the fixed order at `version`.
    pub(crate) fn in_order_at(&self, version: i16) -> bool {
        self.tag.is_none() && (self.since..=self.until).contains(&version)
    }
}

/// A field in every version.
pub const fn all(kind: Kind) -> Field {
    between(0, i16::MAX, kind)
}

/// A field added in `version`.
pub const fn since(version: i16, kind: Kind) -> Field {
    between(version, i16::MAX, kind)
}

/// A field removed after `version`.
pub const fn until(version: i16, kind: Kind) -> Field {
    between(0, version, kind)
}

/// A field present in versions `since..=until`.
pub const fn between(since: i16, until: i16, kind: Kind) -> Field {
    Field {
        kind,
        since,
        until,
        tag: None,
    }
}

/// A tagged field. `kafka-protocol` decodes a tag it knows by its type,
/// ignoring the size written before it, so its content is walked too. It is
/// walked whenever the tag appears, whatever the version: the walk is then at
/// least as strict as the decoder, which either reads it the same way or
/// skips it by its (checked) size.
pub const fn tagged(tag: u32, kind: Kind) -> Field {
    Field {
        kind,
        since: 0,
        until: i16::MAX,
        tag: Some(tag),
    }
}

/// Never flexible.
pub const NO_FLEXIBLE_VERSION: i16 = i16::MAX;

/// The layout of one message body.
#[derive(Clone, Copy, Debug)]
pub struct Schema {
    /// The top-level struct.
    pub fields: &'static [Field],
    /// The first version with compact lengths and tagged fields.
    pub flexible_since: i16,
}
