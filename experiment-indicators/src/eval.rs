//! Evaluating rules and indicator expressions on streaming bars.
//!
//! A rule compiles to a small graph: every distinct sub-expression (by its canonical text) is
//! one node, so `sma(close, 20)` used twice is one SMA instance, and the outputs of one
//! indicator (`bbands(20, 2).upper` and `.lower`) read one instance. Each bar updates every node
//! once, children first; nodes keep only the history the rule asks for (`x[n]`, crossings,
//! `moving_up(x, v, n)`, `pct_change(x, n)`). Values are `None` until defined; a condition
//! with an undefined input is `None` (not false).
//!
//! **Gaps restart the warm-up.** When two consecutive bars are more than [`MAX_GAP_SECS`]
//! apart (no exchange closure lasts that long; a long suspension or a hole in the data does),
//! every indicator and every remembered value starts again from the bar after the gap, as
//! if it were the first: an SMA does not average prices ten years apart, and a crossing is
//! not read across the seam. [`Evaluator::with_max_gap`] changes the limit (intraday bars
//! need a shorter one); [`backtest`] and [`columns`] apply the same policy.

use std::collections::{HashMap, VecDeque};

use crate::core::{Bar, Indicator};
use crate::rule::{BinOp, Expr, Func, Rule, Series};
use crate::{
    Ad, AdOsc, Apo, Aroon, AroonOsc, Atr, Bollinger, Bop, CandlePattern, Cci, Dema, Dmi, Donchian,
    Ema, Highest, Kama, Keltner, LinearReg, Lowest, MaType, Macd, Mfi, MidPoint, MidPrice,
    Momentum, Natr, NewLow, Obv, Ppo, Rma, Roc, Rsi, Sar, Sma, StdDev, StochRsi, Stochastic,
    TaiwanKd, Tema, Trix, UltOsc, Variance, Vwap, WilliamsR, Wma,
};

/// A catalogue indicator behind one interface: all outputs, in catalogue order.
#[derive(Debug, Clone)]
enum AnyIndicator {
    One(Box<OneOut>),
    Macd(Macd),
    Bands(Bollinger),
    Stoch(Stochastic),
    Kd(TaiwanKd),
    Dmi(Dmi),
    Donchian(Donchian),
    Keltner(Keltner),
    Aroon(Aroon),
    StochRsi(StochRsi),
    Custom(Box<dyn crate::catalogue::DynIndicator>),
}

#[derive(Debug, Clone)]
enum OneOut {
    Sma(Sma),
    Ema(Ema),
    Rma(Rma),
    Wma(Wma),
    Dema(Dema),
    Tema(Tema),
    Rsi(Rsi),
    Roc(Roc),
    Mom(Momentum),
    StdDev(StdDev),
    Highest(Highest),
    Lowest(Lowest),
    Atr(Atr),
    Willr(WilliamsR),
    Cci(Cci),
    Mfi(Mfi),
    Obv(Obv),
    Vwap(Vwap),
    /// One output of a DMI: 0 ADX, 1 +DI, 2 −DI.
    DmiPart(Dmi, u8),
    Sar(Sar),
    AroonOsc(AroonOsc),
    Natr(Natr),
    Trix(Trix),
    Apo(Apo),
    Ppo(Ppo),
    Kama(Kama),
    Ad(Ad),
    AdOsc(AdOsc),
    Bop(Bop),
    UltOsc(UltOsc),
    MidPrice(MidPrice),
    MidPoint(MidPoint),
    LinearReg(LinearReg),
    Var(Variance),
    Candle(CandlePattern),
}

