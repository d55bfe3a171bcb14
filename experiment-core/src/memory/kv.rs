//! [`Store`] over an ordered key-value backend: one implementation of the store's logic, with
//! an in-memory backend ([`MemoryKv`]) and an embedded persistent one
//! ([`RedbKv`](super::RedbKv)).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{de::DeserializeOwned, Serialize};

use crate::model::{
    Alert, AlertId, AlertRule, DailyBar, DeliveryOutcome, Notification, NotificationKey,
    NotificationStatus, Quote, RuleId, Security, SecurityCode,
};
use crate::store::{
    check_document_key, check_limit, fenced_apply, lease_end, AlertQuery, Page, SecurityQuery,
    StateSnapshot, Store, UpsertCount,
};
use crate::{Error, Result};

/// The tables a [`KvStore`] keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Table {
    /// Security profiles by code.
    Securities,
    /// Daily bars by `code/date`.
    DailyBars,
    /// Latest quote by code.
    Quotes,
    /// State snapshots by key.
    States,
    /// Rules by id.
    Rules,
    /// Alerts by id.
    Alerts,
    /// Index: `time/alert id` → empty.
    AlertsByTime,
    /// Notifications by key.
    Notifications,
    /// Index of pending notifications: `due time/key` → empty.
    OutboxDue,
    /// Index: `date/code` → empty (the cross-section of a date).
    DailyBarsByDate,
    /// Index: `alert id/notification key` → empty.
    NotificationsByAlert,
    /// JSON documents by `collection/id`.
    Documents,
}

impl Table {
    /// Every table.
    pub const ALL: [Table; 12] = [
        Table::Securities,
        Table::DailyBars,
        Table::Quotes,
        Table::States,
        Table::Rules,
        Table::Alerts,
        Table::AlertsByTime,
        Table::Notifications,
        Table::OutboxDue,
        Table::DailyBarsByDate,
        Table::NotificationsByAlert,
        Table::Documents,
    ];

    /// The table's name in the backend.
    pub fn name(self) -> &'static str {
        match self {
            Table::Securities => "securities",
            Table::DailyBars => "daily_bars",
            Table::Quotes => "quotes",
            Table::States => "states",
            Table::Rules => "rules",
            Table::Alerts => "alerts",
            Table::AlertsByTime => "alerts_by_time",
            Table::Notifications => "notifications",
            Table::OutboxDue => "outbox_due",
            Table::DailyBarsByDate => "daily_bars_by_date",
            Table::NotificationsByAlert => "notifications_by_alert",
            Table::Documents => "documents",
        }
    }
}

/// Operations inside one transaction of a [`KvBackend`].
pub trait Txn {
    /// The value under `key`.
    fn get(&mut self, table: Table, key: &str) -> Result<Option<Vec<u8>>>;
    /// Stores `value` under `key`.
    fn put(&mut self, table: Table, key: &str, value: &[u8]) -> Result<()>;
    /// Removes `key`; `true` if it existed.
    fn delete(&mut self, table: Table, key: &str) -> Result<bool>;
    /// Entries with `from <= key < to`, ascending or descending, at most `limit`.
    fn scan(
        &mut self,
        table: Table,
        from: &str,
        to: &str,
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>>;
}

/// An ordered key-value store with atomic transactions.
pub trait KvBackend: Send + Sync + fmt::Debug + 'static {
    /// Name used in errors (`memory`, `redb`).
    const NAME: &'static str;
    /// Whether operations block on I/O (and so run on tokio's blocking pool).
    const BLOCKING: bool;
    /// Runs `f` on a consistent read-only view. `put`/`delete` inside it are errors.
    fn read<R>(&self, f: impl FnOnce(&mut dyn Txn) -> Result<R>) -> Result<R>;
    /// Runs `f` atomically: all its writes apply, or (when it returns an error) none.
    fn write<R>(&self, f: impl FnOnce(&mut dyn Txn) -> Result<R>) -> Result<R>;
}

