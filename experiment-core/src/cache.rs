//! The `Cache` port: shared, expiring key-value data (latest quotes, dedup and cooldown marks).

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use serde::{de::DeserializeOwned, Serialize};

use crate::model::{Quote, SecurityCode};
use crate::{Error, Result};

/// A shared cache with expiry.
///
/// # Contract
/// - `set` stores a value, replacing any previous one and its expiry; with `ttl` the key
///   disappears after that time, without it the key stays until deleted or replaced.
/// - `set_if_absent` stores only when the key is absent (or expired) and says whether it did;
///   it is atomic across every client of the same cache, so at most one caller wins.
/// - `delete` removes a key and says whether it existed.
/// - Keys are 1 to 1,024 bytes; an empty or longer key, or a zero `ttl`, is `InvalidInput`.
///
/// # Errors
/// `InvalidInput` as above; `Unavailable` when the backend cannot be reached.
#[async_trait]
pub trait Cache: Send + Sync + fmt::Debug + 'static {
    /// The value under `key`, if present and not expired.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>>;
    /// Stores `value` under `key`.
    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<()>;
    /// Stores `value` under `key` only if absent; `true` when stored.
    async fn set_if_absent(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<bool>;
    /// Removes `key`; `true` when it existed.
    async fn delete(&self, key: &str) -> Result<bool>;
}

/// Longest key accepted by every cache adapter.
pub const MAX_KEY_LEN: usize = 1024;

/// Checks a key and TTL against the contract.
///
/// # Errors
/// [`Error::InvalidInput`] naming `key` or `ttl`.
pub fn validate(key: &str, ttl: Option<Duration>) -> Result<()> {
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(Error::invalid(
            "key",
            format!("must be 1 to {MAX_KEY_LEN} bytes, got {}", key.len()),
        ));
    }
    if ttl == Some(Duration::ZERO) {
        return Err(Error::invalid("ttl", "must be positive when given"));
    }
    Ok(())
}

/// Typed conveniences over any [`Cache`].
#[async_trait]
pub trait CacheExt: Cache {
    /// Reads a JSON value.
    ///
    /// # Errors
    /// [`Error::Decode`] when the stored bytes are not that type.
    async fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        match self.get(key).await? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| Error::decode(format!("cache key '{key}'"), e)),
        }
    }

    /// Writes a JSON value.
    async fn set_json<T: Serialize + Sync>(
        &self,
        key: &str,
        value: &T,
        ttl: Option<Duration>,
    ) -> Result<()> {
        let bytes = serde_json::to_vec(value)
            .map_err(|e| Error::invalid("value", format!("cannot serialise: {e}")))?;
        self.set(key, &bytes, ttl).await
    }

    /// Stores a code's latest quote under `quote:{code}`.
    async fn set_latest_quote(&self, quote: &Quote, ttl: Option<Duration>) -> Result<()> {
        self.set_json(&quote_key(&quote.code), quote, ttl).await
    }

    /// A code's latest quote.
    async fn latest_quote(&self, code: &SecurityCode) -> Result<Option<Quote>> {
        self.get_json(&quote_key(code)).await
    }
}

impl<T: Cache + ?Sized> CacheExt for T {}

/// The key of a code's latest quote (`quote:{code}`), whose value is the quote as JSON.
pub fn quote_key(code: &SecurityCode) -> String {
    format!("quote:{code}")
}
