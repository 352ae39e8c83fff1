//! Typed stores: one module per aggregate owns its SQL and returns typed rows whose statuses
//! are the domain enums. Components call these instead of writing SQL; functions taking `tx`
//! run inside the caller's transaction.
pub mod accounts;
pub mod audit;
pub mod collections;
pub mod deadlines;
pub mod dashboard;
pub mod escalations;
pub mod ledger;
pub mod maintenance;
pub mod orders;
pub mod payment_methods;
pub mod payments;
pub mod services;
pub mod subscriptions;
pub mod support;
pub mod vat_invoices;
pub mod vehicles;
