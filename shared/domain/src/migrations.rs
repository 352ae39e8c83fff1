//! SQLite schema migrations as data; `caas-platform` applies them in order, in one
//! transaction each, recording them in `schema_migrations(version, name, applied_at)`.
//! Times are unix-ms integers. Append new migrations; never edit an applied one.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

pub const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "initial", sql: V1 },
    Migration { version: 2, name: "purchase-journey-payments-factory", sql: V2 },
    Migration { version: 3, name: "accounts-delivery-app-link", sql: V3 },
    Migration { version: 4, name: "service-catalog-purchase-ota-settlement", sql: V4 },
    Migration { version: 5, name: "subscription-billing-cancellation-theft", sql: V5 },
    Migration { version: 6, name: "repeat-withdrawal-vehicle-list-price", sql: V6 },
    Migration { version: 7, name: "set-password-tokens", sql: V7 },
    Migration { version: 8, name: "payment-statuses-voided-mismatch", sql: V8 },
    Migration { version: 9, name: "hosted-payments-saved-payment-methods", sql: V9 },
    Migration { version: 10, name: "customer-language-preferences-email-change", sql: V10 },
    Migration { version: 11, name: "staff-support-role-tickets-audit", sql: V11 },
    Migration { version: 20, name: "staff-accounts-disable", sql: V20 },
    Migration { version: 21, name: "escalation-resolutions", sql: V21 },
    Migration { version: 22, name: "collections-closed-by-hand", sql: V22 },
    Migration { version: 25, name: "sale-financing-terms", sql: V25 },
    Migration { version: 26, name: "monthly-vat-invoices", sql: V26 },
    Migration { version: 28, name: "maintenance-reminders-warranty", sql: V28 },
    Migration { version: 30, name: "plan-subscriptions-billed-after-included-months", sql: V30 },
    Migration { version: 31, name: "subscriptions-billed-by-days-used", sql: V31 },
    Migration { version: 32, name: "billing-tick-indexes-for-100k-subscriptions", sql: V32 },
];

/// The version a fully migrated database is at.
pub fn latest_version() -> i64 {
    MIGRATIONS.last().map(|m| m.version).unwrap_or(0)
}

/// Migrations to apply to a database at `current` version.
pub fn pending(current: i64) -> impl Iterator<Item = &'static Migration> {
    MIGRATIONS.iter().filter(move |m| m.version > current)
}

/// DDL of the bookkeeping table itself (applied before anything else, idempotent).
pub const SCHEMA_MIGRATIONS_DDL: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at INTEGER NOT NULL
)";

