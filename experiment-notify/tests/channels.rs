//! Every channel against a local mock server: request shape, success, 429 with Retry-After,
//! 5xx retry then success, permanent errors without retry, timeouts, size limits, secrets.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use experiment_core::model::{Alert, AlertId, Notification, RuleId, SecurityCode};
use experiment_core::{Error, Notifier};
use experiment_notify::discord::Discord;
use experiment_notify::slack::{blocks_message, SlackBot, SlackWebhook};
use experiment_notify::telegram::Telegram;
use experiment_notify::webhook::{
    verify, Webhook, IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER,
};
use experiment_notify::{Backoff, DestinationConfig, Retrying, Secret};
use serde_json::Value;
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const T: Duration = Duration::from_secs(3);

fn alert() -> Alert {
    let rule = RuleId::new("rsi-oversold").unwrap();
    let code = SecurityCode::new("2330").unwrap();
    let at = Utc.with_ymd_and_hms(2025, 5, 2, 5, 30, 0).unwrap();
    Alert {
        id: AlertId::derive(&rule, &code, at),
        rule_id: rule,
        rule_name: "RSI < 30".into(),
        code,
        name: Some("台積電".into()),
        bar_time: at,
        triggered_at: at,
        price: Some("938.00".parse().unwrap()),
        change_pct: Some("-1.26".parse().unwrap()),
        message: "2330 <b>oversold</b> & falling".into(),
        values: BTreeMap::from([("rsi(14)".to_owned(), 28.53)]),
        value: None,
        suppressed: false,
    }
}

fn notification() -> Notification {
    Notification::pending(alert(), "dest")
}

fn retrying<N: Notifier>(n: N) -> Retrying<N> {
    Retrying::new(
        n,
        3,
        Backoff {
            base: Duration::from_millis(10),
            max: Duration::from_secs(5),
        },
    )
}

async fn requests(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.unwrap_or_default()
}

fn json_body(r: &Request) -> Value {
    serde_json::from_slice(&r.body).unwrap()
}

// ---------------------------------------------------------------- Slack incoming webhook

#[tokio::test]
async fn slack_webhook_sends_block_kit_with_a_text_fallback() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/services/T1/B1/secret-part"))
        .and(header("content-type", "application/json"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .expect(1)
        .mount(&server)
        .await;
    let url = format!("{}/services/T1/B1/secret-part", server.uri());
    let slack = SlackWebhook::new("team", Secret::new(url), T).unwrap();
    slack.send(&notification()).await.unwrap();
    let body = json_body(&requests(&server).await[0]);
    assert_eq!(body["blocks"][0]["type"], "header");
    assert_eq!(body["blocks"][0]["text"]["text"], "2330 台積電 · RSI < 30");
    assert_eq!(
        body["blocks"][1]["text"]["text"], "2330 &lt;b&gt;oversold&lt;/b&gt; &amp; falling",
        "mrkdwn is escaped"
    );
    let fields: Vec<&str> = body["blocks"][2]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["*Price*\n938.00", "*Change*\n-1.26%", "*rsi(14)*\n28.53"]
    );
    let context = body["blocks"][3]["elements"][0]["text"].as_str().unwrap();
    assert_eq!(
        context,
        "2025-05-02 13:30:00 Asia/Taipei · rule rsi-oversold"
    );
    assert!(body["text"]
        .as_str()
        .unwrap()
        .starts_with("2330 台積電 · RSI < 30: "));
}

#[tokio::test]
async fn slack_429_waits_for_retry_after_then_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&server)
        .await;
    let slack = retrying(
        SlackWebhook::new("team", Secret::new(format!("{}/hook", server.uri())), T).unwrap(),
    );
    let start = Instant::now();
    slack.send(&notification()).await.unwrap();
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "did not wait for Retry-After: {:?}",
        start.elapsed()
    );
    assert_eq!(requests(&server).await.len(), 2);
}

#[tokio::test]
async fn slack_5xx_is_retried_until_success() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503).set_body_string("rollup_error"))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&server)
        .await;
    let slack = retrying(
        SlackWebhook::new("team", Secret::new(format!("{}/hook", server.uri())), T).unwrap(),
    );
    slack.send(&notification()).await.unwrap();
    assert_eq!(requests(&server).await.len(), 3);
}

