//! Orchestrated sagas (issue 6, item 5): the shipped scenario ends every saga completed or
//! compensated under step failures, a lossy network and crashes; the broken variants
//! (`compensate = false`, `durable = false` with an orchestrator crash) leave sagas
//! half-done and the checker fails; compensations run in reverse; resends are not applied
//! twice; the counts add up; runs are deterministic.

use crate::support::{mqlab, parse, root, run};
use mqlab_sim::engine::{SagaOutcome, SagaRunView};
use mqlab_sim::summary::{Expectation, SagaSummary};
use mqlab_sim::{Engine, RunSummary, Scenario};

fn text() -> String {
    std::fs::read_to_string(root().join("scenarios/saga.toml")).expect("saga.toml")
}

fn shipped() -> Scenario {
    parse(&text())
}

/// The shipped scenario with one exact line replaced (the line must be there).
fn with(from: &str, to: &str) -> Scenario {
    let t = text();
    assert!(t.contains(from), "saga.toml lacks `{from}`");
    parse(&t.replacen(from, to, 1))
}

/// The shipped scenario without its `[[fault]]` blocks.
fn without_faults(t: &str) -> String {
    let start = t.find("[[fault]]").expect("faults");
    let end = t.find("[expect]").expect("[expect]");
    format!("{}{}", &t[..start], &t[end..])
}

fn check<'a>(s: &'a RunSummary, name: &str) -> &'a Expectation {
    s.expectations
        .iter()
        .find(|e| e.check == name)
        .unwrap_or_else(|| panic!("no `{name}` expectation in {:?}", s.expectations))
}

fn order(s: &RunSummary) -> &SagaSummary {
    let [one] = &s.sagas[..] else {
        panic!("one saga: {:?}", s.sagas);
    };
    one
}

fn runs_of(s: &Scenario) -> (RunSummary, Vec<SagaRunView>) {
    let mut e = Engine::new(s, s.seed);
    while e.step() {}
    let runs = e.saga_runs();
    (e.summary(), runs)
}

fn adds_up(s: &SagaSummary) {
    assert_eq!(
        s.started,
        s.completed + s.compensated + s.half_done + s.in_progress,
        "{s:?}"
    );
}

#[test]
fn saga_scenario_holds_under_failures_loss_and_crashes() {
    let s = shipped();
    let (summary, runs) = runs_of(&s);
    assert!(
        summary.expectations.iter().all(|e| e.ok),
        "{:?}",
        summary.expectations
    );
    let o = order(&summary);
    adds_up(o);
    assert_eq!((o.half_done, o.in_progress), (0, 0), "{o:?}");
    assert!(
        o.completed > 0 && o.compensated > 0 && o.compensations > 0,
        "{o:?}"
    );
    // The orchestrator's crash refused arrivals; the lossy network and the inventory
    // crash made it resend, and the services suppressed the repeats.
    assert!(
        o.refused > 0 && o.resends > 0 && o.duplicate_commands > 0,
        "{o:?}"
    );
    assert_eq!(runs.len() as u64, o.started);
    // Every compensated saga undid exactly the steps that succeeded.
    for r in runs
        .iter()
        .filter(|r| r.outcome == SagaOutcome::Compensated)
    {
        let mut undone = r.compensated.clone();
        undone.sort_unstable();
        assert_eq!(undone, r.succeeded, "{r:?}");
    }
    assert!(summary.conservation_ok);
}

#[test]
fn compensations_run_in_reverse_step_order() {
    let s = shipped();
    let (summary, runs) = runs_of(&s);
    let mut multi = 0;
    for r in runs.iter().filter(|r| !r.compensated.is_empty()) {
        assert!(
            r.compensated.windows(2).all(|w| w[0] > w[1]),
            "not in reverse: {r:?}"
        );
        multi += usize::from(r.compensated.len() >= 2);
    }
    assert!(multi > 0, "no saga compensated two steps");
    assert_eq!(order(&summary).compensations_out_of_order, 0);
}

#[test]
fn without_compensation_failed_sagas_stay_half_done_and_the_checker_fails() {
    let broken = with("compensate = true", "compensate = false");
    let (summary, runs) = runs_of(&broken);
    let o = order(&summary);
    adds_up(o);
    assert!(o.half_done > 0, "{o:?}");
    assert_eq!(o.compensations, 0, "{o:?}");
    let e = check(&summary, "half_done");
    assert!(!e.ok, "{e:?}");
    // Half-done means a step's effect remains: payment taken, order failed later.
    assert!(
        runs.iter()
            .filter(|r| r.outcome == SagaOutcome::HalfDone)
            .all(|r| !r.succeeded.is_empty() && !r.failed.is_empty()),
        "{runs:?}"
    );
    // The same arrivals as the working scenario: the difference is the compensation.
    let working = run(&shipped(), broken.seed);
    assert_eq!(order(&working).started, o.started);
}

