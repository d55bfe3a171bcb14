//! The example runs offline and prints what it says.

use std::process::Command;

#[test]
fn the_custom_indicator_example_runs_on_recorded_data() {
    let out = Command::new(env!("CARGO_BIN_EXE_example-custom-indicator"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("rule: crosses_above(close, hma(close, 4))"),
        "{stdout}"
    );
    // 20 trading days; hma(4) warms up for 4 - 1 + 2 - 1 = 4 bars.
    let rows: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("2015-05-"))
        .collect();
    assert_eq!(rows.len(), 20);
    let defined: Vec<bool> = rows
        .iter()
        .map(|r| r.split_whitespace().count() == 3)
        .collect();
    assert_eq!(defined.iter().position(|d| *d), Some(4), "{stdout}");
    assert!(rows[4].ends_with("146.39"), "{}", rows[4]);
    assert_eq!(fired(&stdout), 4, "{stdout}");
    assert!(stdout.contains("  2015-05-13 close 148"), "{stdout}");
}

#[test]
fn a_wrong_parameter_of_the_custom_indicator_is_pointed_at() {
    let out = Command::new(env!("CARGO_BIN_EXE_example-custom-indicator"))
        .arg("hma(close, 1) > close")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("column 12: hma parameter 'period' must be a whole number from 2 to 1000"),
        "{stderr}"
    );
}

fn fired(stdout: &str) -> usize {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("fired on "))
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap()
}
