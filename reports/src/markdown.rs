//! Markdown: the tables of `tables`, ready to paste into a pull request or a README.
//! `mqlab compare` prints this when stdout is not a terminal (a pipe or a file).

use crate::tables::{self, Table};
use crate::{Options, Report, ReportError};
use std::io;

/// Writes `report` as Markdown.
pub fn write<W: io::Write>(report: &Report, opts: &Options, w: &mut W) -> Result<(), ReportError> {
    let (title, header, tables) = tables::report_parts(report, opts);
    writeln!(w, "# {}\n\n{}", text(&title), text(&header))?;
    for t in &tables {
        write_table(t, w)?;
    }
    Ok(())
}

pub(crate) fn write_table<W: io::Write>(t: &Table, w: &mut W) -> io::Result<()> {
    writeln!(w, "\n## {}\n", text(&t.title))?;
    if !t.note.is_empty() {
        writeln!(w, "{}\n", text(&t.note))?;
    }
    let header: Vec<String> = t.header.iter().map(|c| cell(c)).collect();
    writeln!(w, "| {} |", header.join(" | "))?;
    // Text columns left, numbers right, as the text and HTML tables align them.
    let rule: String = tables::numeric_columns(t)
        .iter()
        .map(|n| if *n { " ---: |" } else { " :--- |" })
        .collect();
    writeln!(w, "|{rule}")?;
    for row in &t.rows {
        let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
        writeln!(w, "| {} |", cells.join(" | "))?;
    }
    Ok(())
}

/// Text from the result (names come from a scenario or a hand-edited file) made inert:
/// Markdown renders inline HTML, so `<`, `>` and `&` become entities, and control
/// characters are spelt out so they cannot drive a terminal that shows the report.
fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            c if c.is_control() => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    out
}

/// `text` for a table cell, whose `|` would end the cell.
fn cell(s: &str) -> String {
    text(s).replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use crate::{Format, Options, Report, fixture, write};

    fn md(report: &Report) -> String {
        let mut out = Vec::new();
        write(report, Format::Markdown, &Options::default(), &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn run_markdown_names_seed_hash_and_every_section() {
        let text = md(&Report::Run(fixture::run()));
        assert!(text.contains("seed 7 · delivery at-least-once · scenario hash 0123456789abcdef"));
        for section in [
            "## Messages",
            "## Latency",
            "## Consumer groups",
            "## Checks",
            "## Steady state",
            "## Fault phases",
        ] {
            assert!(text.contains(section), "{section} missing");
        }
        assert_eq!(text, md(&Report::Run(fixture::run())), "byte-identical");
    }

    #[test]
    fn comparison_markdown_shows_violation_and_its_reproduce_command() {
        let text = md(&Report::Comparison(Box::new(fixture::comparison())));
        assert!(
            text.contains("| at-least-once | at-least-once | guarantee payments (at-least-once) | yes | held |"),
            "{text}"
        );
        assert!(text.contains("`mqlab run scenarios/crash-during-processing.toml --seed 2 --delivery at-most-once`"), "{text}");
        assert!(text.contains("## Paired differences"));
    }

    /// Issue 15: every column was `---`, so a renderer centred or left-aligned numbers.
    #[test]
    fn text_columns_align_left_and_numbers_right() {
        let text = md(&Report::Run(fixture::run()));
        let groups = text.split("\n## Consumer groups\n").nth(1).unwrap();
        let rule = groups
            .lines()
            .find(|l| l.starts_with("| :---") || l.starts_with("| ---"))
            .unwrap();
        assert!(rule.starts_with("| :--- | :--- | ---: |"), "{rule}");
    }

    #[test]
    fn names_cannot_inject_html_or_terminal_escapes() {
        let mut run = fixture::run();
        run.scenario = "<img src=x onerror=alert(1)>\u{1b}[2J".into();
        let text = md(&Report::Run(run));
        assert!(!text.contains("<img"), "{text}");
        assert!(!text.contains('\u{1b}'), "{text}");
        assert!(
            text.contains("&lt;img src=x onerror=alert(1)&gt;\\u{1b}[2J"),
            "{text}"
        );
    }

    /// Golden files: a change to any figure or layout shows up as a reviewable diff.
    #[test]
    fn markdown_golden_files() {
        insta::assert_snapshot!("run_md", md(&Report::Run(fixture::run())));
        insta::assert_snapshot!(
            "comparison_md",
            md(&Report::Comparison(Box::new(fixture::comparison())))
        );
        insta::assert_snapshot!(
            "run_patterns_md",
            md(&Report::Run(fixture::run_with_patterns()))
        );
    }
}
