//! The [`Store`] on MongoDB (feature `mongodb`).
//!
//! One database per deployment (configurable, so tenants and parallel tests do not collide);
//! collections and indexes are created on [`MongoStore::connect`]. Every document's `_id` is
//! its natural key, so every write is an idempotent upsert.
//!
//! - `daily_bars` are flat documents with prices as `Decimal128` (query and aggregate them
//!   directly), `date` as `YYYY-MM-DD`, and a unique index on (`code`, `date`).
//! - The other collections keep the model under `doc` exactly as serialised (so values
//!   round-trip to the digit), next to the indexed fields queries need (`t` for times, `code`,
//!   `rule`, `status`, `due`).
//! - `record_alert` needs no multi-document transaction (a standalone `mongod` has none): it
//!   writes the notifications parked (never claimable), inserts the alert (whose `_id` makes
//!   it happen once), then releases them. A crash at any point leaves nothing deliverable that
//!   is not recorded, and the redelivered event completes what was left.
//! - `claim_notifications` takes each due notification with `findOneAndUpdate`, so two
//!   senders never claim the same one; `complete_notification` updates only if nobody else
//!   changed the notification since it was read, and only under the caller's claim (fencing).
//! - Errors are classified: a refused login or a rejected document is permanent, the rest
//!   transient; operations fail within seconds (10 s server selection) when the server is gone.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use futures::TryStreamExt;
use mongodb::bson::{self, doc, Bson, Decimal128, Document};
use mongodb::options::{IndexOptions, ReturnDocument};
use mongodb::{Client, Collection, Database, IndexModel};
use rust_decimal::Decimal;
use serde::{de::DeserializeOwned, Serialize};

use crate::model::{
    Alert, AlertId, AlertRule, DailyBar, DeliveryOutcome, Exchange, Notification, NotificationKey,
    NotificationStatus, Quote, RuleId, Security, SecurityCode,
};
use crate::store::{
    check_document_key, check_limit, fenced_apply, lease_end, AlertQuery, Page, SecurityQuery,
    StateSnapshot, Store, UpsertCount,
};
use crate::{Error, Result};

/// The MongoDB driver this adapter is built on, for callers that need it directly.
pub use ::mongodb as driver;

/// MongoDB-backed store.
#[derive(Clone)]
pub struct MongoStore {
    db: Database,
    server: String,
}

impl fmt::Debug for MongoStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MongoStore")
            .field("server", &self.server)
            .field("database", &self.db.name())
            .finish()
    }
}

fn unavailable(e: mongodb::error::Error) -> Error {
    classify(e)
}

/// The server's errors by what retrying would do: a refused login or a rejected document is
/// permanent, anything else (network, elections, timeouts) transient.
fn classify(e: mongodb::error::Error) -> Error {
    use mongodb::error::{ErrorKind, WriteFailure};
    match e.kind.as_ref() {
        ErrorKind::Authentication { .. } => Error::Rejected {
            destination: "mongodb".into(),
            reason: "authentication failed (check the user and password of store.uri)".into(),
        },
        ErrorKind::InvalidArgument { message, .. } => Error::invalid("mongodb", message.clone()),
        // 121: document failed validation; 2: bad value.
        ErrorKind::Write(WriteFailure::WriteError(w)) if matches!(w.code, 2 | 121) => {
            Error::invalid("mongodb", w.message.clone())
        }
        _ => Error::unavailable("mongodb", e),
    }
}

/// `due` of a parked notification: never claimable.
const PARKED_DUE: bson::DateTime = bson::DateTime::from_millis(253_402_300_799_000); // 9999-12-31T23:59:59Z

fn is_duplicate_key(e: &mongodb::error::Error) -> bool {
    use mongodb::error::{ErrorKind, WriteFailure};
    match e.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(w)) => w.code == 11000,
        ErrorKind::Command(c) => c.code == 11000,
        _ => false,
    }
}

fn decimal128(d: Decimal) -> Result<Bson> {
    Decimal128::from_str(&d.to_string())
        .map(Bson::Decimal128)
        .map_err(|e| Error::invalid("decimal", format!("{d} does not fit Decimal128: {e}")))
}

