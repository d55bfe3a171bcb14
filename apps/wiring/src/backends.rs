//! The bus, store and cache a configuration names, connected; errors name the key and the
//! backend at fault (`store.uri (mongodb): ...`).

use std::sync::Arc;

use experiment_core::kafka::{KafkaBus, KafkaConfig};
use experiment_core::memory::{EmbeddedStore, MemoryBus, MemoryCache, MemoryStore};
use experiment_core::mongodb::MongoStore;
use experiment_core::redis::RedisCache;
use experiment_core::retry::{Retry, RetryConfig};
use experiment_core::{Cache, EventBus, Store};

use crate::config::{BusBackend, BusConfig, CacheBackend, CacheConfig, StoreBackend, StoreConfig};

/// A backend that could not be set up: the key to look at and what happened.
#[derive(Debug, thiserror::Error)]
#[error("{key} ({backend}): {source}")]
pub struct BackendError {
    /// The configuration key to look at.
    pub key: &'static str,
    /// Which backend.
    pub backend: &'static str,
    /// What happened.
    #[source]
    pub source: experiment_core::Error,
}

/// The three shared backends.
#[derive(Debug, Clone)]
pub struct Backends {
    /// The event log.
    pub bus: Arc<dyn EventBus>,
    /// Durable data.
    pub store: Arc<dyn Store>,
    /// The shared cache.
    pub cache: Arc<dyn Cache>,
}

impl Backends {
    /// Connects all three.
    ///
    /// # Errors
    /// The first that fails, naming its key.
    pub async fn connect(
        bus: &BusConfig,
        store: &StoreConfig,
        cache: &CacheConfig,
    ) -> Result<Backends, BackendError> {
        Ok(Backends {
            bus: connect_bus(bus)?,
            store: connect_store(store).await?,
            cache: connect_cache(cache).await?,
        })
    }
}

/// The event bus `[bus]` names.
///
/// # Errors
/// A configuration librdkafka rejects.
pub fn connect_bus(config: &BusConfig) -> Result<Arc<dyn EventBus>, BackendError> {
    match config.backend {
        BusBackend::Memory => Ok(Arc::new(MemoryBus::with_default_partitions(
            config.partitions,
        ))),
        BusBackend::Kafka => {
            let brokers = config.brokers.clone().unwrap_or_default();
            let mut k = KafkaConfig::new(brokers).with_prefix(&config.topic_prefix);
            k.partitions = config.partitions;
            k.replication = config.replication;
            k.properties = config.properties.clone();
            let bus = KafkaBus::connect(k).map_err(|source| BackendError {
                key: "bus.properties",
                backend: "kafka",
                source,
            })?;
            Ok(Arc::new(bus))
        }
    }
}

/// The store `[store]` names; remote stores are wrapped in [`Retry`].
///
/// # Errors
/// The data directory cannot be opened (another process holds it), or MongoDB cannot be
/// reached.
pub async fn connect_store(config: &StoreConfig) -> Result<Arc<dyn Store>, BackendError> {
    match config.backend {
        StoreBackend::Memory => Ok(Arc::new(MemoryStore::new())),
        StoreBackend::Embedded => {
            let store = EmbeddedStore::open(&config.data_dir).map_err(|source| BackendError {
                key: "store.data_dir",
                backend: "embedded",
                source,
            })?;
            Ok(Arc::new(store))
        }
        StoreBackend::Mongodb => {
            let uri = config.uri.clone().unwrap_or_default();
            let store = MongoStore::connect(&uri, &config.database)
                .await
                .map_err(|source| BackendError {
                    key: if matches!(source, experiment_core::Error::InvalidInput { ref field, .. } if field == "database")
                    {
                        "store.database"
                    } else {
                        "store.uri"
                    },
                    backend: "mongodb",
                    source,
                })?;
            Ok(Arc::new(Retry::new(store, RetryConfig::default())))
        }
    }
}

/// The cache `[cache]` names; Redis is wrapped in [`Retry`].
///
/// # Errors
/// Redis cannot be reached.
pub async fn connect_cache(config: &CacheConfig) -> Result<Arc<dyn Cache>, BackendError> {
    match config.backend {
        CacheBackend::Memory => Ok(Arc::new(MemoryCache::new())),
        CacheBackend::Redis => {
            let url = config.url.clone().unwrap_or_default();
            let cache = RedisCache::connect(&url, &config.prefix)
                .await
                .map_err(|source| BackendError {
                    key: "cache.url",
                    backend: "redis",
                    source,
                })?;
            Ok(Arc::new(Retry::new(cache, RetryConfig::default())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_defaults_connect_without_servers() {
        let dir = tempfile::tempdir().unwrap();
        let store = StoreConfig {
            data_dir: dir.path().to_owned(),
            ..StoreConfig::default()
        };
        let b = Backends::connect(&BusConfig::default(), &store, &CacheConfig::default())
            .await
            .unwrap();
        assert!(b.store.rules().await.unwrap().is_empty());
        // The embedded store is one process's: a second open names the key to change.
        let err = connect_store(&store).await.unwrap_err().to_string();
        assert!(err.starts_with("store.data_dir (embedded):"), "{err}");
    }

    #[tokio::test]
    async fn a_bad_mongodb_uri_names_the_key() {
        let store = StoreConfig {
            backend: StoreBackend::Mongodb,
            uri: Some("postgres://nope".into()),
            ..StoreConfig::default()
        };
        let err = connect_store(&store).await.unwrap_err().to_string();
        assert!(err.starts_with("store.uri (mongodb):"), "{err}");
    }
}
