//! Monthly VAT invoices and credit notes (issue 10; rules in `caas_domain::invoicing`).
//!
//! Items a customer is invoiced for (each consumed at most once: `vat_invoice_items.item_key`):
//! * `sub:<charge key>` — a subscription period charged (`subscription_charges.status =
//!   'charged'`: the gateway took it; a settlement failure later voids it → credit note);
//!   month = the period;
//! * `svc:<service id>` — a one-time (temporary/permanent) service that was delivered
//!   (`activated_at` set) and whose payment settled; month = the later of the two. A service
//!   whose activation failed was never delivered: never a line;
//! * `ret:<ledger key>` — money given back (ledger refund/void) for an item: netted into the
//!   line when the invoice is issued after it, else a credit note line.
//!
//! Each line's gross is what the ledger keeps for its reference (charges − refunds − voids):
//! the invoice total is exactly what the customer was charged.
use crate::db::{Db, DbError, Row, int, opt_text, text};
use crate::store::services::{CATALOG_JOIN_SQL, KNOWN_NAME_SQL, option_name};
use caas_domain::invoicing::{self, Amounts, DocKind, DocLine, Document, LineAmounts, LineKind, Party, VatRates};
use caas_domain::lang::Lang;
use caas_domain::services::billing::Period;
use std::collections::BTreeSet;

/// Issuing configuration (Spin variables `vat_rates`, `invoice_issuer`).
pub struct Config {
    pub rates: VatRates,
    pub issuer: String,
}

/// What issuing did for one customer.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Issued {
    pub invoices: u64,
    /// Billing of the month is still in flight (a charge being made, a period not yet billed).
    pub waiting: bool,
    /// The customer's country has no configured VAT rate.
    pub unconfigured: bool,
}

/// Customers (ids after `after`, ascending) with items not yet invoiced dated up to `last`.
pub async fn customers_with_items(db: &Db, last: Period, after: &str, limit: i64) -> Result<Vec<String>, DbError> {
    Ok(db
        .query(
            "SELECT customer_id FROM (
               SELECT sc.customer_id FROM subscription_charges sc
                WHERE sc.status = 'charged' AND sc.period <= ?
                  AND NOT EXISTS (SELECT 1 FROM vat_invoice_items i WHERE i.item_key = 'sub:' || sc.idempotency_key)
               UNION
               SELECT s.customer_id FROM services s JOIN payments p ON p.id = s.payment_id
                WHERE s.source = 'purchase' AND s.kind <> 'subscription' AND s.activated_at IS NOT NULL AND s.activated_at < ?
                  AND p.status = 'settled' AND p.updated_at < ?
                  AND NOT EXISTS (SELECT 1 FROM vat_invoice_items i WHERE i.item_key = 'svc:' || s.id))
             WHERE customer_id > ? ORDER BY customer_id LIMIT ?",
            vec![text(last.key()), int(last.end_ms()), int(last.end_ms()), text(after), int(limit)],
        )
        .await?
        .iter()
        .map(|r| r.str("customer_id"))
        .collect())
}

/// Billing of `last` (or earlier) is not finished for the customer: a period charge is being
/// made, or a subscription owing `last` has not been billed yet.
async fn billing_in_flight(tx: &Db, customer_id: &str, last: Period) -> Result<bool, DbError> {
    let r = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM subscription_charges WHERE customer_id = ? AND status = 'pending' AND period <= ?)
                 OR EXISTS (SELECT 1 FROM services WHERE customer_id = ? AND kind = 'subscription' AND source = 'purchase'
                              AND billing_complete = 0 AND activated_at IS NOT NULL AND activated_at < ?
                              AND (billed_through IS NULL OR billed_through < ?)
                              AND (billing_ends_at IS NULL OR (billing_ends_at > activated_at AND (billed_through IS NULL
                                   OR billed_through < strftime('%Y-%m', (billing_ends_at - 1) / 1000, 'unixepoch'))))) AS busy",
            vec![text(customer_id), text(last.key()), text(customer_id), int(last.end_ms()), text(last.key())],
        )
        .await?;
    Ok(r.is_some_and(|r| r.i64("busy") != 0))
}

