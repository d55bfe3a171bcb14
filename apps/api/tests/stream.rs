//! The live stream: an ingested quote arrives with an id; a client that reconnects with
//! `Last-Event-ID` gets what it missed; a shutdown ends the stream with a last event.

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request};
use common::*;
use futures::StreamExt;
use serde_json::json;
use tower::ServiceExt;

fn quote(code: &str, last: &str, minute: u32) -> serde_json::Value {
    json!({"code": code, "exchange": "TWSE", "name": "x", "last": last,
           "exchange_time": format!("2025-05-02T01:{minute:02}:00Z"),
           "received_at": format!("2025-05-02T01:{minute:02}:00Z")})
}

/// Reads SSE frames until `want` events (not comments) arrived, or a timeout.
async fn events(body: Body, want: usize) -> Vec<(String, String, String)> {
    events_within(body, want, Duration::from_secs(5)).await
}

/// As [`events`], waiting at most `limit`.
async fn events_within(body: Body, want: usize, limit: Duration) -> Vec<(String, String, String)> {
    let mut stream = body.into_data_stream();
    let mut text = String::new();
    let mut out = Vec::new();
    let read = async {
        while out.len() < want {
            let Some(chunk) = stream.next().await else {
                break;
            };
            text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
            while let Some(end) = text.find("\n\n") {
                let frame: String = text.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (String::new(), String::new(), String::new());
                for line in frame.lines() {
                    if let Some(v) = line.strip_prefix("id: ") {
                        id = v.to_owned();
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        event = v.to_owned();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data = v.to_owned();
                    }
                }
                if !event.is_empty() {
                    out.push((id, event, data));
                }
            }
        }
    };
    let _ = tokio::time::timeout(limit, read).await;
    out
}

async fn open(app: &App, uri: &str, last: Option<&str>) -> Body {
    let mut req = Request::get(uri);
    if let Some(id) = last {
        req = req.header("last-event-id", id);
    }
    let res = app
        .router
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    res.into_body()
}

#[tokio::test]
async fn an_ingested_quote_arrives_and_a_reconnect_resumes_after_last_event_id() {
    let app = app();
    let body = open(&app, "/v1/stream?codes=2330&types=quote", None).await;
    let ingest = write(
        &app,
        Method::POST,
        "/v1/ingest/quotes",
        &json!([quote("2330", "950", 1), quote("2317", "150", 1)]),
    )
    .await;
    assert_eq!(ingest.status, 202);
    let got = events(body, 1).await;
    assert_eq!(got.len(), 1, "only 2330's quote: {got:?}");
    let (id, event, data) = &got[0];
    assert_eq!(event, "quote");
    assert!(id.parse::<u64>().is_ok(), "every event has an id: {id}");
    let q: serde_json::Value = serde_json::from_str(data).unwrap();
    assert_eq!(
        (q["code"].as_str(), q["last"].as_str()),
        (Some("2330"), Some("950"))
    );

    // While the client is away, two more quotes; it comes back with the last id it saw.
    write(
        &app,
        Method::POST,
        "/v1/ingest/quotes",
        &json!([quote("2330", "951", 2), quote("2330", "952", 3)]),
    )
    .await;
    let body = open(&app, "/v1/stream?codes=2330", Some(id)).await;
    let resumed = events(body, 2).await;
    let lasts: Vec<String> = resumed
        .iter()
        .map(|(_, _, d)| {
            serde_json::from_str::<serde_json::Value>(d).unwrap()["last"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        lasts,
        ["951", "952"],
        "what it missed, in order, nothing twice"
    );
    assert!(resumed[0].0.parse::<u64>().unwrap() > id.parse::<u64>().unwrap());

    // The same event twice (from the ingest and from the log) is streamed once.
    write(
        &app,
        Method::POST,
        "/v1/ingest/quotes",
        &json!([quote("2330", "952", 3)]),
    )
    .await;
    let again = events_within(
        open(&app, "/v1/stream?codes=2330", Some(&resumed[1].0)).await,
        1,
        Duration::from_millis(500),
    )
    .await;
    assert!(again.is_empty(), "{again:?}");
}

#[tokio::test]
async fn a_client_too_far_behind_is_told_and_shutdown_sends_a_last_event() {
    let config = experiment_wiring::config::ApiConfig {
        stream_replay: 2,
        ..common::config()
    };
    let token = experiment_wiring::CancellationToken::new();
    let app = app_with(
        config,
        experiment_api::Options {
            shutdown: token.clone(),
            ..Default::default()
        },
    );
    write(
        &app,
        Method::POST,
        "/v1/ingest/quotes",
        &json!([
            quote("2330", "1", 1),
            quote("2330", "2", 2),
            quote("2330", "3", 3),
            quote("2330", "4", 4)
        ]),
    )
    .await;
    let got = events(open(&app, "/v1/stream", Some("1")).await, 3).await;
    assert_eq!(got[0].1, "lagged", "{got:?}");
    assert_eq!(got.len(), 3, "then the two still buffered: {got:?}");
    // An id this hub never gave (another replica's): told, then served from now on.
    let future = open(&app, "/v1/stream", Some("18446744073709551000")).await;
    let told = events_within(future, 1, Duration::from_millis(500)).await;
    assert_eq!(
        told.first().map(|e| e.1.as_str()),
        Some("lagged"),
        "{told:?}"
    );
    let body = open(&app, "/v1/stream", None).await;
    token.cancel();
    let last = events(body, 1).await;
    assert_eq!(
        last.first().map(|e| e.1.as_str()),
        Some("shutdown"),
        "{last:?}"
    );
    assert!(get(&app, "/metrics")
        .await
        .text()
        .contains("experiment_api_stream_clients"));
}

#[tokio::test]
async fn alerts_from_the_log_reach_the_stream() {
    let app = app();
    let tap_token = experiment_wiring::CancellationToken::new();
    let tap = app.state.spawn_stream_tap(tap_token.clone());
    let body = open(&app, "/v1/stream?types=alert", None).await;
    // An alert a worker recorded and published.
    let rule = experiment_core::model::RuleId::new("r").unwrap();
    let code = experiment_core::model::SecurityCode::new("2330").unwrap();
    let t = chrono::Utc::now();
    let alert = experiment_core::model::Alert {
        id: experiment_core::model::AlertId::derive(&rule, &code, t),
        rule_id: rule,
        rule_name: "r".into(),
        code,
        name: None,
        bar_time: t,
        triggered_at: t,
        price: None,
        change_pct: None,
        message: "2330 fired".into(),
        value: None,
        values: Default::default(),
        suppressed: false,
    };
    let event = experiment_core::model::Event::new(
        "worker",
        t,
        experiment_core::model::Payload::Alert(alert),
    );
    experiment_core::EventBusExt::publish_event(app.bus.as_ref(), "", &event)
        .await
        .unwrap();
    let got = events(body, 1).await;
    assert_eq!(got.first().map(|e| e.1.as_str()), Some("alert"), "{got:?}");
    assert!(got[0].2.contains("2330 fired"));
    tap_token.cancel();
    tap.await.unwrap();
}
