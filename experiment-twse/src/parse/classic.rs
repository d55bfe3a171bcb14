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
    collect_rows, json_body, malformed, parse_change, parse_count, parse_number, parse_signed,
    signed_change, Listed, Parsed, NO_DATA_STAT,
};
use crate::model::{Institutional, Valuation};
use crate::roc::parse_roc_date;
use crate::wire::{text, Row};
use crate::{Error, Result};

#[derive(Debug, Deserialize)]
struct Table<'a> {
    #[serde(default)]
    stat: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    date: Option<String>,
    #[serde(default)]
    fields: Vec<String>,
    #[serde(default, borrow)]
    data: Vec<Row<'a>>,
    #[serde(default, borrow)]
    tables: Vec<Table<'a>>,
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
fn check_day(endpoint: &str, table: &Table<'_>, date: NaiveDate) -> Result<()> {
    match body_date(endpoint, table)? {
        Some(got) if got != date => Err(Error::WrongPeriod {
            endpoint: endpoint.into(),
            asked: date.to_string(),
            got: got.to_string(),
        }),
        _ => Ok(()),
    }
}

fn body_date(endpoint: &str, table: &Table<'_>) -> Result<Option<NaiveDate>> {
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
/// The body's month must be `month` (any day of the month asked for) and its title's code
/// must be `code`; the short name in the title is returned in [`Parsed::listed`] (one entry).
/// A row without a trade
/// (`--`) or with a broken cell is skipped with a reason; the rest of the month is kept.
/// "No data" is an empty result.
///
/// # Errors
/// [`Error::Blocked`] for the block page, [`Error::WrongPeriod`] when the body is about
/// another month, [`Error::WrongSecurity`] when its title names another code, [`Error::Malformed`] when the body is not the documented shape.
pub fn stock_day(body: &[u8], code: &SecurityCode, month: NaiveDate) -> Result<Parsed<DailyBar>> {
    const EP: &str = "STOCK_DAY";
    let table: Table<'_> = json_body(EP, body)?;
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
    // The month is checked above; the security must be checked too: a body about another
    // code (TWSE asked for an OTC code, a mixed-up cache) must never be relabelled as `code`.
    let named = table.title.as_deref().and_then(title_security);
    if let Some((got, _)) = &named {
        if got != code.as_str() {
            return Err(Error::WrongSecurity {
                endpoint: EP.into(),
                asked: code.to_string(),
                got: table.title.as_deref().map_or_else(
                    || got.clone(),
                    |t| {
                        format!(
                            "{got} (title '{}')",
                            t.split_whitespace().collect::<Vec<_>>().join(" ")
                        )
                    },
                ),
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
    let label = |i: usize, row: &&Row<'_>| {
        format!("{code} {asked} row {} ({})", i + 1, text(row.get(c_date)))
    };
    let mut parsed = collect_rows(EP, table.data.iter(), label, |row| {
        let cell = |c: usize| text(row.get(c));
        let date = parse_roc_date(&cell(c_date)).map_err(|e| e.to_string())?;
        if (date.year(), date.month()) != (month.year(), month.month()) {
            return Err(format!("date {date} is outside {asked}"));
        }
        let (open, high, low, close) = (cell(c_open), cell(c_high), cell(c_low), cell(c_close));
        bar(
            code,
            Exchange::Twse,
            date,
            Cells {
                ohlc: [&open, &high, &low, &close],
                volume: &cell(c_vol),
                value: &cell(c_val),
                trades: Some(&cell(c_trades)),
                change: c_change.and_then(|c| parse_change(&cell(c))),
            },
        )
    });
    parsed.listed = vec![Listed {
        code: code.clone(),
        name: named.map(|(_, name)| name).unwrap_or_default(),
        traded: !parsed.items.is_empty(),
    }];
    Ok(parsed)
}

/// The code and short name in a `STOCK_DAY` title, `104年05月 2330 台積電    各日成交資訊`:
/// the first token after the ROC month, and the next one unless it is the report's name.
/// `None` when the title has no such token (then the code cannot be checked).
fn title_security(title: &str) -> Option<(String, String)> {
    let mut tokens = title.split_whitespace().skip_while(|t| t.contains('年'));
    let code = tokens
        .next()
        .filter(|t| t.chars().all(|c| c.is_ascii_alphanumeric()))?;
    let name = tokens
        .next()
        .filter(|t| !t.contains("成交資訊"))
        .unwrap_or_default();
    Some((code.to_owned(), name.to_owned()))
}

/// Whether a row's cells say the security did not trade: no close, or a zero close.
pub(crate) fn untraded(close: &str) -> bool {
    parse_number(close).is_none_or(|c| c.is_zero())
}

/// The cells of a daily row, as text (the change already read).
pub(crate) struct Cells<'a> {
    pub(crate) ohlc: [&'a str; 4],
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
    let prices = ohlc.map(parse_number);
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
    let root: Table<'_> = json_body(EP, body)?;
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
    let label =
        |i: usize, row: &&Row<'_>| format!("{date} row {} ({})", i + 1, text(row.get(c_code)));
    let mut listed = Vec::new();
    let mut parsed = collect_rows(EP, table.data.iter(), label, |row| {
        let cell = |c: usize| text(row.get(c));
        let code = SecurityCode::new(cell(c_code).trim()).map_err(|e| e.to_string())?;
        let close = cell(c_close);
        listed.push(Listed {
            code: code.clone(),
            name: c_name
                .map(|c| cell(c).trim().to_owned())
                .unwrap_or_default(),
            traded: !untraded(&close),
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
                ohlc: [&cell(c_open), &cell(c_high), &cell(c_low), &close],
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
    let table: Table<'_> = json_body(EP, body)?;
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
    let optional = |name: &str| cols.find(name).ok();
    let gross = [
        "外陸資買進股數(不含外資自營商)",
        "外陸資賣出股數(不含外資自營商)",
        "外資自營商買進股數",
        "外資自營商賣出股數",
        "投信買進股數",
        "投信賣出股數",
        "自營商買進股數(自行買賣)",
        "自營商賣出股數(自行買賣)",
        "自營商買賣超股數(自行買賣)",
        "自營商買進股數(避險)",
        "自營商賣出股數(避險)",
        "自營商買賣超股數(避險)",
    ]
    .map(optional);
    let label =
        |i: usize, row: &&Row<'_>| format!("{date} row {} ({})", i + 1, text(row.get(c_code)));
    Ok(collect_rows(EP, table.data.iter(), label, |row| {
        let cell = |c: usize| text(row.get(c));
        let num = |c: usize, what: &str| {
            parse_signed(&cell(c)).ok_or_else(|| format!("{what} '{}' is not a number", cell(c)))
        };
        let opt = |c: Option<usize>, what: &str| c.map(|c| num(c, what)).transpose();
        Ok(Institutional {
            code: SecurityCode::new(cell(c_code).trim()).map_err(|e| e.to_string())?,
            name: cell(c_name).trim().to_owned(),
            date,
            foreign_net: num(c_foreign, "foreign net")?,
            foreign_dealer_net: num(c_foreign_dealer, "foreign dealer net")?,
            trust_net: num(c_trust, "trust net")?,
            dealer_net: num(c_dealer, "dealer net")?,
            total_net: num(c_total, "total net")?,
            foreign_buy: opt(gross[0], "foreign buy")?,
            foreign_sell: opt(gross[1], "foreign sell")?,
            foreign_dealer_buy: opt(gross[2], "foreign dealer buy")?,
            foreign_dealer_sell: opt(gross[3], "foreign dealer sell")?,
            trust_buy: opt(gross[4], "trust buy")?,
            trust_sell: opt(gross[5], "trust sell")?,
            dealer_own_buy: opt(gross[6], "dealer own-account buy")?,
            dealer_own_sell: opt(gross[7], "dealer own-account sell")?,
            dealer_own_net: opt(gross[8], "dealer own-account net")?,
            dealer_hedge_buy: opt(gross[9], "dealer hedging buy")?,
            dealer_hedge_sell: opt(gross[10], "dealer hedging sell")?,
            dealer_hedge_net: opt(gross[11], "dealer hedging net")?,
        })
    }))
}

/// Parses `rwd/zh/afterTrading/BWIBBU_d` (`selectType=ALL`; fixture
/// `twse_rwd_BWIBBU_d_ALL_20230130.json`): P/E, dividend yield and P/B of every listed stock
/// on `date`. A ratio the exchange leaves out (`-`: losses have no P/E) is `None`; columns are
/// found by name, so the 收盤價 column of later years is harmless. "No data" is empty.
///
/// # Errors
/// As [`mi_index`].
pub fn valuations_on(body: &[u8], date: NaiveDate) -> Result<Parsed<Valuation>> {
    const EP: &str = "BWIBBU_d";
    let table: Table<'_> = json_body(EP, body)?;
    if !check_stat(EP, table.stat.as_deref())? {
        return Ok(Parsed::default());
    }
    check_day(EP, &table, date)?;
    let cols = Columns {
        endpoint: EP,
        fields: &table.fields,
    };
    let (c_code, c_name, c_yield, c_pe, c_pb) = (
        cols.find("證券代號")?,
        cols.find("證券名稱")?,
        cols.find("殖利率(%)")?,
        cols.find("本益比")?,
        cols.find("股價淨值比")?,
    );
    let label =
        |i: usize, row: &&Row<'_>| format!("{date} row {} ({})", i + 1, text(row.get(c_code)));
    Ok(collect_rows(EP, table.data.iter(), label, |row| {
        let cell = |c: usize| text(row.get(c));
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
