use super::*;

fn record(
    offset: i64,
    key: Option<&'static [u8]>,
    tombstone: bool,
    ts: i64,
) -> RecordInfo<'static> {
    RecordInfo {
        offset,
        key,
        is_tombstone: tombstone,
        timestamp_ms: ts,
    }
}

#[test]
fn the_key_map_keeps_each_keys_last_offset_and_counts_new_keys_only() {
    let mut keys = KeyMap::default();
    keys.insert(b"a", 1);
    keys.insert(b"bb", 2);
    keys.insert(b"a", 5);
    assert_eq!(keys.last.get(&b"a"[..]), Some(&5));
    assert_eq!(keys.bytes, 1 + 2 + 2 * KEY_ENTRY_OVERHEAD_BYTES);
}

#[test]
fn superseded_records_and_old_last_tombstones_go_keyless_records_stay() {
    let mut keys = KeyMap::default();
    keys.insert(b"a", 5);
    keys.insert(b"t", 7);
    let cutoff = 100;
    assert!(!keys.keeps(&record(1, Some(b"a"), false, 500), cutoff));
    assert!(keys.keeps(&record(5, Some(b"a"), false, 0), cutoff));
    // The last record of its key, a tombstone: kept while young.
    assert!(keys.keeps(&record(7, Some(b"t"), true, 100), cutoff));
    assert!(!keys.keeps(&record(7, Some(b"t"), true, 99), cutoff));
    // No key: kept whatever it is.
    assert!(keys.keeps(&record(3, None, true, 0), cutoff));
}

#[test]
fn records_past_the_maps_end_stay_whatever_they_are() {
    let mut keys = KeyMap::default();
    keys.insert(b"a", 5);
    keys.end = 6;
    // An old tombstone of a key the map saw earlier: removing it would bring
    // the value at offset 5 back.
    assert!(keys.keeps(&record(8, Some(b"a"), true, 0), 100));
    assert!(!keys.keeps(&record(4, Some(b"a"), false, 500), 100));
}
