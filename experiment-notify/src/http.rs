//! What every HTTP channel shares: the client, and turning responses and transport errors into
//! the core error kinds without leaking the URL (which often is the secret).

use std::time::Duration;

use experiment_core::Error;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;

/// Default request timeout of the channels (the generic webhook's 3 s included).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

/// One destination's HTTP side: its name (for errors), client and timeout.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub(crate) name: String,
    pub(crate) client: reqwest::Client,
    timeout: Duration,
}

/// A response read to the end.
pub(crate) struct Response {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Response {
    /// The response as an error, classified by status (see [`status_error`]).
    pub(crate) fn error(&self, destination: &str) -> Error {
        status_error(destination, self.status, &self.headers, &self.body)
    }
}

impl Endpoint {
    /// An endpoint whose requests time out after `timeout`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] if the TLS backend cannot be initialised.
    pub(crate) fn new(name: impl Into<String>, timeout: Duration) -> Result<Self, Error> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("experiment-notify/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::invalid("http client", e.without_url().to_string()))?;
        Ok(Endpoint {
            name: name.into(),
            client,
            timeout,
        })
    }

    /// Sends and reads the whole answer. Transport failures are classified, with the URL
    /// stripped because it may hold a token.
    pub(crate) async fn send(&self, request: reqwest::RequestBuilder) -> Result<Response, Error> {
        let request = request
            .build()
            .map_err(|e| Error::invalid("request", e.without_url().to_string()))?;
        // The host and port are not secret (the path may be: Slack's and Telegram's hold
        // tokens), and they are what a user checks first.
        let host = request.url().host_str().map_or_else(
            || "the destination".to_owned(),
            |h| match request.url().port_or_known_default() {
                Some(p) => format!("{h}:{p}"),
                None => h.to_owned(),
            },
        );
        let transport = |e: reqwest::Error| {
            if e.is_timeout() {
                Error::Timeout {
                    after: self.timeout,
                    during: format!("sending to {} at {host}", self.name),
                }
            } else {
                // reqwest says "error sending request"; the cause is in its sources.
                let e = e.without_url();
                let mut why = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    why.push_str(": ");
                    why.push_str(&s.to_string());
                    source = s.source();
                }
                Error::unavailable("http", format!("{host}: {why}"))
            }
        };
        let resp = self.client.execute(request).await.map_err(transport)?;
        let (status, headers) = (resp.status(), resp.headers().clone());
        let body = resp.text().await.map_err(transport)?;
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

/// `Retry-After` as seconds (Slack, Discord and most services send seconds, not dates).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    experiment_core::limit::server_delay_text(headers.get(RETRY_AFTER)?.to_str().ok()?)
}

/// Classifies a non-success HTTP status: 429 → `RateLimited`, 5xx and 408 → `Unavailable`,
/// other 4xx → `Rejected` naming the status and the body's first line (bodies are error codes
/// such as Slack's `channel_not_found`, never secrets).
pub(crate) fn status_error(
    destination: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &str,
) -> Error {
    let detail = body
        .lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect::<String>();
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Error::RateLimited {
            retry_after: retry_after(headers),
        };
    }
    if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
        return Error::unavailable(
            "http",
            format!("{destination} answered HTTP {}: {detail}", status.as_u16()),
        );
    }
    Error::Rejected {
        destination: destination.to_owned(),
        reason: format!("HTTP {}: {detail}", status.as_u16()),
    }
}

/// Truncates to at most `max` characters, ending with `…` when cut. Never splits a character.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_respects_characters_and_limits() {
        assert_eq!(truncate("台積電", 3), "台積電");
        assert_eq!(truncate("台積電股份", 3), "台積…");
        assert_eq!(truncate("abc", 0), "…");
        assert_eq!(truncate(&"x".repeat(5000), 3000).chars().count(), 3000);
    }

    #[test]
    fn statuses_are_classified() {
        let h = HeaderMap::new();
        assert!(
            matches!(status_error("s", StatusCode::NOT_FOUND, &h, "channel_not_found"), Error::Rejected { reason, .. } if reason.contains("channel_not_found"))
        );
        assert!(status_error("s", StatusCode::BAD_GATEWAY, &h, "").is_transient());
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(
            status_error("s", StatusCode::TOO_MANY_REQUESTS, &h, "").retry_after(),
            Some(Duration::from_secs(7))
        );
    }
}
