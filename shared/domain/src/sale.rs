//! Sale registration input: validation into a [`NewSale`] or per-field errors (JSON pointers).
use crate::problem::FieldError;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Countries where CaaS registers (matriculates) vehicles.
pub const SUPPORTED_COUNTRIES: [&str; 3] = ["ES", "FR", "DE"];

/// The currency sales are priced in for a registration country.
pub fn currency_for_country(country: &str) -> Option<&'static str> {
    match country {
        "ES" | "FR" | "DE" => Some("EUR"),
        _ => None,
    }
}

/// The currencies the markets use (the currencies of [`SUPPORTED_COUNTRIES`]): prices in any
/// other currency are refused.
pub fn market_currencies() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = SUPPORTED_COUNTRIES.iter().filter_map(|c| currency_for_country(c)).collect();
    v.dedup();
    v
}

pub fn is_market_currency(c: &str) -> bool {
    market_currencies().contains(&c)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewCustomer {
    pub full_name: String,
    /// Lowercased.
    pub email: String,
    /// Normalized `+<digits>`.
    pub phone: String,
    /// Uppercased, no spaces.
    pub national_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub postal_code: String,
    pub country: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prices {
    pub vehicle_price_minor: i64,
    pub deposit_minor: i64,
    pub currency: String,
}

/// A validated sale registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewSale {
    pub customer: NewCustomer,
    pub delivery_address: Address,
    pub country: String,
    pub model: String,
    pub plan_options: Vec<String>,
    pub prices: Prices,
    /// The customer's language (optional in the request, default `en`).
    #[serde(default)]
    pub language: crate::lang::Lang,
    /// Optional financing terms (issues 8/10): set by [`validate_financing`] after pricing.
    #[serde(default)]
    pub financing: Option<Financing>,
}

/// Financing terms agreed at the sale: a lender finances part of the price; the customer's final
/// payment is what is neither the deposit nor financed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Financing {
    pub financed_amount_minor: i64,
    pub term_months: i64,
    pub monthly_amount_minor: i64,
    pub lender_reference: String,
}

/// Plan-comercial codes accepted before plan options were checked against the catalog: the API's
/// documented example (`AUTOPILOT-HWY`, a plan-only feature). Kept valid for backward
/// compatibility; every other code must be an offered catalog option.
pub const LEGACY_PLAN_CODES: &[&str] = &["AUTOPILOT-HWY"];

/// What the customer sees for a legacy plan code (it has no catalog entry to name it).
pub fn legacy_plan_name(code: &str) -> Option<&'static str> {
    code.eq_ignore_ascii_case("AUTOPILOT-HWY").then_some("Highway Autopilot")
}

/// The plan comercial's codes that cannot be sold: unknown to the catalog, or retired.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RefusedPlanOptions {
    pub unknown: Vec<String>,
    pub retired: Vec<String>,
}

impl RefusedPlanOptions {
    /// The human detail naming the codes.
    pub fn detail(&self) -> String {
        let mut parts = Vec::new();
        if !self.unknown.is_empty() {
            parts.push(format!("not in the catalog: {}", self.unknown.join(", ")));
        }
        if !self.retired.is_empty() {
            parts.push(format!("retired (no longer sold): {}", self.retired.join(", ")));
        }
        format!("plan options cannot be sold — {}", parts.join("; "))
    }
}

/// Check the plan comercial against the catalog (a code matches a catalog option as written or
/// lowercased, like `vehicle::plan_services`): every code must be an offered option (or a
/// [`LEGACY_PLAN_CODES`] one).
pub fn check_plan_options(codes: &[String], catalog: &crate::services::catalog::Catalog) -> Result<(), RefusedPlanOptions> {
    use crate::services::catalog::OptionStatus;
    let mut refused = RefusedPlanOptions::default();
    for code in codes {
        match catalog.get(code).or_else(|| catalog.get(&code.to_ascii_lowercase())) {
            Some(o) if o.status == OptionStatus::Active => {}
            Some(_) => refused.retired.push(code.clone()),
            None if LEGACY_PLAN_CODES.iter().any(|l| l.eq_ignore_ascii_case(code)) => {}
            None => refused.unknown.push(code.clone()),
        }
    }
    if refused.unknown.is_empty() && refused.retired.is_empty() { Ok(()) } else { Err(refused) }
}

