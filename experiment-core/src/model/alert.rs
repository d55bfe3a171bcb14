//! Alert rules, the alerts they raise, and the notifications that deliver them.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, NaiveTime, Timelike, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{SecurityCode, MARKET_TZ};
use crate::{Error, Result};

/// Namespace for ids derived from natural keys (UUID v5), so every process derives the same id.
const ID_NAMESPACE: Uuid = Uuid::from_u128(0x6a1f_3c52_9b0e_4d0c_8f5e_7a1b_2c3d_4e5f);

/// A rule's id: 1 to 64 characters from `A-Z a-z 0-9 _ . -`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleId(String);

impl RuleId {
    /// Validates and wraps a rule id.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the field `rule id`.
    pub fn new(id: impl Into<String>) -> Result<Self> {
        let id = id.into();
        let ok = !id.is_empty()
            && id.len() <= 64
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if ok {
            Ok(RuleId(id))
        } else {
            Err(Error::invalid(
                "rule id",
                format!("'{id}': expected 1 to 64 characters from A-Z a-z 0-9 _ . -"),
            ))
        }
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RuleId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        RuleId::new(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// How often a rule may fire (TradingView's trigger options).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TriggerFrequency {
    /// Fire once, then disable the rule.
    Once,
    /// At most once per bar, as soon as the condition holds on the forming bar.
    OncePerBar,
    /// At most once per bar, evaluated only when the bar closes.
    #[default]
    OncePerBarClose,
    /// Every time the condition holds on an update.
    EveryTime,
}

/// A daily window (Asia/Taipei wall clock) in which alerts are recorded but not delivered.
/// `start > end` wraps past midnight (22:00–07:00).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QuietHours {
    /// Start of the quiet window, inclusive.
    pub start: NaiveTime,
    /// End of the quiet window, exclusive.
    pub end: NaiveTime,
}

impl QuietHours {
    /// Whether `at` falls in the window, on Taipei's wall clock.
    ///
    /// ```
    /// use chrono::{NaiveTime, TimeZone, Utc};
    /// use experiment_core::model::QuietHours;
    /// let q = QuietHours {
    ///     start: NaiveTime::from_hms_opt(22, 0, 0).unwrap(),
    ///     end: NaiveTime::from_hms_opt(7, 0, 0).unwrap(),
    /// };
    /// // 15:00 UTC is 23:00 in Taipei.
    /// assert!(q.contains(Utc.with_ymd_and_hms(2025, 5, 2, 15, 0, 0).unwrap()));
    /// assert!(!q.contains(Utc.with_ymd_and_hms(2025, 5, 2, 2, 0, 0).unwrap()));
    /// ```
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        let t = at.with_timezone(&MARKET_TZ).time();
        let t = NaiveTime::from_hms_opt(t.hour(), t.minute(), t.second()).unwrap_or(t);
        if self.start <= self.end {
            self.start <= t && t < self.end
        } else {
            t >= self.start || t < self.end
        }
    }
}

/// A user's alert rule. The expression is the rule language of `experiment-indicators`;
/// this crate stores it as text.
///
/// Natural key: `id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AlertRule {
    /// Unique id.
    pub id: RuleId,
    /// Human name shown in messages.
    pub name: String,
    /// Rule expression, e.g. `crosses_above(sma(close, 5), sma(close, 20))`.
    pub expression: String,
    /// Codes the rule watches; empty means every watched code.
    #[serde(default)]
    pub codes: Vec<SecurityCode>,
    /// Trigger frequency.
    #[serde(default)]
    pub frequency: TriggerFrequency,
    /// Minimum seconds between two alerts of this rule for one code.
    #[serde(default)]
    pub cooldown_secs: Option<u64>,
    /// After this instant the rule no longer fires.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// Window in which alerts are recorded but not delivered.
    #[serde(default)]
    pub quiet_hours: Option<QuietHours>,
    /// Message template with `{{placeholders}}`; a default is used when absent.
    #[serde(default)]
    pub message: Option<String>,
    /// Names of configured destinations to notify.
    #[serde(default)]
    pub destinations: Vec<String>,
    /// Disabled rules are kept but never evaluated.
    #[serde(default = "default_true")]
    pub enabled: bool,
}

fn default_true() -> bool {
    true
}

impl AlertRule {
    /// A rule with the defaults: every code, once per bar close, no cooldown, no destination.
    pub fn new(id: RuleId, name: impl Into<String>, expression: impl Into<String>) -> Self {
        AlertRule {
            id,
            name: name.into(),
            expression: expression.into(),
            codes: Vec::new(),
            frequency: TriggerFrequency::default(),
            cooldown_secs: None,
            expires_at: None,
            quiet_hours: None,
            message: None,
            destinations: Vec::new(),
            enabled: true,
        }
    }

