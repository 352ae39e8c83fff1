//! Accounts store: customers (profile, delivery address) and the single-use set-password tokens
//! of new and resetting accounts.
use crate::db::{Db, DbError, int, opt_text, text};
use caas_domain::auth::Role;
use caas_domain::credentials::{NO_PASSWORD, Purpose};
use caas_domain::sale::{Address, NewCustomer};

/// A customer row.
#[derive(Debug, Clone)]
pub struct Customer {
    pub id: String,
    pub email: String,
    pub full_name: String,
    pub phone: String,
    pub national_id: String,
    pub address: Address,
    pub country: String,
}

impl Customer {
    /// The delivery address on one line ("line1, line2, postal city, country"; blanks skipped).
    pub fn address_line(&self) -> String {
        let a = &self.address;
        [a.line1.clone(), a.line2.clone().unwrap_or_default(), format!("{} {}", a.postal_code, a.city), a.country.clone()]
            .into_iter()
            .filter(|s| !s.trim().is_empty())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

pub async fn load_customer(db: &Db, customer_id: &str) -> Result<Option<Customer>, DbError> {
    let row = db.query_one("SELECT * FROM customers WHERE id = ?", vec![text(customer_id)]).await?;
    Ok(row.map(|r| Customer {
        id: r.str("id"),
        email: r.str("email"),
        full_name: r.str("full_name"),
        phone: r.str("phone"),
        national_id: r.str("national_id"),
        address: Address {
            line1: r.str("address_line1"),
            line2: r.opt_str("address_line2"),
            city: r.str("address_city"),
            postal_code: r.str("address_postal_code"),
            country: r.str("address_country"),
        },
        country: r.str("country"),
    }))
}

pub async fn email_registered(db: &Db, email: &str) -> Result<bool, DbError> {
    Ok(db.query_one("SELECT 1 AS x FROM customers WHERE email = ?", vec![text(email)]).await?.is_some())
}

/// A new customer without a password (it is chosen through the e-mailed link). A taken e-mail
/// is a UNIQUE violation (`DbError::is_unique_violation`).
pub async fn insert_customer(tx: &Db, id: &str, c: &NewCustomer, a: &Address, country: &str, now: i64) -> Result<(), DbError> {
    tx.exec(
        "INSERT INTO customers(id, email, full_name, phone, national_id, address_line1, address_line2, address_city,
           address_postal_code, address_country, country, password_hash, must_change_password, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)",
        vec![
            text(id), text(&c.email), text(&c.full_name), text(&c.phone), text(&c.national_id), text(&a.line1),
            opt_text(a.line2.clone()), text(&a.city), text(&a.postal_code), text(&a.country), text(country),
            text(NO_PASSWORD), int(now),
        ],
    )
    .await?;
    Ok(())
}

/// Store a set-password token (its SHA-256 only), valid for the purpose's lifetime.
pub async fn insert_password_token(tx: &Db, token_hash: &str, subject_id: &str, role: Role, purpose: Purpose, now: i64) -> Result<(), DbError> {
    tx.exec(
        "INSERT INTO password_tokens(token_hash, subject_id, role, purpose, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
        vec![text(token_hash), text(subject_id), text(role.as_str()), text(purpose.as_str()), int(now), int(now + purpose.ttl_ms())],
    )
    .await?;
    Ok(())
}