impl OneOut {
    fn update(&mut self, b: &Bar) -> Option<f64> {
        match self {
            OneOut::Sma(i) => i.update(b),
            OneOut::Ema(i) => i.update(b),
            OneOut::Rma(i) => i.update(b),
            OneOut::Wma(i) => i.update(b),
            OneOut::Dema(i) => i.update(b),
            OneOut::Tema(i) => i.update(b),
            OneOut::Rsi(i) => i.update(b),
            OneOut::Roc(i) => i.update(b),
            OneOut::Mom(i) => i.update(b),
            OneOut::StdDev(i) => i.update(b),
            OneOut::Highest(i) => i.update(b),
            OneOut::Lowest(i) => i.update(b),
            OneOut::Atr(i) => i.update(b),
            OneOut::Willr(i) => i.update(b),
            OneOut::Cci(i) => i.update(b),
            OneOut::Mfi(i) => i.update(b),
            OneOut::Obv(i) => i.update(b),
            OneOut::Vwap(i) => i.update(b),
            OneOut::DmiPart(i, part) => i.update(b).and_then(|v| match part {
                0 => v.adx,
                1 => Some(v.plus_di),
                _ => Some(v.minus_di),
            }),
            OneOut::Sar(i) => i.update(b),
            OneOut::AroonOsc(i) => i.update(b),
            OneOut::Natr(i) => i.update(b),
            OneOut::Trix(i) => i.update(b),
            OneOut::Apo(i) => i.update(b),
            OneOut::Ppo(i) => i.update(b),
            OneOut::Kama(i) => i.update(b),
            OneOut::Ad(i) => i.update(b),
            OneOut::AdOsc(i) => i.update(b),
            OneOut::Bop(i) => i.update(b),
            OneOut::UltOsc(i) => i.update(b),
            OneOut::MidPrice(i) => i.update(b),
            OneOut::MidPoint(i) => i.update(b),
            OneOut::LinearReg(i) => i.update(b),
            OneOut::Var(i) => i.update(b),
            OneOut::Candle(i) => i.update(b),
        }
    }
}

impl AnyIndicator {
    fn new(name: &str, p: &[f64]) -> Self {
        let n = |i: usize| p[i] as usize;
        let one = |o: OneOut| AnyIndicator::One(Box::new(o));
        match name {
            "sma" => one(OneOut::Sma(Sma::new(n(0)))),
            "ema" => one(OneOut::Ema(Ema::new(n(0)))),
            "rma" => one(OneOut::Rma(Rma::new(n(0)))),
            "wma" => one(OneOut::Wma(Wma::new(n(0)))),
            "dema" => one(OneOut::Dema(Dema::new(n(0)))),
            "tema" => one(OneOut::Tema(Tema::new(n(0)))),
            "rsi" => one(OneOut::Rsi(Rsi::new(n(0)))),
            "roc" => one(OneOut::Roc(Roc::new(n(0)))),
            "mom" => one(OneOut::Mom(Momentum::new(n(0)))),
            "stddev" => one(OneOut::StdDev(StdDev::new(n(0)))),
            "highest" => one(OneOut::Highest(Highest::new(n(0)))),
            "lowest" => one(OneOut::Lowest(Lowest::new(n(0)))),
            "atr" => one(OneOut::Atr(Atr::new(n(0)))),
            "willr" => one(OneOut::Willr(WilliamsR::new(n(0)))),
            "cci" => one(OneOut::Cci(Cci::new(n(0)))),
            "mfi" => one(OneOut::Mfi(Mfi::new(n(0)))),
            "obv" => one(OneOut::Obv(Obv::new())),
            "vwap" => one(OneOut::Vwap(Vwap::new())),
            "macd" => AnyIndicator::Macd(Macd::new(n(0), n(1), n(2))),
            "bbands" => AnyIndicator::Bands(Bollinger::new(n(0), p[1])),
            "stoch" => AnyIndicator::Stoch(Stochastic::new(n(0), n(1), n(2))),
            "kd" => AnyIndicator::Kd(TaiwanKd::new(n(0), n(1), n(2))),
            "dmi" => AnyIndicator::Dmi(Dmi::new(n(0))),
            "donchian" => AnyIndicator::Donchian(Donchian::new(n(0))),
            "keltner" => AnyIndicator::Keltner(Keltner::new(n(0), p[1], n(2))),
            "adx" => one(OneOut::DmiPart(Dmi::new(n(0)), 0)),
            "plus_di" => one(OneOut::DmiPart(Dmi::new(n(0)), 1)),
            "minus_di" => one(OneOut::DmiPart(Dmi::new(n(0)), 2)),
            "sar" => one(OneOut::Sar(Sar::new(p[0], p[1]))),
            "aroon" => AnyIndicator::Aroon(Aroon::new(n(0))),
            "aroonosc" => one(OneOut::AroonOsc(AroonOsc::new(n(0)))),
            "natr" => one(OneOut::Natr(Natr::new(n(0)))),
            "trix" => one(OneOut::Trix(Trix::new(n(0)))),
            "stochrsi" => AnyIndicator::StochRsi(StochRsi::new(n(0), n(1), n(2))),
            "apo" => one(OneOut::Apo(Apo::new(n(0), n(1), MaType::from_talib(n(2))))),
            "ppo" => one(OneOut::Ppo(Ppo::new(n(0), n(1), MaType::from_talib(n(2))))),
            "kama" => one(OneOut::Kama(Kama::new(n(0)))),
            "ad" => one(OneOut::Ad(Ad::new())),
            "adosc" => one(OneOut::AdOsc(AdOsc::new(n(0), n(1)))),
            "bop" => one(OneOut::Bop(Bop::new())),
            "ultosc" => one(OneOut::UltOsc(UltOsc::new(n(0), n(1), n(2)))),
            "midprice" => one(OneOut::MidPrice(MidPrice::new(n(0)))),
            "midpoint" => one(OneOut::MidPoint(MidPoint::new(n(0)))),
            "var" => one(OneOut::Var(Variance::new(n(0)))),
            other => {
                if let Some(out) = crate::catalogue::linreg_output(other) {
                    one(OneOut::LinearReg(LinearReg::new(n(0), out)))
                } else if let Some(pattern) = crate::catalogue::candle_pattern(other, p) {
                    one(OneOut::Candle(CandlePattern::new(pattern)))
                } else {
                    AnyIndicator::Custom(crate::catalogue::build_custom(other, p).unwrap_or_else(
                        || unreachable!("{other} is validated against the catalogue"),
                    ))
                }
            }
        }
    }

