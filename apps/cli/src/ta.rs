//! `experiment ta` and `experiment backtest`: indicators and rules over a CSV of bars.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use chrono::NaiveDate;
use clap::{Args, ValueEnum};
use experiment_indicators::eval::{backtest, columns, expand};
use experiment_indicators::rule::{Expr, Rule};
use experiment_indicators::Bar;

/// Output formats of `ta` and `backtest`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum OutFormat {
    /// CSV with a header row.
    Csv,
    /// A JSON array of objects.
    Json,
}

/// Options of `experiment ta`.
#[derive(Debug, Args)]
pub struct TaArgs {
    /// CSV of bars with a header naming date, open, high, low, close, volume (any case, any
    /// order; other columns are ignored).
    #[arg(long)]
    pub input: PathBuf,
    /// An indicator expression, e.g. 'rsi(14)', 'macd(12,26,9)', 'bbands(20,2).upper',
    /// 'sma(close, 5) - sma(close, 20)'. Repeat for more columns. A multi-output indicator
    /// without `.output` gives one column per output, named `<expr>.<output>`.
    #[arg(long = "indicator", required = true)]
    pub indicators: Vec<String>,
    /// Output format. Warm-up cells are empty (CSV) or null (JSON), never 0.
    #[arg(long, value_enum, default_value = "csv")]
    pub format: OutFormat,
}

/// Options of `experiment backtest`.
#[derive(Debug, Args)]
pub struct BacktestArgs {
    /// CSV of bars (as for `experiment ta`).
    #[arg(long)]
    pub input: PathBuf,
    /// The rule, e.g. 'crosses_above(sma(close, 5), sma(close, 20)) and rsi(14) < 70'.
    #[arg(long)]
    pub rule: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "csv")]
    pub format: OutFormat,
}

/// Reads bars from CSV: (date, bar) in file order.
///
/// # Errors
/// A missing column (named), or a row that is not a date and numbers (its line named).
pub fn read_bars(path: &Path) -> anyhow::Result<Vec<(NaiveDate, Bar)>> {
    let mut r =
        csv::Reader::from_path(path).with_context(|| format!("opening {}", path.display()))?;
    let headers: Vec<String> = r
        .headers()?
        .iter()
        .map(|h| h.trim().to_lowercase())
        .collect();
    let col = |name: &str| {
        headers.iter().position(|h| h == name).with_context(|| {
            format!(
                "{}: no '{name}' column (columns: {})",
                path.display(),
                headers.join(", ")
            )
        })
    };
    let (cd, co, ch, cl, cc, cv) = (
        col("date")?,
        col("open")?,
        col("high")?,
        col("low")?,
        col("close")?,
        col("volume")?,
    );
    let mut out = Vec::new();
    for (i, row) in r.records().enumerate() {
        let row = row?;
        let line = i + 2;
        let num = |c: usize, name: &str| -> anyhow::Result<f64> {
            let text = row.get(c).unwrap_or_default().replace(',', "");
            text.trim()
                .parse()
                .with_context(|| format!("line {line}: {name} '{text}' is not a number"))
        };
        let d = row.get(cd).unwrap_or_default().trim();
        let date = NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .or_else(|_| NaiveDate::parse_from_str(d, "%Y/%m/%d"))
            .with_context(|| format!("line {line}: date '{d}' is not YYYY-MM-DD"))?;
        out.push((
            date,
            Bar {
                open: num(co, "open")?,
                high: num(ch, "high")?,
                low: num(cl, "low")?,
                close: num(cc, "close")?,
                volume: num(cv, "volume")?,
            },
        ));
    }
    Ok(out)
}

fn time(d: NaiveDate) -> i64 {
    d.and_hms_opt(0, 0, 0)
        .map_or(0, |t| t.and_utc().timestamp())
}

fn cell(v: Option<f64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// Runs `experiment ta` and returns what to print.
///
/// # Errors
/// Bad input or a bad expression, with where.
pub fn ta(args: &TaArgs) -> anyhow::Result<String> {
    let bars = read_bars(&args.input)?;
    let mut cols = Vec::new();
    for text in &args.indicators {
        cols.extend(expand(text).map_err(|e| anyhow::anyhow!("--indicator '{text}': {e}"))?);
    }
    let timed: Vec<(i64, Bar)> = bars.iter().map(|(d, b)| (time(*d), *b)).collect();
    let exprs: Vec<Expr> = cols.iter().map(|(_, e)| e.clone()).collect();
    let values = columns(&exprs, &timed);
    let rows: Vec<(NaiveDate, Vec<Option<f64>>)> = bars
        .iter()
        .enumerate()
        .map(|(i, (d, _))| (*d, values.iter().map(|c| c[i]).collect()))
        .collect();
    match args.format {
        OutFormat::Csv => {
            let mut w = csv::Writer::from_writer(Vec::new());
            let mut header = vec!["date".to_owned()];
            header.extend(cols.iter().map(|(n, _)| n.clone()));
            w.write_record(&header)?;
            for (d, vals) in &rows {
                let mut rec = vec![d.to_string()];
                rec.extend(vals.iter().map(|v| cell(*v)));
                w.write_record(&rec)?;
            }
            Ok(String::from_utf8(w.into_inner()?)?)
        }
        OutFormat::Json => {
            let items: Vec<serde_json::Value> = rows
                .iter()
                .map(|(d, vals)| {
                    let mut m = serde_json::Map::new();
                    m.insert("date".into(), d.to_string().into());
                    for ((name, _), v) in cols.iter().zip(vals) {
                        m.insert(
                            name.clone(),
                            v.map_or(serde_json::Value::Null, serde_json::Value::from),
                        );
                    }
                    serde_json::Value::Object(m)
                })
                .collect();
            Ok(format!("{}\n", serde_json::to_string_pretty(&items)?))
        }
    }
}

/// Runs `experiment backtest` and returns what to print: the bars where the rule fired at
/// the close.
///
/// # Errors
/// Bad input or a bad rule, with where.
pub fn run_backtest(args: &BacktestArgs) -> anyhow::Result<String> {
    let rule = Rule::parse(&args.rule).map_err(|e| anyhow::anyhow!("--rule: {e}"))?;
    let bars = read_bars(&args.input)?;
    if bars.is_empty() {
        bail!("{}: no bars", args.input.display());
    }
    let timed: Vec<(i64, Bar)> = bars.iter().map(|(d, b)| (time(*d), *b)).collect();
    let fired = backtest(&rule, &timed);
    Ok(match args.format {
        OutFormat::Csv => {
            let mut s = String::from("date,close\n");
            for f in &fired {
                let (d, b) = bars[f.index];
                s.push_str(&format!("{d},{}\n", b.close));
            }
            s
        }
        OutFormat::Json => {
            let items: Vec<_> = fired.iter().map(|f| serde_json::json!({"date": bars[f.index].0.to_string(), "close": bars[f.index].1.close})).collect();
            format!("{}\n", serde_json::to_string_pretty(&items)?)
        }
    })
}
