//! ROC (民國) calendar dates, as TWSE and TPEx print them: year + 1911 = Gregorian year.

use chrono::NaiveDate;

/// Offset between ROC and Gregorian years.
pub const ROC_OFFSET: i32 = 1911;

/// A ROC date that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{input}' is not a ROC date: {reason}")]
pub struct RocDateError {
    /// The text as received.
    pub input: String,
    /// What was wrong.
    pub reason: &'static str,
}

/// Parses a ROC date in any of the forms the exchanges use: `114/05/02` (classic site),
/// `1150708` (OpenAPI), `99/12/31` and `991231` (two-digit ROC years). Surrounding spaces
/// are ignored.
///
/// ```
/// use chrono::NaiveDate;
/// use experiment_twse::parse_roc_date;
/// assert_eq!(parse_roc_date("114/05/02").unwrap(), NaiveDate::from_ymd_opt(2025, 5, 2).unwrap());
/// assert_eq!(parse_roc_date("1150708").unwrap(), NaiveDate::from_ymd_opt(2026, 7, 8).unwrap());
/// assert!(parse_roc_date("114/13/01").is_err());
/// ```
///
/// # Errors
/// [`RocDateError`] quoting the input and saying what was wrong.
pub fn parse_roc_date(text: &str) -> Result<NaiveDate, RocDateError> {
    let err = |reason| RocDateError {
        input: text.to_owned(),
        reason,
    };
    let s = text.trim();
    let (y, m, d) = if s.contains('/') {
        let mut parts = s.split('/');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(y), Some(m), Some(d), None) => (y, m, d),
            _ => return Err(err("expected YYY/MM/DD")),
        }
    } else {
        if !(6..=7).contains(&s.len()) || !s.is_ascii() {
            return Err(err("expected YYYMMDD"));
        }
        let split = s.len() - 4;
        (&s[..split], &s[split..split + 2], &s[split + 2..])
    };
    let num = |p: &str| -> Result<u32, RocDateError> {
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("a part is not a number"));
        }
        p.parse().map_err(|_| err("a part is not a number"))
    };
    let (y, m, d) = (num(y)?, num(m)?, num(d)?);
    if y == 0 {
        return Err(err("ROC year 0 does not exist"));
    }
    NaiveDate::from_ymd_opt(y as i32 + ROC_OFFSET, m, d).ok_or_else(|| err("no such day"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn forms_seen_in_recorded_bodies() {
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert_eq!(parse_roc_date("104/05/04").unwrap(), d(2015, 5, 4));
        assert_eq!(parse_roc_date(" 114/05/16 ").unwrap(), d(2025, 5, 16));
        assert_eq!(parse_roc_date("1151008").unwrap(), d(2026, 10, 8));
        assert_eq!(parse_roc_date("991231").unwrap(), d(2010, 12, 31));
        for bad in [
            "",
            "114/02/30",
            "114-05-02",
            "0/01/01",
            "abc",
            "114/5",
            "11405021",
        ] {
            assert!(parse_roc_date(bad).is_err(), "{bad}");
        }
        assert!(parse_roc_date("114/02/30")
            .unwrap_err()
            .to_string()
            .contains("no such day"));
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,12}") {
            let _ = parse_roc_date(&s);
        }

        #[test]
        fn both_forms_agree(y in 1u32..200, m in 1u32..=12, dd in 1u32..=28) {
            let a = parse_roc_date(&format!("{y}/{m:02}/{dd:02}")).unwrap();
            let b = parse_roc_date(&format!("{y:03}{m:02}{dd:02}")).unwrap();
            prop_assert_eq!(a, b);
        }
    }
}
