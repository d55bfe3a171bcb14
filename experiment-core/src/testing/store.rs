//! The [`Store`] contract, clause by clause. The factory must give every case a fresh,
//! empty store (a new database on a shared server).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;

use crate::model::{
    Alert, AlertId, AlertRule, DailyBar, DeliveryOutcome, Exchange, Notification,
    NotificationStatus, Quote, RuleId, Security, SecurityCode,
};
use crate::store::{
    AlertCursor, AlertQuery, Page, SecurityQuery, StateSnapshot, Store, UpsertCount,
};
use crate::Error;

/// Stamps every store clause into a `#[tokio::test]` for the adapter `$factory` makes.
#[macro_export]
macro_rules! store_conformance {
    ($factory:path) => {
        $crate::__conformance_cases!(
            $factory,
            store,
            [
                securities_upsert_by_code_and_page_in_code_order,
                daily_bar_upserts_are_idempotent_on_code_and_date,
                daily_bars_range_is_inclusive_ascending_and_per_code,
                an_invalid_bar_rejects_the_whole_batch,
                quotes_keep_the_newest_snapshot,
                state_snapshots_round_trip,
                rules_upsert_list_and_delete,
                an_alert_is_recorded_once_with_its_notifications,
                alerts_list_newest_first_with_filters_and_paging,
                claimed_notifications_are_leased,
                completed_notifications_record_their_outcome,
                decimals_keep_their_scale,
                bad_arguments_are_invalid_input,
                daily_bars_on_a_date_cover_every_code_in_code_order,
                securities_search_by_code_prefix_name_exchange_and_industry,
                an_alert_is_found_by_id_with_its_notifications,
                alerts_page_by_cursor_without_gaps_or_repeats_at_one_instant,
                documents_round_trip_page_and_delete,
                a_superseded_claim_cannot_complete,
                a_batch_of_quotes_keeps_the_newest_per_code,
            ]
        );
    };
}

fn code(c: &str) -> SecurityCode {
    SecurityCode::new(c).unwrap()
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn at(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 5, 2, h, m, 0).unwrap()
}

/// A consistent daily bar closing at `close` (in hundredths).
pub fn bar(c: &str, d: NaiveDate, close: i64) -> DailyBar {
    DailyBar {
        code: code(c),
        exchange: Exchange::Twse,
        date: d,
        open: Decimal::new(close - 100, 2),
        high: Decimal::new(close + 200, 2),
        low: Decimal::new(close - 300, 2),
        close: Decimal::new(close, 2),
        volume: 1_000,
        value: Decimal::new(close * 10, 0),
        trades: Some(10),
        change: Some(Decimal::new(50, 2)),
    }
}

/// An alert of `rule` for `c` at `t`.
pub fn alert(rule: &str, c: &str, t: DateTime<Utc>) -> Alert {
    let rule = RuleId::new(rule).unwrap();
    let c = code(c);
    Alert {
        id: AlertId::derive(&rule, &c, t),
        rule_id: rule,
        rule_name: "suite rule".into(),
        code: c,
        name: Some("台積電".into()),
        bar_time: t,
        triggered_at: t,
        price: Some(Decimal::new(153_000, 2)),
        change_pct: Some(Decimal::new(-512, 2)),
        message: "suite".into(),
        values: BTreeMap::from([("rsi(14)".to_owned(), 28.5)]),
        value: None,
        suppressed: false,
    }
}

fn quote(c: &str, t: DateTime<Utc>, last: i64) -> Quote {
    Quote {
        code: code(c),
        exchange: Exchange::Twse,
        name: "台積電".into(),
        last: Some(Decimal::new(last, 2)),
        last_volume: Some(1000),
        open: None,
        high: None,
        low: None,
        reference: Some(Decimal::new(last, 2)),
        limit_up: None,
        limit_down: None,
        volume: Some(5000),
        bids: Vec::new(),
        asks: Vec::new(),
        exchange_time: t,
        received_at: t,
    }
}

