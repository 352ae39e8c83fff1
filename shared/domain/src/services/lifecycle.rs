//! Service instance lifecycle: the state machine of one purchased option on one vehicle,
//! and the end-time rule of temporary services.
//!
//! Source: customer-journey.md phase 5 ("Service Acquisition Subflow"), architecture.md
//! "IoT Integration" / "Payment Integration", and the issue (purchase, OTA, expiry,
//! cancellation, desistimiento, theft).
//!
//! ```text
//! pending-payment --payment-initiated--> pending-activation --activation-succeeded--> active
//!        |                                   |        \--activation-gave-up--> failed (escalated, never charged)
//!        |--payment-refused--> refused       |--cancel-before-activation--> aborted (never charged)
//!        \--cancel-before-activation--> aborted
//! active --expire--> deactivating-expired --deactivation-completed--> expired
//! active --cancel-at-period-end--> cancellation-scheduled --cancellation-effective--> deactivating-cancelled
//! active | cancellation-scheduled --cancel-now--> deactivating-cancelled --deactivation-completed--> cancelled
//! active | cancellation-scheduled --withdraw--> deactivating-withdrawn --deactivation-completed--> withdrawn
//! ```
//!
//! Rules encoded here:
//! * Subscriptions start in `pending-activation` (billed in arrears: nothing is paid up front);
//!   one-time options (temporary, permanent) start in `pending-payment` (the gateway call) —
//!   see [`initial_state`].
//! * Activation is queued as soon as the payment is *initiated*, before settlement (CaaS assumes
//!   the risk, architecture.md "Payment Integration").
//! * A maintenance lapse is not an event: active services are never switched off because
//!   maintenance lapsed later (customer-journey.md "No retroactive deactivation").
//! * Every way out of `active` goes through a `deactivating-*` state: the deactivation command
//!   is sent through the same OTA engine as activations (issue). `deactivation-completed` is
//!   applied on success *and* after the engine gave up (it then opened a support ticket): the
//!   business end of the service does not depend on the vehicle answering.
//! * Repeating an event is an [`IllegalTransition`]; callers treat "already in the target state"
//!   as the idempotent replay it is (see [`ServiceState::apply_idempotent`]).
use super::calendar::{MS_PER_DAY, add_months};
use super::catalog::{Duration, OptionKind};
use std::fmt;

/// How an active service ended (the terminal state its deactivation leads to).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ending {
    /// A temporary service reached its end time.
    Expired,
    /// Cancelled: subscription cancellation took effect, dunning exhausted, or theft.
    Cancelled,
    /// Desistimiento: withdrawn within the legal window, refunded.
    Withdrawn,
}

/// State of one service instance. String form (for storage): [`ServiceState::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceState {
    /// One-time option: record created, payment not yet initiated at the gateway.
    PendingPayment,
    /// Payment initiated (or subscription created); activation command queued.
    PendingActivation,
    /// Delivered: the feature is active on the vehicle.
    Active,
    /// Subscription cancelled by the customer: stays active until the end of the current period.
    CancellationScheduled,
    /// Deactivation command queued/in flight; the service has ended for business purposes.
    Deactivating(Ending),
    /// Temporary service ran to its end.
    Expired,
    /// Ended by cancellation (after delivery).
    Cancelled,
    /// Ended by desistimiento (refunded).
    Withdrawn,
    /// Activation failed after all retries: escalated to support, payment voided/refunded.
    Failed,
    /// The gateway refused or was down: nothing activated, nothing charged.
    Refused,
    /// Cancelled before it was ever activated (customer, theft, failed settlement): never charged.
    Aborted,
}

