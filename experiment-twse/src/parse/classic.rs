//! The classic site (`www.twse.com.tw/rwd/zh/...`): `STOCK_DAY`, `MI_INDEX`, `fund/T86`.
//!
//! These answer `{"stat": ..., "date": "YYYYMMDD", "fields": [...], "data": [[...]]}` (or a
//! list of such `tables`). Columns are found by name, so added or reordered columns (the 註記
//! column of 2025) are harmless.

use chrono::{Datelike, NaiveDate};
use experiment_core::model::{DailyBar, Exchange, SecurityCode};
use serde::Deserialize;

use rust_decimal::Decimal;

use super::{
    cell_text, collect_rows, json_body, malformed, parse_change, parse_count, parse_number,
    parse_signed, signed_change, Listed, Parsed, NO_DATA_STAT,
};
use crate::model::Institutional;
use crate::roc::parse_roc_date;
use crate::{Error, Result};

#[derive(Debug, Deserialize)]
struct Table {
    #[serde(default)]
    stat: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    date: Option<String>,
    #[serde(default)]
    fields: Vec<String>,
    #[serde(default)]
    data: Vec<Vec<serde_json::Value>>,
    #[serde(default)]
    tables: Vec<Table>,
}

/// Column positions by name.
struct Columns<'a> {
    endpoint: &'a str,
    fields: &'a [String],
}

impl Columns<'_> {
    fn find(&self, name: &str) -> Result<usize> {
        // TWSE pads some names with spaces and sometimes writes "成交 金額": compare without them.
        let norm = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
        let want = norm(name);
        self.fields
            .iter()
            .position(|f| norm(f) == want)
            .ok_or_else(|| {
                malformed(
                    self.endpoint,
                    format!("no '{name}' column in {:?}", self.fields),
                )
            })
    }
}

fn check_stat(endpoint: &str, stat: Option<&str>) -> Result<bool> {
    match stat.map(str::trim) {
        Some("OK") | Some("ok") | None => Ok(true),
        Some(s) if s == NO_DATA_STAT || s.contains("沒有符合條件") => Ok(false),
        Some(s) => Err(malformed(endpoint, format!("stat is '{s}'"))),
    }
}

/// Rejects a body about another day than `date`.
fn check_day(endpoint: &str, table: &Table, date: NaiveDate) -> Result<()> {
    match body_date(endpoint, table)? {
        Some(got) if got != date => Err(Error::WrongPeriod {
            endpoint: endpoint.into(),
            asked: date.to_string(),
            got: got.to_string(),
        }),
        _ => Ok(()),
    }
}

fn body_date(endpoint: &str, table: &Table) -> Result<Option<NaiveDate>> {
    table
        .date
        .as_deref()
        .map(|d| {
            NaiveDate::parse_from_str(d, "%Y%m%d")
                .map_err(|_| malformed(endpoint, format!("date '{d}' is not YYYYMMDD")))
        })
        .transpose()
}

