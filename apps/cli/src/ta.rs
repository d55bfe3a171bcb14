//! `experiment ta` and `experiment backtest`: indicators and rules over a CSV of bars.
//!
//! The CSV is checked before anything is computed: dates in any of the forms Taiwanese data
//! comes in (`2025-05-02`, `2025/05/02`, `20250502`, ROC `114/05/02` or `1140502`), each
//! date once, numbers where the indicators read them. Rows out of date order are sorted
//! (with a note on stderr), a date given twice is an error naming both lines, and only the
//! columns the expressions read are required.

use std::collections::{BTreeSet, HashMap};
use std::io::Read as _;
use std::path::PathBuf;

use anyhow::{bail, Context as _};
use chrono::NaiveDate;
use clap::{Args, ValueEnum};
use experiment_indicators::eval::{backtest, columns, expand, forward_return, HorizonStats};
use experiment_indicators::rule::{Expr, Rule, RuleError, Series};
use experiment_indicators::Bar;

use crate::table;

/// Output formats of `ta` and `backtest`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum OutFormat {
    /// Aligned columns for people.
    Table,
    /// CSV with a header row.
    Csv,
    /// A JSON array of objects.
    Json,
}

/// Options of `experiment ta`.
#[derive(Debug, Args)]
pub struct TaArgs {
    /// CSV of bars with a header row naming `date` and the columns the indicators read
    /// (open, high, low, close, volume; any case, any order; other columns are ignored).
    /// `-` reads standard input.
    #[arg(long)]
    pub input: PathBuf,
    /// An indicator expression, e.g. 'rsi(14)', 'macd(12,26,9)', 'bbands(20,2).upper',
    /// 'sma(close, 5) - sma(close, 20)'. Repeat for more columns. A multi-output indicator
    /// without `.output` gives one column per output, named `<expr>.<output>`.
    #[arg(long = "indicator", required = true)]
    pub indicators: Vec<String>,
    /// Output format. Warm-up cells are empty (table, CSV) or null (JSON), never 0.
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutFormat,
}

/// Options of `experiment backtest`.
#[derive(Debug, Args)]
pub struct BacktestArgs {
    /// CSV of bars (as for `experiment ta`; `-` reads standard input).
    #[arg(long)]
    pub input: PathBuf,
    /// The rule, e.g. 'crosses_above(sma(close, 5), sma(close, 20)) and rsi(14) < 70'.
    #[arg(long)]
    pub rule: String,
    /// Bars after each firing to report the close-to-close return at.
    #[arg(long, value_delimiter = ',', default_values_t = [1usize, 5, 20])]
    pub horizons: Vec<usize>,
    /// Output format. The table ends with a summary (mean, median and hit rate per horizon);
    /// CSV lists only the firings; JSON holds both.
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutFormat,
}

/// A rule or expression error drawn under the text: the text, a caret at the column, the
/// message.
pub fn pointed(flag: &str, text: &str, e: &RuleError) -> anyhow::Error {
    let caret = format!("{}^", " ".repeat(e.column.saturating_sub(1)));
    anyhow::anyhow!("{flag}: {e}\n  {text}\n  {caret}")
}

/// The price columns an expression reads.
fn reads(expr: &Expr, out: &mut BTreeSet<&'static str>) {
    let series = |s: Series, out: &mut BTreeSet<&'static str>| {
        let cols: &[&'static str] = match s {
            Series::Open => &["open"],
            Series::High => &["high"],
            Series::Low => &["low"],
            Series::Close => &["close"],
            Series::Volume => &["volume"],
            Series::Hl2 => &["high", "low"],
            Series::Hlc3 | Series::Di => &["high", "low", "close"],
            Series::Ohlc4 => &["open", "high", "low", "close"],
        };
        out.extend(cols);
    };
    match expr {
        Expr::Number(_) => {}
        Expr::Series(s) => series(*s, out),
        Expr::Indicator { name, input, .. } => match input {
            Some(e) => reads(e, out),
            None => {
                let spec = experiment_indicators::catalogue::lookup(name);
                if spec.is_some_and(|s| s.series_input) {
                    out.insert("close");
                } else {
                    // Bar indicators read what they like of the bar: ask for all of it.
                    out.extend(["open", "high", "low", "close", "volume"]);
                }
            }
        },
        Expr::NewExtreme { low, .. } => {
            out.insert(if *low { "low" } else { "high" });
        }
        Expr::Call(_, args) => args.iter().for_each(|a| reads(a, out)),
        Expr::History(e, _) | Expr::Not(e) | Expr::Neg(e) => reads(e, out),
        Expr::Binary(_, l, r) => {
            reads(l, out);
            reads(r, out);
        }
    }
}

