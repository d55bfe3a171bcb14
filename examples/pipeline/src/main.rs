//! The smallest pipeline: publish daily bars as events, consume them in a consumer group,
//! store them idempotently, and ack only after the store accepted them.
//!
//! Run: `cargo run -p example-pipeline`

use chrono::{NaiveDate, Utc};
use experiment_core::memory::{MemoryBus, MemoryStore};
use experiment_core::model::{DailyBar, Event, EventKind, Exchange, Payload, SecurityCode};
use experiment_core::{EventBus, EventBusExt, Store};
use rust_decimal::Decimal;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let bus = MemoryBus::new();
    let store = MemoryStore::new();
    let code = SecurityCode::new("2330")?;

    // Producer side: three days of 2330 (recorded May 2025 values), published twice to show
    // that redelivery is harmless downstream.
    let days = [
        (2, "938.00", "950.00", "932.00", "950.00"),
        (5, "956.00", "957.00", "923.00", "938.00"),
        (6, "916.00", "930.00", "916.00", "920.00"),
    ];
    for _ in 0..2 {
        for (d, o, h, l, c) in days {
            let bar = DailyBar {
                code: code.clone(),
                exchange: Exchange::Twse,
                date: NaiveDate::from_ymd_opt(2025, 5, d).expect("valid date"),
                open: o.parse()?,
                high: h.parse()?,
                low: l.parse()?,
                close: c.parse()?,
                volume: 0,
                value: Decimal::ZERO,
                trades: None,
                change: None,
            };
            bus.publish_event(
                "",
                &Event::new("example", Utc::now(), Payload::DailyBar(bar)),
            )
            .await?;
        }
    }

    // Consumer side: one member of group "example-workers".
    let mut sub = bus
        .subscribe("example-workers", &[EventKind::DailyBar.topic()])
        .await?;
    for _ in 0..days.len() * 2 {
        let delivery = sub.next().await?;
        let event = delivery.decode_event()?;
        if let Payload::DailyBar(bar) = event.payload {
            let count = store.upsert_daily_bars(&[bar]).await?;
            println!("{} -> {count:?}", delivery.position());
        }
        delivery.ack();
    }
    sub.close().await?;

    let from = NaiveDate::from_ymd_opt(2025, 5, 1).expect("valid date");
    let to = NaiveDate::from_ymd_opt(2025, 5, 31).expect("valid date");
    for bar in store.daily_bars(&code, from, to).await? {
        println!("{} {} close {}", bar.code, bar.date, bar.close);
    }
    Ok(())
}
