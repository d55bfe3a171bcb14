//! The `Store` port: durable data (securities, bars, quotes, state snapshots, rules, alerts and
//! the notification outbox).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{
    Alert, AlertId, AlertRule, DailyBar, DeliveryOutcome, Exchange, Notification, NotificationKey,
    NotificationStatus, Quote, RuleId, Security, SecurityCode,
};
use crate::{Error, Result};

/// Checks a list limit against the contract (1 to 10,000).
pub(crate) fn check_limit(limit: usize) -> Result<usize> {
    if limit == 0 || limit > 10_000 {
        return Err(Error::invalid(
            "limit",
            format!("{limit} is not in 1..=10000"),
        ));
    }
    Ok(limit)
}

/// When a claim made at `now` with `lease` ends.
pub(crate) fn lease_end(now: DateTime<Utc>, lease: Duration) -> Result<DateTime<Utc>> {
    chrono::Duration::from_std(lease)
        .ok()
        .and_then(|l| now.checked_add_signed(l))
        .ok_or_else(|| Error::invalid("lease", format!("{lease:?} is too long")))
}

/// What an upsert did, record by record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UpsertCount {
    /// Records that did not exist.
    pub inserted: usize,
    /// Records that existed with different content and were replaced.
    pub updated: usize,
    /// Records that existed with the same content.
    pub unchanged: usize,
}

/// A page of a list ordered by natural key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Return items strictly after this key (the last key of the previous page).
    pub after: Option<String>,
    /// At most this many items.
    pub limit: usize,
}

impl Default for Page {
    fn default() -> Self {
        Page {
            after: None,
            limit: 100,
        }
    }
}

/// Which securities to list: a search, ordered by code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityQuery {
    /// Matches a code that starts with it or a name (short or full) that contains it; ASCII
    /// letters compare without case (`tsmc`, `23`, `台積`).
    pub text: Option<String>,
    /// Only this exchange.
    pub exchange: Option<Exchange>,
    /// Only this industry (exact name, e.g. `半導體業`).
    pub industry: Option<String>,
    /// Only codes strictly after this one (the last code of the previous page).
    pub after: Option<String>,
    /// At most this many (1 to 10,000).
    pub limit: usize,
}

impl Default for SecurityQuery {
    fn default() -> Self {
        SecurityQuery {
            text: None,
            exchange: None,
            industry: None,
            after: None,
            limit: 100,
        }
    }
}

impl SecurityQuery {
    /// Whether `s` matches the filters (not the paging). Every adapter applies this rule.
    pub fn matches(&self, s: &Security) -> bool {
        if self.exchange.is_some_and(|e| e != s.exchange) {
            return false;
        }
        if let Some(industry) = &self.industry {
            if s.industry.as_deref() != Some(industry.as_str()) {
                return false;
            }
        }
        let Some(text) = self
            .text
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
        else {
            return true;
        };
        let text = text.to_lowercase();
        s.code.as_str().to_lowercase().starts_with(&text)
            || s.name.to_lowercase().contains(&text)
            || s.full_name
                .as_deref()
                .is_some_and(|f| f.to_lowercase().contains(&text))
    }
}

/// A position in the newest-first list of alerts: the last alert of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertCursor {
    /// That alert's `triggered_at`.
    pub triggered_at: DateTime<Utc>,
    /// That alert's id (ties at one instant are ordered by id, descending).
    pub id: AlertId,
}

/// Which alerts to list. Results are newest first (by `triggered_at`, then id, both
/// descending).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertQuery {
    /// Only this security.
    pub code: Option<SecurityCode>,
    /// Only this rule.
    pub rule: Option<RuleId>,
    /// Only alerts triggered strictly before this instant (for paging back in time).
    pub before: Option<DateTime<Utc>>,
    /// Only alerts after this one in the newest-first order (the next page; alerts that share
    /// an instant are neither skipped nor repeated).
    pub after: Option<AlertCursor>,
    /// At most this many.
    pub limit: usize,
}

impl Default for AlertQuery {
    fn default() -> Self {
        AlertQuery {
            code: None,
            rule: None,
            before: None,
            after: None,
            limit: 100,
        }
    }
}

impl AlertQuery {
    /// Whether `a` matches the filters and lies past the cursor. Every adapter applies this
    /// rule.
    pub fn matches(&self, a: &Alert) -> bool {
        self.code.as_ref().is_none_or(|c| *c == a.code)
            && self.rule.as_ref().is_none_or(|r| *r == a.rule_id)
            && self.before.is_none_or(|b| a.triggered_at < b)
            && self
                .after
                // Microseconds, as the embedded index orders them.
                .is_none_or(|c| {
                    (a.triggered_at.timestamp_micros(), a.id)
                        < (c.triggered_at.timestamp_micros(), c.id)
                })
    }
}