/// A date as Taiwanese CSVs write it: ISO (`2025-05-02`, `2025/05/02`, `20250502`, with or
/// without a time after it) or ROC (`114/05/02`, `1140502`).
fn parse_date(text: &str) -> Option<NaiveDate> {
    let d = text.trim();
    let d = d.split([' ', 'T']).next().unwrap_or(d);
    for f in ["%Y-%m-%d", "%Y/%m/%d", "%Y%m%d"] {
        if let Ok(date) = NaiveDate::parse_from_str(d, f) {
            // `%Y` takes any number of digits: `114/05/02` would be the year 114.
            let year_digits = d.split(['-', '/']).next().map_or(0, str::len);
            if year_digits == 4 || (f == "%Y%m%d" && d.len() == 8) {
                return Some(date);
            }
        }
    }
    experiment_twse::parse_roc_date(d).ok()
}

/// Where bars come from, for messages.
fn source_name(path: &std::path::Path) -> String {
    if path.as_os_str() == "-" {
        "<stdin>".to_owned()
    } else {
        path.display().to_string()
    }
}

/// Reads bars from CSV (a file, or stdin for `-`), oldest first.
///
/// `needed` names the price columns that must be present and numeric; the others may be
/// missing or empty (they are then filled with the close, which nothing reads). Rows out of
/// order are sorted, with a note on stderr.
///
/// # Errors
/// A missing column (named, with the columns there are), a row whose date or a needed
/// number does not parse (its line named), a date given twice (both lines named), no rows.
pub fn read_bars(
    path: &std::path::Path,
    needed: &BTreeSet<&'static str>,
) -> anyhow::Result<Vec<(NaiveDate, Bar)>> {
    let name = source_name(path);
    let text = if path.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading standard input")?;
        s
    } else {
        std::fs::read_to_string(path).with_context(|| format!("opening {name}"))?
    };
    let mut r = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = r
        .headers()
        .with_context(|| format!("{name}: reading the header row"))?
        .iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}').to_lowercase())
        .collect();
    let find = |col: &str| headers.iter().position(|h| h == col);
    let date_col = find("date")
        .with_context(|| format!("{name}: no 'date' column (columns: {})", headers.join(", ")))?;
    let mut cols: HashMap<&str, usize> = HashMap::new();
    let mut absent = Vec::new();
    for col in ["open", "high", "low", "close", "volume"] {
        match find(col) {
            Some(i) => {
                cols.insert(col, i);
            }
            None if needed.contains(col) => absent.push(col),
            None => {}
        }
    }
    if !absent.is_empty() {
        bail!(
            "{name}: no {} column{} (columns: {}); the expressions read {}",
            absent
                .iter()
                .map(|c| format!("'{c}'"))
                .collect::<Vec<_>>()
                .join(", "),
            if absent.len() == 1 { "" } else { "s" },
            headers.join(", "),
            join(needed)
        );
    }
    let mut out: Vec<(usize, NaiveDate, Bar)> = Vec::new();
    for (i, row) in r.records().enumerate() {
        let line = i + 2;
        let row = row.with_context(|| format!("{name}: line {line}"))?;
        if row.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let d = row.get(date_col).unwrap_or_default();
        let date = parse_date(d).with_context(|| {
            format!(
                "{name}: line {line}: date '{d}' is not a date (YYYY-MM-DD, YYYY/MM/DD, YYYYMMDD or ROC YYY/MM/DD)"
            )
        })?;
        let num = |col: &str| -> anyhow::Result<Option<f64>> {
            let Some(&c) = cols.get(col) else {
                return Ok(None);
            };
            let cell = row.get(c).unwrap_or_default().trim().replace(',', "");
            if cell.is_empty() || cell == "--" || cell == "-" {
                if needed.contains(col) {
                    bail!("{name}: line {line}: {col} is empty");
                }
                return Ok(None);
            }
            match cell.parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(Some(v)),
                _ if needed.contains(col) => {
                    bail!("{name}: line {line}: {col} '{cell}' is not a number")
                }
                _ => Ok(None),
            }
        };
        let close = num("close")?;
        let fill = close.unwrap_or(f64::NAN);
        out.push((
            line,
            date,
            Bar {
                open: num("open")?.unwrap_or(fill),
                high: num("high")?.unwrap_or(fill),
                low: num("low")?.unwrap_or(fill),
                close: fill,
                volume: num("volume")?.unwrap_or(0.0),
            },
        ));
    }
    if out.is_empty() {
        bail!("{name}: no bars (only a header row)");
    }
    if out.windows(2).any(|w| w[1].1 < w[0].1) {
        let descending = out.windows(2).all(|w| w[1].1 <= w[0].1);
        out.sort_by_key(|(_, d, _)| *d);
        eprintln!(
            "note: {name}: rows are {}; sorted {} bars by date",
            if descending {
                "newest first"
            } else {
                "not in date order"
            },
            out.len()
        );
    }
    if let Some(w) = out.windows(2).find(|w| w[0].1 == w[1].1) {
        let (first, second) = if w[0].0 < w[1].0 {
            (w[0].0, w[1].0)
        } else {
            (w[1].0, w[0].0)
        };
        bail!(
            "{name}: line {second}: {} is already on line {first}; one bar per date",
            w[0].1
        );
    }
    Ok(out.into_iter().map(|(_, d, b)| (d, b)).collect())
}

