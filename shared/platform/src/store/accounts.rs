//! Accounts store: customers (profile, delivery address) and the single-use set-password tokens
//! of new and resetting accounts.
use crate::db::{Db, DbError, int, opt_text, text};
use caas_domain::auth::Role;
use caas_domain::credentials::{NO_PASSWORD, Purpose};
use caas_domain::lang::Lang;
use caas_domain::preferences::Preferences;
use caas_domain::sale::{Address, NewCustomer, ProfileChange};

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
    pub created_at: i64,
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
    Ok(row.map(|r| customer_row(&r)))
}

/// The customer registered with `email` (stored lowercased), if any.
pub async fn customer_by_email(db: &Db, email: &str) -> Result<Option<Customer>, DbError> {
    let row = db.query_one("SELECT * FROM customers WHERE email = ?", vec![text(email)]).await?;
    Ok(row.map(|r| customer_row(&r)))
}

fn customer_row(r: &crate::db::Row) -> Customer {
    Customer {
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
        created_at: r.i64("created_at"),
    }
}

pub async fn email_registered(db: &Db, email: &str) -> Result<bool, DbError> {
    Ok(db.query_one("SELECT 1 AS x FROM customers WHERE email = ?", vec![text(email)]).await?.is_some())
}

/// A new customer without a password (it is chosen through the e-mailed link). A taken e-mail
/// is a UNIQUE violation (`DbError::is_unique_violation`).
pub async fn insert_customer(tx: &Db, id: &str, c: &NewCustomer, a: &Address, country: &str, lang: Lang, now: i64) -> Result<(), DbError> {
    tx.exec(
        "INSERT INTO customers(id, email, full_name, phone, national_id, address_line1, address_line2, address_city,
           address_postal_code, address_country, country, password_hash, must_change_password, created_at, language)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)",
        vec![
            text(id), text(&c.email), text(&c.full_name), text(&c.phone), text(&c.national_id), text(&a.line1),
            opt_text(a.line2.clone()), text(&a.city), text(&a.postal_code), text(&a.country), text(country),
            text(NO_PASSWORD), int(now), text(lang.as_str()),
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

// ------------------------------------------------------------------------------------ credentials

fn table_of(role: Role) -> &'static str {
    if role == Role::Customer { "customers" } else { "employees" }
}

/// A stored set-password token (by its hash).
#[derive(Debug, Clone)]
pub struct PasswordToken {
    pub subject_id: String,
    pub role: Role,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

pub async fn password_token(db: &Db, token_hash: &str) -> Result<Option<PasswordToken>, DbError> {
    let row = db.query_one("SELECT subject_id, role, expires_at, used_at FROM password_tokens WHERE token_hash = ?", vec![text(token_hash)]).await?;
    Ok(row.map(|r| PasswordToken {
        subject_id: r.str("subject_id"),
        role: Role::parse(&r.str("role")).unwrap_or(Role::Customer),
        expires_at: r.i64("expires_at"),
        used_at: r.opt_i64("used_at"),
    }))
}

/// Consume a token once (compare-and-set under the write lock): whether this call used it.
pub async fn consume_token(tx: &Db, token_hash: &str, now: i64) -> Result<bool, DbError> {
    let taken = tx
        .exec(
            "UPDATE password_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?",
            vec![int(now), text(token_hash), int(now)],
        )
        .await?;
    Ok(taken == 1)
}

/// Every other open link of the account dies (an older welcome or reset link).
pub async fn expire_open_tokens(tx: &Db, subject_id: &str, now: i64) -> Result<(), DbError> {
    tx.exec("UPDATE password_tokens SET used_at = ? WHERE subject_id = ? AND used_at IS NULL", vec![int(now), text(subject_id)]).await?;
    Ok(())
}

/// The e-mail of an account (customer or staff).
pub async fn account_email(db: &Db, subject_id: &str, role: Role) -> Result<Option<String>, DbError> {
    let sql = format!("SELECT email FROM {} WHERE id = ?", table_of(role));
    Ok(db.query_one(&sql, vec![text(subject_id)]).await?.map(|r| r.str("email")))
}

/// The account's own password: a customer's no longer needs changing.
pub async fn set_password_hash(tx: &Db, subject_id: &str, role: Role, password_hash: &str) -> Result<(), DbError> {
    let update = if role == Role::Customer {
        "UPDATE customers SET password_hash = ?, must_change_password = 0 WHERE id = ?"
    } else {
        "UPDATE employees SET password_hash = ? WHERE id = ?"
    };
    tx.exec(update, vec![text(password_hash), text(subject_id)]).await?;
    Ok(())
}

/// (subject id, role, customer id for customers) of the account with this e-mail; staff first.
pub async fn find_by_email(db: &Db, email: &str) -> Result<Option<(String, Role, Option<String>)>, DbError> {
    if let Some(r) = db.query_one("SELECT id, role FROM employees WHERE email = ? AND disabled_at IS NULL", vec![text(email)]).await? {
        return Ok(Some((r.str("id"), Role::parse(&r.str("role")).unwrap_or(Role::Employee), None)));
    }
    if let Some(r) = db.query_one("SELECT id FROM customers WHERE email = ?", vec![text(email)]).await? {
        let id = r.str("id");
        return Ok(Some((id.clone(), Role::Customer, Some(id))));
    }
    Ok(None)
}

/// The throttling logs: attempts per (scope, key) within a sliding window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptLog {
    /// `login_failures` (account and client-network scopes of `caas_domain::account`).
    LoginFailures,
    /// `password_reset_requests` (scopes of `caas_domain::credentials`).
    ResetRequests,
}

