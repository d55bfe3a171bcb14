//! Every embedded adapter against the conformance suites, and deliberately broken adapters
//! that the suites must reject (proof that the suites can fail).

use experiment_core::memory::{EmbeddedStore, MemoryBus, MemoryCache, MemoryStore};

mod memory_bus {
    use super::*;
    async fn make() -> Option<MemoryBus> {
        Some(MemoryBus::new())
    }
    experiment_core::bus_conformance!(make);
}

mod memory_bus_one_partition {
    use super::*;
    async fn make() -> Option<MemoryBus> {
        Some(MemoryBus::with_default_partitions(1))
    }
    experiment_core::bus_conformance!(make);
}

mod memory_store {
    use super::*;
    async fn make() -> Option<MemoryStore> {
        Some(MemoryStore::new())
    }
    experiment_core::store_conformance!(make);
}

mod embedded_store {
    use super::*;
    async fn make() -> Option<EmbeddedStore> {
        Some(EmbeddedStore::temporary().expect("temporary store"))
    }
    experiment_core::store_conformance!(make);
}

mod retrying_store {
    use super::*;
    use experiment_core::retry::{Retry, RetryConfig};
    async fn make() -> Option<Retry<MemoryStore>> {
        Some(Retry::new(MemoryStore::new(), RetryConfig::default()))
    }
    experiment_core::store_conformance!(make);
}

mod memory_cache {
    use super::*;
    async fn make() -> Option<MemoryCache> {
        Some(MemoryCache::new())
    }
    experiment_core::cache_conformance!(make);
}

/// Broken adapters. Each test runs one suite clause and must panic with that clause's message.
mod broken {
    use std::sync::Arc;

    use async_trait::async_trait;
    use experiment_core::bus::{Delivery, EventBus, Published, Record, Subscription};
    use experiment_core::memory::{KvBackend, KvStore, MemoryBus, MemoryKv, Table, Txn};
    use experiment_core::testing;
    use experiment_core::Result;

    /// Acks every record as it hands it out: records a subscriber never acked are lost when
    /// it goes away (auto-commit).
    #[derive(Debug, Default)]
    struct AutoAckBus(MemoryBus);

    #[derive(Debug)]
    struct AutoAckSub(Box<dyn Subscription>);

    #[async_trait]
    impl EventBus for AutoAckBus {
        async fn create_topic(&self, t: &str, p: u32) -> Result<()> {
            self.0.create_topic(t, p).await
        }
        async fn publish(&self, t: &str, r: Record) -> Result<Published> {
            self.0.publish(t, r).await
        }
        async fn subscribe(&self, g: &str, t: &[&str]) -> Result<Box<dyn Subscription>> {
            Ok(Box::new(AutoAckSub(self.0.subscribe(g, t).await?)))
        }
    }

    #[async_trait]
    impl Subscription for AutoAckSub {
        async fn next(&mut self) -> Result<Delivery> {
            let d = self.0.next().await?;
            let copy = Delivery::new(
                d.topic.clone(),
                d.partition,
                d.offset,
                d.record.clone(),
                Arc::new(NoAck),
            );
            d.ack();
            Ok(copy)
        }
        fn assignment(&self) -> Result<Vec<(String, u32)>> {
            self.0.assignment()
        }
        async fn close(self: Box<Self>) -> Result<()> {
            self.0.close().await
        }
    }

    #[derive(Debug)]
    struct NoAck;
    impl experiment_core::bus::AckHandle for NoAck {
        fn ack(&self, _: &str, _: u32, _: u64) {}
        fn nack(&self, _: &str, _: u32, _: u64) {}
    }

    /// Hands out records in reversed batches of five: breaks per-key order.
    #[derive(Debug, Default)]
    struct ReorderingBus(MemoryBus);

    #[derive(Debug)]
    struct ReorderingSub {
        inner: Box<dyn Subscription>,
        held: Vec<Delivery>,
    }

