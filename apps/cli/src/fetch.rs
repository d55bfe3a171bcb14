//! `experiment fetch ...`: the TWSE/TPEx client from the command line.
//!
//! Exit codes: 0 when everything asked for was printed; 1 for an error (bad arguments, a block,
//! an unreachable site, a body about another security or month); 3 for "no data" — the
//! exchange answered, but not for the day, month or code asked (a holiday, an unknown code, an
//! OTC code on a TWSE-only report). What was found is printed first, and stderr says what was
//! missing and why.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context as _};
use chrono::{Datelike, NaiveDate, Utc};
use clap::{Args, Subcommand, ValueEnum};
use experiment_core::memory::{EmbeddedStore, MemoryStore};
use experiment_core::model::{market_date, DailyBar, Exchange, Quote, Security, SecurityCode};
use experiment_core::{Skipped, Store};
use experiment_twse::backfill::{backfill, MonthOutcome};
use experiment_twse::model::{Institutional, Valuation};
use experiment_twse::parse::{Listed, Parsed};
use experiment_twse::{TwseClient, TwseConfig};
use rust_decimal::Decimal;
use serde::Serialize;
use unicode_width::UnicodeWidthStr;

/// The exit code for "the exchange answered, but had no data for what was asked".
pub const EXIT_NO_DATA: i32 = 3;

const OUTPUT: &str = "Output";
const ENDPOINTS: &str = "Endpoints";

/// Output formats.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns for people.
    Table,
    /// JSON (one array) for programs; share counts stay in shares.
    Json,
    /// CSV with a header row, the table's columns.
    Csv,
}

/// Output options every `fetch` subcommand shares (listed under "Output" in `--help`).
/// Each subcommand lists the base URLs it actually calls under "Endpoints".
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// Output format.
    #[arg(long, global = true, value_enum, default_value = "table", help_heading = OUTPUT)]
    pub format: Format,
    /// Shorthand for `--format json`.
    #[arg(long, global = true, conflicts_with = "csv", help_heading = OUTPUT)]
    pub json: bool,
    /// Shorthand for `--format csv`.
    #[arg(long, global = true, help_heading = OUTPUT)]
    pub csv: bool,
    /// Share counts (volumes, institutional buying) in lots (張, 1,000 shares) in the table
    /// and CSV; JSON keeps shares.
    #[arg(long, global = true, help_heading = OUTPUT)]
    pub lots: bool,
    /// List every skipped row (untraded securities, broken rows) instead of one summary line.
    #[arg(long, global = true, help_heading = OUTPUT)]
    pub verbose: bool,
    /// What to fetch.
    #[command(subcommand)]
    pub command: FetchCommand,
}

/// MIS base URL.
#[derive(Debug, Args)]
pub struct MisUrl {
    /// MIS base URL (real-time quotes) [default: https://mis.twse.com.tw].
    #[arg(long, env = "EXPERIMENT_MIS_URL", help_heading = ENDPOINTS)]
    pub mis_url: Option<String>,
}

/// TWSE OpenAPI base URL.
#[derive(Debug, Args)]
pub struct OpenApiUrl {
    /// TWSE OpenAPI base URL [default: https://openapi.twse.com.tw/v1].
    #[arg(long, env = "EXPERIMENT_OPENAPI_URL", help_heading = ENDPOINTS)]
    pub openapi_url: Option<String>,
}

/// TWSE classic site base URL.
#[derive(Debug, Args)]
pub struct TwseUrl {
    /// TWSE classic site base URL [default: https://www.twse.com.tw].
    #[arg(long, env = "EXPERIMENT_TWSE_URL", help_heading = ENDPOINTS)]
    pub twse_url: Option<String>,
}

/// TPEx site base URL.
#[derive(Debug, Args)]
pub struct TpexUrl {
    /// TPEx site base URL [default: https://www.tpex.org.tw].
    #[arg(long, env = "EXPERIMENT_TPEX_URL", help_heading = ENDPOINTS)]
    pub tpex_url: Option<String>,
}

