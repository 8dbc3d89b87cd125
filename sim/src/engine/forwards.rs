//! The engine verbs every narrow context forwards alike (`models::ctx`, `patterns::ctx`),
//! written once: a context is a struct with the engine in a private field `e`, and this
//! macro expands inside its `impl`.

macro_rules! shared_forwards {
    () => {
        /// Moves `msg` to group `g`'s dead-letter queue.
        #[inline(always)]
        pub fn dead_letter(&mut self, g: u32, msg: Msg, why: &str) {
            self.e.dead_letter(g, msg, why);
        }

        /// The broker dropped group `g`'s copy `id` for `reason` (a known drop, not a loss).
        #[inline(always)]
        pub fn drop_copy(
            &mut self,
            g: u32,
            id: u32,
            arrived: Option<SimTime>,
            reason: &'static str,
        ) -> bool {
            self.e.drop_copy(g, id, arrived, reason)
        }

        /// Group `g`.
        #[inline(always)]
        pub fn group(&self, g: u32) -> &Group {
            &self.e.groups[g as usize]
        }

        /// Group `g`, to change.
        #[inline(always)]
        pub fn group_mut(&mut self, g: u32) -> &mut Group {
            &mut self.e.groups[g as usize]
        }

        /// Instance `i`.
        #[inline(always)]
        pub fn instance(&self, i: u32) -> &Instance {
            &self.e.instances[i as usize]
        }

        /// Instance `i`, to change.
        #[inline(always)]
        pub fn instance_mut(&mut self, i: u32) -> &mut Instance {
            &mut self.e.instances[i as usize]
        }

        /// Whether group `g` is a pipeline stage (publishes what it processes).
        #[inline(always)]
        pub fn is_stage(&self, g: u32) -> bool {
            self.e.is_stage(g)
        }

        /// The simulated time now.
        #[inline(always)]
        pub fn now(&self) -> SimTime {
            self.e.now
        }

        /// Schedules `event` at `at`.
        #[inline(always)]
        pub fn schedule(&mut self, at: SimTime, event: Event) {
            self.e.queue.push(at, event);
        }

        /// Instance `i` takes its next message, if it is free and one is there.
        #[inline(always)]
        pub fn try_start(&mut self, i: u32) {
            self.e.try_start(i);
        }

        /// Room appeared in topic `t`: its parked requests go in after the current handler.
        #[inline(always)]
        pub fn unpark_soon(&mut self, t: u32) {
            self.e.unpark_soon(t);
        }
    };
}

pub(super) use shared_forwards;
