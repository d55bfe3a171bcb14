//! The client end to end against a local mock serving recorded bodies under the real paths.

use std::time::{Duration, Instant};

use chrono::NaiveDate;
use experiment_core::model::SecurityCode;
use experiment_twse::{Channel, Error, TwseClient, TwseConfig};
use wiremock::matchers::{header_regex, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// A client pointed at `server` for every host, fast enough for tests.
fn client(server: &MockServer, interval: f64) -> TwseClient {
    TwseClient::new(TwseConfig {
        mis_url: server.uri(),
        openapi_url: server.uri(),
        twse_url: format!("{}/", server.uri()),
        tpex_url: server.uri(),
        tpex_openapi_url: server.uri(),
        mis_interval_secs: interval,
        openapi_interval_secs: interval,
        twse_interval_secs: interval,
        tpex_interval_secs: interval,
        backoff_ms: 10,
        ..TwseConfig::default()
    })
    .unwrap()
}

/// Serves the recorded body `file` for GET `p`.
async fn serve(s: &MockServer, p: &str, file: &str) {
    let body = ResponseTemplate::new(200).set_body_bytes(fixture(file));
    Mock::given(method("GET"))
        .and(path(p))
        .respond_with(body)
        .mount(s)
        .await;
}

fn code(c: &str) -> SecurityCode {
    SecurityCode::new(c).unwrap()
}

#[tokio::test]
async fn mis_primes_the_session_cookie_then_batches_channels() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/stock/index.jsp"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("Set-Cookie", "JSESSIONID=abc123; Path=/")
                .set_body_string("<html>ok</html>"),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/stock/api/getStockInfo.jsp"))
        .and(header_regex("cookie", "JSESSIONID=abc123"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(fixture(
            "mis_getStockInfo_tse2330_otc6547_afterclose_20260731_limitup.json",
        )))
        .mount(&server)
        .await;
    let mut config = TwseConfig {
        mis_batch: 3,
        ..TwseConfig::default()
    };
    config.mis_url = server.uri();
    config.mis_interval_secs = 0.01;
    let c = TwseClient::new(config).unwrap();
    let channels: Vec<Channel> = ["2330", "6547", "0050"]
        .iter()
        .flat_map(|s| Channel::both(&code(s)))
        .collect();
    let p = c.quotes(&channels).await.unwrap();
    // 6 channels in batches of 3: two requests, each answered with the same two quotes
    assert_eq!(p.items.len(), 4);
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(
        reqs[0].url.path(),
        "/stock/index.jsp",
        "the cookie is primed first"
    );
    let batches: Vec<String> = reqs[1..]
        .iter()
        .map(|r| {
            r.url
                .query_pairs()
                .find(|(k, _)| k == "ex_ch")
                .unwrap()
                .1
                .into_owned()
        })
        .collect();
    assert_eq!(
        batches,
        vec![
            "tse_2330.tw|otc_2330.tw|tse_6547.tw",
            "otc_6547.tw|tse_0050.tw|otc_0050.tw"
        ]
    );
    // a second call does not prime again (expect(1) above is checked when the server drops)
    c.quotes(&channels[..1]).await.unwrap();
}

#[tokio::test]
async fn requests_to_one_host_are_spaced_by_its_interval() {
    let server = MockServer::start().await;
    serve(
        &server,
        "/exchangeReport/BWIBBU_ALL",
        "openapi_BWIBBU_ALL_EXCERPT_3rows_20261008.json",
    )
    .await;
    let c = client(&server, 0.3);
    let start = Instant::now();
    let mut times = Vec::new();
    for _ in 0..4 {
        c.valuations().await.unwrap();
        times.push(start.elapsed());
    }
    for w in times.windows(2) {
        assert!(
            w[1] - w[0] >= Duration::from_millis(290),
            "requests closer than the interval: {times:?}"
        );
    }
}

#[tokio::test]
async fn a_block_page_backs_off_without_hammering_the_site() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/exchangeReport/STOCK_DAY_ALL"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/html")
                .set_body_bytes(fixture(
                    "twse_blocked_security_page_openapi_STOCK_DAY_ALL.html",
                )),
        )
        .mount(&server)
        .await;
    let c = client(&server, 0.01);
    match c.daily_all(None).await.unwrap_err() {
        Error::Blocked { code, backoff, .. } => {
            assert_eq!(code, "7641438216180417887");
            assert_eq!(backoff, Duration::from_secs(900));
        }
        e => panic!("expected Blocked, got {e:?}"),
    }
    // every later call to that host fails at once, with no request at all
    for _ in 0..5 {
        assert!(matches!(
            c.daily_all(None).await,
            Err(Error::Blocked { .. })
        ));
        assert!(matches!(c.valuations().await, Err(Error::Blocked { .. })));
    }
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        1,
        "no retry loop after a block"
    );
}

#[tokio::test]
async fn a_307_block_from_the_classic_site_is_a_block_too() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/rwd/zh/fund/T86"))
        .respond_with(ResponseTemplate::new(307).set_body_bytes(fixture(
            "twse_blocked_security_page_openapi_STOCK_DAY_ALL.html",
        )))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server, 0.01);
    let err = c
        .institutional(NaiveDate::from_ymd_opt(2023, 1, 30).unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Blocked { .. }), "{err:?}");
}

