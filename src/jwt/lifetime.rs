//! How long a JWT lives: the requested `duration_seconds`, the default, the ceiling, and never
//! beyond the access token's own expiry.

/// The configured default and ceiling, in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LifetimeLimits {
    pub default: i64,
    pub max: i64,
}

/// Why a requested duration was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DurationError {
    #[error("duration_seconds must be an integer of at least 1")]
    NotPositive,
    #[error("duration_seconds must be at most {0}")]
    AboveMaximum(i64),
    #[error("duration_seconds exceeds the remaining lifetime of the access token")]
    BeyondTokenExpiry,
}

impl Default for LifetimeLimits {
    fn default() -> Self {
        Self {
            default: 300,
            max: 86_400,
        }
    }
}

impl LifetimeLimits {
    /// The lifetime in seconds for a request. `remaining` is the access token's remaining
    /// lifetime in seconds (`None`: it never expires). An explicit duration beyond it is refused;
    /// the default is shortened to it, since the caller did not ask for more.
    pub fn resolve(
        &self,
        requested: Option<i64>,
        remaining: Option<i64>,
    ) -> Result<i64, DurationError> {
        let remaining = remaining.map(|r| r.max(0));
        match requested {
            Some(d) if d < 1 => Err(DurationError::NotPositive),
            Some(d) if d > self.max => Err(DurationError::AboveMaximum(self.max)),
            Some(d) if remaining.is_some_and(|r| d > r) => Err(DurationError::BeyondTokenExpiry),
            Some(d) => Ok(d),
            None => {
                let d = self.default.min(self.max);
                match remaining {
                    Some(r) if r < 1 => Err(DurationError::BeyondTokenExpiry),
                    Some(r) => Ok(d.min(r)),
                    None => Ok(d),
                }
            }
        }
    }
}
