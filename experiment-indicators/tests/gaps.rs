//! The gap policy: more than `MAX_GAP_SECS` between two bars restarts every indicator's
//! warm-up, in the streaming evaluator, in backtests and in the columnar path alike.

use experiment_indicators::eval::{backtest, columns, expand, Evaluator, MAX_GAP_SECS};
use experiment_indicators::rule::Rule;
use experiment_indicators::Bar;

const DAY: i64 = 86_400;

fn bar(close: f64) -> Bar {
    Bar {
        open: close,
        high: close + 1.0,
        low: close - 1.0,
        close,
        volume: 1000.0,
    }
}

/// `before` daily bars at 100, then a gap of `gap_days`, then `after` daily bars at 200.
fn seam(before: usize, gap_days: i64, after: usize) -> Vec<(i64, Bar)> {
    let mut out: Vec<(i64, Bar)> = (0..before).map(|i| (i as i64 * DAY, bar(100.0))).collect();
    let resume = (before as i64 - 1) * DAY + gap_days * DAY;
    out.extend((0..after).map(|i| (resume + i as i64 * DAY, bar(200.0))));
    out
}

#[test]
fn a_long_gap_restarts_the_warm_up_of_every_indicator() {
    let data = seam(30, 3650, 30);
    let mut e = Evaluator::for_expr(&expand("sma(close, 5)").unwrap()[0].1);
    let values: Vec<Option<f64>> = data.iter().map(|(t, b)| e.update_number(b, *t)).collect();
    assert_eq!(values[29], Some(100.0));
    // after the seam: four bars of warm-up again, then the mean of the new prices only
    assert!(values[30..34].iter().all(Option::is_none), "{values:?}");
    assert_eq!(values[34], Some(200.0));
}

#[test]
fn a_holiday_closure_is_bridged() {
    // Lunar New Year: nine days without trading is not a gap
    let data = seam(30, 9, 30);
    let mut e = Evaluator::for_expr(&expand("sma(close, 5)").unwrap()[0].1);
    let values: Vec<Option<f64>> = data.iter().map(|(t, b)| e.update_number(b, *t)).collect();
    assert_eq!(values[30], Some(120.0), "the SMA spans the closure");
}

#[test]
fn a_breakout_on_the_seam_does_not_fire() {
    // Before the policy, 'close > bbands(20,2).upper' fired on the first bar after a
    // ten-year gap: the bands still described prices from a decade earlier.
    let rule = Rule::parse("close > bbands(20, 2).upper").unwrap();
    let long = seam(40, 3650, 40);
    assert!(
        backtest(&rule, &long).is_empty(),
        "no firing across the seam: {:?}",
        backtest(&rule, &long)
    );
    // The same jump with no gap is a breakout, and fires.
    let joined = seam(40, 1, 40);
    assert_eq!(backtest(&rule, &joined).first().map(|f| f.index), Some(40));
}

#[test]
fn columns_and_streaming_agree_across_gaps() {
    let mut data = seam(25, 400, 25);
    let tail_start = data.last().unwrap().0 + MAX_GAP_SECS + 1;
    data.extend((0..25).map(|i| (tail_start + i * DAY, bar(150.0 + i as f64))));
    for text in [
        "rsi(14)",
        "bbands(20, 2).upper",
        "sma(close, 5) - sma(close, 20)",
        "macd(12, 26, 9).signal",
    ] {
        let expr = expand(text).unwrap().remove(0).1;
        let col = columns(std::slice::from_ref(&expr), &data).remove(0);
        let mut e = Evaluator::for_expr(&expr);
        let streamed: Vec<Option<f64>> = data.iter().map(|(t, b)| e.update_number(b, *t)).collect();
        assert_eq!(
            col.iter().map(|v| v.map(f64::to_bits)).collect::<Vec<_>>(),
            streamed
                .iter()
                .map(|v| v.map(f64::to_bits))
                .collect::<Vec<_>>(),
            "{text}"
        );
        assert!(col[25].is_none(), "{text}: warm-up restarts after the gap");
    }
}

#[test]
fn exactly_the_limit_is_bridged_one_second_more_is_not() {
    let rule = Rule::parse("sma(close, 2) > 0").unwrap();
    let mut e = Evaluator::new(&rule);
    assert_eq!(e.update(&bar(1.0), 0), None);
    assert_eq!(e.update(&bar(1.0), MAX_GAP_SECS), Some(true));
    assert_eq!(e.update(&bar(1.0), 2 * MAX_GAP_SECS + 1), None);
}