#[tokio::test]
async fn server_errors_are_retried_and_client_errors_are_not() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/opendata/t187ap03_L"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    serve(
        &server,
        "/opendata/t187ap03_L",
        "openapi_t187ap03_L_EXCERPT_3rows_20261009.json",
    )
    .await;
    Mock::given(method("GET"))
        .and(path("/holidaySchedule/holidaySchedule"))
        .respond_with(ResponseTemplate::new(404))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server, 0.01);
    assert_eq!(c.profiles().await.unwrap().items.len(), 3);
    let profile_requests = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/opendata/t187ap03_L")
        .count();
    assert_eq!(profile_requests, 3, "two 503s, then the answer");
    let err = c.holidays().await.unwrap_err();
    assert!(matches!(err, Error::Http { status: 404, .. }), "{err:?}");
    assert!(!err.is_transient());
}

#[tokio::test]
async fn retries_give_up_after_the_configured_count() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(502))
        .mount(&server)
        .await;
    let c = client(&server, 0.01);
    let err = c.valuations().await.unwrap_err();
    assert!(
        matches!(err, Error::Http { status: 502, .. }) && err.is_transient(),
        "{err:?}"
    );
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        4,
        "1 try + 3 retries"
    );
}

#[tokio::test]
async fn a_body_for_another_month_is_rejected() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/rwd/zh/afterTrading/STOCK_DAY"))
        .and(query_param("stockNo", "2330"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_bytes(fixture("twse_rwd_STOCK_DAY_2330_202505_partial_month.json")),
        )
        .mount(&server)
        .await;
    let c = client(&server, 0.01);
    let may = c
        .month_history(&code("2330"), NaiveDate::from_ymd_opt(2025, 5, 20).unwrap())
        .await
        .unwrap();
    assert_eq!(may.items.len(), 11);
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(
        reqs[0]
            .url
            .query_pairs()
            .find(|(k, _)| k == "date")
            .unwrap()
            .1,
        "20250501"
    );
    let err = c
        .month_history(&code("2330"), NaiveDate::from_ymd_opt(2025, 4, 1).unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::WrongPeriod { .. }), "{err:?}");
}

#[test]
fn bad_configuration_is_rejected_naming_the_field() {
    let err = TwseClient::new(TwseConfig {
        twse_url: "ftp://x".into(),
        ..TwseConfig::default()
    })
    .unwrap_err();
    assert!(err.to_string().contains("twse_url"), "{err}");
    let err = TwseClient::new(TwseConfig {
        extra_root_certs: vec!["/nonexistent/ca.pem".into()],
        ..TwseConfig::default()
    })
    .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
}

