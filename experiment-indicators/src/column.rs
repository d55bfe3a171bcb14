//! Columnar batch: a whole series in, one `Vec<f64>` per output out, as TA-Lib and numpy
//! work. Cells before the indicator is defined are NaN (the columnar spelling of `None`; use
//! [`defined`] to read them as `Option`).
//!
//! Each function runs the very same streaming state machine as the indicator's `update`, so
//! the columns equal [`crate::batch`] and streaming updates to the bit (a proptest checks it);
//! what makes it fast is the shape of the loop — contiguous `f64` in and out, no `Option` per
//! cell — and, on x86-64 CPUs that have it, the fused multiply-add instruction for the
//! recursive averages (detected at run time, as TA-Lib's own wheels do). Without FMA the same
//! `mul_add` is computed by libm, to the same bits, only slower.
//!
//! Every function has an `_into` twin that writes into vectors the caller keeps (as TA-Lib's C
//! API writes into the caller's arrays): computing many columns in a loop then allocates
//! nothing after the first.
//!
//! ```
//! use experiment_indicators::column;
//! let close = [10.0, 11.0, 12.0, 13.0];
//! let sma = column::sma(&close, 3);
//! assert!(sma[1].is_nan());
//! assert_eq!(&sma[2..], &[11.0, 12.0]);
//! assert_eq!(column::defined(&sma)[2], Some(11.0));
//! ```

use crate::bars::true_range;
use crate::core::{cold, ring_sum, Bar, ExpAvg, RunningSum};
use crate::series::{bands, mean_sd};
use crate::{Dema, Ema, Highest, Indicator, Lowest, Macd, Momentum, Rma, Roc, Rsi, Tema, Wma};

/// Reads a column as options: NaN (warm-up or undefined) becomes `None`.
pub fn defined(column: &[f64]) -> Vec<Option<f64>> {
    column.iter().map(|v| (!v.is_nan()).then_some(*v)).collect()
}

/// One row of a batch computation: the values of row `i`, from state kept across rows.
pub(crate) trait Kernel<const K: usize> {
    fn row(&mut self, i: usize) -> [f64; K];
}

/// A kernel from a closure over a state (for the generic paths).
struct Closure<S, F>(S, F);

impl<S, F, const K: usize> Kernel<K> for Closure<S, F>
where
    F: FnMut(&mut S, usize) -> [f64; K],
{
    #[inline(always)]
    fn row(&mut self, i: usize) -> [f64; K] {
        (self.1)(&mut self.0, i)
    }
}

#[inline(always)]
fn fill<R: Kernel<K>, const K: usize>(n: usize, mut kernel: R, out: &mut [Vec<f64>; K]) {
    // The kernel is a local (not behind a reference) and nothing in the loop can call out
    // (no `push` that might grow a vector), so its state lives in registers: the only thing
    // carried from one row to the next is the recurrence itself.
    for col in out.iter_mut() {
        col.clear();
        col.reserve(n);
    }
    let mut cols = out.each_mut().map(|c| &mut c.spare_capacity_mut()[..n]);
    for i in 0..n {
        let values = kernel.row(i);
        for (col, v) in cols.iter_mut().zip(values) {
            col[i].write(v);
        }
    }
    for col in out.iter_mut() {
        // SAFETY: the loop above wrote every one of the first `n` cells of every column
        // (each has capacity for `n`); a panic in a kernel leaves the lengths at 0. Not
        // zeroing the columns first saves a pass over memory as large as the output.
        #[allow(unsafe_code)]
        unsafe {
            col.set_len(n);
        }
    }
}

/// Runs `kernel` for rows `0..n` into the `K` columns of `out` (replacing their contents,
/// reusing their memory), with the fastest floating-point instructions this CPU has.
pub(crate) fn run_into<R: Kernel<K>, const K: usize>(n: usize, kernel: R, out: &mut [Vec<f64>; K]) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "fma")]
        #[allow(unsafe_code)]
        unsafe fn fused<R: Kernel<K>, const K: usize>(
            n: usize,
            kernel: R,
            out: &mut [Vec<f64>; K],
        ) {
            fill(n, kernel, out);
        }
        if std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: `fused` only differs from `fill` by using FMA instructions, and the CPU
            // was just checked to have them. `mul_add` is specified to round once either way,
            // so the results are the same bits as on the portable path.
            #[allow(unsafe_code)]
            unsafe {
                fused(n, kernel, out);
            }
            return;
        }
    }
    fill(n, kernel, out);
}

/// [`run_into`] into fresh columns.
pub(crate) fn run_kernel<R: Kernel<K>, const K: usize>(n: usize, kernel: R) -> [Vec<f64>; K] {
    let mut out = std::array::from_fn(|_| Vec::new());
    run_into(n, kernel, &mut out);
    out
}

/// [`run_kernel`] with a closure over a state.
pub(crate) fn run<S, F, const K: usize>(n: usize, state: S, step: F) -> [Vec<f64>; K]
where
    F: FnMut(&mut S, usize) -> [f64; K],
{
    run_kernel(n, Closure(state, step))
}

