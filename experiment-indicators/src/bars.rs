//! Indicators that read whole bars (high, low, close, volume).

use crate::core::{
    cold, is_zero, ring_sum, Bar, ExpAvg, Indicator, RollingMax, RollingMin, RunningSum, Window,
};
use crate::sma::Sma;

#[inline(always)]
pub(crate) fn true_range(bar: &Bar, prev_close: f64) -> f64 {
    // Plain comparisons (one instruction each) rather than the NaN-aware `f64::max`: this is
    // on the hot path of ATR, DMI and Keltner, and a NaN price has no true range anyway.
    let max = |a: f64, b: f64| if a > b { a } else { b };
    max(
        max(bar.high - bar.low, (bar.high - prev_close).abs()),
        (bar.low - prev_close).abs(),
    )
}

/// Average true range (Wilder): the first value is the mean of the first n true ranges
/// (each needs the previous close), then Wilder-smoothed.
#[derive(Debug, Clone)]
pub struct Atr {
    period: usize,
    prev_close: Option<f64>,
    avg: ExpAvg,
}

impl Atr {
    /// An ATR over `period`.
    ///
    /// # Panics
    /// If `period` is 0.
    pub fn new(period: usize) -> Self {
        Atr {
            period,
            prev_close: None,
            avg: ExpAvg::rma(period),
        }
    }
}

impl Indicator for Atr {
    type Output = f64;
    #[inline(always)]
    fn update(&mut self, bar: &Bar) -> Option<f64> {
        let prev = self.prev_close.replace(bar.close)?;
        self.avg.update(true_range(bar, prev))
    }
    fn reset(&mut self) {
        self.prev_close = None;
        self.avg.reset();
    }
    fn warm_up(&self) -> usize {
        self.period
    }
}

/// Highest high and lowest low of the last n bars, O(1) amortised per bar whatever n
/// ([`RollingMax`]/[`RollingMin`], rather than a scan of the window every bar).
#[derive(Debug, Clone)]
struct Range {
    highs: RollingMax,
    lows: RollingMin,
}

impl Range {
    fn new(n: usize) -> Self {
        Range {
            highs: RollingMax::new(n),
            lows: RollingMin::new(n),
        }
    }
    #[inline(always)]
    fn update(&mut self, bar: &Bar) -> Option<(f64, f64)> {
        self.highs.push(bar.high);
        self.lows.push(bar.low);
        self.highs
            .full()
            .then(|| (self.highs.value(), self.lows.value()))
    }
    fn clear(&mut self) {
        self.highs.clear();
        self.lows.clear();
    }
}

/// Raw stochastic %K in percent; 0 when the range is flat (as TA-Lib).
fn raw_k(close: f64, high: f64, low: f64) -> f64 {
    let diff = high - low;
    if diff != 0.0 {
        (close - low) / diff * 100.0
    } else {
        0.0
    }
}

/// Slow stochastic %K and %D.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StochValue {
    /// Slow %K.
    pub k: f64,
    /// %D.
    pub d: f64,
}

/// Stochastic oscillator (TA-Lib STOCH with SMA smoothing): fast %K over `k`, slow %K its
/// SMA over `slow_k`, %D the SMA of slow %K over `d`.
#[derive(Debug, Clone)]
pub struct Stochastic {
    periods: (usize, usize, usize),
    range: Range,
    slow_k: Sma,
    d: Sma,
}

impl Stochastic {
    /// Stochastic(k, slow_k, d), e.g. (14, 3, 3).
    ///
    /// # Panics
    /// If a period is 0.
    pub fn new(k: usize, slow_k: usize, d: usize) -> Self {
        Stochastic {
            periods: (k, slow_k, d),
            range: Range::new(k),
            slow_k: Sma::new(slow_k),
            d: Sma::new(d),
        }
    }
}

