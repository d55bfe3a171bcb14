//! The live stream (`GET /v1/stream`, Server-Sent Events): quotes, daily bars and alerts as
//! they happen.
//!
//! Events reach the [`Hub`] from this API's own ingest and from the event log (a tap in its
//! own consumer group, so every API replica sees every event); the hub drops the second copy
//! of an event by its id. Each stream event gets an increasing id; a client that reconnects
//! with `Last-Event-ID` gets what it missed from a bounded replay buffer, or a `lagged` event
//! when that is too old. Keep-alive comments keep proxies from closing idle streams; at
//! shutdown every client gets a final `shutdown` event.

use std::collections::{HashSet, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use chrono::Utc;
use experiment_core::model::{Event, EventKind, Payload};
use experiment_core::EventBus;
use futures::Stream;
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// What a stream event carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamKind {
    /// A quote snapshot.
    Quote,
    /// A daily bar.
    Bar,
    /// An alert.
    Alert,
}

impl StreamKind {
    /// The SSE `event:` name.
    pub fn name(self) -> &'static str {
        match self {
            StreamKind::Quote => "quote",
            StreamKind::Bar => "bar",
            StreamKind::Alert => "alert",
        }
    }

    /// Parses a name of the `types` parameter.
    pub fn parse(name: &str) -> Option<Self> {
        match name.trim() {
            "quote" | "quotes" => Some(StreamKind::Quote),
            "bar" | "bars" => Some(StreamKind::Bar),
            "alert" | "alerts" => Some(StreamKind::Alert),
            _ => None,
        }
    }
}

/// One event of the stream.
#[derive(Debug)]
pub struct StreamEvent {
    /// Its stream id (increasing).
    pub id: u64,
    /// What it carries.
    pub kind: StreamKind,
    /// The security.
    pub code: String,
    /// The payload as JSON.
    pub data: String,
}

struct HubState {
    next: u64,
    buffer: VecDeque<Arc<StreamEvent>>,
    seen: HashSet<Uuid>,
    seen_order: VecDeque<Uuid>,
}

