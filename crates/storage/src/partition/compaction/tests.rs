use super::*;

/// A record at `offset`, its batch's delete horizon `horizon`; its own
/// timestamp is 0 (long past), which must not count.
fn record(
    offset: i64,
    key: Option<&'static [u8]>,
    tombstone: bool,
    horizon: Option<i64>,
) -> RecordInfo<'static> {
    RecordInfo {
        offset,
        key,
        is_tombstone: tombstone,
        timestamp_ms: 0,
        delete_horizon_ms: horizon,
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
fn superseded_records_and_last_tombstones_past_their_horizon_go_keyless_records_stay() {
    let mut keys = KeyMap::default();
    keys.insert(b"a", 5);
    keys.insert(b"t", 7);
    let now = 100;
    assert!(!keys.keeps(&record(1, Some(b"a"), false, None), now));
    assert!(keys.keeps(&record(5, Some(b"a"), false, Some(0)), now));
    // The last record of its key, a tombstone: kept until its batch has a
    // horizon and the horizon has come (Kafka keeps it while now < horizon).
    assert!(keys.keeps(&record(7, Some(b"t"), true, None), now));
    assert!(keys.keeps(&record(7, Some(b"t"), true, Some(101)), now));
    assert!(!keys.keeps(&record(7, Some(b"t"), true, Some(100)), now));
    // No key: kept whatever it is.
    assert!(keys.keeps(&record(3, None, true, Some(0)), now));
}

#[test]
fn records_past_the_maps_end_stay_whatever_they_are() {
    let mut keys = KeyMap::default();
    keys.insert(b"a", 5);
    keys.end = 6;
    // An old tombstone of a key the map saw earlier: removing it would bring
    // the value at offset 5 back.
    assert!(keys.keeps(&record(8, Some(b"a"), true, Some(0)), 100));
    assert!(!keys.keeps(&record(4, Some(b"a"), false, None), 100));
}
