//! Pure `body -> model` functions over recorded TWSE bodies: no I/O, easy to test and fuzz.

use std::time::Duration;

use chrono::{Datelike, NaiveDate};
use experiment_core::model::{DailyBar, Exchange, SecurityCode};
use experiment_core::Skipped;
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::roc::parse_roc_date;
use crate::{Error, Result};

/// What TWSE says when there is no data for the date asked (a holiday, a future date).
pub const NO_DATA_STAT: &str = "很抱歉，沒有符合條件的資料!";

/// How long to back off after a block page unless configured otherwise.
pub const DEFAULT_BLOCK_BACKOFF: Duration = Duration::from_secs(15 * 60);

/// A parse result: the items, and the rows that were skipped with reasons.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed<T> {
    /// What was read.
    pub items: Vec<T>,
    /// Rows that could not be used, each with where and why.
    pub skipped: Vec<Skipped>,
}

impl<T> Default for Parsed<T> {
    fn default() -> Self {
        Parsed {
            items: Vec::new(),
            skipped: Vec::new(),
        }
    }
}

/// Detects the exchange's security block page (HTML saying `FOR SECURITY REASONS`), served
/// with HTTP 200 or 307 instead of an error code.
///
/// # Errors
/// [`Error::Blocked`] with the page's error code (`錯誤代碼`) when `body` is that page.
pub fn check_block_page(endpoint: &str, body: &[u8]) -> Result<()> {
    let head = &body[..body.len().min(4096)];
    let text = String::from_utf8_lossy(head);
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if !trimmed.starts_with('<') {
        return Ok(());
    }
    let blocked = text.contains("FOR SECURITY REASONS") || text.contains("因為安全性考量");
    if !blocked {
        return Err(Error::Malformed {
            endpoint: endpoint.to_owned(),
            reason: "an HTML page instead of JSON".into(),
        });
    }
    let code = text
        .split("錯誤代碼：")
        .nth(1)
        .map(|rest| {
            rest.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
        })
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "unknown".into());
    Err(Error::Blocked {
        endpoint: endpoint.to_owned(),
        code,
        backoff: DEFAULT_BLOCK_BACKOFF,
    })
}

/// The classic site's table-shaped JSON (`stat`, `date`, `fields`, `data`).
#[derive(Debug, Deserialize)]
struct ClassicTable {
    stat: String,
    #[serde(default)]
    date: Option<String>,
    #[serde(default)]
    fields: Vec<String>,
    #[serde(default)]
    data: Vec<Vec<serde_json::Value>>,
}

fn malformed(endpoint: &str, reason: impl Into<String>) -> Error {
    Error::Malformed {
        endpoint: endpoint.to_owned(),
        reason: reason.into(),
    }
}

/// Reads a number as TWSE prints it: thousands separators, stray spaces, a leading `+`.
/// `--`, `---`, empty and `X`-prefixed "no comparison" markers are `None`.
pub fn parse_number(text: &str) -> Option<Decimal> {
    let t: String = text
        .chars()
        .filter(|c| *c != ',' && !c.is_whitespace())
        .collect();
    let t = t.strip_prefix('+').unwrap_or(&t);
    if t.is_empty() || t.starts_with("--") || t.starts_with('X') || t.starts_with('x') {
        return None;
    }
    t.parse().ok()
}