/// A [`Store`] over any [`KvBackend`].
#[derive(Debug)]
pub struct KvStore<B> {
    backend: Arc<B>,
}

impl<B> Clone for KvStore<B> {
    fn clone(&self) -> Self {
        KvStore {
            backend: self.backend.clone(),
        }
    }
}

/// The in-memory store: fast, lost when the process exits.
pub type MemoryStore = KvStore<MemoryKv>;

impl MemoryStore {
    /// An empty in-memory store.
    pub fn new() -> Self {
        KvStore::from_backend(MemoryKv::default())
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl<B: KvBackend> KvStore<B> {
    /// Wraps a backend.
    pub fn from_backend(backend: B) -> Self {
        KvStore {
            backend: Arc::new(backend),
        }
    }

    /// The backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// Builds the indexes that a store written by an older version lacks (the date index of
    /// daily bars, the alert index of notifications). Cheap when there is nothing to do.
    ///
    /// # Errors
    /// Backend errors.
    pub fn migrate(&self) -> Result<()> {
        self.backend.write(|tx| {
            let has = |tx: &mut dyn Txn, t: Table| -> Result<bool> {
                Ok(!tx.scan(t, "", KEY_MAX, false, 1)?.is_empty())
            };
            if has(tx, Table::DailyBars)? && !has(tx, Table::DailyBarsByDate)? {
                for (key, _) in tx.scan(Table::DailyBars, "", KEY_MAX, false, usize::MAX)? {
                    if let Some((code, date)) = key.split_once('/') {
                        tx.put(Table::DailyBarsByDate, &format!("{date}/{code}"), b"")?;
                    }
                }
            }
            if has(tx, Table::Notifications)? && !has(tx, Table::NotificationsByAlert)? {
                for (key, bytes) in tx.scan(Table::Notifications, "", KEY_MAX, false, usize::MAX)? {
                    // An unreadable record is skipped here; reading it reports it.
                    if let Ok(n) = serde_json::from_slice::<Notification>(&bytes) {
                        tx.put(
                            Table::NotificationsByAlert,
                            &format!("{}/{key}", n.alert.id),
                            b"",
                        )?;
                    }
                }
            }
            Ok(())
        })
    }

    async fn run<R: Send + 'static>(
        &self,
        write: bool,
        f: impl FnOnce(&mut dyn Txn) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        let backend = self.backend.clone();
        let go = move || {
            if write {
                backend.write(f)
            } else {
                backend.read(f)
            }
        };
        if B::BLOCKING {
            tokio::task::spawn_blocking(go)
                .await
                .map_err(|e| Error::unavailable(B::NAME, e))?
        } else {
            go()
        }
    }
}

fn get_json<T: DeserializeOwned>(tx: &mut dyn Txn, table: Table, key: &str) -> Result<Option<T>> {
    match tx.get(table, key)? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::decode(format!("stored {} '{key}'", table.name()), e)),
    }
}

fn decode_all<T: DeserializeOwned>(table: Table, rows: Vec<(String, Vec<u8>)>) -> Result<Vec<T>> {
    rows.into_iter()
        .map(|(k, v)| {
            serde_json::from_slice(&v)
                .map_err(|e| Error::decode(format!("stored {} '{k}'", table.name()), e))
        })
        .collect()
}

fn to_json<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| Error::invalid("record", format!("cannot serialise: {e}")))
}

/// Writes `value` under `key` and says whether it was new, changed or unchanged.
fn upsert_one<T: Serialize>(
    tx: &mut dyn Txn,
    table: Table,
    key: &str,
    value: &T,
    count: &mut UpsertCount,
) -> Result<()> {
    let bytes = to_json(value)?;
    match tx.get(table, key)? {
        None => count.inserted += 1,
        Some(old) if old == bytes => {
            count.unchanged += 1;
            return Ok(());
        }
        Some(_) => count.updated += 1,
    }
    tx.put(table, key, &bytes)
}

