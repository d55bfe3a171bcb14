//! History backfill: months of daily bars for one or many codes, into any [`Store`].
//!
//! Resumable: a month that is over and already has bars in the store is skipped, so an
//! interrupted backfill (a block, a crash, Ctrl-C) continues where it stopped. Rate limits are
//! the client's. Progress is reported through a callback the CLI turns into a progress bar.

use chrono::{Datelike, Duration, NaiveDate};
use experiment_core::model::SecurityCode;
use experiment_core::Store;

use crate::client::TwseClient;
use crate::{Error, Result};

/// What happened to one (code, month).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MonthOutcome {
    /// Fetched and stored this many bars (rows skipped by the parser are in `skipped`).
    Stored {
        /// Bars stored.
        bars: usize,
        /// Rows the parser skipped.
        skipped: usize,
    },
    /// Over and already in the store: not fetched.
    AlreadyStored,
    /// Could not be fetched or stored; the backfill went on.
    Failed(String),
}

/// One step of a backfill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// Steps done, this one included.
    pub done: usize,
    /// Steps in all.
    pub total: usize,
    /// The code.
    pub code: SecurityCode,
    /// The month (its first day).
    pub month: NaiveDate,
    /// What happened.
    pub outcome: MonthOutcome,
}

/// The months from `from` to `to` inclusive, as their first days.
pub fn months(from: NaiveDate, to: NaiveDate) -> Vec<NaiveDate> {
    let mut out = Vec::new();
    let mut m = from.with_day(1).unwrap_or(from);
    while m <= to {
        out.push(m);
        m = (m + Duration::days(32))
            .with_day(1)
            .unwrap_or(m + Duration::days(31));
    }
    out
}

fn month_end(first: NaiveDate) -> NaiveDate {
    (first + Duration::days(32)).with_day(1).unwrap_or(first) - Duration::days(1)
}

/// Backfills `codes` for the months `from..=to` (any days within them) into `store`.
/// `today` decides which months are over (the current month is always fetched again).
///
/// # Errors
/// [`Error::Blocked`] stops the backfill at once (resume later: finished months are skipped);
/// other failures are reported per month through `progress` and the backfill goes on.
pub async fn backfill(
    client: &TwseClient,
    store: &dyn Store,
    codes: &[SecurityCode],
    from: NaiveDate,
    to: NaiveDate,
    today: NaiveDate,
    progress: &mut (dyn FnMut(&Progress) + Send),
) -> Result<Vec<Progress>> {
    let months = months(from, to);
    let total = months.len() * codes.len();
    let mut report = Vec::with_capacity(total);
    for code in codes {
        for &month in &months {
            let end = month_end(month);
            let over = end < today;
            let stored = store
                .daily_bars(code, month, end)
                .await
                .map(|b| !b.is_empty())
                .unwrap_or(false);
            let outcome = if over && stored {
                MonthOutcome::AlreadyStored
            } else {
                match client.history_month(code, month).await {
                    Ok(parsed) => match store.upsert_daily_bars(&parsed.items).await {
                        Ok(_) => MonthOutcome::Stored {
                            bars: parsed.items.len(),
                            skipped: parsed.skipped.len(),
                        },
                        Err(e) => MonthOutcome::Failed(format!("storing: {e}")),
                    },
                    Err(e @ Error::Blocked { .. }) => return Err(e),
                    Err(e) => MonthOutcome::Failed(e.to_string()),
                }
            };
            let step = Progress {
                done: report.len() + 1,
                total,
                code: code.clone(),
                month,
                outcome,
            };
            progress(&step);
            report.push(step);
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_span_years_and_include_both_ends() {
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let ms = months(d(2024, 11, 15), d(2025, 2, 3));
        assert_eq!(
            ms,
            vec![d(2024, 11, 1), d(2024, 12, 1), d(2025, 1, 1), d(2025, 2, 1)]
        );
        assert_eq!(month_end(d(2024, 2, 1)), d(2024, 2, 29));
        assert!(months(d(2025, 3, 1), d(2025, 2, 1)).is_empty());
    }
}
