//! The recorded data `experiment demo` loads before its replay, so every API endpoint has
//! genuine data offline: 17 years of daily bars of 30 TWSE securities (2004–2020), every
//! security's bar of three all-market days (TWSE 2026-07-08 and 2023-01-30, TPEx
//! 2023-01-30), company profiles (TWSE excerpt, every TPEx company), and MIS quote snapshots.
//! Provenance: `apps/cli/data/history/SOURCES.md` and `experiment-twse/tests/fixtures/SOURCES.md`.

use std::collections::HashMap;

use anyhow::Context as _;
use chrono::{NaiveDate, Utc};
use experiment_core::model::{DailyBar, Exchange, Quote, Security, SecurityCode, SecurityKind};
use experiment_core::Store;
use experiment_twse::parse::{self, Board, Listed, Parsed};
use experiment_wiring::collections;
use rust_decimal::Decimal;

/// Daily history, one CSV per code (`date,open,high,low,close,volume,value,change,trades`,
/// ROC dates, no header).
pub const HISTORY: [(&str, &[u8]); 30] = [
    ("0050", include_bytes!("../data/history/0050.csv")),
    ("0056", include_bytes!("../data/history/0056.csv")),
    ("1216", include_bytes!("../data/history/1216.csv")),
    ("1301", include_bytes!("../data/history/1301.csv")),
    ("1303", include_bytes!("../data/history/1303.csv")),
    ("1326", include_bytes!("../data/history/1326.csv")),
    ("2002", include_bytes!("../data/history/2002.csv")),
    ("2207", include_bytes!("../data/history/2207.csv")),
    ("2303", include_bytes!("../data/history/2303.csv")),
    ("2308", include_bytes!("../data/history/2308.csv")),
    ("2317", include_bytes!("../data/history/2317.csv")),
    ("2330", include_bytes!("../data/history/2330.csv")),
    ("2357", include_bytes!("../data/history/2357.csv")),
    ("2382", include_bytes!("../data/history/2382.csv")),
    ("2412", include_bytes!("../data/history/2412.csv")),
    ("2454", include_bytes!("../data/history/2454.csv")),
    ("2603", include_bytes!("../data/history/2603.csv")),
    ("2609", include_bytes!("../data/history/2609.csv")),
    ("2615", include_bytes!("../data/history/2615.csv")),
    ("2881", include_bytes!("../data/history/2881.csv")),
    ("2882", include_bytes!("../data/history/2882.csv")),
    ("2884", include_bytes!("../data/history/2884.csv")),
    ("2886", include_bytes!("../data/history/2886.csv")),
    ("2891", include_bytes!("../data/history/2891.csv")),
    ("2912", include_bytes!("../data/history/2912.csv")),
    ("3008", include_bytes!("../data/history/3008.csv")),
    ("3045", include_bytes!("../data/history/3045.csv")),
    ("3711", include_bytes!("../data/history/3711.csv")),
    ("4904", include_bytes!("../data/history/4904.csv")),
    ("6505", include_bytes!("../data/history/6505.csv")),
];

/// The history's codes with names and industries.
const CODES: &str = include_str!("../data/history/codes.csv");

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../experiment-twse/tests/fixtures/",
            $name
        ))
    };
}

