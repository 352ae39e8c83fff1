//! RFC 9457 problem details.
use serde::{Deserialize, Serialize};

/// Base of our problem type URIs.
pub const PROBLEM_BASE: &str = "https://caas.example/problems/";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// RFC 6901 JSON pointer into the request body, e.g. `/customer/email`.
    pub pointer: String,
    pub message: String,
}

impl FieldError {
    pub fn new(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError { pointer: pointer.into(), message: message.into() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// 405 only: the methods the route allows (sent as the `Allow` header, not in the body).
    #[serde(skip)]
    pub allow: Vec<String>,
    /// 503/429: seconds the client should wait (sent as `Retry-After`, not in the body).
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

impl Problem {
    pub fn new(status: u16, slug: &str, title: &str, detail: impl Into<String>) -> Problem {
        Problem {
            type_: format!("{PROBLEM_BASE}{slug}"),
            title: title.to_string(),
            status,
            detail: detail.into(),
            errors: Vec::new(),
            allow: Vec::new(),
            retry_after: None,
        }
    }
    /// The same problem with a `Retry-After` of `seconds` (at least 1).
    pub fn retry_after(mut self, seconds: u64) -> Problem {
        self.retry_after = Some(seconds.max(1));
        self
    }
    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Problem {
        self.errors = errors;
        self
    }
    pub fn bad_request(detail: impl Into<String>) -> Problem {
        Problem::new(400, "bad-request", "Bad request", detail)
    }
    pub fn validation(errors: Vec<FieldError>) -> Problem {
        Problem::new(400, "validation", "Invalid request", "One or more fields are invalid.").with_errors(errors)
    }
    pub fn unauthorized(detail: impl Into<String>) -> Problem {
        Problem::new(401, "unauthorized", "Unauthorized", detail)
    }
    pub fn forbidden(detail: impl Into<String>) -> Problem {
        Problem::new(403, "forbidden", "Forbidden", detail)
    }
    pub fn not_found(detail: impl Into<String>) -> Problem {
        Problem::new(404, "not-found", "Not found", detail)
    }
    pub fn method_not_allowed(detail: impl Into<String>) -> Problem {
        Problem::new(405, "method-not-allowed", "Method not allowed", detail)
    }
    /// 405 for `method` on `path`, carrying the route's methods for the `Allow` header.
    pub fn method_not_allowed_on(method: &str, path: &str, allowed: &[&str]) -> Problem {
        let mut p = Problem::method_not_allowed(format!("{method} is not allowed on {path}; allowed: {}", allowed.join(", ")));
        p.allow = allowed.iter().map(|m| m.to_string()).collect();
        p
    }
    pub fn conflict(slug: &str, detail: impl Into<String>) -> Problem {
        Problem::new(409, slug, "Conflict", detail)
    }
    pub fn unsupported_media_type(detail: impl Into<String>) -> Problem {
        Problem::new(415, "unsupported-media-type", "Unsupported media type", detail)
    }
    pub fn unprocessable(slug: &str, detail: impl Into<String>) -> Problem {
        Problem::new(422, slug, "Unprocessable request", detail)
    }
    pub fn payload_too_large(detail: impl Into<String>) -> Problem {
        Problem::new(413, "payload-too-large", "Payload too large", detail)
    }
    /// Storage outage: the only 5xx a component may return (with a Retry-After hint).
    pub fn unavailable(detail: impl Into<String>) -> Problem {
        Problem::new(503, "unavailable", "Service unavailable", detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_rfc9457() {
        let p = Problem::validation(vec![FieldError::new("/customer/email", "invalid e-mail address")]);
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["type"], "https://caas.example/problems/validation");
        assert_eq!(v["status"], 400);
        assert_eq!(v["errors"][0]["pointer"], "/customer/email");
        let v = serde_json::to_value(Problem::not_found("x")).unwrap();
        assert!(v.get("errors").is_none());
    }
}