impl AttemptLog {
    fn table(self) -> &'static str {
        match self {
            AttemptLog::LoginFailures => "login_failures",
            AttemptLog::ResetRequests => "password_reset_requests",
        }
    }
    /// How many recent attempts the rules need to see at most.
    fn recent_limit(self) -> i64 {
        match self {
            AttemptLog::LoginFailures => 200,
            AttemptLog::ResetRequests => 50,
        }
    }
}

/// Attempts of (scope, key) within the window, newest first (older ones are deleted on the way:
/// bounded work, one key).
pub async fn recent_attempts(tx: &Db, log: AttemptLog, scope: &str, key: &str, now: i64, window_ms: i64) -> Result<Vec<i64>, DbError> {
    let t = log.table();
    let cutoff = now - window_ms;
    tx.exec(&format!("DELETE FROM {t} WHERE scope = ? AND key = ? AND at <= ?"), vec![text(scope), text(key), int(cutoff)]).await?;
    let rows = tx
        .query(
            &format!("SELECT at FROM {t} WHERE scope = ? AND key = ? AND at > ? ORDER BY at DESC LIMIT ?"),
            vec![text(scope), text(key), int(cutoff), int(log.recent_limit())],
        )
        .await?;
    Ok(rows.iter().map(|r| r.i64("at")).collect())
}

/// Count one attempt; returns its row id.
pub async fn record_attempt(tx: &Db, log: AttemptLog, scope: &str, key: &str, now: i64) -> Result<i64, DbError> {
    let sql = format!("INSERT INTO {}(scope, key, at) VALUES (?, ?, ?) RETURNING rowid AS id", log.table());
    Ok(tx.query_one(&sql, vec![text(scope), text(key), int(now)]).await?.map(|r| r.i64("id")).unwrap_or(0))
}

/// Forget every attempt of (scope, key).
pub async fn clear_attempts(tx: &Db, log: AttemptLog, scope: &str, key: &str) -> Result<(), DbError> {
    tx.exec(&format!("DELETE FROM {} WHERE scope = ? AND key = ?", log.table()), vec![text(scope), text(key)]).await?;
    Ok(())
}

/// Forget one attempt (by the id `record_attempt` returned).
pub async fn forget_attempt(tx: &Db, log: AttemptLog, id: i64) -> Result<(), DbError> {
    tx.exec(&format!("DELETE FROM {} WHERE rowid = ?", log.table()), vec![int(id)]).await?;
    Ok(())
}

// ------------------------------------------------------------------------------------ staff

pub async fn employee_exists(db: &Db, email: &str) -> Result<bool, DbError> {
    Ok(db.query_one("SELECT 1 AS x FROM employees WHERE email = ?", vec![text(email)]).await?.is_some())
}

pub async fn any_admin(db: &Db) -> Result<bool, DbError> {
    Ok(db.query_one("SELECT 1 AS x FROM employees WHERE role = ? LIMIT 1", vec![text(Role::Admin.as_str())]).await?.is_some())
}

