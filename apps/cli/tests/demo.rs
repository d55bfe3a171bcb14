//! The offline demo, as a library call and as the real binary.

use std::process::Command;

use experiment_cli::demo::{run, DemoArgs};

fn args(dir: Option<&std::path::Path>) -> DemoArgs {
    DemoArgs {
        data_dir: dir.map(Into::into),
        ..DemoArgs::new()
    }
}

#[tokio::test]
async fn the_demo_runs_the_pipeline_and_a_rerun_records_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let first = run(&args(Some(dir.path()))).await.unwrap();
    assert_eq!(first.bars, 31, "20 bars of May 2015 and 11 of May 2025");
    assert_eq!(first.quotes, 12, "the recorded MIS snapshots");
    assert_eq!(first.published, 31 + first.quotes);
    assert_eq!(first.processed, 31 + first.quotes);
    assert_eq!(first.skipped_events.len(), 1, "the injected poison event");
    assert!(
        first.skipped_events[0].contains("cannot decode"),
        "{:?}",
        first.skipped_events
    );
    // With the stored history of April 2015 behind them, 2015-05-04, -06, -15 and -21 set
    // new 7-day lows (checked against the CSV: 5/04's low 146.00 is under 4/30's 146.50);
    // May 2025 never spans a full window after the gap since 2020, so it cannot claim one.
    assert_eq!(first.new_alerts, 4);
    assert_eq!(first.delivered, 4);
    assert_eq!(first.loaded.history_codes, 30);
    assert_eq!(first.loaded.market_days, 3);

    let second = run(&args(Some(dir.path()))).await.unwrap();
    assert_eq!(second.new_alerts, 0, "alerts are idempotent across runs");
    assert_eq!(second.delivered, 0, "nothing is delivered twice");
    assert_eq!(second.total_alerts, 4);
    assert_eq!(
        second.loaded, first.loaded,
        "the reference data loads the same again"
    );
}

#[test]
fn the_binary_prints_the_alerts_and_the_summary() {
    let out = Command::new(env!("CARGO_BIN_EXE_experiment"))
        .args(["demo", "--once", "--log", "error"])
        .env_remove("EXPERIMENT_DATA_DIR")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("[2015-05-15] 2330 new 7d low"), "{stdout}");
    assert!(stdout.contains("[2015-05-04] 2330 new 7d low"), "{stdout}");
    assert!(stdout.contains("recorded 4 new alerts"), "{stdout}");
    assert!(
        stdout.contains("skipped: experiment.bars.daily.v1/"),
        "{stdout}"
    );
}

#[test]
fn bad_arguments_fail_with_a_message() {
    let out = Command::new(env!("CARGO_BIN_EXE_experiment"))
        .args(["demo", "--window", "1y"])
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--window '1y': unit must be m, h or d"),
        "{stderr}"
    );
}

#[tokio::test]
async fn the_demo_runs_any_rule_of_the_language() {
    let mut a = args(None);
    a.rule = Some("crosses_below(close, sma(close, 5))".into());
    let report = run(&a).await.unwrap();
    assert_eq!(report.processed, 31 + report.quotes);
    assert!(
        report.new_alerts > 0,
        "2330 crossed below its 5-day average in May 2015: {report:?}"
    );
    assert_eq!(report.delivered, report.new_alerts);
    a.rule = Some("close >> 3".into());
    let err = run(&a).await.unwrap_err().to_string();
    assert!(err.starts_with("--rule: column 8:"), "{err}");
}
