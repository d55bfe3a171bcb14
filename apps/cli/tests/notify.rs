//! `experiment notify test` against a local mock Slack webhook.

use std::process::{Command, Output};

use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn run(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_experiment"))
            .args(&args)
            .env("RUST_BACKTRACE", "0")
            .env_remove("EXPERIMENT_NOTIFY_URL")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

/// `experiment notify test team --kind KIND --url URL`.
async fn test_described(kind: &str, url: String) -> Output {
    run(vec![
        "notify".into(),
        "test".into(),
        "team".into(),
        "--kind".into(),
        kind.into(),
        "--url".into(),
        url,
    ])
    .await
}

#[tokio::test]
async fn a_working_webhook_reports_delivered() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/services/T/B/SECRET"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .expect(1)
        .mount(&server)
        .await;
    let url = format!("{}/services/T/B/SECRET", server.uri());
    let out = test_described("slack-webhook", url).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("delivered a test alert to 'team'"),
        "{stdout}"
    );
}

#[tokio::test]
async fn a_dead_channel_says_permanent_and_hides_the_url() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(410).set_body_string("channel_is_archived"))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("experiment.toml");
    std::fs::write(&config, format!("[[destinations]]\nname = \"old\"\nkind = \"slack_webhook\"\nurl = \"{}/services/T/B/SECRET\"\n", server.uri())).unwrap();
    let out = run(vec![
        "notify".into(),
        "test".into(),
        "old".into(),
        "--config".into(),
        config.display().to_string(),
    ])
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("'old' refused the message permanently")
            && stderr.contains("channel_is_archived"),
        "{stderr}"
    );
    assert!(!stderr.contains("SECRET"), "{stderr}");

    let out = run(vec![
        "notify".into(),
        "test".into(),
        "nope".into(),
        "--config".into(),
        config.display().to_string(),
    ])
    .await;
    assert!(String::from_utf8_lossy(&out.stderr).contains("no destination named 'nope'"));
}

#[tokio::test]
async fn a_short_rate_limit_is_waited_out_and_the_toml_spelling_of_the_kind_works() {
    let server = MockServer::start().await;
    // The first request is told to wait a second (Slack's 429); the next one is accepted.
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "1")
                .set_body_string("rate_limited"),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&server)
        .await;
    let out = test_described(
        "slack_webhook",
        format!("{}/services/T/B/SECRET", server.uri()),
    )
    .await;
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("delivered a test alert to 'team'"),
        "{stdout}"
    );
}

#[tokio::test]
async fn an_unreachable_destination_names_the_host_and_the_cause() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = test_described(
        "slack-webhook",
        format!("http://127.0.0.1:{port}/services/T/B/SECRET"),
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!("127.0.0.1:{port}")) && stderr.to_lowercase().contains("refused"),
        "{stderr}"
    );
    assert!(!stderr.contains("SECRET"), "{stderr}");
}