/// Applies `outcome` to `stored` for a sender holding `claimed`, as every adapter must: `None`
/// when nothing is to be written (it was sent already, whoever reports what), `Conflict` when
/// the notification was claimed again since (its lease end is not the claim's).
pub(crate) fn fenced_apply(
    mut stored: Notification,
    claimed: &Notification,
    outcome: &DeliveryOutcome,
) -> Result<(Notification, bool)> {
    if stored.status == NotificationStatus::Sent {
        return Ok((stored, false));
    }
    if stored.next_attempt_at != claimed.next_attempt_at || stored.attempts != claimed.attempts {
        return Err(Error::Conflict {
            what: format!(
                "notification '{}' was claimed again after this claim's lease ended",
                stored.key
            ),
        });
    }
    let changed = stored.apply(outcome);
    Ok((stored, changed))
}

/// Checks a document collection name and id (settings, market summaries).
pub(crate) fn check_document_key(collection: &str, id: &str) -> Result<()> {
    let ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 200
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
    };
    if !ok(collection) {
        return Err(Error::invalid(
            "collection",
            format!("'{collection}': expected 1 to 200 characters from A-Z a-z 0-9 _ - . :"),
        ));
    }
    if id.is_empty() || id.len() > 512 || id.contains('\0') {
        return Err(Error::invalid(
            "id",
            "must be 1 to 512 bytes without NUL".to_string(),
        ));
    }
    Ok(())
}

/// A worker's saved per-key state (e.g. one code's indicator state) and the log positions it
/// covers, so a new owner restores it and replays only what came after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateSnapshot {
    /// Next offset to process, by `topic/partition`.
    pub offsets: BTreeMap<String, u64>,
    /// The state itself.
    pub data: serde_json::Value,
    /// When it was saved.
    pub saved_at: DateTime<Utc>,
}

