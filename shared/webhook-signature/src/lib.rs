//! Verifying a signed webhook through the composed verifier component.
//!
//! `caas:platform/webhook-signature` (wit/caas.wit) is imported here; at run time the import is
//! satisfied by `functions/webhook-verifier`, which Spin (and caas-runtime) composes into every
//! component that lists it under `[component.<id>.dependencies]` in spin.toml. The HMAC code is
//! therefore not linked into the webhook components.
use caas_domain::Problem;
use caas_domain::webhook::SignatureError;
use spin_sdk::http::Request;

wit_bindgen::generate!({ path: "../../wit/caas.wit", world: "webhook-verifier-client" });

use caas::platform::webhook_signature::{self as verifier, VerifyError};

/// Read the raw body and verify its signature (secret in variable `secret_var`, the WASI clock)
/// with the composed verifier. 401 (nothing written) on a missing/bad/stale signature; 413 on an
/// oversized body.
pub async fn verified_body(req: Request, secret_var: &str) -> Result<Vec<u8>, Problem> {
    let s = caas_platform::webhook::signed_request(req, secret_var).await?;
    verifier::verify(&s.secret, s.timestamp.as_deref(), s.signature.as_deref(), &s.body, s.now_secs)
        .map_err(|e| signature_error(e).to_problem())?;
    Ok(s.body)
}

fn signature_error(e: VerifyError) -> SignatureError {
    match e {
        VerifyError::MissingTimestamp => SignatureError::MissingTimestamp,
        VerifyError::MissingSignature => SignatureError::MissingSignature,
        VerifyError::MalformedTimestamp => SignatureError::MalformedTimestamp,
        VerifyError::MalformedSignature => SignatureError::MalformedSignature,
        VerifyError::Stale(age_secs) => SignatureError::Stale { age_secs },
        VerifyError::Mismatch => SignatureError::Mismatch,
    }
}