#[test]
fn a_forgetful_orchestrator_crash_leaves_sagas_half_done_and_the_checker_fails() {
    let broken = with("durable = true", "durable = false");
    let summary = run(&broken, broken.seed);
    let o = order(&summary);
    adds_up(o);
    assert!(o.half_done > 0, "{o:?}");
    assert!(!check(&summary, "half_done").ok);
    // Without the orchestrator crash a forgetful log loses nothing: the crash does it.
    let no_crash = without_faults(&text().replacen("durable = true", "durable = false", 1));
    let calm = parse(&no_crash);
    let c = run(&calm, calm.seed);
    assert_eq!(order(&c).half_done, 0, "{:?}", order(&c));
    assert!(check(&c, "half_done").ok);
}

#[test]
fn without_failures_or_faults_every_saga_completes() {
    let t = without_faults(&text())
        .replace("failure = 0.03", "failure = 0")
        .replace("failure = 0.05", "failure = 0")
        .replace("failure = 0.02", "failure = 0");
    let s = parse(&t);
    let o = order(&run(&s, s.seed)).clone();
    assert!(o.started > 1000, "{o:?}");
    assert_eq!(o.completed, o.started, "{o:?}");
    assert_eq!((o.compensations, o.refused), (0, 0), "{o:?}");
    // No loss either: nothing resent, nothing suppressed.
    let s = parse(&t.replace("loss = 0.02", "loss = 0"));
    let o = order(&run(&s, s.seed)).clone();
    assert_eq!(o.completed, o.started, "{o:?}");
    assert_eq!((o.resends, o.duplicate_commands), (0, 0), "{o:?}");
}

#[test]
fn resends_under_loss_are_suppressed_not_applied_twice() {
    let s = parse(&without_faults(&text()).replace("loss = 0.02", "loss = 0.2"));
    let (summary, runs) = runs_of(&s);
    let o = order(&summary);
    assert!(o.duplicate_commands > 50, "{o:?}");
    // A repeat the services suppress is an orchestrator's resend (a new message) or a
    // message the broker delivered twice (its producer's resend after a lost ack).
    let twice: u64 = summary
        .groups
        .iter()
        .filter(|g| g.name.starts_with("order.") && g.name != "order.replies")
        .map(|g| g.duplicated)
        .sum();
    assert!(twice > 0, "{:?}", summary.groups);
    assert!(o.duplicate_commands <= o.resends + twice, "{o:?} {twice}");
    // Each compensation counted once, however often it was sent.
    let undone: usize = runs.iter().map(|r| r.compensated.len()).sum();
    assert_eq!(undone as u64, o.compensations);
    assert_eq!((o.half_done, o.in_progress), (0, 0), "{o:?}");
}

#[test]
fn a_step_given_up_is_compensated_first_and_its_late_command_refused() {
    // Replies often take longer than 15ms: after one unanswered send the orchestrator gives
    // the step up, undoes it (it may have been applied) and then the earlier ones. The
    // compensations are resent every 15ms until answered, so the services need the
    // instances to keep up with the resends (with four the queues back up for good).
    let t = text().replace("instances = 4", "instances = 16");
    let s = parse(&t.replacen(
        "step_timeout = \"500ms\"",
        "step_timeout = \"15ms\"\nmax_attempts = 1",
        1,
    ));
    let (summary, runs) = runs_of(&s);
    let o = order(&summary);
    adds_up(o);
    assert!(o.given_up > 0 && o.late_commands > 0, "{o:?}");
    assert_eq!((o.half_done, o.in_progress), (0, 0), "{o:?}");
    let mut uncertain = 0;
    for r in runs
        .iter()
        .filter(|r| r.outcome == SagaOutcome::Compensated)
    {
        assert!(r.compensated.windows(2).all(|w| w[0] > w[1]), "{r:?}");
        assert!(
            r.succeeded.iter().all(|k| r.compensated.contains(k)),
            "{r:?}"
        );
        // A compensation for a step that never applied: the given-up step.
        uncertain += usize::from(r.compensated.iter().any(|k| !r.succeeded.contains(k)));
    }
    assert!(uncertain > 0);
    assert!(
        summary.expectations.iter().all(|e| e.ok),
        "{:?}",
        summary.expectations
    );
}

#[test]
fn counts_add_up_across_seeds_and_variants() {
    for (from, to) in [
        ("seed = 11", "seed = 11"),
        ("compensate = true", "compensate = false"),
        ("durable = true", "durable = false"),
    ] {
        let s = with(from, to);
        for seed in 1..4 {
            let r = run(&s, seed);
            adds_up(order(&r));
            assert!(r.conservation_ok, "seed={seed} {to}");
        }
    }
}

