//! An in-memory [`Cache`] with TTLs on tokio's clock (so paused-clock tests control expiry).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use crate::cache::{validate, Cache};
use crate::Result;

#[derive(Debug)]
struct Entry {
    value: Vec<u8>,
    expires: Option<Instant>,
}

impl Entry {
    fn live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|t| now < t)
    }
}

/// An in-memory cache. Cloning it shares the same entries.
#[derive(Debug, Clone, Default)]
pub struct MemoryCache {
    entries: Arc<Mutex<HashMap<String, Entry>>>,
}

impl MemoryCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn insert(
        map: &mut HashMap<String, Entry>,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
        now: Instant,
    ) {
        // Drop expired entries on writes so the map does not grow without bound.
        if map.len() > 1024 {
            map.retain(|_, e| e.live(now));
        }
        map.insert(
            key.to_owned(),
            Entry {
                value: value.to_vec(),
                expires: ttl.map(|t| now + t),
            },
        );
    }
}

#[async_trait]
impl Cache for MemoryCache {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        validate(key, None)?;
        let now = Instant::now();
        Ok(self
            .lock()
            .get(key)
            .filter(|e| e.live(now))
            .map(|e| e.value.clone()))
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<()> {
        validate(key, ttl)?;
        let now = Instant::now();
        Self::insert(&mut self.lock(), key, value, ttl, now);
        Ok(())
    }

    async fn set_if_absent(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<bool> {
        validate(key, ttl)?;
        let now = Instant::now();
        let mut map = self.lock();
        if map.get(key).is_some_and(|e| e.live(now)) {
            return Ok(false);
        }
        Self::insert(&mut map, key, value, ttl, now);
        Ok(true)
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        validate(key, None)?;
        let now = Instant::now();
        Ok(self.lock().remove(key).is_some_and(|e| e.live(now)))
    }
}
