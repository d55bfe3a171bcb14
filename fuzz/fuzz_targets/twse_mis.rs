//! MIS real-time snapshots (regular and odd-lot boards): any body gives quotes or an error,
//! never a panic.
#![no_main]

use chrono::{TimeZone, Utc};
use experiment_twse::parse::{self, Board};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let now = Utc.with_ymd_and_hms(2024, 5, 16, 3, 0, 0).unwrap();
    for board in [Board::Regular, Board::OddLot] {
        if let Ok(p) = parse::quotes(body, board, now) {
            // What the worker computes from a quote: the change against the reference.
            for q in &p.items {
                if let (Some(last), Some(r)) = (q.last, q.reference) {
                    let _ = last.checked_sub(r).and_then(|d| d.checked_div(r));
                }
            }
        }
    }
});
