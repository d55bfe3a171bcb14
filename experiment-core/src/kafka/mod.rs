//! The [`EventBus`] on Apache Kafka (feature `kafka`, librdkafka built from source).
//!
//! - **Producer**: idempotent, `acks=all`; the record key picks the partition (librdkafka's
//!   consistent hash, the same as the original Python feeder's client), so one security code
//!   stays on one partition and in order.
//! - **Topics**: every name gets the configured prefix (namespacing tenants and tests). Topics
//!   are created with the configured partitions and replication when first used, or explicitly
//!   with [`EventBus::create_topic`]; the adapter does not rely on broker auto-creation.
//! - **Consumer groups**: offsets are never auto-committed. Each member tracks, per partition,
//!   the records it handed out and which were acked, and commits the lowest unacked offset (or
//!   one past the last record when all are acked): an ack for offset 7 while 5 is in flight
//!   commits 5. Commits happen as `next` is polled, on revoke (before a partition moves to
//!   another member) and on `close`. A nack seeks the partition back to the record.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::config::ClientConfig;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use crate::bus::{
    validate_group, validate_topic, AckHandle, Delivery, EventBus, Published, Record, Subscription,
};
use crate::{Error, Result};

/// How to reach Kafka and how to name and create topics.
#[derive(Clone)]
pub struct KafkaConfig {
    /// `bootstrap.servers`, e.g. `127.0.0.1:9092`.
    pub brokers: String,
    /// Prepended to every topic name, e.g. `prod.`. Default empty.
    pub topic_prefix: String,
    /// Partitions of topics this adapter creates. Default 6.
    pub partitions: u32,
    /// Replication factor of topics this adapter creates. Default -1: the broker's own
    /// `default.replication.factor` (Kafka 2.4 and later), so a cluster set up for 3 replicas
    /// gets 3 without anyone repeating it here.
    pub replication: i32,
    /// Extra librdkafka properties (`security.protocol`, `sasl.*`, ...). Values never appear
    /// in `Debug` output.
    pub properties: BTreeMap<String, String>,
    /// How long to wait for a broker answer. Default 30 s.
    pub timeout: Duration,
}

impl fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaConfig")
            .field("brokers", &self.brokers)
            .field("topic_prefix", &self.topic_prefix)
            .field("partitions", &self.partitions)
            .field("replication", &self.replication)
            .field("properties", &self.properties.keys().collect::<Vec<_>>())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl KafkaConfig {
    /// Defaults for `brokers`.
    pub fn new(brokers: impl Into<String>) -> Self {
        KafkaConfig {
            brokers: brokers.into(),
            topic_prefix: String::new(),
            partitions: 6,
            replication: -1,
            properties: BTreeMap::new(),
            timeout: Duration::from_secs(30),
        }
    }

    /// Sets the topic prefix.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.topic_prefix = prefix.into();
        self
    }

    /// A client configuration: `defaults` first, then the configured properties, which win
    /// (a deployment may, say, turn idempotence off for a broker that lacks it).
    fn client(&self, defaults: &[(&str, String)]) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers);
        for (k, v) in defaults {
            c.set(*k, v);
        }
        for (k, v) in &self.properties {
            c.set(k, v);
        }
        c
    }
}

fn unavailable(e: KafkaError) -> Error {
    Error::unavailable("kafka", e)
}

/// Kafka-backed event bus.
#[derive(Clone)]
pub struct KafkaBus {
    config: KafkaConfig,
    producer: FutureProducer<BusContext>,
    admin: Arc<AdminClient<BusContext>>,
    known: Arc<Mutex<HashSet<String>>>,
    quiet: Arc<Quiet>,
}

impl fmt::Debug for KafkaBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaBus")
            .field("config", &self.config)
            .finish()
    }
}

impl KafkaBus {
    /// Creates the producer and admin clients (they connect lazily).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when librdkafka rejects the configuration.
    pub fn connect(config: KafkaConfig) -> Result<Self> {
        if config.partitions == 0 || (config.replication < 1 && config.replication != -1) {
            return Err(Error::invalid(
                "kafka",
                "partitions must be at least 1, replication at least 1 (or -1: the broker's default)",
            ));
        }
        let invalid = |e: KafkaError| Error::invalid("kafka config", e.to_string());
        let quiet = Arc::new(Quiet::default());
        let producer: FutureProducer<BusContext> = config
            .client(&[
                ("enable.idempotence", "true".into()),
                ("acks", "all".into()),
                ("message.timeout.ms", config.timeout.as_millis().to_string()),
            ])
            .create_with_context(BusContext {
                quiet: quiet.clone(),
            })
            .map_err(invalid)?;
        let admin: AdminClient<BusContext> = config
            .client(&[])
            .create_with_context(BusContext {
                quiet: quiet.clone(),
            })
            .map_err(invalid)?;
        Ok(KafkaBus {
            config,
            producer,
            admin: Arc::new(admin),
            known: Arc::default(),
            quiet,
        })
    }