/// One item not yet invoiced.
#[derive(Debug, Clone)]
struct Item {
    key: String,
    kind: LineKind,
    service_id: String,
    name: String,
    period: Option<String>,
    reference: String,
    month: Period,
}

async fn open_items(tx: &Db, customer_id: &str, last: Period) -> Result<Vec<Item>, DbError> {
    let mut out = Vec::new();
    for r in tx
        .query(
            &format!(
                "SELECT sc.idempotency_key, sc.subscription_id, sc.period, {KNOWN_NAME_SQL} AS known_name, s.option_code,
                        json_extract(s.snapshot, '$.\"billed-by\"') AS billed_by, s.price_minor, s.currency,
                        (SELECT COUNT(*) FROM service_usage_days u WHERE u.service_id = sc.subscription_id AND substr(u.day, 1, 7) = sc.period) AS days_used
                 FROM subscription_charges sc LEFT JOIN services s ON s.id = sc.subscription_id {CATALOG_JOIN_SQL}
                 WHERE sc.customer_id = ? AND sc.status = 'charged' AND sc.period <= ?
                   AND NOT EXISTS (SELECT 1 FROM vat_invoice_items i WHERE i.item_key = 'sub:' || sc.idempotency_key)
                 ORDER BY sc.period, sc.subscription_id"
            ),
            vec![text(customer_id), text(last.key())],
        )
        .await?
    {
        let Some(month) = Period::parse(&r.str("period")) else { continue };
        let sub = r.str("subscription_id");
        let option_name = match (r.opt_str("known_name"), r.opt_str("option_code")) {
            (Some(n), _) => n,
            (None, Some(code)) => option_name(None, &code),
            (None, None) => sub.clone(),
        };
        // Billed by use: the line says how many days at what unit price (language-neutral).
        let name = match (r.opt_str("billed_by"), r.opt_i64("price_minor")) {
            (Some(_), Some(unit)) => {
                format!("{option_name} ({} × {})", r.i64("days_used"), caas_domain::money::format_minor(unit, &r.str("currency")))
            }
            _ => option_name,
        };
        out.push(Item {
            key: format!("sub:{}", r.str("idempotency_key")),
            kind: LineKind::Subscription,
            reference: format!("{sub}/{month}"),
            service_id: sub,
            name,
            period: Some(month.key()),
            month,
        });
    }
    for r in tx
        .query(
            "SELECT s.id, COALESCE(json_extract(s.snapshot, '$.name'), s.option_code) AS name, MAX(s.activated_at, p.updated_at) AS at
             FROM services s JOIN payments p ON p.id = s.payment_id
             WHERE s.customer_id = ? AND s.source = 'purchase' AND s.kind <> 'subscription' AND s.activated_at IS NOT NULL
               AND s.activated_at < ? AND p.status = 'settled' AND p.updated_at < ?
               AND NOT EXISTS (SELECT 1 FROM vat_invoice_items i WHERE i.item_key = 'svc:' || s.id)
             ORDER BY at, s.id",
            vec![text(customer_id), int(last.end_ms()), int(last.end_ms())],
        )
        .await?
    {
        let id = r.str("id");
        out.push(Item {
            key: format!("svc:{id}"),
            kind: LineKind::Service,
            reference: id.clone(),
            service_id: id,
            name: r.str("name"),
            period: None,
            month: Period::containing(r.i64("at")),
        });
    }
    Ok(out)
}

/// What the ledger keeps for `reference`: (gross kept, currency, keys of the returns netted).
async fn kept(tx: &Db, reference: &str) -> Result<(i64, String, Vec<String>), DbError> {
    let (mut gross, mut currency, mut returns) = (0i64, String::new(), Vec::new());
    for r in tx.query("SELECT idempotency_key, kind, amount_minor, currency FROM ledger WHERE reference = ? ORDER BY created_at, id", vec![text(reference)]).await? {
        if currency.is_empty() {
            currency = r.str("currency");
        }
        match r.str("kind").as_str() {
            "charge" => gross += r.i64("amount_minor"),
            _ => {
                gross -= r.i64("amount_minor");
                returns.push(r.str("idempotency_key"));
            }
        }
    }
    Ok((gross, currency, returns))
}

