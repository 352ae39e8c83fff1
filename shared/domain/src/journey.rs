//! Purchase journey rules (issue 3, phases 1–3): payment kinds and when they may be started,
//! what a settlement/failure does to the order, the factory status ladder (never backwards),
//! the final-payment deadline, and the customer notifications of each step.
//!
//! Pure: components supply the facts (current status, time) and persist the decisions.
use crate::order::OrderStatus::{self, *};
use crate::notify::{Contact, Message};
use crate::routing::NotificationKind;
use crate::wit::Notification;

// ------------------------------------------------------------------------------------ payments

/// What a payment pays for. Reservation and final belong to an order; the later kinds
/// (services, subscriptions) arrive through the same webhook and are dispatched by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentKind {
    /// The señal (deposit).
    Reservation,
    /// Vehicle price minus deposit.
    Final,
    /// A one-time service purchase (service-lifecycle issue).
    Service,
    /// A subscription period charge (service-lifecycle issue).
    Subscription,
}

impl PaymentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentKind::Reservation => "reservation",
            PaymentKind::Final => "final",
            PaymentKind::Service => "service",
            PaymentKind::Subscription => "subscription",
        }
    }
    pub fn parse(s: &str) -> Option<PaymentKind> {
        [PaymentKind::Reservation, PaymentKind::Final, PaymentKind::Service, PaymentKind::Subscription]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
    /// The only order state in which a customer may start this payment.
    pub fn required_status(self) -> Option<OrderStatus> {
        match self {
            PaymentKind::Reservation => Some(ReservationPending),
            PaymentKind::Final => Some(VehicleAvailable),
            _ => None,
        }
    }
}

/// Amount to charge for an order payment: the deposit, or the rest of the price.
pub fn order_payment_amount(kind: PaymentKind, vehicle_price_minor: i64, deposit_minor: i64, financed_minor: i64) -> Option<i64> {
    let a = match kind {
        PaymentKind::Reservation => deposit_minor,
        // What is neither the deposit nor financed by the sale's lender (crate::sale::Financing).
        PaymentKind::Final => crate::sale::final_payment_minor(vehicle_price_minor, deposit_minor, financed_minor)?,
        _ => return None,
    };
    (a > 0).then_some(a)
}

/// May the customer start `kind` now? Err = 409 problem naming the state.
pub fn check_initiation(kind: PaymentKind, status: OrderStatus) -> Result<(), crate::Problem> {
    match kind.required_status() {
        Some(s) if s == status => Ok(()),
        Some(s) => Err(crate::Problem::conflict(
            "payment-not-allowed",
            format!("the {} payment can only be made when the order is {s}; it is {status}", kind.as_str()),
        )),
        None => Err(crate::Problem::conflict("payment-not-allowed", format!("{} payments are not made on orders", kind.as_str()))),
    }
}

/// Idempotency-Key sent to the gateway: derived from the order, the kind and the attempt number
/// (attempts after a declined/failed payment get a new key; retries of the same attempt reuse it,
/// so a retry never charges twice).
pub fn gateway_idempotency_key(order_id: &str, kind: PaymentKind, attempt: u32) -> String {
    format!("{order_id}:{}:{attempt}", kind.as_str())
}

/// Idempotency key of the ledger movement recorded for a settled payment.
pub fn ledger_key_settled(payment_id: &str) -> String {
    crate::payment::ledger_key::settled(payment_id)
}

/// What a settled/failed order payment does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentEffect {
    /// Reservation settled: order → reserved; place the factory order.
    ReserveAndOrderFromFactory,
    /// Reservation settled for an order that took a stock vehicle: reserved → vehicle-available.
    ReserveFromStock,
    /// Reservation failed: the order stays reservation-pending (the customer may try again).
    ReservationFailed,
    /// Final payment settled: vehicle-available → fully-paid; register the vehicle.
    FullyPaid,
    /// Final payment failed: vehicle "sin asignar" (stock), reservation and deposit forfeited.
    Unassign,
    /// Nothing to do in this state (recorded only), with the reason.
    NoEffect(String),
}