    fn full(&self, topic: &str) -> Result<String> {
        validate_topic(topic)?;
        let full = format!("{}{topic}", self.config.topic_prefix);
        validate_topic(&full)?;
        Ok(full)
    }

    fn known(&self) -> MutexGuard<'_, HashSet<String>> {
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Partitions of `full` per the broker's metadata (0 when it does not exist yet).
    async fn partitions_of(&self, full: &str) -> Result<usize> {
        let producer = self.producer.clone();
        let (name, timeout) = (full.to_owned(), self.config.timeout);
        tokio::task::spawn_blocking(move || {
            let md = producer
                .client()
                .fetch_metadata(Some(&name), timeout)
                .map_err(unavailable)?;
            Ok(md
                .topics()
                .iter()
                .find(|t| t.name() == name && t.error().is_none())
                .map_or(0, |t| t.partitions().len()))
        })
        .await
        .map_err(|e| Error::unavailable("kafka", e))?
    }

    async fn create_full(&self, full: &str, partitions: u32) -> Result<()> {
        if self.known().contains(full) {
            return Ok(());
        }
        let new = NewTopic::new(
            full,
            i32::try_from(partitions).unwrap_or(i32::MAX),
            TopicReplication::Fixed(self.config.replication),
        );
        let opts = AdminOptions::new()
            .operation_timeout(Some(self.config.timeout))
            .request_timeout(Some(self.config.timeout));
        let results = self
            .admin
            .create_topics([&new], &opts)
            .await
            .map_err(unavailable)?;
        for r in results {
            match r {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => {
                    return Err(Error::unavailable(
                        "kafka",
                        format!("creating topic {name}: {code}"),
                    ))
                }
            }
        }
        // Creation is asynchronous on the broker: wait until metadata shows the topic.
        let deadline = tokio::time::Instant::now() + self.config.timeout;
        while self.partitions_of(full).await? == 0 {
            if tokio::time::Instant::now() > deadline {
                return Err(Error::Timeout {
                    after: self.config.timeout,
                    during: format!("waiting for topic {full} to appear"),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.known().insert(full.to_owned());
        Ok(())
    }
}

#[async_trait]
impl EventBus for KafkaBus {
    async fn check(&self) -> Result<()> {
        let producer = self.producer.clone();
        let brokers = self.config.brokers.clone();
        // A readiness probe answers in seconds, whatever the configured timeout.
        let timeout = self.config.timeout.min(Duration::from_secs(3));
        tokio::task::spawn_blocking(move || {
            producer
                .client()
                .fetch_metadata(None, timeout)
                .map(|_| ())
                .map_err(|e| Error::unavailable("kafka", format!("brokers {brokers}: {e}")))
        })
        .await
        .map_err(|e| Error::unavailable("kafka", e))?
    }

    async fn create_topic(&self, topic: &str, partitions: u32) -> Result<()> {
        if partitions == 0 {
            return Err(Error::invalid("partitions", "must be at least 1"));
        }
        let full = self.full(topic)?;
        self.create_full(&full, partitions).await
    }

    async fn publish(&self, topic: &str, record: Record) -> Result<Published> {
        let full = self.full(topic)?;
        self.create_full(&full, self.config.partitions).await?;
        let mut headers = OwnedHeaders::new();
        for (k, v) in &record.headers {
            headers = headers.insert(Header {
                key: k,
                value: Some(v.as_slice()),
            });
        }
        let fr = FutureRecord::to(&full)
            .key(&record.key)
            .payload(&record.payload)
            .headers(headers);
        let delivered = self
            .producer
            .send(fr, self.config.timeout)
            .await
            .map_err(|(e, _)| unavailable(e))?;
        Ok(Published {
            partition: u32::try_from(delivered.partition).unwrap_or_default(),
            offset: u64::try_from(delivered.offset).unwrap_or_default(),
        })
    }

    async fn subscribe(&self, group: &str, topics: &[&str]) -> Result<Box<dyn Subscription>> {
        self.subscribe_at(group, topics, "earliest").await
    }

    async fn subscribe_latest(
        &self,
        group: &str,
        topics: &[&str],
    ) -> Result<Box<dyn Subscription>> {
        self.subscribe_at(group, topics, "latest").await
    }
}

impl KafkaBus {
    /// Joins `group`; a partition without a committed offset starts at `reset`
    /// (`earliest` or `latest`).
    async fn subscribe_at(
        &self,
        group: &str,
        topics: &[&str],
        reset: &str,
    ) -> Result<Box<dyn Subscription>> {
        validate_group(group)?;
        if topics.is_empty() {
            return Err(Error::invalid("topics", "subscribe to at least one topic"));
        }
        let mut full = Vec::new();
        for t in topics {
            let f = self.full(t)?;
            self.create_full(&f, self.config.partitions).await?;
            full.push(f);
        }
        let tracker = Arc::new(Mutex::new(Tracker::default()));
        let context = GroupContext {
            tracker: tracker.clone(),
            quiet: self.quiet.clone(),
        };
        let consumer: StreamConsumer<GroupContext> = self
            .config
            // The group and the commit discipline are not the configuration's to change: the
            // at-least-once contract rests on them.
            .client(&[])
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", reset)
            .set("enable.partition.eof", "false")
            .create_with_context(context)
            .map_err(|e| Error::invalid("kafka config", e.to_string()))?;
        let refs: Vec<&str> = full.iter().map(String::as_str).collect();
        consumer.subscribe(&refs).map_err(unavailable)?;
        let consumer = Arc::new(consumer);
        Ok(Box::new(KafkaSubscription {
            handle: Arc::new(KafkaAck {
                tracker,
                consumer: Arc::downgrade(&consumer),
                prefix: self.config.topic_prefix.clone(),
            }),
            consumer,
        }))
    }
}

/// One partition's record of what was handed out and acked.
#[derive(Debug, Default)]
struct PartitionState {
    pending: BTreeSet<i64>,
    next: Option<i64>,
    committed: Option<i64>,
    // An asynchronous commit of this position is under way: not issued again until the
    // broker answers (then `committed`, or cleared on failure so it is retried).
    committing: Option<i64>,
}

impl PartitionState {
    /// The offset to commit: the first unacked record, or one past the last record handed out.
    fn position(&self) -> Option<i64> {
        self.pending.first().copied().or(self.next)
    }
}

#[derive(Debug, Default)]
struct Tracker {
    parts: HashMap<(String, i32), PartitionState>,
}

impl Tracker {
    /// Positions that moved since their last commit, for the given partitions (all when `None`).
    fn to_commit(&self, only: Option<&TopicPartitionList>) -> TopicPartitionList {
        let mut tpl = TopicPartitionList::new();
        for ((topic, partition), st) in &self.parts {
            if let Some(only) = only {
                if only.find_partition(topic, *partition).is_none() {
                    continue;
                }
            }
            if let Some(pos) = st.position() {
                if st.committed != Some(pos) && st.committing != Some(pos) {
                    let _ = tpl.add_partition_offset(topic, *partition, Offset::Offset(pos));
                }
            }
        }
        tpl
    }

    fn mark_committed(&mut self, tpl: &TopicPartitionList) {
        for e in tpl.elements() {
            if let (Some(st), Offset::Offset(o)) = (
                self.parts.get_mut(&(e.topic().to_owned(), e.partition())),
                e.offset(),
            ) {
                st.committed = Some(st.committed.map_or(o, |c| c.max(o)));
                if st.committing.is_some_and(|c| c <= o) {
                    st.committing = None;
                }
            }
        }
    }

    fn mark_committing(&mut self, tpl: &TopicPartitionList) {
        for e in tpl.elements() {
            if let (Some(st), Offset::Offset(o)) = (
                self.parts.get_mut(&(e.topic().to_owned(), e.partition())),
                e.offset(),
            ) {
                st.committing = Some(o);
            }
        }
    }

    /// An asynchronous commit failed: its positions are committed again at the next chance.
    fn commit_failed(&mut self, tpl: &TopicPartitionList) {
        for e in tpl.elements() {
            if let Some(st) = self.parts.get_mut(&(e.topic().to_owned(), e.partition())) {
                st.committing = None;
            }
        }
    }
}

fn lock(t: &Mutex<Tracker>) -> MutexGuard<'_, Tracker> {
    t.lock().unwrap_or_else(|p| p.into_inner())
}

/// librdkafka's own logs, thinned: while a broker is down it reports the same failure
/// several times a second for every client; one line per kind per minute says as much, with
/// how many were left out.
#[derive(Debug, Default)]
struct Quiet {
    seen: Mutex<HashMap<String, (std::time::Instant, u64)>>,
}

/// How often one kind of librdkafka message is logged.
const QUIET_PERIOD: Duration = Duration::from_secs(60);

impl Quiet {
    /// Whether to log a message of this kind now, and how many of its kind were held back
    /// since the last one logged.
    fn admit(&self, kind: &str) -> Option<u64> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let now = std::time::Instant::now();
        match seen.get_mut(kind) {
            Some((at, held)) if now.duration_since(*at) < QUIET_PERIOD => {
                *held += 1;
                None
            }
            Some((at, held)) => {
                let n = *held;
                *at = now;
                *held = 0;
                Some(n)
            }
            None => {
                seen.insert(kind.to_owned(), (now, 0));
                Some(0)
            }
        }
    }

    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        let Some(held) = self.admit(&format!("log:{fac}")) else {
            return;
        };
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error
            | RDKafkaLogLevel::Warning => {
                tracing::warn!(target: "librdkafka", facility = fac, held_back = held, "{message}")
            }
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(target: "librdkafka", facility = fac, held_back = held, "{message}")
            }
            RDKafkaLogLevel::Debug => {
                tracing::debug!(target: "librdkafka", facility = fac, held_back = held, "{message}")
            }
        }
    }

    fn error(&self, error: &KafkaError, reason: &str) {
        let kind = format!("error:{:?}", error.rdkafka_error_code());
        if let Some(held) = self.admit(&kind) {
            tracing::error!(
                target: "librdkafka",
                held_back = held,
                "Kafka: {error}: {reason} (librdkafka retries on its own; repeats are held back for a minute)"
            );
        }
    }
}

