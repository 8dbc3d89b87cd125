//! `--spawn`: a throwaway broker from the installed server binary, on a free loopback port,
//! in its own temporary directory. The guard kills it (and every process it started) when
//! dropped, so a panicking test or a failed run never leaves a server behind.

use crate::error::BenchError;
use crate::url::{BrokerKind, BrokerUrl};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a spawned server may take to accept connections (RabbitMQ boots in ~6 s on
/// an idle machine; a loaded CI box can take several times that).
const START_TIMEOUT: Duration = Duration::from_secs(90);

/// A broker this process started; stopped and its directory removed on drop.
#[derive(Debug)]
pub struct SpawnedBroker {
    /// Which broker.
    pub kind: BrokerKind,
    /// Its loopback port.
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
    /// Redis: written to its append-only file and synced before each reply, so that a
    /// kill keeps what it acknowledged (`durable`).
    durable: bool,
}

/// The command that installs the server binaries (Debian and Ubuntu).
pub const INSTALL: &str = "apt-get update && apt-get install -y redis-server rabbitmq-server";

/// The server binary of `kind`, when installed.
#[must_use]
pub fn server_binary(kind: BrokerKind) -> Option<PathBuf> {
    let name = match kind {
        BrokerKind::Redis => "redis-server",
        BrokerKind::Amqp => "rabbitmq-server",
        BrokerKind::Noop => return None,
    };
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

impl SpawnedBroker {
    /// Starts `kind` on `url`'s port, or a free one, and waits until it accepts
    /// connections.
    ///
    /// # Errors
    /// Not installed, or did not come up in time (with the end of its log).
    pub fn start(url: &BrokerUrl) -> Result<SpawnedBroker, BenchError> {
        SpawnedBroker::start_with(url, false)
    }

    /// `start`; with `durable`, a Redis that keeps across a kill what it acknowledged
    /// (`appendonly yes`, `appendfsync always`), as the model's log broker does by
    /// default (a `flush_interval` of 0: every write flushed). Without it Redis keeps
    /// nothing on disk, which costs a run that never kills it nothing.
    ///
    /// # Errors
    /// As `start`.
    pub fn start_with(url: &BrokerUrl, durable: bool) -> Result<SpawnedBroker, BenchError> {
        let kind = url.kind;
        let binary = server_binary(kind).ok_or_else(|| BenchError::NotInstalled {
            what: kind.package().into(),
            binary: kind.package().into(),
            install: INSTALL.into(),
        })?;
        let port = match url.port {
            Some(p) => p,
            None => free_port(kind)?,
        };
        let dir = std::env::temp_dir().join(format!("mqlab-bench-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| spawn_err(kind, &e.to_string()))?;
        let mut broker = SpawnedBroker {
            kind,
            port,
            dir,
            child: None,
            durable,
        };
        broker.launch(&binary)?;
        broker.wait_ready()?;
        Ok(broker)
    }

    /// The URL clients connect to.
    #[must_use]
    pub fn url(&self) -> BrokerUrl {
        BrokerUrl {
            kind: self.kind,
            host: "127.0.0.1".into(),
            port: Some(self.port),
        }
    }

    /// Starts the server again on the same port and data directory (after `kill`), and
    /// waits until it accepts connections: what a `broker-crash` restart does.
    ///
    /// # Errors
    /// As `start`.
    pub fn restart(&mut self) -> Result<(), BenchError> {
        self.kill();
        let binary =
            server_binary(self.kind).ok_or_else(|| spawn_err(self.kind, "not installed"))?;
        self.launch(&binary)?;
        self.wait_ready()
    }

    fn launch(&mut self, binary: &Path) -> Result<(), BenchError> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("server.log"))
            .map_err(|e| spawn_err(self.kind, &e.to_string()))?;
        let err = log
            .try_clone()
            .map_err(|e| spawn_err(self.kind, &e.to_string()))?;
        let mut cmd = Command::new(binary);
        cmd.stdin(Stdio::null()).stdout(log).stderr(err);
        match self.kind {
            BrokerKind::Redis => {
                cmd.args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
                    .args(["--save", ""])
                    .args(if self.durable {
                        ["--appendonly", "yes", "--appendfsync", "always"].as_slice()
                    } else {
                        ["--appendonly", "no"].as_slice()
                    })
                    .arg("--dir")
                    .arg(&self.dir);
            }
            BrokerKind::Amqp => self.rabbitmq_env(&mut cmd)?,
            BrokerKind::Noop => return Err(spawn_err(self.kind, "nothing to spawn")),
        }
        let child = cmd
            .spawn()
            .map_err(|e| spawn_err(self.kind, &format!("{}: {e}", binary.display())))?;
        self.child = Some(child);
        Ok(())
    }

    /// Debian's wrapper drops to the `rabbitmq` user when run as root, so every directory
    /// the node writes must be that user's; the node gets its own name and ports so that
    /// several can run side by side.
    fn rabbitmq_env(&self, cmd: &mut Command) -> Result<(), BenchError> {
        let d = &self.dir;
        for sub in ["mnesia", "log"] {
            std::fs::create_dir_all(d.join(sub))
                .map_err(|e| spawn_err(self.kind, &e.to_string()))?;
        }
        std::fs::write(d.join("plugins"), "").map_err(|e| spawn_err(self.kind, &e.to_string()))?;
        // Only root can (and must) hand the directory over; elsewhere the node runs as us.
        let _ = Command::new("chown")
            .args(["-R", "rabbitmq:rabbitmq"])
            .arg(d)
            .stderr(Stdio::null())
            .status();
        let port = self.port;
        cmd.env("HOME", d)
            .env("RABBITMQ_MNESIA_BASE", d.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", d.join("log"))
            .env("RABBITMQ_NODENAME", format!("mqlab-{port}@localhost"))
            .env("RABBITMQ_NODE_PORT", port.to_string())
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_DIST_PORT", (u32::from(port) + 20000).to_string())
            .env("RABBITMQ_PID_FILE", d.join("pid"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", d.join("plugins"))
            .env("RABBITMQ_FEATURE_FLAGS_FILE", d.join("ff"));
        Ok(())
    }

    fn wait_ready(&mut self) -> Result<(), BenchError> {
        let start = Instant::now();
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
        while start.elapsed() < START_TIMEOUT {
            if let Some(child) = &mut self.child
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(spawn_err(
                    self.kind,
                    &format!("exited with {status}\n{}", self.log_tail()),
                ));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(spawn_err(
            self.kind,
            &format!(
                "no connection on port {} after {}s\n{}",
                self.port,
                START_TIMEOUT.as_secs(),
                self.log_tail()
            ),
        ))
    }

    fn log_tail(&self) -> String {
        let mut text = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        if let Ok(entries) = std::fs::read_dir(self.dir.join("log")) {
            for e in entries.flatten() {
                text.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
            }
        }
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    /// The server's processes now (the wrapper, the node, their helpers).
    #[must_use]
    pub fn pids(&self) -> Vec<u32> {
        let Some(child) = &self.child else {
            return Vec::new();
        };
        let mut pids = vec![child.id()];
        pids.extend(descendants(child.id()));
        if let Ok(p) = std::fs::read_to_string(self.dir.join("pid"))
            && let Ok(p) = p.trim().parse::<u32>()
            && !pids.contains(&p)
        {
            pids.push(p);
            pids.extend(
                descendants(p)
                    .into_iter()
                    .filter(|d| !pids.contains(d))
                    .collect::<Vec<_>>(),
            );
        }
        pids
    }

    /// Kills the server at once (SIGKILL) and every process it started.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let mut pids = descendants(child.id());
            // The node's own pid, in case it was reparented away from the wrapper.
            if let Ok(p) = std::fs::read_to_string(self.dir.join("pid"))
                && let Ok(p) = p.trim().parse::<u32>()
            {
                pids.push(p);
                pids.extend(descendants(p));
            }
            for pid in pids {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .stderr(Stdio::null())
                    .status();
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for SpawnedBroker {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn spawn_err(kind: BrokerKind, why: &str) -> BenchError {
    BenchError::Spawn {
        what: kind.package().into(),
        why: why.into(),
    }
}

/// A loopback port nobody listens on (for RabbitMQ, one whose distribution port, 20000
/// above it, is free too).
fn free_port(kind: BrokerKind) -> Result<u16, BenchError> {
    for _ in 0..200 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| BenchError::Other(format!("no free loopback port: {e}")))?
            .port();
        if kind == BrokerKind::Redis {
            return Ok(port);
        }
        if port < 45000 && TcpListener::bind(("127.0.0.1", port + 20000)).is_ok() {
            return Ok(port);
        }
    }
    Err(BenchError::Other("no free loopback port pair found".into()))
}

/// Every process below `root`, from `/proc` (the Erlang node's helpers included; epmd
/// daemonises itself away and is shared by every node, so it is left running).
fn descendants(root: u32) -> Vec<u32> {
    let mut parent_of = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for e in entries.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
                continue;
            };
            // The command name is in parentheses and may hold spaces: parse after it.
            if let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r)
                && let Some(ppid) = rest.split_whitespace().nth(1)
                && let Ok(ppid) = ppid.parse::<u32>()
            {
                parent_of.push((pid, ppid));
            }
        }
    }
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        found.extend(
            parent_of
                .iter()
                .filter(|&&(_, pp)| pp == p)
                .map(|&(c, _)| c),
        );
        i += 1;
    }
    found.remove(0);
    found
}
