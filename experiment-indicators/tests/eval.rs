//! Rule evaluation: agrees with the indicators, shares sub-expressions, handles crossings,
//! history and warm-up, and backtests.

use experiment_indicators::eval::{backtest, Evaluator};
use experiment_indicators::rule::Rule;
use experiment_indicators::{batch, Bar, Rsi, Sma};

fn bars(closes: &[f64]) -> Vec<(i64, Bar)> {
    closes
        .iter()
        .enumerate()
        .map(|(i, c)| {
            (
                i as i64 * 86_400,
                Bar {
                    open: *c,
                    high: c + 1.0,
                    low: c - 1.0,
                    close: *c,
                    volume: 1000.0,
                },
            )
        })
        .collect()
}

fn run(rule: &str, data: &[(i64, Bar)]) -> Vec<Option<bool>> {
    let mut e = Evaluator::new(&Rule::parse(rule).unwrap());
    data.iter().map(|(t, b)| e.update(b, *t)).collect()
}

#[test]
fn comparisons_agree_with_the_indicators_themselves() {
    let closes: Vec<f64> = (0..200)
        .map(|i| 100.0 + (i as f64 * 0.37).sin() * 10.0 + (i as f64 * 0.05))
        .collect();
    let data = bars(&closes);
    let plain: Vec<Bar> = data.iter().map(|(_, b)| *b).collect();
    let rsi = batch(Rsi::new(14), &plain);
    let got = run("rsi(14) < 40", &data);
    for i in 0..data.len() {
        assert_eq!(got[i], rsi[i].map(|v| v < 40.0), "bar {i}");
    }
    let sma = batch(Sma::new(10), &plain);
    let got = run("close > sma(close, 10)", &data);
    for i in 0..data.len() {
        assert_eq!(got[i], sma[i].map(|v| closes[i] > v), "bar {i}");
    }
}

#[test]
fn shared_sub_expressions_are_one_instance() {
    let rule = Rule::parse("sma(close, 20) > 1 and sma(close, 20) < 1000").unwrap();
    // close, 20-bar SMA, 1, >, 1000, <, and
    assert_eq!(Evaluator::new(&rule).node_count(), 7);
}

#[test]
fn crossings_history_and_warm_up() {
    let data = bars(&[10.0, 11.0, 12.0, 11.0, 9.0, 8.0, 12.0]);
    // sma(2): -, 10.5, 11.5, 11.5, 10, 8.5, 10
    assert_eq!(
        run("crosses_below(close, sma(close, 2))", &data),
        vec![
            None,
            None,
            Some(false),
            Some(true),
            Some(false),
            Some(false),
            Some(false)
        ]
    );
    assert_eq!(
        run("crosses_above(close, sma(close, 2))", &data),
        vec![
            None,
            None,
            Some(false),
            Some(false),
            Some(false),
            Some(false),
            Some(true)
        ]
    );
    assert_eq!(
        run("close > close[1]", &data),
        vec![
            None,
            Some(true),
            Some(true),
            Some(false),
            Some(false),
            Some(false),
            Some(true)
        ]
    );
    assert_eq!(
        run("moving_down_pct(close, 20, 2)", &data)[5],
        Some(true),
        "12 → 9 → 8 is more than 20% down over 2 bars"
    );
    assert_eq!(run("pct_change(close, 1) <= -10", &data)[4], Some(true));
    assert_eq!(run("entering(close, 8.5, 11.5)", &data)[3], Some(true));
    // undefined is not false: `and` with a warming-up side is undefined unless the other is false
    assert_eq!(run("close > 100 and rsi(14) < 30", &data)[0], Some(false));
    assert_eq!(run("close < 100 and rsi(14) < 30", &data)[0], None);
}

#[test]
fn backtest_lists_the_bars_where_the_rule_fired() {
    let data = bars(&[10.0, 9.0, 9.5, 8.0, 8.5, 9.0, 7.0]);
    // new_low(2d): a bar whose low is below every low of the previous 2 days, once 2 days of history exist
    let fired: Vec<usize> = backtest(&Rule::parse("new_low(2d)").unwrap(), &data)
        .iter()
        .map(|f| f.index)
        .collect();
    assert_eq!(fired, vec![3, 6]);
    let fired: Vec<usize> = backtest(&Rule::parse("close > close[1]").unwrap(), &data)
        .iter()
        .map(|f| f.index)
        .collect();
    assert_eq!(fired, vec![2, 4, 5]);
}

#[test]
fn peek_does_not_commit() {
    let data = bars(&[10.0, 11.0, 12.0]);
    let mut e = Evaluator::new(&Rule::parse("close > close[1]").unwrap());
    e.update(&data[0].1, data[0].0);
    assert_eq!(e.peek(&data[1].1, data[1].0), Some(true));
    assert_eq!(e.peek(&data[0].1, data[1].0), Some(false));
    assert_eq!(e.update(&data[1].1, data[1].0), Some(true));
}
