//! Settings kept in the store, shared by the API (which writes them) and the services (which
//! follow them): destinations added through the API and the watchlist.

use std::sync::Arc;

use experiment_core::store::Page;
use experiment_core::{Cache, Notifier, Result, Store};
use experiment_notify::DestinationConfig;

/// Document collections of the settings.
pub mod collections {
    /// Destinations added through the API, by name (the configuration's fields, secrets in
    /// clear: the store is as private as the configuration file).
    pub const DESTINATIONS: &str = "destinations";
    /// Settings by name.
    pub const SETTINGS: &str = "settings";
    /// The watchlist's id in [`SETTINGS`]: `{"codes": ["2330", ...]}`.
    pub const WATCHLIST: &str = "watchlist";
    /// Exchanges' daily summaries (`TWSE:2026-07-08`): which listed securities did not trade.
    pub const MARKET_DAYS: &str = "market_days";
}

/// Every stored destination document, by name.
///
/// # Errors
/// Store errors.
pub async fn stored_destinations(store: &dyn Store) -> Result<Vec<(String, serde_json::Value)>> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .documents(
                collections::DESTINATIONS,
                &Page {
                    after: after.clone(),
                    limit: 1000,
                },
            )
            .await?;
        let full = page.len() == 1000;
        after = page.last().map(|(id, _)| id.clone());
        out.extend(page);
        if !full {
            return Ok(out);
        }
    }
}

/// Follows the destinations: the configured ones and those stored through the API.
#[derive(Debug, Default)]
pub struct DestinationWatch {
    last: Option<String>,
    cache: Option<Arc<dyn experiment_core::Cache>>,
}

impl DestinationWatch {
    /// A watch whose notifiers hold each destination's rate across every process sharing
    /// `cache` (replicas of the worker on one Redis), not just within this one.
    pub fn shared(cache: Arc<dyn experiment_core::Cache>) -> Self {
        DestinationWatch {
            last: None,
            cache: Some(cache),
        }
    }

    /// The notifiers when the destinations changed since the last call (always on the
    /// first), `None` otherwise. A stored destination that cannot be built is skipped with a
    /// warning; a configured one wins over a stored one of the same name.
    ///
    /// # Errors
    /// Store errors.
    pub async fn changed(
        &mut self,
        store: &dyn Store,
        configured: &[DestinationConfig],
    ) -> Result<Option<Vec<Arc<dyn Notifier>>>> {
        let stored = stored_destinations(store).await?;
        let fingerprint = serde_json::to_string(&stored).unwrap_or_default();
        if self.last.as_deref() == Some(fingerprint.as_str()) {
            return Ok(None);
        }
        let mut notifiers = Vec::new();
        for d in configured {
            match d.build_shared(self.cache.clone()) {
                Ok(n) => notifiers.push(n),
                Err(e) => tracing::warn!(destination = %d.name, error = %e, "destination skipped"),
            }
        }
        for (name, value) in stored {
            if configured.iter().any(|d| d.name == name) {
                continue;
            }
            let built = serde_json::from_value::<DestinationConfig>(value)
                .map_err(|e| e.to_string())
                .and_then(|d| {
                    d.build_shared(self.cache.clone())
                        .map_err(|e| e.to_string())
                });
            match built {
                Ok(n) => notifiers.push(n),
                Err(e) => {
                    tracing::warn!(destination = %name, error = %e, "stored destination skipped")
                }
            }
        }
        tracing::info!(destinations = notifiers.len(), "destinations loaded");
        self.last = Some(fingerprint);
        Ok(Some(notifiers))
    }
}

/// The shared-cache key under which the API publishes the watchlist for the feeders (which
/// share the cache, not the store): `{"codes": [...]}`, no expiry.
pub const WATCHLIST_CACHE_KEY: &str = "settings:watchlist";

/// The watchlist the API last published in the shared cache, if any.
///
/// # Errors
/// Cache errors.
pub async fn cached_watchlist(cache: &dyn Cache) -> Result<Option<Vec<String>>> {
    Ok(cache.get(WATCHLIST_CACHE_KEY).await?.and_then(|bytes| {
        let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        v.get("codes")?.as_array().map(|a| {
            a.iter()
                .filter_map(|c| c.as_str().map(str::to_owned))
                .collect()
        })
    }))
}

/// The watchlist saved through the API, else `configured`.
///
/// # Errors
/// Store errors.
pub async fn watchlist(store: &dyn Store, configured: &[String]) -> Result<Vec<String>> {
    let doc = store
        .document(collections::SETTINGS, collections::WATCHLIST)
        .await?;
    Ok(doc
        .and_then(|v| {
            v.get("codes")?.as_array().map(|a| {
                a.iter()
                    .filter_map(|c| c.as_str().map(str::to_owned))
                    .collect()
            })
        })
        .unwrap_or_else(|| configured.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use experiment_core::memory::MemoryStore;

    #[tokio::test]
    async fn destinations_are_rebuilt_only_when_they_change() {
        let store = MemoryStore::new();
        let configured = vec![DestinationConfig::console("console")];
        let mut watch = DestinationWatch::default();
        let first = watch.changed(&store, &configured).await.unwrap().unwrap();
        assert_eq!(first.len(), 1);
        assert!(watch.changed(&store, &configured).await.unwrap().is_none());
        store
            .put_document(
                collections::DESTINATIONS,
                "hook",
                &serde_json::json!({"name": "hook", "kind": "slack_webhook", "url": "https://hooks.slack.com/services/T/B/X"}),
            )
            .await
            .unwrap();
        store
            .put_document(
                collections::DESTINATIONS,
                "broken",
                &serde_json::json!({"name": "broken", "kind": "slack_webhook"}),
            )
            .await
            .unwrap();
        let next = watch.changed(&store, &configured).await.unwrap().unwrap();
        let names: Vec<&str> = next.iter().map(|n| n.destination()).collect();
        assert_eq!(names, ["console", "hook"], "the broken one is skipped");
    }

    #[tokio::test]
    async fn the_cached_watchlist_is_read_back() {
        let cache = experiment_core::memory::MemoryCache::new();
        assert_eq!(cached_watchlist(&cache).await.unwrap(), None);
        cache
            .set(WATCHLIST_CACHE_KEY, br#"{"codes": ["2330", "t00"]}"#, None)
            .await
            .unwrap();
        assert_eq!(
            cached_watchlist(&cache).await.unwrap(),
            Some(vec!["2330".to_owned(), "t00".to_owned()])
        );
    }

    #[tokio::test]
    async fn the_stored_watchlist_wins() {
        let store = MemoryStore::new();
        let configured = vec!["2330".to_owned()];
        assert_eq!(watchlist(&store, &configured).await.unwrap(), configured);
        store
            .put_document(
                collections::SETTINGS,
                collections::WATCHLIST,
                &serde_json::json!({"codes": ["2317", "6547"]}),
            )
            .await
            .unwrap();
        assert_eq!(
            watchlist(&store, &configured).await.unwrap(),
            ["2317", "6547"]
        );
    }
}
