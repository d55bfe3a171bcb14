//! The crate's error type.

use std::time::Duration;

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong talking to TWSE/TPEx.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The exchange's security filter answered with its block page (an HTML page with HTTP 200
    /// or 307). Slow down for a long time; retrying soon makes it worse.
    #[error(
        "blocked by {endpoint}'s security filter (error code {code}); back off for {backoff:?}"
    )]
    Blocked {
        /// The endpoint that answered.
        endpoint: String,
        /// The page's error code, `unknown` when it shows none.
        code: String,
        /// How long to wait before the next request to this host.
        backoff: Duration,
    },
    /// The body is not what the endpoint documents (not JSON, a field missing, an unknown status).
    #[error("malformed {endpoint} response: {reason}")]
    Malformed {
        /// The endpoint, e.g. `STOCK_DAY`.
        endpoint: String,
        /// What was wrong.
        reason: String,
    },
    /// The body is about another period than the one asked for.
    #[error("{endpoint} answered for {got} but {asked} was asked for")]
    WrongPeriod {
        /// The endpoint.
        endpoint: String,
        /// The period asked for, e.g. `2025-05`.
        asked: String,
        /// The period in the body.
        got: String,
    },
}

impl Error {
    /// Whether a later retry may succeed (a block lifts after a while; a malformed body or a
    /// wrong period will not change by retrying at once, but may on another day).
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Blocked { .. })
    }
}

impl From<Error> for experiment_core::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Blocked { backoff, .. } => experiment_core::Error::RateLimited {
                retry_after: Some(backoff),
            },
            other => experiment_core::Error::decode("TWSE response", other),
        }
    }
}
