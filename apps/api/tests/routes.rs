//! Every route through `oneshot` on in-memory adapters: answers, errors as problems, keys,
//! limits, paging.

mod common;

use std::collections::HashSet;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::*;
use experiment_api::Options;
use experiment_core::model::{Alert, AlertId, Notification, RuleId, SecurityCode};
use experiment_core::Store;
use serde_json::{json, Value};

#[tokio::test]
async fn every_route_of_the_router_is_in_the_openapi_document() {
    let app = app();
    let doc = get(&app, "/openapi.json").await.json();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths: HashSet<String> = doc["paths"].as_object().unwrap().keys().cloned().collect();
    let expected = [
        "/v1/securities",
        "/v1/securities/{code}",
        "/v1/quotes",
        "/v1/quotes/{code}",
        "/v1/bars/{code}",
        "/v1/indicators/{code}",
        "/v1/catalogue",
        "/v1/stats/market",
        "/v1/stats/movers",
        "/v1/stats/industries",
        "/v1/stats/{code}",
        "/v1/rules",
        "/v1/rules/validate",
        "/v1/rules/{id}",
        "/v1/rules/{id}/backtest",
        "/v1/destinations",
        "/v1/destinations/{id}",
        "/v1/destinations/{id}/test",
        "/v1/watchlist",
        "/v1/alerts",
        "/v1/alerts/{id}",
        "/v1/ingest/quotes",
        "/v1/ingest/bars",
        "/v1/stream",
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
    ];
    for p in expected {
        assert!(paths.contains(p), "{p} is missing from the document");
    }
    assert_eq!(paths.len(), expected.len(), "{paths:?}");
    // Each documented operation answers with something other than "no such route".
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let uri = path.replace("{code}", "2330").replace("{id}", "x");
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            if path == "/v1/stream" {
                continue;
            }
            let res = send(
                &app,
                Request::builder()
                    .method(m)
                    .uri(&uri)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
            assert!(
                !(res.status == StatusCode::NOT_FOUND && res.text().contains("no such route")),
                "{method} {uri} is documented but not routed"
            );
            assert!(res.status.as_u16() < 500, "{method} {uri}: {}", res.text());
        }
    }
    // The write operations declare the key.
    assert!(doc["paths"]["/v1/rules"]["post"]["security"].is_array());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test]
async fn keys_guard_every_write() {
    let app = app();
    let rule = json!({"expression": "rsi(14) < 30"});
    let none = send(&app, json_request(Method::POST, "/v1/rules", &rule, None)).await;
    let p = none.problem(401);
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("Authorization: Bearer"),
        "{p}"
    );
    assert!(none.headers.contains_key("www-authenticate"));
    let wrong = send(
        &app,
        json_request(Method::POST, "/v1/rules", &rule, Some("not-the-key-at-all")),
    )
    .await;
    wrong.problem(403);
    let ok = write(&app, Method::POST, "/v1/rules", &rule).await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.text());
    // X-API-Key works too.
    let req = Request::post("/v1/rules")
        .header("content-type", "application/json")
        .header("x-api-key", KEY)
        .body(Body::from(
            r#"{"id":"via-header","expression":"rsi(14) > 70"}"#,
        ))
        .unwrap();
    assert_eq!(send(&app, req).await.status, StatusCode::CREATED);
    // Reads are open unless protected; validation and backtests are reads.
    assert_eq!(get(&app, "/v1/rules").await.status, StatusCode::OK);
    let v = send(
        &app,
        json_request(Method::POST, "/v1/rules/validate", &rule, None),
    )
    .await;
    assert_eq!(v.status, StatusCode::OK, "{}", v.text());

    let protected = app_with(
        experiment_wiring::config::ApiConfig {
            protect_reads: true,
            ..config()
        },
        Options::default(),
    );
    get(&protected, "/v1/rules").await.problem(401);
    let req = Request::get("/v1/rules")
        .header("authorization", format!("Bearer {KEY}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&protected, req).await.status, StatusCode::OK);
    assert_eq!(
        get(&protected, "/healthz").await.status,
        StatusCode::OK,
        "probes stay open"
    );

    // With no key configured at all, writes are closed.
    let closed = app_with(
        experiment_wiring::config::ApiConfig {
            keys: vec![],
            ..config()
        },
        Options::default(),
    );
    let res = send(
        &closed,
        json_request(Method::POST, "/v1/rules", &rule, Some(KEY)),
    )
    .await;
    let p = res.problem(403);
    assert!(p["detail"].as_str().unwrap().contains("not valid"), "{p}");
    let res = send(
        &closed,
        json_request(Method::POST, "/v1/rules", &rule, None),
    )
    .await;
    let p = res.problem(401);
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("no API key is configured"),
        "{p}"
    );
}

