//! Statistics checked against figures computed here, independently, from the raw JSON of the
//! recorded STOCK_DAY_ALL body (2026-07-08, 1,369 rows).

mod common;

use common::*;
use rust_decimal::Decimal;
use serde_json::Value;

struct Row {
    code: String,
    close: Decimal,
    change: Decimal,
    volume: i64,
    value: i64,
    trades: i64,
}

/// The body's rows, read with nothing but serde_json and `str::parse`.
fn raw_rows() -> (Vec<Row>, usize) {
    let body: Vec<Value> =
        serde_json::from_slice(&fixture("openapi_STOCK_DAY_ALL_20260708.json")).unwrap();
    let mut rows = Vec::new();
    let mut untraded = 0;
    for r in &body {
        let s = |k: &str| r[k].as_str().unwrap().trim().to_owned();
        let close: Decimal = s("ClosingPrice").parse().unwrap_or_default();
        if close.is_zero() {
            untraded += 1;
            continue;
        }
        rows.push(Row {
            code: s("Code"),
            close,
            change: s("Change").parse().unwrap(),
            volume: s("TradeVolume").parse().unwrap(),
            value: s("TradeValue").parse().unwrap(),
            trades: s("Transaction").parse().unwrap(),
        });
    }
    (rows, untraded)
}

