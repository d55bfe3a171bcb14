//! The rest of TA-Lib's common indicators, each under TA-Lib's own definition (seeds,
//! warm-up, the branches taken on a flat range), so a TA-Lib user gets the numbers they know:
//! SAR, AROON, AROONOSC, NATR, TRIX, STOCHRSI, APO, PPO, KAMA, AD, ADOSC, BOP, ULTOSC,
//! MIDPRICE, MIDPOINT, the LINEARREG family, TSF and VAR.
//!
//! Each is checked value by value against TA-Lib 0.8.2 in `tests/talib_parity.rs`.

use std::collections::VecDeque;

use crate::bars::true_range;
use crate::core::{is_zero, Bar, Indicator, Window};
use crate::{Atr, Ema, Highest, Lowest, Rsi, Sma, StochValue};

/// Implements [`Indicator`] on bars for a series indicator (reading the close), as the
/// series indicators of this crate do.
macro_rules! on_close {
    ($t:ty) => {
        impl Indicator for $t {
            type Output = f64;
            #[inline(always)]
            fn update(&mut self, bar: &Bar) -> Option<f64> {
                self.update_value(bar.close)
            }
            fn reset(&mut self) {
                *self = self.fresh();
            }
            fn warm_up(&self) -> usize {
                self.lookback()
            }
        }
    };
}

/// Wilder's parabolic SAR as TA-Lib computes it (`SAR(acceleration, maximum)`).
///
/// TA-Lib's bootstrap is kept: the first bar is consumed; the direction on the second is
/// short when its −DM beats its +DM (long on a tie), and the first SAR is the first bar's
/// low (long) or high (short).
#[derive(Debug, Clone)]
pub struct Sar {
    acceleration: f64,
    maximum: f64,
    /// High and low of the previous bar.
    prev: Option<(f64, f64)>,
    state: Option<SarState>,
}

#[derive(Debug, Clone, Copy)]
struct SarState {
    long: bool,
    af: f64,
    ep: f64,
    sar: f64,
}

impl Sar {
    /// A SAR with `acceleration` (step and start, 0.02 usually) and `maximum` (0.2).
    /// An acceleration above the maximum is lowered to it, as TA-Lib does.
    pub fn new(acceleration: f64, maximum: f64) -> Self {
        Sar {
            acceleration: acceleration.min(maximum),
            maximum,
            prev: None,
            state: None,
        }
    }
}

impl Indicator for Sar {
    type Output = f64;
    fn update(&mut self, bar: &Bar) -> Option<f64> {
        let (new_high, new_low) = (bar.high, bar.low);
        let (first_high, first_low) = self.prev.replace((new_high, new_low))?;
        let (accel, max) = (self.acceleration, self.maximum);
        // On the second bar TA-Lib uses that bar as its own "previous" one.
        let (prev_high, prev_low) = match self.state {
            Some(_) => (first_high, first_low),
            None => (new_high, new_low),
        };
        let s = self.state.get_or_insert_with(|| {
            let diff_plus = new_high - first_high;
            let diff_minus = first_low - new_low;
            let long = !(diff_minus > 0.0 && diff_plus < diff_minus);
            SarState {
                long,
                af: accel,
                ep: if long { new_high } else { new_low },
                sar: if long { first_low } else { first_high },
            }
        });
        let out;
        if s.long {
            if new_low <= s.sar {
                s.long = false;
                s.sar = s.ep.max_of(prev_high).max_of(new_high);
                out = s.sar;
                s.af = accel;
                s.ep = new_low;
                s.sar = (s.sar + s.af * (s.ep - s.sar))
                    .max_of(prev_high)
                    .max_of(new_high);
            } else {
                out = s.sar;
                if new_high > s.ep {
                    s.ep = new_high;
                    s.af = (s.af + accel).min_of(max);
                }
                s.sar = (s.sar + s.af * (s.ep - s.sar))
                    .min_of(prev_low)
                    .min_of(new_low);
            }
        } else if new_high >= s.sar {
            s.long = true;
            s.sar = s.ep.min_of(prev_low).min_of(new_low);
            out = s.sar;
            s.af = accel;
            s.ep = new_high;
            s.sar = (s.sar + s.af * (s.ep - s.sar))
                .min_of(prev_low)
                .min_of(new_low);
        } else {
            out = s.sar;
            if new_low < s.ep {
                s.ep = new_low;
                s.af = (s.af + accel).min_of(max);
            }
            s.sar = (s.sar + s.af * (s.ep - s.sar))
                .max_of(prev_high)
                .max_of(new_high);
        }
        Some(out)
    }
    fn reset(&mut self) {
        self.prev = None;
        self.state = None;
    }
    fn warm_up(&self) -> usize {
        1
    }
}

