//! One configuration for every binary: a TOML file (`[bus] [store] [cache] [api] [feeder]
//! [worker] [log] [[destinations]]`), then `EXPERIMENT_*` environment variables over it, then
//! command-line flags over both. Every key and its default is in `docs/configuration.md`.
//!
//! ```
//! use experiment_wiring::config::{Config, StoreBackend};
//! let config = Config::from_toml_str(
//!     r#"
//!     [store]
//!     backend = "memory"
//!     [api]
//!     listen = "127.0.0.1:9000"
//!     "#,
//!     std::iter::empty(),
//! )
//! .unwrap();
//! assert_eq!(config.store.backend, StoreBackend::Memory);
//! assert_eq!(config.api.listen.port(), 9000);
//!
//! let err = Config::from_toml_str("[api]\nlisten = \"nowhere\"", std::iter::empty()).unwrap_err();
//! assert!(err.to_string().contains("api.listen"), "{err}");
//! ```

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use chrono::NaiveTime;
use experiment_core::model::SecurityCode;
use experiment_notify::DestinationConfig;
use serde::Deserialize;

/// Where a configuration value came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The defaults, a file or the environment: the key is enough.
    Config,
    /// A configuration file.
    File(PathBuf),
}

/// A configuration that cannot be used: which key, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{key}: {message}", match origin { Origin::File(p) => format!("{}: ", p.display()), Origin::Config => String::new() })]
pub struct ConfigError {
    /// The key at fault, dotted (`api.listen`), or the environment variable.
    pub key: String,
    /// What is wrong and what was expected.
    pub message: String,
    /// Where it came from.
    pub origin: Origin,
}

impl ConfigError {
    fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            key: key.into(),
            message: message.into(),
            origin: Origin::Config,
        }
    }
}

/// Every setting of every binary. Each binary reads the sections it needs.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The event log.
    pub bus: BusConfig,
    /// Durable data.
    pub store: StoreConfig,
    /// The shared cache.
    pub cache: CacheConfig,
    /// The HTTP API.
    pub api: ApiConfig,
    /// The crawlers.
    pub feeder: FeederConfig,
    /// The event processors.
    pub worker: WorkerSettings,
    /// Logging.
    pub log: LogConfig,
    /// Where alerts are delivered (more can be added through the API).
    pub destinations: Vec<DestinationConfig>,
}

/// Which event bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BusBackend {
    /// In this process only (`experiment demo`, `experiment run`).
    #[default]
    Memory,
    /// Apache Kafka (or any Kafka-protocol broker).
    Kafka,
}

/// `[bus]`.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BusConfig {
    /// `memory` or `kafka`. Default `memory`; setting `brokers` (or
    /// `EXPERIMENT_KAFKA_BROKERS`) alone selects `kafka`.
    pub backend: BusBackend,
    /// Kafka bootstrap servers, e.g. `127.0.0.1:9092`.
    pub brokers: Option<String>,
    /// Prefix of every topic name. Default empty.
    pub topic_prefix: String,
    /// The workers' consumer group. Default `experiment-workers`.
    pub group: String,
    /// Partitions of the topics created. Default 6.
    pub partitions: u32,
    /// Replication factor of the topics created. Default -1: the broker's default.
    pub replication: i32,
    /// Any librdkafka property (`security.protocol`, `sasl.username`, ...). Values are never
    /// logged.
    pub properties: BTreeMap<String, String>,
}

impl Default for BusConfig {
    fn default() -> Self {
        BusConfig {
            backend: BusBackend::Memory,
            brokers: None,
            topic_prefix: String::new(),
            group: "experiment-workers".into(),
            partitions: 6,
            replication: -1,
            properties: BTreeMap::new(),
        }
    }
}

