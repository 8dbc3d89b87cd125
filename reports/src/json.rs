//! JSON: the result itself; `mqlab report --format json` re-emits a result in this
//! version's form. A run is pretty-printed like `mqlab run --json`; a comparison is compact,
//! because pretty-printing puts each `[value_ns, count]` histogram pair of every run on four
//! lines (3 variants × 64 seeds came to 100 MB; compact is about a third of that).

use crate::{Report, ReportError};
use std::io;

/// Writes `report` as JSON followed by a newline.
pub fn write<W: io::Write>(report: &Report, w: &mut W) -> Result<(), ReportError> {
    match report {
        Report::Run(r) => serde_json::to_writer_pretty(&mut *w, r),
        Report::Comparison(c) => serde_json::to_writer(&mut *w, c),
    }
    .map_err(io::Error::from)?;
    writeln!(w)?;
    Ok(())
}
