//! Aligned text tables for people: columns as wide as their widest cell in display columns
//! (台積電 takes six, not three), numbers right-aligned, two spaces between columns.

use unicode_width::UnicodeWidthStr as _;

fn numeric(cell: &str) -> bool {
    let t = cell.trim_end_matches('%').replace(',', "");
    !t.is_empty() && t.parse::<f64>().is_ok()
}

/// Renders `header` and `rows` (each as long as the header) as lines of aligned text.
///
/// ```
/// let t = experiment_cli::table::render(
///     &["code".into(), "close".into()],
///     &[vec!["2330".into(), "950.00".into()], vec!["6547".into(), "1.5".into()]],
/// );
/// assert_eq!(t, "code   close\n2330  950.00\n6547     1.5\n");
/// ```
pub fn render(header: &[String], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.width()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate().take(widths.len()) {
            widths[i] = widths[i].max(c.width());
        }
    }
    // A column is right-aligned when every non-empty cell in it is a number.
    let right: Vec<bool> = (0..widths.len())
        .map(|i| {
            let mut cells = rows
                .iter()
                .filter_map(|r| r.get(i))
                .filter(|c| !c.is_empty() && c.as_str() != "-");
            cells.clone().next().is_some() && cells.all(|c| numeric(c))
        })
        .collect();
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut s = String::new();
        for (i, c) in cells.enumerate().take(widths.len()) {
            if i > 0 {
                s.push_str("  ");
            }
            let pad = " ".repeat(widths[i].saturating_sub(c.width()));
            if right[i] {
                s.push_str(&pad);
                s.push_str(c);
            } else {
                s.push_str(c);
                s.push_str(&pad);
            }
        }
        let mut s = s.trim_end().to_owned();
        s.push('\n');
        s
    };
    let mut out = line(&mut header.iter().map(String::as_str));
    for r in rows {
        out.push_str(&line(&mut r.iter().map(String::as_str)));
    }
    out
}
