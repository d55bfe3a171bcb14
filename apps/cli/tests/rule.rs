//! `experiment rule check`.

use std::process::Command;

fn check(expr: &str) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_experiment"))
        .args(["rule", "check", expr])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_valid_rule_prints_its_canonical_form() {
    let (code, out, _) = check("crosses_above(sma(close,5), sma(close,20)) and rsi(14) < 70");
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "crosses_above(sma(close, 5), sma(close, 20)) and rsi(close, 14) < 70\n"
    );
}

#[test]
fn a_wrong_rule_is_pointed_at_and_exits_2() {
    let (code, out, err) = check("close > 0 and rsx(14) < 30");
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert_eq!(err, "close > 0 and rsx(14) < 30\n              ^\ncolumn 15: unknown indicator 'rsx' (did you mean 'rsi'?)\n");
}
