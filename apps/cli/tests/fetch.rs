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

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
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

    let csv = stdout(&run(&["fetch", "--csv", "quote", "2330", "--mis-url", &url]).await);
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
        csv.contains("2330,2015-05-08,146.00,147.50,146.00,146.50,0.00,20035646,2938305595,7730"),
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
    assert_eq!(
        inst.lines()
            .next()
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>(),
        [
            "code",
            "name",
            "date",
            "foreign",
            "foreign_dealer",
            "trust",
            "dealer_own",
            "dealer_hedge",
            "dealer",
            "total"
        ],
        "{inst}"
    );
    assert_eq!(
        inst.lines()
            .nth(1)
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>(),
        [
            "2330",
            "台積電",
            "2023-01-30",
            "80641049",
            "0",
            "937673",
            "441000",
            "439408",
            "880408",
            "82459130"
        ],
        "own-account and hedging apart:\n{inst}"
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

/// Serves `file` for GET `p` when every query pair in `query` matches.
async fn serve_query(s: &MockServer, p: &str, query: &[(&str, &str)], file: &str) {
    let mut m = Mock::given(method("GET")).and(path(p));
    for (k, v) in query {
        m = m.and(query_param(*k, *v));
    }
    let body = ResponseTemplate::new(200).set_body_bytes(fixture(file));
    m.respond_with(body).mount(s).await;
}

const ST43: &str = "/web/stock/aftertrading/daily_trading_info/st43_result.php";

#[tokio::test]
async fn history_of_an_otc_code_is_never_labelled_with_another_codes_body() {
    // The stand-in answers 2330's month whatever stockNo is asked (as the issue saw).
    let s = server().await;
    let o = run(&[
        "fetch",
        "history",
        "6223",
        "--from",
        "2015-05",
        "--to",
        "2015-05",
        "--csv",
        "--twse-url",
        &s.uri(),
        "--tpex-url",
        &s.uri(),
    ])
    .await;
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(!out.contains("6223,"), "nothing labelled 6223:\n{out}");
    let err = stderr(&o);
    assert!(
        err.contains("answered for security 2330") && err.contains("6223 was asked for"),
        "{err}"
    );
}

#[tokio::test]
async fn history_of_an_otc_code_comes_from_tpex() {
    let s = MockServer::start().await;
    serve_query(
        &s,
        "/rwd/zh/afterTrading/STOCK_DAY",
        &[("stockNo", "6223")],
        "twse_rwd_BWIBBU_d_nodata_20230101.json",
    )
    .await;
    serve_query(
        &s,
        ST43,
        &[("stkno", "6223"), ("d", "104/5")],
        "tpex_st43_result_6223_201505.json",
    )
    .await;
    let csv = stdout(
        &run(&[
            "fetch",
            "history",
            "6223",
            "--from",
            "2015-05",
            "--to",
            "2015-05",
            "--csv",
            "--twse-url",
            &s.uri(),
            "--tpex-url",
            &s.uri(),
        ])
        .await,
    );
    assert_eq!(csv.lines().count(), 21, "header + 20 days:\n{csv}");
    assert!(
        csv.contains("6223,2015-05-04,93.00,93.00,91.30,91.40,-0.60,374000,34462000,323"),
        "TPEx lots and thousands in shares and dollars:\n{csv}"
    );
    assert!(
        csv.contains("6223,2015-05-05,91.50,93.20,91.20,91.80,+0.40,"),
        "{csv}"
    );
}

#[tokio::test]
async fn daily_sums_up_untraded_rows_in_one_line_and_lists_them_with_verbose() {
    let s = MockServer::start().await;
    serve_query(
        &s,
        "/www/zh-tw/afterTrading/dailyQuotes",
        &[("date", "2023/01/30")],
        "tpex_stk_quotes_20230130.json",
    )
    .await;
    let args = [
        "fetch",
        "daily",
        "--market",
        "tpex",
        "--date",
        "2023-01-30",
        "--tpex-url",
        &s.uri(),
    ];
    let o = run(&args).await;
    let out = stdout(&o);
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "one summary line:\n{err}");
    assert!(
        err.contains("skipped 3336 rows (3336 not traded); --verbose lists them"),
        "{err}"
    );
    let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "code", "name", "date", "open", "high", "low", "close", "change", "volume", "value",
            "trades"
        ]
    );
    let mut verbose = args.to_vec();
    verbose.push("--verbose");
    let err = stderr(&run(&verbose).await);
    assert_eq!(err.lines().count(), 3336, "one line per skipped row");
}