impl Indicator for Stochastic {
    type Output = StochValue;
    #[inline(always)]
    fn update(&mut self, bar: &Bar) -> Option<StochValue> {
        let (hh, ll) = self.range.update(bar)?;
        let k = self.slow_k.update_value(raw_k(bar.close, hh, ll))?;
        let d = self.d.update_value(k)?;
        Some(StochValue { k, d })
    }
    fn reset(&mut self) {
        *self = Self::new(self.periods.0, self.periods.1, self.periods.2);
    }
    fn warm_up(&self) -> usize {
        self.periods.0 - 1 + self.periods.1 - 1 + self.periods.2 - 1
    }
}

/// Taiwan's KD (9, 3, 3): RSV over n bars, K = (2/3)·K' + (1/3)·RSV, D = (2/3)·D' + (1/3)·K,
/// starting from K₀ = D₀ = 50. Charting services in Taiwan use this, not TA-Lib's STOCH.
#[derive(Debug, Clone)]
pub struct TaiwanKd {
    periods: (usize, usize, usize),
    range: Range,
    k: f64,
    d: f64,
}

impl TaiwanKd {
    /// KD(n, k_smoothing, d_smoothing); (9, 3, 3) is the convention.
    ///
    /// # Panics
    /// If a period is 0.
    pub fn new(n: usize, k_smoothing: usize, d_smoothing: usize) -> Self {
        assert!(
            n > 0 && k_smoothing > 0 && d_smoothing > 0,
            "periods must be positive"
        );
        TaiwanKd {
            periods: (n, k_smoothing, d_smoothing),
            range: Range::new(n),
            k: 50.0,
            d: 50.0,
        }
    }
}

impl Indicator for TaiwanKd {
    type Output = StochValue;
    #[inline(always)]
    fn update(&mut self, bar: &Bar) -> Option<StochValue> {
        let (hh, ll) = self.range.update(bar)?;
        // A flat range carries the previous RSV level forward as 50 (no information).
        let rsv = if hh - ll != 0.0 {
            (bar.close - ll) / (hh - ll) * 100.0
        } else {
            50.0
        };
        let (ks, ds) = (self.periods.1 as f64, self.periods.2 as f64);
        self.k = self.k * (ks - 1.0) / ks + rsv / ks;
        self.d = self.d * (ds - 1.0) / ds + self.k / ds;
        Some(StochValue {
            k: self.k,
            d: self.d,
        })
    }
    fn reset(&mut self) {
        *self = Self::new(self.periods.0, self.periods.1, self.periods.2);
    }
    fn warm_up(&self) -> usize {
        self.periods.0 - 1
    }
}

/// Williams %R: −100 · (HH − C) / (HH − LL); 0 on a flat range.
#[derive(Debug, Clone)]
pub struct WilliamsR {
    period: usize,
    range: Range,
}

impl WilliamsR {
    /// %R over `period`.
    ///
    /// # Panics
    /// If `period` is 0.
    pub fn new(period: usize) -> Self {
        WilliamsR {
            period,
            range: Range::new(period),
        }
    }
}

impl Indicator for WilliamsR {
    type Output = f64;
    #[inline(always)]
    fn update(&mut self, bar: &Bar) -> Option<f64> {
        let (hh, ll) = self.range.update(bar)?;
        let diff = (hh - ll) / -100.0;
        Some(if diff != 0.0 {
            (hh - bar.close) / diff
        } else {
            0.0
        })
    }
    fn reset(&mut self) {
        self.range.clear();
    }
    fn warm_up(&self) -> usize {
        self.period - 1
    }
}

/// Commodity channel index: (TP − SMA(TP)) / (0.015 · mean deviation); 0 when flat.
#[derive(Debug, Clone)]
pub struct Cci {
    period: usize,
    /// Each typical price twice, at `k` and `k + period`, so that the window is always one
    /// contiguous slice, `buf[next..next + period]`, oldest first. Its two sums are then
    /// loops of a fixed length over a slice, which the CPU overlaps from one bar to the next,
    /// where a ring split in two places moves the loop exits every bar (mispredicted).
    buf: Vec<f64>,
    next: usize,
    count: usize,
}

