//! Events on the log, in a versioned envelope.
//!
//! On the wire an event is one JSON object:
//!
//! ```json
//! {"id":"…","type":"quote.snapshot","source":"twse.mis","time":"2025-05-02T05:30:00Z",
//!  "key":"2330","version":1,"data":{…}}
//! ```
//!
//! `type` picks the payload, `version` its schema. Readers reject versions newer than they know
//! with a clear error instead of guessing; unknown envelope fields are ignored so writers can add
//! metadata.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Alert, DailyBar, IntradayBar, Quote, Security};
use crate::{Error, Result};

const EVENT_NAMESPACE: Uuid = Uuid::from_u128(0x0b7e_55d4_2f4c_4b8a_9d0e_1c2b_3a4f_5e6d);

/// An event's id. Derived from the payload's natural key where it has one (a quote's code and
/// exchange time, a bar's code and date), so a re-crawl of the same data yields the same id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(pub Uuid);

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The kinds of event the pipeline carries; each has its own topic and schema version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventKind {
    /// A real-time [`Quote`] snapshot.
    Quote,
    /// A closed [`DailyBar`].
    DailyBar,
    /// A closed [`IntradayBar`].
    IntradayBar,
    /// A [`Security`] profile.
    Security,
    /// An [`Alert`] raised by a rule.
    Alert,
}

impl EventKind {
    /// Every kind, for iteration.
    pub const ALL: [EventKind; 5] = [
        EventKind::Quote,
        EventKind::DailyBar,
        EventKind::IntradayBar,
        EventKind::Security,
        EventKind::Alert,
    ];

    /// The `type` string in the envelope.
    pub fn type_name(self) -> &'static str {
        match self {
            EventKind::Quote => "quote.snapshot",
            EventKind::DailyBar => "bar.daily",
            EventKind::IntradayBar => "bar.intraday",
            EventKind::Security => "security.profile",
            EventKind::Alert => "alert.raised",
        }
    }

    /// The newest schema version this build reads and writes.
    pub fn version(self) -> u16 {
        1
    }

    /// The topic (before any namespace prefix) that carries this kind.
    pub fn topic(self) -> &'static str {
        match self {
            EventKind::Quote => "experiment.quotes.v1",
            EventKind::DailyBar => "experiment.bars.daily.v1",
            EventKind::IntradayBar => "experiment.bars.intraday.v1",
            EventKind::Security => "experiment.securities.v1",
            EventKind::Alert => "experiment.alerts.v1",
        }
    }

    /// Looks a kind up by its `type` string.
    pub fn from_type_name(name: &str) -> Option<Self> {
        EventKind::ALL.into_iter().find(|k| k.type_name() == name)
    }
}

/// An event's content.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Payload {
    /// A real-time snapshot.
    Quote(Quote),
    /// A daily bar.
    DailyBar(DailyBar),
    /// An intraday bar.
    IntradayBar(IntradayBar),
    /// A security profile.
    Security(Security),
    /// An alert.
    Alert(Alert),
}

impl Payload {
    /// The payload's kind.
    pub fn kind(&self) -> EventKind {
        match self {
            Payload::Quote(_) => EventKind::Quote,
            Payload::DailyBar(_) => EventKind::DailyBar,
            Payload::IntradayBar(_) => EventKind::IntradayBar,
            Payload::Security(_) => EventKind::Security,
            Payload::Alert(_) => EventKind::Alert,
        }
    }

    /// The partition key: the security code, so one code's events stay in order.
    pub fn key(&self) -> &str {
        match self {
            Payload::Quote(q) => q.code.as_str(),
            Payload::DailyBar(b) => b.code.as_str(),
            Payload::IntradayBar(b) => b.code.as_str(),
            Payload::Security(s) => s.code.as_str(),
            Payload::Alert(a) => a.code.as_str(),
        }
    }

    /// The payload's natural key as text, where it has one.
    fn natural_key(&self) -> Option<String> {
        match self {
            Payload::Quote(q) => Some(format!("{}|{}", q.code, q.exchange_time.timestamp_micros())),
            Payload::DailyBar(b) => Some(format!("{}|{}", b.code, b.date)),
            Payload::IntradayBar(b) => Some(format!(
                "{}|{}|{}",
                b.code,
                b.interval_secs,
                b.start.timestamp_micros()
            )),
            Payload::Alert(a) => Some(a.id.to_string()),
            Payload::Security(_) => None,
        }
    }