/// TA-Lib's clamps: `if (x < bound) x = bound`, which keeps `x` when either is NaN, unlike
/// `f64::max`.
trait Clamp {
    fn max_of(self, bound: f64) -> f64;
    fn min_of(self, bound: f64) -> f64;
}

impl Clamp for f64 {
    #[inline(always)]
    fn max_of(self, bound: f64) -> f64 {
        if self < bound {
            bound
        } else {
            self
        }
    }
    #[inline(always)]
    fn min_of(self, bound: f64) -> f64 {
        if self > bound {
            bound
        } else {
            self
        }
    }
}

/// Aroon up and down.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AroonValue {
    /// 100 · (n − bars since the highest high) / n.
    pub up: f64,
    /// 100 · (n − bars since the lowest low) / n.
    pub down: f64,
}

/// Bars since the highest high and since the lowest low over the last n + 1 bars, the most
/// recent bar winning a tie (as TA-Lib's `>=` / `<=` scans do).
#[derive(Debug, Clone)]
struct Extremes {
    period: usize,
    bars: VecDeque<(f64, f64)>,
}

impl Extremes {
    fn new(period: usize) -> Self {
        assert!(period > 0, "period must be positive");
        Extremes {
            period,
            bars: VecDeque::with_capacity(period + 1),
        }
    }

    /// `(bars since the high, bars since the low)` once n + 1 bars are in.
    fn update(&mut self, bar: &Bar) -> Option<(usize, usize)> {
        if self.bars.len() == self.period + 1 {
            self.bars.pop_front();
        }
        self.bars.push_back((bar.high, bar.low));
        if self.bars.len() <= self.period {
            return None;
        }
        let (mut hi, mut lo) = (0, 0);
        let (mut highest, mut lowest) = self.bars[0];
        for (i, &(h, l)) in self.bars.iter().enumerate().skip(1) {
            if h >= highest {
                highest = h;
                hi = i;
            }
            if l <= lowest {
                lowest = l;
                lo = i;
            }
        }
        Some((self.period - hi, self.period - lo))
    }
}

/// Aroon (TA-Lib `AROON`): how recently the highest high and the lowest low of the last
/// n + 1 bars happened.
#[derive(Debug, Clone)]
pub struct Aroon {
    extremes: Extremes,
}

impl Aroon {
    /// Aroon over `period` (14 usually).
    ///
    /// # Panics
    /// If `period` is 0.
    pub fn new(period: usize) -> Self {
        Aroon {
            extremes: Extremes::new(period),
        }
    }
}

impl Indicator for Aroon {
    type Output = AroonValue;
    fn update(&mut self, bar: &Bar) -> Option<AroonValue> {
        let n = self.extremes.period;
        let (since_high, since_low) = self.extremes.update(bar)?;
        let factor = 100.0 / n as f64;
        Some(AroonValue {
            up: factor * (n - since_high) as f64,
            down: factor * (n - since_low) as f64,
        })
    }
    fn reset(&mut self) {
        self.extremes.bars.clear();
    }
    fn warm_up(&self) -> usize {
        self.extremes.period
    }
}

