//! Vehicle list prices and the bounded, explicit sale discount (issue 9: "vehicle prices come
//! from the model's price list, not any positive number").
//!
//! # Rules
//! * Every model sold has a list price per currency ([`PriceList`], seeded from
//!   `data/vehicle_models.json`). A sale of a model that is not on the list, or in a currency the
//!   model has no price in, is refused (422 `unknown-model` / `no-list-price`).
//! * The vehicle price of a sale is `list price − discount`. The discount is explicit:
//!   `discount: {"amount_minor": n, "reason": "…"}` or `discount: {"percent": p, "reason": "…"}`
//!   (`p` with at most two decimals; the amount is `list × p ÷ 100` rounded down). A reason
//!   (3–500 characters) is required; the discount must be positive and at most the configured
//!   maximum percentage of the list price ([`DEFAULT_MAX_DISCOUNT_PERCENT`] = 10 %, Spin variable
//!   `max_vehicle_discount_percent`). The order records who gave it, how much and why.
//! * `prices.vehicle_price_minor` is optional. When sent (older clients), it must equal the
//!   resulting price: the list price without a discount, `list − discount` with one. Any other
//!   number is refused (422 `vehicle-price-mismatch`) with a message naming the list price.
use crate::problem::FieldError;
use crate::wit::Money;
use serde::Deserialize;
use serde_json::Value;

/// The seed price list shipped with the app.
pub const SEED_JSON: &str = include_str!("../data/vehicle_models.json");
/// Largest discount, as a percentage of the list price, unless configured otherwise.
pub const DEFAULT_MAX_DISCOUNT_PERCENT: u32 = 10;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ListPrice {
    pub amount_minor: i64,
    pub currency: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct VehicleModel {
    pub code: String,
    pub name: String,
    pub list_prices: Vec<ListPrice>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PriceList {
    pub models: Vec<VehicleModel>,
}

impl PriceList {
    /// The model (codes compare exactly, as stored on the order).
    pub fn model(&self, code: &str) -> Option<&VehicleModel> {
        self.models.iter().find(|m| m.code == code)
    }
    /// List price of `model` in `currency`.
    pub fn list_price(&self, model: &str, currency: &str) -> Option<Money> {
        let m = self.model(model)?;
        m.list_prices
            .iter()
            .find(|p| p.currency == currency)
            .map(|p| Money { amount_minor: p.amount_minor, currency: p.currency.clone() })
    }
}

/// Parses and checks a price list (codes unique, prices positive, currencies 3 upper-case letters).
pub fn parse_price_list(json: &str) -> Result<PriceList, String> {
    let list: PriceList = serde_json::from_str(json).map_err(|e| format!("price list: {e}"))?;
    for (i, m) in list.models.iter().enumerate() {
        if !crate::sale::is_code(&m.code) {
            return Err(format!("model {i}: bad code {:?}", m.code));
        }
        if list.models[..i].iter().any(|o| o.code == m.code) {
            return Err(format!("model {}: listed twice", m.code));
        }
        if m.list_prices.is_empty() {
            return Err(format!("model {}: no list price", m.code));
        }
        for p in &m.list_prices {
            if p.amount_minor <= 0 || p.currency.len() != 3 || !p.currency.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(format!("model {}: bad list price {p:?}", m.code));
            }
        }
    }
    Ok(list)
}

/// The shipped price list.
pub fn seed_price_list() -> PriceList {
    parse_price_list(SEED_JSON).expect("the shipped vehicle price list is valid")
}

/// A priced sale: what goes on the order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SalePrice {
    pub list_price_minor: i64,
    pub discount_minor: i64,
    /// `list_price_minor − discount_minor`: the vehicle price of the order.
    pub vehicle_price_minor: i64,
    pub currency: String,
    pub discount_reason: Option<String>,
}