async fn consume(tx: &Db, key: &str, number: Option<&str>, now: i64) -> Result<(), DbError> {
    tx.exec("INSERT INTO vat_invoice_items(item_key, number, created_at) VALUES (?, ?, ?)", vec![text(key), opt_text(number), int(now)]).await?;
    Ok(())
}

/// The next number of `series`, allocated in the caller's transaction (rolled back with it:
/// no gaps).
async fn allocate(tx: &Db, series: &str) -> Result<(i64, String), DbError> {
    tx.exec(
        "INSERT INTO vat_invoice_series(series, last_seq) VALUES (?, 1) ON CONFLICT(series) DO UPDATE SET last_seq = last_seq + 1",
        vec![text(series)],
    )
    .await?;
    let seq = tx.query_one("SELECT last_seq FROM vat_invoice_series WHERE series = ?", vec![text(series)]).await?.map(|r| r.i64("last_seq")).unwrap_or(1);
    Ok((seq, invoicing::number(series, seq)))
}

/// A line to write.
struct NewLine {
    line: DocLine,
    service_id: String,
    reference: String,
}

/// The header of a new document.
struct NewDoc<'a> {
    kind: DocKind,
    series: String,
    customer_id: &'a str,
    period: String,
    corrects: Option<String>,
    language: String,
    customer_json: String,
    issuer: String,
    currency: String,
}

/// Writes the header and lines with a freshly allocated number; returns (number, totals).
async fn write_doc(tx: &Db, d: &NewDoc<'_>, lines: &[NewLine], now: i64) -> Result<(String, Amounts), DbError> {
    let (seq, number) = allocate(tx, &d.series).await?;
    let la: Vec<LineAmounts> = lines.iter().map(|l| LineAmounts { rate_bp: l.line.vat_rate_bp, amounts: l.line.amounts }).collect();
    let (_, all) = invoicing::totals(&la);
    tx.exec(
        "INSERT INTO vat_invoices(number, kind, series, seq, customer_id, period, corrects, language, customer_json, issuer, currency,
                                  net_minor, vat_minor, gross_minor, issued_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        vec![
            text(&number),
            text(d.kind.as_str()),
            text(&d.series),
            int(seq),
            text(d.customer_id),
            text(&d.period),
            opt_text(d.corrects.as_deref()),
            text(&d.language),
            text(&d.customer_json),
            text(&d.issuer),
            text(&d.currency),
            int(all.net_minor),
            int(all.vat_minor),
            int(all.gross_minor),
            int(now),
        ],
    )
    .await?;
    for (i, l) in lines.iter().enumerate() {
        let a = l.line.amounts;
        tx.exec(
            "INSERT INTO vat_invoice_lines(number, position, kind, service_id, name, period, ledger_reference, vat_rate_bp, net_minor, vat_minor, gross_minor)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            vec![
                text(&number),
                int(i as i64 + 1),
                text(l.line.kind.as_str()),
                text(&l.service_id),
                text(&l.line.name),
                opt_text(l.line.period.as_deref()),
                text(&l.reference),
                int(l.line.vat_rate_bp as i64),
                int(a.net_minor),
                int(a.vat_minor),
                int(a.gross_minor),
            ],
        )
        .await?;
    }
    Ok((number, all))
}

