//! The indicator catalogue: every indicator's name, parameters (with ranges and defaults),
//! outputs and warm-up, readable at run time by the rule validator and the API — and the
//! registry through which custom indicators join it.
//!
//! A custom indicator is any [`Indicator`] whose output is a number or an array of numbers,
//! described by a [`Spec`] and registered once at start-up with [`register`]; from then on the
//! rule language, the evaluator, `experiment ta` and the polars columns use it like a built-in:
//!
//! ```
//! use experiment_indicators::catalogue::{self, Param, Spec};
//! use experiment_indicators::rule::Rule;
//! use experiment_indicators::{Bar, Indicator};
//!
//! /// Close relative to the open, in percent.
//! #[derive(Debug, Clone)]
//! struct Body;
//! impl Indicator for Body {
//!     type Output = f64;
//!     fn update(&mut self, bar: &Bar) -> Option<f64> {
//!         (bar.open != 0.0).then(|| (bar.close / bar.open - 1.0) * 100.0)
//!     }
//!     fn reset(&mut self) {}
//!     fn warm_up(&self) -> usize { 0 }
//! }
//!
//! const BODY: Spec = Spec {
//!     name: "body_pct_doc",
//!     summary: "close relative to the open, percent",
//!     series_input: false,
//!     params: &[],
//!     outputs: &["value"],
//! };
//! catalogue::register(BODY, |_| Body).unwrap();
//! assert!(Rule::parse("body_pct_doc() > 3").is_ok());
//! assert!(catalogue::register(BODY, |_| Body).is_err(), "a name is registered once");
//! ```

use std::sync::{Arc, RwLock};

use crate::core::{Bar, Indicator};
use crate::{
    Ad, AdOsc, Apo, Aroon, AroonOsc, Atr, Bollinger, Bop, CandlePattern, Cci, Dema, Dmi, Donchian,
    Ema, Highest, Kama, Keltner, LinRegOutput, LinearReg, Lowest, MaType, Macd, Mfi, MidPoint,
    MidPrice, Momentum, Natr, Obv, Pattern, Ppo, Rma, Roc, Rsi, Sar, Sma, StdDev, StochRsi,
    Stochastic, TaiwanKd, Tema, Trix, UltOsc, Variance, Vwap, WilliamsR, Wma,
};

/// What values a parameter takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ParamKind {
    /// A whole number of bars in `min..=max`.
    Period {
        /// Smallest allowed.
        min: u32,
        /// Largest allowed.
        max: u32,
    },
    /// A real number in `min..=max`.
    Number {
        /// Smallest allowed.
        min: f64,
        /// Largest allowed.
        max: f64,
    },
}

/// One parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Param {
    /// Its name.
    pub name: &'static str,
    /// Its values.
    pub kind: ParamKind,
    /// The value used when a rule leaves it out.
    pub default: f64,
}

/// One indicator in the catalogue.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spec {
    /// Name used in rules, e.g. `rsi`.
    pub name: &'static str,
    /// One line for people.
    pub summary: &'static str,
    /// Whether it reads one price series (given first, default `close`) rather than whole bars.
    pub series_input: bool,
    /// Parameters, in order.
    pub params: &'static [Param],
    /// Outputs; the first is the one a rule gets without `.name`.
    pub outputs: &'static [&'static str],
}

impl Param {
    /// A whole number of bars from 1 to 1000.
    pub const fn period(name: &'static str, default: f64) -> Param {
        Param {
            name,
            kind: ParamKind::Period { min: 1, max: 1000 },
            default,
        }
    }

    /// A real number in `min..=max`.
    pub const fn number(name: &'static str, min: f64, max: f64, default: f64) -> Param {
        Param {
            name,
            kind: ParamKind::Number { min, max },
            default,
        }
    }
}

const fn period(name: &'static str, default: f64) -> Param {
    Param::period(name, default)
}

const fn number(name: &'static str, min: f64, max: f64, default: f64) -> Param {
    Param::number(name, min, max, default)
}

/// A whole number of bars from `min` to 1000.
const fn period_from(name: &'static str, min: u32, default: f64) -> Param {
    Param {
        name,
        kind: ParamKind::Period { min, max: 1000 },
        default,
    }
}

