//! App ↔ vehicle link (vehicle-purchase.md "Mobile Application Linking").
//!
//! **Link code.** The car shows a 6-character code on its display (and on the delivery papers).
//! It is not stored anywhere: it is derived from the VIN with a server secret,
//! `link_code(secret, vin)` = the first 30 bits of HMAC-SHA256(`link_code_secret`, `"link:" + VIN`)
//! as 6 Crockford base-32 characters (upper case, no I/L/O/U). Knowing a VIN (printed on the
//! windscreen) is not enough to link a car; the code is only readable inside it. Codes are
//! compared ignoring case, spaces and dashes, in constant time.
//!
//! **Linking** (the delivered order's own customer only; one vehicle ↔ one account) makes the
//! order `operational`, the base platform active, and queues the activation of every optional
//! service of the plan comercial ([`plan_services`]); those were paid with the vehicle, so they
//! start in `pending-activation` with one OTA command each.
use crate::services::catalog::Catalog;
use crate::services::lifecycle::ServiceState;
use crate::services::ota::{OtaAction, command_id};
use sha2::{Digest, Sha256};

/// VIN: 17 characters, digits and upper-case letters except I, O, Q (ISO 3779).
pub fn normalize_vin(s: &str) -> Option<String> {
    let v = s.trim().to_ascii_uppercase();
    (v.len() == 17 && v.bytes().all(|b| b.is_ascii_digit() || (b.is_ascii_uppercase() && !matches!(b, b'I' | b'O' | b'Q'))))
        .then_some(v)
}

/// HMAC-SHA256 (RFC 2104).
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    const B: usize = 64;
    let mut k = [0u8; B];
    if key.len() > B {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(msg);
    let ih = inner.finalize();
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(ih);
    outer.finalize().into()
}

const CODE_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
pub const LINK_CODE_LEN: usize = 6;

/// The link code the vehicle with `vin` displays (see module docs).
pub fn link_code(secret: &str, vin: &str) -> String {
    let mac = hmac_sha256(secret.as_bytes(), format!("link:{vin}").as_bytes());
    let n = u32::from_be_bytes([mac[0], mac[1], mac[2], mac[3]]);
    (0..LINK_CODE_LEN).map(|i| CODE_ALPHABET[((n >> (27 - 5 * i)) & 0x1f) as usize] as char).collect()
}

/// Canonical form of a typed code (upper case, no spaces/dashes; O→0, I/L→1 as people misread).
pub fn normalize_code(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        })
        .take(32)
        .collect()
}

