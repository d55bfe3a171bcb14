//! Indicator columns on polars DataFrames: per security, null during warm-up, the streaming
//! values to the bit, and clear errors.
#![cfg(feature = "polars")]

use experiment_indicators::frame::{with_indicators, FrameError};
use experiment_indicators::{batch, Bar, Indicator, Macd, Rsi};
use polars::prelude::*;

fn walk(n: usize, start: f64, step: f64) -> Vec<f64> {
    (0..n)
        .map(|i| start + (i as f64 * step).sin() * 5.0 + i as f64 * 0.1)
        .collect()
}

fn bars_of(close: &[f64]) -> Vec<Bar> {
    close
        .iter()
        .map(|&c| Bar {
            open: c,
            high: c + 1.0,
            low: c - 1.0,
            close: c,
            volume: 1000.0,
        })
        .collect()
}

fn f64s(df: &DataFrame, name: &str) -> Vec<Option<f64>> {
    df.column(name).unwrap().f64().unwrap().iter().collect()
}

fn bits(v: &[Option<f64>]) -> Vec<Option<u64>> {
    v.iter().map(|x| x.map(f64::to_bits)).collect()
}

/// Two securities with interleaved rows.
fn frame() -> (DataFrame, Vec<f64>, Vec<f64>) {
    let a = walk(60, 100.0, 0.3);
    let b = walk(60, 500.0, 0.7);
    let mut code = Vec::new();
    let mut close = Vec::new();
    for i in 0..60 {
        code.extend(["2330", "2317"]);
        close.extend([a[i], b[i]]);
    }
    let high: Vec<f64> = close.iter().map(|c| c + 1.0).collect();
    let low: Vec<f64> = close.iter().map(|c| c - 1.0).collect();
    let df = df!(
        "Code" => code,
        "Open" => close.clone(),
        "High" => high,
        "Low" => low,
        "Close" => close,
        "Volume" => vec![1000.0; 120],
    )
    .unwrap();
    (df, a, b)
}

#[test]
fn columns_are_computed_per_security_with_the_streaming_values() {
    let (df, a, b) = frame();
    let out = with_indicators(&df, &["rsi(14)", "macd(12, 26, 9)"], Some("Code")).unwrap();
    assert_eq!(out.height(), 120);
    let rsi = f64s(&out, "rsi(14)");
    let rsi_a: Vec<Option<f64>> = rsi.iter().step_by(2).copied().collect();
    let rsi_b: Vec<Option<f64>> = rsi.iter().skip(1).step_by(2).copied().collect();
    assert_eq!(bits(&rsi_a), bits(&batch(Rsi::new(14), &bars_of(&a))));
    assert_eq!(bits(&rsi_b), bits(&batch(Rsi::new(14), &bars_of(&b))));
    assert_eq!(
        rsi_a.iter().position(Option::is_some),
        Some(Rsi::new(14).warm_up())
    );

    let signal = f64s(&out, "macd(12, 26, 9).signal");
    let want: Vec<Option<f64>> = batch(Macd::new(12, 26, 9), &bars_of(&b))
        .iter()
        .map(|v| v.map(|v| v.signal))
        .collect();
    let got: Vec<Option<f64>> = signal.iter().skip(1).step_by(2).copied().collect();
    assert_eq!(bits(&got), bits(&want));
    for name in ["macd(12, 26, 9).macd", "macd(12, 26, 9).histogram"] {
        assert!(out.column(name).is_ok(), "{name}");
    }
    // Warm-up cells are null, not 0.
    assert_eq!(out.column("rsi(14)").unwrap().null_count(), 2 * 14);

    // Without `over`, the frame is one series: values differ from the per-code ones.
    let mixed = with_indicators(&df, &["rsi(14)"], None).unwrap();
    assert_ne!(bits(&f64s(&mixed, "rsi(14)")), bits(&rsi));
}

#[test]
fn any_numeric_expression_is_a_column() {
    let (df, a, _) = frame();
    let out = with_indicators(&df, &["sma(close, 5) - sma(close, 10)"], Some("Code")).unwrap();
    let v = f64s(&out, "sma(close, 5) - sma(close, 10)");
    let last_a = v[118].unwrap();
    let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
    assert!((last_a - (mean(&a[55..]) - mean(&a[50..]))).abs() < 1e-9);
}

