//! The run's pattern sections (`mqlab_sim::summary::sections`) as report tables: each
//! section table becomes a `Table` (the first under the section's title and what it
//! shows), its checks one more table with a verdict column. Knows no pattern: a section
//! it has never seen renders like the others. Builds `Table`s only: rendering belongs to
//! `markdown`, `html` and `text`.

use crate::fmt::{ms, num, secs};
use crate::tables::{Table, table};
use mqlab_sim::section::{Cell, Section};

/// The tables of `sections`, in order.
pub fn tables(sections: &[Section]) -> Vec<Table> {
    sections.iter().flat_map(section_tables).collect()
}

fn section_tables(s: &Section) -> Vec<Table> {
    let mut out = Vec::new();
    let mut about = Some(s.about.as_str()).filter(|a| !a.is_empty());
    for st in &s.tables {
        let title = if st.title.is_empty() {
            &s.title
        } else {
            &st.title
        };
        let note: Vec<&str> = about
            .take()
            .into_iter()
            .chain(Some(st.note.as_str()).filter(|n| !n.is_empty()))
            .collect();
        let header: Vec<&str> = st.columns.iter().map(String::as_str).collect();
        let mut t = table(title, &note.join(" "), &header);
        t.rows = st
            .rows
            .iter()
            .map(|r| r.iter().map(cell).collect())
            .collect();
        t.align = Some(st.numeric_columns());
        out.push(t);
    }
    if !s.checks.is_empty() {
        let mut t = table(
            &format!("{}: checks", s.title),
            about.unwrap_or(""),
            &["check", "expected", "observed", "result"],
        );
        for c in &s.checks {
            t.rows.push(vec![
                c.name.clone(),
                c.expected.clone(),
                c.observed.clone(),
                if c.held { "held" } else { "FAILED" }.into(),
            ]);
        }
        t.align = Some(vec![false; 4]);
        t.verdict = Some(3);
        out.push(t);
    }
    out
}

/// A cell as the reports print it: one unit per kind, fixed precision (latencies in
/// milliseconds, points in time in seconds, sizes in exact bytes).
fn cell(c: &Cell) -> String {
    match c {
        Cell::Text(s) | Cell::State(s, _) => s.clone(),
        Cell::Count(n) => n.to_string(),
        Cell::Seconds(s) => ms(*s),
        Cell::Time(s) => secs(*s),
        Cell::Ratio(r) => format!("{} %", num(r * 100.0, 1)),
        Cell::Bytes(b) => format!("{b} B"),
        Cell::Rate(r) => format!("{}/s", num(*r, 1)),
        Cell::ByteRate(r) => format!("{} B/s", num(*r, 1)),
    }
}

#[cfg(test)]
mod tests;