/// Aroon oscillator (TA-Lib `AROONOSC`): Aroon up − Aroon down, computed as TA-Lib does from
/// the distance between the two extremes.
#[derive(Debug, Clone)]
pub struct AroonOsc {
    extremes: Extremes,
}

impl AroonOsc {
    /// Aroon oscillator over `period` (14 usually).
    ///
    /// # Panics
    /// If `period` is 0.
    pub fn new(period: usize) -> Self {
        AroonOsc {
            extremes: Extremes::new(period),
        }
    }
}

impl Indicator for AroonOsc {
    type Output = f64;
    fn update(&mut self, bar: &Bar) -> Option<f64> {
        let n = self.extremes.period;
        let (since_high, since_low) = self.extremes.update(bar)?;
        Some(100.0 / n as f64 * (since_low as f64 - since_high as f64))
    }
    fn reset(&mut self) {
        self.extremes.bars.clear();
    }
    fn warm_up(&self) -> usize {
        self.extremes.period
    }
}

/// Normalised ATR (TA-Lib `NATR`): ATR / close · 100 (0 when the close is 0).
#[derive(Debug, Clone)]
pub struct Natr {
    atr: Atr,
}

impl Natr {
    /// NATR over `period` (14 usually).
    ///
    /// # Panics
    /// If `period` is 0.
    pub fn new(period: usize) -> Self {
        Natr {
            atr: Atr::new(period),
        }
    }
}

impl Indicator for Natr {
    type Output = f64;
    fn update(&mut self, bar: &Bar) -> Option<f64> {
        let atr = self.atr.update(bar)?;
        Some(if is_zero(bar.close) {
            0.0
        } else {
            atr / bar.close * 100.0
        })
    }
    fn reset(&mut self) {
        self.atr.reset();
    }
    fn warm_up(&self) -> usize {
        self.atr.warm_up()
    }
}

/// TRIX (TA-Lib `TRIX`): one-bar rate of change, in percent, of a triple EMA (each EMA
/// seeded with the SMA of its first n inputs).
#[derive(Debug, Clone)]
pub struct Trix {
    period: usize,
    emas: [Ema; 3],
    prev: Option<f64>,
}

impl Trix {
    /// TRIX over `period` (30 is TA-Lib's default).
    ///
    /// # Panics
    /// If `period` is 0.
    pub fn new(period: usize) -> Self {
        Trix {
            period,
            emas: std::array::from_fn(|_| Ema::new(period)),
            prev: None,
        }
    }
    /// Adds a value.
    pub fn update_value(&mut self, x: f64) -> Option<f64> {
        let e1 = self.emas[0].update_value(x)?;
        let e2 = self.emas[1].update_value(e1)?;
        let e3 = self.emas[2].update_value(e2)?;
        let prev = self.prev.replace(e3)?;
        Some(if prev != 0.0 {
            (e3 / prev - 1.0) * 100.0
        } else {
            0.0
        })
    }
    fn fresh(&self) -> Self {
        Self::new(self.period)
    }
    fn lookback(&self) -> usize {
        3 * (self.period - 1) + 1
    }
}
on_close!(Trix);

/// Stochastic RSI (TA-Lib `STOCHRSI` with its default SMA for %D): TA-Lib's fast stochastic
/// (`STOCHF`) applied to the RSI. `k` is TA-Lib's fastk, `d` its fastd.
#[derive(Debug, Clone)]
pub struct StochRsi {
    periods: (usize, usize, usize),
    rsi: Rsi,
    highest: Highest,
    lowest: Lowest,
    d: Sma,
}

