//! The customer's notification preferences: SMS opt-in and the routing table's optional cells
//! (`crate::routing::is_optional`) switched on or off. Mandatory cells (among them e-mail for
//! every payment message) cannot be switched off: such a request is refused with 422.
//!
//! API shape (`GET /api/account` `preferences`, `PUT /api/account/preferences`):
//! `{"sms_opt_in": bool, "channels": {"<kind>": {"email": bool, "push": bool, "sms": bool}},
//!   "mandatory": {"<kind>": ["email", ...]}}` — `channels` lists every preference cell of the
//! customer kinds (`crate::routing::CUSTOMER_KINDS`) with whether it is delivered; optional SMS
//! cells are delivered only with the opt-in. A PUT gives `sms_opt_in` and/or some cells.
//! Stored as `customers.sms_opt_in` and `customers.notification_prefs` (`{"<kind>.<channel>": false}`).
use crate::problem::{FieldError, Problem};
use crate::routing::{CUSTOMER_KINDS, NotificationKind, is_optional, preference_cells};
use crate::wit::Channel;
use serde_json::{Map, Value, json};

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Preferences {
    pub sms_opt_in: bool,
    /// Optional cells switched off.
    pub off: Vec<(NotificationKind, Channel)>,
}

fn channel_key(c: Channel) -> &'static str {
    match c {
        Channel::Email => "email",
        Channel::Push => "push",
        Channel::Sms => "sms",
        Channel::VehicleDisplay => "vehicle_display",
    }
}

fn channel_of(key: &str) -> Option<Channel> {
    [Channel::Email, Channel::Push, Channel::Sms].into_iter().find(|c| channel_key(*c) == key)
}

impl Preferences {
    /// From the stored columns (unknown or malformed entries are ignored).
    pub fn from_stored(sms_opt_in: bool, prefs_json: &str) -> Preferences {
        let mut off = Vec::new();
        if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(prefs_json) {
            for (k, v) in m {
                let Some((kind, ch)) = k.split_once('.') else { continue };
                if let (Some(kind), Some(ch), Some(false)) = (NotificationKind::from_key(kind), channel_of(ch), v.as_bool())
                    && is_optional(kind, ch)
                {
                    off.push((kind, ch));
                }
            }
        }
        Preferences { sms_opt_in, off }
    }

    /// The `notification_prefs` column.
    pub fn to_stored(&self) -> String {
        let m: Map<String, Value> = self.off.iter().map(|(k, c)| (format!("{}.{}", k.key(), channel_key(*c)), Value::Bool(false))).collect();
        Value::Object(m).to_string()
    }

    /// Whether `kind` is delivered on `channel` (a preference cell).
    pub fn delivered(&self, kind: NotificationKind, channel: Channel) -> bool {
        if !is_optional(kind, channel) {
            return true;
        }
        self.sms_opt_in && !self.off.contains(&(kind, channel))
    }

    /// The API shape (module docs).
    pub fn to_json(&self) -> Value {
        let mut channels = Map::new();
        let mut mandatory = Map::new();
        for kind in CUSTOMER_KINDS {
            let cells = preference_cells(kind);
            channels.insert(kind.key().into(), Value::Object(cells.iter().map(|c| (channel_key(*c).to_string(), Value::Bool(self.delivered(kind, *c)))).collect()));
            mandatory.insert(kind.key().into(), json!(cells.iter().filter(|c| !is_optional(kind, **c)).map(|c| channel_key(*c)).collect::<Vec<_>>()));
        }
        json!({"sms_opt_in": self.sms_opt_in, "channels": channels, "mandatory": mandatory})
    }