/// MIS snapshots (regular board and an index), in the order they were taken per code.
pub const MIS_BODIES: [(&str, &[u8]); 10] = [
    (
        "MIS 2330 2017-07-24 09:47",
        fixture!("mis_getStockInfo_2330_intraday_20170724_1.json"),
    ),
    (
        "MIS 2330 2017-07-24 09:51",
        fixture!("mis_getStockInfo_2330_intraday_20170724_2.json"),
    ),
    (
        "MIS 2330 2017-07-24 09:54",
        fixture!("mis_getStockInfo_2330_intraday_20170724_3.json"),
    ),
    (
        "MIS 2330+6223 2019-01-11",
        fixture!("mis_getStockInfo_tse2330_otc6223_afterclose_20190111.json"),
    ),
    (
        "MIS 6223 2019-01-11",
        fixture!("mis_getStockInfo_otc6223_afterclose_20190111.json"),
    ),
    (
        "MIS 2330 2023-12-29",
        fixture!("mis_getStockInfo_2330_afterclose_20231229.json"),
    ),
    (
        "MIS TAIEX 2023-12-29",
        fixture!("mis_getStockInfo_t00_index_afterclose_20231229.json"),
    ),
    (
        "MIS 2330 2024-05-16 10:44",
        fixture!("mis_getStockInfo_2330_intraday_20240516_1.json"),
    ),
    (
        "MIS 2330 2024-05-16 10:46",
        fixture!("mis_getStockInfo_2330_intraday_20240516_2.json"),
    ),
    (
        "MIS 2330+6547 2026-07-31",
        fixture!("mis_getStockInfo_tse2330_otc6547_afterclose_20260731_limitup.json"),
    ),
];

/// What was loaded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Loaded {
    /// Security profiles.
    pub securities: usize,
    /// Daily bars (history and all-market days).
    pub bars: usize,
    /// Codes with years of history.
    pub history_codes: usize,
    /// All-market days (cross-sections for statistics).
    pub market_days: usize,
    /// Rows of the recorded bodies and files that were not bars (no trade, or unusable).
    pub skipped_rows: usize,
}

fn roc_date(text: &str) -> Option<NaiveDate> {
    let mut it = text.trim().split('/');
    let (y, m, d) = (it.next()?, it.next()?, it.next()?);
    NaiveDate::from_ymd_opt(
        y.parse::<i32>().ok()? + 1911,
        m.parse().ok()?,
        d.parse().ok()?,
    )
}

/// Parses one history file: `date,open,high,low,close,volume,value,change,trades` with ROC
/// dates. A day without a trade (`--` prices) is not a bar; `X` (ex-rights) is no change; a
/// blank change is zero (the crawler's older rows). Returns the bars and the rows skipped.
///
/// # Errors
/// A malformed line, with its number.
pub fn parse_history(code: &SecurityCode, text: &str) -> Result<(Vec<DailyBar>, usize), String> {
    let mut bars = Vec::new();
    let mut skipped = 0;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let at = |why: &str| format!("{code}.csv line {}: {why}", i + 1);
        let f: Vec<&str> = line.split(',').collect();
        if f.len() != 9 {
            return Err(at(&format!("expected 9 fields, got {}", f.len())));
        }
        let date = roc_date(f[0]).ok_or_else(|| at(&format!("'{}' is not a ROC date", f[0])))?;
        if f[1..5].iter().any(|p| p.trim() == "--") {
            skipped += 1;
            continue;
        }
        let dec = |s: &str, what: &str| -> Result<Decimal, String> {
            s.trim()
                .parse::<Decimal>()
                .map_err(|_| at(&format!("{what} '{s}' is not a number")))
        };
        let change = match f[7].trim() {
            "" => Some(Decimal::ZERO),
            c if c.starts_with('X') => None,
            c => Some(dec(c, "change")?),
        };
        let bar = DailyBar {
            code: code.clone(),
            exchange: Exchange::Twse,
            date,
            open: dec(f[1], "open")?,
            high: dec(f[2], "high")?,
            low: dec(f[3], "low")?,
            close: dec(f[4], "close")?,
            volume: f[5]
                .trim()
                .parse()
                .map_err(|_| at("volume is not a whole number"))?,
            value: dec(f[6], "value")?,
            trades: f[8].trim().parse().ok(),
            change,
        };
        bar.validate().map_err(|e| at(&e.to_string()))?;
        bars.push(bar);
    }
    Ok((bars, skipped))
}

fn kind_of(code: &str) -> SecurityKind {
    if experiment_api::stats::is_warrant(code) {
        SecurityKind::Warrant
    } else if code.starts_with("00") {
        SecurityKind::Etf
    } else {
        SecurityKind::Stock
    }
}

