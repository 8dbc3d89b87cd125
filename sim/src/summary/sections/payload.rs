//! The payload section (`RunSummary::payload`): bytes produced and held, ingest delay, and
//! the claim check.

use crate::RunSummary;
use crate::section::{Cell, Section, SectionTable};

/// Present when the run tracked payload bytes.
pub(super) fn section(r: &RunSummary) -> Option<Section> {
    let p = r.payload.as_ref()?;
    let mut s = Section::new(
        "payload",
        "Payload bytes / claim check",
        "Payload bytes producers created and the most the broker held at once. Ingest delay: queueing for the broker's bandwidth plus the transfer. Claim-checked: payloads put in the external store, a reference sent through the broker.",
    );
    let mut columns = vec![
        "produced",
        "produced/s",
        "broker peak",
        "ingest delay mean",
        "ingest delay max",
    ];
    let mut row = vec![
        Cell::Bytes(p.bytes_produced),
        Cell::ByteRate(r.throughput.produced_bytes_per_s),
        Cell::Bytes(p.broker_bytes_max),
        Cell::Seconds(p.ingest_delay_mean_s),
        Cell::Seconds(p.ingest_delay_max_s),
    ];
    if let Some(c) = &p.claim_check {
        columns.extend(["claim-checked", "claim-checked size"]);
        row.extend([Cell::Count(c.stored), Cell::Bytes(c.stored_bytes)]);
    }
    let mut t = SectionTable::new("", "", &columns);
    t.rows.push(row);
    s.push_table(t);
    Some(s)
}
