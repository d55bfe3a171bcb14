//! Adapters that need no server, always compiled: an in-memory event bus, cache and store, an
//! embedded persistent store (redb), a recording and a console notifier, a replay source.

mod bus;
mod cache;
mod embedded;
mod kv;
mod notify;

pub use bus::MemoryBus;
pub use cache::MemoryCache;
pub use embedded::{EmbeddedStore, RedbKv};
pub use kv::{KvBackend, KvStore, MemoryKv, MemoryStore, Table, Txn};
pub use notify::{ConsoleNotifier, RecordingNotifier, ReplaySource};