fn join(cols: &BTreeSet<&str>) -> String {
    cols.iter().copied().collect::<Vec<_>>().join(", ")
}

fn time(d: NaiveDate) -> i64 {
    d.and_hms_opt(0, 0, 0)
        .map_or(0, |t| t.and_utc().timestamp())
}

fn cell(v: Option<f64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn pct_cell(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.2}%")).unwrap_or_else(|| "-".into())
}

/// Runs `experiment ta` and returns what to print.
///
/// # Errors
/// Bad input or a bad expression, with where.
pub fn ta(args: &TaArgs) -> anyhow::Result<String> {
    let mut cols = Vec::new();
    for text in &args.indicators {
        cols.extend(expand(text).map_err(|e| pointed("--indicator", text, &e))?);
    }
    let mut needed = BTreeSet::new();
    cols.iter().for_each(|(_, e)| reads(e, &mut needed));
    let bars = read_bars(&args.input, &needed)?;
    let timed: Vec<(i64, Bar)> = bars.iter().map(|(d, b)| (time(*d), *b)).collect();
    let exprs: Vec<Expr> = cols.iter().map(|(_, e)| e.clone()).collect();
    let values = columns(&exprs, &timed);
    let rows: Vec<(NaiveDate, Vec<Option<f64>>)> = bars
        .iter()
        .enumerate()
        .map(|(i, (d, _))| (*d, values.iter().map(|c| c[i]).collect()))
        .collect();
    let mut header = vec!["date".to_owned()];
    header.extend(cols.iter().map(|(n, _)| n.clone()));
    match args.format {
        OutFormat::Table => {
            let cells: Vec<Vec<String>> = rows
                .iter()
                .map(|(d, vals)| {
                    let mut r = vec![d.to_string()];
                    r.extend(
                        vals.iter()
                            .map(|v| v.map(|v| format!("{v:.4}")).unwrap_or_default()),
                    );
                    r
                })
                .collect();
            Ok(table::render(&header, &cells))
        }
        OutFormat::Csv => {
            let mut w = csv::Writer::from_writer(Vec::new());
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

fn horizon_label(n: usize) -> String {
    if n == 1 {
        "+1 bar".to_owned()
    } else {
        format!("+{n} bars")
    }
}

/// Runs `experiment backtest` and returns what to print: the bars where the rule fired at
/// the close, the returns that followed each, and (table, JSON) their summary.
///
/// # Errors
/// Bad input or a bad rule, with where.
pub fn run_backtest(args: &BacktestArgs) -> anyhow::Result<String> {
    let rule = Rule::parse(&args.rule).map_err(|e| pointed("--rule", &args.rule, &e))?;
    if let Some(h) = args.horizons.iter().find(|h| **h == 0 || **h > 10_000) {
        bail!("--horizons: {h} is not a number of bars from 1 to 10000");
    }
    let mut needed = BTreeSet::from(["close"]);
    reads(&rule.expr, &mut needed);
    let bars = read_bars(&args.input, &needed)?;
    let timed: Vec<(i64, Bar)> = bars.iter().map(|(d, b)| (time(*d), *b)).collect();
    let closes: Vec<f64> = bars.iter().map(|(_, b)| b.close).collect();
    let fired = backtest(&rule, &timed);
    let returns: Vec<Vec<Option<f64>>> = fired
        .iter()
        .map(|f| {
            args.horizons
                .iter()
                .map(|h| forward_return(&closes, f.index, *h))
                .collect()
        })
        .collect();
    let stats: Vec<HorizonStats> = args
        .horizons
        .iter()
        .enumerate()
        .map(|(k, h)| HorizonStats::of(*h, returns.iter().filter_map(|r| r[k])))
        .collect();
    let (first, last) = (bars[0].0, bars[bars.len() - 1].0);
    Ok(match args.format {
        OutFormat::Table => {
            let mut header = vec!["date".to_owned(), "close".to_owned()];
            header.extend(args.horizons.iter().map(|h| horizon_label(*h)));
            let rows: Vec<Vec<String>> = fired
                .iter()
                .zip(&returns)
                .map(|(f, r)| {
                    let (d, b) = bars[f.index];
                    let mut row = vec![d.to_string(), b.close.to_string()];
                    row.extend(r.iter().map(|v| pct_cell(*v)));
                    row
                })
                .collect();
            let mut s = table::render(&header, &rows);
            s.push_str(&format!(
                "\n{} firing{} over {} bars ({first} to {last})\n",
                fired.len(),
                if fired.len() == 1 { "" } else { "s" },
                bars.len()
            ));
            if !fired.is_empty() {
                let mut sh = vec![String::new()];
                sh.extend(args.horizons.iter().map(|h| horizon_label(*h)));
                let line = |label: &str, f: &dyn Fn(&HorizonStats) -> String| {
                    let mut r = vec![label.to_owned()];
                    r.extend(stats.iter().map(f));
                    r
                };
                let summary = vec![
                    line("hit rate", &|s| match s.hit_rate() {
                        Some(h) => format!("{:.1}% ({}/{})", h * 100.0, s.wins, s.count),
                        None => "-".into(),
                    }),
                    line("mean", &|s| pct_cell(s.mean)),
                    line("median", &|s| pct_cell(s.median)),
                ];
                s.push_str(&table::render(&sh, &summary));
            }
            s
        }
        OutFormat::Csv => {
            let mut w = csv::Writer::from_writer(Vec::new());
            let mut header = vec!["date".to_owned(), "close".to_owned()];
            header.extend(args.horizons.iter().map(|h| format!("return_{h}")));
            w.write_record(&header)?;
            for (f, r) in fired.iter().zip(&returns) {
                let (d, b) = bars[f.index];
                let mut rec = vec![d.to_string(), b.close.to_string()];
                rec.extend(r.iter().map(|v| cell(*v)));
                w.write_record(&rec)?;
            }
            String::from_utf8(w.into_inner()?)?
        }
        OutFormat::Json => {
            let firings: Vec<_> = fired
                .iter()
                .zip(&returns)
                .map(|(f, r)| {
                    let (d, b) = bars[f.index];
                    let forward: serde_json::Map<String, serde_json::Value> = args
                        .horizons
                        .iter()
                        .zip(r)
                        .map(|(h, v)| (h.to_string(), serde_json::json!(v)))
                        .collect();
                    serde_json::json!({"date": d.to_string(), "close": b.close, "forward_returns": forward})
                })
                .collect();
            let summary: Vec<_> = stats
                .iter()
                .map(|s| {
                    serde_json::json!({
                        "horizon": s.horizon,
                        "count": s.count,
                        "wins": s.wins,
                        "hit_rate": s.hit_rate(),
                        "mean": s.mean,
                        "median": s.median,
                    })
                })
                .collect();
            let report = serde_json::json!({
                "rule": rule.to_string(),
                "bars": bars.len(),
                "from": first.to_string(),
                "to": last.to_string(),
                "firings": firings,
                "summary": summary,
            });
            format!("{}\n", serde_json::to_string_pretty(&report)?)
        }
    })
}
