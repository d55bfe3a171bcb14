//! An in-memory [`EventBus`] with Kafka's semantics: partitions, consumer groups, contiguous
//! commits and redelivery of what was not acked.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use tokio::sync::Notify;

use crate::bus::{
    validate_group, validate_topic, AckHandle, Delivery, EventBus, Published, Record, Subscription,
};
use crate::{Error, Result};

type TopicPartition = (String, u32);

/// An in-memory event bus. Cloning it shares the same log.
///
/// ```
/// # tokio_test_block_on(async {
/// use experiment_core::bus::{EventBus, Record};
/// use experiment_core::memory::MemoryBus;
///
/// let bus = MemoryBus::new();
/// bus.publish("quotes", Record::new("2330", "hello")).await.unwrap();
/// let mut sub = bus.subscribe("workers", &["quotes"]).await.unwrap();
/// let d = sub.next().await.unwrap();
/// assert_eq!(d.record.payload, b"hello");
/// d.ack();
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct MemoryBus {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    // Woken on every publish, rebalance and nack; waiters re-check their partitions.
    changed: Notify,
    default_partitions: u32,
}

#[derive(Debug, Default)]
struct State {
    topics: HashMap<String, Vec<Vec<Record>>>,
    groups: HashMap<String, Group>,
    next_member: u64,
}

#[derive(Debug, Default)]
struct Group {
    members: BTreeMap<u64, Member>,
    committed: HashMap<TopicPartition, u64>,
    acked: HashMap<TopicPartition, BTreeSet<u64>>,
}

#[derive(Debug, Default)]
struct Member {
    topics: Vec<String>,
    /// Assigned partitions and the next offset to hand out in each.
    positions: BTreeMap<TopicPartition, u64>,
    cursor: usize,
}

impl Default for MemoryBus {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryBus {
    /// Partitions of auto-created topics unless [`MemoryBus::with_default_partitions`] says otherwise.
    pub const DEFAULT_PARTITIONS: u32 = 4;

    /// An empty bus whose auto-created topics have [`Self::DEFAULT_PARTITIONS`] partitions.
    pub fn new() -> Self {
        Self::with_default_partitions(Self::DEFAULT_PARTITIONS)
    }

    /// An empty bus whose auto-created topics have `partitions` partitions (at least 1).
    pub fn with_default_partitions(partitions: u32) -> Self {
        MemoryBus {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                changed: Notify::new(),
                default_partitions: partitions.max(1),
            }),
        }
    }

    /// Number of records in `topic` across all partitions (0 for an unknown topic).
    pub fn len(&self, topic: &str) -> usize {
        self.shared
            .lock()
            .topics
            .get(topic)
            .map_or(0, |ps| ps.iter().map(Vec::len).sum())
    }

    /// The committed offset (next to read) of `group` in `topic/partition`.
    pub fn committed(&self, group: &str, topic: &str, partition: u32) -> u64 {
        self.shared
            .lock()
            .groups
            .get(group)
            .and_then(|g| g.committed.get(&(topic.to_owned(), partition)).copied())
            .unwrap_or(0)
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that
        // breaks the contract (each update is a single insert/remove), so keep going.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl State {
    fn ensure_topic(&mut self, topic: &str, partitions: u32) -> bool {
        if self.topics.contains_key(topic) {
            return false;
        }
        self.topics.insert(
            topic.to_owned(),
            vec![Vec::new(); partitions.max(1) as usize],
        );
        true
    }

    /// Reassigns the partitions of every topic `group` reads, round robin over the members in id
    /// order. A partition that stays with its member keeps its position; a moved one restarts at
    /// the group's committed offset.
    fn rebalance(&mut self, group: &str) {
        let Some(g) = self.groups.get_mut(group) else {
            return;
        };
        let mut wanted: BTreeMap<u64, BTreeSet<TopicPartition>> = BTreeMap::new();
        let mut topics: BTreeSet<&String> = BTreeSet::new();
        for m in g.members.values() {
            topics.extend(m.topics.iter());
        }
        for topic in topics {
            let readers: Vec<u64> = g
                .members
                .iter()
                .filter(|(_, m)| m.topics.contains(topic))
                .map(|(id, _)| *id)
                .collect();
            let partitions = self.topics.get(topic).map_or(0, Vec::len) as u32;
            for p in 0..partitions {
                let owner = readers[p as usize % readers.len()];
                wanted.entry(owner).or_default().insert((topic.clone(), p));
            }
        }
        for (id, m) in g.members.iter_mut() {
            let assigned = wanted.remove(id).unwrap_or_default();
            m.positions.retain(|tp, _| assigned.contains(tp));
            for tp in assigned {
                let start = g.committed.get(&tp).copied().unwrap_or(0);
                m.positions.entry(tp).or_insert(start);
            }
        }
    }
}

fn partition_for(key: &[u8], partitions: usize) -> u32 {
    // FNV-1a: stable across processes and Rust versions, unlike the std hasher.
    let hash = key.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    });
    (hash % partitions as u64) as u32
}

#[async_trait]
impl EventBus for MemoryBus {
    async fn create_topic(&self, topic: &str, partitions: u32) -> Result<()> {
        validate_topic(topic)?;
        if partitions == 0 {
            return Err(Error::invalid("partitions", "must be at least 1"));
        }
        let mut st = self.shared.lock();
        if st.ensure_topic(topic, partitions) {
            let groups: Vec<String> = st.groups.keys().cloned().collect();
            for g in groups {
                st.rebalance(&g);
            }
            drop(st);
            self.shared.changed.notify_waiters();
        }
        Ok(())
    }

