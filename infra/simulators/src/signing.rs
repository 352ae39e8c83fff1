//! Webhook signing shared by the factory and payment simulators (and by the CaaS app, which
//! verifies it). Headers on every webhook:
//!
//! * `x-caas-timestamp: <unix seconds>`
//! * `x-caas-signature: v1=<lowercase hex HMAC-SHA256(secret, "<timestamp>.<body>")>`
//!
//! The tests use [`sign`] to forge valid, invalid and stale signatures.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Header carrying the unix timestamp (seconds) the signature covers.
pub const TIMESTAMP_HEADER: &str = "x-caas-timestamp";
/// Header carrying `v1=<hex>`.
pub const SIGNATURE_HEADER: &str = "x-caas-signature";

/// Returns the `x-caas-signature` header value: `v1=<hex hmac-sha256(secret, "<ts>.<body>")>`.
pub fn sign(secret: impl AsRef<[u8]>, ts: impl std::fmt::Display, body: impl AsRef<[u8]>) -> String {
    format!("v1={}", hex::encode(mac(secret.as_ref(), &ts.to_string(), body.as_ref())))
}

/// Checks a `x-caas-signature` header value (constant-time comparison of the MAC).
/// Only checks the MAC; freshness of `ts` is the verifier's policy.
pub fn verify(secret: impl AsRef<[u8]>, ts: impl std::fmt::Display, body: impl AsRef<[u8]>, header: &str) -> bool {
    let Some(hex_sig) = header.trim().strip_prefix("v1=") else { return false };
    let Ok(given) = hex::decode(hex_sig) else { return false };
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_ref()).expect("hmac accepts any key length");
    m.update(ts.to_string().as_bytes());
    m.update(b".");
    m.update(body.as_ref());
    m.verify_slice(&given).is_ok()
}

fn mac(secret: &[u8], ts: &str, body: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(secret).expect("hmac accepts any key length");
    m.update(ts.as_bytes());
    m.update(b".");
    m.update(body);
    m.finalize().into_bytes().to_vec()
}

/// The two headers (name, value) to put on a webhook signed now.
pub fn headers_now(secret: &str, body: &[u8]) -> [(&'static str, String); 2] {
    headers_at(secret, crate::util::unix_now(), body)
}

/// The two headers (name, value) to put on a webhook signed at `ts` (unix seconds).
pub fn headers_at(secret: &str, ts: u64, body: &[u8]) -> [(&'static str, String); 2] {
    [(TIMESTAMP_HEADER, ts.to_string()), (SIGNATURE_HEADER, sign(secret, ts, body))]
}