    /// Writes all outputs, in catalogue order; `None` entries while warming up.
    fn update(&mut self, b: &Bar, out: &mut [Option<f64>]) {
        fn put<const K: usize, T: Copy>(
            out: &mut [Option<f64>],
            v: Option<T>,
            f: fn(T) -> [f64; K],
        ) {
            match v {
                Some(v) => {
                    for (o, x) in out.iter_mut().zip(f(v)) {
                        *o = Some(x);
                    }
                }
                None => out.fill(None),
            }
        }
        match self {
            AnyIndicator::One(i) => out[0] = i.update(b),
            AnyIndicator::Macd(i) => put(out, i.update(b), |v| [v.macd, v.signal, v.histogram]),
            AnyIndicator::Bands(i) => put(out, i.update(b), |v| [v.middle, v.upper, v.lower]),
            AnyIndicator::Stoch(i) => put(out, i.update(b), |v| [v.k, v.d]),
            AnyIndicator::Kd(i) => put(out, i.update(b), |v| [v.k, v.d]),
            AnyIndicator::Dmi(i) => {
                let v = i.update(b);
                put(out, v, |v| {
                    [v.adx.unwrap_or(f64::NAN), v.plus_di, v.minus_di]
                });
                // ADX warms up after the DIs.
                if v.is_some_and(|v| v.adx.is_none()) {
                    out[0] = None;
                }
            }
            AnyIndicator::Donchian(i) => put(out, i.update(b), |v| [v.middle, v.upper, v.lower]),
            AnyIndicator::Keltner(i) => put(out, i.update(b), |v| [v.middle, v.upper, v.lower]),
            AnyIndicator::Aroon(i) => put(out, i.update(b), |v| [v.up, v.down]),
            AnyIndicator::StochRsi(i) => put(out, i.update(b), |v| [v.k, v.d]),
            AnyIndicator::Custom(i) => i.update_outputs(b, out),
        }
    }
}

/// A value of a node on one bar.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Val {
    Num(Option<f64>),
    Bool(Option<bool>),
}

