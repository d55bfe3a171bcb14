//! The event log's records: our envelope and the original services' `asset.info.view.v1`
//! messages. Any payload decodes or is refused with an error; whatever decodes can be
//! validated and measured without a panic.
#![no_main]

use experiment_core::model::{Event, Payload};
use experiment_core::seed::{decode_key, AssetInfoView};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(event) = Event::decode(data, "fuzz") {
        match &event.payload {
            Payload::DailyBar(b) => {
                let _ = (b.validate(), b.change_pct(), b.reference());
            }
            Payload::Quote(q) => {
                if let (Some(last), Some(r)) = (q.last, q.reference) {
                    let _ = last.checked_sub(r).and_then(|d| d.checked_div(r));
                }
            }
            _ => {}
        }
        let _ = event.encode();
    }
    if let Ok(view) = AssetInfoView::decode(data, "fuzz") {
        let _ = view.to_quote();
    }
    let _ = decode_key(data);
});
