//! File names inside a partition directory.
//!
//! Segment files are named by their base offset, 20 decimal digits zero-padded
//! (so lexical order is offset order): `00000000000000001234.log`,
//! `.index`, `.timeindex`. `partition.checkpoint` holds the partition's
//! checkpoint; `*.tmp` files are unfinished atomic writes. Compaction writes
//! a segment's cleaned log as `<base>.log.cleaned` and renames it to
//! `<base>.log.swap` once it is fsynced (FORMAT.md §6). A partition
//! directory being deleted is first renamed to `<name>.delete`.
use std::path::{Path, PathBuf};

pub const LOG_SUFFIX: &str = "log";
pub const INDEX_SUFFIX: &str = "index";
pub const TIME_INDEX_SUFFIX: &str = "timeindex";
pub const CHECKPOINT_FILE: &str = "partition.checkpoint";
pub const TMP_SUFFIX: &str = "tmp";
pub const DELETE_DIR_SUFFIX: &str = ".delete";
/// After `<base>.log.`: a cleaned log being written (deleted at open).
pub const CLEANED_SUFFIX: &str = "cleaned";
/// After `<base>.log.`: a cleaned log, fsynced, that replaces `<base>.log`
/// (an open finishes the swap).
pub const SWAP_SUFFIX: &str = "swap";

/// The longest file name Linux file systems take (`NAME_MAX`).
const NAME_MAX_BYTES: usize = 255;

/// What a partition directory is renamed to while it is deleted: `<dir>.delete`, or, where that
/// would pass `NAME_MAX` (topic names go up to 249 characters, and the partition number adds up
/// to 11 more), the name cut to 239 bytes and made unique again with the CRC-32C of the whole
/// name: `<cut name>~<crc as 8 hex digits>.delete`.
pub fn deleting_dir_name(dir_name: &str) -> String {
    if dir_name.len() + DELETE_DIR_SUFFIX.len() <= NAME_MAX_BYTES {
        return format!("{dir_name}{DELETE_DIR_SUFFIX}");
    }
    let mut cut = NAME_MAX_BYTES - DELETE_DIR_SUFFIX.len() - "~00000000".len();
    while !dir_name.is_char_boundary(cut) {
        cut -= 1;
    }
    let crc = crc32c::crc32c(dir_name.as_bytes());
    format!(
        "{}~{crc:08x}{DELETE_DIR_SUFFIX}",
        dir_name.get(..cut).unwrap_or_default()
    )
}

/// In the data directory: held with an exclusive `flock` by the open store.
pub const LOCK_FILE: &str = ".lock";

/// The kinds of file a partition directory holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Log,
    OffsetIndex,
    TimeIndex,
}

impl FileKind {
    pub fn suffix(self) -> &'static str {
        match self {
            FileKind::Log => LOG_SUFFIX,
            FileKind::OffsetIndex => INDEX_SUFFIX,
            FileKind::TimeIndex => TIME_INDEX_SUFFIX,
        }
    }
}

/// `<20-digit base offset>.<suffix>`.
pub fn segment_file_name(base_offset: i64, kind: FileKind) -> String {
    format!("{base_offset:020}.{}", kind.suffix())
}

pub fn segment_path(dir: &Path, base_offset: i64, kind: FileKind) -> PathBuf {
    dir.join(segment_file_name(base_offset, kind))
}

/// Parses a segment file name into its base offset and kind.
pub fn parse_segment_file_name(name: &str) -> Option<(i64, FileKind)> {
    let (stem, suffix) = name.split_once('.')?;
    let kind = match suffix {
        LOG_SUFFIX => FileKind::Log,
        INDEX_SUFFIX => FileKind::OffsetIndex,
        TIME_INDEX_SUFFIX => FileKind::TimeIndex,
        _ => return None,
    };
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let base: i64 = stem.parse().ok()?;
    Some((base, kind))
}

/// Which of compaction's files a name is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CleanerFile {
    /// `<base>.log.cleaned`
    Cleaned,
    /// `<base>.log.swap`
    Swap,
}

impl CleanerFile {
    fn suffix(self) -> &'static str {
        match self {
            CleanerFile::Cleaned => CLEANED_SUFFIX,
            CleanerFile::Swap => SWAP_SUFFIX,
        }
    }
}

/// `<20-digit base offset>.log.cleaned` or `.log.swap`.
pub fn cleaner_path(dir: &Path, base_offset: i64, kind: CleanerFile) -> PathBuf {
    dir.join(format!(
        "{}.{}",
        segment_file_name(base_offset, FileKind::Log),
        kind.suffix()
    ))
}

/// Parses a name made by [`cleaner_path`] into its base offset and kind.
pub fn parse_cleaner_file_name(name: &str) -> Option<(i64, CleanerFile)> {
    let (log, suffix) = name.rsplit_once('.')?;
    let kind = match suffix {
        CLEANED_SUFFIX => CleanerFile::Cleaned,
        SWAP_SUFFIX => CleanerFile::Swap,
        _ => return None,
    };
    match parse_segment_file_name(log)? {
        (base, FileKind::Log) => Some((base, kind)),
        _ => None,
    }
}

/// Base offset and kind of a segment file given by its path.
pub fn parse_segment_path(path: &Path) -> Option<(i64, FileKind)> {
    parse_segment_file_name(path.file_name()?.to_str()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let name = segment_file_name(1234, FileKind::TimeIndex);
        assert_eq!(name, "00000000000000001234.timeindex");
        assert_eq!(
            parse_segment_file_name(&name),
            Some((1234, FileKind::TimeIndex))
        );
        assert_eq!(
            parse_segment_file_name("00000000000000001234.log.tmp"),
            None
        );
        assert_eq!(parse_segment_file_name("1234.log"), None);
        assert_eq!(parse_segment_file_name("99999999999999999999.log"), None);
    }

    #[test]
    fn cleaner_names_round_trip_and_are_not_segment_files() {
        for kind in [CleanerFile::Cleaned, CleanerFile::Swap] {
            let path = cleaner_path(Path::new("/d"), 4711, kind);
            let name = path.file_name().unwrap().to_str().unwrap();
            assert_eq!(parse_cleaner_file_name(name), Some((4711, kind)));
            assert_eq!(parse_segment_file_name(name), None);
        }
        assert_eq!(
            cleaner_path(Path::new("/d"), 7, CleanerFile::Swap),
            Path::new("/d/00000000000000000007.log.swap")
        );
        assert_eq!(
            parse_cleaner_file_name("00000000000000000007.index.swap"),
            None
        );
        assert_eq!(
            parse_cleaner_file_name("00000000000000000007.log.tmp"),
            None
        );
    }
}