fn from_decimal128(doc: &Document, field: &str) -> Result<Decimal> {
    match doc.get(field) {
        Some(Bson::Decimal128(d)) => Decimal::from_str(&d.to_string())
            .map_err(|e| Error::decode(format!("daily bar field {field}"), format!("{d}: {e}"))),
        other => Err(Error::decode(
            format!("daily bar field {field}"),
            format!("expected Decimal128, found {other:?}"),
        )),
    }
}

fn to_doc<T: Serialize>(v: &T) -> Result<Bson> {
    bson::to_bson(v).map_err(|e| Error::invalid("record", format!("cannot serialise: {e}")))
}

fn from_doc<T: DeserializeOwned>(what: &str, d: &Document) -> Result<T> {
    let inner = d
        .get("doc")
        .cloned()
        .ok_or_else(|| Error::decode(what, "no `doc` field"))?;
    bson::from_bson(inner).map_err(|e| Error::decode(what, e))
}

fn millis(t: DateTime<Utc>) -> bson::DateTime {
    bson::DateTime::from_millis(t.timestamp_millis())
}

const SECURITIES: &str = "securities";
const DAILY_BARS: &str = "daily_bars";
const QUOTES: &str = "quotes";
const STATES: &str = "states";
const RULES: &str = "rules";
const ALERTS: &str = "alerts";
const NOTIFICATIONS: &str = "notifications";
const DOCUMENTS: &str = "documents";

