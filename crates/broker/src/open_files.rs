//! The process's open-file limit. Every partition holds its active segment
//! open, and every connection is a socket, so the common soft limit of 1024
//! caps a broker at about a thousand partitions and then refuses connections.
//! The soft limit is raised to the hard one at start-up, as the Go runtime and
//! most servers do, so a default install needs no `ulimit` step.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// The soft limit before and after, when it was raised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Raised {
    pub from: u64,
    pub to: u64,
}

/// Raises the soft open-file limit to the hard limit. `Ok(None)`: it was
/// already there (or unlimited).
pub fn raise_to_hard_limit() -> std::io::Result<Option<Raised>> {
    let limit = getrlimit(Resource::Nofile);
    let (Some(current), hard) = (limit.current, limit.maximum) else {
        return Ok(None);
    };
    let target = hard.unwrap_or(u64::MAX);
    if current >= target {
        return Ok(None);
    }
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: hard,
            maximum: hard,
        },
    )?;
    Ok(Some(Raised {
        from: current,
        to: target,
    }))
}