/// Why a sale cannot be priced (each a 422 problem; `code` is its type slug).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricingError {
    pub code: &'static str,
    pub detail: String,
    pub errors: Vec<FieldError>,
}

impl PricingError {
    fn new(code: &'static str, pointer: &str, detail: String) -> PricingError {
        PricingError { code, errors: vec![FieldError::new(pointer, detail.clone())], detail }
    }
}

fn money_text(minor: i64, currency: &str) -> String {
    crate::money::format_minor(minor, currency)
}

/// Prices the sale in `body` (the POST /api/sales request): `Ok(None)` when `model` or
/// `prices.currency` is missing, not a string, or not a market currency (request validation
/// reports that).
pub fn price_sale(list: &PriceList, body: &Value, max_discount_percent: u32) -> Result<Option<SalePrice>, PricingError> {
    let (Some(model), Some(currency)) = (
        body.get("model").and_then(Value::as_str).map(str::trim),
        body.pointer("/prices/currency").and_then(Value::as_str).map(str::trim),
    ) else {
        return Ok(None);
    };
    // A currency no market uses ("eur", "USD") is the request validation's to report.
    if !crate::sale::SUPPORTED_COUNTRIES.iter().any(|c| crate::sale::currency_for_country(c) == Some(currency)) {
        return Ok(None);
    }
    let Some(m) = list.model(model) else {
        let known: Vec<&str> = list.models.iter().map(|m| m.code.as_str()).collect();
        return Err(PricingError::new("unknown-model", "/model", format!("unknown model {model:?}: must be one of {}", known.join(", "))));
    };
    let Some(lp) = list.list_price(model, currency) else {
        return Err(PricingError::new("no-list-price", "/prices/currency", format!("model {} has no list price in {currency:?}", m.code)));
    };
    let list_minor = lp.amount_minor;
    let (discount_minor, reason) = discount(body.get("discount"), list_minor, currency, max_discount_percent)?;
    let price = list_minor - discount_minor;
    match body.pointer("/prices/vehicle_price_minor") {
        None | Some(Value::Null) => {}
        Some(v) if v.as_i64() == Some(price) => {}
        Some(v) => {
            let sent = v.as_i64().map(|x| money_text(x, currency)).unwrap_or_else(|| v.to_string());
            let detail = if discount_minor == 0 {
                format!(
                    "vehicle_price_minor {sent} is not the list price of {model} ({}); omit it (the list price applies) or give an explicit discount with a reason",
                    money_text(list_minor, currency)
                )
            } else {
                format!(
                    "vehicle_price_minor {sent} is not the list price of {model} ({}) less the discount ({}) = {}",
                    money_text(list_minor, currency),
                    money_text(discount_minor, currency),
                    money_text(price, currency)
                )
            };
            return Err(PricingError::new("vehicle-price-mismatch", "/prices/vehicle_price_minor", detail));
        }
    }
    Ok(Some(SalePrice { list_price_minor: list_minor, discount_minor, vehicle_price_minor: price, currency: currency.to_string(), discount_reason: reason }))
}