/// Issues every monthly invoice due for `customer_id` up to month `last`, in ONE transaction
/// (re-read under the write lock: a concurrent run finds the items consumed and issues nothing).
pub async fn issue_for_customer(db: &Db, cfg: &Config, customer_id: &str, last: Period, now: i64) -> Result<Issued, DbError> {
    db.transaction(async |tx: &Db| -> Result<Issued, DbError> {
        let mut out = Issued::default();
        if billing_in_flight(tx, customer_id, last).await? {
            out.waiting = true;
            return Ok(out);
        }
        let Some(c) = tx
            .query_one(
                "SELECT full_name, national_id, address_line1, address_line2, address_postal_code, address_city, country, language FROM customers WHERE id = ?",
                vec![text(customer_id)],
            )
            .await?
        else {
            return Ok(out);
        };
        let country = c.str("country").trim().to_ascii_uppercase();
        let Some(rate) = cfg.rates.rate_for(&country) else {
            out.unconfigured = true;
            return Ok(out);
        };
        let party = Party {
            name: c.str("full_name"),
            tax_id: c.str("national_id"),
            address: [Some(c.str("address_line1")), c.opt_str("address_line2"), Some(format!("{} {}", c.str("address_postal_code"), c.str("address_city")))]
                .into_iter()
                .flatten()
                .filter(|s| !s.trim().is_empty())
                .collect(),
            country: country.clone(),
        };
        let customer_json = serde_json::to_string(&party).unwrap_or_default();
        let language = Lang::from_stored(&c.str("language"));
        let invoiced: BTreeSet<Period> = tx
            .query("SELECT period FROM vat_invoices WHERE customer_id = ? AND kind = 'invoice'", vec![text(customer_id)])
            .await?
            .iter()
            .filter_map(|r| Period::parse(&r.str("period")))
            .collect();
        let items = open_items(tx, customer_id, last).await?;
        let by_month: Vec<(Item, Period)> = items.into_iter().map(|i| (i.clone(), i.month)).collect();
        for (month, items) in invoicing::plan_invoices(&by_month, &invoiced, last) {
            let (mut lines, mut keys, mut currency) = (Vec::new(), Vec::new(), String::new());
            for it in items {
                let (gross, cur, returns) = kept(tx, &it.reference).await?;
                if gross > 0 && !currency.is_empty() && cur != currency {
                    continue; // another currency: left open (one currency per invoice)
                }
                keys.push(it.key.clone());
                keys.extend(returns.iter().map(|k| format!("ret:{k}")));
                if gross <= 0 {
                    continue; // nothing kept (all given back before the invoice): no line
                }
                currency = cur;
                lines.push(NewLine {
                    line: DocLine { kind: it.kind, name: it.name, period: it.period, vat_rate_bp: rate, amounts: invoicing::split_gross(gross, rate) },
                    service_id: it.service_id,
                    reference: it.reference,
                });
            }
            let number = if lines.is_empty() {
                None
            } else {
                let d = NewDoc {
                    kind: DocKind::Invoice,
                    series: invoicing::series(DocKind::Invoice, &country, now),
                    customer_id,
                    period: month.key(),
                    corrects: None,
                    language: language.as_str().to_string(),
                    customer_json: customer_json.clone(),
                    issuer: cfg.issuer.clone(),
                    currency: currency.clone(),
                };
                let (number, all) = write_doc(tx, &d, &lines, now).await?;
                let m = caas_domain::messages::monthly_invoice(&number, &month.key(), all.gross_minor, &currency);
                crate::notify::send_to_customer(tx, customer_id, None, &format!("vat-invoice:{number}"), &m, now).await?;
                out.invoices += 1;
                Some(number)
            };
            for k in keys {
                consume(tx, &k, number.as_deref(), now).await?;
            }
        }
        Ok(out)
    })
    .await
}

/// Invoices with money given back for one of their lines that no document accounts for yet.
pub async fn invoices_to_correct(db: &Db, limit: i64) -> Result<Vec<String>, DbError> {
    Ok(db
        .query(
            "SELECT DISTINCT ln.number FROM vat_invoice_lines ln
               JOIN vat_invoices d ON d.number = ln.number AND d.kind = 'invoice'
               JOIN ledger l ON l.reference = ln.ledger_reference AND l.kind IN ('refund', 'void')
              WHERE NOT EXISTS (SELECT 1 FROM vat_invoice_items i WHERE i.item_key = 'ret:' || l.idempotency_key)
              ORDER BY ln.number LIMIT ?",
            vec![int(limit)],
        )
        .await?
        .iter()
        .map(|r| r.str("number"))
        .collect())
}