impl StochRsi {
    /// STOCHRSI(period, fastk, fastd), e.g. TA-Lib's defaults (14, 5, 3).
    ///
    /// # Panics
    /// If a period is 0.
    pub fn new(period: usize, fast_k: usize, fast_d: usize) -> Self {
        StochRsi {
            periods: (period, fast_k, fast_d),
            rsi: Rsi::new(period),
            highest: Highest::new(fast_k),
            lowest: Lowest::new(fast_k),
            d: Sma::new(fast_d),
        }
    }
    /// Adds a value.
    pub fn update_value(&mut self, x: f64) -> Option<StochValue> {
        let rsi = self.rsi.update_value(x)?;
        // Both windows take every value, whichever is asked first.
        let (high, low) = (
            self.highest.update_value(rsi),
            self.lowest.update_value(rsi),
        );
        let (high, low) = (high?, low?);
        let diff = (high - low) / 100.0;
        let k = if diff != 0.0 { (rsi - low) / diff } else { 0.0 };
        let d = self.d.update_value(k)?;
        Some(StochValue { k, d })
    }
}

impl Indicator for StochRsi {
    type Output = StochValue;
    fn update(&mut self, bar: &Bar) -> Option<StochValue> {
        self.update_value(bar.close)
    }
    fn reset(&mut self) {
        *self = Self::new(self.periods.0, self.periods.1, self.periods.2);
    }
    fn warm_up(&self) -> usize {
        let (n, k, d) = self.periods;
        n + k - 1 + d - 1
    }
}

/// The moving average of a price oscillator: TA-Lib's `matype` 0 (SMA) or 1 (EMA).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaType {
    /// Simple moving average (`matype` 0).
    Sma,
    /// Exponential moving average seeded with the SMA (`matype` 1, TA-Lib 0.8's default).
    Ema,
}

impl MaType {
    /// TA-Lib's number for it: 0 is SMA; anything else is taken as 1, EMA.
    pub fn from_talib(matype: usize) -> Self {
        if matype == 0 {
            MaType::Sma
        } else {
            MaType::Ema
        }
    }
}

#[derive(Debug, Clone)]
enum Average {
    Sma(Sma),
    Ema(Ema),
}

impl Average {
    fn new(ma: MaType, period: usize) -> Self {
        match ma {
            MaType::Sma => Average::Sma(Sma::new(period)),
            MaType::Ema => Average::Ema(Ema::new(period)),
        }
    }
    fn update(&mut self, x: f64) -> Option<f64> {
        match self {
            Average::Sma(a) => a.update_value(x),
            Average::Ema(a) => a.update_value(x),
        }
    }
}

/// Fast average − slow average, as TA-Lib's APO and PPO compute it: the periods are swapped
/// when `fast > slow`, and both averages start on the first value (unlike MACD, whose fast
/// EMA TA-Lib starts `slow − fast` bars late).
#[derive(Debug, Clone)]
struct PriceOsc {
    fast: usize,
    slow: usize,
    ma: MaType,
    fast_avg: Average,
    slow_avg: Average,
}

impl PriceOsc {
    fn new(fast: usize, slow: usize, ma: MaType) -> Self {
        let (fast, slow) = (fast.min(slow), fast.max(slow));
        assert!(fast > 0, "period must be positive");
        PriceOsc {
            fast,
            slow,
            ma,
            fast_avg: Average::new(ma, fast),
            slow_avg: Average::new(ma, slow),
        }
    }
    fn update(&mut self, x: f64) -> Option<(f64, f64)> {
        let fast = self.fast_avg.update(x);
        let slow = self.slow_avg.update(x)?;
        Some((fast?, slow))
    }
    fn fresh(&self) -> Self {
        Self::new(self.fast, self.slow, self.ma)
    }
}

/// Absolute price oscillator (TA-Lib `APO`): fast MA − slow MA.
#[derive(Debug, Clone)]
pub struct Apo(PriceOsc);

impl Apo {
    /// APO(fast, slow, ma), e.g. (12, 26, [`MaType::Ema`]).
    ///
    /// # Panics
    /// If a period is 0.
    pub fn new(fast: usize, slow: usize, ma: MaType) -> Self {
        Apo(PriceOsc::new(fast, slow, ma))
    }
    /// Adds a value.
    pub fn update_value(&mut self, x: f64) -> Option<f64> {
        self.0.update(x).map(|(fast, slow)| fast - slow)
    }
    fn fresh(&self) -> Self {
        Apo(self.0.fresh())
    }
    fn lookback(&self) -> usize {
        self.0.slow - 1
    }
}
on_close!(Apo);

