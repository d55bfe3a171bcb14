//! The crate's one error type.

use std::time::Duration;

/// A boxed error kept as the cause of a backend failure.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `Result` with this crate's [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong behind a port.
///
/// Callers decide whether to retry with [`Error::is_transient`], never by matching strings.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The thing asked for does not exist (a rule id, a security code, a notification key).
    #[error("not found: {what}")]
    NotFound {
        /// What was looked up, e.g. `rule 'r-1'`.
        what: String,
    },

    /// The caller passed something the port cannot accept; retrying the same call fails again.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The argument or field at fault, e.g. `topic` or `code`.
        field: String,
        /// What was wrong and what was expected.
        reason: String,
    },

    /// Bytes that should hold a known message could not be decoded (a poison event, a corrupt
    /// stored record). `context` says where the bytes came from; `source` says what was wrong.
    #[error("cannot decode {context}: {source}")]
    Decode {
        /// Where the bytes came from, e.g. `event at experiment.quotes.v1/2@17`.
        context: String,
        /// The decoder's own error, with the field path where it has one.
        #[source]
        source: BoxError,
    },

    /// A backend (Kafka, MongoDB, Redis, the embedded database, a remote HTTP service) could not
    /// be reached or failed while serving the request. Usually worth retrying.
    #[error("{backend} unavailable: {source}")]
    Unavailable {
        /// The backend's name, e.g. `kafka`, `redb`, `slack`.
        backend: &'static str,
        /// The backend's error.
        #[source]
        source: BoxError,
    },

    /// The remote side asked us to slow down.
    #[error("rate limited{}", retry_after.map(|d| format!(", retry after {d:?}")).unwrap_or_default())]
    RateLimited {
        /// How long the remote side asked us to wait, when it said.
        retry_after: Option<Duration>,
    },

    /// The remote side refused the request for a reason that retrying will not change
    /// (an archived Slack channel, a revoked token, an HTTP 404/410/403).
    #[error("{destination} rejected the request permanently: {reason}")]
    Rejected {
        /// The destination or service that refused, e.g. `slack`.
        destination: String,
        /// The reason it gave (never a secret).
        reason: String,
    },

    /// The operation did not finish in time.
    #[error("timed out after {after:?} while {during}")]
    Timeout {
        /// How long we waited.
        after: Duration,
        /// What was being done.
        during: String,
    },

    /// The state changed under the caller (a notification claimed again after the caller's
    /// claim ran out): its write was refused so as not to undo a newer one.
    #[error("conflict: {what}")]
    Conflict {
        /// What changed.
        what: String,
    },

    /// The component was shut down or its peer went away.
    #[error("closed: {what}")]
    Closed {
        /// What was closed.
        what: String,
    },
}

impl Error {
    /// Whether the same call may succeed if tried again later.
    ///
    /// `Unavailable`, `RateLimited` and `Timeout` are transient; everything else is permanent.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::Unavailable { .. } | Error::RateLimited { .. } | Error::Timeout { .. }
        )
    }

    /// How long the remote side asked us to wait, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::RateLimited { retry_after } => *retry_after,
            _ => None,
        }
    }

    /// Shorthand for [`Error::InvalidInput`].
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidInput {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Shorthand for [`Error::NotFound`].
    pub fn not_found(what: impl Into<String>) -> Self {
        Error::NotFound { what: what.into() }
    }

    /// Shorthand for [`Error::Decode`].
    pub fn decode(context: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Error::Decode {
            context: context.into(),
            source: source.into(),
        }
    }

    /// Shorthand for [`Error::Unavailable`].
    pub fn unavailable(backend: &'static str, source: impl Into<BoxError>) -> Self {
        Error::Unavailable {
            backend,
            source: source.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_classification() {
        assert!(Error::unavailable("kafka", "down").is_transient());
        assert!(Error::RateLimited { retry_after: None }.is_transient());
        assert!(!Error::not_found("rule 'x'").is_transient());
        assert!(!Error::invalid("topic", "empty").is_transient());
        assert!(!Error::Rejected {
            destination: "slack".into(),
            reason: "channel_not_found".into()
        }
        .is_transient());
    }

    #[test]
    fn messages_name_the_problem() {
        let e = Error::RateLimited {
            retry_after: Some(Duration::from_secs(3)),
        };
        assert_eq!(e.to_string(), "rate limited, retry after 3s");
        assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));
        let e = Error::invalid("group", "must not be empty");
        assert_eq!(e.to_string(), "invalid group: must not be empty");
    }
}