/// Issues the credit note correcting invoice `number` for every return not yet accounted for,
/// in ONE transaction. Returns its number (None: nothing left to correct).
pub async fn issue_credit_note(db: &Db, number: &str, now: i64) -> Result<Option<String>, DbError> {
    db.transaction(async |tx: &Db| -> Result<Option<String>, DbError> {
        let Some(inv) = tx.query_one("SELECT * FROM vat_invoices WHERE number = ? AND kind = 'invoice'", vec![text(number)]).await? else {
            return Ok(None);
        };
        let returns = tx
            .query(
                "SELECT l.idempotency_key, l.amount_minor, ln.kind, ln.service_id, ln.name, ln.period, ln.ledger_reference, ln.vat_rate_bp
                 FROM vat_invoice_lines ln
                 JOIN ledger l ON l.reference = ln.ledger_reference AND l.kind IN ('refund', 'void')
                 WHERE ln.number = ? AND NOT EXISTS (SELECT 1 FROM vat_invoice_items i WHERE i.item_key = 'ret:' || l.idempotency_key)
                 ORDER BY ln.position, l.created_at, l.id",
                vec![text(number)],
            )
            .await?;
        if returns.is_empty() {
            return Ok(None);
        }
        let lines: Vec<NewLine> = returns
            .iter()
            .map(|r| {
                let rate = r.i64("vat_rate_bp") as u32;
                NewLine {
                    line: DocLine {
                        kind: LineKind::Refund,
                        name: r.str("name"),
                        period: r.opt_str("period"),
                        vat_rate_bp: rate,
                        amounts: invoicing::split_gross(-r.i64("amount_minor"), rate),
                    },
                    service_id: r.str("service_id"),
                    reference: r.str("ledger_reference"),
                }
            })
            .collect();
        let country = inv.str("series").split('-').next().unwrap_or("XX").to_string();
        let customer_id = inv.str("customer_id");
        let d = NewDoc {
            kind: DocKind::CreditNote,
            series: invoicing::series(DocKind::CreditNote, &country, now),
            customer_id: &customer_id,
            period: inv.str("period"),
            corrects: Some(number.to_string()),
            language: inv.str("language"),
            customer_json: inv.str("customer_json"),
            issuer: inv.str("issuer"),
            currency: inv.str("currency"),
        };
        let (cn, all) = write_doc(tx, &d, &lines, now).await?;
        for r in &returns {
            consume(tx, &format!("ret:{}", r.str("idempotency_key")), Some(&cn), now).await?;
        }
        let m = caas_domain::messages::credit_note(&cn, number, all.gross_minor, &d.currency);
        crate::notify::send_to_customer(tx, &customer_id, None, &format!("vat-credit-note:{cn}"), &m, now).await?;
        Ok(Some(cn))
    })
    .await
}

// ------------------------------------------------------------------------------------ reading

/// The customer's documents, oldest first (headers).
pub async fn of_customer(db: &Db, customer_id: &str) -> Result<Vec<Row>, DbError> {
    db.query("SELECT * FROM vat_invoices WHERE customer_id = ? ORDER BY issued_at, number", vec![text(customer_id)]).await
}

/// One document of the customer (anyone else's: None) with its lines and the credit notes
/// correcting it.
pub async fn load(db: &Db, customer_id: &str, number: &str) -> Result<Option<(Document, Row, Vec<Row>, Vec<String>)>, DbError> {
    let Some(h) = db.query_one("SELECT * FROM vat_invoices WHERE number = ? AND customer_id = ?", vec![text(number), text(customer_id)]).await? else {
        return Ok(None);
    };
    let lines = db.query("SELECT * FROM vat_invoice_lines WHERE number = ? ORDER BY position", vec![text(number)]).await?;
    let credited = db
        .query("SELECT number FROM vat_invoices WHERE corrects = ? ORDER BY issued_at, number", vec![text(number)])
        .await?
        .iter()
        .map(|r| r.str("number"))
        .collect();
    let doc = Document {
        kind: DocKind::parse(&h.str("kind")).unwrap_or(DocKind::Invoice),
        number: h.str("number"),
        issued_at: h.i64("issued_at"),
        period: h.str("period"),
        corrects: h.opt_str("corrects"),
        issuer: h.str("issuer"),
        customer: serde_json::from_str(&h.str("customer_json")).unwrap_or_default(),
        currency: h.str("currency"),
        lines: lines
            .iter()
            .map(|l| DocLine {
                kind: LineKind::parse(&l.str("kind")).unwrap_or(LineKind::Service),
                name: l.str("name"),
                period: l.opt_str("period"),
                vat_rate_bp: l.i64("vat_rate_bp") as u32,
                amounts: Amounts { net_minor: l.i64("net_minor"), vat_minor: l.i64("vat_minor"), gross_minor: l.i64("gross_minor") },
            })
            .collect(),
    };
    Ok(Some((doc, h, lines, credited)))
}
