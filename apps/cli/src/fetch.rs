//! `experiment fetch ...`: the TWSE/TPEx client from the command line.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context as _};
use chrono::{Datelike, NaiveDate, Utc};
use clap::{Args, Subcommand, ValueEnum};
use experiment_core::memory::{EmbeddedStore, MemoryStore};
use experiment_core::model::{market_date, DailyBar, Quote, SecurityCode};
use experiment_core::Store;
use experiment_twse::backfill::{backfill, MonthOutcome};
use experiment_twse::{Channel, TwseClient, TwseConfig};
use serde::Serialize;
use unicode_width::UnicodeWidthStr;

/// Output formats.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns for people.
    Table,
    /// JSON (one array) for programs.
    Json,
    /// CSV with a header row.
    Csv,
}

/// Options every `fetch` subcommand shares.
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// MIS base URL (real-time quotes).
    #[arg(long, global = true, env = "EXPERIMENT_MIS_URL")]
    pub mis_url: Option<String>,
    /// TWSE OpenAPI base URL.
    #[arg(long, global = true, env = "EXPERIMENT_OPENAPI_URL")]
    pub openapi_url: Option<String>,
    /// TWSE classic site base URL.
    #[arg(long, global = true, env = "EXPERIMENT_TWSE_URL")]
    pub twse_url: Option<String>,
    /// TPEx site base URL.
    #[arg(long, global = true, env = "EXPERIMENT_TPEX_URL")]
    pub tpex_url: Option<String>,
    /// TPEx OpenAPI base URL.
    #[arg(long, global = true, env = "EXPERIMENT_TPEX_OPENAPI_URL")]
    pub tpex_openapi_url: Option<String>,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value = "table")]
    pub format: Format,
    /// Shorthand for `--format json`.
    #[arg(long, global = true, conflicts_with = "csv")]
    pub json: bool,
    /// Shorthand for `--format csv`.
    #[arg(long, global = true)]
    pub csv: bool,
    /// What to fetch.
    #[command(subcommand)]
    pub command: FetchCommand,
}

/// Markets for `fetch daily`.
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
    },
    /// Every security's bar for a day: the latest from the OpenAPI, or `--date` from the
    /// classic site (TWSE MI_INDEX, TPEx dailyQuotes).
    Daily {
        /// Which market.
        #[arg(long, value_enum, default_value = "twse")]
        market: Market,
        /// Trading date (YYYY-MM-DD); default: the latest.
        #[arg(long)]
        date: Option<NaiveDate>,
    },
    /// One security's daily bars month by month (polite: about 2.5 s per month), kept in
    /// `--data-dir` when given so an interrupted backfill resumes.
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
    },
    /// A listed company's profile (OpenAPI t187ap03_L).
    Profile {
        /// Security code.
        code: String,
    },
    /// The exchange's calendar: closures and special trading days.
    Holidays,
    /// Institutional investors' net buying (T86) on a day.
    Institutional {
        /// Trading date, YYYY-MM-DD.
        #[arg(long)]
        date: NaiveDate,
        /// Only these codes.
        codes: Vec<String>,
    },
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

impl FetchArgs {
    fn client(&self) -> anyhow::Result<TwseClient> {
        let mut c = TwseConfig::default();
        let overrides = [
            (&self.mis_url, &mut c.mis_url),
            (&self.openapi_url, &mut c.openapi_url),
            (&self.twse_url, &mut c.twse_url),
            (&self.tpex_url, &mut c.tpex_url),
            (&self.tpex_openapi_url, &mut c.tpex_openapi_url),
        ];
        for (given, field) in overrides {
            if let Some(url) = given {
                *field = url.clone();
            }
        }
        TwseClient::new(c).context("configuring the TWSE client")
    }

