//! Parsing recorded bodies: `STOCK_DAY_ALL` (1,369 rows), a MIS batch of 100 quotes and
//! `MI_INDEX` (`ALLBUT0999`, 2023-01-30), through the same `parse::*` functions the client
//! calls. `bench/parse/run` puts the figures next to a pydantic v2 model of the same work.
//!
//! ```sh
//! cargo bench -p experiment-twse --bench parse
//! ```
//!
//! With `EXPERIMENT_BENCH_BODIES=DIR`, the three bodies are also written to `DIR`, so that
//! the pydantic side parses exactly these bytes (the MIS batch is built here).

// `criterion_group!` expands to a public function without documentation.
#![allow(missing_docs)]

use std::path::Path;

use chrono::{NaiveDate, TimeZone, Utc};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use experiment_twse::parse::{mi_index, quotes, stock_day_all, Board};

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The regular-board MIS fixtures (the odd-lot one counts volumes in shares).
const MIS: &[&str] = &[
    "mis_getStockInfo_2330_afterclose_20231229.json",
    "mis_getStockInfo_2330_intraday_20170724_1.json",
    "mis_getStockInfo_2330_intraday_20170724_2.json",
    "mis_getStockInfo_2330_intraday_20170724_3.json",
    "mis_getStockInfo_2330_intraday_20240516_1.json",
    "mis_getStockInfo_2330_intraday_20240516_2.json",
    "mis_getStockInfo_2330_intraday_20240516_3.json",
    "mis_getStockInfo_otc6223_afterclose_20190111.json",
    "mis_getStockInfo_t00_index_afterclose_20231229.json",
    "mis_getStockInfo_tse2330_otc6223_afterclose_20190111.json",
    "mis_getStockInfo_tse2330_otc6547_afterclose_20260731_limitup.json",
];

/// A `getStockInfo.jsp` body of 100 quotes: the recorded `msgArray` entries in turn, each
/// copy under its own code (`1000`, `1001`, ...) and a millisecond later than the previous,
/// so that every quote is distinct; everything else is as recorded (books, `-` fields,
/// the index channel). Deterministic: the same bytes on every run.
fn mis_batch(n: usize) -> Vec<u8> {
    let mut entries = Vec::new();
    for name in MIS {
        let body: serde_json::Value = serde_json::from_slice(&fixture(name)).expect("MIS JSON");
        entries.extend(
            body["msgArray"]
                .as_array()
                .expect("msgArray")
                .iter()
                .cloned(),
        );
    }
    let items: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            let mut item = entries[i % entries.len()].clone();
            let code = format!("{}", 1000 + i);
            item["c"] = code.clone().into();
            item["ch"] = format!("{code}.tw").into();
            if let Some(t) = item["tlong"].as_str().and_then(|t| t.parse::<i64>().ok()) {
                item["tlong"] = (t + i as i64).to_string().into();
            }
            item
        })
        .collect();
    let body = serde_json::json!({
        "msgArray": items,
        "referer": "",
        "userDelay": 5000,
        "rtcode": "0000",
        "rtmessage": "OK",
    });
    serde_json::to_vec(&body).expect("serialisable")
}

fn parse(c: &mut Criterion) {
    let day_all = fixture("openapi_STOCK_DAY_ALL_20260708.json");
    let mis = mis_batch(100);
    let index = fixture("twse_rwd_MI_INDEX_ALLBUT0999_20230130.json");
    if let Some(dir) = std::env::var_os("EXPERIMENT_BENCH_BODIES") {
        let dir = Path::new(&dir);
        std::fs::create_dir_all(dir).expect("bodies directory");
        for (name, body) in [
            ("stock_day_all.json", &day_all),
            ("mis_100.json", &mis),
            ("mi_index.json", &index),
        ] {
            std::fs::write(dir.join(name), body).expect("body written");
        }
    }
    let received = Utc.with_ymd_and_hms(2026, 7, 31, 6, 0, 0).unwrap();
    let day = NaiveDate::from_ymd_opt(2023, 1, 30).unwrap();
    // Every body must parse whole, or the figures would time an early error.
    let check = |what: &str, items: usize, skipped: usize| {
        assert!(items > 0, "{what}: nothing parsed");
        eprintln!("{what}: {items} items, {skipped} rows skipped");
    };
    let p = stock_day_all(&day_all, None).expect("STOCK_DAY_ALL");
    check("STOCK_DAY_ALL", p.items.len(), p.skipped.len());
    let p = quotes(&mis, Board::Regular, received).expect("MIS");
    assert_eq!(p.items.len(), 100, "MIS: every quote parsed");
    check("MIS 100", p.items.len(), p.skipped.len());
    let p = mi_index(&index, day).expect("MI_INDEX");
    check("MI_INDEX", p.items.len(), p.skipped.len());

    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Bytes(day_all.len() as u64));
    g.bench_function("STOCK_DAY_ALL", |b| {
        b.iter(|| stock_day_all(black_box(&day_all), None))
    });
    g.throughput(Throughput::Bytes(mis.len() as u64));
    g.bench_function("MIS 100 quotes", |b| {
        b.iter(|| quotes(black_box(&mis), Board::Regular, received))
    });
    g.throughput(Throughput::Bytes(index.len() as u64));
    g.bench_function("MI_INDEX", |b| b.iter(|| mi_index(black_box(&index), day)));
    g.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
