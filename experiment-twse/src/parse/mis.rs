//! MIS real-time snapshots (`mis.twse.com.tw/stock/api/getStockInfo.jsp` and `getOddInfo.jsp`).
//!
//! Field names are MIS's one-letter codes: `c` code, `n` name, `ex` tse/otc, `z` last trade
//! (`-` when this snapshot had no trade — not "market closed"), `tv` its volume, `v`
//! cumulative volume, `o`/`h`/`l` session open/high/low, `y` reference price, `u`/`w` limit
//! up/down, `a`/`f` ask prices/volumes and `b`/`g` bid prices/volumes as `_`-joined lists
//! (`-` when empty, as at limit-up), `tlong` the exchange's time in epoch ms. Codes MIS does
//! not know are simply absent from `msgArray`.

use chrono::{DateTime, NaiveDateTime, Utc};
use experiment_core::model::{BookLevel, Exchange, Quote, SecurityCode, MARKET_TZ};
use rust_decimal::Decimal;
use serde::Deserialize;
use std::borrow::Cow;

use super::{collect_rows, json_body, malformed, parse_count, parse_number, Parsed};
use crate::wire::{Cell, MisItem};
use crate::Result;

/// Which board a snapshot is from: volumes are board lots (1,000 shares) on the regular board
/// and shares on the odd-lot board.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Board {
    /// `getStockInfo.jsp`.
    Regular,
    /// `getOddInfo.jsp` (intraday odd lots).
    OddLot,
}

#[derive(Deserialize)]
struct Response<'a> {
    #[serde(rename = "msgArray", default, borrow)]
    msg_array: Vec<MisItem<'a>>,
    #[serde(default)]
    rtcode: Option<String>,
    #[serde(default)]
    rtmessage: Option<String>,
}

/// A field's text: a string trimmed, or a number; `None` when absent, empty, `-` or another
/// kind of value.
fn field<'c>(cell: &'c Option<Cell<'_>>) -> Option<Cow<'c, str>> {
    match cell {
        Some(Cell::Str(s)) => {
            let s = s.trim();
            (!s.is_empty() && s != "-").then_some(Cow::Borrowed(s))
        }
        Some(Cell::Number(n)) => Some(Cow::Owned(n.to_string())),
        _ => None,
    }
}

fn price(cell: &Option<Cell<'_>>) -> Option<Decimal> {
    field(cell)
        .and_then(|s| parse_number(&s))
        .filter(|p| !p.is_zero())
}

fn book(prices: &Option<Cell<'_>>, volumes: &Option<Cell<'_>>, lot: u64) -> Vec<BookLevel> {
    let (Some(p), Some(v)) = (field(prices), field(volumes)) else {
        return Vec::new();
    };
    p.split('_')
        .zip(v.split('_'))
        .filter_map(|(p, v)| {
            let price = parse_number(p).filter(|p| !p.is_zero())?;
            Some(BookLevel {
                price,
                // A volume too large to be one (it would overflow in shares) is no level.
                volume: parse_count(v)?.checked_mul(lot)?,
            })
        })
        .collect()
}

/// Parses a `getStockInfo.jsp` / `getOddInfo.jsp` body into quotes, stamped `received_at`.
///
/// # Errors
/// `Blocked`, or `Malformed` when the body is not MIS JSON or `rtcode` is not `0000`.
pub fn quotes(body: &[u8], board: Board, received_at: DateTime<Utc>) -> Result<Parsed<Quote>> {
    const EP: &str = "getStockInfo";
    let r: Response = json_body(EP, body)?;
    if let Some(code) = r.rtcode.as_deref().filter(|c| *c != "0000") {
        return Err(malformed(
            EP,
            format!("rtcode {code}: {}", r.rtmessage.unwrap_or_default()),
        ));
    }
    let lot = match board {
        Board::Regular => 1000,
        Board::OddLot => 1,
    };
    let label = |i: usize, item: &MisItem<'_>| {
        format!("item {} ({})", i + 1, field(&item.c).unwrap_or_default())
    };
    Ok(collect_rows(EP, r.msg_array, label, |item| {
        let code = SecurityCode::new(field(&item.c).ok_or("no code (c)")?.as_ref())
            .map_err(|e| e.to_string())?;
        let exchange = match field(&item.ex).as_deref() {
            Some("otc") => Exchange::Tpex,
            _ => Exchange::Twse,
        };
        let exchange_time = match field(&item.tlong).and_then(|t| t.parse::<i64>().ok()) {
            Some(ms) => DateTime::from_timestamp_millis(ms).ok_or("tlong out of range")?,
            None => {
                let (d, t) = (
                    field(&item.d).ok_or("no time (tlong, d)")?,
                    field(&item.t).unwrap_or_default(),
                );
                let local = NaiveDateTime::parse_from_str(&format!("{d} {t}"), "%Y%m%d %H:%M:%S")
                    .map_err(|_| format!("time '{d} {t}'"))?;
                local
                    .and_local_timezone(MARKET_TZ)
                    .single()
                    .ok_or("ambiguous local time")?
                    .with_timezone(&Utc)
            }
        };
        // An index channel (it == "t", e.g. t00 TAIEX) has no board lots and no book.
        let index = field(&item.it).as_deref() == Some("t");
        let volume = |cell: &Option<Cell<'_>>| {
            if index {
                None
            } else {
                // A count that overflows in shares is not a volume: absent, never a wrap or a panic.
                field(cell)
                    .and_then(|v| parse_count(&v))
                    .and_then(|v| v.checked_mul(lot))
            }
        };
        Ok(Quote {
            code,
            exchange,
            name: field(&item.n).unwrap_or_default().into_owned(),
            last: price(&item.z),
            // The odd-lot board leaves `tv` as "-" and puts the last trade's size in `s`
            // (mis_getOddInfo_2330_afterclose_20231229.json: "tv":"-", "s":"4071"); the
            // regular board's `tv` is the one to trust there.
            last_volume: match board {
                Board::Regular => volume(&item.tv),
                Board::OddLot => volume(&item.tv).or_else(|| volume(&item.s)),
            },
            open: price(&item.o),
            high: price(&item.h),
            low: price(&item.l),
            reference: price(&item.y),
            limit_up: price(&item.u),
            limit_down: price(&item.w),
            volume: volume(&item.v),
            bids: book(&item.b, &item.g, lot),
            asks: book(&item.a, &item.f, lot),
            exchange_time,
            received_at,
        })
    }))
}
