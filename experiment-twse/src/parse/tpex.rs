//! TPEx (上櫃): the site's daily quotes and its OpenAPI close quotes.

use chrono::{Datelike, NaiveDate};
use experiment_core::model::{DailyBar, Exchange, SecurityCode};
use rust_decimal::Decimal;
use serde::Deserialize;

use super::classic::{bar, untraded, Cells};
use super::{
    cell_text, collect_rows, json_body, malformed, parse_change, parse_count, parse_number, Listed,
    Parsed,
};
use crate::model::Valuation;
use crate::roc::parse_roc_date;
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
                ohlc: [&cell(c_open), &cell(c_high), &cell(c_low), &cell(c_close)],
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
/// Every row's security, traded or not, is in [`Parsed::listed`] with its `CompanyName`.
///
/// # Errors
/// `Blocked` or `Malformed`.
pub fn tpex_openapi_daily_quotes(body: &[u8]) -> Result<Parsed<DailyBar>> {
    const EP: &str = "tpex_mainboard_daily_close_quotes";
    let rows: Vec<std::collections::HashMap<String, serde_json::Value>> = json_body(EP, body)?;
    let text = |row: &std::collections::HashMap<String, serde_json::Value>, k: &str| {
        cell_text(row.get(k)).trim().to_owned()
    };
    let mut listed = Vec::new();
    let mut parsed = collect_rows(
        EP,
        rows,
        |i, row| format!("row {} ({})", i + 1, text(row, "SecuritiesCompanyCode")),
        |row| {
            let date = crate::roc::parse_roc_date(&text(row, "Date")).map_err(|e| e.to_string())?;
            let code =
                SecurityCode::new(text(row, "SecuritiesCompanyCode")).map_err(|e| e.to_string())?;
            listed.push(Listed {
                code: code.clone(),
                name: text(row, "CompanyName"),
                traded: !untraded(&text(row, "Close")),
            });
            let ohlc = ["Open", "High", "Low", "Close"].map(|k| text(row, k));
            bar(
                &code,
                Exchange::Tpex,
                date,
                Cells {
                    ohlc: ohlc.each_ref().map(String::as_str),
                    volume: &text(row, "TradingShares"),
                    value: &text(row, "TransactionAmount"),
                    trades: Some(&text(row, "TransactionNumber")),
                    change: parse_change(&text(row, "Change")),
                },
            )
        },
    );
    parsed.listed = listed;
    Ok(parsed)
}

#[derive(Deserialize)]
struct St43 {
    #[serde(rename = "stkNo", default)]
    stk_no: Option<String>,
    #[serde(rename = "stkName", default)]
    stk_name: Option<String>,
    #[serde(rename = "reportDate", default)]
    report_date: Option<String>,
    #[serde(rename = "aaData", default)]
    aa_data: Vec<Vec<serde_json::Value>>,
}

/// Parses TPEx's per-security month (`web/stock/aftertrading/daily_trading_info/st43_result.php`,
/// the legacy `aaData` format; fixture `tpex_st43_result_6223_201505.json`): one OTC
/// security's daily bars for one month.
///
/// Its quirks: the columns have no names (date, volume, value, open, high, low, close, change,
/// trades, by position); volume is in lots of 1,000 shares and value in thousands of NT$, so
/// both are multiplied by 1,000 (the value is the exchange's rounded figure); an up change has
/// no `+`. The body's `stkNo` must be `code` and its `reportDate` (`104/5`) the month asked
/// for; `stkName` goes to [`Parsed::listed`]. An empty `aaData` is "no data".
///
/// # Errors
/// `Blocked`, `Malformed`, [`Error::WrongSecurity`] or [`Error::WrongPeriod`].
pub fn tpex_month_history(
    body: &[u8],
    code: &SecurityCode,
    month: NaiveDate,
) -> Result<Parsed<DailyBar>> {
    const EP: &str = "tpex st43_result";
    let st: St43 = json_body(EP, body)?;
    let asked = format!("{:04}-{:02}", month.year(), month.month());
    let got_code = st.stk_no.as_deref().map(str::trim).unwrap_or_default();
    if !got_code.is_empty() && got_code != code.as_str() {
        return Err(Error::WrongSecurity {
            endpoint: EP.into(),
            asked: code.to_string(),
            got: got_code.to_owned(),
        });
    }
    if let Some(rd) = st.report_date.as_deref().filter(|d| !d.trim().is_empty()) {
        let (y, m) = rd
            .trim()
            .split_once('/')
            .and_then(|(y, m)| Some((y.parse::<i32>().ok()? + 1911, m.parse::<u32>().ok()?)))
            .ok_or_else(|| malformed(EP, format!("reportDate '{rd}' is not ROC year/month")))?;
        if (y, m) != (month.year(), month.month()) {
            return Err(Error::WrongPeriod {
                endpoint: EP.into(),
                asked,
                got: format!("{y:04}-{m:02}"),
            });
        }
    }
    let label = |i: usize, row: &&Vec<serde_json::Value>| {
        format!("{code} {asked} row {} ({})", i + 1, cell_text(row.first()))
    };
    let thousand = |text: &str| parse_number(text).map(|d| (d * Decimal::from(1000)).to_string());
    let mut parsed = collect_rows(EP, st.aa_data.iter(), label, |row| {
        if row.len() < 9 {
            return Err(format!("{} cells, 9 expected", row.len()));
        }
        let cell = |c: usize| cell_text(row.get(c));
        let date = parse_roc_date(&cell(0)).map_err(|e| e.to_string())?;
        if (date.year(), date.month()) != (month.year(), month.month()) {
            return Err(format!("date {date} is outside {asked}"));
        }
        let lots = parse_count(&cell(1)).ok_or_else(|| format!("volume '{}'", cell(1)))?;
        let value = thousand(&cell(2)).ok_or_else(|| format!("value '{}'", cell(2)))?;
        bar(
            code,
            Exchange::Tpex,
            date,
            Cells {
                ohlc: [&cell(3), &cell(4), &cell(5), &cell(6)],
                volume: &(lots.saturating_mul(1000)).to_string(),
                value: &value,
                trades: Some(&cell(8)),
                change: parse_change(&cell(7)),
            },
        )
    });
    if !st.aa_data.is_empty() || !got_code.is_empty() {
        parsed.listed = vec![Listed {
            code: code.clone(),
            name: st.stk_name.unwrap_or_default().trim().to_owned(),
            traded: !parsed.items.is_empty(),
        }];
    }
    Ok(parsed)
}