/// Parses `rwd/zh/afterTrading/STOCK_DAY` (and the legacy `exchangeReport/STOCK_DAY`): one
/// security, one month of daily bars.
///
/// The body's month must be `month` (any day of the month asked for). A row without a trade
/// (`--`) or with a broken cell is skipped with a reason; the rest of the month is kept.
/// "No data" is an empty result.
///
/// # Errors
/// [`Error::Blocked`] for the block page, [`Error::WrongPeriod`] when the body is about
/// another month, [`Error::Malformed`] when the body is not the documented shape.
pub fn stock_day(body: &[u8], code: &SecurityCode, month: NaiveDate) -> Result<Parsed<DailyBar>> {
    const EP: &str = "STOCK_DAY";
    let table: Table = json_body(EP, body)?;
    if !check_stat(EP, table.stat.as_deref())? {
        return Ok(Parsed::default());
    }
    let asked = format!("{:04}-{:02}", month.year(), month.month());
    if let Some(got) = body_date(EP, &table)? {
        if (got.year(), got.month()) != (month.year(), month.month()) {
            return Err(Error::WrongPeriod {
                endpoint: EP.into(),
                asked,
                got: format!("{:04}-{:02}", got.year(), got.month()),
            });
        }
    }
    let cols = Columns {
        endpoint: EP,
        fields: &table.fields,
    };
    let c_change = cols.find("漲跌價差").ok();
    let (c_date, c_vol, c_val, c_open, c_high, c_low, c_close, c_trades) = (
        cols.find("日期")?,
        cols.find("成交股數")?,
        cols.find("成交金額")?,
        cols.find("開盤價")?,
        cols.find("最高價")?,
        cols.find("最低價")?,
        cols.find("收盤價")?,
        cols.find("成交筆數")?,
    );
    let label = |i: usize, row: &&Vec<serde_json::Value>| {
        format!(
            "{code} {asked} row {} ({})",
            i + 1,
            cell_text(row.get(c_date))
        )
    };
    Ok(collect_rows(EP, table.data.iter(), label, |row| {
        let cell = |c: usize| cell_text(row.get(c));
        let date = parse_roc_date(&cell(c_date)).map_err(|e| e.to_string())?;
        if (date.year(), date.month()) != (month.year(), month.month()) {
            return Err(format!("date {date} is outside {asked}"));
        }
        bar(
            code,
            Exchange::Twse,
            date,
            Cells {
                ohlc: [cell(c_open), cell(c_high), cell(c_low), cell(c_close)],
                volume: &cell(c_vol),
                value: &cell(c_val),
                trades: Some(&cell(c_trades)),
                change: c_change.and_then(|c| parse_change(&cell(c))),
            },
        )
    }))
}

/// Whether a row's cells say the security did not trade: no close, or a zero close.
pub(crate) fn untraded(close: &str) -> bool {
    parse_number(close).is_none_or(|c| c.is_zero())
}

/// The cells of a daily row, as text (the change already read).
pub(crate) struct Cells<'a> {
    pub(crate) ohlc: [String; 4],
    pub(crate) volume: &'a str,
    pub(crate) value: &'a str,
    pub(crate) trades: Option<&'a str>,
    pub(crate) change: Option<Decimal>,
}

/// Builds a validated daily bar from text cells; `Err` says why the row is unusable.
pub(crate) fn bar(
    code: &SecurityCode,
    exchange: Exchange,
    date: NaiveDate,
    cells: Cells<'_>,
) -> std::result::Result<DailyBar, String> {
    let Cells {
        ohlc,
        volume,
        value,
        trades,
        change,
    } = cells;
    let prices = ohlc.map(|c| parse_number(&c));
    let [Some(open), Some(high), Some(low), Some(close)] = prices else {
        return Err("no trade (prices are '--')".into());
    };
    if close.is_zero() {
        return Err("no trade (prices are 0)".into());
    }
    let (Some(volume), Some(value)) = (parse_count(volume), parse_number(value)) else {
        return Err("volume or value is not a number".into());
    };
    let bar = DailyBar {
        code: code.clone(),
        exchange,
        date,
        open,
        high,
        low,
        close,
        volume,
        value,
        trades: trades.and_then(parse_count),
        change,
    };
    bar.validate().map_err(|e| e.to_string())?;
    Ok(bar)
}

