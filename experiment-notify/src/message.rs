//! What an alert looks like in each channel's terms.

use experiment_core::model::{Alert, MARKET_TZ};

/// The headline: code, name and rule.
pub(crate) fn title(a: &Alert) -> String {
    match &a.name {
        Some(name) if !name.is_empty() => format!("{} {} · {}", a.code, name, a.rule_name),
        _ => format!("{} · {}", a.code, a.rule_name),
    }
}

/// Labelled values: price, change, then the indicator values the rule looked at.
pub(crate) fn fields(a: &Alert) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(p) = a.price {
        out.push(("Price".to_owned(), p.to_string()));
    }
    if let Some(c) = a.change_pct {
        out.push(("Change".to_owned(), format!("{c:+.2}%")));
    }
    for (name, v) in &a.values {
        out.push((name.clone(), format_value(*v)));
    }
    out
}

fn format_value(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    let s = format!("{v:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// When it fired, on Taipei's clock.
pub(crate) fn when(a: &Alert) -> String {
    a.triggered_at
        .with_timezone(&MARKET_TZ)
        .format("%Y-%m-%d %H:%M:%S Asia/Taipei")
        .to_string()
}

/// A plain-text rendering for channels without rich layout.
pub(crate) fn plain(a: &Alert) -> String {
    let mut s = format!("{}\n{}", title(a), a.message);
    for (k, v) in fields(a) {
        s.push_str(&format!("\n{k}: {v}"));
    }
    s.push_str(&format!("\n{} · rule {}", when(a), a.rule_id));
    s
}