/// Financing terms: 6 to 120 months.
pub const FINANCING_TERM_MONTHS: std::ops::RangeInclusive<i64> = 6..=120;

/// The customer's final payment: the price (after discount) less the deposit and the financed
/// amount. `None` when nothing is left to pay (fully financed) or the numbers are inconsistent.
pub fn final_payment_minor(vehicle_price_minor: i64, deposit_minor: i64, financed_minor: i64) -> Option<i64> {
    let left = vehicle_price_minor.checked_sub(deposit_minor)?.checked_sub(financed_minor)?;
    (left > 0).then_some(left)
}

/// Validate the optional `financing` object of a sale against its price (after discount) and
/// deposit: amounts positive, term 6..=120 months, monthly × term covers the financed amount, and
/// financed ≤ price − deposit (equal: fully financed, no final payment). Absent or null → None.
pub fn validate_financing(body: &Value, vehicle_price_minor: i64, deposit_minor: i64) -> Result<Option<Financing>, Vec<FieldError>> {
    let f = match body.get("financing") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(f)) => f,
        Some(_) => return Err(vec![FieldError::new("/financing", "must be an object {financed_amount_minor, term_months, monthly_amount_minor, lender_reference}")]),
    };
    let mut v = V { errors: Vec::new(), _p: std::marker::PhantomData };
    for k in f.keys() {
        if !["financed_amount_minor", "term_months", "monthly_amount_minor", "lender_reference"].contains(&k.as_str()) {
            v.err(&format!("/financing/{k}"), "is not a financing field");
        }
    }
    let positive = |v: &mut V<'_>, key: &str| {
        let ptr = format!("/financing/{key}");
        v.int(f, key, &ptr).and_then(|x| {
            if x > 0 {
                Some(x)
            } else {
                v.err(&ptr, "must be greater than 0");
                None
            }
        })
    };
    let financed = positive(&mut v, "financed_amount_minor");
    let monthly = positive(&mut v, "monthly_amount_minor");
    let term = match f.get("term_months") {
        Some(Value::Number(n)) if n.as_i64().is_some_and(|t| FINANCING_TERM_MONTHS.contains(&t)) => n.as_i64(),
        None | Some(Value::Null) => {
            v.err("/financing/term_months", "is required");
            None
        }
        Some(_) => {
            v.err("/financing/term_months", "must be a whole number of months from 6 to 120");
            None
        }
    };
    let lender = v.string(f, "lender_reference", "/financing/lender_reference", 1, 100);
    if let Some(x) = financed {
        let most = vehicle_price_minor.saturating_sub(deposit_minor);
        if x > most {
            v.err("/financing/financed_amount_minor", format!("must be at most the price after discount minus the deposit ({most} minor units)"));
        }
    }
    if let (Some(x), Some(m), Some(t)) = (financed, monthly, term)
        && m.checked_mul(t).is_none_or(|total| total < x)
    {
        v.err("/financing/monthly_amount_minor", "monthly amount × term must cover the financed amount");
    }
    if !v.errors.is_empty() {
        return Err(v.errors);
    }
    match (financed, term, monthly, lender) {
        (Some(financed_amount_minor), Some(term_months), Some(monthly_amount_minor), Some(lender_reference)) => {
            Ok(Some(Financing { financed_amount_minor, term_months, monthly_amount_minor, lender_reference }))
        }
        _ => Err(vec![FieldError::new("/financing", "invalid financing")]),
    }
}

impl NewSale {
    pub fn vehicle_price(&self) -> crate::wit::Money {
        crate::wit::Money { amount_minor: self.prices.vehicle_price_minor, currency: self.prices.currency.clone() }
    }
    pub fn deposit(&self) -> crate::wit::Money {
        crate::wit::Money { amount_minor: self.prices.deposit_minor, currency: self.prices.currency.clone() }
    }
}

pub fn is_email(s: &str) -> bool {
    if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let Some((local, domain)) = s.split_once('@') else { return false };
    !local.is_empty()
        && local.len() <= 64
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && domain.chars().all(|c| c.is_alphanumeric() || c == '.' || c == '-')
}

/// E.164-ish: `+` then 8..=15 digits; spaces, dots, hyphens and parentheses are ignored.
pub fn normalize_phone(s: &str) -> Option<String> {
    let t = s.trim();
    let rest = t.strip_prefix('+')?;
    let mut digits = String::new();
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return None,
        }
    }
    if (8..=15).contains(&digits.len()) && !digits.starts_with('0') { Some(format!("+{digits}")) } else { None }
}