impl fmt::Debug for BusConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BusConfig")
            .field("backend", &self.backend)
            .field("brokers", &self.brokers)
            .field("topic_prefix", &self.topic_prefix)
            .field("group", &self.group)
            .field("partitions", &self.partitions)
            .field("replication", &self.replication)
            .field("properties", &self.properties.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Which store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreBackend {
    /// The embedded database in `data_dir` (one process at a time).
    #[default]
    Embedded,
    /// In memory, lost at exit.
    Memory,
    /// MongoDB.
    Mongodb,
}

/// `[store]`.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// `embedded`, `memory` or `mongodb`. Default `embedded`; setting `uri` (or
    /// `EXPERIMENT_MONGODB_URI`) alone selects `mongodb`.
    pub backend: StoreBackend,
    /// Directory of the embedded store. Default `experiment-data`.
    pub data_dir: PathBuf,
    /// MongoDB connection string (may hold credentials: never logged).
    pub uri: Option<String>,
    /// MongoDB database. Default `experiment`.
    pub database: String,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            backend: StoreBackend::Embedded,
            data_dir: PathBuf::from("experiment-data"),
            uri: None,
            database: "experiment".into(),
        }
    }
}

impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreConfig")
            .field("backend", &self.backend)
            .field("data_dir", &self.data_dir)
            .field("uri", &self.uri.as_ref().map(|_| "[redacted]"))
            .field("database", &self.database)
            .finish()
    }
}

/// Which cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheBackend {
    /// In this process.
    #[default]
    Memory,
    /// Redis.
    Redis,
}

/// `[cache]`.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// `memory` or `redis`. Default `memory`; setting `url` (or `EXPERIMENT_REDIS_URL`) alone
    /// selects `redis`.
    pub backend: CacheBackend,
    /// Redis URL (may hold a password: never logged).
    pub url: Option<String>,
    /// Prefix of every key. Default `experiment:`.
    pub prefix: String,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            backend: CacheBackend::Memory,
            url: None,
            prefix: "experiment:".into(),
        }
    }
}

impl fmt::Debug for CacheConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheConfig")
            .field("backend", &self.backend)
            .field("url", &self.url.as_ref().map(|_| "[redacted]"))
            .field("prefix", &self.prefix)
            .finish()
    }
}

/// `[api]`.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Address to listen on. Default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// API keys: every modifying request needs one (`Authorization: Bearer <key>` or
    /// `X-API-Key`). Never logged.
    pub keys: Vec<String>,
    /// Whether reads need a key too. Default false.
    pub protect_reads: bool,
    /// Requests per second per key (per client address without a key); 0 turns the limit
    /// off. Default 100.
    pub rate_limit_per_second: f64,
    /// Requests a key may make at once before the rate applies. Default 200.
    pub rate_limit_burst: u32,
    /// Largest request body, in bytes. Default 1 MiB.
    pub body_limit_bytes: usize,
    /// Longest a request may take, in seconds (the live stream excepted). Default 30.
    pub request_timeout_secs: u64,
    /// Events of the live stream kept for clients that resume with `Last-Event-ID`.
    /// Default 1024.
    pub stream_replay: usize,
    /// Seconds between keep-alive comments on the live stream. Default 15.
    pub stream_keepalive_secs: u64,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            keys: Vec::new(),
            protect_reads: false,
            rate_limit_per_second: 100.0,
            rate_limit_burst: 200,
            body_limit_bytes: 1024 * 1024,
            request_timeout_secs: 30,
            stream_replay: 1024,
            stream_keepalive_secs: 15,
        }
    }
}

impl fmt::Debug for ApiConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiConfig")
            .field("listen", &self.listen)
            .field("keys", &format_args!("[{} redacted]", self.keys.len()))
            .field("protect_reads", &self.protect_reads)
            .field("rate_limit_per_second", &self.rate_limit_per_second)
            .field("rate_limit_burst", &self.rate_limit_burst)
            .field("body_limit_bytes", &self.body_limit_bytes)
            .field("request_timeout_secs", &self.request_timeout_secs)
            .field("stream_replay", &self.stream_replay)
            .field("stream_keepalive_secs", &self.stream_keepalive_secs)
            .finish()
    }
}

/// `[feeder]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FeederConfig {
    /// Codes polled in real time during the session (the first start's watchlist; the API
    /// changes it afterwards).
    pub watchlist: Vec<String>,
    /// Also publish quotes on `asset.info.view.v1` in the original services' format.
    pub seed_compat: bool,
    /// Time (Taipei, `HH:MM`) after which the day's closing bars are fetched. Default `14:30`.
    pub daily_after: String,
    /// MIS base URL (default: the exchange's).
    pub mis_url: Option<String>,
    /// TWSE OpenAPI base URL (default: the exchange's).
    pub openapi_url: Option<String>,
    /// TPEx OpenAPI base URL (default: the exchange's).
    pub tpex_openapi_url: Option<String>,
}