/// Events that move a service instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceEvent {
    PaymentInitiated,
    PaymentRefused,
    ActivationSucceeded,
    ActivationGaveUp,
    CancelBeforeActivation,
    /// Temporary service reached its end time.
    Expire,
    /// Customer cancels a subscription: ends at the end of the current period.
    CancelAtPeriodEnd,
    /// The scheduled cancellation's effective time was reached.
    CancellationEffective,
    /// Immediate cancellation (dunning exhausted, theft).
    CancelNow,
    /// Desistimiento accepted (see [`super::withdrawal`]).
    Withdraw,
    /// Deactivation applied (or given up and escalated).
    DeactivationCompleted,
    /// Technical support retries a failed activation with a new command (issue 8):
    /// `failed` → `pending-activation`.
    SupportRetry,
}

/// An event that is not allowed in the given state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IllegalTransition {
    pub from: ServiceState,
    pub event: ServiceEvent,
}

impl fmt::Display for IllegalTransition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "event {} is not allowed in state {}", self.event.as_str(), self.from.as_str())
    }
}
impl std::error::Error for IllegalTransition {}

impl ServiceEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceEvent::PaymentInitiated => "payment-initiated",
            ServiceEvent::PaymentRefused => "payment-refused",
            ServiceEvent::ActivationSucceeded => "activation-succeeded",
            ServiceEvent::ActivationGaveUp => "activation-gave-up",
            ServiceEvent::CancelBeforeActivation => "cancel-before-activation",
            ServiceEvent::Expire => "expire",
            ServiceEvent::CancelAtPeriodEnd => "cancel-at-period-end",
            ServiceEvent::CancellationEffective => "cancellation-effective",
            ServiceEvent::CancelNow => "cancel-now",
            ServiceEvent::Withdraw => "withdraw",
            ServiceEvent::DeactivationCompleted => "deactivation-completed",
            ServiceEvent::SupportRetry => "support-retry",
        }
    }
}

impl ServiceState {
    pub const ALL: [ServiceState; 13] = [
        ServiceState::PendingPayment,
        ServiceState::PendingActivation,
        ServiceState::Active,
        ServiceState::CancellationScheduled,
        ServiceState::Deactivating(Ending::Expired),
        ServiceState::Deactivating(Ending::Cancelled),
        ServiceState::Deactivating(Ending::Withdrawn),
        ServiceState::Expired,
        ServiceState::Cancelled,
        ServiceState::Withdrawn,
        ServiceState::Failed,
        ServiceState::Refused,
        ServiceState::Aborted,
    ];