/// TPEx OpenAPI base URL.
#[derive(Debug, Args)]
pub struct TpexOpenApiUrl {
    /// TPEx OpenAPI base URL [default: https://www.tpex.org.tw/openapi/v1].
    #[arg(long, env = "EXPERIMENT_TPEX_OPENAPI_URL", help_heading = ENDPOINTS)]
    pub tpex_openapi_url: Option<String>,
}

fn set(given: &Option<String>, field: &mut String) {
    if let Some(url) = given {
        field.clone_from(url);
    }
}

/// Markets.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Market {
    /// Listed (上市).
    Twse,
    /// Over the counter (上櫃).
    Tpex,
}

/// `experiment fetch` subcommands.
#[derive(Debug, Subcommand)]
pub enum FetchCommand {
    /// Real-time snapshots (MIS) of codes, listed or OTC (indices too, e.g. t00).
    Quote {
        /// Security codes, e.g. 2330 6547.
        #[arg(required = true)]
        codes: Vec<String>,
        /// Odd-lot board instead of the regular board.
        #[arg(long)]
        odd: bool,
        /// Where MIS is.
        #[command(flatten)]
        mis: MisUrl,
    },
    /// Every security's bar for a day (code, name, prices, the exchange's change, volume):
    /// the latest from the OpenAPI, or `--date` from the classic site (TWSE MI_INDEX, TPEx
    /// dailyQuotes). Untraded securities are summed up in one line on stderr.
    Daily {
        /// Only these codes, e.g. 2330 2317.
        codes: Vec<String>,
        /// Which market.
        #[arg(long, value_enum, default_value = "twse")]
        market: Market,
        /// Trading date (YYYY-MM-DD); default: the latest.
        #[arg(long)]
        date: Option<NaiveDate>,
        /// Where the TWSE OpenAPI is.
        #[command(flatten)]
        openapi: OpenApiUrl,
        /// Where the TWSE classic site is.
        #[command(flatten)]
        twse: TwseUrl,
        /// Where the TPEx site is.
        #[command(flatten)]
        tpex: TpexUrl,
        /// Where the TPEx OpenAPI is.
        #[command(flatten)]
        tpex_openapi: TpexOpenApiUrl,
    },
    /// One security's daily bars month by month (polite: about 2.5 s per month), kept in
    /// `--data-dir` when given so an interrupted backfill resumes. Listed codes come from
    /// TWSE STOCK_DAY, OTC codes from TPEx's per-stock monthly report: a month TWSE has no
    /// data for is asked of TPEx, and the market that answered is used from then on. A body
    /// about another code is an error, never relabelled.
    History {
        /// Security code.
        code: String,
        /// First month, YYYY-MM.
        #[arg(long)]
        from: String,
        /// Last month, YYYY-MM.
        #[arg(long)]
        to: String,
        /// Store the bars in this directory (embedded database) and skip months already there.
        #[arg(long, env = "EXPERIMENT_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// Where the TWSE classic site is.
        #[command(flatten)]
        twse: TwseUrl,
        /// Where the TPEx site is.
        #[command(flatten)]
        tpex: TpexUrl,
    },
    /// A company's profile: TWSE-listed (OpenAPI t187ap03_L), else OTC (TPEx
    /// mopsfin_t187ap03_O). Industries by name.
    Profile {
        /// Security code.
        code: String,
        /// Where the TWSE OpenAPI is.
        #[command(flatten)]
        openapi: OpenApiUrl,
        /// Where the TPEx OpenAPI is.
        #[command(flatten)]
        tpex_openapi: TpexOpenApiUrl,
    },
    /// The exchange's calendar: closures and special trading days.
    Holidays {
        /// Where the TWSE OpenAPI is.
        #[command(flatten)]
        openapi: OpenApiUrl,
    },
    /// Institutional investors' buying and selling (T86) on a day: foreign, foreign
    /// dealers, investment trusts, dealers (own account and hedging). TWSE-listed
    /// securities only: T86 does not cover OTC codes.
    Institutional {
        /// Trading date (YYYY-MM-DD); default: the latest day T86 has data for.
        #[arg(long)]
        date: Option<NaiveDate>,
        /// Only these codes.
        codes: Vec<String>,
        /// Where the TWSE classic site is.
        #[command(flatten)]
        twse: TwseUrl,
    },
    /// Find securities by code or name in the latest daily lists of TWSE and TPEx:
    /// `fetch codes 台積`, `fetch codes 23` (codes starting with 23). No query lists all.
    Codes {
        /// Code prefixes or parts of names; a security matching any is listed.
        query: Vec<String>,
        /// Only this market (default: both).
        #[arg(long, value_enum)]
        market: Option<Market>,
        /// Where the TWSE OpenAPI is.
        #[command(flatten)]
        openapi: OpenApiUrl,
        /// Where the TPEx OpenAPI is.
        #[command(flatten)]
        tpex_openapi: TpexOpenApiUrl,
    },
    /// Valuations: P/E, dividend yield (%) and P/B. Latest from the OpenAPIs (TWSE
    /// BWIBBU_ALL, TPEx peratio), or `--date` from TWSE BWIBBU_d and TPEx peQryDate.
    Valuations {
        /// Only these codes.
        codes: Vec<String>,
        /// Trading date (YYYY-MM-DD); default: the latest.
        #[arg(long)]
        date: Option<NaiveDate>,
        /// Only this market (default: both).
        #[arg(long, value_enum)]
        market: Option<Market>,
        /// Where the TWSE OpenAPI is.
        #[command(flatten)]
        openapi: OpenApiUrl,
        /// Where the TWSE classic site is.
        #[command(flatten)]
        twse: TwseUrl,
        /// Where the TPEx site is.
        #[command(flatten)]
        tpex: TpexUrl,
        /// Where the TPEx OpenAPI is.
        #[command(flatten)]
        tpex_openapi: TpexOpenApiUrl,
    },
}

