//! `archive_expand`: archive expansion within its budgets.

use super::*;

/// `archive::expand` under the default and small limits: it expands exactly what `sniff`
/// recognises, and the members (content or raw bytes) stay within `max_total_bytes` and
/// `max_members`.
pub fn archive_expand(data: &[u8]) {
    for limits in [ArchiveLimits::default(), small_archive_limits()] {
        let kind = archive::sniff(data);
        let e = archive::expand(data, &limits);
        assert_eq!(
            e.as_ref().map(|e| e.kind),
            kind,
            "expand disagrees with sniff"
        );
        let Some(e) = e else { continue };
        let bytes: u64 = e
            .members
            .iter()
            .map(|m| match &m.content {
                MemberContent::Bytes(b) => b.len() as u64,
                MemberContent::Unscannable { raw, .. } => raw.len() as u64,
            })
            .sum();
        assert!(
            bytes <= limits.max_total_bytes,
            "members hold {bytes} bytes, over max_total_bytes {}",
            limits.max_total_bytes
        );
        assert!(
            e.members.len() as u64 <= u64::from(limits.max_members),
            "{} members, over max_members {}",
            e.members.len(),
            limits.max_members
        );
    }
}

// ---------------------------------------------------------------------------------------
// smtp_command
// ---------------------------------------------------------------------------------------
