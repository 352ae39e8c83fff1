//! Cancellation, desistimiento (right of withdrawal) and theft decisions.
//!
//! Source: customer-journey.md "Service Acquisition Subflow" (CheckDesistimiento), "Journey
//! Variant: Subscription Services", "Journey Variant: Vehicle Theft"; architecture.md state
//! table (`ServiceActive → Refunded`); and the issue ("Desistimiento", "Theft"), which wins.
//!
//! # Rules
//! * **Long service** (duration over 14 days: every month-based temporary option — a calendar
//!   month is at least 28 days —, temporary options over 14 days, permanent options and
//!   subscriptions): a cancellation *within 14 days of purchase* is a withdrawal: full refund of
//!   everything collected for it, immediate deactivation, no further billing. The boundary is
//!   inclusive: at exactly 14 × 24 h after the purchase the customer is still within the window
//!   (the issue says "within 14 days"; the spec's `>= 14 days → denied` is the stricter reading
//!   and the issue wins; ties go to the customer). Later: no refund — a one-time service runs to
//!   its end (nothing changes); a subscription follows the cancellation rule (ends at the end of
//!   the current period, which is billed).
//! * **Short service** (temporary, 14 days or less): cancellable at any time while it runs,
//!   with a **full refund** and immediate deactivation. The issue leaves the amount "as the
//!   business specifies"; the spec's only statement is `ShortService → RefundGranted: Can cancel
//!   anytime` leading to the same `RefundProcessed: service deactivated, payment returned` node as
//!   a withdrawal, i.e. the payment is returned. We take that literal, customer-favourable
//!   reading rather than a pro-rata one: a pro-rata refund would leave a 14-day service worse
//!   off than a 30-day one cancelled on the same day (which gets everything back), contradicting
//!   the "liberal refund policy" the spec lists among the customer-favourable policies.
//! * **Not yet activated** (pending payment/activation): cancelling aborts it; nothing was
//!   delivered, so everything is returned (void if unsettled, refund if settled) and the queued
//!   activation is dropped.
//! * **Theft**: pending activations are cancelled (never charged); subscriptions are cancelled
//!   immediately with no further charges (the unfinished current month is not billed; completed
//!   months still are); delivered services are not refunded unless the desistimiento rule
//!   applies (in which case it is applied: full refund). Theft is an insurance matter otherwise.
//! * Services already ending (deactivating) or ended — including a temporary service whose end
//!   time has passed but which the expiry tick has not processed yet — cannot be cancelled.
use super::billing::{cancellation_effective_at, stop_billing_now};
use super::calendar::MS_PER_DAY;
use super::catalog::{Duration, OptionKind};
use super::lifecycle::{ServiceEvent, ServiceState, is_expired, service_end};
use crate::wit::Money;

/// Legal withdrawal window: 14 days from purchase.
pub const WITHDRAWAL_WINDOW_MS: i64 = 14 * MS_PER_DAY;
/// Services of at most this many days are "short".
pub const SHORT_SERVICE_MAX_DAYS: u32 = 14;

/// Length class of an option for the desistimiento rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceLength {
    /// Temporary, 14 days or less.
    Short,
    /// Anything longer (including permanent and subscriptions).
    Long,
}

pub fn service_length(kind: &OptionKind) -> ServiceLength {
    match kind {
        OptionKind::Temporary { duration: Duration::Days(n) } if *n <= SHORT_SERVICE_MAX_DAYS => ServiceLength::Short,
        _ => ServiceLength::Long,
    }
}

/// `now - purchased_at <= 14 days` (inclusive, see module docs). A clock before the purchase
/// counts as within.
pub fn within_withdrawal_window(purchased_at: i64, now: i64) -> bool {
    now.saturating_sub(purchased_at) <= WITHDRAWAL_WINDOW_MS
}

/// Facts about the service instance being cancelled.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceFacts<'a> {
    pub kind: OptionKind,
    pub state: ServiceState,
    pub purchased_at: i64,
    pub activated_at: Option<i64>,
    /// Net amount collected (or initiated) for this service so far: charges − refunds − voids.
    /// For a subscription, over all its period charges. What a full refund returns.
    pub paid: &'a Money,
}

