//! The customer's monthly VAT invoices and credit notes (issue 10): list, one (JSON), and the
//! printable document (HTML attachment, headings in the customer's language). Another
//! customer's number is 404, like an unknown one.
use caas_domain::Problem;
use caas_domain::invoicing::{self, LineAmounts, is_number};
use caas_domain::lang::Lang;
use caas_platform::db::{Db, Row};
use caas_platform::store::vat_invoices;
use caas_platform::{Resp, resp};
use serde_json::{Value, json};

fn not_found(number: &str) -> Problem {
    Problem::not_found(format!("no invoice {number} in your expediente"))
}

fn doc_url(number: &str) -> String {
    format!("/api/expediente/invoices/{number}/document")
}

fn summary(h: &Row) -> Value {
    let n = h.str("number");
    json!({
        "number": n,
        "kind": h.str("kind"),
        "period": h.str("period"),
        "issued_at": h.i64("issued_at"),
        "corrects": h.opt_str("corrects"),
        "currency": h.str("currency"),
        "net_minor": h.i64("net_minor"),
        "vat_minor": h.i64("vat_minor"),
        "gross_minor": h.i64("gross_minor"),
        "document_url": doc_url(&n),
    })
}

/// `GET /api/expediente/invoices`: every document of the caller, oldest first.
pub async fn list(db: &Db, me: &str) -> Result<Resp, Problem> {
    let items: Vec<Value> = vat_invoices::of_customer(db, me).await?.iter().map(summary).collect();
    Ok(resp::json(200, &json!({ "items": items })))
}

/// `GET /api/expediente/invoices/{number}`.
pub async fn one(db: &Db, me: &str, number: &str) -> Result<Resp, Problem> {
    if !is_number(number) {
        return Err(not_found(number));
    }
    let Some((doc, h, lines, credited)) = vat_invoices::load(db, me, number).await? else {
        return Err(not_found(number));
    };
    let lang = Lang::from_stored(&h.str("language"));
    let la: Vec<LineAmounts> = doc.lines.iter().map(|l| LineAmounts { rate_bp: l.vat_rate_bp, amounts: l.amounts }).collect();
    let (per_rate, _) = invoicing::totals(&la);
    let mut v = summary(&h);
    v["language"] = json!(lang.as_str());
    v["issuer"] = json!(doc.issuer);
    v["customer"] = json!(doc.customer);
    v["credited_by"] = json!(credited);
    v["totals_by_rate"] = json!(per_rate);
    v["lines"] = lines
        .iter()
        .zip(&doc.lines)
        .map(|(r, l)| {
            json!({
                "position": r.i64("position"),
                "kind": l.kind,
                "description": invoicing::line_text(l, lang),
                "name": l.name,
                "period": l.period,
                "service_id": r.opt_str("service_id"),
                "vat_rate_bp": l.vat_rate_bp,
                "net_minor": l.amounts.net_minor,
                "vat_minor": l.amounts.vat_minor,
                "gross_minor": l.amounts.gross_minor,
            })
        })
        .collect();
    Ok(resp::json(200, &v))
}

/// `GET /api/expediente/invoices/{number}/document`: the printable HTML, as a download named
/// after the number, headings in the customer's language.
pub async fn document(db: &Db, me: &str, number: &str) -> Result<Resp, Problem> {
    if !is_number(number) {
        return Err(not_found(number));
    }
    let Some((doc, h, _, _)) = vat_invoices::load(db, me, number).await? else {
        return Err(not_found(number));
    };
    let lang = Lang::from_stored(&h.str("language"));
    Ok(resp::attachment("text/html; charset=utf-8", &format!("{number}.html"), invoicing::render_html(&doc, lang)))
}
