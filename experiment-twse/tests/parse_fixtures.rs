//! Parsers over genuine recorded bodies (see tests/fixtures/SOURCES.md).

use chrono::NaiveDate;
use chrono::{TimeZone, Utc};
use experiment_core::model::Exchange;
use experiment_core::model::SecurityCode;
use experiment_twse::parse::{
    check_block_page, company_profiles, holidays, institutional, mi_index, quotes, stock_day,
    stock_day_all, tpex_company_profiles, tpex_daily_quotes, tpex_month_history,
    tpex_openapi_daily_quotes, tpex_openapi_valuations, tpex_valuations, valuations, valuations_on,
    Board,
};
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

fn d(s: &str) -> rust_decimal::Decimal {
    s.parse().unwrap()
}

#[test]
fn mis_quotes_tse_and_otc_with_limit_up() {
    let body = fixture("mis_getStockInfo_tse2330_otc6547_afterclose_20260731_limitup.json");
    let now = Utc::now();
    let p = quotes(&body, Board::Regular, now).unwrap();
    assert_eq!(p.items.len(), 2);
    let tsmc = &p.items[0];
    assert_eq!(
        (tsmc.code.as_str(), tsmc.exchange, tsmc.name.as_str()),
        ("2330", Exchange::Twse, "台積電")
    );
    assert_eq!(tsmc.last, Some(d("2425.0000")));
    assert_eq!(tsmc.limit_up, Some(d("2425.0000")), "closed limit-up");
    assert_eq!(tsmc.reference, Some(d("2205.0000")));
    assert_eq!(
        tsmc.volume,
        Some(56_896_000),
        "lots are converted to shares"
    );
    assert!(tsmc.asks.is_empty(), "'a': '-' at limit-up means no asks");
    assert_eq!(tsmc.bids.len(), 5);
    assert_eq!(
        (tsmc.bids[0].price, tsmc.bids[0].volume),
        (d("2425.0000"), 1_989_000)
    );
    assert_eq!(
        tsmc.exchange_time,
        Utc.with_ymd_and_hms(2026, 7, 31, 6, 30, 0).unwrap()
    );
    assert_eq!(tsmc.received_at, now);
    let otc = &p.items[1];
    assert_eq!((otc.code.as_str(), otc.exchange), ("6547", Exchange::Tpex));
    assert_eq!(otc.asks[0].price, d("45.8000"));
}

#[test]
fn mis_snapshot_without_a_trade_has_no_last_price() {
    let body = fixture("mis_getStockInfo_2330_intraday_20240516_1.json");
    let q = &quotes(&body, Board::Regular, Utc::now()).unwrap().items[0];
    assert_eq!(q.last, None, "z == '-' is 'no trade in this snapshot'");
    assert_eq!(q.last_volume, None);
    assert_eq!(q.high, Some(d("856.0000")));
    assert_eq!(q.volume, Some(23_350_000));
    assert_eq!(q.name, "台積電");
    // 2017 format with tk0/tk1 and two-decimal prices
    let old = &quotes(
        &fixture("mis_getStockInfo_2330_intraday_20170724_1.json"),
        Board::Regular,
        Utc::now(),
    )
    .unwrap()
    .items[0];
    assert_eq!(old.last, Some(d("214.50")));
}

#[test]
fn mis_odd_lots_and_indices() {
    let odd = &quotes(
        &fixture("mis_getOddInfo_2330_afterclose_20231229.json"),
        Board::OddLot,
        Utc::now(),
    )
    .unwrap()
    .items[0];
    assert_eq!(
        odd.volume,
        Some(691_301),
        "odd-lot volumes are already shares"
    );
    assert_eq!(odd.asks[0].volume, 2084);
    let taiex = &quotes(
        &fixture("mis_getStockInfo_t00_index_afterclose_20231229.json"),
        Board::Regular,
        Utc::now(),
    )
    .unwrap()
    .items[0];
    assert_eq!(taiex.code.as_str(), "t00");
    assert_eq!(taiex.last, Some(d("17930.81")));
    assert_eq!(taiex.volume, None, "an index has no share volume");
}