/// TA-Lib's `matype` of APO and PPO: 0 = SMA, 1 = EMA (TA-Lib 0.8's default).
const MATYPE: Param = Param {
    name: "ma",
    kind: ParamKind::Period { min: 0, max: 1 },
    default: 1.0,
};

/// How far into the first candle's body a star's third candle must close (TA-Lib's 0.3).
const PENETRATION: Param = number("penetration", 0.0, 1.0, 0.3);

const VALUE: &[&str] = &["value"];
const CHANNEL: &[&str] = &["middle", "upper", "lower"];

/// Every built-in indicator.
pub const CATALOGUE: &[Spec] = &[
    Spec {
        name: "sma",
        summary: "simple moving average",
        series_input: true,
        params: &[period("period", 20.0)],
        outputs: VALUE,
    },
    Spec {
        name: "ema",
        summary: "exponential moving average (seeded with the SMA)",
        series_input: true,
        params: &[period("period", 20.0)],
        outputs: VALUE,
    },
    Spec {
        name: "rma",
        summary: "Wilder's moving average",
        series_input: true,
        params: &[period("period", 14.0)],
        outputs: VALUE,
    },
    Spec {
        name: "wma",
        summary: "linearly weighted moving average",
        series_input: true,
        params: &[period("period", 20.0)],
        outputs: VALUE,
    },
    Spec {
        name: "dema",
        summary: "double exponential moving average",
        series_input: true,
        params: &[period("period", 20.0)],
        outputs: VALUE,
    },
    Spec {
        name: "tema",
        summary: "triple exponential moving average",
        series_input: true,
        params: &[period("period", 20.0)],
        outputs: VALUE,
    },
    Spec {
        name: "rsi",
        summary: "relative strength index (Wilder)",
        series_input: true,
        params: &[period("period", 14.0)],
        outputs: VALUE,
    },
    Spec {
        name: "roc",
        summary: "rate of change, percent",
        series_input: true,
        params: &[period("period", 10.0)],
        outputs: VALUE,
    },
    Spec {
        name: "mom",
        summary: "momentum: value minus value n bars ago",
        series_input: true,
        params: &[period("period", 10.0)],
        outputs: VALUE,
    },
    Spec {
        name: "stddev",
        summary: "population standard deviation",
        series_input: true,
        params: &[period("period", 20.0)],
        outputs: VALUE,
    },
    Spec {
        name: "highest",
        summary: "highest value of the last n bars",
        series_input: true,
        params: &[period("period", 20.0)],
        outputs: VALUE,
    },
    Spec {
        name: "lowest",
        summary: "lowest value of the last n bars",
        series_input: true,
        params: &[period("period", 20.0)],
        outputs: VALUE,
    },
    Spec {
        name: "macd",
        summary: "MACD line, signal and histogram",
        series_input: true,
        params: &[
            period("fast", 12.0),
            period("slow", 26.0),
            period("signal", 9.0),
        ],
        outputs: &["macd", "signal", "histogram"],
    },
    Spec {
        name: "bbands",
        summary: "Bollinger Bands",
        series_input: true,
        params: &[period("period", 20.0), number("k", 0.1, 10.0, 2.0)],
        outputs: CHANNEL,
    },
    Spec {
        name: "atr",
        summary: "average true range (Wilder)",
        series_input: false,
        params: &[period("period", 14.0)],
        outputs: VALUE,
    },
    Spec {
        name: "stoch",
        summary: "stochastic oscillator, slow %K and %D",
        series_input: false,
        params: &[period("k", 14.0), period("slow_k", 3.0), period("d", 3.0)],
        outputs: &["k", "d"],
    },
    Spec {
        name: "kd",
        summary: "Taiwan KD: K = 2/3 K' + 1/3 RSV from 50",
        series_input: false,
        params: &[period("n", 9.0), period("k", 3.0), period("d", 3.0)],
        outputs: &["k", "d"],
    },
    Spec {
        name: "willr",
        summary: "Williams %R",
        series_input: false,
        params: &[period("period", 14.0)],
        outputs: VALUE,
    },
    Spec {
        name: "cci",
        summary: "commodity channel index",
        series_input: false,
        params: &[period("period", 20.0)],
        outputs: VALUE,
    },
    Spec {
        name: "mfi",
        summary: "money flow index",
        series_input: false,
        params: &[period("period", 14.0)],
        outputs: VALUE,
    },
    Spec {
        name: "obv",
        summary: "on-balance volume",
        series_input: false,
        params: &[],
        outputs: VALUE,
    },
    Spec {
        name: "vwap",
        summary: "volume-weighted average price since the start",
        series_input: false,
        params: &[],
        outputs: VALUE,
    },
    Spec {
        name: "dmi",
        summary: "directional movement: ADX, +DI, -DI",
        series_input: false,
        params: &[period("period", 14.0)],
        outputs: &["adx", "plus_di", "minus_di"],
    },
    Spec {
        name: "donchian",
        summary: "Donchian channel",
        series_input: false,
        params: &[period("period", 20.0)],
        outputs: CHANNEL,
    },
    Spec {
        name: "keltner",
        summary: "Keltner channel: EMA ± k·ATR",
        series_input: false,
        params: &[
            period("period", 20.0),
            number("k", 0.1, 10.0, 2.0),
            period("atr_period", 10.0),
        ],
        outputs: CHANNEL,
    },
    // TA-Lib's names for what `dmi` gives, so `adx(14)` works as TA-Lib users write it.
    Spec {
        name: "adx",
        summary: "average directional index (Wilder), TA-Lib ADX",
        series_input: false,
        params: &[period("period", 14.0)],
        outputs: VALUE,
    },
    Spec {
        name: "plus_di",
        summary: "plus directional indicator +DI, TA-Lib PLUS_DI",
        series_input: false,
        params: &[period("period", 14.0)],
        outputs: VALUE,
    },
    Spec {
        name: "minus_di",
        summary: "minus directional indicator -DI, TA-Lib MINUS_DI",
        series_input: false,
        params: &[period("period", 14.0)],
        outputs: VALUE,
    },
    Spec {
        name: "sar",
        summary: "parabolic SAR, TA-Lib SAR",
        series_input: false,
        params: &[
            number("acceleration", 0.0, 1.0, 0.02),
            number("maximum", 0.0, 1.0, 0.2),
        ],
        outputs: VALUE,
    },
    Spec {
        name: "aroon",
        summary: "Aroon up and down, TA-Lib AROON",
        series_input: false,
        params: &[period("period", 14.0)],
        outputs: &["up", "down"],
    },
    Spec {
        name: "aroonosc",
        summary: "Aroon oscillator (up - down), TA-Lib AROONOSC",
        series_input: false,
        params: &[period("period", 14.0)],
        outputs: VALUE,
    },
    Spec {
        name: "natr",
        summary: "normalised ATR: ATR / close, percent, TA-Lib NATR",
        series_input: false,
        params: &[period("period", 14.0)],
        outputs: VALUE,
    },
    Spec {
        name: "trix",
        summary: "1-bar rate of change of a triple EMA, percent, TA-Lib TRIX",
        series_input: true,
        params: &[period("period", 30.0)],
        outputs: VALUE,
    },
    Spec {
        name: "stochrsi",
        summary: "stochastic of the RSI: fast %K and %D (SMA), TA-Lib STOCHRSI",
        series_input: true,
        params: &[period("period", 14.0), period("k", 5.0), period("d", 3.0)],
        outputs: &["k", "d"],
    },
    Spec {
        name: "apo",
        summary: "absolute price oscillator: fast MA - slow MA (ma 0 SMA, 1 EMA), TA-Lib APO",
        series_input: true,
        params: &[period("fast", 12.0), period("slow", 26.0), MATYPE],
        outputs: VALUE,
    },
    Spec {
        name: "ppo",
        summary: "percentage price oscillator (ma 0 SMA, 1 EMA), TA-Lib PPO",
        series_input: true,
        params: &[period("fast", 12.0), period("slow", 26.0), MATYPE],
        outputs: VALUE,
    },
    Spec {
        name: "kama",
        summary: "Kaufman adaptive moving average, TA-Lib KAMA",
        series_input: true,
        params: &[period("period", 30.0)],
        outputs: VALUE,
    },
    Spec {
        name: "ad",
        summary: "Chaikin accumulation/distribution line, TA-Lib AD",
        series_input: false,
        params: &[],
        outputs: VALUE,
    },
    Spec {
        name: "adosc",
        summary: "Chaikin A/D oscillator: EMA(fast) - EMA(slow) of AD, TA-Lib ADOSC",
        series_input: false,
        params: &[period_from("fast", 2, 3.0), period_from("slow", 2, 10.0)],
        outputs: VALUE,
    },
    Spec {
        name: "bop",
        summary: "balance of power: (close - open) / (high - low), TA-Lib BOP",
        series_input: false,
        params: &[],
        outputs: VALUE,
    },
    Spec {
        name: "ultosc",
        summary: "ultimate oscillator, TA-Lib ULTOSC",
        series_input: false,
        params: &[
            period("period1", 7.0),
            period("period2", 14.0),
            period("period3", 28.0),
        ],
        outputs: VALUE,
    },
    Spec {
        name: "midprice",
        summary: "(highest high + lowest low) / 2, TA-Lib MIDPRICE",
        series_input: false,
        params: &[period("period", 14.0)],
        outputs: VALUE,
    },
    Spec {
        name: "midpoint",
        summary: "(highest + lowest) / 2 of a series, TA-Lib MIDPOINT",
        series_input: true,
        params: &[period("period", 14.0)],
        outputs: VALUE,
    },
    Spec {
        name: "linearreg",
        summary: "least-squares line at the newest bar, TA-Lib LINEARREG",
        series_input: true,
        params: &[period_from("period", 2, 14.0)],
        outputs: VALUE,
    },
    Spec {
        name: "linearreg_slope",
        summary: "slope of the least-squares line per bar, TA-Lib LINEARREG_SLOPE",
        series_input: true,
        params: &[period_from("period", 2, 14.0)],
        outputs: VALUE,
    },
    Spec {
        name: "linearreg_intercept",
        summary: "least-squares line at the oldest bar, TA-Lib LINEARREG_INTERCEPT",
        series_input: true,
        params: &[period_from("period", 2, 14.0)],
        outputs: VALUE,
    },
    Spec {
        name: "linearreg_angle",
        summary: "angle of the least-squares line, degrees, TA-Lib LINEARREG_ANGLE",
        series_input: true,
        params: &[period_from("period", 2, 14.0)],
        outputs: VALUE,
    },
    Spec {
        name: "tsf",
        summary: "time series forecast: the least-squares line one bar ahead, TA-Lib TSF",
        series_input: true,
        params: &[period_from("period", 2, 14.0)],
        outputs: VALUE,
    },
    Spec {
        name: "var",
        summary: "population variance, TA-Lib VAR",
        series_input: true,
        params: &[period("period", 5.0)],
        outputs: VALUE,
    },
    Spec {
        name: "cdl_engulfing",
        summary: "engulfing candles: +100/+80 bullish, -100/-80 bearish, TA-Lib CDLENGULFING",
        series_input: false,
        params: &[],
        outputs: VALUE,
    },
    Spec {
        name: "cdl_hammer",
        summary: "hammer candle: +100, TA-Lib CDLHAMMER",
        series_input: false,
        params: &[],
        outputs: VALUE,
    },
    Spec {
        name: "cdl_doji",
        summary: "doji candle: +100, TA-Lib CDLDOJI",
        series_input: false,
        params: &[],
        outputs: VALUE,
    },
    Spec {
        name: "cdl_morningstar",
        summary: "morning star (3 candles): +100, TA-Lib CDLMORNINGSTAR",
        series_input: false,
        params: &[PENETRATION],
        outputs: VALUE,
    },
    Spec {
        name: "cdl_eveningstar",
        summary: "evening star (3 candles): -100, TA-Lib CDLEVENINGSTAR",
        series_input: false,
        params: &[PENETRATION],
        outputs: VALUE,
    },
    Spec {
        name: "cdl_3whitesoldiers",
        summary: "three advancing white soldiers: +100, TA-Lib CDL3WHITESOLDIERS",
        series_input: false,
        params: &[],
        outputs: VALUE,
    },
    Spec {
        name: "cdl_3blackcrows",
        summary: "three black crows: -100, TA-Lib CDL3BLACKCROWS",
        series_input: false,
        params: &[],
        outputs: VALUE,
    },
];