/// Constant-time check of a typed code against the vehicle's.
pub fn code_matches(secret: &str, vin: &str, typed: &str) -> bool {
    let want = link_code(secret, vin);
    let got = normalize_code(typed);
    want.len() == got.len() && want.bytes().zip(got.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// One optional service of the plan comercial to create at link time.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedService {
    pub option_code: String,
    /// IoT feature key.
    pub feature: String,
    /// Catalog kind (`temporary`/`permanent`/`subscription`), or `plan` for a code the catalog
    /// does not know (sold with the car; activated as its own feature).
    pub kind: String,
    pub state: ServiceState,
    /// A subscription of the plan: its monthly catalog price, billed in arrears once the months
    /// included with the car are over (None: included for good).
    pub monthly_price: Option<crate::wit::Money>,
}

/// Feature key for an option code unknown to the catalog: lower case, `[a-z0-9-]`.
fn feature_key(code: &str) -> String {
    let s: String = code
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    s.trim_matches('-').to_string()
}

/// The services a link creates: one per plan option (deduplicated, order kept), each
/// `pending-activation` (paid with the vehicle).
pub fn plan_services(plan_options: &[String], catalog: &Catalog) -> Vec<PlannedService> {
    let mut out: Vec<PlannedService> = Vec::new();
    for code in plan_options {
        let lower = code.to_ascii_lowercase();
        let (feature, kind, monthly_price) = match catalog.get(&lower).or_else(|| catalog.get(code)) {
            Some(o) => {
                let monthly = matches!(o.kind, crate::services::catalog::OptionKind::Subscription).then(|| o.price.clone());
                (o.feature.clone(), o.kind.as_str().to_string(), monthly)
            }
            None => (feature_key(code), "plan".to_string(), None),
        };
        if feature.is_empty() || out.iter().any(|p| p.option_code == *code) {
            continue;
        }
        out.push(PlannedService { option_code: code.clone(), feature, kind, state: ServiceState::PendingActivation, monthly_price });
    }
    out
}

/// The OTA job that activates a planned service (generation 0: the first activation).
pub fn activation_command(service_id: &str, vin: &str, feature: &str) -> crate::wit::OtaCommand {
    crate::wit::OtaCommand {
        command_id: command_id(service_id, OtaAction::Activate, 0),
        service_id: service_id.to_string(),
        vin: vin.to_string(),
        feature: feature.to_string(),
        action: OtaAction::Activate.as_str().to_string(),
    }
}

/// The customer's confirmation that the app is linked and the base platform is active: e-mail,
/// push and the vehicle's display (routed as a service activation; `crate::notify`), message
/// ids `<prefix>:<channel>`.
pub fn linked_notifications(
    message_id_prefix: &str,
    customer_id: &str,
    email: &str,
    vin: &str,
    model: &str,
    services_queued: usize,
) -> Vec<crate::wit::Notification> {
    let to = crate::notify::Contact::customer(customer_id, email, "").with_vehicle(Some(vin));
    crate::notify::notifications(message_id_prefix, &to, &msg_linked(vin, model, services_queued))
}

/// The "vehicle linked, base platform active" message (a service activation; `crate::messages::linked`).
pub fn msg_linked(vin: &str, model: &str, services_queued: usize) -> crate::notify::Message {
    crate::messages::linked(vin, model, services_queued)
}

/// The feature key of the customer's authorisation pushed to the car when the app is linked.
pub const AUTHORIZATION_FEATURE: &str = "customer-authorization";

/// The one command id of the authorisation of `customer_id` on `vin`: a retried push is applied
/// once by the IoT platform.
pub fn authorization_command_id(vin: &str, customer_id: &str) -> String {
    format!("link_{vin}_{customer_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(hex::encode(mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        // Long keys are hashed first (RFC 4231 case 6).
        let mac = hmac_sha256(&[0xaa; 131], b"Test Using Larger Than Block-Size Key - Hash Key First");
        assert_eq!(hex::encode(mac), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    }

    #[test]
    fn vins() {
        assert_eq!(normalize_vin(" wca1234567890abcd ").as_deref(), Some("WCA1234567890ABCD"));
        assert_eq!(normalize_vin("WCA1234567890ABCI"), None);
        assert_eq!(normalize_vin("SHORT"), None);
        assert_eq!(normalize_vin("WCA1234567890ABC!"), None);
    }

    #[test]
    fn link_codes_are_deterministic_and_secret_bound() {
        let c = link_code("s3cret", "WCA1234567890ABCD");
        assert_eq!(c.len(), 6);
        assert!(c.bytes().all(|b| CODE_ALPHABET.contains(&b)));
        assert_eq!(c, link_code("s3cret", "WCA1234567890ABCD"));
        assert_ne!(c, link_code("other", "WCA1234567890ABCD"));
        assert_ne!(c, link_code("s3cret", "WCA1234567890ABCE"));
        assert!(code_matches("s3cret", "WCA1234567890ABCD", &c));
        let typed = format!("{}-{}", &c[..3].to_lowercase(), &c[3..]);
        assert!(code_matches("s3cret", "WCA1234567890ABCD", &typed));
        assert!(!code_matches("s3cret", "WCA1234567890ABCD", "000000"));
        assert!(!code_matches("s3cret", "WCA1234567890ABCD", ""));
    }

    #[test]
    fn plan_services_map_the_catalog() {
        let cat = crate::services::catalog::seed_catalog();
        let plan = plan_services(
            &["heated-seats".into(), "AUTOPILOT-HWY".into(), "heated-seats".into(), "---".into()],
            &cat,
        );
        assert_eq!(plan.len(), 2);
        assert_eq!(plan[0].feature, "heated-seats");
        assert_eq!(plan[0].kind, "permanent");
        assert_eq!(plan[1].feature, "autopilot-hwy");
        assert_eq!(plan[1].kind, "plan");
        assert!(plan.iter().all(|p| p.state == ServiceState::PendingActivation && p.monthly_price.is_none()));
        // A subscription in the plan carries its monthly price (billed after the included months).
        let sub = plan_services(&["ENTERTAINMENT-PLUS".into()], &cat);
        assert_eq!(sub[0].kind, "subscription");
        assert!(sub[0].monthly_price.as_ref().is_some_and(|p| p.amount_minor > 0), "{:?}", sub[0]);
        let cmd = activation_command("svc_1", "WCA1234567890ABCD", "heated-seats");
        assert_eq!(cmd.command_id, "cmd_svc_1_activate_0");
        assert_eq!(cmd.action, "activate");
    }

    #[test]
    fn linked_confirmation_goes_to_app_mail_and_car() {
        let n = linked_notifications("link_x", "cus_1", "a@b.example", "WCA1234567890ABCD", "CAAS-SEDAN-24", 2);
        assert_eq!(n.len(), 3);
        assert_eq!(n[2].recipient, "WCA1234567890ABCD");
        assert_eq!(n[1].recipient, "cus_1");
        assert!(n[0].body.contains("2 optional service(s)"));
        assert_eq!(n[0].message_id, "link_x:email");
        assert_ne!(n[0].message_id, n[1].message_id);
    }
}

/// Where a vehicle row stands (`vehicles.status`): assigned to an order, or back in dealership
/// stock ("sin asignar", resold through a sale's `stock_vin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VehicleStatus {
    Assigned,
    Stock,
}

impl VehicleStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            VehicleStatus::Assigned => "assigned",
            VehicleStatus::Stock => "stock",
        }
    }
    pub fn parse(s: &str) -> Option<VehicleStatus> {
        [VehicleStatus::Assigned, VehicleStatus::Stock].into_iter().find(|v| v.as_str() == s)
    }
}

#[cfg(test)]
mod vehicle_status_tests {
    use super::VehicleStatus;

    #[test]
    fn vehicle_status_round_trips() {
        for v in [VehicleStatus::Assigned, VehicleStatus::Stock] {
            assert_eq!(VehicleStatus::parse(v.as_str()), Some(v));
            assert_eq!(serde_json::to_value(v).unwrap(), v.as_str());
        }
        assert_eq!(VehicleStatus::parse("sold"), None);
    }
}
