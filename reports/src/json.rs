//! JSON: the result itself; `mqlab report --format json` re-emits a result in this
//! version's form. A run is pretty-printed like `mqlab run --json`; a comparison is compact
//! (it holds every run), and the binary may write it piece by piece: its `runs` field must
//! stay the last, so that the aggregates then the streamed runs are exactly these bytes.

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
