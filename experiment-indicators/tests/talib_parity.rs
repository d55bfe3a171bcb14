//! Parity with TA-Lib 0.8.2 on a 600-bar series: the goldens in tests/golden were written by
//! scripts/talib_goldens.py (see its header to regenerate). Warm-up must match exactly (TA-Lib's
//! NaN ⇔ our None), and values agree to 1e-9 relative (absolute below 1).

use experiment_indicators::rule::Expr;
use experiment_indicators::*;

struct Golden {
    bars: Vec<Bar>,
    series: serde_json::Map<String, serde_json::Value>,
    /// A second series built from candle shapes, for the candlestick patterns.
    candle_bars: Vec<Bar>,
    /// TA-Lib's candlestick outputs on `bars` ("rows") and `candle_bars` ("candle_rows").
    candles: serde_json::Value,
}

fn bars_of(rows: &serde_json::Value) -> Vec<Bar> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let f = |i: usize| r[i].as_f64().unwrap();
            Bar {
                open: f(0),
                high: f(1),
                low: f(2),
                close: f(3),
                volume: f(4),
            }
        })
        .collect()
}

fn golden() -> Golden {
    let dir = format!("{}/tests/golden", env!("CARGO_MANIFEST_DIR"));
    let input: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{dir}/input.json")).unwrap())
            .unwrap();
    let bars = bars_of(&input["rows"]);
    let talib: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{dir}/talib.json")).unwrap())
            .unwrap();
    assert_eq!(
        talib["talib"], "0.8.2",
        "goldens must come from the pinned TA-Lib"
    );
    Golden {
        bars,
        series: talib["series"].as_object().unwrap().clone(),
        candle_bars: bars_of(&input["candle_rows"]),
        candles: talib["candles"].clone(),
    }
}

const TOLERANCE: f64 = 1e-9;

fn check(name: &str, ours: &[Option<f64>], g: &Golden) {
    let want = g.series[name]
        .as_array()
        .unwrap_or_else(|| panic!("no golden {name}"));
    assert_eq!(ours.len(), want.len(), "{name}: length");
    for (i, (o, w)) in ours.iter().zip(want).enumerate() {
        match (o, w.as_f64()) {
            (None, None) => {}
            (Some(o), Some(w)) => {
                let err = (o - w).abs() / w.abs().max(1.0);
                assert!(
                    err <= TOLERANCE,
                    "{name}[{i}]: ours {o} vs TA-Lib {w} (relative error {err:e})"
                );
            }
            (o, w) => panic!("{name}[{i}]: warm-up differs: ours {o:?} vs TA-Lib {w:?}"),
        }
    }
}

fn run<I: Indicator>(ind: I, g: &Golden) -> Vec<Option<I::Output>> {
    batch(ind, &g.bars)
}

#[test]
fn moving_averages() {
    let g = golden();
    check("sma_20", &run(Sma::new(20), &g), &g);
    check("ema_20", &run(Ema::new(20), &g), &g);
    check("wma_20", &run(Wma::new(20), &g), &g);
    check("dema_20", &run(Dema::new(20), &g), &g);
    check("tema_20", &run(Tema::new(20), &g), &g);
}

#[test]
fn oscillators_and_momentum() {
    let g = golden();
    check("rsi_14", &run(Rsi::new(14), &g), &g);
    check("roc_10", &run(Roc::new(10), &g), &g);
    check("mom_10", &run(Momentum::new(10), &g), &g);
    check("cci_20", &run(Cci::new(20), &g), &g);
    check("willr_14", &run(WilliamsR::new(14), &g), &g);
    check("mfi_14", &run(Mfi::new(14), &g), &g);
    let stoch = run(Stochastic::new(14, 3, 3), &g);
    check(
        "stoch_14_3_3.k",
        &stoch.iter().map(|v| v.map(|v| v.k)).collect::<Vec<_>>(),
        &g,
    );
    check(
        "stoch_14_3_3.d",
        &stoch.iter().map(|v| v.map(|v| v.d)).collect::<Vec<_>>(),
        &g,
    );
    let macd = run(Macd::new(12, 26, 9), &g);
    check(
        "macd_12_26_9.macd",
        &macd.iter().map(|v| v.map(|v| v.macd)).collect::<Vec<_>>(),
        &g,
    );
    check(
        "macd_12_26_9.signal",
        &macd.iter().map(|v| v.map(|v| v.signal)).collect::<Vec<_>>(),
        &g,
    );
    check(
        "macd_12_26_9.histogram",
        &macd
            .iter()
            .map(|v| v.map(|v| v.histogram))
            .collect::<Vec<_>>(),
        &g,
    );
}

