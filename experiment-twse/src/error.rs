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
    /// The server answered with an HTTP error status.
    #[error("{endpoint} answered HTTP {status}")]
    Http {
        /// The endpoint.
        endpoint: String,
        /// The status code.
        status: u16,
    },
    /// The request did not get an answer (connection refused, timeout, TLS failure).
    #[error("{endpoint}: {source}")]
    Transport {
        /// The endpoint.
        endpoint: String,
        /// The cause (without the URL).
        #[source]
        source: reqwest::Error,
    },
    /// The client configuration is not usable (a base URL, a certificate file).
    #[error("invalid configuration: {0}")]
    Config(String),
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
    /// The body is about another security than the one asked for (TWSE's `STOCK_DAY` asked
    /// for an OTC code, or a proxy or cache that mixed up answers). Never relabelled.
    #[error("{endpoint} answered for security {got} but {asked} was asked for")]
    WrongSecurity {
        /// The endpoint.
        endpoint: String,
        /// The code asked for.
        asked: String,
        /// The code (and name, when given) in the body.
        got: String,
    },
}

impl Error {
    /// Whether a later retry may succeed (a block lifts after a while; a malformed body or a
    /// wrong period will not change by retrying at once, but may on another day).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Blocked { .. } | Error::Transport { .. } => true,
            Error::Http { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }
}

impl From<Error> for experiment_core::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Blocked { backoff, .. } => experiment_core::Error::RateLimited {
                retry_after: Some(backoff),
            },
            e @ (Error::Transport { .. } | Error::Http { .. }) if e.is_transient() => {
                experiment_core::Error::unavailable("twse", e)
            }
            Error::Config(reason) => experiment_core::Error::invalid("twse config", reason),
            other => experiment_core::Error::decode("TWSE response", other),
        }
    }
}