#[tokio::test]
async fn slack_permanent_errors_are_not_retried_and_name_the_cause() {
    for (status, code) in [
        (404, "channel_not_found"),
        (410, "channel_is_archived"),
        (403, "action_prohibited"),
        (400, "invalid_payload"),
        (404, "no_service"),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(status).set_body_string(code))
            .expect(1)
            .mount(&server)
            .await;
        let url = format!("{}/services/T/B/TOPSECRET", server.uri());
        let slack = retrying(SlackWebhook::new("team", Secret::new(url), T).unwrap());
        let err = slack.send(&notification()).await.unwrap_err();
        assert!(
            matches!(&err, Error::Rejected { reason, .. } if reason.contains(code)),
            "{err:?}"
        );
        assert!(!err.is_transient());
        assert!(
            !format!("{err} {err:?} {slack:?}").contains("TOPSECRET"),
            "a secret leaked: {err:?}"
        );
    }
}

#[tokio::test]
async fn a_timeout_is_a_transient_timeout_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
        .mount(&server)
        .await;
    let slack = SlackWebhook::new(
        "team",
        Secret::new(format!("{}/hook/SECRET", server.uri())),
        Duration::from_millis(200),
    )
    .unwrap();
    let err = slack.send(&notification()).await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert!(err.is_transient());
    assert!(!err.to_string().contains("SECRET"));
}

#[test]
fn oversized_alerts_are_cut_to_slacks_limits_never_rejected() {
    let mut a = alert();
    a.message = "跌".repeat(10_000);
    a.rule_name = "r".repeat(500);
    a.values = (0..700)
        .map(|i| (format!("indicator_{i:03}_{}", "x".repeat(3000)), i as f64))
        .collect();
    let m = blocks_message(&a);
    let blocks = m["blocks"].as_array().unwrap();
    assert!(blocks.len() <= 50, "{} blocks", blocks.len());
    assert_eq!(
        blocks.last().unwrap()["type"],
        "context",
        "the context block survives truncation"
    );
    assert!(blocks[0]["text"]["text"].as_str().unwrap().chars().count() <= 150);
    assert!(blocks[1]["text"]["text"].as_str().unwrap().chars().count() <= 3000);
    for b in blocks.iter().filter(|b| b.get("fields").is_some()) {
        let fields = b["fields"].as_array().unwrap();
        assert!(fields.len() <= 10);
        assert!(fields
            .iter()
            .all(|f| f["text"].as_str().unwrap().chars().count() <= 2000));
    }
    assert!(m["text"].as_str().unwrap().chars().count() <= 4000);
}

// ---------------------------------------------------------------- Slack bot

#[tokio::test]
async fn slack_bot_posts_with_the_token_and_keeps_ts() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/chat.postMessage"))
        .and(header("authorization", "Bearer xoxb-123-SECRET"))
        .and(body_partial_json(
            serde_json::json!({"channel": "C0123456789"}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            serde_json::json!({"ok": true, "channel": "C0123456789", "ts": "1746163800.000100"}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let bot = SlackBot::new(
        "bot",
        Secret::new("xoxb-123-SECRET"),
        "C0123456789",
        Some(format!("{}/api", server.uri())),
        T,
    )
    .unwrap();
    let receipt = bot.send(&notification()).await.unwrap();
    assert_eq!(receipt.id.as_deref(), Some("1746163800.000100"));
    assert!(!format!("{bot:?}").contains("SECRET"));
}

#[tokio::test]
async fn slack_bot_api_errors_are_classified() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_partial_json(serde_json::json!({"channel": "CGONE"})))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"ok": false, "error": "channel_not_found"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(body_partial_json(serde_json::json!({"channel": "CBUSY"})))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "30")
                .set_body_json(serde_json::json!({"ok": false, "error": "ratelimited"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(body_partial_json(serde_json::json!({"channel": "CDOWN"})))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"ok": false, "error": "service_unavailable"})),
        )
        .mount(&server)
        .await;
    let api = Some(format!("{}/api", server.uri()));
    let bot = |ch: &str| {
        retrying(SlackBot::new("bot", Secret::new("xoxb-SECRET"), ch, api.clone(), T).unwrap())
    };

    let err = bot("CGONE").send(&notification()).await.unwrap_err();
    assert!(
        matches!(&err, Error::Rejected { reason, .. } if reason == "channel_not_found"),
        "{err:?}"
    );
    // 30 s is longer than the in-call backoff cap: handed back for the outbox to reschedule
    let err = bot("CBUSY").send(&notification()).await.unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(30)), "{err:?}");
    let err = bot("CDOWN").send(&notification()).await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(!err.to_string().contains("SECRET"));
}