/// Which rule decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancellationRule {
    /// Not activated yet: aborted, everything returned.
    NotActivatedYet,
    /// Long service within 14 days of purchase: withdrawal, full refund.
    WithdrawalFullRefund,
    /// Short service (≤ 14 days), any time while running: full refund.
    ShortServiceFullRefund,
    /// Subscription after the window: ends at the end of the current period, which is billed.
    SubscriptionEndOfPeriod,
    /// Subscription on theft after the window: ends now, no further charges.
    SubscriptionStoppedNow,
    /// One-time long service after the window: no refund, it runs to its end (nothing changes).
    NoRefundRunsToEnd,
    /// Already ending or ended (or cancellation already scheduled): nothing to do.
    NotCancellable,
}

impl CancellationRule {
    pub fn as_str(self) -> &'static str {
        match self {
            CancellationRule::NotActivatedYet => "not-activated-yet",
            CancellationRule::WithdrawalFullRefund => "withdrawal-full-refund",
            CancellationRule::ShortServiceFullRefund => "short-service-full-refund",
            CancellationRule::SubscriptionEndOfPeriod => "subscription-end-of-period",
            CancellationRule::SubscriptionStoppedNow => "subscription-stopped-now",
            CancellationRule::NoRefundRunsToEnd => "no-refund-runs-to-end",
            CancellationRule::NotCancellable => "not-cancellable",
        }
    }
}

/// The explicit outcome of a cancellation request or theft report.
#[derive(Debug, Clone, PartialEq)]
pub struct CancellationDecision {
    pub rule: CancellationRule,
    /// Amount to give back now (void what is unsettled, refund what is settled). Zero if none.
    pub refund: Money,
    /// Lifecycle event to apply (`None`: the instance does not change).
    pub event: Option<ServiceEvent>,
    /// Queue the deactivation OTA command now.
    pub deactivate_now: bool,
    /// Drop a queued, not yet applied activation command.
    pub drop_pending_activation: bool,
    /// No charge may be made after this decision except for completed periods before
    /// `billing_ends_at` (subscriptions).
    pub cancel_future_billing: bool,
    /// New billing end of a subscription (`None`: unchanged / not a subscription).
    pub billing_ends_at: Option<i64>,
}

impl CancellationDecision {
    fn nothing(rule: CancellationRule, currency: &str) -> CancellationDecision {
        CancellationDecision {
            rule,
            refund: zero(currency),
            event: None,
            deactivate_now: false,
            drop_pending_activation: false,
            cancel_future_billing: false,
            billing_ends_at: None,
        }
    }
}

fn zero(currency: &str) -> Money {
    Money { amount_minor: 0, currency: currency.to_string() }
}

fn full_refund(f: &ServiceFacts<'_>, rule: CancellationRule) -> CancellationDecision {
    let is_sub = f.kind == OptionKind::Subscription;
    CancellationDecision {
        rule,
        refund: Money { amount_minor: f.paid.amount_minor.max(0), currency: f.paid.currency.clone() },
        event: Some(ServiceEvent::Withdraw),
        deactivate_now: true,
        drop_pending_activation: false,
        cancel_future_billing: true,
        // Everything is refunded: nothing is billable at all (billing end = activation).
        billing_ends_at: if is_sub { f.activated_at.or(Some(f.purchased_at)) } else { None },
    }
}

fn abort(f: &ServiceFacts<'_>, now: i64) -> CancellationDecision {
    CancellationDecision {
        rule: CancellationRule::NotActivatedYet,
        refund: Money { amount_minor: f.paid.amount_minor.max(0), currency: f.paid.currency.clone() },
        event: Some(ServiceEvent::CancelBeforeActivation),
        deactivate_now: false,
        drop_pending_activation: true,
        cancel_future_billing: true,
        billing_ends_at: if f.kind == OptionKind::Subscription { Some(now) } else { None },
    }
}