/// Securities are keyed by code; listing pages through them in code order.
pub async fn securities_upsert_by_code_and_page_in_code_order(store: &dyn Store) {
    let a = Security::new(code("2330"), Exchange::Twse, "台積電");
    let b = Security::new(code("1101"), Exchange::Twse, "台泥");
    let c = Security::new(code("6547"), Exchange::Tpex, "高端疫苗");
    let n = store
        .upsert_securities(&[a.clone(), b.clone(), c.clone()])
        .await
        .unwrap();
    assert_eq!(
        n,
        UpsertCount {
            inserted: 3,
            updated: 0,
            unchanged: 0
        }
    );
    let mut a2 = a.clone();
    a2.full_name = Some("台灣積體電路製造股份有限公司".into());
    let n = store
        .upsert_securities(&[a2.clone(), b.clone()])
        .await
        .unwrap();
    assert_eq!(
        n,
        UpsertCount {
            inserted: 0,
            updated: 1,
            unchanged: 1
        }
    );
    assert_eq!(
        store.security(&code("2330")).await.unwrap(),
        Some(a2.clone())
    );
    assert_eq!(store.security(&code("9999")).await.unwrap(), None);
    let first = store
        .securities(&Page {
            after: None,
            limit: 2,
        })
        .await
        .unwrap();
    assert_eq!(
        first,
        vec![b, a2],
        "securities must be listed in code order"
    );
    let rest = store
        .securities(&Page {
            after: Some("2330".into()),
            limit: 2,
        })
        .await
        .unwrap();
    assert_eq!(rest, vec![c], "the next page starts after the given code");
}

/// Writing the same (code, date) twice keeps one bar; the count says inserted/updated/unchanged.
pub async fn daily_bar_upserts_are_idempotent_on_code_and_date(store: &dyn Store) {
    let d = date(2025, 5, 2);
    let first = store
        .upsert_daily_bars(&[bar("2330", d, 92000)])
        .await
        .unwrap();
    assert_eq!(
        first,
        UpsertCount {
            inserted: 1,
            updated: 0,
            unchanged: 0
        }
    );
    let again = store
        .upsert_daily_bars(&[bar("2330", d, 92000)])
        .await
        .unwrap();
    assert_eq!(
        again,
        UpsertCount {
            inserted: 0,
            updated: 0,
            unchanged: 1
        },
        "an upsert of an existing (code, date) must not insert again"
    );
    let changed = store
        .upsert_daily_bars(&[bar("2330", d, 93000)])
        .await
        .unwrap();
    assert_eq!(
        changed,
        UpsertCount {
            inserted: 0,
            updated: 1,
            unchanged: 0
        }
    );
    let bars = store.daily_bars(&code("2330"), d, d).await.unwrap();
    assert_eq!(
        bars,
        vec![bar("2330", d, 93000)],
        "an upsert must replace, never duplicate"
    );
}

/// Ranges are inclusive at both ends, ascending by date, and never mix codes (2330 vs 233).
pub async fn daily_bars_range_is_inclusive_ascending_and_per_code(store: &dyn Store) {
    let days = [
        date(2025, 5, 5),
        date(2025, 5, 2),
        date(2025, 5, 6),
        date(2025, 4, 30),
    ];
    let mut bars: Vec<DailyBar> = days.iter().map(|d| bar("2330", *d, 90000)).collect();
    bars.push(bar("233", date(2025, 5, 5), 1000));
    bars.push(bar("23301", date(2025, 5, 5), 1000));
    store.upsert_daily_bars(&bars).await.unwrap();
    let got: Vec<NaiveDate> = store
        .daily_bars(&code("2330"), date(2025, 5, 2), date(2025, 5, 6))
        .await
        .unwrap()
        .into_iter()
        .map(|b| {
            assert_eq!(
                b.code.as_str(),
                "2330",
                "a range must not include other codes"
            );
            b.date
        })
        .collect();
    assert_eq!(
        got,
        vec![date(2025, 5, 2), date(2025, 5, 5), date(2025, 5, 6)]
    );
    let none = store
        .daily_bars(&code("2330"), date(2025, 6, 1), date(2025, 6, 30))
        .await
        .unwrap();
    assert!(none.is_empty());
}

