//! Plain text for a terminal: the tables of `tables`, each column as wide as its widest
//! cell (text columns left-aligned, numbers right-aligned), so nothing wraps inside a
//! cell and columns line up. `mqlab compare` prints this when stdout is a terminal; the
//! Markdown stays for `--report md`. Also the aligned-table helper the run summary uses.

use crate::tables::{self, Table, numeric};
use crate::{Options, Report, ReportError};
use std::io;

/// Writes `report` as aligned plain-text tables.
pub fn write<W: io::Write>(report: &Report, opts: &Options, w: &mut W) -> Result<(), ReportError> {
    let (title, header, tables) = tables::report_parts(report, opts);
    writeln!(w, "{}\n{}", inert(&title), inert(&header))?;
    for t in &tables {
        write_table(t, w)?;
    }
    Ok(())
}

pub(crate) fn write_table<W: io::Write>(t: &Table, w: &mut W) -> io::Result<()> {
    writeln!(w, "\n{}", inert(&t.title).to_uppercase())?;
    if !t.note.is_empty() {
        writeln!(w, "{}\n", wrap(&inert(&t.note), 100))?;
    }
    let header: Vec<&str> = t.header.iter().map(String::as_str).collect();
    let rows: Vec<Vec<String>> = t
        .rows
        .iter()
        .map(|r| r.iter().map(|c| inert(c.trim_matches('`'))).collect())
        .collect();
    let right = t
        .align
        .clone()
        .unwrap_or_else(|| guess_right(&header, &rows));
    write!(w, "{}", aligned(&header, &rows, &right))
}

/// Per column, whether every cell reads as a number.
fn guess_right(header: &[&str], rows: &[Vec<String>]) -> Vec<bool> {
    (0..header.len())
        .map(|i| rows.iter().all(|r| r.get(i).is_none_or(|c| numeric(c))))
        .collect()
}

/// `header` and `rows` as aligned lines, two spaces between columns: a column whose cells
/// all read as numbers is right-aligned, any other left-aligned.
#[must_use]
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    aligned(header, rows, &guess_right(header, rows))
}

/// `header` and `rows` as aligned lines, two spaces between columns, the columns `right`
/// marks right-aligned and the others left-aligned.
#[must_use]
pub fn aligned(header: &[&str], rows: &[Vec<String>], right: &[bool]) -> String {
    let cols = header.len();
    let width = |s: &str| s.chars().count();
    let mut widths: Vec<usize> = header.iter().map(|h| width(h)).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(cols) {
            widths[i] = widths[i].max(width(cell));
        }
    }
    let line = |cells: &[&str]| {
        let mut s = String::new();
        for (i, cell) in cells.iter().enumerate().take(cols) {
            let pad = " ".repeat(widths[i].saturating_sub(width(cell)));
            if i > 0 {
                s.push_str("  ");
            }
            if right.get(i).copied().unwrap_or(false) {
                s.push_str(&pad);
                s.push_str(cell);
            } else {
                s.push_str(cell);
                s.push_str(&pad);
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(header);
    for row in rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        out.push_str(&line(&cells));
    }
    out
}

/// Greedy word wrap at `width` columns.
fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = 0;
    for word in text.split_whitespace() {
        if line > 0 && line + 1 + word.chars().count() > width {
            out.push('\n');
            line = 0;
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += word.chars().count();
    }
    out
}

/// Control characters spelt out, so that names from a scenario cannot drive the terminal.
fn inert(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;

    #[test]
    fn text_columns_go_left_and_numbers_right() {
        let t = table(
            &["variant", "lost", "p99"],
            &[
                vec!["at-most-once".into(), "12".into(), "4.2 ms".into()],
                vec!["exactly-once".into(), "0".into(), "n/a".into()],
            ],
        );
        assert_eq!(
            t,
            "variant       lost     p99\nat-most-once    12  4.2 ms\nexactly-once     0     n/a\n"
        );
    }

    #[test]
    fn a_comparison_prints_aligned_rows_without_pipes() {
        let mut out = Vec::new();
        let c = fixture::comparison();
        let variants = c.variants.len();
        let report = Report::Comparison(Box::new(c));
        write(&report, &Options::default(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("mqlab compare: "), "{text}");
        assert!(!text.contains(" | ") && !text.contains("---"), "{text}");
        // The accounting table: one line per variant, the header's columns over them.
        let table = text
            .split("\nACCOUNTING\n")
            .nth(1)
            .expect("accounting table");
        let lines: Vec<&str> = table
            .lines()
            .skip(2)
            .take_while(|l| !l.is_empty())
            .collect();
        assert_eq!(lines.len(), 1 + variants, "{table}");
        let width = lines[0].chars().count();
        assert!(lines.iter().all(|l| l.chars().count() == width), "{table}");
    }
}