// ---------------------------------------------------------------- generic webhook

#[tokio::test]
async fn webhook_requests_are_signed_and_carry_the_idempotency_key() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/alerts"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let secret = Secret::new("s3cr3t");
    let hook = Webhook::new(
        "mine",
        Secret::new(format!("{}/alerts", server.uri())),
        secret.clone(),
        T,
    )
    .unwrap();
    let n = notification();
    hook.send(&n).await.unwrap();
    let r = &requests(&server).await[0];
    let h = |name: &str| r.headers.get(name).unwrap().to_str().unwrap().to_owned();
    let ts: i64 = h(TIMESTAMP_HEADER).parse().unwrap();
    let sig = h(SIGNATURE_HEADER);
    assert!(verify(
        &secret,
        ts,
        &r.body,
        &sig,
        Utc::now().timestamp(),
        Duration::from_secs(300)
    ));
    assert!(!verify(
        &Secret::new("wrong"),
        ts,
        &r.body,
        &sig,
        Utc::now().timestamp(),
        Duration::from_secs(300)
    ));
    assert!(!verify(
        &secret,
        ts,
        b"tampered",
        &sig,
        Utc::now().timestamp(),
        Duration::from_secs(300)
    ));
    assert!(
        !verify(
            &secret,
            ts,
            &r.body,
            &sig,
            ts + 3600,
            Duration::from_secs(300)
        ),
        "replays are rejected"
    );
    assert_eq!(h(IDEMPOTENCY_HEADER), n.key.to_string());
    let body = json_body(r);
    assert_eq!(body["id"], n.key.to_string());
    assert_eq!(body["alert"]["code"], "2330");
    assert_eq!(body["alert"]["price"], "938.00");
    assert!(!format!("{hook:?}").contains("s3cr3t"));
}

#[tokio::test]
async fn webhook_conflict_means_already_delivered() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(409))
        .mount(&server)
        .await;
    let hook = Webhook::new("mine", Secret::new(server.uri()), Secret::new("k"), T).unwrap();
    assert!(hook.send(&notification()).await.unwrap().duplicate);
}

// ---------------------------------------------------------------- Discord

#[tokio::test]
async fn discord_sends_an_embed_without_mentions_and_honours_429() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(429).set_body_json(serde_json::json!({"message": "You are being rate limited.", "retry_after": 0.25, "global": false})))
        .up_to_n_times(1).with_priority(1).mount(&server).await;
    Mock::given(method("POST"))
        .and(path("/api/webhooks/1/TOKEN"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"id": "1234567890"})),
        )
        .mount(&server)
        .await;
    let d = Discord::new(
        "dc",
        Secret::new(format!("{}/api/webhooks/1/TOKEN", server.uri())),
        T,
    )
    .unwrap();
    let err = d.send(&notification()).await.unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_millis(250)));
    let receipt = retrying(d).send(&notification()).await.unwrap();
    assert_eq!(receipt.id.as_deref(), Some("1234567890"));
    let reqs = requests(&server).await;
    let body = json_body(&reqs[1]);
    assert_eq!(body["allowed_mentions"]["parse"], serde_json::json!([]));
    assert_eq!(body["embeds"][0]["title"], "2330 台積電 · RSI < 30");
    assert_eq!(body["embeds"][0]["fields"][0]["value"], "938.00");
    assert_eq!(reqs[1].url.query(), Some("wait=true"));
}

// ---------------------------------------------------------------- Telegram