/// The discount in minor units and its reason (`(0, None)` when there is none).
fn discount(d: Option<&Value>, list_minor: i64, currency: &str, max_percent: u32) -> Result<(i64, Option<String>), PricingError> {
    let bad = |ptr: &str, msg: String| PricingError::new("invalid-discount", ptr, msg);
    let obj = match d {
        None | Some(Value::Null) => return Ok((0, None)),
        Some(Value::Object(o)) => o,
        Some(_) => return Err(bad("/discount", "must be an object {amount_minor | percent, reason}".into())),
    };
    let reason = match obj.get("reason") {
        Some(Value::String(s)) if (3..=500).contains(&s.trim().chars().count()) && !s.chars().any(char::is_control) => s.trim().to_string(),
        Some(Value::String(_)) => return Err(bad("/discount/reason", "must have 3 to 500 characters, no control characters".into())),
        None | Some(Value::Null) => return Err(bad("/discount/reason", "is required: say why the discount is given".into())),
        Some(_) => return Err(bad("/discount/reason", "must be a string".into())),
    };
    let amount = match (obj.get("amount_minor"), obj.get("percent")) {
        (Some(a), None) => a.as_i64().ok_or_else(|| bad("/discount/amount_minor", "must be an integer amount in minor units".into()))?,
        (None, Some(p)) => {
            let pct = p.as_f64().filter(|x| x.is_finite()).ok_or_else(|| bad("/discount/percent", "must be a number".into()))?;
            let hundredths = (pct * 100.0).round();
            if (hundredths - pct * 100.0).abs() > 1e-6 || !(0.0..=10_000.0).contains(&hundredths) {
                return Err(bad("/discount/percent", "must be between 0 and 100 with at most two decimals".into()));
            }
            ((list_minor as i128 * hundredths as i128) / 10_000) as i64
        }
        _ => return Err(bad("/discount", "give exactly one of amount_minor or percent".into())),
    };
    if amount <= 0 {
        return Err(bad("/discount", "must be greater than 0".into()));
    }
    let max = (list_minor as i128 * max_percent as i128 / 100) as i64;
    if amount > max {
        return Err(PricingError::new(
            "discount-too-large",
            "/discount",
            format!(
                "a discount of {} exceeds the maximum of {max_percent} % of the list price ({})",
                money_text(amount, currency),
                money_text(max, currency)
            ),
        ));
    }
    Ok((amount, Some(reason)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(prices: Value, discount: Option<Value>) -> Value {
        let mut b = json!({"model": "CAAS-SEDAN-24", "prices": prices});
        if let Some(d) = discount {
            b["discount"] = d;
        }
        b
    }

    #[test]
    fn seed_list_is_valid() {
        let l = seed_price_list();
        assert_eq!(l.list_price("CAAS-SEDAN-24", "EUR").unwrap().amount_minor, 3_450_000);
        assert!(l.list_price("CAAS-SEDAN-24", "USD").is_none());
        assert!(l.list_price("NOPE", "EUR").is_none());
        assert!(parse_price_list(r#"{"models":[{"code":"A","name":"a","list-prices":[{"amount-minor":0,"currency":"EUR"}]}]}"#).is_err());
        assert!(parse_price_list(r#"{"models":[{"code":"A","name":"a","list-prices":[]}]}"#).is_err());
    }

    #[test]
    fn list_price_applies_and_legacy_equal_price_is_accepted() {
        let l = seed_price_list();
        let p = price_sale(&l, &body(json!({"currency": "EUR", "deposit_minor": 1}), None), 10).unwrap().unwrap();
        assert_eq!((p.list_price_minor, p.discount_minor, p.vehicle_price_minor, p.discount_reason), (3_450_000, 0, 3_450_000, None));
        let p = price_sale(&l, &body(json!({"currency": "EUR", "vehicle_price_minor": 3_450_000}), None), 10).unwrap().unwrap();
        assert_eq!(p.vehicle_price_minor, 3_450_000);
        // Missing model / currency: left to request validation.
        assert_eq!(price_sale(&l, &json!({"prices": {"currency": "EUR"}}), 10), Ok(None));
        assert_eq!(price_sale(&l, &json!({"model": "CAAS-SEDAN-24"}), 10), Ok(None));
    }

    #[test]
    fn any_other_number_is_refused() {
        let l = seed_price_list();
        let e = price_sale(&l, &body(json!({"currency": "EUR", "vehicle_price_minor": 100}), None), 10).unwrap_err();
        assert_eq!(e.code, "vehicle-price-mismatch");
        assert!(e.detail.contains("34500.00 EUR"), "{}", e.detail);
        assert_eq!(e.errors[0].pointer, "/prices/vehicle_price_minor");
        let e = price_sale(&l, &json!({"model": "CAAS-ROADSTER", "prices": {"currency": "EUR"}}), 10).unwrap_err();
        assert_eq!(e.code, "unknown-model");
        assert!(e.detail.contains("CAAS-SEDAN-24"));
        // Not a market currency: request validation reports it.
        assert_eq!(price_sale(&l, &body(json!({"currency": "USD"}), None), 10), Ok(None));
        assert_eq!(price_sale(&l, &body(json!({"currency": "eur"}), None), 10), Ok(None));
        // A market currency the model has no price in.
        let mut l2 = l.clone();
        l2.models[0].list_prices[0].currency = "GBP".into();
        assert_eq!(price_sale(&l2, &body(json!({"currency": "EUR"}), None), 10).unwrap_err().code, "no-list-price");
    }

    #[test]
    fn discounts_are_explicit_bounded_and_explained() {
        let l = seed_price_list();
        let cur = json!({"currency": "EUR"});
        let p = price_sale(&l, &body(cur.clone(), Some(json!({"amount_minor": 100_000, "reason": "end of quarter"}))), 10).unwrap().unwrap();
        assert_eq!((p.discount_minor, p.vehicle_price_minor, p.discount_reason.as_deref()), (100_000, 3_350_000, Some("end of quarter")));
        let p = price_sale(&l, &body(cur.clone(), Some(json!({"percent": 2.5, "reason": "fleet"}))), 10).unwrap().unwrap();
        assert_eq!(p.discount_minor, 86_250);
        // Exactly the maximum is allowed; one cent more is not.
        assert!(price_sale(&l, &body(cur.clone(), Some(json!({"amount_minor": 345_000, "reason": "max"}))), 10).is_ok());
        let e = price_sale(&l, &body(cur.clone(), Some(json!({"amount_minor": 345_001, "reason": "max"}))), 10).unwrap_err();
        assert_eq!(e.code, "discount-too-large");
        assert!(e.detail.contains("10 %") && e.detail.contains("3450.00 EUR"), "{}", e.detail);
        assert_eq!(price_sale(&l, &body(cur.clone(), Some(json!({"percent": 11, "reason": "x y z"}))), 10).unwrap_err().code, "discount-too-large");
        // A stricter configuration.
        assert_eq!(price_sale(&l, &body(cur.clone(), Some(json!({"percent": 6, "reason": "xyz"}))), 5).unwrap_err().code, "discount-too-large");
        // Reason required; one of amount/percent; positive.
        for d in [
            json!({"amount_minor": 1000}),
            json!({"amount_minor": 1000, "reason": " "}),
            json!({"amount_minor": 1000, "percent": 1, "reason": "both"}),
            json!({"reason": "neither"}),
            json!({"amount_minor": 0, "reason": "zero"}),
            json!({"amount_minor": -5, "reason": "negative"}),
            json!({"percent": 1.234, "reason": "three decimals"}),
            json!({"amount_minor": 1.5, "reason": "fraction"}),
            json!("10%"),
        ] {
            assert_eq!(price_sale(&l, &body(cur.clone(), Some(d.clone())), 10).unwrap_err().code, "invalid-discount", "{d}");
        }
        // Legacy price with a discount must be the discounted price.
        let b = body(json!({"currency": "EUR", "vehicle_price_minor": 3_350_000}), Some(json!({"amount_minor": 100_000, "reason": "end of quarter"})));
        assert_eq!(price_sale(&l, &b, 10).unwrap().unwrap().vehicle_price_minor, 3_350_000);
        let b = body(json!({"currency": "EUR", "vehicle_price_minor": 3_450_000}), Some(json!({"amount_minor": 100_000, "reason": "end of quarter"})));
        let e = price_sale(&l, &b, 10).unwrap_err();
        assert_eq!(e.code, "vehicle-price-mismatch");
        assert!(e.detail.contains("33500.00 EUR"), "{}", e.detail);
    }
}
