//! API keys and per-key rate limits.
//!
//! Every modifying request needs a key (`Authorization: Bearer <key>` or `X-API-Key: <key>`);
//! reads need one only with `[api] protect_reads`. Keys are compared in constant time (on
//! their SHA-256 digests, so the length of a key leaks nothing either). Without a key the
//! answer is 401, with a wrong one 403. With no key configured at all, writes are closed.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::AppState;

/// The configured keys, kept as digests.
#[derive(Clone, Default)]
pub struct ApiKeys {
    digests: Vec<[u8; 32]>,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKeys([{} redacted])", self.digests.len())
    }
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

impl ApiKeys {
    /// The keys given (blank ones ignored).
    pub fn new<'a>(keys: impl IntoIterator<Item = &'a str>) -> Self {
        ApiKeys {
            digests: keys
                .into_iter()
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(digest)
                .collect(),
        }
    }

    /// Whether any key is configured.
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// Whether `key` is one of them, in time independent of which one and of the key.
    pub fn accepts(&self, key: &str) -> bool {
        let d = digest(key);
        let mut found = subtle::Choice::from(0);
        for k in &self.digests {
            found |= k.ct_eq(&d);
        }
        found.into()
    }
}

/// A fresh random key: 32 bytes as 64 hex digits.
///
/// # Errors
/// The operating system has no randomness to give.
pub fn generate_key() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| anyhow::anyhow!("no randomness for an API key: {e}"))?;
    Ok(hex::encode(bytes))
}

/// The key a request presents, if any.
pub fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let v = v.trim();
        if let Some(rest) = v.get(..7).filter(|p| p.eq_ignore_ascii_case("bearer ")) {
            let _ = rest;
            return Some(v[7..].trim());
        }
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty())
}

/// Whether a request changes something (and so always needs a key). Two POSTs only read:
/// validating a rule and backtesting one.
pub fn is_write(method: &Method, path: &str) -> bool {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return false;
    }
    !(path == "/v1/rules/validate"
        || (path.starts_with("/v1/rules/") && path.ends_with("/backtest")))
}

/// Whether a read shows settings that are nobody else's business (destinations: webhook
/// hosts, channel and chat ids), and so needs a key whatever `protect_reads` says.
pub fn is_private_read(path: &str) -> bool {
    path == "/v1/destinations" || path.starts_with("/v1/destinations/")
}

/// Middleware: the rate limit, then the key where one is needed (one layer, not two: this
/// runs on every request).
pub async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(limit) = state.limit() else {
        return match check_key(&state, &req) {
            Some(refused) => refused,
            None => next.run(req).await,
        };
    };
    let who = client_of(&state, &req);
    match limit.check(who) {
        Ok(headers) => {
            let mut res = match check_key(&state, &req) {
                Some(refused) => refused,
                None => next.run(req).await,
            };
            for (name, value) in headers {
                res.headers_mut().insert(name, value);
            }
            res
        }
        Err((e, wait)) => {
            let mut res = e.into_response();
            res.headers_mut()
                .insert("ratelimit-limit", HeaderValue::from(limit.burst));
            res.headers_mut()
                .insert("ratelimit-remaining", HeaderValue::from(0u32));
            res.headers_mut()
                .insert("ratelimit-reset", HeaderValue::from(wait));
            res
        }
    }
}

/// The answer refusing a request for want of a valid key, or `None` to let it through.
fn check_key(state: &AppState, req: &Request) -> Option<Response> {
    let path = req.uri().path();
    let write = is_write(req.method(), path);
    let needed = write || state.config().protect_reads || is_private_read(path);
    if !needed {
        return None;
    }
    let keys = state.keys();
    match presented_key(req.headers()) {
        None if keys.is_empty() && write => Some(
            ApiError::unauthorized(
                "writes are closed: no API key is configured (set [api] keys or EXPERIMENT_API_KEYS)",
            )
            .into_response(),
        ),
        None => Some(
            ApiError::unauthorized(
                "this request needs an API key: send `Authorization: Bearer <key>` or `X-API-Key: <key>`",
            )
            .into_response(),
        ),
        Some(k) if !keys.accepts(k) => {
            Some(ApiError::forbidden("the API key is not valid").into_response())
        }
        Some(_) => None,
    }
}

/// Whom a request's allowance belongs to: its key when the key is valid (made-up keys must
/// not buy fresh allowances), else its address.
fn client_of(state: &AppState, req: &Request) -> String {
    match presented_key(req.headers()).filter(|k| state.keys().accepts(k)) {
        Some(k) => format!("key:{}", hex::encode(&digest(k)[..8])),
        None => match req.extensions().get::<ConnectInfo<SocketAddr>>() {
            Some(ConnectInfo(addr)) => format!("ip:{}", addr.ip()),
            None => "anonymous".to_owned(),
        },
    }
}