impl Cci {
    /// A CCI over `period`.
    ///
    /// # Panics
    /// If `period` is 0.
    pub fn new(period: usize) -> Self {
        assert!(period > 0, "period must be positive");
        Cci {
            period,
            buf: vec![0.0; 2 * period],
            next: 0,
            count: 0,
        }
    }
}

impl Indicator for Cci {
    type Output = f64;
    #[inline(always)]
    fn update(&mut self, bar: &Bar) -> Option<f64> {
        let tp = bar.typical();
        let p = self.period;
        self.buf[self.next] = tp;
        self.buf[self.next + p] = tp;
        self.next += 1;
        if self.next == p {
            self.next = 0;
        }
        if self.count < p {
            self.count += 1;
            if self.count < p {
                return None;
            }
        }
        let window = &self.buf[self.next..self.next + p];
        let n = p as f64;
        let mean = window.iter().sum::<f64>() / n;
        let dev = window.iter().map(|v| (v - mean).abs()).sum::<f64>() / n;
        let num = tp - mean;
        Some(if num != 0.0 && dev != 0.0 {
            num / (0.015 * dev)
        } else {
            0.0
        })
    }
    fn reset(&mut self) {
        self.next = 0;
        self.count = 0;
    }
    fn warm_up(&self) -> usize {
        self.period - 1
    }
}

/// Money flow index over n typical-price changes; 0 when there was almost no money flow.
///
/// O(1) per update: running sums of the positive and negative flows (as TA-Lib keeps),
/// re-added from their windows every `max(n, 256)` updates so rounding cannot accumulate.
#[derive(Debug, Clone)]
pub struct Mfi {
    period: usize,
    prev_tp: Option<f64>,
    positive: Window,
    negative: Window,
    positive_sum: RunningSum,
    negative_sum: RunningSum,
}

impl Mfi {
    /// An MFI over `period`.
    ///
    /// # Panics
    /// If `period` is 0.
    pub fn new(period: usize) -> Self {
        assert!(period > 0, "period must be positive");
        Mfi {
            period,
            prev_tp: None,
            positive: Window::new(period),
            negative: Window::new(period),
            positive_sum: RunningSum::new(period),
            negative_sum: RunningSum::new(period),
        }
    }
}

impl Indicator for Mfi {
    type Output = f64;
    #[inline(always)]
    fn update(&mut self, bar: &Bar) -> Option<f64> {
        let tp = bar.typical();
        let prev = self.prev_tp.replace(tp)?;
        let money = tp * bar.volume;
        // Two selects rather than a branch on the direction (a coin toss on real prices).
        let up = if tp > prev { money } else { 0.0 };
        let down = if tp < prev { money } else { 0.0 };
        let (old_up, old_down) = (self.positive.push(up), self.negative.push(down));
        let due = self.positive_sum.add(up, old_up);
        if self.negative_sum.add(down, old_down) | due {
            let (p, p_start) = self.positive.ring();
            let (n, n_start) = self.negative.ring();
            let (p, n) = cold(move || (ring_sum(p, p_start, |v| v), ring_sum(n, n_start, |v| v)));
            self.positive_sum.set(p);
            self.negative_sum.set(n);
        }
        if !self.positive.full() {
            return None;
        }
        // A sum of non-negative flows is never negative; between re-additions, rounding
        // could leave a window of zero flows a hair below zero, which would put the index
        // out of 0..=100. (A plain comparison, not `f64::max`, so that NaN still shows.)
        let non_negative = |v: f64| if v < 0.0 { 0.0 } else { v };
        let pos = non_negative(self.positive_sum.value());
        let neg = non_negative(self.negative_sum.value());
        let total = pos + neg;
        Some(if total < 1.0 {
            0.0
        } else {
            100.0 * (pos / total)
        })
    }
    fn reset(&mut self) {
        self.prev_tp = None;
        self.positive.clear();
        self.negative.clear();
        self.positive_sum.clear();
        self.negative_sum.clear();
    }
    fn warm_up(&self) -> usize {
        self.period
    }
}