#[tokio::test]
async fn daily_filters_codes_and_shows_name_change_and_lots() {
    let s = MockServer::start().await;
    serve_query(
        &s,
        "/www/zh-tw/afterTrading/dailyQuotes",
        &[("date", "2023/01/30")],
        "tpex_stk_quotes_20230130.json",
    )
    .await;
    let o = run(&[
        "fetch",
        "daily",
        "6223",
        "6488",
        "--market",
        "tpex",
        "--date",
        "2023-01-30",
        "--lots",
        "--tpex-url",
        &s.uri(),
    ])
    .await;
    let out = stdout(&o);
    let rows: Vec<Vec<&str>> = out
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 2, "{out}");
    assert_eq!(
        rows[0],
        [
            "6223",
            "旺矽",
            "2023-01-30",
            "118.50",
            "122.50",
            "118.00",
            "120.50",
            "+4.00",
            "3592.729",
            "432780552",
            "2628"
        ]
    );
    assert_eq!(rows[1][..2], ["6488", "環球晶"]);
    assert!(stderr(&o).is_empty(), "no skipped-row noise when filtering");

    // A code that is not on this market: said plainly, exit 3.
    let o = run(&[
        "fetch",
        "daily",
        "2330",
        "--market",
        "tpex",
        "--date",
        "2023-01-30",
        "--tpex-url",
        &s.uri(),
    ])
    .await;
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains(
            "no 2330 in TPEx's daily report for 2023-01-30 (a listed code? try --market twse)"
        ),
        "{}",
        stderr(&o)
    );
}

#[tokio::test]
async fn a_day_without_trading_says_so_and_exits_3() {
    let s = MockServer::start().await;
    serve_query(
        &s,
        "/rwd/zh/afterTrading/MI_INDEX",
        &[("date", "20230101")],
        "twse_rwd_MI_INDEX_MS_nodata_20230101.json",
    )
    .await;
    serve_query(
        &s,
        "/www/zh-tw/afterTrading/dailyQuotes",
        &[("date", "2023/01/01")],
        "tpex_stk_quotes_nodata_20230101.json",
    )
    .await;
    // The classic site's "no data" body is the same for every report (recorded for BWIBBU_d).
    serve(
        &s,
        "/rwd/zh/fund/T86",
        Some("20230101"),
        "twse_rwd_BWIBBU_d_nodata_20230101.json",
    )
    .await;
    for (market, flag) in [("twse", "--twse-url"), ("tpex", "--tpex-url")] {
        let o = run(&[
            "fetch",
            "daily",
            "--market",
            market,
            "--date",
            "2023-01-01",
            flag,
            &s.uri(),
        ])
        .await;
        assert_eq!(o.status.code(), Some(3), "{market}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("no trading data for 2023-01-01"),
            "{market}: {}",
            stderr(&o)
        );
        assert!(o.stdout.is_empty());
    }
    let o = run(&[
        "fetch",
        "institutional",
        "--date",
        "2023-01-01",
        "--twse-url",
        &s.uri(),
    ])
    .await;
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains("no trading data for 2023-01-01 in T86"),
        "{}",
        stderr(&o)
    );
}

#[tokio::test]
async fn institutional_for_an_otc_code_says_t86_is_twse_only() {
    let s = server().await;
    let o = run(&[
        "fetch",
        "institutional",
        "--date",
        "2023-01-30",
        "6223",
        "--twse-url",
        &s.uri(),
    ])
    .await;
    assert_eq!(o.status.code(), Some(3), "not an empty table with exit 0");
    assert!(
        stderr(&o)
            .contains("no 6223 in T86 for 2023-01-30: T86 covers TWSE-listed securities only"),
        "{}",
        stderr(&o)
    );
}

#[tokio::test]
async fn profile_of_an_otc_code_comes_from_tpex_with_the_industry_by_name() {
    let s = server().await;
    serve(
        &s,
        "/mopsfin_t187ap03_O",
        None,
        "tpex_openapi_mopsfin_t187ap03_O_20260708.json",
    )
    .await;
    let url = s.uri();
    let out = stdout(
        &run(&[
            "fetch",
            "profile",
            "6223",
            "--openapi-url",
            &url,
            "--tpex-openapi-url",
            &url,
        ])
        .await,
    );
    let row: Vec<&str> = out.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(
        row,
        [
            "6223",
            "旺矽",
            "TPEx",
            "旺矽科技股份有限公司",
            "半導體業",
            "2003-01-06"
        ],
        "{out}"
    );
    let o = run(&[
        "fetch",
        "profile",
        "9999",
        "--openapi-url",
        &url,
        "--tpex-openapi-url",
        &url,
    ])
    .await;
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains("no company with code '9999'"),
        "{}",
        stderr(&o)
    );
}