impl Val {
    fn num(self) -> Option<f64> {
        match self {
            Val::Num(v) => v,
            Val::Bool(_) => None,
        }
    }
    fn bool(self) -> Option<bool> {
        match self {
            Val::Bool(v) => v,
            Val::Num(_) => None,
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Number(f64),
    Series(Series),
    /// An indicator on whole bars, or (input node) on a derived series; its value is its
    /// first output, `outs` has them all.
    Indicator {
        state: Box<AnyIndicator>,
        input: Option<usize>,
        outs: Vec<Option<f64>>,
    },
    /// Output `k` of the indicator node.
    Output(usize, usize),
    NewExtreme {
        low: bool,
        state: NewLow,
    },
    History(usize, usize),
    Not(usize),
    Neg(usize),
    Binary(BinOp, usize, usize),
    Call(Func, Vec<usize>, Option<usize>),
}

#[derive(Debug, Clone)]
struct Node {
    op: Op,
    /// The sub-expression's canonical text.
    text: String,
    value: Val,
    /// Past values of this node, newest first, as many as some reader needs.
    past: VecDeque<Val>,
    keep: usize,
}

/// The longest time between two consecutive bars that indicators bridge: 20 days. TWSE's
/// longest closures (Lunar New Year, with typhoon days next to it) stay under two weeks; a
/// longer silence is a suspension or missing data, and values computed across it would
/// describe no market that existed.
pub const MAX_GAP_SECS: i64 = 20 * 86_400;

/// A compiled rule (or expression) with its streaming state.
#[derive(Debug, Clone)]
pub struct Evaluator {
    nodes: Vec<Node>,
    root: usize,
    bars: i64,
    /// The nodes as compiled, before any bar: what a gap restarts from. Shared by clones.
    fresh: std::sync::Arc<Vec<Node>>,
    /// The previous bar's time, to see gaps.
    last_time: Option<i64>,
    max_gap: i64,
}

fn series_value(s: Series, b: &Bar) -> f64 {
    match s {
        Series::Open => b.open,
        Series::High => b.high,
        Series::Low => b.low,
        Series::Close => b.close,
        Series::Volume => b.volume,
        Series::Hl2 => (b.high + b.low) / 2.0,
        Series::Hlc3 => (b.high + b.low + b.close) / 3.0,
        Series::Ohlc4 => (b.open + b.high + b.low + b.close) / 4.0,
        Series::Di => (b.high + b.low + 2.0 * b.close) / 4.0,
    }
}

/// How a series indicator is fed a derived series (`sma(hl2, 5)`, `rsi(sma(close, 3), 14)`):
/// a bar whose prices are all that value, with the real bar's volume.
#[inline(always)]
fn derived_bar(x: f64, bar: &Bar) -> Bar {
    Bar {
        open: x,
        high: x,
        low: x,
        close: x,
        volume: bar.volume,
    }
}

struct Builder {
    nodes: Vec<Node>,
    index: HashMap<String, usize>,
}

impl Builder {
    fn add(&mut self, key: String, op: Op) -> usize {
        if let Some(&i) = self.index.get(&key) {
            return i;
        }
        self.nodes.push(Node {
            op,
            text: key.clone(),
            value: Val::Num(None),
            past: VecDeque::new(),
            keep: 0,
        });
        let i = self.nodes.len() - 1;
        self.index.insert(key, i);
        i
    }

    fn need_past(&mut self, node: usize, n: usize) {
        let k = &mut self.nodes[node].keep;
        *k = (*k).max(n);
    }

    fn compile(&mut self, e: &Expr) -> usize {
        let key = Rule { expr: e.clone() }.to_string();
        if let Some(&i) = self.index.get(&key) {
            return i;
        }
        let op = match e {
            Expr::Number(n) => Op::Number(*n),
            Expr::Series(s) => Op::Series(*s),
            Expr::Indicator {
                name,
                input,
                params,
                output,
            } => {
                let spec = crate::catalogue::lookup(name).expect("validated");
                let out = spec.outputs.iter().position(|o| o == output).unwrap_or(0);
                let input_node = input.as_ref().map(|i| self.compile(i));
                let state = Op::Indicator {
                    state: Box::new(AnyIndicator::new(name, params)),
                    input: input_node,
                    outs: vec![None; spec.outputs.len()],
                };
                if spec.outputs.len() == 1 {
                    state
                } else {
                    // Every output of one indicator reads the same instance, keyed by the
                    // call without its `.output`.
                    let call = Expr::Indicator {
                        name,
                        input: input.clone(),
                        params: params.clone(),
                        output: spec.outputs[0],
                    };
                    let key = format!("{}#instance", Rule { expr: call });
                    Op::Output(self.add(key, state), out)
                }
            }
            Expr::NewExtreme { low, seconds, .. } => Op::NewExtreme {
                low: *low,
                state: NewLow::new(*seconds),
            },
            Expr::History(inner, n) => {
                let i = self.compile(inner);
                self.need_past(i, *n);
                Op::History(i, *n)
            }
            Expr::Not(inner) => Op::Not(self.compile(inner)),
            Expr::Neg(inner) => Op::Neg(self.compile(inner)),
            Expr::Binary(op, l, r) => Op::Binary(*op, self.compile(l), self.compile(r)),
            Expr::Call(f, args) => {
                let idx: Vec<usize> = args.iter().map(|a| self.compile(a)).collect();
                let bars = match f {
                    Func::MovingUp | Func::MovingDown | Func::MovingUpPct | Func::MovingDownPct => {
                        Some(args[2].clone())
                    }
                    Func::PctChange => Some(args[1].clone()),
                    _ => None,
                }
                .and_then(|e| {
                    if let Expr::Number(n) = e {
                        Some(n as usize)
                    } else {
                        None
                    }
                });
                match (f, bars) {
                    (
                        Func::Crosses
                        | Func::CrossesAbove
                        | Func::CrossesBelow
                        | Func::Entering
                        | Func::Exiting,
                        _,
                    ) => {
                        for &i in &idx {
                            self.need_past(i, 1);
                        }
                    }
                    (_, Some(n)) => self.need_past(idx[0], n),
                    _ => {}
                }
                Op::Call(*f, idx, bars)
            }
        };
        // Children were compiled first, so a node only reads lower indices.
        self.add(key, op)
    }
}

impl Evaluator {
    /// Compiles a validated rule.
    pub fn new(rule: &Rule) -> Self {
        Self::for_expr(&rule.expr)
    }

    /// Compiles any validated expression (a condition or a number).
    pub fn for_expr(expr: &Expr) -> Self {
        let mut b = Builder {
            nodes: Vec::new(),
            index: HashMap::new(),
        };
        let root = b.compile(expr);
        Evaluator {
            fresh: std::sync::Arc::new(b.nodes.clone()),
            nodes: b.nodes,
            root,
            bars: 0,
            last_time: None,
            max_gap: MAX_GAP_SECS,
        }
    }

    /// The same evaluator with another gap limit (seconds between consecutive bars beyond
    /// which the warm-up restarts); `i64::MAX` never restarts.
    ///
    /// ```
    /// use experiment_indicators::{eval::Evaluator, rule::Rule, Bar};
    /// let rule = Rule::parse("sma(close, 2) > 0").unwrap();
    /// let bar = Bar { open: 1.0, high: 1.0, low: 1.0, close: 1.0, volume: 1.0 };
    /// let mut e = Evaluator::new(&rule).with_max_gap(60);
    /// assert_eq!(e.update(&bar, 0), None);
    /// assert_eq!(e.update(&bar, 60), Some(true));
    /// // two minutes of silence: the SMA warms up again
    /// assert_eq!(e.update(&bar, 180), None);
    /// assert_eq!(e.update(&bar, 240), Some(true));
    /// ```
    #[must_use]
    pub fn with_max_gap(mut self, secs: i64) -> Self {
        self.max_gap = secs;
        self
    }

    /// Distinct nodes (shared sub-expressions count once).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The numbers the rule looked at on the last update: every price series, indicator
    /// output and arithmetic sub-expression that has a value, by canonical text, children
    /// first (what an alert records).
    pub fn values(&self) -> Vec<(String, f64)> {
        self.nodes
            .iter()
            .filter(|n| !matches!(n.op, Op::Number(_)) && !n.text.ends_with("#instance"))
            .filter_map(|n| n.value.num().map(|v| (n.text.clone(), v)))
            .collect()
    }

    /// The number a condition is mainly about, with its text: the left side of the first
    /// comparison or crossing (`rsi(close, 14)` in `rsi(14) < 30 and close > 10`) — what an
    /// alert's `{{value}}` shows. `None` when the rule compares nothing (`new_low(1h)`).
    pub fn primary(&self) -> Option<(String, f64)> {
        let mut i = self.root;
        loop {
            match &self.nodes[i].op {
                Op::Binary(BinOp::And | BinOp::Or, l, _) | Op::Not(l) => i = *l,
                Op::Binary(_, l, _) if matches!(self.nodes[i].value, Val::Bool(_)) => i = *l,
                Op::Call(_, args, _) if matches!(self.nodes[i].value, Val::Bool(_)) => {
                    i = *args.first()?;
                }
                _ => break,
            }
        }
        let n = &self.nodes[i];
        n.value.num().map(|v| (n.text.clone(), v))
    }

    /// Indicator instances the rule keeps (every output of one indicator reads one).
    pub fn indicator_count(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| matches!(n.op, Op::Indicator { .. } | Op::NewExtreme { .. }))
            .count()
    }

    fn past(&self, node: usize, n: usize) -> Val {
        self.nodes[node]
            .past
            .get(n - 1)
            .copied()
            .unwrap_or(Val::Num(None))
    }

    fn step(&mut self, bar: &Bar, time: i64) {
        if self
            .last_time
            .is_some_and(|last| time.saturating_sub(last) > self.max_gap)
        {
            self.nodes.clone_from(&self.fresh);
        }
        self.last_time = Some(time);
        for i in 0..self.nodes.len() {
            let value = {
                let get = |j: usize| self.nodes[j].value;
                let prev = |j: usize| self.past(j, 1);
                match &self.nodes[i].op {
                    Op::Number(n) => Val::Num(Some(*n)),
                    Op::Series(s) => Val::Num(Some(series_value(*s, bar))),
                    Op::History(j, n) => self.past(*j, *n),
                    Op::Not(j) => Val::Bool(get(*j).bool().map(|b| !b)),
                    Op::Neg(j) => Val::Num(get(*j).num().map(|v| -v)),
                    Op::Binary(op, l, r) => binary(*op, get(*l), get(*r)),
                    Op::Call(f, args, bars) => {
                        call(*f, args, *bars, &get, &prev, &|j, n| self.past(j, n))
                    }
                    Op::Output(j, k) => match &self.nodes[*j].op {
                        Op::Indicator { outs, .. } => Val::Num(outs[*k]),
                        _ => Val::Num(None),
                    },
                    Op::Indicator { .. } | Op::NewExtreme { .. } => Val::Num(None),
                }
            };
            // Stateful nodes update after the borrow of their neighbours above.
            let value = match &mut self.nodes[i].op {
                Op::Indicator { .. } | Op::NewExtreme { .. } => self.stateful(i, bar, time),
                _ => value,
            };
            self.nodes[i].value = value;
        }
        for node in &mut self.nodes {
            if node.keep > 0 {
                node.past.push_front(node.value);
                node.past.truncate(node.keep);
            }
        }
        self.bars += 1;
    }

    fn stateful(&mut self, i: usize, bar: &Bar, time: i64) -> Val {
        let input = match &self.nodes[i].op {
            Op::Indicator { input: Some(j), .. } => Some(self.nodes[*j].value.num()),
            _ => None,
        };
        match &mut self.nodes[i].op {
            Op::Indicator {
                state,
                input: input_node,
                outs,
            } => {
                let fed = match (input_node, input) {
                    (Some(_), Some(Some(x))) => derived_bar(x, bar),
                    (Some(_), _) => {
                        outs.fill(None);
                        return Val::Num(None);
                    }
                    (None, _) => *bar,
                };
                state.update(&fed, outs);
                Val::Num(outs[0])
            }
            Op::NewExtreme { low, state } => {
                let price = if *low { bar.low } else { -bar.high };
                Val::Bool(state.update(time, price))
            }
            _ => Val::Num(None),
        }
    }

    /// Adds a closed bar starting at `time` (epoch seconds) and returns the rule's value:
    /// `None` while an input is still warming up.
    pub fn update(&mut self, bar: &Bar, time: i64) -> Option<bool> {
        self.step(bar, time);
        self.nodes[self.root].value.bool()
    }

    /// The value of a numeric expression after adding a closed bar.
    pub fn update_number(&mut self, bar: &Bar, time: i64) -> Option<f64> {
        self.step(bar, time);
        self.nodes[self.root].value.num()
    }

    /// What the rule would say on a forming bar, without committing it.
    pub fn peek(&self, bar: &Bar, time: i64) -> Option<bool> {
        self.clone().update(bar, time)
    }
}

fn binary(op: BinOp, l: Val, r: Val) -> Val {
    match op {
        BinOp::And => Val::Bool(match (l.bool(), r.bool()) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        }),
        BinOp::Or => Val::Bool(match (l.bool(), r.bool()) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), Some(false)) => Some(false),
            _ => None,
        }),
        _ => {
            let (Some(a), Some(b)) = (l.num(), r.num()) else {
                return if matches!(op, BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div) {
                    Val::Num(None)
                } else {
                    Val::Bool(None)
                };
            };
            match op {
                BinOp::Gt => Val::Bool(Some(a > b)),
                BinOp::Lt => Val::Bool(Some(a < b)),
                BinOp::Ge => Val::Bool(Some(a >= b)),
                BinOp::Le => Val::Bool(Some(a <= b)),
                BinOp::Eq => Val::Bool(Some(a == b)),
                BinOp::Ne => Val::Bool(Some(a != b)),
                BinOp::Add => Val::Num(Some(a + b)),
                BinOp::Sub => Val::Num(Some(a - b)),
                BinOp::Mul => Val::Num(Some(a * b)),
                // Division by zero is undefined, not infinity.
                BinOp::Div => Val::Num((b != 0.0).then(|| a / b)),
                BinOp::And | BinOp::Or => unreachable!(),
            }
        }
    }
}