#[test]
fn mis_unknown_codes_are_absent_and_a_broken_item_is_skipped() {
    let body = br#"{"msgArray":[{"c":"2330","n":"x","z":"1.0","tlong":"1700000000000"},{"n":"no code"}],"rtcode":"0000"}"#;
    let p = quotes(body, Board::Regular, Utc::now()).unwrap();
    assert_eq!(p.items.len(), 1);
    assert_eq!(p.skipped.len(), 1);
    assert!(p.skipped[0].location.contains("item 2"), "{:?}", p.skipped);
    let err = quotes(
        br#"{"msgArray":[],"rtcode":"9999","rtmessage":"Bad"}"#,
        Board::Regular,
        Utc::now(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("rtcode 9999"), "{err}");
}

#[test]
fn stock_day_all_current_and_older_formats() {
    let p = stock_day_all(&fixture("openapi_STOCK_DAY_ALL_20260708.json"), None).unwrap();
    assert_eq!(p.items.len() + p.skipped.len(), 1369);
    assert_eq!(p.skipped.len(), 8, "untraded rows ('0.00') are skipped");
    assert!(p.skipped.iter().all(|s| s.reason.contains("no trade")));
    let tsmc = p.items.iter().find(|b| b.code.as_str() == "2330").unwrap();
    assert_eq!(tsmc.date, ymd(2026, 7, 8));
    assert_eq!(tsmc.close, d("2465.00"));
    assert_eq!(tsmc.volume, 25_519_599);
    assert_eq!(tsmc.trades, Some(94_688));

    let body = fixture("openapi_STOCK_DAY_ALL_nodate_2025.json");
    let err = stock_day_all(&body, None).unwrap_err();
    assert!(err.to_string().contains("pass the trading date"), "{err}");
    let p = stock_day_all(&body, Some(ymd(2025, 3, 31))).unwrap();
    assert_eq!(
        (p.items.len(), p.skipped.len()),
        (1282, 4),
        "untraded rows ('') are skipped"
    );
    assert_eq!(
        p.items
            .iter()
            .find(|b| b.code.as_str() == "2330")
            .unwrap()
            .close,
        d("910.00")
    );
}

#[test]
fn valuations_keep_empty_ratios_as_none() {
    let p = valuations(&fixture("openapi_BWIBBU_ALL_EXCERPT_3rows_20261008.json")).unwrap();
    assert_eq!(p.items.len(), 3);
    assert_eq!(p.items[0].pe, None, "台泥 has no P/E");
    assert_eq!(p.items[2].pe, Some(d("29.56")));
    assert_eq!(p.items[2].date, ymd(2026, 10, 8));
}

#[test]
fn company_profiles_from_chinese_keys() {
    let p = company_profiles(&fixture("openapi_t187ap03_L_EXCERPT_3rows_20261009.json")).unwrap();
    assert_eq!(p.items.len(), 3);
    let tcc = &p.items[0];
    assert_eq!((tcc.code.as_str(), tcc.name.as_str()), ("1101", "台泥"));
    assert_eq!(tcc.full_name.as_deref(), Some("臺灣水泥股份有限公司"));
    assert_eq!(tcc.listed_on, Some(ymd(1962, 2, 9)));
    assert_eq!(
        tcc.industry.as_deref(),
        Some("水泥工業"),
        "the code 01 by its name"
    );
}

#[test]
fn every_recorded_mis_body_parses() {
    /// (code, last trade price when the snapshot had one)
    type Expected<'a> = &'a [(&'a str, Option<&'a str>)];
    let cases: [(&str, Expected); 9] = [
        (
            "mis_getStockInfo_tse2330_otc6223_afterclose_20190111.json",
            &[("2330", Some("220.50")), ("6223", Some("61.10"))],
        ),
        (
            "mis_getStockInfo_otc6223_afterclose_20190111.json",
            &[("6223", Some("61.10"))],
        ),
        (
            "mis_getStockInfo_2330_intraday_20170724_1.json",
            &[("2330", Some("214.50"))],
        ),
        (
            "mis_getStockInfo_2330_intraday_20170724_2.json",
            &[("2330", None)],
        ),
        (
            "mis_getStockInfo_2330_intraday_20170724_3.json",
            &[("2330", None)],
        ),
        (
            "mis_getStockInfo_2330_intraday_20240516_1.json",
            &[("2330", None)],
        ),
        (
            "mis_getStockInfo_2330_intraday_20240516_2.json",
            &[("2330", None)],
        ),
        (
            "mis_getStockInfo_2330_intraday_20240516_3.json",
            &[("2330", None)],
        ),
        (
            "mis_getStockInfo_2330_afterclose_20231229.json",
            &[("2330", Some("593.0000"))],
        ),
    ];
    for (file, want) in cases {
        let p = quotes(&fixture(file), Board::Regular, Utc::now()).unwrap();
        assert!(p.skipped.is_empty(), "{file}: {:?}", p.skipped);
        let got: Vec<(String, Option<String>)> = p
            .items
            .iter()
            .map(|q| (q.code.to_string(), q.last.map(|l| l.to_string())))
            .collect();
        for (i, (code, last)) in want.iter().enumerate() {
            assert_eq!(got[i].0, *code, "{file}");
            if let Some(last) = last {
                assert_eq!(got[i].1.as_deref(), Some(*last), "{file}");
            }
        }
        assert!(
            p.items
                .iter()
                .all(|q| q.reference.is_some() && q.name.chars().count() >= 2),
            "{file}"
        );
    }
}

#[test]
fn tpex_company_profiles_from_english_keys() {
    let p =
        tpex_company_profiles(&fixture("tpex_openapi_mopsfin_t187ap03_O_20260708.json")).unwrap();
    assert_eq!(p.items.len() + p.skipped.len(), 891);
    assert!(
        p.skipped.is_empty(),
        "{:?}",
        &p.skipped[..p.skipped.len().min(3)]
    );
    let first = &p.items[0];
    assert_eq!(
        (first.code.as_str(), first.name.as_str(), first.exchange),
        ("1240", "茂生農經", Exchange::Tpex)
    );
    assert_eq!(first.listed_on, Some(ymd(2018, 8, 8)));
}

#[test]
fn holiday_rows_say_whether_the_market_trades() {
    // The shape documented by the OpenAPI's swagger (Name, Date, Weekday, Description); the
    // project has no recorded body of this endpoint yet.
    let body = r#"[
      {"Name":"中華民國開國紀念日","Date":"1150101","Weekday":"四","Description":"依規定放假1日"},
      {"Name":"國曆新年開始交易日","Date":"1150102","Weekday":"五","Description":"國曆新年開始交易"},
      {"Name":"農曆春節前最後交易日","Date":"1150211","Weekday":"三","Description":"農曆春節前最後交易"},
      {"Name":"市場無交易，僅辦理結算交割作業","Date":"1150212","Weekday":"四","Description":""},
      {"Name":"bad","Date":"x","Weekday":"","Description":""}]"#;
    let p = holidays(body.as_bytes()).unwrap();
    let trading: Vec<bool> = p.items.iter().map(|d| d.trading).collect();
    assert_eq!(trading, vec![false, true, true, false]);
    assert_eq!(p.items[0].date, ymd(2026, 1, 1));
    assert_eq!(p.skipped.len(), 1);
}

