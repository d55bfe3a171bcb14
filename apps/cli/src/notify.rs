//! `experiment notify test`: send a sample alert to a destination and say what happened.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use chrono::Utc;
use clap::{Args, Subcommand, ValueEnum};
use experiment_core::model::{Alert, AlertId, Notification, RuleId, SecurityCode};
use experiment_core::Notifier;
use experiment_notify::{DestinationConfig, Kind, Secret};
use serde::Deserialize;

/// `experiment notify ...`
#[derive(Debug, Subcommand)]
pub enum NotifyCommand {
    /// Send a sample alert to a destination — what you run when setting up a webhook.
    ///
    /// Either name a destination from the config file (`[[destinations]]` tables), or
    /// describe one with `--kind` and its fields. Exit status 0 when delivered, 1 otherwise.
    Test(TestArgs),
}

/// Destination kinds on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KindArg {
    /// Slack incoming webhook (`--url`).
    #[value(alias = "slack_webhook")]
    SlackWebhook,
    /// Slack bot (`--token`, `--channel`).
    #[value(alias = "slack_bot")]
    SlackBot,
    /// Signed generic webhook (`--url`, `--secret`).
    Webhook,
    /// Discord webhook (`--url`).
    Discord,
    /// Telegram bot (`--token`, `--chat-id`).
    Telegram,
    /// Standard output.
    Console,
}

/// Options of `experiment notify test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// The destination's name (from the config file, or the name to give the one described
    /// by the flags).
    #[arg(default_value = "test")]
    pub destination: String,
    /// Config file with `[[destinations]]` tables.
    #[arg(long, env = "EXPERIMENT_CONFIG", default_value = "experiment.toml")]
    pub config: PathBuf,
    /// Describe the destination here instead of in the config file.
    #[arg(long, value_enum)]
    pub kind: Option<KindArg>,
    /// Webhook URL (secret; prefer the environment variable).
    #[arg(long, env = "EXPERIMENT_NOTIFY_URL", hide_env_values = true)]
    pub url: Option<String>,
    /// Bot token (secret; prefer the environment variable).
    #[arg(long, env = "EXPERIMENT_NOTIFY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// HMAC secret of a generic webhook (prefer the environment variable).
    #[arg(long, env = "EXPERIMENT_NOTIFY_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// Slack channel id.
    #[arg(long)]
    pub channel: Option<String>,
    /// Telegram chat id.
    #[arg(long)]
    pub chat_id: Option<String>,
    /// API base URL (Slack bot, Telegram), e.g. a proxy.
    #[arg(long)]
    pub api_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct FileConfig {
    #[serde(default)]
    destinations: Vec<DestinationConfig>,
}

fn destination(args: &TestArgs) -> anyhow::Result<DestinationConfig> {
    if let Some(kind) = args.kind {
        let mut d = DestinationConfig::console(&args.destination);
        d.kind = match kind {
            KindArg::SlackWebhook => Kind::SlackWebhook,
            KindArg::SlackBot => Kind::SlackBot,
            KindArg::Webhook => Kind::Webhook,
            KindArg::Discord => Kind::Discord,
            KindArg::Telegram => Kind::Telegram,
            KindArg::Console => Kind::Console,
        };
        d.url = args.url.clone().map(Secret::new);
        d.token = args.token.clone().map(Secret::new);
        d.secret = args.secret.clone().map(Secret::new);
        d.channel = args.channel.clone();
        d.chat_id = args.chat_id.clone();
        d.api_url = args.api_url.clone();
        d.retries = Some(0);
        return Ok(d);
    }
    let text = std::fs::read_to_string(&args.config).with_context(|| {
        format!(
            "reading {} (name a destination there, or describe one with --kind)",
            args.config.display()
        )
    })?;
    let config: FileConfig =
        toml::from_str(&text).with_context(|| format!("in {}", args.config.display()))?;
    match config
        .destinations
        .into_iter()
        .find(|d| d.name == args.destination)
    {
        Some(d) => Ok(d),
        None => bail!(
            "no destination named '{}' in {}",
            args.destination,
            args.config.display()
        ),
    }
}

/// A sample alert, clearly marked as a test.
pub fn sample_alert() -> Alert {
    let rule = RuleId::new("experiment-test").expect("valid id");
    let code = SecurityCode::new("2330").expect("valid code");
    let now = Utc::now();
    Alert {
        id: AlertId::derive(&rule, &code, now),
        rule_id: rule,
        rule_name: "Test alert".into(),
        code,
        name: Some("台積電".into()),
        bar_time: now,
        triggered_at: now,
        price: Some("1530.00".parse().expect("decimal")),
        change_pct: Some("1.66".parse().expect("decimal")),
        message: "This is a test from `experiment notify test`: your destination works.".into(),
        values: [("rsi(14)".to_owned(), 61.8)].into(),
        value: None,
        suppressed: false,
    }
}

/// The longest `experiment notify test` waits for a destination that asks it to (429).
const MAX_WAIT: Duration = Duration::from_secs(30);

/// Runs `experiment notify test`; returns the line to print on success.
///
/// # Errors
/// A bad configuration, or the delivery's error with whether it was permanent.
pub async fn test(args: &TestArgs) -> anyhow::Result<String> {
    let d = destination(args)?;
    let notifier: Arc<dyn Notifier> = d
        .build()
        .with_context(|| format!("destination '{}'", d.name))?;
    let n = Notification::pending(sample_alert(), d.name.clone());
    // A destination that asks us to wait a little (Slack's 429 with Retry-After: 1) is waited
    // out, as the outbox would, within a bound; a longer wait is reported.
    let mut waited = Duration::ZERO;
    let sent = loop {
        match notifier.send(&n).await {
            Err(e) if e.retry_after().is_some_and(|w| waited + w <= MAX_WAIT) => {
                let wait = e.retry_after().unwrap_or_default();
                eprintln!(
                    "'{}' asks to wait {:.1} s; waiting",
                    d.name,
                    wait.as_secs_f64()
                );
                tokio::time::sleep(wait).await;
                waited += wait;
            }
            other => break other,
        }
    };
    match sent {
        Ok(r) => Ok(match r.id {
            Some(id) => format!("delivered a test alert to '{}' (message id {id})", d.name),
            None => format!("delivered a test alert to '{}'", d.name),
        }),
        Err(e) if e.is_transient() => {
            bail!("'{}' is unreachable for now ({e}); try again later", d.name)
        }
        Err(e) => bail!("'{}' refused the message permanently: {e}", d.name),
    }
}