    /// Storage / API string (kebab-case).
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceState::PendingPayment => "pending-payment",
            ServiceState::PendingActivation => "pending-activation",
            ServiceState::Active => "active",
            ServiceState::CancellationScheduled => "cancellation-scheduled",
            ServiceState::Deactivating(Ending::Expired) => "deactivating-expired",
            ServiceState::Deactivating(Ending::Cancelled) => "deactivating-cancelled",
            ServiceState::Deactivating(Ending::Withdrawn) => "deactivating-withdrawn",
            ServiceState::Expired => "expired",
            ServiceState::Cancelled => "cancelled",
            ServiceState::Withdrawn => "withdrawn",
            ServiceState::Failed => "failed",
            ServiceState::Refused => "refused",
            ServiceState::Aborted => "aborted",
        }
    }

    /// Inverse of [`ServiceState::as_str`].
    pub fn parse(s: &str) -> Option<ServiceState> {
        ServiceState::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// No event leaves this state.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            ServiceState::Expired
                | ServiceState::Cancelled
                | ServiceState::Withdrawn
                | ServiceState::Failed
                | ServiceState::Refused
                | ServiceState::Aborted
        )
    }

    /// The service is (or is about to be) on the vehicle: a new purchase of the same option
    /// is refused as "already active".
    pub fn is_live(self) -> bool {
        matches!(self, ServiceState::Active | ServiceState::CancellationScheduled)
    }

    /// A purchase is in flight: a new purchase of the same option is refused as "already pending".
    /// A deactivation in flight also blocks (the two OTA commands would race).
    pub fn is_pending(self) -> bool {
        matches!(
            self,
            ServiceState::PendingPayment | ServiceState::PendingActivation | ServiceState::Deactivating(_)
        )
    }

    /// The feature was delivered to the vehicle at some point (so a charge for it is legitimate,
    /// unless refunded). `Withdrawn` was delivered too (and refunded).
    pub fn was_delivered(self) -> bool {
        matches!(
            self,
            ServiceState::Active
                | ServiceState::CancellationScheduled
                | ServiceState::Deactivating(_)
                | ServiceState::Expired
                | ServiceState::Cancelled
                | ServiceState::Withdrawn
        )
    }

    /// The state machine. Pure; see the module docs for the diagram.
    pub fn transition(self, event: ServiceEvent) -> Result<ServiceState, IllegalTransition> {
        use ServiceEvent as E;
        use ServiceState as S;
        let to = match (self, event) {
            (S::PendingPayment, E::PaymentInitiated) => S::PendingActivation,
            (S::PendingPayment, E::PaymentRefused) => S::Refused,
            (S::PendingPayment | S::PendingActivation, E::CancelBeforeActivation) => S::Aborted,
            (S::PendingActivation, E::ActivationSucceeded) => S::Active,
            (S::PendingActivation, E::ActivationGaveUp) => S::Failed,
            (S::Failed, E::SupportRetry) => S::PendingActivation,
            (S::Active, E::Expire) => S::Deactivating(Ending::Expired),
            (S::Active, E::CancelAtPeriodEnd) => S::CancellationScheduled,
            (S::CancellationScheduled, E::CancellationEffective) => S::Deactivating(Ending::Cancelled),
            (S::Active | S::CancellationScheduled, E::CancelNow) => S::Deactivating(Ending::Cancelled),
            (S::Active | S::CancellationScheduled, E::Withdraw) => S::Deactivating(Ending::Withdrawn),
            (S::Deactivating(e), E::DeactivationCompleted) => match e {
                Ending::Expired => S::Expired,
                Ending::Cancelled => S::Cancelled,
                Ending::Withdrawn => S::Withdrawn,
            },
            _ => return Err(IllegalTransition { from: self, event }),
        };
        Ok(to)
    }

    /// Like [`ServiceState::transition`], but a replayed event whose effect is already visible
    /// (the current state is what the event leads to from some state) returns `Ok(self)` with
    /// `false` ("nothing changed") instead of an error. `true` means the state changed.
    pub fn apply_idempotent(self, event: ServiceEvent) -> Result<(ServiceState, bool), IllegalTransition> {
        match self.transition(event) {
            Ok(to) => Ok((to, true)),
            Err(e) => {
                let already = ServiceState::ALL
                    .into_iter()
                    .any(|from| from.transition(event) == Ok(self));
                if already { Ok((self, false)) } else { Err(e) }
            }
        }
    }
}

/// Transition function in free-function form (`transition(from, event)`).
pub fn transition(from: ServiceState, event: ServiceEvent) -> Result<ServiceState, IllegalTransition> {
    from.transition(event)
}

/// The state a new purchase starts in. Subscriptions are billed in arrears (mes vencido), so
/// nothing is paid at purchase: they go straight to `pending-activation`. One-time options
/// (temporary, permanent) are paid up front through the gateway first.
pub fn initial_state(kind: &OptionKind) -> ServiceState {
    match kind {
        OptionKind::Subscription => ServiceState::PendingActivation,
        _ => ServiceState::PendingPayment,
    }
}

/// End time of a service activated at `activated_at` (issue: "temporary ends at start +
/// duration"). Days are exact 24 h spans; months are calendar months from the activation
/// instant, clamped to the month end (activated Jan 31 + 1 month → Feb 28/29, same time of day).
/// `None` for permanent options (vehicle lifetime) and subscriptions (until cancelled).
pub fn service_end(kind: &OptionKind, activated_at: i64) -> Option<i64> {
    match kind {
        OptionKind::Temporary { duration } => Some(duration_end(*duration, activated_at)),
        OptionKind::Permanent | OptionKind::Subscription => None,
    }
}