/// One inconsistent bar (low above high) rejects the call, naming the bar; nothing is written.
pub async fn an_invalid_bar_rejects_the_whole_batch(store: &dyn Store) {
    let good = bar("2330", date(2025, 5, 2), 90000);
    let mut bad = bar("2330", date(2025, 5, 5), 90000);
    bad.low = bad.high + Decimal::ONE;
    let err = store.upsert_daily_bars(&[good, bad]).await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
    assert!(
        err.to_string().contains("2025-05-05"),
        "the error must name the bar: {err}"
    );
    let stored = store
        .daily_bars(&code("2330"), date(2025, 1, 1), date(2025, 12, 31))
        .await
        .unwrap();
    assert!(
        stored.is_empty(),
        "a rejected batch must not be partly written"
    );
}

/// An older snapshot never replaces a newer one.
pub async fn quotes_keep_the_newest_snapshot(store: &dyn Store) {
    assert!(store
        .put_quote(&quote("2330", at(5, 0), 100))
        .await
        .unwrap());
    assert!(store
        .put_quote(&quote("2330", at(5, 1), 101))
        .await
        .unwrap());
    assert!(
        !store
            .put_quote(&quote("2330", at(4, 59), 99))
            .await
            .unwrap(),
        "an older snapshot must be refused"
    );
    let q = store.quote(&code("2330")).await.unwrap().unwrap();
    assert_eq!(q.last, Some(Decimal::new(101, 2)));
    assert_eq!(store.quote(&code("2317")).await.unwrap(), None);
}

/// `put_quotes` keeps the newest quote of each code, whatever the batch's order, and never
/// one older than what was stored before.
pub async fn a_batch_of_quotes_keeps_the_newest_per_code(store: &dyn Store) {
    assert!(store
        .put_quote(&quote("2317", at(5, 2), 150))
        .await
        .unwrap());
    let kept = store
        .put_quotes(&[
            quote("2330", at(5, 1), 101),
            quote("2330", at(5, 3), 103),
            quote("2330", at(5, 2), 102),
            quote("2317", at(5, 1), 149),
            quote("2454", at(5, 0), 900),
        ])
        .await
        .unwrap();
    // A quote superseded within the batch may or may not have been written on its way.
    assert_eq!(kept.len(), 5);
    assert!(kept[1] && !kept[2] && !kept[3] && kept[4], "kept: {kept:?}");
    let latest =
        |c: &'static str| async move { store.quote(&code(c)).await.unwrap().unwrap().last };
    assert_eq!(latest("2330").await, Some(Decimal::new(103, 2)));
    assert_eq!(
        latest("2317").await,
        Some(Decimal::new(150, 2)),
        "an older quote in a batch must not replace a newer stored one"
    );
    assert_eq!(latest("2454").await, Some(Decimal::new(900, 2)));
    assert_eq!(store.put_quotes(&[]).await.unwrap(), Vec::<bool>::new());
}

/// A saved state comes back as saved; saving again replaces it.
pub async fn state_snapshots_round_trip(store: &dyn Store) {
    let s1 = StateSnapshot {
        offsets: BTreeMap::from([("experiment.quotes.v1/0".to_owned(), 42)]),
        data: serde_json::json!({"sma5": [1.5, 2.5], "k": 50.0}),
        saved_at: at(5, 0),
    };
    store.put_state("worker/2330", &s1).await.unwrap();
    assert_eq!(store.state("worker/2330").await.unwrap(), Some(s1.clone()));
    let mut s2 = s1.clone();
    s2.offsets.insert("experiment.quotes.v1/0".into(), 43);
    store.put_state("worker/2330", &s2).await.unwrap();
    assert_eq!(store.state("worker/2330").await.unwrap(), Some(s2));
    assert_eq!(store.state("worker/2317").await.unwrap(), None);
}