pub async fn insert_employee(tx: &Db, id: &str, email: &str, password_hash: &str, role: Role, now: i64) -> Result<(), DbError> {
    tx.exec(
        "INSERT INTO employees(id, email, password_hash, role, created_at) VALUES (?, ?, ?, ?, ?)",
        vec![text(id), text(email), text(password_hash), text(role.as_str()), int(now)],
    )
    .await?;
    Ok(())
}

/// An account as login and the account routes see it (customer or staff).
#[derive(Debug, Clone)]
pub struct Account {
    pub id: String,
    pub role: Role,
    pub email: String,
    /// Customers only (None for staff).
    pub full_name: Option<String>,
    pub password_hash: String,
    pub must_change_password: bool,
}

/// The account with this e-mail (staff first, then customers).
pub async fn account_by_email(db: &Db, email: &str) -> Result<Option<Account>, DbError> {
    if let Some(r) = db.query_one("SELECT id, role, email, password_hash, disabled_at FROM employees WHERE email = ?", vec![text(email)]).await? {
        return Ok(Some(staff_account(&r, Role::parse(&r.str("role")).unwrap_or(Role::Employee))));
    }
    let row = db.query_one("SELECT id, email, full_name, password_hash, must_change_password FROM customers WHERE email = ?", vec![text(email)]).await?;
    Ok(row.map(|r| customer_account(&r)))
}

/// A disabled staff account has no usable password (sign-in fails like a wrong password).
fn staff_account(r: &crate::db::Row, role: Role) -> Account {
    let password_hash = if r.opt_i64("disabled_at").is_some() { DISABLED.to_string() } else { r.str("password_hash") };
    Account { id: r.str("id"), role, email: r.str("email"), full_name: None, password_hash, must_change_password: false }
}

/// What a disabled account's password hash reads as (never a valid PHC string).
const DISABLED: &str = "!account-disabled";

fn customer_account(r: &crate::db::Row) -> Account {
    Account {
        id: r.str("id"),
        role: Role::Customer,
        email: r.str("email"),
        full_name: Some(r.str("full_name")),
        password_hash: r.str("password_hash"),
        must_change_password: r.bool("must_change_password"),
    }
}

/// The account a session belongs to.
pub async fn account(db: &Db, subject_id: &str, role: Role) -> Result<Option<Account>, DbError> {
    if role == Role::Customer {
        let row = db.query_one("SELECT id, email, full_name, password_hash, must_change_password FROM customers WHERE id = ?", vec![text(subject_id)]).await?;
        return Ok(row.map(|r| customer_account(&r)));
    }
    let row = db.query_one("SELECT id, email, password_hash, disabled_at FROM employees WHERE id = ?", vec![text(subject_id)]).await?;
    Ok(row.map(|r| staff_account(&r, role)))
}

/// A configured (development) employee, unless the e-mail exists already.
pub async fn seed_employee(db: &Db, id: &str, email: &str, password_hash: &str, role: Role, now: i64) -> Result<(), DbError> {
    match insert_employee(db, id, email, password_hash, role, now).await {
        Err(e) if e.is_unique_violation() => Ok(()),
        other => other,
    }
}

// ------------------------------------------------------------------------------------ account settings (issue 7)

/// The customer's language and notification preferences.
pub async fn settings(db: &Db, customer_id: &str) -> Result<Option<(Lang, Preferences)>, DbError> {
    let row = db.query_one("SELECT language, sms_opt_in, notification_prefs FROM customers WHERE id = ?", vec![text(customer_id)]).await?;
    Ok(row.map(|r| (Lang::from_stored(&r.str("language")), Preferences::from_stored(r.i64("sms_opt_in") != 0, &r.str("notification_prefs")))))
}

/// Apply a validated profile change (only the given fields), in one statement each inside `tx`.
pub async fn update_profile(tx: &Db, customer_id: &str, c: &ProfileChange) -> Result<(), DbError> {
    if let Some(p) = &c.phone {
        tx.exec("UPDATE customers SET phone = ? WHERE id = ?", vec![text(p), text(customer_id)]).await?;
    }
    if let Some(a) = &c.address {
        tx.exec(
            "UPDATE customers SET address_line1 = ?, address_line2 = ?, address_city = ?, address_postal_code = ?, address_country = ? WHERE id = ?",
            vec![text(&a.line1), opt_text(a.line2.clone()), text(&a.city), text(&a.postal_code), text(&a.country), text(customer_id)],
        )
        .await?;
    }
    if let Some(l) = c.language {
        tx.exec("UPDATE customers SET language = ? WHERE id = ?", vec![text(l.as_str()), text(customer_id)]).await?;
    }
    Ok(())
}

