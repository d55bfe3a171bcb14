//! Indicators of one price series (the close by default when driven by bars).
//!
//! Each has `update_value(x)` for a plain series and implements [`Indicator`] on bars (reading
//! the close). Definitions follow TA-Lib: exponential averages are seeded with the simple
//! average of their first `period` inputs; warm-up lengths are TA-Lib's lookbacks.

use crate::core::{
    cold, is_zero, ring_sum, Bar, ExpAvg, Indicator, RollingMax, RollingMin, RunningSum, Window,
};

macro_rules! on_close {
    ($t:ty, $out:ty) => {
        impl Indicator for $t {
            type Output = $out;
            #[inline(always)]
            fn update(&mut self, bar: &Bar) -> Option<$out> {
                self.update_value(bar.close)
            }
            fn reset(&mut self) {
                *self = Self::new(self.period);
            }
            fn warm_up(&self) -> usize {
                self.lookback()
            }
        }
    };
}

/// An exponential average indicator over `ExpAvg` (they differ only in the smoothing factor).
macro_rules! exp_average {
    ($(#[$doc:meta])* $t:ident, $kind:ident, $short:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $t {
            period: usize,
            avg: ExpAvg,
        }

        impl $t {
            #[doc = concat!("An ", $short, " over `period` values.")]
            ///
            /// # Panics
            /// If `period` is 0.
            pub fn new(period: usize) -> Self {
                $t {
                    period,
                    avg: ExpAvg::$kind(period),
                }
            }
            /// Adds a value.
            #[inline(always)]
            pub fn update_value(&mut self, x: f64) -> Option<f64> {
                self.avg.update(x)
            }
            fn lookback(&self) -> usize {
                self.period - 1
            }
        }
        on_close!($t, f64);
    };
}

exp_average!(
    /// Exponential moving average, k = 2/(n+1), seeded with the SMA of the first n values.
    Ema, ema, "EMA"
);
exp_average!(
    /// Wilder's moving average (RMA, SMMA): alpha = 1/n, seeded with the SMA of the first n values.
    Rma, rma, "RMA"
);

/// Linearly weighted moving average (weights 1..n, newest heaviest).
///
/// O(1) per update: as TA-Lib does, the weighted sum moves by `n·x − (sum of the previous
/// window)` and the plain sum by `x − oldest`. Both are computed again from the window when
/// it fills and then every `max(n, 256)` updates, so that rounding cannot accumulate.
#[derive(Debug, Clone)]
pub struct Wma {
    period: usize,
    window: Window,
    /// Σ wᵢ·xᵢ and Σ xᵢ over the window, and updates since they were last re-added.
    weighted: f64,
    sum: f64,
    since: usize,
    every: usize,
}

/// Σ (i+1)·xᵢ and Σ xᵢ of a ring, oldest (at `start`) first.
fn weighted_sums(buf: &[f64], start: usize) -> (f64, f64) {
    let (newer, older) = buf.split_at(start);
    let weighted = older
        .iter()
        .chain(newer)
        .enumerate()
        .map(|(i, v)| (i as f64 + 1.0) * v)
        .sum();
    (weighted, ring_sum(buf, start, |v| v))
}

impl Wma {
    /// A WMA over `period` values.
    ///
    /// # Panics
    /// If `period` is 0.
    pub fn new(period: usize) -> Self {
        assert!(period > 0, "period must be positive");
        Wma {
            period,
            window: Window::new(period),
            weighted: 0.0,
            sum: 0.0,
            since: 0,
            every: period.max(256),
        }
    }
    /// Adds a value.
    #[inline(always)]
    pub fn update_value(&mut self, x: f64) -> Option<f64> {
        let old = self.window.push(x);
        if !self.window.full() {
            return None;
        }
        let n = self.period as f64;
        match old {
            Some(old) if self.since < self.every => {
                // Every weight drops by one (the oldest's to zero) and `x` comes in at n.
                self.weighted += n * x - self.sum;
                self.sum += x - old;
                self.since += 1;
            }
            _ => {
                let (ring, start) = self.window.ring();
                (self.weighted, self.sum) = cold(move || weighted_sums(ring, start));
                self.since = 0;
            }
        }
        Some(self.weighted / (n * (n + 1.0) / 2.0))
    }
    fn lookback(&self) -> usize {
        self.period - 1
    }
}
on_close!(Wma, f64);

