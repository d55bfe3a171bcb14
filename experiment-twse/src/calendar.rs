//! The trading calendar: which days the market trades and when its session runs.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Utc, Weekday};
use experiment_core::model::MARKET_TZ;

use crate::model::CalendarDay;

/// Regular session open, Taipei time.
pub const SESSION_OPEN: NaiveTime = match NaiveTime::from_hms_opt(9, 0, 0) {
    Some(t) => t,
    None => NaiveTime::MIN,
};
/// Regular session close (the closing call ends at 13:30), Taipei time.
pub const SESSION_CLOSE: NaiveTime = match NaiveTime::from_hms_opt(13, 30, 0) {
    Some(t) => t,
    None => NaiveTime::MIN,
};

/// Weekdays trade unless the exchange's calendar (`holidaySchedule`) says otherwise; a day the
/// calendar lists as trading (a make-up Saturday) trades even on a weekend.
///
/// ```
/// use chrono::NaiveDate;
/// use experiment_twse::calendar::TradingCalendar;
/// use experiment_twse::model::CalendarDay;
/// let new_year = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
/// let cal = TradingCalendar::new([CalendarDay { date: new_year, name: "開國紀念日".into(), description: String::new(), trading: false }]);
/// assert!(!cal.is_trading_day(new_year));
/// assert!(cal.is_trading_day(NaiveDate::from_ymd_opt(2026, 1, 2).unwrap())); // a Friday
/// assert!(!cal.is_trading_day(NaiveDate::from_ymd_opt(2026, 1, 3).unwrap())); // a Saturday
/// ```
#[derive(Debug, Clone, Default)]
pub struct TradingCalendar {
    days: BTreeMap<NaiveDate, CalendarDay>,
}

impl TradingCalendar {
    /// A calendar from the exchange's special days.
    pub fn new(days: impl IntoIterator<Item = CalendarDay>) -> Self {
        TradingCalendar {
            days: days.into_iter().map(|d| (d.date, d)).collect(),
        }
    }

    /// The exchange's entry for `date`, if it has one.
    pub fn special(&self, date: NaiveDate) -> Option<&CalendarDay> {
        self.days.get(&date)
    }

    /// Whether the market trades on `date`.
    pub fn is_trading_day(&self, date: NaiveDate) -> bool {
        match self.days.get(&date) {
            Some(d) => d.trading,
            None => !matches!(date.weekday(), Weekday::Sat | Weekday::Sun),
        }
    }

    /// The regular session of `date` in UTC, if the market trades that day.
    pub fn session(&self, date: NaiveDate) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        if !self.is_trading_day(date) {
            return None;
        }
        let at = |t: NaiveTime| {
            date.and_time(t)
                .and_local_timezone(MARKET_TZ)
                .single()
                .map(|d| d.with_timezone(&Utc))
        };
        Some((at(SESSION_OPEN)?, at(SESSION_CLOSE)?))
    }

    /// Whether the regular session is running at `at`.
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        let date = at.with_timezone(&MARKET_TZ).date_naive();
        self.session(date)
            .is_some_and(|(open, close)| open <= at && at < close)
    }

    /// The start of the next session strictly after `after` (searching up to a year ahead).
    pub fn next_open(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let start = after.with_timezone(&MARKET_TZ).date_naive();
        (0..366)
            .filter_map(|i| self.session(start + Duration::days(i)))
            .map(|(open, _)| open)
            .find(|open| *open > after)
    }

    /// The last trading day strictly before `date` (searching up to a year back).
    pub fn previous_trading_day(&self, date: NaiveDate) -> Option<NaiveDate> {
        (1..366)
            .map(|i| date - Duration::days(i))
            .find(|d| self.is_trading_day(*d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn cal() -> TradingCalendar {
        TradingCalendar::new([
            CalendarDay {
                date: ymd(2026, 2, 16),
                name: "春節".into(),
                description: String::new(),
                trading: false,
            },
            CalendarDay {
                date: ymd(2026, 2, 17),
                name: "春節".into(),
                description: String::new(),
                trading: false,
            },
            CalendarDay {
                date: ymd(2026, 2, 21),
                name: "補行交易".into(),
                description: String::new(),
                trading: true,
            },
        ])
    }

    #[test]
    fn holidays_weekends_and_special_trading_days() {
        let c = cal();
        assert!(!c.is_trading_day(ymd(2026, 2, 16)));
        assert!(c.is_trading_day(ymd(2026, 2, 18)));
        assert!(
            c.is_trading_day(ymd(2026, 2, 21)),
            "a listed trading Saturday trades"
        );
        assert!(!c.is_trading_day(ymd(2026, 2, 22)));
        assert_eq!(
            c.previous_trading_day(ymd(2026, 2, 18)),
            Some(ymd(2026, 2, 13))
        );
    }

    #[test]
    fn session_times_are_taipei_wall_clock() {
        let c = cal();
        let (open, close) = c.session(ymd(2026, 2, 18)).unwrap();
        assert_eq!(open, Utc.with_ymd_and_hms(2026, 2, 18, 1, 0, 0).unwrap());
        assert_eq!(close, Utc.with_ymd_and_hms(2026, 2, 18, 5, 30, 0).unwrap());
        assert!(c.is_open(Utc.with_ymd_and_hms(2026, 2, 18, 3, 0, 0).unwrap()));
        assert!(!c.is_open(Utc.with_ymd_and_hms(2026, 2, 18, 5, 30, 0).unwrap()));
        // Friday after the close: next open is the following Wednesday (Mon/Tue are holidays)
        let friday_evening = Utc.with_ymd_and_hms(2026, 2, 13, 10, 0, 0).unwrap();
        assert_eq!(
            c.next_open(friday_evening),
            Some(Utc.with_ymd_and_hms(2026, 2, 18, 1, 0, 0).unwrap())
        );
    }
}
