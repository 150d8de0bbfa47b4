//! The operations a client may perform on a resource, as Metadata,
//! DescribeCluster and DescribeGroups answer them when asked
//! (`include_*_authorized_operations`): a bitfield with bit `i` set for
//! Kafka's `AclOperation` code `i`.
//!
//! This broker has no authorizer, so it answers as Kafka does without one
//! (`AuthHelper.authorizedOperations`: `case None => supportedOps`): every
//! operation Kafka supports on the resource type
//! (`AclEntry.supportedOperations`). Tools that check an operation before
//! offering it (UIs, the Java admin client's `authorizedOperations()`) read
//! "not provided" as "cannot tell".

/// `AclOperation` codes, as on the wire.
#[derive(Clone, Copy, Debug)]
enum Operation {
    Read = 3,
    Write = 4,
    Create = 5,
    Delete = 6,
    Alter = 7,
    Describe = 8,
    ClusterAction = 9,
    DescribeConfigs = 10,
    AlterConfigs = 11,
    IdempotentWrite = 12,
}

use Operation::{
    Alter, AlterConfigs, ClusterAction, Create, Delete, Describe, DescribeConfigs, IdempotentWrite,
    Read, Write,
};

/// The kinds of resource whose operations are asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource {
    Cluster,
    Topic,
    Group,
}

/// The schemas' default: the client did not ask.
pub const NOT_REQUESTED: i32 = i32::MIN;

impl Resource {
    /// Kafka's supported operations for the resource type. Groups have
    /// configs in Kafka 4.0 (KIP-848, KAFKA-14510), hence DESCRIBE_CONFIGS
    /// and ALTER_CONFIGS on a group.
    fn operations(self) -> &'static [Operation] {
        match self {
            Resource::Cluster => &[
                Create,
                ClusterAction,
                DescribeConfigs,
                AlterConfigs,
                IdempotentWrite,
                Alter,
                Describe,
            ],
            Resource::Topic => &[
                Read,
                Write,
                Create,
                Describe,
                Delete,
                Alter,
                DescribeConfigs,
                AlterConfigs,
            ],
            Resource::Group => &[Read, Describe, Delete, DescribeConfigs, AlterConfigs],
        }
    }

    /// The field's value: every operation on the resource if `requested`,
    /// else [`NOT_REQUESTED`].
    pub fn answer(self, requested: bool) -> i32 {
        if !requested {
            return NOT_REQUESTED;
        }
        self.operations()
            .iter()
            .fold(0, |bits, &op| bits | 1 << op as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The values a Kafka 4.0 broker without an authorizer answers.
    #[test]
    fn every_supported_operation_is_one_bit() {
        assert_eq!(Resource::Cluster.answer(true), 8096);
        assert_eq!(Resource::Topic.answer(true), 3576);
        assert_eq!(Resource::Group.answer(true), 3400);
        assert_eq!(Resource::Topic.answer(false), i32::MIN);
    }
}
