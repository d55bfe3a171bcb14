//! The alert rule language: parse, validate and print.
//!
//! ```text
//! crosses_above(sma(close, 5), sma(close, 20)) and rsi(14) < 70
//! close > highest(high, 20)[1]
//! pct_change(close, 1) <= -5
//! new_low(1h)
//! macd(12, 26, 9).signal > 0 or not inside(close, bbands(20, 2).lower, bbands(20, 2).upper)
//! ```
//!
//! - Series: `open high low close volume hl2 hlc3 ohlc4 di` (`di` = (H+L+2C)/4).
//! - Indicators come from the [catalogue](crate::catalogue): `name([series,] params...)`, the
//!   series defaulting to `close` and left-out parameters to their defaults; `.output` picks
//!   one output of a multi-output indicator (the first by default).
//! - Operators (TradingView's set): `crosses`, `crosses_above`, `crosses_below`, `entering`,
//!   `exiting`, `inside`, `outside` (a channel `lo, hi`), `moving_up`, `moving_down` (by a
//!   value over n bars), `moving_up_pct`, `moving_down_pct`; `pct_change(x, n)`,
//!   `new_low(WINDOW)`, `new_high(WINDOW)`, `abs`, `min`, `max`; comparisons `> < >= <= == !=`;
//!   `and or not`; `+ - * /`; history `x[n]` (n bars ago).
//! - Every error names the column (1-based) and what was expected, e.g.
//!   `column 14: unknown indicator 'rsx' (did you mean 'rsi'?)`.
//!
//! [`Rule::parse`] checks names, arity, parameter ranges and types (a rule is a condition, so
//! it must be true/false); `Display` prints a canonical form that parses back to the same rule.

use std::fmt;

use crate::catalogue::{lookup, ParamKind};
use crate::new_low::parse_window;

/// A price series of the bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Series {
    /// Open.
    Open,
    /// High.
    High,
    /// Low.
    Low,
    /// Close.
    Close,
    /// Volume.
    Volume,
    /// (H+L)/2.
    Hl2,
    /// (H+L+C)/3.
    Hlc3,
    /// (O+H+L+C)/4.
    Ohlc4,
    /// (H+L+2C)/4, the "DI" Taiwanese charting uses for MACD.
    Di,
}

const SERIES: [(&str, Series); 9] = [
    ("open", Series::Open),
    ("high", Series::High),
    ("low", Series::Low),
    ("close", Series::Close),
    ("volume", Series::Volume),
    ("hl2", Series::Hl2),
    ("hlc3", Series::Hlc3),
    ("ohlc4", Series::Ohlc4),
    ("di", Series::Di),
];

impl Series {
    /// The name used in rules.
    pub fn name(self) -> &'static str {
        SERIES
            .iter()
            .find(|(_, s)| *s == self)
            .map_or("close", |(n, _)| n)
    }
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinOp {
    /// `or`
    Or,
    /// `and`
    And,
    /// `>`
    Gt,
    /// `<`
    Lt,
    /// `>=`
    Ge,
    /// `<=`
    Le,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
}

impl BinOp {
    fn symbol(self) -> &'static str {
        match self {
            BinOp::Or => "or",
            BinOp::And => "and",
            BinOp::Gt => ">",
            BinOp::Lt => "<",
            BinOp::Ge => ">=",
            BinOp::Le => "<=",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
        }
    }

    fn precedence(self) -> u8 {
        match self {
            BinOp::Or => 1,
            BinOp::And => 2,
            BinOp::Gt | BinOp::Lt | BinOp::Ge | BinOp::Le | BinOp::Eq | BinOp::Ne => 4,
            BinOp::Add | BinOp::Sub => 5,
            BinOp::Mul | BinOp::Div => 6,
        }
    }
}

/// The built-in operators and functions (not indicators).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Func {
    /// `crosses(a, b)`: a crossed b either way on this bar.
    Crosses,
    /// `crosses_above(a, b)`
    CrossesAbove,
    /// `crosses_below(a, b)`
    CrossesBelow,
    /// `entering(x, lo, hi)`: x moved into the channel on this bar.
    Entering,
    /// `exiting(x, lo, hi)`
    Exiting,
    /// `inside(x, lo, hi)`
    Inside,
    /// `outside(x, lo, hi)`
    Outside,
    /// `moving_up(x, value, n)`: x rose by at least value over n bars.
    MovingUp,
    /// `moving_down(x, value, n)`
    MovingDown,
    /// `moving_up_pct(x, pct, n)`
    MovingUpPct,
    /// `moving_down_pct(x, pct, n)`
    MovingDownPct,
    /// `pct_change(x, n)`: percent change over n bars (a number).
    PctChange,
    /// `abs(x)`
    Abs,
    /// `min(a, b)`
    Min,
    /// `max(a, b)`
    Max,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Arg {
    Num,
    Bars,
}

