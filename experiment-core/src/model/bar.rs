//! Daily and intraday bars.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{Exchange, SecurityCode};
use crate::{Error, Result};

/// One trading day of one security.
///
/// Natural key: (`code`, `date`). `date` is a calendar date in Taipei, not a midnight instant.
/// Days without a trade have no bar (TWSE prints `--`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DailyBar {
    /// Security code.
    pub code: SecurityCode,
    /// Exchange.
    pub exchange: Exchange,
    /// Trading date (Asia/Taipei calendar date).
    pub date: NaiveDate,
    /// Opening price.
    pub open: Decimal,
    /// Highest price.
    pub high: Decimal,
    /// Lowest price.
    pub low: Decimal,
    /// Closing price.
    pub close: Decimal,
    /// Traded volume, in shares.
    pub volume: u64,
    /// Traded value, in TWD.
    pub value: Decimal,
    /// Number of trades, when the source reports it.
    #[serde(default)]
    pub trades: Option<u64>,
    /// Change of the close against the reference price (the previous close, adjusted for
    /// corporate actions), as the exchange prints it (漲跌價差). `None` when the exchange made
    /// no comparison that day (an ex-rights or ex-dividend day, printed `X0.00`) or the source
    /// does not say.
    #[serde(default)]
    pub change: Option<Decimal>,
}

impl DailyBar {
    /// The reference price the exchange compared the close with (`close - change`), when the
    /// change is known.
    pub fn reference(&self) -> Option<Decimal> {
        self.close.checked_sub(self.change?)
    }

    /// The change in percent of the reference price, when both are known and the reference
    /// is positive.
    ///
    /// ```
    /// use experiment_core::model::{DailyBar, Exchange, SecurityCode};
    /// use rust_decimal::Decimal;
    /// let bar = DailyBar {
    ///     code: SecurityCode::new("2330").unwrap(),
    ///     exchange: Exchange::Twse,
    ///     date: chrono::NaiveDate::from_ymd_opt(2025, 5, 2).unwrap(),
    ///     open: Decimal::new(930, 0),
    ///     high: Decimal::new(950, 0),
    ///     low: Decimal::new(925, 0),
    ///     close: Decimal::new(950, 0),
    ///     volume: 1,
    ///     value: Decimal::new(950, 0),
    ///     trades: None,
    ///     change: Some(Decimal::new(42, 0)),
    /// };
    /// assert_eq!(bar.reference(), Some(Decimal::new(908, 0)));
    /// assert_eq!(bar.change_pct().unwrap().round_dp(2), Decimal::new(463, 2));
    /// ```
    pub fn change_pct(&self) -> Option<Decimal> {
        let reference = self
            .reference()
            .filter(|r| r.is_sign_positive() && !r.is_zero())?;
        self.change?
            .checked_mul(Decimal::ONE_HUNDRED)?
            .checked_div(reference)
    }

    /// Checks the bar: `low <= open, close <= high`, prices positive and below
    /// [`MAX_PRICE`], the date within 1900–2200, the volume within what every store can hold,
    /// and a change that leaves a positive reference price. Arithmetic on a valid bar cannot
    /// overflow.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the bar and the broken relation.
    pub fn validate(&self) -> Result<()> {
        // Parsers validate every row of a day's report: the bar's name is only written out
        // for one that fails.
        self.broken().map_or(Ok(()), |reason| {
            Err(Error::invalid(
                format!("bar {} {}", self.code, self.date),
                reason,
            ))
        })
    }

    /// What is wrong with the bar, if anything.
    fn broken(&self) -> Option<String> {
        check_date(self.date)
            .or_else(|| check_ohlc(self.open, self.high, self.low, self.close))
            .or_else(|| {
                (self.volume > i64::MAX as u64)
                    .then(|| format!("volume {} is too large", self.volume))
            })
            .or_else(|| {
                (self.value.is_sign_negative() || self.value > MAX_VALUE)
                    .then(|| format!("value {} is out of range", self.value))
            })
            .or_else(|| {
                let change = self.change?;
                (change.abs() >= self.close.max(Decimal::ONE) * Decimal::ONE_HUNDRED)
                    .then(|| format!("change {change} is out of range"))
            })
    }
}