    #[async_trait]
    impl EventBus for ReorderingBus {
        async fn create_topic(&self, t: &str, p: u32) -> Result<()> {
            self.0.create_topic(t, p).await
        }
        async fn publish(&self, t: &str, r: Record) -> Result<Published> {
            self.0.publish(t, r).await
        }
        async fn subscribe(&self, g: &str, t: &[&str]) -> Result<Box<dyn Subscription>> {
            Ok(Box::new(ReorderingSub {
                inner: self.0.subscribe(g, t).await?,
                held: Vec::new(),
            }))
        }
    }

    #[async_trait]
    impl Subscription for ReorderingSub {
        async fn next(&mut self) -> Result<Delivery> {
            if self.held.is_empty() {
                for _ in 0..5 {
                    self.held.push(self.inner.next().await?);
                }
            }
            Ok(self.held.pop().expect("filled above"))
        }
        fn assignment(&self) -> Result<Vec<(String, u32)>> {
            self.inner.assignment()
        }
        async fn close(self: Box<Self>) -> Result<()> {
            self.inner.close().await
        }
    }

    /// A key-value backend that writes every daily bar under a new key: upserts duplicate.
    #[derive(Debug, Default)]
    struct DuplicatingKv {
        inner: MemoryKv,
        counter: std::sync::atomic::AtomicU64,
    }

    struct DupTxn<'a> {
        inner: &'a mut dyn Txn,
        counter: &'a std::sync::atomic::AtomicU64,
    }

    impl Txn for DupTxn<'_> {
        fn get(&mut self, t: Table, k: &str) -> Result<Option<Vec<u8>>> {
            self.inner.get(t, k)
        }
        fn put(&mut self, t: Table, k: &str, v: &[u8]) -> Result<()> {
            if t == Table::DailyBars {
                let n = self
                    .counter
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return self.inner.put(t, &format!("{k}#{n}"), v);
            }
            self.inner.put(t, k, v)
        }
        fn delete(&mut self, t: Table, k: &str) -> Result<bool> {
            self.inner.delete(t, k)
        }
        fn scan(
            &mut self,
            t: Table,
            f: &str,
            to: &str,
            r: bool,
            l: usize,
        ) -> Result<Vec<(String, Vec<u8>)>> {
            self.inner.scan(t, f, to, r, l)
        }
    }

    impl KvBackend for DuplicatingKv {
        const NAME: &'static str = "duplicating";
        const BLOCKING: bool = false;
        fn read<R>(&self, f: impl FnOnce(&mut dyn Txn) -> Result<R>) -> Result<R> {
            self.inner.read(|tx| {
                f(&mut DupTxn {
                    inner: tx,
                    counter: &self.counter,
                })
            })
        }
        fn write<R>(&self, f: impl FnOnce(&mut dyn Txn) -> Result<R>) -> Result<R> {
            self.inner.write(|tx| {
                f(&mut DupTxn {
                    inner: tx,
                    counter: &self.counter,
                })
            })
        }
    }

    #[tokio::test]
    #[should_panic(expected = "unacked records must be redelivered")]
    async fn suite_rejects_a_bus_that_loses_unacked_records() {
        testing::bus::unacked_records_are_redelivered_after_close(&AutoAckBus::default()).await;
    }

    #[tokio::test]
    #[should_panic(expected = "commits must stop at the first gap")]
    async fn suite_rejects_a_bus_that_commits_past_a_gap() {
        testing::bus::commits_only_the_contiguous_acked_prefix(&AutoAckBus::default()).await;
    }

    #[tokio::test]
    #[should_panic(expected = "must arrive in publish order")]
    async fn suite_rejects_a_bus_that_reorders_a_key() {
        testing::bus::records_of_one_key_arrive_in_publish_order(&ReorderingBus::default()).await;
    }

    #[tokio::test]
    #[should_panic(expected = "must not insert again")]
    async fn suite_rejects_a_store_whose_upsert_duplicates() {
        let store = KvStore::from_backend(DuplicatingKv::default());
        testing::store::daily_bar_upserts_are_idempotent_on_code_and_date(&store).await;
    }
}