fn call(
    f: Func,
    args: &[usize],
    bars: Option<usize>,
    get: &dyn Fn(usize) -> Val,
    prev: &dyn Fn(usize) -> Val,
    past: &dyn Fn(usize, usize) -> Val,
) -> Val {
    let now = |i: usize| get(args[i]).num();
    let before = |i: usize| prev(args[i]).num();
    let b = |v: Option<bool>| Val::Bool(v);
    match f {
        Func::Crosses | Func::CrossesAbove | Func::CrossesBelow => b((|| {
            let (a, c, pa, pc) = (now(0)?, now(1)?, before(0)?, before(1)?);
            let up = pa <= pc && a > c;
            let down = pa >= pc && a < c;
            Some(match f {
                Func::CrossesAbove => up,
                Func::CrossesBelow => down,
                _ => up || down,
            })
        })()),
        Func::Inside | Func::Outside | Func::Entering | Func::Exiting => b((|| {
            let inside = |x: f64, lo: f64, hi: f64| lo <= x && x <= hi;
            let now_in = inside(now(0)?, now(1)?, now(2)?);
            Some(match f {
                Func::Inside => now_in,
                Func::Outside => !now_in,
                Func::Entering => now_in && !inside(before(0)?, before(1)?, before(2)?),
                _ => !now_in && inside(before(0)?, before(1)?, before(2)?),
            })
        })()),
        Func::MovingUp | Func::MovingDown | Func::MovingUpPct | Func::MovingDownPct => b((|| {
            let n = bars?;
            let (x, then, v) = (now(0)?, past(args[0], n).num()?, now(1)?);
            Some(match f {
                Func::MovingUp => x - then >= v,
                Func::MovingDown => then - x >= v,
                Func::MovingUpPct => then != 0.0 && (x - then) / then.abs() * 100.0 >= v,
                _ => then != 0.0 && (then - x) / then.abs() * 100.0 >= v,
            })
        })(
        )),
        Func::PctChange => Val::Num((|| {
            let (x, then) = (now(0)?, past(args[0], bars?).num()?);
            (then != 0.0).then(|| (x - then) / then.abs() * 100.0)
        })()),
        Func::Abs => Val::Num(now(0).map(f64::abs)),
        Func::Min => Val::Num(now(0).zip(now(1)).map(|(a, c)| a.min(c))),
        Func::Max => Val::Num(now(0).zip(now(1)).map(|(a, c)| a.max(c))),
    }
}