const FUNCS: [(&str, Func, &[Arg], Type); 15] = [
    ("crosses", Func::Crosses, &[Arg::Num, Arg::Num], Type::Bool),
    (
        "crosses_above",
        Func::CrossesAbove,
        &[Arg::Num, Arg::Num],
        Type::Bool,
    ),
    (
        "crosses_below",
        Func::CrossesBelow,
        &[Arg::Num, Arg::Num],
        Type::Bool,
    ),
    (
        "entering",
        Func::Entering,
        &[Arg::Num, Arg::Num, Arg::Num],
        Type::Bool,
    ),
    (
        "exiting",
        Func::Exiting,
        &[Arg::Num, Arg::Num, Arg::Num],
        Type::Bool,
    ),
    (
        "inside",
        Func::Inside,
        &[Arg::Num, Arg::Num, Arg::Num],
        Type::Bool,
    ),
    (
        "outside",
        Func::Outside,
        &[Arg::Num, Arg::Num, Arg::Num],
        Type::Bool,
    ),
    (
        "moving_up",
        Func::MovingUp,
        &[Arg::Num, Arg::Num, Arg::Bars],
        Type::Bool,
    ),
    (
        "moving_down",
        Func::MovingDown,
        &[Arg::Num, Arg::Num, Arg::Bars],
        Type::Bool,
    ),
    (
        "moving_up_pct",
        Func::MovingUpPct,
        &[Arg::Num, Arg::Num, Arg::Bars],
        Type::Bool,
    ),
    (
        "moving_down_pct",
        Func::MovingDownPct,
        &[Arg::Num, Arg::Num, Arg::Bars],
        Type::Bool,
    ),
    (
        "pct_change",
        Func::PctChange,
        &[Arg::Num, Arg::Bars],
        Type::Num,
    ),
    ("abs", Func::Abs, &[Arg::Num], Type::Num),
    ("min", Func::Min, &[Arg::Num, Arg::Num], Type::Num),
    ("max", Func::Max, &[Arg::Num, Arg::Num], Type::Num),
];

impl Func {
    /// The name used in rules.
    pub fn name(self) -> &'static str {
        FUNCS.iter().find(|f| f.1 == self).map_or("?", |f| f.0)
    }
}

/// A parsed, validated expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A number.
    Number(f64),
    /// A price series.
    Series(Series),
    /// A catalogue indicator on `input` (series indicators) with every parameter given.
    Indicator {
        /// Catalogue name.
        name: &'static str,
        /// Its input series, for series indicators.
        input: Option<Box<Expr>>,
        /// Parameters, defaults filled in.
        params: Vec<f64>,
        /// Which output.
        output: &'static str,
    },
    /// A built-in function; whole-bar counts are stored as numbers.
    Call(Func, Vec<Expr>),
    /// `new_low(window)` / `new_high(window)`: window in seconds, as written.
    NewExtreme {
        /// `true` for new_low.
        low: bool,
        /// Window in seconds.
        seconds: i64,
        /// The window as written (`1h`).
        text: String,
    },
    /// `expr[n]`: the value n bars ago.
    History(Box<Expr>, usize),
    /// `not expr`
    Not(Box<Expr>),
    /// `-expr`
    Neg(Box<Expr>),
    /// `lhs op rhs`
    Binary(BinOp, Box<Expr>, Box<Expr>),
}

/// Whether an expression is a number or a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    /// A number.
    Num,
    /// True or false.
    Bool,
}

/// A rule that does not parse or validate: where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// 1-based character column.
    pub column: usize,
    /// What was wrong and what was expected.
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "column {}: {}", self.column, self.message)
    }
}

impl std::error::Error for RuleError {}

/// A validated rule: a condition over bars.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// The expression.
    pub expr: Expr,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Duration(String),
    Ident(String),
    Sym(&'static str),
    End,
}

