//! Expediente de compra (customer-platforms.md "Expediente de Compra"): paging of the long
//! histories and the static documents (manuals) per model.
//!
//! Paging is keyset-based: a page is ordered by a strictly increasing integer key (row id /
//! sequence) and the opaque `cursor` names the last key of the previous page, so pages stay
//! stable while new rows are appended.
use crate::FieldError;
use serde::Serialize;

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;

/// A page request: items with key > `after`, at most `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub after: i64,
    pub limit: u32,
}

/// Opaque cursor for "after key `k`".
pub fn encode_cursor(k: i64) -> String {
    format!("c{k:x}")
}

/// Parse `?cursor=&limit=` (raw query-string values, already percent-decoded).
pub fn page_request(cursor: Option<&str>, limit: Option<&str>) -> Result<PageRequest, Vec<FieldError>> {
    let mut errors = Vec::new();
    let after = match cursor.map(str::trim).filter(|s| !s.is_empty()) {
        None => 0,
        Some(c) => match c.strip_prefix('c').and_then(|h| i64::from_str_radix(h, 16).ok()).filter(|k| *k >= 0) {
            Some(k) => k,
            None => {
                errors.push(FieldError::new("/cursor", "is not a cursor returned by this API"));
                0
            }
        },
    };
    let limit = match limit.map(str::trim).filter(|s| !s.is_empty()) {
        None => DEFAULT_LIMIT,
        Some(l) => match l.parse::<u32>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                errors.push(FieldError::new("/limit", format!("must be an integer from 1 to {MAX_LIMIT}")));
                DEFAULT_LIMIT
            }
        },
    };
    if errors.is_empty() { Ok(PageRequest { after, limit }) } else { Err(errors) }
}

/// Given up to `limit + 1` rows fetched (keys ascending), the page and its next cursor.
pub fn paginate<T>(mut rows: Vec<(i64, T)>, limit: u32) -> (Vec<T>, Option<String>) {
    let limit = limit as usize;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next = if more { rows.last().map(|(k, _)| encode_cursor(*k)) } else { None };
    (rows.into_iter().map(|(_, t)| t).collect(), next)
}

/// Decode one query-string component (`+` is a space; bad escapes are kept verbatim).
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The value of `name` in a raw query string.
pub fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (percent_decode(k) == name).then(|| percent_decode(v))
    })
}

/// A document of the expediente.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Document {
    pub id: String,
    pub title: String,
    pub kind: &'static str,
    pub url: String,
}

/// The manuals of a model (static per model; the same set for every model in this catalog).
pub fn manuals(model: &str) -> Vec<Document> {
    let slug: String = model
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    [
        ("owners-manual", "Owner's manual"),
        ("quick-start", "Quick start guide"),
        ("maintenance-plan", "Maintenance plan"),
        ("warranty", "Warranty booklet"),
    ]
    .into_iter()
    .map(|(id, title)| Document {
        id: format!("{slug}/{id}"),
        title: format!("{title} — {model}"),
        kind: "manual",
        url: format!("/docs/manuals/{slug}/{id}.pdf"),
    })
    .collect()
}

/// Timeline events that belong to the manufacturing phase: status changes into a factory
/// state (`status:<state>`, as recorded by the journey components) and factory notices.
pub fn is_manufacturing_event(kind: &str) -> bool {
    use crate::order::OrderStatus::*;
    match kind.strip_prefix("status:") {
        Some(s) => matches!(
            crate::order::OrderStatus::parse(s),
            Some(FactoryOrdered | InProduction | QualityControl | ReadyToShip | Shipped | VehicleAvailable)
        ),
        None => kind.starts_with("factory") || kind.contains("delay") || kind.starts_with("manufacturing"),
    }
}