/// The candlestick pattern a `cdl_*` catalogue entry recognises.
pub(crate) fn candle_pattern(name: &str, params: &[f64]) -> Option<Pattern> {
    Some(match name {
        "cdl_engulfing" => Pattern::Engulfing,
        "cdl_hammer" => Pattern::Hammer,
        "cdl_doji" => Pattern::Doji,
        "cdl_morningstar" => Pattern::MorningStar {
            penetration: params[0],
        },
        "cdl_eveningstar" => Pattern::EveningStar {
            penetration: params[0],
        },
        "cdl_3whitesoldiers" => Pattern::ThreeWhiteSoldiers,
        "cdl_3blackcrows" => Pattern::ThreeBlackCrows,
        _ => return None,
    })
}

/// What a `linearreg*` / `tsf` catalogue entry gives.
pub(crate) fn linreg_output(name: &str) -> Option<LinRegOutput> {
    Some(match name {
        "linearreg" => LinRegOutput::Value,
        "linearreg_slope" => LinRegOutput::Slope,
        "linearreg_intercept" => LinRegOutput::Intercept,
        "linearreg_angle" => LinRegOutput::Angle,
        "tsf" => LinRegOutput::Forecast,
        _ => return None,
    })
}

/// The catalogue entry called `name`: a built-in, or a registered custom indicator.
pub fn lookup(name: &str) -> Option<&'static Spec> {
    CATALOGUE
        .iter()
        .find(|s| s.name == name)
        .or_else(|| custom(name).map(|c| c.spec))
}

