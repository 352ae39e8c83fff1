//! The vehicle purchase order state machine (vehicle-purchase.md "Process State Diagram").
//!
//! Sale registration creates the customer, the order and queues the credentials e-mail in one
//! transaction, so the first persisted state is `reservation-pending` (the spec's
//! SalesRegistered → CredentialsSent → AwaitingReservation collapse into it; the timeline keeps
//! `sale-registered` and `credentials-queued` events). Manufacturing states may be skipped
//! forward (factory webhooks can be lost or arrive late) but never go back.
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OrderStatus {
    /// Sale registered, credentials queued; waiting for the customer's señal.
    ReservationPending,
    /// Señal paid; factory order being placed (automatic, retried).
    Reserved,
    /// Factory accepted the order (factory order number known).
    FactoryOrdered,
    InProduction,
    QualityControl,
    ReadyToShip,
    /// Dispatched from factory to dealership.
    Shipped,
    /// At the dealership; customer notified; waiting for the final payment.
    VehicleAvailable,
    /// Final payment confirmed.
    FullyPaid,
    /// Submitted to the country's registration body.
    Registering,
    /// Matriculated (plates assigned).
    Matriculated,
    /// Transport to the customer's home.
    InTransit,
    /// Customer absent: vehicle back at the dealership, awaiting pickup.
    ReturnedToDealer,
    /// Handed over to the customer.
    Delivered,
    /// App linked, plataforma base active. Terminal for the purchase flow.
    Operational,
    /// Final payment failed: vehicle "sin asignar", back to dealership stock. Terminal.
    Unassigned,
    /// Sale abandoned: the reservation (señal) was not paid within the business's deadline;
    /// a pending reservation payment is voided. Terminal.
    Abandoned,
    /// Cancelled by the dealership before the vehicle was paid for (issue 8): pending payments
    /// voided, a settled deposit refunded, a stock vehicle back to stock. Terminal.
    Cancelled,
}

use OrderStatus::*;

pub const ALL_STATUSES: [OrderStatus; 18] = [
    ReservationPending,
    Reserved,
    FactoryOrdered,
    InProduction,
    QualityControl,
    ReadyToShip,
    Shipped,
    VehicleAvailable,
    FullyPaid,
    Registering,
    Matriculated,
    InTransit,
    ReturnedToDealer,
    Delivered,
    Operational,
    Unassigned,
    Abandoned,
    Cancelled,
];

/// Manufacturing stages in order (forward skips allowed).
const MANUFACTURING: [OrderStatus; 6] = [FactoryOrdered, InProduction, QualityControl, ReadyToShip, Shipped, VehicleAvailable];

impl OrderStatus {
    /// The first state of a newly registered sale.
    pub const INITIAL: OrderStatus = ReservationPending;

    pub fn as_str(self) -> &'static str {
        match self {
            ReservationPending => "reservation-pending",
            Reserved => "reserved",
            FactoryOrdered => "factory-ordered",
            InProduction => "in-production",
            QualityControl => "quality-control",
            ReadyToShip => "ready-to-ship",
            Shipped => "shipped",
            VehicleAvailable => "vehicle-available",
            FullyPaid => "fully-paid",
            Registering => "registering",
            Matriculated => "matriculated",
            InTransit => "in-transit",
            ReturnedToDealer => "returned-to-dealer",
            Delivered => "delivered",
            Operational => "operational",
            Unassigned => "unassigned",
            Abandoned => "abandoned",
            Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<OrderStatus> {
        ALL_STATUSES.iter().copied().find(|st| st.as_str() == s)
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Operational | Unassigned | Abandoned | Cancelled)
    }

