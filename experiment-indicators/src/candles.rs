//! Candlestick patterns as TA-Lib's `CDL*` functions recognise them, with the same output:
//! +100 (bullish) / −100 (bearish) / 0, and ±80 where TA-Lib grades a weaker engulfing.
//!
//! TA-Lib measures "long", "short", "near" and "far" against rolling averages of the
//! previous candles ("candle settings"); their defaults (`TA_CandleDefaultSettings` in
//! `ta_global.c`) are reproduced here, and so is the arithmetic of their running totals
//! (a plain sum on the first bar, then `total += new − old`), so that a candle that sits
//! right on a threshold is classified as TA-Lib classifies it.

use std::collections::VecDeque;

use crate::core::{Bar, Indicator};

/// What a candle setting measures on each bar.
#[derive(Debug, Clone, Copy, PartialEq)]
enum RangeType {
    /// |close − open|.
    RealBody,
    /// high − low.
    HighLow,
    /// Upper plus lower shadow (its average is halved: one shadow's length).
    Shadows,
}

/// One of TA-Lib's candle settings: the average of `period` previous candles' `range`,
/// times `factor` (`period` 0: the candle's own range).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Setting {
    range: RangeType,
    period: usize,
    factor: f64,
}

const BODY_LONG: Setting = Setting {
    range: RangeType::RealBody,
    period: 10,
    factor: 1.0,
};
const BODY_SHORT: Setting = Setting {
    range: RangeType::RealBody,
    period: 10,
    factor: 1.0,
};
const BODY_DOJI: Setting = Setting {
    range: RangeType::HighLow,
    period: 10,
    factor: 0.1,
};
const SHADOW_LONG: Setting = Setting {
    range: RangeType::RealBody,
    period: 0,
    factor: 1.0,
};
const SHADOW_VERY_SHORT: Setting = Setting {
    range: RangeType::HighLow,
    period: 10,
    factor: 0.1,
};
const NEAR: Setting = Setting {
    range: RangeType::HighLow,
    period: 5,
    factor: 0.2,
};
const FAR: Setting = Setting {
    range: RangeType::HighLow,
    period: 5,
    factor: 0.6,
};

fn white(b: &Bar) -> bool {
    b.close >= b.open
}

fn body(b: &Bar) -> f64 {
    (b.close - b.open).abs()
}

fn upper_shadow(b: &Bar) -> f64 {
    b.high - if white(b) { b.close } else { b.open }
}

fn lower_shadow(b: &Bar) -> f64 {
    (if white(b) { b.open } else { b.close }) - b.low
}

fn range(s: Setting, b: &Bar) -> f64 {
    match s.range {
        RangeType::RealBody => body(b),
        RangeType::HighLow => b.high - b.low,
        RangeType::Shadows => upper_shadow(b) + lower_shadow(b),
    }
}

/// A setting's running total for the candle `back` bars before the current one.
#[derive(Debug, Clone)]
struct Total {
    setting: Setting,
    back: usize,
    sum: f64,
}

impl Total {
    fn new(setting: Setting, back: usize) -> Self {
        Total {
            setting,
            back,
            sum: 0.0,
        }
    }

    /// TA_CANDLEAVERAGE for that candle, in TA-Lib's order of operations.
    fn average(&self, bars: &History) -> f64 {
        let s = self.setting;
        let base = if s.period != 0 {
            self.sum / s.period as f64
        } else {
            range(s, bars.ago(self.back))
        };
        let halve = if s.range == RangeType::Shadows {
            2.0
        } else {
            1.0
        };
        s.factor * base / halve
    }
}

/// The last bars, newest last.
#[derive(Debug, Clone)]
struct History(VecDeque<Bar>);

impl History {
    fn ago(&self, n: usize) -> &Bar {
        &self.0[self.0.len() - 1 - n]
    }
}

