//! `POST /internal/ticks/invoicing`: the monthly VAT invoices (issue 10, rules in
//! `caas_domain::invoicing`, storage in `caas_platform::store::vat_invoices`).
//!
//! 1. **Invoices.** Once a month is over (platform clock), every customer with items of that
//!    month (or earlier, not yet invoiced) gets one invoice per month, issued in ONE transaction
//!    per customer that re-reads everything under the write lock, allocates the gapless number
//!    and consumes the items (unique keys): fired twice, late, or on two replicas at once → one
//!    invoice. A customer whose month is still being billed (a charge in flight, a subscription
//!    not yet billed for the month) waits for the next run.
//! 2. **Credit notes.** Money given back (refund, void) for a line of an issued invoice → one
//!    credit note referencing it (own series); the invoice itself never changes.
//!
//! Bounded work: at most [`MAX_CUSTOMERS`] customers and [`MAX_CREDIT_NOTES`] credit notes per
//! run (`more: true` beyond; the next run continues).
//! Configuration: `vat_rates` (e.g. `ES=21,FR=20,DE=19`; unparsable → 503 naming the fault),
//! `invoice_issuer` (the seller's name and tax id as printed).
//! Report: `{invoices, credit_notes, waiting, unconfigured, more}`.
use caas_domain::Problem;
use caas_domain::invoicing::VatRates;
use caas_domain::services::billing::Period;
use caas_platform::db::Db;
use caas_platform::store::vat_invoices::{self as inv, Config};
use caas_platform::{Resp, clock, resp, vars};
use serde_json::json;

const BATCH: i64 = 100;
pub const MAX_CUSTOMERS: usize = 2000;
pub const MAX_CREDIT_NOTES: usize = 500;

async fn config() -> Result<Config, Problem> {
    let raw = vars::required("vat_rates").await?;
    let rates = VatRates::parse(&raw).map_err(|e| Problem::unavailable(format!("configuration variable {e}")))?;
    let issuer = vars::get("invoice_issuer").await.filter(|s| !s.trim().is_empty()).unwrap_or_else(|| "CaaS".into());
    Ok(Config { rates, issuer: issuer.trim().to_string() })
}

pub async fn tick() -> Result<Resp, Problem> {
    let cfg = config().await?;
    let db = Db::open_for_request().await?;
    let now = clock::now_ms();
    let last = Period::containing(now).prev();
    let (mut invoices, mut credit_notes, mut waiting, mut unconfigured, mut more) = (0u64, 0u64, 0u64, 0u64, false);

    let (mut cursor, mut seen) = (String::new(), 0usize);
    loop {
        let ids = inv::customers_with_items(&db, last, &cursor, BATCH).await?;
        let Some(l) = ids.last() else { break };
        cursor = l.clone();
        for id in &ids {
            let r = inv::issue_for_customer(&db, &cfg, id, last, now).await?;
            invoices += r.invoices;
            waiting += r.waiting as u64;
            unconfigured += r.unconfigured as u64;
        }
        seen += ids.len();
        if seen >= MAX_CUSTOMERS {
            more = true;
            break;
        }
    }

    let mut done = 0usize;
    'notes: loop {
        let due = inv::invoices_to_correct(&db, BATCH).await?;
        if due.is_empty() {
            break;
        }
        let mut progressed = false;
        for number in &due {
            if inv::issue_credit_note(&db, number, now).await?.is_some() {
                credit_notes += 1;
                progressed = true;
            }
            done += 1;
            if done >= MAX_CREDIT_NOTES {
                more = true;
                break 'notes;
            }
        }
        if !progressed {
            break;
        }
    }
    Ok(resp::json(200, &json!({"invoices": invoices, "credit_notes": credit_notes, "waiting": waiting, "unconfigured": unconfigured, "more": more})))
}
