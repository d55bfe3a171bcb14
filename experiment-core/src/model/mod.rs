//! The domain model: securities, quotes, bars, events, alert rules, alerts, notifications.
//!
//! Prices and values are exact [`Decimal`](rust_decimal::Decimal)s end to end. Instants are
//! UTC; market dates are calendar dates in [`MARKET_TZ`] (Asia/Taipei).

mod alert;
mod bar;
mod event;
mod market;
mod quote;
mod security;

pub use alert::{
    Alert, AlertId, AlertRule, DeliveryOutcome, Notification, NotificationKey, NotificationStatus,
    QuietHours, RuleId, TriggerFrequency,
};
pub use bar::{DailyBar, IntradayBar, MAX_PRICE};
pub use event::{Event, EventId, EventKind, Payload};
pub use market::{market_date, Exchange, SecurityCode, MARKET_TZ};
pub use quote::{BookLevel, Quote};
pub use security::{Security, SecurityKind};
