//! Resident memory of a process from `/proc/PID/status`, and its growth over time: the slope
//! of a least-squares line through the samples after a warm-up.

/// `VmRSS` of `pid` in KiB, if the process exists.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// KiB per minute of the least-squares line through `(seconds, KiB)` samples; `None` with
/// fewer than three samples or no time between them.
pub fn slope_kib_per_min(samples: &[(f64, u64)]) -> Option<f64> {
    if samples.len() < 3 {
        return None;
    }
    let n = samples.len() as f64;
    let mx = samples.iter().map(|s| s.0).sum::<f64>() / n;
    let my = samples.iter().map(|s| s.1 as f64).sum::<f64>() / n;
    let sxx: f64 = samples.iter().map(|s| (s.0 - mx).powi(2)).sum();
    if sxx == 0.0 {
        return None;
    }
    let sxy: f64 = samples.iter().map(|s| (s.0 - mx) * (s.1 as f64 - my)).sum();
    Some(sxy / sxx * 60.0)
}

/// Whether memory grows: over the samples after the first third (the warm-up: caches filling,
/// the workload's objects created), the line would add more than half of the median RSS in an
/// hour. `None`: too few samples to judge.
pub fn grows(samples: &[(f64, u64)]) -> Option<bool> {
    let steady = &samples[samples.len() / 3..];
    let slope = slope_kib_per_min(steady)?;
    let mut sorted: Vec<u64> = steady.iter().map(|s| s.1).collect();
    sorted.sort_unstable();
    let median = sorted[sorted.len() / 2] as f64;
    Some(slope * 60.0 > median * 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flat_series_does_not_grow_and_a_leak_does() {
        let flat: Vec<(f64, u64)> = (0..60)
            .map(|i| (i as f64 * 10.0, 50_000 + (i % 3) * 100))
            .collect();
        assert_eq!(grows(&flat), Some(false));
        // 1 MiB a minute on 50 MiB: 60 MiB an hour.
        let leak: Vec<(f64, u64)> = (0..60)
            .map(|i| (i as f64 * 10.0, 50_000 + i * 170))
            .collect();
        assert_eq!(grows(&leak), Some(true));
        assert_eq!(grows(&flat[..2]), None);
    }

    #[test]
    fn this_process_has_a_resident_size() {
        assert!(rss_kib(std::process::id()).unwrap() > 0);
    }
}