    fn format(&self) -> Format {
        if self.json {
            Format::Json
        } else if self.csv {
            Format::Csv
        } else {
            self.format
        }
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

fn bar_rows(bars: Vec<DailyBar>) -> Output<DailyBar> {
    Output {
        header: vec![
            "code", "date", "open", "high", "low", "close", "volume", "value", "trades",
        ],
        rows: bars
            .iter()
            .map(|b| {
                vec![
                    b.code.to_string(),
                    b.date.to_string(),
                    b.open.to_string(),
                    b.high.to_string(),
                    b.low.to_string(),
                    b.close.to_string(),
                    b.volume.to_string(),
                    b.value.to_string(),
                    opt(b.trades),
                ]
            })
            .collect(),
        items: bars,
    }
}

fn quote_rows(quotes: Vec<Quote>) -> Output<Quote> {
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
                    opt(q.volume),
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

fn warn_skipped(skipped: &[experiment_core::Skipped]) {
    for s in skipped.iter().take(5) {
        eprintln!("skipped {}: {}", s.location, s.reason);
    }
    if skipped.len() > 5 {
        eprintln!("... and {} more rows skipped", skipped.len() - 5);
    }
}

/// Runs `experiment fetch`.
///
/// # Errors
/// Bad arguments, or the client's error (a block, an unreachable site) with its message.
pub async fn run(args: &FetchArgs) -> anyhow::Result<()> {
    let client = args.client()?;
    let format = args.format();
    match &args.command {
        FetchCommand::Quote { codes: texts, odd } => {
            let channels: Vec<Channel> = codes(texts)?.iter().flat_map(Channel::both).collect();
            let parsed = if *odd {
                client.odd_lot_quotes(&channels).await?
            } else {
                client.quotes(&channels).await?
            };
            warn_skipped(&parsed.skipped);
            let found: Vec<&str> = parsed.items.iter().map(|q| q.code.as_str()).collect();
            for t in texts.iter().filter(|t| !found.contains(&t.trim())) {
                eprintln!("no quote for '{t}': MIS does not know that code");
            }
            print(format, quote_rows(parsed.items))
        }
        FetchCommand::Daily { market, date } => {
            let parsed = match (market, date) {
                (Market::Twse, None) => client.daily_all(None).await?,
                (Market::Twse, Some(d)) => client.daily_on(*d).await?,
                (Market::Tpex, None) => client.tpex_daily_all().await?,
                (Market::Tpex, Some(d)) => client.tpex_daily_on(*d).await?,
            };
            warn_skipped(&parsed.skipped);
            print(format, bar_rows(parsed.items))
        }
        FetchCommand::History {
            code,
            from,
            to,
            data_dir,
        } => {
            let code = SecurityCode::new(code.trim()).map_err(|e| anyhow::anyhow!("{e}"))?;
            let (from, to) = (month(from, "--from")?, month(to, "--to")?);
            if from > to {
                bail!("--from {from} is after --to {to}");
            }
            let store: Arc<dyn Store> = match data_dir {
                Some(d) => Arc::new(
                    EmbeddedStore::open(d).with_context(|| format!("opening {}", d.display()))?,
                ),
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
                &client,
                store.as_ref(),
                std::slice::from_ref(&code),
                from,
                to,
                today,
                &mut |p| {
                    bar.set_message(format!("{} {}", p.code, p.month.format("%Y-%m")));
                    bar.inc(1);
                    if let MonthOutcome::Failed(why) = &p.outcome {
                        failed.push(format!("{}: {why}", p.month.format("%Y-%m")));
                    }
                },
            )
            .await?;
            bar.finish_and_clear();
            for f in &failed {
                eprintln!("month {f}");
            }
            let last_day = (to + chrono::Duration::days(31))
                .with_day0(0)
                .map_or(to, |d| d - chrono::Duration::days(1));
            print(
                format,
                bar_rows(store.daily_bars(&code, from, last_day).await?),
            )
        }
        FetchCommand::Profile { code } => {
            let parsed = client.profiles().await?;
            let Some(s) = parsed
                .items
                .into_iter()
                .find(|s| s.code.as_str() == code.trim())
            else {
                bail!("no listed company with code '{code}' in the OpenAPI profiles");
            };
            let rows = vec![vec![
                s.code.to_string(),
                s.name.clone(),
                s.full_name.clone().unwrap_or_default(),
                s.industry.clone().unwrap_or_default(),
                opt(s.listed_on),
            ]];
            print(
                format,
                Output {
                    header: vec!["code", "name", "full name", "industry", "listed"],
                    rows,
                    items: vec![s],
                },
            )
        }
        FetchCommand::Holidays => {
            let parsed = client.holidays().await?;
            warn_skipped(&parsed.skipped);
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
        FetchCommand::Institutional { date, codes: only } => {
            let parsed = client.institutional(*date).await?;
            warn_skipped(&parsed.skipped);
            let items: Vec<_> = parsed
                .items
                .into_iter()
                .filter(|r| only.is_empty() || only.iter().any(|c| c.trim() == r.code.as_str()))
                .collect();
            let rows = items
                .iter()
                .map(|r| {
                    vec![
                        r.code.to_string(),
                        r.name.clone(),
                        r.foreign_net.to_string(),
                        r.trust_net.to_string(),
                        r.dealer_net.to_string(),
                        r.total_net.to_string(),
                    ]
                })
                .collect();
            print(
                format,
                Output {
                    header: vec!["code", "name", "foreign", "trust", "dealer", "total"],
                    rows,
                    items,
                },
            )
        }
    }
}
