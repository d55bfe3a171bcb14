//! Simple moving average.

use crate::core::{cold, ring_sum, RunningSum, Window};

/// Streaming simple moving average over `period` values.
///
/// Warm-up: `None` for the first `period - 1` updates. Keeps a running sum, so an update is
/// O(1); the sum is re-added from the window regularly so floating-point drift cannot
/// accumulate over long series.
#[derive(Debug, Clone)]
pub struct Sma {
    period: usize,
    n: f64,
    window: Window,
    sum: RunningSum,
}

impl Sma {
    /// An SMA over `period` values.
    ///
    /// # Panics
    /// If `period` is 0.
    pub fn new(period: usize) -> Self {
        assert!(period > 0, "SMA period must be positive");
        Sma {
            period,
            n: period as f64,
            window: Window::new(period),
            sum: RunningSum::new(period),
        }
    }

    /// Adds a closed value and returns the average, once defined.
    #[inline(always)]
    pub fn update_value(&mut self, value: f64) -> Option<f64> {
        let old = self.window.push(value);
        if self.sum.add(value, old) {
            let (ring, start) = self.window.ring();
            self.sum.set(cold(move || ring_sum(ring, start, |v| v)));
        }
        self.window.full().then(|| self.sum.value() / self.n)
    }

    /// The average a forming value would give, without committing it: exactly what
    /// [`Sma::update_value`] would return (same arithmetic, so the two never differ by an ulp).
    pub fn peek_value(&self, value: f64) -> Option<f64> {
        self.clone().update_value(value)
    }

    /// Forgets every value.
    pub fn reset(&mut self) {
        self.window.clear();
        self.sum.clear();
    }
}

/// SMA over a slice: one output per input, `None` during warm-up.
///
/// ```
/// let out = experiment_indicators::sma(&[1.0, 2.0, 3.0, 4.0], 3);
/// assert_eq!(out, vec![None, None, Some(2.0), Some(3.0)]);
/// ```
pub fn sma(values: &[f64], period: usize) -> Vec<Option<f64>> {
    let mut s = Sma::new(period);
    values.iter().map(|v| s.update_value(*v)).collect()
}

impl crate::core::Indicator for Sma {
    type Output = f64;
    #[inline(always)]
    fn update(&mut self, bar: &crate::core::Bar) -> Option<f64> {
        self.update_value(bar.close)
    }
    fn reset(&mut self) {
        Sma::reset(self);
    }
    fn warm_up(&self) -> usize {
        self.period - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn warm_up_and_values() {
        let out = sma(&[2.0, 4.0, 6.0, 8.0, 10.0], 2);
        assert_eq!(out, vec![None, Some(3.0), Some(5.0), Some(7.0), Some(9.0)]);
    }

    proptest! {
        #[test]
        fn peek_equals_update(values in proptest::collection::vec(-1e6f64..1e6, 1..60), period in 1usize..10) {
            let mut s = Sma::new(period);
            for v in values {
                let peeked = s.peek_value(v);
                let mut c = s.clone();
                prop_assert_eq!(peeked.map(f64::to_bits).is_some(), c.update_value(v).is_some());
                let updated = s.update_value(v);
                prop_assert_eq!(peeked, updated);
            }
        }

        #[test]
        fn matches_naive_mean(values in proptest::collection::vec(-1e6f64..1e6, 1..80), period in 1usize..12) {
            let out = sma(&values, period);
            for (i, o) in out.iter().enumerate() {
                if i + 1 < period {
                    prop_assert!(o.is_none());
                } else {
                    let naive: f64 = values[i + 1 - period..=i].iter().sum::<f64>() / period as f64;
                    prop_assert!((o.unwrap() - naive).abs() <= 1e-6 * naive.abs().max(1.0));
                }
            }
        }
    }
}