/// Merges what a source says of a security into what is known.
fn merge(known: &mut HashMap<String, Security>, s: Security) {
    match known.get_mut(s.code.as_str()) {
        None => {
            known.insert(s.code.to_string(), s);
        }
        Some(k) => {
            if !s.name.is_empty() {
                k.name = s.name;
            }
            k.full_name = s.full_name.or(k.full_name.take());
            k.industry = s.industry.or(k.industry.take());
            k.isin = s.isin.or(k.isin.take());
            k.listed_on = s.listed_on.or(k.listed_on.take());
        }
    }
}

fn listed_securities(known: &mut HashMap<String, Security>, exchange: Exchange, listed: &[Listed]) {
    for l in listed {
        let mut s = Security::new(l.code.clone(), exchange, l.name.clone());
        s.kind = kind_of(l.code.as_str());
        merge(known, s);
    }
}

async fn market_day(
    store: &dyn Store,
    exchange: Exchange,
    date: NaiveDate,
    listed: &[Listed],
) -> anyhow::Result<()> {
    let day = serde_json::json!({
        "untraded": listed.iter().filter(|l| !l.traded).map(|l| l.code.to_string()).collect::<Vec<_>>(),
        "listed": listed.len(),
    });
    store
        .put_document(
            collections::MARKET_DAYS,
            &format!("{}:{date}", exchange.as_str()),
            &day,
        )
        .await?;
    Ok(())
}

/// Loads everything into `store` (idempotent: a second load changes nothing).
///
/// # Errors
/// A recorded body that does not parse (a bug), or the store's errors.
pub async fn load(store: &dyn Store) -> anyhow::Result<Loaded> {
    let mut loaded = Loaded::default();
    let mut known: HashMap<String, Security> = HashMap::new();
    let mut bars: Vec<DailyBar> = Vec::new();

    // All-market days, oldest first so the newest listing's names win.
    let d2023 = NaiveDate::from_ymd_opt(2023, 1, 30).context("date")?;
    let days: [(Exchange, NaiveDate, Parsed<DailyBar>); 3] = [
        (
            Exchange::Twse,
            d2023,
            parse::mi_index(
                fixture!("twse_rwd_MI_INDEX_ALLBUT0999_20230130.json"),
                d2023,
            )
            .context("the recorded MI_INDEX")?,
        ),
        (
            Exchange::Tpex,
            d2023,
            parse::tpex_daily_quotes(fixture!("tpex_stk_quotes_20230130.json"), d2023)
                .context("the recorded TPEx daily quotes")?,
        ),
        (
            Exchange::Twse,
            NaiveDate::from_ymd_opt(2026, 7, 8).context("date")?,
            parse::stock_day_all(fixture!("openapi_STOCK_DAY_ALL_20260708.json"), None)
                .context("the recorded STOCK_DAY_ALL")?,
        ),
    ];
    for (exchange, date, parsed) in days {
        listed_securities(&mut known, exchange, &parsed.listed);
        market_day(store, exchange, date, &parsed.listed).await?;
        loaded.market_days += 1;
        loaded.skipped_rows += parsed.skipped.len();
        bars.extend(parsed.items);
    }

    // Years of history.
    let mut names: HashMap<&str, (&str, &str)> = HashMap::new();
    for line in CODES.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if let [code, name, industry] = f[..] {
            names.insert(code, (name, industry));
        }
    }
    for (code, body) in HISTORY {
        let c = SecurityCode::new(code)?;
        let text = std::str::from_utf8(body).context("history is UTF-8")?;
        let (b, skipped) = parse_history(&c, text).map_err(anyhow::Error::msg)?;
        loaded.skipped_rows += skipped;
        bars.extend(b);
        loaded.history_codes += 1;
        let (name, industry) = names.get(code).copied().unwrap_or((code, ""));
        let mut s = Security::new(c, Exchange::Twse, name);
        s.kind = kind_of(code);
        s.industry = Some(industry.to_owned()).filter(|i| !i.is_empty());
        merge(&mut known, s);
    }

    // Company profiles (with the industry's name).
    for profiles in [
        parse::company_profiles(fixture!("openapi_t187ap03_L_EXCERPT_3rows_20261009.json"))
            .context("the recorded t187ap03_L")?,
        parse::tpex_company_profiles(fixture!("tpex_openapi_mopsfin_t187ap03_O_20260708.json"))
            .context("the recorded t187ap03_O")?,
    ] {
        for s in profiles.items {
            merge(&mut known, s);
        }
    }

    let mut securities: Vec<Security> = known.into_values().collect();
    securities.sort_by(|a, b| a.code.cmp(&b.code));
    loaded.securities = securities.len();
    for chunk in securities.chunks(5_000) {
        store.upsert_securities(chunk).await?;
    }
    loaded.bars = bars.len();
    for chunk in bars.chunks(20_000) {
        store.upsert_daily_bars(chunk).await?;
    }
    Ok(loaded)
}

