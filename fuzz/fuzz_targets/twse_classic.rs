//! The classic TWSE JSON endpoints (STOCK_DAY, MI_INDEX, T86) and the block-page check:
//! any body gives a value or an error, never a panic.
#![no_main]

use chrono::NaiveDate;
use experiment_core::model::SecurityCode;
use experiment_twse::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let date = NaiveDate::from_ymd_opt(2024, 5, 2).unwrap();
    let month = NaiveDate::from_ymd_opt(2024, 5, 1).unwrap();
    let code = SecurityCode::new("2330").unwrap();
    let _ = parse::check_block_page("fuzz", body);
    if let Ok(p) = parse::stock_day(body, &code, month) {
        for b in &p.items {
            let _ = (b.validate(), b.change_pct(), b.reference());
        }
    }
    if let Ok(p) = parse::mi_index(body, date) {
        for b in &p.items {
            let _ = (b.validate(), b.change_pct(), b.reference());
        }
    }
    let _ = parse::institutional(body, date);
});