#[test]
fn mi_index_finds_the_quotes_table_by_title() {
    let p = mi_index(
        &fixture("twse_rwd_MI_INDEX_ALLBUT0999_20230130.json"),
        ymd(2023, 1, 30),
    )
    .unwrap();
    assert_eq!(p.items.len() + p.skipped.len(), 1182);
    assert_eq!(p.skipped.len(), 10, "'--' rows have no trade");
    let tsmc = p.items.iter().find(|b| b.code.as_str() == "2330").unwrap();
    assert_eq!(
        (tsmc.open, tsmc.close, tsmc.volume),
        (d("542.00"), d("543.00"), 148_413_161)
    );
    assert!(matches!(
        mi_index(
            &fixture("twse_rwd_MI_INDEX_ALLBUT0999_20230130.json"),
            ymd(2023, 1, 31)
        ),
        Err(Error::WrongPeriod { .. })
    ));
    let none = mi_index(
        &fixture("twse_rwd_MI_INDEX_MS_nodata_20230101.json"),
        ymd(2023, 1, 1),
    )
    .unwrap();
    assert!(none.items.is_empty() && none.skipped.is_empty());
}

#[test]
fn institutional_net_buying() {
    let p = institutional(
        &fixture("twse_rwd_T86_ALLBUT0999_20230130.json"),
        ymd(2023, 1, 30),
    )
    .unwrap();
    assert_eq!(p.items.len(), 1120);
    let tsmc = p.items.iter().find(|r| r.code.as_str() == "2330").unwrap();
    assert_eq!(tsmc.name, "台積電", "padding is trimmed");
    assert_eq!(tsmc.foreign_net, 80_641_049);
    assert_eq!(tsmc.trust_net, 937_673);
    assert_eq!(tsmc.dealer_net, 880_408);
    assert_eq!(tsmc.total_net, 82_459_130);
}

