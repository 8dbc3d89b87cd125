//! Errors of the engine crate. A `ScenarioError` names the file, line and column and
//! shows the offending line with a caret, the way a compiler does.

use std::fmt;
use std::ops::Range;

/// A scenario that cannot be loaded: where, and what was expected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub struct ScenarioError {
    /// The file, as the user named it.
    pub path: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What is wrong, lowercase, no trailing period.
    pub message: String,
    /// The offending source line.
    pub source_line: String,
    /// How many characters the caret underlines.
    pub width: usize,
}

impl ScenarioError {
    /// Builds an error at a byte span of `source` (no span: the start of the file).
    #[must_use]
    pub fn at(path: &str, source: &str, span: Option<Range<usize>>, message: String) -> Self {
        let span = span.unwrap_or(0..0);
        let start = span.start.min(source.len());
        let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = source[start..]
            .find('\n')
            .map_or(source.len(), |i| start + i);
        let source_line = source[line_start..line_end]
            .trim_end_matches('\r')
            .to_string();
        let end = span.end.clamp(start, line_end);
        ScenarioError {
            path: path.to_string(),
            line: source[..start].matches('\n').count() + 1,
            column: source[line_start..start].chars().count() + 1,
            message: message.trim().trim_end_matches('.').to_string(),
            width: source[start..end].chars().count().max(1),
            source_line,
        }
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (path, line, column) = (&self.path, self.line, self.column);
        writeln!(f, "{path}:{line}:{column}: {}", self.message)?;
        let gutter = " ".repeat(line.to_string().len());
        writeln!(f, "{gutter} |")?;
        writeln!(f, "{line} | {}", self.source_line)?;
        let pad = " ".repeat(column - 1);
        write!(f, "{gutter} | {pad}{}", "^".repeat(self.width))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_line_and_column_from_a_byte_span() {
        let src = "name = \"x\"\nrate = -3\n";
        let e = ScenarioError::at("f.toml", src, Some(18..20), "rate must be positive".into());
        assert_eq!((e.line, e.column, e.width), (2, 8, 2));
        let shown = e.to_string();
        assert!(
            shown.starts_with("f.toml:2:8: rate must be positive"),
            "{shown}"
        );
        assert!(shown.contains("2 | rate = -3"), "{shown}");
        assert!(shown.ends_with("|        ^^"), "{shown}");
    }
}
