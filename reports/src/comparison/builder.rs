//! `Builder`: a comparison made from runs handed over one at a time, so that a sweep holds
//! digests and one histogram per variant rather than its runs.

use super::{Comparison, Digest, Input};
use crate::ReportError;
use crate::phases::Warmup;
use hdrhistogram::Histogram;
use mqlab_sim::RunSummary;
use mqlab_sim::metrics::new_histogram;

/// Builds a comparison from runs handed over one at a time in job order (variant-major,
/// seed-aligned; see `Input`), keeping only digests and one histogram per variant: what a
/// sweep too large to hold its runs streams through.
pub struct Builder {
    warmup: Warmup,
    seeds: usize,
    digests: Vec<Digest>,
    histograms: Vec<Histogram<u64>>,
}

impl Builder {
    /// An empty builder for `input`'s grid.
    #[must_use]
    pub fn new(input: &Input<'_>) -> Builder {
        Builder {
            warmup: input.warmup,
            seeds: input.seeds.len().max(1),
            digests: Vec::new(),
            histograms: input.variants.iter().map(|_| new_histogram()).collect(),
        }
    }

    /// Takes the next run and hands it back without its latency histogram, which is merged
    /// into its variant's.
    ///
    /// # Errors
    /// More runs than the grid has, or a histogram bucket out of the engine's range (a
    /// corrupt result).
    pub fn push(&mut self, mut run: RunSummary) -> Result<RunSummary, ReportError> {
        let v = self.digests.len() / self.seeds;
        let h = self.histograms.get_mut(v).ok_or_else(|| {
            ReportError::Corrupt(format!("run {} beyond the grid", self.digests.len()))
        })?;
        record(h, &run.latency_histogram)?;
        run.latency_histogram = Vec::new();
        let mut d = Digest::of(&run, self.warmup);
        // What only a variant's first run is read for (the listing of its checks; the
        // comparison's version and scenario from the very first), dropped from the others:
        // a run's checks that held say nothing the listing does not.
        if !self.digests.len().is_multiple_of(self.seeds) {
            d.expectations.retain(|(_, ok)| !ok);
        }
        if !self.digests.is_empty() {
            (d.version, d.scenario, d.scenario_hash) = Default::default();
        }
        self.digests.push(d);
        Ok(run)
    }

    /// The comparison, without runs.
    ///
    /// # Panics
    /// When fewer or more runs came than `input`'s variants × seeds.
    #[must_use]
    pub fn finish(self, input: &Input<'_>) -> Comparison {
        Comparison::of_digests(input, &self.digests, &self.histograms)
    }
}

pub(super) fn record(h: &mut Histogram<u64>, buckets: &[[u64; 2]]) -> Result<(), ReportError> {
    for [value, count] in buckets {
        h.record_n(*value, *count)
            .map_err(|e| ReportError::Corrupt(format!("latency bucket {value} ns: {e:?}")))?;
    }
    Ok(())
}
