//! The payment gateway's hosted checkout: test cards, form parsing and the HTML pages the
//! customer's browser sees (`GET /checkout/<payment-id>`, `GET /checkout/setup/<setup-id>`).
//! Pure functions; the payment simulator (`payment.rs`) owns the state changes.
//!
//! Every page is self-contained (inline CSS, no outside assets), has labelled inputs and works
//! at 360 px. Stable element ids/names for browser tests: `card-number`, `card-expiry`,
//! `card-cvc`, `card-name`, `save-card`, buttons `pay`, `confirm`, `reject`, link `cancel`.

/// Test card that always succeeds.
#[allow(dead_code)] // documented on the page; any other valid number succeeds too
pub const CARD_OK: &str = "4242424242424242";
/// Test card that is always declined.
pub const CARD_DECLINED: &str = "4000000000000002";
/// Test card that needs the extra "confirm with your bank" step.
pub const CARD_CONFIRM: &str = "4000002760003184";

/// What a valid card does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardOutcome {
    Succeeds,
    Declined,
    NeedsConfirmation,
}

/// A card the form accepted (only brand and last four digits are ever kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card {
    pub brand: &'static str,
    pub last4: String,
    pub outcome: CardOutcome,
}

/// The card form as posted (`application/x-www-form-urlencoded`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form {
    pub number: String,
    pub expiry: String,
    pub cvc: String,
    pub name: String,
    pub save: bool,
    pub action: String,
}

/// Parses a urlencoded form body.
pub fn parse_form(body: &[u8]) -> Form {
    let s = String::from_utf8_lossy(body);
    let mut f = Form::default();
    for kv in s.split('&').filter(|s| !s.is_empty()) {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        let (k, v) = (crate::util::pct_decode(k, true), crate::util::pct_decode(v, true));
        match k.as_str() {
            "card-number" => f.number = v,
            "card-expiry" => f.expiry = v,
            "card-cvc" => f.cvc = v,
            "card-name" => f.name = v,
            "save-card" => f.save = !v.is_empty() && v != "0" && v != "false",
            "action" => f.action = v,
            _ => {}
        }
    }
    f
}

fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut v = (*d - b'0') as u32;
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum % 10 == 0
}

/// The card brand from its number.
pub fn brand(number: &str) -> &'static str {
    let p2: u32 = number.get(..2).and_then(|s| s.parse().ok()).unwrap_or(0);
    let p4: u32 = number.get(..4).and_then(|s| s.parse().ok()).unwrap_or(0);
    if number.starts_with('4') {
        "visa"
    } else if (51..=55).contains(&p2) || (2221..=2720).contains(&p4) {
        "mastercard"
    } else if p2 == 34 || p2 == 37 {
        "amex"
    } else if p4 == 6011 || p2 == 65 {
        "discover"
    } else {
        "card"
    }
}

/// Validates the form against the current date (`year`, `month`); the error message is shown
/// on the re-rendered page.
pub fn validate(f: &Form, year: i64, month: u32) -> Result<Card, String> {
    let number: String = f.number.chars().filter(|c| *c != ' ' && *c != '-').collect();
    if number.len() < 12 || number.len() > 19 || !number.bytes().all(|b| b.is_ascii_digit()) || !luhn(number.as_bytes()) {
        return Err("The card number is not valid.".into());
    }
    let exp: String = f.expiry.chars().filter(|c| !c.is_whitespace()).collect();
    let (mm, yy) = exp.split_once('/').ok_or("The expiry date must be MM/YY.")?;
    let m: u32 = mm.parse().ok().filter(|m| (1..=12).contains(m)).ok_or("The expiry month must be 01 to 12.")?;
    let y: i64 = match yy.len() {
        2 => yy.parse::<i64>().map(|y| 2000 + y).map_err(|_| "The expiry date must be MM/YY.")?,
        4 => yy.parse::<i64>().map_err(|_| "The expiry date must be MM/YY.")?,
        _ => return Err("The expiry date must be MM/YY.".into()),
    };
    if (y, m) < (year, month) {
        return Err("The card has expired.".into());
    }
    let cvc = f.cvc.trim();
    if !(3..=4).contains(&cvc.len()) || !cvc.bytes().all(|b| b.is_ascii_digit()) {
        return Err("The security code (CVC) must be 3 or 4 digits.".into());
    }
    let name = f.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err("Enter the name on the card.".into());
    }
    let outcome = match number.as_str() {
        CARD_DECLINED => CardOutcome::Declined,
        CARD_CONFIRM => CardOutcome::NeedsConfirmation,
        _ => CardOutcome::Succeeds,
    };
    Ok(Card { brand: brand(&number), last4: number[number.len() - 4..].to_string(), outcome })
}