#[derive(Deserialize)]
struct PeTable {
    #[serde(default)]
    fields: Vec<String>,
    #[serde(default)]
    data: Vec<Vec<serde_json::Value>>,
}

#[derive(Deserialize)]
struct PeBody {
    #[serde(default)]
    date: Option<String>,
    #[serde(default)]
    tables: Vec<PeTable>,
}

/// Parses TPEx `www/zh-tw/afterTrading/peQryDate` (fixture `tpex_pera_20230130.json`): P/E,
/// dividend yield and P/B of every OTC stock on `date`. A ratio TPEx leaves out (losses: no
/// P/E) is `None`.
///
/// # Errors
/// `Blocked`, `Malformed`, or `WrongPeriod` for a body about another day.
pub fn tpex_valuations(body: &[u8], date: NaiveDate) -> Result<Parsed<Valuation>> {
    const EP: &str = "tpex peQryDate";
    let b: PeBody = json_body(EP, body)?;
    if let Some(d) = b.date.as_deref().filter(|d| !d.is_empty()) {
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
    let Some(t) = b.tables.first() else {
        return Ok(Parsed::default());
    };
    let col = |name: &str| {
        t.fields
            .iter()
            .position(|f| f.trim() == name)
            .ok_or_else(|| malformed(EP, format!("no '{name}' column in {:?}", t.fields)))
    };
    let (c_code, c_name, c_pe, c_yield, c_pb) = (
        col("股票代號")?,
        col("公司名稱")?,
        col("本益比")?,
        col("殖利率(%)")?,
        col("股價淨值比")?,
    );
    let label = |i: usize, row: &&Vec<serde_json::Value>| {
        format!("{date} row {} ({})", i + 1, cell_text(row.get(c_code)))
    };
    Ok(collect_rows(EP, t.data.iter(), label, |row| {
        let cell = |c: usize| cell_text(row.get(c));
        Ok(Valuation {
            code: SecurityCode::new(cell(c_code).trim()).map_err(|e| e.to_string())?,
            name: cell(c_name).trim().to_owned(),
            date,
            pe: parse_number(&cell(c_pe)),
            dividend_yield: parse_number(&cell(c_yield)),
            pb: parse_number(&cell(c_pb)),
        })
    }))
}

/// Parses the TPEx OpenAPI `tpex_mainboard_peratio_analysis` (latest day; ROC `Date` in each
/// row).
///
/// # Errors
/// `Blocked` or `Malformed`.
pub fn tpex_openapi_valuations(body: &[u8]) -> Result<Parsed<Valuation>> {
    const EP: &str = "tpex_mainboard_peratio_analysis";
    let rows: Vec<std::collections::HashMap<String, serde_json::Value>> = json_body(EP, body)?;
    let text = |row: &std::collections::HashMap<String, serde_json::Value>, k: &str| {
        cell_text(row.get(k)).trim().to_owned()
    };
    Ok(collect_rows(
        EP,
        rows,
        |i, row| format!("row {} ({})", i + 1, text(row, "SecuritiesCompanyCode")),
        |row| {
            Ok(Valuation {
                code: SecurityCode::new(text(row, "SecuritiesCompanyCode"))
                    .map_err(|e| e.to_string())?,
                name: text(row, "CompanyName"),
                date: parse_roc_date(&text(row, "Date")).map_err(|e| e.to_string())?,
                pe: parse_number(&text(row, "PriceEarningRatio")),
                dividend_yield: parse_number(&text(row, "YieldRatio")),
                pb: parse_number(&text(row, "PriceBookRatio")),
            })
        },
    ))
}