pub fn payment_effect(kind: PaymentKind, settled: bool, status: OrderStatus, from_stock: bool) -> PaymentEffect {
    match (kind, settled, status) {
        (PaymentKind::Reservation, true, ReservationPending) if from_stock => PaymentEffect::ReserveFromStock,
        (PaymentKind::Reservation, true, ReservationPending) => PaymentEffect::ReserveAndOrderFromFactory,
        (PaymentKind::Reservation, false, ReservationPending) => PaymentEffect::ReservationFailed,
        (PaymentKind::Final, true, VehicleAvailable) => PaymentEffect::FullyPaid,
        (PaymentKind::Final, false, VehicleAvailable) => PaymentEffect::Unassign,
        (k, s, st) => PaymentEffect::NoEffect(format!(
            "{} payment {} while the order is {st}: no change",
            k.as_str(),
            if s { "settled" } else { "failed" }
        )),
    }
}

/// A settlement for a payment we have no record of (our initiation timed out after the gateway
/// created it, and the customer did not retry): which order payment it must be, if any. Only
/// adopted when the order is waiting for exactly that payment and the amount is exactly due.
pub fn adopt_unknown_payment(status: OrderStatus, amount_minor: Option<i64>, vehicle_price_minor: i64, deposit_minor: i64, financed_minor: i64) -> Option<PaymentKind> {
    let kind = match status {
        ReservationPending => PaymentKind::Reservation,
        VehicleAvailable => PaymentKind::Final,
        _ => return None,
    };
    (amount_minor.is_some() && amount_minor == order_payment_amount(kind, vehicle_price_minor, deposit_minor, financed_minor)).then_some(kind)
}

// ------------------------------------------------------------------------------------ factory

/// A factory webhook status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactoryStatus {
    Confirmed,
    InProduction,
    QualityControl,
    ReadyToShip,
    Shipped,
    AvailableAtDealership,
    Delayed,
}

impl FactoryStatus {
    pub fn parse(s: &str) -> Option<FactoryStatus> {
        Some(match s {
            "confirmed" => FactoryStatus::Confirmed,
            "in-production" => FactoryStatus::InProduction,
            "quality-control" => FactoryStatus::QualityControl,
            "ready-to-ship" => FactoryStatus::ReadyToShip,
            "shipped" => FactoryStatus::Shipped,
            "available-at-dealership" => FactoryStatus::AvailableAtDealership,
            "delayed" => FactoryStatus::Delayed,
            _ => return None,
        })
    }
    /// The order state this status moves to (None for `delayed`).
    pub fn target(self) -> Option<OrderStatus> {
        Some(match self {
            FactoryStatus::Confirmed => FactoryOrdered,
            FactoryStatus::InProduction => InProduction,
            FactoryStatus::QualityControl => QualityControl,
            FactoryStatus::ReadyToShip => ReadyToShip,
            FactoryStatus::Shipped => Shipped,
            FactoryStatus::AvailableAtDealership => VehicleAvailable,
            FactoryStatus::Delayed => return None,
        })
    }
}

/// What a factory status does to an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FactoryDecision {
    /// Move forward to `to` (from reserved: the factory has the order even if our call's answer was lost).
    Advance { to: OrderStatus },
    /// `confirmed` for an order we already know is factory-ordered (our placement call came
    /// first): the factory's confirmation is recorded and the customer told, state unchanged.
    Confirm,
    /// Same or older than the current state: recorded in the timeline, state unchanged.
    Stale,
    /// The order is not in the manufacturing phase (not reserved yet, or past it): recorded only.
    NotApplicable,
}

pub fn factory_decision(current: OrderStatus, status: FactoryStatus) -> FactoryDecision {
    let Some(to) = status.target() else { return FactoryDecision::NotApplicable };
    if current == FactoryOrdered && status == FactoryStatus::Confirmed {
        return FactoryDecision::Confirm;
    }
    let ladder = [Reserved, FactoryOrdered, InProduction, QualityControl, ReadyToShip, Shipped, VehicleAvailable];
    let (Some(i), Some(j)) = (ladder.iter().position(|s| *s == current), ladder.iter().position(|s| *s == to)) else {
        return if matches!(current, ReservationPending | Unassigned) { FactoryDecision::NotApplicable } else { FactoryDecision::Stale };
    };
    if j > i { FactoryDecision::Advance { to } } else { FactoryDecision::Stale }
}