#[tokio::test]
async fn a_bad_rule_gets_a_400_that_points_at_the_column() {
    let app = app();
    let res = write(
        &app,
        Method::POST,
        "/v1/rules",
        &json!({"expression": "sma(close, 5) >> 3"}),
    )
    .await;
    let p = res.problem(400);
    assert_eq!(p["column"], 16, "{p}");
    let detail = p["detail"].as_str().unwrap();
    assert!(detail.starts_with("expression: column 16:"), "{detail}");
    assert!(
        detail.contains("\n  sma(close, 5) >> 3\n                 ^"),
        "{detail:?}"
    );
    let res = write(
        &app,
        Method::POST,
        "/v1/rules",
        &json!({"expression": "rsii(14) < 30"}),
    )
    .await;
    assert!(res.problem(400)["detail"]
        .as_str()
        .unwrap()
        .contains("did you mean 'rsi'"));
    // The dry run answers the same.
    let res = write(
        &app,
        Method::POST,
        "/v1/rules/validate",
        &json!({"expression": "rsi(14) <"}),
    )
    .await;
    assert!(res.problem(400)["column"].as_u64().is_some());
    // Template placeholders and destinations are checked too.
    let res = write(
        &app,
        Method::POST,
        "/v1/rules",
        &json!({"expression": "rsi(14) < 30", "message": "{{code}} at {{clsoe}}"}),
    )
    .await;
    assert!(res.problem(400)["detail"]
        .as_str()
        .unwrap()
        .contains("clsoe"));
    let res = write(
        &app,
        Method::POST,
        "/v1/rules",
        &json!({"expression": "rsi(14) < 30", "destinations": ["slack"]}),
    )
    .await;
    assert!(res.problem(400)["detail"]
        .as_str()
        .unwrap()
        .contains("no destination is called 'slack'"));
    // Malformed JSON, wrong types, unknown fields: problems, never 5xx.
    let req = Request::post("/v1/rules")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {KEY}"))
        .body(Body::from("{\"expression\": "))
        .unwrap();
    assert!(send(&app, req).await.problem(400)["detail"]
        .as_str()
        .unwrap()
        .contains("not valid JSON"));
    let res = write(&app, Method::POST, "/v1/rules", &json!({"expression": 5})).await;
    assert!(res.problem(400)["detail"]
        .as_str()
        .unwrap()
        .contains("expression"));
    let res = write(
        &app,
        Method::POST,
        "/v1/rules",
        &json!({"expression": "rsi(14) < 30", "colour": 1}),
    )
    .await;
    assert!(res.problem(400)["detail"]
        .as_str()
        .unwrap()
        .contains("colour"));
    let req = Request::post("/v1/rules")
        .header("authorization", format!("Bearer {KEY}"))
        .body(Body::from("expression=rsi"))
        .unwrap();
    send(&app, req).await.problem(415);
}

#[tokio::test]
async fn rules_are_created_read_replaced_patched_and_deleted() {
    let app = app();
    let res = write(
        &app,
        Method::POST,
        "/v1/rules",
        &json!({"id": "golden", "name": "Golden cross", "expression": "crosses_above(sma(close,5), sma(close,20))", "codes": ["2330"]}),
    )
    .await;
    assert_eq!(res.status, StatusCode::CREATED);
    assert_eq!(res.headers["location"], "/v1/rules/golden");
    let created = res.json();
    assert_eq!(
        created["canonical"],
        "crosses_above(sma(close, 5), sma(close, 20))"
    );
    assert_eq!(created["enabled"], true);
    let again = write(
        &app,
        Method::POST,
        "/v1/rules",
        &json!({"id": "golden", "expression": "rsi(14) < 30"}),
    )
    .await;
    again.problem(409);
    let patched = write(
        &app,
        Method::PATCH,
        "/v1/rules/golden",
        &json!({"enabled": false}),
    )
    .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text());
    assert_eq!(patched.json()["enabled"], false);
    assert_eq!(patched.json()["name"], "Golden cross", "the rest is kept");
    let stored = app
        .store
        .rule(&RuleId::new("golden").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(!stored.enabled);
    let bad = write(
        &app,
        Method::PATCH,
        "/v1/rules/golden",
        &json!({"expression": "close >"}),
    )
    .await;
    bad.problem(400);
    let put = write(
        &app,
        Method::PUT,
        "/v1/rules/golden",
        &json!({"expression": "rsi(14) < 25"}),
    )
    .await;
    assert_eq!(put.status, StatusCode::OK);
    assert_eq!(
        put.json()["name"],
        "rsi(14) < 25",
        "PUT replaces the whole rule"
    );
    let put_new = write(
        &app,
        Method::PUT,
        "/v1/rules/fresh",
        &json!({"expression": "rsi(14) < 25"}),
    )
    .await;
    assert_eq!(put_new.status, StatusCode::CREATED);
    let mismatch = write(
        &app,
        Method::PUT,
        "/v1/rules/fresh",
        &json!({"id": "other", "expression": "rsi(14) < 25"}),
    )
    .await;
    mismatch.problem(400);
    assert_eq!(
        get(&app, "/v1/rules/golden").await.json()["expression"],
        "rsi(14) < 25"
    );
    let del = send(
        &app,
        json_request(Method::DELETE, "/v1/rules/golden", &json!(null), Some(KEY)),
    )
    .await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    get(&app, "/v1/rules/golden").await.problem(404);
    let del = send(
        &app,
        json_request(Method::DELETE, "/v1/rules/golden", &json!(null), Some(KEY)),
    )
    .await;
    del.problem(404);
    get(&app, "/v1/rules/has%20space").await.problem(400);
}