/// One bar where a rule fired in a backtest.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Firing {
    /// Index of the bar in the input.
    pub index: usize,
}

/// Runs `rule` over `bars` (with their start times) and lists the bars where it is true at
/// the close — what "once per bar close" would have fired on.
pub fn backtest(rule: &Rule, bars: &[(i64, Bar)]) -> Vec<Firing> {
    let mut e = Evaluator::new(rule);
    bars.iter()
        .enumerate()
        .filter_map(|(index, (t, b))| (e.update(b, *t) == Some(true)).then_some(Firing { index }))
        .collect()
}

/// The horizons a backtest reports returns at by default: 1, 5 and 20 bars after a firing.
pub const HORIZONS: [usize; 3] = [1, 5, 20];

/// Close-to-close return `n` bars after bar `i`, percent: `None` past the end of `closes`,
/// or when the close at `i` is zero.
///
/// ```
/// use experiment_indicators::eval::forward_return;
/// let closes = [100.0, 110.0, 99.0];
/// assert_eq!(forward_return(&closes, 0, 1), Some(10.000000000000009));
/// assert_eq!(forward_return(&closes, 1, 5), None);
/// ```
pub fn forward_return(closes: &[f64], i: usize, n: usize) -> Option<f64> {
    let (now, later) = (*closes.get(i)?, *closes.get(i.checked_add(n)?)?);
    (now != 0.0 && now.is_finite() && later.is_finite()).then(|| (later / now - 1.0) * 100.0)
}

