//! Typed stores: one module per aggregate owns its SQL and returns typed rows.
pub mod ledger;
pub mod payments;