/// Customer asks to cancel a service (see the module docs for the rules).
pub fn decide_cancellation(f: &ServiceFacts<'_>, now: i64) -> CancellationDecision {
    use ServiceState as S;
    match f.state {
        S::PendingPayment | S::PendingActivation => return abort(f, now),
        S::Active | S::CancellationScheduled => {}
        _ => return CancellationDecision::nothing(CancellationRule::NotCancellable, &f.paid.currency),
    }
    // A temporary service whose end time has passed has run its course (the expiry tick just
    // has not processed it yet): nothing left to cancel or refund.
    if let Some(activated) = f.activated_at
        && is_expired(service_end(&f.kind, activated), now)
    {
        return CancellationDecision::nothing(CancellationRule::NotCancellable, &f.paid.currency);
    }
    match service_length(&f.kind) {
        ServiceLength::Short => full_refund(f, CancellationRule::ShortServiceFullRefund),
        ServiceLength::Long if within_withdrawal_window(f.purchased_at, now) => {
            full_refund(f, CancellationRule::WithdrawalFullRefund)
        }
        ServiceLength::Long => match (f.kind, f.state) {
            (OptionKind::Subscription, S::Active) => CancellationDecision {
                rule: CancellationRule::SubscriptionEndOfPeriod,
                refund: zero(&f.paid.currency),
                event: Some(ServiceEvent::CancelAtPeriodEnd),
                deactivate_now: false,
                drop_pending_activation: false,
                cancel_future_billing: true,
                billing_ends_at: Some(cancellation_effective_at(f.activated_at, now)),
            },
            (OptionKind::Subscription, _) => {
                CancellationDecision::nothing(CancellationRule::NotCancellable, &f.paid.currency)
            }
            _ => CancellationDecision::nothing(CancellationRule::NoRefundRunsToEnd, &f.paid.currency),
        },
    }
}

/// Customer reports the vehicle stolen: the decision for one of its service instances.
pub fn decide_theft(f: &ServiceFacts<'_>, now: i64) -> CancellationDecision {
    let d = decide_cancellation(f, now);
    match d.rule {
        // Subscriptions stop now: no further charges (the current month is not billed).
        CancellationRule::SubscriptionEndOfPeriod | CancellationRule::NotCancellable
            if f.kind == OptionKind::Subscription && f.state.is_live() =>
        {
            CancellationDecision {
                rule: CancellationRule::SubscriptionStoppedNow,
                refund: zero(&f.paid.currency),
                event: Some(ServiceEvent::CancelNow),
                deactivate_now: true,
                drop_pending_activation: false,
                cancel_future_billing: true,
                billing_ends_at: Some(stop_billing_now(f.activated_at.unwrap_or(now), now)),
            }
        }
        _ => d,
    }
}

#[cfg(test)]
mod tests {
    use super::super::calendar::midnight_ms;
    use super::*;
    use CancellationRule as R;
    use ServiceState as S;

    fn eur(n: i64) -> Money {
        Money { amount_minor: n, currency: "EUR".into() }
    }
    const DAY: i64 = MS_PER_DAY;