/// Payments as the customer sees them (issue 9): money given back is shown, and a service that
/// was never delivered has no invoice.
///
/// The status of a payment in the expediente: the gateway's status (`pending`, `settled`,
/// `failed`, …) unless money was given back — `voided` (returned before it settled),
/// `refunded` (all of it returned after settlement) or `partially-refunded`.
pub fn payment_view_status(raw: &str, amount_minor: i64, refunded_minor: i64, voided_minor: i64) -> String {
    let returned = refunded_minor.max(0) + voided_minor.max(0);
    if returned <= 0 {
        return raw.to_string();
    }
    if returned < amount_minor {
        return "partially-refunded".to_string();
    }
    if refunded_minor > 0 { "refunded" } else { "voided" }.to_string()
}

/// Whether the invoice of a service payment is shown: not when the service was never
/// delivered (activation failed for good, aborted, refused) — nothing was sold. `None`: the
/// payment is not a one-time service payment (vehicle payments, subscription periods).
pub fn shows_service_invoice(service_state: Option<&str>) -> bool {
    !matches!(service_state, Some("failed" | "aborted" | "refused"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn payment_views() {
        assert_eq!(payment_view_status("settled", 59900, 0, 0), "settled");
        assert_eq!(payment_view_status("pending", 59900, 0, 0), "pending");
        assert_eq!(payment_view_status("settled", 59900, 59900, 0), "refunded");
        assert_eq!(payment_view_status("settled", 4900, 4268, 0), "partially-refunded");
        assert_eq!(payment_view_status("pending", 4900, 0, 4900), "voided");
        assert_eq!(payment_view_status("voided", 4900, 0, 4900), "voided");
        assert!(shows_service_invoice(None) && shows_service_invoice(Some("active")) && shows_service_invoice(Some("withdrawn")));
        assert!(shows_service_invoice(Some("pending-activation")));
        assert!(!shows_service_invoice(Some("failed")) && !shows_service_invoice(Some("aborted")) && !shows_service_invoice(Some("refused")));
    }

    use super::*;

    #[test]
    fn cursors_and_limits() {
        assert_eq!(page_request(None, None).unwrap(), PageRequest { after: 0, limit: DEFAULT_LIMIT });
        let c = encode_cursor(300);
        assert_eq!(page_request(Some(&c), Some("5")).unwrap(), PageRequest { after: 300, limit: 5 });
        assert_eq!(page_request(Some("zz"), Some("0")).unwrap_err().len(), 2);
        assert!(page_request(Some("c-1"), None).is_err());
        assert!(page_request(None, Some("101")).is_err());
        assert!(page_request(None, Some("abc")).is_err());
    }

    #[test]
    fn pages() {
        let rows: Vec<(i64, &str)> = vec![(1, "a"), (2, "b"), (5, "c")];
        let (items, next) = paginate(rows.clone(), 2);
        assert_eq!(items, vec!["a", "b"]);
        assert_eq!(next, Some(encode_cursor(2)));
        let (items, next) = paginate(rows, 3);
        assert_eq!(items.len(), 3);
        assert_eq!(next, None);
    }

    #[test]
    fn query_strings() {
        assert_eq!(query_param(Some("cursor=c1f&limit=5"), "limit").as_deref(), Some("5"));
        assert_eq!(query_param(Some("a=x%20y+z"), "a").as_deref(), Some("x y z"));
        assert_eq!(query_param(Some("a=%zz%"), "a").as_deref(), Some("%zz%"));
        assert_eq!(query_param(Some("a"), "a").as_deref(), Some(""));
        assert_eq!(query_param(None, "a"), None);
        assert_eq!(query_param(Some("b=1"), "a"), None);
    }

    #[test]
    fn manufacturing_events() {
        assert!(is_manufacturing_event("status:in-production"));
        assert!(is_manufacturing_event("factory-delayed"));
        assert!(!is_manufacturing_event("status:delivered"));
        assert!(!is_manufacturing_event("delivery-absent"));
        assert!(!is_manufacturing_event("sale-registered"));
    }

    #[test]
    fn manuals_per_model() {
        let m = manuals("CAAS-SEDAN-24");
        assert_eq!(m.len(), 4);
        assert_eq!(m[0].url, "/docs/manuals/caas-sedan-24/owners-manual.pdf");
        assert!(m.iter().all(|d| d.kind == "manual"));
    }
}
