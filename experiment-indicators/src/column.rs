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
use crate::{
    Cci, Dema, Dmi, Ema, Highest, Indicator, Lowest, Macd, Mfi, Momentum, Obv, Rma, Roc, Rsi,
    Stochastic, TaiwanKd, Tema, WilliamsR, Wma,
};

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
        make_room(col, n);
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

/// Empties `col` and makes room for `n` values in it, asking for huge pages when that takes a
/// fresh allocation of 4 MiB or more.
///
/// Why: a fresh column is written once from start to end, and each 4 KiB page of it costs a
/// page fault on first touch. The memory of dropped columns of 8 MB and more goes back to the
/// kernel (glibc's trim threshold), so an indicator called in a loop pays those faults on
/// every call: about 5,800 a call, most of the time, for MACD over 1M values. Huge pages
/// make it one fault per 2 MiB. numpy does the same for every array of 4 MB or more, which
/// is what TA-Lib's Python outputs get.
#[inline(always)]
fn make_room(col: &mut Vec<f64>, n: usize) {
    col.clear();
    let before = col.capacity();
    col.reserve(n);
    if col.capacity() != before {
        advise_huge_pages(col);
    }
}

#[cfg(target_os = "linux")]
#[inline(never)]
fn advise_huge_pages(col: &mut Vec<f64>) {
    const HUGE: usize = 4 << 20;
    let bytes = col.capacity() * std::mem::size_of::<f64>();
    if bytes < HUGE {
        return;
    }
    // SAFETY: `sysconf` only reads a configuration value.
    #[allow(unsafe_code)]
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    let Ok(page) = usize::try_from(page) else {
        return;
    };
    if !page.is_power_of_two() {
        return;
    }
    // The whole pages inside the allocation: madvise wants a page-aligned start.
    let start = col.as_mut_ptr() as usize;
    let first = (start + page - 1) & !(page - 1);
    let end = (start + bytes) & !(page - 1);
    if end <= first {
        return;
    }
    // SAFETY: the range lies inside memory this vector owns, and MADV_HUGEPAGE is advice
    // about how to back it: it changes neither its contents nor who may use it. A failure
    // (a kernel without transparent huge pages, say) leaves things as they were, so the
    // result is ignored.
    #[allow(unsafe_code)]
    unsafe {
        libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE);
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages(_col: &mut Vec<f64>) {}

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
    let rows = SmaRows {
        xs: values,
        p: period,
        n: period as f64,
        sum: RunningSum::new(period),
    };
    run_into(values.len(), rows, std::array::from_mut(out));
}

/// `Sma::update_value`'s arithmetic, step for step, with the window read from the input.
/// Through [`run_into`] the output is written into reserved memory with the sum in a
/// register, where `push` checked the capacity and reloaded the length on every value.
struct SmaRows<'a> {
    xs: &'a [f64],
    p: usize,
    n: f64,
    sum: RunningSum,
}

impl Kernel<1> for SmaRows<'_> {
    #[inline(always)]
    fn row(&mut self, i: usize) -> [f64; 1] {
        let xs = self.xs;
        let old = (i >= self.p).then(|| xs[i - self.p]);
        if self.sum.add(xs[i], old) {
            let from = (i + 1).saturating_sub(self.p);
            self.sum
                .set(cold(move || ring_sum(&xs[from..=i], 0, |v| v)));
        }
        [if i + 1 >= self.p {
            self.sum.value() / self.n
        } else {
            f64::NAN
        }]
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

/// Runs a bar indicator over the columns it reads: `bar(i)` assembles row `i` from them (the
/// fields the indicator does not read left at 0), so a pass reads 8 bytes per column used
/// rather than a whole 40-byte [`Bar`], and the update is the streaming one, to the bit.
fn over_columns<I: Indicator, const K: usize>(
    n: usize,
    indicator: I,
    bar: impl Fn(usize) -> Bar,
    outputs: impl Fn(I::Output) -> [f64; K],
    out: &mut [Vec<f64>; K],
) {
    let step = |s: &mut I, i: usize| match s.update(&bar(i)) {
        Some(v) => outputs(v),
        None => [f64::NAN; K],
    };
    run_into(n, Closure(indicator, step), out);
}

/// High, low and close cut to one length (so that indexing them below `n` needs no check).
fn hlc<'a>(
    high: &'a [f64],
    low: &'a [f64],
    close: &'a [f64],
) -> (usize, &'a [f64], &'a [f64], &'a [f64]) {
    assert!(
        high.len() == low.len() && low.len() == close.len(),
        "high, low and close must have the same length"
    );
    let n = close.len();
    (n, &high[..n], &low[..n], &close[..n])
}

