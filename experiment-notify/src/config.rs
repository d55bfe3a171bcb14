//! Destinations as users configure them (one `[[destinations]]` table each in TOML).
//!
//! ```
//! use experiment_notify::DestinationConfig;
//! let toml = r#"
//! name = "team-slack"
//! kind = "slack_webhook"
//! url = "https://hooks.slack.com/services/T000/B000/XXXX"
//! "#;
//! let d: DestinationConfig = toml::from_str(toml).unwrap();
//! assert!(!format!("{d:?}").contains("XXXX"), "secrets never show in Debug");
//! ```

use std::sync::Arc;
use std::time::Duration;

use experiment_core::memory::ConsoleNotifier;
use experiment_core::{Cache, Error, Notifier, Result};
use serde::{Deserialize, Serialize};

use crate::discord::Discord;
use crate::layers::{Backoff, ClusterSpaced, Retrying, Throttled, CLUSTER_SPACING_MAX_RATE};
use crate::secret::Secret;
use crate::slack::{SlackBot, SlackWebhook};
use crate::telegram::Telegram;
use crate::webhook::Webhook;
use crate::{Rate, RateLimiter, DISCORD_RATE, SLACK_RATE, TELEGRAM_RATE, WEBHOOK_RATE};

/// The kinds of destination. TOML and JSON name them in snake case (`slack_webhook`); the
/// command line's kebab case (`slack-webhook`) is accepted too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Slack incoming webhook: needs `url`.
    #[serde(alias = "slack-webhook")]
    SlackWebhook,
    /// Slack `chat.postMessage`: needs `token` and `channel`; `api_url` optional.
    #[serde(alias = "slack-bot")]
    SlackBot,
    /// Signed generic webhook: needs `url` and `secret`.
    Webhook,
    /// Discord webhook: needs `url`.
    Discord,
    /// Telegram bot: needs `token` and `chat_id`; `api_url` optional.
    Telegram,
    /// Prints alerts on standard output.
    Console,
}

/// One destination.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestinationConfig {
    /// The name rules use in their `destinations`.
    pub name: String,
    /// What it is.
    pub kind: Kind,
    /// Webhook URL (a secret: Slack, Discord and most webhooks authorise by URL).
    #[serde(default)]
    pub url: Option<Secret>,
    /// Bot token (Slack bot, Telegram).
    #[serde(default)]
    pub token: Option<Secret>,
    /// Slack channel id, e.g. `C0123456789`.
    #[serde(default)]
    pub channel: Option<String>,
    /// Telegram chat id.
    #[serde(default)]
    pub chat_id: Option<String>,
    /// HMAC signing secret (generic webhook).
    #[serde(default)]
    pub secret: Option<Secret>,
    /// API base URL override (Slack bot, Telegram), e.g. for a proxy or a test server.
    #[serde(default)]
    pub api_url: Option<String>,
    /// Request timeout in seconds. Default 3.
    #[serde(default)]
    pub timeout_secs: Option<f64>,
    /// Messages per second to this destination. Default: the service's guidance (Slack 1/s).
    #[serde(default)]
    pub rate_per_second: Option<f64>,
    /// Retries of transient failures within one send. Default 2.
    #[serde(default)]
    pub retries: Option<u32>,
}

/// Checks that `url` is an absolute http(s) URL, without echoing it (it may be a secret).
///
/// # Errors
/// [`Error::InvalidInput`] naming `field`.
pub fn check_url(field: &str, url: &str) -> Result<()> {
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        Ok(_) => Err(Error::invalid(field, "must be an http or https URL")),
        Err(e) => Err(Error::invalid(field, format!("is not a URL ({e})"))),
    }
}

impl DestinationConfig {
    /// A console destination called `name`.
    pub fn console(name: impl Into<String>) -> Self {
        DestinationConfig {
            name: name.into(),
            kind: Kind::Console,
            url: None,
            token: None,
            channel: None,
            chat_id: None,
            secret: None,
            api_url: None,
            timeout_secs: None,
            rate_per_second: None,
            retries: None,
        }
    }

