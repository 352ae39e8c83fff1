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
//! * **Repeat withdrawal** (issue 9: refunds cannot be cycled for free use). The full refund
//!   of a *delivered* service (the two full-refund rules above) is granted **once per customer,
//!   vehicle and feature within [`REPEAT_WITHDRAWAL_WINDOW_DAYS`] (365) days**: when the same
//!   customer already got a full refund for the same feature (whatever option code it was sold
//!   under) on the same vehicle in the 365 days before this cancellation, the cancellation is
//!   still accepted (deactivation now, no further billing) but the days used are kept:
//!   - one-time options: `kept = paid × used_days ÷ term_days` (integer math, rounded DOWN — in the
//!     customer's favour), refund = `paid − kept`. `used_days` counts every started day since
//!     activation (at least 1, at most the term); `term_days` is the option's own length
//!     (activation to end, rounded up) for temporary options and [`PERMANENT_TERM_DAYS`] (365) for
//!     permanent ones (a lifetime feature is priced as a year of use for this purpose);
//!   - subscriptions: nothing already collected is returned (it paid for time used) and billing
//!     ends now, so the part of the current month that was used is billed pro rata at month end
//!     like any partial month.
//!   This is the proportionate payment for services used before withdrawal that EU consumer law
//!   allows (Directive 2011/83/EU art. 14(3)); the first withdrawal in a year stays free.
//!   A service cancelled before it was delivered ([`CancellationRule::NotActivatedYet`]) is always
//!   returned in full and does not count.
//! * Services already ending (deactivating) or ended — including a temporary service whose end
//!   time has passed but which the expiry tick has not processed yet — cannot be cancelled.
use super::billing::{cancellation_effective_at, stop_billing_now};
use super::calendar::MS_PER_DAY;
use super::catalog::{Duration, OptionKind};
use super::lifecycle::{ServiceEvent, ServiceState, is_expired, service_end};
use crate::wit::Money;

/// Legal withdrawal window: 14 days from purchase.
pub const WITHDRAWAL_WINDOW_MS: i64 = 14 * MS_PER_DAY;
/// The full-refund withdrawal is granted once per customer, vehicle and feature in this many days.
pub const REPEAT_WITHDRAWAL_WINDOW_DAYS: i64 = 365;
/// Term over which a permanent option's price is pro-rated on a repeat withdrawal.
pub const PERMANENT_TERM_DAYS: i64 = 365;
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
    /// A full refund for the same feature on the same vehicle was already granted within the
    /// repeat window: cancelled now, the days used are kept (see the module docs).
    RepeatWithdrawalProRata,
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
            CancellationRule::RepeatWithdrawalProRata => "repeat-withdrawal-pro-rata",
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
    /// How a repeat withdrawal was pro-rated (only for [`CancellationRule::RepeatWithdrawalProRata`]).
    pub pro_rata: Option<ProRata>,
}

/// The earlier withdrawals that matter for the repeat rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WithdrawalHistory {
    /// When the same customer last got a full refund (withdrawal or short-service rule) for the
    /// same feature on the same vehicle, if ever.
    pub last_full_refund_at: Option<i64>,
}

impl WithdrawalHistory {
    pub const NONE: WithdrawalHistory = WithdrawalHistory { last_full_refund_at: None };
    /// A full refund was granted within [`REPEAT_WITHDRAWAL_WINDOW_DAYS`] before `now`
    /// (inclusive; an earlier refund dated after `now` — clock skew — counts too).
    pub fn is_repeat(&self, now: i64) -> bool {
        self.last_full_refund_at.is_some_and(|t| now.saturating_sub(t) <= REPEAT_WITHDRAWAL_WINDOW_DAYS * MS_PER_DAY)
    }
}

/// The arithmetic of a pro-rated repeat withdrawal.
#[derive(Debug, Clone, PartialEq)]
pub struct ProRata {
    /// Started days of use since activation (≥ 1, ≤ `term_days`). 0 for subscriptions.
    pub used_days: i64,
    /// Days the price covers (0 for subscriptions: the used time is billed by the month).
    pub term_days: i64,
    /// What the customer keeps paying for the days used.
    pub kept: Money,
}

/// Pro-rata split of `paid` for a one-time option used from `activated_at` until `now`.
/// `kept = paid × used_days ÷ term_days` rounded down; never more than `paid`, never negative.
pub fn pro_rata(kind: &OptionKind, paid: &Money, activated_at: i64, now: i64) -> ProRata {
    let paid_amt = paid.amount_minor.max(0);
    let term_days = match kind {
        OptionKind::Subscription => {
            return ProRata { used_days: 0, term_days: 0, kept: Money { amount_minor: paid_amt, currency: paid.currency.clone() } };
        }
        OptionKind::Permanent => PERMANENT_TERM_DAYS,
        OptionKind::Temporary { .. } => {
            let end = service_end(kind, activated_at).unwrap_or(activated_at + PERMANENT_TERM_DAYS * MS_PER_DAY);
            ceil_div(end.saturating_sub(activated_at), MS_PER_DAY).max(1)
        }
    };
    let used_days = ceil_div(now.saturating_sub(activated_at).max(0), MS_PER_DAY).clamp(1, term_days);
    let kept = ((paid_amt as i128 * used_days as i128) / term_days as i128) as i64;
    ProRata { used_days, term_days, kept: Money { amount_minor: kept.min(paid_amt), currency: paid.currency.clone() } }
}

