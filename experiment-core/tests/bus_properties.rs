//! Properties of the in-memory bus under random interleavings of publishes, acks, nacks,
//! dropped deliveries and consumer restarts.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use experiment_core::bus::{Delivery, EventBus, Record, Subscription};
use experiment_core::memory::MemoryBus;
use futures::FutureExt;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Publish(u8),
    Receive,
    AckOldest,
    NackOldest,
    DropOldest,
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..4).prop_map(Op::Publish),
        4 => Just(Op::Receive),
        3 => Just(Op::AckOldest),
        1 => Just(Op::NackOldest),
        1 => Just(Op::DropOldest),
        1 => Just(Op::Restart),
    ]
}

fn parse(d: &Delivery) -> (u8, usize) {
    let text = String::from_utf8(d.record.payload.clone()).unwrap();
    let (k, s) = text.split_once(':').unwrap();
    (k.parse().unwrap(), s.parse().unwrap())
}

struct Model {
    published: BTreeMap<u8, usize>,
    /// Highest sequence ever delivered per key (never reset).
    max_seen: BTreeMap<u8, usize>,
    /// Last sequence delivered per key since the last restart or nack.
    session: BTreeMap<u8, usize>,
    acked: BTreeSet<(u8, usize)>,
}

impl Model {
    fn observe(&mut self, key: u8, seq: usize) {
        // Redelivery may repeat records, but a key's records are never skipped...
        let limit = self.max_seen.get(&key).map_or(0, |m| m + 1);
        assert!(
            seq <= limit,
            "key {key}: got #{seq} before #{limit} was ever delivered"
        );
        self.max_seen.insert(key, seq.max(limit.saturating_sub(1)));
        // ...and between rewinds they arrive strictly in publish order.
        if let Some(last) = self.session.insert(key, seq) {
            assert!(
                seq > last,
                "key {key}: got #{seq} after #{last} without a rewind"
            );
        }
    }
}

async fn run(ops: Vec<Op>, partitions: u32) {
    let bus = MemoryBus::with_default_partitions(partitions);
    let topic = "props";
    let mut sub: Box<dyn Subscription> = bus.subscribe("g", &[topic]).await.unwrap();
    let mut held: VecDeque<Delivery> = VecDeque::new();
    let mut m = Model {
        published: BTreeMap::new(),
        max_seen: BTreeMap::new(),
        session: BTreeMap::new(),
        acked: BTreeSet::new(),
    };
    for op in ops {
        match op {
            Op::Publish(k) => {
                let seq = m.published.entry(k).or_insert(0);
                bus.publish(topic, Record::new(vec![k], format!("{k}:{seq}")))
                    .await
                    .unwrap();
                *seq += 1;
            }
            Op::Receive => {
                // `next` takes a record on its first poll when one is ready.
                if let Some(d) = sub.next().now_or_never() {
                    let d = d.unwrap();
                    let (k, s) = parse(&d);
                    m.observe(k, s);
                    held.push_back(d);
                }
            }
            Op::AckOldest => {
                if let Some(d) = held.pop_front() {
                    m.acked.insert(parse(&d));
                    d.ack();
                }
            }
            Op::NackOldest => {
                if let Some(d) = held.pop_front() {
                    d.nack();
                    // a rewind: this subscriber may now see earlier records again
                    m.session.clear();
                    held.clear();
                }
            }
            Op::DropOldest => {
                held.pop_front();
            }
            Op::Restart => {
                held.clear();
                drop(sub);
                sub = bus.subscribe("g", &[topic]).await.unwrap();
                m.session.clear();
            }
        }
    }
    // Drain: everything published must eventually be acked (no loss), in per-key order.
    held.clear();
    drop(sub);
    let mut sub = bus.subscribe("g", &[topic]).await.unwrap();
    m.session.clear();
    while let Some(d) = sub.next().now_or_never() {
        let d = d.unwrap();
        let (k, s) = parse(&d);
        m.observe(k, s);
        m.acked.insert((k, s));
        d.ack();
    }
    for (k, n) in &m.published {
        for s in 0..*n {
            assert!(m.acked.contains(&(*k, s)), "record {k}:{s} was lost");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn per_key_order_and_no_loss_under_random_interleavings(
        ops in proptest::collection::vec(op(), 0..120),
        partitions in 1u32..5,
    ) {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(run(ops, partitions));
    }
}
