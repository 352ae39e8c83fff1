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
    /// A subscription charge was declined; it will be retried (issue 4 dunning). Not in the
    /// spec's table: a payment event, routed like "Payment Confirmation" plus SMS (urgent like
    /// "OTA Failure": the customer must act before the service is cancelled).
    SubscriptionPaymentFailed,
    /// Subscription cancelled after the last failed retry (feature deactivated): as above.
    SubscriptionCancelledPaymentFailed,
    /// A service cancellation / withdrawal (refund) decided: a payment event, routed like
    /// "Payment Confirmation" (e-mail + push).
    ServiceCancelled,
    /// Theft report acknowledged with its outcome: e-mail + push (never the stolen vehicle's display).
    TheftReported,
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
            NotificationKind::SubscriptionPaymentFailed => "subscription-payment-failed",
            NotificationKind::SubscriptionCancelledPaymentFailed => "subscription-cancelled-payment-failed",
            NotificationKind::ServiceCancelled => "service-cancelled",
            NotificationKind::TheftReported => "theft-reported",
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
        SubscriptionPaymentFailed | SubscriptionCancelledPaymentFailed => vec![Email, Push, Sms],
        ServiceCancelled | TheftReported => vec![Email, Push],
    }
}


/// Placeholder stored instead of a delivered (or abandoned) secret.
pub const REDACTED: &str = "[redacted]";

/// The credentials e-mail of a newly registered customer (routing: e-mail only).
pub fn credentials_notification(message_id: &str, customer_id: &str, email: &str, full_name: &str, password: &str) -> crate::wit::Notification {
    crate::wit::Notification {
        message_id: message_id.to_string(),
        channel: channels(NotificationKind::CredentialsSent, false)[0],
        recipient: email.to_string(),
        template: NotificationKind::CredentialsSent.template().to_string(),
        subject: "Your CaaS access credentials".to_string(),
        body: format!(
            "Hello {full_name},\n\nYour CaaS account is ready. Sign in to the web platform or the mobile app with:\n\n  e-mail: {email}\n  password: {password}\n\nYou will be asked to change this password at your first sign-in."
        ),
        customer_id: Some(customer_id.to_string()),
    }
}

/// The job with secrets removed (credentials bodies), for storage after delivery/escalation.
pub fn redact(job: &crate::wit::Job) -> crate::wit::Job {
    match job {
        crate::wit::Job::Notify(n) if n.template == NotificationKind::CredentialsSent.template() => {
            let mut n = n.clone();
            n.body = REDACTED.to_string();
            crate::wit::Job::Notify(n)
        }
        other => other.clone(),
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

    #[test]
    fn credentials_mail_and_redaction() {
        let n = credentials_notification("msg_1", "cus_1", "a@b.example", "Ana", "Abcd-efgh-2345-jkmn");
        assert_eq!(n.channel, Channel::Email);
        assert_eq!(n.template, "credentials");
        assert!(n.body.contains("a@b.example") && n.body.contains("Abcd-efgh-2345-jkmn"));
        let job = crate::wit::Job::Notify(n);
        match redact(&job) {
            crate::wit::Job::Notify(r) => {
                assert!(!r.body.contains("Abcd-efgh-2345-jkmn"));
                assert_eq!(r.message_id, "msg_1");
            }
            _ => panic!(),
        }
        let other = crate::wit::Job::PlaceFactoryOrder("ord_1".into());
        assert_eq!(redact(&other), other);
    }
}
