//! Indicator columns on polars DataFrames (feature `polars`).
//!
//! [`with_indicators`] adds one `Float64` column per indicator output (and one `Boolean`
//! column per rule condition) to a frame of bars,
//! computed per security when `over` names a code column, null while an indicator warms up
//! (never 0). The values are those of the streaming indicators, to the bit.
//!
//! ```
//! use polars::prelude::*;
//! use experiment_indicators::frame::with_indicators;
//!
//! let df = df!(
//!     "code"   => ["2330", "2330", "2330", "2317", "2317", "2317"],
//!     "open"   => [10.0, 11.0, 12.0, 100.0, 101.0, 102.0],
//!     "high"   => [10.5, 11.5, 12.5, 100.5, 101.5, 102.5],
//!     "low"    => [9.5, 10.5, 11.5, 99.5, 100.5, 101.5],
//!     "close"  => [10.0, 11.0, 12.0, 100.0, 101.0, 102.0],
//!     "volume" => [1e3, 1e3, 1e3, 1e3, 1e3, 1e3],
//! ).unwrap();
//! let out = with_indicators(&df, &["sma(close, 2)"], Some("code")).unwrap();
//! let sma: Vec<Option<f64>> = out.column("sma(close, 2)").unwrap().f64().unwrap().iter().collect();
//! // Each code warms up on its own rows: no average mixes 2330 with 2317.
//! assert_eq!(sma, [None, Some(10.5), Some(11.5), None, Some(100.5), Some(101.5)]);
//! ```

use std::collections::HashMap;
use std::fmt;

use polars::prelude::*;

use crate::core::Bar;
use crate::eval::{columns, expand, Evaluator};
use crate::rule::{Expr, Rule, RuleError, Series as Price};

/// Why indicator columns could not be added.
#[derive(Debug)]
pub enum FrameError {
    /// An expression is not a valid indicator expression.
    Expression {
        /// The expression as given.
        expr: String,
        /// What is wrong, with the column.
        error: RuleError,
    },
    /// A column an expression reads is not in the frame.
    MissingColumn {
        /// The column looked for (any case).
        column: String,
        /// The expression that reads it.
        expr: String,
        /// The frame's columns.
        have: Vec<String>,
    },
    /// The time column has a type that is not a date, a datetime or epoch seconds.
    TimeColumn {
        /// The column.
        column: String,
        /// Its type.
        dtype: String,
    },
    /// Polars failed (e.g. a price column that is not numeric).
    Polars(PolarsError),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Expression { expr, error } => write!(f, "'{expr}': {error}"),
            FrameError::MissingColumn { column, expr, have } => write!(
                f,
                "'{expr}' reads '{column}', which the frame does not have (columns: {})",
                have.join(", ")
            ),
            FrameError::TimeColumn { column, dtype } => write!(
                f,
                "time column '{column}' is {dtype}; expected a date, a datetime or epoch seconds"
            ),
            FrameError::Polars(e) => write!(f, "polars: {e}"),
        }
    }
}

impl std::error::Error for FrameError {}

impl From<PolarsError> for FrameError {
    fn from(e: PolarsError) -> Self {
        FrameError::Polars(e)
    }
}

const PRICES: [&str; 5] = ["open", "high", "low", "close", "volume"];

/// Which of open, high, low, close, volume an expression reads.
fn reads(e: &Expr, need: &mut [bool; 5]) {
    let mut price = |p: Price| {
        let cols: &[usize] = match p {
            Price::Open => &[0],
            Price::High => &[1],
            Price::Low => &[2],
            Price::Close => &[3],
            Price::Volume => &[4],
            Price::Hl2 => &[1, 2],
            Price::Hlc3 | Price::Di => &[1, 2, 3],
            Price::Ohlc4 => &[0, 1, 2, 3],
        };
        for c in cols {
            need[*c] = true;
        }
    };
    match e {
        Expr::Number(_) => {}
        Expr::Series(s) => price(*s),
        Expr::Indicator { input, .. } => match input {
            // A derived series carries the bar's volume along (volume-weighted indicators).
            Some(i) => reads(i, need),
            None => need.iter_mut().for_each(|n| *n = true),
        },
        Expr::NewExtreme { low, .. } => price(if *low { Price::Low } else { Price::High }),
        Expr::Call(_, args) => args.iter().for_each(|a| reads(a, need)),
        Expr::History(i, _) | Expr::Not(i) | Expr::Neg(i) => reads(i, need),
        Expr::Binary(_, l, r) => {
            reads(l, need);
            reads(r, need);
        }
    }
}

fn find(df: &DataFrame, name: &str) -> Option<String> {
    df.get_column_names()
        .into_iter()
        .find(|c| c.as_str().eq_ignore_ascii_case(name))
        .map(|c| c.to_string())
}