/// Rules are keyed by id; deleting a missing rule is `NotFound`.
pub async fn rules_upsert_list_and_delete(store: &dyn Store) {
    let mut r1 = AlertRule::new(RuleId::new("b-rule").unwrap(), "B", "rsi(14) < 30");
    let r2 = AlertRule::new(
        RuleId::new("a-rule").unwrap(),
        "A",
        "close > sma(close, 20)",
    );
    assert_eq!(store.upsert_rule(&r1).await.unwrap().inserted, 1);
    store.upsert_rule(&r2).await.unwrap();
    r1.enabled = false;
    assert_eq!(store.upsert_rule(&r1).await.unwrap().updated, 1);
    assert_eq!(
        store.rules().await.unwrap(),
        vec![r2.clone(), r1.clone()],
        "rules by id"
    );
    assert_eq!(store.rule(&r1.id).await.unwrap(), Some(r1.clone()));
    store.delete_rule(&r1.id).await.unwrap();
    assert_eq!(store.rule(&r1.id).await.unwrap(), None);
    let err = store.delete_rule(&r1.id).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}

/// `record_alert` writes the alert and its notifications once; a redelivered alert writes
/// nothing and returns `false`.
pub async fn an_alert_is_recorded_once_with_its_notifications(store: &dyn Store) {
    let a = alert("r1", "2330", at(5, 0));
    let ns = [
        Notification::pending(a.clone(), "slack"),
        Notification::pending(a.clone(), "log"),
    ];
    assert!(store.record_alert(&a, &ns).await.unwrap());
    assert!(
        !store.record_alert(&a, &ns).await.unwrap(),
        "second record_alert must say false"
    );
    let listed = store.alerts(&AlertQuery::default()).await.unwrap();
    assert_eq!(
        listed,
        vec![a.clone()],
        "one alert, however often it is recorded"
    );
    let claimed = store
        .claim_notifications(at(6, 0), Duration::from_secs(60), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2, "each notification exactly once");
    for n in &ns {
        assert_eq!(
            store
                .notification(&n.key)
                .await
                .unwrap()
                .unwrap()
                .destination,
            n.destination
        );
    }
}

/// Newest first; filters by code and rule; `before` pages back in time; `limit` caps.
pub async fn alerts_list_newest_first_with_filters_and_paging(store: &dyn Store) {
    let a1 = alert("r1", "2330", at(1, 0));
    let a2 = alert("r2", "2330", at(2, 0));
    let a3 = alert("r1", "2317", at(3, 0));
    for a in [&a2, &a3, &a1] {
        store.record_alert(a, &[]).await.unwrap();
    }
    let all = store.alerts(&AlertQuery::default()).await.unwrap();
    assert_eq!(
        all,
        vec![a3.clone(), a2.clone(), a1.clone()],
        "newest first"
    );
    let q = AlertQuery {
        code: Some(code("2330")),
        ..AlertQuery::default()
    };
    assert_eq!(
        store.alerts(&q).await.unwrap(),
        vec![a2.clone(), a1.clone()]
    );
    let q = AlertQuery {
        rule: Some(RuleId::new("r1").unwrap()),
        ..AlertQuery::default()
    };
    assert_eq!(
        store.alerts(&q).await.unwrap(),
        vec![a3.clone(), a1.clone()]
    );
    let q = AlertQuery {
        limit: 1,
        ..AlertQuery::default()
    };
    assert_eq!(store.alerts(&q).await.unwrap(), vec![a3.clone()]);
    let q = AlertQuery {
        before: Some(a3.triggered_at),
        ..AlertQuery::default()
    };
    assert_eq!(
        store.alerts(&q).await.unwrap(),
        vec![a2, a1],
        "strictly before"
    );
}