/// On-balance volume, starting at the first bar's volume.
#[derive(Debug, Clone, Default)]
pub struct Obv {
    state: Option<(f64, f64)>,
}

impl Obv {
    /// A fresh OBV.
    pub fn new() -> Self {
        Obv::default()
    }
}

impl Indicator for Obv {
    type Output = f64;
    #[inline(always)]
    fn update(&mut self, bar: &Bar) -> Option<f64> {
        let obv = match self.state {
            None => bar.volume,
            Some((prev_close, obv)) => {
                // Selects rather than branches: up or down is a coin toss on real prices, and
                // a mispredicted branch costs more than the addition. `obv + (-v)` is
                // `obv - v` to the bit; an unchanged (or NaN) close keeps `obv` as it is.
                let signed = if bar.close > prev_close {
                    bar.volume
                } else {
                    -bar.volume
                };
                let moved = obv + signed;
                if (bar.close > prev_close) | (bar.close < prev_close) {
                    moved
                } else {
                    obv
                }
            }
        };
        self.state = Some((bar.close, obv));
        Some(obv)
    }
    fn reset(&mut self) {
        self.state = None;
    }
    fn warm_up(&self) -> usize {
        0
    }
}

/// Directional movement: +DI, −DI and ADX.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DmiValue {
    /// +DI.
    pub plus_di: f64,
    /// −DI.
    pub minus_di: f64,
    /// ADX, once defined (about twice the period later than the DIs).
    pub adx: Option<f64>,
}

/// Wilder's directional movement system as TA-Lib computes it: DM and TR sums over the first
/// n − 1 changes, then Wilder-smoothed (`s − s/n + x`); DIs from bar n; ADX the mean of the
/// first n DX values, then Wilder-smoothed.
#[derive(Debug, Clone)]
pub struct Dmi {
    period: usize,
    prev: Option<Bar>,
    changes: usize,
    plus_dm: f64,
    minus_dm: f64,
    tr: f64,
    dx_sum: f64,
    dx_count: usize,
    adx: Option<f64>,
}

impl Dmi {
    /// DMI over `period` (14 is the usual).
    ///
    /// # Panics
    /// If `period` is 0.
    pub fn new(period: usize) -> Self {
        assert!(period > 0, "period must be positive");
        Dmi {
            period,
            prev: None,
            changes: 0,
            plus_dm: 0.0,
            minus_dm: 0.0,
            tr: 0.0,
            dx_sum: 0.0,
            dx_count: 0,
            adx: None,
        }
    }
}

impl Indicator for Dmi {
    type Output = DmiValue;
    #[inline(always)]
    fn update(&mut self, bar: &Bar) -> Option<DmiValue> {
        let prev = self.prev.replace(*bar)?;
        let diff_p = bar.high - prev.high;
        let diff_m = prev.low - bar.low;
        let (dm_p, dm_m) = if diff_m > 0.0 && diff_p < diff_m {
            (0.0, diff_m)
        } else if diff_p > 0.0 && diff_p > diff_m {
            (diff_p, 0.0)
        } else {
            (0.0, 0.0)
        };
        let tr = true_range(bar, prev.close);
        let n = self.period as f64;
        self.changes += 1;
        if self.changes < self.period {
            self.plus_dm += dm_p;
            self.minus_dm += dm_m;
            self.tr += tr;
            return None;
        }
        self.plus_dm = self.plus_dm - self.plus_dm / n + dm_p;
        self.minus_dm = self.minus_dm - self.minus_dm / n + dm_m;
        self.tr = self.tr - self.tr / n + tr;
        let (plus_di, minus_di) = if is_zero(self.tr) {
            (0.0, 0.0)
        } else {
            (
                100.0 * (self.plus_dm / self.tr),
                100.0 * (self.minus_dm / self.tr),
            )
        };
        let sum = plus_di + minus_di;
        let dx = (!is_zero(sum)).then(|| 100.0 * ((minus_di - plus_di).abs() / sum));
        match self.adx {
            Some(prev_adx) => {
                if let Some(dx) = dx {
                    self.adx = Some((prev_adx * (n - 1.0) + dx) / n);
                }
            }
            None => {
                self.dx_sum += dx.unwrap_or(0.0);
                self.dx_count += 1;
                if self.dx_count == self.period {
                    self.adx = Some(self.dx_sum / n);
                }
            }
        }
        Some(DmiValue {
            plus_di,
            minus_di,
            adx: self.adx,
        })
    }
    fn reset(&mut self) {
        *self = Self::new(self.period);
    }
    fn warm_up(&self) -> usize {
        self.period
    }
}

