//! Entries a request names more than once. Kafka keys most request and
//! response lists by name (`mapKey` in its schemas): a response that names a
//! topic twice is malformed to librdkafka, which then fails the whole request,
//! successes included. So each API answers a repeated key once; what that
//! answer is (refused, or the last entry wins) is the API's to say, as Kafka's
//! handler for it says.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;

/// Where an entry stands among the entries with its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Occurrence {
    /// The only entry with its key.
    Only,
    /// The first of several entries with its key: where the key is answered.
    First,
    /// A later entry with the key of an earlier one: not answered again.
    Again,
}

/// The occurrence of each key, in order.
pub fn occurrences<K: Eq + Hash>(keys: &[K]) -> Vec<Occurrence> {
    let mut counts: HashMap<&K, usize> = HashMap::new();
    for key in keys {
        *counts.entry(key).or_default() += 1;
    }
    let mut seen = HashSet::new();
    keys.iter()
        .map(|key| match (counts[key], seen.insert(key)) {
            (1, _) => Occurrence::Only,
            (_, true) => Occurrence::First,
            (_, false) => Occurrence::Again,
        })
        .collect()
}

/// The entries' items gathered under one entry per key, keys in the order
/// they first appear: a topic listed twice, each time with some of its
/// partitions, is one topic with all of them, as Kafka answers it.
pub fn merge_by_key<K: Eq + Hash + Clone, T>(
    entries: impl IntoIterator<Item = (K, Vec<T>)>,
) -> Vec<(K, Vec<T>)> {
    let mut merged: Vec<(K, Vec<T>)> = Vec::new();
    let mut position: HashMap<K, usize> = HashMap::new();
    for (key, items) in entries {
        match position.get(&key) {
            Some(&at) => merged[at].1.extend(items),
            None => {
                position.insert(key.clone(), merged.len());
                merged.push((key, items));
            }
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::Occurrence::{Again, First, Only};
    use super::*;

    #[test]
    fn a_repeated_key_is_first_once_and_again_after() {
        assert_eq!(
            occurrences(&["a", "b", "a", "c", "a"]),
            vec![First, Only, Again, Only, Again]
        );
        assert_eq!(occurrences::<&str>(&[]), vec![]);
    }

    #[test]
    fn entries_of_one_key_are_merged_where_it_first_appears() {
        let merged = merge_by_key([("t", vec![0, 1]), ("u", vec![0]), ("t", vec![2])]);
        assert_eq!(merged, vec![("t", vec![0, 1, 2]), ("u", vec![0])]);
    }
}