#[test]
fn volatility_and_ranges() {
    let g = golden();
    check("stddev_20", &run(StdDev::new(20), &g), &g);
    check("max_20", &run(Highest::new(20), &g), &g);
    check("min_20", &run(Lowest::new(20), &g), &g);
    check("atr_14", &run(Atr::new(14), &g), &g);
    let bb = run(Bollinger::new(20, 2.0), &g);
    check(
        "bbands_20_2.upper",
        &bb.iter().map(|v| v.map(|v| v.upper)).collect::<Vec<_>>(),
        &g,
    );
    check(
        "bbands_20_2.middle",
        &bb.iter().map(|v| v.map(|v| v.middle)).collect::<Vec<_>>(),
        &g,
    );
    check(
        "bbands_20_2.lower",
        &bb.iter().map(|v| v.map(|v| v.lower)).collect::<Vec<_>>(),
        &g,
    );
}

#[test]
fn volume_and_trend() {
    let g = golden();
    check("obv", &run(Obv::new(), &g), &g);
    let dmi = run(Dmi::new(14), &g);
    check(
        "plus_di_14",
        &dmi.iter().map(|v| v.map(|v| v.plus_di)).collect::<Vec<_>>(),
        &g,
    );
    check(
        "minus_di_14",
        &dmi.iter()
            .map(|v| v.map(|v| v.minus_di))
            .collect::<Vec<_>>(),
        &g,
    );
    check(
        "adx_14",
        &dmi.iter()
            .map(|v| v.and_then(|v| v.adx))
            .collect::<Vec<_>>(),
        &g,
    );
}

fn pick<T: Copy>(values: &[Option<T>], f: impl Fn(T) -> f64) -> Vec<Option<f64>> {
    values.iter().map(|v| v.map(&f)).collect()
}