fn ceil_div(a: i64, b: i64) -> i64 {
    (a + b - 1).div_euclid(b)
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
            pro_rata: None,
        }
    }

    /// Customer-facing explanation of the decision (the refund and why), for the cancel response
    /// and the notification.
    pub fn explanation(&self) -> String {
        let amount = money_text(&self.refund);
        match self.rule {
            CancellationRule::NotActivatedYet => format!("Cancelled before it was delivered: everything paid for it is returned ({amount})."),
            CancellationRule::WithdrawalFullRefund => {
                format!("Cancelled within the 14-day withdrawal period: everything paid for it is returned ({amount}).")
            }
            CancellationRule::ShortServiceFullRefund => {
                format!("A service of 14 days or less can be cancelled at any time while it runs: everything paid for it is returned ({amount}).")
            }
            CancellationRule::RepeatWithdrawalProRata => match &self.pro_rata {
                Some(p) if p.term_days > 0 => format!(
                    "You already withdrew from this feature on this vehicle with a full refund in the last {REPEAT_WITHDRAWAL_WINDOW_DAYS} days, \
                     so this time the {} day(s) used of {} are kept ({}) and the rest is returned ({amount}).",
                    p.used_days,
                    p.term_days,
                    money_text(&p.kept)
                ),
                _ => format!(
                    "You already withdrew from this feature on this vehicle with a full refund in the last {REPEAT_WITHDRAWAL_WINDOW_DAYS} days, \
                     so this time the subscription ends now and the time used is billed pro rata; nothing already paid is returned ({amount})."
                ),
            },
            CancellationRule::SubscriptionEndOfPeriod => {
                "The subscription ends at the end of the current month, which is billed as usual; no refund.".to_string()
            }
            CancellationRule::SubscriptionStoppedNow => "The subscription stops now; the current month is not billed; no refund.".to_string(),
            CancellationRule::NoRefundRunsToEnd => {
                "The 14-day withdrawal period is over: no refund; the service stays active until it ends.".to_string()
            }
            CancellationRule::NotCancellable => "The service has already ended or is ending: nothing to cancel.".to_string(),
        }
    }
}

/// `"12.34 EUR"`.
pub fn money_text(m: &Money) -> String {
    m.display()
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
        pro_rata: None,
    }
}

/// Repeat withdrawal: deactivated now, the days used kept (see the module docs).
fn repeat_pro_rata(f: &ServiceFacts<'_>, now: i64) -> CancellationDecision {
    let is_sub = f.kind == OptionKind::Subscription;
    let activated = f.activated_at.unwrap_or(f.purchased_at);
    let p = pro_rata(&f.kind, f.paid, activated, now);
    let refund = if is_sub { 0 } else { f.paid.amount_minor.max(0) - p.kept.amount_minor };
    CancellationDecision {
        rule: CancellationRule::RepeatWithdrawalProRata,
        refund: Money { amount_minor: refund.max(0), currency: f.paid.currency.clone() },
        event: Some(ServiceEvent::Withdraw),
        deactivate_now: true,
        drop_pending_activation: false,
        cancel_future_billing: true,
        // The time used is billable up to now (the partial month is billed pro rata).
        billing_ends_at: if is_sub { Some(now.max(activated)) } else { None },
        pro_rata: Some(p),
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
        pro_rata: None,
    }
}

/// Customer asks to cancel a service, knowing no earlier withdrawal (see [`decide_cancellation_with`]).
pub fn decide_cancellation(f: &ServiceFacts<'_>, now: i64) -> CancellationDecision {
    decide_cancellation_with(f, &WithdrawalHistory::NONE, now)
}

/// Customer asks to cancel a service (see the module docs for the rules): a full refund of a
/// delivered service becomes [`CancellationRule::RepeatWithdrawalProRata`] when `history` shows
/// a full refund for the same feature within the repeat window.
pub fn decide_cancellation_with(f: &ServiceFacts<'_>, history: &WithdrawalHistory, now: i64) -> CancellationDecision {
    let d = decide_first(f, now);
    match d.rule {
        CancellationRule::WithdrawalFullRefund | CancellationRule::ShortServiceFullRefund if history.is_repeat(now) => {
            repeat_pro_rata(f, now)
        }
        _ => d,
    }
}

fn decide_first(f: &ServiceFacts<'_>, now: i64) -> CancellationDecision {
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
                pro_rata: None,
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
    decide_theft_with(f, &WithdrawalHistory::NONE, now)
}