    fn to_value(&self) -> serde_json::Result<serde_json::Value> {
        match self {
            Payload::Quote(x) => serde_json::to_value(x),
            Payload::DailyBar(x) => serde_json::to_value(x),
            Payload::IntradayBar(x) => serde_json::to_value(x),
            Payload::Security(x) => serde_json::to_value(x),
            Payload::Alert(x) => serde_json::to_value(x),
        }
    }
}

/// An event: an envelope around a [`Payload`].
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Id, derived from the payload's natural key where it has one.
    pub id: EventId,
    /// Who produced it, e.g. `twse.mis`, `api`, `worker`.
    pub source: String,
    /// When it was produced.
    pub time: DateTime<Utc>,
    /// Partition key (the security code).
    pub key: String,
    /// Content.
    pub payload: Payload,
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    id: Uuid,
    #[serde(rename = "type")]
    kind: String,
    source: String,
    time: DateTime<Utc>,
    key: String,
    version: u16,
    data: serde_json::Value,
}

impl Event {
    /// Wraps a payload, deriving the id and key.
    pub fn new(source: impl Into<String>, time: DateTime<Utc>, payload: Payload) -> Self {
        let kind = payload.kind();
        let id = match payload.natural_key() {
            Some(k) => Uuid::new_v5(
                &EVENT_NAMESPACE,
                format!("{}|{k}", kind.type_name()).as_bytes(),
            ),
            None => Uuid::new_v4(),
        };
        Event {
            id: EventId(id),
            source: source.into(),
            time,
            key: payload.key().to_owned(),
            payload,
        }
    }

    /// The event's kind.
    pub fn kind(&self) -> EventKind {
        self.payload.kind()
    }

    /// Serialises the event to its JSON wire form.
    pub fn encode(&self) -> Vec<u8> {
        let kind = self.kind();
        let envelope = Envelope {
            id: self.id.0,
            kind: kind.type_name().to_owned(),
            source: self.source.clone(),
            time: self.time,
            key: self.key.clone(),
            version: kind.version(),
            // The model types serialise infallibly (no maps with non-string keys, no NaN
            // decimals); f64 indicator values may be NaN, which serde_json writes as null.
            data: self.payload.to_value().unwrap_or(serde_json::Value::Null),
        };
        serde_json::to_vec(&envelope).unwrap_or_default()
    }

