//! Message templates with `{{placeholder}}`s, shared by rules and notifiers.
//!
//! ```
//! use experiment_core::template::Template;
//! let t = Template::parse("{{code}} closed at {{close}}").unwrap();
//! assert_eq!(t.render(|name| (name == "code").then(|| "2330".to_string())), "2330 closed at -");
//! let err = Template::parse("{{code}} {{clsoe}}").unwrap().validate(&["code", "close"]).unwrap_err();
//! assert!(err.to_string().contains("column 10"), "{err}");
//! ```

use crate::model::{Alert, MARKET_TZ};
use crate::{Error, Result};

/// Placeholders every alert message may use (see [`alert_value`]).
pub const ALERT_PLACEHOLDERS: &[&str] = &[
    "code",
    "name",
    "rule",
    "rule_id",
    "price",
    "close",
    "change_pct",
    "value",
    "time",
    "date",
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Var { name: String, column: usize },
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    /// Parses `{{name}}` placeholders (spaces inside the braces are allowed; names are letters,
    /// digits, `_` and `.`).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the 1-based column of an unclosed `{{` or a bad name.
    pub fn parse(text: &str) -> Result<Template> {
        let mut parts = Vec::new();
        let mut rest = text;
        let mut offset = 0;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            let column = text[..offset + open].chars().count() + 1;
            let after = &rest[open + 2..];
            let close = after.find("}}").ok_or_else(|| {
                Error::invalid(
                    "template",
                    format!("column {column}: '{{{{' is never closed"),
                )
            })?;
            let name = after[..close].trim();
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
            {
                return Err(Error::invalid(
                    "template",
                    format!("column {column}: '{name}' is not a placeholder name"),
                ));
            }
            parts.push(Part::Var {
                name: name.to_owned(),
                column,
            });
            let consumed = open + 2 + close + 2;
            offset += consumed;
            rest = &rest[consumed..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Template { parts })
    }

    /// The placeholder names, in order of appearance.
    pub fn placeholders(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var { name, .. } => Some(name.as_str()),
            Part::Text(_) => None,
        })
    }

    /// Checks every placeholder is in `known`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the first unknown placeholder, its column and the known names.
    pub fn validate(&self, known: &[&str]) -> Result<()> {
        for p in &self.parts {
            if let Part::Var { name, column } = p {
                if !known.contains(&name.as_str()) {
                    return Err(Error::invalid(
                        "template",
                        format!(
                            "column {column}: unknown placeholder '{{{{{name}}}}}'; known: {}",
                            known.join(", ")
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Fills placeholders with `lookup`; a placeholder it has no value for (an unknown change, a
    /// security without a name) shows a dash: a message never shows a raw `{{placeholder}}`.
    pub fn render(&self, lookup: impl Fn(&str) -> Option<String>) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Var { name, .. } => match lookup(name) {
                    Some(v) => out.push_str(&v),
                    None => out.push('-'),
                },
            }
        }
        out
    }
}

/// A computed number for people: at most 4 decimals, no trailing zeros (65.3846, 950).
fn short(v: f64) -> String {
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

/// The value of one of [`ALERT_PLACEHOLDERS`] for `alert` (`value` is the number the rule is
/// mainly about, at most 4 decimals).
pub fn alert_value(alert: &Alert, name: &str) -> Option<String> {
    Some(match name {
        "code" => alert.code.to_string(),
        "name" => alert.name.clone().unwrap_or_default(),
        "rule" => alert.rule_name.clone(),
        "rule_id" => alert.rule_id.to_string(),
        "price" | "close" => alert.price?.to_string(),
        "change_pct" => format!("{:.2}", alert.change_pct?),
        "value" => short(
            alert
                .value
                .or_else(|| alert.values.values().next().copied())?,
        ),
        "time" => alert
            .triggered_at
            .with_timezone(&MARKET_TZ)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string(),
        "date" => alert
            .bar_time
            .with_timezone(&MARKET_TZ)
            .format("%Y-%m-%d")
            .to_string(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_errors_point_at_the_column() {
        let e = Template::parse("ab {{code").unwrap_err().to_string();
        assert!(e.contains("column 4") && e.contains("never closed"), "{e}");
        let e = Template::parse("台積 {{bad name}}")
            .unwrap_err()
            .to_string();
        assert!(e.contains("column 4"), "{e}");
        let t = Template::parse("{{ code }}:{{close}}!").unwrap();
        assert_eq!(t.placeholders().collect::<Vec<_>>(), ["code", "close"]);
        assert!(t.validate(ALERT_PLACEHOLDERS).is_ok());
        assert_eq!(t.render(|n| Some(n.to_uppercase())), "CODE:CLOSE!");
    }
}
