//! Per-request store data: WASI, wasi:http (with the outbound allow-list), spin host state.
use crate::clock::{Clock, WasiWallClock};
use crate::outbound::AllowedHosts;
use crate::spin_host::{HasSpinHost, SpinHostState};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{
    Error as HttpError, RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks,
    WasiHttpView,
};

pub(crate) const OUTBOUND_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
pub(crate) const OUTBOUND_FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(30);
pub(crate) const OUTBOUND_BETWEEN_BYTES_TIMEOUT: Duration = Duration::from_secs(30);

/// wasi:http hooks for one request: enforces the component's `allowed_outbound_hosts`.
pub(crate) struct OutboundHooks {
    pub component: Arc<str>,
    pub allowed: Arc<AllowedHosts>,
}

type IoFuture = Box<dyn Future<Output = Result<(), HttpError>> + Send>;

impl WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: IoFuture,
    ) -> Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), HttpError>> + Send>
    {
        _ = fut;
        if !self.allowed.allows_uri(request.uri()) {
            let mut line = format!(
                "{}: outbound request to {} denied: not in allowed_outbound_hosts {:?}\n",
                self.component,
                request.uri(),
                self.allowed.raw
            );
            if line.len() > 2000 {
                line.truncate(2000);
                line.push('\n');
            }
            crate::log_line(&line);
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        let o = options.unwrap_or_default();
        let options = RequestOptions {
            connect_timeout: Some(o.connect_timeout.unwrap_or(OUTBOUND_CONNECT_TIMEOUT)),
            first_byte_timeout: Some(o.first_byte_timeout.unwrap_or(OUTBOUND_FIRST_BYTE_TIMEOUT)),
            between_bytes_timeout: Some(
                o.between_bytes_timeout
                    .unwrap_or(OUTBOUND_BETWEEN_BYTES_TIMEOUT),
            ),
        };
        Box::new(async move {
            use http_body_util::BodyExt;
            let (res, io) =
                wasmtime_wasi_http::default_send_request(request, Some(options)).await?;
            Ok((res.map(BodyExt::boxed_unsync), Box::new(io) as IoFuture))
        })
    }
}

/// Per-instance memory bound: the linear memories of one store together may not exceed
/// `limit` bytes (like Spin's `StoreLimitsAsync` accounting). Growing past it traps.
pub(crate) struct MemoryLimiter {
    pub limit: usize,
    pub used: usize,
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let grown = self.used + desired.saturating_sub(current);
        if grown > self.limit {
            wasmtime::bail!(
                "instance memory limit exceeded: growing linear memory to {:.1} MiB, the limit is {:.1} MiB",
                grown as f64 / (1 << 20) as f64,
                self.limit as f64 / (1 << 20) as f64
            );
        }
        self.used = grown;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        _desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(true)
    }
}

/// The `T` of every per-request `Store<T>`.
pub struct ReqState {
    table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    pub(crate) hooks: OutboundHooks,
    spin: SpinHostState,
    pub(crate) limiter: MemoryLimiter,
}

impl ReqState {
    pub(crate) fn new(
        component: Arc<str>,
        allowed: Arc<AllowedHosts>,
        environment: &[(String, String)],
        clock: &Clock,
        spin: SpinHostState,
        max_memory: usize,
    ) -> Self {
        let mut b = WasiCtxBuilder::new();
        b.inherit_stdout()
            .inherit_stderr()
            .wall_clock(WasiWallClock(clock.clone()));
        for (k, v) in environment {
            b.env(k, v);
        }
        ReqState {
            table: ResourceTable::new(),
            wasi: b.build(),
            http: WasiHttpCtx::new(),
            hooks: OutboundHooks { component, allowed },
            spin,
            limiter: MemoryLimiter {
                limit: max_memory,
                used: 0,
            },
        }
    }
}

impl WasiView for ReqState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for ReqState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

impl HasSpinHost for ReqState {
    fn spin_host(&mut self) -> &mut SpinHostState {
        &mut self.spin
    }
}
