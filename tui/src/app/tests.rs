//! The key-handling state machine, driven without a terminal or an engine: each test feeds
//! `AppEvent`s to `App::handle_event` and checks the state and the effects.

use super::*;
use crate::control::FaultSpec;
use crate::fixture;
use mqlab_sim::SimDuration;
use mqlab_sim::scenario::FaultKind;
use ratatui::crossterm::event::{KeyEvent, KeyModifiers, MouseEvent};

const SOURCE: &str = r#"name = "food-delivery"
seed = 7
duration = "60s"

[[topic]]
name = "orders"
partitions = 3

[[producer]]
name = "checkout"
topic = "orders"
rate = 1000

[[producer]]
name = "mobile"
topic = "orders"
rate = 200

[[consumer]]
group = "payments"
topic = "orders"
instances = 3

[[consumer]]
group = "analytics"
topic = "orders"
"#;

fn app() -> App {
    let scenario = Scenario::from_toml(SOURCE, "food.toml").unwrap();
    let mut app = App::new(&scenario, SOURCE, "food.toml", 7, Theme::new(true));
    app.handle_event(AppEvent::Snapshot(Frame {
        generation: 0,
        snapshots: vec![fixture::snapshot()],
        faults: Vec::new(),
    }));
    app
}

fn key(app: &mut App, code: KeyCode) -> Vec<Effect> {
    app.handle_event(AppEvent::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

fn ch(app: &mut App, c: char) -> Vec<Effect> {
    key(app, KeyCode::Char(c))
}

fn control(e: &[Effect]) -> Vec<Control> {
    e.iter()
        .filter_map(|e| match e {
            Effect::Control(c) => Some(c.clone()),
            Effect::Export(_) => None,
        })
        .collect()
}

#[test]
fn space_toggles_pause_and_tells_the_worker() {
    let mut a = app();
    assert_eq!(control(&ch(&mut a, ' ')), [Control::Pause]);
    assert!(a.paused);
    assert_eq!(control(&ch(&mut a, ' ')), [Control::Resume]);
    assert!(!a.paused);
}

#[test]
fn step_pauses_then_steps_with_dot_or_right_arrow() {
    let mut a = app();
    assert_eq!(control(&ch(&mut a, '.')), [Control::Pause, Control::Step]);
    assert!(a.paused);
    assert_eq!(
        control(&key(&mut a, KeyCode::Right)),
        [Control::Pause, Control::Step]
    );
}

#[test]
fn plus_minus_and_m_change_speed_and_m_returns_to_the_paced_speed() {
    let mut a = app();
    assert_eq!(a.speed, Speed::Paced(4.0), "60 s scenario plays in ~15 s");
    assert_eq!(
        control(&ch(&mut a, '+')),
        [Control::Speed(Speed::Paced(8.0))]
    );
    assert_eq!(
        control(&ch(&mut a, '-')),
        [Control::Speed(Speed::Paced(4.0))]
    );
    ch(&mut a, '-');
    assert_eq!(control(&ch(&mut a, 'm')), [Control::Speed(Speed::FlatOut)]);
    assert_eq!(
        control(&ch(&mut a, 'm')),
        [Control::Speed(Speed::Paced(2.0))]
    );
}

#[test]
fn q_esc_and_ctrl_c_quit() {
    for code in [KeyCode::Char('q'), KeyCode::Esc] {
        let mut a = app();
        assert_eq!(control(&key(&mut a, code)), [Control::Quit]);
        assert!(a.should_quit());
    }
    let mut a = app();
    a.overlay = Overlay::Help;
    let e = a.handle_event(AppEvent::Key(KeyEvent::new(
        KeyCode::Char('c'),
        KeyModifiers::CONTROL,
    )));
    assert_eq!(
        control(&e),
        [Control::Quit],
        "ctrl-c quits even under a pop-up"
    );
}

#[test]
fn esc_closes_a_popup_before_it_quits() {
    let mut a = app();
    ch(&mut a, 'f');
    assert_eq!(a.overlay, Overlay::Faults(0));
    // The menu paused the run; closing it resumes.
    assert_eq!(control(&key(&mut a, KeyCode::Esc)), [Control::Resume]);
    assert_eq!(a.overlay, Overlay::None);
    assert!(!a.should_quit());
    ch(&mut a, '?');
    assert_eq!(a.overlay, Overlay::Help);
    assert!(ch(&mut a, 'q').is_empty(), "any key closes help");
    assert!(!a.should_quit());
}

#[test]
fn fault_menu_injects_the_chosen_fault() {
    let mut a = app();
    ch(&mut a, 'f');
    key(&mut a, KeyCode::Down);
    key(&mut a, KeyCode::Down);
    let e = key(&mut a, KeyCode::Enter);
    let want = FaultSpec {
        kind: FaultKind::Crash,
        target: "payments/1".into(),
        duration: Some(SimDuration::from_secs(5)),
        factor: None,
        count: None,
    };
    assert_eq!(control(&e), [Control::Inject(want), Control::Resume]);
    assert_eq!(a.overlay, Overlay::None);
    assert!(!a.paused);
}

#[test]
fn fault_menu_pauses_while_open_and_resumes_only_a_run_it_paused() {
    let mut a = app();
    assert_eq!(control(&ch(&mut a, 'f')), [Control::Pause]);
    assert!(a.paused);
    assert_eq!(control(&key(&mut a, KeyCode::Esc)), [Control::Resume]);
    assert!(!a.paused);
    // Paused by hand first: the menu leaves it paused.
    ch(&mut a, ' ');
    assert!(control(&ch(&mut a, 'f')).is_empty());
    let e = key(&mut a, KeyCode::Enter);
    assert!(matches!(control(&e)[..], [Control::Inject(_)]), "{e:?}");
    assert!(a.paused);
}

#[test]
fn fault_menu_arrows_choose_the_duration_of_the_selected_fault() {
    let mut a = app();
    ch(&mut a, 'f');
    key(&mut a, KeyCode::Right);
    key(&mut a, KeyCode::Right);
    assert_eq!(
        a.fault_menu_choices(0)[0].duration,
        Some(SimDuration::from_secs(20))
    );
    key(&mut a, KeyCode::Left);
    let e = key(&mut a, KeyCode::Enter);
    let [Control::Inject(spec), Control::Resume] = &control(&e)[..] else {
        panic!("{e:?}")
    };
    assert_eq!(
        (spec.target.as_str(), spec.duration),
        ("payments/0", Some(SimDuration::from_secs(10)))
    );
    // Moving to another fault starts from its own default; an instant has none.
    ch(&mut a, 'f');
    key(&mut a, KeyCode::Right);
    key(&mut a, KeyCode::Down);
    assert_eq!(
        a.fault_menu_choices(1)[1].duration,
        Some(SimDuration::from_secs(10)),
        "slow's default"
    );
    for _ in 0..9 {
        key(&mut a, KeyCode::Down);
    }
    key(&mut a, KeyCode::Right);
    let poison = &a.fault_menu_choices(10)[10];
    assert_eq!((poison.kind, poison.duration), (FaultKind::Poison, None));
    assert!(a.status.as_deref().unwrap_or("").contains("instant"));
}

#[test]
fn w_toggles_the_whole_run_view() {
    let mut a = app();
    assert!(!a.whole_run);
    assert!(ch(&mut a, 'w').is_empty());
    assert!(a.whole_run);
    ch(&mut a, 'w');
    assert!(!a.whole_run);
}

#[test]
fn help_scrolls_with_arrows_and_closes_on_any_other_key() {
    let mut a = app();
    a.set_screen(Rect::new(0, 0, 80, 24));
    ch(&mut a, '?');
    for _ in 0..100 {
        key(&mut a, KeyCode::Down);
    }
    assert_eq!(a.overlay, Overlay::Help);
    let max = crate::panels::overlay::help_max_scroll(layout::areas(a.screen, None).body);
    assert!(max > 0);
    assert_eq!(a.help_scroll, max);
    key(&mut a, KeyCode::PageUp);
    assert!(a.help_scroll < max);
    ch(&mut a, 'x');
    assert_eq!(a.overlay, Overlay::None);
}

#[test]
fn fault_menu_selection_stays_inside_the_list() {
    let mut a = app();
    ch(&mut a, 'f');
    key(&mut a, KeyCode::Up);
    assert_eq!(a.overlay, Overlay::Faults(0));
    for _ in 0..50 {
        ch(&mut a, 'j');
    }
    assert_eq!(a.overlay, Overlay::Faults(12));
}

fn recorded(at: u64) -> RecordedFault {
    RecordedFault {
        at: SimTime(at),
        spec: FaultSpec {
            kind: FaultKind::Crash,
            target: "payments/1".into(),
            duration: Some(SimDuration::from_secs(5)),
            factor: None,
            count: None,
        },
    }
}

#[test]
fn injected_faults_are_recorded_only_for_the_current_run() {
    let mut a = app();
    a.handle_event(AppEvent::Injected {
        generation: 0,
        fault: recorded(12_345_678),
    });
    assert_eq!(a.faults(), [recorded(12_345_678)]);
    assert_eq!(
        a.status.as_deref(),
        Some("injected crash payments/1 for 5s at 12.346ms")
    );
    ch(&mut a, 'r');
    a.handle_event(AppEvent::Injected {
        generation: 0,
        fault: recorded(99),
    });
    assert_eq!(
        a.faults().len(),
        1,
        "a fault from the replaced run is dropped"
    );
}

#[test]
fn restart_keeps_seed_and_replays_faults_new_seed_changes_it() {
    let mut a = app();
    a.handle_event(AppEvent::Injected {
        generation: 0,
        fault: recorded(5),
    });
    let [Control::Restart(spec)] = &control(&ch(&mut a, 'r'))[..] else {
        panic!("r restarts")
    };
    assert_eq!((spec.seed, spec.until), (7, None));
    assert_eq!(spec.replay, [recorded(5)]);
    let [Control::Restart(spec)] = &control(&ch(&mut a, 'n'))[..] else {
        panic!("n restarts")
    };
    assert_eq!(spec.seed, next_seed(7));
    assert_ne!(spec.seed, 7);
    let [Control::Restart(spec)] = &control(&ch(&mut a, 'x'))[..] else {
        panic!("x restarts")
    };
    assert!(spec.replay.is_empty());
}

#[test]
fn frames_of_a_replaced_run_are_ignored() {
    let mut a = app();
    ch(&mut a, 'r');
    let mut old = fixture::snapshot();
    old.events = 1;
    a.handle_event(AppEvent::Snapshot(Frame {
        generation: 0,
        snapshots: vec![old],
        faults: Vec::new(),
    }));
    assert_ne!(a.snapshot().unwrap().events, 1);
}

#[test]
fn d_cycles_the_three_variants_then_back_to_the_scenarios_own_mix() {
    let mut a = app();
    let mut seen = Vec::new();
    for _ in 0..5 {
        let [Control::Restart(spec)] = &control(&ch(&mut a, 'd'))[..] else {
            panic!("d restarts")
        };
        assert_eq!(spec.until, Some(fixture::snapshot().now), "keeps the place");
        seen.push(spec.deliveries[0]);
    }
    assert_eq!(
        seen,
        [
            Some(Delivery::AtMostOnce),
            Some(Delivery::AtLeastOnce),
            Some(Delivery::ExactlyOnce),
            None,
            Some(Delivery::AtMostOnce),
        ]
    );
    ch(&mut a, 'd');
    ch(&mut a, 'd');
    ch(&mut a, 'd');
    assert_eq!(
        a.status.as_deref(),
        Some("delivery: the scenario's own (catching up to 18.2s)")
    );
}

#[test]
fn c_runs_the_three_variants_in_lockstep_and_back() {
    let mut a = app();
    let [Control::Restart(spec)] = &control(&ch(&mut a, 'c'))[..] else {
        panic!("c restarts")
    };
    assert_eq!(spec.deliveries.len(), 3);
    assert!(a.compare);
    assert!(
        control(&ch(&mut a, 'd')).is_empty(),
        "d does nothing in compare mode"
    );
    let [Control::Restart(spec)] = &control(&ch(&mut a, 'c'))[..] else {
        panic!("c restarts")
    };
    assert_eq!(spec.deliveries, [None]);
}

#[test]
fn tab_moves_focus_and_enter_zooms() {
    let mut a = app();
    key(&mut a, KeyCode::Tab);
    assert_eq!(a.focus, Panel::Latency);
    key(&mut a, KeyCode::BackTab);
    key(&mut a, KeyCode::BackTab);
    assert_eq!(a.focus, Panel::Events);
    key(&mut a, KeyCode::Enter);
    assert!(a.zoom);
}

#[test]
fn wheel_and_arrows_scroll_the_log_within_bounds() {
    let mut a = app();
    let wheel = |kind| {
        AppEvent::Mouse(MouseEvent {
            kind,
            column: 0,
            row: 0,
            modifiers: KeyModifiers::NONE,
        })
    };
    a.handle_event(wheel(MouseEventKind::ScrollUp));
    assert_eq!(a.log_scroll, 3);
    key(&mut a, KeyCode::Home);
    assert_eq!(a.log_scroll, 6, "fixture has 7 lines");
    a.handle_event(wheel(MouseEventKind::ScrollDown));
    key(&mut a, KeyCode::Down);
    assert_eq!(a.log_scroll, 2);
    key(&mut a, KeyCode::End);
    assert_eq!(a.log_scroll, 0);
}

#[test]
fn a_click_focuses_the_panel_under_it() {
    let mut a = app();
    a.set_screen(ratatui::layout::Rect::new(0, 0, 80, 24));
    let click = |column, row| {
        AppEvent::Mouse(MouseEvent {
            kind: MouseEventKind::Down(ratatui::crossterm::event::MouseButton::Left),
            column,
            row,
            modifiers: KeyModifiers::NONE,
        })
    };
    a.handle_event(click(70, 20));
    assert_eq!(a.focus, Panel::Events);
    a.handle_event(click(5, 12));
    assert_eq!(a.focus, Panel::Groups);
    a.handle_event(click(5, 0));
    assert_eq!(a.focus, Panel::Groups, "the header is no panel");
}

#[test]
fn export_carries_the_faults_and_the_switched_variant() {
    let mut a = app();
    a.handle_event(AppEvent::Injected {
        generation: 0,
        fault: recorded(12_345_678),
    });
    for _ in 0..3 {
        ch(&mut a, 'd');
    }
    let e = ch(&mut a, 'e');
    let [Effect::Export(text)] = &e[..] else {
        panic!("e exports: {e:?}")
    };
    let back = Scenario::from_toml(text, "x.toml").unwrap();
    assert_eq!(back.faults.len(), 1);
    assert_eq!(back.faults[0].at, SimDuration(12_345_678));
    assert!(
        back.consumers
            .iter()
            .all(|c| c.delivery == Delivery::ExactlyOnce)
    );
}

#[test]
fn p99_history_follows_buckets_not_frames() {
    let mut a = app();
    let n = a.p99_history.len();
    assert_eq!(n, fixture::snapshot().series.t_s.len());
    for _ in 0..5 {
        a.handle_event(AppEvent::Snapshot(Frame {
            generation: 0,
            snapshots: vec![fixture::snapshot()],
            faults: Vec::new(),
        }));
    }
    assert_eq!(a.p99_history.len(), n, "same buckets, same history");
}

#[test]
fn a_opens_the_anomaly_picker_and_enter_traces_the_chosen_example_in_the_background() {
    let mut a = app();
    assert_eq!(control(&ch(&mut a, 'a')), vec![Control::Examples]);
    assert_eq!(a.overlay, Overlay::None, "opens once the ids arrive");
    let ex = |id| crate::control::Example {
        group: "payments".into(),
        anomaly: "duplicated",
        count: 2,
        id,
    };
    a.handle_event(AppEvent::Examples {
        generation: 0,
        examples: vec![ex(4), ex(9)],
    });
    assert_eq!(a.overlay, Overlay::Anomalies(0));
    key(&mut a, KeyCode::Down);
    assert_eq!(
        control(&key(&mut a, KeyCode::Enter)),
        vec![Control::Trace(ex(9))]
    );
    assert_eq!(a.overlay, Overlay::History(1, 0));
    // A history of another message (an earlier choice) is not shown for this one.
    a.handle_event(AppEvent::Traced {
        generation: 0,
        example: ex(4),
        history: Ok(Vec::new()),
    });
    assert!(matches!(&a.picker.traced, Some((e, None)) if *e == ex(9)));
    a.handle_event(AppEvent::Traced {
        generation: 0,
        example: ex(9),
        history: Err("message 9 was never created".into()),
    });
    assert!(matches!(&a.picker.traced, Some((_, Some(Err(_))))));
    key(&mut a, KeyCode::Esc);
    assert_eq!(
        a.overlay,
        Overlay::Anomalies(1),
        "Esc goes back to the list"
    );
    key(&mut a, KeyCode::Esc);
    assert_eq!(a.overlay, Overlay::None);
    assert!(!a.should_quit());
}

#[test]
fn the_picker_says_so_when_there_is_no_anomaly_and_refuses_compare_mode() {
    let mut a = app();
    ch(&mut a, 'a');
    a.handle_event(AppEvent::Examples {
        generation: 0,
        examples: Vec::new(),
    });
    assert_eq!(a.overlay, Overlay::None);
    assert!(a.status.as_deref().unwrap().contains("no anomaly"));
    ch(&mut a, 'c');
    assert!(control(&ch(&mut a, 'a')).is_empty());
    assert!(a.status.as_deref().unwrap().contains("compare"));
}