    fn need<'a, T>(&self, field: &str, v: &'a Option<T>) -> Result<&'a T> {
        v.as_ref().ok_or_else(|| {
            Error::invalid(
                format!("destination '{}'", self.name),
                format!("kind {:?} needs `{field}`", self.kind),
            )
        })
    }

    /// Validates and builds the notifier: the channel, behind the destination's shared rate
    /// limiter, with in-call retries of transient failures.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the destination and the missing or wrong field.
    pub fn build(&self) -> Result<Arc<dyn Notifier>> {
        self.build_shared(None)
    }

    /// [`DestinationConfig::build`], with the rate held across every process that shares
    /// `cache` (the worker's replicas on one Redis): see [`ClusterSpaced`]. Without a cache,
    /// or for a rate above [`CLUSTER_SPACING_MAX_RATE`], the limit is per process.
    ///
    /// # Errors
    /// As `build`.
    pub fn build_shared(&self, cache: Option<Arc<dyn Cache>>) -> Result<Arc<dyn Notifier>> {
        if self.name.trim().is_empty() {
            return Err(Error::invalid("name", "a destination needs a name"));
        }
        let timeout = match self.timeout_secs {
            Some(s) if s.is_finite() && s > 0.0 && s <= 300.0 => Duration::from_secs_f64(s),
            Some(s) => {
                return Err(Error::invalid(
                    format!("destination '{}'", self.name),
                    format!("timeout_secs {s} is not in (0, 300]"),
                ))
            }
            None => crate::http::DEFAULT_TIMEOUT,
        };
        let name = self.name.clone();
        let (notifier, key, rate): (Arc<dyn Notifier>, String, Rate) = match self.kind {
            Kind::Console => return Ok(Arc::new(ConsoleNotifier::new(name))),
            Kind::SlackWebhook => (
                Arc::new(SlackWebhook::new(
                    name.clone(),
                    self.need("url", &self.url)?.clone(),
                    timeout,
                )?),
                format!("slack-webhook:{name}"),
                SLACK_RATE,
            ),
            Kind::SlackBot => {
                let channel = self.need("channel", &self.channel)?.clone();
                let key = format!("slack:{channel}");
                let bot = SlackBot::new(
                    name,
                    self.need("token", &self.token)?.clone(),
                    channel,
                    self.api_url.clone(),
                    timeout,
                )?;
                (Arc::new(bot), key, SLACK_RATE)
            }
            Kind::Webhook => (
                Arc::new(Webhook::new(
                    name.clone(),
                    self.need("url", &self.url)?.clone(),
                    self.need("secret", &self.secret)?.clone(),
                    timeout,
                )?),
                format!("webhook:{name}"),
                WEBHOOK_RATE,
            ),
            Kind::Discord => (
                Arc::new(Discord::new(
                    name.clone(),
                    self.need("url", &self.url)?.clone(),
                    timeout,
                )?),
                format!("discord:{name}"),
                DISCORD_RATE,
            ),
            Kind::Telegram => {
                let chat = self.need("chat_id", &self.chat_id)?.clone();
                let key = format!("telegram:{chat}");
                let bot = Telegram::new(
                    name,
                    self.need("token", &self.token)?.clone(),
                    chat,
                    self.api_url.clone(),
                    timeout,
                )?;
                (Arc::new(bot), key, TELEGRAM_RATE)
            }
        };
        let rate = match self.rate_per_second {
            Some(r) if r.is_finite() && r > 0.0 => Rate {
                per_second: r,
                burst: rate.burst,
            },
            Some(r) => {
                return Err(Error::invalid(
                    format!("destination '{}'", self.name),
                    format!("rate_per_second {r} must be positive"),
                ))
            }
            None => rate,
        };
        let notifier: Arc<dyn Notifier> = match cache {
            Some(cache) if rate.per_second <= CLUSTER_SPACING_MAX_RATE => {
                Arc::new(ClusterSpaced::new(notifier, cache, &key, rate.per_second))
            }
            _ => notifier,
        };
        let throttled = Throttled::new(notifier, RateLimiter::shared(&key, rate));
        let backoff = Backoff {
            base: Duration::from_millis(500),
            max: Duration::from_secs(10),
        };
        Ok(Arc::new(Retrying::new(
            throttled,
            self.retries.unwrap_or(2),
            backoff,
        )))
    }
}
