//! Why a version is refused (`Kind`), and the policy's decisions counted by reason
//! (`Counters`, read by `/metrics`).

use std::sync::atomic::{AtomicU64, Ordering};

/// Why a version is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Deny,
    NotAllowed,
    Malicious,
    Advisory,
    Cooldown,
}

pub(super) const KINDS: [Kind; 5] = [
    Kind::Deny,
    Kind::NotAllowed,
    Kind::Malicious,
    Kind::Advisory,
    Kind::Cooldown,
];

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Deny => "deny",
            Kind::NotAllowed => "not-allowed",
            Kind::Malicious => "malicious",
            Kind::Advisory => "advisory",
            Kind::Cooldown => "cooldown",
        }
    }
}

/// Decisions, by reason: read by `/metrics`.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Artifact requests the policy looked at.
    pub checked: AtomicU64,
    /// Refused, per `Kind` (in `KINDS` order).
    pub blocked: [AtomicU64; 5],
    /// Would have been refused, served in audit mode, per `Kind`.
    pub audited: [AtomicU64; 5],
    /// Versions hidden from documents as they were stored.
    pub hidden: AtomicU64,
}

impl Counters {
    /// `(reason, blocked, audited)` for every reason.
    pub(crate) fn by_reason(&self) -> Vec<(&'static str, u64, u64)> {
        KINDS
            .iter()
            .enumerate()
            .map(|(i, k)| {
                (
                    k.as_str(),
                    self.blocked[i].load(Ordering::Relaxed),
                    self.audited[i].load(Ordering::Relaxed),
                )
            })
            .collect()
    }
}
