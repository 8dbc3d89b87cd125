//! Generated scenarios: random topologies, delivery variants and fault schedules on which
//! the engine never panics, time never goes backwards, and every copy is accounted for.
//! The messaging patterns (spill, resends, resequencer, breaker, request-reply, claim
//! check, outbox, an idempotent producer with a window, a producer crash, a group joining
//! late) are switched on at random on top, so that their interactions run too, and so are
//! the consumer's idempotence modes and the operator's replay and redrive.
//! Few shrinking cases here (raise PROPTEST_CASES for a long sweep), and a survey of
//! 1,500 more without shrinking.

use mqlab_sim::{Engine, Scenario};
use proptest::prelude::*;

#[derive(Debug, Clone)]
pub(crate) struct Shape {
    model: &'static str,
    partitions: u32,
    instances: u32,
    rate: u32,
    service_us: u32,
    delivery: &'static str,
    commit_ms: u32,
    latency_us: u32,
    capacity: u32,
    on_full: &'static str,
    pub(crate) faults: Vec<(u32, &'static str, u32, u32)>,
    /// A bit per pattern switched on (see `patterns`).
    pub(crate) extras: u32,
    /// The consumer's `idempotence` (empty: unset), where its delivery takes it.
    idem: &'static str,
    /// Bits: a dedup TTL, a claim lease, store latency.
    dedup: u32,
    /// `acks = "leader"`, with one replica a partition (the same guarantee as `"all"`
    /// there): with an instant network and nothing else in the way, the run takes the
    /// plain path, which `acks = "all"` everywhere kept every generated run off.
    acks_leader: bool,
}

impl Shape {
    /// Whether pattern bit `bit` of `extras` is on (see `patterns`).
    fn on(&self, bit: u32) -> bool {
        self.extras & (1 << bit) != 0
    }
}

pub(crate) fn shape() -> impl Strategy<Value = Shape> {
    (
        prop::sample::select(vec!["log", "queue", "exchange", "pubsub"]),
        1u32..5,
        1u32..4,
        50u32..800,
        100u32..5000,
        prop::sample::select(vec!["at-most-once", "at-least-once", "exactly-once"]),
        prop::sample::select(vec![0u32, 50, 700]),
        prop::sample::select(vec![0u32, 300]),
        prop::sample::select(vec![20u32, 100_000]),
        prop::sample::select(vec!["block", "reject", "drop-oldest"]),
        prop::collection::vec(
            (
                0u32..3000,
                prop::sample::select(vec![
                    "crash",
                    "slow",
                    "poison",
                    "crash-group",
                    "partition",
                    "partition-producer",
                    "spike",
                    "broker",
                    "broker-partition",
                    "operator",
                ]),
                0u32..4,
                1u32..1500,
            ),
            0..4,
        ),
        (
            prop_oneof![Just(0u32), 0u32..8192],
            prop::sample::select(vec![
                "",
                "none",
                "check-then-mark",
                "claim",
                "transactional",
            ]),
            0u32..8,
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                model,
                partitions,
                instances,
                rate,
                service_us,
                delivery,
                commit_ms,
                latency_us,
                capacity,
                on_full,
                faults,
                (extras, idem, dedup, acks_leader),
            )| Shape {
                model,
                partitions: if model == "log" { partitions } else { 1 },
                instances: if model == "pubsub" { 1 } else { instances },
                rate,
                service_us,
                delivery,
                commit_ms,
                latency_us,
                capacity,
                on_full,
                faults,
                extras,
                idem,
                dedup,
                acks_leader,
            },
        )
}

/// The consumer's idempotence lines: a mode refines at-least-once (exactly-once takes only
/// `transactional`), never on pub/sub.
fn idempotence(s: &Shape) -> String {
    let fits = s.model != "pubsub"
        && !s.idem.is_empty()
        && (s.delivery == "at-least-once"
            || (s.idem == "transactional" && s.delivery == "exactly-once"));
    if !fits {
        return String::new();
    }
    let mut t = format!("idempotence = \"{}\"\n", s.idem);
    if s.dedup & 1 != 0 {
        t += "dedup_ttl = \"300ms\"\n";
    }
    if s.dedup & 2 != 0 {
        t += "claim_lease = \"100ms\"\n";
    }
    if s.dedup & 4 != 0 {
        t += "dedup_latency = \"exp(1ms)\"\n";
    }
    t
}

/// Extra `[broker]`, `[[producer]]` and `[[consumer]]` lines, and faults, for the
/// patterns `s.extras` switches on where the model has them.
fn patterns(s: &Shape) -> (String, String, String, String) {
    let on = |bit: u32| s.on(bit);
    let queue_like = matches!(s.model, "queue" | "exchange");
    let (mut broker, mut producer, mut consumer, mut faults) =
        (String::new(), String::new(), String::new(), String::new());
    if on(0) && queue_like {
        broker += "spill_capacity = 50\nspill_latency = \"exp(1ms)\"\n";
    }
    if on(1) {
        producer += "retry_backoff = \"5ms\"\n";
    }
    if on(2) && s.model != "pubsub" {
        consumer += "resequence = true\nresequence_buffer = 20\ngap_timeout = \"50ms\"\n";
        producer += "events_per_key = 3\n";
    }
    if on(3) && queue_like {
        consumer += "circuit_breaker = 2\ncool_down = \"100ms\"\nprocessing_timeout = \"20ms\"\nquarantine = true\n";
        let mode = if on(5) { "hang" } else { "fail" };
        faults += &format!(
            "[[fault]]\nat = \"500ms\"\nkind = \"outage\"\ntarget = \"p\"\nduration = \"400ms\"\nmode = \"{mode}\"\n"
        );
    }
    if on(4) {
        producer += "reply_timeout = \"50ms\"\n";
        if on(5) {
            producer += "correlation = \"none\"\n";
        }
    }
    if on(6) {
        producer += "payload_bytes = \"pareto(1KB, 1.5)\"\nclaim_check = \"4KB\"\n";
        broker += "bandwidth = \"20MB/s\"\n";
    }
    if on(7) {
        let publish = if on(5) { "dual-write" } else { "outbox" };
        producer += &format!("publish = \"{publish}\"\n");
        faults +=
            "[[fault]]\nat = \"1s\"\nkind = \"crash\"\ntarget = \"p\"\nduration = \"300ms\"\n";
        if publish == "outbox" {
            // The relay is a service of its own: instances, and a crash of it alone.
            producer += &format!("relay_instances = {}\n", 1 + s.rate % 3);
            faults += "[[fault]]\nat = \"1.5s\"\nkind = \"crash\"\ntarget = \"relay/p\"\nduration = \"200ms\"\n";
        }
    }
    if on(8) {
        producer += "idempotent = true\n";
        if !on(7) {
            // A plain producer's window; a service's client takes no `max_in_flight`.
            producer += &format!("max_in_flight = {}\n", 1 + s.rate % 5);
        }
    }
    if on(9) {
        // A producer crash: what it had not had acknowledged dies with it.
        let lasting = if on(5) { "" } else { "duration = \"400ms\"\n" };
        faults +=
            &format!("[[fault]]\nat = \"700ms\"\nkind = \"crash\"\ntarget = \"p\"\n{lasting}");
    }
    if on(10) {
        // A pipeline: `g` is a service publishing to `t2`, which `g2` consumes and which
        // crashes too; both groups take the scenario's delivery variant.
        let parts = if s.model == "log" { 2 } else { 1 };
        let count = 1 + s.rate % 2;
        consumer += &format!("[[consumer.output]]\ntopic = \"t2\"\ncount = {count}\n");
        if s.model == "exchange" {
            faults += "[[topic]]\nname = \"t2\"\nexchange = \"fanout\"\n";
        } else {
            faults += &format!("[[topic]]\nname = \"t2\"\npartitions = {parts}\n");
        }
        faults += &format!(
            "[[consumer]]\ngroup = \"g2\"\ntopic = \"t2\"\ninstances = {}\nservice_time = \"exp(500us)\"\ndelivery = \"{}\"\ncommit_interval = \"{}ms\"\nordered = true\n",
            if s.model == "pubsub" { 1 } else { 2 },
            s.delivery,
            s.commit_ms
        );
        faults += "[[fault]]\nat = \"1200ms\"\nkind = \"crash\"\ntarget = \"g2/0\"\nduration = \"300ms\"\n";
    }
    if on(11) && s.model == "log" {
        // A group joining late, from the latest or the earliest offset, replayed by the
        // operator after it joined or before: the copies it reads that were made before
        // it joined, or that landed after, broke three invariants.
        let reset = if on(5) { "earliest" } else { "latest" };
        let replay = if on(1) { "1500ms" } else { "600ms" };
        faults += &format!(
            "[[consumer]]\ngroup = \"late\"\ntopic = \"t\"\nservice_time = \"exp(300us)\"\ndelivery = \"{}\"\nstart_at = \"1s\"\noffset_reset = \"{reset}\"\n[[fault]]\nat = \"{replay}\"\nkind = \"replay\"\ntarget = \"late\"\n",
            s.delivery
        );
    }
    if on(12) {
        // Variety: arrivals, keys, partitioning, resends, lossy requests, failure
        // handling, assignment and watermarks, each where the model takes it.
        let k = s.rate + s.service_us;
        producer += [
            "arrival = \"poisson\"\n",
            "arrival = \"bursty\"\nburst_on = \"200ms\"\nburst_off = \"100ms\"\n",
        ][(k % 2) as usize];
        producer += "key_distribution = \"zipf\"\nzipf_exponent = 0.9\nretries = 2\n";
        producer += &format!(
            "partitioner = \"{}\"\n",
            ["key", "round-robin", "random"][(k % 3) as usize]
        );
        if s.model == "log" {
            // Before the pipeline's `[[consumer.output]]` table, if there is one.
            consumer.insert_str(
                0,
                &format!(
                    "assignment = \"{}\"\n",
                    ["range", "round-robin"][(k % 2) as usize]
                ),
            );
            broker += "min_insync_replicas = 1\nunclean_leader_election = true\nflush_interval = \"5ms\"\n";
        }
        if s.model != "pubsub" {
            let failure = if s.model == "queue" {
                ["dead-letter", "requeue", "wait"][(k % 3) as usize]
            } else if s.model == "exchange" {
                ["dead-letter", "requeue"][(k % 2) as usize]
            } else {
                "dead-letter"
            };
            consumer.insert_str(0, &format!("on_failure = \"{failure}\"\n"));
        }
        if s.on_full == "block" && s.model != "pubsub" {
            broker += &format!(
                "high_watermark = {}\nlow_watermark = {}\n",
                s.capacity / 2 + 1,
                s.capacity / 4
            );
        }
    }
    (broker, producer, consumer, faults)
}

/// Replicas per partition: one under `acks = "leader"`, where acks of the leader alone
/// mean all of them.
fn replication(s: &Shape) -> u32 {
    if s.model == "log" && !s.acks_leader {
        1 + s.instances % 3
    } else {
        1
    }
}

pub(crate) fn toml_of(s: &Shape) -> String {
    let (extra_broker, extra_producer, extra_consumer, extra_faults) = patterns(s);
    let on_full = if s.on(0) && matches!(s.model, "queue" | "exchange") {
        "spill"
    } else {
        s.on_full
    };
    let mut t = format!(
        r#"
        name = "generated"
        duration = "3s"
        drain = "20s"
        [broker]
        nodes = 3
        replication = {}
        acks = "{}"
        replica_lag = "exp(3ms)"
        model = "{}"
        capacity = {}
        on_full = "{}"
        visibility_timeout = "300ms"
        max_receives = 3
        {}
        [network]
        latency = "{}"
        {}
        [[topic]]
        name = "t"
        partitions = {}
        {}
        {}
        [[producer]]
        name = "p"
        topic = "t"
        rate = {}
        keys = 7
        request_timeout = "2ms"
        {}
        [[consumer]]
        group = "g"
        topic = "t"
        instances = {}
        service_time = "exp({}us)"
        delivery = "{}"
        commit_interval = "{}ms"
        ordered = true
        max_retries = 1
        backoff = "10ms"
        prefetch = {}
        batch = {}
        wait_time = "{}"
        session_timeout = "{}ms"
        rebalance_pause = "{}ms"
        {}
        {}
        "#,
        replication(s),
        if s.acks_leader { "leader" } else { "all" },
        s.model,
        s.capacity,
        on_full,
        extra_broker,
        // "exp(0us)" would be a network with latency (requests as events, timeouts) that
        // happens to draw zeros; "0" is the instant network, whose send reaches the
        // broker in the same instant and keeps no request (an idempotent producer's
        // rejected send went unaccounted there, and no generated scenario had one).
        if s.latency_us == 0 {
            "0".to_string()
        } else {
            format!("exp({}us)", s.latency_us)
        },
        // Lossy requests (the variety bit, `patterns`), where requests travel.
        if s.on(12) && s.latency_us > 0 {
            "loss = 0.01\nduplicate = 0.01"
        } else {
            ""
        },
        s.partitions,
        if s.model == "log" && s.rate % 2 == 1 {
            "retention = \"700ms\""
        } else {
            ""
        },
        if s.model == "exchange" {
            "exchange = \"fanout\""
        } else {
            ""
        },
        s.rate,
        extra_producer,
        s.instances,
        s.service_us,
        s.delivery,
        s.commit_ms,
        1 + (s.rate % 4) * 3,
        1 + s.service_us % 3,
        if s.service_us.is_multiple_of(2) {
            "0"
        } else {
            "20s"
        },
        (s.rate % 3) * 200,
        (s.rate % 2) * 30,
        // The idempotence lines before the extra ones: those may end in a pipeline's
        // `[[consumer.output]]` table, which would take them as its own.
        idempotence(s),
        extra_consumer
    );
    t.push_str(&extra_faults);
    for (at, kind, who, len) in &s.faults {
        let (kind, target, extra) = match *kind {
            "crash" => ("crash", format!("g/{}", who % s.instances), String::new()),
            "crash-group" => ("crash", "g".to_string(), String::new()),
            "slow" => (
                "slow",
                format!("g/{}", who % s.instances),
                "factor = 5".to_string(),
            ),
            "partition" => (
                "partition",
                format!("g/{}", who % s.instances),
                String::new(),
            ),
            "partition-producer" => ("partition", "p".to_string(), String::new()),
            "spike" => (
                "latency-spike",
                "network".to_string(),
                "latency = \"exp(5ms)\"".to_string(),
            ),
            "broker-partition" => ("partition", format!("broker/{}", who % 3), String::new()),
            "broker" => ("broker-crash", format!("broker/{}", who % 3), String::new()),
            // The operator's actions: instants, so the window below is not written.
            "operator" if s.model == "log" => {
                let how = ["", "shift_by = 20", "to = \"500ms\""][(*who % 3) as usize];
                t.push_str(&format!(
                    "[[fault]]\nat = \"{at}ms\"\nkind = \"replay\"\ntarget = \"g\"\n{how}\n"
                ));
                continue;
            }
            "operator" if matches!(s.model, "queue" | "exchange") => {
                t.push_str(&format!(
                    "[[fault]]\nat = \"{at}ms\"\nkind = \"redrive\"\ntarget = \"g\"\n"
                ));
                continue;
            }
            _ => ("poison", "p".to_string(), "rate = 0.05".to_string()),
        };
        t.push_str(&format!("[[fault]]\nat = \"{at}ms\"\nkind = \"{kind}\"\ntarget = \"{target}\"\nduration = \"{len}ms\"\n{extra}\n"));
    }
    t
}

proptest! {
    // 48 unless PROPTEST_CASES says otherwise (an explicit `cases` would override it).
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(48),
        ..ProptestConfig::default()
    })]

    #[test]
    fn generated_scenarios_conserve_every_copy(shape in shape(), seed in 0u64..1000) {
        let text = toml_of(&shape);
        let scenario = match Scenario::from_toml(&text, "generated.toml") {
            Ok(s) => s,
            // A pattern the model does not take is refused at load, which is right.
            Err(_) if shape.extras != 0 => return Err(TestCaseError::reject("pattern not valid here")),
            Err(e) => return Err(TestCaseError::fail(e.to_string())),
        };
        let mut engine = Engine::new(&scenario, seed);
        // `MQLAB_FOLD_EVERY=64` folds the windowed ledger that often: every invariant holds.
        if let Some(n) = std::env::var("MQLAB_FOLD_EVERY").ok().and_then(|v| v.parse().ok()) {
            engine.fold_every(n);
        }
        let mut last = engine.now();
        while engine.step() {
            prop_assert!(engine.now() >= last, "time went backwards");
            last = engine.now();
        }
        let r = engine.summary();
        let m = r.messages;
        prop_assert!(r.conservation_ok, "seed={seed} {m:?}\n{text}");
        for name in mqlab_sim::summary::INVARIANTS {
            let row = r.expectations.iter().find(|e| e.check == name);
            prop_assert!(row.is_some(), "no {} row", name);
            let row = row.expect("present");
            prop_assert!(row.ok, "seed={} invariant {}: {}\n{}", seed, name, row.actual, text);
        }
        prop_assert_eq!(m.copies, m.processed + m.lost + m.dead_lettered + m.dropped + m.in_flight);
        for row in r.expectations.iter().filter(|e| e.check.starts_with("lineage")) {
            prop_assert!(row.ok, "seed={} {}: {}\n{}", seed, row.check, row.actual, text);
        }
        for g in &r.groups {
            // Every duplicate attributed to exactly one cause.
            let attributed = g.duplicated_by_cause.map_or(0, |c| c.total());
            prop_assert_eq!(attributed, g.duplicated, "seed={}\n{}", seed, text);
        }
        // A log broker that flushes every 5 ms and elects an unclean leader (the variety
        // bit) loses acknowledged writes when one of its brokers crashes or is cut off, by
        // design: Kafka with `acks = 1` or a lagging replica elected does, and the trace
        // says `CUT from the log`.
        let broker_fault = shape.faults.iter().any(|f| f.1.starts_with("broker"));
        let broker_loses = shape.on(12) && shape.model == "log" && broker_fault;
        // A store mode's guarantee row: nothing lost (a dual write, or that broker, loses
        // by design) and every duplicate through one of that mode's holes.
        let store = |c: &str| c.contains(", check-then-mark)") || c.contains(", claim)");
        let rows = r
            .expectations
            .iter()
            .filter(|e| store(&e.check) && !text.contains("dual-write") && !broker_loses);
        for e in rows {
            prop_assert!(e.ok, "seed={} {}: {}\n{}", seed, e.check, e.actual, text);
        }
        // Each group held to its own variant (a pipeline's second stage and a late group
        // take theirs, and a transactional consumer's group reads as exactly-once): the
        // whole run's duplicates once included an at-least-once stage's, which a crash
        // duplicates by design.
        for g in &r.groups {
            let delivery = if shape.model == "pubsub" || text.contains("dual-write") {
                // Pub/sub drops for offline subscribers, and a dual write loses events, by
                // design: the checker's finding, not a bug.
                "at-most-once"
            } else {
                g.delivery.as_str()
            };
            if delivery != "at-most-once" && !broker_loses {
                prop_assert_eq!(g.lost, 0, "seed={} group {}\n{}", seed, g.name, text);
            }
            if delivery == "exactly-once" {
                prop_assert_eq!(g.duplicated, 0, "seed={} group {}\n{}", seed, g.name, text);
            }
        }
    }
}

