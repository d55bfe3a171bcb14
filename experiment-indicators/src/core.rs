//! What every indicator shares: the bar it reads, the streaming trait, batch over slices.

use std::collections::VecDeque;

/// One bar, in f64 (indicators compute in f64; prices stay exact decimals everywhere else).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Bar {
    /// Open.
    pub open: f64,
    /// High.
    pub high: f64,
    /// Low.
    pub low: f64,
    /// Close.
    pub close: f64,
    /// Volume.
    pub volume: f64,
}

impl Bar {
    /// Typical price (H+L+C)/3.
    pub fn typical(&self) -> f64 {
        (self.high + self.low + self.close) / 3.0
    }
}

/// A streaming indicator: O(1) (amortised) per closed bar, `None` until defined (never 0).
///
/// `peek` gives the value a forming bar would produce without committing it; the default
/// clones the state, which is O(window) for windowed indicators.
pub trait Indicator: Clone {
    /// What one update yields (`f64`, or a struct for multi-output indicators).
    type Output: Copy;

    /// Adds a closed bar.
    fn update(&mut self, bar: &Bar) -> Option<Self::Output>;

    /// The value `bar` would give, without committing it.
    fn peek(&self, bar: &Bar) -> Option<Self::Output> {
        self.clone().update(bar)
    }

    /// Forgets every bar.
    fn reset(&mut self);

    /// Bars consumed before the first value (TA-Lib's "lookback").
    fn warm_up(&self) -> usize;
}

/// Runs `indicator` over `bars`: one output per bar, bit-identical to streaming.
pub fn batch<I: Indicator>(mut indicator: I, bars: &[Bar]) -> Vec<Option<I::Output>> {
    bars.iter().map(|b| indicator.update(b)).collect()
}

/// TA-Lib's notion of zero (`TA_IS_ZERO`): |v| < 1e-8.
pub(crate) fn is_zero(v: f64) -> bool {
    v.abs() < 1e-8
}

/// A fixed-length window of the last values.
#[derive(Debug, Clone)]
pub(crate) struct Window {
    len: usize,
    values: VecDeque<f64>,
}

impl Window {
    pub(crate) fn new(len: usize) -> Self {
        Window {
            len,
            values: VecDeque::with_capacity(len + 1),
        }
    }

    /// Pushes `v`; returns the value that fell out, if the window was full.
    pub(crate) fn push(&mut self, v: f64) -> Option<f64> {
        self.values.push_back(v);
        (self.values.len() > self.len)
            .then(|| self.values.pop_front())
            .flatten()
    }

    pub(crate) fn full(&self) -> bool {
        self.values.len() == self.len
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &f64> {
        self.values.iter()
    }

    pub(crate) fn front(&self) -> Option<f64> {
        self.values.front().copied()
    }

    pub(crate) fn max(&self) -> f64 {
        self.values
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max)
    }

    pub(crate) fn min(&self) -> f64 {
        self.values.iter().copied().fold(f64::INFINITY, f64::min)
    }

    pub(crate) fn clear(&mut self) {
        self.values.clear();
    }
}

/// An exponential average seeded, as TA-Lib does, with the simple average of its first
/// `period` inputs; `alpha` is 2/(n+1) (EMA) or 1/n (Wilder's RMA).
#[derive(Debug, Clone)]
pub(crate) struct ExpAvg {
    period: usize,
    alpha: f64,
    seed_sum: f64,
    seen: usize,
    value: Option<f64>,
}

impl ExpAvg {
    pub(crate) fn ema(period: usize) -> Self {
        Self::with_alpha(period, 2.0 / (period as f64 + 1.0))
    }

    pub(crate) fn rma(period: usize) -> Self {
        Self::with_alpha(period, 1.0 / period as f64)
    }

    fn with_alpha(period: usize, alpha: f64) -> Self {
        assert!(period > 0, "period must be positive");
        ExpAvg {
            period,
            alpha,
            seed_sum: 0.0,
            seen: 0,
            value: None,
        }
    }

    pub(crate) fn update(&mut self, x: f64) -> Option<f64> {
        match self.value {
            Some(prev) => self.value = Some((x - prev) * self.alpha + prev),
            None => {
                self.seed_sum += x;
                self.seen += 1;
                if self.seen == self.period {
                    self.value = Some(self.seed_sum / self.period as f64);
                }
            }
        }
        self.value
    }

    pub(crate) fn reset(&mut self) {
        *self = Self::with_alpha(self.period, self.alpha);
    }
}
