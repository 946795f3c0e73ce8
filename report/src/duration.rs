//! Virtual times written for people: `4m00s`, `+10m02s`, `2d03h`.

/// A duration in virtual milliseconds, short: `850ms`, `12.3s`, `10m02s`, `2h05m`, `3d04h`.
pub fn short(ms: u64) -> String {
    let s = ms / 1000;
    if ms < 1000 {
        format!("{ms}ms")
    } else if s < 60 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else if s < 86_400 {
        format!("{}h{:02}m{:02}s", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}d{:02}h{:02}m", s / 86_400, s / 3600 % 24, s / 60 % 60)
    }
}

/// A point in the run: `+` and its time since the start.
pub fn offset(ms: u64) -> String {
    format!("+{}", short(ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_each_scale() {
        assert_eq!(offset(0), "+0ms");
        assert_eq!(short(96), "96ms");
        assert_eq!(short(12_345), "12.3s");
        assert_eq!(offset(602_000), "+10m02s");
        assert_eq!(short(7_510_000), "2h05m10s");
        assert_eq!(
            short(3 * 86_400_000 + 4 * 3_600_000 + 5 * 60_000),
            "3d04h05m"
        );
    }
}
