//! `Section`: the one shape every messaging pattern's results take — a name, tables of
//! typed rows and check rows — so that the text summary, the reports and the dashboard
//! draw any pattern without knowing it (ripgrep's sink/printer split applied to results).
//! A pattern contributes a builder (`summary::sections` for a finished run,
//! `snapshot::live` for the dashboard); the renderers format the typed cells their own
//! way. Only data: nothing here formats a number.

/// One pattern's results: what a renderer draws under one heading.
#[derive(Clone, Debug, PartialEq)]
pub struct Section {
    /// Stable identifier (`sagas`, `request_reply`): for tests and tools, never shown.
    pub key: &'static str,
    /// Heading, as a reader names the pattern (`Sagas`).
    pub title: String,
    /// One line saying what the section shows and how to read it (may be empty).
    pub about: String,
    /// Its tables, in order (a table with no row is not drawn).
    pub tables: Vec<SectionTable>,
    /// Its checks: a bound or an identity and whether the run held it.
    pub checks: Vec<CheckRow>,
}

/// One table of a section.
#[derive(Clone, Debug, PartialEq)]
pub struct SectionTable {
    /// Its own heading; empty for a section's main table (drawn under the section title).
    pub title: String,
    /// A sentence saying how to read it (may be empty).
    pub note: String,
    /// Column names.
    pub columns: Vec<String>,
    /// Rows of cells, as wide as `columns`.
    pub rows: Vec<Vec<Cell>>,
}

/// A typed cell: each renderer picks its own unit and precision.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    /// A name or a description (left-aligned).
    Text(String),
    /// A count of things.
    Count(u64),
    /// A duration in seconds (a latency, a time spent).
    Seconds(f64),
    /// Simulated time at the run's scale, in seconds: a point since the run started (when
    /// a breaker opened) or a stretch of the run (how long producers were paused in all),
    /// as opposed to a message's latency.
    Time(f64),
    /// A fraction in `[0, 1]`, shown as a percentage.
    Ratio(f64),
    /// A size in bytes.
    Bytes(u64),
    /// Things per simulated second.
    Rate(f64),
    /// Bytes per simulated second.
    ByteRate(f64),
    /// A state with a tone (`open` is bad, `half-open` a warning): text that a renderer
    /// with colours may colour.
    State(String, Tone),
}

/// How a `Cell::State` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    /// As it should be.
    Good,
    /// Worth a look.
    Warn,
    /// Something is wrong.
    Bad,
}

/// One check of a section: what must hold, what the run gave, whether it held.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckRow {
    /// What is checked (`started = completed + compensated + half-done + in progress`).
    pub name: String,
    /// The bound or identity, as a reader states it.
    pub expected: String,
    /// What the run gave.
    pub observed: String,
    /// Whether it held.
    pub held: bool,
}

impl Cell {
    /// True for cells a renderer aligns left (names, descriptions, states).
    #[must_use]
    pub fn is_text(&self) -> bool {
        matches!(self, Cell::Text(_) | Cell::State(..))
    }

    /// A text cell.
    #[must_use]
    pub fn text(s: impl Into<String>) -> Cell {
        Cell::Text(s.into())
    }
}

impl SectionTable {
    /// An empty table with its heading, note and columns.
    #[must_use]
    pub fn new(title: &str, note: &str, columns: &[&str]) -> SectionTable {
        SectionTable {
            title: title.into(),
            note: note.into(),
            columns: columns.iter().map(|c| (*c).to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// For each column, whether every cell is a number: numbers are right-aligned, text
    /// left.
    #[must_use]
    pub fn numeric_columns(&self) -> Vec<bool> {
        (0..self.columns.len())
            .map(|i| {
                self.rows
                    .iter()
                    .all(|r| r.get(i).is_none_or(|c| !c.is_text()))
            })
            .collect()
    }
}

impl Section {
    /// A section with no table and no check yet.
    #[must_use]
    pub fn new(key: &'static str, title: &str, about: &str) -> Section {
        Section {
            key,
            title: title.into(),
            about: about.into(),
            tables: Vec::new(),
            checks: Vec::new(),
        }
    }

    /// Adds `t` when it has a row (a table with none says nothing).
    pub fn push_table(&mut self, t: SectionTable) {
        if !t.rows.is_empty() {
            self.tables.push(t);
        }
    }

    /// `Some(self)` when it has a table or a check: a pattern with nothing to show yields
    /// no section.
    #[must_use]
    pub fn nonempty(self) -> Option<Section> {
        (!self.tables.is_empty() || !self.checks.is_empty()).then_some(self)
    }

    /// A made-up section — a hypothetical rate limiter, no shipped pattern — with every
    /// kind of cell, two tables and a failing check: what the renderers' tests draw to
    /// show that a new pattern needs no renderer change.
    #[must_use]
    pub fn example() -> Section {
        let mut s = Section::new(
            "rate_limiter",
            "Rate limiter",
            "Per limiter: requests let through and refused, and how long a refused request waited.",
        );
        let mut t = SectionTable::new(
            "",
            "",
            &[
                "limiter", "state", "allowed", "refused", "share", "wait p99", "since", "rate",
                "bytes", "bytes/s",
            ],
        );
        t.rows.push(vec![
            Cell::text("edge"),
            Cell::State("throttling".into(), Tone::Warn),
            Cell::Count(9_120),
            Cell::Count(880),
            Cell::Ratio(0.912),
            Cell::Seconds(0.0125),
            Cell::Time(12.5),
            Cell::Rate(456.0),
            Cell::Bytes(2_500_000),
            Cell::ByteRate(125_000.0),
        ]);
        s.push_table(t);
        let mut w = SectionTable::new(
            "Refusals by client",
            "The three busiest clients.",
            &["client", "refused"],
        );
        w.rows.push(vec![Cell::text("mobile"), Cell::Count(700)]);
        w.rows.push(vec![Cell::text("web"), Cell::Count(180)]);
        s.push_table(w);
        s.checks.push(CheckRow {
            name: "refused share".into(),
            expected: "<= 5%".into(),
            observed: "8.8%".into(),
            held: false,
        });
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_section_without_rows_or_checks_is_none() {
        let mut s = Section::new("x", "X", "");
        s.push_table(SectionTable::new("", "", &["a"]));
        assert!(s.tables.is_empty());
        assert!(s.nonempty().is_none());
        assert!(Section::example().nonempty().is_some());
    }

    #[test]
    fn text_and_state_columns_are_not_numeric() {
        let s = Section::example();
        let cols = s.tables[0].numeric_columns();
        assert_eq!(
            cols,
            [false, false, true, true, true, true, true, true, true, true]
        );
    }
}