/// Every indicator known now: the built-ins, then custom ones in registration order.
pub fn all() -> Vec<&'static Spec> {
    let customs = REGISTRY.read().unwrap_or_else(|e| e.into_inner());
    CATALOGUE
        .iter()
        .chain(customs.iter().map(|c| c.spec))
        .collect()
}

/// What an indicator's update yields, as numbers in the order of its spec's outputs.
pub trait Outputs: Copy {
    /// Writes the outputs into `out` (as many as the spec names).
    fn write(&self, out: &mut [Option<f64>]);
}

impl Outputs for f64 {
    fn write(&self, out: &mut [Option<f64>]) {
        if let Some(o) = out.first_mut() {
            *o = Some(*self);
        }
    }
}

impl<const K: usize> Outputs for [f64; K] {
    fn write(&self, out: &mut [Option<f64>]) {
        for (o, v) in out.iter_mut().zip(self) {
            *o = Some(*v);
        }
    }
}

/// A custom indicator behind one object-safe interface (any [`Indicator`] with [`Outputs`]
/// is one).
pub trait DynIndicator: Send + Sync + std::fmt::Debug {
    /// Adds a closed bar; writes every output (`None` while warming up).
    fn update_outputs(&mut self, bar: &Bar, out: &mut [Option<f64>]);
    /// Forgets every bar.
    fn reset_state(&mut self);
    /// Bars before the first value.
    fn lookback(&self) -> usize;
    /// A copy with the same state.
    fn clone_box(&self) -> Box<dyn DynIndicator>;
}

