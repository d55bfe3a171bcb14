//! The HTTP client: one polite, retrying, block-aware client for every TWSE/TPEx endpoint.
//!
//! - **Politeness**: a rate limiter per host, shared by every client of that host in the
//!   process; by default one request per 2.5 s to `www.twse.com.tw` and TPEx, one MIS batch per
//!   5 s, one OpenAPI request per second. TWSE bans IPs polling faster than about 3 requests
//!   per 5 s.
//! - **Retries**: transient failures only (5xx, 429, timeouts, connection errors), with
//!   exponential backoff and jitter; a 4xx is returned at once.
//! - **Blocks**: the exchange's security page (HTML served with 200 or 307) becomes
//!   [`Error::Blocked`]; the host is then left alone for `block_backoff_secs` (15 min by
//!   default): calls in that window fail at once without a request. Never a tight retry loop.
//! - **MIS**: the session cookie is primed from `stock/index.jsp` before the first
//!   `getStockInfo.jsp`; many channels go in one request (`|`-joined, `mis_batch` per request).
//! - **TLS**: extra root certificates (PEM files) can be added; the TWSE chain has tripped
//!   clients whose root store lacks its intermediate.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{Datelike, NaiveDate, Utc};
use experiment_core::limit::{Rate, RateLimiter};
use experiment_core::model::{DailyBar, Exchange, Quote, Security, SecurityCode};
use serde::Deserialize;
use tokio::time::Instant;

use crate::model::{CalendarDay, Institutional, Valuation};
use crate::parse::{self, check_block_page, Board, Parsed};
use crate::{Error, Result};

/// Where the endpoints live and how politely to call them. Every field has a default; a TOML
/// table with unknown keys is rejected.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TwseConfig {
    /// MIS real-time base. Default `https://mis.twse.com.tw`.
    pub mis_url: String,
    /// TWSE OpenAPI base. Default `https://openapi.twse.com.tw/v1`.
    pub openapi_url: String,
    /// Classic site base. Default `https://www.twse.com.tw`.
    pub twse_url: String,
    /// TPEx site base. Default `https://www.tpex.org.tw`.
    pub tpex_url: String,
    /// TPEx OpenAPI base. Default `https://www.tpex.org.tw/openapi/v1`.
    pub tpex_openapi_url: String,
    /// Seconds between two MIS requests. Default 5.
    pub mis_interval_secs: f64,
    /// Seconds between two OpenAPI requests (TWSE and TPEx). Default 1.
    pub openapi_interval_secs: f64,
    /// Seconds between two requests to the classic site. Default 2.5.
    pub twse_interval_secs: f64,
    /// Seconds between two requests to the TPEx site. Default 2.5.
    pub tpex_interval_secs: f64,
    /// Retries of a transient failure. Default 3.
    pub retries: u32,
    /// First backoff after a transient failure, in milliseconds; doubles each retry. Default 1000.
    pub backoff_ms: u64,
    /// How long to leave a host alone after its block page, in seconds. Default 900.
    pub block_backoff_secs: u64,
    /// Request timeout in seconds. Default 15.
    pub timeout_secs: f64,
    /// Channels per MIS request. Default 50.
    pub mis_batch: usize,
    /// Extra root certificates (PEM files) to trust.
    pub extra_root_certs: Vec<PathBuf>,
}

impl Default for TwseConfig {
    fn default() -> Self {
        TwseConfig {
            mis_url: "https://mis.twse.com.tw".into(),
            openapi_url: "https://openapi.twse.com.tw/v1".into(),
            twse_url: "https://www.twse.com.tw".into(),
            tpex_url: "https://www.tpex.org.tw".into(),
            tpex_openapi_url: "https://www.tpex.org.tw/openapi/v1".into(),
            mis_interval_secs: 5.0,
            openapi_interval_secs: 1.0,
            twse_interval_secs: 2.5,
            tpex_interval_secs: 2.5,
            retries: 3,
            backoff_ms: 1000,
            block_backoff_secs: 900,
            timeout_secs: 15.0,
            mis_batch: 50,
            extra_root_certs: Vec::new(),
        }
    }
}