/// Codes of models and plan options: 1..=64 of `[A-Za-z0-9_.-]`.
pub fn is_code(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

struct V<'a> {
    errors: Vec<FieldError>,
    _p: std::marker::PhantomData<&'a ()>,
}

impl<'a> V<'a> {
    fn err(&mut self, ptr: &str, msg: impl Into<String>) {
        self.errors.push(FieldError::new(ptr, msg));
    }

    fn obj(&mut self, parent: &'a Map<String, Value>, key: &str, ptr: &str) -> Option<&'a Map<String, Value>> {
        match parent.get(key) {
            None | Some(Value::Null) => {
                self.err(ptr, "is required");
                None
            }
            Some(Value::Object(m)) => Some(m),
            Some(_) => {
                self.err(ptr, "must be an object");
                None
            }
        }
    }

    /// Required trimmed string with char-length bounds.
    fn string(&mut self, parent: &Map<String, Value>, key: &str, ptr: &str, min: usize, max: usize) -> Option<String> {
        match parent.get(key) {
            None | Some(Value::Null) => {
                self.err(ptr, "is required");
                None
            }
            Some(Value::String(s)) => {
                let t = s.trim();
                let n = t.chars().count();
                if n < min.max(1) {
                    self.err(ptr, if n == 0 { "must not be empty".to_string() } else { format!("must have at least {min} characters") });
                    None
                } else if n > max {
                    self.err(ptr, format!("must have at most {max} characters"));
                    None
                } else if t.chars().any(|c| c.is_control()) {
                    self.err(ptr, "must not contain control characters");
                    None
                } else {
                    Some(t.to_string())
                }
            }
            Some(_) => {
                self.err(ptr, "must be a string");
                None
            }
        }
    }

    fn int(&mut self, parent: &Map<String, Value>, key: &str, ptr: &str) -> Option<i64> {
        match parent.get(key) {
            None | Some(Value::Null) => {
                self.err(ptr, "is required");
                None
            }
            Some(Value::Number(n)) => match n.as_i64() {
                Some(i) => Some(i),
                None => {
                    self.err(ptr, "must be an integer amount in minor units");
                    None
                }
            },
            Some(_) => {
                self.err(ptr, "must be an integer amount in minor units");
                None
            }
        }
    }

    /// Optional language: absent or null → en; else exactly one of es, fr, de, en.
    fn language(&mut self, parent: &Map<String, Value>, key: &str, ptr: &str) -> Option<crate::lang::Lang> {
        match parent.get(key) {
            None | Some(Value::Null) => Some(crate::lang::Lang::En),
            Some(Value::String(s)) if crate::lang::Lang::parse(s).is_some() => crate::lang::Lang::parse(s),
            Some(_) => {
                self.err(ptr, "must be one of es, fr, de, en");
                None
            }
        }
    }

    fn country(&mut self, parent: &Map<String, Value>, key: &str, ptr: &str) -> Option<String> {
        let c = self.string(parent, key, ptr, 1, 8)?.to_uppercase();
        if SUPPORTED_COUNTRIES.contains(&c.as_str()) {
            Some(c)
        } else {
            self.err(ptr, format!("unsupported country {c:?}: must be one of {}", SUPPORTED_COUNTRIES.join(", ")));
            None
        }
    }
}

type AddressFields = (Option<String>, Option<Option<String>>, Option<String>, Option<String>, Option<String>);

/// The fields of an address object (errors under `ptr`).
fn address_fields(v: &mut V<'_>, a: &Map<String, Value>, ptr: &str) -> AddressFields {
    let line1 = v.string(a, "line1", &format!("{ptr}/line1"), 1, 200);
    let line2 = match a.get("line2") {
        None | Some(Value::Null) => Some(None),
        Some(Value::String(s)) if s.trim().is_empty() => Some(None),
        Some(_) => v.string(a, "line2", &format!("{ptr}/line2"), 1, 200).map(Some),
    };
    let city = v.string(a, "city", &format!("{ptr}/city"), 1, 100);
    let postal_code = v.string(a, "postal_code", &format!("{ptr}/postal_code"), 1, 12).and_then(|p| {
        if p.len() >= 3 && p.chars().all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '-') {
            Some(p.to_uppercase())
        } else {
            v.err(&format!("{ptr}/postal_code"), "must be 3 to 12 letters, digits, spaces or hyphens");
            None
        }
    });
    let country = v.country(a, "country", &format!("{ptr}/country"));
    (line1, line2, city, postal_code, country)
}

