//! The seed's indicator: a new low within a time window.

use std::collections::VecDeque;

/// Streaming "new low within a window": for each bar, whether its low is strictly below every
/// low of the earlier bars that started within `window` seconds before it.
///
/// Warm-up: `None` until the history spans the whole window (the first bar seen is at least
/// `window` seconds older than the current one), so a fresh start never reports a false new low.
/// A gap between two bars longer than the window (missing data, a long suspension) restarts
/// the warm-up: lows from before the gap say nothing about the window.
/// O(1) amortised per update (a monotonic queue of lows).
#[derive(Debug, Clone)]
pub struct NewLow {
    window: i64,
    first: Option<i64>,
    last: Option<i64>,
    // (time, low), increasing in both: the front is the lowest low still in the window.
    lows: VecDeque<(i64, f64)>,
}

impl NewLow {
    /// A detector over `window_secs` seconds (3600 for the seed's one-hour window).
    ///
    /// # Panics
    /// If `window_secs` is not positive.
    pub fn new(window_secs: i64) -> Self {
        assert!(window_secs > 0, "window must be positive");
        NewLow {
            window: window_secs,
            first: None,
            last: None,
            lows: VecDeque::new(),
        }
    }

    fn gap_before(&self, time: i64) -> bool {
        self.last.is_some_and(|l| time - l > self.window)
    }

    fn evaluate(&self, time: i64, low: f64) -> Option<bool> {
        if self.gap_before(time) {
            return None;
        }
        let first = self.first?;
        if time - first < self.window {
            return None;
        }
        let prior = self
            .lows
            .iter()
            .find(|(t, _)| *t > time - self.window)
            .map(|(_, l)| *l);
        // No earlier bar inside the window (a gap in the data) means nothing to compare with.
        prior.map(|p| low < p)
    }

    /// Adds a closed bar (start time in epoch seconds, its low); returns whether it is a new low.
    /// Bars must come in time order; an out-of-order bar is ignored and yields `None`.
    pub fn update(&mut self, time: i64, low: f64) -> Option<bool> {
        if self.last.is_some_and(|t| t >= time) {
            return None;
        }
        if self.gap_before(time) {
            self.reset();
        }
        let out = self.evaluate(time, low);
        self.first.get_or_insert(time);
        self.last = Some(time);
        while self
            .lows
            .front()
            .is_some_and(|(t, _)| *t <= time - self.window)
        {
            self.lows.pop_front();
        }
        while self.lows.back().is_some_and(|(_, l)| *l >= low) {
            self.lows.pop_back();
        }
        self.lows.push_back((time, low));
        out
    }

    /// What `update` would return for a forming bar, without committing it.
    pub fn peek(&self, time: i64, low: f64) -> Option<bool> {
        if self.last.is_some_and(|t| t >= time) {
            return None;
        }
        self.evaluate(time, low)
    }

    /// Forgets every bar.
    pub fn reset(&mut self) {
        self.first = None;
        self.last = None;
        self.lows.clear();
    }
}

/// Reads a window length such as `30m`, `1h`, `7d` (minutes, hours, days) into seconds.
///
/// ```
/// assert_eq!(experiment_indicators::parse_window("1h"), Ok(3600));
/// assert!(experiment_indicators::parse_window("1y").is_err());
/// ```
///
/// # Errors
/// A message saying what was expected.
pub fn parse_window(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: i64 = num
        .parse()
        .map_err(|_| format!("'{text}': expected a number followed by m, h or d, e.g. 1h"))?;
    let secs = match unit {
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err(format!("'{text}': unit must be m, h or d")),
    };
    if n <= 0 || n > 3_650 * 86_400 / secs {
        return Err(format!(
            "'{text}': window must be positive and at most ten years"
        ));
    }
    Ok(n * secs)
}

/// [`NewLow`] over slices of bar times and lows (equal lengths; extra items are ignored).
///
/// ```
/// // one-minute bars, two-minute window
/// let t = [0, 60, 120, 180, 240];
/// let low = [10.0, 9.0, 9.5, 8.0, 8.5];
/// assert_eq!(
///     experiment_indicators::new_low(&t, &low, 120),
///     vec![None, None, Some(false), Some(true), Some(false)]
/// );
/// ```
pub fn new_low(times: &[i64], lows: &[f64], window_secs: i64) -> Vec<Option<bool>> {
    let mut n = NewLow::new(window_secs);
    times
        .iter()
        .zip(lows)
        .map(|(t, l)| n.update(*t, *l))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn matches_a_naive_scan(
            bars in proptest::collection::vec((1f64..100.0, 1i64..4), 1..80),
            window_bars in 1i64..10,
        ) {
            // irregular spacing (1 to 3 minutes) exercises gaps longer than short windows
            let times: Vec<i64> = bars.iter().scan(0, |t, (_, step)| { *t += step * 60; Some(*t) }).collect();
            let lows: Vec<f64> = bars.iter().map(|(l, _)| *l).collect();
            let window = window_bars * 60;
            let out = new_low(&times, &lows, window);
            let mut start = 0; // first bar after the last gap longer than the window
            for i in 0..lows.len() {
                let t = times[i];
                if i > 0 && t - times[i - 1] > window {
                    start = i;
                }
                let expected = if t - times[start] < window {
                    None
                } else {
                    let prior: Vec<f64> = (start..i).filter(|&j| times[j] > t - window).map(|j| lows[j]).collect();
                    prior.iter().cloned().reduce(f64::min).map(|m| lows[i] < m)
                };
                prop_assert_eq!(out[i], expected, "bar {}", i);
            }
        }

        #[test]
        fn peek_equals_update(lows in proptest::collection::vec(1f64..100.0, 1..40)) {
            let mut n = NewLow::new(300);
            for (i, l) in lows.iter().enumerate() {
                let t = i as i64 * 60;
                prop_assert_eq!(n.peek(t, *l), n.clone().update(t, *l));
                n.update(t, *l);
            }
        }
    }

    #[test]
    fn a_gap_longer_than_the_window_restarts_the_warm_up() {
        let day = 86_400;
        let mut n = NewLow::new(7 * day);
        for (i, low) in [10.0, 9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0].iter().enumerate() {
            n.update(i as i64 * day, *low);
        }
        // ten years later, a low above everything before the gap: no claim either way
        let later = 3650 * day;
        assert_eq!(n.update(later, 100.0), None);
        assert_eq!(n.update(later + 3 * day, 90.0), None, "still warming up");
        assert_eq!(n.update(later + 7 * day, 80.0), Some(true));
    }

    #[test]
    fn out_of_order_bars_are_ignored() {
        let mut n = NewLow::new(120);
        n.update(0, 10.0);
        n.update(120, 11.0);
        assert_eq!(n.update(60, 1.0), None);
        assert_eq!(n.update(180, 10.5), Some(true));
    }
}
