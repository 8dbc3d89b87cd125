//! JSON: the result itself, pretty-printed; `mqlab report --format json` re-emits a result
//! in this version's form.

use crate::{Report, ReportError};
use std::io;

/// Writes `report` as pretty JSON followed by a newline.
pub fn write<W: io::Write>(report: &Report, w: &mut W) -> Result<(), ReportError> {
    match report {
        Report::Run(r) => serde_json::to_writer_pretty(&mut *w, r),
        Report::Comparison(c) => serde_json::to_writer_pretty(&mut *w, c),
    }
    .map_err(io::Error::from)?;
    writeln!(w)?;
    Ok(())
}
