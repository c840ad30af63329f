//! When a token value stopped being valid, and how late an accepted exchange of it was.

/// Why a value stopped being valid.
pub type Kind = &'static str;

/// What is known of one value's end, all times in Unix seconds.
#[derive(Clone, Debug, Default)]
pub struct Ends {
    /// Its token revoked or deleted (the write acknowledged by the API).
    pub token_ended: Option<(f64, Kind)>,
    /// Replaced by a rotation or regeneration, or its phase turned Revoked or Expired, as the
    /// observer's watch saw the status.
    pub replaced: Option<(f64, Kind)>,
    /// Its recorded expiry.
    pub expires_at: Option<f64>,
    /// Its account's disabled intervals (disable acknowledged, re-enable acknowledged).
    pub disabled: Vec<(f64, Option<f64>)>,
}

impl Ends {
    /// The earliest moment the value was invalid for an exchange sent at `sent` and answered
    /// at `answered`: a disabled interval counts only if no re-enable was acknowledged before
    /// the answer (the service may have seen it).
    pub fn invalid_since(&self, sent: f64, answered: f64) -> Option<(f64, Kind)> {
        let mut candidates: Vec<(f64, Kind)> = Vec::new();
        candidates.extend(self.token_ended);
        candidates.extend(self.replaced);
        candidates.extend(self.expires_at.map(|t| (t, "expired")));
        candidates.extend(
            self.disabled
                .iter()
                .filter(|(from, until)| *from <= sent && until.is_none_or(|u| u > answered))
                .map(|(from, _)| (*from, "account disabled")),
        );
        candidates
            .into_iter()
            .filter(|(t, _)| *t <= sent)
            .min_by(|a, b| a.0.total_cmp(&b.0))
    }

    /// How late an exchange accepted at `[sent, answered]` was, and why, if it was late at all.
    pub fn lateness(&self, sent: f64, answered: f64) -> Option<(f64, Kind)> {
        self.invalid_since(sent, answered)
            .map(|(since, kind)| (sent - since, kind))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exchange_after_a_revocation_is_late_by_the_time_since_it() {
        let ends = Ends {
            token_ended: Some((100.0, "revoked")),
            expires_at: Some(200.0),
            ..Ends::default()
        };
        assert_eq!(ends.lateness(99.0, 99.5), None);
        assert_eq!(ends.lateness(102.5, 103.0), Some((2.5, "revoked")));
    }

    #[test]
    fn a_disabled_account_counts_only_until_its_re_enabling() {
        let ends = Ends {
            disabled: vec![(10.0, Some(20.0)), (30.0, None)],
            ..Ends::default()
        };
        assert_eq!(ends.lateness(15.0, 15.1), Some((5.0, "account disabled")));
        // Re-enabled at 20, before the answer: the service may have seen it.
        assert_eq!(ends.lateness(19.9, 20.1), None);
        assert_eq!(ends.lateness(25.0, 25.1), None);
        assert_eq!(ends.lateness(31.0, 31.1), Some((1.0, "account disabled")));
    }

    #[test]
    fn the_earliest_end_is_the_one_that_counts() {
        let ends = Ends {
            replaced: Some((50.0, "replaced")),
            expires_at: Some(40.0),
            ..Ends::default()
        };
        assert_eq!(ends.lateness(60.0, 60.1), Some((20.0, "expired")));
    }
}
