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
pub mod status;
pub mod withdrawal;

/// End-to-end scenarios over the pure rules, with the ledger invariant checked at the end of
/// each (issue: "checked over every later test").
#[cfg(test)]
mod scenarios {
    use super::billing::{self, Period, SubscriptionTerms};
    use super::calendar::{MS_PER_DAY, midnight_ms};
    use super::catalog::{self, AvailabilityContext, MaintenanceStatus};
    use super::ledger::{EntryKind, LedgerEntry, check_invariants, period_reference};
    use super::lifecycle::{ServiceEvent, ServiceState};
    use super::ota::{self, AttemptDecision, EscalationStep, FailedAttempt, OtaAction, PaymentStatus};
    use super::withdrawal::{self, CancellationRule, ServiceFacts};
    use crate::retry::RetryPolicy;
    use crate::wit::Money;

    fn entry(kind: EntryKind, key: &str, reference: &str, amount: &Money) -> LedgerEntry {
        LedgerEntry { kind, idempotency_key: key.into(), reference: reference.into(), amount: amount.clone() }
    }
    fn ctx(m: MaintenanceStatus) -> AvailabilityContext<'static> {
        AvailabilityContext { owned_by_customer: true, vehicle_operational: true, maintenance: m, existing: &[] }
    }

    #[test]
    fn ota_failure_is_never_charged() {
        let cat = catalog::seed_catalog();
        let opt = cat.get("highway-autopilot").unwrap();
        let plan = catalog::plan_purchase(opt, &ctx(MaintenanceStatus::Current)).unwrap();
        let mut state = plan.initial_state.transition(ServiceEvent::PaymentInitiated).unwrap();
        let amount = plan.upfront_charge.clone().unwrap();
        let mut ledger = vec![entry(EntryKind::Charge, "pay_svc_1", "svc_1", &amount)];
        let policy = RetryPolicy { base_ms: 1_000, cap_ms: 60_000, max_attempts: 5 };
        let cid = ota::command_id("svc_1", OtaAction::Activate, 0);
        let mut now = 1_795_000_000_000;
        let mut attempts = 0;
        let plan = loop {
            attempts += 1;
            let f = FailedAttempt {
                service_id: "svc_1",
                vin: "VIN1",
                feature: &opt.feature,
                action: OtaAction::Activate,
                command_id: &cid,
                attempts,
                last_error: "503",
            };
            match ota::after_failure(&policy, &f, PaymentStatus::Pending, now) {
                AttemptDecision::RetryAt { at, .. } => now = at,
                AttemptDecision::GiveUp(plan) => break plan,
            }
        };
        assert_eq!(attempts, 5);
        assert!(plan.steps.contains(&EscalationStep::VoidPayment));
        state = state.transition(plan.event).unwrap();
        assert_eq!(state, ServiceState::Failed);
        ledger.push(entry(EntryKind::Void, "void_svc_1", "svc_1", &amount));
        check_invariants(&ledger, &|_| state.was_delivered()).unwrap();
        // Without the void the invariant catches it.
        assert!(check_invariants(&ledger[..1], &|_| state.was_delivered()).is_err());
    }

    #[test]
    fn repriced_subscription_billed_monthly_then_cancelled() {
        let cat = catalog::seed_catalog();
        let opt = cat.get("entertainment-plus").unwrap().clone();
        let plan = catalog::plan_purchase(&opt, &ctx(MaintenanceStatus::Unknown)).unwrap();
        assert_eq!(plan.upfront_charge, None);
        // The catalog is repriced after the sale: billing uses the snapshot.
        let cat2 = catalog::reprice(&cat, &opt.code, Money { amount_minor: 1999, currency: "EUR".into() }).unwrap();
        assert_ne!(cat2.get(&opt.code).unwrap().price, plan.snapshot.price);

        let purchased = midnight_ms(2026, 11, 21) + 9 * 3_600_000;
        let activated = purchased + 120_000;
        let mut state = plan.initial_state.transition(ServiceEvent::ActivationSucceeded).unwrap();
        let mut billing_ends_at = None;
        let mut last_billed: Option<Period> = None;
        let mut ledger: Vec<LedgerEntry> = Vec::new();
        // Ticks: late, doubled, and a cancellation request on Feb 10 (after the window).
        let day = |y, m, d| midnight_ms(y, m, d);
        let events = [
            day(2026, 11, 30),
            day(2026, 12, 1),
            day(2026, 12, 1) + 5,
            day(2027, 1, 3),
            day(2027, 2, 10),
            day(2027, 2, 11),
            day(2027, 3, 1),
            day(2027, 3, 1),
            day(2027, 6, 1),
        ];
        for now in events {
            if now == day(2027, 2, 10) {
                let paid = Money { amount_minor: 0, currency: "EUR".into() };
                let f = ServiceFacts {
                    kind: plan.snapshot.kind,
                    state,
                    purchased_at: purchased,
                    activated_at: Some(activated),
                    paid: &paid,
                };
                let d = withdrawal::decide_cancellation(&f, now);
                assert_eq!(d.rule, CancellationRule::SubscriptionEndOfPeriod);
                state = state.transition(d.event.unwrap()).unwrap();
                billing_ends_at = d.billing_ends_at;
                continue;
            }
            let terms = SubscriptionTerms {
                subscription_id: "svc_s",
                price: &plan.snapshot.price,
                activated_at: activated,
                billing_ends_at,
                last_billed,
            };
            for ch in billing::charges_due(&terms, now) {
                let reference = period_reference("svc_s", ch.period);
                // The store's unique key makes a replay a no-op.
                if !ledger.iter().any(|e| e.idempotency_key == ch.idempotency_key) {
                    ledger.push(entry(EntryKind::Charge, &ch.idempotency_key, &reference, &ch.amount));
                }
                last_billed = Some(ch.period);
            }
            if let Some(end) = billing_ends_at
                && now >= end
                && state == ServiceState::CancellationScheduled
            {
                state = state.transition(ServiceEvent::CancellationEffective).unwrap();
                state = state.transition(ServiceEvent::DeactivationCompleted).unwrap();
            }
        }
        assert_eq!(state, ServiceState::Cancelled);
        let amounts: Vec<(String, i64)> = ledger.iter().map(|e| (e.reference.clone(), e.amount.amount_minor)).collect();
        // Nov 21 09:02 → Dec 1: 9 d 14 h 58 min = 13,858 min of 43,200 at 9.99 → 320.47 → 320.
        let nov_ms = day(2026, 12, 1) - activated;
        assert_eq!(nov_ms, 13_858 * 60_000);
        let nov = (999i128 * nov_ms as i128 / (30 * MS_PER_DAY) as i128) as i64;
        assert_eq!(nov, 320);
        assert_eq!(
            amounts,
            [("svc_s/2026-11", nov), ("svc_s/2026-12", 999), ("svc_s/2027-01", 999), ("svc_s/2027-02", 999)]
                .map(|(r, a)| (r.to_string(), a))
        );
        check_invariants(&ledger, &|_| true).unwrap();
    }

    #[test]
    fn withdrawal_within_window_refunds_everything_charged() {
        let price = Money { amount_minor: 599, currency: "EUR".into() };
        let purchased = midnight_ms(2026, 11, 25);
        let activated = purchased + 1_000;
        // Dec 1 bills the partial November; withdrawal on Dec 5 (day 10) refunds it all.
        let terms = SubscriptionTerms {
            subscription_id: "svc_p",
            price: &price,
            activated_at: activated,
            billing_ends_at: None,
            last_billed: None,
        };
        let charges = billing::charges_due(&terms, midnight_ms(2026, 12, 1));
        assert_eq!(charges.len(), 1);
        let mut ledger: Vec<LedgerEntry> = charges
            .iter()
            .map(|c| entry(EntryKind::Charge, &c.idempotency_key, &period_reference("svc_p", c.period), &c.amount))
            .collect();
        let paid = charges[0].amount.clone();
        let f = ServiceFacts {
            kind: catalog::OptionKind::Subscription,
            state: ServiceState::Active,
            purchased_at: purchased,
            activated_at: Some(activated),
            paid: &paid,
        };
        let d = withdrawal::decide_cancellation(&f, midnight_ms(2026, 12, 5));
        assert_eq!(d.rule, CancellationRule::WithdrawalFullRefund);
        assert_eq!(d.refund, paid);
        ledger.push(entry(EntryKind::Refund, "ref_svc_p_1", &period_reference("svc_p", charges[0].period), &d.refund));
        // Nothing more is ever billed.
        let after = SubscriptionTerms { billing_ends_at: d.billing_ends_at, last_billed: Some(charges[0].period), ..terms };
        assert!(billing::charges_due(&after, midnight_ms(2027, 6, 1)).is_empty());
        check_invariants(&ledger, &|_| true).unwrap();
        let net: i64 = super::ledger::net_by_reference(&ledger).values().sum();
        assert_eq!(net, 0);
    }
}