/// Slow stochastic (TA-Lib STOCH with SMA smoothing, [`Stochastic`]): `[slow %K, %D]`.
///
/// # Panics
/// If a period is 0 or the columns differ in length.
pub fn stoch(
    high: &[f64],
    low: &[f64],
    close: &[f64],
    k: usize,
    slow_k: usize,
    d: usize,
) -> [Vec<f64>; 2] {
    let mut out = [Vec::new(), Vec::new()];
    stoch_into(high, low, close, k, slow_k, d, &mut out);
    out
}

/// [`stoch`] into `out` (replaced; its memory is reused).
///
/// # Panics
/// If a period is 0 or the columns differ in length.
pub fn stoch_into(
    high: &[f64],
    low: &[f64],
    close: &[f64],
    k: usize,
    slow_k: usize,
    d: usize,
    out: &mut [Vec<f64>; 2],
) {
    let (n, h, l, c) = hlc(high, low, close);
    let bar = |i: usize| Bar {
        high: h[i],
        low: l[i],
        close: c[i],
        ..Bar::default()
    };
    let ind = Stochastic::new(k, slow_k, d);
    over_columns(n, ind, bar, |v| [v.k, v.d], out);
}

/// Taiwan's KD ([`TaiwanKd`]): `[K, D]`.
///
/// # Panics
/// If a period is 0 or the columns differ in length.
pub fn kd(
    high: &[f64],
    low: &[f64],
    close: &[f64],
    n: usize,
    k_smoothing: usize,
    d_smoothing: usize,
) -> [Vec<f64>; 2] {
    let mut out = [Vec::new(), Vec::new()];
    kd_into(high, low, close, n, k_smoothing, d_smoothing, &mut out);
    out
}

/// [`kd`] into `out` (replaced; its memory is reused).
///
/// # Panics
/// If a period is 0 or the columns differ in length.
pub fn kd_into(
    high: &[f64],
    low: &[f64],
    close: &[f64],
    n: usize,
    k_smoothing: usize,
    d_smoothing: usize,
    out: &mut [Vec<f64>; 2],
) {
    let (rows, h, l, c) = hlc(high, low, close);
    let bar = |i: usize| Bar {
        high: h[i],
        low: l[i],
        close: c[i],
        ..Bar::default()
    };
    let ind = TaiwanKd::new(n, k_smoothing, d_smoothing);
    over_columns(rows, ind, bar, |v| [v.k, v.d], out);
}

/// Directional movement ([`Dmi`]): `[+DI, −DI, ADX]`.
///
/// # Panics
/// If `period` is 0 or the columns differ in length.
pub fn dmi(high: &[f64], low: &[f64], close: &[f64], period: usize) -> [Vec<f64>; 3] {
    let mut out = [Vec::new(), Vec::new(), Vec::new()];
    dmi_into(high, low, close, period, &mut out);
    out
}