impl Default for FeederConfig {
    fn default() -> Self {
        FeederConfig {
            watchlist: Vec::new(),
            seed_compat: false,
            daily_after: "14:30".into(),
            mis_url: None,
            openapi_url: None,
            tpex_openapi_url: None,
        }
    }
}

impl FeederConfig {
    /// `daily_after` as a time (validated by [`Config::validate`]).
    pub fn daily_after_time(&self) -> Result<NaiveTime, ConfigError> {
        NaiveTime::parse_from_str(self.daily_after.trim(), "%H:%M")
            .or_else(|_| NaiveTime::parse_from_str(self.daily_after.trim(), "%H:%M:%S"))
            .map_err(|_| {
                ConfigError::new(
                    "feeder.daily_after",
                    format!("'{}' is not a time of day like 14:30", self.daily_after),
                )
            })
    }

    /// The watchlist as codes (validated by [`Config::validate`]).
    pub fn watchlist_codes(&self) -> Result<Vec<SecurityCode>, ConfigError> {
        self.watchlist
            .iter()
            .map(|c| {
                SecurityCode::new(c.trim())
                    .map_err(|e| ConfigError::new("feeder.watchlist", e.to_string()))
            })
            .collect()
    }
}

/// `[worker]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerSettings {
    /// Also consume the original services' topic `asset.info.view.v1`.
    pub seed_topic: bool,
    /// Copy unusable events to `<topic>.dlq` with the reason in headers.
    pub dead_letters: bool,
    /// Seconds the latest quote of a code stays in the cache. Default 86400.
    pub quote_ttl_secs: u64,
    /// Seconds between checks for changed rules and destinations. Default 5.
    pub refresh_secs: u64,
    /// Seconds a claimed notification stays hidden from other senders. Default 60.
    pub outbox_lease_secs: u64,
    /// Notifications claimed per outbox round. Default 50.
    pub outbox_batch: usize,
    /// Most events of one partition processed as one batch (their data stored in one
    /// write). Default 256.
    pub batch: usize,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        WorkerSettings {
            seed_topic: false,
            dead_letters: false,
            quote_ttl_secs: 86_400,
            refresh_secs: 5,
            outbox_lease_secs: 60,
            outbox_batch: 50,
            batch: 256,
        }
    }
}

/// `[log]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// tracing's filter syntax, e.g. `info` or `experiment_worker=debug`. Default `info`.
    pub filter: String,
    /// One JSON object per line instead of text.
    pub json: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            filter: "info".into(),
            json: false,
        }
    }
}

/// Environment variables with a name of their own (the ones the services always read), and
/// the key each sets. Any key can also be set as `EXPERIMENT_<SECTION>__<KEY>` (double
/// underscores between levels, e.g. `EXPERIMENT_API__RATE_LIMIT_PER_SECOND`).
pub const ENV_ALIASES: &[(&str, &str)] = &[
    ("EXPERIMENT_KAFKA_BROKERS", "bus.brokers"),
    ("EXPERIMENT_TOPIC_PREFIX", "bus.topic_prefix"),
    ("EXPERIMENT_GROUP", "bus.group"),
    ("EXPERIMENT_MONGODB_URI", "store.uri"),
    ("EXPERIMENT_MONGODB_DATABASE", "store.database"),
    ("EXPERIMENT_DATA_DIR", "store.data_dir"),
    ("EXPERIMENT_REDIS_URL", "cache.url"),
    ("EXPERIMENT_REDIS_PREFIX", "cache.prefix"),
    ("EXPERIMENT_LISTEN", "api.listen"),
    ("EXPERIMENT_API_KEYS", "api.keys"),
    ("EXPERIMENT_WATCHLIST", "feeder.watchlist"),
    ("EXPERIMENT_MIS_URL", "feeder.mis_url"),
    ("EXPERIMENT_OPENAPI_URL", "feeder.openapi_url"),
    ("EXPERIMENT_TPEX_OPENAPI_URL", "feeder.tpex_openapi_url"),
    ("EXPERIMENT_LOG", "log.filter"),
];