#[tokio::test]
async fn backfill_stores_months_reports_progress_and_resumes() {
    use experiment_core::memory::MemoryStore;
    use experiment_core::Store;
    use experiment_twse::backfill::{backfill, MonthOutcome};

    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/rwd/zh/afterTrading/STOCK_DAY"))
        .and(query_param("date", "20150501"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_bytes(fixture("twse_exchangeReport_STOCK_DAY_2330_201505.json")),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/rwd/zh/afterTrading/STOCK_DAY"))
        .and(query_param("date", "20150601"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_bytes(fixture("twse_rwd_BWIBBU_d_nodata_20230101.json")),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/rwd/zh/afterTrading/STOCK_DAY"))
        .and(query_param("date", "20150701"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let c = client(&server, 0.01);
    let store = MemoryStore::new();
    let today = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
    let (from, to) = (
        NaiveDate::from_ymd_opt(2015, 5, 1).unwrap(),
        NaiveDate::from_ymd_opt(2015, 7, 31).unwrap(),
    );
    let mut seen = Vec::new();
    let report = backfill(&c, &store, &[code("2330")], from, to, today, &mut |p| {
        seen.push((p.done, p.total))
    })
    .await
    .unwrap();
    assert_eq!(seen, vec![(1, 3), (2, 3), (3, 3)]);
    assert_eq!(
        report[0].outcome,
        MonthOutcome::Stored {
            bars: 20,
            skipped: 0
        }
    );
    assert_eq!(
        report[1].outcome,
        MonthOutcome::Stored {
            bars: 0,
            skipped: 0
        },
        "no data is an empty month"
    );
    assert!(
        matches!(&report[2].outcome, MonthOutcome::Failed(why) if why.contains("500")),
        "{:?}",
        report[2]
    );
    assert_eq!(
        store
            .daily_bars(&code("2330"), from, to)
            .await
            .unwrap()
            .len(),
        20
    );

    // run again: May is over and stored, so it is not fetched again
    let before = server.received_requests().await.unwrap().len();
    let again = backfill(&c, &store, &[code("2330")], from, to, today, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(again[0].outcome, MonthOutcome::AlreadyStored);
    let may_requests = server.received_requests().await.unwrap()[before..]
        .iter()
        .filter(|r| r.url.query().is_some_and(|q| q.contains("20150501")))
        .count();
    assert_eq!(may_requests, 0);
}

#[tokio::test]
async fn sources_turn_responses_into_events() {
    use experiment_core::model::{EventKind, Payload};
    use experiment_core::Source;
    use experiment_twse::source::{DailySource, MisSource};

    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/stock/index.jsp"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    serve(
        &server,
        "/stock/api/getStockInfo.jsp",
        "mis_getStockInfo_tse2330_otc6547_afterclose_20260731_limitup.json",
    )
    .await;
    serve(
        &server,
        "/exchangeReport/STOCK_DAY_ALL",
        "openapi_STOCK_DAY_ALL_20260708.json",
    )
    .await;
    serve(
        &server,
        "/tpex_mainboard_daily_close_quotes",
        "tpex_openapi_tpex_mainboard_daily_close_quotes_EXCERPT_3rows_20261008.json",
    )
    .await;
    let c = client(&server, 0.01);
    let now = chrono::Utc::now();
    let mis = MisSource::new(c.clone(), Channel::both(&code("2330")).to_vec());
    let batch = mis.poll(now).await.unwrap();
    assert_eq!(batch.events.len(), 2);
    assert!(batch
        .events
        .iter()
        .all(|e| e.kind() == EventKind::Quote && e.source == "twse.mis"));
    assert_eq!(batch.events[0].key, "2330");

    let daily = DailySource::new(c).poll(now).await.unwrap();
    assert_eq!(daily.events.len(), 1361 + 3);
    assert_eq!(daily.skipped.len(), 8);
    assert!(daily
        .events
        .iter()
        .any(|e| matches!(&e.payload, Payload::DailyBar(b) if b.code.as_str() == "6488")));
}

#[tokio::test]
async fn history_of_an_otc_code_is_asked_of_tpex_and_the_market_remembered() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/rwd/zh/afterTrading/STOCK_DAY"))
        .and(query_param("stockNo", "6223"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_bytes(fixture("twse_rwd_BWIBBU_d_nodata_20230101.json")),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(
            "/web/stock/aftertrading/daily_trading_info/st43_result.php",
        ))
        .and(query_param("stkno", "6223"))
        .and(query_param("d", "104/5"))
        .respond_with(
            ResponseTemplate::new(200).set_body_bytes(fixture("tpex_st43_result_6223_201505.json")),
        )
        .mount(&server)
        .await;
    let c = client(&server, 0.01);
    let may = NaiveDate::from_ymd_opt(2015, 5, 1).unwrap();
    assert_eq!(c.known_exchange(&code("6223")), None);
    let p = c.history_month(&code("6223"), may).await.unwrap();
    assert_eq!(p.items.len(), 20);
    assert!(p
        .items
        .iter()
        .all(|b| b.exchange == experiment_core::model::Exchange::Tpex));
    assert_eq!(
        c.known_exchange(&code("6223")),
        Some(experiment_core::model::Exchange::Tpex)
    );
    // Known now: the next month goes to TPEx first, without asking TWSE.
    let twse_asks = |reqs: &[wiremock::Request]| {
        reqs.iter()
            .filter(|r| r.url.path().ends_with("STOCK_DAY"))
            .count()
    };
    let before = twse_asks(&server.received_requests().await.unwrap());
    c.history_month(&code("6223"), may).await.unwrap();
    assert_eq!(
        twse_asks(&server.received_requests().await.unwrap()),
        before
    );
}

#[tokio::test]
async fn a_twse_body_about_another_code_is_an_error_not_a_relabel() {
    let server = MockServer::start().await;
    // A stand-in that answers 2330's month whatever stockNo is asked.
    serve(
        &server,
        "/rwd/zh/afterTrading/STOCK_DAY",
        "twse_exchangeReport_STOCK_DAY_2330_201505.json",
    )
    .await;
    let c = client(&server, 0.01);
    let may = NaiveDate::from_ymd_opt(2015, 5, 1).unwrap();
    let err = c.history_month(&code("6223"), may).await.unwrap_err();
    assert!(matches!(err, Error::WrongSecurity { .. }), "{err:?}");
    assert!(!err.is_transient());
}

#[tokio::test]
async fn mis_asks_only_the_market_a_code_is_known_on() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/stock/index.jsp"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    serve(
        &server,
        "/stock/api/getStockInfo.jsp",
        "mis_getStockInfo_tse2330_otc6547_afterclose_20260731_limitup.json",
    )
    .await;
    let c = client(&server, 0.01);
    let codes = [code("2330"), code("6547")];
    c.quotes_of(&codes).await.unwrap();
    c.quotes_of(&codes).await.unwrap();
    let asked: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter_map(|r| {
            r.url
                .query_pairs()
                .find(|(k, _)| k == "ex_ch")
                .map(|(_, v)| v.into_owned())
        })
        .collect();
    assert_eq!(
        asked,
        [
            "tse_2330.tw|otc_2330.tw|tse_6547.tw|otc_6547.tw",
            "tse_2330.tw|otc_6547.tw"
        ],
        "unknown codes on both markets, then only where MIS answered"
    );
}
