//! The `EventBus` port: a partitioned, replayable log with consumer groups.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::model::Event;
use crate::{Error, Result};

/// One message on the log: key, payload and headers, all opaque bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    /// Partition key. Records with equal keys stay in publish order.
    pub key: Vec<u8>,
    /// Payload.
    pub payload: Vec<u8>,
    /// Headers (e.g. a dead letter's reason).
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Record {
    /// A record with a key and a payload and no headers.
    pub fn new(key: impl Into<Vec<u8>>, payload: impl Into<Vec<u8>>) -> Self {
        Record {
            key: key.into(),
            payload: payload.into(),
            headers: Vec::new(),
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The first header called `name`.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }
}

/// Where a published record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    /// Partition.
    pub partition: u32,
    /// Offset within the partition.
    pub offset: u64,
}

/// Adapters implement this to receive acknowledgements from [`Delivery`].
pub trait AckHandle: Send + Sync + fmt::Debug {
    /// The delivery at `topic/partition@offset` was processed.
    fn ack(&self, topic: &str, partition: u32, offset: u64);
    /// The delivery was not processed and should come back.
    fn nack(&self, topic: &str, partition: u32, offset: u64);
}

/// A record handed to a subscriber, with the handle to acknowledge it.
///
/// Dropping a delivery without [`ack`](Delivery::ack) or [`nack`](Delivery::nack) leaves it
/// unacknowledged: it is not redelivered to this subscriber, but it (and everything after it in
/// its partition) comes back to the group when the subscription closes or the partition moves.
#[derive(Debug)]
pub struct Delivery {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: u32,
    /// Offset within the partition.
    pub offset: u64,
    /// The record.
    pub record: Record,
    handle: Arc<dyn AckHandle>,
}

impl Delivery {
    /// For adapters: wraps a record with its position and ack handle.
    pub fn new(
        topic: impl Into<String>,
        partition: u32,
        offset: u64,
        record: Record,
        handle: Arc<dyn AckHandle>,
    ) -> Self {
        Delivery {
            topic: topic.into(),
            partition,
            offset,
            record,
            handle,
        }
    }

    /// `topic/partition@offset`, for logs and errors.
    pub fn position(&self) -> String {
        format!("{}/{}@{}", self.topic, self.partition, self.offset)
    }

    /// Marks the delivery processed. The group's committed position for the partition moves
    /// past it once every earlier offset is acked too.
    pub fn ack(self) {
        self.handle.ack(&self.topic, self.partition, self.offset);
    }

    /// Gives the delivery back: it and every later record of its partition are delivered again
    /// (to this subscriber while it owns the partition), so per-key order is kept.
    pub fn nack(self) {
        self.handle.nack(&self.topic, self.partition, self.offset);
    }

    /// Decodes the payload as an [`Event`] envelope.
    ///
    /// # Errors
    /// [`Error::Decode`] naming this delivery's position and the problem.
    pub fn decode_event(&self) -> Result<Event> {
        Event::decode(&self.record.payload, &self.position())
    }
}

