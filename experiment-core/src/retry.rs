//! [`Retry`]: a layer that retries transient failures of any [`Store`] or [`Cache`], so no
//! adapter carries its own retry loop.
//!
//! Every store and cache operation is safe to repeat: writes are upserts on natural keys,
//! `record_alert` happens once per alert id, and a repeated claim only hides notifications
//! for one more lease.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use experiment_core::memory::MemoryStore;
//! use experiment_core::retry::{Retry, RetryConfig};
//! use experiment_core::Store;
//! let store = Retry::new(MemoryStore::new(), RetryConfig::default());
//! assert!(store.rules().await.unwrap().is_empty());
//! # });
//! ```

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

use crate::cache::Cache;
use crate::model::{
    Alert, AlertId, AlertRule, DailyBar, DeliveryOutcome, Notification, NotificationKey, Quote,
    RuleId, Security, SecurityCode,
};
use crate::store::{AlertQuery, Page, SecurityQuery, StateSnapshot, Store, UpsertCount};
use crate::Result;

/// How often and how patiently to retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryConfig {
    /// Retries after the first attempt. Default 3.
    pub retries: u32,
    /// First wait; doubled after each retry. Default 100 ms.
    pub base: Duration,
    /// Longest wait. Default 2 s.
    pub max: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            retries: 3,
            base: Duration::from_millis(100),
            max: Duration::from_secs(2),
        }
    }
}

/// Wraps a [`Store`] or a [`Cache`] and retries its transient errors
/// ([`Error::is_transient`](crate::Error::is_transient)) with exponential backoff.
/// Permanent errors return at once.
#[derive(Debug, Clone)]
pub struct Retry<T> {
    inner: T,
    config: RetryConfig,
}

impl<T> Retry<T> {
    /// Wraps `inner`.
    pub fn new(inner: T, config: RetryConfig) -> Self {
        Retry { inner, config }
    }

    /// The wrapped value.
    pub fn inner(&self) -> &T {
        &self.inner
    }

    async fn run<R, F, Fut>(&self, what: &str, mut op: F) -> Result<R>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<R>>,
    {
        let mut wait = self.config.base;
        let mut attempt = 0;
        loop {
            match op().await {
                Err(e) if e.is_transient() && attempt < self.config.retries => {
                    attempt += 1;
                    let wait_for = e.retry_after().unwrap_or(wait).min(self.config.max);
                    tracing::debug!(operation = what, error = %e, attempt, ?wait_for, "retrying");
                    tokio::time::sleep(wait_for).await;
                    wait = (wait * 2).min(self.config.max);
                }
                other => return other,
            }
        }
    }
}

#[async_trait]
impl<C: Cache> Cache for Retry<C> {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.run("cache get", || self.inner.get(key)).await
    }
    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<()> {
        self.run("cache set", || self.inner.set(key, value, ttl))
            .await
    }
    async fn set_if_absent(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<bool> {
        self.run("cache set_if_absent", || {
            self.inner.set_if_absent(key, value, ttl)
        })
        .await
    }
    async fn delete(&self, key: &str) -> Result<bool> {
        self.run("cache delete", || self.inner.delete(key)).await
    }
}