    fn facts(kind: OptionKind, state: S, purchased_at: i64, paid: &Money) -> ServiceFacts<'_> {
        ServiceFacts { kind, state, purchased_at, activated_at: Some(purchased_at + 60_000), paid }
    }

    const T0: i64 = 1_795_000_000_000;
    fn temp_days(n: u32) -> OptionKind {
        OptionKind::Temporary { duration: Duration::Days(n) }
    }

    #[test]
    fn length_classes() {
        assert_eq!(service_length(&temp_days(7)), ServiceLength::Short);
        assert_eq!(service_length(&temp_days(14)), ServiceLength::Short);
        assert_eq!(service_length(&temp_days(15)), ServiceLength::Long);
        assert_eq!(service_length(&OptionKind::Temporary { duration: Duration::Months(1) }), ServiceLength::Long);
        assert_eq!(service_length(&OptionKind::Permanent), ServiceLength::Long);
        assert_eq!(service_length(&OptionKind::Subscription), ServiceLength::Long);
    }

    #[test]
    fn window_boundary_is_inclusive() {
        assert!(within_withdrawal_window(T0, T0));
        assert!(within_withdrawal_window(T0, T0 + 14 * DAY - 1));
        assert!(within_withdrawal_window(T0, T0 + 14 * DAY));
        assert!(!within_withdrawal_window(T0, T0 + 14 * DAY + 1));
        assert!(within_withdrawal_window(T0, T0 - 5));
        assert!(!within_withdrawal_window(i64::MIN, i64::MAX));
    }

    #[test]
    fn cancellation_table() {
        let paid = eur(4900);
        let month = OptionKind::Temporary { duration: Duration::Months(1) };
        // (kind, state, now offset, rule, refund, event, deactivate)
        type Row = (OptionKind, S, i64, R, i64, Option<ServiceEvent>, bool);
        let rows: Vec<Row> = vec![
            // Long one-time: within 14 days (inclusive) → full refund.
            (month, S::Active, DAY, R::WithdrawalFullRefund, 4900, Some(ServiceEvent::Withdraw), true),
            (month, S::Active, 14 * DAY, R::WithdrawalFullRefund, 4900, Some(ServiceEvent::Withdraw), true),
            (month, S::Active, 14 * DAY + 1, R::NoRefundRunsToEnd, 0, None, false),
            (OptionKind::Permanent, S::Active, 13 * DAY, R::WithdrawalFullRefund, 4900, Some(ServiceEvent::Withdraw), true),
            (OptionKind::Permanent, S::Active, 400 * DAY, R::NoRefundRunsToEnd, 0, None, false),
            (temp_days(15), S::Active, 15 * DAY - 1, R::NoRefundRunsToEnd, 0, None, false),
            // Short: any time while running (even past the 14-day window), full refund.
            (temp_days(14), S::Active, 14 * DAY + 30_000, R::ShortServiceFullRefund, 4900, Some(ServiceEvent::Withdraw), true),
            (temp_days(7), S::Active, DAY, R::ShortServiceFullRefund, 4900, Some(ServiceEvent::Withdraw), true),
            // Activated 1 min after purchase: last refundable instant is 1 ms before the end.
            (temp_days(7), S::Active, 7 * DAY + 60_000 - 1, R::ShortServiceFullRefund, 4900, Some(ServiceEvent::Withdraw), true),
            (temp_days(7), S::Active, 7 * DAY + 60_000, R::NotCancellable, 0, None, false),
            (month, S::Active, 40 * DAY, R::NotCancellable, 0, None, false),
            // Pending: aborted, everything returned, no deactivation needed.
            (OptionKind::Permanent, S::PendingActivation, 20 * DAY, R::NotActivatedYet, 4900, Some(ServiceEvent::CancelBeforeActivation), false),
            (month, S::PendingPayment, 0, R::NotActivatedYet, 4900, Some(ServiceEvent::CancelBeforeActivation), false),
            // Ended / ending.
            (month, S::Expired, DAY, R::NotCancellable, 0, None, false),
            (temp_days(7), S::Deactivating(super::super::lifecycle::Ending::Expired), DAY, R::NotCancellable, 0, None, false),
            (OptionKind::Permanent, S::Failed, DAY, R::NotCancellable, 0, None, false),
            (OptionKind::Permanent, S::Withdrawn, DAY, R::NotCancellable, 0, None, false),
            // Subscriptions.
            (OptionKind::Subscription, S::Active, 10 * DAY, R::WithdrawalFullRefund, 4900, Some(ServiceEvent::Withdraw), true),
            (OptionKind::Subscription, S::Active, 30 * DAY, R::SubscriptionEndOfPeriod, 0, Some(ServiceEvent::CancelAtPeriodEnd), false),
            (OptionKind::Subscription, S::CancellationScheduled, 30 * DAY, R::NotCancellable, 0, None, false),
        ];
        for (i, (kind, state, off, rule, refund, event, deact)) in rows.into_iter().enumerate() {
            let f = facts(kind, state, T0, &paid);
            let d = decide_cancellation(&f, T0 + off);
            assert_eq!((d.rule, d.refund.amount_minor, d.event, d.deactivate_now), (rule, refund, event, deact), "row {i}");
            assert_eq!(d.refund.currency, "EUR");
            // Refunds never exceed what was paid.
            assert!(d.refund.amount_minor <= paid.amount_minor);
            // The event is legal from the state.
            if let Some(ev) = d.event {
                assert!(state.transition(ev).is_ok(), "row {i}");
            }
        }
    }

    #[test]
    fn subscription_billing_ends() {
        let paid = eur(999);
        let purchased = midnight_ms(2026, 10, 3);
        let mut f = facts(OptionKind::Subscription, S::Active, purchased, &paid);
        // After the window: ends at the end of the current period.
        let d = decide_cancellation(&f, midnight_ms(2026, 11, 21));
        assert_eq!(d.billing_ends_at, Some(midnight_ms(2026, 12, 1)));
        assert!(d.cancel_future_billing);
        // Within the window: nothing billable at all.
        let d = decide_cancellation(&f, purchased + DAY);
        assert_eq!(d.billing_ends_at, f.activated_at);
        // Pending subscription: ends now.
        f.state = S::PendingActivation;
        let d = decide_cancellation(&f, purchased + 5);
        assert_eq!(d.billing_ends_at, Some(purchased + 5));
        assert!(d.drop_pending_activation);
        // Negative paid (bogus) never yields a negative refund.
        let neg = eur(-3);
        let f = facts(temp_days(7), S::Active, purchased, &neg);
        assert_eq!(decide_cancellation(&f, purchased).refund.amount_minor, 0);
    }

    #[test]
    fn theft_table() {
        let paid = eur(999);
        let purchased = midnight_ms(2026, 9, 10);
        let now = midnight_ms(2026, 11, 21);
        // Subscription after the window: stopped now, current month not billed, deactivated.
        for state in [S::Active, S::CancellationScheduled] {
            let f = facts(OptionKind::Subscription, state, purchased, &paid);
            let d = decide_theft(&f, now);
            assert_eq!(d.rule, R::SubscriptionStoppedNow);
            assert_eq!(d.refund.amount_minor, 0);
            assert_eq!(d.event, Some(ServiceEvent::CancelNow));
            assert!(d.deactivate_now && d.cancel_future_billing);
            assert_eq!(d.billing_ends_at, Some(midnight_ms(2026, 11, 1)));
            assert!(state.transition(ServiceEvent::CancelNow).is_ok());
        }
        // Subscription within the window: desistimiento applies.
        let f = facts(OptionKind::Subscription, S::Active, now - DAY, &paid);
        assert_eq!(decide_theft(&f, now).rule, R::WithdrawalFullRefund);
        // Pending: cancelled, never charged.
        let f = facts(OptionKind::Permanent, S::PendingActivation, now - DAY, &paid);
        let d = decide_theft(&f, now);
        assert_eq!((d.rule, d.refund.amount_minor, d.drop_pending_activation), (R::NotActivatedYet, 999, true));
        // Delivered one-time after the window: not refunded, not changed.
        let f = facts(OptionKind::Permanent, S::Active, purchased, &paid);
        let d = decide_theft(&f, now);
        assert_eq!((d.rule, d.refund.amount_minor, d.event), (R::NoRefundRunsToEnd, 0, None));
        // Delivered one-time within the window: desistimiento applies.
        let f = facts(OptionKind::Permanent, S::Active, now - 3 * DAY, &paid);
        assert_eq!(decide_theft(&f, now).rule, R::WithdrawalFullRefund);
        // Short service: refundable any time (desistimiento rule for short services).
        // (purchased 20 days ago, activation delayed: activated 2 days ago.)
        let f = ServiceFacts { activated_at: Some(now - 2 * DAY), ..facts(temp_days(7), S::Active, now - 20 * DAY, &paid) };
        assert_eq!(decide_theft(&f, now).rule, R::ShortServiceFullRefund);
        // Once run out, nothing to refund.
        let f = facts(temp_days(7), S::Active, now - 20 * DAY, &paid);
        assert_eq!(decide_theft(&f, now).rule, R::NotCancellable);
        // Ended subscription: nothing.
        let f = facts(OptionKind::Subscription, S::Cancelled, purchased, &paid);
        assert_eq!(decide_theft(&f, now).rule, R::NotCancellable);
    }
}
