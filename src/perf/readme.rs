//! `mqlab perf --readme FILE`: the report written into a Markdown file between two marker
//! lines, so the README's table is the command's output byte for byte, not a paste.

use anyhow::Context;
use std::path::Path;

/// The line before the report.
pub const BEGIN: &str = "<!-- mqlab perf: begin -->";
/// The line after it.
pub const END: &str = "<!-- mqlab perf: end -->";

/// The byte range between the marker lines (after BEGIN's line, up to END's line).
pub fn block(text: &str) -> anyhow::Result<std::ops::Range<usize>> {
    let line = |marker: &str| {
        let mut at = 0;
        for l in text.split_inclusive('\n') {
            if l.trim_end() == marker {
                return Some((at, at + l.len()));
            }
            at += l.len();
        }
        None
    };
    let begin = line(BEGIN).with_context(|| format!("no line `{BEGIN}`"))?;
    let end = line(END).with_context(|| format!("no line `{END}`"))?;
    anyhow::ensure!(begin.1 <= end.0, "`{END}` comes before `{BEGIN}`");
    Ok(begin.1..end.0)
}

/// Replaces what lies between the markers of `file` with `report`, set off by blank lines
/// (so Markdown renders its tables).
pub fn write(file: &Path, report: &str) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let range = block(&text).with_context(|| format!("--readme {}", file.display()))?;
    let mut out = String::with_capacity(text.len() + report.len());
    out.push_str(&text[..range.start]);
    out.push('\n');
    out.push_str(report.trim_end());
    out.push_str("\n\n");
    out.push_str(&text[range.end..]);
    std::fs::write(file, out).with_context(|| format!("cannot write {}", file.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_lies_between_the_markers() {
        let text = format!("intro\n{BEGIN}\nold\ntable\n{END}\nafter\n");
        let r = block(&text).unwrap();
        assert_eq!(&text[r], "old\ntable\n");
        assert!(block("intro\n").is_err());
        assert!(block(&format!("{END}\n{BEGIN}\n")).is_err());
    }
}
