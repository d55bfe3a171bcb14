#![doc = include_str!("../README.md")]

mod outbox;

pub use outbox::{OutboxSender, RetryPolicy, SendReport};