/// A bar of a fixed interval inside one session, built from snapshots.
///
/// Natural key: (`code`, `interval_secs`, `start`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IntradayBar {
    /// Security code.
    pub code: SecurityCode,
    /// Exchange.
    pub exchange: Exchange,
    /// Start of the interval (inclusive).
    pub start: DateTime<Utc>,
    /// Interval length in seconds (60 for one-minute bars).
    pub interval_secs: u32,
    /// First trade price in the interval.
    pub open: Decimal,
    /// Highest trade price.
    pub high: Decimal,
    /// Lowest trade price.
    pub low: Decimal,
    /// Last trade price.
    pub close: Decimal,
    /// Volume traded in the interval, in shares.
    pub volume: u64,
}

impl IntradayBar {
    /// Checks `low <= open, close <= high`, prices positive, interval non-zero.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the bar and the broken relation.
    pub fn validate(&self) -> Result<()> {
        let broken = if self.interval_secs == 0 {
            Some("interval_secs must be positive".to_owned())
        } else {
            check_date(self.start.date_naive())
                .or_else(|| check_ohlc(self.open, self.high, self.low, self.close))
        };
        broken.map_or(Ok(()), |reason| {
            Err(Error::invalid(
                format!("intraday bar {} {}", self.code, self.start),
                reason,
            ))
        })
    }
}

/// The highest price a bar or quote may carry: far above any price TWSE or TPEx has printed
/// (thousands of TWD), far below where arithmetic on prices could overflow.
pub const MAX_PRICE: Decimal = Decimal::from_parts(1_000_000_000, 0, 0, false, 0);

/// The largest traded value of a bar: 10^18 TWD.
const MAX_VALUE: Decimal = Decimal::from_parts(0xA764_0000, 0x0DE0_B6B3, 0, false, 0);

/// Why `date` is out of range, if it is.
fn check_date(date: NaiveDate) -> Option<String> {
    let ok = NaiveDate::from_ymd_opt(1900, 1, 1).is_some_and(|lo| date >= lo)
        && NaiveDate::from_ymd_opt(2200, 12, 31).is_some_and(|hi| date <= hi);
    (!ok).then(|| format!("date {date} is outside 1900-2200"))
}

/// Which price relation is broken, if one is.
fn check_ohlc(open: Decimal, high: Decimal, low: Decimal, close: Decimal) -> Option<String> {
    if low <= Decimal::ZERO {
        return Some(format!("low {low} is not positive"));
    }
    if low > high {
        return Some(format!("low {low} > high {high}"));
    }
    if high > MAX_PRICE {
        return Some(format!("high {high} is above {MAX_PRICE}"));
    }
    for (name, v) in [("open", open), ("close", close)] {
        if v < low || v > high {
            return Some(format!("{name} {v} outside [low {low}, high {high}]"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar() -> DailyBar {
        DailyBar {
            code: SecurityCode::new("2330").unwrap(),
            exchange: Exchange::Twse,
            date: NaiveDate::from_ymd_opt(2025, 5, 2).unwrap(),
            open: Decimal::new(938, 0),
            high: Decimal::new(950, 0),
            low: Decimal::new(932, 0),
            close: Decimal::new(950, 0),
            volume: 48_129_292,
            value: Decimal::new(45_206_565_214, 0),
            trades: Some(99_509),
            change: Some(Decimal::new(42, 0)),
        }
    }

    #[test]
    fn absurd_bars_are_invalid_so_arithmetic_on_valid_ones_cannot_overflow() {
        assert!(bar().validate().is_ok());
        let mut b = bar();
        b.high = MAX_PRICE * Decimal::TEN;
        b.close = b.high;
        assert!(b.validate().unwrap_err().to_string().contains("above"));
        let mut b = bar();
        b.date = NaiveDate::MIN;
        assert!(b.validate().unwrap_err().to_string().contains("1900-2200"));
        let mut b = bar();
        b.change = Some(Decimal::MAX);
        assert!(b.validate().is_err());
        let mut b = bar();
        b.volume = u64::MAX;
        assert!(b.validate().is_err());
        let mut b = bar();
        b.value = Decimal::MAX;
        assert!(b.validate().is_err());
        // The percentage of a valid bar is defined and exact enough.
        assert_eq!(
            bar().change_pct().unwrap().round_dp(2),
            Decimal::new(463, 2)
        );
    }
}