/// Double EMA: 2·EMA − EMA(EMA).
#[derive(Debug, Clone)]
pub struct Dema {
    period: usize,
    e1: ExpAvg,
    e2: ExpAvg,
}

impl Dema {
    /// A DEMA over `period`.
    ///
    /// # Panics
    /// If `period` is 0.
    pub fn new(period: usize) -> Self {
        Dema {
            period,
            e1: ExpAvg::ema(period),
            e2: ExpAvg::ema(period),
        }
    }
    /// Adds a value.
    #[inline(always)]
    pub fn update_value(&mut self, x: f64) -> Option<f64> {
        let e1 = self.e1.update(x)?;
        let e2 = self.e2.update(e1)?;
        Some(2.0 * e1 - e2)
    }
    fn lookback(&self) -> usize {
        2 * (self.period - 1)
    }
}
on_close!(Dema, f64);

/// Triple EMA: 3·EMA − 3·EMA(EMA) + EMA(EMA(EMA)).
#[derive(Debug, Clone)]
pub struct Tema {
    period: usize,
    e1: ExpAvg,
    e2: ExpAvg,
    e3: ExpAvg,
}

impl Tema {
    /// A TEMA over `period`.
    ///
    /// # Panics
    /// If `period` is 0.
    pub fn new(period: usize) -> Self {
        Tema {
            period,
            e1: ExpAvg::ema(period),
            e2: ExpAvg::ema(period),
            e3: ExpAvg::ema(period),
        }
    }
    /// Adds a value.
    #[inline(always)]
    pub fn update_value(&mut self, x: f64) -> Option<f64> {
        let e1 = self.e1.update(x)?;
        let e2 = self.e2.update(e1)?;
        let e3 = self.e3.update(e2)?;
        Some(3.0 * e1 - 3.0 * e2 + e3)
    }
    fn lookback(&self) -> usize {
        3 * (self.period - 1)
    }
}
on_close!(Tema, f64);

/// Relative strength index (Wilder): first averages are the simple means of the first n
/// gains and losses, then Wilder-smoothed. 0 when there was no movement at all.
#[derive(Debug, Clone)]
pub struct Rsi {
    period: usize,
    prev: Option<f64>,
    gain: ExpAvg,
    loss: ExpAvg,
}

impl Rsi {
    /// An RSI over `period` changes.
    ///
    /// # Panics
    /// If `period` is 0.
    pub fn new(period: usize) -> Self {
        Rsi {
            period,
            prev: None,
            gain: ExpAvg::rma(period),
            loss: ExpAvg::rma(period),
        }
    }
    /// Adds a value.
    #[inline(always)]
    pub fn update_value(&mut self, x: f64) -> Option<f64> {
        let prev = self.prev.replace(x)?;
        // Branch-free: a rise or a fall is a coin toss on real prices, and a mispredicted
        // branch costs more than both subtractions.
        let (up, down) = ((x - prev).max(0.0), (prev - x).max(0.0));
        // Both averages are updated before either is read: they warm up together.
        let (gain, loss) = (self.gain.update(up), self.loss.update(down));
        let (gain, loss) = (gain?, loss?);
        let total = gain + loss;
        Some(if is_zero(total) {
            0.0
        } else {
            100.0 * (gain / total)
        })
    }
    fn lookback(&self) -> usize {
        self.period
    }
}
on_close!(Rsi, f64);

/// Rate of change in percent over `period` values: `(x / x[n] − 1) · 100` (0 when `x[n]` is 0).
#[derive(Debug, Clone)]
pub struct Roc {
    period: usize,
    window: Window,
}

impl Roc {
    /// A ROC over `period`.
    ///
    /// # Panics
    /// If `period` is 0.
    pub fn new(period: usize) -> Self {
        assert!(period > 0, "period must be positive");
        Roc {
            period,
            window: Window::new(period + 1),
        }
    }
    /// Adds a value.
    #[inline(always)]
    pub fn update_value(&mut self, x: f64) -> Option<f64> {
        self.window.push(x);
        let old = self.window.full().then(|| self.window.front()).flatten()?;
        Some(if old != 0.0 {
            (x / old - 1.0) * 100.0
        } else {
            0.0
        })
    }
    fn lookback(&self) -> usize {
        self.period
    }
}
on_close!(Roc, f64);