    async fn publish(&self, topic: &str, record: Record) -> Result<Published> {
        validate_topic(topic)?;
        let mut st = self.shared.lock();
        if st.ensure_topic(topic, self.shared.default_partitions) {
            let groups: Vec<String> = st.groups.keys().cloned().collect();
            for g in groups {
                st.rebalance(&g);
            }
        }
        let partitions = st.topics.get_mut(topic).expect("topic ensured above");
        let partition = partition_for(&record.key, partitions.len());
        let log = &mut partitions[partition as usize];
        log.push(record);
        let offset = (log.len() - 1) as u64;
        drop(st);
        self.shared.changed.notify_waiters();
        Ok(Published { partition, offset })
    }

    async fn subscribe(&self, group: &str, topics: &[&str]) -> Result<Box<dyn Subscription>> {
        validate_group(group)?;
        if topics.is_empty() {
            return Err(Error::invalid("topics", "subscribe to at least one topic"));
        }
        for t in topics {
            validate_topic(t)?;
        }
        let mut st = self.shared.lock();
        for t in topics {
            st.ensure_topic(t, self.shared.default_partitions);
        }
        st.next_member += 1;
        let id = st.next_member;
        st.groups
            .entry(group.to_owned())
            .or_default()
            .members
            .insert(
                id,
                Member {
                    topics: topics.iter().map(|t| (*t).to_owned()).collect(),
                    ..Member::default()
                },
            );
        st.rebalance(group);
        drop(st);
        self.shared.changed.notify_waiters();
        let handle = Arc::new(MemoryAck {
            shared: self.shared.clone(),
            group: group.to_owned(),
            member: id,
        });
        Ok(Box::new(MemorySubscription {
            handle,
            closed: false,
        }))
    }
}

/// Acks go straight to the group's commit state; nacks rewind the member's position.
#[derive(Debug)]
struct MemoryAck {
    shared: Arc<Shared>,
    group: String,
    member: u64,
}

impl AckHandle for MemoryAck {
    fn ack(&self, topic: &str, partition: u32, offset: u64) {
        let mut st = self.shared.lock();
        let Some(g) = st.groups.get_mut(&self.group) else {
            return;
        };
        let tp = (topic.to_owned(), partition);
        let committed = g.committed.entry(tp.clone()).or_insert(0);
        if offset < *committed {
            return; // a duplicate delivery acked again
        }
        let acked = g.acked.entry(tp).or_default();
        acked.insert(offset);
        // Commit only the contiguous prefix: an ack past a gap waits for the gap.
        while acked.remove(committed) {
            *committed += 1;
        }
    }

    fn nack(&self, topic: &str, partition: u32, offset: u64) {
        let mut st = self.shared.lock();
        if let Some(m) = st
            .groups
            .get_mut(&self.group)
            .and_then(|g| g.members.get_mut(&self.member))
        {
            if let Some(pos) = m.positions.get_mut(&(topic.to_owned(), partition)) {
                *pos = (*pos).min(offset);
            }
        }
        drop(st);
        self.shared.changed.notify_waiters();
    }
}

#[derive(Debug)]
struct MemorySubscription {
    handle: Arc<MemoryAck>,
    closed: bool,
}

impl MemorySubscription {
    fn try_next(&self) -> Result<Option<Delivery>> {
        let shared = &self.handle.shared;
        let mut st = shared.lock();
        let State { topics, groups, .. } = &mut *st;
        let member = groups
            .get_mut(&self.handle.group)
            .and_then(|g| g.members.get_mut(&self.handle.member))
            .ok_or_else(|| Error::Closed {
                what: "subscription".into(),
            })?;
        let n = member.positions.len();
        // Round robin over assigned partitions so one busy partition cannot starve the others.
        for i in 0..n {
            let idx = (member.cursor + i) % n;
            let Some((tp, pos)) = member.positions.iter_mut().nth(idx) else {
                continue;
            };
            let log = &topics[&tp.0][tp.1 as usize];
            if let Some(record) = log.get(*pos as usize) {
                let delivery = Delivery::new(
                    tp.0.clone(),
                    tp.1,
                    *pos,
                    record.clone(),
                    self.handle.clone(),
                );
                *pos += 1;
                member.cursor = idx + 1;
                return Ok(Some(delivery));
            }
        }
        Ok(None)
    }

    fn leave(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        let shared = &self.handle.shared;
        let mut st = shared.lock();
        if let Some(g) = st.groups.get_mut(&self.handle.group) {
            g.members.remove(&self.handle.member);
        }
        st.rebalance(&self.handle.group);
        drop(st);
        shared.changed.notify_waiters();
    }
}

#[async_trait]
impl Subscription for MemorySubscription {
    async fn next(&mut self) -> Result<Delivery> {
        loop {
            // Register for wake-ups before looking, so a publish between the look and the
            // wait is not missed. Taking a record happens under the lock with no await, which
            // is what makes this cancel safe.
            let changed = self.handle.shared.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if let Some(d) = self.try_next()? {
                return Ok(d);
            }
            changed.await;
        }
    }

    fn assignment(&self) -> Result<Vec<(String, u32)>> {
        let st = self.handle.shared.lock();
        let member = st
            .groups
            .get(&self.handle.group)
            .and_then(|g| g.members.get(&self.handle.member))
            .ok_or_else(|| Error::Closed {
                what: "subscription".into(),
            })?;
        Ok(member.positions.keys().cloned().collect())
    }

    async fn close(mut self: Box<Self>) -> Result<()> {
        self.leave();
        Ok(())
    }
}

impl Drop for MemorySubscription {
    fn drop(&mut self) {
        self.leave();
    }
}
