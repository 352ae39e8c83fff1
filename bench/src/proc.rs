//! The runtime under measurement as its own process (`target/release/caas-runtime up`), so its
//! resident memory is its own and not the load generator's.
use anyhow::{Context, Result, bail};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `caas-runtime up` child; killed (with its process group) when dropped.
pub struct RuntimeProc {
    child: Child,
    addr: SocketAddr,
}

/// How to start one runtime.
pub struct RuntimeOpts<'a> {
    /// Workspace root (spin.toml, target/).
    pub root: &'a Path,
    /// State directory (database and key-value files).
    pub state_dir: &'a Path,
    /// Application variables (`--variable name=value`).
    pub variables: Vec<(String, String)>,
    /// Spin runtime configuration file (`--runtime-config-file`), if any.
    pub runtime_config: Option<&'a Path>,
}

/// The runtime as `make bench` builds it before this binary runs (profile `release-lto`).
pub fn runtime_bin(root: &Path) -> PathBuf {
    root.join("target/release-lto/caas-runtime")
}

impl RuntimeProc {
    pub fn start(o: RuntimeOpts<'_>) -> Result<Self> {
        Self::start_with_args(o, &[])
    }

    /// As [`RuntimeProc::start`], with more `caas-runtime up` flags (e.g. `--start-time`: the
    /// billing benchmark runs on a fixed business date). A second constructor rather than a
    /// field of [`RuntimeOpts`], so that existing struct literals stay valid.
    pub fn start_with_args(o: RuntimeOpts<'_>, extra_args: &[String]) -> Result<Self> {
        use std::os::unix::process::CommandExt;
        let bin = runtime_bin(o.root);
        let mut cmd = Command::new(&bin);
        cmd.arg("up")
            .arg("--manifest")
            .arg(o.root.join("spin.toml"))
            .args(["--listen", "127.0.0.1:0", "--quiet"])
            .arg("--state-dir")
            .arg(o.state_dir)
            .arg("--cache-dir")
            .arg(o.root.join("target/caas-runtime-cache"));
        for (k, v) in &o.variables {
            cmd.arg("--variable").arg(format!("{k}={v}"));
        }
        if let Some(rc) = o.runtime_config {
            cmd.arg("--runtime-config-file").arg(rc);
        }
        cmd.args(extra_args);
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).process_group(0);
        let mut child = cmd.spawn().with_context(|| format!("{} (make bench builds it)", bin.display()))?;
        let stderr = child.stderr.take().context("runtime stderr")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !sent && let Some(url) = line.split("listening on ").nth(1) {
                    let _ = tx.send(url.split_whitespace().next().unwrap_or("").to_string());
                    sent = true;
                } else if line.contains("error") || line.contains("panicked") {
                    eprintln!("runtime: {line}");
                }
            }
        });
        let url = match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(u) => u,
            Err(_) => {
                let _ = child.kill();
                bail!("the runtime did not start within 120 s");
            }
        };
        let addr: SocketAddr = url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .with_context(|| format!("runtime address {url:?}"))?;
        Ok(Self { child, addr })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory now, MiB (`VmRSS`).
    pub fn rss_mib(&self) -> f64 {
        status_kib(self.pid(), "VmRSS:") as f64 / 1024.0
    }

    /// Highest resident memory so far, MiB (`VmHWM`).
    pub fn peak_rss_mib(&self) -> f64 {
        status_kib(self.pid(), "VmHWM:") as f64 / 1024.0
    }

    /// Resets the peak (`VmHWM`) to the current resident size (Linux: write 5 to clear_refs).
    pub fn reset_peak(&self) {
        let _ = std::fs::write(format!("/proc/{}/clear_refs", self.pid()), "5");
    }

    /// CPU time (user + system) the runtime used so far.
    pub fn cpu_time(&self) -> Duration {
        cpu_time(self.pid())
    }
}

impl Drop for RuntimeProc {
    fn drop(&mut self) {
        let pgid = self.child.id() as i32;
        // SAFETY: signalling our own child's process group.
        unsafe {
            libc_kill(-pgid, 15);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        unsafe {
            libc_kill(-pgid, 9);
        }
        let _ = self.child.wait();
    }
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// utime + stime of a process (`/proc/<pid>/stat`, clock ticks of 1/100 s on Linux).
pub fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// Debian's `redis-server` on a free loopback port, without persistence; stopped when dropped.
pub struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    pub fn start() -> Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .context("redis-server (make redis installs it)")?;
        let redis = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                bail!("redis-server did not listen on {port} within 10 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(redis)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