impl FetchCommand {
    /// The client configuration with the base URLs this subcommand was given.
    fn config(&self) -> TwseConfig {
        let mut c = TwseConfig::default();
        match self {
            FetchCommand::Quote { mis, .. } => set(&mis.mis_url, &mut c.mis_url),
            FetchCommand::Daily {
                openapi,
                twse,
                tpex,
                tpex_openapi,
                ..
            }
            | FetchCommand::Valuations {
                openapi,
                twse,
                tpex,
                tpex_openapi,
                ..
            } => {
                set(&openapi.openapi_url, &mut c.openapi_url);
                set(&twse.twse_url, &mut c.twse_url);
                set(&tpex.tpex_url, &mut c.tpex_url);
                set(&tpex_openapi.tpex_openapi_url, &mut c.tpex_openapi_url);
            }
            FetchCommand::History { twse, tpex, .. } => {
                set(&twse.twse_url, &mut c.twse_url);
                set(&tpex.tpex_url, &mut c.tpex_url);
            }
            FetchCommand::Profile {
                openapi,
                tpex_openapi,
                ..
            }
            | FetchCommand::Codes {
                openapi,
                tpex_openapi,
                ..
            } => {
                set(&openapi.openapi_url, &mut c.openapi_url);
                set(&tpex_openapi.tpex_openapi_url, &mut c.tpex_openapi_url);
            }
            FetchCommand::Holidays { openapi } => set(&openapi.openapi_url, &mut c.openapi_url),
            FetchCommand::Institutional { twse, .. } => set(&twse.twse_url, &mut c.twse_url),
        }
        c
    }
}

fn month(text: &str, flag: &str) -> anyhow::Result<NaiveDate> {
    NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d")
        .with_context(|| format!("{flag} '{text}': expected YYYY-MM"))
}

fn codes(texts: &[String]) -> anyhow::Result<Vec<SecurityCode>> {
    texts
        .iter()
        .map(|t| SecurityCode::new(t.trim()).map_err(|e| anyhow::anyhow!("{e}")))
        .collect()
}

fn market_name(e: Exchange) -> &'static str {
    match e {
        Exchange::Twse => "TWSE",
        Exchange::Tpex => "TPEx",
    }
}

impl FetchArgs {
    fn format(&self) -> Format {
        if self.json {
            Format::Json
        } else if self.csv {
            Format::Csv
        } else {
            self.format
        }
    }

    /// A share count as the user asked for it: shares, or lots of 1,000 (exactly: a count
    /// with odd lots keeps its fraction, 20,035,646 shares are 20035.646 lots).
    fn shares(&self, n: impl Into<i128>) -> String {
        let n: i128 = n.into();
        if self.lots {
            Decimal::from_i128_with_scale(n, 3).normalize().to_string()
        } else {
            n.to_string()
        }
    }