impl<I> DynIndicator for I
where
    I: Indicator + Send + Sync + std::fmt::Debug + 'static,
    I::Output: Outputs,
{
    fn update_outputs(&mut self, bar: &Bar, out: &mut [Option<f64>]) {
        match self.update(bar) {
            Some(v) => v.write(out),
            None => out.fill(None),
        }
    }
    fn reset_state(&mut self) {
        self.reset();
    }
    fn lookback(&self) -> usize {
        self.warm_up()
    }
    fn clone_box(&self) -> Box<dyn DynIndicator> {
        Box::new(self.clone())
    }
}

impl Clone for Box<dyn DynIndicator> {
    fn clone(&self) -> Self {
        self.clone_box()
    }
}

type Builder = dyn Fn(&[f64]) -> Box<dyn DynIndicator> + Send + Sync;

struct Custom {
    spec: &'static Spec,
    build: Arc<Builder>,
}

static REGISTRY: RwLock<Vec<Custom>> = RwLock::new(Vec::new());

fn custom(name: &str) -> Option<Custom> {
    let customs = REGISTRY.read().unwrap_or_else(|e| e.into_inner());
    customs
        .iter()
        .find(|c| c.spec.name == name)
        .map(|c| Custom {
            spec: c.spec,
            build: c.build.clone(),
        })
}

/// Why a custom indicator could not be registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterError(pub String);

impl std::fmt::Display for RegisterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RegisterError {}