/// Keys whose environment value is a comma-separated list.
const LIST_KEYS: &[&str] = &["api.keys", "feeder.watchlist"];

/// Keys that hold secrets (or may: any librdkafka property, any destination field): their
/// values never appear in errors.
const SECRET_KEYS: &[&str] = &[
    "api.keys",
    "store.uri",
    "cache.url",
    "bus.properties",
    "destinations",
];

/// The variable naming the configuration file.
pub const CONFIG_ENV: &str = "EXPERIMENT_CONFIG";

impl Config {
    /// Reads `path` (when given), applies the `EXPERIMENT_*` variables of this process and
    /// validates the result.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the file and key at fault.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let text = match path {
            Some(p) => std::fs::read_to_string(p).map_err(|e| ConfigError {
                key: "file".into(),
                message: format!("cannot read it: {e}"),
                origin: Origin::File(p.to_owned()),
            })?,
            None => String::new(),
        };
        Config::from_toml_str(&text, std::env::vars()).map_err(|mut e| {
            if let Some(p) = path {
                if e.origin == Origin::Config && !e.key.starts_with("EXPERIMENT_") {
                    e.origin = Origin::File(p.to_owned());
                }
            }
            e
        })
    }

    /// Parses TOML text, applies the given environment (name, value) pairs, and validates.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the key at fault.
    pub fn from_toml_str(
        text: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut root: toml::Table = toml::from_str(text).map_err(|e: toml::de::Error| {
            ConfigError::new(
                "toml",
                e.message().to_owned()
                    + &e.span()
                        .map(|s| {
                            let line = text[..s.start.min(text.len())].matches('\n').count() + 1;
                            format!(" (line {line})")
                        })
                        .unwrap_or_default(),
            )
        })?;
        let mut env: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("EXPERIMENT_") && k != CONFIG_ENV)
            .collect();
        env.sort();
        let explicit_backend = |root: &toml::Table, section: &str| {
            root.get(section).and_then(|s| s.get("backend")).is_some()
        };
        let (bus_set, store_set, cache_set) = (
            explicit_backend(&root, "bus"),
            explicit_backend(&root, "store"),
            explicit_backend(&root, "cache"),
        );
        for (name, value) in &env {
            let key = match ENV_ALIASES.iter().find(|(n, _)| n == name) {
                Some((_, key)) => (*key).to_owned(),
                None => match name.strip_prefix("EXPERIMENT_") {
                    Some(rest) if rest.contains("__") => rest
                        .split("__")
                        .map(str::to_lowercase)
                        .collect::<Vec<_>>()
                        .join("."),
                    // Other EXPERIMENT_ variables belong to tests and tools.
                    _ => continue,
                },
            };
            if let Some(property) = key.strip_prefix("bus.properties.") {
                // librdkafka's names have dots, which variable names cannot: `SASL_USERNAME`
                // is `sasl.username`. Values stay text (a password of digits is no number).
                let property = property.replace('_', ".");
                let props = root
                    .entry("bus")
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                    .as_table_mut()
                    .and_then(|bus| {
                        bus.entry("properties")
                            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                            .as_table_mut()
                    })
                    .ok_or_else(|| {
                        ConfigError::new(name.clone(), "bus.properties is not a table")
                    })?;
                props.insert(property, toml::Value::String(value.clone()));
                continue;
            }
            set_key(&mut root, &key, env_value(&key, value))
                .map_err(|m| ConfigError::new(name.clone(), m))?;
        }
        // A connection string alone picks its backend, unless the backend was chosen.
        let env_has = |n: &str| env.iter().any(|(k, _)| k == n);
        for (section, key, backend, chosen, chosen_env) in [
            (
                "bus",
                "brokers",
                "kafka",
                bus_set,
                "EXPERIMENT_BUS__BACKEND",
            ),
            (
                "store",
                "uri",
                "mongodb",
                store_set,
                "EXPERIMENT_STORE__BACKEND",
            ),
            (
                "cache",
                "url",
                "redis",
                cache_set,
                "EXPERIMENT_CACHE__BACKEND",
            ),
        ] {
            let has_value = root
                .get(section)
                .and_then(|s| s.get(key))
                .and_then(|v| v.as_str())
                .is_some_and(|v| !v.trim().is_empty());
            if has_value && !chosen && !env_has(chosen_env) {
                set_key(&mut root, &format!("{section}.backend"), backend.into())
                    .map_err(|m| ConfigError::new(format!("{section}.backend"), m))?;
            }
        }
        let config: Config =
            serde_path_to_error::deserialize(toml::Value::Table(root)).map_err(|e| {
                let key = e.path().to_string();
                let key = if key == "." { "config".to_owned() } else { key };
                let mut message = e.into_inner().message().to_owned();
                if SECRET_KEYS.iter().any(|s| key.starts_with(s)) {
                    message = "has the wrong type".into();
                }
                ConfigError::new(key, message)
            })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what serde cannot: required keys of the chosen backends, names, ranges.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let need = |key: &str, v: &Option<String>, why: &str| match v {
            Some(s) if !s.trim().is_empty() => Ok(()),
            _ => Err(ConfigError::new(key, format!("required {why}"))),
        };
        if self.bus.backend == BusBackend::Kafka {
            need(
                "bus.brokers",
                &self.bus.brokers,
                "when bus.backend = \"kafka\" (host:port, comma separated)",
            )?;
        }
        if !self.bus.topic_prefix.is_empty() {
            experiment_core::bus::validate_topic(&format!("{}x", self.bus.topic_prefix))
                .map_err(|e| ConfigError::new("bus.topic_prefix", e.to_string()))?;
        }
        experiment_core::bus::validate_group(&self.bus.group)
            .map_err(|e| ConfigError::new("bus.group", e.to_string()))?;
        if self.bus.partitions == 0 {
            return Err(ConfigError::new("bus.partitions", "must be at least 1"));
        }
        if self.bus.replication < 1 && self.bus.replication != -1 {
            return Err(ConfigError::new(
                "bus.replication",
                "must be at least 1, or -1 for the broker's default",
            ));
        }
        if self.store.backend == StoreBackend::Mongodb {
            need(
                "store.uri",
                &self.store.uri,
                "when store.backend = \"mongodb\" (mongodb://host:port)",
            )?;
        }
        if self.store.backend == StoreBackend::Embedded
            && self.store.data_dir.as_os_str().is_empty()
        {
            return Err(ConfigError::new("store.data_dir", "must not be empty"));
        }
        if self.cache.backend == CacheBackend::Redis {
            need(
                "cache.url",
                &self.cache.url,
                "when cache.backend = \"redis\" (redis://host:port/)",
            )?;
        }
        let api = &self.api;
        if !(api.rate_limit_per_second.is_finite() && api.rate_limit_per_second >= 0.0) {
            return Err(ConfigError::new(
                "api.rate_limit_per_second",
                "must be a number >= 0 (0 turns the limit off)",
            ));
        }
        if api.rate_limit_per_second > 0.0 && api.rate_limit_burst == 0 {
            return Err(ConfigError::new(
                "api.rate_limit_burst",
                "must be at least 1",
            ));
        }
        if api.body_limit_bytes == 0 {
            return Err(ConfigError::new("api.body_limit_bytes", "must be positive"));
        }
        if api.request_timeout_secs == 0 {
            return Err(ConfigError::new(
                "api.request_timeout_secs",
                "must be positive",
            ));
        }
        if api.stream_keepalive_secs == 0 {
            return Err(ConfigError::new(
                "api.stream_keepalive_secs",
                "must be positive",
            ));
        }
        if let Some(i) = api.keys.iter().position(|k| k.trim().len() < 16) {
            return Err(ConfigError::new(
                format!("api.keys[{i}]"),
                "an API key must be at least 16 characters (generate one with `openssl rand -hex 32`)",
            ));
        }
        self.feeder.daily_after_time()?;
        self.feeder.watchlist_codes()?;
        if self.worker.refresh_secs == 0 {
            return Err(ConfigError::new("worker.refresh_secs", "must be positive"));
        }
        if self.worker.outbox_lease_secs == 0 {
            return Err(ConfigError::new(
                "worker.outbox_lease_secs",
                "must be positive",
            ));
        }
        if !(1..=10_000).contains(&self.worker.outbox_batch) {
            return Err(ConfigError::new(
                "worker.outbox_batch",
                "must be 1 to 10000",
            ));
        }
        if !(1..=100_000).contains(&self.worker.batch) {
            return Err(ConfigError::new("worker.batch", "must be 1 to 100000"));
        }
        if self.worker.quote_ttl_secs == 0 {
            return Err(ConfigError::new(
                "worker.quote_ttl_secs",
                "must be positive",
            ));
        }
        tracing_subscriber::EnvFilter::try_new(&self.log.filter)
            .map_err(|e| ConfigError::new("log.filter", e.to_string()))?;
        let mut names = HashSet::new();
        for (i, d) in self.destinations.iter().enumerate() {
            d.build()
                .map_err(|e| ConfigError::new(format!("destinations[{i}]"), e.to_string()))?;
            if !names.insert(d.name.clone()) {
                return Err(ConfigError::new(
                    format!("destinations[{i}].name"),
                    format!("'{}' is used by another destination", d.name),
                ));
            }
        }
        Ok(())
    }
}