/// The producer's and admin client's context: thinned logs.
struct BusContext {
    quiet: Arc<Quiet>,
}

impl ClientContext for BusContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        self.quiet.log(level, fac, log_message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.quiet.error(&error, reason);
    }
}

/// Commits what each member acked before its partitions move, and starts fresh on assignment.
struct GroupContext {
    tracker: Arc<Mutex<Tracker>>,
    quiet: Arc<Quiet>,
}

impl ClientContext for GroupContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        self.quiet.log(level, fac, log_message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.quiet.error(&error, reason);
    }
}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(revoked) = rebalance {
            let mut t = lock(&self.tracker);
            let tpl = t.to_commit(Some(revoked));
            if tpl.count() > 0 {
                match consumer.commit(&tpl, CommitMode::Sync) {
                    Ok(()) => t.mark_committed(&tpl),
                    Err(e) => {
                        tracing::warn!(error = %e, "commit on revoke failed; those records will be redelivered")
                    }
                }
            }
            for e in revoked.elements() {
                t.parts.remove(&(e.topic().to_owned(), e.partition()));
            }
        }
    }

    fn commit_callback(
        &self,
        result: rdkafka::error::KafkaResult<()>,
        offsets: &TopicPartitionList,
    ) {
        let mut t = lock(&self.tracker);
        match result {
            Ok(()) => t.mark_committed(offsets),
            Err(e) => {
                tracing::warn!(error = %e, "offset commit failed; it is retried");
                t.commit_failed(offsets);
            }
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(assigned) = rebalance {
            let mut t = lock(&self.tracker);
            for e in assigned.elements() {
                t.parts.insert(
                    (e.topic().to_owned(), e.partition()),
                    PartitionState::default(),
                );
            }
        }
    }
}

