//! The way people run the app: `make up` (infra/up.sh) and, beside plain `spin up`, the tick caller.
//! Every shell script parses, and stopping `make up` stops every process it started.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use caas_tests::*;
use serde_json::Value;

/// Every shell script under infra/ (by extension or `#!…sh` first line) passes `bash -n`.
#[test]
fn every_shell_script_in_infra_parses() {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                let first = std::fs::read(&p).unwrap_or_default();
                let first = String::from_utf8_lossy(&first[..first.len().min(64)]).to_string();
                let line = first.lines().next().unwrap_or("");
                if p.extension().is_some_and(|x| x == "sh") || (line.starts_with("#!") && line.contains("sh")) {
                    out.push(p);
                }
            }
        }
    }
    let mut scripts = Vec::new();
    walk(&repo_root().join("infra"), &mut scripts);
    scripts.sort();
    for must in ["infra/up.sh", "infra/deploy/tick-caller.sh", "infra/build-wasm.sh"] {
        assert!(scripts.contains(&repo_root().join(must)), "{must} not found among {scripts:?}");
    }
    let mut broken = Vec::new();
    for s in &scripts {
        let out = std::process::Command::new("bash").arg("-n").arg(s).output().unwrap();
        if !out.status.success() {
            broken.push(format!("{}: {}", s.display(), String::from_utf8_lossy(&out.stderr)));
        }
    }
    assert!(broken.is_empty(), "bash -n fails:\n{}", broken.join("\n"));
}

fn bin(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    let p = target.join("debug").join(name);
    assert!(p.exists(), "{} is missing: run `cargo build -p caas-runtime -p caas-sim --bins`", p.display());
    p
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A base port with the five ports above it free too (the simulators take six in a row).
fn free_port_run(n: u16) -> u16 {
    loop {
        let base = free_port();
        if base > 65535 - n {
            continue;
        }
        let held: Vec<_> = (0..n).filter_map(|i| std::net::TcpListener::bind(("127.0.0.1", base + i)).ok()).collect();
        if held.len() == n as usize {
            return base;
        }
    }
}

/// The processes of this machine whose command line mentions `needle` (pid, command line).
fn processes_mentioning(needle: &str) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    let me = std::process::id();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        if pid == me {
            continue;
        }
        let Ok(raw) = std::fs::read(e.path().join("cmdline")) else { continue };
        let cmd = String::from_utf8_lossy(&raw).replace('\0', " ");
        if cmd.contains(needle) {
            found.push((pid, cmd));
        }
    }
    found
}

/// The processes in process group `pgid`.
fn group_members(pgid: i32) -> Vec<u32> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else { continue };
        // pid (comm) state ppid pgrp …; comm may hold spaces or parentheses.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { continue };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.first() != Some(&"Z") && f.get(2).and_then(|g| g.parse::<i32>().ok()) == Some(pgid) {
            found.push(pid);
        }
    }
    found
}

/// infra/up.sh (what `make up` runs) on `listen`, simulators from `base`, state in `state`, in a
/// process group of its own (as make's).
fn spawn_up(listen: &str, base: u16, state: &Path) -> std::process::Child {
    use std::os::unix::process::CommandExt;
    std::process::Command::new("bash")
        .arg(repo_root().join("infra/up.sh"))
        .env("LISTEN", listen)
        .env("SIM_BASE_PORT", base.to_string())
        .env("STATE_DIR", state)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap()
}

