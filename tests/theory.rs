//! The simulator against queueing theory, which nobody here wrote: M/M/c waits from
//! Erlang C, c partitions as independent M/M/1 queues, and Little's law. Each figure is
//! averaged over seeds and the theoretical value must fall in the 95% interval.

use crate::support::{assert_in_interval, erlang_c, parse, run, t_interval};

const SEEDS: u64 = 10;

fn queue_scenario(c: u32, lambda: f64, mean_service_ms: f64, duration_s: u32) -> String {
    format!(
        r#"
        name = "mmc-test"
        duration = "{duration_s}s"
        drain = "60s"
        [broker]
        model = "queue"
        [[topic]]
        name = "q"
        [[producer]]
        name = "p"
        topic = "q"
        rate = {lambda}
        [[consumer]]
        group = "g"
        topic = "q"
        instances = {c}
        service_time = "exp({mean_service_ms}ms)"
        "#
    )
}

fn log_scenario(c: u32, lambda: f64, mean_service_ms: f64, duration_s: u32) -> String {
    format!(
        r#"
        name = "mm1-partitions-test"
        duration = "{duration_s}s"
        drain = "60s"
        [[topic]]
        name = "t"
        partitions = {c}
        [[producer]]
        name = "p"
        topic = "t"
        rate = {lambda}
        partitioner = "random"
        [[consumer]]
        group = "g"
        topic = "t"
        instances = {c}
        service_time = "exp({mean_service_ms}ms)"
        "#
    )
}

/// Per-seed (mean wait, time-average number in system, mean sojourn, arrival rate).
fn measure(toml: &str) -> Vec<(f64, f64, f64, f64)> {
    let s = parse(toml);
    (1..=SEEDS)
        .map(|seed| {
            let r = run(&s, seed);
            assert!(
                r.conservation_ok && r.messages.in_flight == 0,
                "seed={seed}: {:?}",
                r.messages
            );
            let g = &r.groups[0];
            (
                g.wait_mean_s,
                g.in_system_mean,
                g.sojourn_mean_s,
                g.copies as f64 / r.sim_time_s,
            )
        })
        .collect()
}

/// Mean wait and time-average number in system, each inside its interval over seeds.
fn assert_matches_theory(label: &str, runs: &[(f64, f64, f64, f64)], wq: f64, l: f64) {
    let waits: Vec<f64> = runs.iter().map(|r| r.0).collect();
    let numbers: Vec<f64> = runs.iter().map(|r| r.1).collect();
    assert_in_interval(&format!("{label} mean wait"), &waits, wq);
    assert_in_interval(&format!("{label} mean number in system"), &numbers, l);
}

fn check_mmc(c: u32, rho: f64, duration_s: u32) {
    let mu = 1000.0; // 1ms mean service
    let lambda = rho * f64::from(c) * mu;
    let runs = measure(&queue_scenario(c, lambda, 1.0, duration_s));
    let a = lambda / mu;
    let wq = erlang_c(c, a) / (f64::from(c) * mu - lambda);
    let l = lambda * (wq + 1.0 / mu);
    let label = format!("M/M/{c} rho={rho}");
    assert_matches_theory(&label, &runs, wq, l);
}

#[test]
fn queue_model_matches_erlang_c_at_utilisation_0_5() {
    check_mmc(4, 0.5, 40);
}

#[test]
fn queue_model_matches_erlang_c_at_utilisation_0_9() {
    check_mmc(4, 0.9, 60);
}

#[test]
fn single_server_queue_matches_mm1() {
    check_mmc(1, 0.7, 100);
}

fn check_partitions(c: u32, rho: f64, duration_s: u32) {
    let mu = 1000.0;
    let lambda = rho * f64::from(c) * mu;
    let runs = measure(&log_scenario(c, lambda, 1.0, duration_s));
    // Each partition is M/M/1 at lambda/c: Wq = rho/(mu - lambda/c), L = c * rho/(1-rho).
    let wq = rho / (mu - lambda / f64::from(c));
    let l = f64::from(c) * rho / (1.0 - rho);
    let label = format!("{c} partitions rho={rho}");
    assert_matches_theory(&label, &runs, wq, l);
}

#[test]
fn random_partitioned_log_matches_independent_mm1_queues_at_0_5() {
    check_partitions(3, 0.5, 40);
}

#[test]
fn random_partitioned_log_matches_independent_mm1_queues_at_0_9() {
    check_partitions(3, 0.9, 100);
}

#[test]
fn littles_law_holds_for_each_run() {
    // L = lambda * W, with lambda the measured arrival rate and W the mean sojourn.
    for toml in [
        queue_scenario(3, 2400.0, 1.0, 20),
        log_scenario(2, 1500.0, 1.0, 20),
    ] {
        for (seed, (_, l, w, lambda)) in measure(&toml).into_iter().enumerate() {
            let rel = (l - lambda * w).abs() / l;
            assert!(
                rel < 0.01,
                "seed={}: L={l} but lambda*W={}",
                seed + 1,
                lambda * w
            );
        }
    }
}

#[test]
fn a_wrong_theory_is_rejected() {
    // The check must be able to fail: M/M/1 theory applied to the shared M/M/4 queue.
    let runs = measure(&queue_scenario(4, 3600.0, 1.0, 30));
    let (mean, half) = t_interval(&runs.iter().map(|r| r.0).collect::<Vec<_>>());
    let mm1_wait = 0.9 / (1000.0 - 900.0);
    assert!(
        (mean - mm1_wait).abs() > half,
        "M/M/1 wait {mm1_wait} should be far from {mean}"
    );
}