/// [`dmi`] into `out` (replaced; its memory is reused).
///
/// # Panics
/// If `period` is 0 or the columns differ in length.
pub fn dmi_into(high: &[f64], low: &[f64], close: &[f64], period: usize, out: &mut [Vec<f64>; 3]) {
    let (n, h, l, c) = hlc(high, low, close);
    let bar = |i: usize| Bar {
        high: h[i],
        low: l[i],
        close: c[i],
        ..Bar::default()
    };
    let outputs = |v: crate::DmiValue| [v.plus_di, v.minus_di, nan(v.adx)];
    over_columns(n, Dmi::new(period), bar, outputs, out);
}

macro_rules! hlc_columns {
    ($($(#[$doc:meta])* $name:ident, $into:ident => $new:expr, $value:expr;)*) => {$(
        $(#[$doc])*
        ///
        /// # Panics
        /// If `period` is 0 or the columns differ in length.
        pub fn $name(high: &[f64], low: &[f64], close: &[f64], period: usize) -> Vec<f64> {
            let mut out = Vec::new();
            $into(high, low, close, period, &mut out);
            out
        }

        #[doc = concat!("[`", stringify!($name), "`] into `out` (replaced; its memory is reused).")]
        ///
        /// # Panics
        /// If `period` is 0 or the columns differ in length.
        pub fn $into(high: &[f64], low: &[f64], close: &[f64], period: usize, out: &mut Vec<f64>) {
            let (n, h, l, c) = hlc(high, low, close);
            let bar = |i: usize| Bar {
                high: h[i],
                low: l[i],
                close: c[i],
                ..Bar::default()
            };
            over_columns(n, $new(period), bar, $value, std::array::from_mut(out));
        }
    )*};
}

hlc_columns! {
    /// ADX alone (the third column of [`dmi`]), as TA-Lib's `ADX` returns it.
    adx, adx_into => Dmi::new, |v: crate::DmiValue| [nan(v.adx)];
    /// Williams %R ([`WilliamsR`]).
    willr, willr_into => WilliamsR::new, |v| [v];
    /// Commodity channel index ([`Cci`]).
    cci, cci_into => Cci::new, |v| [v];
}

/// Money flow index ([`Mfi`]) over high, low, close and volume columns.
///
/// # Panics
/// If `period` is 0 or the columns differ in length.
pub fn mfi(high: &[f64], low: &[f64], close: &[f64], volume: &[f64], period: usize) -> Vec<f64> {
    let mut out = Vec::new();
    mfi_into(high, low, close, volume, period, &mut out);
    out
}

/// [`mfi`] into `out` (replaced; its memory is reused).
///
/// # Panics
/// If `period` is 0 or the columns differ in length.
pub fn mfi_into(
    high: &[f64],
    low: &[f64],
    close: &[f64],
    volume: &[f64],
    period: usize,
    out: &mut Vec<f64>,
) {
    let (n, h, l, c) = hlc(high, low, close);
    assert_eq!(volume.len(), n, "volume must have the length of the prices");
    let v = &volume[..n];
    let bar = |i: usize| Bar {
        high: h[i],
        low: l[i],
        close: c[i],
        volume: v[i],
        ..Bar::default()
    };
    over_columns(n, Mfi::new(period), bar, |v| [v], std::array::from_mut(out));
}

/// On-balance volume ([`Obv`]) over close and volume columns.
///
/// # Panics
/// If the columns differ in length.
pub fn obv(close: &[f64], volume: &[f64]) -> Vec<f64> {
    let mut out = Vec::new();
    obv_into(close, volume, &mut out);
    out
}

/// [`obv`] into `out` (replaced; its memory is reused).
///
/// # Panics
/// If the columns differ in length.
pub fn obv_into(close: &[f64], volume: &[f64], out: &mut Vec<f64>) {
    assert_eq!(
        close.len(),
        volume.len(),
        "close and volume must have the same length"
    );
    let n = close.len();
    let (c, v) = (&close[..n], &volume[..n]);
    let bar = |i: usize| Bar {
        close: c[i],
        volume: v[i],
        ..Bar::default()
    };
    over_columns(n, Obv::new(), bar, |v| [v], std::array::from_mut(out));
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
