//! One measured process: its wall time from spawn to exit and its peak resident set.

use anyhow::Context;
use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// How often the child's resident high-water mark is read while it runs.
const POLL: Duration = Duration::from_millis(2);

/// What a finished child printed and cost.
#[derive(Debug)]
pub struct Outcome {
    pub stdout: String,
    pub stderr: String,
    pub status: ExitStatus,
    /// Spawn to exit, so the whole process: start-up, parsing, the run, writing the JSON.
    pub wall_s: f64,
    /// The kernel's `VmHWM` (peak resident set) of the child, in MiB, as last read while it
    /// ran; `None` where /proc is not available.
    pub peak_mib: Option<f64>,
}

/// Runs `cmd` to its end. The peak resident set comes from `/proc/PID/status`, read every
/// few milliseconds: `VmHWM` only grows, so the last read before the exit is the peak up
/// to then (the standard library offers no `wait4`, and this crate forbids `unsafe`).
pub fn measure(mut cmd: Command) -> anyhow::Result<Outcome> {
    let shown = format!("{cmd:?}");
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start {shown}"))?;
    let status_file = format!("/proc/{}/status", child.id());
    let drain = |mut pipe: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut text = String::new();
            pipe.read_to_string(&mut text).map(|_| text)
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("piped")));
    let err = drain(Box::new(child.stderr.take().expect("piped")));
    let done = Arc::new(AtomicBool::new(false));
    let waiter = {
        let done = Arc::clone(&done);
        thread::spawn(move || {
            let status = child.wait();
            let wall = started.elapsed().as_secs_f64();
            done.store(true, Ordering::Release);
            status.map(|s| (s, wall))
        })
    };
    let mut peak_kib: Option<u64> = None;
    while !done.load(Ordering::Acquire) {
        if let Some(k) = vm_hwm_kib(&status_file) {
            peak_kib = Some(peak_kib.map_or(k, |p| p.max(k)));
        }
        thread::sleep(POLL);
    }
    let (status, wall_s) = waiter
        .join()
        .expect("waiter thread")
        .with_context(|| format!("waiting for {shown}"))?;
    let stdout = out.join().expect("reader thread")?;
    let stderr = err.join().expect("reader thread")?;
    Ok(Outcome {
        stdout,
        stderr,
        status,
        wall_s,
        peak_mib: peak_kib.map(|k| k as f64 / 1024.0),
    })
}

/// `VmHWM` of a live process, in KiB (absent once it has exited).
fn vm_hwm_kib(status_file: &str) -> Option<u64> {
    let text = std::fs::read_to_string(status_file).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Fails with the child's own words when it did not exit with one of `ok_codes`.
pub fn check(o: &Outcome, what: &str, ok_codes: &[i32]) -> anyhow::Result<()> {
    match o.status.code() {
        Some(c) if ok_codes.contains(&c) => Ok(()),
        _ => anyhow::bail!(
            "{what} failed ({}): {}",
            o.status,
            o.stderr.trim().lines().last().unwrap_or("no message")
        ),
    }
}
