//! A custom indicator, end to end: the Hull moving average (HMA), which is not in the
//! built-in catalogue, is written as an ordinary [`Indicator`], registered once, and then used
//! by name in the rule language like any built-in — validated, printed, evaluated, backtested.
//!
//! ```text
//! cargo run -p example-custom-indicator            # on recorded TWSE bars of 2330 (May 2015)
//! cargo run -p example-custom-indicator -- 'crosses_below(close, hma(close, 4))'
//! ```

use anyhow::Context as _;
use chrono::NaiveDate;
use experiment_core::model::SecurityCode;
use experiment_indicators::catalogue::{self, Param, ParamKind, Spec};
use experiment_indicators::eval::{backtest, Evaluator};
use experiment_indicators::rule::{parse_number, Rule};
use experiment_indicators::{Bar, Indicator, Wma};
use rust_decimal::prelude::ToPrimitive;

/// Hull moving average: WMA(2·WMA(n/2) − WMA(n), √n). Smooth like a long average, but with
/// far less lag.
#[derive(Debug, Clone)]
struct Hull {
    n: usize,
    half: Wma,
    full: Wma,
    smooth: Wma,
}

impl Hull {
    fn new(n: usize) -> Self {
        Hull {
            n,
            half: Wma::new((n / 2).max(1)),
            full: Wma::new(n),
            smooth: Wma::new(Self::root(n)),
        }
    }

    fn root(n: usize) -> usize {
        ((n as f64).sqrt().floor() as usize).max(1)
    }
}

impl Indicator for Hull {
    type Output = f64;

    fn update(&mut self, bar: &Bar) -> Option<f64> {
        // Both averages see every bar, so they are updated before either is checked.
        let (half, full) = (
            self.half.update_value(bar.close),
            self.full.update_value(bar.close),
        );
        self.smooth.update_value(2.0 * half? - full?)
    }

    fn reset(&mut self) {
        *self = Hull::new(self.n);
    }

    fn warm_up(&self) -> usize {
        self.n - 1 + Self::root(self.n) - 1
    }
}

/// How the rule language and `experiment ta` see it: a series indicator (its first argument
/// is the input, `close` when left out) with one period parameter.
const HMA: Spec = Spec {
    name: "hma",
    summary: "Hull moving average",
    series_input: true,
    params: &[Param {
        name: "period",
        kind: ParamKind::Period { min: 2, max: 1000 },
        default: 9.0,
    }],
    outputs: &["value"],
};

/// TSMC's daily bars of May 2015, as recorded from TWSE (see apps/cli/data/SOURCES.md).
const RECORDED: &[u8] =
    include_bytes!("../../../apps/cli/data/twse_exchangeReport_STOCK_DAY_2330_201505.json");

fn recorded_bars() -> anyhow::Result<Vec<(NaiveDate, Bar)>> {
    let code = SecurityCode::new("2330")?;
    let month = NaiveDate::from_ymd_opt(2015, 5, 1).context("date")?;
    let parsed = experiment_twse::parse::classic::stock_day(RECORDED, &code, month)?;
    let f = |d: rust_decimal::Decimal| d.to_f64().unwrap_or(f64::NAN);
    Ok(parsed
        .items
        .iter()
        .map(|b| {
            (
                b.date,
                Bar {
                    open: f(b.open),
                    high: f(b.high),
                    low: f(b.low),
                    close: f(b.close),
                    volume: b.volume as f64,
                },
            )
        })
        .collect())
}

fn main() -> anyhow::Result<()> {
    catalogue::register(HMA, |p| Hull::new(p[0] as usize))?;

    let text = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "crosses_above(close, hma(close, 4))".to_owned());
    // Validation is the built-ins' own: `hma(close, 1)` is pointed at, column 12.
    let rule = Rule::parse(&text).map_err(|e| anyhow::anyhow!("{text}\n{e}"))?;
    println!("rule: {rule}");

    let bars = recorded_bars()?;
    let times: Vec<(i64, Bar)> = bars
        .iter()
        .map(|(d, b)| {
            (
                d.and_hms_opt(0, 0, 0)
                    .map_or(0, |t| t.and_utc().timestamp()),
                *b,
            )
        })
        .collect();

    let mut hma = Evaluator::for_expr(&parse_number("hma(close, 4)")?);
    println!("date        close   hma(close, 4)");
    for ((d, b), (t, _)) in bars.iter().zip(&times) {
        let v = hma.update_number(b, *t);
        let v = v.map_or_else(String::new, |v| format!("{v:.2}"));
        println!("{d}  {:>6.1}  {v:>13}", b.close);
    }

    let fired = backtest(&rule, &times);
    println!("fired on {} bar(s):", fired.len());
    for f in fired {
        println!("  {} close {}", bars[f.index].0, bars[f.index].1.close);
    }
    Ok(())
}
