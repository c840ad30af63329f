//! Resident memory of a process from `/proc/PID/status`, and its growth over time: the slope
//! of a least-squares line through the samples after a warm-up ([`WARM_UP`]), for a life long
//! enough to judge ([`JUDGED_LIFETIME`]).

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

/// How long a process's resident memory may rise before it is judged: its allocator's arenas
/// filling to their working size. A heap profile of both replicas over 20 minutes of the soak's
/// workload (`heaptrack`, docs/reliability.md) shows the live heap level within the first
/// minute (about 5 MiB on the leader, 2.5 MiB on the standby) while RSS keeps rising for
/// several: glibc keeps what each thread's arena once held.
pub const WARM_UP: std::time::Duration = std::time::Duration::from_secs(300);

/// The shortest life judged: the warm-up, then five minutes for a leak to show above the noise.
pub const JUDGED_LIFETIME: std::time::Duration = std::time::Duration::from_secs(600);

/// The samples after the warm-up: after [`WARM_UP`], or after the first third of the life if
/// that is longer.
pub fn after_warm_up(samples: &[(f64, u64)]) -> &[(f64, u64)] {
    let Some(first) = samples.first() else {
        return samples;
    };
    let third = samples.len() / 3;
    let warm = samples
        .iter()
        .position(|s| s.0 - first.0 >= WARM_UP.as_secs_f64())
        .unwrap_or(samples.len());
    &samples[third.max(warm)..]
}

/// Whether memory grows: over the samples after the warm-up, the line would add more than half
/// of the median RSS in an hour. `None`: a life shorter than [`JUDGED_LIFETIME`], or too few
/// samples to judge.
pub fn grows(samples: &[(f64, u64)]) -> Option<bool> {
    let (first, last) = (samples.first()?, samples.last()?);
    if last.0 - first.0 < JUDGED_LIFETIME.as_secs_f64() {
        return None;
    }
    let steady = after_warm_up(samples);
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
        // Twelve minutes, a sample every 10 s.
        let flat: Vec<(f64, u64)> = (0..72)
            .map(|i| (i as f64 * 10.0, 50_000 + (i % 3) * 100))
            .collect();
        assert_eq!(grows(&flat), Some(false));
        // 1 MiB a minute on 50 MiB: 60 MiB an hour.
        let leak: Vec<(f64, u64)> = (0..72)
            .map(|i| (i as f64 * 10.0, 50_000 + i * 170))
            .collect();
        assert_eq!(grows(&leak), Some(true));
        assert_eq!(grows(&flat[..59]), None, "under ten minutes");
    }

    #[test]
    fn the_warm_up_is_not_judged() {
        // 20 MiB rising to 30 MiB over the first five minutes, then flat: a warm-up.
        let warming: Vec<(f64, u64)> = (0..72)
            .map(|i| {
                let t = i as f64 * 10.0;
                (t, 20_000 + (t.min(300.0) * 34.0) as u64)
            })
            .collect();
        assert_eq!(grows(&warming), Some(false));
        assert_eq!(after_warm_up(&warming)[0].0, 300.0);
        // The same rise over the whole life is growth.
        let rising: Vec<(f64, u64)> = (0..72)
            .map(|i| (i as f64 * 10.0, 20_000 + i * 140))
            .collect();
        assert_eq!(grows(&rising), Some(true));
    }

    #[test]
    fn this_process_has_a_resident_size() {
        assert!(rss_kib(std::process::id()).unwrap() > 0);
    }
}