/// Parses `rwd/zh/afterTrading/MI_INDEX` (`type=ALLBUT0999` or `ALL`): every listed
/// security's bar for one day. The quotes table is found by its title (每日收盤行情), not by
/// its position, and the sign column's HTML (`<p style= color:red>+</p>`) is ignored: the
/// change is not needed to build a bar.
///
/// # Errors
/// As [`stock_day`]; [`Error::WrongPeriod`] when the body is for another day than `date`.
pub fn mi_index(body: &[u8], date: NaiveDate) -> Result<Parsed<DailyBar>> {
    const EP: &str = "MI_INDEX";
    let root: Table = json_body(EP, body)?;
    if !check_stat(EP, root.stat.as_deref())? {
        return Ok(Parsed::default());
    }
    check_day(EP, &root, date)?;
    let Some(table) = root.tables.iter().find(|t| {
        t.title
            .as_deref()
            .is_some_and(|title| title.contains("每日收盤行情"))
    }) else {
        return Ok(Parsed::default());
    };
    let cols = Columns {
        endpoint: EP,
        fields: &table.fields,
    };
    let c_name = cols.find("證券名稱").ok();
    let (c_sign, c_change) = (cols.find("漲跌(+/-)").ok(), cols.find("漲跌價差").ok());
    let (c_code, c_vol, c_trades, c_val, c_open, c_high, c_low, c_close) = (
        cols.find("證券代號")?,
        cols.find("成交股數")?,
        cols.find("成交筆數")?,
        cols.find("成交金額")?,
        cols.find("開盤價")?,
        cols.find("最高價")?,
        cols.find("最低價")?,
        cols.find("收盤價")?,
    );
    let label = |i: usize, row: &&Vec<serde_json::Value>| {
        format!("{date} row {} ({})", i + 1, cell_text(row.get(c_code)))
    };
    let mut listed = Vec::new();
    let mut parsed = collect_rows(EP, table.data.iter(), label, |row| {
        let cell = |c: usize| cell_text(row.get(c));
        let code = SecurityCode::new(cell(c_code).trim()).map_err(|e| e.to_string())?;
        listed.push(Listed {
            code: code.clone(),
            name: c_name
                .map(|c| cell(c).trim().to_owned())
                .unwrap_or_default(),
            traded: !untraded(&cell(c_close)),
        });
        let change = match (c_sign, c_change) {
            (Some(s), Some(c)) => signed_change(&cell(s), &cell(c)),
            _ => None,
        };
        bar(
            &code,
            Exchange::Twse,
            date,
            Cells {
                ohlc: [cell(c_open), cell(c_high), cell(c_low), cell(c_close)],
                volume: &cell(c_vol),
                value: &cell(c_val),
                trades: Some(&cell(c_trades)),
                change,
            },
        )
    });
    parsed.listed = listed;
    Ok(parsed)
}

/// Parses `rwd/zh/fund/T86`: institutional investors' net buying per security for one day.
///
/// # Errors
/// As [`mi_index`].
pub fn institutional(body: &[u8], date: NaiveDate) -> Result<Parsed<Institutional>> {
    const EP: &str = "T86";
    let table: Table = json_body(EP, body)?;
    if !check_stat(EP, table.stat.as_deref())? {
        return Ok(Parsed::default());
    }
    check_day(EP, &table, date)?;
    let cols = Columns {
        endpoint: EP,
        fields: &table.fields,
    };
    let c_code = cols.find("證券代號")?;
    let c_name = cols.find("證券名稱")?;
    let c_foreign = cols.find("外陸資買賣超股數(不含外資自營商)")?;
    let c_foreign_dealer = cols.find("外資自營商買賣超股數")?;
    let c_trust = cols.find("投信買賣超股數")?;
    let c_dealer = cols.find("自營商買賣超股數")?;
    let c_total = cols.find("三大法人買賣超股數")?;
    let label = |i: usize, row: &&Vec<serde_json::Value>| {
        format!("{date} row {} ({})", i + 1, cell_text(row.get(c_code)))
    };
    Ok(collect_rows(EP, table.data.iter(), label, |row| {
        let cell = |c: usize| cell_text(row.get(c));
        let num = |c: usize, what: &str| {
            parse_signed(&cell(c)).ok_or_else(|| format!("{what} '{}' is not a number", cell(c)))
        };
        Ok(Institutional {
            code: SecurityCode::new(cell(c_code).trim()).map_err(|e| e.to_string())?,
            name: cell(c_name).trim().to_owned(),
            date,
            foreign_net: num(c_foreign, "foreign net")?,
            foreign_dealer_net: num(c_foreign_dealer, "foreign dealer net")?,
            trust_net: num(c_trust, "trust net")?,
            dealer_net: num(c_dealer, "dealer net")?,
            total_net: num(c_total, "total net")?,
        })
    }))
}