type Keyed =
    RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

/// A rate limit per API key (per client address for requests without one).
pub struct KeyedLimit {
    limiter: Keyed,
    burst: u32,
    per_second: f64,
    calls: AtomicU64,
}

impl std::fmt::Debug for KeyedLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedLimit")
            .field("per_second", &self.per_second)
            .field("burst", &self.burst)
            .finish()
    }
}

impl KeyedLimit {
    /// `per_second` requests a second with bursts of `burst`; `None` when the rate is 0 (off).
    pub fn new(per_second: f64, burst: u32) -> Option<Self> {
        if !(per_second.is_finite() && per_second > 0.0) {
            return None;
        }
        let period = Duration::from_secs_f64((1.0 / per_second).clamp(1e-9, 86_400.0));
        let burst_nz = NonZeroU32::new(burst.max(1))?;
        let quota = Quota::with_period(period)?.allow_burst(burst_nz);
        Some(KeyedLimit {
            limiter: RateLimiter::dashmap(quota).with_middleware::<StateInformationMiddleware>(),
            burst: burst.max(1),
            per_second,
            calls: AtomicU64::new(0),
        })
    }

    /// Takes one request of `who`'s allowance: the `RateLimit-*` headers on success, or the
    /// 429 to answer.
    fn check(&self, who: String) -> Result<[(&'static str, HeaderValue); 3], (ApiError, u64)> {
        // Forget idle keys now and then, so the table stays as small as the active clients.
        if self.calls.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
            self.limiter.retain_recent();
        }
        match self.limiter.check_key(&who) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let refill = f64::from(self.burst - remaining.min(self.burst)) / self.per_second;
                Ok([
                    ("ratelimit-limit", HeaderValue::from(self.burst)),
                    ("ratelimit-remaining", HeaderValue::from(remaining)),
                    ("ratelimit-reset", HeaderValue::from(refill.ceil() as u64)),
                ])
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
                Err((
                    ApiError::too_many_requests(
                        format!(
                            "rate limit of {} requests per second (bursts of {}) reached; retry in {secs} s",
                            self.per_second, self.burst
                        ),
                        secs,
                    ),
                    secs,
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_matched_exactly() {
        let keys = ApiKeys::new(["0123456789abcdef-one", " 0123456789abcdef-two "]);
        assert!(keys.accepts("0123456789abcdef-one"));
        assert!(keys.accepts("0123456789abcdef-two"));
        assert!(!keys.accepts("0123456789abcdef-on"));
        assert!(!keys.accepts(""));
        assert!(ApiKeys::new([""]).is_empty());
        assert!(!format!("{keys:?}").contains("one"));
    }

    #[test]
    fn keys_come_from_either_header() {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(presented_key(&h), Some("abc"));
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer   abc  "),
        );
        assert_eq!(presented_key(&h), Some("abc"));
        let mut h = HeaderMap::new();
        h.insert("x-api-key", HeaderValue::from_static("xyz"));
        assert_eq!(presented_key(&h), Some("xyz"));
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic Zm9v"),
        );
        assert_eq!(presented_key(&h), None);
    }

    #[test]
    fn validation_and_backtests_are_reads() {
        assert!(is_write(&Method::POST, "/v1/rules"));
        assert!(is_write(&Method::DELETE, "/v1/rules/r1"));
        assert!(!is_write(&Method::POST, "/v1/rules/validate"));
        assert!(!is_write(&Method::POST, "/v1/rules/r1/backtest"));
        assert!(!is_write(&Method::GET, "/v1/rules"));
        assert!(is_write(&Method::POST, "/v1/ingest/quotes"));
    }

    #[test]
    fn a_generated_key_is_long_and_random() {
        let (a, b) = (generate_key().unwrap(), generate_key().unwrap());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
    }

    #[test]
    fn the_limit_answers_429_with_a_wait() {
        let limit = KeyedLimit::new(1.0, 2).unwrap();
        assert!(limit.check("a".into()).is_ok());
        let ok = limit.check("a".into()).unwrap();
        assert_eq!(ok[1].1, HeaderValue::from(0u32), "no burst left");
        let (err, wait) = limit.check("a".into()).unwrap_err();
        assert_eq!(err.status(), axum::http::StatusCode::TOO_MANY_REQUESTS);
        assert!(wait >= 1);
        assert!(
            limit.check("b".into()).is_ok(),
            "another key has its own allowance"
        );
        assert!(KeyedLimit::new(0.0, 10).is_none(), "0 turns it off");
    }
}