#[test]
fn a_service_down_until_the_end_leaves_sagas_in_progress() {
    let t = text().replacen(
        "target = \"saga/order/inventory\"\nduration = \"3s\"",
        "target = \"saga/order/inventory\"",
        1,
    );
    let s = parse(&t);
    let r = run(&s, s.seed);
    let o = order(&r);
    adds_up(o);
    assert!(o.in_progress > 0, "{o:?}");
    assert!(!check(&r, "in_progress").ok);
}

#[test]
fn saga_runs_are_deterministic() {
    let s = shipped();
    let (a, b) = (run(&s, s.seed), run(&s, s.seed));
    assert_eq!(a.trace_hash, b.trace_hash, "seed={}", s.seed);
    assert_eq!(a.sagas, b.sagas);
    assert_ne!(run(&s, s.seed + 1).sagas, a.sagas);
}

#[test]
fn scenarios_without_sagas_report_none_and_the_json_has_no_sagas_key() {
    let s = crate::support::load(&root().join("scenarios/mm1.toml"));
    let r = run(&s, 1);
    assert!(r.sagas.is_empty());
    let json = serde_json::to_value(&r).expect("json");
    assert!(json.get("sagas").is_none());
}

#[test]
fn the_binary_exits_0_on_the_scenario_and_1_on_the_broken_variant() {
    let out = mqlab()
        .args(["run", "scenarios/saga.toml"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let shown = String::from_utf8_lossy(&out.stdout);
    let section = shown.split("\nSagas — ").nth(1).expect("a saga section");
    assert!(
        section.contains("\nsaga   started") && section.contains("\norder "),
        "{shown}"
    );
    let dir = std::env::temp_dir().join(format!("mqlab-saga-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("broken.toml");
    std::fs::write(
        &path,
        text().replacen("compensate = true", "compensate = false", 1),
    )
    .expect("write");
    let out = mqlab()
        .args(["run", path.to_str().expect("utf-8 path"), "--json"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(v["sagas"][0]["half_done"].as_u64().expect("half_done") > 0);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_service_of_one_instance_queues_its_commands_as_an_md1_server() {
    // One step, served in a constant 10ms by one instance, sagas arriving at 80/s over an
    // instantaneous network: the saga's duration is its command's sojourn in the service's
    // queue, whose mean is S + rho S / (2(1 - rho)) (Pollaczek-Khinchine).
    let s = parse(
        r#"
name = "saga-md1"
duration = "100s"
[broker]
model = "queue"
[[saga]]
name = "one"
rate = 80
step_timeout = "1h"
[[saga.step]]
service = "only"
service_time = "10ms"
instances = 1
"#,
    );
    let means: Vec<f64> = (1..=8)
        .map(|seed| {
            let o = order_named(&run(&s, seed), "one");
            assert_eq!(o.completed, o.started, "{o:?}");
            o.latency_s.mean
        })
        .collect();
    let (lambda, service) = (80.0, 0.010);
    let rho = lambda * service;
    let theory = service + rho * service / (2.0 * (1.0 - rho));
    let (mean, half) = crate::support::t_interval(&means);
    assert!(
        (mean - theory).abs() <= half.max(theory * 0.02),
        "saga duration {mean} +- {half} vs M/D/1 {theory}"
    );
}

fn order_named(s: &RunSummary, name: &str) -> SagaSummary {
    s.sagas
        .iter()
        .find(|x| x.name == name)
        .cloned()
        .unwrap_or_else(|| panic!("saga {name}: {:?}", s.sagas))
}

#[test]
fn a_crashed_services_commands_back_up_in_its_queue_and_none_is_lost() {
    // Inventory is down from 18s to 21s: about 100 sagas a second reach it meanwhile, and
    // their commands (and the orchestrator's resends) wait in its command queue, each
    // delivered once it is back; none is lost, and every saga still ends.
    let (summary, _) = runs_of(&shipped());
    let group = |name: &str| {
        summary
            .groups
            .iter()
            .find(|g| g.name == name)
            .unwrap_or_else(|| panic!("group {name}: {:?}", summary.groups))
            .clone()
    };
    let inventory = group("order.inventory");
    assert!(inventory.max_lag > 300, "{inventory:?}");
    assert_eq!((inventory.lost, inventory.dropped), (0, 0), "{inventory:?}");
    // Payment, never down, keeps a short queue.
    let payment = group("order.payment");
    assert!(payment.max_lag < 50, "{payment:?}");
    let o = order(&summary);
    assert_eq!((o.half_done, o.in_progress), (0, 0), "{o:?}");
}