    /// Reports skipped rows: one summary line, or each row with `--verbose`.
    fn report_skipped(&self, skipped: &[Skipped]) {
        if skipped.is_empty() {
            return;
        }
        if self.verbose {
            for s in skipped {
                eprintln!("skipped {}: {}", s.location, s.reason);
            }
            return;
        }
        let untraded = skipped
            .iter()
            .filter(|s| s.reason.starts_with("no trade"))
            .count();
        let other = skipped.len() - untraded;
        let mut parts = Vec::new();
        if untraded > 0 {
            parts.push(format!("{untraded} not traded"));
        }
        if other > 0 {
            parts.push(format!("{other} unreadable"));
        }
        eprintln!(
            "skipped {} rows ({}); --verbose lists them",
            skipped.len(),
            parts.join(", ")
        );
    }
}

/// A result ready to print: header, rows of text, and the items for JSON.
struct Output<T: Serialize> {
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
    items: Vec<T>,
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// A daily bar with the name the exchange printed beside it (the core bar has no name).
#[derive(Debug, Serialize)]
struct NamedBar {
    #[serde(flatten)]
    bar: DailyBar,
    /// Short name; left out when the source gives none.
    #[serde(skip_serializing_if = "String::is_empty")]
    name: String,
}

fn change(c: Option<Decimal>) -> String {
    match c {
        Some(c) if c.is_sign_positive() && !c.is_zero() => format!("+{c}"),
        Some(c) => c.to_string(),
        // No comparison (X0.00: ex-rights, ex-dividend, first day).
        None => "-".to_owned(),
    }
}

/// Rows of daily bars; `named` adds the name column (all-market days; one code's history
/// has its code in every row and no name from the store).
fn bar_rows(args: &FetchArgs, bars: Vec<NamedBar>, named: bool) -> Output<NamedBar> {
    let mut header = vec![
        "code", "name", "date", "open", "high", "low", "close", "change", "volume", "value",
        "trades",
    ];
    if !named {
        header.remove(1);
    }
    Output {
        header,
        rows: bars
            .iter()
            .map(|NamedBar { bar: b, name }| {
                let mut row = vec![
                    b.code.to_string(),
                    name.clone(),
                    b.date.to_string(),
                    b.open.to_string(),
                    b.high.to_string(),
                    b.low.to_string(),
                    b.close.to_string(),
                    change(b.change),
                    args.shares(b.volume),
                    b.value.to_string(),
                    opt(b.trades),
                ];
                if !named {
                    row.remove(1);
                }
                row
            })
            .collect(),
        items: bars,
    }
}

fn quote_rows(args: &FetchArgs, quotes: Vec<Quote>) -> Output<Quote> {
    Output {
        header: vec![
            "code", "name", "last", "change%", "open", "high", "low", "ref", "volume", "bid",
            "ask", "time",
        ],
        rows: quotes
            .iter()
            .map(|q| {
                vec![
                    q.code.to_string(),
                    q.name.clone(),
                    q.last.map_or_else(|| "-".to_owned(), |p| p.to_string()),
                    opt(q.change_pct().map(|c| c.round_dp(2))),
                    opt(q.open),
                    opt(q.high),
                    opt(q.low),
                    opt(q.reference),
                    opt(q.volume.map(|v| args.shares(v))),
                    opt(q.bids.first().map(|b| b.price)),
                    opt(q.asks.first().map(|a| a.price)),
                    q.exchange_time
                        .with_timezone(&experiment_core::model::MARKET_TZ)
                        .format("%Y-%m-%d %H:%M:%S")
                        .to_string(),
                ]
            })
            .collect(),
        items: quotes,
    }
}

fn print<T: Serialize>(format: Format, out: Output<T>) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut w = stdout.lock();
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut w, &out.items)?;
            writeln!(w)?;
        }
        Format::Csv => {
            let mut csv = csv::Writer::from_writer(w);
            csv.write_record(&out.header)?;
            for r in &out.rows {
                csv.write_record(r)?;
            }
            csv.flush()?;
        }
        Format::Table => {
            // Widths by display columns: 台積電 takes six, not three.
            let mut widths: Vec<usize> = out.header.iter().map(|h| h.width()).collect();
            for r in &out.rows {
                for (i, c) in r.iter().enumerate() {
                    widths[i] = widths[i].max(c.width());
                }
            }
            let line = |cells: Vec<&str>| {
                cells
                    .iter()
                    .enumerate()
                    .map(|(i, c)| format!("{c}{}", " ".repeat(widths[i] - c.width())))
                    .collect::<Vec<_>>()
                    .join("  ")
                    .trim_end()
                    .to_owned()
            };
            writeln!(w, "{}", line(out.header.clone()))?;
            for r in &out.rows {
                writeln!(w, "{}", line(r.iter().map(String::as_str).collect()))?;
            }
        }
    }
    Ok(())
}

