//! Pure `body -> model` functions over recorded TWSE bodies: no I/O, easy to test and fuzz.

use std::time::Duration;

use experiment_core::Skipped;
use rust_decimal::Decimal;

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
    /// For the all-market daily reports (`STOCK_DAY_ALL`, `MI_INDEX`, TPEx daily quotes):
    /// every security the report lists, traded or not, with its name — what market breadth
    /// counts as "not traded". For one security's month (`STOCK_DAY`, TPEx `st43_result`):
    /// that security with the name the body gives (empty when it gives none). Empty for
    /// other endpoints.
    pub listed: Vec<Listed>,
}

impl<T> Default for Parsed<T> {
    fn default() -> Self {
        Parsed {
            items: Vec::new(),
            skipped: Vec::new(),
            listed: Vec::new(),
        }
    }
}

/// One security an all-market daily report lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Its code.
    pub code: experiment_core::model::SecurityCode,
    /// Its short name as the report prints it.
    pub name: String,
    /// Whether it traded that day.
    pub traded: bool,
}

/// The change of a close as the exchanges print it: `+42.00`, `-0.0600`, ` 0.00`, `-0.10 `.
/// `X0.00` (no comparison: ex-rights or ex-dividend), `除息`/`除權` and `--` are `None`.
pub fn parse_change(text: &str) -> Option<Decimal> {
    let t = text.trim();
    if t.contains('除') {
        return None;
    }
    parse_number(t)
}

/// `MI_INDEX` prints the sign apart, as HTML (`<p style= color:green>-</p>`, `<p>X</p>` for no
/// comparison), and the change without it.
pub(crate) fn signed_change(sign_html: &str, magnitude: &str) -> Option<Decimal> {
    if sign_html.contains('X') || sign_html.contains('x') {
        return None;
    }
    let m = parse_number(magnitude)?.abs();
    Some(if sign_html.contains('-') { -m } else { m })
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

pub mod classic;
pub mod mis;
pub mod openapi;
pub mod tpex;

pub use crate::industry::{industry_name, INDUSTRIES};
pub use classic::{institutional, mi_index, stock_day, valuations_on};
pub use mis::{quotes, Board};
pub use openapi::{company_profiles, holidays, stock_day_all, tpex_company_profiles, valuations};
pub use tpex::{
    tpex_daily_quotes, tpex_month_history, tpex_openapi_daily_quotes, tpex_openapi_valuations,
    tpex_valuations,
};

pub(crate) fn malformed(endpoint: &str, reason: impl Into<String>) -> Error {
    Error::Malformed {
        endpoint: endpoint.to_owned(),
        reason: reason.into(),
    }
}

/// Reads a number as TWSE prints it: thousands separators, stray spaces, a leading `+`.
/// `--`, `---`, empty and `X`-prefixed "no comparison" markers are `None`.
pub fn parse_number(text: &str) -> Option<Decimal> {
    // Most cells have nothing to drop: read them in place, and build a new string only for
    // the others (thousands separators, padding, non-ASCII).
    let plain = text
        .bytes()
        .all(|b| b.is_ascii() && b != b',' && !b.is_ascii_whitespace() && b != 0x0b);
    if plain {
        return number(text);
    }
    let t: String = text
        .chars()
        .filter(|c| *c != ',' && !c.is_whitespace())
        .collect();
    number(&t)
}

/// [`parse_number`] of a cell with nothing left to drop.
fn number(t: &str) -> Option<Decimal> {
    let t = t.strip_prefix('+').unwrap_or(t);
    if t.is_empty() || t.starts_with("--") || t.starts_with('X') || t.starts_with('x') {
        return None;
    }
    t.parse().ok()
}

/// A whole number of shares, lots or trades (`"48,129,292"`); `None` when not one.
pub(crate) fn parse_count(text: &str) -> Option<u64> {
    parse_number(text).and_then(|d| u64::try_from(d).ok())
}

/// A signed whole number (net buy/sell in shares).
pub(crate) fn parse_signed(text: &str) -> Option<i64> {
    parse_number(text).and_then(|d| i64::try_from(d).ok())
}

/// A JSON cell as text (TWSE sends strings, occasionally numbers or null).
pub(crate) fn cell_text(v: Option<&serde_json::Value>) -> String {
    match v {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// Collects rows: each row either becomes an item or is skipped (logged) with where and why.
pub(crate) fn collect_rows<I, T>(
    endpoint: &str,
    rows: impl IntoIterator<Item = I>,
    label: impl Fn(usize, &I) -> String,
    mut convert: impl FnMut(&I) -> std::result::Result<T, String>,
) -> Parsed<T> {
    let mut out = Parsed::default();
    for (i, row) in rows.into_iter().enumerate() {
        match convert(&row) {
            Ok(item) => out.items.push(item),
            Err(reason) => {
                let location = format!("{endpoint} {}", label(i, &row));
                // Debug only: a day's report has thousands of untraded rows, and the caller
                // gets every skipped row with its reason to report as it sees fit.
                tracing::debug!(%location, %reason, "skipping row");
                out.skipped.push(Skipped { location, reason });
            }
        }
    }
    out
}

/// Parses a JSON body, after ruling out the block page.
pub(crate) fn json_body<'a, T: serde::Deserialize<'a>>(
    endpoint: &str,
    body: &'a [u8],
) -> Result<T> {
    check_block_page(endpoint, body)?;
    serde_json::from_slice(body)
        .map_err(|e| malformed(endpoint, format!("not the expected JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_as_the_exchanges_print_them() {
        assert_eq!(parse_change("+42.00"), Some(Decimal::new(4200, 2)));
        assert_eq!(parse_change("-0.10 "), Some(Decimal::new(-10, 2)));
        assert_eq!(parse_change(" 0.00"), Some(Decimal::new(0, 2)));
        assert_eq!(parse_change("X0.00"), None);
        assert_eq!(parse_change("除息"), None);
        assert_eq!(
            signed_change("<p style= color:green>-</p>", "1.50"),
            Some(Decimal::new(-150, 2))
        );
        assert_eq!(
            signed_change("<p style= color:red>+</p>", "1.50"),
            Some(Decimal::new(150, 2))
        );
        assert_eq!(signed_change("<p> </p>", "0.00"), Some(Decimal::new(0, 2)));
        assert_eq!(signed_change("<p>X</p>", "0.00"), None);
    }

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
        assert_eq!(parse_number(" 1 234\u{3000}"), Some(Decimal::new(1234, 0)));
        assert_eq!(parse_number("1\u{b}2"), Some(Decimal::new(12, 0)));
        assert_eq!(parse_number("\t+7"), Some(Decimal::new(7, 0)));
    }
}
