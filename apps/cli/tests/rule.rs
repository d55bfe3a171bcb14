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

/// `experiment rule ...` on the embedded store in `dir`, with a config naming a destination.
fn rule_cmd(dir: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let config = dir.join("experiment.toml");
    if !config.exists() {
        std::fs::write(
            &config,
            format!(
                "[store]\ndata_dir = {:?}\n\n[[destinations]]\nname = \"desk\"\nkind = \"console\"\n",
                dir.join("data")
            ),
        )
        .unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_experiment"))
        .arg("rule")
        .args(args)
        .arg("--config")
        .arg(&config)
        .env("RUST_BACKTRACE", "0")
        .env_remove("EXPERIMENT_DATA_DIR")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn rules_are_managed_in_the_configured_store_without_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, _) = rule_cmd(dir.path(), &["list"]);
    assert_eq!(code, 0);
    assert!(out.contains("no rules yet"), "{out}");

    let (code, out, err) = rule_cmd(
        dir.path(),
        &[
            "add",
            "oversold",
            "rsi(14) < 30",
            "--codes",
            "2330,2317",
            "--destination",
            "desk",
            "--frequency",
            "once-per-bar",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "saved rule 'oversold': rsi(close, 14) < 30\n");

    // the same id again is refused unless replaced
    let (code, _, err) = rule_cmd(dir.path(), &["add", "oversold", "rsi(14) < 25"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("a rule 'oversold' exists; pass --replace"),
        "{err}"
    );

    let (code, out, _) = rule_cmd(dir.path(), &["list"]);
    assert_eq!(code, 0);
    let row = out.lines().find(|l| l.starts_with("oversold")).unwrap();
    assert!(
        row.contains("yes") && row.contains("once_per_bar") && row.contains("2330,2317"),
        "{out}"
    );

    let (code, out, _) = rule_cmd(dir.path(), &["disable", "oversold"]);
    assert_eq!((code, out.as_str()), (0, "rule 'oversold' disabled\n"));
    let (_, out, _) = rule_cmd(dir.path(), &["show", "oversold"]);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["enabled"], false);
    assert_eq!(json["canonical"], "rsi(close, 14) < 30");
    assert_eq!(json["destinations"][0], "desk");
    let (code, out, _) = rule_cmd(dir.path(), &["enable", "oversold"]);
    assert_eq!((code, out.as_str()), (0, "rule 'oversold' enabled\n"));

    let (code, out, _) = rule_cmd(dir.path(), &["rm", "oversold"]);
    assert_eq!((code, out.as_str()), (0, "deleted rule 'oversold'\n"));
    let (code, _, err) = rule_cmd(dir.path(), &["show", "oversold"]);
    assert_ne!(code, 0);
    assert!(err.contains("no rule 'oversold'"), "{err}");
}

#[test]
fn a_bad_rule_or_destination_is_refused_with_where() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = rule_cmd(dir.path(), &["add", "r1", "rsi < 30"]);
    assert_ne!(code, 0);
    // the expression with a caret, and what to write instead
    assert!(err.contains("  rsi < 30\n  ^"), "{err}");
    assert!(err.contains("needs parentheses"), "{err}");
    let (code, _, err) = rule_cmd(
        dir.path(),
        &["add", "r1", "rsi(14) < 30", "--destination", "nowhere"],
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("no destination is called 'nowhere' (known: desk)"),
        "{err}"
    );
    let (code, _, err) = rule_cmd(
        dir.path(),
        &["add", "r1", "close > 1", "--message", "{{clsoe}}"],
    );
    assert_ne!(code, 0);
    assert!(err.contains("unknown placeholder"), "{err}");
    // nothing was saved
    let (_, out, _) = rule_cmd(dir.path(), &["list"]);
    assert!(out.contains("no rules yet"), "{out}");
}
