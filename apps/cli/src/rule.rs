//! `experiment rule ...`: check rules before saving them.

use clap::Subcommand;
use experiment_indicators::rule::Rule;

/// `experiment rule` subcommands.
#[derive(Debug, Subcommand)]
pub enum RuleCommand {
    /// Parse and validate a rule. Prints it in canonical form (every default written out)
    /// and exits 0, or points at the error and exits 2.
    ///
    /// Example: experiment rule check 'crosses_above(sma(close, 5), sma(close, 20)) and rsi(14) < 70'
    Check {
        /// The rule, e.g. 'rsi(14) < 30'.
        expression: String,
    },
}

/// Checks `expression`: the canonical form, or the error drawn under the rule.
///
/// # Errors
/// The error text, with the rule and a caret under the column at fault.
pub fn check(expression: &str) -> Result<String, String> {
    Rule::parse(expression).map(|r| r.to_string()).map_err(|e| {
        let caret = format!("{}^", " ".repeat(e.column.saturating_sub(1)));
        format!("{expression}\n{caret}\n{e}")
    })
}