/// The same generated scenarios without shrinking, for a survey: every invariant that
/// fails, grouped by what it says, with a count and a first example each. Slower to read
/// than one shrunk case, quicker to see a whole class of defect at once. Every test run
/// walks the same 1,500 (about 4 s: the engine is optimised in debug builds too); a
/// defect that three features together make (an idempotent producer's rejected send on
/// an instant network) turned up once in them, where the 48 shrinking cases above missed
/// it. More: `SURVEY=20000 cargo test --release --test integration survey -- --nocapture`.
#[test]
fn survey_of_invariants_over_generated_scenarios() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut fails: std::collections::BTreeMap<String, (u32, String)> = Default::default();
    let mut reached = Reached::default();
    // Why the loader refused a generated shape: how many times, and the first seed.
    let mut refused: std::collections::BTreeMap<String, (u32, u32)> = Default::default();
    let n: u32 = std::env::var("SURVEY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500);
    for i in 0..n {
        let shape = shape().new_tree(&mut runner).expect("a shape").current();
        let text = toml_of(&shape);
        let scenario = match Scenario::from_toml(&text, "generated.toml") {
            Ok(scenario) => scenario,
            Err(e) => {
                // What the loader said, without the position and the list of what it
                // expected instead.
                let text = e.to_string();
                let why = text.split_once(": ").map_or(&text[..], |(_, why)| why);
                let why = why.split(", expected").next().unwrap_or(why);
                refused.entry(why.to_string()).or_insert((0, i)).0 += 1;
                continue;
            }
        };
        let mut engine = Engine::new(&scenario, u64::from(i));
        let mut seen = Paths::default();
        loop {
            seen.look(&engine, shape.instances);
            if !engine.step() {
                break;
            }
        }
        let r = engine.summary();
        reached.add(&seen, shape.latency_us == 0, &r);
        let checked = |c: &str| mqlab_sim::summary::INVARIANTS.contains(&c) || c == "conservation";
        for e in r.expectations.iter().filter(|e| !e.ok && checked(&e.check)) {
            let words: Vec<&str> = e
                .actual
                .split_whitespace()
                .filter(|w| !w.chars().any(|c| c.is_ascii_digit()))
                .take(6)
                .collect();
            let key = format!("{} {} (model {})", e.check, words.join(" "), shape.model);
            let first = format!("seed {i}: {}\n{shape:?}\n{:?}", e.actual, r.messages);
            let entry = fails.entry(key).or_insert((0, first));
            if entry.0 == 0
                && let Ok(dir) = std::env::var("SURVEY_DUMP")
            {
                let name = format!("{dir}/{}-{}-{i}.toml", e.check, shape.model);
                let text = text.replace(
                    "name = \"generated\"",
                    &format!("name = \"generated\"\n        seed = {i}"),
                );
                std::fs::write(name, text).expect("dump");
            }
            entry.0 += 1;
        }
    }
    for (k, (count, first)) in &fails {
        println!("== {k}: {count} runs\n{first}\n");
    }
    println!("{reached:?} of {n}");
    for (why, (count, first)) in &refused {
        println!("refused at load, {count} (first at seed {first}): {why}");
    }
    assert!(fails.is_empty(), "{} kinds of failure", fails.len());
    // A shape the loader refuses is one the invariants never see: the generator's
    // `idempotence` lines once came after a pipeline's `[[consumer.output]]` table, which
    // took them as its own, and 263 of 4,000 shapes were refused unnoticed.
    assert!(
        refused.is_empty(),
        "{} generated shapes refused at load",
        refused.values().map(|r| r.0).sum::<u32>()
    );
    // The generator reaches every path the engine has, or its invariants say nothing of
    // the one it misses (every generated run was once on an asynchronous network, and
    // every one kept off the plain path by `acks = "all"`).
    let least = n / 100;
    for (path, runs) in [
        ("the instant network", reached.instant),
        ("the plain path", reached.plain),
        ("lean consumers on the generic path", reached.lean),
        ("the generic handlers", reached.generic),
        ("a full broker's `reject`", reached.reject),
        ("a full broker's `drop-oldest`", reached.drop_oldest),
    ] {
        assert!(
            runs >= least,
            "{runs} of {n} generated runs reached {path}: fewer than {least}; {reached:?}"
        );
    }
}