/// A MIS channel: exchange and code, written `tse_2330.tw` on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Channel {
    /// Exchange.
    pub exchange: Exchange,
    /// Code (`2330`, or an index such as `t00`).
    pub code: SecurityCode,
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ex = match self.exchange {
            Exchange::Twse => "tse",
            Exchange::Tpex => "otc",
        };
        write!(f, "{ex}_{}.tw", self.code)
    }
}

impl Channel {
    /// Both channels a bare code may be on; MIS answers only for the one that exists.
    pub fn both(code: &SecurityCode) -> [Channel; 2] {
        [
            Channel {
                exchange: Exchange::Twse,
                code: code.clone(),
            },
            Channel {
                exchange: Exchange::Tpex,
                code: code.clone(),
            },
        ]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Host {
    Mis,
    OpenApi,
    Twse,
    Tpex,
    TpexOpenApi,
}

/// The TWSE/TPEx client. Cheap to clone; clones share cookies, limits and block state.
#[derive(Clone)]
pub struct TwseClient {
    config: Arc<TwseConfig>,
    http: reqwest::Client,
    limiters: Arc<HashMap<Host, Arc<RateLimiter>>>,
    blocked: Arc<Mutex<HashMap<Host, Instant>>>,
    mis_primed: Arc<tokio::sync::Mutex<bool>>,
    /// Which market each code was last seen on (MIS answers, daily lists, history months),
    /// so later calls ask that market only.
    markets: Arc<Mutex<HashMap<SecurityCode, Exchange>>>,
}

impl fmt::Debug for TwseClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwseClient")
            .field("config", &self.config)
            .finish()
    }
}

fn rate(interval_secs: f64, burst: u32) -> Rate {
    Rate {
        per_second: 1.0 / interval_secs.max(0.001),
        burst,
    }
}

