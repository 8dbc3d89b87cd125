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
/// How often in its first `EARLY` (a run of a few thousand messages is over in a few
/// milliseconds, and a read must land between its `exec` and its exit).
const EARLY_POLL: Duration = Duration::from_micros(100);
const EARLY: Duration = Duration::from_millis(50);

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
/// to then (the standard library offers no `wait4`, and this crate forbids `unsafe`). A
/// read counts only once the child runs `cmd` (its `/proc/PID/cmdline` holds `cmd`'s
/// arguments): between the spawn and the `exec` the pid is a copy of this process, whose
/// few KiB a short run once reported as its peak.
pub fn measure(mut cmd: Command) -> anyhow::Result<Outcome> {
    let shown = format!("{cmd:?}");
    let args: Vec<Vec<u8>> = cmd
        .get_args()
        .map(|a| a.as_encoded_bytes().to_vec())
        .collect();
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start {shown}"))?;
    let proc_dir = format!("/proc/{}", child.id());
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
        if let Some(k) = vm_hwm_kib(&proc_dir, &args) {
            peak_kib = Some(peak_kib.map_or(k, |p| p.max(k)));
        }
        thread::sleep(if started.elapsed() < EARLY {
            EARLY_POLL
        } else {
            POLL
        });
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

/// `VmHWM` of a live process running with arguments `args`, in KiB (absent before its
/// `exec` and once it has exited).
fn vm_hwm_kib(proc_dir: &str, args: &[Vec<u8>]) -> Option<u64> {
    let cmdline = std::fs::read(format!("{proc_dir}/cmdline")).ok()?;
    // NUL-terminated arguments, the program first.
    let mut running = cmdline
        .strip_suffix(&[0])
        .unwrap_or(&cmdline)
        .split(|&b| b == 0);
    running.next()?;
    if !running.eq(args.iter().map(Vec::as_slice)) {
        return None;
    }
    let text = std::fs::read_to_string(format!("{proc_dir}/status")).ok()?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A process is read only while it runs the arguments asked for: this test's own
    /// process, with its own arguments and with others (as a child is between the spawn
    /// and the `exec`, when it still has its parent's).
    #[test]
    fn a_process_is_read_only_while_it_runs_the_command() {
        let me = format!("/proc/{}", std::process::id());
        let own: Vec<Vec<u8>> = std::env::args_os()
            .skip(1)
            .map(|a| a.as_encoded_bytes().to_vec())
            .collect();
        let kib = vm_hwm_kib(&me, &own).expect("this process read");
        assert!(kib > 100, "{kib} KiB");
        let other = vec![b"run".to_vec(), b"scenarios/mm1.toml".to_vec()];
        assert_eq!(vm_hwm_kib(&me, &other), None);
        let mut fewer = own.clone();
        fewer.push(b"--json".to_vec());
        assert_eq!(vm_hwm_kib(&me, &fewer), None);
    }

    /// A run over in a few milliseconds is still read, after its `exec`: its peak is its
    /// own (a shell's resident set, well above the few KiB of the copy of this process
    /// that the pid is before the `exec`).
    #[test]
    fn a_short_child_is_read_after_its_exec() {
        let mut least = f64::MAX;
        for _ in 0..20 {
            let mut cmd = Command::new("sh");
            cmd.args(["-c", "sleep 0.01"]);
            let o = measure(cmd).expect("sh runs");
            assert!(o.status.success());
            let mib = o.peak_mib.expect("a 10 ms child read");
            least = least.min(mib);
        }
        // About 1.6 MiB here; a read of the copy before the `exec` gave 0.004.
        assert!(least > 0.25, "{least} MiB: read before the exec");
    }
}
