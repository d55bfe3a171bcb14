#![doc = include_str!("../README.md")]

mod config;
pub mod discord;
mod http;
mod layers;
mod message;
mod outbox;
mod secret;
pub mod slack;
pub mod telegram;
pub mod webhook;

pub use config::{check_url, DestinationConfig, Kind};
pub use experiment_core::limit::{Rate, RateLimiter};
pub use experiment_core::memory::ConsoleNotifier;
pub use http::{truncate, DEFAULT_TIMEOUT};
pub use layers::{Backoff, ClusterSpaced, Retrying, Throttled, CLUSTER_SPACING_MAX_RATE};

/// Slack's guidance: about one message per second per channel.
pub const SLACK_RATE: Rate = Rate {
    per_second: 1.0,
    burst: 3,
};
/// Discord webhooks: about 5 requests per 2 seconds.
pub const DISCORD_RATE: Rate = Rate {
    per_second: 2.5,
    burst: 5,
};
/// Telegram: about one message per second per chat.
pub const TELEGRAM_RATE: Rate = Rate {
    per_second: 1.0,
    burst: 3,
};
/// Generic webhooks.
pub const WEBHOOK_RATE: Rate = Rate {
    per_second: 10.0,
    burst: 10,
};
pub use outbox::{OutboxSender, RetryPolicy, SendReport};
pub use secret::Secret;