/// A partitioned, durable log with consumer groups (Kafka's model).
///
/// # Contract
/// - **Topics.** `create_topic` is idempotent: creating an existing topic succeeds and leaves
///   it as it is. Publishing to or subscribing to a topic that does not exist creates it with
///   the adapter's default partition count. Topic names are 1–249 characters from
///   `A-Z a-z 0-9 . _ -`; others are `InvalidInput`.
/// - **Durability.** `publish` returns once the record is accepted; it is then delivered to
///   every consumer group that subscribes to the topic, including groups that subscribe later
///   (a new group starts at the earliest record).
/// - **Per-key order.** Records with the same key go to the same partition and are delivered
///   in publish order.
/// - **At-least-once.** A group's position in a partition only moves past records that were
///   acked, and only contiguously: an ack for offset 7 while 5 is unacked commits nothing past
///   4. When a subscription closes, is dropped, or loses a partition, the group resumes from
///   that committed position, so an unacked record is delivered again (possibly with acked
///   records after it: duplicates, never gaps).
/// - **Groups.** Members of one group split the topic's partitions; every record goes to one
///   member. Different groups each receive every record.
///
/// # Errors
/// `InvalidInput` for bad topic or group names, `Unavailable` when the backend cannot be
/// reached (transient).
#[async_trait]
pub trait EventBus: Send + Sync + fmt::Debug + 'static {
    /// Creates `topic` with `partitions` partitions if it does not exist.
    async fn create_topic(&self, topic: &str, partitions: u32) -> Result<()>;

    /// Appends a record to `topic`.
    async fn publish(&self, topic: &str, record: Record) -> Result<Published>;

    /// Joins consumer group `group` reading `topics`.
    async fn subscribe(&self, group: &str, topics: &[&str]) -> Result<Box<dyn Subscription>>;

    /// Joins `group` like [`EventBus::subscribe`], except that a group with no committed
    /// position starts at the end of the log instead of its beginning, where the adapter can
    /// (a live view that has no use for history, such as a stream to browsers). The default
    /// is [`EventBus::subscribe`]: callers must still expect old records.
    async fn subscribe_latest(
        &self,
        group: &str,
        topics: &[&str],
    ) -> Result<Box<dyn Subscription>> {
        self.subscribe(group, topics).await
    }

    /// Checks that the backend answers now (for readiness probes). The default, for
    /// in-process buses, always succeeds.
    ///
    /// # Errors
    /// `Unavailable` when the backend does not answer.
    async fn check(&self) -> Result<()> {
        Ok(())
    }
}

/// A member of a consumer group.
#[async_trait]
pub trait Subscription: Send + fmt::Debug {
    /// Waits for the next delivery.
    ///
    /// # Cancel safety
    /// Cancel safe: if the future is dropped before it completes, no record is lost; the record
    /// it would have returned is returned by the next call.
    async fn next(&mut self) -> Result<Delivery>;

    /// The partitions this member owns now, as `(topic, partition)`. With Kafka the group
    /// assignment completes while [`Subscription::next`] is being polled, so a fresh member
    /// may own nothing yet.
    fn assignment(&self) -> Result<Vec<(String, u32)>>;

    /// Commits what was contiguously acked and leaves the group. Dropping the subscription
    /// does the same on a best-effort basis; `close` reports errors.
    async fn close(self: Box<Self>) -> Result<()>;
}

/// Conveniences over any [`EventBus`].
#[async_trait]
pub trait EventBusExt: EventBus {
    /// Publishes an [`Event`] to its kind's topic (with `prefix` prepended), keyed by its key.
    async fn publish_event(&self, prefix: &str, event: &Event) -> Result<Published> {
        let topic = format!("{prefix}{}", event.kind().topic());
        self.publish(&topic, Record::new(event.key.as_bytes(), event.encode()))
            .await
    }
}

impl<T: EventBus + ?Sized> EventBusExt for T {}

/// Checks a topic name against Kafka's rules, which every adapter enforces.
///
/// # Errors
/// [`Error::InvalidInput`] naming the field `topic`.
pub fn validate_topic(topic: &str) -> Result<()> {
    if topic.is_empty() || topic.len() > 249 {
        return Err(Error::invalid(
            "topic",
            format!("'{topic}' must be 1 to 249 characters long"),
        ));
    }
    if topic == "." || topic == ".." {
        return Err(Error::invalid("topic", format!("'{topic}' is reserved")));
    }
    if let Some(c) = topic
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(Error::invalid(
            "topic",
            format!("'{topic}' contains {c:?}; expected A-Z a-z 0-9 . _ -"),
        ));
    }
    Ok(())
}

/// Checks a consumer group name.
///
/// # Errors
/// [`Error::InvalidInput`] naming the field `group`.
pub fn validate_group(group: &str) -> Result<()> {
    if group.trim().is_empty() || group.len() > 255 {
        return Err(Error::invalid(
            "group",
            format!("'{group}' must be 1 to 255 characters and not blank"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_kafka_rules() {
        assert!(validate_topic("asset.info.view.v1").is_ok());
        assert!(validate_topic("a-b_c").is_ok());
        assert!(validate_topic("").is_err());
        assert!(validate_topic("..").is_err());
        assert!(validate_topic("has space").is_err());
        assert!(validate_topic(&"x".repeat(250)).is_err());
        assert!(validate_group(" ").is_err());
        assert!(validate_group("workers").is_ok());
    }
}