fn floats(df: &DataFrame, name: &str) -> Result<Vec<f64>, FrameError> {
    let s = df
        .column(name)?
        .as_materialized_series()
        .cast(&DataType::Float64)?;
    Ok(s.f64()?.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
}

/// Epoch seconds of each row from a `date`/`time`/`datetime` column, if the frame has one.
fn times(df: &DataFrame) -> Result<Option<Vec<i64>>, FrameError> {
    let Some(name) = ["time", "datetime", "date"]
        .iter()
        .find_map(|n| find(df, n))
    else {
        return Ok(None);
    };
    let s = df.column(&name)?.as_materialized_series();
    let (scale, divide): (i64, i64) = match s.dtype() {
        DataType::Date => (86_400, 1),
        DataType::Datetime(unit, _) => match unit {
            TimeUnit::Milliseconds => (1, 1_000),
            TimeUnit::Microseconds => (1, 1_000_000),
            TimeUnit::Nanoseconds => (1, 1_000_000_000),
        },
        d if d.is_integer() => (1, 1),
        d => {
            return Err(FrameError::TimeColumn {
                column: name,
                dtype: d.to_string(),
            })
        }
    };
    let raw = s.to_physical_repr().cast(&DataType::Int64)?;
    Ok(Some(
        raw.i64()?
            .iter()
            .map(|v| v.map_or(0, |v| (v * scale).div_euclid(divide)))
            .collect(),
    ))
}

/// Rows of each security, in frame order (first appearance order of the codes).
fn groups(df: &DataFrame, over: Option<&str>) -> Result<Vec<Vec<usize>>, FrameError> {
    let Some(over) = over else {
        return Ok(vec![(0..df.height()).collect()]);
    };
    let codes = df
        .column(over)?
        .as_materialized_series()
        .cast(&DataType::String)?;
    let mut index: HashMap<Option<String>, usize> = HashMap::new();
    let mut out: Vec<Vec<usize>> = Vec::new();
    for (row, code) in codes.str()?.iter().enumerate() {
        let g = *index.entry(code.map(str::to_owned)).or_insert_with(|| {
            out.push(Vec::new());
            out.len() - 1
        });
        out[g].push(row);
    }
    Ok(out)
}

/// Returns `df` with one `Float64` column per indicator output, named as `experiment ta`
/// names them: the expression as written (`rsi(14)`, `sma(close, 5) - sma(close, 20)`), and
/// `<expr>.<output>` for each output of a multi-output indicator written without one
/// (`macd(12,26,9).macd`, `.signal`, `.histogram`). A condition of the rule language
/// (`crosses_above(sma(close, 5), sma(close, 20))`, `new_low(3d)`) is a `Boolean` column: true
/// on the bars where it holds at the close, as a backtest lists them. A column of the same
/// name is replaced.
///
/// Rows are taken as bars in time order within each security; `over` names the code column
/// (`None`: the whole frame is one security). Price columns are found by name in any case
/// (`open`, `high`, `low`, `close`, `volume`); only those the expressions read must exist. A
/// `time`, `datetime` or `date` column (date, datetime or epoch seconds) gives `new_low(1h)`
/// its clock; without one, rows are a day apart. Undefined cells are null.
///
/// # Errors
/// A bad expression (with the column at fault), a missing column, or a polars error.
pub fn with_indicators(
    df: &DataFrame,
    exprs: &[&str],
    over: Option<&str>,
) -> Result<DataFrame, FrameError> {
    let mut cols: Vec<(String, Expr)> = Vec::new();
    let mut conditions: Vec<(String, Rule)> = Vec::new();
    let mut need = [false; 5];
    for text in exprs {
        let (condition, expanded) = match Rule::parse(text) {
            Ok(rule) => (true, vec![(text.trim().to_owned(), rule.expr)]),
            Err(_) => (
                false,
                expand(text).map_err(|error| FrameError::Expression {
                    expr: (*text).to_owned(),
                    error,
                })?,
            ),
        };
        for (_, e) in &expanded {
            let mut mine = [false; 5];
            reads(e, &mut mine);
            for (i, price) in PRICES.iter().enumerate() {
                if mine[i] && find(df, price).is_none() {
                    return Err(FrameError::MissingColumn {
                        column: (*price).to_owned(),
                        expr: (*text).to_owned(),
                        have: df
                            .get_column_names()
                            .iter()
                            .map(|c| c.to_string())
                            .collect(),
                    });
                }
                need[i] |= mine[i];
            }
        }
        if condition {
            conditions.extend(
                expanded
                    .into_iter()
                    .map(|(name, expr)| (name, Rule { expr })),
            );
        } else {
            cols.extend(expanded);
        }
    }
    let n = df.height();
    let mut prices: Vec<Vec<f64>> = Vec::with_capacity(5);
    for (i, price) in PRICES.iter().enumerate() {
        prices.push(match (need[i], find(df, price)) {
            (true, Some(name)) => floats(df, &name)?,
            // Never read by these expressions.
            _ => vec![f64::NAN; n],
        });
    }
    let bars: Vec<Bar> = (0..n)
        .map(|r| Bar {
            open: prices[0][r],
            high: prices[1][r],
            low: prices[2][r],
            close: prices[3][r],
            volume: prices[4][r],
        })
        .collect();
    let clock = times(df)?;
    let exprs: Vec<Expr> = cols.iter().map(|(_, e)| e.clone()).collect();
    let mut out: Vec<Vec<Option<f64>>> = vec![vec![None; n]; cols.len()];
    let mut flags: Vec<Vec<Option<bool>>> = vec![vec![None; n]; conditions.len()];
    for rows in groups(df, over)? {
        let series: Vec<(i64, Bar)> = rows
            .iter()
            .enumerate()
            .map(|(k, &r)| {
                let t = clock.as_ref().map_or(k as i64 * 86_400, |c| c[r]);
                (t, bars[r])
            })
            .collect();
        for (c, values) in columns(&exprs, &series).into_iter().enumerate() {
            for (&r, v) in rows.iter().zip(values) {
                out[c][r] = v;
            }
        }
        for (c, (_, rule)) in conditions.iter().enumerate() {
            let mut e = Evaluator::new(rule);
            for (&r, (t, bar)) in rows.iter().zip(&series) {
                flags[c][r] = e.update(bar, *t);
            }
        }
    }
    let mut df = df.clone();
    for ((name, _), values) in cols.iter().zip(out) {
        df.with_column(Series::new(name.as_str().into(), values).into())?;
    }
    for ((name, _), values) in conditions.iter().zip(flags) {
        df.with_column(Series::new(name.as_str().into(), values).into())?;
    }
    Ok(df)
}
