//! The plain path's completions on the engine's parts borrowed apart (the helpers are in
//! `lane.rs`): a log copy of a partition the instance owns, in a topic no other group
//! reads, and a queue group's copy. The instance, its group and their topic are looked
//! up once for the application and the settle (a log's commit and trim, a queue's
//! per-message delete), instead of again after every call into the engine. Where the
//! next take is as simple, it runs on the same parts too: a log instance fetches from
//! its one partition when no instance keeps candidates (mm1 and every
//! one-partition-per-consumer log) or over its range's bits in a group that keeps them
//! (`Ranges`: partitions-1000's ten a consumer), and an instance that takes one message
//! at a time (SQS with `batch = 1`, RabbitMQ with `prefetch = 1`) receives its next one
//! (`queue::receive` for one message; a redrive or an empty queue's wait goes back
//! through the engine). Anything else takes the usual way (`try_start`): a deeper
//! prefetch takes what the broker pushed, and a fetch over candidates asks for the
//! candidate set.

use super::super::ready::first_ranged;
use super::super::{Engine, models};
use super::Taken;
use super::lane::{
    Begin, Settled, Window, begin, complete_first, fetch_owned, settle_owned, take_into,
};
use crate::consumer::{Group, Instance, Store, Work};
use crate::event::Event;
use crate::log::Ready;
use crate::scenario::Delivery;

/// What a completion leaves the engine to do once the parts are given back.
enum Next {
    /// Nothing: the instance took its next message, or cannot take now.
    Nothing,
    /// The usual take (`try_start`): not a single receive nor an owned partition's fetch.
    Take,
    /// A log partition settled without a commit may be fetchable again (`fetchable`),
    /// then the usual take.
    Fetchable(u32),
    /// The queue had nothing for it: the model's wait.
    Idle,
    /// The next message was received `max_receives` times already: redriven, then the
    /// take goes on the usual way (`queue::receive`'s loop).
    Redrive(u32),
    /// The instance took its next message: it begins, on the parts still held
    /// (`begin_taken`), and the engine then has nothing to do.
    Begin(Taken),
}

/// `begin` for a completion whose instance took its next message (`Next::Begin`); any other
/// `next` is the engine's, after the parts are given back.
#[inline(always)]
fn begin_taken<const HOP: bool>(
    next: Next,
    e: Begin<'_>,
    inst: &mut Instance,
    group: &mut Group,
    i: u32,
    g: u32,
) -> Next {
    let Next::Begin(taken) = next else {
        return next;
    };
    begin::<HOP>(e, inst, group, i, g, taken);
    Next::Nothing
}

impl Engine {
    /// Whether every group is one whose completions this lane serves: a queue group
    /// (any of the three queue models) without a resequencer that acknowledges each copy
    /// as it is processed, or not at all (at most once). None of it changes during a run.
    pub(in crate::engine) fn queued_lane_fits(&self) -> bool {
        self.groups.iter().all(|g| {
            matches!(g.store, Store::Queue(_))
                && g.reseq.is_none()
                && g.delivery != Delivery::ExactlyOnce
                && (!g.commits_after_processing() || g.commit_interval.is_zero())
        })
    }

    /// Whether, beside `queued_lane_fits`, every group's instances take their next
    /// message by one receive of their own (SQS with `batch = 1`, RabbitMQ with
    /// `prefetch = 1`) and delete what they processed: the lane then receives it too.
    /// With one message in hand at most and each acknowledged as it is processed, an
    /// instance that finished holds nothing, so what holds for a fresh one holds at
    /// every completion.
    pub(in crate::engine) fn queued_take_fits(&self) -> bool {
        self.queued_lane_fits()
            && self.groups.iter().all(|g| {
                g.commits_after_processing()
                    && models::takes_one_receive(g, &self.instances[g.first as usize])
            })
    }