/// State probabilities p_0..=p_k of M/M/c/K with offered load `a` = lambda/mu (K = `k`,
/// the most the system holds, in service included).
fn mmck(c: u32, a: f64, k: u32) -> Vec<f64> {
    let mut weights = Vec::new();
    let mut w = 1.0;
    for n in 0..=k {
        if n > 0 {
            w *= a / f64::from(n.min(c));
        }
        weights.push(w);
    }
    let total: f64 = weights.iter().sum();
    weights.iter().map(|w| w / total).collect()
}

/// A loss system: `model` with c consumers, `capacity` and `on_full = "reject"`, a
/// producer that never resends (a refusal is a dropped copy).
fn loss_scenario(model: &str, c: u32, capacity: u32, lambda: f64, duration_s: u32) -> String {
    // Fair dispatch: each exchange consumer holds one unacknowledged message at most.
    let (exchange, prefetch) = if model == "exchange" {
        ("exchange = \"fanout\"", "prefetch = 1")
    } else {
        ("", "")
    };
    format!(
        r#"
        name = "loss-test"
        duration = "{duration_s}s"
        drain = "10s"
        [broker]
        model = "{model}"
        capacity = {capacity}
        on_full = "reject"
        [[topic]]
        name = "q"
        {exchange}
        [[producer]]
        name = "p"
        topic = "q"
        rate = {lambda}
        [[consumer]]
        group = "g"
        topic = "q"
        instances = {c}
        {prefetch}
        service_time = "exp(1ms)"
        "#
    )
}

/// Per seed: (fraction of copies refused, time-average number in system, effective arrival
/// rate (copies accepted per second), mean sojourn).
fn measure_loss(toml: &str) -> Vec<(f64, f64, f64, f64)> {
    let s = parse(toml);
    (1..=SEEDS)
        .map(|seed| {
            let r = run(&s, seed);
            assert!(r.conservation_ok && r.messages.in_flight == 0 && r.messages.lost == 0);
            let g = &r.groups[0];
            assert_eq!(g.copies, g.processed + g.dropped, "seed={seed}");
            (
                g.dropped as f64 / g.copies as f64,
                g.in_system_mean,
                g.processed as f64 / r.sim_time_s,
                g.sojourn_mean_s,
            )
        })
        .collect()
}

/// Blocking probability and mean number in system of M/M/c/K, K the system capacity.
fn check_loss(label: &str, toml: &str, c: u32, lambda: f64, k: u32) {
    let p = mmck(c, lambda / 1000.0, k);
    let blocking = p[k as usize];
    let l: f64 = p.iter().enumerate().map(|(n, p)| n as f64 * p).sum();
    let runs = measure_loss(toml);
    let refused: Vec<f64> = runs.iter().map(|r| r.0).collect();
    let numbers: Vec<f64> = runs.iter().map(|r| r.1).collect();
    assert_in_interval(&format!("{label} blocking probability"), &refused, blocking);
    assert_in_interval(&format!("{label} mean number in system"), &numbers, l);
}

#[test]
fn mm1k_theory_is_what_it_says() {
    // M/M/1/K closed forms: P_K = (1-rho) rho^K / (1 - rho^(K+1)), and
    // L = rho/(1-rho) - (K+1) rho^(K+1) / (1 - rho^(K+1)).
    let (rho, k) = (0.9f64, 5);
    let p = mmck(1, rho, k);
    let pk = (1.0 - rho) * rho.powi(5) / (1.0 - rho.powi(6));
    let l = rho / (1.0 - rho) - 6.0 * rho.powi(6) / (1.0 - rho.powi(6));
    assert!((p[5] - pk).abs() < 1e-12);
    let mean: f64 = p.iter().enumerate().map(|(n, p)| n as f64 * p).sum();
    assert!((mean - l).abs() < 1e-12);
}

#[test]
fn a_rejecting_single_server_queue_matches_mm1k() {
    // `capacity` on a queue counts what it holds, received or not: K = capacity.
    let toml = loss_scenario("queue", 1, 5, 900.0, 30);
    check_loss("M/M/1/5 queue", &toml, 1, 900.0, 5);
}

#[test]
fn a_rejecting_multi_server_queue_matches_mmck() {
    let toml = loss_scenario("queue", 3, 6, 2700.0, 20);
    check_loss("M/M/3/6 queue", &toml, 3, 2700.0, 6);
}

#[test]
fn a_rejecting_exchange_counts_only_ready_messages_so_it_is_mmc_c_plus_k() {
    // RabbitMQ's queue length limit counts ready messages only: with prefetch 1 each of
    // the c consumers holds one unacknowledged message besides, so K = c + capacity.
    let toml = loss_scenario("exchange", 2, 3, 1800.0, 20);
    check_loss("M/M/2/5 exchange", &toml, 2, 1800.0, 5);
}

#[test]
fn littles_law_holds_per_group_in_a_loss_system() {
    // L = lambda_eff * W, lambda_eff the rate of copies accepted (a refused copy never
    // enters the system, so it must not leave it either).
    for toml in [
        loss_scenario("queue", 1, 4, 950.0, 10),
        loss_scenario("exchange", 2, 2, 2000.0, 10),
    ] {
        for (seed, (refused, l, lambda, w)) in measure_loss(&toml).into_iter().enumerate() {
            assert!(refused > 0.05, "a loss system: {refused}");
            let rel = (l - lambda * w).abs() / l;
            assert!(
                rel < 0.01,
                "seed={}: L={l} but lambda_eff*W={}",
                seed + 1,
                lambda * w
            );
        }
    }
}