    /// The dealership may cancel the sale: only before the vehicle is paid for (every state up
    /// to and including `vehicle-available`).
    pub fn cancellable(self) -> bool {
        matches!(self, ReservationPending | Reserved) || MANUFACTURING.contains(&self)
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The transition table.
pub fn can_transition(from: OrderStatus, to: OrderStatus) -> bool {
    if let (Some(i), Some(j)) = (
        MANUFACTURING.iter().position(|s| *s == from),
        MANUFACTURING.iter().position(|s| *s == to),
    ) {
        return j > i;
    }
    if to == Cancelled {
        return from.cancellable();
    }
    matches!(
        (from, to),
        (ReservationPending, Reserved)
            | (ReservationPending, Abandoned)
            | (Reserved, FactoryOrdered)
            // Resale of a stock ("sin asignar") vehicle: no factory order, already at the dealership.
            | (Reserved, VehicleAvailable)
            | (VehicleAvailable, FullyPaid)
            | (VehicleAvailable, Unassigned)
            | (FullyPaid, Registering)
            | (Registering, Matriculated)
            | (Matriculated, InTransit)
            | (InTransit, Delivered)
            | (InTransit, ReturnedToDealer)
            | (ReturnedToDealer, Delivered)
            | (Delivered, Operational)
    )
}

/// An illegal transition: maps to HTTP 409.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IllegalTransition {
    pub from: OrderStatus,
    pub to: OrderStatus,
}

impl fmt::Display for IllegalTransition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "order cannot go from {} to {}", self.from, self.to)
    }
}
impl std::error::Error for IllegalTransition {}

impl IllegalTransition {
    pub const HTTP_STATUS: u16 = 409;
    pub fn to_problem(&self) -> crate::problem::Problem {
        crate::problem::Problem::conflict("illegal-transition", self.to_string())
    }
}

pub fn transition(from: OrderStatus, to: OrderStatus) -> Result<OrderStatus, IllegalTransition> {
    if can_transition(from, to) { Ok(to) } else { Err(IllegalTransition { from, to }) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_unpaid_reservation_can_be_abandoned() {
        assert!(can_transition(ReservationPending, Abandoned));
        assert!(Abandoned.is_terminal());
        for s in ALL_STATUSES.iter().copied().filter(|s| *s != ReservationPending) {
            assert!(!can_transition(s, Abandoned), "{s} → abandoned");
            assert!(!can_transition(Abandoned, s), "abandoned → {s}");
        }
        assert_eq!(OrderStatus::parse("abandoned"), Some(Abandoned));
    }

    #[test]
    fn the_dealership_cancels_only_before_the_vehicle_is_paid_for() {
        let before = [ReservationPending, Reserved, FactoryOrdered, InProduction, QualityControl, ReadyToShip, Shipped, VehicleAvailable];
        for s in ALL_STATUSES {
            assert_eq!(can_transition(s, Cancelled), before.contains(&s), "{s} → cancelled");
            assert!(!can_transition(Cancelled, s), "cancelled → {s}");
        }
        assert!(Cancelled.is_terminal());
        assert!(!FullyPaid.cancellable());
        assert_eq!(OrderStatus::parse("cancelled"), Some(Cancelled));
    }

    #[test]
    fn happy_path_is_legal() {
        let path = [
            ReservationPending, Reserved, FactoryOrdered, InProduction, QualityControl, ReadyToShip, Shipped,
            VehicleAvailable, FullyPaid, Registering, Matriculated, InTransit, ReturnedToDealer, Delivered, Operational,
        ];
        for w in path.windows(2) {
            assert!(can_transition(w[0], w[1]), "{} -> {}", w[0], w[1]);
        }
        assert!(can_transition(InTransit, Delivered));
        assert!(can_transition(VehicleAvailable, Unassigned));
        assert!(can_transition(Reserved, VehicleAvailable));
    }

    #[test]
    fn illegal_moves_are_rejected() {
        assert!(!can_transition(ReservationPending, FactoryOrdered));
        assert!(!can_transition(Shipped, InProduction));
        assert!(!can_transition(Unassigned, FullyPaid));
        assert!(!can_transition(Operational, Delivered));
        assert!(!can_transition(Reserved, Reserved));
        let e = transition(ReservationPending, Delivered).unwrap_err();
        assert_eq!(e.to_problem().status, 409);
        for s in ALL_STATUSES {
            assert!(!can_transition(s, s));
            if s.is_terminal() {
                assert!(ALL_STATUSES.iter().all(|t| !can_transition(s, *t)));
            }
        }
    }

    #[test]
    fn manufacturing_may_skip_forward() {
        assert!(can_transition(FactoryOrdered, Shipped));
        assert!(can_transition(InProduction, VehicleAvailable));
    }

    #[test]
    fn names_round_trip() {
        for s in ALL_STATUSES {
            assert_eq!(OrderStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(OrderStatus::INITIAL.as_str(), "reservation-pending");
        assert_eq!(OrderStatus::parse("nope"), None);
    }
}