/// `make up` as the Makefile runs it (infra/up.sh, on free ports with a throwaway state dir):
/// it serves, the simulators answer, and SIGTERM to the process group (what stopping `make up`
/// does) leaves no process of it behind — neither the runtime nor the simulators.
#[tokio::test(flavor = "multi_thread")]
async fn stopping_make_up_stops_the_runtime_and_the_simulators() {
    require_components(&app_manifest()).unwrap();
    let _gate = Gate::shared().await;
    let makefile = std::fs::read_to_string(repo_root().join("Makefile")).unwrap();
    assert!(makefile.contains("infra/up.sh"), "make up no longer runs infra/up.sh");
    bin("caas-runtime");
    bin("caas-sim");

    let state = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let base = free_port_run(6);
    let mut child = spawn_up(&listen, base, state.path());
    let pgid = child.id() as i32;
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let t0 = Instant::now();
    let mut up = false;
    while t0.elapsed() < Duration::from_secs(180) {
        if let Ok(Some(st)) = child.try_wait() {
            panic!("infra/up.sh exited before serving: {st}");
        }
        if let Ok(r) = client.get(format!("http://{listen}/health")).send().await {
            if r.status() == 200 {
                up = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let notify_up = client.get(format!("http://127.0.0.1:{}/", base + 5)).send().await.is_ok();
    let state_str = state.path().to_string_lossy().to_string();
    let sim_marker = format!("--base-port {base}");
    let runtime_procs = processes_mentioning(&state_str);
    let sim_procs = processes_mentioning(&sim_marker);

    unsafe { libc_kill(-pgid, 15) };
    let t1 = Instant::now();
    let mut left = Vec::new();
    while t1.elapsed() < Duration::from_secs(20) {
        let _ = child.try_wait();
        left = processes_mentioning(&state_str);
        left.extend(processes_mentioning(&sim_marker));
        if left.is_empty() && group_members(pgid).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let members = group_members(pgid);
    // Never leave anything behind, even when the assertions below fail.
    if !members.is_empty() {
        unsafe { libc_kill(-pgid, 9) };
    }
    for (pid, _) in &left {
        unsafe { libc_kill(*pid as i32, 9) };
    }
    let _ = child.wait();

    assert!(up, "make up (infra/up.sh) did not serve /health within 180 s");
    assert!(notify_up, "the simulators did not answer on {base}+5");
    assert!(runtime_procs.iter().any(|(_, c)| c.contains("caas-runtime")), "{runtime_procs:?}");
    assert!(sim_procs.iter().any(|(_, c)| c.contains("caas-sim")), "{sim_procs:?}");
    assert!(left.is_empty(), "still running after SIGTERM to make up's group: {left:?}");
    assert!(members.is_empty(), "process group {pgid} still has {members:?}");
}

/// Even when `make up`'s script is killed with SIGKILL (no trap can run), the runtime and the
/// simulators it started end with it (their parent-death signal).
#[tokio::test(flavor = "multi_thread")]
async fn make_up_children_end_with_a_sigkilled_script() {
    require_components(&app_manifest()).unwrap();
    let _gate = Gate::shared().await;
    bin("caas-runtime");
    bin("caas-sim");
    let state = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let base = free_port_run(6);
    let mut child = spawn_up(&listen, base, state.path());
    let pgid = child.id() as i32;
    let state_str = state.path().to_string_lossy().to_string();
    let sim_marker = format!("--base-port {base}");
    let t0 = Instant::now();
    let mut started = false;
    while t0.elapsed() < Duration::from_secs(60) {
        if !processes_mentioning(&state_str).is_empty() && !processes_mentioning(&sim_marker).is_empty() {
            started = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // SIGKILL to the script alone, not to its group.
    unsafe { libc_kill(pgid, 9) };
    let _ = child.wait();
    let t1 = Instant::now();
    let mut left = Vec::new();
    while t1.elapsed() < Duration::from_secs(20) {
        left = processes_mentioning(&state_str);
        left.extend(processes_mentioning(&sim_marker));
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if !group_members(pgid).is_empty() {
        unsafe { libc_kill(-pgid, 9) };
    }
    assert!(started, "make up (infra/up.sh) did not start the runtime and the simulators");
    assert!(left.is_empty(), "still running after SIGKILL to make up's script: {left:?}");
}

/// A running `make up` (infra/up.sh) stopped like Ctrl-C stops it, even when the test fails.
struct Up {
    child: std::process::Child,
    state: tempfile::TempDir,
    listen: String,
    base: u16,
}

impl Up {
    async fn start() -> Up {
        let state = tempfile::tempdir().unwrap();
        let listen = format!("127.0.0.1:{}", free_port());
        let base = free_port_run(6);
        let mut up = Up { child: spawn_up(&listen, base, state.path()), state, listen, base };
        let client = reqwest::Client::new();
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(180) {
            if let Ok(Some(st)) = up.child.try_wait() {
                panic!("infra/up.sh exited before serving: {st}");
            }
            if client.get(up.url("/health")).send().await.is_ok_and(|r| r.status() == 200) {
                return up;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("make up did not serve /health within 180 s");
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.listen)
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let pgid = self.child.id() as i32;
        unsafe { libc_kill(-pgid, 15) };
        let t = Instant::now();
        let state = self.state.path().to_string_lossy().to_string();
        let sims = format!("--base-port {}", self.base);
        while t.elapsed() < Duration::from_secs(20) && (!processes_mentioning(&state).is_empty() || !processes_mentioning(&sims).is_empty()) {
            std::thread::sleep(Duration::from_millis(100));
        }
        for (pid, _) in processes_mentioning(&state).into_iter().chain(processes_mentioning(&sims)) {
            unsafe { libc_kill(pid as i32, 9) };
        }
        let _ = self.child.wait();
    }
}

/// The development clock of `make up`: a person moves the app's business time from outside
/// (`make clock-advance BY=…`), the simulators sign their webhooks with the same time (a payment
/// three days "later" still settles), and a deadline passes in seconds: an unpaid reservation's
/// sale is abandoned by the deadline tick the jump fires. Time never goes back.
#[tokio::test(flavor = "multi_thread")]
async fn make_up_business_time_moves_from_outside_and_the_simulators_follow_it() {
    require_components(&app_manifest()).unwrap();
    let _gate = Gate::shared().await;
    bin("caas-runtime");
    bin("caas-sim");
    let up = Up::start().await;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let clock = |q: &'static str| {
        let (http, url) = (http.clone(), up.url(&format!("/_dev/clock{q}")));
        async move {
            let r = if q.is_empty() { http.get(url).send().await } else { http.post(url).send().await }.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let real_ms = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let (st, c0) = clock("").await;
    assert_eq!(st, 200, "{c0}");
    assert!((c0["unix_ms"].as_i64().unwrap() - real_ms()).abs() < 60_000, "starts at the host clock: {c0}");

    let json = |r: reqwest::Response| async move { (r.status().as_u16(), r.json::<Value>().await.unwrap_or(Value::Null)) };
    let login = |email: String, password: String| {
        let (http, url) = (http.clone(), up.url("/api/auth/login"));
        async move { json(http.post(url).json(&serde_json::json!({"email": email, "password": password})).send().await.unwrap()).await.1["token"].as_str().unwrap_or_default().to_string() }
    };
    let staff = login("employee@caas.example".into(), "demo-employee-pass".into()).await;
    assert!(!staff.is_empty(), "the demo employee of make up signs in");
    let sale = |n: u32| {
        let (http, url, staff) = (http.clone(), up.url("/api/sales"), staff.clone());
        async move {
            let (st, v) = json(http.post(url).bearer_auth(staff).header("idempotency-key", format!("dev-clock-{n}")).json(&sale_body(n)).send().await.unwrap()).await;
            assert_eq!(st, 201, "{v}");
            v["order_id"].as_str().unwrap().to_string()
        }
    };
    // (Sessions last a day of business time: after each jump people sign in again.)
    let staff_order_status = |staff: String, id: String| {
        let (http, url) = (http.clone(), up.url(&format!("/api/staff/orders/{id}")));
        async move { json(http.get(url).bearer_auth(staff).send().await.unwrap()).await.1["order"]["status"].as_str().unwrap_or_default().to_string() }
    };

    // A customer who will pay, and one who will not.
    let paying = sale(7101).await;
    let unpaid = sale(7102).await;
    assert_eq!(staff_order_status(staff.clone(), unpaid.clone()).await, "reservation-pending");

    // The paying customer sets a password from the e-mailed link (the notify simulator).
    let email = "lucia.7101@example.com";
    let mut link = None;
    let t0 = Instant::now();
    while link.is_none() && t0.elapsed() < Duration::from_secs(60) {
        let (_, m) = json(http.get(format!("http://127.0.0.1:{}/messages?recipient={email}", up.base + 5)).send().await.unwrap()).await;
        link = m["messages"].as_array().into_iter().flatten().filter_map(|m| m["body"].as_str()).find_map(|b| b.split("token=").nth(1).map(|t| t.chars().take_while(char::is_ascii_hexdigit).collect::<String>()));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let link = link.expect("credentials e-mail with a set-password link");
    let (st, v) = json(http.post(up.url("/api/auth/set-password")).json(&serde_json::json!({"token": link, "new_password": "Lucia-own-passw0rd-2026"})).send().await.unwrap()).await;
    assert_eq!(st, 200, "{v}");
    // Three days later (business time) the customer pays: the gateway simulator's signed
    // settlement webhook carries the same business time, so the app accepts it.
    let (st, c1) = clock("?advance=3d").await;
    assert_eq!(st, 200, "{c1}");
    let moved = c1["unix_ms"].as_i64().unwrap() - real_ms();
    assert!((moved - 3 * 86_400_000).abs() < 60_000, "{c1}");
    let customer = login(email.into(), "Lucia-own-passw0rd-2026".into()).await;
    let staff = login("employee@caas.example".into(), "demo-employee-pass".into()).await;
    let (st, v) = json(http.post(up.url(&format!("/api/orders/{paying}/reservation-payment"))).bearer_auth(&customer).json(&serde_json::json!({})).send().await.unwrap()).await;
    assert_eq!(st, 201, "{v}");
    let t0 = Instant::now();
    let mut status = String::new();
    while t0.elapsed() < Duration::from_secs(60) {
        status = staff_order_status(staff.clone(), paying.clone()).await;
        if status != "reservation-pending" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(!["reservation-pending", "abandoned"].contains(&status.as_str()), "the settlement webhook was accepted: {status}");

    // Eight more days: past the 7-day reservation deadline of the unpaid sale. The jump fires
    // the deadline tick once; the sale is abandoned; the paid one is not.
    let (st, _) = clock("?advance=8d").await;
    assert_eq!(st, 200);
    let staff = login("employee@caas.example".into(), "demo-employee-pass".into()).await;
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(60) && staff_order_status(staff.clone(), unpaid.clone()).await != "abandoned" {
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(staff_order_status(staff.clone(), unpaid.clone()).await, "abandoned");
    assert_ne!(staff_order_status(staff.clone(), paying.clone()).await, "abandoned");

    // Never backwards; the simulators and a restarted make up read the same offset file.
    let (st, v) = clock("?set=2020-01-01T00:00:00Z").await;
    assert_eq!(st, 409, "{v}");
    let (st, v) = clock("?advance=soon").await;
    assert_eq!(st, 400, "{v}");
    let offset: i64 = std::fs::read_to_string(up.state.path().join("dev-clock")).unwrap().trim().parse().unwrap();
    assert!((offset - 11 * 86_400_000).abs() < 60_000, "{offset}");
}

/// The development clock is refused outside development mode: the runtime does not start.
#[test]
fn the_dev_clock_is_refused_outside_development_mode() {
    let state = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(bin("caas-runtime"))
        .args(["up", "--manifest"])
        .arg(app_manifest())
        .args(["--listen", "127.0.0.1:0", "--no-cache", "--state-dir"])
        .arg(state.path())
        .arg("--dev-clock")
        .arg(state.path().join("dev-clock"))
        .args(["--variable", "dev_mode=false"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "started with --dev-clock outside dev_mode");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("dev_mode"), "{err}");
    assert!(!state.path().join("dev-clock").exists(), "nothing written");
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

/// The crates of `cargo tree <packages> -e <edges>` with the features each is built with.
fn features(pkgs: &[String], edges: &str) -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .current_dir(repo_root())
        .args(["tree", "--offline", "--prefix", "none", "-f", "{p}|{f}", "-e", edges])
        .args(pkgs)
        .output()
        .unwrap();
    assert!(out.status.success(), "cargo tree: {}", String::from_utf8_lossy(&out.stderr));
    let mut map = std::collections::BTreeMap::<String, std::collections::BTreeSet<String>>::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let line = line.trim_end_matches(" (*)");
        let Some((p, f)) = line.split_once('|') else { continue };
        // "name vX.Y.Z (path)": name and version identify the crate.
        let key = p.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
        map.entry(key).or_default().extend(f.split(',').filter(|s| !s.is_empty()).map(String::from));
    }
    map
}

/// `make up` right after `make test` must not recompile: the bins `make up` builds (build-native)
/// get, for every crate they share with `make test`'s build, the same features — so cargo reuses
/// the artifacts (a different feature set of e.g. hyper-util or syn recompiles wasmtime and all above).
#[test]
fn make_up_builds_the_bins_with_the_features_of_make_test() {
    let makefile = std::fs::read_to_string(repo_root().join("Makefile")).unwrap();
    let var = |name: &str| -> String {
        makefile
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} :=")))
            .unwrap_or_else(|| panic!("{name} not in the Makefile"))
            .trim()
            .to_string()
    };
    let recipe = |target: &str| -> String {
        let start = makefile.find(&format!("\n{target}:")).unwrap_or_else(|| panic!("no {target} target")) + 1;
        makefile[start..].lines().skip(1).take_while(|l| l.starts_with('\t')).collect::<Vec<_>>().join(" ")
    };
    let pkgs_of = |recipe: String| -> Vec<String> {
        let expanded = recipe.replace("$(TEST_PKGS)", &var("TEST_PKGS")).replace("$(NATIVE_PKGS)", &var("NATIVE_PKGS"));
        let words: Vec<&str> = expanded.split_whitespace().collect();
        let mut pkgs = Vec::new();
        for w in words.windows(2) {
            if w[0] == "-p" {
                pkgs.push("-p".to_string());
                pkgs.push(w[1].to_string());
            }
        }
        pkgs
    };
    let native = recipe("build-native");
    assert!(native.contains("build") && native.contains("--bins"), "{native}");
    let up_pkgs = pkgs_of(native);
    let test_pkgs = pkgs_of(recipe("test"));
    for p in ["caas-runtime", "caas-sim"] {
        assert!(up_pkgs.iter().any(|x| x == p), "build-native does not build {p}: {up_pkgs:?}");
    }
    // make up: a plain build (no dev-dependencies); make test: tests (dev-dependencies too).
    let up = features(&up_pkgs, "normal,build");
    let test = features(&test_pkgs, "all");
    let differ: Vec<String> = up
        .iter()
        .filter_map(|(k, f)| test.get(k).filter(|g| *g != f).map(|g| format!("{k}: make up {f:?} vs make test {g:?}")))
        .collect();
    assert!(differ.is_empty(), "make up would recompile these (and everything above them):\n{}", differ.join("\n"));
    assert!(up.contains_key(&test.keys().find(|k| k.starts_with("wasmtime ")).unwrap().clone()));
}