/// Adds a custom indicator to the catalogue of this process. `build` gets the parameters
/// in the spec's order, defaults filled in and ranges already checked (periods are whole
/// numbers).
///
/// # Errors
/// When the name is taken (by a built-in, a function of the rule language or an earlier
/// registration), is not a lowercase identifier, or the spec has no output or a default out
/// of its range.
pub fn register<I, F>(spec: Spec, build: F) -> Result<(), RegisterError>
where
    I: Indicator + Send + Sync + std::fmt::Debug + 'static,
    I::Output: Outputs,
    F: Fn(&[f64]) -> I + Send + Sync + 'static,
{
    let bad = |m: String| Err(RegisterError(format!("indicator '{}': {m}", spec.name)));
    let ident = spec
        .name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase())
        && spec
            .name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !ident {
        return bad("a name is lowercase letters, digits and '_', starting with a letter".into());
    }
    if crate::rule::reserved(spec.name) {
        return bad("the name is taken by the rule language".into());
    }
    if spec.outputs.is_empty() {
        return bad("at least one output is needed".into());
    }
    if let Some(p) = spec.params.iter().find(|p| !p.accepts(p.default)) {
        return bad(format!("the default of '{}' is out of its range", p.name));
    }
    let mut customs = REGISTRY.write().unwrap_or_else(|e| e.into_inner());
    if CATALOGUE.iter().any(|s| s.name == spec.name)
        || customs.iter().any(|c| c.spec.name == spec.name)
    {
        return bad("the name is already in the catalogue".into());
    }
    // Specs live as long as the process, like the built-ins; registering is once per name.
    let spec: &'static Spec = Box::leak(Box::new(spec));
    customs.push(Custom {
        spec,
        build: Arc::new(move |p: &[f64]| Box::new(build(p)) as Box<dyn DynIndicator>),
    });
    Ok(())
}

/// A fresh instance of the custom indicator `name` with `params`.
pub(crate) fn build_custom(name: &str, params: &[f64]) -> Option<Box<dyn DynIndicator>> {
    custom(name).map(|c| (c.build)(params))
}

impl Param {
    /// Whether `v` is an allowed value.
    pub fn accepts(&self, v: f64) -> bool {
        match self.kind {
            ParamKind::Period { min, max } => {
                v.fract() == 0.0 && (f64::from(min)..=f64::from(max)).contains(&v)
            }
            ParamKind::Number { min, max } => (min..=max).contains(&v),
        }
    }
}