/// Walks a list with `next_cursor` and returns every item's `key`.
async fn walk(app: &App, first: &str, key: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut uri = first.to_owned();
    for _ in 0..10_000 {
        let page = get(app, &uri).await;
        assert_eq!(page.status, StatusCode::OK, "{uri}: {}", page.text());
        let body = page.json();
        for item in body["items"].as_array().unwrap() {
            seen.push(item[key].as_str().unwrap().to_owned());
        }
        match body["next_cursor"].as_str() {
            Some(c) => {
                let sep = if first.contains('?') { '&' } else { '?' };
                uri = format!("{first}{sep}cursor={c}");
            }
            None => return seen,
        }
    }
    panic!("no last page");
}

#[tokio::test]
async fn paging_walks_every_list_with_no_gaps_or_repeats() {
    let app = app();
    load_stock_day_all(app.store.as_ref()).await;
    let codes = walk(&app, "/v1/securities?limit=97", "code").await;
    assert_eq!(codes.len(), 1369, "every listed security once");
    assert_eq!(codes.iter().collect::<HashSet<_>>().len(), 1369);
    let mut sorted = codes.clone();
    sorted.sort();
    assert_eq!(codes, sorted, "in code order");
    let filtered = walk(&app, "/v1/securities?q=00&limit=10", "code").await;
    assert!(filtered.iter().all(|c| c.starts_with("00")) && filtered.len() > 10);

    // Alerts: 25 alerts, several at one instant, newest first.
    let rule = RuleId::new("r").unwrap();
    let mut ids = Vec::new();
    for i in 0..25u32 {
        let code = SecurityCode::new(format!("{}", 1000 + i)).unwrap();
        let t = chrono::DateTime::from_timestamp(1_700_000_000 + i64::from(i / 5), 0).unwrap();
        let alert = Alert {
            id: AlertId::derive(&rule, &code, t),
            rule_id: rule.clone(),
            rule_name: "r".into(),
            code,
            name: None,
            bar_time: t,
            triggered_at: t,
            price: None,
            change_pct: None,
            message: "m".into(),
            value: None,
            values: Default::default(),
            suppressed: false,
        };
        ids.push(alert.id.to_string());
        app.store.record_alert(&alert, &[]).await.unwrap();
    }
    let walked = walk(&app, "/v1/alerts?limit=4", "id").await;
    assert_eq!(walked.len(), 25);
    assert_eq!(
        walked.iter().collect::<HashSet<_>>().len(),
        25,
        "no repeats across pages"
    );

    // Rules.
    for i in 0..7 {
        write(
            &app,
            Method::POST,
            "/v1/rules",
            &json!({"id": format!("r{i}"), "expression": "rsi(14) < 30"}),
        )
        .await;
    }
    let rules = walk(&app, "/v1/rules?limit=3", "id").await;
    assert_eq!(rules, ["r0", "r1", "r2", "r3", "r4", "r5", "r6"]);

    // Limits are bounded and cursors are checked.
    get(&app, "/v1/securities?limit=0").await.problem(400);
    get(&app, "/v1/securities?limit=100000").await.problem(400);
    get(&app, "/v1/securities?cursor=garbage")
        .await
        .problem(400);
}

#[tokio::test]
async fn an_oversized_body_gets_a_413() {
    let app = app_with(
        experiment_wiring::config::ApiConfig {
            body_limit_bytes: 1024,
            ..config()
        },
        Options::default(),
    );
    let big = json!([{"code": "2330", "padding": "x".repeat(4096)}]);
    let res = write(&app, Method::POST, "/v1/ingest/quotes", &big).await;
    let p = res.problem(413);
    assert!(
        p["detail"].as_str().unwrap().contains("body_limit_bytes"),
        "{p}"
    );
}