    /// A queue copy's completion by instance `i` up to its next take, on the parts
    /// borrowed apart; false, having changed nothing, when the lane does not serve the
    /// run or the copy is not a first application (`plain_apply` then does it the
    /// generic way).
    #[inline(always)]
    pub(super) fn plain_done_queued<const HOP: bool>(&mut self, i: u32) -> bool {
        let (g, window, next) = {
            let Engine {
                instances,
                groups,
                topics,
                idem,
                series,
                faults,
                queued_lane,
                queued_take,
                unpark_due,
                queue,
                delivered,
                broker,
                now,
                latency,
                net,
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
            let t = group.topic;
            let topic = &mut topics[t as usize];
            let flags = &topic.flags;
            let Some((w, window)) =
                complete_first(inst, group, g, flags, series, !faults.is_empty(), idem, now)
            else {
                return false;
            };
            // `queue::settle`: a per-message delete, or nothing to acknowledge (a pipeline
            // stage or a traced copy never takes the plain path).
            if group.commits_after_processing() {
                debug_assert!(!pipeline_on && !tracing, "kept off the plain path");
                if models::delete_processed(group, &w) {
                    topic.unpark_soon(t, unpark_due);
                }
            }
            // `try_start`, then `queue::receive` for one message of an SQS group.
            let next = if !*queued_take {
                Next::Take
            } else if !inst.is_idle() || now < group.paused_until {
                Next::Nothing
            } else {
                debug_assert!(models::takes_one_receive(group, inst));
                let leased = models::leased(group.kind);
                let Store::Queue(q) = &mut group.store else {
                    unreachable!("checked above")
                };
                match q.pop_visible() {
                    None => Next::Idle,
                    Some(slot) if leased && q.slot(slot).receives >= broker.max_receives => {
                        Next::Redrive(slot)
                    }
                    Some(slot) => {
                        let msg = q.slot(slot).msg;
                        let receipt = if leased {
                            let receipt = q.receive(slot, now + broker.visibility_timeout);
                            if let Some(at) = q.arm_timer() {
                                queue.push(at, Event::Visibility { group: g });
                            }
                            receipt
                        } else {
                            let receipt = q.receive_untimed(slot);
                            // Delivered and unacknowledged: no longer ready, so no longer
                            // counted against a ready-only length limit.
                            if models::ready_only(group.kind) {
                                topic.unpark_soon(t, unpark_due);
                            }
                            receipt
                        };
                        let offset = u64::from(slot);
                        inst.work = Some(Work::taken(msg, 0, offset, receipt, now));
                        Next::Begin(Taken {
                            id: msg.id,
                            arrived: msg.arrived,
                            partition: 0,
                            offset,
                        })
                    }
                }
            };
            let e = Begin {
                idem,
                queue,
                delivered,
                now,
                latency,
                net,
            };
            (g, window, begin_taken::<HOP>(next, e, inst, group, i, g))
        };
        self.lane_tail(i, g, window, next);
        true
    }

    /// Whether every group is a log group whose completions `plain_done_logged` serves:
    /// alone on its topic, committing after each message, without a resequencer.
    pub(in crate::engine) fn logged_lane_fits(&self) -> bool {
        self.groups.iter().all(|g| {
            matches!(g.store, Store::Log(_))
                && g.reseq.is_none()
                && g.delivery != Delivery::ExactlyOnce
                && g.commits_after_processing()
                && g.commit_interval.is_zero()
                && self.topics[g.topic as usize].groups.len() == 1
        })
    }

    /// A log copy's completion by instance `i` up to its next take, on the parts
    /// borrowed apart, for a partition the instance still owns; false, having changed
    /// nothing, when the lane does not serve the run, the partition has moved on or the
    /// copy is not a first application. An instance whose one partition it is, in a run
    /// without candidate sets (mm1 and every one-partition-per-consumer log), takes its
    /// next message from it on the same parts, and so does one fetching over its range's
    /// bits (through the engine, that fetch looked the parts up again: 6% of
    /// partitions-1000's instructions); any other takes the usual way.
    #[inline(always)]
    pub(super) fn plain_done_logged<const HOP: bool>(&mut self, i: u32) -> bool {
        let (g, window, next) = {
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
                queue,
                delivered,
                now,
                latency,
                net,
                ..
            } = self;
            let now = *now;
            if !*logged_lane {
                return false;
            }
            let inst = &mut instances[i as usize];
            let g = inst.group;
            let group = &mut groups[g as usize];
            let p = inst.work.as_ref().expect("work in hand").partition;
            let Store::Log(parts) = &group.store else {
                unreachable!("every group a log's (`logged_lane_fits`)")
            };
            if parts[p as usize].owner != Some(inst.local) {
                return false;
            }
            let t = group.topic;
            let topic = &mut topics[t as usize];
            let flags = &topic.flags;
            let Some((w, window)) =
                complete_first(inst, group, g, flags, series, !faults.is_empty(), idem, now)
            else {
                return false;
            };
            let Store::Log(parts) = &mut group.store else {
                unreachable!("checked above")
            };
            let gp = &mut parts[p as usize];
            // The topic's one group: the rest is nothing to commit. Two calls, not one
            // with the instance passed as `candidates` says: the instance's own partition,
            // settled with `None`, then compiles without the tell (one call cost mm1 4
            // instructions a message and partitions-1000 10).
            let next = if *candidates || inst.owned[..] != [p] {
                // An instance fetching over its range's bits takes its next message here
                // too, once the settle has told them of this partition.
                let ranged = group.ranges.on() && !Ready::scans(inst.owned.len());
                let settled = settle_owned(
                    &mut group.lag,
                    &mut group.ranges,
                    gp,
                    topic,
                    t,
                    p,
                    w.offset,
                    unpark_due,
                    candidates.then_some(&mut *inst),
                );
                match settled {
                    Settled::Rest { .. } if *candidates => Next::Fetchable(p),
                    Settled::Committed if ranged => {
                        if !inst.is_idle() || now < group.paused_until {
                            Next::Nothing
                        } else if let Some(q) = first_ranged(
                            &mut group.ranges,
                            &mut inst.ready,
                            parts,
                            &topic.partitions,
                            inst.local,
                        ) {
                            // `plain_fetch_candidate`: a fetch taking from `q` passes it.
                            inst.ready.took(inst.owned.len(), q, true);
                            group.ranges.clear(q);
                            let part = &topic.partitions[q as usize];
                            Next::Begin(take_into(inst, &mut parts[q as usize], part, q, now))
                        } else {
                            Next::Idle
                        }
                    }
                    _ => Next::Take,
                }
            } else {
                let _ = settle_owned(
                    &mut group.lag,
                    &mut group.ranges,
                    gp,
                    topic,
                    t,
                    p,
                    w.offset,
                    unpark_due,
                    None,
                );
                // `try_start` and `plain_take_next`, from the partition just settled.
                if !inst.is_idle() || now < group.paused_until {
                    Next::Nothing
                } else {
                    match fetch_owned(inst, gp, &topic.partitions[p as usize], p, now) {
                        Some(taken) => Next::Begin(taken),
                        None => Next::Idle,
                    }
                }
            };
            let e = Begin {
                idem,
                queue,
                delivered,
                now,
                latency,
                net,
            };
            (g, window, begin_taken::<HOP>(next, e, inst, group, i, g))
        };
        self.lane_tail(i, g, window, next);
        true
    }

    /// What a completion lane leaves the engine once the parts are given back: the
    /// window recorded and the instance's next take, as `next` says.
    #[inline(always)]
    fn lane_tail(&mut self, i: u32, g: u32, window: Window, next: Next) {
        if let Next::Fetchable(p) = next {
            self.fetchable(g, p);
        }
        if let Some((born, latency)) = window {
            self.plain_record_window(g, born, latency);
        }
        match next {
            Next::Nothing => {}
            Next::Take | Next::Fetchable(_) => self.try_start(i),
            Next::Idle => {
                #[cfg(debug_assertions)]
                self.nothing_missed(i);
                self.model_idle(i);
            }
            Next::Begin(_) => unreachable!("begun on the parts (`begin_taken`)"),
            Next::Redrive(slot) => {
                self.queue_redrive(g, slot);
                self.try_start(i);
            }
        }
    }
}
