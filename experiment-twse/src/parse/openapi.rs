//! The TWSE OpenAPI (`openapi.twse.com.tw/v1`): JSON arrays of flat objects with ROC dates.
//! Unknown fields are ignored; a row missing what we need is skipped with the reason.

use std::borrow::Cow;
use std::collections::HashMap;

use chrono::NaiveDate;
use experiment_core::model::{DailyBar, Exchange, Security, SecurityCode, SecurityKind};

use super::classic::{bar, untraded, Cells};
use super::{collect_rows, json_body, malformed, parse_change, parse_number, Listed, Parsed};
use crate::model::{CalendarDay, Valuation};
use crate::roc::parse_roc_date;
use crate::wire::{self, Cell, StockDayAllRow};
use crate::Result;

type Row = HashMap<String, serde_json::Value>;

fn text_at(row: &Row, key: &str) -> String {
    super::cell_text(row.get(key)).trim().to_owned()
}

/// A wire cell as text (missing and `null` are empty).
fn text<'c>(cell: &'c Option<Cell<'_>>) -> Cow<'c, str> {
    wire::text(cell.as_ref())
}

fn code_of(row: &Row, key: &str) -> std::result::Result<SecurityCode, String> {
    SecurityCode::new(text_at(row, key)).map_err(|e| e.to_string())
}

fn label(key: &'static str) -> impl Fn(usize, &Row) -> String {
    move |i, row| format!("row {} ({})", i + 1, text_at(row, key))
}

/// A date as the OpenAPI writes it: ROC `1150708`, or Gregorian `20260708` / `2026-07-08`.
fn any_date(s: &str) -> std::result::Result<NaiveDate, String> {
    let s = s.trim();
    // Decide by shape, never by trial: "1150101" also parses as %Y%m%d (year 1150).
    let gregorian = match s.len() {
        8 if s.bytes().all(|b| b.is_ascii_digit()) => Some("%Y%m%d"),
        10 if s.as_bytes()[4] == b'-' => Some("%Y-%m-%d"),
        10 if s.as_bytes()[4] == b'/' => Some("%Y/%m/%d"),
        _ => None,
    };
    match gregorian {
        Some(f) => NaiveDate::parse_from_str(s, f).map_err(|_| format!("'{s}' is not a date")),
        None => parse_roc_date(s).map_err(|e| e.to_string()),
    }
}

/// Parses `exchangeReport/STOCK_DAY_ALL`: every listed security's bar for the last trading day.
///
/// The current format carries the date in each row (`Date: "1150708"`); the older one has
/// none, so `date` must be given for it. Untraded rows (`"0.00"` or `""` prices) are skipped
/// with a reason.
///
/// # Errors
/// `Blocked`, or `Malformed` when the body is not a JSON array or has no date at all.
pub fn stock_day_all(body: &[u8], date: Option<NaiveDate>) -> Result<Parsed<DailyBar>> {
    const EP: &str = "STOCK_DAY_ALL";
    let rows: Vec<StockDayAllRow<'_>> = json_body(EP, body)?;
    if date.is_none() && rows.first().is_some_and(|r| r.date.is_none()) {
        return Err(malformed(
            EP,
            "the body has no Date (the older format): pass the trading date",
        ));
    }
    let label =
        |i: usize, row: &StockDayAllRow<'_>| format!("row {} ({})", i + 1, text(&row.code).trim());
    let mut listed = Vec::new();
    let mut parsed = collect_rows(EP, rows, label, |row| {
        let day = match &row.date {
            Some(d) => any_date(&d.text())?,
            None => date.ok_or("no Date")?,
        };
        let code = SecurityCode::new(text(&row.code).trim()).map_err(|e| e.to_string())?;
        let close = text(&row.closing_price);
        listed.push(Listed {
            code: code.clone(),
            name: text(&row.name).trim().to_owned(),
            traded: !untraded(&close),
        });
        let (open, high, low) = (
            text(&row.opening_price),
            text(&row.highest_price),
            text(&row.lowest_price),
        );
        bar(
            &code,
            Exchange::Twse,
            day,
            Cells {
                ohlc: [open.trim(), high.trim(), low.trim(), close.trim()],
                volume: text(&row.trade_volume).trim(),
                value: text(&row.trade_value).trim(),
                trades: Some(text(&row.transaction).trim()),
                change: parse_change(&text(&row.change)),
            },
        )
    });
    parsed.listed = listed;
    Ok(parsed)
}