#[test]
fn tpex_daily_quotes_site_and_openapi() {
    let p = tpex_daily_quotes(&fixture("tpex_stk_quotes_20230130.json"), ymd(2023, 1, 30)).unwrap();
    assert_eq!(p.items.len() + p.skipped.len(), 7281);
    let vax = p.items.iter().find(|b| b.code.as_str() == "6547").unwrap();
    assert_eq!(
        (vax.exchange, vax.close, vax.volume, vax.trades),
        (Exchange::Tpex, d("71.80"), 1_876_240, Some(1_584))
    );
    let none = tpex_daily_quotes(
        &fixture("tpex_stk_quotes_nodata_20230101.json"),
        ymd(2023, 1, 1),
    )
    .unwrap();
    assert!(none.items.is_empty());
    let p = tpex_openapi_daily_quotes(&fixture(
        "tpex_openapi_tpex_mainboard_daily_close_quotes_EXCERPT_3rows_20261008.json",
    ))
    .unwrap();
    assert_eq!(p.items.len(), 3);
    assert_eq!(p.items[2].code.as_str(), "6488");
    assert_eq!(p.items[2].close, d("1130.00"));
    assert_eq!(p.items[2].date, ymd(2026, 10, 8));
}

proptest! {
    #[test]
    fn no_parser_panics_on_arbitrary_bytes(body in proptest::collection::vec(any::<u8>(), 0..400)) {
        let day = ymd(2025, 5, 2);
        let _ = quotes(&body, Board::Regular, Utc::now());
        let _ = stock_day_all(&body, Some(day));
        let _ = valuations(&body);
        let _ = company_profiles(&body);
        let _ = holidays(&body);
        let _ = mi_index(&body, day);
        let _ = institutional(&body, day);
        let _ = tpex_daily_quotes(&body, day);
        let _ = tpex_openapi_daily_quotes(&body);
    }

    #[test]
    fn no_parser_panics_on_arbitrary_json_values(
        cells in proptest::collection::vec(proptest::option::of("\\PC{0,10}"), 0..20)
    ) {
        // Well-formed JSON with garbage values where the fields should be.
        let keys = ["c", "z", "a", "f", "b", "g", "tlong", "Code", "Date", "ClosingPrice", "公司代號", "上市日期"];
        let obj: serde_json::Map<String, serde_json::Value> = keys.iter().zip(cells.iter().cycle())
            .map(|(k, v)| (k.to_string(), v.clone().map_or(serde_json::Value::Null, serde_json::Value::String))).collect();
        let arr = serde_json::to_vec(&vec![serde_json::Value::Object(obj.clone())]).unwrap();
        let mis = serde_json::to_vec(&serde_json::json!({"msgArray": [obj]})).unwrap();
        let _ = quotes(&mis, Board::OddLot, Utc::now());
        let _ = stock_day_all(&arr, None);
        let _ = valuations(&arr);
        let _ = company_profiles(&arr);
        let _ = holidays(&arr);
        let _ = tpex_openapi_daily_quotes(&arr);
    }

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

/// Counts of a daily report's changes: (up, down, unchanged, no comparison).
fn breadth(bars: &[experiment_core::model::DailyBar]) -> (usize, usize, usize, usize) {
    let mut n = (0, 0, 0, 0);
    for b in bars {
        match b.change {
            Some(c) if c.is_sign_positive() && !c.is_zero() => n.0 += 1,
            Some(c) if c.is_zero() => n.2 += 1,
            Some(_) => n.1 += 1,
            None => n.3 += 1,
        }
    }
    n
}

#[test]
fn daily_reports_keep_the_exchange_change_and_list_every_security() {
    // Counted independently (Python over the raw JSON) from the recorded bodies.
    let p = stock_day_all(&fixture("openapi_STOCK_DAY_ALL_20260708.json"), None).unwrap();
    assert_eq!(breadth(&p.items), (474, 768, 119, 0));
    assert_eq!(p.listed.len(), 1369, "every row, traded or not");
    assert_eq!(p.listed.iter().filter(|l| !l.traded).count(), 8);
    let first = &p.listed[0];
    assert_eq!(
        (first.code.as_str(), first.name.as_str()),
        ("00400A", "主動國泰動能高息")
    );
    let etf = p
        .items
        .iter()
        .find(|b| b.code.as_str() == "00400A")
        .unwrap();
    assert_eq!(etf.change, Some(d("-0.0600")));
    assert_eq!(etf.reference(), Some(d("14.35")));

    let p = mi_index(
        &fixture("twse_rwd_MI_INDEX_ALLBUT0999_20230130.json"),
        ymd(2023, 1, 30),
    )
    .unwrap();
    assert_eq!(
        breadth(&p.items),
        (899, 176, 75, 22),
        "signs from the HTML cell, X is no comparison"
    );
    assert_eq!(p.listed.iter().filter(|l| !l.traded).count(), 10);
    assert_eq!(p.listed.len(), 1182);

    let p = tpex_daily_quotes(&fixture("tpex_stk_quotes_20230130.json"), ymd(2023, 1, 30)).unwrap();
    assert_eq!(
        breadth(&p.items),
        (2767, 977, 186, 15),
        "除息/除權 is no comparison"
    );
    assert_eq!(p.listed.iter().filter(|l| !l.traded).count(), 3336);

    let p = stock_day(
        &fixture("twse_rwd_STOCK_DAY_2330_202505_partial_month.json"),
        &tsmc(),
        ymd(2025, 5, 1),
    )
    .unwrap();
    let may2 = &p.items[0];
    assert_eq!(
        may2.change,
        Some(d("42.00")),
        "TWSE's own change on 2025-05-02"
    );
    assert_eq!(may2.reference(), Some(d("908.00")));
    let p = tpex_openapi_daily_quotes(&fixture(
        "tpex_openapi_tpex_mainboard_daily_close_quotes_EXCERPT_3rows_20261008.json",
    ))
    .unwrap();
    assert_eq!(
        p.items[0].change,
        Some(d("-0.10")),
        "the trailing space is ignored"
    );
}

#[test]
fn stock_day_never_relabels_another_securitys_body() {
    // Issue 12: TWSE answered a body titled "2330 台積電" and it was printed as 6223.
    let body = fixture("twse_exchangeReport_STOCK_DAY_2330_201505.json");
    let otc = SecurityCode::new("6223").unwrap();
    let err = stock_day(&body, &otc, ymd(2015, 5, 1)).unwrap_err();
    match &err {
        Error::WrongSecurity { asked, got, .. } => {
            assert_eq!(asked, "6223");
            assert!(got.starts_with("2330") && got.contains("台積電"), "{got}");
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("6223 was asked for"), "{err}");
    let p = stock_day(&body, &tsmc(), ymd(2015, 5, 1)).unwrap();
    assert_eq!(p.listed.len(), 1);
    assert_eq!(
        (p.listed[0].code.as_str(), p.listed[0].name.as_str()),
        ("2330", "台積電"),
        "the name comes from the title"
    );
}

#[test]
fn tpex_st43_month_in_shares_and_dollars_with_change() {
    let body = fixture("tpex_st43_result_6223_201505.json");
    let code = SecurityCode::new("6223").unwrap();
    let p = tpex_month_history(&body, &code, ymd(2015, 5, 20)).unwrap();
    assert_eq!(p.items.len(), 20);
    assert!(p.skipped.is_empty(), "{:?}", p.skipped);
    let may4 = &p.items[0];
    assert_eq!(may4.exchange, Exchange::Tpex);
    assert_eq!(may4.date, ymd(2015, 5, 4));
    assert_eq!(may4.volume, 374_000, "374 lots");
    assert_eq!(may4.value, Decimal::from(34_462_000), "34,462 thousand NT$");
    assert_eq!(
        (may4.open, may4.high, may4.low, may4.close),
        (d("93.00"), d("93.00"), d("91.30"), d("91.40"))
    );
    assert_eq!(may4.change, Some(d("-0.60")));
    assert_eq!(may4.trades, Some(323));
    assert_eq!(
        p.items[1].change,
        Some(d("0.40")),
        "an up change has no '+'"
    );
    assert_eq!(p.items[11].trades, Some(850));
    assert_eq!(p.listed[0].name, "旺矽");

    let other = tpex_month_history(&body, &tsmc(), ymd(2015, 5, 1)).unwrap_err();
    assert!(matches!(other, Error::WrongSecurity { .. }), "{other:?}");
    let june = tpex_month_history(&body, &code, ymd(2015, 6, 1)).unwrap_err();
    assert!(matches!(june, Error::WrongPeriod { .. }), "{june:?}");
    let empty = tpex_month_history(br#"{"stkNo":"","aaData":[]}"#, &code, ymd(2015, 5, 1));
    assert!(empty.unwrap().items.is_empty(), "no data is empty");
    let broken =
        tpex_month_history(br#"{"aaData":[["104/05/04","1"]]}"#, &code, ymd(2015, 5, 1)).unwrap();
    assert!(
        broken.skipped[0].reason.contains("9 expected"),
        "{broken:?}"
    );
}

#[test]
fn odd_lot_last_trade_size_falls_back_to_s() {
    let body = fixture("mis_getOddInfo_2330_afterclose_20231229.json");
    let odd = &quotes(&body, Board::OddLot, Utc::now()).unwrap().items[0];
    assert_eq!(
        odd.last_volume,
        Some(4071),
        "\"tv\":\"-\" but \"s\":\"4071\""
    );
    let regular = &quotes(
        &fixture("mis_getStockInfo_2330_intraday_20240516_1.json"),
        Board::Regular,
        Utc::now(),
    )
    .unwrap()
    .items[0];
    assert_eq!(regular.last_volume, None, "the regular board keeps tv");
}

#[test]
fn institutional_keeps_buy_sell_and_the_dealer_split() {
    let p = institutional(
        &fixture("twse_rwd_T86_ALLBUT0999_20230130.json"),
        ymd(2023, 1, 30),
    )
    .unwrap();
    let t = p.items.iter().find(|r| r.code.as_str() == "2330").unwrap();
    assert_eq!(
        (t.foreign_buy, t.foreign_sell, t.foreign_net),
        (Some(133_236_588), Some(52_595_539), 80_641_049)
    );
    assert_eq!(
        (t.trust_buy, t.trust_sell, t.trust_net),
        (Some(1_032_000), Some(94_327), 937_673)
    );
    assert_eq!(
        (t.dealer_own_buy, t.dealer_own_sell, t.dealer_own_net),
        (Some(978_000), Some(537_000), Some(441_000))
    );
    assert_eq!(
        (t.dealer_hedge_buy, t.dealer_hedge_sell, t.dealer_hedge_net),
        (Some(1_227_511), Some(788_103), Some(439_408))
    );
    assert_eq!(t.dealer_net, 880_408, "own-account and hedging together");
}

#[test]
fn valuations_by_date_on_both_markets() {
    let p = valuations_on(
        &fixture("twse_rwd_BWIBBU_d_ALL_20230130.json"),
        ymd(2023, 1, 30),
    )
    .unwrap();
    assert_eq!(p.items.len(), 968);
    let cement = &p.items[0];
    assert_eq!(
        (cement.code.as_str(), cement.name.as_str(), cement.date),
        ("1101", "台泥", ymd(2023, 1, 30))
    );
    assert_eq!(
        (cement.pe, cement.dividend_yield, cement.pb),
        (Some(d("30.79")), Some(d("5.41")), Some(d("1.27")))
    );
    let nodata = valuations_on(
        &fixture("twse_rwd_BWIBBU_d_nodata_20230101.json"),
        ymd(2023, 1, 1),
    )
    .unwrap();
    assert!(nodata.items.is_empty());
    let wrong = valuations_on(
        &fixture("twse_rwd_BWIBBU_d_ALL_20230130.json"),
        ymd(2023, 1, 31),
    );
    assert!(matches!(wrong, Err(Error::WrongPeriod { .. })));

    let p = tpex_valuations(&fixture("tpex_pera_20230130.json"), ymd(2023, 1, 30)).unwrap();
    assert_eq!(p.items.len(), 808);
    assert_eq!(
        (p.items[0].code.as_str(), p.items[0].name.as_str()),
        ("1240", "茂生農經")
    );
    assert_eq!(
        (p.items[0].pe, p.items[0].dividend_yield, p.items[0].pb),
        (Some(d("46.32")), Some(d("5.68")), Some(d("1.42")))
    );
    let p = tpex_openapi_valuations(&fixture(
        "tpex_openapi_tpex_mainboard_peratio_analysis_EXCERPT_3rows_20261008.json",
    ))
    .unwrap();
    let gw = p.items.iter().find(|v| v.code.as_str() == "6488").unwrap();
    assert_eq!(
        (gw.name.as_str(), gw.date, gw.pe, gw.pb),
        (
            "環球晶",
            ymd(2026, 10, 8),
            Some(d("54.85")),
            Some(d("5.59"))
        )
    );
}

#[test]
fn tpex_openapi_daily_lists_names() {
    let p = tpex_openapi_daily_quotes(&fixture(
        "tpex_openapi_tpex_mainboard_daily_close_quotes_EXCERPT_3rows_20261008.json",
    ))
    .unwrap();
    assert_eq!(p.listed.len(), 3);
    assert_eq!(
        (p.listed[1].code.as_str(), p.listed[1].name.as_str()),
        ("006201", "元大富櫃50")
    );
}

#[test]
fn a_volume_that_overflows_in_shares_is_absent_not_a_panic() {
    // The recorded after-close body with its cumulative volume and a book level turned into
    // counts of lots whose shares do not fit in a u64.
    let body =
        String::from_utf8(fixture("mis_getStockInfo_2330_afterclose_20231229.json")).unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let item = &mut json["msgArray"][0];
    item["v"] = "18446744073709552".into();
    item["g"] = "18446744073709552_1_".into();
    let p = quotes(json.to_string().as_bytes(), Board::Regular, Utc::now()).unwrap();
    let q = &p.items[0];
    assert_eq!(q.volume, None);
    assert!(
        q.bids.iter().all(|b| b.volume < u64::MAX / 2),
        "{:?}",
        q.bids
    );
}