// ------------------------------------------------------------------------------------ deadline

pub const MS_PER_DAY: i64 = 86_400_000;
/// Default days the customer has to pay the rest once the vehicle is available.
pub const DEFAULT_FINAL_PAYMENT_DAYS: u64 = 15;

#[cfg(test)]
mod reservation_deadline_tests {
    use super::*;
    const DAY: i64 = 86_400_000;

    #[test]
    fn the_reservation_expires_after_its_days_and_only_while_unpaid() {
        assert!(!reservation_expired(OrderStatus::ReservationPending, 0, 7 * DAY - 1, 7));
        assert!(reservation_expired(OrderStatus::ReservationPending, 0, 7 * DAY, 7));
        assert!(!reservation_expired(OrderStatus::Reserved, 0, 70 * DAY, 7));
    }
}

/// When the final payment is due: `days` after the vehicle became available.
pub fn final_payment_due_at(available_at_ms: i64, days: u64) -> i64 {
    available_at_ms.saturating_add((days.min(3650) as i64).saturating_mul(MS_PER_DAY))
}

pub fn is_overdue(status: OrderStatus, due_at_ms: Option<i64>, now_ms: i64) -> bool {
    status == VehicleAvailable && due_at_ms.is_some_and(|d| now_ms >= d)
}

/// Grace after the deadline for a final payment the customer started in time and the gateway
/// has not settled yet ("payment pending": the customer did pay by the deadline).
pub const PENDING_FINAL_PAYMENT_GRACE_MS: i64 = 2 * MS_PER_DAY;

/// Does the deadline unassign the order now? `pending_final_started_at`: creation time of a
/// still-pending final payment, if any.
pub fn deadline_passed(status: OrderStatus, due_at_ms: Option<i64>, now_ms: i64, pending_final_started_at: Option<i64>) -> bool {
    if !is_overdue(status, due_at_ms, now_ms) {
        return false;
    }
    match (pending_final_started_at, due_at_ms) {
        (Some(started), Some(due)) if started <= due => now_ms >= due.saturating_add(PENDING_FINAL_PAYMENT_GRACE_MS),
        _ => true,
    }
}

// ------------------------------------------------------------------------------------ notifications

/// The customer, as notifications need them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub customer_id: String,
    pub email: String,
    pub phone: String,
}

impl Recipient {
    /// The customer's contact for the one message path (no vehicle linked during the purchase).
    pub fn contact(&self) -> Contact {
        Contact::customer(&self.customer_id, &self.email, &self.phone)
    }
}

/// A customer-facing journey message (the one message type of `crate::notify`).
pub type JourneyMessage = Message;

/// The notifications of a journey message (`crate::notify::notifications`), message ids
/// `<order>:<key>:<channel>`, so re-queuing the same event is deduped.
pub fn notifications(order_id: &str, key: &str, to: &Recipient, m: &JourneyMessage) -> Vec<Notification> {
    crate::notify::notifications(&format!("{order_id}:{key}"), &to.contact(), m)
}

// The customer texts live in `crate::messages` (one function per message, four languages).
pub use crate::messages::{
    delayed as msg_delayed, factory_delay as msg_factory_delay, factory_ordered as msg_factory_ordered, fully_paid as msg_fully_paid,
    manufacturing as msg_manufacturing, matriculated as msg_matriculated, payment_failed as msg_payment_failed,
    registration_delay as msg_registration_delay, reservation_confirmed as msg_reservation_confirmed, sale_abandoned as msg_sale_abandoned,
    unassigned as msg_unassigned, vehicle_ready as msg_vehicle_ready, vehicle_ready_financed as msg_vehicle_ready_financed,
};

/// Days the customer has to pay the reservation (señal) after the sale is registered.
pub const DEFAULT_RESERVATION_DAYS: u64 = 7;

