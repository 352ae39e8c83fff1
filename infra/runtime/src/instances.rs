//! Instance reuse for `wasi:http@0.3` components, as Spin 4 does it.
//!
//! Spin 4 runs a WASIp3 HTTP component through Wasmtime's `wasmtime_wasi_http::handler`: an
//! instance serves up to 128 requests one after another and up to 16 at once (while the others
//! wait on I/O), and an instance with nothing to do is dropped after a short idle time. This
//! module gives the same handler the runtime's own policy ([`crate::Limits`]): how many requests
//! an instance takes in all and at once, the request deadline, the time background work may run
//! after the last response, and the per-instance memory limit. `max_instance_reuse_count = 1`
//! gives every request a fresh instance (the WASIp2 behaviour).
//!
//! Two differences from Spin's defaults, both about requests running at once in one instance:
//! - An instance here takes **one request at a time** by default
//!   (`max_instance_concurrent_reuse_count = 1`; Spin: 16). Wasmtime 48's worker waits on the
//!   shared request queue while it counts as available and keeps that wait when it stops
//!   counting (it took a request whose guest then computes); a request signalled to that worker
//!   stays queued until the worker is polled again: for a guest that reads its body and then
//!   loops, until that guest's deadline. A worker that takes requests only when it has none
//!   never stops counting as available with a wait pending. With a higher count, concurrent
//!   reuse works as in Spin (tested), with that risk.
//! - An instance whose guest is in the middle of running code (entered Wasm and not yet back
//!   in the host, e.g. suspended at an epoch tick, or a request accepted whose guest has not
//!   yet given the instance back) takes no further request, not even as its next one: it would
//!   wait for that guest to return to the host. A guest waiting on I/O has returned.
use crate::Limits;
use crate::clock::Clock;
use crate::manifest::ResolvedComponent;
use crate::spin_host::{SpinHostShared, SpinHostState};
use crate::state::ReqState;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use wasmtime::component::GuestTaskId;
use wasmtime::{Engine, Store, StoreContextMut, UpdateDeadline};
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::handler::{
    HandlerState, Instance, Proxy, ShouldAccept, WorkerExpiration, WorkerState, WorkerStatus,
};
use wasmtime_wasi_http::p3::bindings::ServicePre;

/// How long background work may go on in an instance after its last response.
pub(crate) const POST_RESPONSE_GRACE: Duration = Duration::from_secs(30);

/// What a component's instances are made from; one per component, shared by its workers.
pub(crate) struct ComponentInstances {
    pub engine: Engine,
    pub pre: ServicePre<ReqState>,
    pub resolved: ResolvedComponent,
    /// `resolved.id`, shared cheaply with every instance and log line.
    pub id: Arc<str>,
    pub clock: Clock,
    pub spin_shared: Arc<SpinHostShared>,
    pub limits: Limits,
}

impl HandlerState for ComponentInstances {
    type StoreData = ReqState;
    type WorkerExpiration = Expiry;
    type WorkerState = Worker;

    async fn instantiate(&self) -> wasmtime::Result<Instance<ReqState, Expiry, Worker>> {
        let spin = SpinHostState::new(self.spin_shared.clone(), self.resolved.grants.clone());
        let state = ReqState::new(
            self.id.clone(),
            self.resolved.allowed_outbound_hosts.clone(),
            &self.resolved.environment,
            &self.clock,
            spin,
            self.limits.max_instance_memory,
        );
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        // Every epoch tick a running guest yields to the executor (a busy guest cannot hold a
        // worker thread, and the worker can see a deadline pass and drop the instance).
        store.epoch_deadline_callback(|_| Ok(UpdateDeadline::Yield(1)));
        // Whether guest code is running (or suspended mid-run): see the module comment.
        let in_guest = Arc::new(AtomicBool::new(false));
        let flag = in_guest.clone();
        store.call_hook(move |_, hook| {
            flag.store(hook.exiting_host(), Relaxed);
            Ok(())
        });
        store.set_epoch_deadline(1);
        let service = tokio::time::timeout(self.limits.request_timeout, self.pre.instantiate_async(&mut store))
            .await
            .map_err(|_| wasmtime::format_err!("instantiation did not finish within the request timeout"))??;
        Ok(Instance {
            store,
            proxy: Proxy::P3(service),
            view: <ReqState as WasiHttpView>::http,
            expiration: Expiry {
                request_timeout: self.limits.request_timeout,
                post_return: POST_RESPONSE_GRACE.min(self.limits.request_timeout),
                idle: self.limits.idle_instance_timeout,
                timer: Box::pin(tokio::time::sleep(Duration::ZERO)),
                armed: None,
            },
            state: Worker {
                id: self.id.clone(),
                max_total: self.limits.max_instance_reuse_count.max(1),
                max_concurrent: self.limits.max_instance_concurrent_reuse_count.max(1),
                in_guest,
            },
        })
    }
}

/// A worker's admission policy and the per-request deadline.
pub(crate) struct Worker {
    id: Arc<str>,
    max_total: usize,
    max_concurrent: usize,
    /// Set while guest code runs or is suspended mid-run (the store's call hook).
    in_guest: Arc<AtomicBool>,
}

impl WorkerState for Worker {
    type StoreData = ReqState;
    /// The request's deadline.
    type RequestData = Instant;

    fn should_accept_request(&self, concurrent: usize, total: usize) -> ShouldAccept {
        if total >= self.max_total {
            return ShouldAccept::Never;
        }
        if concurrent >= self.max_concurrent {
            return ShouldAccept::No;
        }
        if self.in_guest.load(Relaxed) {
            return ShouldAccept::No;
        }
        ShouldAccept::Yes
    }

    fn on_request_start(
        &self,
        _store: StoreContextMut<'_, ReqState>,
        deadline: Instant,
        _task: GuestTaskId,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + Sync>> {
        // Busy from acceptance until the guest first gives the instance back: otherwise the
        // worker could count as available (and wait on the request queue) in the moment before
        // a guest that then computes for long has entered Wasm, and a request handed to it
        // would wait for that guest.
        self.in_guest.store(true, Relaxed);
        Box::pin(tokio::time::sleep_until(deadline.into()))
    }

    fn drop(&self, store: Store<ReqState>, result: wasmtime::Result<()>) {
        drop(store);
        match result {
            Ok(()) => {}
            // Wasmtime's name for a worker task dropped unfinished: the server shutting down.
            Err(e) if e.to_string() == "worker panicked" && !std::thread::panicking() => {}
            Err(e) => crate::log_line(&format!("{}: instance dropped: {e:?}\n", self.id)),
        }
    }
}

/// When a worker's instance is dropped: a request past its time, background work past the
/// grace after the last response, or an idle instance.
pub(crate) struct Expiry {
    request_timeout: Duration,
    post_return: Duration,
    idle: Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
    armed: Option<Instant>,
}

impl WorkerExpiration for Expiry {
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>, status: WorkerStatus, start: Instant) -> Poll<()> {
        let this = self.get_mut();
        let at = start
            + match status {
                WorkerStatus::Requests => this.request_timeout,
                WorkerStatus::PostReturn => this.post_return,
                WorkerStatus::Idle => this.idle,
            };
        if Instant::now() >= at {
            return Poll::Ready(());
        }
        if this.armed != Some(at) {
            this.timer.as_mut().reset(at.into());
            this.armed = Some(at);
        }
        this.timer.as_mut().poll(cx)
    }
}
