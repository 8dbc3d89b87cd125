//! The plain path's completions on the engine's parts borrowed apart where
//! `plain_done_owned` (`lane.rs`) does not serve them: a queue group's copy, and a log
//! copy of an instance that keeps candidate partitions (more partitions than it scans).
//! The instance, its group and their topic are looked up once for the application and
//! the settle (a queue's per-message delete, a log's commit and trim), instead of again
//! after every call into the engine. The next take then goes the usual way
//! (`try_start`): a receive or a fetch over candidates asks the model (a redrive, an
//! empty queue's wait, the candidate set) often enough that doing it here would repeat
//! the model.

use super::super::Engine;
use super::lane::{Settled, apply_first, settle_owned};
use crate::consumer::Store;

impl Engine {
    /// Whether every group is one whose completions this lane serves: a queue group
    /// (any of the three queue models) without a resequencer that acknowledges each copy
    /// as it is processed, or not at all (at most once). None of it changes during a run.
    pub(in crate::engine) fn queued_lane_fits(&self) -> bool {
        self.groups.iter().all(|g| {
            matches!(g.store, Store::Queue(_))
                && g.reseq.is_none()
                && (!g.commits_after_processing() || g.commit_interval.is_zero())
        })
    }

    /// A queue copy's completion by instance `i` up to its next take, on the parts
    /// borrowed apart; false, having changed nothing, when the lane does not serve the
    /// run or the copy is not a first application (`plain_apply` then does it the
    /// generic way).
    #[inline(always)]
    pub(super) fn plain_done_queued(&mut self, i: u32) -> bool {
        let (g, window) = {
            let Engine {
                instances,
                groups,
                topics,
                idem,
                series,
                faults,
                queued_lane,
                unpark_due,
                now,
                pipeline,
                trace_key,
                ..
            } = self;
            let now = *now;
            let (pipeline_on, tracing) = (pipeline.on, *trace_key != super::super::trace::UNTRACED);
            if !*queued_lane {
                return false;
            }
            let inst = &mut instances[i as usize];
            let g = inst.group;
            let group = &mut groups[g as usize];
            let w = inst.work.as_ref().expect("work in hand");
            let t = group.topic;
            let topic = &mut topics[t as usize];
            let Some(window) =
                apply_first(group, &topic.flags, series, !faults.is_empty(), now, &w.msg)
            else {
                return false;
            };
            let w = *w;
            inst.busy_ns += now.after(w.started).0;
            inst.processed += 1;
            idem.note(g, &w);
            inst.work = None;
            // `queue::settle`: a per-message delete, or nothing to acknowledge (a pipeline
            // stage or a traced copy never takes the plain path).
            if group.commits_after_processing() {
                let Store::Queue(q) = &mut group.store else {
                    unreachable!("every group a queue's (`queued_lane_fits`)")
                };
                debug_assert!(!pipeline_on && !tracing, "kept off the plain path");
                group.ledger.commit(w.msg.id);
                q.delete(w.offset as u32, w.receipt);
                group.lag = q.len();
                // A ready-only length limit had its room back at the delivery.
                if !super::super::models::ready_only(group.kind) {
                    topic.unpark_soon(t, unpark_due);
                }
            }
            (g, window)
        };
        if let Some((born, latency)) = window {
            self.plain_record_window(g, born, latency);
        }
        self.try_start(i);
        true
    }

    /// Whether every group is a log group whose completions `plain_done_logged` serves:
    /// alone on its topic, committing after each message, without a resequencer (what
    /// `owned_lane_fits` asks, whatever the candidate sets).
    pub(in crate::engine) fn logged_lane_fits(&self) -> bool {
        self.groups.iter().all(|g| {
            matches!(g.store, Store::Log(_))
                && g.reseq.is_none()
                && g.commits_after_processing()
                && g.commit_interval.is_zero()
                && self.topics[g.topic as usize].groups.len() == 1
        })
    }

    /// A log copy's completion by instance `i` up to its next take, on the parts
    /// borrowed apart, for a partition the instance still owns; false, having changed
    /// nothing, when the lane does not serve the run, the partition has moved on or the
    /// copy is not a first application.
    #[inline(always)]
    pub(super) fn plain_done_logged(&mut self, i: u32) -> bool {
        let (g, p, window, rest) = {
            let Engine {
                instances,
                groups,
                topics,
                idem,
                series,
                faults,
                logged_lane,
                candidates,
                unpark_due,
                now,
                ..
            } = self;
            let now = *now;
            if !*logged_lane {
                return false;
            }
            let inst = &mut instances[i as usize];
            let g = inst.group;
            let group = &mut groups[g as usize];
            let w = inst.work.as_ref().expect("work in hand");
            let p = w.partition;
            let Store::Log(parts) = &group.store else {
                unreachable!("every group a log's (`logged_lane_fits`)")
            };
            if parts[p as usize].owner != Some(inst.local) {
                return false;
            }
            let t = group.topic;
            let topic = &mut topics[t as usize];
            let Some(window) =
                apply_first(group, &topic.flags, series, !faults.is_empty(), now, &w.msg)
            else {
                return false;
            };
            let w = *w;
            inst.busy_ns += now.after(w.started).0;
            inst.processed += 1;
            idem.note(g, &w);
            inst.work = None;
            let Store::Log(parts) = &mut group.store else {
                unreachable!("checked above")
            };
            let gp = &mut parts[p as usize];
            let ready = candidates.then_some(inst);
            // The topic's one group: the rest is nothing to commit.
            let settled =
                settle_owned(&mut group.lag, gp, topic, t, p, w.offset, unpark_due, ready);
            (g, p, window, matches!(settled, Settled::Rest { .. }))
        };
        if rest && self.candidates {
            self.fetchable(g, p);
        }
        if let Some((born, latency)) = window {
            self.plain_record_window(g, born, latency);
        }
        self.try_start(i);
        true
    }
}
