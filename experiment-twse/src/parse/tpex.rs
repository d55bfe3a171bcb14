//! TPEx (上櫃): the site's daily quotes and its OpenAPI close quotes.

use chrono::NaiveDate;
use experiment_core::model::{DailyBar, Exchange, SecurityCode};
use serde::Deserialize;

use super::classic::{bar, untraded, Cells};
use super::{cell_text, collect_rows, json_body, malformed, parse_change, Listed, Parsed};
use crate::{Error, Result};

#[derive(Deserialize)]
struct Quotes {
    #[serde(default)]
    date: Option<String>,
    #[serde(default)]
    tables: Vec<QuoteTable>,
}

#[derive(Deserialize)]
struct QuoteTable {
    #[serde(default)]
    title: String,
    #[serde(default)]
    fields: Vec<String>,
    #[serde(default)]
    data: Vec<Vec<serde_json::Value>>,
}

/// Parses `www/zh-tw/afterTrading/dailyQuotes`: every OTC security's bar for `date`.
/// The quotes table is found by its title (上櫃股票行情); `---` rows (no trade) are skipped.
///
/// # Errors
/// `Blocked`, `Malformed`, or `WrongPeriod` for a body about another day.
pub fn tpex_daily_quotes(body: &[u8], date: NaiveDate) -> Result<Parsed<DailyBar>> {
    const EP: &str = "tpex dailyQuotes";
    let q: Quotes = json_body(EP, body)?;
    if let Some(d) = q.date.as_deref().filter(|d| !d.is_empty()) {
        let got = NaiveDate::parse_from_str(d, "%Y%m%d")
            .map_err(|_| malformed(EP, format!("date '{d}'")))?;
        if got != date {
            return Err(Error::WrongPeriod {
                endpoint: EP.into(),
                asked: date.to_string(),
                got: got.to_string(),
            });
        }
    }
    let Some(t) = q.tables.iter().find(|t| t.title.contains("上櫃股票行情")) else {
        return Ok(Parsed::default());
    };
    let col = |name: &str| {
        t.fields
            .iter()
            .position(|f| f.trim() == name)
            .ok_or_else(|| malformed(EP, format!("no '{name}' column")))
    };
    let (c_name, c_change) = (col("名稱").ok(), col("漲跌").ok());
    let (c_code, c_close, c_open, c_high, c_low, c_vol, c_val, c_trades) = (
        col("代號")?,
        col("收盤")?,
        col("開盤")?,
        col("最高")?,
        col("最低")?,
        col("成交股數")?,
        col("成交金額(元)")?,
        col("成交筆數")?,
    );
    let label = |i: usize, row: &&Vec<serde_json::Value>| {
        format!("{date} row {} ({})", i + 1, cell_text(row.get(c_code)))
    };
    let mut listed = Vec::new();
    let mut parsed = collect_rows(EP, t.data.iter(), label, |row| {
        let cell = |c: usize| cell_text(row.get(c));
        let code = SecurityCode::new(cell(c_code).trim()).map_err(|e| e.to_string())?;
        listed.push(Listed {
            code: code.clone(),
            name: c_name
                .map(|c| cell(c).trim().to_owned())
                .unwrap_or_default(),
            traded: !untraded(&cell(c_close)),
        });
        bar(
            &code,
            Exchange::Tpex,
            date,
            Cells {
                ohlc: [cell(c_open), cell(c_high), cell(c_low), cell(c_close)],
                volume: &cell(c_vol),
                value: &cell(c_val),
                trades: Some(&cell(c_trades)),
                change: c_change.and_then(|c| parse_change(&cell(c))),
            },
        )
    });
    parsed.listed = listed;
    Ok(parsed)
}

/// Parses the TPEx OpenAPI `tpex_mainboard_daily_close_quotes` (ROC `Date` in each row).
///
/// # Errors
/// `Blocked` or `Malformed`.
pub fn tpex_openapi_daily_quotes(body: &[u8]) -> Result<Parsed<DailyBar>> {
    const EP: &str = "tpex_mainboard_daily_close_quotes";
    let rows: Vec<std::collections::HashMap<String, serde_json::Value>> = json_body(EP, body)?;
    let text = |row: &std::collections::HashMap<String, serde_json::Value>, k: &str| {
        cell_text(row.get(k)).trim().to_owned()
    };
    Ok(collect_rows(
        EP,
        rows,
        |i, row| format!("row {} ({})", i + 1, text(row, "SecuritiesCompanyCode")),
        |row| {
            let date = crate::roc::parse_roc_date(&text(row, "Date")).map_err(|e| e.to_string())?;
            let code =
                SecurityCode::new(text(row, "SecuritiesCompanyCode")).map_err(|e| e.to_string())?;
            let ohlc = ["Open", "High", "Low", "Close"].map(|k| text(row, k));
            bar(
                &code,
                Exchange::Tpex,
                date,
                Cells {
                    ohlc,
                    volume: &text(row, "TradingShares"),
                    value: &text(row, "TransactionAmount"),
                    trades: Some(&text(row, "TransactionNumber")),
                    change: parse_change(&text(row, "Change")),
                },
            )
        },
    ))
}
