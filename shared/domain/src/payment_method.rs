//! Hosted payments and saved payment methods (issue 7): the app never sees a card. The gateway
//! hosts the card page (`checkout_url`) and sends the customer back to a path of the web app;
//! a saved method is the gateway's token plus the card's brand and last four digits.
use crate::problem::FieldError;
use serde_json::Value;

/// Longest `return_path` accepted.
pub const MAX_RETURN_PATH: usize = 512;

/// Validates a `return_path` (a path on the web app the gateway sends the customer back to):
/// starts with `/`, not `//` (protocol-relative: another host), no backslash (browsers read
/// `/\` as `//`), no scheme, no whitespace or control characters, at most 512 characters.
pub fn validate_return_path(p: &str) -> Result<(), String> {
    if p.is_empty() || p.len() > MAX_RETURN_PATH {
        return Err(format!("must be a path of 1 to {MAX_RETURN_PATH} characters"));
    }
    if !p.starts_with('/') || p.starts_with("//") {
        return Err("must be a path on the app: start with a single '/' (no scheme, no host)".into());
    }
    if p.contains('\\') || p.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("must not contain backslashes, spaces or control characters".into());
    }
    Ok(())
}

/// The optional `{"return_path": "/app/..."}` body of a payment start or a setup request.
/// `Ok(None)`: no body, an empty body, `null`, `{}` or `"return_path": null` (the non-hosted flow,
/// exactly as before the option existed).
pub fn parse_return_path_body(body: &[u8]) -> Result<Option<String>, Vec<FieldError>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| vec![FieldError::new("", format!("body is not valid JSON: {e}"))])?;
    if v.is_null() {
        return Ok(None);
    }
    let Some(m) = v.as_object() else {
        return Err(vec![FieldError::new("", "body must be a JSON object")]);
    };
    match m.get("return_path") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => validate_return_path(s).map(|()| Some(s.clone())).map_err(|e| vec![FieldError::new("/return_path", e)]),
        Some(_) => Err(vec![FieldError::new("/return_path", "must be a string")]),
    }
}

/// The absolute URL the gateway returns the customer to: `<app_url without trailing /><path>`.
pub fn return_url(app_url: &str, return_path: &str) -> String {
    format!("{}{}", app_url.trim().trim_end_matches('/'), return_path)
}

/// A card as the gateway describes a saved method (`{"id": "pm_…", "brand", "last4"}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayMethod {
    pub token: String,
    pub brand: String,
    pub last4: String,
}

/// Reads the gateway's `payment-method` object; None when absent or malformed (a token of at
/// most 200 printable characters, a brand of 1-20 lowercase letters, last4 = 4 digits).
pub fn gateway_method(v: Option<&Value>) -> Option<GatewayMethod> {
    let v = v?.as_object()?;
    let token = v.get("id")?.as_str()?.trim();
    let brand = v.get("brand")?.as_str()?.trim().to_ascii_lowercase();
    let last4 = v.get("last4")?.as_str()?.trim();
    let token_ok = !token.is_empty() && token.len() <= 200 && token.chars().all(|c| c.is_ascii_graphic());
    let brand_ok = (1..=20).contains(&brand.len()) && brand.chars().all(|c| c.is_ascii_lowercase() || c == '-' || c == '_');
    let last4_ok = last4.len() == 4 && last4.bytes().all(|b| b.is_ascii_digit());
    (token_ok && brand_ok && last4_ok).then(|| GatewayMethod { token: token.to_string(), brand, last4: last4.to_string() })
}

/// A gateway setup-session id as the app accepts it (`seti_…`, printable, ≤ 100 characters).
pub fn is_setup_id(s: &str) -> bool {
    s.starts_with("seti_") && s.len() <= 100 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn return_paths() {
        assert!(validate_return_path("/app/orders/ord_1?step=pay#x").is_ok());
        for bad in ["", "app", "//evil.example/x", "/\\evil.example", "https://evil.example/", "/a b", "/a\n", "javascript:alert(1)"] {
            assert!(validate_return_path(bad).is_err(), "{bad:?}");
        }
        assert!(validate_return_path(&format!("/{}", "a".repeat(511))).is_ok());
        assert!(validate_return_path(&format!("/{}", "a".repeat(512))).is_err());
    }

    #[test]
    fn bodies() {
        assert_eq!(parse_return_path_body(b""), Ok(None));
        assert_eq!(parse_return_path_body(b" \n"), Ok(None));
        assert_eq!(parse_return_path_body(b"{}"), Ok(None));
        assert_eq!(parse_return_path_body(b"null"), Ok(None));
        assert_eq!(parse_return_path_body(b"{\"other\": 1}"), Ok(None));
        assert_eq!(parse_return_path_body(b"{\"return_path\": null}"), Ok(None));
        assert_eq!(parse_return_path_body(b"{\"return_path\": \"/app/x\"}"), Ok(Some("/app/x".into())));
        assert_eq!(parse_return_path_body(b"{\"return_path\": \"//x\"}").unwrap_err()[0].pointer, "/return_path");
        assert_eq!(parse_return_path_body(b"{\"return_path\": 5}").unwrap_err()[0].pointer, "/return_path");
        assert!(parse_return_path_body(b"[1]").is_err());
        assert!(parse_return_path_body(b"{").is_err());
    }

    #[test]
    fn urls_and_methods() {
        assert_eq!(return_url("http://127.0.0.1:3000/", "/app/x"), "http://127.0.0.1:3000/app/x");
        let m = gateway_method(Some(&json!({"id": "pm_1", "brand": "Visa", "last4": "4242"}))).unwrap();
        assert_eq!((m.token.as_str(), m.brand.as_str(), m.last4.as_str()), ("pm_1", "visa", "4242"));
        assert!(gateway_method(Some(&json!({"id": "pm_1", "brand": "visa", "last4": "42"}))).is_none());
        assert!(gateway_method(Some(&json!({"id": "", "brand": "visa", "last4": "4242"}))).is_none());
        assert!(gateway_method(Some(&json!("pm_1"))).is_none());
        assert!(gateway_method(None).is_none());
        assert!(is_setup_id("seti_ABCDE000001"));
        assert!(!is_setup_id("seti_../x") && !is_setup_id("pay_1"));
    }
}