#[inline(always)]
fn nan(v: Option<f64>) -> f64 {
    v.unwrap_or(f64::NAN)
}

/// An indicator of one series, row by row.
struct OnSeries<'a, I> {
    xs: &'a [f64],
    ind: I,
}

/// Indicators of one value per row.
pub(crate) trait UpdateValue {
    fn update_value(&mut self, x: f64) -> Option<f64>;
}

impl<I: UpdateValue> Kernel<1> for OnSeries<'_, I> {
    #[inline(always)]
    fn row(&mut self, i: usize) -> [f64; 1] {
        [nan(self.ind.update_value(self.xs[i]))]
    }
}

fn one<I: UpdateValue>(xs: &[f64], ind: I, out: &mut Vec<f64>) {
    run_into(xs.len(), OnSeries { xs, ind }, std::array::from_mut(out));
}

/// Mean and σ of the window straight from the input, as `Moments::update` computes them.
struct MomentRows<'a> {
    xs: &'a [f64],
    p: usize,
    n: f64,
    sum: RunningSum,
    sum_sq: RunningSum,
}

impl MomentRows<'_> {
    fn new(xs: &[f64], p: usize) -> MomentRows<'_> {
        assert!(p > 0, "period must be positive");
        MomentRows {
            xs,
            p,
            n: p as f64,
            sum: RunningSum::new(p),
            sum_sq: RunningSum::new(p),
        }
    }

    #[inline(always)]
    fn at(&mut self, i: usize) -> Option<(f64, f64)> {
        let xs = self.xs;
        let (x, from) = (xs[i], (i + 1).saturating_sub(self.p));
        let old = (i >= self.p).then(|| xs[i - self.p]);
        let due = self.sum.add(x, old);
        if self.sum_sq.add(x * x, old.map(|o| o * o)) | due {
            let w = &xs[from..=i];
            let (sum, sum_sq) = cold(move || (ring_sum(w, 0, |v| v), ring_sum(w, 0, |v| v * v)));
            self.sum.set(sum);
            self.sum_sq.set(sum_sq);
        }
        (i + 1 >= self.p).then(|| mean_sd(self.sum.value(), self.sum_sq.value(), self.n))
    }
}

struct SdRows<'a>(MomentRows<'a>);

impl Kernel<1> for SdRows<'_> {
    #[inline(always)]
    fn row(&mut self, i: usize) -> [f64; 1] {
        [nan(self.0.at(i).map(|(_, sd)| sd))]
    }
}

macro_rules! series_columns {
    ($($(#[$doc:meta])* $name:ident, $into:ident => $t:ident;)*) => {$(
        $(#[$doc])*
        ///
        /// # Panics
        /// If `period` is 0.
        pub fn $name(values: &[f64], period: usize) -> Vec<f64> {
            let mut out = Vec::new();
            one(values, $t::new(period), &mut out);
            out
        }

        #[doc = concat!("[`", stringify!($name), "`] into `out` (replaced; its memory is reused).")]
        ///
        /// # Panics
        /// If `period` is 0.
        pub fn $into(values: &[f64], period: usize, out: &mut Vec<f64>) {
            one(values, $t::new(period), out);
        }

        impl UpdateValue for $t {
            #[inline(always)]
            fn update_value(&mut self, x: f64) -> Option<f64> {
                $t::update_value(self, x)
            }
        }
    )*};
}

series_columns! {
    /// Exponential moving average.
    ema, ema_into => Ema;
    /// Wilder's moving average.
    rma, rma_into => Rma;
    /// Linearly weighted moving average.
    wma, wma_into => Wma;
    /// Double EMA.
    dema, dema_into => Dema;
    /// Triple EMA.
    tema, tema_into => Tema;
    /// Relative strength index.
    rsi, rsi_into => Rsi;
    /// Rate of change in percent.
    roc, roc_into => Roc;
    /// Momentum.
    mom, mom_into => Momentum;
    /// Highest of the last `period` values.
    highest, highest_into => Highest;
    /// Lowest of the last `period` values.
    lowest, lowest_into => Lowest;
}

/// Simple moving average.
///
/// # Panics
/// If `period` is 0.
pub fn sma(values: &[f64], period: usize) -> Vec<f64> {
    let mut out = Vec::new();
    sma_into(values, period, &mut out);
    out
}

/// [`sma`] into `out` (replaced; its memory is reused).
///
/// # Panics
/// If `period` is 0.
pub fn sma_into(values: &[f64], period: usize, out: &mut Vec<f64>) {
    assert!(period > 0, "SMA period must be positive");
    // Two phases, so the steady loop has no warm-up test: filling the first window, then
    // sliding it. The arithmetic is `Sma::update_value`'s, step for step.
    let (xs, n) = (values, period as f64);
    let mut sum = RunningSum::new(period);
    out.clear();
    out.reserve(xs.len());
    let warm = (period - 1).min(xs.len());
    for (i, &x) in xs[..warm].iter().enumerate() {
        if sum.add(x, None) {
            sum.set(cold(move || ring_sum(&xs[..=i], 0, |v| v)));
        }
        out.push(f64::NAN);
    }
    for i in warm..xs.len() {
        let old = (i >= period).then(|| xs[i - period]);
        if sum.add(xs[i], old) {
            let from = i + 1 - period;
            sum.set(cold(move || ring_sum(&xs[from..=i], 0, |v| v)));
        }
        out.push(sum.value() / n);
    }
}

/// Population standard deviation.
///
/// # Panics
/// If `period` is 0.
pub fn stddev(values: &[f64], period: usize) -> Vec<f64> {
    let mut out = Vec::new();
    stddev_into(values, period, &mut out);
    out
}

/// [`stddev`] into `out` (replaced; its memory is reused).
///
/// # Panics
/// If `period` is 0.
pub fn stddev_into(values: &[f64], period: usize, out: &mut Vec<f64>) {
    let rows = SdRows(MomentRows::new(values, period));
    run_into(values.len(), rows, std::array::from_mut(out));
}

struct MacdRows<'a>(&'a [f64], Macd);

impl Kernel<3> for MacdRows<'_> {
    #[inline(always)]
    fn row(&mut self, i: usize) -> [f64; 3] {
        match self.1.update_value(self.0[i]) {
            Some(v) => [v.macd, v.signal, v.histogram],
            None => [f64::NAN; 3],
        }
    }
}

