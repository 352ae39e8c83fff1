//! Administrative registration (matriculation) per country, behind one interface.
//!
//! Each country's authority is an adapter implementing [`RegistrationAuthority`]: where to send
//! the request, what body it takes, and what a valid plate of that country looks like.
//! [`authority_for`] is the one lookup; an unsupported country is refused at sale registration
//! ([`crate::sale::SUPPORTED_COUNTRIES`]), so a missing adapter later is a permanent error.
use serde_json::{Value, json};

/// What the registration needs to know about the owner and the car.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationRequest {
    pub vin: String,
    pub owner_name: String,
    pub owner_national_id: String,
    pub address_line1: String,
    pub address_line2: Option<String>,
    pub city: String,
    pub postal_code: String,
    pub address_country: String,
}

/// The authority's answer we keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub registration_id: String,
    pub plate: String,
}

/// One country's registration body.
pub trait RegistrationAuthority: Sync {
    /// ISO alpha-2 code.
    fn country(&self) -> &'static str;
    /// Path under `registry_url`.
    fn path(&self) -> String {
        format!("/registrations/{}", self.country())
    }
    /// JSON body of the registration request.
    fn body(&self, r: &RegistrationRequest) -> Value {
        let line = match &r.address_line2 {
            Some(l2) if !l2.is_empty() => format!("{}, {}", r.address_line1, l2),
            _ => r.address_line1.clone(),
        };
        json!({
            "vin": r.vin,
            "owner-name": r.owner_name,
            "owner-id": r.owner_national_id,
            "address": format!("{line}, {} {}, {}", r.postal_code, r.city, r.address_country),
        })
    }
    /// Whether `plate` is a well-formed plate of this country.
    fn plate_is_valid(&self, plate: &str) -> bool;
    /// Parse the authority's success body.
    fn parse(&self, body: &str) -> Result<Registration, String> {
        let v: Value = serde_json::from_str(body).map_err(|e| format!("registration answer is not JSON: {e}"))?;
        let plate = v.get("plate").and_then(Value::as_str).unwrap_or_default().to_string();
        let id = v.get("registration-id").and_then(Value::as_str).unwrap_or_default().to_string();
        if id.is_empty() {
            return Err("registration answer has no registration-id".into());
        }
        if !self.plate_is_valid(&plate) {
            return Err(format!("registration answer has an invalid {} plate {plate:?}", self.country()));
        }
        Ok(Registration { registration_id: id, plate })
    }
}

fn consonant(c: char) -> bool {
    c.is_ascii_uppercase() && !"AEIOUQÑ".contains(c)
}

/// Spain (DGT): `1234 BCD`.
pub struct Spain;
impl RegistrationAuthority for Spain {
    fn country(&self) -> &'static str {
        "ES"
    }
    fn plate_is_valid(&self, p: &str) -> bool {
        let c: Vec<char> = p.chars().collect();
        c.len() == 8 && c[..4].iter().all(char::is_ascii_digit) && c[4] == ' ' && c[5..].iter().all(|x| consonant(*x))
    }
}

/// France (ANTS, SIV): `AB-123-CD`.
pub struct France;
impl RegistrationAuthority for France {
    fn country(&self) -> &'static str {
        "FR"
    }
    fn plate_is_valid(&self, p: &str) -> bool {
        let c: Vec<char> = p.chars().collect();
        c.len() == 9
            && c[..2].iter().all(char::is_ascii_uppercase)
            && c[2] == '-'
            && c[3..6].iter().all(char::is_ascii_digit)
            && c[6] == '-'
            && c[7..].iter().all(char::is_ascii_uppercase)
    }
}

/// Germany (KBA / Zulassungsstelle): `M-AB 1234` (district 1-3 letters, 1-2 letters, 1-4 digits).
pub struct Germany;
impl RegistrationAuthority for Germany {
    fn country(&self) -> &'static str {
        "DE"
    }
    fn plate_is_valid(&self, p: &str) -> bool {
        let Some((district, rest)) = p.split_once('-') else { return false };
        let Some((letters, digits)) = rest.split_once(' ') else { return false };
        (1..=3).contains(&district.len())
            && district.chars().all(|c| c.is_ascii_uppercase())
            && (1..=2).contains(&letters.len())
            && letters.chars().all(|c| c.is_ascii_uppercase())
            && (1..=4).contains(&digits.len())
            && digits.chars().all(|c| c.is_ascii_digit())
    }
}

static SPAIN: Spain = Spain;
static FRANCE: France = France;
static GERMANY: Germany = Germany;

/// The adapter of a country (case-insensitive), or None if CaaS does not register there.
pub fn authority_for(country: &str) -> Option<&'static dyn RegistrationAuthority> {
    match country.trim().to_ascii_uppercase().as_str() {
        "ES" => Some(&SPAIN),
        "FR" => Some(&FRANCE),
        "DE" => Some(&GERMANY),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> RegistrationRequest {
        RegistrationRequest {
            vin: "WCA12345678901234".into(),
            owner_name: "Ana".into(),
            owner_national_id: "X1234567L".into(),
            address_line1: "Calle Mayor 1".into(),
            address_line2: None,
            city: "Madrid".into(),
            postal_code: "28013".into(),
            address_country: "ES".into(),
        }
    }

    #[test]
    fn every_supported_country_has_an_adapter() {
        for c in crate::sale::SUPPORTED_COUNTRIES {
            let a = authority_for(c).expect(c);
            assert_eq!(a.country(), c);
            assert_eq!(a.path(), format!("/registrations/{c}"));
        }
        assert!(authority_for("es").is_some());
        assert!(authority_for("IT").is_none());
    }

    #[test]
    fn plates_per_country() {
        let es = authority_for("ES").unwrap();
        assert!(es.plate_is_valid("1234 BCD"));
        assert!(!es.plate_is_valid("1234 BAD"));
        assert!(!es.plate_is_valid("AB-123-CD"));
        let fr = authority_for("FR").unwrap();
        assert!(fr.plate_is_valid("AB-123-CD"));
        assert!(!fr.plate_is_valid("1234 BCD"));
        let de = authority_for("DE").unwrap();
        assert!(de.plate_is_valid("M-AB 1234"));
        assert!(de.plate_is_valid("HH-X 1"));
        assert!(!de.plate_is_valid("M-AB1234"));
    }

    #[test]
    fn body_and_parse() {
        let es = authority_for("ES").unwrap();
        let b = es.body(&req());
        assert_eq!(b["vin"], "WCA12345678901234");
        assert_eq!(b["owner-id"], "X1234567L");
        assert!(b["address"].as_str().unwrap().contains("Madrid"));
        let ok = es.parse(r#"{"registration-id":"reg_1","plate":"1234 BCD"}"#).unwrap();
        assert_eq!(ok.plate, "1234 BCD");
        assert!(es.parse(r#"{"registration-id":"reg_1","plate":"AB-123-CD"}"#).is_err());
        assert!(es.parse("nope").is_err());
        assert!(es.parse(r#"{"plate":"1234 BCD"}"#).is_err());
    }
}