/// [`decide_theft`] with the customer's withdrawal history (the repeat rule applies as for a
/// cancellation).
pub fn decide_theft_with(f: &ServiceFacts<'_>, history: &WithdrawalHistory, now: i64) -> CancellationDecision {
    let d = decide_cancellation_with(f, history, now);
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
                pro_rata: None,
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

    #[test]
    fn repeat_withdrawal_is_pro_rated() {
        let paid = eur(4900);
        let month = OptionKind::Temporary { duration: Duration::Months(1) };
        let purchased = midnight_ms(2026, 11, 2);
        let f = facts(month, S::Active, purchased, &paid); // activated 1 min after purchase
        let now = purchased + 3 * DAY + 5 * 60_000; // 3 days and 4 minutes of use → 4 started days
        // First withdrawal: full refund.
        let d = decide_cancellation_with(&f, &WithdrawalHistory::NONE, now);
        assert_eq!((d.rule, d.refund.amount_minor, d.pro_rata.clone()), (R::WithdrawalFullRefund, 4900, None));
        // An earlier full refund 20 days ago: pro rata. November 2 → December 2 is 30 days.
        let h = WithdrawalHistory { last_full_refund_at: Some(now - 20 * DAY) };
        let d = decide_cancellation_with(&f, &h, now);
        assert_eq!(d.rule, R::RepeatWithdrawalProRata);
        let p = d.pro_rata.clone().unwrap();
        assert_eq!((p.used_days, p.term_days, p.kept.amount_minor), (4, 30, 4900 * 4 / 30));
        assert_eq!(d.refund.amount_minor, 4900 - 653);
        assert_eq!((d.event, d.deactivate_now, d.billing_ends_at), (Some(ServiceEvent::Withdraw), true, None));
        assert!(d.explanation().contains("4 day(s) used of 30"), "{}", d.explanation());
        assert!(d.explanation().contains("42.47 EUR"), "{}", d.explanation());
        // The window is 365 days, inclusive; older history does not count.
        let h = WithdrawalHistory { last_full_refund_at: Some(now - 365 * DAY) };
        assert_eq!(decide_cancellation_with(&f, &h, now).rule, R::RepeatWithdrawalProRata);
        let h = WithdrawalHistory { last_full_refund_at: Some(now - 365 * DAY - 1) };
        assert_eq!(decide_cancellation_with(&f, &h, now).rule, R::WithdrawalFullRefund);
        let h = WithdrawalHistory { last_full_refund_at: Some(now - 10 * DAY) };
        // Short service: pro rata over its 7 days (activated 1 min after purchase, 1 ms later
        // counts as the first started day).
        let (p1900, p36500, p999) = (eur(1900), eur(36500), eur(999));
        let f7 = facts(temp_days(7), S::Active, purchased, &p1900);
        let d = decide_cancellation_with(&f7, &h, purchased + 60_001);
        assert_eq!((d.rule, d.refund.amount_minor), (R::RepeatWithdrawalProRata, 1900 - 1900 / 7));
        let d = decide_cancellation_with(&f7, &h, purchased + 7 * DAY);
        assert_eq!((d.rule, d.refund.amount_minor), (R::RepeatWithdrawalProRata, 0));
        // Permanent: a year is the term.
        let fp = facts(OptionKind::Permanent, S::Active, purchased, &p36500);
        let d = decide_cancellation_with(&fp, &h, purchased + 10 * DAY);
        assert_eq!((d.refund.amount_minor, d.pro_rata.unwrap().kept.amount_minor), (36500 - 1000, 1000));
        // Subscription: nothing collected is returned, billing ends now (used time billed).
        let fs = facts(OptionKind::Subscription, S::Active, purchased, &p999);
        let d = decide_cancellation_with(&fs, &h, purchased + 5 * DAY);
        assert_eq!((d.rule, d.refund.amount_minor, d.billing_ends_at), (R::RepeatWithdrawalProRata, 0, Some(purchased + 5 * DAY)));
        assert!(d.deactivate_now && d.cancel_future_billing);
        // Never delivered: always everything back, history or not.
        let fpend = facts(OptionKind::Permanent, S::PendingActivation, purchased, &paid);
        assert_eq!(decide_cancellation_with(&fpend, &h, purchased + DAY).refund.amount_minor, 4900);
        // After the window the normal rules apply, history or not.
        assert_eq!(decide_cancellation_with(&fp, &h, purchased + 30 * DAY).rule, R::NoRefundRunsToEnd);
        // Theft follows the same rule.
        assert_eq!(decide_theft_with(&fp, &h, purchased + 10 * DAY).rule, R::RepeatWithdrawalProRata);
    }

    #[test]
    fn pro_rata_bounds() {
        let paid = eur(1000);
        let k = temp_days(10);
        // Before activation / at activation: at least one day is kept.
        assert_eq!(pro_rata(&k, &paid, T0, T0 - 5).kept.amount_minor, 100);
        assert_eq!(pro_rata(&k, &paid, T0, T0).used_days, 1);
        // Never more than paid, even long after the end.
        assert_eq!(pro_rata(&k, &paid, T0, T0 + 400 * DAY).kept.amount_minor, 1000);
        // Negative paid (bogus) never yields a negative amount.
        assert_eq!(pro_rata(&k, &eur(-5), T0, T0 + DAY).kept.amount_minor, 0);
        assert_eq!(money_text(&eur(-5)), "-0.05 EUR");
        assert_eq!(money_text(&eur(123456)), "1234.56 EUR");
    }
}
