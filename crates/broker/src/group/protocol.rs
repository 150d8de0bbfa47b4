//! Protocol selection: the group runs the assignor every member supports that most members
//! prefer — the broker only picks the name and relays the bytes; assignment stays client-side.

use super::member::Member;

/// Among the protocols all `members` support, the one most members list first (each member
/// votes for its most preferred candidate). Ties go to the first member's preference order.
/// `None` when the members share no protocol.
pub fn select_protocol(members: &[&Member]) -> Option<String> {
    let first = members.first()?;
    let candidates: Vec<&str> = first
        .protocols
        .iter()
        .map(|(name, _)| name.as_str())
        .filter(|name| members.iter().all(|m| m.supports(name)))
        .collect();
    let mut votes = vec![0usize; candidates.len()];
    for member in members {
        let preferred = member
            .protocols
            .iter()
            .find_map(|(name, _)| candidates.iter().position(|c| c == name));
        if let Some(slot) = preferred.and_then(|index| votes.get_mut(index)) {
            *slot += 1;
        }
    }
    // max_by_key returns the LAST maximum; iterate in reverse so ties favour the earlier candidate.
    let winner = votes
        .iter()
        .enumerate()
        .rev()
        .max_by_key(|(_, count)| **count)
        .map(|(index, _)| index)?;
    candidates.get(winner).map(|name| (*name).to_owned())
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn member(id: &str, protocols: &[&str]) -> Member {
        Member {
            member_id: id.to_owned(),
            group_instance_id: None,
            client_id: "c".to_owned(),
            client_host: "/127.0.0.1".to_owned(),
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 10_000,
            protocol_type: "consumer".to_owned(),
            protocols: protocols
                .iter()
                .map(|p| ((*p).to_owned(), Bytes::new()))
                .collect(),
            assignment: Bytes::new(),
            session_deadline_ms: 0,
            awaiting_join: false,
            awaiting_sync: false,
        }
    }

    #[test]
    fn picks_the_protocol_most_members_prefer() {
        let a = member("a", &["range", "roundrobin"]);
        let b = member("b", &["roundrobin", "range"]);
        let c = member("c", &["roundrobin", "range"]);
        assert_eq!(
            select_protocol(&[&a, &b, &c]).as_deref(),
            Some("roundrobin")
        );
    }

    #[test]
    fn only_protocols_everyone_supports_are_candidates() {
        let a = member("a", &["cooperative-sticky", "range"]);
        let b = member("b", &["range"]);
        assert_eq!(select_protocol(&[&a, &b]).as_deref(), Some("range"));
    }

    #[test]
    fn a_tie_goes_to_the_first_members_preference() {
        let a = member("a", &["range", "roundrobin"]);
        let b = member("b", &["roundrobin", "range"]);
        assert_eq!(select_protocol(&[&a, &b]).as_deref(), Some("range"));
    }

    #[test]
    fn no_common_protocol_is_none() {
        let a = member("a", &["range"]);
        let b = member("b", &["roundrobin"]);
        assert_eq!(select_protocol(&[&a, &b]), None);
        assert_eq!(select_protocol(&[]), None);
    }
}
