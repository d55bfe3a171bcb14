//! What the API tests share: an app over in-memory adapters, requests, recorded data.

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use chrono::NaiveDate;
use experiment_api::{router, AppState, Options};
use experiment_core::memory::{MemoryBus, MemoryCache, MemoryStore};
use experiment_core::model::{Exchange, Security};
use experiment_core::Store;
use experiment_wiring::config::ApiConfig;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

pub const KEY: &str = "test-key-0123456789abcdef";

pub struct App {
    pub router: Router,
    pub state: AppState,
    pub store: Arc<MemoryStore>,
    pub bus: Arc<MemoryBus>,
}

pub fn config() -> ApiConfig {
    ApiConfig {
        keys: vec![KEY.to_owned()],
        rate_limit_per_second: 0.0,
        ..ApiConfig::default()
    }
}

pub fn app() -> App {
    app_with(config(), Options::default())
}

pub fn app_with(config: ApiConfig, options: Options) -> App {
    let store = Arc::new(MemoryStore::new());
    let bus = Arc::new(MemoryBus::new());
    let state = AppState::with_options(
        store.clone(),
        Arc::new(MemoryCache::new()),
        bus.clone(),
        config,
        options,
    );
    App {
        router: router(state.clone()),
        state,
        store,
        bus,
    }
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {} {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Asserts a problem+json answer with this status and returns its body.
    pub fn problem(&self, status: u16) -> Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.text());
        assert_eq!(
            self.content_type(),
            "application/problem+json",
            "{}",
            self.text()
        );
        let p = self.json();
        assert_eq!(p["status"], status);
        assert!(p["detail"].as_str().is_some_and(|d| !d.is_empty()), "{p}");
        p
    }
}

pub async fn send(app: &App, req: Request<Body>) -> Answer {
    let res = app.router.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.unwrap().to_bytes().to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

pub async fn get(app: &App, uri: &str) -> Answer {
    send(app, Request::get(uri).body(Body::empty()).unwrap()).await
}

/// A GET with the API key.
pub async fn get_keyed(app: &App, uri: &str) -> Answer {
    let req = Request::get(uri)
        .header("authorization", format!("Bearer {KEY}"))
        .body(Body::empty())
        .unwrap();
    send(app, req).await
}

pub fn json_request(method: Method, uri: &str, body: &Value, key: Option<&str>) -> Request<Body> {
    let mut b = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json");
    if let Some(k) = key {
        b = b.header("authorization", format!("Bearer {k}"));
    }
    b.body(Body::from(serde_json::to_vec(body).unwrap()))
        .unwrap()
}

pub async fn write(app: &App, method: Method, uri: &str, body: &Value) -> Answer {
    send(app, json_request(method, uri, body, Some(KEY))).await
}

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../../experiment-twse/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

pub fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// The recorded STOCK_DAY_ALL of 2026-07-08 in the store: bars, names, and the day's
/// untraded securities.
pub async fn load_stock_day_all(store: &dyn Store) {
    let p = experiment_twse::parse::stock_day_all(
        &fixture("openapi_STOCK_DAY_ALL_20260708.json"),
        None,
    )
    .unwrap();
    store.upsert_daily_bars(&p.items).await.unwrap();
    let securities: Vec<Security> = p
        .listed
        .iter()
        .map(|l| Security::new(l.code.clone(), Exchange::Twse, l.name.clone()))
        .collect();
    store.upsert_securities(&securities).await.unwrap();
    let untraded: Vec<String> = p
        .listed
        .iter()
        .filter(|l| !l.traded)
        .map(|l| l.code.to_string())
        .collect();
    store
        .put_document(
            experiment_api::collections::MARKET_DAYS,
            &experiment_api::market_day_id(Exchange::Twse, ymd(2026, 7, 8)),
            &serde_json::json!({"untraded": untraded, "listed": p.listed.len()}),
        )
        .await
        .unwrap();
}

/// 2330's recorded months (May 2015, May 2025) in the store, with its profile.
pub async fn load_2330(store: &dyn Store) {
    let code = experiment_core::model::SecurityCode::new("2330").unwrap();
    for (file, month) in [
        (
            "twse_exchangeReport_STOCK_DAY_2330_201505.json",
            ymd(2015, 5, 1),
        ),
        (
            "twse_rwd_STOCK_DAY_2330_202505_partial_month.json",
            ymd(2025, 5, 1),
        ),
    ] {
        let p = experiment_twse::parse::stock_day(&fixture(file), &code, month).unwrap();
        store.upsert_daily_bars(&p.items).await.unwrap();
    }
    let mut s = Security::new(code, Exchange::Twse, "台積電");
    s.industry = Some("半導體業".into());
    store.upsert_securities(&[s]).await.unwrap();
}