/// A claimed notification is hidden for the lease, then due again if not completed; only
/// notifications due at `now` are claimed.
pub async fn claimed_notifications_are_leased(store: &dyn Store) {
    let a = alert("r1", "2330", at(5, 0));
    let n = Notification::pending(a.clone(), "slack");
    store
        .record_alert(&a, std::slice::from_ref(&n))
        .await
        .unwrap();
    let lease = Duration::from_secs(60);
    let early = store
        .claim_notifications(at(4, 59), lease, 10)
        .await
        .unwrap();
    assert!(early.is_empty(), "not due before its time");
    let first = store
        .claim_notifications(at(5, 0), lease, 10)
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].key, n.key);
    let during = store
        .claim_notifications(at(5, 0), lease, 10)
        .await
        .unwrap();
    assert!(
        during.is_empty(),
        "a claimed notification must be hidden during its lease"
    );
    let after = store
        .claim_notifications(at(5, 1), lease, 10)
        .await
        .unwrap();
    assert_eq!(
        after.len(),
        1,
        "an unfinished claim must become due when the lease ends"
    );
}

/// Outcomes: `Retry` reschedules and counts the attempt, `Sent` is final, `Failed` stops;
/// completing an unknown key is `NotFound`.
pub async fn completed_notifications_record_their_outcome(store: &dyn Store) {
    let a = alert("r1", "2330", at(5, 0));
    let n = Notification::pending(a.clone(), "slack");
    let m = Notification::pending(a.clone(), "discord");
    store
        .record_alert(&a, &[n.clone(), m.clone()])
        .await
        .unwrap();
    let lease = Duration::from_secs(60);
    let claimed = store
        .claim_notifications(at(5, 0), lease, 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    let claim_of = |k| claimed.iter().find(|c| c.key == k).unwrap().clone();
    let (cm, cn) = (claim_of(m.key), claim_of(n.key));

    let failed = store
        .complete_notification(
            &cm,
            &DeliveryOutcome::Failed {
                error: "channel_not_found".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (failed.status, failed.attempts),
        (NotificationStatus::Failed, 1)
    );

    let retried = store
        .complete_notification(
            &cn,
            &DeliveryOutcome::Retry {
                retry_at: at(5, 10),
                error: "HTTP 503".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (retried.status, retried.attempts),
        (NotificationStatus::Pending, 1)
    );
    assert_eq!(retried.last_error.as_deref(), Some("HTTP 503"));
    assert!(store
        .claim_notifications(at(5, 9), lease, 10)
        .await
        .unwrap()
        .is_empty());
    let again = store
        .claim_notifications(at(5, 10), lease, 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);

    let sent = store
        .complete_notification(
            &again[0],
            &DeliveryOutcome::Sent {
                at: at(5, 10),
                receipt: Some("1700.01".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!((sent.status, sent.attempts), (NotificationStatus::Sent, 2));
    assert_eq!(sent.receipt.as_deref(), Some("1700.01"));
    for stale in [&again[0], &cn] {
        let late = store
            .complete_notification(
                stale,
                &DeliveryOutcome::Failed {
                    error: "late".into(),
                },
            )
            .await
            .unwrap();
        assert_eq!(late.status, NotificationStatus::Sent, "sent is final");
        assert_eq!(late.attempts, 2, "a late report counts nothing");
    }

    assert!(
        store
            .claim_notifications(at(23, 0), lease, 10)
            .await
            .unwrap()
            .is_empty(),
        "sent and failed notifications are never claimed again"
    );
    let missing = alert("r9", "1101", at(1, 0));
    let err = store
        .complete_notification(
            &Notification::pending(missing, "x"),
            &DeliveryOutcome::Failed { error: "x".into() },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}

/// Prices come back with the scale they were written with (`1530.0000` stays `1530.0000`).
pub async fn decimals_keep_their_scale(store: &dyn Store) {
    let mut b = bar("2330", date(2025, 5, 2), 90000);
    b.close = "900.0000".parse().unwrap();
    b.open = "899.5".parse().unwrap();
    store
        .upsert_daily_bars(std::slice::from_ref(&b))
        .await
        .unwrap();
    let got = store.daily_bars(&b.code, b.date, b.date).await.unwrap();
    assert_eq!(got[0].close.to_string(), "900.0000");
    assert_eq!(got[0].open.to_string(), "899.5");
}

/// A zero limit or a reversed date range is `InvalidInput`.
pub async fn bad_arguments_are_invalid_input(store: &dyn Store) {
    let err = store
        .securities(&Page {
            after: None,
            limit: 0,
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
    let err = store
        .daily_bars(&code("2330"), date(2025, 5, 2), date(2025, 5, 1))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
    let err = store
        .claim_notifications(at(1, 0), Duration::from_secs(1), 0)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
}

/// `daily_bars_on` is the cross-section of one date: every code's bar, by code, nothing of
/// other dates; `last_bar_date` finds the newest date with bars on or before a day.
pub async fn daily_bars_on_a_date_cover_every_code_in_code_order(store: &dyn Store) {
    let d1 = date(2025, 5, 2);
    let d2 = date(2025, 5, 5);
    let bars = [
        bar("2330", d1, 95_000),
        bar("2317", d1, 15_000),
        bar("00878", d1, 2_100),
        bar("2330", d2, 96_000),
    ];
    store.upsert_daily_bars(&bars).await.unwrap();
    // An update of a bar must not duplicate it in the cross-section.
    store
        .upsert_daily_bars(&[bar("2317", d1, 15_100)])
        .await
        .unwrap();
    let on = store.daily_bars_on(d1).await.unwrap();
    let codes: Vec<&str> = on.iter().map(|b| b.code.as_str()).collect();
    assert_eq!(
        codes,
        ["00878", "2317", "2330"],
        "every code of the date, by code"
    );
    assert_eq!(on[1].close, Decimal::new(15_100, 2), "the updated bar");
    assert_eq!(
        on[2].change,
        Some(Decimal::new(50, 2)),
        "the change is kept"
    );
    assert_eq!(store.daily_bars_on(d2).await.unwrap().len(), 1);
    assert!(store
        .daily_bars_on(date(2025, 5, 3))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.last_bar_date(date(2025, 5, 4)).await.unwrap(),
        Some(d1)
    );
    assert_eq!(store.last_bar_date(d2).await.unwrap(), Some(d2));
    assert_eq!(
        store.last_bar_date(date(2030, 1, 1)).await.unwrap(),
        Some(d2)
    );
    assert_eq!(store.last_bar_date(date(2025, 5, 1)).await.unwrap(), None);
}

/// Search matches a code prefix or a name substring (ASCII without case), filters by
/// exchange and industry, and pages by code.
pub async fn securities_search_by_code_prefix_name_exchange_and_industry(store: &dyn Store) {
    let mut tsmc = Security::new(code("2330"), Exchange::Twse, "台積電");
    tsmc.full_name = Some("台灣積體電路製造股份有限公司".into());
    tsmc.industry = Some("半導體業".into());
    let mut umc = Security::new(code("2303"), Exchange::Twse, "聯電");
    umc.industry = Some("半導體業".into());
    let hon = Security::new(code("2317"), Exchange::Twse, "鴻海");
    let mut otc = Security::new(code("6547"), Exchange::Tpex, "高端疫苗");
    otc.industry = Some("生技醫療業".into());
    let etf = Security::new(code("00878"), Exchange::Twse, "國泰永續高股息ETF");
    store
        .upsert_securities(&[
            tsmc.clone(),
            umc.clone(),
            hon.clone(),
            otc.clone(),
            etf.clone(),
        ])
        .await
        .unwrap();
    let search =
        |text: Option<&str>, exchange, industry: Option<&str>, after: Option<&str>, limit| {
            SecurityQuery {
                text: text.map(Into::into),
                exchange,
                industry: industry.map(Into::into),
                after: after.map(Into::into),
                limit,
            }
        };
    let codes = |v: Vec<Security>| {
        v.into_iter()
            .map(|s| s.code.to_string())
            .collect::<Vec<_>>()
    };
    let found = store
        .search_securities(&search(Some("23"), None, None, None, 10))
        .await
        .unwrap();
    assert_eq!(
        codes(found),
        ["2303", "2317", "2330"],
        "code prefix, in code order"
    );
    let found = store
        .search_securities(&search(Some("台積"), None, None, None, 10))
        .await
        .unwrap();
    assert_eq!(codes(found), ["2330"], "short name substring");
    let found = store
        .search_securities(&search(Some("積體電路"), None, None, None, 10))
        .await
        .unwrap();
    assert_eq!(codes(found), ["2330"], "full name substring");
    let found = store
        .search_securities(&search(Some("etf"), None, None, None, 10))
        .await
        .unwrap();
    assert_eq!(codes(found), ["00878"], "ASCII without case");
    let found = store
        .search_securities(&search(None, Some(Exchange::Tpex), None, None, 10))
        .await
        .unwrap();
    assert_eq!(codes(found), ["6547"], "by exchange");
    let found = store
        .search_securities(&search(None, None, Some("半導體業"), None, 10))
        .await
        .unwrap();
    assert_eq!(codes(found), ["2303", "2330"], "by industry");
    let page1 = store
        .search_securities(&search(Some("2"), None, None, None, 2))
        .await
        .unwrap();
    assert_eq!(codes(page1), ["2303", "2317"]);
    let page2 = store
        .search_securities(&search(Some("2"), None, None, Some("2317"), 2))
        .await
        .unwrap();
    assert_eq!(codes(page2), ["2330"], "the next page after the last code");
    let none = store
        .search_securities(&search(Some("(.*"), None, None, None, 10))
        .await
        .unwrap();
    assert!(
        none.is_empty(),
        "text is matched literally, never as a pattern"
    );
    let err = store
        .search_securities(&search(None, None, None, None, 0))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
}

/// `alert` finds one alert by id; `alert_notifications` lists what was recorded with it, by
/// destination, in its current state.
pub async fn an_alert_is_found_by_id_with_its_notifications(store: &dyn Store) {
    let a = alert("r1", "2330", at(5, 0));
    let other = alert("r1", "2317", at(5, 0));
    let ns = [
        Notification::pending(a.clone(), "slack"),
        Notification::pending(a.clone(), "discord"),
    ];
    store.record_alert(&a, &ns).await.unwrap();
    store
        .record_alert(&other, &[Notification::pending(other.clone(), "slack")])
        .await
        .unwrap();
    assert_eq!(store.alert(&a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(
        store
            .alert(&alert("nope", "2330", at(5, 0)).id)
            .await
            .unwrap(),
        None
    );
    store
        .complete_notification(
            &ns[0],
            &DeliveryOutcome::Sent {
                at: at(5, 1),
                receipt: Some("ts-1".into()),
            },
        )
        .await
        .unwrap();
    let of_a = store.alert_notifications(&a.id).await.unwrap();
    let dests: Vec<&str> = of_a.iter().map(|n| n.destination.as_str()).collect();
    assert_eq!(
        dests,
        ["discord", "slack"],
        "only this alert's, by destination"
    );
    assert_eq!(
        of_a[1].status,
        NotificationStatus::Sent,
        "in their current state"
    );
    assert_eq!(of_a[1].attempts, 1);
    assert_eq!(of_a[0].status, NotificationStatus::Pending);
    assert!(store
        .alert_notifications(&alert("nope", "2330", at(5, 0)).id)
        .await
        .unwrap()
        .is_empty());
}

/// Paging with the cursor of the last alert of a page walks every alert once, even when
/// many share one instant; filters hold across pages.
pub async fn alerts_page_by_cursor_without_gaps_or_repeats_at_one_instant(store: &dyn Store) {
    let mut all = Vec::new();
    for (i, c) in ["1101", "1102", "1216", "1301", "1303", "2002", "2303"]
        .iter()
        .enumerate()
    {
        // Four alerts at one instant, three at others.
        let t = if i < 4 { at(3, 0) } else { at(i as u32, 0) };
        let a = alert("r1", c, t);
        store.record_alert(&a, &[]).await.unwrap();
        all.push(a);
    }
    let mut expected = all.clone();
    expected.sort_by_key(|a| std::cmp::Reverse((a.triggered_at, a.id)));
    assert_eq!(
        store.alerts(&AlertQuery::default()).await.unwrap(),
        expected
    );
    let mut walked = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .alerts(&AlertQuery {
                after,
                limit: 2,
                ..AlertQuery::default()
            })
            .await
            .unwrap();
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        after = Some(AlertCursor {
            triggered_at: last.triggered_at,
            id: last.id,
        });
        walked.extend(page);
    }
    assert_eq!(walked, expected, "every alert once, in order");
}

/// Documents are replaced by `(collection, id)`, listed by id with paging, kept apart by
/// collection, and deleted.
pub async fn documents_round_trip_page_and_delete(store: &dyn Store) {
    let v = |n: i64| serde_json::json!({"n": n, "nested": {"list": [1, 2.5, "x"], "ok": true}});
    for id in ["b", "a", "c"] {
        store
            .put_document("settings.test", id, &v(1))
            .await
            .unwrap();
    }
    store
        .put_document("settings.test", "a", &v(2))
        .await
        .unwrap();
    store.put_document("other", "a", &v(9)).await.unwrap();
    assert_eq!(
        store.document("settings.test", "a").await.unwrap(),
        Some(v(2)),
        "replaced"
    );
    assert_eq!(store.document("settings.test", "zz").await.unwrap(), None);
    let page = Page {
        after: None,
        limit: 2,
    };
    let first = store.documents("settings.test", &page).await.unwrap();
    let ids: Vec<&str> = first.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["a", "b"], "by id, one collection only");
    let next = store
        .documents(
            "settings.test",
            &Page {
                after: Some("b".into()),
                limit: 2,
            },
        )
        .await
        .unwrap();
    assert_eq!(next, vec![("c".to_owned(), v(1))]);
    assert!(store.delete_document("settings.test", "a").await.unwrap());
    assert!(
        !store.delete_document("settings.test", "a").await.unwrap(),
        "already gone"
    );
    assert_eq!(
        store.document("other", "a").await.unwrap(),
        Some(v(9)),
        "other collection kept"
    );
    let err = store
        .put_document("bad name", "a", &v(1))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
}

/// A claim's completion holds only while the claim does: once the lease ran out and another
/// sender claimed the notification, the first sender's late report is refused (`Conflict`),
/// and the second sender's stands.
pub async fn a_superseded_claim_cannot_complete(store: &dyn Store) {
    let a = alert("r1", "2330", at(5, 0));
    let n = Notification::pending(a.clone(), "slack");
    store
        .record_alert(&a, std::slice::from_ref(&n))
        .await
        .unwrap();
    let lease = Duration::from_secs(10);
    let first = store
        .claim_notifications(at(5, 0), lease, 10)
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    // The first sender is slow: its lease ends and a second sender claims it.
    let second = store
        .claim_notifications(at(5, 1), lease, 10)
        .await
        .unwrap();
    assert_eq!(second.len(), 1, "due again once the lease ended");
    let err = store
        .complete_notification(
            &first[0],
            &DeliveryOutcome::Retry {
                retry_at: at(6, 0),
                error: "slow".into(),
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err:?}");
    let done = store
        .complete_notification(
            &second[0],
            &DeliveryOutcome::Sent {
                at: at(5, 1),
                receipt: None,
            },
        )
        .await
        .unwrap();
    assert_eq!((done.status, done.attempts), (NotificationStatus::Sent, 1));
    assert_eq!(
        store.notification(&n.key).await.unwrap().unwrap().attempts,
        1,
        "the refused report counted nothing"
    );
}
