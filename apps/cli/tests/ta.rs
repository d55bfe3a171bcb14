//! `experiment ta` and `experiment backtest` on a CSV of the recorded 2330 May 2015 bars.

use std::process::Command;

fn csv_file(dir: &std::path::Path) -> std::path::PathBuf {
    // The recorded STOCK_DAY rows of 2330, May 2015 (date, OHLC, volume), plus a column the
    // commands must ignore and headers in mixed case.
    let rows = [
        ("2015-05-04", 148.5, 148.5, 146.0, 147.5, 30868640),
        ("2015-05-05", 147.5, 148.0, 146.0, 147.0, 27789400),
        ("2015-05-06", 145.5, 148.0, 145.5, 147.5, 18824208),
        ("2015-05-07", 146.0, 147.5, 146.0, 146.5, 21908150),
        ("2015-05-08", 146.0, 147.5, 146.0, 146.5, 20035646),
        ("2015-05-11", 149.0, 149.0, 147.0, 148.5, 20402529),
        ("2015-05-12", 147.0, 148.5, 147.0, 147.5, 24956498),
    ];
    let mut text = String::from("Date,Open,High,Low,Close,Volume,Note\n");
    for (d, o, h, l, c, v) in rows {
        text.push_str(&format!("{d},{o},{h},{l},{c},{v},x\n"));
    }
    let path = dir.join("bars.csv");
    std::fs::write(&path, text).unwrap();
    path
}

fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_experiment"))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn ta_writes_one_column_per_output_and_empty_warm_up_cells() {
    let dir = tempfile::tempdir().unwrap();
    let input = csv_file(dir.path());
    let (ok, out, err) = run(&[
        "ta",
        "--input",
        input.to_str().unwrap(),
        "--indicator",
        "sma(3)",
        "--indicator",
        "bbands(3,2)",
        "--indicator",
        "macd(2,3,2).signal",
    ]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    // Names with commas are quoted, as CSV requires.
    assert_eq!(
        lines[0],
        r#"date,sma(3),"bbands(3,2).middle","bbands(3,2).upper","bbands(3,2).lower","macd(2,3,2).signal""#
    );
    assert_eq!(lines[1], "2015-05-04,,,,,", "warm-up is empty, never 0");
    let third: Vec<&str> = lines[3].split(',').collect();
    assert_eq!(third[0], "2015-05-06");
    let sma: f64 = third[1].parse().unwrap();
    assert!((sma - (147.5 + 147.0 + 147.5) / 3.0).abs() < 1e-12, "{sma}");
    assert_eq!(lines.len(), 8);

    let (ok, out, _) = run(&[
        "ta",
        "--input",
        input.to_str().unwrap(),
        "--indicator",
        "rsi(3)",
        "--format",
        "json",
    ]);
    assert!(ok);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(json[2]["rsi(3)"].is_null());
    assert!(json[3]["rsi(3)"].as_f64().is_some());
}

#[test]
fn backtest_lists_the_dates_where_the_rule_fired() {
    let dir = tempfile::tempdir().unwrap();
    let input = csv_file(dir.path());
    let (ok, out, err) = run(&[
        "backtest",
        "--input",
        input.to_str().unwrap(),
        "--rule",
        "close > close[1]",
    ]);
    assert!(ok, "{err}");
    assert_eq!(out, "date,close\n2015-05-06,147.5\n2015-05-11,148.5\n");
    let (ok, _, err) = run(&[
        "backtest",
        "--input",
        input.to_str().unwrap(),
        "--rule",
        "close > sma(close, 3",
    ]);
    assert!(!ok);
    assert!(
        err.contains("--rule: column 21: expected ',' or ')'"),
        "{err}"
    );
    let (ok, _, err) = run(&[
        "ta",
        "--input",
        "/nonexistent.csv",
        "--indicator",
        "rsi(14)",
    ]);
    assert!(!ok && err.contains("/nonexistent.csv"), "{err}");
}