#[test]
fn the_rest_of_talib() {
    let g = golden();
    check("sar_0.02_0.2", &run(Sar::new(0.02, 0.2), &g), &g);
    check("sar_0.05_0.3", &run(Sar::new(0.05, 0.3), &g), &g);
    let aroon = run(Aroon::new(14), &g);
    check("aroon_14.up", &pick(&aroon, |v| v.up), &g);
    check("aroon_14.down", &pick(&aroon, |v| v.down), &g);
    check("aroonosc_14", &run(AroonOsc::new(14), &g), &g);
    check("natr_14", &run(Natr::new(14), &g), &g);
    check("trix_30", &run(Trix::new(30), &g), &g);
    check("trix_5", &run(Trix::new(5), &g), &g);
    let stochrsi = run(StochRsi::new(14, 5, 3), &g);
    check("stochrsi_14_5_3.k", &pick(&stochrsi, |v| v.k), &g);
    check("stochrsi_14_5_3.d", &pick(&stochrsi, |v| v.d), &g);
    check("apo_12_26_sma", &run(Apo::new(12, 26, MaType::Sma), &g), &g);
    check("apo_12_26_ema", &run(Apo::new(12, 26, MaType::Ema), &g), &g);
    check("apo_26_12_ema", &run(Apo::new(26, 12, MaType::Ema), &g), &g);
    check("ppo_12_26_sma", &run(Ppo::new(12, 26, MaType::Sma), &g), &g);
    check("ppo_12_26_ema", &run(Ppo::new(12, 26, MaType::Ema), &g), &g);
    check("kama_30", &run(Kama::new(30), &g), &g);
    check("kama_10", &run(Kama::new(10), &g), &g);
    check("ad", &run(Ad::new(), &g), &g);
    check("adosc_3_10", &run(AdOsc::new(3, 10), &g), &g);
    check("adosc_10_3", &run(AdOsc::new(10, 3), &g), &g);
    check("bop", &run(Bop::new(), &g), &g);
    check("ultosc_7_14_28", &run(UltOsc::new(7, 14, 28), &g), &g);
    check("ultosc_28_5_10", &run(UltOsc::new(28, 5, 10), &g), &g);
    check("midprice_14", &run(MidPrice::new(14), &g), &g);
    check("midpoint_14", &run(MidPoint::new(14), &g), &g);
    for (name, out) in [
        ("linearreg_14", LinRegOutput::Value),
        ("linearreg_slope_14", LinRegOutput::Slope),
        ("linearreg_intercept_14", LinRegOutput::Intercept),
        ("linearreg_angle_14", LinRegOutput::Angle),
        ("tsf_14", LinRegOutput::Forecast),
    ] {
        check(name, &run(LinearReg::new(14, out), &g), &g);
    }
    check("var_5", &run(Variance::new(5), &g), &g);
    check("var_20", &run(Variance::new(20), &g), &g);
}

/// Every golden again, through the rule language and the columnar path (what `experiment ta`,
/// the API and the polars columns run): TA-Lib's names work as TA-Lib users write them.
#[test]
fn talib_names_in_expressions() {
    let g = golden();
    let table = [
        ("adx(14)", "adx_14"),
        ("plus_di(14)", "plus_di_14"),
        ("minus_di(14)", "minus_di_14"),
        ("dema(20)", "dema_20"),
        ("tema(20)", "tema_20"),
        ("mom(10)", "mom_10"),
        ("stddev(20)", "stddev_20"),
        ("sar()", "sar_0.02_0.2"),
        ("sar(0.05, 0.3)", "sar_0.05_0.3"),
        ("aroon(14).up", "aroon_14.up"),
        ("aroon(14).down", "aroon_14.down"),
        ("aroonosc(14)", "aroonosc_14"),
        ("natr(14)", "natr_14"),
        ("trix(30)", "trix_30"),
        ("stochrsi(14, 5, 3)", "stochrsi_14_5_3.k"),
        ("stochrsi(close, 14, 5, 3).d", "stochrsi_14_5_3.d"),
        ("apo(12, 26, 0)", "apo_12_26_sma"),
        ("apo(12, 26)", "apo_12_26_ema"),
        ("ppo(12, 26, 0)", "ppo_12_26_sma"),
        ("ppo(close, 12, 26, 1)", "ppo_12_26_ema"),
        ("kama(30)", "kama_30"),
        ("ad()", "ad"),
        ("adosc(3, 10)", "adosc_3_10"),
        ("bop()", "bop"),
        ("ultosc(7, 14, 28)", "ultosc_7_14_28"),
        ("midprice(14)", "midprice_14"),
        ("midpoint(14)", "midpoint_14"),
        ("linearreg(14)", "linearreg_14"),
        ("linearreg_slope(14)", "linearreg_slope_14"),
        ("linearreg_intercept(14)", "linearreg_intercept_14"),
        ("linearreg_angle(14)", "linearreg_angle_14"),
        ("tsf(14)", "tsf_14"),
        ("var(5)", "var_5"),
    ];
    let timed: Vec<(i64, Bar)> = g.bars.iter().map(|b| (0, *b)).collect();
    for (text, golden_name) in table {
        let (_, expr) = eval::expand(text)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .remove(0);
        let spec = catalogue::lookup(text.split('(').next().unwrap()).unwrap();
        let column = eval::columns(std::slice::from_ref(&expr), &timed).remove(0);
        check(golden_name, &column, &g);
        // The catalogue's warm-up is the first defined bar.
        let Expr::Indicator { params, .. } = &expr else {
            panic!("{text} is an indicator")
        };
        assert_eq!(
            column.iter().position(Option::is_some),
            Some(spec.warm_up(params)),
            "{text}: catalogue warm-up"
        );
        // And through a streaming evaluator, bar by bar.
        let mut ev = eval::Evaluator::for_expr(&expr);
        let streamed: Vec<Option<f64>> =
            timed.iter().map(|(t, b)| ev.update_number(b, *t)).collect();
        assert_eq!(
            streamed, column,
            "{text}: streaming differs from the column"
        );
    }
}