impl TwseClient {
    /// Builds a client.
    ///
    /// # Errors
    /// [`Error::Config`] for a base URL that is not http(s), a non-positive interval or
    /// timeout, or a certificate file that cannot be read or parsed (the message names it).
    pub fn new(config: TwseConfig) -> Result<Self> {
        let urls = [
            ("mis_url", &config.mis_url),
            ("openapi_url", &config.openapi_url),
            ("twse_url", &config.twse_url),
            ("tpex_url", &config.tpex_url),
            ("tpex_openapi_url", &config.tpex_openapi_url),
        ];
        for (name, url) in urls {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(Error::Config(format!(
                    "{name} '{url}' must start with http:// or https://"
                )));
            }
        }
        let secs = [
            ("mis_interval_secs", config.mis_interval_secs),
            ("openapi_interval_secs", config.openapi_interval_secs),
            ("twse_interval_secs", config.twse_interval_secs),
            ("tpex_interval_secs", config.tpex_interval_secs),
            ("timeout_secs", config.timeout_secs),
        ];
        for (name, v) in secs {
            if !(v.is_finite() && v > 0.0) {
                return Err(Error::Config(format!("{name} must be positive, got {v}")));
            }
        }
        if config.mis_batch == 0 {
            return Err(Error::Config("mis_batch must be at least 1".into()));
        }
        let mut builder = reqwest::Client::builder()
            .cookie_store(true)
            .timeout(Duration::from_secs_f64(config.timeout_secs))
            // Redirects are answers here: the block page comes as a 307 without a Location.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("experiment-twse/", env!("CARGO_PKG_VERSION")));
        for path in &config.extra_root_certs {
            let pem = std::fs::read(path).map_err(|e| {
                Error::Config(format!("reading certificate {}: {e}", path.display()))
            })?;
            let cert = reqwest::Certificate::from_pem(&pem)
                .map_err(|e| Error::Config(format!("certificate {}: {e}", path.display())))?;
            builder = builder.add_root_certificate(cert);
        }
        let http = builder.build().map_err(|e| Error::Config(e.to_string()))?;
        let limiter = |base: &str, interval: f64, burst: u32| {
            RateLimiter::shared(&format!("twse-host:{base}"), rate(interval, burst))
        };
        let limiters = HashMap::from([
            // A burst of two lets the session priming and the first batch go together (TWSE
            // tolerates about 3 requests per 5 s); the sustained rate stays one per interval.
            (
                Host::Mis,
                limiter(&config.mis_url, config.mis_interval_secs, 2),
            ),
            (
                Host::OpenApi,
                limiter(&config.openapi_url, config.openapi_interval_secs, 1),
            ),
            (
                Host::Twse,
                limiter(&config.twse_url, config.twse_interval_secs, 1),
            ),
            (
                Host::Tpex,
                limiter(&config.tpex_url, config.tpex_interval_secs, 1),
            ),
            (
                Host::TpexOpenApi,
                limiter(&config.tpex_openapi_url, config.openapi_interval_secs, 1),
            ),
        ]);
        Ok(TwseClient {
            config: Arc::new(config),
            http,
            limiters: Arc::new(limiters),
            blocked: Arc::default(),
            mis_primed: Arc::default(),
            markets: Arc::default(),
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &TwseConfig {
        &self.config
    }

    /// The market `code` was last seen on by this client (or a clone), if any: every MIS
    /// answer, all-market daily list and history month teaches it.
    pub fn known_exchange(&self, code: &SecurityCode) -> Option<Exchange> {
        self.markets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(code)
            .copied()
    }

    /// Records that `code` trades on `exchange` (e.g. from a code list the caller holds).
    pub fn remember_exchange(&self, code: &SecurityCode, exchange: Exchange) {
        self.markets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(code.clone(), exchange);
    }

    fn remember_all<'a>(
        &self,
        exchange: Exchange,
        codes: impl IntoIterator<Item = &'a SecurityCode>,
    ) {
        let mut markets = self.markets.lock().unwrap_or_else(|p| p.into_inner());
        for code in codes {
            markets.insert(code.clone(), exchange);
        }
    }

    fn base(&self, host: Host) -> &str {
        let c = &self.config;
        match host {
            Host::Mis => &c.mis_url,
            Host::OpenApi => &c.openapi_url,
            Host::Twse => &c.twse_url,
            Host::Tpex => &c.tpex_url,
            Host::TpexOpenApi => &c.tpex_openapi_url,
        }
        .trim_end_matches('/')
    }

    fn blocked_for(&self, host: Host) -> Option<Duration> {
        let blocked = self.blocked.lock().unwrap_or_else(|p| p.into_inner());
        blocked
            .get(&host)
            .and_then(|until| until.checked_duration_since(Instant::now()))
    }

    fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let base =
            Duration::from_millis(self.config.backoff_ms).saturating_mul(1 << attempt.min(10));
        // Jitter from the clock's low bits: no shared state, good enough to de-synchronise.
        let jitter = base.mul_f64(f64::from(Utc::now().timestamp_subsec_micros() % 250) / 1000.0);
        (base + jitter).max(retry_after.unwrap_or_default())
    }

