//! The `Source` port: a crawler that yields events when polled.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::model::Event;
use crate::Result;

/// A part of a response a source could not use, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Where: endpoint and row, e.g. `STOCK_DAY_ALL row 17 (code 1101)`.
    pub location: String,
    /// Why it was skipped.
    pub reason: String,
}

/// What one poll produced: the events, and what was skipped along the way.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    /// Events to publish, in order.
    pub events: Vec<Event>,
    /// Rows or items skipped, with reasons. A malformed row never fails the whole batch.
    pub skipped: Vec<Skipped>,
}

/// A crawler the feeder schedules.
///
/// # Contract
/// - `poll` does one round of work (one request or one small group of requests) and returns
///   the events it found. It never fails a whole batch because of one bad item: the item goes
///   to [`Batch::skipped`].
/// - Every event's `key` is its payload's key (the security code) and its `source` is
///   [`Source::name`].
/// - Errors are for the round as a whole (the site is down, the client is blocked) and say
///   whether they are transient.
#[async_trait]
pub trait Source: Send + Sync + fmt::Debug + 'static {
    /// A stable name, e.g. `twse.mis`; used as the events' `source`.
    fn name(&self) -> &str;

    /// One round of crawling at `now`.
    async fn poll(&self, now: DateTime<Utc>) -> Result<Batch>;
}