fn lex(src: &str) -> Result<Vec<(Tok, usize)>, RuleError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            if i < chars.len()
                && matches!(chars[i], 'm' | 'h' | 'd')
                && !chars
                    .get(i + 1)
                    .is_some_and(|c| c.is_alphanumeric() || *c == '_')
            {
                out.push((Tok::Duration(format!("{text}{}", chars[i])), col));
                i += 1;
            } else {
                let v = text.parse().map_err(|_| RuleError {
                    column: col,
                    message: format!("'{text}' is not a number"),
                })?;
                out.push((Tok::Num(v), col));
            }
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push((
                Tok::Ident(chars[start..i].iter().collect::<String>().to_lowercase()),
                col,
            ));
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let sym = [">=", "<=", "==", "!="].into_iter().find(|s| *s == two);
            if let Some(s) = sym {
                out.push((Tok::Sym(s), col));
                i += 2;
            } else if let Some(s) = ["(", ")", "[", "]", ",", ".", "+", "-", "*", "/", ">", "<"]
                .into_iter()
                .find(|s| s.starts_with(c))
            {
                out.push((Tok::Sym(s), col));
                i += 1;
            } else {
                // Users of other languages write && and ||: say what this one writes.
                let hint = match c {
                    '&' => " (write 'and')",
                    '|' => " (write 'or')",
                    '!' => " (write 'not')",
                    _ => "",
                };
                return Err(RuleError {
                    column: col,
                    message: format!("unexpected character {c:?}{hint}"),
                });
            }
        }
    }
    out.push((Tok::End, chars.len() + 1));
    Ok(out)
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Num(n) => format!("number {n}"),
        Tok::Duration(d) => format!("window {d}"),
        Tok::Ident(s) => format!("'{s}'"),
        Tok::Sym(s) => format!("'{s}'"),
        Tok::End => "the end of the rule".into(),
    }
}

/// Whether `name` means something in the language already (a function, a series, a keyword).
pub(crate) fn reserved(name: &str) -> bool {
    FUNCS.iter().any(|f| f.0 == name)
        || SERIES.iter().any(|s| s.0 == name)
        || ["new_low", "new_high", "and", "or", "not"].contains(&name)
}

/// How to call `name` when it is an indicator or a function: `rsi(14)`, `macd(12, 26, 9)`,
/// `crosses_above(a, b)`, `new_low(20d)`.
fn call_example(name: &str) -> Option<String> {
    if let Some(spec) = crate::catalogue::all().into_iter().find(|s| s.name == name) {
        let params: Vec<String> = spec
            .params
            .iter()
            .map(|p| {
                let d = p.default;
                if d.fract() == 0.0 {
                    format!("{d:.0}")
                } else {
                    format!("{d}")
                }
            })
            .collect();
        return Some(format!("{name}({})", params.join(", ")));
    }
    if name == "new_low" || name == "new_high" {
        return Some(format!("{name}(20d)"));
    }
    let (_, _, args, _) = FUNCS.iter().find(|f| f.0 == name)?;
    let names: Vec<&str> = ["a", "b", "c", "d"].into_iter().take(args.len()).collect();
    Some(format!("{name}({})", names.join(", ")))
}

