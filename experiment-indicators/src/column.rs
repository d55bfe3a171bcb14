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
//! ```
//! use experiment_indicators::column;
//! let close = [10.0, 11.0, 12.0, 13.0];
//! let sma = column::sma(&close, 3);
//! assert!(sma[1].is_nan());
//! assert_eq!(&sma[2..], &[11.0, 12.0]);
//! assert_eq!(column::defined(&sma)[2], Some(11.0));
//! ```

use crate::core::Bar;
use crate::{
    Atr, Bollinger, Dema, Ema, Highest, Indicator, Lowest, Macd, Momentum, Rma, Roc, Rsi, Sma,
    StdDev, Tema, Wma,
};

/// Reads a column as options: NaN (warm-up or undefined) becomes `None`.
pub fn defined(column: &[f64]) -> Vec<Option<f64>> {
    column.iter().map(|v| (!v.is_nan()).then_some(*v)).collect()
}

#[inline(always)]
fn fill<S, F, const K: usize>(n: usize, state: &mut S, step: &mut F) -> [Vec<f64>; K]
where
    F: FnMut(&mut S, usize) -> [f64; K],
{
    let mut out: [Vec<f64>; K] = std::array::from_fn(|_| Vec::with_capacity(n));
    for i in 0..n {
        let values = step(state, i);
        for (column, v) in out.iter_mut().zip(values) {
            column.push(v);
        }
    }
    out
}

/// Runs `step` for rows `0..n` and collects its `K` outputs per row into `K` columns, with
/// the fastest floating-point instructions this CPU has.
pub(crate) fn run<S, F, const K: usize>(n: usize, mut state: S, mut step: F) -> [Vec<f64>; K]
where
    F: FnMut(&mut S, usize) -> [f64; K],
{
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "fma")]
        #[allow(unsafe_code)]
        unsafe fn fused<S, F, const K: usize>(
            n: usize,
            state: &mut S,
            step: &mut F,
        ) -> [Vec<f64>; K]
        where
            F: FnMut(&mut S, usize) -> [f64; K],
        {
            fill(n, state, step)
        }
        if std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: `fused` only differs from `fill` by using FMA instructions, and the CPU
            // was just checked to have them. `mul_add` is specified to round once either way,
            // so the results are the same bits as on the portable path.
            #[allow(unsafe_code)]
            return unsafe { fused(n, &mut state, &mut step) };
        }
    }
    fill(n, &mut state, &mut step)
}

fn nan(v: Option<f64>) -> f64 {
    v.unwrap_or(f64::NAN)
}

fn one<S>(xs: &[f64], state: S, f: impl Fn(&mut S, f64) -> Option<f64>) -> Vec<f64> {
    let [out] = run(xs.len(), state, |s, i| [nan(f(s, xs[i]))]);
    out
}

macro_rules! series_columns {
    ($($(#[$doc:meta])* $name:ident => $t:ident;)*) => {$(
        $(#[$doc])*
        ///
        /// # Panics
        /// If `period` is 0.
        pub fn $name(values: &[f64], period: usize) -> Vec<f64> {
            one(values, $t::new(period), |s, x| s.update_value(x))
        }
    )*};
}

series_columns! {
    /// Simple moving average.
    sma => Sma;
    /// Exponential moving average.
    ema => Ema;
    /// Wilder's moving average.
    rma => Rma;
    /// Linearly weighted moving average.
    wma => Wma;
    /// Double EMA.
    dema => Dema;
    /// Triple EMA.
    tema => Tema;
    /// Relative strength index.
    rsi => Rsi;
    /// Rate of change in percent.
    roc => Roc;
    /// Momentum.
    mom => Momentum;
    /// Population standard deviation.
    stddev => StdDev;
    /// Highest of the last `period` values.
    highest => Highest;
    /// Lowest of the last `period` values.
    lowest => Lowest;
}

/// MACD: `[macd, signal, histogram]`.
///
/// # Panics
/// If a period is 0 or `fast > slow`.
pub fn macd(values: &[f64], fast: usize, slow: usize, signal: usize) -> [Vec<f64>; 3] {
    run(
        values.len(),
        Macd::new(fast, slow, signal),
        |s, i| match s.update_value(values[i]) {
            Some(v) => [v.macd, v.signal, v.histogram],
            None => [f64::NAN; 3],
        },
    )
}

/// Bollinger Bands: `[middle, upper, lower]` (the catalogue's order).
///
/// # Panics
/// If `period` is 0.
pub fn bbands(values: &[f64], period: usize, k: f64) -> [Vec<f64>; 3] {
    run(values.len(), Bollinger::new(period, k), |s, i| {
        match s.update_value(values[i]) {
            Some(v) => [v.middle, v.upper, v.lower],
            None => [f64::NAN; 3],
        }
    })
}

/// Average true range over high, low and close columns of equal length.
///
/// # Panics
/// If `period` is 0 or the columns differ in length.
pub fn atr(high: &[f64], low: &[f64], close: &[f64], period: usize) -> Vec<f64> {
    assert!(
        high.len() == low.len() && low.len() == close.len(),
        "high, low and close must have the same length"
    );
    let [out] = run(close.len(), Atr::new(period), |s, i| {
        let bar = Bar {
            open: close[i],
            high: high[i],
            low: low[i],
            close: close[i],
            volume: 0.0,
        };
        [nan(s.update(&bar))]
    });
    out
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