const PATTERNS: [(&str, Pattern); 7] = [
    ("cdl_engulfing", Pattern::Engulfing),
    ("cdl_hammer", Pattern::Hammer),
    ("cdl_doji", Pattern::Doji),
    ("cdl_morningstar", Pattern::MorningStar { penetration: 0.3 }),
    ("cdl_eveningstar", Pattern::EveningStar { penetration: 0.3 }),
    ("cdl_3whitesoldiers", Pattern::ThreeWhiteSoldiers),
    ("cdl_3blackcrows", Pattern::ThreeBlackCrows),
];

/// TA-Lib's integer outputs, exactly (warm-up included), on both series.
#[test]
fn candlestick_patterns_match_talib_exactly() {
    let g = golden();
    for (source, bars) in [("rows", &g.bars), ("candle_rows", &g.candle_bars)] {
        for (name, pattern) in PATTERNS {
            let want: Vec<Option<f64>> = g.candles[source][name]
                .as_array()
                .unwrap_or_else(|| panic!("no golden {source}.{name}"))
                .iter()
                .map(serde_json::Value::as_f64)
                .collect();
            let ours = batch(CandlePattern::new(pattern), bars);
            for (i, (o, w)) in ours.iter().zip(&want).enumerate() {
                assert_eq!(o, w, "{source}.{name}[{i}]: ours {o:?} vs TA-Lib {w:?}");
            }
            assert_eq!(ours.len(), want.len());
            // Through the rule language too: `cdl_engulfing() > 0` style rules read this.
            let text = match pattern {
                Pattern::MorningStar { .. } | Pattern::EveningStar { .. } => format!("{name}(0.3)"),
                _ => format!("{name}()"),
            };
            let (_, expr) = eval::expand(&text).unwrap().remove(0);
            let timed: Vec<(i64, Bar)> = bars.iter().map(|b| (0, *b)).collect();
            assert_eq!(eval::columns(&[expr], &timed).remove(0), want, "{text}");
        }
    }
}

/// The second series exists to make every pattern fire: a test on patterns that never fire
/// would prove nothing.
#[test]
fn every_pattern_fires_in_the_goldens() {
    let g = golden();
    for (name, _) in PATTERNS {
        let values: Vec<f64> = g.candles["candle_rows"][name]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(serde_json::Value::as_f64)
            .collect();
        let hits = values.iter().filter(|v| **v != 0.0).count();
        assert!(hits >= 5, "{name} fires {hits} times");
    }
    let engulfing = &g.candles["candle_rows"]["cdl_engulfing"];
    for grade in [100.0, -100.0, 80.0, -80.0] {
        assert!(
            engulfing
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v.as_f64() == Some(grade)),
            "engulfing never graded {grade}"
        );
    }
}

#[test]
#[should_panic(expected = "sma_20[")]
fn the_comparison_catches_a_wrong_indicator() {
    let g = golden();
    check("sma_20", &run(Wma::new(20), &g), &g);
}

#[test]
#[should_panic(expected = "warm-up differs")]
fn the_comparison_catches_a_wrong_warm_up() {
    let g = golden();
    check("rsi_14", &run(Rsi::new(13), &g), &g);
}
