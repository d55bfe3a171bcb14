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

#[test]
fn outputs_of_one_indicator_share_one_instance() {
    let rule = Rule::parse("close > bbands(20, 2).upper or close < bbands(20, 2).lower").unwrap();
    let e = Evaluator::new(&rule);
    assert_eq!(e.indicator_count(), 1);
    let rule = Rule::parse("crosses_above(macd(12, 26, 9).macd, macd(12, 26, 9).signal)").unwrap();
    assert_eq!(Evaluator::new(&rule).indicator_count(), 1);
    // Different parameters are different instances.
    let rule = Rule::parse("bbands(20, 2).upper > bbands(20, 3).upper").unwrap();
    assert_eq!(Evaluator::new(&rule).indicator_count(), 2);

    // And the shared instance gives each output its own value.
    let closes: Vec<f64> = (0..80)
        .map(|i| 100.0 + (i as f64 * 0.5).sin() * 5.0)
        .collect();
    let data = bars(&closes);
    let plain: Vec<Bar> = data.iter().map(|(_, b)| *b).collect();
    let bands = batch(experiment_indicators::Bollinger::new(20, 2.0), &plain);
    let got = run(
        "close > bbands(20, 2).upper or close < bbands(20, 2).lower",
        &data,
    );
    for (i, b) in bands.iter().enumerate() {
        assert_eq!(
            got[i],
            b.map(|b| closes[i] > b.upper || closes[i] < b.lower),
            "bar {i}"
        );
    }
}

mod custom {
    use super::*;
    use experiment_indicators::catalogue::{self, Param, ParamKind, Spec};
    use experiment_indicators::Indicator;

    /// Highest close minus lowest close over n bars, and its midpoint: a two-output custom.
    #[derive(Debug, Clone)]
    struct Span {
        n: usize,
        seen: Vec<f64>,
    }

    impl Indicator for Span {
        type Output = [f64; 2];
        fn update(&mut self, bar: &Bar) -> Option<[f64; 2]> {
            self.seen.push(bar.close);
            if self.seen.len() > self.n {
                self.seen.remove(0);
            }
            (self.seen.len() == self.n).then(|| {
                let hi = self.seen.iter().copied().fold(f64::MIN, f64::max);
                let lo = self.seen.iter().copied().fold(f64::MAX, f64::min);
                [hi - lo, (hi + lo) / 2.0]
            })
        }
        fn reset(&mut self) {
            self.seen.clear();
        }
        fn warm_up(&self) -> usize {
            self.n - 1
        }
    }

    const SPAN: Spec = Spec {
        name: "span_test",
        summary: "close range over n bars",
        series_input: false,
        params: &[Param::period("n", 5.0)],
        outputs: &["width", "mid"],
    };

    fn registered() {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            catalogue::register(SPAN, |p| Span {
                n: p[0] as usize,
                seen: Vec::new(),
            })
            .unwrap();
        });
    }

    #[test]
    fn a_registered_indicator_is_parsed_validated_printed_and_evaluated() {
        registered();
        let rule = Rule::parse("span_test(3).width >= 2 and close > span_test(3).mid").unwrap();
        assert_eq!(
            rule.to_string(),
            "span_test(3).width >= 2 and close > span_test(3).mid"
        );
        assert_eq!(Evaluator::new(&rule).indicator_count(), 1);
        let got = run(
            "span_test(3).width >= 2 and close > span_test(3).mid",
            &bars(&[10.0, 11.0, 12.0, 12.5, 12.6, 20.0]),
        );
        // Windows: [10,11,12] width 2 mid 11 → 12 > 11; [11,12,12.5] width 1.5;
        // [12,12.5,12.6] width 0.6; [12.5,12.6,20] width 7.5, mid 16.25 → 20 > 16.25.
        assert_eq!(
            got,
            vec![None, None, Some(true), Some(false), Some(false), Some(true)]
        );
        assert_eq!(catalogue::lookup("span_test").unwrap().warm_up(&[3.0]), 2);
        assert!(catalogue::all().iter().any(|s| s.name == "span_test"));
    }

    #[test]
    fn custom_indicators_get_the_same_validation_as_built_ins() {
        registered();
        let e = Rule::parse("span_test(0).width > 1").unwrap_err();
        assert!(e.to_string().contains("column 11"), "{e}");
        let e = Rule::parse("span_tset(3).width > 1").unwrap_err();
        assert!(e.to_string().contains("did you mean 'span_test'"), "{e}");
        let e = Rule::parse("span_test(3).height > 1").unwrap_err();
        assert!(e.to_string().contains("width"), "{e}");
    }

    #[test]
    fn registration_rejects_taken_and_malformed_names() {
        let make = |_: &[f64]| Span {
            n: 1,
            seen: Vec::new(),
        };
        let mut spec = SPAN;
        spec.name = "rsi";
        assert!(catalogue::register(spec, make).is_err());
        spec.name = "crosses_above";
        assert!(catalogue::register(spec, make).is_err());
        spec.name = "Bad-Name";
        assert!(catalogue::register(spec, make).is_err());
        spec.name = "no_outputs_test";
        spec.outputs = &[];
        assert!(catalogue::register(spec, make).is_err());
        let mut spec = SPAN;
        spec.name = "bad_default_test";
        spec.params = &[Param {
            name: "n",
            kind: ParamKind::Period { min: 1, max: 10 },
            default: 50.0,
        }];
        let err = catalogue::register(spec, make).unwrap_err();
        assert!(err.to_string().contains("default of 'n'"), "{err}");
    }
}

#[test]
fn an_evaluator_says_which_numbers_it_looked_at() {
    let data = bars(&[10.0, 11.0, 12.0, 13.0]);
    let mut e = Evaluator::new(&Rule::parse("sma(close, 2) > 11 and close < 100").unwrap());
    for (t, b) in &data {
        e.update(b, *t);
    }
    let values = e.values();
    assert!(values.contains(&("close".to_owned(), 13.0)), "{values:?}");
    assert!(
        values.contains(&("sma(close, 2)".to_owned(), 12.5)),
        "{values:?}"
    );
    assert!(
        !values.iter().any(|(k, _)| k == "11" || k == "100"),
        "constants are not values"
    );
    assert_eq!(e.primary(), Some(("sma(close, 2)".to_owned(), 12.5)));

    let mut e = Evaluator::new(&Rule::parse("not crosses_above(close, sma(close, 3))").unwrap());
    for (t, b) in &data {
        e.update(b, *t);
    }
    assert_eq!(e.primary(), Some(("close".to_owned(), 13.0)));
    let e = Evaluator::new(&Rule::parse("new_low(1h)").unwrap());
    assert_eq!(e.primary(), None);
}