/// A regular expression matching `text` literally.
fn regex_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\^$.|?*+()[]{}-/#".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl MongoStore {
    /// Connects to `uri` and uses database `database`, creating its collections' indexes.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a malformed URI or database name; [`Error::Unavailable`]
    /// when the server cannot be reached.
    pub async fn connect(uri: &str, database: &str) -> Result<Self> {
        if database.is_empty()
            || database.len() > 63
            || database.contains(['/', '.', ' ', '"', '$'])
        {
            return Err(Error::invalid(
                "database",
                format!("'{database}' is not a MongoDB database name"),
            ));
        }
        let mut options = mongodb::options::ClientOptions::parse(uri)
            .await
            .map_err(|e| Error::invalid("mongodb uri", e.to_string()))?;
        // Hosts only: the URI may carry credentials.
        let server = options
            .hosts
            .iter()
            .map(|h| h.to_string())
            .collect::<Vec<_>>()
            .join(",");
        // Fail an operation in seconds when the server is gone, not after the driver's 30 s:
        // the caller retries with backoff and reports the outage meanwhile.
        options
            .server_selection_timeout
            .get_or_insert(Duration::from_secs(10));
        options
            .connect_timeout
            .get_or_insert(Duration::from_secs(5));
        let client = Client::with_options(options)
            .map_err(|e| Error::invalid("mongodb uri", e.to_string()))?;
        let store = MongoStore {
            db: client.database(database),
            server,
        };
        store.ensure_indexes().await?;
        Ok(store)
    }

    fn coll(&self, name: &str) -> Collection<Document> {
        self.db.collection(name)
    }

    async fn ensure_indexes(&self) -> Result<()> {
        let unique = IndexOptions::builder().unique(true).build();
        let indexes: [(&str, Document, Option<IndexOptions>); 10] = [
            (DAILY_BARS, doc! {"code": 1, "date": 1}, Some(unique)),
            // The cross-section of a date (statistics) and the newest date.
            (DAILY_BARS, doc! {"date": 1, "code": 1}, None),
            (ALERTS, doc! {"us": -1, "_id": -1}, None),
            (ALERTS, doc! {"code": 1, "us": -1}, None),
            (ALERTS, doc! {"rule": 1, "us": -1}, None),
            (NOTIFICATIONS, doc! {"status": 1, "due": 1}, None),
            (NOTIFICATIONS, doc! {"alert": 1, "destination": 1}, None),
            // Search by exchange or industry; the name match scans what these leave.
            (SECURITIES, doc! {"exchange": 1, "_id": 1}, None),
            (SECURITIES, doc! {"industry": 1, "_id": 1}, None),
            (
                DOCUMENTS,
                doc! {"collection": 1, "id": 1},
                Some(IndexOptions::builder().unique(true).build()),
            ),
        ];
        self.migrate().await?;
        for (coll, keys, options) in indexes {
            let model = IndexModel::builder().keys(keys).options(options).build();
            self.coll(coll)
                .create_index(model)
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }

    /// Releases the parked notifications of an alert: due at the alert's time.
    async fn release(&self, alert: &str, at: DateTime<Utc>) -> Result<()> {
        self.coll(NOTIFICATIONS)
            .update_many(
                doc! {"alert": alert, "parked": true},
                doc! {"$set": {"due": millis(at), "parked": false}},
            )
            .await
            .map_err(classify)?;
        Ok(())
    }

    /// Adds the fields that queries of this version read to documents an older version
    /// wrote (cheap when there is nothing to do: each update matches only documents that
    /// lack the field).
    async fn migrate(&self) -> Result<()> {
        let steps: [(&str, Document, Document); 3] = [
            (
                SECURITIES,
                doc! {"exchange": {"$exists": false}},
                doc! {"$set": {"exchange": "$doc.exchange", "industry": "$doc.industry"}},
            ),
            (
                NOTIFICATIONS,
                doc! {"alert": {"$exists": false}},
                doc! {"$set": {"alert": "$doc.alert.id", "destination": "$doc.destination"}},
            ),
            (
                ALERTS,
                doc! {"us": {"$exists": false}},
                doc! {"$set": {"us": {"$multiply": [{"$toLong": "$t"}, 1000]}}},
            ),
        ];
        for (coll, filter, set) in steps {
            self.coll(coll)
                .update_many(filter, vec![set])
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }

    async fn upsert(
        &self,
        coll: &str,
        id: Bson,
        document: Document,
        count: &mut UpsertCount,
    ) -> Result<()> {
        let r = self
            .coll(coll)
            .replace_one(doc! {"_id": id}, document)
            .upsert(true)
            .await
            .map_err(unavailable)?;
        if r.upserted_id.is_some() {
            count.inserted += 1;
        } else if r.modified_count > 0 {
            count.updated += 1;
        } else {
            count.unchanged += 1;
        }
        Ok(())
    }

    async fn get_doc<T: DeserializeOwned>(&self, coll: &str, id: &str) -> Result<Option<T>> {
        let found = self
            .coll(coll)
            .find_one(doc! {"_id": id})
            .await
            .map_err(unavailable)?;
        found
            .map(|d| from_doc(&format!("stored {coll} '{id}'"), &d))
            .transpose()
    }

    async fn find_docs<T: DeserializeOwned>(
        &self,
        coll: &str,
        filter: Document,
        sort: Document,
        limit: Option<i64>,
    ) -> Result<Vec<T>> {
        let collection = self.coll(coll);
        let mut find = collection.find(filter).sort(sort);
        if let Some(l) = limit {
            find = find.limit(l);
        }
        let docs: Vec<Document> = find
            .await
            .map_err(unavailable)?
            .try_collect()
            .await
            .map_err(unavailable)?;
        docs.iter()
            .map(|d| from_doc(&format!("stored {coll} {:?}", d.get("_id")), d))
            .collect()
    }
}

fn bar_document(b: &DailyBar) -> Result<Document> {
    Ok(doc! {
        "_id": format!("{}/{}", b.code, b.date),
        "code": b.code.as_str(),
        "exchange": b.exchange.as_str(),
        "date": b.date.to_string(),
        "open": decimal128(b.open)?,
        "high": decimal128(b.high)?,
        "low": decimal128(b.low)?,
        "close": decimal128(b.close)?,
        "volume": i64::try_from(b.volume).map_err(|_| Error::invalid("volume", "too large"))?,
        "value": decimal128(b.value)?,
        "trades": b.trades.map(|t| i64::try_from(t).unwrap_or(i64::MAX)),
        "change": match b.change { Some(c) => decimal128(c)?, None => Bson::Null },
    })
}

fn bar_from_document(d: &Document) -> Result<DailyBar> {
    let ctx = || format!("stored daily bar {:?}", d.get("_id"));
    let text = |f: &str| {
        d.get_str(f)
            .map(str::to_owned)
            .map_err(|e| Error::decode(ctx(), e))
    };
    let int = |f: &str| -> Result<Option<u64>> {
        match d.get(f) {
            Some(Bson::Int64(v)) => Ok(u64::try_from(*v).ok()),
            Some(Bson::Int32(v)) => Ok(u64::try_from(*v).ok()),
            Some(Bson::Null) | None => Ok(None),
            other => Err(Error::decode(ctx(), format!("{f}: {other:?}"))),
        }
    };
    Ok(DailyBar {
        code: SecurityCode::new(text("code")?)?,
        exchange: text("exchange")?.parse::<Exchange>()?,
        date: NaiveDate::from_str(&text("date")?).map_err(|e| Error::decode(ctx(), e))?,
        open: from_decimal128(d, "open")?,
        high: from_decimal128(d, "high")?,
        low: from_decimal128(d, "low")?,
        close: from_decimal128(d, "close")?,
        volume: int("volume")?.unwrap_or_default(),
        value: from_decimal128(d, "value")?,
        trades: int("trades")?,
        change: match d.get("change") {
            Some(Bson::Null) | None => None,
            Some(_) => Some(from_decimal128(d, "change")?),
        },
    })
}

fn notification_document(n: &Notification) -> Result<Document> {
    let status = match n.status {
        NotificationStatus::Pending => "pending",
        NotificationStatus::Sent => "sent",
        NotificationStatus::Failed => "failed",
    };
    Ok(doc! {
        "_id": n.key.to_string(),
        "alert": n.alert.id.to_string(),
        "destination": &n.destination,
        "status": status,
        "due": millis(n.next_attempt_at),
        "attempts": i64::from(n.attempts),
        "doc": to_doc(n)?,
    })
}

#[async_trait]
impl Store for MongoStore {
    async fn upsert_securities(&self, securities: &[Security]) -> Result<UpsertCount> {
        let mut count = UpsertCount::default();
        for s in securities {
            let d = doc! {
                "_id": s.code.as_str(),
                "exchange": s.exchange.as_str(),
                "industry": s.industry.as_deref(),
                "doc": to_doc(s)?,
            };
            self.upsert(SECURITIES, s.code.as_str().into(), d, &mut count)
                .await?;
        }
        Ok(count)
    }

    async fn security(&self, code: &SecurityCode) -> Result<Option<Security>> {
        self.get_doc(SECURITIES, code.as_str()).await
    }

    async fn securities(&self, page: &Page) -> Result<Vec<Security>> {
        let limit = check_limit(page.limit)? as i64;
        let filter = match &page.after {
            Some(after) => doc! {"_id": {"$gt": after}},
            None => doc! {},
        };
        self.find_docs(SECURITIES, filter, doc! {"_id": 1}, Some(limit))
            .await
    }

    async fn search_securities(&self, query: &SecurityQuery) -> Result<Vec<Security>> {
        let limit = check_limit(query.limit)?;
        let mut base = doc! {};
        if let Some(e) = query.exchange {
            base.insert("exchange", e.as_str());
        }
        if let Some(i) = &query.industry {
            base.insert("industry", i);
        }
        if let Some(text) = query
            .text
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            let literal = regex_literal(text);
            base.insert(
                "$or",
                vec![
                    doc! {"_id": {"$regex": format!("^{literal}"), "$options": "i"}},
                    doc! {"doc.name": {"$regex": &literal, "$options": "i"}},
                    doc! {"doc.full_name": {"$regex": &literal, "$options": "i"}},
                ],
            );
        }
        // The server narrows; our rule decides (its case folding may differ for non-ASCII
        // text). Fetch on until a page is full, so a dropped row never ends the list early.
        let mut out = Vec::new();
        let mut after = query.after.clone();
        loop {
            let mut filter = base.clone();
            if let Some(a) = &after {
                filter.insert("_id", doc! {"$gt": a});
            }
            let batch: Vec<Security> = self
                .find_docs(SECURITIES, filter, doc! {"_id": 1}, Some(limit as i64))
                .await?;
            let full = batch.len() == limit;
            after = batch.last().map(|s| s.code.to_string());
            out.extend(batch.into_iter().filter(|s| query.matches(s)));
            if out.len() >= limit || !full {
                break;
            }
        }
        out.truncate(limit);
        Ok(out)
    }

    async fn upsert_daily_bars(&self, bars: &[DailyBar]) -> Result<UpsertCount> {
        // Validate everything first: one bad bar rejects the call before anything is written.
        let docs = bars
            .iter()
            .map(|b| b.validate().and_then(|()| bar_document(b)))
            .collect::<Result<Vec<_>>>()?;
        let mut count = UpsertCount::default();
        for d in docs {
            let id = d.get("_id").cloned().unwrap_or(Bson::Null);
            self.upsert(DAILY_BARS, id, d, &mut count).await?;
        }
        Ok(count)
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
        let filter = doc! {"code": code.as_str(), "date": {"$gte": from.to_string(), "$lte": to.to_string()}};
        let docs: Vec<Document> = self
            .coll(DAILY_BARS)
            .find(filter)
            .sort(doc! {"date": 1})
            .await
            .map_err(unavailable)?
            .try_collect()
            .await
            .map_err(unavailable)?;
        docs.iter().map(bar_from_document).collect()
    }

    async fn daily_bars_on(&self, date: NaiveDate) -> Result<Vec<DailyBar>> {
        let docs: Vec<Document> = self
            .coll(DAILY_BARS)
            .find(doc! {"date": date.to_string()})
            .sort(doc! {"code": 1})
            .await
            .map_err(unavailable)?
            .try_collect()
            .await
            .map_err(unavailable)?;
        docs.iter().map(bar_from_document).collect()
    }

    async fn last_bar_date(&self, on_or_before: NaiveDate) -> Result<Option<NaiveDate>> {
        let found = self
            .coll(DAILY_BARS)
            .find_one(doc! {"date": {"$lte": on_or_before.to_string()}})
            .sort(doc! {"date": -1})
            .await
            .map_err(unavailable)?;
        found
            .map(|d| {
                d.get_str("date")
                    .map_err(|e| Error::decode("stored daily bar date", e))
                    .and_then(|s| {
                        NaiveDate::from_str(s)
                            .map_err(|e| Error::decode("stored daily bar date", e))
                    })
            })
            .transpose()
    }

    async fn put_quote(&self, quote: &Quote) -> Result<bool> {
        let t = millis(quote.exchange_time);
        let d = doc! {
            "_id": quote.code.as_str(),
            "t": t,
            "micros": quote.exchange_time.timestamp_micros(),
            "last": match quote.last { Some(p) => decimal128(p)?, None => Bson::Null },
            "doc": to_doc(quote)?,
        };
        // Replace only when not older: the filter matches a missing document (upsert) or an
        // older-or-equal one; a newer stored quote makes the upsert hit the unique _id.
        let r = self
            .coll(QUOTES)
            .replace_one(
                doc! {"_id": quote.code.as_str(), "micros": {"$lte": quote.exchange_time.timestamp_micros()}},
                d,
            )
            .upsert(true)
            .await;
        match r {
            Ok(_) => Ok(true),
            Err(e) if is_duplicate_key(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn quote(&self, code: &SecurityCode) -> Result<Option<Quote>> {
        self.get_doc(QUOTES, code.as_str()).await
    }

    async fn put_state(&self, key: &str, state: &StateSnapshot) -> Result<()> {
        if key.is_empty() {
            return Err(Error::invalid("key", "must not be empty"));
        }
        let mut count = UpsertCount::default();
        self.upsert(
            STATES,
            key.into(),
            doc! {"_id": key, "doc": to_doc(state)?},
            &mut count,
        )
        .await
    }

    async fn state(&self, key: &str) -> Result<Option<StateSnapshot>> {
        self.get_doc(STATES, key).await
    }

    async fn upsert_rule(&self, rule: &AlertRule) -> Result<UpsertCount> {
        let mut count = UpsertCount::default();
        let d = doc! {"_id": rule.id.as_str(), "doc": to_doc(rule)?};
        self.upsert(RULES, rule.id.as_str().into(), d, &mut count)
            .await?;
        Ok(count)
    }

    async fn rule(&self, id: &RuleId) -> Result<Option<AlertRule>> {
        self.get_doc(RULES, id.as_str()).await
    }

    async fn rules(&self) -> Result<Vec<AlertRule>> {
        self.find_docs(RULES, doc! {}, doc! {"_id": 1}, None).await
    }

    async fn delete_rule(&self, id: &RuleId) -> Result<()> {
        let r = self
            .coll(RULES)
            .delete_one(doc! {"_id": id.as_str()})
            .await
            .map_err(unavailable)?;
        if r.deleted_count == 0 {
            return Err(Error::not_found(format!("rule '{id}'")));
        }
        Ok(())
    }

    async fn record_alert(&self, alert: &Alert, notifications: &[Notification]) -> Result<bool> {
        // Without a multi-document transaction (a standalone server has none), the order makes
        // a partial write harmless: notifications are written parked (never claimable), then
        // the alert, then the notifications are released. A crash before the alert leaves
        // parked notifications of an alert that does not exist yet: never delivered, and the
        // redelivered event writes the alert and releases them. A crash after the alert is
        // repaired by the redelivery too: the alert exists, its parked notifications are
        // released.
        let id = alert.id.to_string();
        let exists = self
            .coll(ALERTS)
            .find_one(doc! {"_id": &id})
            .await
            .map_err(classify)?
            .is_some();
        if exists {
            self.release(&id, alert.triggered_at).await?;
            return Ok(false);
        }
        for n in notifications {
            let mut d = notification_document(n)?;
            d.insert("parked", true);
            d.insert("due", PARKED_DUE);
            self.coll(NOTIFICATIONS)
                .update_one(doc! {"_id": n.key.to_string()}, doc! {"$setOnInsert": d})
                .upsert(true)
                .await
                .map_err(classify)?;
        }
        let d = doc! {
            "_id": &id,
            "t": millis(alert.triggered_at),
            // Microseconds: the order and the cursor of every adapter.
            "us": alert.triggered_at.timestamp_micros(),
            "code": alert.code.as_str(),
            "rule": alert.rule_id.as_str(),
            "doc": to_doc(alert)?,
        };
        let new = match self.coll(ALERTS).insert_one(d).await {
            Ok(_) => true,
            Err(e) if is_duplicate_key(&e) => false,
            Err(e) => return Err(classify(e)),
        };
        self.release(&id, alert.triggered_at).await?;
        Ok(new)
    }

    async fn alerts(&self, query: &AlertQuery) -> Result<Vec<Alert>> {
        let limit = check_limit(query.limit)? as i64;
        let mut filter = doc! {};
        if let Some(c) = &query.code {
            filter.insert("code", c.as_str());
        }
        if let Some(r) = &query.rule {
            filter.insert("rule", r.as_str());
        }
        if let Some(b) = query.before {
            filter.insert("us", doc! {"$lt": b.timestamp_micros()});
        }
        if let Some(c) = query.after {
            let (us, id) = (c.triggered_at.timestamp_micros(), c.id.to_string());
            filter.insert(
                "$or",
                vec![
                    doc! {"us": {"$lt": us}},
                    doc! {"us": us, "_id": {"$lt": id}},
                ],
            );
        }
        self.find_docs(ALERTS, filter, doc! {"us": -1, "_id": -1}, Some(limit))
            .await
    }

    async fn alert(&self, id: &AlertId) -> Result<Option<Alert>> {
        self.get_doc(ALERTS, &id.to_string()).await
    }

    async fn alert_notifications(&self, id: &AlertId) -> Result<Vec<Notification>> {
        self.find_docs(
            NOTIFICATIONS,
            doc! {"alert": id.to_string()},
            doc! {"destination": 1},
            None,
        )
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
        let mut out = Vec::new();
        while out.len() < limit {
            let claimed = self
                .coll(NOTIFICATIONS)
                .find_one_and_update(
                    doc! {"status": "pending", "due": {"$lte": millis(now)}},
                    vec![doc! {"$set": {"due": millis(until), "doc.next_attempt_at": until.to_rfc3339()}}],
                )
                .sort(doc! {"due": 1})
                .return_document(ReturnDocument::After)
                .await
                .map_err(unavailable)?;
            match claimed {
                Some(d) => {
                    let mut n: Notification = from_doc("claimed notification", &d)?;
                    n.next_attempt_at = until;
                    out.push(n);
                }
                None => break,
            }
        }
        Ok(out)
    }

    async fn notification(&self, key: &NotificationKey) -> Result<Option<Notification>> {
        self.get_doc(NOTIFICATIONS, &key.to_string()).await
    }

    async fn complete_notification(
        &self,
        claimed: &Notification,
        outcome: &DeliveryOutcome,
    ) -> Result<Notification> {
        let key = claimed.key;
        let id = key.to_string();
        let stored: Notification = self
            .get_doc(NOTIFICATIONS, &id)
            .await?
            .ok_or_else(|| Error::not_found(format!("notification '{key}'")))?;
        let (read_attempts, read_due) =
            (i64::from(stored.attempts), millis(stored.next_attempt_at));
        let (n, changed) = fenced_apply(stored, claimed, outcome)?;
        if !changed {
            return Ok(n);
        }
        // Only if nobody claimed or completed it since it was read (optimistic concurrency on
        // the attempts and the lease end, the fencing token).
        let r = self
            .coll(NOTIFICATIONS)
            .replace_one(
                doc! {"_id": &id, "attempts": read_attempts, "due": read_due, "status": {"$ne": "sent"}},
                notification_document(&n)?,
            )
            .await
            .map_err(unavailable)?;
        if r.matched_count == 0 {
            let now: Notification = self
                .get_doc(NOTIFICATIONS, &id)
                .await?
                .ok_or_else(|| Error::not_found(format!("notification '{key}'")))?;
            if now.status == NotificationStatus::Sent {
                return Ok(now);
            }
            return Err(Error::Conflict {
                what: format!(
                    "notification '{key}' was claimed again after this claim's lease ended"
                ),
            });
        }
        Ok(n)
    }

    async fn put_document(
        &self,
        collection: &str,
        id: &str,
        value: &serde_json::Value,
    ) -> Result<()> {
        check_document_key(collection, id)?;
        let d = doc! {
            "_id": format!("{collection}/{id}"),
            "collection": collection,
            "id": id,
            // As JSON text: a document's keys may be anything JSON allows, BSON does not.
            "json": serde_json::to_string(value)
                .map_err(|e| Error::invalid("document", e.to_string()))?,
        };
        self.upsert(
            DOCUMENTS,
            format!("{collection}/{id}").into(),
            d,
            &mut UpsertCount::default(),
        )
        .await
    }

    async fn document(&self, collection: &str, id: &str) -> Result<Option<serde_json::Value>> {
        check_document_key(collection, id)?;
        let found = self
            .coll(DOCUMENTS)
            .find_one(doc! {"_id": format!("{collection}/{id}")})
            .await
            .map_err(unavailable)?;
        found.map(|d| document_json(&d)).transpose()
    }

    async fn documents(
        &self,
        collection: &str,
        page: &Page,
    ) -> Result<Vec<(String, serde_json::Value)>> {
        check_document_key(collection, "x")?;
        let limit = check_limit(page.limit)? as i64;
        let mut filter = doc! {"collection": collection};
        if let Some(after) = &page.after {
            filter.insert("id", doc! {"$gt": after});
        }
        let docs: Vec<Document> = self
            .coll(DOCUMENTS)
            .find(filter)
            .sort(doc! {"id": 1})
            .limit(limit)
            .await
            .map_err(unavailable)?
            .try_collect()
            .await
            .map_err(unavailable)?;
        docs.iter()
            .map(|d| {
                let id = d
                    .get_str("id")
                    .map_err(|e| Error::decode("stored document id", e))?;
                Ok((id.to_owned(), document_json(d)?))
            })
            .collect()
    }

    async fn delete_document(&self, collection: &str, id: &str) -> Result<bool> {
        check_document_key(collection, id)?;
        let r = self
            .coll(DOCUMENTS)
            .delete_one(doc! {"_id": format!("{collection}/{id}")})
            .await
            .map_err(unavailable)?;
        Ok(r.deleted_count > 0)
    }
}

fn document_json(d: &Document) -> Result<serde_json::Value> {
    let ctx = || format!("stored document {:?}", d.get("_id"));
    let text = d.get_str("json").map_err(|e| Error::decode(ctx(), e))?;
    serde_json::from_str(text).map_err(|e| Error::decode(ctx(), e))
}
