//! Signed webhooks (factory and payment gateway): verification and the dedupe/answer rules.
//!
//! Headers: `x-caas-timestamp: <unix seconds>` and
//! `x-caas-signature: v1=<lowercase hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>`.
//! A signature is accepted only if the MAC matches (constant time) and the timestamp is within
//! `tolerance` seconds of the receiver's clock (both directions), so a captured request cannot
//! be replayed later; replays inside the window are absorbed by event-id dedupe.
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const TIMESTAMP_HEADER: &str = "x-caas-timestamp";
pub const SIGNATURE_HEADER: &str = "x-caas-signature";
/// Accepted clock skew / age of a signed webhook.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureError {
    MissingTimestamp,
    MissingSignature,
    MalformedTimestamp,
    MalformedSignature,
    Stale { age_secs: i64 },
    Mismatch,
}

impl std::fmt::Display for SignatureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignatureError::MissingTimestamp => write!(f, "the {TIMESTAMP_HEADER} header is missing"),
            SignatureError::MissingSignature => write!(f, "the {SIGNATURE_HEADER} header is missing"),
            SignatureError::MalformedTimestamp => write!(f, "the {TIMESTAMP_HEADER} header is not a unix timestamp"),
            SignatureError::MalformedSignature => write!(f, "the {SIGNATURE_HEADER} header is not of the form v1=<hex>"),
            SignatureError::Stale { age_secs } => {
                write!(f, "the signature timestamp is {age_secs} s away from now (tolerance {DEFAULT_TOLERANCE_SECS} s)")
            }
            SignatureError::Mismatch => write!(f, "the signature does not match the body"),
        }
    }
}

impl SignatureError {
    pub fn to_problem(&self) -> crate::Problem {
        crate::Problem::new(401, "invalid-signature", "Invalid webhook signature", self.to_string())
    }
}

fn mac(secret: &[u8], ts: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut m = Hmac::<Sha256>::new_from_slice(secret).expect("hmac accepts any key length");
    m.update(ts.as_bytes());
    m.update(b".");
    m.update(body);
    m
}

/// The `x-caas-signature` value for `(ts, body)`.
pub fn sign(secret: &str, ts: i64, body: &[u8]) -> String {
    format!("v1={}", hex::encode(mac(secret.as_bytes(), &ts.to_string(), body).finalize().into_bytes()))
}

/// Verify a webhook's headers against its raw body at `now_secs`.
pub fn verify(
    secret: &str,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now_secs: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    let ts_raw = timestamp.map(str::trim).filter(|s| !s.is_empty()).ok_or(SignatureError::MissingTimestamp)?;
    let sig = signature.map(str::trim).filter(|s| !s.is_empty()).ok_or(SignatureError::MissingSignature)?;
    if ts_raw.len() > 12 || !ts_raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SignatureError::MalformedTimestamp);
    }
    let ts: i64 = ts_raw.parse().map_err(|_| SignatureError::MalformedTimestamp)?;
    let hex_sig = sig.strip_prefix("v1=").ok_or(SignatureError::MalformedSignature)?;
    let given = hex::decode(hex_sig).map_err(|_| SignatureError::MalformedSignature)?;
    // The MAC first: an attacker without the secret learns nothing about our clock.
    mac(secret.as_bytes(), ts_raw, body).verify_slice(&given).map_err(|_| SignatureError::Mismatch)?;
    let age = now_secs.saturating_sub(ts);
    if age.abs() > tolerance_secs {
        return Err(SignatureError::Stale { age_secs: age });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "dev-factory-webhook-secret";
    const BODY: &[u8] = br#"{"event-id":"fev_1"}"#;

    #[test]
    fn test_vector_of_the_simulators() {
        assert_eq!(sign(SECRET, 1_700_000_000, BODY), "v1=a3257f58a4aa867887dae2778540297d25026819f0cfb34295d163f0c32dc455");
        let h = sign(SECRET, 1_700_000_000, BODY);
        assert_eq!(verify(SECRET, Some("1700000000"), Some(&h), BODY, 1_700_000_100, 300), Ok(()));
    }

    #[test]
    fn rejects_bad_and_stale() {
        let h = sign(SECRET, 1_700_000_000, BODY);
        let now = 1_700_000_000;
        assert_eq!(verify("other", Some("1700000000"), Some(&h), BODY, now, 300), Err(SignatureError::Mismatch));
        assert_eq!(verify(SECRET, Some("1700000000"), Some(&h), b"{}", now, 300), Err(SignatureError::Mismatch));
        assert_eq!(verify(SECRET, Some("1700000001"), Some(&h), BODY, now, 300), Err(SignatureError::Mismatch));
        assert_eq!(verify(SECRET, Some("1700000000"), Some(&h), BODY, now + 301, 300), Err(SignatureError::Stale { age_secs: 301 }));
        assert!(matches!(verify(SECRET, Some("1700000000"), Some(&h), BODY, now - 301, 300), Err(SignatureError::Stale { .. })));
        assert_eq!(verify(SECRET, None, Some(&h), BODY, now, 300), Err(SignatureError::MissingTimestamp));
        assert_eq!(verify(SECRET, Some("1700000000"), None, BODY, now, 300), Err(SignatureError::MissingSignature));
        assert_eq!(verify(SECRET, Some("-5"), Some(&h), BODY, now, 300), Err(SignatureError::MalformedTimestamp));
        assert_eq!(verify(SECRET, Some("1700000000"), Some("v2=ab"), BODY, now, 300), Err(SignatureError::MalformedSignature));
        assert_eq!(verify(SECRET, Some("1700000000"), Some("v1=zz"), BODY, now, 300), Err(SignatureError::MalformedSignature));
        assert_eq!(SignatureError::Mismatch.to_problem().status, 401);
    }
}