impl Spec {
    /// Bars before the first value with `params` (the indicator itself says, so the catalogue
    /// cannot drift from the code).
    ///
    /// # Panics
    /// If `params` has fewer values than a built-in's spec or a period is 0.
    pub fn warm_up(&self, params: &[f64]) -> usize {
        let p = |i: usize| params[i] as usize;
        match self.name {
            "sma" => Sma::new(p(0)).warm_up(),
            "ema" => Ema::new(p(0)).warm_up(),
            "rma" => Rma::new(p(0)).warm_up(),
            "wma" => Wma::new(p(0)).warm_up(),
            "dema" => Dema::new(p(0)).warm_up(),
            "tema" => Tema::new(p(0)).warm_up(),
            "rsi" => Rsi::new(p(0)).warm_up(),
            "roc" => Roc::new(p(0)).warm_up(),
            "mom" => Momentum::new(p(0)).warm_up(),
            "stddev" => StdDev::new(p(0)).warm_up(),
            "highest" => Highest::new(p(0)).warm_up(),
            "lowest" => Lowest::new(p(0)).warm_up(),
            "macd" => Macd::new(p(0), p(1).max(p(0)), p(2)).warm_up(),
            "bbands" => Bollinger::new(p(0), params[1]).warm_up(),
            "atr" => Atr::new(p(0)).warm_up(),
            "stoch" => Stochastic::new(p(0), p(1), p(2)).warm_up(),
            "kd" => TaiwanKd::new(p(0), p(1), p(2)).warm_up(),
            "willr" => WilliamsR::new(p(0)).warm_up(),
            "cci" => Cci::new(p(0)).warm_up(),
            "mfi" => Mfi::new(p(0)).warm_up(),
            "obv" => Obv::new().warm_up(),
            "vwap" => Vwap::new().warm_up(),
            // The first output, ADX, averages n DX values: n − 1 bars after the DIs (2n − 1, as TA-Lib).
            "dmi" => Dmi::new(p(0)).warm_up() + p(0) - 1,
            "donchian" => Donchian::new(p(0)).warm_up(),
            "keltner" => Keltner::new(p(0), params[1], p(2)).warm_up(),
            // `dmi`'s outputs under TA-Lib's names, with the same warm-ups.
            "adx" => Dmi::new(p(0)).warm_up() + p(0) - 1,
            "plus_di" | "minus_di" => Dmi::new(p(0)).warm_up(),
            "sar" => Sar::new(params[0], params[1]).warm_up(),
            "aroon" => Aroon::new(p(0)).warm_up(),
            "aroonosc" => AroonOsc::new(p(0)).warm_up(),
            "natr" => Natr::new(p(0)).warm_up(),
            "trix" => Trix::new(p(0)).warm_up(),
            "stochrsi" => StochRsi::new(p(0), p(1), p(2)).warm_up(),
            "apo" => Apo::new(p(0), p(1), MaType::from_talib(p(2))).warm_up(),
            "ppo" => Ppo::new(p(0), p(1), MaType::from_talib(p(2))).warm_up(),
            "kama" => Kama::new(p(0)).warm_up(),
            "ad" => Ad::new().warm_up(),
            "adosc" => AdOsc::new(p(0), p(1)).warm_up(),
            "bop" => Bop::new().warm_up(),
            "ultosc" => UltOsc::new(p(0), p(1), p(2)).warm_up(),
            "midprice" => MidPrice::new(p(0)).warm_up(),
            "midpoint" => MidPoint::new(p(0)).warm_up(),
            "var" => Variance::new(p(0)).warm_up(),
            name => {
                if let Some(out) = linreg_output(name) {
                    LinearReg::new(p(0), out).warm_up()
                } else if let Some(pattern) = candle_pattern(name, params) {
                    CandlePattern::new(pattern).warm_up()
                } else {
                    build_custom(name, params).map_or(0, |i| i.lookback())
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_has_defaults_in_range_and_a_warm_up() {
        for s in CATALOGUE {
            let defaults: Vec<f64> = s.params.iter().map(|p| p.default).collect();
            for p in s.params {
                let ok = match p.kind {
                    ParamKind::Period { min, max } => {
                        (min as f64..=max as f64).contains(&p.default) && p.default.fract() == 0.0
                    }
                    ParamKind::Number { min, max } => (min..=max).contains(&p.default),
                };
                assert!(ok, "{}: default of {} out of range", s.name, p.name);
            }
            let _ = s.warm_up(&defaults);
            assert!(!s.outputs.is_empty());
        }
        assert_eq!(lookup("rsi").unwrap().warm_up(&[14.0]), 14);
        assert_eq!(lookup("macd").unwrap().warm_up(&[12.0, 26.0, 9.0]), 33);
        assert_eq!(
            lookup("dmi").unwrap().warm_up(&[14.0]),
            27,
            "ADX, as TA-Lib's lookback"
        );
        assert!(lookup("rsx").is_none());
    }

    #[test]
    fn talib_users_find_its_names() {
        assert!(CATALOGUE.len() >= 45, "{} indicators", CATALOGUE.len());
        let talib = "adx plus_di minus_di sar aroon aroonosc natr trix stochrsi apo ppo kama ad \
            adosc bop ultosc midprice midpoint linearreg linearreg_slope linearreg_intercept \
            linearreg_angle tsf var dema tema mom cdl_engulfing cdl_hammer cdl_doji \
            cdl_morningstar cdl_eveningstar cdl_3whitesoldiers cdl_3blackcrows";
        for name in talib.split_whitespace() {
            assert!(lookup(name).is_some(), "no {name}");
        }
        let mut names: Vec<&str> = CATALOGUE.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CATALOGUE.len(), "a name is listed twice");
        // TA-Lib's lookbacks with its defaults.
        for (name, lookback) in [
            ("adx", 27),
            ("sar", 1),
            ("trix", 88),
            ("stochrsi", 20),
            ("ppo", 25),
            ("kama", 30),
            ("adosc", 9),
            ("ultosc", 28),
            ("linearreg", 13),
            ("cdl_hammer", 11),
            ("cdl_3blackcrows", 13),
        ] {
            let spec = lookup(name).unwrap();
            let defaults: Vec<f64> = spec.params.iter().map(|p| p.default).collect();
            assert_eq!(spec.warm_up(&defaults), lookback, "{name}");
        }
    }
}