/// Says what was missing (stderr) and ends with [`EXIT_NO_DATA`]; a no-op when nothing was.
fn no_data_exit(missing: &[String]) {
    if missing.is_empty() {
        return;
    }
    for m in missing {
        eprintln!("{m}");
    }
    let _ = std::io::stdout().flush();
    std::process::exit(EXIT_NO_DATA);
}

/// Keeps the items whose code is in `only` (all when `only` is empty); says which of `only`
/// have none, with `why(code)`.
fn only_codes<T>(
    items: Vec<T>,
    only: &[SecurityCode],
    code_of: impl Fn(&T) -> &SecurityCode,
    why: impl Fn(&SecurityCode) -> String,
) -> (Vec<T>, Vec<String>) {
    if only.is_empty() {
        return (items, Vec::new());
    }
    let kept: Vec<T> = items
        .into_iter()
        .filter(|i| only.contains(code_of(i)))
        .collect();
    let missing = only
        .iter()
        .filter(|c| !kept.iter().any(|i| code_of(i) == *c))
        .map(why)
        .collect();
    (kept, missing)
}

fn names(listed: &[Listed]) -> HashMap<&SecurityCode, &str> {
    listed.iter().map(|l| (&l.code, l.name.as_str())).collect()
}

/// Runs `experiment fetch`. Ends the process with [`EXIT_NO_DATA`] when the exchange had no
/// data for what was asked (after printing what it had).
///
/// # Errors
/// Bad arguments, or the client's error (a block, an unreachable site) with its message.
pub async fn run(args: &FetchArgs) -> anyhow::Result<()> {
    let client = TwseClient::new(args.command.config()).context("configuring the TWSE client")?;
    let format = args.format();
    match &args.command {
        FetchCommand::Quote {
            codes: texts, odd, ..
        } => {
            let wanted = codes(texts)?;
            let parsed = if *odd {
                client.odd_lot_quotes_of(&wanted).await?
            } else {
                client.quotes_of(&wanted).await?
            };
            args.report_skipped(&parsed.skipped);
            let (items, missing) = only_codes(
                parsed.items,
                &wanted,
                |q| &q.code,
                |c| format!("no quote for '{c}': MIS does not know that code"),
            );
            print(format, quote_rows(args, items))?;
            no_data_exit(&missing);
            Ok(())
        }
        FetchCommand::Daily {
            codes: texts,
            market,
            date,
            ..
        } => {
            let wanted = codes(texts)?;
            let parsed = match (market, date) {
                (Market::Twse, None) => client.daily_all(None).await?,
                (Market::Twse, Some(d)) => client.daily_on(*d).await?,
                (Market::Tpex, None) => client.tpex_daily_all().await?,
                (Market::Tpex, Some(d)) => client.tpex_daily_on(*d).await?,
            };
            let exchange = match market {
                Market::Twse => "TWSE",
                Market::Tpex => "TPEx",
            };
            let day = date.map_or_else(|| "the latest day".to_owned(), |d| d.to_string());
            if parsed.items.is_empty() && parsed.listed.is_empty() {
                no_data_exit(&[format!(
                    "no trading data for {day} on {exchange} (a holiday, a weekend, or not published yet)"
                )]);
            }
            let skipped: Vec<Skipped> = if wanted.is_empty() {
                parsed.skipped.clone()
            } else {
                Vec::new()
            };
            args.report_skipped(&skipped);
            let names = names(&parsed.listed);
            let bars: Vec<NamedBar> = parsed
                .items
                .iter()
                .map(|b| NamedBar {
                    name: names.get(&b.code).copied().unwrap_or_default().to_owned(),
                    bar: b.clone(),
                })
                .collect();
            let (bars, missing) = only_codes(
                bars,
                &wanted,
                |b| &b.bar.code,
                |c| match parsed.listed.iter().find(|l| &l.code == c) {
                    Some(l) => format!("{c} {} did not trade on {day}", l.name),
                    None => format!(
                        "no {c} in {exchange}'s daily report for {day}{}",
                        if *market == Market::Twse {
                            " (an OTC code? try --market tpex)"
                        } else {
                            " (a listed code? try --market twse)"
                        }
                    ),
                },
            );
            print(format, bar_rows(args, bars, true))?;
            no_data_exit(&missing);
            Ok(())
        }
        FetchCommand::History {
            code,
            from,
            to,
            data_dir,
            ..
        } => history(args, &client, code, from, to, data_dir.as_deref()).await,
        FetchCommand::Profile { code, .. } => {
            let code = SecurityCode::new(code.trim()).map_err(|e| anyhow::anyhow!("{e}"))?;
            let find = |p: Parsed<Security>| p.items.into_iter().find(|s| s.code == code);
            let found = match find(client.profiles().await?) {
                Some(s) => Some(s),
                None => find(client.tpex_profiles().await?),
            };
            let Some(s) = found else {
                no_data_exit(&[format!(
                    "no company with code '{code}' in the TWSE (t187ap03_L) or TPEx \
                     (mopsfin_t187ap03_O) profiles; ETFs, warrants and delisted codes have none"
                )]);
                return Ok(());
            };
            let rows = vec![vec![
                s.code.to_string(),
                s.name.clone(),
                market_name(s.exchange).to_owned(),
                s.full_name.clone().unwrap_or_default(),
                s.industry.clone().unwrap_or_default(),
                opt(s.listed_on),
            ]];
            print(
                format,
                Output {
                    header: vec!["code", "name", "market", "full name", "industry", "listed"],
                    rows,
                    items: vec![s],
                },
            )
        }
        FetchCommand::Holidays { .. } => {
            let parsed = client.holidays().await?;
            args.report_skipped(&parsed.skipped);
            let rows = parsed
                .items
                .iter()
                .map(|d| {
                    vec![
                        d.date.to_string(),
                        if d.trading { "trading" } else { "closed" }.to_owned(),
                        d.name.clone(),
                        d.description.clone(),
                    ]
                })
                .collect();
            print(
                format,
                Output {
                    header: vec!["date", "market", "name", "description"],
                    rows,
                    items: parsed.items,
                },
            )
        }
        FetchCommand::Institutional {
            date, codes: texts, ..
        } => institutional(args, &client, *date, texts).await,
        FetchCommand::Codes { query, market, .. } => {
            let mut listed: Vec<(Exchange, Listed)> = Vec::new();
            if *market != Some(Market::Tpex) {
                let p = client.daily_all(None).await?;
                listed.extend(p.listed.into_iter().map(|l| (Exchange::Twse, l)));
            }
            if *market != Some(Market::Twse) {
                let p = client.tpex_daily_all().await?;
                listed.extend(p.listed.into_iter().map(|l| (Exchange::Tpex, l)));
            }
            let hits: Vec<(Exchange, Listed)> = listed
                .into_iter()
                .filter(|(_, l)| {
                    query.is_empty()
                        || query.iter().any(|q| {
                            let q = q.trim();
                            l.code.as_str().starts_with(q) || l.name.contains(q)
                        })
                })
                .collect();
            if hits.is_empty() {
                no_data_exit(&[format!(
                    "no security matches {} in the latest daily lists",
                    query.join(" or ")
                )]);
            }
            #[derive(Serialize)]
            struct Code {
                code: SecurityCode,
                name: String,
                exchange: Exchange,
                traded: bool,
            }
            let rows = hits
                .iter()
                .map(|(e, l)| {
                    vec![
                        l.code.to_string(),
                        l.name.clone(),
                        market_name(*e).to_owned(),
                        if l.traded { "yes" } else { "no" }.to_owned(),
                    ]
                })
                .collect();
            let items = hits
                .into_iter()
                .map(|(exchange, l)| Code {
                    code: l.code,
                    name: l.name,
                    exchange,
                    traded: l.traded,
                })
                .collect();
            print(
                format,
                Output {
                    header: vec!["code", "name", "market", "traded"],
                    rows,
                    items,
                },
            )
        }
        FetchCommand::Valuations {
            codes: texts,
            date,
            market,
            ..
        } => {
            let wanted = codes(texts)?;
            let mut items: Vec<(Exchange, Valuation)> = Vec::new();
            let mut skipped = Vec::new();
            let mut add = |e: Exchange, p: Parsed<Valuation>| {
                skipped.extend(p.skipped);
                items.extend(p.items.into_iter().map(|v| (e, v)));
            };
            if *market != Some(Market::Tpex) {
                let p = match date {
                    Some(d) => client.valuations_on(*d).await?,
                    None => client.valuations().await?,
                };
                add(Exchange::Twse, p);
            }
            if *market != Some(Market::Twse) {
                let p = match date {
                    Some(d) => client.tpex_valuations_on(*d).await?,
                    None => client.tpex_valuations().await?,
                };
                add(Exchange::Tpex, p);
            }
            let day = date.map_or_else(|| "the latest day".to_owned(), |d| d.to_string());
            if items.is_empty() {
                no_data_exit(&[format!(
                    "no valuation data for {day} (a holiday, a weekend, or not published yet)"
                )]);
            }
            args.report_skipped(&skipped);
            let (items, missing) = only_codes(
                items,
                &wanted,
                |(_, v)| &v.code,
                |c| format!("no valuation for {c} on {day} (ETFs and warrants have none)"),
            );
            let rows = items
                .iter()
                .map(|(e, v)| {
                    vec![
                        v.code.to_string(),
                        v.name.clone(),
                        market_name(*e).to_owned(),
                        v.date.to_string(),
                        v.pe.map_or_else(|| "-".to_owned(), |x| x.to_string()),
                        v.dividend_yield
                            .map_or_else(|| "-".to_owned(), |x| x.to_string()),
                        v.pb.map_or_else(|| "-".to_owned(), |x| x.to_string()),
                    ]
                })
                .collect();
            print(
                format,
                Output {
                    header: vec!["code", "name", "market", "date", "pe", "yield%", "pb"],
                    rows,
                    items: items.into_iter().map(|(_, v)| v).collect(),
                },
            )?;
            no_data_exit(&missing);
            Ok(())
        }
    }
}

