//! Money: integer minor units + ISO 4217 currency. Checked arithmetic, no floats.
use crate::wit::Money;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoneyError {
    CurrencyMismatch { left: String, right: String },
    Overflow,
    InvalidCurrency(String),
}

impl fmt::Display for MoneyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MoneyError::CurrencyMismatch { left, right } => write!(f, "currency mismatch: {left} vs {right}"),
            MoneyError::Overflow => write!(f, "amount overflow"),
            MoneyError::InvalidCurrency(c) => write!(f, "invalid currency code {c:?}"),
        }
    }
}
impl std::error::Error for MoneyError {}

/// The one text form of an amount in notifications, invoices and records: 2 decimals (all
/// supported currencies have 2 minor digits) and the currency code, e.g. `1234.50 EUR`.
pub fn format_minor(amount_minor: i64, currency: &str) -> String {
    let sign = if amount_minor < 0 { "-" } else { "" };
    let abs = amount_minor.unsigned_abs();
    format!("{sign}{}.{:02} {currency}", abs / 100, abs % 100)
}

/// A well-formed ISO 4217 code: three ASCII uppercase letters.
pub fn is_currency_code(c: &str) -> bool {
    c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase())
}

impl Money {
    pub fn new(amount_minor: i64, currency: &str) -> Result<Money, MoneyError> {
        if !is_currency_code(currency) {
            return Err(MoneyError::InvalidCurrency(currency.to_string()));
        }
        Ok(Money { amount_minor, currency: currency.to_string() })
    }

    fn same(&self, other: &Money) -> Result<(), MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch { left: self.currency.clone(), right: other.currency.clone() });
        }
        Ok(())
    }

    pub fn checked_add(&self, other: &Money) -> Result<Money, MoneyError> {
        self.same(other)?;
        let a = self.amount_minor.checked_add(other.amount_minor).ok_or(MoneyError::Overflow)?;
        Ok(Money { amount_minor: a, currency: self.currency.clone() })
    }

    pub fn checked_sub(&self, other: &Money) -> Result<Money, MoneyError> {
        self.same(other)?;
        let a = self.amount_minor.checked_sub(other.amount_minor).ok_or(MoneyError::Overflow)?;
        Ok(Money { amount_minor: a, currency: self.currency.clone() })
    }

    pub fn checked_mul(&self, factor: i64) -> Result<Money, MoneyError> {
        let a = self.amount_minor.checked_mul(factor).ok_or(MoneyError::Overflow)?;
        Ok(Money { amount_minor: a, currency: self.currency.clone() })
    }

    pub fn is_positive(&self) -> bool {
        self.amount_minor > 0
    }

    /// Human form with 2 decimals (all supported currencies have 2 minor digits), e.g. `1234.50 EUR`.
    pub fn display(&self) -> String {
        format_minor(self.amount_minor, &self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_is_checked() {
        let a = Money::new(1000, "EUR").unwrap();
        let b = Money::new(250, "EUR").unwrap();
        assert_eq!(a.checked_add(&b).unwrap().amount_minor, 1250);
        assert_eq!(a.checked_sub(&b).unwrap().amount_minor, 750);
        assert_eq!(b.checked_mul(3).unwrap().amount_minor, 750);
        let max = Money::new(i64::MAX, "EUR").unwrap();
        assert_eq!(max.checked_add(&b), Err(MoneyError::Overflow));
        assert_eq!(max.checked_mul(2), Err(MoneyError::Overflow));
        let usd = Money::new(1, "USD").unwrap();
        assert!(matches!(a.checked_add(&usd), Err(MoneyError::CurrencyMismatch { .. })));
    }

    #[test]
    fn currency_codes() {
        assert!(Money::new(1, "eur").is_err());
        assert!(Money::new(1, "EURO").is_err());
        assert!(is_currency_code("EUR"));
    }

    #[test]
    fn display() {
        assert_eq!(Money::new(123450, "EUR").unwrap().display(), "1234.50 EUR");
        assert_eq!(Money::new(-5, "EUR").unwrap().display(), "-0.05 EUR");
    }

    #[test]
    fn format_minor_is_the_one_text_form() {
        assert_eq!(format_minor(0, "EUR"), "0.00 EUR");
        assert_eq!(format_minor(7, "EUR"), "0.07 EUR");
        assert_eq!(format_minor(59900, "EUR"), "599.00 EUR");
        assert_eq!(format_minor(123456, "USD"), "1234.56 USD");
        assert_eq!(format_minor(-123456, "EUR"), "-1234.56 EUR");
        assert_eq!(format_minor(i64::MIN, "EUR"), "-92233720368547758.08 EUR");
    }
}