#[tokio::test]
async fn codes_are_found_by_name_or_code_prefix_on_both_markets() {
    let s = server().await;
    serve(
        &s,
        "/tpex_mainboard_daily_close_quotes",
        None,
        "tpex_openapi_tpex_mainboard_daily_close_quotes_EXCERPT_3rows_20261008.json",
    )
    .await;
    let url = s.uri();
    let by_name = stdout(
        &run(&[
            "fetch",
            "codes",
            "台積",
            "--openapi-url",
            &url,
            "--tpex-openapi-url",
            &url,
        ])
        .await,
    );
    assert_eq!(
        by_name
            .lines()
            .nth(1)
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["2330", "台積電", "TWSE", "yes"],
        "{by_name}"
    );
    let json: serde_json::Value = serde_json::from_str(&stdout(
        &run(&[
            "fetch",
            "codes",
            "23",
            "--json",
            "--openapi-url",
            &url,
            "--tpex-openapi-url",
            &url,
        ])
        .await,
    ))
    .unwrap();
    assert_eq!(json.as_array().unwrap().len(), 64, "codes starting with 23");
    let otc = stdout(
        &run(&[
            "fetch",
            "codes",
            "富櫃",
            "--openapi-url",
            &url,
            "--tpex-openapi-url",
            &url,
        ])
        .await,
    );
    assert!(otc.contains("006201  元大富櫃50  TPEx"), "{otc}");
}

#[tokio::test]
async fn valuations_latest_and_by_date_on_both_markets() {
    let s = MockServer::start().await;
    serve(
        &s,
        "/exchangeReport/BWIBBU_ALL",
        None,
        "openapi_BWIBBU_ALL_EXCERPT_3rows_20261008.json",
    )
    .await;
    serve(
        &s,
        "/tpex_mainboard_peratio_analysis",
        None,
        "tpex_openapi_tpex_mainboard_peratio_analysis_EXCERPT_3rows_20261008.json",
    )
    .await;
    serve(
        &s,
        "/rwd/zh/afterTrading/BWIBBU_d",
        Some("20230130"),
        "twse_rwd_BWIBBU_d_ALL_20230130.json",
    )
    .await;
    serve(
        &s,
        "/www/zh-tw/afterTrading/peQryDate",
        Some("2023/01/30"),
        "tpex_pera_20230130.json",
    )
    .await;
    let url = s.uri();
    let urls = [
        "--openapi-url",
        &url,
        "--twse-url",
        &url,
        "--tpex-url",
        &url,
        "--tpex-openapi-url",
        &url,
    ];
    let mut latest = vec!["fetch", "valuations", "2330", "6488", "1101"];
    latest.extend(urls);
    let out = stdout(&run(&latest).await);
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows[0],
        ["code", "name", "market", "date", "pe", "yield%", "pb"]
    );
    assert_eq!(
        rows[1],
        ["1101", "台泥", "TWSE", "2026-10-08", "-", "3.11", "0.83"],
        "no P/E is a dash"
    );
    assert_eq!(
        rows[2],
        [
            "2330",
            "台積電",
            "TWSE",
            "2026-10-08",
            "29.56",
            "0.86",
            "10.28"
        ]
    );
    assert_eq!(
        rows[3],
        [
            "6488",
            "環球晶",
            "TPEx",
            "2026-10-08",
            "54.85",
            "0.68",
            "5.59"
        ]
    );
    let mut dated = vec![
        "fetch",
        "valuations",
        "1101",
        "1240",
        "--date",
        "2023-01-30",
        "--csv",
    ];
    dated.extend(urls);
    let csv = stdout(&run(&dated).await);
    assert!(
        csv.contains("1101,台泥,TWSE,2023-01-30,30.79,5.41,1.27"),
        "{csv}"
    );
    assert!(
        csv.contains("1240,茂生農經,TPEx,2023-01-30,46.32,5.68,1.42"),
        "{csv}"
    );
}

#[tokio::test]
async fn each_subcommand_lists_only_the_endpoints_it_calls() {
    let help = stdout(&run(&["fetch", "quote", "--help"]).await);
    assert!(help.starts_with("Real-time snapshots"), "{help}");
    assert!(help.contains("--mis-url"), "{help}");
    for other in [
        "--twse-url",
        "--openapi-url",
        "--tpex-url",
        "--tpex-openapi-url",
    ] {
        assert!(!help.contains(other), "{other} in quote --help:\n{help}");
    }
    assert!(
        help.contains("Endpoints:") && help.contains("Output:"),
        "{help}"
    );
    let help = stdout(&run(&["fetch", "history", "--help"]).await);
    assert!(
        help.contains("--twse-url") && help.contains("--tpex-url"),
        "{help}"
    );
    assert!(!help.contains("--mis-url"), "{help}");
}