/// A validated `PATCH /api/account/profile`: only the fields given change.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProfileChange {
    pub phone: Option<String>,
    pub address: Option<Address>,
    pub language: Option<crate::lang::Lang>,
}

/// Validate `{phone?, address?, language?}` (all or nothing; unknown fields refused, so a typo
/// or an attempt to change the e-mail here is not silently ignored).
pub fn validate_profile(body: &Value) -> Result<ProfileChange, Vec<FieldError>> {
    let mut v = V { errors: Vec::new(), _p: std::marker::PhantomData };
    let Some(root) = body.as_object() else {
        return Err(vec![FieldError::new("", "request body must be a JSON object")]);
    };
    for k in root.keys() {
        if !["phone", "address", "language"].contains(&k.as_str()) {
            let hint = if k == "email" { "cannot be changed here: use POST /api/account/email-change" } else { "is not a profile field (phone, address, language)" };
            v.err(&format!("/{k}"), hint);
        }
    }
    let phone = match root.get("phone") {
        None => None,
        Some(_) => v.string(root, "phone", "/phone", 1, 32).and_then(|p| {
            let n = normalize_phone(&p);
            if n.is_none() {
                v.err("/phone", "must be an international number like +34600111222 (E.164)");
            }
            n
        }),
    };
    let address = match root.get("address") {
        None => None,
        Some(Value::Object(a)) => {
            let (l1, l2, city, pc, country) = address_fields(&mut v, a, "/address");
            (|| Some(Address { line1: l1?, line2: l2?, city: city?, postal_code: pc?, country: country? }))()
        }
        Some(_) => {
            v.err("/address", "must be an object {line1, line2?, city, postal_code, country}");
            None
        }
    };
    let language = match root.get("language") {
        None => None,
        Some(_) => v.language(root, "language", "/language"),
    };
    if root.is_empty() {
        v.err("", "give at least one of phone, address, language");
    }
    if v.errors.is_empty() { Ok(ProfileChange { phone, address, language }) } else { Err(v.errors) }
}

