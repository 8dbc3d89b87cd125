//! The pattern sections of the run summary, drawn without knowing any pattern: per
//! section its title and what it shows, each table aligned (text left, numbers right;
//! a table wider than the terminal split into column blocks that repeat its name column),
//! then its checks as the summary's own check lines.

use super::{secs, wrap};
use mqlab_reports::text::aligned;
use mqlab_sim::section::{Cell, Section, SectionTable};
use mqlab_sim::size::human_bytes;
use std::fmt::Write;

/// Columns a table may take before its columns are split into blocks.
const WIDTH: usize = 100;

/// Every section, in order.
pub fn sections(o: &mut String, sections: &[Section]) {
    for s in sections {
        section(o, s);
    }
}

fn section(o: &mut String, s: &Section) {
    let _ = writeln!(o);
    heading(o, &s.title, &s.about);
    for (i, t) in s.tables.iter().enumerate() {
        if i > 0 {
            let _ = writeln!(o);
        }
        if !t.title.is_empty() {
            heading(o, &t.title, &t.note);
        } else if !t.note.is_empty() {
            let _ = writeln!(o, "{}", wrap(&t.note, WIDTH, "  "));
        }
        table(o, t);
    }
    let width = s.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    for c in &s.checks {
        let mark = if c.held { "ok  " } else { "FAIL" };
        let _ = writeln!(
            o,
            "{mark} {:<width$}  {}   (expected {})",
            c.name, c.observed, c.expected
        );
    }
}

/// `title — about`, wrapped.
fn heading(o: &mut String, title: &str, about: &str) {
    let line = if about.is_empty() {
        title.to_string()
    } else {
        format!("{title} — {about}")
    };
    let _ = writeln!(o, "{}", wrap(&line, WIDTH, "  "));
}

/// The table as aligned column blocks, each at most `WIDTH` wide where the columns allow.
fn table(o: &mut String, t: &SectionTable) {
    let right = t.numeric_columns();
    let cells: Vec<Vec<String>> = t
        .rows
        .iter()
        .map(|r| r.iter().map(cell).collect())
        .collect();
    let width = |i: usize| {
        cells
            .iter()
            .filter_map(|r| r.get(i))
            .map(|c| c.chars().count())
            .chain([t.columns[i].chars().count()])
            .max()
            .unwrap_or(0)
    };
    // A first text column names the row: every block repeats it.
    let key = usize::from(!right.first().copied().unwrap_or(true));
    let key_width = if key == 1 { width(0) + 2 } else { 0 };
    let widths: Vec<usize> = (key..t.columns.len()).map(|i| width(i) + 2).collect();
    // As few blocks as `WIDTH` allows, then as even as they can be: the narrowest limit
    // that still needs no more blocks.
    // A text column stays beside the one before it (a history stays with its message).
    let text: Vec<bool> = (key..t.columns.len()).map(|i| !right[i]).collect();
    let fewest = pack(&widths, &text, WIDTH.saturating_sub(key_width)).len();
    let total: usize = widths.iter().sum();
    let lowest = (total / fewest.max(1) + key_width).min(WIDTH);
    let mut blocks = (lowest..=WIDTH)
        .map(|limit| pack(&widths, &text, limit.saturating_sub(key_width)))
        .find(|b| b.len() <= fewest)
        .unwrap_or_default();
    if blocks.is_empty() {
        // The name column alone.
        blocks.push(Vec::new());
    }
    for (b, cols) in blocks.iter().enumerate() {
        let cols: Vec<usize> = (0..key).chain(cols.iter().map(|i| i + key)).collect();
        let header: Vec<&str> = cols.iter().map(|&i| t.columns[i].as_str()).collect();
        let rows: Vec<Vec<String>> = cells
            .iter()
            .map(|r| {
                cols.iter()
                    .map(|&i| r.get(i).cloned().unwrap_or_default())
                    .collect()
            })
            .collect();
        let align: Vec<bool> = cols.iter().map(|&i| right[i]).collect();
        if b > 0 {
            let _ = writeln!(o);
        }
        o.push_str(&aligned(&header, &rows, &align));
    }
}