/// `return_url` with `params` added to its query (before any fragment).
pub fn return_to(return_url: &str, params: &[(&str, &str)]) -> String {
    let (base, frag) = match return_url.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (return_url, None),
    };
    let q: Vec<String> = params.iter().map(|(k, v)| format!("{k}={}", pct_encode(v))).collect();
    let sep = if base.contains('?') { if base.ends_with('?') || base.ends_with('&') { "" } else { "&" } } else { "?" };
    let mut out = format!("{base}{sep}{}", q.join("&"));
    if let Some(f) = frag {
        out.push('#');
        out.push_str(f);
    }
    out
}

/// Whether `s` is an absolute http(s) URL (as `return-url` must be).
pub fn is_absolute_http_url(s: &str) -> bool {
    let rest = s.strip_prefix("http://").or_else(|| s.strip_prefix("https://"));
    match rest {
        Some(r) => {
            let host = r.split(['/', '?', '#']).next().unwrap_or("");
            !host.is_empty() && s.len() <= 2048 && !s.chars().any(|c| c.is_control() || c == ' ')
        }
        None => false,
    }
}

fn pct_encode(s: &str) -> String {
    s.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// Amount in minor units as "1,500.00 EUR" (two decimals; the simulator's only format).
pub fn amount_text(minor: i64, currency: &str) -> String {
    let units = minor / 100;
    let mut s = units.to_string();
    let mut i = s.len() as isize - 3;
    while i > 0 {
        s.insert(i as usize, ',');
        i -= 3;
    }
    format!("{s}.{:02} {currency}", minor % 100)
}

const CSS: &str = "*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;\
background:#f3f4f6;color:#111827}main{max-width:28rem;margin:0 auto;padding:1rem}\
.card{background:#fff;border-radius:.75rem;padding:1.25rem;box-shadow:0 1px 3px rgba(0,0,0,.12)}\
h1{font-size:1.25rem;margin:0 0 .75rem}.merchant{color:#374151;margin:0}.amount{font-size:1.75rem;font-weight:700;margin:.25rem 0}\
.ref{color:#4b5563;font-size:.875rem;margin:0 0 1rem;overflow-wrap:anywhere}label{display:block;font-weight:600;margin:.75rem 0 .25rem}\
input[type=text]{width:100%;padding:.625rem;border:1px solid #6b7280;border-radius:.5rem;font-size:1rem}\
input:focus,button:focus,a:focus{outline:3px solid #2563eb;outline-offset:2px}.row{display:flex;gap:.75rem}.row>div{flex:1}\
.check{display:flex;gap:.5rem;align-items:center;margin:1rem 0;font-weight:400}.check input{width:1.25rem;height:1.25rem}\
button{display:block;width:100%;padding:.75rem;border:0;border-radius:.5rem;font-size:1rem;font-weight:700;cursor:pointer;margin-top:1rem}\
.primary{background:#1d4ed8;color:#fff}.secondary{background:#e5e7eb;color:#111827}.danger{background:#b91c1c;color:#fff}\
a.back{display:block;text-align:center;margin-top:1rem;color:#1d4ed8}.error{background:#fee2e2;color:#7f1d1d;border:1px solid #b91c1c;\
border-radius:.5rem;padding:.75rem;margin:0 0 1rem}.test{font-size:.8125rem;color:#374151;margin-top:1.25rem}.test code{font-size:.8125rem}";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<title>{t}</title><style>{CSS}</style></head><body><main><div class=\"card\">{body}</div></main></body></html>",
        t = esc(title)
    )
}

/// What the checkout is for: a payment (amount) or a setup session (save a card only).
pub enum Subject<'a> {
    Payment { amount_minor: i64, currency: &'a str, reference: &'a str },
    Setup,
}