#[tokio::test]
async fn market_breadth_matches_the_recorded_body() {
    let app = app();
    load_stock_day_all(app.store.as_ref()).await;
    let (rows, untraded) = raw_rows();
    let res = get(&app, "/v1/stats/market?date=2026-07-08").await;
    assert_eq!(res.status, 200, "{}", res.text());
    let body = res.json();
    assert_eq!(body["date"], "2026-07-08");
    let twse = body["markets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["market"] == "TWSE")
        .unwrap();
    let count = |f: &dyn Fn(&Row) -> bool| rows.iter().filter(|r| f(r)).count() as u64;
    assert_eq!(twse["traded"].as_u64().unwrap(), rows.len() as u64);
    assert_eq!(
        twse["advancers"].as_u64().unwrap(),
        count(&|r| r.change > Decimal::ZERO)
    );
    assert_eq!(
        twse["decliners"].as_u64().unwrap(),
        count(&|r| r.change < Decimal::ZERO)
    );
    assert_eq!(
        twse["unchanged"].as_u64().unwrap(),
        count(&|r| r.change.is_zero())
    );
    assert_eq!(twse["not_traded"].as_u64().unwrap(), untraded as u64);
    assert_eq!(
        twse["volume"].as_i64().unwrap(),
        rows.iter().map(|r| r.volume).sum::<i64>()
    );
    assert_eq!(
        twse["value"].as_i64().unwrap(),
        rows.iter().map(|r| r.value).sum::<i64>()
    );
    assert_eq!(
        twse["transactions"].as_i64().unwrap(),
        rows.iter().map(|r| r.trades).sum::<i64>()
    );
    // Limit-up: a close of exactly +10% of the reference, on the tick (checked by hand for
    // 2465: reference 74.00 × 1.1 = 81.40 on a 0.1 tick, and it closed at 81.40).
    assert!(twse["limit_up"].as_u64().unwrap() >= 1);
    let r2465 = rows.iter().find(|r| r.code == "2465").unwrap();
    assert_eq!((r2465.close - r2465.change).to_string(), "74.0000");
    let total = body["markets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["market"] == "total")
        .unwrap();
    assert_eq!(
        total["advancers"], twse["advancers"],
        "no TPEx bars that day"
    );
    // Without a date: the newest date with bars.
    assert_eq!(
        get(&app, "/v1/stats/market").await.json()["date"],
        "2026-07-08"
    );
    // Only one market.
    let only = get(&app, "/v1/stats/market?date=2026-07-08&market=twse")
        .await
        .json();
    assert_eq!(only["markets"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn movers_match_the_recorded_body() {
    let app = app();
    load_stock_day_all(app.store.as_ref()).await;
    let (rows, _) = raw_rows();
    // change % of the reference (close − change), largest first, ties by code.
    let mut by_pct: Vec<(f64, &str)> = rows
        .iter()
        .map(|r| {
            let reference = r.close - r.change;
            let pct: f64 = (r.change * Decimal::ONE_HUNDRED / reference)
                .to_string()
                .parse()
                .unwrap();
            (pct, r.code.as_str())
        })
        .collect();
    by_pct.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap().then(a.1.cmp(b.1)));
    let res = get(
        &app,
        "/v1/stats/movers?date=2026-07-08&by=change_pct&direction=up&limit=10",
    )
    .await
    .json();
    let got: Vec<&str> = res["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["code"].as_str().unwrap())
        .collect();
    let want: Vec<&str> = by_pct.iter().take(10).map(|(_, c)| *c).collect();
    assert_eq!(got, want);
    assert_eq!(res["items"][0]["rank"], 1);
    let losers = get(
        &app,
        "/v1/stats/movers?date=2026-07-08&by=change_pct&direction=down&limit=5",
    )
    .await
    .json();
    let got: Vec<&str> = losers["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["code"].as_str().unwrap())
        .collect();
    let mut worst = by_pct.clone();
    worst.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap().then(a.1.cmp(b.1)));
    let want: Vec<&str> = worst.iter().take(5).map(|(_, c)| *c).collect();
    assert_eq!(got, want);
    // Most traded by value.
    let mut by_value: Vec<&Row> = rows.iter().collect();
    by_value.sort_by(|a, b| b.value.cmp(&a.value).then(a.code.cmp(&b.code)));
    let res = get(&app, "/v1/stats/movers?date=2026-07-08&by=value&limit=3")
        .await
        .json();
    let got: Vec<&str> = res["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        got,
        by_value
            .iter()
            .take(3)
            .map(|r| r.code.as_str())
            .collect::<Vec<_>>()
    );
    assert!(
        res["items"][0]["name"]
            .as_str()
            .is_some_and(|n| !n.is_empty()),
        "names come from the listing"
    );
    get(&app, "/v1/stats/movers?limit=0").await.problem(400);
    get(&app, "/v1/stats/movers?limit=201").await.problem(400);
}

#[tokio::test]
async fn industries_and_one_security_s_figures() {
    let app = app();
    load_stock_day_all(app.store.as_ref()).await;
    load_2330(app.store.as_ref()).await;
    let res = get(&app, "/v1/stats/industries?date=2026-07-08")
        .await
        .json();
    let items = res["items"].as_array().unwrap();
    let semi = items.iter().find(|i| i["industry"] == "半導體業").unwrap();
    assert_eq!(
        semi["count"], 1,
        "only 2330 has a profile with an industry here"
    );
    let total: u64 = items.iter().map(|i| i["count"].as_u64().unwrap()).sum();
    assert_eq!(
        total, 1361,
        "every traded security in one industry or unclassified"
    );

    let s = get(&app, "/v1/stats/2330?date=2015-05-29").await.json();
    assert_eq!(s["date"], "2015-05-29");
    assert_eq!(s["bars"], 20);
    // May 2015's highest high and lowest low (recorded body).
    assert_eq!(s["high_52w"]["price"], "149.00");
    assert_eq!(s["low_52w"]["price"], "144.50");
    assert!(s["returns"]["1w"].is_number());
    assert!(
        s["returns"]["1y"].is_null(),
        "a year of history is not stored"
    );
    assert!(s["volatility_60d"].is_null(), "fewer than 60 returns");
    assert!(s["volatility_20d"].is_null(), "19 returns in 20 bars");
    assert!(
        s["mean_volume_20d"].as_f64().unwrap() > 0.0,
        "20 bars: a mean volume"
    );
    get(&app, "/v1/stats/2330?date=2010-01-01")
        .await
        .problem(404);
}