/// `start + duration` (see [`service_end`]).
pub fn duration_end(duration: Duration, start: i64) -> i64 {
    match duration {
        Duration::Days(n) => start.saturating_add(n as i64 * MS_PER_DAY),
        Duration::Months(n) => add_months(start, n),
    }
}

/// A temporary service whose end time has been reached must be expired (the expiry tick sends
/// the deactivation). `now >= ends_at`: the service is active on `[activated_at, ends_at)`.
pub fn is_expired(ends_at: Option<i64>, now: i64) -> bool {
    matches!(ends_at, Some(end) if now >= end)
}

/// The expiry tick must expire this instance now: an active temporary service whose end time
/// has been reached. (Only `active`: a subscription or permanent option never expires.)
pub fn expiry_due(state: ServiceState, ends_at: Option<i64>, now: i64) -> bool {
    state == ServiceState::Active && is_expired(ends_at, now)
}

/// A scheduled subscription cancellation takes effect now (`cancellation-effective`, then the
/// deactivation command): `now >= billing_ends_at`.
pub fn cancellation_due(state: ServiceState, billing_ends_at: Option<i64>, now: i64) -> bool {
    state == ServiceState::CancellationScheduled && is_expired(billing_ends_at, now)
}

#[cfg(test)]
mod tests {
    use super::super::calendar::midnight_ms;
    use super::*;
    use ServiceEvent as E;
    use ServiceState as S;

    #[test]
    fn legal_transitions_table() {
        let table: &[(S, E, S)] = &[
            (S::PendingPayment, E::PaymentInitiated, S::PendingActivation),
            (S::PendingPayment, E::PaymentRefused, S::Refused),
            (S::PendingPayment, E::CancelBeforeActivation, S::Aborted),
            (S::PendingActivation, E::CancelBeforeActivation, S::Aborted),
            (S::PendingActivation, E::ActivationSucceeded, S::Active),
            (S::PendingActivation, E::ActivationGaveUp, S::Failed),
            (S::Failed, E::SupportRetry, S::PendingActivation),
            (S::Active, E::Expire, S::Deactivating(Ending::Expired)),
            (S::Active, E::CancelAtPeriodEnd, S::CancellationScheduled),
            (S::Active, E::CancelNow, S::Deactivating(Ending::Cancelled)),
            (S::Active, E::Withdraw, S::Deactivating(Ending::Withdrawn)),
            (S::CancellationScheduled, E::CancellationEffective, S::Deactivating(Ending::Cancelled)),
            (S::CancellationScheduled, E::CancelNow, S::Deactivating(Ending::Cancelled)),
            (S::CancellationScheduled, E::Withdraw, S::Deactivating(Ending::Withdrawn)),
            (S::Deactivating(Ending::Expired), E::DeactivationCompleted, S::Expired),
            (S::Deactivating(Ending::Cancelled), E::DeactivationCompleted, S::Cancelled),
            (S::Deactivating(Ending::Withdrawn), E::DeactivationCompleted, S::Withdrawn),
        ];
        for &(from, ev, to) in table {
            assert_eq!(transition(from, ev), Ok(to), "{} + {}", from.as_str(), ev.as_str());
        }
        // Everything not in the table is illegal.
        let events = [
            E::PaymentInitiated,
            E::PaymentRefused,
            E::ActivationSucceeded,
            E::ActivationGaveUp,
            E::CancelBeforeActivation,
            E::Expire,
            E::CancelAtPeriodEnd,
            E::CancellationEffective,
            E::CancelNow,
            E::Withdraw,
            E::DeactivationCompleted,
            E::SupportRetry,
        ];
        let mut legal = 0;
        for from in S::ALL {
            for ev in events {
                let expected = table.iter().find(|(f, e, _)| *f == from && *e == ev).map(|t| t.2);
                match expected {
                    Some(to) => {
                        legal += 1;
                        assert_eq!(from.transition(ev), Ok(to));
                    }
                    None => assert_eq!(from.transition(ev), Err(IllegalTransition { from, event: ev })),
                }
            }
        }
        assert_eq!(legal, table.len());
    }