/// Parses `exchangeReport/BWIBBU_ALL`: P/E, dividend yield and P/B per security. An empty
/// ratio (a company with losses has no P/E) is `None`, not an error.
///
/// # Errors
/// `Blocked` or `Malformed`.
pub fn valuations(body: &[u8]) -> Result<Parsed<Valuation>> {
    const EP: &str = "BWIBBU_ALL";
    let rows: Vec<Row> = json_body(EP, body)?;
    Ok(collect_rows(EP, rows, label("Code"), |row| {
        Ok(Valuation {
            code: code_of(row, "Code")?,
            name: text_at(row, "Name"),
            date: any_date(&text_at(row, "Date"))?,
            pe: parse_number(&text_at(row, "PEratio")),
            dividend_yield: parse_number(&text_at(row, "DividendYield")),
            pb: parse_number(&text_at(row, "PBratio")),
        })
    }))
}

/// The industry's name for an exchange industry code (`24` → `半導體業`); an unknown code is
/// kept as it is, so nothing is lost.
fn industry(code: &str) -> Option<String> {
    let code = code.trim();
    if code.is_empty() {
        return None;
    }
    Some(crate::industry::industry_name(code).map_or_else(|| code.to_owned(), str::to_owned))
}

/// Parses `opendata/t187ap03_L` (listed company profiles, Chinese keys) into securities.
/// `industry` is the name of the exchange's industry code (產業別 `24` → `半導體業`).
///
/// # Errors
/// `Blocked` or `Malformed`.
pub fn company_profiles(body: &[u8]) -> Result<Parsed<Security>> {
    const EP: &str = "t187ap03_L";
    let rows: Vec<Row> = json_body(EP, body)?;
    Ok(collect_rows(EP, rows, label("公司代號"), |row| {
        let mut s = Security::new(
            code_of(row, "公司代號")?,
            Exchange::Twse,
            text_at(row, "公司簡稱"),
        );
        s.full_name = Some(text_at(row, "公司名稱")).filter(|n| !n.is_empty());
        s.industry = industry(&text_at(row, "產業別"));
        s.listed_on = any_date(&text_at(row, "上市日期")).ok();
        s.kind = SecurityKind::Stock;
        if s.name.is_empty() {
            return Err("no short name (公司簡稱)".into());
        }
        Ok(s)
    }))
}

/// Parses the TPEx OpenAPI `mopsfin_t187ap03_O` (OTC company profiles, English keys).
///
/// # Errors
/// `Blocked` or `Malformed`.
pub fn tpex_company_profiles(body: &[u8]) -> Result<Parsed<Security>> {
    const EP: &str = "mopsfin_t187ap03_O";
    let rows: Vec<Row> = json_body(EP, body)?;
    Ok(collect_rows(
        EP,
        rows,
        label("SecuritiesCompanyCode"),
        |row| {
            let mut s = Security::new(
                code_of(row, "SecuritiesCompanyCode")?,
                Exchange::Tpex,
                text_at(row, "CompanyAbbreviation"),
            );
            s.full_name = Some(text_at(row, "CompanyName")).filter(|n| !n.is_empty());
            s.industry = industry(&text_at(row, "SecuritiesIndustryCode"));
            s.listed_on = any_date(&text_at(row, "DateOfListing")).ok();
            if s.name.is_empty() {
                return Err("no short name (CompanyAbbreviation)".into());
            }
            Ok(s)
        },
    ))
}

/// Parses `holidaySchedule/holidaySchedule`. Not every row is a holiday: the calendar also
/// lists the first and last trading days around long holidays and settlement-only days, so
/// each row says whether the market trades.
///
/// # Errors
/// `Blocked` or `Malformed`.
pub fn holidays(body: &[u8]) -> Result<Parsed<CalendarDay>> {
    const EP: &str = "holidaySchedule";
    let rows: Vec<Row> = json_body(EP, body)?;
    Ok(collect_rows(EP, rows, label("Date"), |row| {
        let (name, description) = (text_at(row, "Name"), text_at(row, "Description"));
        let all = format!("{name} {description}");
        let closed_words = ["無交易", "不交易", "休市", "停止交易", "放假"];
        let trading = all.contains("開始交易")
            || all.contains("最後交易")
            || (all.contains("交易") && !closed_words.iter().any(|w| all.contains(w)));
        Ok(CalendarDay {
            date: any_date(&text_at(row, "Date"))?,
            name,
            description,
            trading,
        })
    }))
}