#[async_trait]
impl<S: Store> Store for Retry<S> {
    async fn upsert_securities(&self, securities: &[Security]) -> Result<UpsertCount> {
        self.run("upsert_securities", || {
            self.inner.upsert_securities(securities)
        })
        .await
    }
    async fn security(&self, code: &SecurityCode) -> Result<Option<Security>> {
        self.run("security", || self.inner.security(code)).await
    }
    async fn securities(&self, page: &Page) -> Result<Vec<Security>> {
        self.run("securities", || self.inner.securities(page)).await
    }
    async fn search_securities(&self, query: &SecurityQuery) -> Result<Vec<Security>> {
        self.run("search_securities", || self.inner.search_securities(query))
            .await
    }
    async fn daily_bars_on(&self, date: NaiveDate) -> Result<Vec<DailyBar>> {
        self.run("daily_bars_on", || self.inner.daily_bars_on(date))
            .await
    }
    async fn last_bar_date(&self, on_or_before: NaiveDate) -> Result<Option<NaiveDate>> {
        self.run("last_bar_date", || self.inner.last_bar_date(on_or_before))
            .await
    }
    async fn alert(&self, id: &AlertId) -> Result<Option<Alert>> {
        self.run("alert", || self.inner.alert(id)).await
    }
    async fn alert_notifications(&self, id: &AlertId) -> Result<Vec<Notification>> {
        self.run("alert_notifications", || self.inner.alert_notifications(id))
            .await
    }
    async fn put_document(
        &self,
        collection: &str,
        id: &str,
        value: &serde_json::Value,
    ) -> Result<()> {
        self.run("put_document", || {
            self.inner.put_document(collection, id, value)
        })
        .await
    }
    async fn document(&self, collection: &str, id: &str) -> Result<Option<serde_json::Value>> {
        self.run("document", || self.inner.document(collection, id))
            .await
    }
    async fn documents(
        &self,
        collection: &str,
        page: &Page,
    ) -> Result<Vec<(String, serde_json::Value)>> {
        self.run("documents", || self.inner.documents(collection, page))
            .await
    }
    async fn delete_document(&self, collection: &str, id: &str) -> Result<bool> {
        self.run("delete_document", || {
            self.inner.delete_document(collection, id)
        })
        .await
    }
    async fn upsert_daily_bars(&self, bars: &[DailyBar]) -> Result<UpsertCount> {
        self.run("upsert_daily_bars", || self.inner.upsert_daily_bars(bars))
            .await
    }
    async fn daily_bars(
        &self,
        code: &SecurityCode,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DailyBar>> {
        self.run("daily_bars", || self.inner.daily_bars(code, from, to))
            .await
    }
    async fn put_quote(&self, quote: &Quote) -> Result<bool> {
        self.run("put_quote", || self.inner.put_quote(quote)).await
    }
    async fn quote(&self, code: &SecurityCode) -> Result<Option<Quote>> {
        self.run("quote", || self.inner.quote(code)).await
    }
    async fn put_state(&self, key: &str, state: &StateSnapshot) -> Result<()> {
        self.run("put_state", || self.inner.put_state(key, state))
            .await
    }
    async fn state(&self, key: &str) -> Result<Option<StateSnapshot>> {
        self.run("state", || self.inner.state(key)).await
    }
    async fn upsert_rule(&self, rule: &AlertRule) -> Result<UpsertCount> {
        self.run("upsert_rule", || self.inner.upsert_rule(rule))
            .await
    }
    async fn rule(&self, id: &RuleId) -> Result<Option<AlertRule>> {
        self.run("rule", || self.inner.rule(id)).await
    }
    async fn rules(&self) -> Result<Vec<AlertRule>> {
        self.run("rules", || self.inner.rules()).await
    }
    async fn delete_rule(&self, id: &RuleId) -> Result<()> {
        self.run("delete_rule", || self.inner.delete_rule(id)).await
    }
    async fn record_alert(&self, alert: &Alert, notifications: &[Notification]) -> Result<bool> {
        self.run("record_alert", || {
            self.inner.record_alert(alert, notifications)
        })
        .await
    }
    async fn alerts(&self, query: &AlertQuery) -> Result<Vec<Alert>> {
        self.run("alerts", || self.inner.alerts(query)).await
    }
    async fn claim_notifications(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Notification>> {
        self.run("claim_notifications", || {
            self.inner.claim_notifications(now, lease, limit)
        })
        .await
    }
    async fn notification(&self, key: &NotificationKey) -> Result<Option<Notification>> {
        self.run("notification", || self.inner.notification(key))
            .await
    }
    async fn complete_notification(
        &self,
        claimed: &Notification,
        outcome: &DeliveryOutcome,
    ) -> Result<Notification> {
        self.run("complete_notification", || {
            self.inner.complete_notification(claimed, outcome)
        })
        .await
    }
}