    #[test]
    fn terminal_states_have_no_exit_and_flags_are_consistent() {
        for s in S::ALL {
            assert_eq!(S::parse(s.as_str()), Some(s));
            if s.is_terminal() {
                assert!(!s.is_live() && !s.is_pending());
            }
            // Exactly one of: live, pending, terminal.
            let n = [s.is_live(), s.is_pending(), s.is_terminal()].iter().filter(|b| **b).count();
            assert_eq!(n, 1, "{}", s.as_str());
        }
        assert_eq!(S::parse("nope"), None);
        assert!(!S::Failed.was_delivered() && !S::Aborted.was_delivered() && !S::Refused.was_delivered());
        assert!(!S::PendingActivation.was_delivered());
        assert!(S::Withdrawn.was_delivered() && S::Expired.was_delivered());
        // A maintenance lapse is not an event: nothing in the machine can switch off for it.
        assert!(format!("{:?}", IllegalTransition { from: S::Active, event: E::ActivationSucceeded }).contains("Active"));
    }

    #[test]
    fn idempotent_replays() {
        assert_eq!(S::Active.apply_idempotent(E::ActivationSucceeded), Ok((S::Active, false)));
        assert_eq!(S::PendingActivation.apply_idempotent(E::ActivationSucceeded), Ok((S::Active, true)));
        assert_eq!(S::Expired.apply_idempotent(E::DeactivationCompleted), Ok((S::Expired, false)));
        assert!(S::Failed.apply_idempotent(E::ActivationSucceeded).is_err());
        assert!(S::Refused.apply_idempotent(E::Withdraw).is_err());
    }

    #[test]
    fn initial_states() {
        assert_eq!(initial_state(&OptionKind::Subscription), S::PendingActivation);
        assert_eq!(initial_state(&OptionKind::Permanent), S::PendingPayment);
        assert_eq!(
            initial_state(&OptionKind::Temporary { duration: Duration::Days(7) }),
            S::PendingPayment
        );
    }

    #[test]
    fn end_times() {
        let at = |y, m, d| midnight_ms(y, m, d) + 9 * 3_600_000;
        let t = |duration| OptionKind::Temporary { duration };
        let table: &[(OptionKind, i64, Option<i64>)] = &[
            (t(Duration::Days(7)), at(2026, 11, 21), Some(at(2026, 11, 28))),
            (t(Duration::Days(14)), at(2026, 12, 25), Some(at(2027, 1, 8))),
            (t(Duration::Months(1)), at(2026, 11, 21), Some(at(2026, 12, 21))),
            (t(Duration::Months(1)), at(2026, 1, 31), Some(at(2026, 2, 28))),
            (t(Duration::Months(1)), at(2028, 1, 31), Some(at(2028, 2, 29))),
            (t(Duration::Months(1)), at(2026, 2, 28), Some(at(2026, 3, 28))),
            (t(Duration::Days(1)), at(2028, 2, 28), Some(at(2028, 2, 29))),
            (OptionKind::Permanent, at(2026, 11, 21), None),
            (OptionKind::Subscription, at(2026, 11, 21), None),
        ];
        for (kind, start, end) in table {
            assert_eq!(service_end(kind, *start), *end, "{kind:?}");
        }
        let end = at(2026, 11, 28);
        assert!(!is_expired(Some(end), end - 1));
        assert!(is_expired(Some(end), end));
        assert!(!is_expired(None, i64::MAX));
        assert!(expiry_due(S::Active, Some(end), end));
        assert!(!expiry_due(S::Active, Some(end), end - 1));
        assert!(!expiry_due(S::Deactivating(Ending::Expired), Some(end), end), "already expiring: no second command");
        assert!(!expiry_due(S::Active, None, end));
        assert!(cancellation_due(S::CancellationScheduled, Some(end), end));
        assert!(!cancellation_due(S::CancellationScheduled, Some(end), end - 1));
        assert!(!cancellation_due(S::Active, Some(end), end));
    }
}