/// The card form. `action` is the form's POST target, `cancel` the "Cancel and return" link.
pub fn form_page(subject: &Subject, action: &str, cancel: &str, error: Option<&str>, prefill_name: &str) -> String {
    let (title, head, button, save) = match subject {
        Subject::Payment { amount_minor, currency, reference } => (
            "Pay CaaS",
            format!(
                "<h1>Pay with card</h1><p class=\"merchant\">Merchant: <strong>CaaS — Car as a Service</strong></p>\
<p class=\"amount\" id=\"amount\">{}</p><p class=\"ref\">Reference: <span id=\"reference\">{}</span></p>",
                esc(&amount_text(*amount_minor, currency)),
                esc(reference)
            ),
            format!("Pay {}", esc(&amount_text(*amount_minor, currency))),
            "<label class=\"check\" for=\"save-card\"><input type=\"checkbox\" id=\"save-card\" name=\"save-card\" value=\"yes\"> Save this card for future payments</label>",
        ),
        Subject::Setup => (
            "Save a card — CaaS",
            "<h1>Save a card</h1><p class=\"merchant\">Merchant: <strong>CaaS — Car as a Service</strong></p>\
<p class=\"ref\">Nothing is charged now: the card is saved for your subscriptions and purchases.</p>"
                .to_string(),
            "Save card".to_string(),
            "",
        ),
    };
    let err = error.map(|e| format!("<p class=\"error\" role=\"alert\" id=\"error\">{}</p>", esc(e))).unwrap_or_default();
    let body = format!(
        "{head}{err}<form method=\"post\" action=\"{action}\" novalidate>\
<label for=\"card-number\">Card number</label>\
<input type=\"text\" id=\"card-number\" name=\"card-number\" inputmode=\"numeric\" autocomplete=\"cc-number\" placeholder=\"1234 1234 1234 1234\" required>\
<div class=\"row\"><div><label for=\"card-expiry\">Expiry (MM/YY)</label>\
<input type=\"text\" id=\"card-expiry\" name=\"card-expiry\" autocomplete=\"cc-exp\" placeholder=\"MM/YY\" required></div>\
<div><label for=\"card-cvc\">CVC</label>\
<input type=\"text\" id=\"card-cvc\" name=\"card-cvc\" inputmode=\"numeric\" autocomplete=\"cc-csc\" placeholder=\"123\" required></div></div>\
<label for=\"card-name\">Cardholder name</label>\
<input type=\"text\" id=\"card-name\" name=\"card-name\" autocomplete=\"cc-name\" value=\"{name}\" required>\
{save}<button type=\"submit\" id=\"pay\" name=\"action\" value=\"pay\" class=\"primary\">{button}</button></form>\
<a class=\"back\" id=\"cancel\" href=\"{cancel}\">Cancel and return</a>\
<details class=\"test\"><summary>Test cards (simulator)</summary><ul>\
<li><code>4242 4242 4242 4242</code> succeeds</li><li><code>4000 0000 0000 0002</code> is declined</li>\
<li><code>4000 0027 6000 3184</code> asks you to confirm with your bank</li></ul>\
<p>Any future expiry date, any 3-digit CVC.</p></details>",
        action = esc(action),
        cancel = esc(cancel),
        name = esc(prefill_name),
    );
    page(title, &body)
}

/// The extra confirmation step ("3-D Secure").
pub fn confirm_page(subject: &Subject, action: &str, brand: &str, last4: &str) -> String {
    let what = match subject {
        Subject::Payment { amount_minor, currency, .. } => format!("a payment of <strong>{}</strong>", esc(&amount_text(*amount_minor, currency))),
        Subject::Setup => "saving this card".to_string(),
    };
    let body = format!(
        "<h1>Confirm this payment with your bank</h1><p>Your bank asks you to confirm {what} to CaaS with your {} card ending in {}.</p>\
<form method=\"post\" action=\"{}\"><button type=\"submit\" id=\"confirm\" name=\"action\" value=\"confirm\" class=\"primary\">Confirm</button>\
<button type=\"submit\" id=\"reject\" name=\"action\" value=\"reject\" class=\"danger\">Reject</button></form>",
        esc(brand),
        esc(last4),
        esc(action)
    );
    page("Confirm with your bank", &body)
}

/// "This payment is already <status>" with a link back (when known).
pub fn done_page(what: &str, status: &str, back: Option<&str>) -> String {
    let link = back.map(|b| format!("<a class=\"back\" id=\"back\" href=\"{}\">Back to the merchant</a>", esc(b))).unwrap_or_default();
    page(&format!("This {what} is already {status}"), &format!("<h1>This {} is already {}</h1>{link}", esc(what), esc(status)))
}

