//! Real-time quote snapshots.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{Exchange, SecurityCode};

/// One level of the order book.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BookLevel {
    /// Price of the level.
    pub price: Decimal,
    /// Quantity at that price, in shares.
    pub volume: u64,
}

/// A real-time snapshot of one security, as MIS publishes every five seconds.
///
/// Volumes are in shares (MIS reports board lots of 1,000 shares; adapters convert).
/// A snapshot without a trade since the previous one has `last == None`: that does not mean
/// the market is closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Quote {
    /// Security code.
    pub code: SecurityCode,
    /// Exchange.
    pub exchange: Exchange,
    /// Short name.
    pub name: String,
    /// Last trade price, `None` when this snapshot had no trade.
    pub last: Option<Decimal>,
    /// Volume of the last trade, in shares.
    #[serde(default)]
    pub last_volume: Option<u64>,
    /// Session open.
    #[serde(default)]
    pub open: Option<Decimal>,
    /// Session high so far.
    #[serde(default)]
    pub high: Option<Decimal>,
    /// Session low so far.
    #[serde(default)]
    pub low: Option<Decimal>,
    /// Reference price (previous close, adjusted for corporate actions).
    #[serde(default)]
    pub reference: Option<Decimal>,
    /// Limit-up price for the session.
    #[serde(default)]
    pub limit_up: Option<Decimal>,
    /// Limit-down price for the session.
    #[serde(default)]
    pub limit_down: Option<Decimal>,
    /// Cumulative session volume, in shares.
    #[serde(default)]
    pub volume: Option<u64>,
    /// Best bids, best first (up to five levels).
    #[serde(default)]
    pub bids: Vec<BookLevel>,
    /// Best asks, best first (up to five levels).
    #[serde(default)]
    pub asks: Vec<BookLevel>,
    /// When the exchange stamped the snapshot.
    pub exchange_time: DateTime<Utc>,
    /// When we received it.
    pub received_at: DateTime<Utc>,
}

impl Quote {
    /// The price a chart would show now: the last trade, else the best bid/ask midpoint is NOT
    /// used (it is not a trade); falls back to the reference price.
    pub fn display_price(&self) -> Option<Decimal> {
        self.last.or(self.reference)
    }

    /// Change against the reference price, when both are known.
    pub fn change(&self) -> Option<Decimal> {
        Some(self.last? - self.reference?)
    }

    /// Percentage change against the reference price, when both are known and the reference
    /// is not zero.
    pub fn change_pct(&self) -> Option<Decimal> {
        let reference = self.reference?;
        if reference.is_zero() {
            return None;
        }
        Some(self.change()? * Decimal::ONE_HUNDRED / reference)
    }
}