/// Which handlers one run's events went through.
#[derive(Default)]
struct Paths {
    plain: bool,
    lean: bool,
    generic: bool,
}

impl Paths {
    /// Where the next event goes: the plain path, or the generic one with the first
    /// group's instances served by the lean handlers or not.
    fn look(&mut self, engine: &Engine, instances: u32) {
        if engine.plain_path() {
            self.plain = true;
        } else if (0..instances).any(|i| engine.lean_instance(i)) {
            self.lean = true;
        } else {
            self.generic = true;
        }
    }
}

/// Generated runs that reached each path.
#[derive(Debug, Default)]
struct Reached {
    instant: u32,
    plain: u32,
    lean: u32,
    generic: u32,
    /// Runs whose broker filled and refused or discarded a copy.
    reject: u32,
    drop_oldest: u32,
}

impl Reached {
    fn add(&mut self, p: &Paths, instant: bool, r: &mqlab_sim::summary::RunSummary) {
        self.instant += u32::from(instant);
        self.plain += u32::from(p.plain);
        self.lean += u32::from(p.lean);
        self.generic += u32::from(p.generic);
        let dropped = |why: &str| u32::from(r.dropped_by_reason.get(why).is_some_and(|&n| n > 0));
        self.reject += dropped("reject");
        self.drop_oldest += dropped("drop-oldest");
    }
}