    /// Apply a `PUT /api/account/preferences` body. 400 (with errors[]) for a malformed body or
    /// an unknown kind/channel; 422 for switching off a mandatory cell. Nothing applies on error.
    /// Switching an optional SMS cell on does not opt in: `sms_opt_in` is the consent.
    pub fn update(&self, body: &Value) -> Result<Preferences, Problem> {
        let Some(root) = body.as_object() else {
            return Err(Problem::validation(vec![FieldError::new("", "request body must be a JSON object")]));
        };
        let mut errors = Vec::new();
        let mut mandatory_off = Vec::new();
        let mut next = self.clone();
        for k in root.keys() {
            if k != "sms_opt_in" && k != "channels" {
                errors.push(FieldError::new(format!("/{k}"), "is not a preference (sms_opt_in, channels)"));
            }
        }
        match root.get("sms_opt_in") {
            None => {}
            Some(Value::Bool(b)) => next.sms_opt_in = *b,
            Some(_) => errors.push(FieldError::new("/sms_opt_in", "must be true or false")),
        }
        match root.get("channels") {
            None => {}
            Some(Value::Object(kinds)) => {
                for (kk, cells) in kinds {
                    let Some(kind) = NotificationKind::from_key(kk) else {
                        errors.push(FieldError::new(format!("/channels/{kk}"), "unknown notification kind"));
                        continue;
                    };
                    let Some(cells) = cells.as_object() else {
                        errors.push(FieldError::new(format!("/channels/{kk}"), "must be an object of channel: true|false"));
                        continue;
                    };
                    for (ck, on) in cells {
                        let ptr = format!("/channels/{kk}/{ck}");
                        let ch = channel_of(ck).filter(|c| preference_cells(kind).contains(c));
                        match (ch, on.as_bool()) {
                            (None, _) => errors.push(FieldError::new(ptr, format!("{kk} is not sent by {ck}"))),
                            (_, None) => errors.push(FieldError::new(ptr, "must be true or false")),
                            (Some(ch), Some(on)) if !is_optional(kind, ch) => {
                                if !on {
                                    mandatory_off.push(FieldError::new(ptr, format!("{ck} for {kk} is mandatory and cannot be switched off")));
                                }
                            }
                            (Some(ch), Some(true)) => next.off.retain(|c| *c != (kind, ch)),
                            (Some(ch), Some(false)) => {
                                if !next.off.contains(&(kind, ch)) {
                                    next.off.push((kind, ch));
                                }
                            }
                        }
                    }
                }
            }
            Some(_) => errors.push(FieldError::new("/channels", "must be an object of kind: {channel: true|false}")),
        }
        if !errors.is_empty() {
            return Err(Problem::validation(errors));
        }
        if !mandatory_off.is_empty() {
            return Err(Problem::unprocessable("mandatory-channel", "these notifications are always sent on this channel (e-mail for payments is always on)")
                .with_errors(mandatory_off));
        }
        next.off.sort_by_key(|(k, c)| (k.key(), channel_key(*c)));
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opt_in_and_optional_cells() {
        let p = Preferences::default();
        assert!(!p.delivered(NotificationKind::ManufacturingStatus, Channel::Sms), "SMS needs the opt-in");
        assert!(p.delivered(NotificationKind::VehicleReady, Channel::Sms), "mandatory cell");
        let p = p.update(&json!({"sms_opt_in": true})).unwrap();
        assert!(p.delivered(NotificationKind::ManufacturingStatus, Channel::Sms));
        let p = p.update(&json!({"channels": {"maintenance_due": {"sms": false}}})).unwrap();
        assert!(!p.delivered(NotificationKind::MaintenanceDue, Channel::Sms));
        assert!(p.delivered(NotificationKind::ManufacturingStatus, Channel::Sms));
        let stored = p.to_stored();
        assert_eq!(Preferences::from_stored(true, &stored), p);
        let j = p.to_json();
        assert_eq!(j["channels"]["maintenance_due"]["sms"], false);
        assert_eq!(j["channels"]["manufacturing_status"]["sms"], true);
        assert_eq!(j["mandatory"]["payment_confirmation"], json!(["email", "push"]));
        assert_eq!(j["mandatory"]["manufacturing_status"], json!(["email", "push"]));
    }

    #[test]
    fn mandatory_cells_refused_with_422_nothing_applied() {
        let p = Preferences::default();
        let e = p.update(&json!({"sms_opt_in": true, "channels": {"payment_confirmation": {"email": false}}})).unwrap_err();
        assert_eq!(e.status, 422);
        // Saying a mandatory cell is on is fine.
        assert!(p.update(&json!({"channels": {"payment_confirmation": {"email": true}}})).is_ok());
        for bad in [json!({"channels": {"nope": {"email": false}}}), json!({"channels": {"payment_confirmation": {"sms": true}}}), json!({"sms_opt_in": "yes"}), json!({"x": 1}), json!([])] {
            assert_eq!(p.update(&bad).unwrap_err().status, 400, "{bad}");
        }
        assert_eq!(Preferences::from_stored(false, "not json"), Preferences::default());
        // A stored mandatory cell (hand-edited) is ignored.
        assert!(Preferences::from_stored(false, r#"{"payment_confirmation.email": false}"#).off.is_empty());
    }
}