pub fn not_found_page(what: &str) -> String {
    page("Not found", &format!("<h1>Not found</h1><p>There is no such {}.</p>", esc(what)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(n: &str, e: &str) -> Form {
        Form { number: n.into(), expiry: e.into(), cvc: "123".into(), name: "Ana Test".into(), save: false, action: "pay".into() }
    }

    #[test]
    fn test_cards() {
        let ok = validate(&form("4242 4242 4242 4242", "12/30"), 2026, 12).unwrap();
        assert_eq!((ok.brand, ok.last4.as_str(), ok.outcome), ("visa", "4242", CardOutcome::Succeeds));
        assert_eq!(validate(&form("4000 0000 0000 0002", "12/30"), 2026, 12).unwrap().outcome, CardOutcome::Declined);
        assert_eq!(validate(&form("4000002760003184", "01/2031"), 2026, 12).unwrap().outcome, CardOutcome::NeedsConfirmation);
        assert_eq!(validate(&form("5555 5555 5555 4444", "12/30"), 2026, 12).unwrap().brand, "mastercard");
    }

    #[test]
    fn invalid_input() {
        assert!(validate(&form("4242 4242 4242 4241", "12/30"), 2026, 12).unwrap_err().contains("number"));
        assert!(validate(&form("4242", "12/30"), 2026, 12).is_err());
        assert!(validate(&form(CARD_OK, "13/30"), 2026, 12).unwrap_err().contains("month"));
        assert!(validate(&form(CARD_OK, "11/26"), 2026, 12).unwrap_err().contains("expired"));
        assert!(validate(&form(CARD_OK, "12/26"), 2026, 12).is_ok());
        assert!(validate(&form(CARD_OK, "1230"), 2026, 12).is_err());
        let mut f = form(CARD_OK, "12/30");
        f.cvc = "12".into();
        assert!(validate(&f, 2026, 12).unwrap_err().contains("CVC"));
        f.cvc = "123".into();
        f.name = "  ".into();
        assert!(validate(&f, 2026, 12).is_err());
    }

    #[test]
    fn forms_and_urls() {
        let f = parse_form(b"card-number=4242+4242%204242+4242&card-expiry=12%2F30&card-cvc=123&card-name=Ana+B&save-card=yes&action=pay");
        assert_eq!((f.number.as_str(), f.expiry.as_str(), f.name.as_str(), f.save), ("4242 4242 4242 4242", "12/30", "Ana B", true));
        assert!(!parse_form(b"card-number=1").save);
        assert_eq!(return_to("http://a/app/x", &[("payment_id", "pay_1"), ("result", "succeeded")]), "http://a/app/x?payment_id=pay_1&result=succeeded");
        assert_eq!(return_to("http://a/x?y=1#top", &[("result", "a b")]), "http://a/x?y=1&result=a%20b#top");
        assert!(is_absolute_http_url("https://app.example/return"));
        assert!(!is_absolute_http_url("/app/return"));
        assert!(!is_absolute_http_url("javascript:alert(1)"));
        assert!(!is_absolute_http_url("http:///x"));
        assert_eq!(amount_text(150_000, "EUR"), "1,500.00 EUR");
        assert_eq!(amount_text(3_450_005, "EUR"), "34,500.05 EUR");
    }

    #[test]
    fn pages_have_the_stable_ids_and_escape() {
        let p = form_page(&Subject::Payment { amount_minor: 150_000, currency: "EUR", reference: "ord_<x>" }, "/checkout/pay_1/pay", "/checkout/pay_1/cancel", Some("bad"), "");
        for id in ["card-number", "card-expiry", "card-cvc", "card-name", "save-card", "\"pay\"", "cancel", "role=\"alert\""] {
            assert!(p.contains(id), "{id}");
        }
        for input in ["card-number", "card-expiry", "card-cvc", "card-name", "save-card"] {
            assert!(p.contains(&format!("for=\"{input}\"")), "label for {input}");
        }
        assert!(p.contains("ord_&lt;x&gt;") && !p.contains("ord_<x>"));
        assert!(p.contains("1,500.00 EUR") && p.contains("width=device-width"));
        assert!(!p.contains("http://") && !p.contains("https://"), "no outside assets");
        let s = form_page(&Subject::Setup, "/a", "/b", None, "");
        assert!(!s.contains("save-card") && s.contains("Save card"));
        let c = confirm_page(&Subject::Setup, "/c", "visa", "3184");
        assert!(c.contains("id=\"confirm\"") && c.contains("id=\"reject\"") && c.contains("Confirm this payment with your bank"));
    }
}