#[tokio::test]
async fn ingest_publishes_the_good_items_and_names_the_bad_ones() {
    let app = app();
    let items = json!([
        {"code": "2330", "exchange": "TWSE", "name": "台積電", "last": "1085.0", "volume": 1000,
         "exchange_time": "2025-05-02T05:30:00Z", "received_at": "2025-05-02T05:30:01Z"},
        {"exchange": "TWSE", "code": "2317", "name": "鴻海", "query_time": 1746163800.0,
         "full_name": "鴻海精密工業股份有限公司", "opening_price": "150.0000",
         "current_intraday_price": "152.0000", "highest_price": "153.0000",
         "lowest_price": "149.5000", "updated_time": 1746163800.0},
        {"code": "23 30", "exchange": "TWSE", "name": "x", "last": "1",
         "exchange_time": "2025-05-02T05:30:00Z", "received_at": "2025-05-02T05:30:00Z"},
        {"code": "2454", "exchange": "TWSE", "name": "聯發科", "last": "-5",
         "exchange_time": "2025-05-02T05:30:00Z", "received_at": "2025-05-02T05:30:00Z"},
        "not an object",
        {"code": "2303"}
    ]);
    let res = write(&app, Method::POST, "/v1/ingest/quotes", &items).await;
    assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.text());
    let r = res.json();
    assert_eq!(
        (r["accepted"].as_u64(), r["rejected"].as_u64()),
        (Some(2), Some(4)),
        "{r}"
    );
    let errors = r["errors"].as_array().unwrap();
    let by_index: Vec<(u64, String)> = errors
        .iter()
        .map(|e| {
            (
                e["index"].as_u64().unwrap(),
                e["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        by_index.iter().map(|e| e.0).collect::<Vec<_>>(),
        [2, 3, 4, 5]
    );
    assert!(by_index[0].1.contains("code"), "{by_index:?}");
    assert!(
        by_index[1].1.contains("last must be positive"),
        "{by_index:?}"
    );
    assert!(by_index[2].1.contains("not a JSON object"));
    assert!(by_index[3].1.contains("missing field"), "{by_index:?}");
    assert_eq!(
        app.bus
            .len(experiment_core::model::EventKind::Quote.topic()),
        2,
        "exactly the valid items are on the log"
    );

    let bars = json!([
        {"code": "2330", "exchange": "TWSE", "date": "2025-05-02", "open": "938", "high": "950",
         "low": "932", "close": "950", "volume": 48129292, "value": "45206565214", "change": "42"},
        {"code": "2330", "exchange": "TWSE", "date": "2025-05-05", "open": "956", "high": "900",
         "low": "923", "close": "938", "volume": 1, "value": "1"}
    ]);
    let r = write(&app, Method::POST, "/v1/ingest/bars", &bars)
        .await
        .json();
    assert_eq!(
        (r["accepted"].as_u64(), r["rejected"].as_u64()),
        (Some(1), Some(1))
    );
    assert!(
        r["errors"][0]["reason"].as_str().unwrap().contains("high"),
        "{r}"
    );
    let res = write(
        &app,
        Method::POST,
        "/v1/ingest/bars",
        &json!({"not": "an array"}),
    )
    .await;
    res.problem(400);
    let metrics = get(&app, "/metrics").await.text();
    assert!(
        metrics.contains("experiment_api_ingest_items_total{kind=\"quote\",result=\"accepted\"} 2"),
        "{metrics}"
    );
}

#[tokio::test]
async fn quotes_bars_and_securities_are_served_from_the_store() {
    let app = app();
    load_2330(app.store.as_ref()).await;
    let bars = get(&app, "/v1/bars/2330?from=2015-05-01&to=2015-05-31")
        .await
        .json();
    let items = bars["items"].as_array().unwrap();
    assert_eq!(items.len(), 20);
    assert_eq!(items[0]["date"], "2015-05-04");
    assert_eq!(items[0]["close"], "147.50", "prices keep their scale");
    assert_eq!(items[0]["change"], "0.50");
    let page = get(&app, "/v1/bars/2330?from=2015-05-01&to=2025-05-31&limit=25")
        .await
        .json();
    assert_eq!(page["items"].as_array().unwrap().len(), 25);
    let next = page["next_cursor"].as_str().unwrap();
    let rest = get(
        &app,
        &format!("/v1/bars/2330?from=2015-05-01&to=2025-05-31&limit=25&cursor={next}"),
    )
    .await
    .json();
    assert_eq!(rest["items"].as_array().unwrap().len(), 6);
    assert!(rest.get("next_cursor").is_none());
    get(&app, "/v1/bars/2330?from=2025-06-01&to=2025-05-01")
        .await
        .problem(400);
    get(&app, "/v1/bars/2330?from=yesterday").await.problem(400);
    get(&app, "/v1/bars/23%2030").await.problem(400);

    let s = get(&app, "/v1/securities/2330").await.json();
    assert_eq!(s["name"], "台積電");
    get(&app, "/v1/securities/9999").await.problem(404);
    let found = get(&app, "/v1/securities?q=%E5%8F%B0%E7%A9%8D")
        .await
        .json();
    assert_eq!(found["items"][0]["code"], "2330", "q=台積");

    get(&app, "/v1/quotes/2330").await.problem(404);
    let q = experiment_twse::parse::quotes(
        &fixture("mis_getStockInfo_tse2330_otc6547_afterclose_20260731_limitup.json"),
        experiment_twse::parse::Board::Regular,
        chrono::Utc::now(),
    )
    .unwrap();
    app.store.put_quote(&q.items[0]).await.unwrap();
    let one = get(&app, "/v1/quotes/2330").await.json();
    assert_eq!(
        one["last"],
        q.items[0].last.unwrap().to_string(),
        "the store answers without the cache"
    );
    experiment_core::CacheExt::set_latest_quote(app.state.cache().as_ref(), &q.items[1], None)
        .await
        .unwrap();
    let both = get(&app, "/v1/quotes?codes=2330,6547,1101").await.json();
    let codes: Vec<&str> = both["quotes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["2330", "6547"]);
    assert_eq!(both["missing"], json!(["1101"]));
    get(&app, "/v1/quotes").await.problem(400);
    get(&app, "/v1/quotes?codes=").await.problem(400);
}

#[tokio::test]
async fn indicators_are_the_streaming_values_with_null_warm_up() {
    let app = app();
    load_2330(app.store.as_ref()).await;
    let res = get(
        &app,
        "/v1/indicators/2330?expr=sma(close,%205)&expr=macd(12,26,9)&from=2015-05-01&to=2015-05-31",
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let body = res.json();
    assert_eq!(
        body["columns"],
        json!([
            "sma(close, 5)",
            "macd(12,26,9).macd",
            "macd(12,26,9).signal",
            "macd(12,26,9).histogram"
        ])
    );
    let rows = body["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 20);
    assert!(
        rows[3]["values"]["sma(close, 5)"].is_null(),
        "warm-up is null, never 0"
    );
    // The fifth close of May 2015: the mean of 147.5, 147, 147.5, 146.5, 146.5.
    let fifth = rows[4]["values"]["sma(close, 5)"].as_f64().unwrap();
    assert!((fifth - 147.0).abs() < 1e-9, "{fifth}");
    assert!(
        rows[19]["values"]["macd(12,26,9).macd"].is_null(),
        "26+ bars needed"
    );
    let bad = get(&app, "/v1/indicators/2330?expr=rsi(0)").await;
    assert!(bad.problem(400)["column"].is_number());
    get(&app, "/v1/indicators/2330").await.problem(400);
    get(&app, "/v1/indicators/2330?expr=rsi(14)&colour=red")
        .await
        .problem(400);
    let cat = get(&app, "/v1/catalogue").await.json();
    let rsi = cat
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "rsi")
        .unwrap();
    assert_eq!(rsi["params"][0]["default"], 14.0);
    assert_eq!(rsi["warm_up"], 14);
    assert!(cat.as_array().unwrap().len() >= 24);
}

#[tokio::test]
async fn a_backtest_reports_firings_with_values_and_forward_returns() {
    let app = app();
    load_2330(app.store.as_ref()).await;
    write(
        &app,
        Method::POST,
        "/v1/rules",
        &json!({"id": "below5", "expression": "crosses_below(close, sma(close, 5))", "codes": ["2330"]}),
    )
    .await;
    let res = send(
        &app,
        Request::post("/v1/rules/below5/backtest?from=2015-05-01&to=2015-05-31")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let r = res.json();
    let firings = r["codes"][0]["firings"].as_array().unwrap();
    assert!(!firings.is_empty(), "{r}");
    assert_eq!(
        r["summary"]["firings"].as_u64().unwrap() as usize,
        firings.len()
    );
    let f = &firings[0];
    assert!(f["values"]["sma(close, 5)"].is_number(), "{f}");
    assert!(f["forward_returns"]["1"].is_number());
    let none = send(
        &app,
        Request::post("/v1/rules/nope/backtest")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    none.problem(404);
    write(
        &app,
        Method::POST,
        "/v1/rules",
        &json!({"id": "all", "expression": "rsi(14) < 30"}),
    )
    .await;
    let res = send(
        &app,
        Request::post("/v1/rules/all/backtest")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert!(res.problem(400)["detail"]
        .as_str()
        .unwrap()
        .contains("say which codes"));
}

#[tokio::test]
async fn destinations_keep_their_secrets() {
    let app = app();
    let url = "https://hooks.slack.com/services/T000/B000/SECRETSECRET";
    let res = write(
        &app,
        Method::POST,
        "/v1/destinations",
        &json!({"name": "team", "kind": "slack-webhook", "url": url}),
    )
    .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
    assert!(!res.text().contains("SECRET"), "{}", res.text());
    assert_eq!(res.json()["url"], "https://hooks.slack.com/***");
    get(&app, "/v1/destinations").await.problem(401);
    let listed = get_keyed(&app, "/v1/destinations").await;
    assert!(!listed.text().contains("SECRET"));
    assert_eq!(listed.json()["items"][0]["source"], "api");
    write(
        &app,
        Method::POST,
        "/v1/destinations",
        &json!({"name": "team", "kind": "console"}),
    )
    .await
    .problem(409);
    let bad = write(
        &app,
        Method::POST,
        "/v1/destinations",
        &json!({"name": "x", "kind": "slack_webhook"}),
    )
    .await;
    assert!(bad.problem(400)["detail"].as_str().unwrap().contains("url"));
    // A PUT without the secret keeps the stored one.
    let put = write(
        &app,
        Method::PUT,
        "/v1/destinations/team",
        &json!({"kind": "slack_webhook", "rate_per_second": 0.5}),
    )
    .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text());
    let stored = app
        .store
        .document("destinations", "team")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored["url"], url);
    // A rule can use it; then it cannot be deleted.
    let rule = write(
        &app,
        Method::POST,
        "/v1/rules",
        &json!({"id": "r", "expression": "rsi(14) < 30", "destinations": ["team"]}),
    )
    .await;
    assert_eq!(rule.status, StatusCode::CREATED, "{}", rule.text());
    let del = send(
        &app,
        json_request(
            Method::DELETE,
            "/v1/destinations/team",
            &json!(null),
            Some(KEY),
        ),
    )
    .await;
    assert!(del.problem(409)["detail"]
        .as_str()
        .unwrap()
        .contains("used by rules r"));
    send(
        &app,
        json_request(Method::DELETE, "/v1/rules/r", &json!(null), Some(KEY)),
    )
    .await;
    let del = send(
        &app,
        json_request(
            Method::DELETE,
            "/v1/destinations/team",
            &json!(null),
            Some(KEY),
        ),
    )
    .await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    get_keyed(&app, "/v1/destinations/team").await.problem(404);

    // Configured destinations are listed and read-only.
    let configured = app_with(
        config(),
        Options {
            destinations: vec![experiment_notify::DestinationConfig::console("stdout")],
            ..Options::default()
        },
    );
    let d = get_keyed(&configured, "/v1/destinations/stdout")
        .await
        .json();
    assert_eq!(
        (d["kind"].as_str(), d["source"].as_str()),
        (Some("console"), Some("config"))
    );
    let put = write(
        &configured,
        Method::PUT,
        "/v1/destinations/stdout",
        &json!({"kind": "console"}),
    )
    .await;
    put.problem(409);
    // A test message through the console destination is delivered.
    let t = send(
        &configured,
        json_request(
            Method::POST,
            "/v1/destinations/stdout/test",
            &json!(null),
            Some(KEY),
        ),
    )
    .await;
    assert_eq!(t.status, StatusCode::OK, "{}", t.text());
    assert_eq!(t.json()["delivered"], true);
}

#[tokio::test]
async fn a_test_message_reports_what_the_destination_answered() {
    let slack = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(wiremock::ResponseTemplate::new(404).set_body_string("no_service"))
        .mount(&slack)
        .await;
    let app = app();
    write(
        &app,
        Method::POST,
        "/v1/destinations",
        &json!({"name": "gone", "kind": "slack_webhook", "url": format!("{}/services/T/B/X", slack.uri()), "retries": 0}),
    )
    .await;
    let t = send(
        &app,
        json_request(
            Method::POST,
            "/v1/destinations/gone/test",
            &json!(null),
            Some(KEY),
        ),
    )
    .await;
    let r = t.json();
    assert_eq!(r["delivered"], false, "{r}");
    assert!(
        r["error"].as_str().unwrap().contains("404")
            || r["error"].as_str().unwrap().contains("no_service"),
        "{r}"
    );
    assert!(!t.text().contains("/services/T/B/X"), "the URL is a secret");
}

#[tokio::test]
async fn the_watchlist_is_read_and_replaced() {
    let app = app_with(
        config(),
        Options {
            watchlist: vec!["2330".into()],
            ..Options::default()
        },
    );
    assert_eq!(
        get(&app, "/v1/watchlist").await.json()["codes"],
        json!(["2330"])
    );
    let put = write(
        &app,
        Method::PUT,
        "/v1/watchlist",
        &json!({"codes": ["2317", "6547", "2317", " t00 "]}),
    )
    .await;
    assert_eq!(put.json()["codes"], json!(["2317", "6547", "t00"]));
    assert_eq!(
        get(&app, "/v1/watchlist").await.json()["codes"],
        json!(["2317", "6547", "t00"])
    );
    write(
        &app,
        Method::PUT,
        "/v1/watchlist",
        &json!({"codes": ["23 17"]}),
    )
    .await
    .problem(400);
}

#[tokio::test]
async fn an_alert_shows_each_delivery() {
    let app = app();
    let rule = RuleId::new("r1").unwrap();
    let code = SecurityCode::new("2330").unwrap();
    let t = chrono::DateTime::from_timestamp(1_746_163_800, 0).unwrap();
    let alert = Alert {
        id: AlertId::derive(&rule, &code, t),
        rule_id: rule,
        rule_name: "r1".into(),
        code,
        name: Some("台積電".into()),
        bar_time: t,
        triggered_at: t,
        price: Some("950".parse().unwrap()),
        change_pct: None,
        message: "m".into(),
        value: Some(28.5),
        values: Default::default(),
        suppressed: false,
    };
    let ns = [
        Notification::pending(alert.clone(), "slack"),
        Notification::pending(alert.clone(), "webhook"),
    ];
    app.store.record_alert(&alert, &ns).await.unwrap();
    app.store
        .complete_notification(
            &ns[0],
            &experiment_core::model::DeliveryOutcome::Retry {
                retry_at: t + chrono::Duration::seconds(30),
                error: "rate limited".into(),
            },
        )
        .await
        .unwrap();
    let d = get(&app, &format!("/v1/alerts/{}", alert.id)).await.json();
    assert_eq!(d["alert"]["code"], "2330");
    let n = d["notifications"].as_array().unwrap();
    assert_eq!(n.len(), 2);
    assert_eq!(
        (n[0]["destination"].as_str(), n[0]["attempts"].as_u64()),
        (Some("slack"), Some(1))
    );
    assert_eq!(n[0]["last_error"], "rate limited");
    assert_eq!(n[1]["status"], "pending");
    get(&app, "/v1/alerts/not-a-uuid").await.problem(400);
    get(&app, "/v1/alerts/00000000-0000-0000-0000-000000000000")
        .await
        .problem(404);
    let filtered = get(&app, "/v1/alerts?code=2317").await.json();
    assert!(filtered["items"].as_array().unwrap().is_empty());
    assert_eq!(
        get(&app, "/v1/alerts?rule=r1").await.json()["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn errors_are_problems_everywhere() {
    let app = app();
    get(&app, "/nowhere").await.problem(404);
    get(&app, "/v1/nowhere").await.problem(404);
    let res = send(
        &app,
        Request::delete("/v1/catalogue")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    res.problem(405);
    get(&app, "/v1/stats/movers?by=colour").await.problem(400);
    get(&app, "/v1/stats/market").await.problem(404);
    get(&app, "/v1/stats/market?date=2026-02-30")
        .await
        .problem(400);
    get(&app, "/v1/stats/market?market=NYSE").await.problem(400);
    // Hostile headers: an absurd request id is replaced, not echoed.
    let req = Request::get("/healthz")
        .header("x-request-id", "a".repeat(500))
        .body(Body::empty())
        .unwrap();
    let res = send(&app, req).await;
    let id = res.headers["x-request-id"].to_str().unwrap();
    assert!(id.len() < 100 && !id.starts_with("aaaa"), "{id}");
    let req = Request::get("/healthz")
        .header("x-request-id", "abc-123")
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        send(&app, req).await.headers["x-request-id"],
        "abc-123",
        "a sane id is kept"
    );
    let req = Request::get("/v1/stream")
        .header("last-event-id", "yesterday")
        .body(Body::empty())
        .unwrap();
    send(&app, req).await.problem(400);
}

#[tokio::test]
async fn the_rate_limit_answers_429_with_its_headers() {
    let app = app_with(
        experiment_wiring::config::ApiConfig {
            rate_limit_per_second: 0.5,
            rate_limit_burst: 2,
            ..config()
        },
        Options::default(),
    );
    let call = || async {
        let req = Request::get("/v1/catalogue")
            .header("authorization", format!("Bearer {KEY}"))
            .body(Body::empty())
            .unwrap();
        send(&app, req).await
    };
    let first = call().await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.headers["ratelimit-limit"], "2");
    assert_eq!(first.headers["ratelimit-remaining"], "1");
    assert_eq!(call().await.status, StatusCode::OK);
    let limited = call().await;
    limited.problem(429);
    let wait: u64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3).contains(&wait), "{wait}");
    // Probes are not limited.
    for _ in 0..5 {
        assert_eq!(get(&app, "/healthz").await.status, StatusCode::OK);
    }
}

#[tokio::test]
async fn readiness_names_the_backend_that_does_not_answer() {
    let app = app();
    let ok = get(&app, "/readyz").await.json();
    assert_eq!(ok["checks"]["store"], "ok");
    let broken = experiment_api::AppState::new(
        std::sync::Arc::new(Down),
        std::sync::Arc::new(experiment_core::memory::MemoryCache::new()),
        std::sync::Arc::new(experiment_core::memory::MemoryBus::new()),
        config(),
    );
    let app = App {
        router: experiment_api::router(broken.clone()),
        state: broken,
        store: std::sync::Arc::new(experiment_core::memory::MemoryStore::new()),
        bus: std::sync::Arc::new(experiment_core::memory::MemoryBus::new()),
    };
    let res = get(&app, "/readyz").await;
    let p = res.problem(503);
    assert!(p["detail"].as_str().unwrap().contains("store:"), "{p}");
    assert!(res.headers.contains_key("retry-after"));
    // A backend outage on a read is a 503 with Retry-After, never a 500.
    let res = get(&app, "/v1/rules").await;
    res.problem(503);
    assert!(res.headers.contains_key("retry-after"));
    assert_eq!(get(&app, "/healthz").await.status, StatusCode::OK);
    let metrics = get(&app, "/metrics").await.text();
    assert!(metrics.contains("experiment_api_http_requests_total{route=\"/v1/rules\",method=\"GET\",status=\"503\"} 1"), "{metrics}");
    assert!(
        metrics.contains("experiment_api_http_request_duration_seconds_bucket"),
        "{metrics}"
    );
}

/// A store whose backend is down.
#[derive(Debug)]
struct Down;

fn down<T>() -> experiment_core::Result<T> {
    Err(experiment_core::Error::unavailable(
        "test",
        "connection refused",
    ))
}

#[async_trait::async_trait]
impl Store for Down {
    async fn upsert_securities(
        &self,
        _: &[experiment_core::model::Security],
    ) -> experiment_core::Result<experiment_core::store::UpsertCount> {
        down()
    }
    async fn security(
        &self,
        _: &SecurityCode,
    ) -> experiment_core::Result<Option<experiment_core::model::Security>> {
        down()
    }
    async fn securities(
        &self,
        _: &experiment_core::store::Page,
    ) -> experiment_core::Result<Vec<experiment_core::model::Security>> {
        down()
    }
    async fn search_securities(
        &self,
        _: &experiment_core::store::SecurityQuery,
    ) -> experiment_core::Result<Vec<experiment_core::model::Security>> {
        down()
    }
    async fn upsert_daily_bars(
        &self,
        _: &[experiment_core::model::DailyBar],
    ) -> experiment_core::Result<experiment_core::store::UpsertCount> {
        down()
    }
    async fn daily_bars(
        &self,
        _: &SecurityCode,
        _: chrono::NaiveDate,
        _: chrono::NaiveDate,
    ) -> experiment_core::Result<Vec<experiment_core::model::DailyBar>> {
        down()
    }
    async fn daily_bars_on(
        &self,
        _: chrono::NaiveDate,
    ) -> experiment_core::Result<Vec<experiment_core::model::DailyBar>> {
        down()
    }
    async fn last_bar_date(
        &self,
        _: chrono::NaiveDate,
    ) -> experiment_core::Result<Option<chrono::NaiveDate>> {
        down()
    }
    async fn put_quote(&self, _: &experiment_core::model::Quote) -> experiment_core::Result<bool> {
        down()
    }
    async fn quote(
        &self,
        _: &SecurityCode,
    ) -> experiment_core::Result<Option<experiment_core::model::Quote>> {
        down()
    }
    async fn put_state(
        &self,
        _: &str,
        _: &experiment_core::store::StateSnapshot,
    ) -> experiment_core::Result<()> {
        down()
    }
    async fn state(
        &self,
        _: &str,
    ) -> experiment_core::Result<Option<experiment_core::store::StateSnapshot>> {
        down()
    }
    async fn upsert_rule(
        &self,
        _: &experiment_core::model::AlertRule,
    ) -> experiment_core::Result<experiment_core::store::UpsertCount> {
        down()
    }
    async fn rule(
        &self,
        _: &RuleId,
    ) -> experiment_core::Result<Option<experiment_core::model::AlertRule>> {
        down()
    }
    async fn rules(&self) -> experiment_core::Result<Vec<experiment_core::model::AlertRule>> {
        down()
    }
    async fn delete_rule(&self, _: &RuleId) -> experiment_core::Result<()> {
        down()
    }
    async fn record_alert(&self, _: &Alert, _: &[Notification]) -> experiment_core::Result<bool> {
        down()
    }
    async fn alerts(
        &self,
        _: &experiment_core::store::AlertQuery,
    ) -> experiment_core::Result<Vec<Alert>> {
        down()
    }
    async fn alert(&self, _: &AlertId) -> experiment_core::Result<Option<Alert>> {
        down()
    }
    async fn alert_notifications(&self, _: &AlertId) -> experiment_core::Result<Vec<Notification>> {
        down()
    }
    async fn claim_notifications(
        &self,
        _: chrono::DateTime<chrono::Utc>,
        _: std::time::Duration,
        _: usize,
    ) -> experiment_core::Result<Vec<Notification>> {
        down()
    }
    async fn notification(
        &self,
        _: &experiment_core::model::NotificationKey,
    ) -> experiment_core::Result<Option<Notification>> {
        down()
    }
    async fn complete_notification(
        &self,
        _: &Notification,
        _: &experiment_core::model::DeliveryOutcome,
    ) -> experiment_core::Result<Notification> {
        down()
    }
    async fn put_document(&self, _: &str, _: &str, _: &Value) -> experiment_core::Result<()> {
        down()
    }
    async fn document(&self, _: &str, _: &str) -> experiment_core::Result<Option<Value>> {
        down()
    }
    async fn documents(
        &self,
        _: &str,
        _: &experiment_core::store::Page,
    ) -> experiment_core::Result<Vec<(String, Value)>> {
        down()
    }
    async fn delete_document(&self, _: &str, _: &str) -> experiment_core::Result<bool> {
        down()
    }
}
