//! `experiment fetch ...` against a local mock serving recorded bodies under the real paths.

use std::process::{Command, Output};

use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn fixture(name: &str) -> Vec<u8> {
    let dir = env!("CARGO_MANIFEST_DIR");
    std::fs::read(format!("{dir}/../../experiment-twse/tests/fixtures/{name}")).unwrap()
}

/// Serves the recorded body `file` for GET `p` (and, when given, query `date`).
async fn serve(s: &MockServer, p: &str, date: Option<&str>, file: &str) {
    let mut m = Mock::given(method("GET")).and(path(p));
    if let Some(d) = date {
        m = m.and(query_param("date", d));
    }
    let body = ResponseTemplate::new(200).set_body_bytes(fixture(file));
    m.respond_with(body).mount(s).await;
}

async fn run(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_experiment"))
            .args(&args)
            .env("RUST_BACKTRACE", "0")
            .env_remove("EXPERIMENT_DATA_DIR")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

async fn server() -> MockServer {
    let s = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/stock/index.jsp"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&s)
        .await;
    let mis = "mis_getStockInfo_tse2330_otc6547_afterclose_20260731_limitup.json";
    serve(&s, "/stock/api/getStockInfo.jsp", None, mis).await;
    let month = "twse_exchangeReport_STOCK_DAY_2330_201505.json";
    serve(
        &s,
        "/rwd/zh/afterTrading/STOCK_DAY",
        Some("20150501"),
        month,
    )
    .await;
    let all = "openapi_STOCK_DAY_ALL_20260708.json";
    serve(&s, "/exchangeReport/STOCK_DAY_ALL", None, all).await;
    serve(
        &s,
        "/rwd/zh/fund/T86",
        None,
        "twse_rwd_T86_ALLBUT0999_20230130.json",
    )
    .await;
    let profiles = "openapi_t187ap03_L_EXCERPT_3rows_20261009.json";
    serve(&s, "/opendata/t187ap03_L", None, profiles).await;
    s
}

#[tokio::test]
async fn quotes_as_a_table_json_and_csv() {
    let s = server().await;
    let url = s.uri();
    let table = stdout(&run(&["fetch", "quote", "2330", "6547", "--mis-url", &url]).await);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("code  name"), "{table}");
    assert!(
        lines[1].starts_with("2330  台積電    2425.0000  9.98"),
        "CJK names are aligned by display width:\n{table}"
    );
    assert!(lines[2].starts_with("6547  高端疫苗  45.8000"), "{table}");

    let json: serde_json::Value = serde_json::from_str(&stdout(
        &run(&["fetch", "quote", "2330", "--json", "--mis-url", &url]).await,
    ))
    .unwrap();
    assert_eq!(json[0]["code"], "2330");
    assert_eq!(json[0]["last"], "2425.0000");

    let csv = stdout(&run(&["fetch", "--csv", "--mis-url", &url, "quote", "2330"]).await);
    assert!(csv.starts_with("code,name,last,change%,open,high,low,ref,volume,bid,ask,time\n2330,台積電,2425.0000,9.98,"), "{csv}");
}

#[tokio::test]
async fn history_backfills_into_a_data_dir_and_resumes() {
    let s = server().await;
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "fetch",
        "history",
        "2330",
        "--from",
        "2015-05",
        "--to",
        "2015-05",
        "--csv",
        "--twse-url",
        &s.uri(),
        "--data-dir",
        dir.path().to_str().unwrap(),
    ];
    let csv = stdout(&run(&args).await);
    assert_eq!(csv.lines().count(), 21, "header + 20 trading days:\n{csv}");
    assert!(
        csv.contains("2330,2015-05-08,146.00,147.50,146.00,146.50,20035646,2938305595,7730"),
        "{csv}"
    );
    let before = s.received_requests().await.unwrap().len();
    let again = stdout(&run(&args).await);
    assert_eq!(again, csv, "the second run reads the stored month");
    assert_eq!(
        s.received_requests().await.unwrap().len(),
        before,
        "and does not fetch it again"
    );
}

#[tokio::test]
async fn daily_institutional_and_profile() {
    let s = server().await;
    let url = s.uri();
    let json: serde_json::Value = serde_json::from_str(&stdout(
        &run(&["fetch", "daily", "--json", "--openapi-url", &url]).await,
    ))
    .unwrap();
    assert_eq!(json.as_array().unwrap().len(), 1361);
    let inst = stdout(
        &run(&[
            "fetch",
            "institutional",
            "--date",
            "2023-01-30",
            "2330",
            "--twse-url",
            &url,
        ])
        .await,
    );
    assert!(
        inst.lines()
            .nth(1)
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>()
            == ["2330", "台積電", "80641049", "937673", "880408", "82459130"],
        "{inst}"
    );
    let profile = stdout(&run(&["fetch", "profile", "1101", "--openapi-url", &url]).await);
    assert!(
        profile.contains("臺灣水泥股份有限公司") && profile.contains("1962-02-09"),
        "{profile}"
    );
}

#[tokio::test]
async fn a_block_page_is_a_clear_error() {
    let s = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(fixture(
            "twse_blocked_security_page_openapi_STOCK_DAY_ALL.html",
        )))
        .mount(&s)
        .await;
    let o = run(&["fetch", "daily", "--openapi-url", &s.uri()]).await;
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("blocked by STOCK_DAY_ALL's security filter") && err.contains("back off"),
        "{err}"
    );
}
