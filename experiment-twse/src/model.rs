//! Data the exchanges publish that the core model has no type for.

use chrono::NaiveDate;
use experiment_core::model::SecurityCode;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Valuation ratios of one security on one day (`BWIBBU`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Valuation {
    /// Security code.
    pub code: SecurityCode,
    /// Short name.
    pub name: String,
    /// Trading date.
    pub date: NaiveDate,
    /// Price/earnings ratio; `None` when not meaningful (losses).
    pub pe: Option<Decimal>,
    /// Dividend yield in percent.
    pub dividend_yield: Option<Decimal>,
    /// Price/book ratio.
    pub pb: Option<Decimal>,
}

/// Buying and selling of the three kinds of institutional investors in one security on one
/// day (`fund/T86`), in shares; a net figure is positive for net buying.
///
/// The net figures are always there; the gross buy/sell figures and the dealers' split into
/// own-account trading (自行買賣) and hedging (避險) are `None` when the body has no such
/// column (T86 before the split was published).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Institutional {
    /// Security code.
    pub code: SecurityCode,
    /// Short name.
    pub name: String,
    /// Trading date.
    pub date: NaiveDate,
    /// Foreign and mainland investors, excluding foreign dealers.
    pub foreign_net: i64,
    /// Foreign dealers.
    pub foreign_dealer_net: i64,
    /// Investment trusts (投信).
    pub trust_net: i64,
    /// Securities dealers (自營商), proprietary and hedging together.
    pub dealer_net: i64,
    /// The three together (三大法人).
    pub total_net: i64,
    /// Shares bought by foreign and mainland investors (excluding foreign dealers).
    pub foreign_buy: Option<i64>,
    /// Shares they sold.
    pub foreign_sell: Option<i64>,
    /// Shares bought by foreign dealers.
    pub foreign_dealer_buy: Option<i64>,
    /// Shares foreign dealers sold.
    pub foreign_dealer_sell: Option<i64>,
    /// Shares bought by investment trusts.
    pub trust_buy: Option<i64>,
    /// Shares investment trusts sold.
    pub trust_sell: Option<i64>,
    /// Shares dealers bought for their own account (自行買賣).
    pub dealer_own_buy: Option<i64>,
    /// Shares dealers sold for their own account.
    pub dealer_own_sell: Option<i64>,
    /// Dealers' own-account net.
    pub dealer_own_net: Option<i64>,
    /// Shares dealers bought to hedge (避險).
    pub dealer_hedge_buy: Option<i64>,
    /// Shares dealers sold to hedge.
    pub dealer_hedge_sell: Option<i64>,
    /// Dealers' hedging net.
    pub dealer_hedge_net: Option<i64>,
}

/// One row of the exchange's calendar (`holidaySchedule`): a closure, or a special day on
/// which the market is open (a make-up trading Saturday) or which is only a settlement day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarDay {
    /// The date.
    pub date: NaiveDate,
    /// Its name, e.g. `春節`.
    pub name: String,
    /// The exchange's description.
    pub description: String,
    /// Whether the market trades that day.
    pub trading: bool,
}
