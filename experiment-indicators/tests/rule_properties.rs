//! print(rule) parses back to the same rule, for any well-formed rule; parsing never panics.

use experiment_indicators::catalogue::{ParamKind, CATALOGUE};
use experiment_indicators::rule::{BinOp, Expr, Func, Rule, Series};
use proptest::prelude::*;

fn series() -> impl Strategy<Value = Series> {
    prop::sample::select(vec![
        Series::Open,
        Series::High,
        Series::Low,
        Series::Close,
        Series::Volume,
        Series::Hl2,
        Series::Hlc3,
        Series::Ohlc4,
        Series::Di,
    ])
}

fn literal() -> impl Strategy<Value = f64> {
    prop_oneof![
        (0i64..10_000).prop_map(|i| i as f64),
        (0i64..10_000).prop_map(|i| i as f64 / 10.0)
    ]
}

fn indicator() -> impl Strategy<Value = Expr> {
    (
        0..CATALOGUE.len(),
        prop::collection::vec(1u32..500, 3),
        1u32..100,
        series(),
        0usize..3,
    )
        .prop_map(|(i, periods, k, input, out)| {
            let spec = &CATALOGUE[i];
            let mut params: Vec<f64> = spec
                .params
                .iter()
                .enumerate()
                // Generated values are folded into each parameter's range (`ma` is 0 or 1,
                // `penetration` at most 1).
                .map(|(j, p)| match p.kind {
                    ParamKind::Period { min, max } => {
                        f64::from(min + (periods[j] - 1) % (max - min + 1))
                    }
                    ParamKind::Number { min, max } => (k as f64 / 10.0).clamp(min, max),
                })
                .collect();
            if spec.name == "macd" && params[0] > params[1] {
                params.swap(0, 1);
            }
            Expr::Indicator {
                name: spec.name,
                input: spec.series_input.then(|| Box::new(Expr::Series(input))),
                params,
                output: spec.outputs[out % spec.outputs.len()],
            }
        })
}

fn num_expr() -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![
        literal().prop_map(Expr::Number),
        series().prop_map(Expr::Series),
        indicator()
    ];
    leaf.prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            (inner.clone(), 1usize..50).prop_map(|(e, n)| Expr::History(Box::new(e), n)),
            (inner.clone(), 1usize..50)
                .prop_map(|(e, n)| Expr::Call(Func::PctChange, vec![e, Expr::Number(n as f64)])),
            inner.clone().prop_map(|e| Expr::Call(Func::Abs, vec![e])),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Expr::Call(Func::Max, vec![a, b])),
            inner
                .clone()
                .prop_filter("negated literals print as literals", |e| !matches!(
                    e,
                    Expr::Number(_)
                ))
                .prop_map(|e| Expr::Neg(Box::new(e))),
            (
                prop::sample::select(vec![BinOp::Add, BinOp::Sub, BinOp::Mul, BinOp::Div]),
                inner.clone(),
                inner
            )
                .prop_map(|(op, a, b)| Expr::Binary(op, Box::new(a), Box::new(b))),
        ]
    })
}

fn bool_expr() -> impl Strategy<Value = Expr> {
    let windows = vec![("1h", 3600i64), ("30m", 1800), ("20d", 1_728_000)];
    let leaf = prop_oneof![
        (
            prop::sample::select(vec![
                BinOp::Gt,
                BinOp::Lt,
                BinOp::Ge,
                BinOp::Le,
                BinOp::Eq,
                BinOp::Ne
            ]),
            num_expr(),
            num_expr()
        )
            .prop_map(|(op, a, b)| Expr::Binary(op, Box::new(a), Box::new(b))),
        (
            prop::sample::select(vec![Func::Crosses, Func::CrossesAbove, Func::CrossesBelow]),
            num_expr(),
            num_expr()
        )
            .prop_map(|(f, a, b)| Expr::Call(f, vec![a, b])),
        (
            prop::sample::select(vec![
                Func::Entering,
                Func::Exiting,
                Func::Inside,
                Func::Outside
            ]),
            num_expr(),
            num_expr(),
            num_expr()
        )
            .prop_map(|(f, a, b, c)| Expr::Call(f, vec![a, b, c])),
        (
            prop::sample::select(vec![
                Func::MovingUp,
                Func::MovingDown,
                Func::MovingUpPct,
                Func::MovingDownPct
            ]),
            num_expr(),
            literal(),
            1usize..30
        )
            .prop_map(|(f, a, v, n)| Expr::Call(
                f,
                vec![a, Expr::Number(v), Expr::Number(n as f64)]
            )),
        (any::<bool>(), prop::sample::select(windows)).prop_map(|(low, (text, seconds))| {
            Expr::NewExtreme {
                low,
                seconds,
                text: text.into(),
            }
        }),
    ];
    leaf.prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|e| Expr::Not(Box::new(e))),
            (
                prop::sample::select(vec![BinOp::And, BinOp::Or]),
                inner.clone(),
                inner
            )
                .prop_map(|(op, a, b)| Expr::Binary(op, Box::new(a), Box::new(b))),
        ]
    })
}

proptest! {
    #[test]
    fn printed_rules_parse_back_to_the_same_rule(expr in bool_expr()) {
        let rule = Rule { expr };
        let text = rule.to_string();
        let back = Rule::parse(&text).map_err(|e| TestCaseError::fail(format!("{text}\n{e}")))?;
        prop_assert_eq!(back, rule, "{}", text);
    }

    #[test]
    fn parsing_never_panics(src in "\\PC{0,60}") {
        let _ = Rule::parse(&src);
    }

    #[test]
    fn parsing_rule_shaped_noise_never_panics(parts in prop::collection::vec(prop::sample::select(vec![
        "rsi", "(", ")", "14", ",", "close", ">", "<", "and", "or", "not", "[", "]", "1", ".", "signal", "macd", "-", "*", "new_low", "1h", "crosses",
    ]), 0..20)) {
        let _ = Rule::parse(&parts.join(" "));
    }
}

fn any_bars() -> impl Strategy<Value = Vec<experiment_indicators::Bar>> {
    prop::collection::vec((1.0f64..500.0, 0.0f64..0.05, 0.0f64..1e5), 0..60).prop_map(|raw| {
        raw.into_iter()
            .map(|(c, r, v)| experiment_indicators::Bar {
                open: c,
                high: c * (1.0 + r),
                low: c * (1.0 - r),
                close: c,
                volume: v,
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    #[test]
    fn evaluation_never_panics_and_peek_equals_update(expr in bool_expr(), bars in any_bars()) {
        let rule = Rule { expr };
        let mut e = experiment_indicators::eval::Evaluator::new(&rule);
        for (i, b) in bars.iter().enumerate() {
            let t = i as i64 * 3600;
            let peeked = e.peek(b, t);
            prop_assert_eq!(peeked, e.update(b, t), "{}", rule);
        }
    }
}