async fn history(
    args: &FetchArgs,
    client: &TwseClient,
    code: &str,
    from: &str,
    to: &str,
    data_dir: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let code = SecurityCode::new(code.trim()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (from, to) = (month(from, "--from")?, month(to, "--to")?);
    if from > to {
        bail!("--from {from} is after --to {to}");
    }
    let store: Arc<dyn Store> = match data_dir {
        Some(d) => {
            Arc::new(EmbeddedStore::open(d).with_context(|| format!("opening {}", d.display()))?)
        }
        None => Arc::new(MemoryStore::new()),
    };
    let today = market_date(Utc::now());
    let months = experiment_twse::backfill::months(from, to).len() as u64;
    let bar = indicatif::ProgressBar::new(months).with_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {msg:20} [{bar:30}] {pos}/{len} months, eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut failed = Vec::new();
    backfill(
        client,
        store.as_ref(),
        std::slice::from_ref(&code),
        from,
        to,
        today,
        &mut |p| {
            bar.set_message(format!("{} {}", p.code, p.month.format("%Y-%m")));
            bar.inc(1);
            if let MonthOutcome::Failed(why) = &p.outcome {
                failed.push(format!("month {}: {why}", p.month.format("%Y-%m")));
            }
        },
    )
    .await?;
    bar.finish_and_clear();
    let last_day = (to + chrono::Duration::days(31))
        .with_day0(0)
        .map_or(to, |d| d - chrono::Duration::days(1));
    let bars: Vec<NamedBar> = store
        .daily_bars(&code, from, last_day)
        .await?
        .into_iter()
        .map(|bar| NamedBar {
            bar,
            name: String::new(),
        })
        .collect();
    let empty = bars.is_empty();
    print(args.format(), bar_rows(args, bars, false))?;
    if !failed.is_empty() {
        bail!("{}", failed.join("\n"));
    }
    if empty {
        no_data_exit(&[format!(
            "no trading data for {code} from {} to {} on TWSE (STOCK_DAY) or TPEx (st43_result)",
            from.format("%Y-%m"),
            to.format("%Y-%m")
        )]);
    }
    Ok(())
}

/// How many days back `institutional` without `--date` looks for the latest T86: the longest
/// closure, Lunar New Year, with its weekends and a report not yet out today, spans about
/// ten calendar days.
const T86_LOOKBACK_DAYS: i64 = 14;

/// The weekdays among the `days` days up to `today`, latest first: the days a "latest" report
/// may be for (weekends never trade; make-up Saturdays are rare enough to need `--date`).
fn recent_weekdays(today: NaiveDate, days: i64) -> Vec<NaiveDate> {
    (0..days)
        .map(|back| today - chrono::Duration::days(back))
        .filter(|d| !matches!(d.weekday(), chrono::Weekday::Sat | chrono::Weekday::Sun))
        .collect()
}

async fn institutional(
    args: &FetchArgs,
    client: &TwseClient,
    date: Option<NaiveDate>,
    texts: &[String],
) -> anyhow::Result<()> {
    let wanted = codes(texts)?;
    let (day, parsed) = match date {
        Some(d) => (d, client.institutional(d).await?),
        None => {
            // T86 has no "latest" form: walk back from today (Taipei) to the first day with
            // data; today's report appears only after the close.
            let today = market_date(Utc::now());
            let mut found = None;
            for d in recent_weekdays(today, T86_LOOKBACK_DAYS) {
                let p = client.institutional(d).await?;
                if !p.items.is_empty() {
                    found = Some((d, p));
                    break;
                }
            }
            match found {
                Some(f) => f,
                None => {
                    no_data_exit(&[format!(
                        "no T86 data in the {T86_LOOKBACK_DAYS} days up to {today}; give --date"
                    )]);
                    return Ok(());
                }
            }
        }
    };
    if parsed.items.is_empty() {
        no_data_exit(&[format!(
            "no trading data for {day} in T86 (a holiday, a weekend, or not published yet)"
        )]);
    }
    args.report_skipped(&parsed.skipped);
    let (items, missing) = only_codes(
        parsed.items,
        &wanted,
        |r: &Institutional| &r.code,
        |c| {
            format!(
                "no {c} in T86 for {day}: T86 covers TWSE-listed securities only; \
                 institutional flows of OTC (TPEx) securities are not supported yet"
            )
        },
    );
    let o = |v: Option<i64>| v.map(|v| args.shares(v)).unwrap_or_default();
    let rows = items
        .iter()
        .map(|r| {
            vec![
                r.code.to_string(),
                r.name.clone(),
                r.date.to_string(),
                args.shares(r.foreign_net),
                args.shares(r.foreign_dealer_net),
                args.shares(r.trust_net),
                o(r.dealer_own_net),
                o(r.dealer_hedge_net),
                args.shares(r.dealer_net),
                args.shares(r.total_net),
            ]
        })
        .collect();
    print(
        args.format(),
        Output {
            header: vec![
                "code",
                "name",
                "date",
                "foreign",
                "foreign_dealer",
                "trust",
                "dealer_own",
                "dealer_hedge",
                "dealer",
                "total",
            ],
            rows,
            items,
        },
    )?;
    no_data_exit(&missing);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_t86_is_looked_for_on_recent_weekdays_latest_first() {
        let d = |m, day| NaiveDate::from_ymd_opt(2026, m, day).unwrap();
        // 2026-07-13 is a Monday.
        assert_eq!(
            recent_weekdays(d(7, 13), 5),
            vec![d(7, 13), d(7, 10), d(7, 9)],
            "Monday, then the Friday before"
        );
        assert_eq!(
            recent_weekdays(d(7, 13), 14).len(),
            10,
            "two weekends left out"
        );
    }
}