/// Fan-out of stream events with a replay buffer.
pub struct Hub {
    capacity: usize,
    state: Mutex<HubState>,
    tx: broadcast::Sender<Arc<StreamEvent>>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl Hub {
    /// A hub replaying the last `capacity` events.
    pub fn new(capacity: usize) -> Self {
        // Ids start at the start time in microseconds, so ids of a restarted API are above
        // those a client saw before, and its Last-Event-ID reads as "too old" (lagged), not
        // as "from the future".
        let start = u64::try_from(Utc::now().timestamp_micros()).unwrap_or(1);
        let (tx, _) = broadcast::channel(capacity.clamp(16, 65_536));
        Hub {
            capacity: capacity.max(1),
            state: Mutex::new(HubState {
                next: start,
                buffer: VecDeque::new(),
                seen: HashSet::new(),
                seen_order: VecDeque::new(),
            }),
            tx,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HubState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Publishes an event of the log, unless the hub has seen its id. Returns the stream id.
    pub fn publish(&self, event: &Event) -> Option<u64> {
        let (kind, data) = match &event.payload {
            Payload::Quote(q) => (StreamKind::Quote, serde_json::to_string(q)),
            Payload::DailyBar(b) => (StreamKind::Bar, serde_json::to_string(b)),
            Payload::Alert(a) => (StreamKind::Alert, serde_json::to_string(a)),
            _ => return None,
        };
        let data = data.ok()?;
        let mut st = self.lock();
        if !st.seen.insert(event.id.0) {
            return None;
        }
        st.seen_order.push_back(event.id.0);
        // Long enough to cover one full ingest request arriving twice (directly and through
        // the log tap).
        while st.seen_order.len() > self.capacity.max(2 * crate::INGEST_MAX_ITEMS) {
            if let Some(old) = st.seen_order.pop_front() {
                st.seen.remove(&old);
            }
        }
        let id = st.next;
        st.next += 1;
        let e = Arc::new(StreamEvent {
            id,
            kind,
            code: event.key.clone(),
            data,
        });
        st.buffer.push_back(e.clone());
        while st.buffer.len() > self.capacity {
            st.buffer.pop_front();
        }
        // Sent under the lock, so the order on the channel is the order of the ids.
        let _ = self.tx.send(e);
        Some(id)
    }

    /// A receiver of new events and the buffered events after `last` (with whether events
    /// after `last` were already dropped from the buffer).
    fn subscribe(
        &self,
        last: Option<u64>,
    ) -> (
        broadcast::Receiver<Arc<StreamEvent>>,
        Vec<Arc<StreamEvent>>,
        bool,
    ) {
        let st = self.lock();
        let rx = self.tx.subscribe();
        let Some(last) = last else {
            return (rx, Vec::new(), false);
        };
        let oldest = st.buffer.front().map_or(st.next, |e| e.id);
        // An id from the future (another replica, or a restart with the clock set back) is
        // as unknown as one too old: say so, and go on from now.
        let missed = last.saturating_add(1) < oldest || last >= st.next;
        let replay = st.buffer.iter().filter(|e| e.id > last).cloned().collect();
        (rx, replay, missed)
    }
}

/// Which events a client wants.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only these codes (all when empty).
    pub codes: HashSet<String>,
    /// Only these kinds (all when empty).
    pub kinds: HashSet<StreamKind>,
}

impl Filter {
    fn matches(&self, e: &StreamEvent) -> bool {
        (self.codes.is_empty() || self.codes.contains(&e.code))
            && (self.kinds.is_empty() || self.kinds.contains(&e.kind))
    }
}

fn sse(e: &StreamEvent) -> SseEvent {
    SseEvent::default()
        .id(e.id.to_string())
        .event(e.kind.name())
        .data(&e.data)
}

struct Client {
    replay: VecDeque<Arc<StreamEvent>>,
    rx: broadcast::Receiver<Arc<StreamEvent>>,
    last: u64,
    filter: Filter,
    token: CancellationToken,
    notice: Option<SseEvent>,
    done: bool,
    gauge: Gauge,
}

impl Drop for Client {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

/// The SSE response for a client.
pub fn respond(
    hub: &Hub,
    filter: Filter,
    last_event_id: Option<u64>,
    keepalive: Duration,
    token: CancellationToken,
    gauge: Gauge,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let (rx, replay, missed) = hub.subscribe(last_event_id);
    // After an unknown id, everything from now on is new to this client.
    let last_event_id = if missed {
        replay.first().map(|e| e.id.saturating_sub(1)).or(Some(0))
    } else {
        last_event_id
    };
    gauge.inc();
    let notice = missed.then(|| {
        SseEvent::default()
            .event("lagged")
            .data("{\"detail\":\"events after your Last-Event-ID are no longer buffered; reload what you need\"}")
    });
    let client = Client {
        replay: replay.into_iter().filter(|e| filter.matches(e)).collect(),
        rx,
        last: last_event_id.unwrap_or(0),
        filter,
        token,
        notice,
        done: false,
        gauge,
    };
    let stream = futures::stream::unfold(client, |mut c| async move {
        if c.done {
            return None;
        }
        if let Some(n) = c.notice.take() {
            return Some((Ok(n), c));
        }
        if let Some(e) = c.replay.pop_front() {
            c.last = c.last.max(e.id);
            return Some((Ok(sse(&e)), c));
        }
        loop {
            tokio::select! {
                _ = c.token.cancelled() => {
                    c.done = true;
                    let bye = SseEvent::default()
                        .event("shutdown")
                        .data("{\"detail\":\"the server is shutting down; reconnect with Last-Event-ID\"}");
                    return Some((Ok(bye), c));
                }
                r = c.rx.recv() => match r {
                    Ok(e) => {
                        if e.id <= c.last || !c.filter.matches(&e) {
                            continue;
                        }
                        c.last = e.id;
                        return Some((Ok(sse(&e)), c));
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        let lagged = SseEvent::default()
                            .event("lagged")
                            .data(format!("{{\"detail\":\"this client fell behind and missed {n} events\"}}"));
                        return Some((Ok(lagged), c));
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(keepalive))
}

/// Feeds the hub from the event log until `token` is cancelled: quotes, daily bars and
/// alerts, in a consumer group of this tap's own that starts at the end of the log where the
/// bus can (Kafka). Events stamped more than a minute before the tap started (a bus that
/// starts new groups at the beginning) are read but not streamed.
///
/// # Errors
/// When the subscription fails (the supervisor restarts the tap).
pub async fn tap(
    bus: Arc<dyn EventBus>,
    prefix: String,
    hub: Arc<Hub>,
    token: CancellationToken,
) -> experiment_core::Result<()> {
    let since = Utc::now();
    let topics: Vec<String> = [EventKind::Quote, EventKind::DailyBar, EventKind::Alert]
        .iter()
        .map(|k| format!("{prefix}{}", k.topic()))
        .collect();
    let refs: Vec<&str> = topics.iter().map(String::as_str).collect();
    let group = format!("experiment-api-stream-{}", Uuid::new_v4().simple());
    let mut sub = bus.subscribe_latest(&group, &refs).await?;
    let horizon = since - chrono::Duration::minutes(1);
    loop {
        let d = tokio::select! {
            _ = token.cancelled() => break,
            d = sub.next() => d?,
        };
        match d.decode_event() {
            Ok(e) if e.time >= horizon => {
                hub.publish(&e);
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "stream tap: undecodable event skipped"),
        }
        d.ack();
    }
    sub.close().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use experiment_core::model::{Exchange, Quote, SecurityCode};

    fn quote(code: &str, secs: i64) -> Event {
        let t = chrono::DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap();
        let q = Quote {
            code: SecurityCode::new(code).unwrap(),
            exchange: Exchange::Twse,
            name: "x".into(),
            last: None,
            last_volume: None,
            open: None,
            high: None,
            low: None,
            reference: None,
            limit_up: None,
            limit_down: None,
            volume: None,
            bids: vec![],
            asks: vec![],
            exchange_time: t,
            received_at: t,
        };
        Event::new("test", t, Payload::Quote(q))
    }

    #[test]
    fn the_hub_drops_repeats_and_bounds_its_buffer() {
        let hub = Hub::new(3);
        let a = hub.publish(&quote("2330", 1)).unwrap();
        assert_eq!(hub.publish(&quote("2330", 1)), None, "the same event twice");
        for s in 2..6 {
            hub.publish(&quote("2330", s));
        }
        let (_, replay, missed) = hub.subscribe(Some(a));
        assert!(missed, "events after {a} were dropped from a buffer of 3");
        assert_eq!(replay.len(), 3);
        let (_, replay, missed) = hub.subscribe(Some(replay[0].id));
        assert!(!missed);
        assert_eq!(replay.len(), 2);
        let (_, replay, missed) = hub.subscribe(Some(u64::MAX - 1));
        assert!(missed, "an id from the future is unknown");
        assert_eq!(replay.len(), 0);
    }
}
