//! Writing `--out` files (and the dashboard's export). A regular file is replaced
//! atomically (a temporary file beside it, then a rename), so a reader never sees half a
//! report; anything else (a FIFO, a terminal, `/dev/null`, a symlink) is written through,
//! since renaming over it would replace the device or the link with a plain file. The
//! target's folder is checked before the run, not after it, and a temporary file left by
//! SIGINT/SIGTERM/SIGHUP is removed before the process dies of the signal.

use anyhow::Context;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

/// Temporary files that exist right now, for the signal thread to remove.
static PENDING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Watches SIGINT, SIGTERM and SIGHUP: removes any temporary output file, then dies of
/// the signal as if no handler were installed (exit status and all). Not for `mqlab tui`,
/// which turns those signals into a clean quit that restores the terminal.
pub fn clean_up_on_signals() -> anyhow::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::Builder::new()
        .name("mqlab-signals".into())
        .spawn(move || {
            if let Some(sig) = signals.forever().next() {
                let pending = PENDING.lock().map(|p| p.clone()).unwrap_or_default();
                for tmp in pending {
                    let _ = fs::remove_file(tmp);
                }
                let _ = signal_hook::low_level::emulate_default_handler(sig);
                std::process::exit(128 + sig);
            }
        })?;
    Ok(())
}

/// Fails now, before a long run, if `path` cannot be written: its folder is missing or not
/// a folder, it is a folder itself, or the folder refuses a new file.
pub fn check_target(path: &Path) -> anyhow::Result<()> {
    let ctx = || format!("cannot write {}", path.display());
    if fs::metadata(path).is_ok_and(|m| m.is_dir()) {
        return Err(anyhow::anyhow!("it is a folder")).with_context(ctx);
    }
    if regular_or_absent(path) {
        // Proves the folder takes a new file: what the atomic write will need.
        let tmp = temporary(path).with_context(ctx)?;
        File::create(&tmp)
            .and_then(|_| fs::remove_file(&tmp))
            .with_context(|| format!("folder {}", folder(path).display()))
            .with_context(ctx)?;
    }
    Ok(())
}

/// Writes `bytes` to `path`: atomically for a regular file (or a new one), straight
/// through for anything else.
pub fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    write_with(path, |w| Ok(w.write_all(bytes)?))
}

/// Like `write`, for output produced piece by piece (a sweep's runs streamed from disk):
/// `fill` writes into the temporary file (or through), never all of it held in memory.
pub fn write_with(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let result = if regular_or_absent(path) {
        replace(path, fill)
    } else {
        write_through(path, fill)
    };
    result.with_context(|| format!("cannot write {}", path.display()))
}

/// True when `path` is a regular file (not through a symlink) or does not exist.
fn regular_or_absent(path: &Path) -> bool {
    match fs::symlink_metadata(path) {
        Ok(m) => m.file_type().is_file(),
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    }
}

fn write_through(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    // No `create`: the thing exists, and a dangling link is an error, not a new file.
    let f = File::options().write(true).truncate(true).open(path)?;
    let mut w = std::io::BufWriter::new(f);
    fill(&mut w)?;
    w.flush()?;
    Ok(())
}

fn replace(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let tmp = temporary(path)?;
    PENDING.lock().map(|mut p| p.push(tmp.clone())).ok();
    let result = (|| -> anyhow::Result<()> {
        let f = File::create(&tmp)?;
        // Test hook (tests/output.rs): holds the temporary file open long enough for a
        // signal to land while it exists.
        if let Some(ms) = std::env::var_os("MQLAB_TEST_OUT_PAUSE_MS") {
            let ms = ms.to_str().and_then(|m| m.parse().ok()).unwrap_or(0);
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
        let mut w = std::io::BufWriter::new(f);
        fill(&mut w)?;
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    PENDING.lock().map(|mut p| p.retain(|t| t != &tmp)).ok();
    result
}

fn folder(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// A short hidden name beside `path`: any legal target name leaves room for it.
fn temporary(path: &Path) -> anyhow::Result<PathBuf> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    path.file_name().context("the path has no file name")?;
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    Ok(folder(path).join(format!(".mqlab-{}-{n}.tmp", std::process::id())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("mqlab-output-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_regular_file_is_replaced_and_no_temporary_stays() {
        let d = scratch("regular");
        let target = d.join("r.json");
        fs::write(&target, "old").unwrap();
        write(&target, b"new").unwrap();
        assert_eq!(fs::read_to_string(&target).unwrap(), "new");
        assert_eq!(fs::read_dir(&d).unwrap().count(), 1, "only the target");
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn a_symlink_is_written_through_and_stays_a_link() {
        let d = scratch("symlink");
        let real = d.join("real.json");
        fs::write(&real, "old").unwrap();
        let link = d.join("link.json");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        write(&link, b"new").unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read_to_string(&real).unwrap(), "new");
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn the_longest_legal_name_still_gets_a_temporary_file() {
        let d = scratch("long");
        let target = d.join("x".repeat(255));
        check_target(&target).unwrap();
        write(&target, b"ok").unwrap();
        assert_eq!(fs::read_to_string(&target).unwrap(), "ok");
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn a_missing_folder_or_a_folder_target_fails_before_the_run() {
        let d = scratch("missing");
        assert!(check_target(&d.join("nope/r.json")).is_err());
        assert!(check_target(&d).is_err());
        fs::remove_dir_all(d).unwrap();
    }
}
