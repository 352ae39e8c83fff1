//! Administrative registration per country: `POST /registrations/{country}` for ES/FR/DE.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::Ctx;
use crate::http::{Req, Resp};
use crate::util::{now_rfc3339, req_str, unix_now};

pub const COUNTRIES: [&str; 3] = ["ES", "FR", "DE"];
const ES_LETTERS: &[u8] = b"BCDFGHJKLMNPRSTVWXYZ";
const FR_LETTERS: &[u8] = b"ABCDEFGHJKLMNPQRSTVWXYZ";
const DE_LETTERS: &[u8] = b"ABCDEFGHIJKLMNOPRSTUVWXYZ";

fn letters(mut n: u64, alphabet: &[u8], k: usize) -> String {
    let mut out = vec![b'A'; k];
    for slot in out.iter_mut().rev() {
        *slot = alphabet[(n % alphabet.len() as u64) as usize];
        n /= alphabet.len() as u64;
    }
    String::from_utf8(out).unwrap()
}

/// Plate number `n` in the country's format.
pub fn plate(country: &str, n: u64) -> String {
    match country {
        // "1234 BCD": 4 digits + 3 consonants
        "ES" => format!("{:04} {}", n % 10_000, letters(n / 10_000, ES_LETTERS, 3)),
        // "AB-123-CD": digits 001..999
        "FR" => {
            let l = letters(n / 999, FR_LETTERS, 4);
            format!("{}-{:03}-{}", &l[..2], n % 999 + 1, &l[2..])
        }
        // "M-AB 1234"
        _ => format!("M-{} {}", letters(n / 9000, DE_LETTERS, 2), 1000 + n % 9000),
    }
}

struct State {
    seq: u64,
    plate_seq: u64,
    registrations: Vec<Value>,
}

pub(crate) struct Registry {
    ctx: Arc<Ctx>,
    st: Mutex<State>,
}

impl Registry {
    pub fn new(ctx: Arc<Ctx>) -> Registry {
        // Start the plate serial from the clock so that two runs do not hand out the same plates.
        let plate_seq = (unix_now() % 100_000) * 100;
        Registry { ctx, st: Mutex::new(State { seq: 0, plate_seq, registrations: vec![] }) }
    }
    pub fn reset(&self) {
        self.st.lock().unwrap().registrations.clear();
    }

    pub fn handle(&self, req: &Req) -> Resp {
        match (req.method.as_str(), req.segs().as_slice()) {
            ("POST", ["registrations", country]) => self.register(req, country),
            ("GET", ["registrations"]) | ("GET", ["_control", "registrations"]) => {
                let list: Vec<Value> = self
                    .registrations()
                    .into_iter()
                    .filter(|r| ["vin", "country", "plate"].iter().all(|k| req.q(k).is_none_or(|v| r[*k].as_str() == Some(v))))
                    .collect();
                Resp::json(200, &json!({"registrations": list}))
            }
            ("GET", ["registrations", country, vin]) => {
                let c = country.to_ascii_uppercase();
                match self.registrations().into_iter().find(|r| r["country"] == c.as_str() && r["vin"] == *vin) {
                    Some(r) => Resp::json(200, &r),
                    None => Resp::problem(404, "Registration not found", &format!("no registration of {vin} in {c}")),
                }
            }
            _ => Resp::not_found(req),
        }
    }

    fn register(&self, req: &Req, country: &str) -> Resp {
        let country = country.to_ascii_uppercase();
        if !COUNTRIES.contains(&country.as_str()) {
            return Resp::problem(422, "Unsupported country", &format!("no administrative registration adapter for {country}; supported: ES, FR, DE"));
        }
        let m = match req.json_object() {
            Ok(m) => m,
            Err(r) => return r,
        };
        let mut errors = Vec::new();
        let vin = req_str(&m, "vin", &mut errors).map(str::to_string);
        req_str(&m, "owner-name", &mut errors);
        req_str(&m, "owner-id", &mut errors);
        match m.get("address") {
            Some(Value::String(s)) if !s.trim().is_empty() => {}
            Some(Value::Object(o)) if !o.is_empty() => {}
            None | Some(Value::Null) => errors.push(json!({"field": "address", "detail": "is required"})),
            Some(_) => errors.push(json!({"field": "address", "detail": "must be a non-empty string or object"})),
        }
        if !errors.is_empty() {
            return Resp::invalid(errors);
        }
        let vin = vin.unwrap();
        let mut st = self.st.lock().unwrap();
        // A vehicle is registered once per country: a repeat returns the existing registration.
        if let Some(r) = st.registrations.iter().find(|r| r["country"] == country.as_str() && r["vin"] == vin.as_str()) {
            return Resp::json(200, r).with_header("idempotent-replayed", "true");
        }
        st.seq += 1;
        st.plate_seq += 1;
        let reg = json!({"registration-id": format!("reg_{}{:06}", self.ctx.tag, st.seq), "country": country, "vin": vin,
                         "plate": plate(&country, st.plate_seq), "owner-name": m["owner-name"], "owner-id": m["owner-id"],
                         "address": m["address"], "registered-at": now_rfc3339()});
        st.registrations.push(reg.clone());
        Resp::json(201, &reg)
    }

    fn registrations(&self) -> Vec<Value> {
        self.st.lock().unwrap().registrations.clone()
    }
}

/// In-process view of the registries.
#[derive(Clone)]
pub struct RegistryHandle(pub(crate) Arc<Registry>);

impl RegistryHandle {
    /// Every registration: {registration-id, country, vin, plate, owner-name, owner-id, address, registered-at}.
    pub fn registrations(&self) -> Vec<Value> {
        self.0.registrations()
    }
}

#[cfg(test)]
mod tests {
    use super::plate;
    #[test]
    fn plate_formats() {
        let es = plate("ES", 123_456);
        assert!(es.len() == 8 && es.as_bytes()[4] == b' ' && es[..4].bytes().all(|b| b.is_ascii_digit()), "{es}");
        let fr = plate("FR", 5_000_000);
        let b = fr.as_bytes();
        assert!(fr.len() == 9 && b[2] == b'-' && b[6] == b'-', "{fr}");
        let de = plate("DE", 77);
        assert!(de.starts_with("M-") && de.len() == 9 && de.as_bytes()[4] == b' ', "{de}");
        assert_ne!(plate("ES", 1), plate("ES", 2));
    }
}