    /// Parses an event from its wire form. `context` says where the bytes came from and is
    /// repeated in the error (e.g. `experiment.quotes.v1/3@1042`).
    ///
    /// # Errors
    /// [`Error::Decode`] when the bytes are not JSON, a field is missing or mistyped (with its
    /// path, e.g. `data.last`), the `type` is unknown, or the `version` is newer than this build
    /// reads.
    ///
    /// ```
    /// use experiment_core::{model::Event, Error};
    /// let err = Event::decode(br#"{"nonsense": true}"#, "demo").unwrap_err();
    /// assert!(matches!(err, Error::Decode { .. }));
    /// assert!(err.to_string().contains("demo"), "{err}");
    /// ```
    pub fn decode(bytes: &[u8], context: &str) -> Result<Event> {
        let de = &mut serde_json::Deserializer::from_slice(bytes);
        let env: Envelope = serde_path_to_error::deserialize(de)
            .map_err(|e| Error::decode(format!("event envelope from {context}"), e))?;
        let kind = EventKind::from_type_name(&env.kind).ok_or_else(|| {
            Error::decode(
                format!("event {} from {context}", env.id),
                format!(
                    "unknown event type '{}'; known: {}",
                    env.kind,
                    EventKind::ALL.map(|k| k.type_name()).join(", ")
                ),
            )
        })?;
        if env.version == 0 || env.version > kind.version() {
            return Err(Error::decode(
                format!("event {} from {context}", env.id),
                format!(
                    "'{}' version {} is not supported; this build reads versions 1 to {}",
                    env.kind,
                    env.version,
                    kind.version()
                ),
            ));
        }
        let data_context = || format!("'{}' event {} from {context}", env.kind, env.id);
        fn data<T: serde::de::DeserializeOwned>(
            v: serde_json::Value,
            ctx: impl FnOnce() -> String,
        ) -> Result<T> {
            serde_path_to_error::deserialize(v).map_err(|e| {
                let path = e.path().to_string();
                Error::decode(ctx(), format!("data.{path}: {}", e.into_inner()))
            })
        }
        let payload = match kind {
            EventKind::Quote => Payload::Quote(data(env.data, data_context)?),
            EventKind::DailyBar => Payload::DailyBar(data(env.data, data_context)?),
            EventKind::IntradayBar => Payload::IntradayBar(data(env.data, data_context)?),
            EventKind::Security => Payload::Security(data(env.data, data_context)?),
            EventKind::Alert => Payload::Alert(data(env.data, data_context)?),
        };
        Ok(Event {
            id: EventId(env.id),
            source: env.source,
            time: env.time,
            key: env.key,
            payload,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Exchange, SecurityCode};
    use chrono::{NaiveDate, TimeZone};
    use rust_decimal_macros::dec;

    fn bar() -> DailyBar {
        DailyBar {
            code: SecurityCode::new("2330").unwrap(),
            exchange: Exchange::Twse,
            date: NaiveDate::from_ymd_opt(2025, 5, 2).unwrap(),
            open: dec!(910.00),
            high: dec!(925.00),
            low: dec!(905.00),
            close: dec!(920.00),
            volume: 37_000_000,
            value: dec!(33888000000),
            trades: Some(61234),
            change: None,
        }
    }

    #[test]
    fn round_trip_keeps_decimal_scale() {
        let t = Utc.with_ymd_and_hms(2025, 5, 2, 6, 0, 0).unwrap();
        let e = Event::new("test", t, Payload::DailyBar(bar()));
        let bytes = e.encode();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.contains(r#""open":"910.00""#), "{text}");
        assert!(text.contains(r#""type":"bar.daily""#), "{text}");
        let back = Event::decode(&bytes, "test").unwrap();
        assert_eq!(back, e);
        assert_eq!(back.key, "2330");
    }

    #[test]
    fn same_bar_same_id() {
        let t = Utc.with_ymd_and_hms(2025, 5, 2, 6, 0, 0).unwrap();
        let a = Event::new("a", t, Payload::DailyBar(bar()));
        let b = Event::new(
            "b",
            t + chrono::Duration::hours(1),
            Payload::DailyBar(bar()),
        );
        assert_eq!(a.id, b.id);
    }

    #[test]
    fn bad_payloads_are_typed_errors_that_say_where() {
        let t = Utc.with_ymd_and_hms(2025, 5, 2, 6, 0, 0).unwrap();
        let good = Event::new("test", t, Payload::DailyBar(bar())).encode();
        let mut v: serde_json::Value = serde_json::from_slice(&good).unwrap();

        let cases: Vec<(serde_json::Value, &str)> = vec![
            (
                {
                    let mut x = v.clone();
                    x["type"] = "bar.weekly".into();
                    x
                },
                "unknown event type 'bar.weekly'",
            ),
            (
                {
                    let mut x = v.clone();
                    x["version"] = 9.into();
                    x
                },
                "version 9 is not supported",
            ),
            (
                {
                    let mut x = v.clone();
                    x["data"]["close"] = "abc".into();
                    x
                },
                "data.close",
            ),
            (
                {
                    let mut x = v.clone();
                    x["data"]["code"] = "23 30".into();
                    x
                },
                "data.code",
            ),
            (
                {
                    let mut x = v.clone();
                    x.as_object_mut().unwrap().remove("key");
                    x
                },
                "key",
            ),
        ];
        for (bad, needle) in cases {
            let err = Event::decode(&serde_json::to_vec(&bad).unwrap(), "topic/0@5").unwrap_err();
            assert!(matches!(err, Error::Decode { .. }), "{err:?}");
            let msg = format!(
                "{err}: {}",
                std::error::Error::source(&err)
                    .map(|s| s.to_string())
                    .unwrap_or_default()
            );
            assert!(msg.contains(needle), "{msg} should mention {needle}");
            assert!(msg.contains("topic/0@5"), "{msg}");
        }
        v["extra_field"] = "ignored".into();
        assert!(Event::decode(&serde_json::to_vec(&v).unwrap(), "x").is_ok());
        assert!(Event::decode(b"\xff\x00garbage", "x").is_err());
    }
}