struct KafkaAck {
    tracker: Arc<Mutex<Tracker>>,
    // Weak: outstanding deliveries must not keep a closed consumer alive.
    consumer: Weak<StreamConsumer<GroupContext>>,
    prefix: String,
}

impl fmt::Debug for KafkaAck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaAck")
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl AckHandle for KafkaAck {
    fn ack(&self, topic: &str, partition: u32, offset: u64) {
        let key = (format!("{}{topic}", self.prefix), partition as i32);
        if let Some(st) = lock(&self.tracker).parts.get_mut(&key) {
            st.pending.remove(&(offset as i64));
        }
    }

    fn nack(&self, topic: &str, partition: u32, offset: u64) {
        let full = format!("{}{topic}", self.prefix);
        let offset = offset as i64;
        {
            let mut t = lock(&self.tracker);
            let Some(st) = t.parts.get_mut(&(full.clone(), partition as i32)) else {
                return; // no longer ours: the new owner reads it from the committed position
            };
            st.pending.retain(|o| *o < offset);
            st.next = Some(offset);
        }
        if let Some(consumer) = self.consumer.upgrade() {
            // Asynchronous (a zero timeout): the caller's thread is a runtime's and must not
            // block. librdkafka drops the partition's messages fetched before the seek, so
            // nothing after `offset` is handed out before it comes again.
            if let Err(e) = consumer.seek(
                &full,
                partition as i32,
                Offset::Offset(offset),
                Duration::ZERO,
            ) {
                tracing::warn!(topic = %full, partition, offset, error = %e, "seek after nack failed");
            }
        }
    }
}