    /// Checks what can be checked without the rule language: the message template's
    /// placeholders (so a typo fails when the rule is saved, not when an alert is sent), the
    /// destination names and the cooldown. The expression is validated by
    /// `experiment-indicators`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the field, e.g. `column 13: unknown placeholder '{{clsoe}}'`.
    pub fn validate(&self) -> Result<()> {
        if self.name.trim().is_empty() {
            return Err(Error::invalid("name", "a rule needs a name"));
        }
        if self.expression.trim().is_empty() {
            return Err(Error::invalid("expression", "must not be empty"));
        }
        if let Some(message) = &self.message {
            crate::template::Template::parse(message)?
                .validate(crate::template::ALERT_PLACEHOLDERS)
                .map_err(|e| match e {
                    Error::InvalidInput { reason, .. } => Error::invalid("message", reason),
                    other => other,
                })?;
        }
        if let Some(d) = self.destinations.iter().find(|d| d.trim().is_empty()) {
            return Err(Error::invalid(
                "destinations",
                format!("'{d}' is not a destination name"),
            ));
        }
        if self.cooldown_secs == Some(0) {
            return Err(Error::invalid(
                "cooldown_secs",
                "must be positive when given",
            ));
        }
        Ok(())
    }

    /// Whether the rule watches `code`.
    pub fn watches(&self, code: &SecurityCode) -> bool {
        self.codes.is_empty() || self.codes.contains(code)
    }
}

/// An alert's id, derived from (rule, code, bar time) so that a redelivered event raises the
/// same id and the store keeps one alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AlertId(pub Uuid);

impl AlertId {
    /// Derives the id of the alert `rule` raises for `code` on the bar starting at `bar_time`.
    pub fn derive(rule: &RuleId, code: &SecurityCode, bar_time: DateTime<Utc>) -> Self {
        let name = format!("alert|{rule}|{code}|{}", bar_time.timestamp_micros());
        AlertId(Uuid::new_v5(&ID_NAMESPACE, name.as_bytes()))
    }
}

impl fmt::Display for AlertId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A rule firing for one security on one bar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Alert {
    /// Derived id, see [`AlertId::derive`].
    pub id: AlertId,
    /// The rule that fired.
    pub rule_id: RuleId,
    /// The rule's name when it fired.
    pub rule_name: String,
    /// The security.
    pub code: SecurityCode,
    /// The security's short name, when known.
    #[serde(default)]
    pub name: Option<String>,
    /// Start of the bar the rule fired on.
    pub bar_time: DateTime<Utc>,
    /// When the rule fired.
    pub triggered_at: DateTime<Utc>,
    /// Price when it fired.
    #[serde(default)]
    pub price: Option<Decimal>,
    /// Change in percent against the reference price, when known.
    #[serde(default)]
    pub change_pct: Option<Decimal>,
    /// Rendered message.
    pub message: String,
    /// The number the rule is mainly about (the left side of its first comparison, e.g. the
    /// RSI in `rsi(14) < 30`), shown by `{{value}}`.
    #[serde(default)]
    pub value: Option<f64>,
    /// The indicator values the rule looked at (computed in f64), by expression text.
    #[serde(default)]
    pub values: BTreeMap<String, f64>,
    /// Whether delivery was suppressed (quiet hours).
    #[serde(default)]
    pub suppressed: bool,
}

/// A notification's idempotency key, derived from the alert id and the destination name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotificationKey(pub Uuid);

impl NotificationKey {
    /// Derives the key for delivering `alert` to `destination`.
    pub fn derive(alert: AlertId, destination: &str) -> Self {
        let name = format!("notification|{alert}|{destination}");
        NotificationKey(Uuid::new_v5(&ID_NAMESPACE, name.as_bytes()))
    }
}

impl fmt::Display for NotificationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Where a notification is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum NotificationStatus {
    /// Waiting to be sent (first attempt or a retry) at `next_attempt_at`.
    Pending,
    /// Delivered.
    Sent,
    /// Given up: a permanent error or too many attempts. Kept for the user to see.
    Failed,
}

/// One alert to deliver to one destination: an outbox entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Notification {
    /// Idempotency key, see [`NotificationKey::derive`].
    pub key: NotificationKey,
    /// Destination name from the configuration (never a URL or a token).
    pub destination: String,
    /// The alert to deliver.
    pub alert: Alert,
    /// Status.
    pub status: NotificationStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: DateTime<Utc>,
    /// The last error, for the user.
    #[serde(default)]
    pub last_error: Option<String>,
    /// When it was delivered.
    #[serde(default)]
    pub sent_at: Option<DateTime<Utc>>,
    /// What the destination returned to identify the message (Slack's `ts`).
    #[serde(default)]
    pub receipt: Option<String>,
}

