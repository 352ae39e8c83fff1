//! Notification routing table (customer-platforms.md "Notification Types and Delivery").
use crate::wit::Channel;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationKind {
    CredentialsSent,
    ManufacturingStatus,
    VehicleReady,
    PaymentConfirmation,
    ServiceActivated,
    OtaFailure,
    MaintenanceDue,
}

impl NotificationKind {
    /// Template name used in the notification.
    pub fn template(self) -> &'static str {
        match self {
            NotificationKind::CredentialsSent => "credentials",
            NotificationKind::ManufacturingStatus => "manufacturing-status",
            NotificationKind::VehicleReady => "vehicle-ready",
            NotificationKind::PaymentConfirmation => "payment-confirmation",
            NotificationKind::ServiceActivated => "service-activated",
            NotificationKind::OtaFailure => "ota-failure",
            NotificationKind::MaintenanceDue => "maintenance-due",
        }
    }
}

/// Channels for an event. `sms_opt_in` decides the table's "Optional" SMS cells
/// (manufacturing status, maintenance due); mandatory cells ignore it.
pub fn channels(kind: NotificationKind, sms_opt_in: bool) -> Vec<Channel> {
    use Channel::*;
    use NotificationKind::*;
    match kind {
        CredentialsSent => vec![Email],
        ManufacturingStatus => {
            let mut v = vec![Email, Push];
            if sms_opt_in {
                v.push(Sms);
            }
            v
        }
        VehicleReady => vec![Email, Push, Sms],
        PaymentConfirmation => vec![Email, Push],
        ServiceActivated => vec![Email, Push, VehicleDisplay],
        OtaFailure => vec![Email, Push, Sms],
        MaintenanceDue => {
            let mut v = vec![Email, Push, VehicleDisplay];
            if sms_opt_in {
                v.push(Sms);
            }
            v
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Channel::*;

    #[test]
    fn table_matches_spec() {
        assert_eq!(channels(NotificationKind::CredentialsSent, true), vec![Email]);
        assert_eq!(channels(NotificationKind::ManufacturingStatus, false), vec![Email, Push]);
        assert_eq!(channels(NotificationKind::ManufacturingStatus, true), vec![Email, Push, Sms]);
        assert_eq!(channels(NotificationKind::VehicleReady, false), vec![Email, Push, Sms]);
        assert_eq!(channels(NotificationKind::PaymentConfirmation, true), vec![Email, Push]);
        assert_eq!(channels(NotificationKind::ServiceActivated, false), vec![Email, Push, VehicleDisplay]);
        assert_eq!(channels(NotificationKind::OtaFailure, false), vec![Email, Push, Sms]);
        assert_eq!(channels(NotificationKind::MaintenanceDue, false), vec![Email, Push, VehicleDisplay]);
        assert_eq!(channels(NotificationKind::MaintenanceDue, true).len(), 4);
        assert_eq!(NotificationKind::CredentialsSent.template(), "credentials");
    }
}