/// Column indices (into `widths`) in blocks of at most `limit` characters each, except
/// that a column marked `sticky` joins the block before it whatever its width.
fn pack(widths: &[usize], sticky: &[bool], limit: usize) -> Vec<Vec<usize>> {
    let mut blocks: Vec<Vec<usize>> = Vec::new();
    let mut used = 0;
    for (i, &w) in widths.iter().enumerate() {
        match blocks.last_mut() {
            Some(b) if used + w <= limit || sticky[i] => b.push(i),
            _ => {
                blocks.push(vec![i]);
                used = 0;
            }
        }
        used += w;
    }
    blocks
}

/// A cell as the terminal shows it: durations and sizes in a unit that fits.
fn cell(c: &Cell) -> String {
    match c {
        Cell::Text(s) | Cell::State(s, _) => s.clone(),
        Cell::Count(n) => n.to_string(),
        Cell::Seconds(s) => secs(*s),
        Cell::Time(s) => format!("{s:.3}s"),
        Cell::Ratio(r) => format!("{:.1}%", r * 100.0),
        Cell::Bytes(b) => human_bytes(*b),
        Cell::Rate(r) => format!("{r:.1}/s"),
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // display only
        Cell::ByteRate(r) => format!("{}/s", human_bytes(*r as u64)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 13: a made-up pattern's section (no shipped pattern has it) renders with every
    /// figure, aligned by kind, its failing check marked, and no change here.
    #[test]
    fn a_made_up_section_renders_without_renderer_changes() {
        let mut o = String::new();
        sections(&mut o, &[Section::example()]);
        assert!(
            o.starts_with("\nRate limiter — Per limiter: requests let through"),
            "{o}"
        );
        for figure in [
            "edge",
            "throttling",
            "9120",
            "880",
            "91.2%",
            "12.50ms",
            "12.500s",
            "456.0/s",
            "2.5MB",
            "125.0KB/s",
            "Refusals by client — The three busiest clients.",
        ] {
            assert!(o.contains(figure), "{figure}:\n{o}");
        }
        assert!(
            o.contains("FAIL refused share  8.8%   (expected <= 5%)"),
            "{o}"
        );
        let lines: Vec<&str> = o.lines().collect();
        let header = lines.iter().position(|l| l.starts_with("limiter")).unwrap();
        let end = lines[header].find("allowed").unwrap() + "allowed".len();
        assert_eq!(
            &lines[header + 1][end - 4..end],
            "9120",
            "numbers right:\n{o}"
        );
        assert!(
            lines[header + 1].starts_with("edge     throttling"),
            "text left:\n{o}"
        );
    }

    #[test]
    fn a_wide_table_splits_into_blocks_that_repeat_its_name_column() {
        let mut s = Section::new("wide", "Wide", "");
        let columns: Vec<String> = (0..30).map(|i| format!("column{i}")).collect();
        let names: Vec<&str> = ["name"]
            .into_iter()
            .chain(columns.iter().map(String::as_str))
            .collect();
        let mut t = SectionTable::new("", "", &names);
        let mut row = vec![Cell::text("first")];
        row.extend((0..30).map(Cell::Count));
        t.rows.push(row);
        s.push_table(t);
        let mut o = String::new();
        sections(&mut o, &[s]);
        let lines: Vec<&str> = o.lines().filter(|l| !l.is_empty()).collect();
        assert!(lines.iter().all(|l| l.chars().count() <= WIDTH), "{o}");
        let headers = lines.iter().filter(|l| l.starts_with("name")).count();
        let rows = lines.iter().filter(|l| l.starts_with("first")).count();
        assert!(headers > 1 && headers == rows, "{o}");
        for c in &columns {
            assert_eq!(
                o.matches(&format!("{c} ")).count() + o.matches(&format!("{c}\n")).count(),
                1,
                "{c}:\n{o}"
            );
        }
    }
}
