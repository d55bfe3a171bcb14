//! `experiment indicators`: the catalogue as users read it.

use std::process::Command;

fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_experiment"))
        .arg("indicators")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_catalogue_lists_names_parameters_outputs_and_warm_up() {
    let (ok, out, err) = run(&["--format", "json"]);
    assert!(ok, "{err}");
    let items: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let macd = items.iter().find(|i| i["name"] == "macd").unwrap();
    assert_eq!(macd["example"], "macd(close, 12, 26, 9)");
    assert_eq!(
        macd["outputs"],
        serde_json::json!(["macd", "signal", "histogram"])
    );
    assert_eq!(macd["params"][0]["default"], 12.0);
    assert_eq!(macd["params"][0]["kind"], "period");
    // TA-Lib's MACD lookback with the defaults: 25 + 8
    assert_eq!(macd["warm_up_bars"], 33);
    // TA-Lib users find its names
    for name in [
        "adx", "sar", "aroon", "natr", "trix", "stochrsi", "ppo", "kama",
    ] {
        assert!(items.iter().any(|i| i["name"] == name), "no {name}");
    }
    assert!(items.len() >= 45, "{} indicators", items.len());

    let (ok, out, _) = run(&["bband"]);
    assert!(ok);
    assert!(
        out.contains("bbands") && out.contains("middle, upper, lower"),
        "{out}"
    );
    assert!(!out.contains("rsi"), "only what matches: {out}");
    let (ok, _, err) = run(&["nosuch"]);
    assert!(
        !ok && err.contains("no indicator matches 'nosuch'"),
        "{err}"
    );
}
