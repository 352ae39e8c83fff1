//! Typed stores: one module per aggregate owns its SQL and returns typed rows whose statuses
//! are the domain enums. Components call these instead of writing SQL.
pub mod deadlines;
pub mod ledger;
pub mod payments;
pub mod services;
pub mod subscriptions;