/// A TA-Lib candlestick pattern.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pattern {
    /// `CDLENGULFING`: a real body engulfing the previous one of the other colour
    /// (±100; ±80 when the two bodies share an end).
    Engulfing,
    /// `CDLHAMMER`: small body near the previous low, long lower shadow, almost no upper one
    /// (+100).
    Hammer,
    /// `CDLDOJI`: open and close about equal (+100, neither bullish nor bearish).
    Doji,
    /// `CDLMORNINGSTAR`: long black, a short body gapping down, a white closing into the
    /// first body by `penetration` of it (+100).
    MorningStar {
        /// How far into the first body the third candle must close (TA-Lib: 0.3).
        penetration: f64,
    },
    /// `CDLEVENINGSTAR`: long white, a short body gapping up, a black closing into the first
    /// body by `penetration` of it (−100).
    EveningStar {
        /// How far into the first body the third candle must close (TA-Lib: 0.3).
        penetration: f64,
    },
    /// `CDL3WHITESOLDIERS`: three rising white candles, each opening within or near the
    /// previous body, with very short upper shadows (+100).
    ThreeWhiteSoldiers,
    /// `CDL3BLACKCROWS`: a white candle, then three falling black ones, each opening within
    /// the previous body, with very short lower shadows (−100).
    ThreeBlackCrows,
}

impl Pattern {
    /// TA-Lib's lookback: bars before the first output.
    fn lookback(self) -> usize {
        match self {
            Pattern::Engulfing => 2,
            Pattern::Hammer => 11,
            Pattern::Doji => 10,
            Pattern::MorningStar { .. } | Pattern::EveningStar { .. } => 12,
            Pattern::ThreeWhiteSoldiers => 12,
            Pattern::ThreeBlackCrows => 13,
        }
    }

    /// The running totals TA-Lib keeps for the pattern, in the order `recognise` reads them.
    fn totals(self) -> Vec<Total> {
        match self {
            Pattern::Engulfing => vec![],
            Pattern::Hammer => vec![
                Total::new(BODY_SHORT, 0),
                Total::new(SHADOW_LONG, 0),
                Total::new(SHADOW_VERY_SHORT, 0),
                Total::new(NEAR, 1),
            ],
            Pattern::Doji => vec![Total::new(BODY_DOJI, 0)],
            Pattern::MorningStar { .. } | Pattern::EveningStar { .. } => vec![
                Total::new(BODY_LONG, 2),
                Total::new(BODY_SHORT, 1),
                Total::new(BODY_SHORT, 0),
            ],
            Pattern::ThreeWhiteSoldiers => vec![
                Total::new(SHADOW_VERY_SHORT, 2),
                Total::new(SHADOW_VERY_SHORT, 1),
                Total::new(SHADOW_VERY_SHORT, 0),
                Total::new(NEAR, 2),
                Total::new(NEAR, 1),
                Total::new(FAR, 2),
                Total::new(FAR, 1),
                Total::new(BODY_SHORT, 0),
            ],
            Pattern::ThreeBlackCrows => vec![
                Total::new(SHADOW_VERY_SHORT, 2),
                Total::new(SHADOW_VERY_SHORT, 1),
                Total::new(SHADOW_VERY_SHORT, 0),
            ],
        }
    }
}

/// A candlestick pattern recogniser: TA-Lib's output on every bar from its lookback on.
///
/// ```
/// use experiment_indicators::{batch, Bar, CandlePattern, Indicator, Pattern};
/// let bar = |open: f64, close: f64| Bar { open, high: open.max(close) + 0.5, low: open.min(close) - 0.5, close, volume: 1.0 };
/// // A black candle, then a white one whose body covers it.
/// let bars = [bar(10.0, 10.5), bar(10.0, 9.0), bar(8.8, 10.3)];
/// let out = batch(CandlePattern::new(Pattern::Engulfing), &bars);
/// assert_eq!(out, [None, None, Some(100.0)]);
/// ```
#[derive(Debug, Clone)]
pub struct CandlePattern {
    pattern: Pattern,
    bars: History,
    totals: Vec<Total>,
    seen: usize,
}

impl CandlePattern {
    /// A recogniser of `pattern` with TA-Lib's default candle settings.
    pub fn new(pattern: Pattern) -> Self {
        let lookback = pattern.lookback();
        CandlePattern {
            pattern,
            bars: History(VecDeque::with_capacity(lookback + 1)),
            totals: pattern.totals(),
            seen: 0,
        }
    }

