//! The [`Cache`] on Redis (feature `redis`).
//!
//! Keys are namespaced with a prefix (tenants and parallel tests do not collide); TTLs use
//! `PX`; `set_if_absent` is `SET NX PX`, atomic across every client of the server. The
//! connection manager reconnects by itself after a dropped connection; a failed call is an
//! `Unavailable { backend: "redis" }` error, which callers may retry.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::cache::{validate, Cache};
use crate::{Error, Result};

/// Redis-backed cache.
#[derive(Clone)]
pub struct RedisCache {
    conn: ConnectionManager,
    prefix: String,
    server: String,
}

impl fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisCache")
            .field("server", &self.server)
            .field("prefix", &self.prefix)
            .finish()
    }
}

fn unavailable(e: redis::RedisError) -> Error {
    Error::unavailable("redis", e)
}

/// `redis://user:password@host:port/db` without the credentials, for logs.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_password(None);
            let _ = u.set_username("");
            u.to_string()
        }
        Err(_) => "<invalid url>".into(),
    }
}

impl RedisCache {
    /// Connects to `url` (`redis://host:port/db`, `rediss://` for TLS) and namespaces every key
    /// with `prefix` (e.g. `experiment:`).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a malformed URL; [`Error::Unavailable`] when the server
    /// cannot be reached.
    pub async fn connect(url: &str, prefix: impl Into<String>) -> Result<Self> {
        let client =
            redis::Client::open(url).map_err(|e| Error::invalid("redis url", e.to_string()))?;
        // Bounded: a call fails as `Unavailable` within seconds instead of hanging, and the
        // caller (or a retry wrapper) decides what to do; reconnection stays automatic.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(3)))
            .set_response_timeout(Some(Duration::from_secs(5)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(1));
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(unavailable)?;
        Ok(RedisCache {
            conn,
            prefix: prefix.into(),
            server: redact(url),
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

fn px(ttl: Duration) -> u64 {
    // PX 0 is an error in Redis; a sub-millisecond TTL becomes one millisecond.
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[async_trait]
impl Cache for RedisCache {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        validate(key, None)?;
        redis::cmd("GET")
            .arg(self.key(key))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<()> {
        validate(key, ttl)?;
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(key)).arg(value);
        if let Some(ttl) = ttl {
            cmd.arg("PX").arg(px(ttl));
        }
        cmd.query_async::<()>(&mut self.conn.clone())
            .await
            .map_err(unavailable)
    }

    async fn set_if_absent(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<bool> {
        validate(key, ttl)?;
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(key)).arg(value).arg("NX");
        if let Some(ttl) = ttl {
            cmd.arg("PX").arg(px(ttl));
        }
        let reply: Option<String> = cmd
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(reply.is_some())
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        validate(key, None)?;
        let removed: u64 = redis::cmd("DEL")
            .arg(self.key(key))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(removed > 0)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn credentials_never_reach_debug() {
        assert_eq!(
            super::redact("redis://user:s3cret@127.0.0.1:6379/0"),
            "redis://127.0.0.1:6379/0"
        );
    }
}