/// Percentage price oscillator (TA-Lib `PPO`): (fast MA − slow MA) / slow MA · 100 (0 when
/// the slow MA is 0).
#[derive(Debug, Clone)]
pub struct Ppo(PriceOsc);

impl Ppo {
    /// PPO(fast, slow, ma), e.g. (12, 26, [`MaType::Ema`]).
    ///
    /// # Panics
    /// If a period is 0.
    pub fn new(fast: usize, slow: usize, ma: MaType) -> Self {
        Ppo(PriceOsc::new(fast, slow, ma))
    }
    /// Adds a value.
    pub fn update_value(&mut self, x: f64) -> Option<f64> {
        self.0.update(x).map(|(fast, slow)| {
            if is_zero(slow) {
                0.0
            } else {
                (fast - slow) / slow * 100.0
            }
        })
    }
    fn fresh(&self) -> Self {
        Ppo(self.0.fresh())
    }
    fn lookback(&self) -> usize {
        self.0.slow - 1
    }
}
on_close!(Ppo);

/// Kaufman's adaptive moving average (TA-Lib `KAMA`): an EMA whose factor follows the
/// efficiency ratio (net change over the sum of bar-to-bar changes, n bars), between the
/// factors of a 2- and a 30-bar EMA. TA-Lib's quirks are kept: the ratio is 1 when the net
/// change (signed) is at least the sum of changes, the first KAMA starts from the previous
/// value, and a period of 1 copies the input.
#[derive(Debug, Clone)]
pub struct Kama {
    period: usize,
    /// The last n + 1 values.
    window: Window,
    /// The previous value (the window's newest before a push).
    last: Option<f64>,
    sum_changes: f64,
    kama: Option<f64>,
}

impl Kama {
    /// KAMA over `period` (30 is TA-Lib's default).
    ///
    /// # Panics
    /// If `period` is 0.
    pub fn new(period: usize) -> Self {
        assert!(period > 0, "period must be positive");
        Kama {
            period,
            window: Window::new(period + 1),
            last: None,
            sum_changes: 0.0,
            kama: None,
        }
    }
    /// Adds a value.
    pub fn update_value(&mut self, x: f64) -> Option<f64> {
        if self.period == 1 {
            return Some(x);
        }
        let prev_x = self.last.replace(x);
        let dropped = self.window.push(x);
        if !self.window.full() {
            return None;
        }
        let oldest = self.window.front().expect("full");
        let prev_x = prev_x.expect("a full window of two or more");
        let prev_kama = match (self.kama, dropped) {
            (Some(kama), Some(dropped)) => {
                // Slide the sum of changes as TA-Lib does: drop the oldest change, add the newest.
                self.sum_changes -= (dropped - oldest).abs();
                self.sum_changes += (x - prev_x).abs();
                kama
            }
            _ => {
                // The first sum, added oldest first from 0 as TA-Lib does.
                let next = self.window.iter().skip(1);
                self.sum_changes = self
                    .window
                    .iter()
                    .zip(next)
                    .fold(0.0, |sum, (a, b)| sum + (a - b).abs());
                prev_x
            }
        };
        let net = x - oldest;
        let ratio = if self.sum_changes <= net || is_zero(self.sum_changes) {
            1.0
        } else {
            (net / self.sum_changes).abs()
        };
        const FASTEST: f64 = 2.0 / (2.0 + 1.0);
        const SLOWEST: f64 = 2.0 / (30.0 + 1.0);
        let sc = ratio * (FASTEST - SLOWEST) + SLOWEST;
        let sc = sc * sc;
        let kama = (x - prev_kama) * sc + prev_kama;
        self.kama = Some(kama);
        Some(kama)
    }
    fn fresh(&self) -> Self {
        Self::new(self.period)
    }
    fn lookback(&self) -> usize {
        if self.period == 1 {
            0
        } else {
            self.period
        }
    }
}
on_close!(Kama);