    /// TA-Lib's verdict on the newest bar; `avg(k)` is the k-th total's average.
    fn recognise(&self) -> f64 {
        let b = |n: usize| self.bars.ago(n);
        let avg = |k: usize| self.totals[k].average(&self.bars);
        let (b0, b1) = (b(0), b(1));
        let hit = |cond: bool, v: f64| if cond { v } else { 0.0 };
        match self.pattern {
            Pattern::Engulfing => {
                let engulfs = (white(b0)
                    && !white(b1)
                    && ((b0.close >= b1.open && b0.open < b1.close)
                        || (b0.close > b1.open && b0.open <= b1.close)))
                    || (!white(b0)
                        && white(b1)
                        && ((b0.open >= b1.close && b0.close < b1.open)
                            || (b0.open > b1.close && b0.close <= b1.open)));
                let sign = if white(b0) { 1.0 } else { -1.0 };
                let grade = if b0.open != b1.close && b0.close != b1.open {
                    100.0
                } else {
                    80.0
                };
                hit(engulfs, sign * grade)
            }
            Pattern::Hammer => hit(
                body(b0) < avg(0)
                    && lower_shadow(b0) > avg(1)
                    && upper_shadow(b0) < avg(2)
                    && b0.close.min(b0.open) <= b1.low + avg(3),
                100.0,
            ),
            Pattern::Doji => hit(body(b0) <= avg(0), 100.0),
            Pattern::MorningStar { penetration } => {
                let b2 = b(2);
                hit(
                    !white(b2)
                        && white(b0)
                        && b1.open.max(b1.close) < b2.open.min(b2.close)
                        && b0.close > b2.close + body(b2) * penetration
                        && body(b2) > avg(0)
                        && body(b1) <= avg(1)
                        && body(b0) > avg(2),
                    100.0,
                )
            }
            Pattern::EveningStar { penetration } => {
                let b2 = b(2);
                hit(
                    white(b2)
                        && !white(b0)
                        && b1.open.min(b1.close) > b2.open.max(b2.close)
                        && b0.close < b2.close - body(b2) * penetration
                        && body(b2) > avg(0)
                        && body(b1) <= avg(1)
                        && body(b0) > avg(2),
                    -100.0,
                )
            }
            Pattern::ThreeWhiteSoldiers => {
                let b2 = b(2);
                hit(
                    white(b2)
                        && upper_shadow(b2) < avg(0)
                        && white(b1)
                        && upper_shadow(b1) < avg(1)
                        && white(b0)
                        && upper_shadow(b0) < avg(2)
                        && b0.close > b1.close
                        && b1.close > b2.close
                        && b1.open > b2.open
                        && b1.open <= b2.close + avg(3)
                        && b0.open > b1.open
                        && b0.open <= b1.close + avg(4)
                        && body(b1) > body(b2) - avg(5)
                        && body(b0) > body(b1) - avg(6)
                        && body(b0) > avg(7),
                    100.0,
                )
            }
            Pattern::ThreeBlackCrows => {
                let (b2, b3) = (b(2), b(3));
                hit(
                    white(b3)
                        && !white(b2)
                        && !white(b1)
                        && !white(b0)
                        && b1.open < b2.open
                        && b1.open > b2.close
                        && b0.open < b1.open
                        && b0.open > b1.close
                        && b3.high > b2.close
                        && b2.close > b1.close
                        && b1.close > b0.close
                        && lower_shadow(b2) < avg(0)
                        && lower_shadow(b1) < avg(1)
                        && lower_shadow(b0) < avg(2),
                    -100.0,
                )
            }
        }
    }
}

impl Indicator for CandlePattern {
    type Output = f64;
    fn update(&mut self, bar: &Bar) -> Option<f64> {
        let lookback = self.pattern.lookback();
        if self.bars.0.len() == lookback + 1 {
            self.bars.0.pop_front();
        }
        self.bars.0.push_back(*bar);
        self.seen += 1;
        if self.seen <= lookback {
            return None;
        }
        if self.seen == lookback + 1 {
            // TA-Lib's first totals: the `period` candles before each one read, oldest first.
            for t in &mut self.totals {
                let p = t.setting.period;
                t.sum = (0..p).rev().fold(0.0, |sum, k| {
                    sum + range(t.setting, self.bars.ago(t.back + 1 + k))
                });
            }
        }
        let out = self.recognise();
        // Then each total moves one candle on: the one just read joins, the oldest leaves.
        for t in &mut self.totals {
            let s = t.setting;
            let new = range(s, self.bars.ago(t.back));
            let old = range(s, self.bars.ago(t.back + s.period));
            t.sum += new - old;
        }
        Some(out)
    }
    fn reset(&mut self) {
        *self = Self::new(self.pattern);
    }
    fn warm_up(&self) -> usize {
        self.pattern.lookback()
    }
}
