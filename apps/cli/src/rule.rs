//! `experiment rule ...`: check rules, and manage the rules in the configured store without
//! the API (`add`, `list`, `show`, `enable`, `disable`, `rm`).
//!
//! The store is the one the configuration names (`--config` or `EXPERIMENT_CONFIG`, then the
//! `EXPERIMENT_*` variables): the embedded store in `store.data_dir` by default, or MongoDB.
//! Running workers reload rules every few seconds (`worker.reload_secs`), so a rule added here
//! fires without a restart. The embedded store is held by one process at a time: while
//! `experiment run` or a worker has it open, change rules through the API instead.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context as _};
use clap::{Args, Subcommand, ValueEnum};
use experiment_core::model::{AlertRule, RuleId, SecurityCode, TriggerFrequency};
use experiment_core::Store;
use experiment_indicators::rule::Rule;
use experiment_wiring::config::{Config, StoreBackend};

use crate::table;

/// `experiment rule` subcommands.
#[derive(Debug, Subcommand)]
pub enum RuleCommand {
    /// Parse and validate a rule. Prints it in canonical form (every default written out)
    /// and exits 0, or points at the error and exits 2.
    ///
    /// Example: experiment rule check 'crosses_above(sma(close, 5), sma(close, 20)) and rsi(14) < 70'
    Check {
        /// The rule, e.g. 'rsi(14) < 30'.
        expression: String,
    },
    /// Save a new rule in the configured store.
    ///
    /// Example: experiment rule add oversold 'rsi(14) < 30' --codes 2330,2317 --destination slack
    Add(AddArgs),
    /// List the stored rules.
    List(StoreArgs),
    /// Show one stored rule (JSON), with its expression in canonical form.
    Show {
        /// Rule id.
        id: String,
        /// Which store.
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Evaluate a stored rule again.
    Enable {
        /// Rule id.
        id: String,
        /// Which store.
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Keep a stored rule but stop evaluating it.
    Disable {
        /// Rule id.
        id: String,
        /// Which store.
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Delete a stored rule (its past alerts stay).
    Rm {
        /// Rule id.
        id: String,
        /// Which store.
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// Which store: the configuration's.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// Configuration file (TOML); its `[store]` section names the store. Without it the
    /// defaults and `EXPERIMENT_*` variables apply (the embedded store in
    /// `./experiment-data`).
    #[arg(long, env = "EXPERIMENT_CONFIG")]
    pub config: Option<PathBuf>,
}

/// When a rule fires (`once-per-bar`; the TOML and API spelling `once_per_bar` works too).
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Frequency {
    /// Once, then the rule disables itself.
    Once,
    /// At most once per bar, as soon as the forming bar satisfies it.
    #[value(alias = "once_per_bar")]
    OncePerBar,
    /// At most once per bar, when the bar closes.
    #[value(alias = "once_per_bar_close")]
    OncePerBarClose,
    /// On every update that satisfies it.
    #[value(alias = "every_time")]
    EveryTime,
}

impl From<Frequency> for TriggerFrequency {
    fn from(f: Frequency) -> Self {
        match f {
            Frequency::Once => TriggerFrequency::Once,
            Frequency::OncePerBar => TriggerFrequency::OncePerBar,
            Frequency::OncePerBarClose => TriggerFrequency::OncePerBarClose,
            Frequency::EveryTime => TriggerFrequency::EveryTime,
        }
    }
}

/// Options of `experiment rule add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// Rule id (1 to 64 of `A-Z a-z 0-9 _ . -`).
    pub id: String,
    /// The condition, e.g. 'crosses_above(sma(close, 5), sma(close, 20))'.
    pub expression: String,
    /// Name shown in messages. Default: the expression.
    #[arg(long)]
    pub name: Option<String>,
    /// Codes it watches, comma-separated. Default: every watched code.
    #[arg(long, value_delimiter = ',')]
    pub codes: Vec<String>,
    /// When it fires.
    #[arg(long, value_enum, default_value = "once-per-bar-close")]
    pub frequency: Frequency,
    /// Least seconds between two alerts of the rule for one code.
    #[arg(long)]
    pub cooldown_secs: Option<u64>,
    /// Message template, e.g. '{{code}} {{name}} closed at {{close}} ({{change_pct}}%)'.
    #[arg(long)]
    pub message: Option<String>,
    /// A destination to notify (configured or stored); repeat for more.
    #[arg(long = "destination")]
    pub destinations: Vec<String>,
    /// Save it disabled.
    #[arg(long)]
    pub disabled: bool,
    /// Replace a rule with the same id instead of refusing.
    #[arg(long)]
    pub replace: bool,
    /// Which store.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Checks `expression`: the canonical form, or the error drawn under the rule.
///
/// # Errors
/// The error text, with the rule and a caret under the column at fault.
pub fn check(expression: &str) -> Result<String, String> {
    Rule::parse(expression).map(|r| r.to_string()).map_err(|e| {
        let caret = format!("{}^", " ".repeat(e.column.saturating_sub(1)));
        format!("{expression}\n{caret}\n{e}")
    })
}

async fn open(args: &StoreArgs) -> anyhow::Result<(Config, Arc<dyn Store>)> {
    let config = Config::load(args.config.as_deref()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let store = experiment_wiring::backends::connect_store(&config.store)
        .await
        .map_err(|e| {
            let hint = if config.store.backend == StoreBackend::Embedded {
                format!(
                    " (the embedded store in {} is held by one process at a time: if `experiment run` or a worker is using it, change rules through the API)",
                    config.store.data_dir.display()
                )
            } else {
                String::new()
            };
            anyhow::anyhow!("{e}{hint}")
        })?;
    Ok((config, store))
}

fn id(text: &str) -> anyhow::Result<RuleId> {
    RuleId::new(text).map_err(|e| anyhow::anyhow!("rule id '{text}': {e}"))
}

async fn stored(store: &dyn Store, text: &str) -> anyhow::Result<AlertRule> {
    let rule_id = id(text)?;
    store
        .rule(&rule_id)
        .await?
        .with_context(|| format!("no rule '{text}' (see `experiment rule list`)"))
}

fn frequency_name(f: TriggerFrequency) -> String {
    serde_json::to_value(f)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{f:?}"))
}

/// Runs a rule subcommand other than `check` and returns what to print.
///
/// # Errors
/// The store cannot be opened; the rule is invalid (pointed at), unknown, or exists.
pub async fn run(command: RuleCommand) -> anyhow::Result<String> {
    match command {
        RuleCommand::Check { expression } => check(&expression).map_err(anyhow::Error::msg),
        RuleCommand::Add(args) => add(args).await,
        RuleCommand::List(store) => {
            let (_, store) = open(&store).await?;
            let rules = store.rules().await?;
            if rules.is_empty() {
                return Ok(
                    "no rules yet; add one with `experiment rule add ID 'EXPRESSION'`\n".into(),
                );
            }
            let header: Vec<String> = ["id", "enabled", "frequency", "codes", "expression"]
                .map(String::from)
                .to_vec();
            let rows: Vec<Vec<String>> = rules
                .iter()
                .map(|r| {
                    vec![
                        r.id.to_string(),
                        if r.enabled { "yes" } else { "no" }.to_owned(),
                        frequency_name(r.frequency),
                        if r.codes.is_empty() {
                            "(all)".to_owned()
                        } else {
                            r.codes
                                .iter()
                                .map(SecurityCode::as_str)
                                .collect::<Vec<_>>()
                                .join(",")
                        },
                        r.expression.clone(),
                    ]
                })
                .collect();
            Ok(table::render(&header, &rows))
        }
        RuleCommand::Show { id, store } => {
            let (_, store) = open(&store).await?;
            let rule = stored(store.as_ref(), &id).await?;
            let mut v = serde_json::to_value(&rule)?;
            if let (Some(map), Ok(parsed)) = (v.as_object_mut(), Rule::parse(&rule.expression)) {
                map.insert("canonical".into(), parsed.to_string().into());
            }
            Ok(format!("{}\n", serde_json::to_string_pretty(&v)?))
        }
        RuleCommand::Enable { id, store } => switch(&id, &store, true).await,
        RuleCommand::Disable { id, store } => switch(&id, &store, false).await,
        RuleCommand::Rm { id, store } => {
            let (_, store) = open(&store).await?;
            let rule = stored(store.as_ref(), &id).await?;
            store.delete_rule(&rule.id).await?;
            Ok(format!("deleted rule '{}'\n", rule.id))
        }
    }
}

async fn switch(text: &str, args: &StoreArgs, enabled: bool) -> anyhow::Result<String> {
    let (_, store) = open(args).await?;
    let mut rule = stored(store.as_ref(), text).await?;
    let word = if enabled { "enabled" } else { "disabled" };
    if rule.enabled == enabled {
        return Ok(format!("rule '{}' was already {word}\n", rule.id));
    }
    rule.enabled = enabled;
    store.upsert_rule(&rule).await?;
    Ok(format!("rule '{}' {word}\n", rule.id))
}

async fn add(args: AddArgs) -> anyhow::Result<String> {
    let rule_id = id(&args.id)?;
    if matches!(rule_id.as_str(), "validate" | "." | "..") {
        bail!("rule id '{rule_id}' is reserved; choose another");
    }
    let expression = args.expression.trim().to_owned();
    let parsed =
        Rule::parse(&expression).map_err(|e| crate::ta::pointed("expression", &expression, &e))?;
    let mut codes: Vec<SecurityCode> = Vec::new();
    for c in args
        .codes
        .iter()
        .map(|c| c.trim())
        .filter(|c| !c.is_empty())
    {
        let code = SecurityCode::new(c).map_err(|e| anyhow::anyhow!("--codes: '{c}': {e}"))?;
        if !codes.contains(&code) {
            codes.push(code);
        }
    }
    let mut rule = AlertRule::new(
        rule_id,
        args.name
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| expression.clone()),
        expression,
    );
    rule.codes = codes;
    rule.frequency = args.frequency.into();
    rule.cooldown_secs = args.cooldown_secs;
    rule.message = args.message;
    rule.destinations = args
        .destinations
        .iter()
        .map(|d| d.trim().to_owned())
        .collect();
    rule.enabled = !args.disabled;
    rule.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
    let (config, store) = open(&args.store).await?;
    if !rule.destinations.is_empty() {
        let mut known: Vec<String> = config.destinations.iter().map(|d| d.name.clone()).collect();
        known.extend(
            experiment_wiring::settings::stored_destinations(store.as_ref())
                .await?
                .into_iter()
                .map(|(name, _)| name),
        );
        if let Some(d) = rule.destinations.iter().find(|d| !known.contains(d)) {
            known.sort();
            known.dedup();
            bail!(
                "--destination: no destination is called '{d}' (known: {})",
                if known.is_empty() {
                    "none; configure [[destinations]] or add one through the API".to_owned()
                } else {
                    known.join(", ")
                }
            );
        }
    }
    if !args.replace && store.rule(&rule.id).await?.is_some() {
        bail!(
            "a rule '{}' exists; pass --replace to overwrite it, or `experiment rule rm {}`",
            rule.id,
            rule.id
        );
    }
    store.upsert_rule(&rule).await?;
    Ok(format!(
        "saved rule '{}': {}{}\n",
        rule.id,
        parsed,
        if rule.enabled { "" } else { " (disabled)" }
    ))
}
