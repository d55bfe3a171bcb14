#![doc = include_str!("../README.md")]

mod config;
pub mod discord;
mod http;
mod layers;
pub mod limit;
mod message;
mod outbox;
mod secret;
pub mod slack;
pub mod telegram;
pub mod webhook;

pub use config::{check_url, DestinationConfig, Kind};
pub use experiment_core::memory::ConsoleNotifier;
pub use http::{truncate, DEFAULT_TIMEOUT};
pub use layers::{Backoff, Retrying, Throttled};
pub use limit::{Rate, RateLimiter};
pub use outbox::{OutboxSender, RetryPolicy, SendReport};
pub use secret::Secret;