/// Donchian channel: highest high, lowest low, and their midpoint over n bars.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChannelValue {
    /// Upper line.
    pub upper: f64,
    /// Middle line.
    pub middle: f64,
    /// Lower line.
    pub lower: f64,
}

/// Donchian channel over `period` bars.
#[derive(Debug, Clone)]
pub struct Donchian {
    period: usize,
    range: Range,
}

impl Donchian {
    /// A channel over `period` bars.
    ///
    /// # Panics
    /// If `period` is 0.
    pub fn new(period: usize) -> Self {
        assert!(period > 0, "period must be positive");
        Donchian {
            period,
            range: Range::new(period),
        }
    }
}

impl Indicator for Donchian {
    type Output = ChannelValue;
    #[inline(always)]
    fn update(&mut self, bar: &Bar) -> Option<ChannelValue> {
        let (hh, ll) = self.range.update(bar)?;
        Some(ChannelValue {
            upper: hh,
            middle: (hh + ll) / 2.0,
            lower: ll,
        })
    }
    fn reset(&mut self) {
        self.range.clear();
    }
    fn warm_up(&self) -> usize {
        self.period - 1
    }
}

/// Keltner channel: EMA(close, n) ± k · ATR(m).
#[derive(Debug, Clone)]
pub struct Keltner {
    params: (usize, f64, usize),
    ema: ExpAvg,
    atr: Atr,
}

impl Keltner {
    /// Keltner(n, k, atr period), e.g. (20, 2.0, 10).
    ///
    /// # Panics
    /// If a period is 0.
    pub fn new(period: usize, k: f64, atr_period: usize) -> Self {
        Keltner {
            params: (period, k, atr_period),
            ema: ExpAvg::ema(period),
            atr: Atr::new(atr_period),
        }
    }
}

impl Indicator for Keltner {
    type Output = ChannelValue;
    #[inline(always)]
    fn update(&mut self, bar: &Bar) -> Option<ChannelValue> {
        let mid = self.ema.update(bar.close);
        let atr = self.atr.update(bar);
        let (mid, atr) = (mid?, atr?);
        let k = self.params.1;
        Some(ChannelValue {
            upper: mid + k * atr,
            middle: mid,
            lower: mid - k * atr,
        })
    }
    fn reset(&mut self) {
        *self = Self::new(self.params.0, self.params.1, self.params.2);
    }
    fn warm_up(&self) -> usize {
        (self.params.0 - 1).max(self.params.2)
    }
}

/// Cumulative volume-weighted average price of typical prices since the last reset (call
/// `reset` at each session start for an intraday VWAP). `None` until some volume traded.
#[derive(Debug, Clone, Default)]
pub struct Vwap {
    pv: f64,
    volume: f64,
}

impl Vwap {
    /// A fresh VWAP.
    pub fn new() -> Self {
        Vwap::default()
    }
}

impl Indicator for Vwap {
    type Output = f64;
    #[inline(always)]
    fn update(&mut self, bar: &Bar) -> Option<f64> {
        self.pv += bar.typical() * bar.volume;
        self.volume += bar.volume;
        (self.volume > 0.0).then(|| self.pv / self.volume)
    }
    fn reset(&mut self) {
        *self = Vwap::default();
    }
    fn warm_up(&self) -> usize {
        0
    }
}