    /// GETs `path_and_query` from `host` politely; returns the body of a 200.
    async fn get(&self, host: Host, endpoint: &str, path_and_query: &str) -> Result<Vec<u8>> {
        let url = format!("{}{path_and_query}", self.base(host));
        let mut attempt = 0;
        loop {
            if let Some(left) = self.blocked_for(host) {
                return Err(Error::Blocked {
                    endpoint: endpoint.to_owned(),
                    code: "backing off after an earlier block".into(),
                    backoff: left,
                });
            }
            self.limiters[&host].acquire().await;
            let transient = match self.http.get(&url).send().await {
                Err(e) => Error::Transport {
                    endpoint: endpoint.to_owned(),
                    source: e.without_url(),
                },
                Ok(resp) => {
                    let status = resp.status();
                    let retry_after = resp
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(experiment_core::limit::server_delay_text);
                    let body = resp.bytes().await.map_err(|e| Error::Transport {
                        endpoint: endpoint.to_owned(),
                        source: e.without_url(),
                    })?;
                    if status.is_success() || status.is_redirection() {
                        // Only the block page stops here; other HTML (MIS's index.jsp) is the
                        // parser's business.
                        if let Err(Error::Blocked { code, .. }) = check_block_page(endpoint, &body)
                        {
                            let backoff = Duration::from_secs(self.config.block_backoff_secs);
                            self.blocked
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .insert(host, Instant::now() + backoff);
                            tracing::error!(endpoint, %code, backoff_secs = self.config.block_backoff_secs, "blocked by the exchange's security filter; backing off");
                            return Err(Error::Blocked {
                                endpoint: endpoint.to_owned(),
                                code,
                                backoff,
                            });
                        }
                        if status.is_success() {
                            return Ok(body.to_vec());
                        }
                    }
                    let e = Error::Http {
                        endpoint: endpoint.to_owned(),
                        status: status.as_u16(),
                    };
                    if !e.is_transient() {
                        return Err(e);
                    }
                    if attempt < self.config.retries {
                        let wait = self.backoff(attempt, retry_after);
                        tracing::warn!(
                            endpoint,
                            status = status.as_u16(),
                            ?wait,
                            "transient HTTP error; retrying"
                        );
                        tokio::time::sleep(wait).await;
                        attempt += 1;
                        continue;
                    }
                    e
                }
            };
            if attempt >= self.config.retries {
                return Err(transient);
            }
            let wait = self.backoff(attempt, None);
            tracing::warn!(endpoint, error = %transient, ?wait, "request failed; retrying");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    async fn prime_mis(&self, force: bool) -> Result<()> {
        let mut primed = self.mis_primed.lock().await;
        if *primed && !force {
            return Ok(());
        }
        self.get(Host::Mis, "MIS index.jsp", "/stock/index.jsp")
            .await?;
        *primed = true;
        Ok(())
    }

    /// Real-time snapshots for `channels`, in requests of `mis_batch` channels, after priming
    /// the session cookie. Unknown channels are simply absent from the result.
    ///
    /// # Errors
    /// As the underlying requests; a malformed batch fails the call (other batches' quotes are
    /// not returned half-way).
    pub async fn quotes(&self, channels: &[Channel]) -> Result<Parsed<Quote>> {
        self.mis(channels, "getStockInfo.jsp", Board::Regular).await
    }

    /// Intraday odd-lot snapshots (volumes in shares).
    ///
    /// # Errors
    /// As [`TwseClient::quotes`].
    pub async fn odd_lot_quotes(&self, channels: &[Channel]) -> Result<Parsed<Quote>> {
        self.mis(channels, "getOddInfo.jsp", Board::OddLot).await
    }

    /// Real-time snapshots of bare codes: a code whose market is known (see
    /// [`TwseClient::known_exchange`]) is asked on that market only, an unknown one on both
    /// (`tse_` and `otc_`), and the answer teaches the client its market.
    ///
    /// # Errors
    /// As [`TwseClient::quotes`].
    pub async fn quotes_of(&self, codes: &[SecurityCode]) -> Result<Parsed<Quote>> {
        self.quotes(&self.channels_of(codes)).await
    }

    /// [`TwseClient::quotes_of`] on the odd-lot board.
    ///
    /// # Errors
    /// As [`TwseClient::quotes`].
    pub async fn odd_lot_quotes_of(&self, codes: &[SecurityCode]) -> Result<Parsed<Quote>> {
        self.odd_lot_quotes(&self.channels_of(codes)).await
    }

    fn channels_of(&self, codes: &[SecurityCode]) -> Vec<Channel> {
        codes
            .iter()
            .flat_map(|code| match self.known_exchange(code) {
                Some(exchange) => vec![Channel {
                    exchange,
                    code: code.clone(),
                }],
                None => Channel::both(code).to_vec(),
            })
            .collect()
    }

    async fn mis(&self, channels: &[Channel], page: &str, board: Board) -> Result<Parsed<Quote>> {
        self.prime_mis(false).await?;
        let mut all = Parsed::default();
        for batch in channels.chunks(self.config.mis_batch) {
            let ex_ch = batch
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("|");
            let query = format!(
                "/stock/api/{page}?ex_ch={}&json=1&delay=0&_={}",
                ex_ch.replace('|', "%7C"),
                Utc::now().timestamp_millis()
            );
            let body = self.get(Host::Mis, page, &query).await?;
            let parsed = match parse::quotes(&body, board, Utc::now()) {
                Ok(p) => p,
                Err(Error::Malformed { .. }) => {
                    // An expired session answers with something else than MIS JSON: prime again, once.
                    self.prime_mis(true).await?;
                    let body = self.get(Host::Mis, page, &query).await?;
                    parse::quotes(&body, board, Utc::now())?
                }
                Err(e) => return Err(e),
            };
            all.items.extend(parsed.items);
            all.skipped.extend(parsed.skipped);
        }
        for q in &all.items {
            self.remember_exchange(&q.code, q.exchange);
        }
        Ok(all)
    }

    /// Every listed security's bar for the last trading day (`STOCK_DAY_ALL`). `date` is
    /// needed only if the OpenAPI answers in its older format without dates.
    ///
    /// # Errors
    /// As the request and [`parse::stock_day_all`].
    pub async fn daily_all(&self, date: Option<NaiveDate>) -> Result<Parsed<DailyBar>> {
        let body = self
            .get(
                Host::OpenApi,
                "STOCK_DAY_ALL",
                "/exchangeReport/STOCK_DAY_ALL",
            )
            .await?;
        let parsed = parse::stock_day_all(&body, date)?;
        self.remember_all(Exchange::Twse, parsed.listed.iter().map(|l| &l.code));
        Ok(parsed)
    }

    /// P/E, dividend yield, P/B of every listed security (`BWIBBU_ALL`).
    ///
    /// # Errors
    /// As the request and [`parse::valuations`].
    pub async fn valuations(&self) -> Result<Parsed<Valuation>> {
        let body = self
            .get(Host::OpenApi, "BWIBBU_ALL", "/exchangeReport/BWIBBU_ALL")
            .await?;
        parse::valuations(&body)
    }

    /// Listed company profiles (`opendata/t187ap03_L`).
    ///
    /// # Errors
    /// As the request and [`parse::company_profiles`].
    pub async fn profiles(&self) -> Result<Parsed<Security>> {
        let body = self
            .get(Host::OpenApi, "t187ap03_L", "/opendata/t187ap03_L")
            .await?;
        parse::company_profiles(&body)
    }

    /// The exchange's calendar of closures and special days (`holidaySchedule`).
    ///
    /// # Errors
    /// As the request and [`parse::holidays`].
    pub async fn holidays(&self) -> Result<Parsed<CalendarDay>> {
        let body = self
            .get(
                Host::OpenApi,
                "holidaySchedule",
                "/holidaySchedule/holidaySchedule",
            )
            .await?;
        parse::holidays(&body)
    }

    /// One security's bars for one month (`STOCK_DAY`); `month` is any day of the month.
    ///
    /// # Errors
    /// As the request and [`parse::stock_day`] (a body for another month is `WrongPeriod`,
    /// for another code `WrongSecurity`). TWSE knows listed codes only: for an OTC code
    /// it has no data; [`TwseClient::history_month`] asks the right market.
    pub async fn month_history(
        &self,
        code: &SecurityCode,
        month: NaiveDate,
    ) -> Result<Parsed<DailyBar>> {
        let first = month.with_day(1).unwrap_or(month);
        let query = format!(
            "/rwd/zh/afterTrading/STOCK_DAY?date={}&stockNo={code}&response=json",
            first.format("%Y%m%d")
        );
        let body = self.get(Host::Twse, "STOCK_DAY", &query).await?;
        parse::stock_day(&body, code, first)
    }

    /// Every listed security's bar for `date` (`MI_INDEX`, all but warrants).
    ///
    /// # Errors
    /// As the request and [`parse::mi_index`].
    pub async fn daily_on(&self, date: NaiveDate) -> Result<Parsed<DailyBar>> {
        let query = format!(
            "/rwd/zh/afterTrading/MI_INDEX?date={}&type=ALLBUT0999&response=json",
            date.format("%Y%m%d")
        );
        let body = self.get(Host::Twse, "MI_INDEX", &query).await?;
        let parsed = parse::mi_index(&body, date)?;
        self.remember_all(Exchange::Twse, parsed.listed.iter().map(|l| &l.code));
        Ok(parsed)
    }

    /// Institutional investors' net buying on `date` (`fund/T86`).
    ///
    /// # Errors
    /// As the request and [`parse::institutional`].
    pub async fn institutional(&self, date: NaiveDate) -> Result<Parsed<Institutional>> {
        let query = format!(
            "/rwd/zh/fund/T86?date={}&selectType=ALLBUT0999&response=json",
            date.format("%Y%m%d")
        );
        let body = self.get(Host::Twse, "T86", &query).await?;
        parse::institutional(&body, date)
    }

    /// Every OTC security's bar for `date` (TPEx `dailyQuotes`).
    ///
    /// # Errors
    /// As the request and [`parse::tpex_daily_quotes`].
    pub async fn tpex_daily_on(&self, date: NaiveDate) -> Result<Parsed<DailyBar>> {
        let query = format!(
            "/www/zh-tw/afterTrading/dailyQuotes?date={}&response=json",
            date.format("%Y/%m/%d")
        );
        let body = self.get(Host::Tpex, "tpex dailyQuotes", &query).await?;
        let parsed = parse::tpex_daily_quotes(&body, date)?;
        self.remember_all(Exchange::Tpex, parsed.listed.iter().map(|l| &l.code));
        Ok(parsed)
    }

    /// Every OTC security's bar for the last trading day (TPEx OpenAPI).
    ///
    /// # Errors
    /// As the request and [`parse::tpex_openapi_daily_quotes`].
    pub async fn tpex_daily_all(&self) -> Result<Parsed<DailyBar>> {
        let body = self
            .get(
                Host::TpexOpenApi,
                "tpex_mainboard_daily_close_quotes",
                "/tpex_mainboard_daily_close_quotes",
            )
            .await?;
        let parsed = parse::tpex_openapi_daily_quotes(&body)?;
        self.remember_all(Exchange::Tpex, parsed.listed.iter().map(|l| &l.code));
        Ok(parsed)
    }

    /// OTC company profiles (TPEx OpenAPI `mopsfin_t187ap03_O`).
    ///
    /// # Errors
    /// As the request and [`parse::tpex_company_profiles`].
    pub async fn tpex_profiles(&self) -> Result<Parsed<Security>> {
        let body = self
            .get(
                Host::TpexOpenApi,
                "mopsfin_t187ap03_O",
                "/mopsfin_t187ap03_O",
            )
            .await?;
        parse::tpex_company_profiles(&body)
    }

    /// P/E, dividend yield, P/B of every listed stock on `date` (classic `BWIBBU_d`).
    ///
    /// # Errors
    /// As the request and [`parse::valuations_on`].
    pub async fn valuations_on(&self, date: NaiveDate) -> Result<Parsed<Valuation>> {
        let query = format!(
            "/rwd/zh/afterTrading/BWIBBU_d?date={}&selectType=ALL&response=json",
            date.format("%Y%m%d")
        );
        let body = self.get(Host::Twse, "BWIBBU_d", &query).await?;
        parse::valuations_on(&body, date)
    }

    /// P/E, dividend yield, P/B of every OTC stock on the last trading day (TPEx OpenAPI
    /// `tpex_mainboard_peratio_analysis`).
    ///
    /// # Errors
    /// As the request and [`parse::tpex_openapi_valuations`].
    pub async fn tpex_valuations(&self) -> Result<Parsed<Valuation>> {
        let body = self
            .get(
                Host::TpexOpenApi,
                "tpex_mainboard_peratio_analysis",
                "/tpex_mainboard_peratio_analysis",
            )
            .await?;
        parse::tpex_openapi_valuations(&body)
    }

    /// P/E, dividend yield, P/B of every OTC stock on `date` (TPEx `peQryDate`).
    ///
    /// # Errors
    /// As the request and [`parse::tpex_valuations`].
    pub async fn tpex_valuations_on(&self, date: NaiveDate) -> Result<Parsed<Valuation>> {
        let query = format!(
            "/www/zh-tw/afterTrading/peQryDate?date={}&response=json",
            date.format("%Y/%m/%d")
        );
        let body = self.get(Host::Tpex, "tpex peQryDate", &query).await?;
        parse::tpex_valuations(&body, date)
    }

    /// One OTC security's bars for one month (TPEx `st43_result.php`, the legacy per-stock
    /// monthly report; see [`parse::tpex_month_history`] for its units). `month` is any day
    /// of the month.
    ///
    /// TPEx retired this page in its 2024 site change; where it no longer answers, the error
    /// (an HTTP status or a malformed body) names `tpex st43_result`.
    ///
    /// # Errors
    /// As the request and [`parse::tpex_month_history`].
    pub async fn tpex_month_history(
        &self,
        code: &SecurityCode,
        month: NaiveDate,
    ) -> Result<Parsed<DailyBar>> {
        let first = month.with_day(1).unwrap_or(month);
        let query = format!(
            "/web/stock/aftertrading/daily_trading_info/st43_result.php?l=zh-tw&d={}/{}&stkno={code}",
            first.year() - 1911,
            first.month()
        );
        let body = self.get(Host::Tpex, "tpex st43_result", &query).await?;
        parse::tpex_month_history(&body, code, first)
    }

    /// One security's bars for one month, from whichever market has them: TWSE `STOCK_DAY`
    /// for listed codes, TPEx `st43_result` for OTC ones.
    ///
    /// # Which market
    /// Neither exchange says where a code trades, and codes move (many OTC companies later
    /// list on TWSE), so the month is asked where the code was last seen
    /// ([`TwseClient::known_exchange`]; TWSE when unknown). If that market has no data, the
    /// other is asked — except for a code last seen on TWSE, whose empty month is taken as
    /// is (before its listing, a halt) — and whichever answered with bars is remembered.
    /// A body about another code is never relabelled: it is [`Error::WrongSecurity`].
    ///
    /// # Errors
    /// As [`TwseClient::month_history`] and [`TwseClient::tpex_month_history`]. When the
    /// first market has no data and the second fails, the second's error is returned
    /// (for a code last seen on TPEx, the empty month is returned instead).
    pub async fn history_month(
        &self,
        code: &SecurityCode,
        month: NaiveDate,
    ) -> Result<Parsed<DailyBar>> {
        let known = self.known_exchange(code);
        let order = match known {
            Some(Exchange::Tpex) => [Exchange::Tpex, Exchange::Twse],
            _ => [Exchange::Twse, Exchange::Tpex],
        };
        let first = self.month_on(order[0], code, month).await?;
        if !first.items.is_empty() {
            self.remember_exchange(code, order[0]);
            return Ok(first);
        }
        if known == Some(Exchange::Twse) {
            return Ok(first);
        }
        match self.month_on(order[1], code, month).await {
            Ok(second) if !second.items.is_empty() => {
                self.remember_exchange(code, order[1]);
                Ok(second)
            }
            Ok(_) => Ok(first),
            Err(e @ Error::Blocked { .. }) => Err(e),
            Err(_) if known == Some(Exchange::Tpex) => Ok(first),
            Err(e) => Err(e),
        }
    }

    async fn month_on(
        &self,
        exchange: Exchange,
        code: &SecurityCode,
        month: NaiveDate,
    ) -> Result<Parsed<DailyBar>> {
        match exchange {
            Exchange::Twse => self.month_history(code, month).await,
            Exchange::Tpex => self.tpex_month_history(code, month).await,
        }
    }
}