/// An order-preserving fixed-width text form of an instant (flipping the sign bit makes
/// negative microseconds sort before positive ones).
fn time_key(t: DateTime<Utc>) -> String {
    format!("{:020}", (t.timestamp_micros() as u64) ^ (1 << 63))
}

fn bar_key(code: &SecurityCode, date: NaiveDate) -> String {
    format!("{code}/{date}")
}

fn document_key(collection: &str, id: &str) -> String {
    format!("{collection}/{id}")
}

const KEY_MAX: &str = "\u{10FFFF}";

#[async_trait]
impl<B: KvBackend> Store for KvStore<B> {
    async fn upsert_securities(&self, securities: &[Security]) -> Result<UpsertCount> {
        let items = securities.to_vec();
        self.run(true, move |tx| {
            let mut count = UpsertCount::default();
            for s in &items {
                upsert_one(tx, Table::Securities, s.code.as_str(), s, &mut count)?;
            }
            Ok(count)
        })
        .await
    }

    async fn security(&self, code: &SecurityCode) -> Result<Option<Security>> {
        let code = code.clone();
        self.run(false, move |tx| {
            get_json(tx, Table::Securities, code.as_str())
        })
        .await
    }

    async fn securities(&self, page: &Page) -> Result<Vec<Security>> {
        check_limit(page.limit)?;
        let page = page.clone();
        self.run(false, move |tx| {
            let from = page.after.map(|a| format!("{a}\0")).unwrap_or_default();
            let rows = tx.scan(Table::Securities, &from, KEY_MAX, false, page.limit)?;
            decode_all(Table::Securities, rows)
        })
        .await
    }

    async fn search_securities(&self, query: &SecurityQuery) -> Result<Vec<Security>> {
        check_limit(query.limit)?;
        let query = query.clone();
        self.run(false, move |tx| {
            let from = query
                .after
                .as_ref()
                .map(|a| format!("{a}\0"))
                .unwrap_or_default();
            let mut out = Vec::new();
            // Securities are a few thousand at most: a scan in code order is the index.
            for (k, v) in tx.scan(Table::Securities, &from, KEY_MAX, false, usize::MAX)? {
                let s: Security = serde_json::from_slice(&v)
                    .map_err(|e| Error::decode(format!("stored securities '{k}'"), e))?;
                if query.matches(&s) {
                    out.push(s);
                    if out.len() == query.limit {
                        break;
                    }
                }
            }
            Ok(out)
        })
        .await
    }

    async fn upsert_daily_bars(&self, bars: &[DailyBar]) -> Result<UpsertCount> {
        for b in bars {
            b.validate()?;
        }
        let items = bars.to_vec();
        self.run(true, move |tx| {
            let mut count = UpsertCount::default();
            for b in &items {
                upsert_one(
                    tx,
                    Table::DailyBars,
                    &bar_key(&b.code, b.date),
                    b,
                    &mut count,
                )?;
                tx.put(
                    Table::DailyBarsByDate,
                    &format!("{}/{}", b.date, b.code),
                    b"",
                )?;
            }
            Ok(count)
        })
        .await
    }