/// Validate a parsed request body. Nothing is partially accepted: any error rejects the sale.
pub fn validate_sale(body: &Value) -> Result<NewSale, Vec<FieldError>> {
    let mut v = V { errors: Vec::new(), _p: std::marker::PhantomData };
    let Some(root) = body.as_object() else {
        return Err(vec![FieldError::new("", "request body must be a JSON object")]);
    };

    // customer
    let customer = v.obj(root, "customer", "/customer").map(|c| {
        let full_name = v.string(c, "full_name", "/customer/full_name", 2, 200);
        let email = v.string(c, "email", "/customer/email", 3, 254).map(|e| e.to_lowercase()).and_then(|e| {
            if is_email(&e) {
                Some(e)
            } else {
                v.err("/customer/email", "must be a valid e-mail address");
                None
            }
        });
        let phone = v.string(c, "phone", "/customer/phone", 1, 32).and_then(|p| {
            let n = normalize_phone(&p);
            if n.is_none() {
                v.err("/customer/phone", "must be an international number like +34600111222 (E.164)");
            }
            n
        });
        let national_id = v.string(c, "national_id", "/customer/national_id", 1, 32).and_then(|n| {
            let n: String = n.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_uppercase();
            if (5..=20).contains(&n.len()) && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                Some(n)
            } else {
                v.err("/customer/national_id", "must be 5 to 20 letters, digits or hyphens");
                None
            }
        });
        (full_name, email, phone, national_id)
    });

    // delivery address
    let address = v.obj(root, "delivery_address", "/delivery_address").map(|a| address_fields(&mut v, a, "/delivery_address"));

    let country = v.country(root, "country", "/country");
    let language = v.language(root, "language", "/language");
    let model = v.string(root, "model", "/model", 1, 64).and_then(|m| {
        if is_code(&m) {
            Some(m)
        } else {
            v.err("/model", "must be a model code of letters, digits, '-', '_' or '.'");
            None
        }
    });

    let plan_options = match root.get("plan_options") {
        None | Some(Value::Null) => Some(Vec::new()),
        Some(Value::Array(items)) => {
            let mut out: Vec<String> = Vec::new();
            let mut ok = true;
            if items.len() > 100 {
                v.err("/plan_options", "must have at most 100 options");
                ok = false;
            }
            for (i, item) in items.iter().enumerate().take(100) {
                let ptr = format!("/plan_options/{i}");
                match item.as_str().map(str::trim) {
                    Some(code) if is_code(code) => {
                        if out.iter().any(|o| o == code) {
                            v.err(&ptr, format!("duplicate option {code:?}"));
                            ok = false;
                        } else {
                            out.push(code.to_string());
                        }
                    }
                    Some(_) => {
                        v.err(&ptr, "must be an option code of letters, digits, '-', '_' or '.'");
                        ok = false;
                    }
                    None => {
                        v.err(&ptr, "must be a string");
                        ok = false;
                    }
                }
            }
            ok.then_some(out)
        }
        Some(_) => {
            v.err("/plan_options", "must be an array of option codes");
            None
        }
    };

    let prices = v.obj(root, "prices", "/prices").map(|p| {
        let price = v.int(p, "vehicle_price_minor", "/prices/vehicle_price_minor").and_then(|x| {
            if x > 0 {
                Some(x)
            } else {
                v.err("/prices/vehicle_price_minor", "must be greater than 0");
                None
            }
        });
        let deposit = v.int(p, "deposit_minor", "/prices/deposit_minor").and_then(|x| {
            if x > 0 {
                Some(x)
            } else {
                v.err("/prices/deposit_minor", "must be greater than 0");
                None
            }
        });
        if let (Some(pr), Some(d)) = (price, deposit)
            && d >= pr
        {
            v.err("/prices/deposit_minor", "must be less than the vehicle price");
        }
        // Exactly as the schema says (`EUR`): ISO 4217 codes are uppercase, "eur" is refused.
        let currency = v.string(p, "currency", "/prices/currency", 3, 3);
        (price, deposit, currency)
    });
    // Currency must be the registration country's.
    if let (Some(c), Some((_, _, Some(cur)))) = (&country, &prices)
        && currency_for_country(c) != Some(cur.as_str())
    {
        v.err("/prices/currency", format!("must be {} for {c}", currency_for_country(c).unwrap_or("?")));
    }

    if !v.errors.is_empty() {
        return Err(v.errors);
    }
    // No errors recorded means every required part parsed.
    let build = || -> Option<NewSale> {
        let (full_name, email, phone, national_id) = customer?;
        let (line1, line2, city, postal_code, dcountry) = address?;
        let (price, deposit, currency) = prices?;
        Some(NewSale {
            customer: NewCustomer { full_name: full_name?, email: email?, phone: phone?, national_id: national_id? },
            delivery_address: Address { line1: line1?, line2: line2?, city: city?, postal_code: postal_code?, country: dcountry? },
            country: country?,
            model: model?,
            plan_options: plan_options?,
            prices: Prices { vehicle_price_minor: price?, deposit_minor: deposit?, currency: currency? },
            language: language?,
            financing: None,
        })
    };
    build().ok_or_else(|| vec![FieldError::new("", "invalid request")])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub fn valid() -> Value {
        json!({
            "customer": {"full_name": "Ana García", "email": "Ana.Garcia@Example.com", "phone": "+34 600 111 222", "national_id": "12345678z"},
            "delivery_address": {"line1": "Calle Mayor 1", "city": "Madrid", "postal_code": "28013", "country": "ES"},
            "country": "ES",
            "model": "CAAS-S1",
            "plan_options": ["autopilot", "heated-seats"],
            "prices": {"vehicle_price_minor": 3_500_000, "deposit_minor": 100_000, "currency": "EUR"}
        })
    }

    fn pointers(body: &Value) -> Vec<String> {
        validate_sale(body).unwrap_err().into_iter().map(|e| e.pointer).collect()
    }

    #[test]
    fn valid_sale_is_normalized() {
        let s = validate_sale(&valid()).unwrap();
        assert_eq!(s.customer.email, "ana.garcia@example.com");
        assert_eq!(s.customer.phone, "+34600111222");
        assert_eq!(s.language, crate::lang::Lang::En, "no language given: en");
        assert_eq!(s.customer.national_id, "12345678Z");
        assert_eq!(s.country, "ES");
        assert_eq!(s.plan_options, vec!["autopilot", "heated-seats"]);
        assert_eq!(s.deposit().amount_minor, 100_000);
        assert_eq!(s.delivery_address.line2, None);
    }

    #[test]
    fn unknown_country_is_a_field_error() {
        let mut b = valid();
        b["country"] = json!("IT");
        assert_eq!(pointers(&b), vec!["/country"]);
        b["delivery_address"]["country"] = json!("XX");
        assert_eq!(pointers(&b), vec!["/delivery_address/country", "/country"]);
    }

    #[test]
    fn every_field_reports_its_pointer() {
        let b = json!({
            "customer": {"full_name": "", "email": "nope", "phone": "600111222", "national_id": "!"},
            "delivery_address": {"line1": 5, "city": "M", "postal_code": "$", "country": "ES"},
            "country": "FR",
            "model": "bad model",
            "plan_options": ["ok", "ok", 3],
            "prices": {"vehicle_price_minor": 100, "deposit_minor": 100, "currency": "USD"}
        });
        let p = pointers(&b);
        for expected in [
            "/customer/full_name", "/customer/email", "/customer/phone", "/customer/national_id",
            "/delivery_address/line1", "/delivery_address/postal_code", "/model", "/plan_options/1",
            "/plan_options/2", "/prices/deposit_minor", "/prices/currency",
        ] {
            assert!(p.contains(&expected.to_string()), "missing {expected} in {p:?}");
        }
        assert!(!p.contains(&"/delivery_address/city".to_string()));
    }

    #[test]
    fn missing_and_wrong_types() {
        assert_eq!(pointers(&json!({})), vec!["/customer", "/delivery_address", "/country", "/model", "/prices"]);
        assert_eq!(pointers(&json!([])), vec![""]);
        let mut b = valid();
        b["prices"]["deposit_minor"] = json!(1.5);
        b["prices"]["vehicle_price_minor"] = json!("1000");
        assert_eq!(pointers(&b), vec!["/prices/vehicle_price_minor", "/prices/deposit_minor"]);
        let mut b = valid();
        b["prices"]["deposit_minor"] = json!(0);
        assert_eq!(pointers(&b), vec!["/prices/deposit_minor"]);
        let mut b = valid();
        b["plan_options"] = json!("x");
        assert_eq!(pointers(&b), vec!["/plan_options"]);
        let mut b = valid();
        b.as_object_mut().unwrap().remove("plan_options");
        assert!(validate_sale(&b).unwrap().plan_options.is_empty());
    }

    #[test]
    fn helpers() {
        assert!(is_email("a@b.co"));
        assert!(!is_email("a@b"));
        assert!(!is_email("a b@c.de"));
        assert!(!is_email("a@@c.de"));
        assert_eq!(normalize_phone("+49 (30) 1234-5678"), Some("+493012345678".into()));
        assert_eq!(normalize_phone("0049301234"), None);
        assert_eq!(normalize_phone("+12"), None);
        assert_eq!(currency_for_country("DE"), Some("EUR"));
        assert_eq!(currency_for_country("US"), None);
        assert_eq!(market_currencies(), vec!["EUR"]);
        assert!(is_market_currency("EUR") && !is_market_currency("eur") && !is_market_currency("USD"));
    }

    #[test]
    fn sale_language_optional_and_checked() {
        let mut body = valid();
        body["language"] = json!("fr");
        assert_eq!(validate_sale(&body).unwrap().language, crate::lang::Lang::Fr);
        for bad in [json!("FR"), json!("it"), json!(3), json!("")] {
            body["language"] = bad;
            let e = validate_sale(&body).unwrap_err();
            assert_eq!(e.iter().map(|e| e.pointer.as_str()).collect::<Vec<_>>(), ["/language"]);
        }
    }

    fn financing_pointers(f: Value) -> Vec<String> {
        validate_financing(&json!({"financing": f}), 3_000_000, 100_000).unwrap_err().into_iter().map(|e| e.pointer).collect()
    }

    #[test]
    fn financing_is_optional_and_checked_against_the_price() {
        assert_eq!(validate_financing(&valid(), 3_000_000, 100_000), Ok(None));
        assert_eq!(validate_financing(&json!({"financing": null}), 3_000_000, 100_000), Ok(None));
        let ok = json!({"financed_amount_minor": 2_000_000, "term_months": 48, "monthly_amount_minor": 45_000, "lender_reference": " CaaS Bank L-1 "});
        let f = validate_financing(&json!({"financing": ok}), 3_000_000, 100_000).unwrap().unwrap();
        assert_eq!((f.financed_amount_minor, f.term_months, f.monthly_amount_minor, f.lender_reference.as_str()), (2_000_000, 48, 45_000, "CaaS Bank L-1"));
        // Financed up to price − deposit (fully financed: no final payment).
        let mut most = ok.clone();
        most["financed_amount_minor"] = json!(2_900_000);
        most["monthly_amount_minor"] = json!(100_000);
        assert!(validate_financing(&json!({"financing": most}), 3_000_000, 100_000).is_ok());
        most["financed_amount_minor"] = json!(2_900_001);
        assert_eq!(financing_pointers(most), ["/financing/financed_amount_minor"]);
        let mut b = ok.clone();
        b["term_months"] = json!(5);
        assert_eq!(financing_pointers(b.clone()), ["/financing/term_months"]);
        b["term_months"] = json!(121);
        assert_eq!(financing_pointers(b), ["/financing/term_months"]);
        let mut b = ok.clone();
        b["monthly_amount_minor"] = json!(41_666); // 41 666 × 48 = 1 999 968 < 2 000 000
        assert_eq!(financing_pointers(b), ["/financing/monthly_amount_minor"]);
        let bad = json!({"financed_amount_minor": 0, "term_months": "48", "monthly_amount_minor": -1, "lender_reference": "", "rate": 3});
        let p = financing_pointers(bad);
        for e in ["/financing/rate", "/financing/financed_amount_minor", "/financing/monthly_amount_minor", "/financing/term_months", "/financing/lender_reference"] {
            assert!(p.contains(&e.to_string()), "{e} missing in {p:?}");
        }
        assert_eq!(validate_financing(&json!({"financing": 3}), 3_000_000, 100_000).unwrap_err()[0].pointer, "/financing");
    }

    #[test]
    fn plan_options_must_be_offered_catalog_options() {
        use crate::services::catalog::{OptionStatus, seed_catalog};
        let mut cat = seed_catalog();
        let codes = |c: &[&str]| c.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // The documented example stays valid (HEATED-SEATS is the catalog's heated-seats).
        assert_eq!(check_plan_options(&codes(&["AUTOPILOT-HWY", "HEATED-SEATS", "premium-audio"]), &cat), Ok(()));
        assert_eq!(check_plan_options(&[], &cat), Ok(()));
        cat.options.iter_mut().find(|o| o.code == "premium-audio").unwrap().status = OptionStatus::Retired;
        let e = check_plan_options(&codes(&["heated-seats", "warp-drive", "premium-audio", "x"]), &cat).unwrap_err();
        assert_eq!((e.unknown.clone(), e.retired.clone()), (codes(&["warp-drive", "x"]), codes(&["premium-audio"])));
        assert_eq!(e.detail(), "plan options cannot be sold — not in the catalog: warp-drive, x; retired (no longer sold): premium-audio");
    }

    #[test]
    fn final_payment_is_what_is_not_financed() {
        assert_eq!(final_payment_minor(3_000_000, 100_000, 0), Some(2_900_000));
        assert_eq!(final_payment_minor(3_000_000, 100_000, 2_000_000), Some(900_000));
        assert_eq!(final_payment_minor(3_000_000, 100_000, 2_900_000), None);
        assert_eq!(final_payment_minor(100, 100, 0), None);
    }

    #[test]
    fn profile_changes_all_or_nothing() {
        let p = validate_profile(&json!({"phone": "+33 6 12 34 56 78", "language": "de"})).unwrap();
        assert_eq!((p.phone.as_deref(), p.language, p.address), (Some("+33612345678"), Some(crate::lang::Lang::De), None));
        let a = validate_profile(&json!({"address": {"line1": "1 rue de la Paix", "city": "Paris", "postal_code": "75002", "country": "fr"}})).unwrap();
        assert_eq!(a.address.unwrap().country, "FR");
        let e = validate_profile(&json!({"phone": "123", "language": "xx", "address": {"city": ""}, "email": "x@y.z"})).unwrap_err();
        let ptrs: Vec<&str> = e.iter().map(|e| e.pointer.as_str()).collect();
        for p in ["/phone", "/language", "/address/line1", "/address/city", "/email"] {
            assert!(ptrs.contains(&p), "{p} missing in {ptrs:?}");
        }
        assert!(validate_profile(&json!({})).is_err());
        assert!(validate_profile(&json!([1])).is_err());
    }
}
