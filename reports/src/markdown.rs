//! Markdown: the tables of `tables`, ready to paste into a pull request or a README.
//! `mqlab compare` also prints this to the terminal, where pipe tables read well enough.

use crate::tables::{self, Table};
use crate::{Options, Report, ReportError};
use std::io;

/// Writes `report` as Markdown.
pub fn write<W: io::Write>(report: &Report, opts: &Options, w: &mut W) -> Result<(), ReportError> {
    let (title, header, tables) = match report {
        Report::Run(r) => (
            format!("mqlab run: {}", r.scenario),
            tables::run_header(r),
            tables::run_tables(r, opts.warmup),
        ),
        Report::Comparison(c) => (
            format!("mqlab compare: {}", c.scenario),
            tables::comparison_header(c),
            tables::comparison_tables(c),
        ),
    };
    writeln!(w, "# {title}\n\n{header}")?;
    for t in &tables {
        write_table(t, w)?;
    }
    Ok(())
}

fn write_table<W: io::Write>(t: &Table, w: &mut W) -> io::Result<()> {
    writeln!(w, "\n## {}\n", t.title)?;
    if !t.note.is_empty() {
        writeln!(w, "{}\n", t.note)?;
    }
    writeln!(w, "| {} |", t.header.join(" | "))?;
    writeln!(w, "|{}", " --- |".repeat(t.header.len()))?;
    for row in &t.rows {
        let cells: Vec<String> = row.iter().map(|c| c.replace('|', "\\|")).collect();
        writeln!(w, "| {} |", cells.join(" | "))?;
    }
    Ok(())
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
