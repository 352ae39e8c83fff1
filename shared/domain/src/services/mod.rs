//! Phase 5 — operational use: the pure rules of the service lifecycle and billing.
//!
//! No I/O: every function takes the facts (times as unix ms, UTC calendar) and returns a
//! decision; components (`functions/*`) perform the calls and persist the results.
//!
//! * [`calendar`]   — civil-date helpers (days-from-civil), month arithmetic.
//! * [`catalog`]    — options, seed data, admin transforms, availability (maintenance gating).
//! * [`lifecycle`]  — service instance state machine, end times.
//! * [`ota`]        — idempotent command ids, retry/backoff, escalation plan.
//! * [`billing`]    — monthly periods, due periods, pro rata, dunning, settlement.
//! * [`withdrawal`] — cancellation, desistimiento and theft decisions.
//! * [`ledger`]     — money movements and the ledger invariants.
pub mod billing;
pub mod calendar;
pub mod catalog;
pub mod ledger;
pub mod lifecycle;
pub mod ota;
pub mod withdrawal;
