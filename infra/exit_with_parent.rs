//! Shared by the runtime and the simulators (each includes this file with `#[path]`).
//!
//! Started by `make up` (infra/up.sh exports CAAS_PARENT_PID): end together with that script even
//! when it is killed with SIGKILL (then its trap cannot run) — the parent-death signal is SIGTERM,
//! the graceful path. Without the variable (tests, other supervisors) nothing changes.

#[cfg(target_os = "linux")]
pub fn exit_with_parent() {
    let Some(parent) = std::env::var("CAAS_PARENT_PID").ok().and_then(|p| p.trim().parse::<i32>().ok()) else {
        return;
    };
    // SAFETY: plain syscalls without pointers.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong) };
    // The parent may have died before the call above; then no signal will come.
    if unsafe { libc::getppid() } != parent {
        std::process::exit(0);
    }
}

#[cfg(not(target_os = "linux"))]
pub fn exit_with_parent() {}
