//! The TWSE and TPEx OpenAPI bodies (STOCK_DAY_ALL, BWIBBU, company profiles, holidays, TPEx
//! daily quotes): any body gives a value or an error, never a panic.
#![no_main]

use chrono::NaiveDate;
use experiment_twse::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let date = NaiveDate::from_ymd_opt(2024, 5, 2).unwrap();
    for bars in [
        parse::stock_day_all(body, Some(date)),
        parse::stock_day_all(body, None),
        parse::tpex_daily_quotes(body, date),
        parse::tpex_openapi_daily_quotes(body),
    ]
    .into_iter()
    .flatten()
    {
        for b in &bars.items {
            let _ = (b.validate(), b.change_pct(), b.reference());
        }
    }
    let _ = parse::valuations(body);
    let _ = parse::company_profiles(body);
    let _ = parse::tpex_company_profiles(body);
    let _ = parse::holidays(body);
});
