//! `experiment indicators`: the indicator catalogue — names, parameters with their defaults
//! and ranges, outputs and warm-up — as the rule language, `ta` and `backtest` accept them.

use clap::{Args, ValueEnum};
use experiment_indicators::catalogue::{self, ParamKind, Spec};

use crate::table;

/// Output formats of `experiment indicators`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ListFormat {
    /// Aligned columns for people.
    Table,
    /// A JSON array for programs.
    Json,
}

/// Options of `experiment indicators`.
#[derive(Debug, Args)]
pub struct IndicatorsArgs {
    /// Only indicators whose name or description contains this (e.g. `macd`, `candle`).
    pub search: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: ListFormat,
}

fn range(kind: ParamKind) -> String {
    match kind {
        ParamKind::Period { min, max } => format!("{min}..{max} bars"),
        ParamKind::Number { min, max } => format!("{min}..{max}"),
    }
}

fn usage(spec: &Spec) -> String {
    let mut args: Vec<String> = Vec::new();
    if spec.series_input {
        args.push("close".into());
    }
    args.extend(spec.params.iter().map(|p| p.default.to_string()));
    format!("{}({})", spec.name, args.join(", "))
}

fn defaults(spec: &Spec) -> Vec<f64> {
    spec.params.iter().map(|p| p.default).collect()
}

/// Runs `experiment indicators` and returns what to print.
///
/// # Errors
/// No indicator matches the search.
pub fn list(args: &IndicatorsArgs) -> anyhow::Result<String> {
    let needle = args.search.as_deref().map(str::to_lowercase);
    let specs: Vec<&Spec> = catalogue::all()
        .into_iter()
        .filter(|s| {
            needle
                .as_deref()
                .is_none_or(|n| s.name.contains(n) || s.summary.to_lowercase().contains(n))
        })
        .collect();
    if specs.is_empty() {
        anyhow::bail!(
            "no indicator matches '{}'; `experiment indicators` lists them all",
            args.search.as_deref().unwrap_or_default()
        );
    }
    Ok(match args.format {
        ListFormat::Json => {
            let items: Vec<serde_json::Value> = specs
                .iter()
                .map(|s| {
                    serde_json::json!({
                        "name": s.name,
                        "summary": s.summary,
                        "input": if s.series_input { "series (default close)" } else { "bars" },
                        "params": s.params.iter().map(|p| {
                            let (kind, min, max) = match p.kind {
                                ParamKind::Period { min, max } => ("period", f64::from(min), f64::from(max)),
                                ParamKind::Number { min, max } => ("number", min, max),
                            };
                            serde_json::json!({"name": p.name, "kind": kind, "default": p.default, "min": min, "max": max})
                        }).collect::<Vec<_>>(),
                        "outputs": s.outputs,
                        "example": usage(s),
                        "warm_up_bars": s.warm_up(&defaults(s)),
                    })
                })
                .collect();
            format!("{}\n", serde_json::to_string_pretty(&items)?)
        }
        ListFormat::Table => {
            let header: Vec<String> = [
                "name",
                "example",
                "parameters",
                "outputs",
                "warm-up",
                "what",
            ]
            .map(String::from)
            .to_vec();
            let rows: Vec<Vec<String>> = specs
                .iter()
                .map(|s| {
                    vec![
                        s.name.to_owned(),
                        usage(s),
                        s.params
                            .iter()
                            .map(|p| format!("{}={} ({})", p.name, p.default, range(p.kind)))
                            .collect::<Vec<_>>()
                            .join(", "),
                        s.outputs.join(", "),
                        s.warm_up(&defaults(s)).to_string(),
                        s.summary.to_owned(),
                    ]
                })
                .collect();
            let mut out = table::render(&header, &rows);
            out.push_str(&format!(
                "\n{} indicators. Series indicators take a price series first (close, open, high, low, volume, hl2, hlc3, ohlc4, di or an expression); a multi-output indicator gives its first output unless you write `.name`, e.g. macd(12, 26, 9).signal. Warm-up: bars before the first value, with the defaults.\n",
                specs.len()
            ));
            out
        }
    })
}