impl Notification {
    /// A pending notification of `alert` to `destination`, due at once.
    pub fn pending(alert: Alert, destination: impl Into<String>) -> Self {
        let destination = destination.into();
        Notification {
            key: NotificationKey::derive(alert.id, &destination),
            next_attempt_at: alert.triggered_at,
            destination,
            alert,
            status: NotificationStatus::Pending,
            attempts: 0,
            last_error: None,
            sent_at: None,
            receipt: None,
        }
    }
}

impl Notification {
    /// Applies a delivery attempt's outcome: counts the attempt and moves the status
    /// (pending → sent | pending again at `retry_at` | failed). `Sent` is final: returns
    /// `false` and changes nothing when the notification was already sent (a late report from
    /// a slower sender must not resend or fail it).
    pub fn apply(&mut self, outcome: &DeliveryOutcome) -> bool {
        if self.status == NotificationStatus::Sent {
            return false;
        }
        self.attempts += 1;
        match outcome.clone() {
            DeliveryOutcome::Sent { at, receipt } => {
                self.status = NotificationStatus::Sent;
                self.sent_at = Some(at);
                self.receipt = receipt;
                self.last_error = None;
            }
            DeliveryOutcome::Retry { retry_at, error } => {
                self.status = NotificationStatus::Pending;
                self.next_attempt_at = retry_at;
                self.last_error = Some(error);
            }
            DeliveryOutcome::Failed { error } => {
                self.status = NotificationStatus::Failed;
                self.last_error = Some(error);
            }
        }
        true
    }
}

/// What happened to one delivery attempt, as recorded in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// Delivered at `at`; `receipt` identifies the message at the destination.
    Sent {
        /// When.
        at: DateTime<Utc>,
        /// Destination's id for the message, if any.
        receipt: Option<String>,
    },
    /// A transient failure; try again at `retry_at`.
    Retry {
        /// When to try again.
        retry_at: DateTime<Utc>,
        /// What went wrong.
        error: String,
    },
    /// A permanent failure; stop trying.
    Failed {
        /// What went wrong.
        error: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn derived_ids_are_stable_and_distinct() {
        let rule = RuleId::new("new-low").unwrap();
        let code = SecurityCode::new("2330").unwrap();
        let t = Utc.with_ymd_and_hms(2025, 5, 2, 1, 0, 0).unwrap();
        let a = AlertId::derive(&rule, &code, t);
        assert_eq!(a, AlertId::derive(&rule, &code, t));
        assert_ne!(
            a,
            AlertId::derive(&rule, &code, t + chrono::Duration::days(1))
        );
        assert_ne!(
            a,
            AlertId::derive(&rule, &SecurityCode::new("2317").unwrap(), t)
        );
        assert_ne!(
            NotificationKey::derive(a, "slack"),
            NotificationKey::derive(a, "discord")
        );
    }

    #[test]
    fn rules_are_validated_at_save_time() {
        let mut r = AlertRule::new(RuleId::new("r").unwrap(), "R", "rsi(14) < 30");
        assert!(r.validate().is_ok());
        r.message = Some("{{code}} at {{clsoe}}".into());
        let e = r.validate().unwrap_err().to_string();
        assert!(
            e.starts_with("invalid message: column 13: unknown placeholder '{{clsoe}}'"),
            "{e}"
        );
        r.message = Some("{{code}} at {{close}}".into());
        r.cooldown_secs = Some(0);
        assert!(r.validate().is_err());
    }

    #[test]
    fn rule_ids_are_validated() {
        assert!(RuleId::new("rsi-oversold_2.v1").is_ok());
        assert!(RuleId::new("").is_err());
        assert!(RuleId::new("has space").is_err());
        assert!(RuleId::new("x".repeat(65)).is_err());
    }

    #[test]
    fn quiet_hours_inside_a_day() {
        let q = QuietHours {
            start: NaiveTime::from_hms_opt(12, 0, 0).unwrap(),
            end: NaiveTime::from_hms_opt(13, 30, 0).unwrap(),
        };
        // 04:00 UTC = 12:00 Taipei (inclusive), 05:30 UTC = 13:30 (exclusive)
        assert!(q.contains(Utc.with_ymd_and_hms(2025, 5, 2, 4, 0, 0).unwrap()));
        assert!(!q.contains(Utc.with_ymd_and_hms(2025, 5, 2, 5, 30, 0).unwrap()));
    }
}
