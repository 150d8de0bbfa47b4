//! One member of a classic consumer group: who it is, what it supports, what it was assigned,
//! and the deadlines the coordinator watches.

use bytes::Bytes;

/// A member as the coordinator knows it between requests.
#[derive(Clone, Debug)]
pub struct Member {
    pub member_id: String,
    /// `group.instance.id` of a static member; `None` for a dynamic one.
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    /// Supported protocols in the member's order of preference, each with its opaque metadata.
    pub protocols: Vec<(String, Bytes)>,
    /// The bytes the leader assigned to this member in the last completed SyncGroup.
    pub assignment: Bytes,
    /// The session expires when `now_ms` passes this without a heartbeat, join or sync.
    pub session_deadline_ms: i64,
    /// The member has sent JoinGroup in the current rebalance and waits for its response.
    pub awaiting_join: bool,
    /// The member has sent SyncGroup in the current generation and waits for the leader's assignment.
    pub awaiting_sync: bool,
}

impl Member {
    /// Restart the session clock: any request from the member proves it is alive.
    pub fn touch(&mut self, now_ms: i64) {
        self.session_deadline_ms = now_ms.saturating_add(i64::from(self.session_timeout_ms));
    }

    /// The metadata this member sent for `protocol`, if it supports it.
    pub fn metadata_for(&self, protocol: &str) -> Option<&Bytes> {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, metadata)| metadata)
    }

    pub fn supports(&self, protocol: &str) -> bool {
        self.metadata_for(protocol).is_some()
    }

    /// Whether a rejoin brings the same protocol list (names and metadata), so a static member's
    /// restart need not trigger a rebalance.
    pub fn same_protocols(&self, protocols: &[(String, Bytes)]) -> bool {
        self.protocols == protocols
    }
}