const V1: &str = r#"
CREATE TABLE employees (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('employee','admin')),
    created_at INTEGER NOT NULL
);
CREATE TABLE customers (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    full_name TEXT NOT NULL,
    phone TEXT NOT NULL,
    national_id TEXT NOT NULL,
    address_line1 TEXT NOT NULL,
    address_line2 TEXT,
    address_city TEXT NOT NULL,
    address_postal_code TEXT NOT NULL,
    address_country TEXT NOT NULL,
    country TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    must_change_password INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL
);
CREATE TABLE orders (
    id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers(id),
    employee_id TEXT NOT NULL,
    status TEXT NOT NULL,
    model TEXT NOT NULL,
    country TEXT NOT NULL,
    currency TEXT NOT NULL,
    vehicle_price_minor INTEGER NOT NULL CHECK (vehicle_price_minor > 0),
    deposit_minor INTEGER NOT NULL CHECK (deposit_minor > 0 AND deposit_minor < vehicle_price_minor),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX orders_customer ON orders(customer_id);
CREATE INDEX orders_status ON orders(status);
CREATE TABLE plan_options (
    order_id TEXT NOT NULL REFERENCES orders(id),
    option_code TEXT NOT NULL,
    PRIMARY KEY (order_id, option_code)
);
CREATE TABLE order_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id TEXT NOT NULL REFERENCES orders(id),
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX order_events_order ON order_events(order_id, at);
CREATE TABLE idempotency (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status_code INTEGER NOT NULL,
    response_body TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending','done','escalated')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    dedupe_key TEXT NOT NULL UNIQUE
);
CREATE INDEX jobs_due ON jobs(status, next_attempt_at);
CREATE TABLE escalations (
    id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE ledger (
    id TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('charge','refund','void')),
    amount_minor INTEGER NOT NULL,
    currency TEXT NOT NULL,
    order_id TEXT,
    reference TEXT,
    created_at INTEGER NOT NULL
);
"#;

/// Purchase journey (issue 3): payments, webhook dedupe, vehicles, factory/registration/deadline
/// fields on orders.
const V2: &str = r#"
ALTER TABLE orders ADD COLUMN factory_order_id TEXT;
ALTER TABLE orders ADD COLUMN estimated_date TEXT;
ALTER TABLE orders ADD COLUMN vin TEXT;
ALTER TABLE orders ADD COLUMN from_stock INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN available_at INTEGER;
ALTER TABLE orders ADD COLUMN final_payment_due_at INTEGER;
ALTER TABLE orders ADD COLUMN plate TEXT;
ALTER TABLE orders ADD COLUMN registration_id TEXT;
CREATE INDEX orders_deadline ON orders(status, final_payment_due_at);
CREATE INDEX orders_factory ON orders(factory_order_id);
CREATE TABLE payments (
    id TEXT PRIMARY KEY,
    order_id TEXT,
    customer_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    amount_minor INTEGER NOT NULL CHECK (amount_minor > 0),
    currency TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending','settled','failed','declined')),
    idempotency_key TEXT NOT NULL,
    failure_reason TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX payments_order ON payments(order_id, kind);
CREATE INDEX payments_customer ON payments(customer_id);
CREATE TABLE webhook_events (
    source TEXT NOT NULL,
    event_id TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    subject TEXT,
    outcome TEXT NOT NULL,
    payload TEXT NOT NULL,
    PRIMARY KEY (source, event_id)
);
CREATE TABLE vehicles (
    vin TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    status TEXT NOT NULL,
    order_id TEXT,
    factory_order_id TEXT,
    plate TEXT,
    country TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX vehicles_order ON vehicles(order_id);
CREATE INDEX vehicles_status ON vehicles(status)
"#;

/// Issue 3, accounts/delivery/app link: login throttling, delivery state, vehicle ↔ account
/// links and service instances (plan comercial options queued for OTA activation).
const V3: &str = r#"
CREATE TABLE login_failures (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    scope TEXT NOT NULL CHECK (scope IN ('account','client')),
    key TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX login_failures_key ON login_failures(scope, key, at);
CREATE TABLE deliveries (
    order_id TEXT PRIMARY KEY REFERENCES orders(id),
    state TEXT NOT NULL CHECK (state IN ('scheduled','absent','returned','delivered')),
    planned_at INTEGER,
    address TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 1,
    updated_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX deliveries_state ON deliveries(state);
CREATE TABLE vehicle_links (
    vin TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers(id),
    order_id TEXT NOT NULL UNIQUE REFERENCES orders(id),
    linked_at INTEGER NOT NULL
);
CREATE INDEX vehicle_links_customer ON vehicle_links(customer_id);
CREATE TABLE services (
    id TEXT PRIMARY KEY,
    order_id TEXT REFERENCES orders(id),
    customer_id TEXT NOT NULL,
    vin TEXT NOT NULL,
    option_code TEXT NOT NULL,
    feature TEXT NOT NULL,
    kind TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('plan','purchase')),
    state TEXT NOT NULL,
    command_id TEXT,
    job_id TEXT,
    activated_at INTEGER,
    ends_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX services_customer ON services(customer_id);
CREATE INDEX services_vin ON services(vin, state);
CREATE UNIQUE INDEX services_plan_option ON services(order_id, option_code) WHERE source = 'plan'
"#;

/// Issue 4, service lifecycle: the catalog (seeded from `data/catalog.json` on first use),
/// purchase terms on `services` (price snapshot, maintenance decision, payment, OTA command
/// generation), support tickets of given-up OTA commands, invoices and collections of service
/// payments. At most one open (pending/live/deactivating) instance per vehicle and option.
const V4: &str = r#"
CREATE TABLE catalog_options (
    code TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    feature TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    price_minor INTEGER NOT NULL CHECK (price_minor > 0),
    currency TEXT NOT NULL,
    kind TEXT NOT NULL,
    requires_maintenance INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL CHECK (status IN ('active','retired')),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
ALTER TABLE services ADD COLUMN snapshot TEXT;
ALTER TABLE services ADD COLUMN price_minor INTEGER;
ALTER TABLE services ADD COLUMN currency TEXT;
ALTER TABLE services ADD COLUMN purchased_at INTEGER;
ALTER TABLE services ADD COLUMN billing_ends_at INTEGER;
ALTER TABLE services ADD COLUMN payment_id TEXT;
ALTER TABLE services ADD COLUMN payment_status TEXT;
ALTER TABLE services ADD COLUMN command_generation INTEGER NOT NULL DEFAULT 0;
ALTER TABLE services ADD COLUMN maintenance_decision TEXT;
ALTER TABLE services ADD COLUMN last_error TEXT;
CREATE INDEX services_payment ON services(payment_id);
CREATE INDEX services_expiry ON services(state, ends_at);
CREATE UNIQUE INDEX services_one_open ON services(vin, option_code) WHERE state IN ('pending-payment','pending-activation','active','cancellation-scheduled','deactivating-expired','deactivating-cancelled','deactivating-withdrawn');
CREATE TABLE support_tickets (
    id TEXT PRIMARY KEY,
    service_id TEXT NOT NULL,
    vin TEXT NOT NULL,
    command_id TEXT NOT NULL,
    action TEXT NOT NULL,
    summary TEXT NOT NULL,
    last_error TEXT NOT NULL,
    vehicle_status TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open',
    created_at INTEGER NOT NULL
);
CREATE INDEX support_tickets_service ON support_tickets(service_id);
CREATE TABLE invoices (
    id TEXT PRIMARY KEY,
    payment_id TEXT NOT NULL UNIQUE,
    service_id TEXT,
    customer_id TEXT NOT NULL,
    amount_minor INTEGER NOT NULL,
    currency TEXT NOT NULL,
    issued_at INTEGER NOT NULL
);
CREATE INDEX invoices_customer ON invoices(customer_id);
CREATE TABLE collections (
    id TEXT PRIMARY KEY,
    payment_id TEXT NOT NULL UNIQUE,
    service_id TEXT,
    customer_id TEXT NOT NULL,
    amount_minor INTEGER NOT NULL,
    currency TEXT NOT NULL,
    reason TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open',
    created_at INTEGER NOT NULL
);
CREATE INDEX collections_customer ON collections(customer_id)
"#;

/// Issue 4, subscriptions billed in arrears, cancellation and theft: one row per subscription
/// and period (UNIQUE: billed exactly once, written in the same transaction as its ledger row),
/// with the dunning state of a failed charge; the billing watermark on `services`; theft reports.
const V5: &str = r#"
CREATE TABLE subscription_charges (
    id TEXT PRIMARY KEY,
    subscription_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    period TEXT NOT NULL,
    amount_minor INTEGER NOT NULL,
    currency TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    attempt_key TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending','charged','failed','unpaid','cancelled','zero')),
    payment_id TEXT,
    failures INTEGER NOT NULL DEFAULT 0,
    first_failed_at INTEGER,
    next_attempt_at INTEGER,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (subscription_id, period)
);
CREATE INDEX subscription_charges_status ON subscription_charges(status, next_attempt_at);
ALTER TABLE services ADD COLUMN billed_through TEXT;
ALTER TABLE services ADD COLUMN billing_complete INTEGER NOT NULL DEFAULT 0;
CREATE INDEX services_billing ON services(kind, billing_complete, id);
CREATE TABLE theft_reports (
    id TEXT PRIMARY KEY,
    vin TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    reported_at INTEGER NOT NULL,
    outcome TEXT NOT NULL
);
CREATE INDEX theft_reports_vin ON theft_reports(vin)
"#;

/// Issue 9, money that cannot leak: which cancellation rule ended a service and when (the
/// full-refund withdrawal is granted once per customer, vehicle and feature within a window);
/// the vehicle's list price and an explicit, audited discount on the order.
const V6: &str = r#"
ALTER TABLE services ADD COLUMN cancel_rule TEXT;
ALTER TABLE services ADD COLUMN cancelled_at INTEGER;
CREATE INDEX services_cancel_history ON services(customer_id, vin, cancel_rule, cancelled_at);
ALTER TABLE orders ADD COLUMN list_price_minor INTEGER;
ALTER TABLE orders ADD COLUMN discount_minor INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN discount_reason TEXT;
ALTER TABLE orders ADD COLUMN discount_by TEXT
"#;

/// Issue 9, secrets and accounts: single-use set-password links (only the token's SHA-256 is
/// stored; `purpose` welcome = a new account's credentials e-mail, reset = a password reset) and
/// the password-reset requests counted per e-mail and per client address (throttling).
const V7: &str = r#"
CREATE TABLE password_tokens (
    token_hash TEXT PRIMARY KEY,
    subject_id TEXT NOT NULL,
    role TEXT NOT NULL,
    purpose TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
);
CREATE INDEX password_tokens_subject ON password_tokens(subject_id, used_at);
CREATE TABLE password_reset_requests (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX password_reset_requests_key ON password_reset_requests(scope, key, at)
"#;

/// Split a migration into single statements (the SQLite interface executes one at a time).
/// Statements are separated by `;` at end of line; our DDL has no `;` inside literals.
pub fn statements(sql: &str) -> Vec<String> {
    sql.split(";\n")
        .map(str::trim)
        .map(|s| s.trim_end_matches(';').trim())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Money safety (issue 9): a payment can be `voided` (given back before it settled) or parked as
/// `mismatch` (the gateway reported another amount or currency; never applied). SQLite cannot
/// change a CHECK constraint in place: the table is rebuilt with the same columns and indexes.
const V8: &str = r#"
CREATE TABLE payments_v8 (
    id TEXT PRIMARY KEY,
    order_id TEXT,
    customer_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    amount_minor INTEGER NOT NULL CHECK (amount_minor > 0),
    currency TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending','settled','failed','declined','voided','mismatch')),
    idempotency_key TEXT NOT NULL,
    failure_reason TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
INSERT INTO payments_v8(id, order_id, customer_id, kind, amount_minor, currency, status, idempotency_key, failure_reason, created_at, updated_at)
    SELECT id, order_id, customer_id, kind, amount_minor, currency, status, idempotency_key, failure_reason, created_at, updated_at FROM payments;
DROP TABLE payments;
ALTER TABLE payments_v8 RENAME TO payments;
CREATE INDEX payments_order ON payments(order_id, kind);
CREATE INDEX payments_customer ON payments(customer_id);
"#;

/// Hosted payment page and saved payment methods (issue 7): a payment started on the gateway's
/// hosted page keeps its `checkout_url` (a repeat returns it); a customer's saved cards are the
/// gateway's token + brand + last four digits, one default among the non-removed ones.
const V9: &str = r#"
ALTER TABLE payments ADD COLUMN checkout_url TEXT;
CREATE TABLE payment_methods (
    id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    gateway_token TEXT NOT NULL,
    brand TEXT NOT NULL,
    last4 TEXT NOT NULL CHECK (length(last4) = 4),
    is_default INTEGER NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1)),
    source TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    removed_at INTEGER
);
CREATE UNIQUE INDEX payment_methods_token ON payment_methods(customer_id, gateway_token);
CREATE INDEX payment_methods_customer ON payment_methods(customer_id, removed_at, created_at)
"#;

/// The customer's language (es|fr|de|en; existing customers: en), SMS opt-in and notification
/// preferences (JSON object of the optional routing cells switched off, `{"<kind>.<channel>": false}`),
/// and the single-use e-mail change confirmations (only the token's SHA-256 is stored).
const V10: &str = r#"
ALTER TABLE customers ADD COLUMN language TEXT NOT NULL DEFAULT 'en' CHECK (language IN ('es','fr','de','en'));
ALTER TABLE customers ADD COLUMN sms_opt_in INTEGER NOT NULL DEFAULT 0;
ALTER TABLE customers ADD COLUMN notification_prefs TEXT NOT NULL DEFAULT '{}';
CREATE TABLE email_change_tokens (
    token_hash TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers(id),
    new_email TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
);
CREATE INDEX email_change_tokens_customer ON email_change_tokens(customer_id);
"#;

/// Issue 8, staff back office: the `support` role (the employees table is rebuilt for its CHECK),
/// support ticket work (assignment, notes, resolution) and the audit log of staff actions
/// (who, what, when, before/after JSON), written in the transaction of each action.
const V11: &str = r#"
CREATE TABLE employees_v11 (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('employee','admin','support')),
    created_at INTEGER NOT NULL
);
INSERT INTO employees_v11(id, email, password_hash, role, created_at)
    SELECT id, email, password_hash, role, created_at FROM employees;
DROP TABLE employees;
ALTER TABLE employees_v11 RENAME TO employees;
ALTER TABLE support_tickets ADD COLUMN assigned_to TEXT;
ALTER TABLE support_tickets ADD COLUMN assigned_at INTEGER;
ALTER TABLE support_tickets ADD COLUMN resolution TEXT;
ALTER TABLE support_tickets ADD COLUMN resolution_note TEXT;
ALTER TABLE support_tickets ADD COLUMN retry_command_id TEXT;
ALTER TABLE support_tickets ADD COLUMN closed_by TEXT;
ALTER TABLE support_tickets ADD COLUMN closed_at INTEGER;
CREATE INDEX support_tickets_status ON support_tickets(status);
CREATE TABLE support_ticket_notes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id TEXT NOT NULL,
    author_id TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX support_ticket_notes_ticket ON support_ticket_notes(ticket_id, id);
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    actor_id TEXT NOT NULL,
    actor_role TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    before_json TEXT,
    after_json TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX audit_log_target ON audit_log(target, id);
"#;

/// Issue 8, staff accounts: an administrator disables an account (it signs in no more, its
/// sessions end, no reset link is sent to it). Numbered 20: versions 12–19 are left to the
/// slices of issues 8–11 being built beside it (versions only need to increase).
const V20: &str = r#"
ALTER TABLE employees ADD COLUMN disabled_at INTEGER;
"#;

/// Issue 8, escalations worked by administrators: how each was resolved (`requeued`: its job runs
/// again; `handled`: dealt with outside the system, with a note), by whom and when.
const V21: &str = r#"
ALTER TABLE escalations ADD COLUMN resolution TEXT;
ALTER TABLE escalations ADD COLUMN resolved_by TEXT;
ALTER TABLE escalations ADD COLUMN resolved_at INTEGER;
ALTER TABLE escalations ADD COLUMN note TEXT;
"#;

/// Issue 8, the money back office: an administrator closes a collection case by hand (the
/// customer paid by other means), with who, when and a note.
const V22: &str = r#"
ALTER TABLE collections ADD COLUMN closed_at INTEGER;
ALTER TABLE collections ADD COLUMN closed_by TEXT;
ALTER TABLE collections ADD COLUMN note TEXT;
"#;

/// Issues 8/10, financing terms at the sale: the part of the price a lender finances (the
/// customer's final payment is what is not financed), the term, the monthly amount and the
/// lender's reference. All NULL for a sale without financing.
const V25: &str = r#"
ALTER TABLE orders ADD COLUMN financed_minor INTEGER;
ALTER TABLE orders ADD COLUMN financing_term_months INTEGER;
ALTER TABLE orders ADD COLUMN financing_monthly_minor INTEGER;
ALTER TABLE orders ADD COLUMN financing_lender_reference TEXT;
"#;

/// Issue 10, maintenance: one notice per vehicle, due date and kind (`reminder` before the due
/// date, `missed` after it; the unique key makes the tick's notices idempotent), the warranty
/// voided by a missed maintenance (one row per vehicle, first void wins, kept for good) and the
/// tick's last VSS check per vehicle (oldest checked first; a VSS failure is retried next time).
const V28: &str = r#"
CREATE TABLE maintenance_notices (
    vin TEXT NOT NULL,
    due_date TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('reminder','missed')),
    customer_id TEXT NOT NULL,
    channels TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (vin, due_date, kind)
);
CREATE TABLE vehicle_warranty (
    vin TEXT PRIMARY KEY,
    void_since TEXT NOT NULL,
    reason TEXT NOT NULL,
    missed_due_date TEXT NOT NULL,
    recorded_at INTEGER NOT NULL
);
CREATE TABLE maintenance_checks (
    vin TEXT PRIMARY KEY,
    checked_at INTEGER NOT NULL,
    outcome TEXT NOT NULL
);
"#;

/// Issue 10, monthly VAT invoices (`caas_domain::invoicing`): one invoice per customer and month
/// (UNIQUE), credit notes referencing the invoice they correct, gapless numbers per series
/// (`vat_invoice_series.last_seq` advanced in the issuing transaction), the lines with their
/// rate and net/VAT/gross split, and every item consumed by a document (`item_key` PRIMARY KEY:
/// a charged period, a delivered service or a refund is invoiced at most once). Issued documents
/// are immutable: triggers refuse UPDATE and DELETE.
const V26: &str = r#"
CREATE TABLE vat_invoice_series (
    series TEXT PRIMARY KEY,
    last_seq INTEGER NOT NULL CHECK (last_seq >= 1)
);
CREATE TABLE vat_invoices (
    number TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('invoice','credit-note')),
    series TEXT NOT NULL,
    seq INTEGER NOT NULL CHECK (seq >= 1),
    customer_id TEXT NOT NULL,
    period TEXT NOT NULL,
    corrects TEXT REFERENCES vat_invoices(number),
    language TEXT NOT NULL,
    customer_json TEXT NOT NULL,
    issuer TEXT NOT NULL,
    currency TEXT NOT NULL,
    net_minor INTEGER NOT NULL,
    vat_minor INTEGER NOT NULL,
    gross_minor INTEGER NOT NULL,
    issued_at INTEGER NOT NULL,
    UNIQUE (series, seq),
    CHECK (net_minor + vat_minor = gross_minor),
    CHECK ((kind = 'credit-note') = (corrects IS NOT NULL))
);
CREATE UNIQUE INDEX vat_invoices_month ON vat_invoices(customer_id, period) WHERE kind = 'invoice';
CREATE INDEX vat_invoices_customer ON vat_invoices(customer_id, issued_at);
CREATE TABLE vat_invoice_lines (
    number TEXT NOT NULL REFERENCES vat_invoices(number),
    position INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('subscription','service','refund')),
    service_id TEXT,
    name TEXT NOT NULL,
    period TEXT,
    ledger_reference TEXT NOT NULL,
    vat_rate_bp INTEGER NOT NULL CHECK (vat_rate_bp BETWEEN 0 AND 10000),
    net_minor INTEGER NOT NULL,
    vat_minor INTEGER NOT NULL,
    gross_minor INTEGER NOT NULL,
    PRIMARY KEY (number, position),
    CHECK (net_minor + vat_minor = gross_minor)
);
CREATE INDEX vat_invoice_lines_reference ON vat_invoice_lines(ledger_reference);
CREATE TABLE vat_invoice_items (
    item_key TEXT PRIMARY KEY,
    number TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ledger_by_reference ON ledger(reference, kind);
CREATE TRIGGER vat_invoices_immutable BEFORE UPDATE ON vat_invoices BEGIN SELECT RAISE(ABORT, 'issued invoices are immutable: correct them with a credit note'); END;
CREATE TRIGGER vat_invoices_kept BEFORE DELETE ON vat_invoices BEGIN SELECT RAISE(ABORT, 'issued invoices are never deleted'); END;
CREATE TRIGGER vat_invoice_lines_immutable BEFORE UPDATE ON vat_invoice_lines BEGIN SELECT RAISE(ABORT, 'issued invoices are immutable: correct them with a credit note'); END;
CREATE TRIGGER vat_invoice_lines_kept BEFORE DELETE ON vat_invoice_lines BEGIN SELECT RAISE(ABORT, 'issued invoices are never deleted'); END
"#;

/// Issue 10: a plan comercial subscription is included with the car for `included_months` from
/// its activation and billed monthly in arrears after that, at the catalog price recorded at link
/// time (`price_minor`/`currency`); NULL for every other service (included for good, or bought).
/// Numbered 30: 26–29 are left to the slices of issue 10 built beside it.
const V30: &str = r#"
ALTER TABLE services ADD COLUMN included_months INTEGER;
"#;

/// Issue 10: subscriptions billed by use. `catalog_options.billed_by` (`day-used`: `price` per day
/// used); the days on which the car reported the feature used (`service_usage_days`, one row per
/// service and day, from the IoT platform's daily usage telemetry), and how far that telemetry has
/// been collected (`services.usage_through`, a `YYYY-MM-DD` day: a month is billed only once every
/// one of its days is known).
const V31: &str = r#"
ALTER TABLE catalog_options ADD COLUMN billed_by TEXT;
ALTER TABLE services ADD COLUMN usage_through TEXT;
CREATE TABLE service_usage_days (
    service_id TEXT NOT NULL,
    day TEXT NOT NULL,
    recorded_at INTEGER NOT NULL,
    PRIMARY KEY (service_id, day)
);
"#;

/// Indexes for the billing tick at scale (measured with 100,000 subscriptions in `make bench`):
/// - the tick pages through due subscriptions by id, and each run starts again from the first:
///   with the old index every subscription already billed this month was read from the table to
///   check `billed_through`. The covering index answers that from the index alone.
/// - the usage collection looked for metered subscriptions with a `LIKE` on the purchase
///   snapshot, reading every subscription on every tick: a partial index holds just those rows
///   (the query repeats the index's condition word for word, which is what lets SQLite use it,
///   and names it: `queries::METERED_BEHIND`).
const V32: &str = r#"
DROP INDEX IF EXISTS services_billing;
CREATE INDEX services_billing ON services(kind, billing_complete, id, billed_through, activated_at);
CREATE INDEX services_metered ON services(id) WHERE billing_complete = 0 AND snapshot LIKE '%"billed-by":"day-used"%';
"#;

/// Queries whose speed depends on the indexes above, kept beside them (a host test checks
/// their plans against the migrated schema).
pub mod queries {
    /// Due subscriptions, one page by id (`kind`, start of the current period, previous period
    /// key, cursor id, limit).
    pub const SUBSCRIPTIONS_TO_BILL: &str = "SELECT * FROM services WHERE kind = ? AND billing_complete = 0 AND activated_at IS NOT NULL
               AND activated_at < ? AND (billed_through IS NULL OR billed_through < ?) AND id > ?
             ORDER BY id LIMIT ?";
    /// Metered subscriptions whose telemetry is behind (yesterday's date, limit). The snapshot
    /// condition is the partial index's, word for word; `INDEXED BY` because without statistics
    /// SQLite prefers the two-column equality of `services_billing`, which reads every
    /// subscription.
    pub const METERED_BEHIND: &str = "SELECT * FROM services INDEXED BY services_metered WHERE kind = 'subscription' AND billing_complete = 0 AND activated_at IS NOT NULL
               AND snapshot LIKE '%\"billed-by\":\"day-used\"%' AND (usage_through IS NULL OR usage_through < ?)
             ORDER BY id LIMIT ?";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_strictly_increasing() {
        for w in MIGRATIONS.windows(2) {
            assert!(w[1].version > w[0].version);
        }
        assert!(latest_version() >= 2);
        assert_eq!(pending(0).count(), MIGRATIONS.len());
        assert_eq!(pending(latest_version()).count(), 0);
    }

    #[test]
    fn v1_has_all_tables() {
        let stmts = statements(V1);
        for t in ["employees", "customers", "orders", "plan_options", "order_events", "idempotency", "jobs", "escalations", "ledger"] {
            assert!(stmts.iter().any(|s| s.starts_with(&format!("CREATE TABLE {t} ("))), "{t}");
        }
        assert!(stmts.iter().all(|s| !s.contains(";")));
        assert_eq!(stmts.iter().filter(|s| s.starts_with("CREATE")).count(), stmts.len());
    }

    #[test]
    fn v2_journey_tables() {
        let stmts = statements(V2);
        for t in ["payments", "webhook_events", "vehicles"] {
            assert!(stmts.iter().any(|s| s.starts_with(&format!("CREATE TABLE {t} ("))), "{t}");
        }
        assert!(stmts.iter().all(|s| !s.contains(';')));
        assert_eq!(stmts.iter().filter(|s| s.starts_with("ALTER TABLE orders ADD COLUMN")).count(), 8);
    }

    #[test]
    fn v3_accounts_delivery_link_tables() {
        let stmts = statements(V3);
        for t in ["login_failures", "deliveries", "vehicle_links", "services"] {
            assert!(stmts.iter().any(|s| s.starts_with(&format!("CREATE TABLE {t} ("))), "{t}");
        }
        assert!(stmts.iter().all(|s| !s.contains(';')));
        assert_eq!(stmts.len(), 10);
    }

    #[test]
    fn v4_service_lifecycle_tables() {
        let stmts = statements(V4);
        for t in ["catalog_options", "support_tickets", "invoices", "collections"] {
            assert!(stmts.iter().any(|s| s.starts_with(&format!("CREATE TABLE {t} ("))), "{t}");
        }
        assert!(stmts.iter().all(|s| !s.contains(';')));
        assert_eq!(stmts.iter().filter(|s| s.starts_with("ALTER TABLE services ADD COLUMN")).count(), 10);
    }

    #[test]
    fn v5_billing_theft_tables() {
        let stmts = statements(V5);
        for t in ["subscription_charges", "theft_reports"] {
            assert!(stmts.iter().any(|s| s.starts_with(&format!("CREATE TABLE {t} ("))), "{t}");
        }
        assert!(stmts.iter().all(|s| !s.contains(';')));
    }

    #[test]
    fn v9_payment_methods() {
        let stmts = statements(V9);
        assert!(stmts.iter().all(|s| !s.contains(';')));
        assert!(stmts.iter().any(|s| s.starts_with("CREATE TABLE payment_methods (")));
        assert!(stmts.iter().any(|s| s == "ALTER TABLE payments ADD COLUMN checkout_url TEXT"));
        assert_eq!(stmts.len(), 4);
    }

    #[test]
    fn v26_monthly_invoices_one_statement_per_trigger() {
        let stmts = statements(V26);
        for t in ["vat_invoice_series", "vat_invoices", "vat_invoice_lines", "vat_invoice_items"] {
            assert!(stmts.iter().any(|s| s.starts_with(&format!("CREATE TABLE {t} ("))), "{t}");
        }
        let triggers: Vec<&String> = stmts.iter().filter(|s| s.starts_with("CREATE TRIGGER")).collect();
        assert_eq!(triggers.len(), 4);
        assert!(triggers.iter().all(|t| t.ends_with("END")), "{triggers:?}");
    }

    #[test]
    fn v6_cancel_history_and_list_price() {
        let stmts = statements(V6);
        assert!(stmts.iter().all(|s| !s.contains(';')));
        assert_eq!(stmts.iter().filter(|s| s.starts_with("ALTER TABLE services ADD COLUMN")).count(), 2);
        assert_eq!(stmts.iter().filter(|s| s.starts_with("ALTER TABLE orders ADD COLUMN")).count(), 4);
    }
}
