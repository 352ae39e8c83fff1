//! CaaS domain: pure business rules, no I/O. Natively unit-tested; also compiled into every
//! component (wasm32-wasip2). Randomness and time are inputs supplied by `caas-platform`.
pub mod account;
pub mod auth;
pub mod config;
pub mod credentials;
pub mod delivery;
pub mod expediente;
pub mod idempotency;
pub mod journey;
pub mod lang;
pub mod maintenance;
pub mod messages;
pub mod ids;
pub mod migrations;
pub mod money;
pub mod notify;
pub mod order;
pub mod password;
pub mod preferences;
pub mod payment;
pub mod payment_method;
pub mod problem;
pub mod reconciliation;
pub mod registration;
pub mod retry;
pub mod routing;
pub mod sale;
pub mod services;
pub mod settlement;
pub mod support;
pub mod vehicle;
pub mod vehicle_pricing;
pub mod webhook;
pub use wit::wire_compat as wire;
pub mod wit;

pub use problem::{FieldError, Problem};
pub use wit::{Channel, Job, Money, Notification};