/// Momentum: `x − x[n]`.
#[derive(Debug, Clone)]
pub struct Momentum {
    period: usize,
    window: Window,
}

impl Momentum {
    /// Momentum over `period`.
    ///
    /// # Panics
    /// If `period` is 0.
    pub fn new(period: usize) -> Self {
        assert!(period > 0, "period must be positive");
        Momentum {
            period,
            window: Window::new(period + 1),
        }
    }
    /// Adds a value.
    #[inline(always)]
    pub fn update_value(&mut self, x: f64) -> Option<f64> {
        self.window.push(x);
        let old = self.window.full().then(|| self.window.front()).flatten()?;
        Some(x - old)
    }
    fn lookback(&self) -> usize {
        self.period
    }
}
on_close!(Momentum, f64);

/// Population standard deviation over `period` values (TA-Lib's STDDEV with nbdev 1).
#[derive(Debug, Clone)]
pub struct StdDev {
    period: usize,
    moments: Moments,
}

impl StdDev {
    /// A standard deviation over `period`.
    ///
    /// # Panics
    /// If `period` is 0.
    pub fn new(period: usize) -> Self {
        assert!(period > 0, "period must be positive");
        StdDev {
            period,
            moments: Moments::new(period),
        }
    }
    /// Adds a value.
    #[inline(always)]
    pub fn update_value(&mut self, x: f64) -> Option<f64> {
        self.moments.update(x).map(|(_, sd)| sd)
    }
    fn lookback(&self) -> usize {
        self.period - 1
    }
}
on_close!(StdDev, f64);

/// Mean and population standard deviation of a window from running sums of x and x²
/// (E[x²] − E[x]², as TA-Lib computes the variance; 0 when that is not positive).
#[derive(Debug, Clone)]
struct Moments {
    n: f64,
    window: Window,
    sum: RunningSum,
    sum_sq: RunningSum,
}

/// Mean and population σ from the sums of x and x² over n values.
#[inline(always)]
pub(crate) fn mean_sd(sum: f64, sum_sq: f64, n: f64) -> (f64, f64) {
    let mean = sum / n;
    let var = sum_sq / n - mean * mean;
    (mean, if var > 0.0 { var.sqrt() } else { 0.0 })
}

/// The bands around `middle` at `k` σ.
#[inline(always)]
pub(crate) fn bands(middle: f64, sd: f64, k: f64) -> BandsValue {
    BandsValue {
        upper: middle + k * sd,
        middle,
        lower: middle - k * sd,
    }
}

impl Moments {
    fn new(period: usize) -> Self {
        Moments {
            n: period as f64,
            window: Window::new(period),
            sum: RunningSum::new(period),
            sum_sq: RunningSum::new(period),
        }
    }

    #[inline(always)]
    fn update(&mut self, x: f64) -> Option<(f64, f64)> {
        let old = self.window.push(x);
        let due = self.sum.add(x, old);
        if self.sum_sq.add(x * x, old.map(|o| o * o)) | due {
            let (ring, start) = self.window.ring();
            let (sum, sum_sq) = cold(move || {
                (
                    ring_sum(ring, start, |v| v),
                    ring_sum(ring, start, |v| v * v),
                )
            });
            self.sum.set(sum);
            self.sum_sq.set(sum_sq);
        }
        self.window
            .full()
            .then(|| mean_sd(self.sum.value(), self.sum_sq.value(), self.n))
    }

    fn clear(&mut self) {
        self.window.clear();
        self.sum.clear();
        self.sum_sq.clear();
    }
}

/// Highest value over the last `period` values (the current one included); O(1) amortised
/// per update whatever the period.
#[derive(Debug, Clone)]
pub struct Highest {
    period: usize,
    window: RollingMax,
}

impl Highest {
    /// Highest over `period`.
    ///
    /// # Panics
    /// If `period` is 0.
    pub fn new(period: usize) -> Self {
        assert!(period > 0, "period must be positive");
        Highest {
            period,
            window: RollingMax::new(period),
        }
    }
    /// Adds a value.
    #[inline(always)]
    pub fn update_value(&mut self, x: f64) -> Option<f64> {
        self.window.push(x);
        self.window.full().then(|| self.window.value())
    }
    fn lookback(&self) -> usize {
        self.period - 1
    }
}
on_close!(Highest, f64);