fn suggest(name: &str) -> String {
    let candidates = crate::catalogue::all()
        .into_iter()
        .map(|s| s.name)
        .chain(FUNCS.iter().map(|f| f.0))
        .chain(SERIES.iter().map(|s| s.0))
        .chain(["new_low", "new_high"]);
    candidates
        .map(|c| (strsim::levenshtein(name, c), c))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, c)| format!(" (did you mean '{c}'?)"))
        .unwrap_or_default()
}

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos].0
    }

    fn col(&self) -> usize {
        self.toks[self.pos].1
    }

    fn err<T>(&self, message: impl Into<String>) -> Result<T, RuleError> {
        Err(RuleError {
            column: self.col(),
            message: message.into(),
        })
    }

    fn eat(&mut self, sym: &str) -> bool {
        if self.peek() == &Tok::Sym(leak(sym)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, sym: &str) -> Result<(), RuleError> {
        if self.eat(sym) {
            Ok(())
        } else {
            self.err(format!("expected '{sym}', found {}", describe(self.peek())))
        }
    }

    fn keyword(&mut self, word: &str) -> bool {
        if matches!(self.peek(), Tok::Ident(s) if s == word) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn need(&self, ty: Type, got: Type, col: usize, what: &str) -> Result<(), RuleError> {
        if ty == got {
            return Ok(());
        }
        let (want, found) = match ty {
            Type::Num => ("a number", "a condition"),
            Type::Bool => ("a condition", "a number"),
        };
        Err(RuleError {
            column: col,
            message: format!("{what} needs {want}, found {found}"),
        })
    }

    fn expr(&mut self) -> Result<(Expr, Type), RuleError> {
        self.or()
    }

    fn logical(
        &mut self,
        word: &str,
        op: BinOp,
        next: fn(&mut Self) -> Result<(Expr, Type), RuleError>,
    ) -> Result<(Expr, Type), RuleError> {
        let col = self.col();
        let (mut lhs, ty) = next(self)?;
        let mut first = Some(ty);
        while self.keyword(word) {
            if let Some(t) = first.take() {
                self.need(Type::Bool, t, col, &format!("'{word}'"))?;
            }
            let rcol = self.col();
            let (rhs, rty) = next(self)?;
            self.need(Type::Bool, rty, rcol, &format!("'{word}'"))?;
            lhs = Expr::Binary(op, Box::new(lhs), Box::new(rhs));
        }
        Ok((lhs, if first.is_none() { Type::Bool } else { ty }))
    }

    fn or(&mut self) -> Result<(Expr, Type), RuleError> {
        self.logical("or", BinOp::Or, Self::and)
    }

    fn and(&mut self) -> Result<(Expr, Type), RuleError> {
        self.logical("and", BinOp::And, Self::not)
    }

    fn not(&mut self) -> Result<(Expr, Type), RuleError> {
        if self.keyword("not") {
            let col = self.col();
            let (e, t) = self.not()?;
            self.need(Type::Bool, t, col, "'not'")?;
            return Ok((Expr::Not(Box::new(e)), Type::Bool));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<(Expr, Type), RuleError> {
        let col = self.col();
        let (lhs, lty) = self.sum()?;
        let op = match self.peek() {
            Tok::Sym(">") => BinOp::Gt,
            Tok::Sym("<") => BinOp::Lt,
            Tok::Sym(">=") => BinOp::Ge,
            Tok::Sym("<=") => BinOp::Le,
            Tok::Sym("==") => BinOp::Eq,
            Tok::Sym("!=") => BinOp::Ne,
            _ => return Ok((lhs, lty)),
        };
        self.need(Type::Num, lty, col, &format!("'{}'", op.symbol()))?;
        self.pos += 1;
        let rcol = self.col();
        let (rhs, rty) = self.sum()?;
        self.need(Type::Num, rty, rcol, &format!("'{}'", op.symbol()))?;
        Ok((Expr::Binary(op, Box::new(lhs), Box::new(rhs)), Type::Bool))
    }

    fn arithmetic(
        &mut self,
        ops: [(&'static str, BinOp); 2],
        next: fn(&mut Self) -> Result<(Expr, Type), RuleError>,
    ) -> Result<(Expr, Type), RuleError> {
        let col = self.col();
        let (mut lhs, ty) = next(self)?;
        loop {
            let Some(op) = ops
                .iter()
                .find(|(s, _)| self.peek() == &Tok::Sym(s))
                .map(|(_, op)| *op)
            else {
                return Ok((lhs, ty));
            };
            self.need(Type::Num, ty, col, &format!("'{}'", op.symbol()))?;
            self.pos += 1;
            let rcol = self.col();
            let (rhs, rty) = next(self)?;
            self.need(Type::Num, rty, rcol, &format!("'{}'", op.symbol()))?;
            lhs = Expr::Binary(op, Box::new(lhs), Box::new(rhs));
        }
    }

    fn sum(&mut self) -> Result<(Expr, Type), RuleError> {
        self.arithmetic([("+", BinOp::Add), ("-", BinOp::Sub)], Self::product)
    }

    fn product(&mut self) -> Result<(Expr, Type), RuleError> {
        self.arithmetic([("*", BinOp::Mul), ("/", BinOp::Div)], Self::unary)
    }

    fn unary(&mut self) -> Result<(Expr, Type), RuleError> {
        if self.eat("-") {
            let col = self.col();
            let (e, t) = self.unary()?;
            self.need(Type::Num, t, col, "'-'")?;
            return Ok(match e {
                Expr::Number(n) => (Expr::Number(-n), Type::Num),
                e => (Expr::Neg(Box::new(e)), Type::Num),
            });
        }
        self.postfix()
    }

    fn postfix(&mut self) -> Result<(Expr, Type), RuleError> {
        let col = self.col();
        let (mut e, ty) = self.primary()?;
        while self.eat("[") {
            self.need(Type::Num, ty, col, "history '[n]'")?;
            let n = self.bars("history offset")?;
            self.expect("]")?;
            e = Expr::History(Box::new(e), n);
        }
        Ok((e, ty))
    }

    /// A whole number of bars (a literal ≥ 1).
    fn bars(&mut self, what: &str) -> Result<usize, RuleError> {
        match self.peek().clone() {
            Tok::Num(n) if n >= 1.0 && n.fract() == 0.0 && n <= 10_000.0 => {
                self.pos += 1;
                Ok(n as usize)
            }
            t => self.err(format!(
                "{what} must be a whole number of bars from 1 to 10000, found {}",
                describe(&t)
            )),
        }
    }

    fn args(&mut self) -> Result<Vec<(Expr, Type, usize)>, RuleError> {
        let mut args = Vec::new();
        if self.eat(")") {
            return Ok(args);
        }
        loop {
            let col = self.col();
            let (e, t) = self.expr()?;
            args.push((e, t, col));
            if self.eat(")") {
                return Ok(args);
            }
            if !self.eat(",") {
                return self.err(format!(
                    "expected ',' or ')', found {}",
                    describe(self.peek())
                ));
            }
        }
    }

    fn primary(&mut self) -> Result<(Expr, Type), RuleError> {
        let col = self.col();
        match self.peek().clone() {
            Tok::Num(n) => {
                self.pos += 1;
                Ok((Expr::Number(n), Type::Num))
            }
            Tok::Sym("(") => {
                self.pos += 1;
                let e = self.expr()?;
                self.expect(")")?;
                Ok(e)
            }
            Tok::Ident(name) => {
                self.pos += 1;
                if let Some((_, s)) = SERIES.iter().find(|(n, _)| *n == name) {
                    return Ok((Expr::Series(*s), Type::Num));
                }
                if !self.eat("(") {
                    return Err(RuleError {
                        column: col,
                        message: match call_example(&name) {
                            // A known indicator or function written without its call.
                            Some(example) => format!(
                                "'{name}' needs parentheses and its parameters, e.g. {example}"
                            ),
                            None => format!("unknown name '{name}'{}", suggest(&name)),
                        },
                    });
                }
                if name == "new_low" || name == "new_high" {
                    let window = match self.peek().clone() {
                        Tok::Duration(d) => d,
                        t => {
                            return self.err(format!(
                                "{name} needs a window such as 1h or 20d, found {}",
                                describe(&t)
                            ))
                        }
                    };
                    let wcol = self.col();
                    let seconds = parse_window(&window).map_err(|m| RuleError {
                        column: wcol,
                        message: m,
                    })?;
                    self.pos += 1;
                    self.expect(")")?;
                    return Ok((
                        Expr::NewExtreme {
                            low: name == "new_low",
                            seconds,
                            text: window,
                        },
                        Type::Bool,
                    ));
                }
                if let Some((fname, func, sig, ret)) = FUNCS.iter().find(|f| f.0 == name) {
                    return self.func(col, fname, *func, sig, *ret);
                }
                if let Some(spec) = lookup(&name) {
                    return self.indicator(col, spec);
                }
                Err(RuleError {
                    column: col,
                    message: format!("unknown indicator '{name}'{}", suggest(&name)),
                })
            }
            t => self.err(format!(
                "expected a number, a series, an indicator or '(', found {}",
                describe(&t)
            )),
        }
    }

    fn func(
        &mut self,
        col: usize,
        name: &str,
        func: Func,
        sig: &[Arg],
        ret: Type,
    ) -> Result<(Expr, Type), RuleError> {
        let mut args = Vec::new();
        for (i, arg) in sig.iter().enumerate() {
            if i > 0 && !self.eat(",") {
                return self.err(format!(
                    "{name} takes {} arguments; expected ',', found {}",
                    sig.len(),
                    describe(self.peek())
                ));
            }
            match arg {
                Arg::Num => {
                    let acol = self.col();
                    let (e, t) = self.expr()?;
                    self.need(Type::Num, t, acol, &format!("argument {} of {name}", i + 1))?;
                    args.push(e);
                }
                Arg::Bars => args.push(Expr::Number(
                    self.bars(&format!("argument {} of {name}", i + 1))? as f64,
                )),
            }
        }
        if !self.eat(")") {
            return self.err(format!(
                "{name} takes {} arguments; expected ')', found {}",
                sig.len(),
                describe(self.peek())
            ));
        }
        let _ = col;
        Ok((Expr::Call(func, args), ret))
    }

    fn indicator(
        &mut self,
        col: usize,
        spec: &'static crate::catalogue::Spec,
    ) -> Result<(Expr, Type), RuleError> {
        let args = self.args()?;
        let mut args = args.into_iter().peekable();
        // A series indicator's first argument is its input when it is not a plain number.
        let input = if spec.series_input {
            match args.peek() {
                Some((e, _, _)) if !matches!(e, Expr::Number(_)) => {
                    let (e, t, acol) = args.next().expect("peeked");
                    self.need(Type::Num, t, acol, &format!("the input of {}", spec.name))?;
                    Some(Box::new(e))
                }
                _ => Some(Box::new(Expr::Series(Series::Close))),
            }
        } else {
            None
        };
        let given: Vec<_> = args.collect();
        if given.len() > spec.params.len() {
            let (_, _, c) = &given[spec.params.len()];
            let names: Vec<_> = spec.params.iter().map(|p| p.name).collect();
            return Err(RuleError {
                column: *c,
                message: format!(
                    "{} takes {} parameters ({}), got {}",
                    spec.name,
                    spec.params.len(),
                    names.join(", "),
                    given.len()
                ),
            });
        }
        let mut params = Vec::new();
        for (i, p) in spec.params.iter().enumerate() {
            let Some((e, _, c)) = given.get(i) else {
                params.push(p.default);
                continue;
            };
            let Expr::Number(v) = e else {
                return Err(RuleError {
                    column: *c,
                    message: format!("{} parameter '{}' must be a number", spec.name, p.name),
                });
            };
            let ok = match p.kind {
                ParamKind::Period { min, max } => {
                    v.fract() == 0.0 && (min as f64..=max as f64).contains(v)
                }
                ParamKind::Number { min, max } => (min..=max).contains(v),
            };
            if !ok {
                let range = match p.kind {
                    ParamKind::Period { min, max } => format!("a whole number from {min} to {max}"),
                    ParamKind::Number { min, max } => format!("a number from {min} to {max}"),
                };
                return Err(RuleError {
                    column: *c,
                    message: format!(
                        "{} parameter '{}' must be {range}, got {v}",
                        spec.name, p.name
                    ),
                });
            }
            params.push(*v);
        }
        if spec.name == "macd" && params[0] > params[1] {
            return Err(RuleError {
                column: col,
                message: format!(
                    "macd: fast ({}) must not exceed slow ({})",
                    params[0], params[1]
                ),
            });
        }
        let output = if self.eat(".") {
            let ocol = self.col();
            match self.peek().clone() {
                Tok::Ident(o) => match spec.outputs.iter().find(|x| **x == o) {
                    Some(x) => {
                        self.pos += 1;
                        *x
                    }
                    None => {
                        return Err(RuleError {
                            column: ocol,
                            message: format!(
                                "{} has no output '{o}'; outputs: {}",
                                spec.name,
                                spec.outputs.join(", ")
                            ),
                        })
                    }
                },
                t => {
                    return self.err(format!(
                        "expected an output name after '.', found {}",
                        describe(&t)
                    ))
                }
            }
        } else {
            spec.outputs[0]
        };
        Ok((
            Expr::Indicator {
                name: spec.name,
                input,
                params,
                output,
            },
            Type::Num,
        ))
    }
}

fn leak(s: &str) -> &'static str {
    [
        "(", ")", "[", "]", ",", ".", "+", "-", "*", "/", ">", "<", ">=", "<=", "==", "!=",
    ]
    .into_iter()
    .find(|x| *x == s)
    .unwrap_or("")
}

/// Parses and validates a numeric expression (an indicator, a series, arithmetic), as
/// `experiment ta` takes them.
///
/// # Errors
/// [`RuleError`] with the column, or when the expression is a condition.
pub fn parse_number(src: &str) -> Result<Expr, RuleError> {
    let mut p = Parser {
        toks: lex(src)?,
        pos: 0,
    };
    let (expr, ty) = p.expr()?;
    if p.peek() != &Tok::End {
        return p.err(format!(
            "expected an operator or the end of the expression, found {}",
            describe(p.peek())
        ));
    }
    if ty != Type::Num {
        return Err(RuleError {
            column: 1,
            message: "expected a number (an indicator or a series), found a condition".into(),
        });
    }
    Ok(expr)
}

impl Rule {
    /// Parses and validates a rule.
    ///
    /// # Errors
    /// [`RuleError`] with the column and what was expected.
    ///
    /// ```
    /// use experiment_indicators::rule::Rule;
    /// let r = Rule::parse("crosses_above(sma(close,5), sma(close,20)) and rsi(14) < 70").unwrap();
    /// assert_eq!(r.to_string(), "crosses_above(sma(close, 5), sma(close, 20)) and rsi(close, 14) < 70");
    /// let e = Rule::parse("close > 0 and rsx(14) < 30").unwrap_err();
    /// assert_eq!(e.to_string(), "column 15: unknown indicator 'rsx' (did you mean 'rsi'?)");
    /// ```
    pub fn parse(src: &str) -> Result<Rule, RuleError> {
        let mut p = Parser {
            toks: lex(src)?,
            pos: 0,
        };
        let (expr, ty) = p.expr()?;
        if p.peek() != &Tok::End {
            return p.err(format!(
                "expected an operator or the end of the rule, found {}",
                describe(p.peek())
            ));
        }
        if ty != Type::Bool {
            return Err(RuleError { column: 1, message: "a rule must be a condition (true or false), e.g. rsi(14) < 30; this is a number".into() });
        }
        Ok(Rule { expr })
    }
}

fn number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

fn write_expr(f: &mut fmt::Formatter<'_>, e: &Expr, parent: u8) -> fmt::Result {
    match e {
        Expr::Number(n) if *n < 0.0 && parent >= 6 => write!(f, "({})", number(*n)),
        Expr::Number(n) => f.write_str(&number(*n)),
        Expr::Series(s) => f.write_str(s.name()),
        Expr::Indicator {
            name,
            input,
            params,
            output,
        } => {
            write!(f, "{name}(")?;
            let mut first = true;
            if let Some(i) = input {
                write_expr(f, i, 0)?;
                first = false;
            }
            for p in params {
                if !first {
                    f.write_str(", ")?;
                }
                first = false;
                f.write_str(&number(*p))?;
            }
            f.write_str(")")?;
            let spec = lookup(name).map_or(1, |s| s.outputs.len());
            if spec > 1 {
                write!(f, ".{output}")?;
            }
            Ok(())
        }
        Expr::Call(func, args) => {
            write!(f, "{}(", func.name())?;
            for (i, a) in args.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write_expr(f, a, 0)?;
            }
            f.write_str(")")
        }
        Expr::NewExtreme { low, text, .. } => {
            write!(f, "{}({text})", if *low { "new_low" } else { "new_high" })
        }
        Expr::History(inner, n) => {
            write_expr(f, inner, 8)?;
            write!(f, "[{n}]")
        }
        Expr::Not(inner) => {
            let wrap = parent > 3;
            if wrap {
                f.write_str("(")?;
            }
            f.write_str("not ")?;
            write_expr(f, inner, 3)?;
            if wrap {
                f.write_str(")")?;
            }
            Ok(())
        }
        Expr::Neg(inner) => {
            // `(-x)[1]` is not `-x[1]`: history binds tighter than negation.
            let wrap = parent > 7;
            if wrap {
                f.write_str("(")?;
            }
            f.write_str("-")?;
            write_expr(f, inner, 7)?;
            if wrap {
                f.write_str(")")?;
            }
            Ok(())
        }
        Expr::Binary(op, l, r) => {
            let p = op.precedence();
            let wrap = p < parent;
            if wrap {
                f.write_str("(")?;
            }
            // Left-associative: the right side needs parentheses at equal precedence.
            write_expr(f, l, p)?;
            write!(f, " {} ", op.symbol())?;
            write_expr(f, r, p + 1)?;
            if wrap {
                f.write_str(")")?;
            }
            Ok(())
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_expr(f, &self.expr, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(src: &str) -> String {
        Rule::parse(src)
            .unwrap_or_else(|e| panic!("{src}: {e}"))
            .to_string()
    }

    fn err(src: &str) -> String {
        Rule::parse(src)
            .map(|r| r.to_string())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn the_examples_parse_and_print_canonically() {
        assert_eq!(
            ok("crosses_above(sma(close, 5), sma(close, 20)) and rsi(14) < 70"),
            "crosses_above(sma(close, 5), sma(close, 20)) and rsi(close, 14) < 70"
        );
        assert_eq!(
            ok("close > highest(high, 20)[1]"),
            "close > highest(high, 20)[1]"
        );
        assert_eq!(
            ok("pct_change(close, 1) <= -5"),
            "pct_change(close, 1) <= -5"
        );
        assert_eq!(ok("new_low(1h)"), "new_low(1h)");
        assert_eq!(
            ok("macd(di, 12, 26, 9).signal > 0"),
            "macd(di, 12, 26, 9).signal > 0"
        );
        assert_eq!(ok("MACD() > 0"), "macd(close, 12, 26, 9).macd > 0");
        assert_eq!(ok("not inside(close, bbands(20, 2).lower, bbands().upper) or kd().k < 20"), "not inside(close, bbands(close, 20, 2).lower, bbands(close, 20, 2).upper) or kd(9, 3, 3).k < 20");
        assert_eq!(
            ok("(close - open) / open * 100 > 3"),
            "(close - open) / open * 100 > 3"
        );
        assert_eq!(ok("close - (open - low) > 1"), "close - (open - low) > 1");
        assert_eq!(
            ok("moving_up_pct(close, 5, 3) and volume > sma(volume, 20) * 2"),
            "moving_up_pct(close, 5, 3) and volume > sma(volume, 20) * 2"
        );
    }

    #[test]
    fn errors_point_at_the_column_and_say_what_was_expected() {
        assert_eq!(
            err("rsx(14) < 30"),
            "column 1: unknown indicator 'rsx' (did you mean 'rsi'?)"
        );
        assert_eq!(
            err("rsi(1000000) < 30"),
            "column 5: rsi parameter 'period' must be a whole number from 1 to 1000, got 1000000"
        );
        assert_eq!(
            err("rsi(14, 3) < 30"),
            "column 9: rsi takes 1 parameters (period), got 2"
        );
        assert_eq!(err("rsi(14)"), "column 1: a rule must be a condition (true or false), e.g. rsi(14) < 30; this is a number");
        assert_eq!(
            err("rsi(14) < 30 and close"),
            "column 18: 'and' needs a condition, found a number"
        );
        assert_eq!(
            err("macd().sig > 0"),
            "column 8: macd has no output 'sig'; outputs: macd, signal, histogram"
        );
        assert_eq!(
            err("close > sma(close, 20"),
            "column 22: expected ',' or ')', found the end of the rule"
        );
        assert_eq!(
            err("close >> 3"),
            "column 8: expected a number, a series, an indicator or '(', found '>'"
        );
        assert_eq!(
            err("new_low(1y)"),
            "column 9: new_low needs a window such as 1h or 20d, found number 1"
        );
        assert_eq!(
            err("closse > 1"),
            "column 1: unknown name 'closse' (did you mean 'close'?)"
        );
        assert_eq!(err("close[0] > 1"), "column 7: history offset must be a whole number of bars from 1 to 10000, found number 0");
        assert_eq!(err("close > 1 $"), "column 11: unexpected character '$'");
        assert_eq!(
            err("close > 1 && open < 2"),
            "column 11: unexpected character '&' (write 'and')"
        );
        assert_eq!(
            err("close > 1 || open < 2"),
            "column 11: unexpected character '|' (write 'or')"
        );
        assert_eq!(
            err("rsi < 30"),
            "column 1: 'rsi' needs parentheses and its parameters, e.g. rsi(14)"
        );
        assert_eq!(
            err("crosses_above > 1"),
            "column 1: 'crosses_above' needs parentheses and its parameters, e.g. crosses_above(a, b)"
        );
        assert_eq!(
            err("macd > 1"),
            "column 1: 'macd' needs parentheses and its parameters, e.g. macd(12, 26, 9)"
        );
        assert_eq!(
            err("macd(26, 12, 9) > 0"),
            "column 1: macd: fast (26) must not exceed slow (12)"
        );
    }
}
