//! Notifiers and sources that need no network: a recording notifier for tests, a console
//! notifier for the demo, and a replay source for recorded events.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::model::{Event, Notification, MARKET_TZ};
use crate::notify::{Notifier, Receipt};
use crate::source::{Batch, Source};
use crate::{Error, Result};

#[derive(Debug, Default)]
struct Recorded {
    sent: Vec<Notification>,
    failures: VecDeque<Error>,
}

/// A notifier that records what it was asked to send. Scripted failures (see
/// [`RecordingNotifier::fail_next`]) are returned first, in order, without recording.
/// Cloning shares the record.
#[derive(Debug, Clone)]
pub struct RecordingNotifier {
    destination: String,
    inner: Arc<Mutex<Recorded>>,
}

impl RecordingNotifier {
    /// A recording notifier for `destination`.
    pub fn new(destination: impl Into<String>) -> Self {
        RecordingNotifier {
            destination: destination.into(),
            inner: Arc::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Recorded> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes the next `send` fail with `error`.
    pub fn fail_next(&self, error: Error) {
        self.lock().failures.push_back(error);
    }

    /// Everything sent so far, in order.
    pub fn sent(&self) -> Vec<Notification> {
        self.lock().sent.clone()
    }
}

#[async_trait]
impl Notifier for RecordingNotifier {
    fn destination(&self) -> &str {
        &self.destination
    }

    async fn send(&self, notification: &Notification) -> Result<Receipt> {
        let mut inner = self.lock();
        if let Some(e) = inner.failures.pop_front() {
            return Err(e);
        }
        inner.sent.push(notification.clone());
        Ok(Receipt {
            id: Some(format!("rec-{}", inner.sent.len())),
            duplicate: false,
        })
    }
}

/// Prints each alert as one line on standard output (Taipei time), for the demo and for
/// people without Slack.
#[derive(Debug, Clone)]
pub struct ConsoleNotifier {
    destination: String,
}

impl ConsoleNotifier {
    /// A console notifier called `destination`.
    pub fn new(destination: impl Into<String>) -> Self {
        ConsoleNotifier {
            destination: destination.into(),
        }
    }
}

#[async_trait]
impl Notifier for ConsoleNotifier {
    fn destination(&self) -> &str {
        &self.destination
    }

    async fn send(&self, n: &Notification) -> Result<Receipt> {
        let a = &n.alert;
        let local = a.bar_time.with_timezone(&MARKET_TZ);
        // Daily bars start at midnight Taipei: show their date alone.
        let when = if local.time() == chrono::NaiveTime::MIN {
            local.format("%Y-%m-%d").to_string()
        } else {
            local.format("%Y-%m-%d %H:%M").to_string()
        };
        let line = format!("[{when}] {} {} — {}\n", a.code, a.rule_name, a.message);
        std::io::stdout()
            .lock()
            .write_all(line.as_bytes())
            .map_err(|e| Error::unavailable("console", e))?;
        Ok(Receipt::default())
    }
}

/// A source that replays recorded events in order, `batch` at a time.
#[derive(Debug)]
pub struct ReplaySource {
    name: String,
    events: Mutex<VecDeque<Event>>,
    batch: usize,
}

impl ReplaySource {
    /// Replays `events` under the source name `name`, `batch` per poll (at least 1).
    pub fn new(name: impl Into<String>, events: Vec<Event>, batch: usize) -> Self {
        ReplaySource {
            name: name.into(),
            events: Mutex::new(events.into()),
            batch: batch.max(1),
        }
    }

    /// Events not yet replayed.
    pub fn remaining(&self) -> usize {
        self.events.lock().map_or(0, |e| e.len())
    }
}

#[async_trait]
impl Source for ReplaySource {
    fn name(&self) -> &str {
        &self.name
    }

    async fn poll(&self, _now: DateTime<Utc>) -> Result<Batch> {
        let mut queue = self.events.lock().unwrap_or_else(|p| p.into_inner());
        let take = self.batch.min(queue.len());
        let events = queue
            .drain(..take)
            .map(|mut e| {
                e.source = self.name.clone();
                e
            })
            .collect();
        Ok(Batch {
            events,
            skipped: Vec::new(),
        })
    }
}