/// MACD: `[macd, signal, histogram]`.
///
/// # Panics
/// If a period is 0 or `fast > slow`.
pub fn macd(values: &[f64], fast: usize, slow: usize, signal: usize) -> [Vec<f64>; 3] {
    run_kernel(
        values.len(),
        MacdRows(values, Macd::new(fast, slow, signal)),
    )
}

/// [`macd`] into `out` (replaced; its memory is reused).
///
/// # Panics
/// If a period is 0 or `fast > slow`.
pub fn macd_into(values: &[f64], fast: usize, slow: usize, signal: usize, out: &mut [Vec<f64>; 3]) {
    run_into(
        values.len(),
        MacdRows(values, Macd::new(fast, slow, signal)),
        out,
    );
}

struct BandRows<'a>(MomentRows<'a>, f64);

impl Kernel<3> for BandRows<'_> {
    #[inline(always)]
    fn row(&mut self, i: usize) -> [f64; 3] {
        match self.0.at(i) {
            Some((middle, sd)) => {
                let b = bands(middle, sd, self.1);
                [b.middle, b.upper, b.lower]
            }
            None => [f64::NAN; 3],
        }
    }
}

/// Bollinger Bands: `[middle, upper, lower]` (the catalogue's order).
///
/// # Panics
/// If `period` is 0.
pub fn bbands(values: &[f64], period: usize, k: f64) -> [Vec<f64>; 3] {
    run_kernel(values.len(), BandRows(MomentRows::new(values, period), k))
}

/// [`bbands`] into `out` (replaced; its memory is reused).
///
/// # Panics
/// If `period` is 0.
pub fn bbands_into(values: &[f64], period: usize, k: f64, out: &mut [Vec<f64>; 3]) {
    run_into(
        values.len(),
        BandRows(MomentRows::new(values, period), k),
        out,
    );
}

/// ATR straight from the columns: the previous close is read from the input; the true range
/// and the average are `Atr::update`'s.
struct AtrRows<'a> {
    high: &'a [f64],
    low: &'a [f64],
    close: &'a [f64],
    avg: ExpAvg,
}

impl Kernel<1> for AtrRows<'_> {
    #[inline(always)]
    fn row(&mut self, i: usize) -> [f64; 1] {
        if i == 0 {
            return [f64::NAN];
        }
        let bar = Bar {
            open: 0.0,
            high: self.high[i],
            low: self.low[i],
            close: self.close[i],
            volume: 0.0,
        };
        [nan(self.avg.update(true_range(&bar, self.close[i - 1])))]
    }
}

/// Average true range over high, low and close columns of equal length.
///
/// # Panics
/// If `period` is 0 or the columns differ in length.
pub fn atr(high: &[f64], low: &[f64], close: &[f64], period: usize) -> Vec<f64> {
    let mut out = Vec::new();
    atr_into(high, low, close, period, &mut out);
    out
}

/// [`atr`] into `out` (replaced; its memory is reused).
///
/// # Panics
/// If `period` is 0 or the columns differ in length.
pub fn atr_into(high: &[f64], low: &[f64], close: &[f64], period: usize, out: &mut Vec<f64>) {
    assert!(
        high.len() == low.len() && low.len() == close.len(),
        "high, low and close must have the same length"
    );
    run_into(
        close.len(),
        AtrRows {
            high,
            low,
            close,
            avg: ExpAvg::rma(period),
        },
        std::array::from_mut(out),
    );
}

/// Any indicator over bars, one column per output picked by `outputs` (all of them for
/// built-ins through the catalogue), at the same speed as the functions above.
pub fn bars<I, const K: usize>(
    bars: &[Bar],
    indicator: I,
    outputs: impl Fn(I::Output) -> [f64; K],
) -> [Vec<f64>; K]
where
    I: Indicator,
{
    run(bars.len(), indicator, |s, i| match s.update(&bars[i]) {
        Some(v) => outputs(v),
        None => [f64::NAN; K],
    })
}
