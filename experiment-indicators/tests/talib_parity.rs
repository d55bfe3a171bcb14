//! Parity with TA-Lib 0.8.2 on a 600-bar series: the goldens in tests/golden were written by
//! scripts/talib_goldens.py (see its header to regenerate). Warm-up must match exactly (TA-Lib's
//! NaN ⇔ our None), and values agree to 1e-9 relative (absolute below 1).

use experiment_indicators::*;

struct Golden {
    bars: Vec<Bar>,
    series: serde_json::Map<String, serde_json::Value>,
}

fn golden() -> Golden {
    let dir = format!("{}/tests/golden", env!("CARGO_MANIFEST_DIR"));
    let input: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{dir}/input.json")).unwrap())
            .unwrap();
    let bars = input["rows"]
        .as_array()
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
        .collect();
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