/// What followed the firings of a backtest at one horizon.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HorizonStats {
    /// Bars after the firing.
    pub horizon: usize,
    /// Firings with a return at this horizon (the last ones may have too few bars after).
    pub count: usize,
    /// Of those, how many were followed by a gain.
    pub wins: usize,
    /// Mean return, percent.
    pub mean: Option<f64>,
    /// Median return, percent.
    pub median: Option<f64>,
}

impl HorizonStats {
    /// Share of firings followed by a gain, 0 to 1.
    pub fn hit_rate(&self) -> Option<f64> {
        (self.count > 0).then(|| self.wins as f64 / self.count as f64)
    }

    /// The statistics of `returns` (percent) at `horizon`; non-finite values are left out.
    ///
    /// ```
    /// use experiment_indicators::eval::HorizonStats;
    /// let s = HorizonStats::of(5, [2.0, -1.0, 4.0]);
    /// assert_eq!((s.count, s.wins, s.median), (3, 2, Some(2.0)));
    /// assert_eq!(s.mean, Some(5.0 / 3.0));
    /// assert!((s.hit_rate().unwrap() - 2.0 / 3.0).abs() < 1e-12);
    /// ```
    pub fn of(horizon: usize, returns: impl IntoIterator<Item = f64>) -> Self {
        let mut r: Vec<f64> = returns.into_iter().filter(|x| x.is_finite()).collect();
        r.sort_by(f64::total_cmp);
        let n = r.len();
        let median = match n {
            0 => None,
            _ if n % 2 == 1 => Some(r[n / 2]),
            _ => Some((r[n / 2 - 1] + r[n / 2]) / 2.0),
        };
        HorizonStats {
            horizon,
            count: n,
            wins: r.iter().filter(|x| **x > 0.0).count(),
            mean: (n > 0).then(|| r.iter().sum::<f64>() / n as f64),
            median,
        }
    }
}

