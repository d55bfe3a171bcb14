//! What remote servers tell us to wait (`Retry-After`, Slack's and Telegram's retry fields)
//! and the TWSE number and date cells: any text gives a bounded value or none, never a panic.
#![no_main]

use experiment_core::limit::{server_delay, server_delay_text, MAX_SERVER_DELAY};
use experiment_twse::parse::{parse_change, parse_number};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(d) = server_delay_text(text) {
        assert!(d <= MAX_SERVER_DELAY, "{text:?} gave {d:?}");
    }
    if let Ok(x) = text.trim().parse::<f64>() {
        if let Some(d) = server_delay(x) {
            assert!(d <= MAX_SERVER_DELAY);
        }
    }
    let _ = parse_number(text);
    let _ = parse_change(text);
    let _ = experiment_twse::parse_roc_date(text);
});
