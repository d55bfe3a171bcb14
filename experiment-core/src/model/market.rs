//! Exchanges, security codes and market time.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The market's time zone. Instants are stored in UTC; this zone is applied at the edges
/// (session times, daily bar dates, quiet hours, messages).
pub const MARKET_TZ: Tz = chrono_tz::Asia::Taipei;

/// The calendar date in Taipei of an instant.
///
/// ```
/// use chrono::{TimeZone, Utc, NaiveDate};
/// use experiment_core::model::market_date;
/// // 17:00 UTC is already the next day in Taipei (UTC+8).
/// let t = Utc.with_ymd_and_hms(2025, 5, 2, 17, 0, 0).unwrap();
/// assert_eq!(market_date(t), NaiveDate::from_ymd_opt(2025, 5, 3).unwrap());
/// ```
pub fn market_date(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&MARKET_TZ).date_naive()
}

/// Where a security trades.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Exchange {
    /// Taiwan Stock Exchange (listed, 上市). MIS channel prefix `tse_`.
    #[serde(rename = "TWSE")]
    Twse,
    /// Taipei Exchange (over the counter, 上櫃). MIS channel prefix `otc_`.
    #[serde(rename = "TPEx", alias = "TPEX")]
    Tpex,
}

impl Exchange {
    /// The name used on the wire and in the seed events (`TWSE`, `TPEx`).
    pub fn as_str(self) -> &'static str {
        match self {
            Exchange::Twse => "TWSE",
            Exchange::Tpex => "TPEx",
        }
    }
}

impl fmt::Display for Exchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Exchange {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "twse" | "tse" => Ok(Exchange::Twse),
            "tpex" | "otc" => Ok(Exchange::Tpex),
            _ => Err(Error::invalid(
                "exchange",
                format!("'{s}' is not an exchange; expected TWSE or TPEx"),
            )),
        }
    }
}

/// A security code as the exchanges print it: `2330`, `00878`, `006208`, `t00` (TAIEX),
/// `03001P` (a warrant).
///
/// Validated on construction: 1 to 12 ASCII letters or digits. Stored as given (codes are
/// case-sensitive at TWSE: `t00` is an index channel).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SecurityCode(String);

impl SecurityCode {
    /// Longest code accepted.
    pub const MAX_LEN: usize = 12;

    /// Validates and wraps a code.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the field `code` when the code is empty, too long or has a
    /// character other than an ASCII letter or digit.
    pub fn new(code: impl Into<String>) -> Result<Self> {
        let code = code.into();
        if code.is_empty() {
            return Err(Error::invalid("code", "must not be empty"));
        }
        if code.len() > Self::MAX_LEN {
            return Err(Error::invalid(
                "code",
                format!("'{code}' is longer than {} characters", Self::MAX_LEN),
            ));
        }
        if let Some(c) = code.chars().find(|c| !c.is_ascii_alphanumeric()) {
            return Err(Error::invalid(
                "code",
                format!("'{code}' contains {c:?}; expected ASCII letters and digits only"),
            ));
        }
        Ok(SecurityCode(code))
    }

    /// The code as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SecurityCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for SecurityCode {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        SecurityCode::new(s)
    }
}

impl AsRef<str> for SecurityCode {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for SecurityCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        SecurityCode::new(s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_validated() {
        for ok in ["2330", "00878", "006208", "t00", "03001P"] {
            assert_eq!(SecurityCode::new(ok).unwrap().as_str(), ok);
        }
        let err = SecurityCode::new("").unwrap_err();
        assert!(matches!(err, Error::InvalidInput { ref field, .. } if field == "code"));
        assert!(SecurityCode::new("23 30")
            .unwrap_err()
            .to_string()
            .contains("' '"));
        assert!(SecurityCode::new("1234567890123").is_err());
        assert!(serde_json::from_str::<SecurityCode>("\"2330.TW\"").is_err());
    }

    #[test]
    fn exchanges_parse_from_wire_names() {
        assert_eq!("TWSE".parse::<Exchange>().unwrap(), Exchange::Twse);
        assert_eq!("otc".parse::<Exchange>().unwrap(), Exchange::Tpex);
        assert!("NYSE".parse::<Exchange>().is_err());
        assert_eq!(serde_json::to_string(&Exchange::Tpex).unwrap(), "\"TPEx\"");
    }
}