fn cell(row: &[serde_json::Value], i: usize) -> String {
    match row.get(i) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// Parses `rwd/zh/afterTrading/STOCK_DAY` (and the legacy `exchangeReport/STOCK_DAY`): one
/// security, one month of daily bars.
///
/// Columns are found by name (a 註記 column appeared in 2025; more may come). The body's
/// month must be `month` (the first day of the month asked for). A row without a trade
/// (`--`) or with a broken cell is skipped with a reason; the rest of the month is kept.
/// "No data" is an empty result.
///
/// # Errors
/// [`Error::Blocked`] for the block page, [`Error::WrongPeriod`] when the body is about
/// another month, [`Error::Malformed`] when the body is not the documented shape.
pub fn stock_day(body: &[u8], code: &SecurityCode, month: NaiveDate) -> Result<Parsed<DailyBar>> {
    const EP: &str = "STOCK_DAY";
    check_block_page(EP, body)?;
    let table: ClassicTable = serde_json::from_slice(body)
        .map_err(|e| malformed(EP, format!("not the expected JSON: {e}")))?;
    if table.stat.trim() == NO_DATA_STAT {
        return Ok(Parsed::default());
    }
    if table.stat != "OK" {
        return Err(malformed(EP, format!("stat is '{}'", table.stat)));
    }
    let asked = format!("{:04}-{:02}", month.year(), month.month());
    if let Some(date) = &table.date {
        let got = NaiveDate::parse_from_str(date, "%Y%m%d")
            .map_err(|_| malformed(EP, format!("date '{date}' is not YYYYMMDD")))?;
        if (got.year(), got.month()) != (month.year(), month.month()) {
            return Err(Error::WrongPeriod {
                endpoint: EP.into(),
                asked,
                got: format!("{:04}-{:02}", got.year(), got.month()),
            });
        }
    }
    let col = |name: &str| {
        table
            .fields
            .iter()
            .position(|f| f.trim() == name)
            .ok_or_else(|| malformed(EP, format!("no '{name}' column in {:?}", table.fields)))
    };
    let (c_date, c_vol, c_val, c_open, c_high, c_low, c_close, c_trades) = (
        col("日期")?,
        col("成交股數")?,
        col("成交金額")?,
        col("開盤價")?,
        col("最高價")?,
        col("最低價")?,
        col("收盤價")?,
        col("成交筆數")?,
    );
    let mut out = Parsed::default();
    for (i, row) in table.data.iter().enumerate() {
        let where_ = || {
            format!(
                "STOCK_DAY {code} {asked} row {} ({})",
                i + 1,
                cell(row, c_date)
            )
        };
        let skip = |out: &mut Parsed<DailyBar>, reason: String| {
            tracing::warn!(location = %where_(), %reason, "skipping row");
            out.skipped.push(Skipped {
                location: where_(),
                reason,
            });
        };
        let date = match parse_roc_date(&cell(row, c_date)) {
            Ok(d) => d,
            Err(e) => {
                skip(&mut out, e.to_string());
                continue;
            }
        };
        if (date.year(), date.month()) != (month.year(), month.month()) {
            skip(&mut out, format!("date {date} is outside {asked}"));
            continue;
        }
        let prices = [c_open, c_high, c_low, c_close].map(|c| parse_number(&cell(row, c)));
        let [Some(open), Some(high), Some(low), Some(close)] = prices else {
            skip(&mut out, "no trade (prices are '--')".into());
            continue;
        };
        let volume = parse_number(&cell(row, c_vol)).and_then(|d| u64::try_from(d).ok());
        let value = parse_number(&cell(row, c_val));
        let trades = parse_number(&cell(row, c_trades)).and_then(|d| u64::try_from(d).ok());
        let (Some(volume), Some(value)) = (volume, value) else {
            skip(&mut out, "volume or value is not a number".into());
            continue;
        };
        let bar = DailyBar {
            code: code.clone(),
            exchange: Exchange::Twse,
            date,
            open,
            high,
            low,
            close,
            volume,
            value,
            trades,
        };
        if let Err(e) = bar.validate() {
            skip(&mut out, e.to_string());
            continue;
        }
        out.items.push(bar);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_as_twse_prints_them() {
        assert_eq!(parse_number("1,000.00"), Some(Decimal::new(100000, 2)));
        assert_eq!(parse_number("+42.00"), Some(Decimal::new(4200, 2)));
        assert_eq!(parse_number(" 0.00"), Some(Decimal::new(0, 2)));
        assert_eq!(parse_number("-12.00"), Some(Decimal::new(-1200, 2)));
        assert_eq!(parse_number("--"), None);
        assert_eq!(parse_number("X0.00"), None);
        assert_eq!(parse_number(""), None);
        assert_eq!(parse_number("abc"), None);
    }
}