/// An environment value as TOML: lists split at commas for list keys, numbers and booleans
/// as such where they parse, text otherwise.
fn env_value(key: &str, value: &str) -> toml::Value {
    if LIST_KEYS.contains(&key) {
        return toml::Value::Array(
            value
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.to_owned()))
                .collect(),
        );
    }
    let v = value.trim();
    if let Ok(b) = v.parse::<bool>() {
        return toml::Value::Boolean(b);
    }
    if let Ok(i) = v.parse::<i64>() {
        return toml::Value::Integer(i);
    }
    if v.contains('.') && !v.contains(':') {
        if let Ok(f) = v.parse::<f64>() {
            return toml::Value::Float(f);
        }
    }
    toml::Value::String(value.to_owned())
}

fn set_key(root: &mut toml::Table, key: &str, value: toml::Value) -> Result<(), String> {
    let mut parts: Vec<&str> = key.split('.').collect();
    let last = parts.pop().ok_or("empty key")?;
    let mut table = root;
    for p in parts {
        let entry = table
            .entry(p.to_owned())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        table = entry
            .as_table_mut()
            .ok_or_else(|| format!("'{p}' is not a table"))?;
    }
    // Text into a key the file holds as a number (or the reverse) is the file's type: keep
    // numbers that merely look like text, e.g. a group called "123".
    let value = match (table.get(last), value) {
        (Some(toml::Value::String(_)), toml::Value::Integer(i)) => {
            toml::Value::String(i.to_string())
        }
        (_, v) => v,
    };
    table.insert(last.to_owned(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_are_the_embedded_ones() {
        let c = Config::from_toml_str("", env(&[])).unwrap();
        assert_eq!(c.bus.backend, BusBackend::Memory);
        assert_eq!(c.store.backend, StoreBackend::Embedded);
        assert_eq!(c.cache.backend, CacheBackend::Memory);
        assert_eq!(c.api.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.api.body_limit_bytes, 1 << 20);
        assert_eq!(c.bus.group, "experiment-workers");
    }

    #[test]
    fn environment_overrides_the_file_and_picks_backends() {
        let file = r#"
            [api]
            listen = "127.0.0.1:9000"
            protect_reads = false
            [bus]
            topic_prefix = "file."
        "#;
        let c = Config::from_toml_str(
            file,
            env(&[
                ("EXPERIMENT_LISTEN", "0.0.0.0:8081"),
                ("EXPERIMENT_API__PROTECT_READS", "true"),
                (
                    "EXPERIMENT_API_KEYS",
                    "0123456789abcdef0123, fedcba9876543210fedc",
                ),
                ("EXPERIMENT_KAFKA_BROKERS", "127.0.0.1:9092"),
                ("EXPERIMENT_MONGODB_URI", "mongodb://u:p@127.0.0.1:27017/"),
                ("EXPERIMENT_API__RATE_LIMIT_PER_SECOND", "2.5"),
                ("EXPERIMENT_TEST_REQUIRE", "kafka"),
            ]),
        )
        .unwrap();
        assert_eq!(c.api.listen.to_string(), "0.0.0.0:8081");
        assert!(c.api.protect_reads);
        assert_eq!(c.api.keys.len(), 2);
        assert_eq!(c.api.rate_limit_per_second, 2.5);
        assert_eq!(c.bus.backend, BusBackend::Kafka, "brokers alone pick kafka");
        assert_eq!(c.bus.topic_prefix, "file.");
        assert_eq!(c.store.backend, StoreBackend::Mongodb);
        assert!(!format!("{c:?}").contains("u:p@"), "no secret in Debug");
        assert!(
            !format!("{c:?}").contains("0123456789abcdef"),
            "no key in Debug"
        );
    }

    #[test]
    fn an_explicit_backend_wins_over_a_connection_string() {
        let c = Config::from_toml_str(
            "[store]\nbackend = \"memory\"",
            env(&[("EXPERIMENT_MONGODB_URI", "mongodb://127.0.0.1/")]),
        )
        .unwrap();
        assert_eq!(c.store.backend, StoreBackend::Memory);
    }

    #[test]
    fn errors_name_the_key() {
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
        let cases: &[Case<'_>] = &[
            ("[api]\nlisten = \"nowhere\"", &[], "api.listen"),
            ("[api]\nlistne = \"127.0.0.1:1\"", &[], "unknown field `listne`"),
            ("[bus]\nbackend = \"kafka\"", &[], "bus.brokers: required"),
            ("[store]\nbackend = \"postgres\"", &[], "store.backend"),
            ("[api]\nkeys = [\"short\"]", &[], "api.keys[0]"),
            ("[feeder]\ndaily_after = \"25:00\"", &[], "feeder.daily_after"),
            ("[feeder]\nwatchlist = [\"23 30\"]", &[], "feeder.watchlist"),
            ("", &[("EXPERIMENT_LISTEN", "bad")], "api.listen"),
            ("[[destinations]]\nname = \"s\"\nkind = \"slack_webhook\"", &[], "destinations[0]"),
            (
                "[[destinations]]\nname = \"c\"\nkind = \"console\"\n[[destinations]]\nname = \"c\"\nkind = \"console\"",
                &[],
                "destinations[1].name",
            ),
            ("[api\n", &[], "toml"),
        ];
        for (file, e, want) in cases {
            let err = Config::from_toml_str(file, env(e)).unwrap_err().to_string();
            assert!(err.contains(want), "{file:?}: {err}");
        }
    }

    #[test]
    fn librdkafka_properties_come_from_the_environment_as_text() {
        let c = Config::from_toml_str(
            "[bus.properties]\n\"security.protocol\" = \"SASL_SSL\"",
            env(&[("EXPERIMENT_BUS__PROPERTIES__SASL_PASSWORD", "123456")]),
        )
        .unwrap();
        assert_eq!(c.bus.properties["sasl.password"], "123456");
        assert_eq!(
            c.bus.properties["security.protocol"], "SASL_SSL",
            "the file's stay"
        );
        assert!(!format!("{:?}", c.bus).contains("123456"));
        let err = Config::from_toml_str("[bus.properties]\n\"sasl.password\" = 123456", env(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("bus.properties") && !err.contains("123456"),
            "{err}"
        );
    }

    #[test]
    fn a_secret_never_shows_in_an_error() {
        let err = Config::from_toml_str("", env(&[("EXPERIMENT_API_KEYS", "tiny-secret")]))
            .unwrap_err()
            .to_string();
        assert!(!err.contains("tiny-secret"), "{err}");
    }

    #[test]
    fn a_file_error_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("experiment.toml");
        std::fs::write(&path, "[api]\nbody_limit_bytes = 0\n").unwrap();
        let err = Config::load(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("experiment.toml"), "{err}");
        assert!(err.contains("api.body_limit_bytes"), "{err}");
        let err = Config::load(Some(&dir.path().join("missing.toml")))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("missing.toml") && err.contains("cannot read"),
            "{err}"
        );
    }
}
