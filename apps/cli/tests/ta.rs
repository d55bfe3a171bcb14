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
        "--format",
        "csv",
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
        "--format",
        "csv",
    ]);
    assert!(ok, "{err}");
    // with the close-to-close return 1, 5 and 20 bars later (empty past the end)
    assert_eq!(
        out,
        format!(
            "date,close,return_1,return_5,return_20\n2015-05-06,147.5,{},,\n2015-05-11,148.5,{},,\n",
            (146.5f64 / 147.5 - 1.0) * 100.0,
            (147.5f64 / 148.5 - 1.0) * 100.0
        )
    );
    let (ok, _, err) = run(&[
        "backtest",
        "--input",
        input.to_str().unwrap(),
        "--rule",
        "close > sma(close, 3",
    ]);
    assert!(!ok);
    // the rule, with a caret under the column at fault
    assert!(
        err.contains("--rule: column 21: expected ',' or ')'")
            && err.contains("\n  close > sma(close, 3\n                      ^"),
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

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

/// Closes 10, 11, ..., rising every day but one: a dip on 2024-01-08.
const RISING: &str = "date,open,high,low,close,volume
2024-01-02,10,10,10,10,100
2024-01-03,11,11,11,11,100
2024-01-04,12,12,12,12,100
2024-01-05,13,13,13,13,100
2024-01-08,12,12,12,12,100
2024-01-09,14,14,14,14,100
2024-01-10,15,15,15,15,100
";

#[test]
fn rows_newest_first_are_sorted_with_a_note() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines: Vec<&str> = RISING.lines().collect();
    lines[1..].reverse();
    let reversed = write(dir.path(), "rev.csv", &(lines.join("\n") + "\n"));
    let sorted = write(dir.path(), "sorted.csv", RISING);
    // Before: a reversed file fired on days where the sorted data has no rise.
    let rule = "close > close[1]";
    let (ok, rev_out, err) = run(&[
        "backtest", "--input", &reversed, "--rule", rule, "--format", "csv",
    ]);
    assert!(ok, "{err}");
    assert!(err.contains("newest first; sorted 7 bars by date"), "{err}");
    let (_, sorted_out, _) = run(&[
        "backtest", "--input", &sorted, "--rule", rule, "--format", "csv",
    ]);
    assert_eq!(rev_out, sorted_out);
    assert!(!rev_out.contains("2024-01-08"), "{rev_out}");
}

#[test]
fn a_date_given_twice_is_rejected_with_both_lines() {
    let dir = tempfile::tempdir().unwrap();
    let text = RISING.replace("2024-01-09", "2024-01-05");
    let input = write(dir.path(), "dup.csv", &text);
    let (ok, _, err) = run(&["ta", "--input", &input, "--indicator", "sma(2)"]);
    assert!(!ok);
    assert!(
        err.contains("line 7: 2024-01-05 is already on line 5; one bar per date"),
        "{err}"
    );
}

#[test]
fn roc_and_compact_dates_are_read_as_the_exchange_writes_them() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(
        dir.path(),
        "roc.csv",
        "日期,close\n114/05/02,950\n1140505,960\n20250506,970\n",
    );
    // the header is `date` in any case; here it is missing
    let (ok, _, err) = run(&["ta", "--input", &input, "--indicator", "sma(2)"]);
    assert!(!ok && err.contains("no 'date' column"), "{err}");
    let input = write(
        dir.path(),
        "roc.csv",
        "Date,Close\n114/05/02,950\n1140505,960\n20250506,970\n",
    );
    let (ok, out, err) = run(&[
        "ta",
        "--input",
        &input,
        "--indicator",
        "sma(2)",
        "--format",
        "csv",
    ]);
    assert!(ok, "{err}");
    // before: ROC 114 became the year 0114
    assert_eq!(
        out,
        "date,sma(2)\n2025-05-02,\n2025-05-05,955\n2025-05-06,965\n"
    );
}

#[test]
fn only_the_columns_the_indicators_read_are_required() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(
        dir.path(),
        "close.csv",
        "date,close\n2024-01-02,10\n2024-01-03,12\n",
    );
    let (ok, out, err) = run(&[
        "ta",
        "--input",
        &input,
        "--indicator",
        "sma(2)",
        "--format",
        "csv",
    ]);
    assert!(ok, "{err}");
    assert_eq!(out, "date,sma(2)\n2024-01-02,\n2024-01-03,11\n");
    // an indicator that reads high and low says which column is missing
    let (ok, _, err) = run(&["ta", "--input", &input, "--indicator", "atr(14)"]);
    assert!(!ok);
    assert!(
        err.contains("no 'open', 'high', 'low', 'volume' columns (columns: date, close)"),
        "{err}"
    );
}

#[test]
fn input_dash_reads_standard_input() {
    use std::io::Write as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_experiment"))
        .args([
            "ta",
            "--input",
            "-",
            "--indicator",
            "sma(2)",
            "--format",
            "json",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"date,close\n2024-01-02,10\n2024-01-03,12\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json[1]["sma(2)"], 11.0);
}

#[test]
fn backtest_reports_forward_returns_and_the_hit_rate() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "rising.csv", RISING);
    let (ok, out, err) = run(&[
        "backtest",
        "--input",
        &input,
        "--rule",
        "close > close[1]",
        "--horizons",
        "1,2",
    ]);
    assert!(ok, "{err}");
    // firings: 01-03 (11→12: +9.09%), 01-04 (12→13), 01-05 (13→12: -7.69%), 01-09, 01-10
    assert!(
        out.contains("5 firings over 7 bars (2024-01-02 to 2024-01-10)"),
        "{out}"
    );
    assert!(out.contains("-7.69%"), "{out}");
    // +1 bar: 4 firings have a next bar, 3 of them gains; +2 bars: 3 have one, and
    // 01-04 → 01-08 is flat (12 → 12), not a gain
    assert!(out.contains("75.0% (3/4)"), "{out}");
    assert!(out.contains("66.7% (2/3)"), "{out}");
    let (ok, out, _) = run(&[
        "backtest",
        "--input",
        &input,
        "--rule",
        "close > close[1]",
        "--format",
        "json",
    ]);
    assert!(ok);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["firings"].as_array().unwrap().len(), 5);
    assert_eq!(json["summary"][0]["horizon"], 1);
    assert_eq!(json["summary"][0]["wins"], 3);
    assert!(json["firings"][4]["forward_returns"]["1"].is_null());
}

#[test]
fn a_user_error_is_a_message_even_with_backtraces_on_and_a_closed_pipe_is_quiet() {
    let out = Command::new(env!("CARGO_BIN_EXE_experiment"))
        .args([
            "ta",
            "--input",
            "/nonexistent.csv",
            "--indicator",
            "rsi(14)",
        ])
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.starts_with("Error: opening /nonexistent.csv"), "{err}");
    assert!(
        !err.contains("Stack backtrace") && !err.contains("backtrace"),
        "{err}"
    );

    // A reader that stops early (`| head -1`) ends the command quietly.
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("date,close\n");
    let start = chrono::NaiveDate::from_ymd_opt(2000, 1, 1).unwrap();
    for i in 0..20_000 {
        text.push_str(&format!(
            "{},{}\n",
            start + chrono::Days::new(i),
            100 + i % 7
        ));
    }
    let input = write(dir.path(), "long.csv", &text);
    let mut child = Command::new(env!("CARGO_BIN_EXE_experiment"))
        .args(["ta", "--input", &input, "--indicator", "sma(5)"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 16];
    std::io::Read::read_exact(&mut stdout, &mut first).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("Broken pipe") && !err.contains("panicked"),
        "{err}"
    );
}
