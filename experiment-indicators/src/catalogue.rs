//! The indicator catalogue: every indicator's name, parameters (with ranges and defaults),
//! outputs and warm-up, readable at run time by the rule validator and the API.

use crate::core::Indicator;
use crate::{
    Atr, Bollinger, Cci, Dema, Dmi, Donchian, Ema, Highest, Keltner, Lowest, Macd, Mfi, Momentum,
    Obv, Rma, Roc, Rsi, Sma, StdDev, Stochastic, TaiwanKd, Tema, Vwap, WilliamsR, Wma,
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

const fn period(name: &'static str, default: f64) -> Param {
    Param {
        name,
        kind: ParamKind::Period { min: 1, max: 1000 },
        default,
    }
}

const fn number(name: &'static str, min: f64, max: f64, default: f64) -> Param {
    Param {
        name,
        kind: ParamKind::Number { min, max },
        default,
    }
}

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
];

/// The catalogue entry called `name`.
pub fn lookup(name: &str) -> Option<&'static Spec> {
    CATALOGUE.iter().find(|s| s.name == name)
}

impl Spec {
    /// Bars before the first value with `params` (the indicator itself says, so the catalogue
    /// cannot drift from the code).
    ///
    /// # Panics
    /// If `params` has fewer values than the spec or a period is 0.
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
            other => unreachable!("catalogue entry {other} without a warm-up"),
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
}