struct KafkaSubscription {
    handle: Arc<KafkaAck>,
    consumer: Arc<StreamConsumer<GroupContext>>,
}

impl fmt::Debug for KafkaSubscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaSubscription").finish_non_exhaustive()
    }
}

impl KafkaSubscription {
    fn commit(&self, mode: CommitMode) -> Result<()> {
        let mut t = lock(&self.handle.tracker);
        let tpl = t.to_commit(None);
        if tpl.count() == 0 {
            return Ok(());
        }
        match mode {
            // Done only when the broker says so (the context's commit callback); a failure
            // leaves the position to be committed again.
            CommitMode::Async => {
                self.consumer.commit(&tpl, mode).map_err(unavailable)?;
                t.mark_committing(&tpl);
            }
            CommitMode::Sync => {
                self.consumer.commit(&tpl, mode).map_err(unavailable)?;
                t.mark_committed(&tpl);
            }
        }
        Ok(())
    }

    fn logical(&self, full: &str) -> String {
        full.strip_prefix(&self.handle.prefix)
            .unwrap_or(full)
            .to_owned()
    }
}

#[async_trait]
impl Subscription for KafkaSubscription {
    async fn next(&mut self) -> Result<Delivery> {
        loop {
            if let Err(e) = self.commit(CommitMode::Async) {
                tracing::warn!(error = %e, "offset commit failed; will retry");
            }
            // `recv` is cancel safe, and nothing below awaits: so is this method.
            let msg = match self.consumer.recv().await {
                Ok(m) => m,
                Err(e) => {
                    // librdkafka recovers from broker hiccups by itself; report and go on.
                    tracing::warn!(error = %e, "kafka consumer error");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let headers = msg
                .headers()
                .map(|hs| {
                    hs.iter()
                        .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
                        .collect()
                })
                .unwrap_or_default();
            let record = Record {
                key: msg.key().unwrap_or_default().to_vec(),
                payload: msg.payload().unwrap_or_default().to_vec(),
                headers,
            };
            let (topic, partition, offset) =
                (msg.topic().to_owned(), msg.partition(), msg.offset());
            {
                let mut t = lock(&self.handle.tracker);
                let st = t.parts.entry((topic.clone(), partition)).or_default();
                st.pending.insert(offset);
                st.next = Some(st.next.map_or(offset + 1, |n| n.max(offset + 1)));
            }
            return Ok(Delivery::new(
                self.logical(&topic),
                u32::try_from(partition).unwrap_or_default(),
                u64::try_from(offset).unwrap_or_default(),
                record,
                self.handle.clone(),
            ));
        }
    }

    fn assignment(&self) -> Result<Vec<(String, u32)>> {
        let tpl = self.consumer.assignment().map_err(unavailable)?;
        Ok(tpl
            .elements()
            .iter()
            .map(|e| {
                (
                    self.logical(e.topic()),
                    u32::try_from(e.partition()).unwrap_or_default(),
                )
            })
            .collect())
    }

    async fn close(self: Box<Self>) -> Result<()> {
        self.commit(CommitMode::Sync)?;
        self.consumer.unsubscribe();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Quiet;

    #[test]
    fn one_message_per_kind_per_period_with_a_count_of_the_rest() {
        let q = Quiet::default();
        assert_eq!(q.admit("log:FAIL"), Some(0));
        for _ in 0..50 {
            assert_eq!(q.admit("log:FAIL"), None, "held back within the period");
        }
        // another kind is not held back by the first
        assert_eq!(q.admit("error:AllBrokersDown"), Some(0));
        // once the period is over, the next one is logged with the count held back
        let mut seen = q.seen.lock().unwrap();
        let at = &mut seen.get_mut("log:FAIL").unwrap().0;
        let Some(earlier) = at.checked_sub(super::QUIET_PERIOD) else {
            return; // a clock this close to its origin cannot be wound back
        };
        *at = earlier;
        drop(seen);
        assert_eq!(q.admit("log:FAIL"), Some(50));
        assert_eq!(q.admit("log:FAIL"), None);
    }
}