#[test]
fn only_the_columns_an_expression_reads_are_required() {
    let df = df!("close" => [1.0, 2.0, 3.0, 4.0]).unwrap();
    let out = with_indicators(&df, &["sma(close, 2)"], None).unwrap();
    assert_eq!(
        f64s(&out, "sma(close, 2)"),
        [None, Some(1.5), Some(2.5), Some(3.5)]
    );
    let err = with_indicators(&df, &["atr(14)"], None).unwrap_err();
    assert!(matches!(err, FrameError::MissingColumn { .. }));
    assert!(err.to_string().contains("'atr(14)' reads 'open'"), "{err}");
    let err = with_indicators(&df, &["rsx(14)"], None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "'rsx(14)': column 1: unknown indicator 'rsx' (did you mean 'rsi'?)"
    );
    let err = with_indicators(&df, &["sma(close, 2)"], Some("code")).unwrap_err();
    assert!(matches!(err, FrameError::Polars(_)), "{err}");
}

#[test]
fn conditions_are_boolean_columns_and_a_date_column_is_their_clock() {
    // Lows 8, 9, 9.2, 11, 9.5 on May 1, 2, 3, 4 and 6: on the 6th, 9.5 is below every low of
    // the 3 days before (11 on the 4th); counted as rows a day apart it is not (9.2 on row 2).
    let days = Series::new("date".into(), [20209i32, 20210, 20211, 20212, 20214])
        .cast(&DataType::Date)
        .unwrap();
    let lows = [8.0, 9.0, 9.2, 11.0, 9.5];
    let df = DataFrame::new(
        5,
        vec![
            days.into(),
            Series::new("low".into(), lows).into(),
            Series::new("close".into(), lows).into(),
        ],
    )
    .unwrap();
    let out = with_indicators(&df, &["new_low(3d)", "close > sma(close, 2)"], None).unwrap();
    let new_low: Vec<Option<bool>> = out
        .column("new_low(3d)")
        .unwrap()
        .bool()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(new_low[4], Some(true), "{new_low:?}");
    let above: Vec<Option<bool>> = out
        .column("close > sma(close, 2)")
        .unwrap()
        .bool()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(
        above,
        [None, Some(true), Some(true), Some(true), Some(false)]
    );

    let undated = df.drop("date").unwrap();
    let out = with_indicators(&undated, &["new_low(3d)"], None).unwrap();
    let new_low: Vec<Option<bool>> = out
        .column("new_low(3d)")
        .unwrap()
        .bool()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(new_low[4], Some(false), "{new_low:?}");

    let err = with_indicators(
        &df!("date" => ["x"], "close" => [1.0]).unwrap(),
        &["sma(close, 1)"],
        None,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("time column 'date' is str"),
        "{err}"
    );
}

#[test]
fn talib_names_and_candle_patterns_are_columns_too() {
    use experiment_indicators::{AroonOsc, CandlePattern, Dmi, Pattern};
    let (df, a, _) = frame();
    let out = with_indicators(
        &df,
        &[
            "adx(5)",
            "aroonosc(5)",
            "stochrsi(6, 3, 3)",
            "cdl_doji()",
            "cdl_doji() > 0",
        ],
        Some("Code"),
    )
    .unwrap();
    let rows_of_a =
        |name: &str| -> Vec<Option<f64>> { f64s(&out, name).into_iter().step_by(2).collect() };
    let bars = bars_of(&a);
    let adx: Vec<Option<f64>> = batch(Dmi::new(5), &bars)
        .into_iter()
        .map(|v| v.and_then(|v| v.adx))
        .collect();
    assert_eq!(bits(&rows_of_a("adx(5)")), bits(&adx));
    assert_eq!(
        bits(&rows_of_a("aroonosc(5)")),
        bits(&batch(AroonOsc::new(5), &bars))
    );
    assert!(out.column("stochrsi(6, 3, 3).d").is_ok(), "every output");
    let doji = batch(CandlePattern::new(Pattern::Doji), &bars);
    assert_eq!(rows_of_a("cdl_doji()"), doji);
    let fired: Vec<Option<bool>> = out
        .column("cdl_doji() > 0")
        .unwrap()
        .bool()
        .unwrap()
        .iter()
        .step_by(2)
        .collect();
    assert_eq!(
        fired,
        doji.iter().map(|v| v.map(|v| v > 0.0)).collect::<Vec<_>>()
    );
    // Open equals close on every bar of this frame: all dojis once warmed up.
    assert!(doji[10..].iter().all(|v| *v == Some(100.0)));
}