    async fn daily_bars_on(&self, date: NaiveDate) -> Result<Vec<DailyBar>> {
        self.run(false, move |tx| {
            let (lo, hi) = (format!("{date}/"), format!("{date}/{KEY_MAX}"));
            let mut out = Vec::new();
            for (k, _) in tx.scan(Table::DailyBarsByDate, &lo, &hi, false, usize::MAX)? {
                let code = &k[lo.len()..];
                if let Some(bar) =
                    get_json::<DailyBar>(tx, Table::DailyBars, &format!("{code}/{date}"))?
                {
                    out.push(bar);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn last_bar_date(&self, on_or_before: NaiveDate) -> Result<Option<NaiveDate>> {
        self.run(false, move |tx| {
            let hi = format!("{on_or_before}/{KEY_MAX}");
            let last = tx.scan(Table::DailyBarsByDate, "", &hi, true, 1)?;
            Ok(last.first().and_then(|(k, _)| {
                k.split('/')
                    .next()
                    .and_then(|d| d.parse::<NaiveDate>().ok())
            }))
        })
        .await
    }

    async fn daily_bars(
        &self,
        code: &SecurityCode,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DailyBar>> {
        if from > to {
            return Err(Error::invalid(
                "range",
                format!("from {from} is after to {to}"),
            ));
        }
        let (lo, hi) = (bar_key(code, from), format!("{}\0", bar_key(code, to)));
        self.run(false, move |tx| {
            let rows = tx.scan(Table::DailyBars, &lo, &hi, false, usize::MAX)?;
            decode_all(Table::DailyBars, rows)
        })
        .await
    }

    async fn put_quote(&self, quote: &Quote) -> Result<bool> {
        let quote = quote.clone();
        self.run(true, move |tx| {
            let old: Option<Quote> = get_json(tx, Table::Quotes, quote.code.as_str())?;
            if old.is_some_and(|o| o.exchange_time > quote.exchange_time) {
                return Ok(false);
            }
            tx.put(Table::Quotes, quote.code.as_str(), &to_json(&quote)?)?;
            Ok(true)
        })
        .await
    }

    async fn put_quotes(&self, quotes: &[Quote]) -> Result<Vec<bool>> {
        let quotes = quotes.to_vec();
        self.run(true, move |tx| {
            // The newest of the batch per code, so each code is read and written once.
            let mut newest: std::collections::HashMap<&str, &Quote> =
                std::collections::HashMap::new();
            for q in &quotes {
                let e = newest.entry(q.code.as_str()).or_insert(q);
                if q.exchange_time >= e.exchange_time {
                    *e = q;
                }
            }
            let mut stored_times = std::collections::HashMap::new();
            for (code, q) in &newest {
                let old: Option<Quote> = get_json(tx, Table::Quotes, code)?;
                let old_time = old.map(|o| o.exchange_time);
                if old_time.is_none_or(|t| t <= q.exchange_time) {
                    tx.put(Table::Quotes, code, &to_json(*q)?)?;
                }
                stored_times.insert(*code, old_time);
            }
            // Kept: not older than what was stored before, nor than the batch's newest.
            Ok(quotes
                .iter()
                .map(|q| {
                    let before = stored_times.get(q.code.as_str()).copied().flatten();
                    before.is_none_or(|t| t <= q.exchange_time)
                        && newest
                            .get(q.code.as_str())
                            .is_some_and(|n| n.exchange_time <= q.exchange_time)
                })
                .collect())
        })
        .await
    }

    async fn quote(&self, code: &SecurityCode) -> Result<Option<Quote>> {
        let code = code.clone();
        self.run(false, move |tx| get_json(tx, Table::Quotes, code.as_str()))
            .await
    }

    async fn put_state(&self, key: &str, state: &StateSnapshot) -> Result<()> {
        if key.is_empty() {
            return Err(Error::invalid("key", "must not be empty"));
        }
        let (key, bytes) = (key.to_owned(), to_json(state)?);
        self.run(true, move |tx| tx.put(Table::States, &key, &bytes))
            .await
    }

    async fn state(&self, key: &str) -> Result<Option<StateSnapshot>> {
        let key = key.to_owned();
        self.run(false, move |tx| get_json(tx, Table::States, &key))
            .await
    }

    async fn upsert_rule(&self, rule: &AlertRule) -> Result<UpsertCount> {
        let rule = rule.clone();
        self.run(true, move |tx| {
            let mut count = UpsertCount::default();
            upsert_one(tx, Table::Rules, rule.id.as_str(), &rule, &mut count)?;
            Ok(count)
        })
        .await
    }

    async fn rule(&self, id: &RuleId) -> Result<Option<AlertRule>> {
        let id = id.clone();
        self.run(false, move |tx| get_json(tx, Table::Rules, id.as_str()))
            .await
    }

    async fn rules(&self) -> Result<Vec<AlertRule>> {
        self.run(false, move |tx| {
            let rows = tx.scan(Table::Rules, "", KEY_MAX, false, usize::MAX)?;
            decode_all(Table::Rules, rows)
        })
        .await
    }

    async fn delete_rule(&self, id: &RuleId) -> Result<()> {
        let id = id.clone();
        self.run(true, move |tx| {
            if tx.delete(Table::Rules, id.as_str())? {
                Ok(())
            } else {
                Err(Error::not_found(format!("rule '{id}'")))
            }
        })
        .await
    }

    async fn record_alert(&self, alert: &Alert, notifications: &[Notification]) -> Result<bool> {
        let alert = alert.clone();
        let notifications = notifications.to_vec();
        self.run(true, move |tx| {
            let id = alert.id.to_string();
            if tx.get(Table::Alerts, &id)?.is_some() {
                return Ok(false);
            }
            tx.put(Table::Alerts, &id, &to_json(&alert)?)?;
            tx.put(
                Table::AlertsByTime,
                &format!("{}/{id}", time_key(alert.triggered_at)),
                b"",
            )?;
            for n in &notifications {
                let key = n.key.to_string();
                if tx.get(Table::Notifications, &key)?.is_some() {
                    continue;
                }
                tx.put(Table::Notifications, &key, &to_json(n)?)?;
                tx.put(Table::NotificationsByAlert, &format!("{id}/{key}"), b"")?;
                if n.status == NotificationStatus::Pending {
                    tx.put(
                        Table::OutboxDue,
                        &format!("{}/{key}", time_key(n.next_attempt_at)),
                        b"",
                    )?;
                }
            }
            Ok(true)
        })
        .await
    }

    async fn alerts(&self, query: &AlertQuery) -> Result<Vec<Alert>> {
        check_limit(query.limit)?;
        let query = query.clone();
        self.run(false, move |tx| {
            let mut hi = query.before.map_or_else(|| KEY_MAX.to_owned(), time_key);
            if let Some(c) = query.after {
                // The index key of the cursor's alert, exclusive: everything older, and the
                // alerts of the same instant with a smaller id.
                hi = hi.min(format!("{}/{}", time_key(c.triggered_at), c.id));
            }
            let index = tx.scan(Table::AlertsByTime, "", &hi, true, usize::MAX)?;
            let mut out = Vec::new();
            for (k, _) in index {
                let id = k.rsplit('/').next().unwrap_or_default();
                let Some(alert) = get_json::<Alert>(tx, Table::Alerts, id)? else {
                    continue;
                };
                if query.matches(&alert) {
                    out.push(alert);
                    if out.len() == query.limit {
                        break;
                    }
                }
            }
            Ok(out)
        })
        .await
    }

    async fn alert(&self, id: &AlertId) -> Result<Option<Alert>> {
        let id = id.to_string();
        self.run(false, move |tx| get_json(tx, Table::Alerts, &id))
            .await
    }

    async fn alert_notifications(&self, id: &AlertId) -> Result<Vec<Notification>> {
        let id = id.to_string();
        self.run(false, move |tx| {
            let (lo, hi) = (format!("{id}/"), format!("{id}/{KEY_MAX}"));
            let mut out = Vec::new();
            for (k, _) in tx.scan(Table::NotificationsByAlert, &lo, &hi, false, usize::MAX)? {
                if let Some(n) = get_json::<Notification>(tx, Table::Notifications, &k[lo.len()..])?
                {
                    out.push(n);
                }
            }
            out.sort_by(|a: &Notification, b| a.destination.cmp(&b.destination));
            Ok(out)
        })
        .await
    }

    async fn claim_notifications(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Notification>> {
        check_limit(limit)?;
        let until = lease_end(now, lease)?;
        self.run(true, move |tx| {
            let hi = format!("{}\u{10FFFF}", time_key(now));
            // A few more than asked, for entries that turn out not to be pending (they leave
            // the index as they are met): never the whole index at every round.
            let due = tx.scan(Table::OutboxDue, "", &hi, false, limit.saturating_mul(4).max(64))?;
            let mut out = Vec::new();
            for (index_key, _) in due {
                if out.len() == limit {
                    break;
                }
                tx.delete(Table::OutboxDue, &index_key)?;
                let key = index_key.rsplit('/').next().unwrap_or_default().to_owned();
                // One unreadable entry must not stop the outbox: it is taken out of the due
                // index (kept in the table for inspection) and the claim goes on.
                let mut n = match get_json::<Notification>(tx, Table::Notifications, &key) {
                    Ok(Some(n)) => n,
                    Ok(None) => continue,
                    Err(e) => {
                        tracing::error!(notification = %key, error = %e, "unreadable notification skipped");
                        continue;
                    }
                };
                if n.status != NotificationStatus::Pending {
                    continue;
                }
                n.next_attempt_at = until;
                tx.put(Table::Notifications, &key, &to_json(&n)?)?;
                tx.put(
                    Table::OutboxDue,
                    &format!("{}/{key}", time_key(n.next_attempt_at)),
                    b"",
                )?;
                out.push(n);
            }
            Ok(out)
        })
        .await
    }

    async fn notification(&self, key: &NotificationKey) -> Result<Option<Notification>> {
        let key = key.to_string();
        self.run(false, move |tx| get_json(tx, Table::Notifications, &key))
            .await
    }

    async fn complete_notification(
        &self,
        claimed: &Notification,
        outcome: &DeliveryOutcome,
    ) -> Result<Notification> {
        let (key, outcome, claimed) = (claimed.key.to_string(), outcome.clone(), claimed.clone());
        self.run(true, move |tx| {
            let stored: Notification = get_json(tx, Table::Notifications, &key)?
                .ok_or_else(|| Error::not_found(format!("notification '{key}'")))?;
            let due_before = stored.next_attempt_at;
            let (n, changed) = fenced_apply(stored, &claimed, &outcome)?;
            if !changed {
                return Ok(n);
            }
            tx.delete(Table::OutboxDue, &format!("{}/{key}", time_key(due_before)))?;
            if n.status == NotificationStatus::Pending {
                tx.put(
                    Table::OutboxDue,
                    &format!("{}/{key}", time_key(n.next_attempt_at)),
                    b"",
                )?;
            }
            tx.put(Table::Notifications, &key, &to_json(&n)?)?;
            Ok(n)
        })
        .await
    }

    async fn put_document(
        &self,
        collection: &str,
        id: &str,
        value: &serde_json::Value,
    ) -> Result<()> {
        check_document_key(collection, id)?;
        let (key, bytes) = (document_key(collection, id), to_json(value)?);
        self.run(true, move |tx| tx.put(Table::Documents, &key, &bytes))
            .await
    }

    async fn document(&self, collection: &str, id: &str) -> Result<Option<serde_json::Value>> {
        check_document_key(collection, id)?;
        let key = document_key(collection, id);
        self.run(false, move |tx| get_json(tx, Table::Documents, &key))
            .await
    }

    async fn documents(
        &self,
        collection: &str,
        page: &Page,
    ) -> Result<Vec<(String, serde_json::Value)>> {
        check_document_key(collection, "x")?;
        check_limit(page.limit)?;
        let prefix = format!("{collection}/");
        let from = match &page.after {
            Some(a) => format!("{prefix}{a}\0"),
            None => prefix.clone(),
        };
        let (hi, limit) = (format!("{prefix}{KEY_MAX}"), page.limit);
        self.run(false, move |tx| {
            tx.scan(Table::Documents, &from, &hi, false, limit)?
                .into_iter()
                .map(|(k, v)| {
                    let value = serde_json::from_slice(&v)
                        .map_err(|e| Error::decode(format!("stored document '{k}'"), e))?;
                    Ok((k[prefix.len()..].to_owned(), value))
                })
                .collect()
        })
        .await
    }

    async fn delete_document(&self, collection: &str, id: &str) -> Result<bool> {
        check_document_key(collection, id)?;
        let key = document_key(collection, id);
        self.run(true, move |tx| tx.delete(Table::Documents, &key))
            .await
    }
}

/// The in-memory [`KvBackend`].
#[derive(Debug, Default)]
pub struct MemoryKv {
    tables: Mutex<BTreeMap<Table, BTreeMap<String, Vec<u8>>>>,
}

impl MemoryKv {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<Table, BTreeMap<String, Vec<u8>>>> {
        self.tables.lock().unwrap_or_else(|p| p.into_inner())
    }
}

struct MemoryTxn<'a> {
    tables: &'a mut BTreeMap<Table, BTreeMap<String, Vec<u8>>>,
    writable: bool,
    // Previous values, replayed backwards to roll back a failed transaction.
    undo: Vec<(Table, String, Option<Vec<u8>>)>,
}

impl MemoryTxn<'_> {
    fn check_writable(&self) -> Result<()> {
        if self.writable {
            Ok(())
        } else {
            Err(Error::invalid(
                "transaction",
                "write in a read-only transaction",
            ))
        }
    }
}

impl Txn for MemoryTxn<'_> {
    fn get(&mut self, table: Table, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.tables.get(&table).and_then(|t| t.get(key)).cloned())
    }

    fn put(&mut self, table: Table, key: &str, value: &[u8]) -> Result<()> {
        self.check_writable()?;
        let old = self
            .tables
            .entry(table)
            .or_default()
            .insert(key.to_owned(), value.to_vec());
        self.undo.push((table, key.to_owned(), old));
        Ok(())
    }

    fn delete(&mut self, table: Table, key: &str) -> Result<bool> {
        self.check_writable()?;
        let old = self.tables.get_mut(&table).and_then(|t| t.remove(key));
        let existed = old.is_some();
        if existed {
            self.undo.push((table, key.to_owned(), old));
        }
        Ok(existed)
    }

    fn scan(
        &mut self,
        table: Table,
        from: &str,
        to: &str,
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>> {
        let Some(t) = self.tables.get(&table) else {
            return Ok(Vec::new());
        };
        if from >= to {
            return Ok(Vec::new());
        }
        let range = t.range::<str, _>((
            std::ops::Bound::Included(from),
            std::ops::Bound::Excluded(to),
        ));
        let clone = |(k, v): (&String, &Vec<u8>)| (k.clone(), v.clone());
        Ok(if reverse {
            range.rev().take(limit).map(clone).collect()
        } else {
            range.take(limit).map(clone).collect()
        })
    }
}

impl KvBackend for MemoryKv {
    const NAME: &'static str = "memory";
    const BLOCKING: bool = false;

    fn read<R>(&self, f: impl FnOnce(&mut dyn Txn) -> Result<R>) -> Result<R> {
        let mut tables = self.lock();
        f(&mut MemoryTxn {
            tables: &mut tables,
            writable: false,
            undo: Vec::new(),
        })
    }

    fn write<R>(&self, f: impl FnOnce(&mut dyn Txn) -> Result<R>) -> Result<R> {
        let mut tables = self.lock();
        let mut txn = MemoryTxn {
            tables: &mut tables,
            writable: true,
            undo: Vec::new(),
        };
        let result = f(&mut txn);
        if result.is_err() {
            let MemoryTxn { tables, undo, .. } = txn;
            for (table, key, old) in undo.into_iter().rev() {
                let t = tables.entry(table).or_default();
                match old {
                    Some(v) => t.insert(key, v),
                    None => t.remove(&key),
                };
            }
        }
        result
    }
}