#[tokio::test]
async fn telegram_sends_plain_text_and_classifies_errors() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/bot123:SECRET/sendMessage"))
        .and(body_partial_json(serde_json::json!({"chat_id": "42"})))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"ok": true, "result": {"message_id": 77}})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST")).and(body_partial_json(serde_json::json!({"chat_id": "404"})))
        .respond_with(ResponseTemplate::new(400).set_body_json(serde_json::json!({"ok": false, "error_code": 400, "description": "Bad Request: chat not found"})))
        .expect(1).mount(&server).await;
    Mock::given(method("POST")).and(body_partial_json(serde_json::json!({"chat_id": "429"})))
        .respond_with(ResponseTemplate::new(429).set_body_json(serde_json::json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 7", "parameters": {"retry_after": 7}})))
        .mount(&server).await;
    let tg = |chat: &str| {
        Telegram::new("tg", Secret::new("123:SECRET"), chat, Some(server.uri()), T).unwrap()
    };
    let receipt = tg("42").send(&notification()).await.unwrap();
    assert_eq!(receipt.id.as_deref(), Some("77"));
    let text = json_body(&requests(&server).await[0])["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        text.starts_with("2330 台積電 · RSI < 30\n2330 <b>oversold</b> & falling"),
        "{text}"
    );
    let err = retrying(tg("404")).send(&notification()).await.unwrap_err();
    assert!(
        matches!(&err, Error::Rejected { reason, .. } if reason.contains("chat not found")),
        "{err:?}"
    );
    assert!(!format!("{err} {:?}", tg("x")).contains("SECRET"));
    let err = tg("429").send(&notification()).await.unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
}

// ---------------------------------------------------------------- configuration

#[test]
fn configuration_errors_name_the_destination_and_the_field() {
    let d: DestinationConfig =
        toml::from_str("name = \"ops\"\nkind = \"slack_bot\"\ntoken = \"xoxb-1\"").unwrap();
    let err = d.build().unwrap_err().to_string();
    assert!(err.contains("'ops'") && err.contains("`channel`"), "{err}");
    let d: DestinationConfig =
        toml::from_str("name = \"w\"\nkind = \"webhook\"\nurl = \"ftp://x\"\nsecret = \"k\"")
            .unwrap();
    assert!(d.build().unwrap_err().to_string().contains("http or https"));
    let unknown =
        toml::from_str::<DestinationConfig>("name = \"w\"\nkind = \"slack_webhook\"\nurll = \"x\"");
    assert!(unknown.unwrap_err().to_string().contains("urll"));
    let d: DestinationConfig = toml::from_str("name = \"s\"\nkind = \"slack_webhook\"\nurl = \"https://hooks.slack.com/services/T/B/ZZZ\"").unwrap();
    let built = d.build().unwrap();
    assert_eq!(built.destination(), "s");
    assert!(!format!("{d:?} {built:?}").contains("ZZZ"));
}

// ---------------------------------------------------------------- hostile Retry-After

#[tokio::test]
async fn an_absurd_retry_after_is_capped_never_a_panic() {
    let server = MockServer::start().await;
    for (p, header) in [
        ("/huge", "1e20"),
        ("/inf", "inf"),
        ("/neg", "-5"),
        ("/text", "soon"),
    ] {
        Mock::given(method("POST"))
            .and(path(p))
            .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", header))
            .mount(&server)
            .await;
    }
    Mock::given(method("POST"))
        .and(path("/discord"))
        .respond_with(
            ResponseTemplate::new(429).set_body_json(serde_json::json!({"retry_after": 1e300})),
        )
        .mount(&server)
        .await;
    let hook =
        |p: &str| SlackWebhook::new("s", Secret::new(format!("{}{p}", server.uri())), T).unwrap();
    let cap = experiment_core::limit::MAX_SERVER_DELAY;
    let err = hook("/huge").send(&notification()).await.unwrap_err();
    assert_eq!(err.retry_after(), Some(cap), "{err:?}");
    for p in ["/inf", "/neg", "/text"] {
        let err = hook(p).send(&notification()).await.unwrap_err();
        assert!(
            matches!(err, Error::RateLimited { retry_after: None }),
            "{p}: {err:?}"
        );
    }
    let d = Discord::new("dc", Secret::new(format!("{}/discord", server.uri())), T).unwrap();
    assert_eq!(
        d.send(&notification()).await.unwrap_err().retry_after(),
        Some(cap)
    );
}