/// The money flow of one bar: ((C − L) − (H − C)) / (H − L) · V, 0 on a flat bar.
#[inline(always)]
fn money_flow(bar: &Bar) -> f64 {
    let range = bar.high - bar.low;
    if range > 0.0 {
        (bar.close - bar.low - (bar.high - bar.close)) / range * bar.volume
    } else {
        0.0
    }
}

/// Chaikin accumulation/distribution line (TA-Lib `AD`): the running sum of money flows.
#[derive(Debug, Clone, Default)]
pub struct Ad {
    ad: f64,
}

impl Ad {
    /// The A/D line from 0.
    pub fn new() -> Self {
        Ad { ad: 0.0 }
    }
}

impl Indicator for Ad {
    type Output = f64;
    fn update(&mut self, bar: &Bar) -> Option<f64> {
        self.ad += money_flow(bar);
        Some(self.ad)
    }
    fn reset(&mut self) {
        self.ad = 0.0;
    }
    fn warm_up(&self) -> usize {
        0
    }
}

/// Chaikin A/D oscillator (TA-Lib `ADOSC`): EMA(fast) − EMA(slow) of the A/D line. Unlike
/// TA-Lib's EMA, both averages start from the first A/D value (not an SMA seed), as TA-Lib's
/// ADOSC does; values are given once the slower one has seen its period.
#[derive(Debug, Clone)]
pub struct AdOsc {
    fast: usize,
    slow: usize,
    ad: f64,
    emas: Option<(f64, f64)>,
    seen: usize,
}

impl AdOsc {
    /// ADOSC(fast, slow), e.g. (3, 10). `fast` is the first average even when it is slower.
    ///
    /// # Panics
    /// If a period is 0.
    pub fn new(fast: usize, slow: usize) -> Self {
        assert!(fast > 0 && slow > 0, "period must be positive");
        AdOsc {
            fast,
            slow,
            ad: 0.0,
            emas: None,
            seen: 0,
        }
    }
}

impl Indicator for AdOsc {
    type Output = f64;
    fn update(&mut self, bar: &Bar) -> Option<f64> {
        self.ad += money_flow(bar);
        self.seen += 1;
        let ad = self.ad;
        let (fast, slow) = match self.emas {
            None => (ad, ad),
            Some((fast, slow)) => {
                let fk = 2.0 / (self.fast as f64 + 1.0);
                let sk = 2.0 / (self.slow as f64 + 1.0);
                (fk * ad + (1.0 - fk) * fast, sk * ad + (1.0 - sk) * slow)
            }
        };
        self.emas = Some((fast, slow));
        (self.seen > self.warm_up()).then_some(fast - slow)
    }
    fn reset(&mut self) {
        *self = Self::new(self.fast, self.slow);
    }
    fn warm_up(&self) -> usize {
        self.fast.max(self.slow) - 1
    }
}

/// Balance of power (TA-Lib `BOP`): (C − O) / (H − L), 0 when the range is not positive.
#[derive(Debug, Clone, Default)]
pub struct Bop;

impl Bop {
    /// Balance of power.
    pub fn new() -> Self {
        Bop
    }
}

impl Indicator for Bop {
    type Output = f64;
    fn update(&mut self, bar: &Bar) -> Option<f64> {
        let range = bar.high - bar.low;
        // TA-Lib's TA_IS_ZERO_OR_NEG.
        Some(if range < 1e-8 {
            0.0
        } else {
            (bar.close - bar.open) / range
        })
    }
    fn reset(&mut self) {}
    fn warm_up(&self) -> usize {
        0
    }
}

