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

    /// Checks the bar's internal consistency: `low <= open, close <= high`, prices positive.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the bar and the broken relation.
    pub fn validate(&self) -> Result<()> {
        check_ohlc(
            &format!("bar {} {}", self.code, self.date),
            self.open,
            self.high,
            self.low,
            self.close,
        )
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
        let what = format!("intraday bar {} {}", self.code, self.start);
        if self.interval_secs == 0 {
            return Err(Error::invalid(what, "interval_secs must be positive"));
        }
        check_ohlc(&what, self.open, self.high, self.low, self.close)
    }
}

fn check_ohlc(
    what: &str,
    open: Decimal,
    high: Decimal,
    low: Decimal,
    close: Decimal,
) -> Result<()> {
    if low <= Decimal::ZERO {
        return Err(Error::invalid(what, format!("low {low} is not positive")));
    }
    if low > high {
        return Err(Error::invalid(what, format!("low {low} > high {high}")));
    }
    for (name, v) in [("open", open), ("close", close)] {
        if v < low || v > high {
            return Err(Error::invalid(
                what,
                format!("{name} {v} outside [low {low}, high {high}]"),
            ));
        }
    }
    Ok(())
}
