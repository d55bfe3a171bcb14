//! The `experiment-api` binary: configuration errors name the key, it serves, and SIGTERM
//! stops it cleanly.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn a_bad_configuration_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("experiment.toml");
    std::fs::write(&path, "[api]\nlisten = \"not an address\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_experiment-api"))
        .arg("--config")
        .arg(&path)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("experiment.toml: api.listen"), "{stderr}");
}

#[tokio::test]
async fn it_serves_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_experiment-api"))
        .args(["--listen", "127.0.0.1:0", "--log", "info"])
        .env("EXPERIMENT_DATA_DIR", dir.path())
        .env("EXPERIMENT_API_KEYS", "binary-test-key-0123456789")
        .env_remove("EXPERIMENT_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(at) = line.find("addr=") {
                let addr: String = line[at + 5..]
                    .chars()
                    .take_while(|c| !c.is_whitespace())
                    .collect();
                let _ = tx.send(addr);
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the API says where it listens");
    let client = reqwest::Client::new();
    let health = client
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let ready = client
        .get(format!("http://{addr}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        ready.status(),
        200,
        "embedded store, memory cache and bus answer"
    );
    let created = client
        .post(format!("http://{addr}/v1/rules"))
        .bearer_auth("binary-test-key-0123456789")
        .json(&serde_json::json!({"id": "r1", "expression": "rsi(14) < 30"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    let logs = reader.join().unwrap();
    assert!(exit.success(), "clean exit on SIGTERM: {exit:?}\n{logs}");
    assert!(logs.contains("experiment-api stopped"), "{logs}");
    assert!(!logs.contains("binary-test-key"), "the key is never logged");
}