/// Durable storage for everything the services keep.
///
/// # Contract
/// - **Idempotent upserts on natural keys**: securities by code, daily bars by (code, date),
///   quotes by code, rules by id, alerts by id, notifications by key. Writing the same record
///   twice leaves one record; the returned [`UpsertCount`] says what happened.
/// - **Ordering**: `daily_bars` ascending by date within the inclusive range; `securities` by
///   code; `alerts` newest first.
/// - **Quotes** keep the newest by `exchange_time`: an older snapshot never replaces a newer one.
/// - **Cross-sections**: `daily_bars_on` gives every code's bar of one date, by code;
///   `last_bar_date` the newest date on or before a day that has any bar.
/// - **Search**: `search_securities` applies [`SecurityQuery::matches`] and pages by code.
/// - **Alerts by id**: `alert` finds one; `alert_notifications` lists the notifications
///   recorded with it (by destination), whatever happened to them since.
/// - **Documents**: small JSON documents (settings such as destinations and the watchlist,
///   market summaries) by `(collection, id)`: `put_document` replaces, `documents` lists a
///   collection by id with the same paging as `securities`, `delete_document` says whether
///   one existed.
/// - **Outbox**: `record_alert` stores an alert and its notifications atomically and only once
///   per alert id (returns `false`, writing nothing, when the alert exists).
///   `claim_notifications` hands out pending notifications due at `now` and hides them for
///   `lease`, so concurrent senders do not take the same one; an unfinished claim becomes due
///   again when the lease ends. `complete_notification` records the outcome of an attempt
///   made under a claim and counts the attempt — only while that claim holds: the claimed
///   copy's `next_attempt_at` (its lease end) is the fencing token, and once the notification
///   was claimed again the late completion is refused with `Conflict` (a sent notification
///   stays sent whoever reports what).
/// - Reads see every write that returned before them.
///
/// # Errors
/// `NotFound` for `delete_rule` and `complete_notification` on a missing key; `Conflict` for
/// a completion whose claim was superseded; `InvalidInput`
/// for an invalid record (a daily bar whose OHLC is inconsistent, a zero limit, `from > to`);
/// `Decode` for a stored record that cannot be read; `Unavailable` when the backend fails.
#[async_trait]
pub trait Store: Send + Sync + fmt::Debug + 'static {
    /// Inserts or replaces security profiles.
    async fn upsert_securities(&self, securities: &[Security]) -> Result<UpsertCount>;
    /// One security's profile.
    async fn security(&self, code: &SecurityCode) -> Result<Option<Security>>;
    /// Profiles ordered by code.
    async fn securities(&self, page: &Page) -> Result<Vec<Security>>;

    /// Securities matching `query`, by code.
    async fn search_securities(&self, query: &SecurityQuery) -> Result<Vec<Security>>;

    /// Inserts or replaces daily bars (validated first; one invalid bar rejects the call).
    async fn upsert_daily_bars(&self, bars: &[DailyBar]) -> Result<UpsertCount>;
    /// One security's bars with `from <= date <= to`, ascending.
    async fn daily_bars(
        &self,
        code: &SecurityCode,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DailyBar>>;

    /// Every code's bar of `date`, ordered by code.
    async fn daily_bars_on(&self, date: NaiveDate) -> Result<Vec<DailyBar>>;
    /// The newest date on or before `on_or_before` with at least one bar of any code.
    async fn last_bar_date(&self, on_or_before: NaiveDate) -> Result<Option<NaiveDate>>;

    /// Keeps `quote` as the code's latest if it is newer than the stored one. Returns whether
    /// it was kept.
    async fn put_quote(&self, quote: &Quote) -> Result<bool>;

    /// [`Store::put_quote`] for many quotes at once (a worker's batch): one write where the
    /// backend can. Afterwards each code's stored quote is the newest of the batch and the one
    /// stored before. Returns, for each quote in order, whether it was written (a quote that
    /// another quote of the batch supersedes may be skipped).
    ///
    /// # Errors
    /// As `put_quote`; on an error, some quotes may have been kept (each is idempotent).
    async fn put_quotes(&self, quotes: &[Quote]) -> Result<Vec<bool>> {
        let mut kept = Vec::with_capacity(quotes.len());
        for q in quotes {
            kept.push(self.put_quote(q).await?);
        }
        Ok(kept)
    }
    /// The latest quote of a code.
    async fn quote(&self, code: &SecurityCode) -> Result<Option<Quote>>;

    /// Saves a state snapshot under `key`, replacing the previous one.
    async fn put_state(&self, key: &str, state: &StateSnapshot) -> Result<()>;
    /// The state snapshot saved under `key`.
    async fn state(&self, key: &str) -> Result<Option<StateSnapshot>>;

    /// Inserts or replaces a rule.
    async fn upsert_rule(&self, rule: &AlertRule) -> Result<UpsertCount>;
    /// One rule.
    async fn rule(&self, id: &RuleId) -> Result<Option<AlertRule>>;
    /// Every rule, ordered by id.
    async fn rules(&self) -> Result<Vec<AlertRule>>;
    /// Deletes a rule; `NotFound` if it does not exist.
    async fn delete_rule(&self, id: &RuleId) -> Result<()>;

    /// Records an alert and its notifications atomically, once per alert id.
    async fn record_alert(&self, alert: &Alert, notifications: &[Notification]) -> Result<bool>;
    /// Alerts matching `query`, newest first.
    async fn alerts(&self, query: &AlertQuery) -> Result<Vec<Alert>>;
    /// One alert.
    async fn alert(&self, id: &AlertId) -> Result<Option<Alert>>;
    /// The notifications recorded with an alert, in their current state, by destination.
    async fn alert_notifications(&self, id: &AlertId) -> Result<Vec<Notification>>;

    /// Claims up to `limit` pending notifications due at `now`, hiding them for `lease`.
    async fn claim_notifications(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Notification>>;
    /// One notification.
    async fn notification(&self, key: &NotificationKey) -> Result<Option<Notification>>;
    /// Records the outcome of a delivery attempt and returns the updated notification.
    /// Records the outcome of a delivery attempt of `claimed` (the notification as a claim
    /// handed it out, or as recorded) and returns the updated notification.
    async fn complete_notification(
        &self,
        claimed: &Notification,
        outcome: &DeliveryOutcome,
    ) -> Result<Notification>;

    /// Stores a JSON document under `(collection, id)`, replacing any previous one.
    async fn put_document(
        &self,
        collection: &str,
        id: &str,
        value: &serde_json::Value,
    ) -> Result<()>;
    /// The document under `(collection, id)`.
    async fn document(&self, collection: &str, id: &str) -> Result<Option<serde_json::Value>>;
    /// A collection's documents ordered by id, paged like [`Store::securities`].
    async fn documents(
        &self,
        collection: &str,
        page: &Page,
    ) -> Result<Vec<(String, serde_json::Value)>>;
    /// Removes a document; `true` when it existed.
    async fn delete_document(&self, collection: &str, id: &str) -> Result<bool>;
}
