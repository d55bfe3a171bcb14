//! Security profiles.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{Exchange, SecurityCode};

/// What kind of instrument a code is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum SecurityKind {
    /// Common or preferred stock.
    #[default]
    Stock,
    /// Exchange-traded fund.
    Etf,
    /// Warrant.
    Warrant,
    /// A market index such as TAIEX (`t00`).
    Index,
    /// Anything else (bonds, TDRs, ...).
    Other,
}

/// A security's profile: who it is, not how it trades today.
///
/// Natural key: `code`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Security {
    /// The exchange's code, e.g. `2330`.
    pub code: SecurityCode,
    /// Where it trades.
    pub exchange: Exchange,
    /// Short name as quotes print it, e.g. `台積電`.
    pub name: String,
    /// Registered full name, e.g. `台灣積體電路製造股份有限公司`.
    #[serde(default)]
    pub full_name: Option<String>,
    /// Instrument kind.
    #[serde(default)]
    pub kind: SecurityKind,
    /// Industry as the exchange classifies it, e.g. `半導體業`.
    #[serde(default)]
    pub industry: Option<String>,
    /// ISIN, e.g. `TW0002330008`.
    #[serde(default)]
    pub isin: Option<String>,
    /// Listing date.
    #[serde(default)]
    pub listed_on: Option<NaiveDate>,
}

impl Security {
    /// A profile with only the required fields set.
    pub fn new(code: SecurityCode, exchange: Exchange, name: impl Into<String>) -> Self {
        Security {
            code,
            exchange,
            name: name.into(),
            full_name: None,
            kind: SecurityKind::Stock,
            industry: None,
            isin: None,
            listed_on: None,
        }
    }
}