/// Ultimate oscillator (TA-Lib `ULTOSC`): buying pressure over true range on three periods,
/// weighted 4 : 2 : 1 from the shortest (TA-Lib sorts the periods). A period whose true
/// ranges sum to 0 adds nothing.
#[derive(Debug, Clone)]
pub struct UltOsc {
    periods: [usize; 3],
    prev_close: Option<f64>,
    /// (close − true low, true range) of the last bars, newest last.
    terms: VecDeque<(f64, f64)>,
    sums: [(f64, f64); 3],
    seen: usize,
}

impl UltOsc {
    /// ULTOSC over three periods, e.g. (7, 14, 28), in any order.
    ///
    /// # Panics
    /// If a period is 0.
    pub fn new(p1: usize, p2: usize, p3: usize) -> Self {
        let mut periods = [p1, p2, p3];
        periods.sort_unstable();
        assert!(periods[0] > 0, "period must be positive");
        UltOsc {
            periods,
            prev_close: None,
            terms: VecDeque::with_capacity(periods[2] + 1),
            sums: [(0.0, 0.0); 3],
            seen: 0,
        }
    }
}

impl Indicator for UltOsc {
    type Output = f64;
    fn update(&mut self, bar: &Bar) -> Option<f64> {
        let prev = self.prev_close.replace(bar.close)?;
        let term = (bar.close - bar.low.min_of(prev), true_range(bar, prev));
        self.terms.push_back(term);
        self.seen += 1;
        let longest = self.periods[2];
        // Each period's sums start on its own first bar of the first output's window, and
        // are kept as TA-Lib keeps them: add the new term, read, then drop the oldest.
        for (sum, &p) in self.sums.iter_mut().zip(&self.periods) {
            if self.seen + p > longest {
                sum.0 += term.0;
                sum.1 += term.1;
            }
        }
        if self.seen < longest {
            return None;
        }
        let mut out = 0.0;
        for (&(a, b), weight) in self.sums.iter().zip([4.0, 2.0, 1.0]) {
            if !is_zero(b) {
                out += weight * (a / b);
            }
        }
        for (sum, &p) in self.sums.iter_mut().zip(&self.periods) {
            let old = self.terms[self.terms.len() - p];
            sum.0 -= old.0;
            sum.1 -= old.1;
        }
        if self.terms.len() == longest {
            self.terms.pop_front();
        }
        Some(100.0 * (out / 7.0))
    }
    fn reset(&mut self) {
        let [a, b, c] = self.periods;
        *self = Self::new(a, b, c);
    }
    fn warm_up(&self) -> usize {
        self.periods[2]
    }
}

/// Midpoint price (TA-Lib `MIDPRICE`): (highest high + lowest low) / 2 over n bars.
#[derive(Debug, Clone)]
pub struct MidPrice {
    highest: Highest,
    lowest: Lowest,
    period: usize,
}

impl MidPrice {
    /// MIDPRICE over `period` (14 usually).
    ///
    /// # Panics
    /// If `period` is 0.
    pub fn new(period: usize) -> Self {
        MidPrice {
            highest: Highest::new(period),
            lowest: Lowest::new(period),
            period,
        }
    }
}

impl Indicator for MidPrice {
    type Output = f64;
    fn update(&mut self, bar: &Bar) -> Option<f64> {
        let (high, low) = (
            self.highest.update_value(bar.high),
            self.lowest.update_value(bar.low),
        );
        Some((high? + low?) / 2.0)
    }
    fn reset(&mut self) {
        *self = Self::new(self.period);
    }
    fn warm_up(&self) -> usize {
        self.period - 1
    }
}

/// Midpoint (TA-Lib `MIDPOINT`): (highest + lowest) / 2 of a series over n values.
#[derive(Debug, Clone)]
pub struct MidPoint {
    highest: Highest,
    lowest: Lowest,
    period: usize,
}