/// The output columns an indicator expression stands for, each with its name: the
/// expression as written, and for a multi-output indicator written without `.output`, one
/// column per output named `<expr>.<output>` (`macd(12,26,9).signal`).
///
/// ```
/// use experiment_indicators::eval::expand;
/// let names: Vec<String> = expand("bbands(20, 2)").unwrap().into_iter().map(|c| c.0).collect();
/// assert_eq!(names, ["bbands(20, 2).middle", "bbands(20, 2).upper", "bbands(20, 2).lower"]);
/// assert_eq!(expand("rsi(14)").unwrap()[0].0, "rsi(14)");
/// assert!(expand("rsi(14) > 3").is_err(), "a condition is not a column");
/// ```
///
/// # Errors
/// The expression does not parse or is not a number.
pub fn expand(text: &str) -> Result<Vec<(String, Expr)>, crate::rule::RuleError> {
    let expr = crate::rule::parse_number(text)?;
    let text = text.trim();
    if let Expr::Indicator {
        name,
        input,
        params,
        output,
    } = &expr
    {
        let spec = crate::catalogue::lookup(name).expect("validated");
        let explicit = text.ends_with(&format!(".{output}"));
        if spec.outputs.len() > 1 && !explicit {
            return Ok(spec
                .outputs
                .iter()
                .map(|o| {
                    let e = Expr::Indicator {
                        name,
                        input: input.clone(),
                        params: params.clone(),
                        output: o,
                    };
                    (format!("{text}.{o}"), e)
                })
                .collect());
        }
    }
    Ok(vec![(text.to_owned(), expr)])
}

/// The values of numeric expressions over `bars` (with their start times, oldest first):
/// one column per expression, `None` while undefined.
///
/// An indicator on a plain series (`rsi(14)`, `bbands(hl2, 20, 2).upper`) runs on the
/// columnar path of [`crate::column`]; anything else (`sma(close, 5) - sma(close, 20)`) through
/// an [`Evaluator`]. Both give the values streaming updates give, to the bit.
pub fn columns(exprs: &[Expr], bars: &[(i64, Bar)]) -> Vec<Vec<Option<f64>>> {
    // The stretches between gaps, each computed as if it were the whole series.
    let mut segments = Vec::new();
    let mut start = 0;
    for i in 1..bars.len() {
        if bars[i].0.saturating_sub(bars[i - 1].0) > MAX_GAP_SECS {
            segments.push(&bars[start..i]);
            start = i;
        }
    }
    segments.push(&bars[start..]);
    exprs
        .iter()
        .map(|e| {
            let fast: Option<Vec<Vec<Option<f64>>>> =
                segments.iter().map(|s| fast_column(e, s)).collect();
            match fast {
                Some(parts) => parts.concat(),
                None => {
                    let mut ev = Evaluator::for_expr(e);
                    bars.iter().map(|(t, b)| ev.update_number(b, *t)).collect()
                }
            }
        })
        .collect()
}

fn fast_column(expr: &Expr, bars: &[(i64, Bar)]) -> Option<Vec<Option<f64>>> {
    let Expr::Indicator {
        name,
        input,
        params,
        output,
    } = expr
    else {
        return None;
    };
    let series = match input.as_deref() {
        None => None,
        Some(Expr::Series(s)) => Some(*s),
        Some(_) => return None,
    };
    let spec = crate::catalogue::lookup(name)?;
    let k = spec.outputs.iter().position(|o| o == output).unwrap_or(0);
    let state = (
        AnyIndicator::new(name, params),
        vec![None; spec.outputs.len()],
    );
    let [col] = crate::column::run(bars.len(), state, |(ind, outs), i| {
        let bar = bars[i].1;
        let fed = match series {
            Some(s) => derived_bar(series_value(s, &bar), &bar),
            None => bar,
        };
        ind.update(&fed, outs);
        [outs[k].unwrap_or(f64::NAN)]
    });
    Some(crate::column::defined(&col))
}