/// Whether an order still waiting for its reservation, registered at `created_at_ms`, is past
/// the reservation deadline at `now_ms`.
pub fn reservation_expired(status: OrderStatus, created_at_ms: i64, now_ms: i64, days: u64) -> bool {
    status == OrderStatus::ReservationPending && now_ms >= created_at_ms.saturating_add((days as i64).saturating_mul(86_400_000))
}

/// Staff e-mail about an escalated job (one per staff member).
pub fn staff_escalation(message_id: &str, staff_email: &str, job_kind: &str, subject_id: &str, detail: &str) -> Notification {
    crate::notify::single(message_id, &Contact::staff(staff_email), &msg_escalation(job_kind, subject_id, detail))
}

/// The staff e-mail about a job that gave up after its last retry.
pub fn msg_escalation(job_kind: &str, subject_id: &str, detail: &str) -> Message {
    Message::new(
        NotificationKind::StaffEscalation,
        format!("Action needed: {job_kind} for {subject_id}"),
        format!("The automatic {job_kind} for {subject_id} gave up after its last retry: {detail}. Please handle it manually."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payments_only_in_the_right_state() {
        assert!(check_initiation(PaymentKind::Reservation, ReservationPending).is_ok());
        assert_eq!(check_initiation(PaymentKind::Reservation, Reserved).unwrap_err().status, 409);
        assert!(check_initiation(PaymentKind::Final, VehicleAvailable).is_ok());
        assert_eq!(check_initiation(PaymentKind::Final, Shipped).unwrap_err().status, 409);
        assert_eq!(check_initiation(PaymentKind::Service, VehicleAvailable).unwrap_err().status, 409);
        assert_eq!(order_payment_amount(PaymentKind::Reservation, 1000, 100, 0), Some(100));
        assert_eq!(order_payment_amount(PaymentKind::Final, 1000, 100, 0), Some(900));
        assert_eq!(order_payment_amount(PaymentKind::Final, 100, 100, 0), None);
        // Financed at the sale: the final payment is what is not financed.
        assert_eq!(order_payment_amount(PaymentKind::Reservation, 1000, 100, 600), Some(100));
        assert_eq!(order_payment_amount(PaymentKind::Final, 1000, 100, 600), Some(300));
        assert_eq!(order_payment_amount(PaymentKind::Final, 1000, 100, 900), None);
        assert_eq!(gateway_idempotency_key("ord_1", PaymentKind::Final, 1), "ord_1:final:1");
        for k in ["reservation", "final", "service", "subscription"] {
            assert_eq!(PaymentKind::parse(k).unwrap().as_str(), k);
        }
    }

    #[test]
    fn settlement_effects() {
        use PaymentEffect::*;
        assert_eq!(payment_effect(PaymentKind::Reservation, true, ReservationPending, false), ReserveAndOrderFromFactory);
        assert_eq!(payment_effect(PaymentKind::Reservation, true, ReservationPending, true), ReserveFromStock);
        assert_eq!(payment_effect(PaymentKind::Reservation, false, ReservationPending, false), ReservationFailed);
        assert_eq!(payment_effect(PaymentKind::Final, true, VehicleAvailable, false), FullyPaid);
        assert_eq!(payment_effect(PaymentKind::Final, false, VehicleAvailable, false), Unassign);
        assert!(matches!(payment_effect(PaymentKind::Final, false, Unassigned, false), NoEffect(_)));
        assert!(matches!(payment_effect(PaymentKind::Reservation, true, Reserved, false), NoEffect(_)));
    }

    #[test]
    fn unknown_payments_are_adopted_only_when_exactly_due() {
        assert_eq!(adopt_unknown_payment(ReservationPending, Some(100), 1000, 100, 0), Some(PaymentKind::Reservation));
        assert_eq!(adopt_unknown_payment(VehicleAvailable, Some(900), 1000, 100, 0), Some(PaymentKind::Final));
        assert_eq!(adopt_unknown_payment(VehicleAvailable, Some(100), 1000, 100, 0), None);
        assert_eq!(adopt_unknown_payment(ReservationPending, None, 1000, 100, 0), None);
        assert_eq!(adopt_unknown_payment(Shipped, Some(900), 1000, 100, 0), None);
        assert_eq!(adopt_unknown_payment(VehicleAvailable, Some(900), 1000, 100, 600), None);
        assert_eq!(adopt_unknown_payment(VehicleAvailable, Some(300), 1000, 100, 600), Some(PaymentKind::Final));
    }

    #[test]
    fn factory_never_goes_backwards() {
        use FactoryDecision::*;
        let st = |s| FactoryStatus::parse(s).unwrap();
        assert_eq!(factory_decision(Reserved, st("confirmed")), Advance { to: FactoryOrdered });
        assert_eq!(factory_decision(Reserved, st("in-production")), Advance { to: InProduction });
        assert_eq!(factory_decision(FactoryOrdered, st("shipped")), Advance { to: Shipped });
        assert_eq!(factory_decision(Shipped, st("in-production")), Stale);
        assert_eq!(factory_decision(Shipped, st("shipped")), Stale);
        assert_eq!(factory_decision(FactoryOrdered, st("confirmed")), Confirm);
        assert_eq!(factory_decision(InProduction, st("confirmed")), Stale);
        assert_eq!(factory_decision(Shipped, st("available-at-dealership")), Advance { to: VehicleAvailable });
        assert_eq!(factory_decision(FullyPaid, st("shipped")), Stale);
        assert_eq!(factory_decision(ReservationPending, st("confirmed")), NotApplicable);
        assert_eq!(factory_decision(Shipped, st("delayed")), NotApplicable);
        assert!(FactoryStatus::parse("teleported").is_none());
        // Every advance is a legal transition of the order machine (from reserved via factory-ordered).
        for cur in [FactoryOrdered, InProduction, QualityControl, ReadyToShip, Shipped] {
            for s in ["confirmed", "in-production", "quality-control", "ready-to-ship", "shipped", "available-at-dealership"] {
                if let Advance { to } = factory_decision(cur, st(s)) {
                    assert!(crate::order::can_transition(cur, to), "{cur} -> {to}");
                }
            }
        }
    }

    #[test]
    fn deadline() {
        let due = final_payment_due_at(1_000, 15);
        assert_eq!(due, 1_000 + 15 * MS_PER_DAY);
        assert!(!is_overdue(VehicleAvailable, Some(due), due - 1));
        assert!(is_overdue(VehicleAvailable, Some(due), due));
        assert!(!is_overdue(FullyPaid, Some(due), due + 1));
        assert!(!is_overdue(VehicleAvailable, None, i64::MAX));
        // A final payment started in time but not settled yet gets a grace period.
        assert!(!deadline_passed(VehicleAvailable, Some(due), due + 1, Some(due - 10)));
        assert!(deadline_passed(VehicleAvailable, Some(due), due + PENDING_FINAL_PAYMENT_GRACE_MS, Some(due - 10)));
        assert!(deadline_passed(VehicleAvailable, Some(due), due + 1, Some(due + 1)));
        assert!(deadline_passed(VehicleAvailable, Some(due), due, None));
        assert!(!deadline_passed(FullyPaid, Some(due), due + PENDING_FINAL_PAYMENT_GRACE_MS, None));
    }

    #[test]
    fn notifications_follow_the_routing_table() {
        let to = Recipient { customer_id: "cus_1".into(), email: "a@b.example".into(), phone: "+34600111222".into() };
        let n = notifications("ord_1", "status-shipped", &to, &msg_manufacturing("ord_1", Shipped, None));
        assert_eq!(n.iter().map(|x| x.channel).collect::<Vec<_>>(), vec![crate::Channel::Email, crate::Channel::Push]);
        assert_eq!(n[0].recipient, "a@b.example");
        assert_eq!(n[1].recipient, "cus_1");
        assert_eq!(n[0].message_id, "ord_1:status-shipped:email");
        let n = notifications("ord_1", "available", &to, &msg_vehicle_ready("ord_1", 0));
        assert_eq!(n.len(), 3);
        assert_eq!(n[2].channel, crate::Channel::Sms);
        assert_eq!(n[2].recipient, "+34600111222");
        assert!(n[0].body.contains("1970-01-01"), "{}", n[0].body);
    }
}
