//! Typed stores: one module per aggregate owns its SQL and returns typed rows whose statuses are
//! domain enums. Functions taking `tx` run inside the caller's transaction.
pub mod accounts;
pub mod escalations;
pub mod orders;
pub mod vehicles;