/// The recorded MIS snapshots as quotes, and how many items the bodies could not give.
///
/// # Errors
/// A recorded body that does not parse (a bug).
pub fn recorded_quotes() -> anyhow::Result<(Vec<Quote>, usize)> {
    let now = Utc::now();
    let mut out = Vec::new();
    let mut skipped = 0;
    for (name, body) in MIS_BODIES {
        let parsed = parse::quotes(body, Board::Regular, now)
            .with_context(|| format!("parsing the recorded {name}"))?;
        skipped += parsed.skipped.len();
        out.extend(parsed.items);
    }
    Ok((out, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_files_parse_with_their_quirks() {
        let c = SecurityCode::new("2317").unwrap();
        let text =
            std::str::from_utf8(HISTORY.iter().find(|(k, _)| *k == "2317").unwrap().1).unwrap();
        let (bars, skipped) = parse_history(&c, text).unwrap();
        assert_eq!(skipped, 1, "2317 did not trade on 105/03/30");
        assert!(!bars
            .iter()
            .any(|b| b.date == NaiveDate::from_ymd_opt(2016, 3, 30).unwrap()));
        assert_eq!(
            bars.first().unwrap().date,
            NaiveDate::from_ymd_opt(2004, 2, 11).unwrap()
        );
        assert_eq!(
            bars.last().unwrap().date,
            NaiveDate::from_ymd_opt(2020, 12, 31).unwrap()
        );
        let c = SecurityCode::new("2330").unwrap();
        let text =
            std::str::from_utf8(HISTORY.iter().find(|(k, _)| *k == "2330").unwrap().1).unwrap();
        let (bars, _) = parse_history(&c, text).unwrap();
        let exd = bars
            .iter()
            .find(|b| b.date == NaiveDate::from_ymd_opt(2004, 6, 14).unwrap())
            .unwrap();
        assert_eq!(exd.change, None, "X is no comparison");
        assert!(parse_history(&c, "93/02/11,1,2,3")
            .unwrap_err()
            .contains("2330.csv line 1"));
        assert!(parse_history(&c, "93/13/11,1,1,1,1,1,1,,1")
            .unwrap_err()
            .contains("ROC date"));
    }

    #[test]
    fn the_2015_history_matches_the_recorded_body() {
        // SOURCES.md: the 2330 rows of May 2015 equal the recorded STOCK_DAY body.
        let c = SecurityCode::new("2330").unwrap();
        let text =
            std::str::from_utf8(HISTORY.iter().find(|(k, _)| *k == "2330").unwrap().1).unwrap();
        let (bars, _) = parse_history(&c, text).unwrap();
        let may: Vec<&DailyBar> = bars
            .iter()
            .filter(|b| b.date.format("%Y-%m").to_string() == "2015-05")
            .collect();
        let body = include_bytes!("../data/twse_exchangeReport_STOCK_DAY_2330_201505.json");
        let recorded =
            parse::stock_day(body, &c, NaiveDate::from_ymd_opt(2015, 5, 1).unwrap()).unwrap();
        assert_eq!(may.len(), recorded.items.len());
        for (h, r) in may.iter().zip(&recorded.items) {
            assert_eq!(
                (h.date, h.close, h.volume, h.change),
                (r.date, r.close, r.volume, r.change)
            );
        }
    }
}