pub async fn set_preferences(tx: &Db, customer_id: &str, p: &Preferences) -> Result<(), DbError> {
    tx.exec(
        "UPDATE customers SET sms_opt_in = ?, notification_prefs = ? WHERE id = ?",
        vec![int(p.sms_opt_in as i64), text(p.to_stored()), text(customer_id)],
    )
    .await?;
    Ok(())
}

/// A stored e-mail change confirmation (only the token's SHA-256).
#[derive(Debug, Clone)]
pub struct EmailChange {
    pub customer_id: String,
    pub new_email: String,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

/// Store a confirmation token; older open ones of the customer die (one pending change at a time).
pub async fn insert_email_change(tx: &Db, token_hash: &str, customer_id: &str, new_email: &str, now: i64, expires_at: i64) -> Result<(), DbError> {
    tx.exec("UPDATE email_change_tokens SET used_at = ? WHERE customer_id = ? AND used_at IS NULL", vec![int(now), text(customer_id)]).await?;
    tx.exec(
        "INSERT INTO email_change_tokens(token_hash, customer_id, new_email, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
        vec![text(token_hash), text(customer_id), text(new_email), int(now), int(expires_at)],
    )
    .await?;
    Ok(())
}

pub async fn email_change(db: &Db, token_hash: &str) -> Result<Option<EmailChange>, DbError> {
    let row = db.query_one("SELECT customer_id, new_email, expires_at, used_at FROM email_change_tokens WHERE token_hash = ?", vec![text(token_hash)]).await?;
    Ok(row.map(|r| EmailChange { customer_id: r.str("customer_id"), new_email: r.str("new_email"), expires_at: r.i64("expires_at"), used_at: r.opt_i64("used_at") }))
}

/// Use a confirmation once (compare-and-set): whether this call used it.
pub async fn consume_email_change(tx: &Db, token_hash: &str, now: i64) -> Result<bool, DbError> {
    let n = tx
        .exec("UPDATE email_change_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?", vec![int(now), text(token_hash), int(now)])
        .await?;
    Ok(n == 1)
}

/// The customer's new sign-in address (a taken one is a UNIQUE violation).
pub async fn set_email(tx: &Db, customer_id: &str, email: &str) -> Result<(), DbError> {
    tx.exec("UPDATE customers SET email = ? WHERE id = ?", vec![text(email), text(customer_id)]).await?;
    Ok(())
}

// ------------------------------------------------------------------------------------ staff accounts (issue 8)

/// A staff account as administrators see it (never its password hash).
#[derive(Debug, Clone, serde::Serialize)]
pub struct StaffMember {
    pub id: String,
    pub email: String,
    pub role: String,
    pub created_at: i64,
    pub disabled_at: Option<i64>,
}

fn staff_member(r: &crate::db::Row) -> StaffMember {
    StaffMember { id: r.str("id"), email: r.str("email"), role: r.str("role"), created_at: r.i64("created_at"), disabled_at: r.opt_i64("disabled_at") }
}

/// Every staff account, oldest first (bounded: a dealership network's staff, at most 1,000).
pub async fn staff_members(db: &Db) -> Result<Vec<StaffMember>, DbError> {
    let rows = db.query("SELECT id, email, role, created_at, disabled_at FROM employees ORDER BY created_at, id LIMIT 1000", vec![]).await?;
    Ok(rows.iter().map(staff_member).collect())
}

pub async fn staff_member_by_id(db: &Db, id: &str) -> Result<Option<StaffMember>, DbError> {
    Ok(db.query_one("SELECT id, email, role, created_at, disabled_at FROM employees WHERE id = ?", vec![text(id)]).await?.as_ref().map(staff_member))
}

pub async fn disable_staff(tx: &Db, id: &str, now: i64) -> Result<bool, DbError> {
    Ok(tx.exec("UPDATE employees SET disabled_at = ? WHERE id = ? AND disabled_at IS NULL", vec![int(now), text(id)]).await? > 0)
}

pub async fn set_staff_role(tx: &Db, id: &str, role: Role) -> Result<bool, DbError> {
    Ok(tx.exec("UPDATE employees SET role = ? WHERE id = ?", vec![text(role.as_str()), text(id)]).await? > 0)
}