/// Lowest value over the last `period` values (the current one included); O(1) amortised
/// per update whatever the period.
#[derive(Debug, Clone)]
pub struct Lowest {
    period: usize,
    window: RollingMin,
}

impl Lowest {
    /// Lowest over `period`.
    ///
    /// # Panics
    /// If `period` is 0.
    pub fn new(period: usize) -> Self {
        assert!(period > 0, "period must be positive");
        Lowest {
            period,
            window: RollingMin::new(period),
        }
    }
    /// Adds a value.
    #[inline(always)]
    pub fn update_value(&mut self, x: f64) -> Option<f64> {
        self.window.push(x);
        self.window.full().then(|| self.window.value())
    }
    fn lookback(&self) -> usize {
        self.period - 1
    }
}
on_close!(Lowest, f64);

/// MACD line, signal and histogram.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MacdValue {
    /// Fast EMA − slow EMA.
    pub macd: f64,
    /// EMA of the MACD line.
    pub signal: f64,
    /// MACD − signal.
    pub histogram: f64,
}

/// MACD as TA-Lib computes it: the fast EMA starts `slow − fast` values late, so that both
/// EMAs are seeded at the same bar; the signal is an EMA of the MACD line.
#[derive(Debug, Clone)]
pub struct Macd {
    fast: usize,
    slow: usize,
    signal: usize,
    seen: usize,
    fast_ema: ExpAvg,
    slow_ema: ExpAvg,
    signal_ema: ExpAvg,
}

impl Macd {
    /// MACD(fast, slow, signal), e.g. (12, 26, 9).
    ///
    /// # Panics
    /// If a period is 0 or `fast > slow`.
    pub fn new(fast: usize, slow: usize, signal: usize) -> Self {
        assert!(
            fast > 0 && slow > 0 && signal > 0 && fast <= slow,
            "MACD periods must be positive with fast <= slow"
        );
        Macd {
            fast,
            slow,
            signal,
            seen: 0,
            fast_ema: ExpAvg::ema(fast),
            slow_ema: ExpAvg::ema(slow),
            signal_ema: ExpAvg::ema(signal),
        }
    }
    /// Adds a value.
    #[inline(always)]
    pub fn update_value(&mut self, x: f64) -> Option<MacdValue> {
        self.seen += 1;
        let slow = self.slow_ema.update(x);
        let fast = if self.seen > self.slow - self.fast {
            self.fast_ema.update(x)
        } else {
            None
        };
        let macd = fast? - slow?;
        let signal = self.signal_ema.update(macd)?;
        Some(MacdValue {
            macd,
            signal,
            histogram: macd - signal,
        })
    }
}

impl Indicator for Macd {
    type Output = MacdValue;
    #[inline(always)]
    fn update(&mut self, bar: &Bar) -> Option<MacdValue> {
        self.update_value(bar.close)
    }
    fn reset(&mut self) {
        *self = Self::new(self.fast, self.slow, self.signal);
    }
    fn warm_up(&self) -> usize {
        self.slow - 1 + self.signal - 1
    }
}

/// Bollinger Bands.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BandsValue {
    /// Middle + k·σ.
    pub upper: f64,
    /// The simple moving average.
    pub middle: f64,
    /// Middle − k·σ.
    pub lower: f64,
}

/// Bollinger Bands: SMA(n) ± k × population σ(n).
#[derive(Debug, Clone)]
pub struct Bollinger {
    period: usize,
    k: f64,
    moments: Moments,
}

impl Bollinger {
    /// Bands over `period` at `k` standard deviations (20, 2.0 is the usual).
    ///
    /// # Panics
    /// If `period` is 0.
    pub fn new(period: usize, k: f64) -> Self {
        assert!(period > 0, "period must be positive");
        Bollinger {
            period,
            k,
            moments: Moments::new(period),
        }
    }
    /// Adds a value.
    #[inline(always)]
    pub fn update_value(&mut self, x: f64) -> Option<BandsValue> {
        let (middle, sd) = self.moments.update(x)?;
        Some(bands(middle, sd, self.k))
    }
}

impl Indicator for Bollinger {
    type Output = BandsValue;
    #[inline(always)]
    fn update(&mut self, bar: &Bar) -> Option<BandsValue> {
        self.update_value(bar.close)
    }
    fn reset(&mut self) {
        self.moments.clear();
    }
    fn warm_up(&self) -> usize {
        self.period - 1
    }
}