impl MidPoint {
    /// MIDPOINT over `period` (14 usually).
    ///
    /// # Panics
    /// If `period` is 0.
    pub fn new(period: usize) -> Self {
        MidPoint {
            highest: Highest::new(period),
            lowest: Lowest::new(period),
            period,
        }
    }
    /// Adds a value.
    pub fn update_value(&mut self, x: f64) -> Option<f64> {
        let (high, low) = (self.highest.update_value(x), self.lowest.update_value(x));
        Some((high? + low?) / 2.0)
    }
    fn fresh(&self) -> Self {
        Self::new(self.period)
    }
    fn lookback(&self) -> usize {
        self.period - 1
    }
}
on_close!(MidPoint);

/// Which number of the least-squares line over the window a [`LinearReg`] gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinRegOutput {
    /// The line at the newest bar (TA-Lib `LINEARREG`).
    Value,
    /// Its slope per bar (`LINEARREG_SLOPE`).
    Slope,
    /// The line at the oldest bar of the window (`LINEARREG_INTERCEPT`).
    Intercept,
    /// The slope's angle in degrees (`LINEARREG_ANGLE`).
    Angle,
    /// The line one bar ahead (`TSF`, time series forecast).
    Forecast,
}

/// Least-squares line over the last n values, with TA-Lib's sums (x counted in bars back
/// from the newest).
#[derive(Debug, Clone)]
pub struct LinearReg {
    period: usize,
    output: LinRegOutput,
    window: Window,
}

impl LinearReg {
    /// The `output` of the line over `period` values (TA-Lib's default is 14).
    ///
    /// # Panics
    /// If `period` is below 2 (a line needs two points).
    pub fn new(period: usize, output: LinRegOutput) -> Self {
        assert!(period >= 2, "a regression needs at least two values");
        LinearReg {
            period,
            output,
            window: Window::new(period),
        }
    }
    /// Adds a value.
    pub fn update_value(&mut self, y: f64) -> Option<f64> {
        self.window.push(y);
        if !self.window.full() {
            return None;
        }
        let p = self.period;
        let n = p as f64;
        let sum_x = n * (n - 1.0) * 0.5;
        // Exact: the product of three integers below 2^53 is divisible by 6.
        let sum_x_sq = (p * (p - 1) * (2 * p - 1) / 6) as f64;
        let divisor = sum_x * sum_x - n * sum_x_sq;
        let (mut sum_y, mut sum_xy) = (0.0, 0.0);
        for (i, &v) in self.window.iter().enumerate() {
            sum_y += v;
            sum_xy += (p - 1 - i) as f64 * v;
        }
        let m = (n * sum_xy - sum_x * sum_y) / divisor;
        let b = (sum_y - m * sum_x) / n;
        Some(match self.output {
            LinRegOutput::Value => b + m * (n - 1.0),
            LinRegOutput::Slope => m,
            LinRegOutput::Intercept => b,
            LinRegOutput::Angle => m.atan() * (180.0 / std::f64::consts::PI),
            LinRegOutput::Forecast => b + m * n,
        })
    }
    fn fresh(&self) -> Self {
        Self::new(self.period, self.output)
    }
    fn lookback(&self) -> usize {
        self.period - 1
    }
}
on_close!(LinearReg);

/// Population variance (TA-Lib `VAR` with nbdev 1): mean of squares − square of the mean,
/// as TA-Lib computes it (not clamped at 0).
#[derive(Debug, Clone)]
pub struct Variance {
    period: usize,
    mean: Sma,
    mean_sq: Sma,
}

impl Variance {
    /// Variance over `period` values.
    ///
    /// # Panics
    /// If `period` is 0.
    pub fn new(period: usize) -> Self {
        Variance {
            period,
            mean: Sma::new(period),
            mean_sq: Sma::new(period),
        }
    }
    /// Adds a value.
    pub fn update_value(&mut self, x: f64) -> Option<f64> {
        let (mean, mean_sq) = (self.mean.update_value(x), self.mean_sq.update_value(x * x));
        let mean = mean?;
        Some(mean_sq? - mean * mean)
    }
    fn fresh(&self) -> Self {
        Self::new(self.period)
    }
    fn lookback(&self) -> usize {
        self.period - 1
    }
}
on_close!(Variance);
