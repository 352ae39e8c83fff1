//! Roles, principals, sessions and employee seeding (pure parts of authentication).
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Customer,
    Employee,
    Admin,
    /// Technical support (issue 8): works the queue of failed OTA activations
    /// (`/api/support/...`); may not register sales.
    Support,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Employee => "employee",
            Role::Admin => "admin",
            Role::Support => "support",
        }
    }
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "customer" => Some(Role::Customer),
            "employee" => Some(Role::Employee),
            "admin" => Some(Role::Admin),
            "support" => Some(Role::Support),
            _ => None,
        }
    }
    /// Dealership staff (may register sales).
    pub fn is_staff(self) -> bool {
        matches!(self, Role::Employee | Role::Admin)
    }
    /// Any staff account (the `employees` table): employee, admin or support.
    pub fn is_employee_account(self) -> bool {
        self != Role::Customer
    }
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    pub subject_id: String,
    pub role: Role,
}

/// What the session store keeps under SHA-256(token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionData {
    pub subject: String,
    pub role: Role,
    /// Unix ms.
    pub expires_at: i64,
    /// A customer still on the e-mailed password: only the password change is allowed.
    #[serde(default)]
    pub must_change_password: bool,
    /// The subject's session generation when the session was created: a session is dead once
    /// the subject's generation (bumped by password change, set-password, reset, disable) is
    /// higher. Revokes every session of an account at once, however many there are.
    #[serde(default)]
    pub generation: u64,
}

impl SessionData {
    pub fn is_valid_at(&self, now_ms: i64) -> bool {
        now_ms < self.expires_at
    }
}

/// Random bytes of a session token (256 bits).
pub const TOKEN_RANDOM_BYTES: usize = 32;

/// Opaque bearer token: lowercase hex of 32 random bytes.
pub fn make_token(random: &[u8; TOKEN_RANDOM_BYTES]) -> String {
    random.iter().map(|b| format!("{b:02x}")).collect()
}

/// An employee to seed from the `seed_employees` variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedEmployee {
    pub email: String,
    pub password_hash: String,
    pub role: Role,
}

/// Parse `email:PHC[:role];email:PHC[:role]...` (role defaults to employee; only
/// employee|admin|support). Invalid entries are reported, valid ones kept.
pub fn parse_seed_employees(spec: &str) -> (Vec<SeedEmployee>, Vec<String>) {
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    for (i, entry) in spec.split(';').map(str::trim).enumerate() {
        if entry.is_empty() {
            continue;
        }
        let mut parts = entry.split(':');
        let email = parts.next().unwrap_or("").trim().to_lowercase();
        let hash = parts.next().unwrap_or("").trim().to_string();
        let role = match parts.next().map(str::trim) {
            None | Some("") => Some(Role::Employee),
            Some(r) => Role::parse(r).filter(|r| r.is_employee_account()),
        };
        if parts.next().is_some() || !crate::sale::is_email(&email) || !crate::password::is_argon2_phc(&hash) {
            bad.push(format!("seed_employees entry {i} is malformed"));
            continue;
        }
        match role {
            Some(role) => ok.push(SeedEmployee { email, password_hash: hash, role }),
            None => bad.push(format!("seed_employees entry {i} has an unknown role")),
        }
    }
    (ok, bad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::password::DUMMY_PHC;

    #[test]
    fn seeds_parse() {
        let spec = format!("Employee@CaaS.example:{DUMMY_PHC}:employee; admin@caas.example:{DUMMY_PHC}:admin;x@y.example:{DUMMY_PHC};bad;z@y.example:{DUMMY_PHC}:customer;s@y.example:{DUMMY_PHC}:support");
        let (ok, bad) = parse_seed_employees(&spec);
        assert_eq!(ok.len(), 4);
        assert_eq!(ok[3].role, Role::Support);
        assert!(!Role::Support.is_staff() && Role::Support.is_employee_account());
        assert_eq!(ok[0].email, "employee@caas.example");
        assert_eq!(ok[1].role, Role::Admin);
        assert_eq!(ok[2].role, Role::Employee);
        assert_eq!(bad.len(), 2);
        assert_eq!(parse_seed_employees("").0.len(), 0);
    }

    #[test]
    fn tokens_and_sessions() {
        let t = make_token(&[0xab; 32]);
        assert_eq!(t.len(), 64);
        let s = SessionData { subject: "cus_1".into(), role: Role::Customer, expires_at: 10, must_change_password: false, generation: 0 };
        assert!(s.is_valid_at(9));
        assert!(!s.is_valid_at(10));
        let j = serde_json::to_string(&s).unwrap();
        assert!(j.contains("\"role\":\"customer\""));
        assert!(Role::Admin.is_staff() && !Role::Customer.is_staff());
        // Sessions stored before the flag existed still decode.
        let old: SessionData = serde_json::from_str(r#"{"subject":"c","role":"customer","expires_at":1}"#).unwrap();
        assert!(!old.must_change_password);
        assert_eq!(old.generation, 0);
    }
}
