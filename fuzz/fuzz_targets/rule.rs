//! The rule language and the evaluator: any text parses or is refused with a message; a
//! parsed rule evaluates any series of bars (NaN, infinities, zeros included) without a
//! panic. The input is the rule, then `\0`, then bytes read as bars.
#![no_main]

use experiment_core::template::Template;
use experiment_indicators::eval::Evaluator;
use experiment_indicators::rule::Rule;
use experiment_indicators::Bar;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (text, rest) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let _ = Template::parse(text);
    let Ok(rule) = Rule::parse(text) else {
        return;
    };
    let mut eval = Evaluator::new(&rule);
    // Each 5 bytes make a bar; a few values are extreme on purpose.
    for (i, chunk) in rest.chunks(5).enumerate() {
        let v = |b: u8| match b {
            0 => 0.0,
            1 => f64::NAN,
            2 => f64::INFINITY,
            3 => -1.0,
            4 => 1e300,
            _ => f64::from(b),
        };
        let get = |k: usize| v(chunk.get(k).copied().unwrap_or(100));
        let bar = Bar {
            open: get(0),
            high: get(1),
            low: get(2),
            close: get(3),
            volume: get(4),
        };
        let _ = eval.update(&bar, 1_700_000_000 + 86_400 * i as i64);
        let _ = (eval.values(), eval.primary());
    }
});
