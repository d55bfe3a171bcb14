#![doc = include_str!("../README.md")]

pub mod bus;
pub mod cache;
mod error;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod limit;
pub mod memory;
pub mod model;
#[cfg(feature = "mongodb")]
pub mod mongodb;
pub mod notify;
#[cfg(feature = "redis")]
pub mod redis;
pub mod retry;
pub mod seed;
pub mod source;
pub mod store;
pub mod template;
#[cfg(feature = "testing")]
pub mod testing;

pub use bus::{Delivery, EventBus, EventBusExt, Record, Subscription};
pub use cache::{Cache, CacheExt};
pub use error::{BoxError, Error, Result};
pub use notify::{Notifier, Receipt};
pub use source::{Batch, Skipped, Source};
pub use store::Store;
