//! Parsers over genuine recorded bodies (see tests/fixtures/SOURCES.md).

use chrono::NaiveDate;
use experiment_core::model::SecurityCode;
use experiment_twse::parse::{check_block_page, stock_day};
use experiment_twse::Error;
use proptest::prelude::*;
use rust_decimal::Decimal;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn tsmc() -> SecurityCode {
    SecurityCode::new("2330").unwrap()
}

fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

#[test]
fn stock_day_2025_partial_month() {
    let body = fixture("twse_rwd_STOCK_DAY_2330_202505_partial_month.json");
    let p = stock_day(&body, &tsmc(), ymd(2025, 5, 1)).unwrap();
    assert_eq!(p.items.len(), 11);
    assert!(p.skipped.is_empty());
    let first = &p.items[0];
    assert_eq!(first.date, ymd(2025, 5, 2));
    assert_eq!(first.open.to_string(), "938.00");
    assert_eq!(first.close.to_string(), "950.00");
    assert_eq!(first.volume, 48_129_292);
    assert_eq!(first.value, Decimal::from(45_206_565_214u64));
    assert_eq!(first.trades, Some(99_509));
    // thousands separator inside a price
    let may15 = p.items.iter().find(|b| b.date == ymd(2025, 5, 15)).unwrap();
    assert_eq!(may15.high.to_string(), "1000.00");
    assert_eq!(p.items.last().unwrap().close.to_string(), "998.00");
}

#[test]
fn stock_day_2015_legacy_with_space_prefixed_zero_change() {
    let body = fixture("twse_exchangeReport_STOCK_DAY_2330_201505.json");
    let p = stock_day(&body, &tsmc(), ymd(2015, 5, 1)).unwrap();
    assert_eq!(p.items.len(), 20);
    let may8 = p.items.iter().find(|b| b.date == ymd(2015, 5, 8)).unwrap();
    assert_eq!(may8.close.to_string(), "146.50");
}

#[test]
fn stock_day_rejects_the_wrong_month() {
    let body = fixture("twse_rwd_STOCK_DAY_2330_202505_partial_month.json");
    let err = stock_day(&body, &tsmc(), ymd(2025, 4, 1)).unwrap_err();
    assert!(
        matches!(&err, Error::WrongPeriod { asked, got, .. } if asked == "2025-04" && got == "2025-05"),
        "{err}"
    );
}

#[test]
fn stock_day_no_data_is_empty_not_an_error() {
    let body = fixture("twse_rwd_BWIBBU_d_nodata_20230101.json");
    let p = stock_day(&body, &tsmc(), ymd(2023, 1, 1)).unwrap();
    assert!(p.items.is_empty() && p.skipped.is_empty());
}

#[test]
fn stock_day_with_the_2025_note_column_and_a_no_trade_row() {
    // The 2025 layout adds 註記 as a 10th column; columns are found by name, so reordering
    // and extra columns are harmless. A "--" row is skipped with a reason naming it.
    let body = r#"{"stat":"OK","date":"20251201","fields":["日期","成交股數","成交金額","開盤價","最高價","最低價","收盤價","漲跌價差","成交筆數","註記"],
      "data":[["114/12/01","1,000","10,000","10.00","10.50","9.90","10.20","X0.00","12",""],
              ["114/12/02","0","0","--","--","--","--"," 0.00","0",""],
              ["114/12/03","1,000","10,000","10.00","9.00","9.90","10.20","+0.10","12","*"]]}"#;
    let p = stock_day(body.as_bytes(), &tsmc(), ymd(2025, 12, 1)).unwrap();
    assert_eq!(p.items.len(), 1);
    assert_eq!(p.items[0].close.to_string(), "10.20");
    assert_eq!(p.skipped.len(), 2);
    assert!(
        p.skipped[0].location.contains("row 2 (114/12/02)"),
        "{:?}",
        p.skipped
    );
    assert!(p.skipped[0].reason.contains("no trade"));
    assert!(p.skipped[1].reason.contains("low"), "{:?}", p.skipped[1]);
}

#[test]
fn the_block_page_is_recognised_by_content() {
    let body = fixture("twse_blocked_security_page_openapi_STOCK_DAY_ALL.html");
    let err = check_block_page("STOCK_DAY_ALL", &body).unwrap_err();
    match &err {
        Error::Blocked { code, .. } => assert_eq!(code, "7641438216180417887"),
        other => panic!("expected Blocked, got {other:?}"),
    }
    assert!(err.is_transient());
    let err = stock_day(&body, &tsmc(), ymd(2025, 5, 1)).unwrap_err();
    assert!(matches!(err, Error::Blocked { .. }));
    assert!(check_block_page("x", b"{\"stat\":\"OK\"}").is_ok());
    assert!(matches!(
        check_block_page("x", b"<html>maintenance</html>"),
        Err(Error::Malformed { .. })
    ));
}

proptest! {
    #[test]
    fn stock_day_never_panics_on_arbitrary_bytes(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = stock_day(&body, &tsmc(), ymd(2025, 5, 1));
    }

    #[test]
    fn stock_day_never_panics_on_arbitrary_rows(rows in proptest::collection::vec(proptest::collection::vec("\\PC{0,12}", 0..12), 0..8)) {
        let body = serde_json::json!({
            "stat": "OK", "date": "20250501",
            "fields": ["日期","成交股數","成交金額","開盤價","最高價","最低價","收盤價","漲跌價差","成交筆數"],
            "data": rows,
        });
        let p = stock_day(body.to_string().as_bytes(), &tsmc(), ymd(2025, 5, 1)).unwrap();
        prop_assert_eq!(p.items.len() + p.skipped.len(), rows.len());
    }
}
