//! Go-style durations (`720h`, `90m`, `1h30m`) as written in `spec.duration` and `spec.renewBefore`.
//!
//! The schema pattern and CEL's `duration()` accept the same language, so what passes the API
//! server also parses here.

use std::{fmt, str::FromStr, time::Duration};

/// The schema pattern for a duration field: one or more `<integer><unit>` with unit `h`, `m` or `s`.
pub const DURATION_PATTERN: &str = "^([0-9]+(h|m|s))+$";

/// A positive duration parsed from Go syntax restricted to hours, minutes and seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct GoDuration(Duration);

/// Why a duration string was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseDurationError {
    #[error("duration is empty")]
    Empty,
    #[error("duration has a number without a unit (use h, m or s)")]
    MissingUnit,
    #[error("duration has an unknown unit {0:?} (use h, m or s)")]
    UnknownUnit(char),
    #[error("duration is too long")]
    Overflow,
}

impl GoDuration {
    pub fn as_std(self) -> Duration {
        self.0
    }

    pub fn as_secs(self) -> u64 {
        self.0.as_secs()
    }
}

impl FromStr for GoDuration {
    type Err = ParseDurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(ParseDurationError::Empty);
        }
        let mut total: u64 = 0;
        let mut number: Option<u64> = None;
        for c in s.chars() {
            if let Some(digit) = c.to_digit(10) {
                let n = number.unwrap_or(0);
                number = Some(
                    n.checked_mul(10)
                        .and_then(|n| n.checked_add(u64::from(digit)))
                        .ok_or(ParseDurationError::Overflow)?,
                );
                continue;
            }
            let unit = match c {
                'h' => 3600,
                'm' => 60,
                's' => 1,
                other => return Err(ParseDurationError::UnknownUnit(other)),
            };
            let n = number.take().ok_or(ParseDurationError::MissingUnit)?;
            total = n
                .checked_mul(unit)
                .and_then(|secs| total.checked_add(secs))
                .ok_or(ParseDurationError::Overflow)?;
        }
        if number.is_some() {
            return Err(ParseDurationError::MissingUnit);
        }
        Ok(Self(Duration::from_secs(total)))
    }
}

impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.as_secs();
        let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
        if h > 0 {
            write!(f, "{h}h")?;
        }
        if m > 0 {
            write!(f, "{m}m")?;
        }
        if s > 0 || secs == 0 {
            write!(f, "{s}s")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: &str) -> u64 {
        s.parse::<GoDuration>().unwrap().as_secs()
    }

    #[test]
    fn hours_minutes_and_seconds_add_up() {
        assert_eq!(secs("720h"), 720 * 3600);
        assert_eq!(secs("30m"), 1800);
        assert_eq!(secs("1h30m15s"), 5415);
        assert_eq!(secs("90s"), 90);
    }

    #[test]
    fn malformed_durations_are_rejected_with_a_reason() {
        assert_eq!("".parse::<GoDuration>(), Err(ParseDurationError::Empty));
        assert_eq!(
            "10".parse::<GoDuration>(),
            Err(ParseDurationError::MissingUnit)
        );
        assert_eq!(
            "h".parse::<GoDuration>(),
            Err(ParseDurationError::MissingUnit)
        );
        assert_eq!(
            "3d".parse::<GoDuration>(),
            Err(ParseDurationError::UnknownUnit('d'))
        );
        assert_eq!(
            "99999999999999999999h".parse::<GoDuration>(),
            Err(ParseDurationError::Overflow)
        );
    }

    #[test]
    fn display_round_trips() {
        for s in ["720h", "30m", "1h30m15s", "0s", "45s"] {
            assert_eq!(s.parse::<GoDuration>().unwrap().to_string(), s);
        }
    }

    /// Property tests (`make fuzz` runs every module named `properties`).
    mod properties {
        use super::*;

        proptest::proptest! {
            #[test]
            fn any_input_parses_or_is_refused_without_panicking(s in proptest::prelude::any::<String>()) {
                let _ = s.parse::<GoDuration>();
            }

            #[test]
            fn components_add_up_and_display_round_trips(h in 0u64..1_000_000, m in 0u64..100_000, sec in 0u64..100_000) {
                let d: GoDuration = format!("{h}h{m}m{sec}s").parse().unwrap();
                proptest::prop_assert_eq!(d.as_secs(), h * 3600 + m * 60 + sec);
                let shown = d.to_string();
                proptest::prop_assert_eq!(shown.parse::<GoDuration>().unwrap(), d);
                proptest::prop_assert!(regex_free_pattern_match(&shown));
            }
        }
    }

    /// `^([0-9]+(h|m|s))+$`, the schema's pattern, checked by hand.
    fn regex_free_pattern_match(s: &str) -> bool {
        let mut digits = 0;
        for c in s.chars() {
            match c {
                '0'..='9' => digits += 1,
                'h' | 'm' | 's' if digits > 0 => digits = 0,
                _ => return false,
            }
        }
        !s.is_empty() && digits == 0
    }
}
