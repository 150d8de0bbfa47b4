//! The store's writeback thread: starts writeback of the bytes partitions
//! appended (`Partition::write_back`), off the produce path.
//!
//! Starting writeback (`sync_file_range`) usually takes ~0.1 ms per MiB but
//! blocks for tens of ms when the disk queue is full; on this thread that
//! delays only the next hint, never an append. A partition queues itself at
//! most once at a time (`Partition::writeback_queued`), so the queue holds at
//! most one entry per partition however far the disk falls behind.
use std::sync::Weak;
use std::sync::mpsc::Receiver;

use crate::partition::Partition;

/// What the writeback thread is asked to do.
#[derive(Debug)]
pub(crate) enum Request {
    /// Start writeback of what this partition appended since its last one.
    WriteBack(Weak<Partition>),
    /// Exit (the store is closing or dropped).
    Stop,
}

pub(super) fn run(requests: &Receiver<Request>) {
    while let Ok(Request::WriteBack(partition)) = requests.recv() {
        // A partition deleted or dropped meanwhile needs nothing.
        if let Some(partition) = partition.upgrade() {
            partition.write_back();
        }
    }
}
