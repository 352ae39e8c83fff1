//! The webhook signature verifier as a component: exports `caas:platform/webhook-signature`
//! (wit/caas.wit) over the pure rule in `caas_domain::webhook`. Imports nothing from Spin;
//! spin.toml composes it into factory-webhook and payment-webhook as a component dependency.
use caas_domain::webhook::{self, DEFAULT_TOLERANCE_SECS, SignatureError};

wit_bindgen::generate!({ path: "../../wit/caas.wit", world: "webhook-verifier" });

use exports::caas::platform::webhook_signature::{Guest, VerifyError};

struct Verifier;

impl Guest for Verifier {
    fn verify(secret: String, timestamp: Option<String>, signature: Option<String>, body: Vec<u8>, now: i64) -> Result<(), VerifyError> {
        webhook::verify(&secret, timestamp.as_deref(), signature.as_deref(), &body, now, DEFAULT_TOLERANCE_SECS).map_err(|e| match e {
            SignatureError::MissingTimestamp => VerifyError::MissingTimestamp,
            SignatureError::MissingSignature => VerifyError::MissingSignature,
            SignatureError::MalformedTimestamp => VerifyError::MalformedTimestamp,
            SignatureError::MalformedSignature => VerifyError::MalformedSignature,
            SignatureError::Stale { age_secs } => VerifyError::Stale(age_secs),
            SignatureError::Mismatch => VerifyError::Mismatch,
        })
    }
}

export!(Verifier);
