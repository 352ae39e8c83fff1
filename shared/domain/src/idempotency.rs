//! Idempotency-Key handling rules (pure part).
use sha2::{Digest, Sha256};

/// Max accepted length of an `Idempotency-Key` header.
pub const MAX_KEY_LEN: usize = 200;

/// A key is 1..=200 visible ASCII characters.
pub fn is_valid_key(k: &str) -> bool {
    !k.is_empty() && k.len() <= MAX_KEY_LEN && k.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// Hash of a JSON request body, insensitive to key order and whitespace
/// (serde_json maps are sorted), used to detect "same key, different body".
pub fn request_hash(body: &serde_json::Value) -> String {
    sha256_hex(serde_json::to_string(body).unwrap_or_default().as_bytes())
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// What to do with a request given what is stored for its (scope, key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replay {
    /// Nothing stored: process it.
    Fresh,
    /// Same body: return the stored response.
    Replay { status: u16, body: String },
    /// Same key, different body: 422.
    Mismatch,
}

pub fn decide(stored: Option<(String, u16, String)>, request_hash: &str) -> Replay {
    match stored {
        None => Replay::Fresh,
        Some((h, status, body)) if h == request_hash => Replay::Replay { status, body },
        Some(_) => Replay::Mismatch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hash_ignores_order_and_whitespace() {
        let a: serde_json::Value = serde_json::from_str(r#"{"a":1, "b":[1,2]}"#).unwrap();
        let b: serde_json::Value = serde_json::from_str(r#"{ "b":[1,2],"a":1}"#).unwrap();
        assert_eq!(request_hash(&a), request_hash(&b));
        assert_ne!(request_hash(&a), request_hash(&json!({"a":2,"b":[1,2]})));
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn keys_and_decisions() {
        assert!(is_valid_key("abc-123"));
        assert!(!is_valid_key(""));
        assert!(!is_valid_key("has space"));
        assert!(!is_valid_key(&"x".repeat(201)));
        assert_eq!(decide(None, "h"), Replay::Fresh);
        assert_eq!(decide(Some(("h".into(), 201, "{}".into())), "h"), Replay::Replay { status: 201, body: "{}".into() });
        assert_eq!(decide(Some(("h".into(), 201, "{}".into())), "x"), Replay::Mismatch);
    }
}
