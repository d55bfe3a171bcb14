//! The feeder's testable pieces: one polling round of a [`Source`] published to the bus.
//!
//! The standalone `experiment-feeder` service binary comes with the Kafka adapter (a service
//! needs a bus other processes can read); until then the all-in-one `experiment` CLI wires
//! this library to the in-memory bus.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use experiment_core::bus::{EventBus, EventBusExt, Record};
use experiment_core::model::Payload;
use experiment_core::seed::{encode_key, AssetInfoView, SEED_TOPIC};
use experiment_core::{Result, Source};

/// What one round did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FeedReport {
    /// Events published.
    pub published: usize,
    /// Items the source skipped (each was logged with its location and reason).
    pub skipped: usize,
}

/// Publishes what a source yields.
#[derive(Debug, Clone)]
pub struct Feeder {
    source: Arc<dyn Source>,
    bus: Arc<dyn EventBus>,
    prefix: String,
    seed_compat: bool,
}

impl Feeder {
    /// A feeder publishing `source`'s events to `bus`, on topics prefixed with `prefix`.
    pub fn new(source: Arc<dyn Source>, bus: Arc<dyn EventBus>, prefix: impl Into<String>) -> Self {
        Feeder {
            source,
            bus,
            prefix: prefix.into(),
            seed_compat: false,
        }
    }

    /// Also publish every quote on the original services' topic `asset.info.view.v1`, in
    /// their exact format, so the original Python worker can consume our feed.
    pub fn with_seed_compat(mut self, on: bool) -> Self {
        self.seed_compat = on;
        self
    }

    /// Polls the source once and publishes its events in order.
    ///
    /// # Errors
    /// The source's error for the round, or the bus's; events published before a bus error
    /// stay published (consumers are idempotent).
    pub async fn run_once(&self, now: DateTime<Utc>) -> Result<FeedReport> {
        let batch = self.source.poll(now).await?;
        for s in &batch.skipped {
            tracing::warn!(source = self.source.name(), location = %s.location, reason = %s.reason, "source skipped an item");
        }
        for event in &batch.events {
            self.bus.publish_event(&self.prefix, event).await?;
            if let (true, Payload::Quote(q)) = (self.seed_compat, &event.payload) {
                let view = AssetInfoView::from_quote(q, None);
                let topic = format!("{}{SEED_TOPIC}", self.prefix);
                self.bus
                    .publish(&topic, Record::new(encode_key(&q.code), view.encode()))
                    .await?;
            }
        }
        Ok(FeedReport {
            published: batch.events.len(),
            skipped: batch.skipped.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use experiment_core::bus::Subscription;
    use experiment_core::memory::{MemoryBus, ReplaySource};
    use experiment_core::model::{Event, EventKind, Exchange, Quote, SecurityCode};

    fn quote(now: DateTime<Utc>) -> Quote {
        Quote {
            code: SecurityCode::new("2330").unwrap(),
            exchange: Exchange::Twse,
            name: "台積電".into(),
            last: Some("1530.0000".parse().unwrap()),
            last_volume: None,
            open: Some("1515.0000".parse().unwrap()),
            high: None,
            low: None,
            reference: None,
            limit_up: None,
            limit_down: None,
            volume: None,
            bids: vec![],
            asks: vec![],
            exchange_time: now,
            received_at: now,
        }
    }

    #[tokio::test]
    async fn publishes_events_and_seed_compatible_quotes() {
        let now = Utc::now();
        let bus = Arc::new(MemoryBus::new());
        let event = Event::new("x", now, Payload::Quote(quote(now)));
        let source = Arc::new(ReplaySource::new("replay", vec![event.clone()], 10));
        let feeder = Feeder::new(source, bus.clone(), "t1.").with_seed_compat(true);
        let report = feeder.run_once(now).await.unwrap();
        assert_eq!(
            report,
            FeedReport {
                published: 1,
                skipped: 0
            }
        );
        assert_eq!(bus.len(&format!("t1.{}", EventKind::Quote.topic())), 1);

        let mut sub: Box<dyn Subscription> = bus
            .subscribe("g", &["t1.asset.info.view.v1"])
            .await
            .unwrap();
        let d = sub.next().await.unwrap();
        assert_eq!(d.record.key, br#"{"code": "2330"}"#);
        let view = AssetInfoView::decode(&d.record.payload, &d.position()).unwrap();
        assert_eq!(
            view.current_intraday_price.unwrap().to_string(),
            "1530.0000"
        );
        // a drained source publishes nothing more
        assert_eq!(feeder.run_once(now).await.unwrap().published, 0);
    }
}
