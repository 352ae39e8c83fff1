//! caas-platform: the one adapter layer over spin-sdk 7 (WASI 0.3). Components stay thin:
//! parse → decide (`caas_domain`) → persist/emit (here) → respond (here).
pub mod auth;
pub mod billing;
pub mod breaker;
pub mod clock;
pub mod config;
pub mod db;
pub mod http_out;
pub mod idempotency;
pub mod journey;
pub mod kv;
pub mod money;
pub mod notify;
pub mod paging;
pub mod queue;
pub mod rand;
pub mod req;
pub mod resp;
pub mod services;
pub mod store;
pub mod vars;
pub mod webhook;

pub use caas_domain::{FieldError, Problem};
pub use futures::future::join_all;
pub use resp::{Resp, guard};
