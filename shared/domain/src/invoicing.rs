//! Monthly VAT invoices (issue 10, "Messages and documents"): one invoice per customer and month
//! (mes vencido) listing every service line delivered and charged in the month, VAT by the
//! customer's country from configuration, gapless numbering per country series, immutable once
//! issued, corrections only by credit note.
//!
//! # Rules (stated, as an accounting team reads them)
//! * **Prices are VAT-inclusive.** Every amount the catalog, the sale and the gateway carry is
//!   what the customer pays (B2C prices in the EU are shown and charged with VAT). The invoice
//!   never changes what was charged: each line's gross is the money kept for it (ledger charges
//!   minus voids/refunds), and net + VAT are split out of that gross.
//! * **Rounding, per line:** `net = gross × 10000 / (10000 + rate_bp)` rounded to the nearest
//!   minor unit, halves away from zero; `VAT = gross − net`. So `net + VAT = gross` exactly on
//!   every line; per-rate totals and the invoice total are the sums of the lines (the total is
//!   exactly what was charged). Negative amounts (credit notes) are split as their absolute value
//!   and negated, so a full credit note mirrors the invoice line to the cent.
//! * **Rates** come from configuration (`vat_rates = "ES=21,FR=20,DE=19"`, Spin variable),
//!   percentages with at most two decimals, kept in basis points ([`VatRates::parse`]). The rate
//!   applied is the one configured when the document is issued, stored on each line (a later
//!   change of the configuration never alters an issued document; a credit note uses the rate
//!   of the line it corrects).
//! * **Numbering:** invoices `<COUNTRY>-<YYYY>-<seq:06>`, one series per country and issue year
//!   (`ES-2027-000001`, `ES-2027-000002`, …); credit notes in their **own** series per country
//!   and year, `<COUNTRY>-<YYYY>-R-<seq:06>` (Spanish RD 1619/2012 art. 6 wants rectifying
//!   invoices in a separate series; FR/DE accept it). The sequence is allocated inside the
//!   issuing transaction, so a rolled-back issue leaves no gap.
//! * **Which month:** [`plan_invoices`]: an item (a charged subscription period, a delivered and
//!   settled one-time service) belongs to the month of its date; a customer gets one invoice per
//!   month; an item that became invoiceable after its month's invoice was issued (a period
//!   collected late by dunning) goes on the next month's invoice.
//! * **Corrections:** money given back for a line of an issued invoice (refund, void) is a
//!   credit note referencing that invoice, with negative lines; the invoice is never edited.
//!   Money given back *before* the invoice is issued is netted into the line (a fully returned
//!   item has no line).
use crate::lang::{self, Lang};
use crate::services::billing::Period;
use crate::services::calendar::date_of;
use std::collections::{BTreeMap, BTreeSet};

/// A VAT rate in basis points (2100 = 21 %).
pub type RateBp = u32;

/// VAT rates by country (ISO 3166 alpha-2, upper case), from configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VatRates(BTreeMap<String, RateBp>);

impl VatRates {
    /// Parses `"ES=21,FR=20,DE=19"` (spaces allowed, `;` also separates, rates with up to two
    /// decimals: `FR=5.5`). Errors name the entry at fault; an empty configuration is an error.
    pub fn parse(s: &str) -> Result<VatRates, String> {
        let mut out = BTreeMap::new();
        for entry in s.split([',', ';']).map(str::trim).filter(|e| !e.is_empty()) {
            let (c, r) = entry.split_once('=').ok_or_else(|| format!("vat_rates entry {entry:?} is not COUNTRY=RATE"))?;
            let c = c.trim();
            if c.len() != 2 || !c.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(format!("vat_rates entry {entry:?}: {c:?} is not a two-letter upper-case country code"));
            }
            let bp = parse_percent(r.trim()).ok_or_else(|| format!("vat_rates entry {entry:?}: the rate must be a percentage between 0 and 100 with at most two decimals"))?;
            if out.insert(c.to_string(), bp).is_some() {
                return Err(format!("vat_rates names {c} twice"));
            }
        }
        if out.is_empty() {
            return Err("vat_rates is empty: configure COUNTRY=RATE entries, e.g. ES=21,FR=20,DE=19".into());
        }
        Ok(VatRates(out))
    }

    /// The rate of `country` (case-insensitive), None when it is not configured.
    pub fn rate_for(&self, country: &str) -> Option<RateBp> {
        self.0.get(&country.trim().to_ascii_uppercase()).copied()
    }
}

/// `"21"`, `"5.5"`, `"7.25"` → basis points; None beyond 100 or more than two decimals.
fn parse_percent(s: &str) -> Option<RateBp> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() || int.len() > 3 || frac.len() > 2 || !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac_bp: u32 = if frac.is_empty() { 0 } else { format!("{frac:0<2}").parse().ok()? };
    let bp = int.parse::<u32>().ok()? * 100 + frac_bp;
    (bp <= 10_000).then_some(bp)
}

/// A rate in basis points as a percentage text: 2100 → `21`, 550 → `5.5`, 725 → `7.25`.
pub fn percent_text(bp: RateBp) -> String {
    let (i, f) = (bp / 100, bp % 100);
    match f {
        0 => i.to_string(),
        f if f % 10 == 0 => format!("{i}.{}", f / 10),
        f => format!("{i}.{f:02}"),
    }
}

/// Net, VAT and gross of one line (minor units; `net + vat == gross`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Amounts {
    pub net_minor: i64,
    pub vat_minor: i64,
    pub gross_minor: i64,
}

/// Splits a VAT-inclusive `gross` at `rate_bp` (see the module's rounding rule).
pub fn split_gross(gross: i64, rate_bp: RateBp) -> Amounts {
    let abs = gross.unsigned_abs() as i128;
    let den = 10_000 + rate_bp as i128;
    // Nearest, halves up: (2·abs·10000 + den) / (2·den).
    let net = ((2 * abs * 10_000 + den) / (2 * den)) as i64;
    let (net, gross_abs) = (net, abs as i64);
    let sign = if gross < 0 { -1 } else { 1 };
    Amounts { net_minor: sign * net, vat_minor: sign * (gross_abs - net), gross_minor: gross }
}

/// One line's amounts at its rate, for totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineAmounts {
    pub rate_bp: RateBp,
    pub amounts: Amounts,
}

/// Totals of one VAT rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct RateTotal {
    pub vat_rate_bp: RateBp,
    pub net_minor: i64,
    pub vat_minor: i64,
    pub gross_minor: i64,
}

/// Per-rate totals (ascending rate) and the grand total: sums of the lines.
pub fn totals(lines: &[LineAmounts]) -> (Vec<RateTotal>, Amounts) {
    let mut by: BTreeMap<RateBp, Amounts> = BTreeMap::new();
    let mut all = Amounts::default();
    for l in lines {
        for t in [by.entry(l.rate_bp).or_default(), &mut all] {
            t.net_minor += l.amounts.net_minor;
            t.vat_minor += l.amounts.vat_minor;
            t.gross_minor += l.amounts.gross_minor;
        }
    }
    let per = by
        .into_iter()
        .map(|(r, a)| RateTotal { vat_rate_bp: r, net_minor: a.net_minor, vat_minor: a.vat_minor, gross_minor: a.gross_minor })
        .collect();
    (per, all)
}

/// Invoice or credit note.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DocKind {
    Invoice,
    CreditNote,
}

impl DocKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DocKind::Invoice => "invoice",
            DocKind::CreditNote => "credit-note",
        }
    }
    pub fn parse(s: &str) -> Option<DocKind> {
        match s {
            "invoice" => Some(DocKind::Invoice),
            "credit-note" => Some(DocKind::CreditNote),
            _ => None,
        }
    }
}

/// The numbering series of a document issued at `issued_at` for a customer of `country`:
/// `ES-2027` (invoices) or `ES-2027-R` (credit notes).
pub fn series(kind: DocKind, country: &str, issued_at: i64) -> String {
    let year = date_of(issued_at).year;
    let c = country.trim().to_ascii_uppercase();
    match kind {
        DocKind::Invoice => format!("{c}-{year:04}"),
        DocKind::CreditNote => format!("{c}-{year:04}-R"),
    }
}

/// The number of the `seq`-th document (1-based) of `series`: `ES-2027-000001`.
pub fn number(series: &str, seq: i64) -> String {
    format!("{series}-{seq:06}")
}

/// `(series, seq)` of a document number made by [`number`].
pub fn parse_number(n: &str) -> Option<(&str, i64)> {
    let (s, q) = n.rsplit_once('-')?;
    (q.len() >= 6 && q.bytes().all(|b| b.is_ascii_digit()) && !s.is_empty()).then(|| Some((s, q.parse().ok()?))).flatten()
}

/// A customer-facing document id is exactly a number we issue (safe in a path and a filename).
pub fn is_number(s: &str) -> bool {
    s.len() <= 40 && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-') && parse_number(s).is_some_and(|(_, q)| q >= 1)
}

/// Which invoice each item goes on: items (any id) with the month they belong to; `invoiced`
/// the months the customer already has an invoice for; `last` the newest completed month.
/// Returns, oldest first, the months to invoice now with their items: every month from the
/// oldest item's up to `last` that has no invoice yet takes every item of that month or earlier
/// not yet placed. Items of months after `last` wait.
pub fn plan_invoices<T: Clone>(items: &[(T, Period)], invoiced: &BTreeSet<Period>, last: Period) -> Vec<(Period, Vec<T>)> {
    let Some(first) = items.iter().map(|(_, p)| *p).filter(|p| *p <= last).min() else { return Vec::new() };
    let mut placed = vec![false; items.len()];
    let mut out = Vec::new();
    let mut m = first;
    while m <= last {
        if !invoiced.contains(&m) {
            let mut take = Vec::new();
            for (i, (t, p)) in items.iter().enumerate() {
                if !placed[i] && *p <= m {
                    placed[i] = true;
                    take.push(t.clone());
                }
            }
            if !take.is_empty() {
                out.push((m, take));
            }
        }
        m = m.next();
    }
    out
}

// ------------------------------------------------------------------------------------ document

/// What a line is for (the text is rendered in the reader's language).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LineKind {
    /// A subscription's month.
    Subscription,
    /// A one-time (temporary or permanent) service.
    Service,
    /// Money given back for a line of the corrected invoice (credit notes).
    Refund,
}

impl LineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LineKind::Subscription => "subscription",
            LineKind::Service => "service",
            LineKind::Refund => "refund",
        }
    }
    pub fn parse(s: &str) -> Option<LineKind> {
        match s {
            "subscription" => Some(LineKind::Subscription),
            "service" => Some(LineKind::Service),
            "refund" => Some(LineKind::Refund),
            _ => None,
        }
    }
}

/// One line of an issued document.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DocLine {
    pub kind: LineKind,
    /// The service's name.
    pub name: String,
    /// `YYYY-MM` for a subscription month.
    pub period: Option<String>,
    pub vat_rate_bp: RateBp,
    #[serde(flatten)]
    pub amounts: Amounts,
}

/// The customer as the document names them (snapshot at issue).
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Party {
    pub name: String,
    pub tax_id: String,
    pub address: Vec<String>,
    pub country: String,
}

/// An issued document, everything needed to print it.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub kind: DocKind,
    pub number: String,
    pub issued_at: i64,
    /// The month invoiced (credit notes: the corrected invoice's).
    pub period: String,
    /// Credit notes: the number of the corrected invoice.
    pub corrects: Option<String>,
    pub issuer: String,
    pub customer: Party,
    pub currency: String,
    pub lines: Vec<DocLine>,
}

struct Labels {
    invoice: &'static str,
    credit_note: &'static str,
    number: &'static str,
    date: &'static str,
    period: &'static str,
    corrects: &'static str,
    issuer: &'static str,
    customer: &'static str,
    tax_id: &'static str,
    description: &'static str,
    rate: &'static str,
    net: &'static str,
    vat: &'static str,
    total: &'static str,
    base: &'static str,
    vat_note: &'static str,
    subscription: &'static str,
    refund: &'static str,
}

fn labels(l: Lang) -> Labels {
    match l {
        Lang::Es => Labels {
            invoice: "Factura",
            credit_note: "Factura rectificativa",
            number: "Número",
            date: "Fecha de emisión",
            period: "Periodo facturado",
            corrects: "Rectifica la factura",
            issuer: "Emisor",
            customer: "Cliente",
            tax_id: "NIF",
            description: "Concepto",
            rate: "IVA %",
            net: "Base imponible",
            vat: "IVA",
            total: "Total",
            base: "Desglose por tipo",
            vat_note: "Precios con IVA incluido.",
            subscription: "Suscripción",
            refund: "Devolución",
        },
        Lang::Fr => Labels {
            invoice: "Facture",
            credit_note: "Avoir",
            number: "Numéro",
            date: "Date d'émission",
            period: "Période facturée",
            corrects: "Rectifie la facture",
            issuer: "Émetteur",
            customer: "Client",
            tax_id: "N° d'identification",
            description: "Désignation",
            rate: "TVA %",
            net: "Montant HT",
            vat: "TVA",
            total: "Total TTC",
            base: "Récapitulatif par taux",
            vat_note: "Prix TTC.",
            subscription: "Abonnement",
            refund: "Remboursement",
        },
        Lang::De => Labels {
            invoice: "Rechnung",
            credit_note: "Gutschrift (Rechnungskorrektur)",
            number: "Nummer",
            date: "Rechnungsdatum",
            period: "Leistungszeitraum",
            corrects: "Korrigiert Rechnung",
            issuer: "Aussteller",
            customer: "Kunde",
            tax_id: "Ausweis-/Steuernummer",
            description: "Leistung",
            rate: "USt. %",
            net: "Netto",
            vat: "USt.",
            total: "Brutto",
            base: "Aufschlüsselung nach Steuersatz",
            vat_note: "Preise inklusive Umsatzsteuer.",
            subscription: "Abonnement",
            refund: "Erstattung",
        },
        Lang::En => Labels {
            invoice: "Invoice",
            credit_note: "Credit note",
            number: "Number",
            date: "Issue date",
            period: "Billing period",
            corrects: "Corrects invoice",
            issuer: "Issuer",
            customer: "Customer",
            tax_id: "Tax ID",
            description: "Description",
            rate: "VAT %",
            net: "Net",
            vat: "VAT",
            total: "Total",
            base: "Breakdown by rate",
            vat_note: "Prices include VAT.",
            subscription: "Subscription",
            refund: "Refund",
        },
    }
}

/// The document's title in `lang` (`Factura`, `Avoir`, …).
pub fn title(kind: DocKind, l: Lang) -> &'static str {
    let b = labels(l);
    match kind {
        DocKind::Invoice => b.invoice,
        DocKind::CreditNote => b.credit_note,
    }
}

/// A line's description in `lang`.
pub fn line_text(line: &DocLine, l: Lang) -> String {
    let b = labels(l);
    let period = line.period.as_deref().map(|p| format!(" — {}", lang::period(l, p))).unwrap_or_default();
    match line.kind {
        LineKind::Subscription => format!("{}: {}{period}", b.subscription, line.name),
        LineKind::Service => line.name.clone(),
        LineKind::Refund => format!("{}: {}{period}", b.refund, line.name),
    }
}

/// HTML-escapes text.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// The printable document (a self-contained HTML page) with headings in `l`. Amounts and data
/// are the issued ones; only the words change with the language.
pub fn render_html(d: &Document, l: Lang) -> String {
    let b = labels(l);
    let t = title(d.kind, l);
    let money = |m: i64| escape(&lang::money(l, m, &d.currency));
    let mut h = String::new();
    h.push_str(&format!(
        "<!doctype html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\"><title>{t} {n}</title>\n<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;width:100%}}td,th{{border:1px solid #999;padding:4px 8px}}td.n{{text-align:right}}@media print{{body{{margin:0}}}}</style></head><body>\n",
        l.as_str(),
        n = escape(&d.number)
    ));
    h.push_str(&format!("<h1>{t} {}</h1>\n<table class=\"head\">\n", escape(&d.number)));
    let mut row = |k: &str, v: String| h.push_str(&format!("<tr><th>{k}</th><td>{v}</td></tr>\n"));
    row(b.number, escape(&d.number));
    row(b.date, escape(&lang::date(l, d.issued_at)));
    row(b.period, escape(&lang::period(l, &d.period)));
    if let Some(c) = &d.corrects {
        row(b.corrects, escape(c));
    }
    row(b.issuer, escape(&d.issuer));
    let mut cust = vec![escape(&d.customer.name)];
    cust.extend(d.customer.address.iter().map(|a| escape(a)));
    cust.push(escape(&d.customer.country));
    row(b.customer, cust.join("<br>"));
    row(b.tax_id, escape(&d.customer.tax_id));
    h.push_str("</table>\n<p></p>\n<table class=\"lines\">\n");
    h.push_str(&format!("<tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>\n", b.description, b.rate, b.net, b.vat, b.total));
    for line in &d.lines {
        h.push_str(&format!(
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>\n",
            escape(&line_text(line, l)),
            percent_text(line.vat_rate_bp),
            money(line.amounts.net_minor),
            money(line.amounts.vat_minor),
            money(line.amounts.gross_minor)
        ));
    }
    let la: Vec<LineAmounts> = d.lines.iter().map(|x| LineAmounts { rate_bp: x.vat_rate_bp, amounts: x.amounts }).collect();
    let (per, all) = totals(&la);
    h.push_str(&format!("</table>\n<h2>{}</h2>\n<table class=\"totals\">\n", b.base));
    h.push_str(&format!("<tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>\n", b.rate, b.net, b.vat, b.total));
    for r in &per {
        h.push_str(&format!(
            "<tr><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>\n",
            percent_text(r.vat_rate_bp),
            money(r.net_minor),
            money(r.vat_minor),
            money(r.gross_minor)
        ));
    }
    h.push_str(&format!(
        "<tr><th>{}</th><td class=\"n\"><b>{}</b></td><td class=\"n\"><b>{}</b></td><td class=\"n\"><b>{}</b></td></tr>\n</table>\n<p>{}</p>\n</body></html>\n",
        b.total,
        money(all.net_minor),
        money(all.vat_minor),
        money(all.gross_minor),
        b.vat_note
    ));
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::calendar::midnight_ms;

    #[test]
    fn rates_parse_from_configuration_with_clear_errors() {
        let r = VatRates::parse("ES=21,FR=20,DE=19").unwrap();
        assert_eq!((r.rate_for("ES"), r.rate_for("fr"), r.rate_for("DE"), r.rate_for("IT")), (Some(2100), Some(2000), Some(1900), None));
        let r = VatRates::parse(" FR = 5.5 ; AT=20 , LU=16.75").unwrap();
        assert_eq!((r.rate_for("FR"), r.rate_for("AT"), r.rate_for("LU")), (Some(550), Some(2000), Some(1675)));
        assert_eq!(VatRates::parse("ES=0").unwrap().rate_for("ES"), Some(0));
        for bad in ["", " , ", "ES", "ES=", "es=21", "ESP=21", "ES=21,ES=10", "ES=101", "ES=-1", "ES=21.123", "ES=abc", "ES=.5", "ES=1e2"] {
            let e = VatRates::parse(bad).unwrap_err();
            assert!(e.contains("vat_rates"), "{bad}: {e}");
        }
        assert!(VatRates::parse("ES=21,ES=10").unwrap_err().contains("twice"));
        assert_eq!((percent_text(2100), percent_text(550), percent_text(1675), percent_text(0)), ("21".into(), "5.5".into(), "16.75".into(), "0".into()));
    }

    #[test]
    fn gross_is_split_into_net_and_vat_to_the_cent() {
        // 9.99 at 21 %: 999 / 1.21 = 825.62 → 826 net, 173 VAT.
        assert_eq!(split_gross(999, 2100), Amounts { net_minor: 826, vat_minor: 173, gross_minor: 999 });
        // 5.99 at 20 %: 499.17 → 499 + 100.
        assert_eq!(split_gross(599, 2000), Amounts { net_minor: 499, vat_minor: 100, gross_minor: 599 });
        // 15.00 at 19 %: 1260.50 → halves away from zero: 1261 + 239.
        assert_eq!(split_gross(1500, 1900), Amounts { net_minor: 1261, vat_minor: 239, gross_minor: 1500 });
        // 121.00 at 21 % is exactly 100 + 21.
        assert_eq!(split_gross(12100, 2100), Amounts { net_minor: 10000, vat_minor: 2100, gross_minor: 12100 });
        assert_eq!(split_gross(0, 2100), Amounts::default());
        assert_eq!(split_gross(1, 2100), Amounts { net_minor: 1, vat_minor: 0, gross_minor: 1 });
        assert_eq!(split_gross(500, 0), Amounts { net_minor: 500, vat_minor: 0, gross_minor: 500 });
        // A credit note mirrors the line exactly.
        assert_eq!(split_gross(-1500, 1900), Amounts { net_minor: -1261, vat_minor: -239, gross_minor: -1500 });
        // Exhaustive: net + VAT = gross, and net is the nearest cent to gross / (1 + rate).
        for rate in [0, 550, 1000, 1900, 2000, 2100, 10_000] {
            for g in 0..5000i64 {
                let a = split_gross(g, rate);
                assert_eq!(a.net_minor + a.vat_minor, g);
                let exact = g as f64 * 10_000.0 / (10_000.0 + rate as f64);
                assert!((a.net_minor as f64 - exact).abs() <= 0.5 + 1e-9, "{g} at {rate}: {a:?}");
                assert_eq!(split_gross(-g, rate).net_minor, -a.net_minor);
            }
        }
        assert_eq!(split_gross(i64::MAX / 2, 2100).gross_minor, i64::MAX / 2);
    }

    #[test]
    fn totals_per_rate_are_sums_of_lines_and_match_the_charged_total() {
        let charged = [999, 599, 1500, 999];
        let lines: Vec<LineAmounts> = charged.iter().enumerate().map(|(i, g)| {
            let rate = if i == 2 { 1000 } else { 2100 };
            LineAmounts { rate_bp: rate, amounts: split_gross(*g, rate) }
        }).collect();
        let (per, all) = totals(&lines);
        assert_eq!(per.len(), 2);
        assert_eq!(per[0].vat_rate_bp, 1000);
        assert_eq!(per[1].gross_minor, 999 + 599 + 999);
        assert_eq!(per[1].net_minor, 826 + 495 + 826);
        assert_eq!(all.gross_minor, charged.iter().sum::<i64>());
        assert_eq!(all.net_minor + all.vat_minor, all.gross_minor);
        assert_eq!(per.iter().map(|r| r.vat_minor).sum::<i64>(), all.vat_minor);
        assert_eq!(totals(&[]).1, Amounts::default());
    }

    #[test]
    fn numbers_are_per_country_and_year_with_credit_notes_in_their_own_series() {
        let feb = midnight_ms(2027, 2, 1) + 3_600_000;
        assert_eq!(series(DocKind::Invoice, "es", feb), "ES-2027");
        assert_eq!(series(DocKind::CreditNote, "FR", feb), "FR-2027-R");
        assert_eq!(series(DocKind::Invoice, "DE", midnight_ms(2026, 12, 31)), "DE-2026");
        assert_eq!(number("ES-2027", 1), "ES-2027-000001");
        assert_eq!(number("FR-2027-R", 12), "FR-2027-R-000012");
        assert_eq!(number("ES-2027", 1_234_567), "ES-2027-1234567");
        assert_eq!(parse_number("FR-2027-R-000012"), Some(("FR-2027-R", 12)));
        assert_eq!(parse_number("ES-2027-000001"), Some(("ES-2027", 1)));
        assert!(is_number("ES-2027-000001") && is_number("FR-2027-R-000012"));
        for bad in ["", "ES-2027-1", "es-2027-000001", "ES-2027-000000", "../x", "ES 2027-000001", "ES-2027-00000a"] {
            assert!(!is_number(bad), "{bad}");
        }
    }

    fn p(y: i32, m: u32) -> Period {
        Period::new(y, m).unwrap()
    }

    #[test]
    fn one_invoice_per_month_and_late_items_go_on_the_next_open_month() {
        let none = BTreeSet::new();
        // January items only, February over → one January invoice with all of them.
        let items = vec![("a", p(2027, 1)), ("b", p(2027, 1)), ("c", p(2027, 1))];
        assert_eq!(plan_invoices(&items, &none, p(2027, 1)), vec![(p(2027, 1), vec!["a", "b", "c"])]);
        // The current month's items wait.
        let items = vec![("a", p(2027, 1)), ("feb", p(2027, 2))];
        assert_eq!(plan_invoices(&items, &none, p(2027, 1)), vec![(p(2027, 1), vec!["a"])]);
        // A late tick catches up month by month.
        assert_eq!(plan_invoices(&items, &none, p(2027, 2)), vec![(p(2027, 1), vec!["a"]), (p(2027, 2), vec!["feb"])]);
        // January already invoiced: a January item collected late goes on February's invoice.
        let jan: BTreeSet<Period> = [p(2027, 1)].into();
        assert_eq!(plan_invoices(&[("late", p(2027, 1))], &jan, p(2027, 1)), vec![]);
        assert_eq!(plan_invoices(&[("late", p(2027, 1))], &jan, p(2027, 2)), vec![(p(2027, 2), vec!["late"])]);
        // Months without items get no invoice; nothing → nothing.
        assert_eq!(plan_invoices(&[("x", p(2026, 11))], &none, p(2027, 2)), vec![(p(2026, 11), vec!["x"])]);
        assert!(plan_invoices::<&str>(&[], &none, p(2027, 2)).is_empty());
    }

    fn doc(kind: DocKind) -> Document {
        Document {
            kind,
            number: "ES-2027-000001".into(),
            issued_at: midnight_ms(2027, 2, 1) + 3_600_000,
            period: "2027-01".into(),
            corrects: (kind == DocKind::CreditNote).then(|| "ES-2027-000001".into()),
            issuer: "CaaS Mobility".into(),
            customer: Party { name: "Lucía <Fernández>".into(), tax_id: "X0000001L".into(), address: vec!["Calle Mayor 1".into(), "28013 Madrid".into()], country: "ES".into() },
            currency: "EUR".into(),
            lines: vec![
                DocLine { kind: LineKind::Subscription, name: "Entertainment Plus".into(), period: Some("2027-01".into()), vat_rate_bp: 2100, amounts: split_gross(999, 2100) },
                DocLine { kind: LineKind::Service, name: "Snow mode (14 days)".into(), period: None, vat_rate_bp: 2100, amounts: split_gross(1500, 2100) },
            ],
        }
    }

    #[test]
    fn the_document_is_printable_in_the_customers_language_and_escapes_data() {
        let d = doc(DocKind::Invoice);
        let es = render_html(&d, Lang::Es);
        assert!(es.contains("<html lang=\"es\">") && es.contains("Factura ES-2027-000001"), "{es}");
        assert!(es.contains("Base imponible") && es.contains("enero de 2027") && es.contains("Suscripción: Entertainment Plus"));
        assert!(es.contains("24,99\u{a0}€"), "grand total: {es}");
        assert!(es.contains("Lucía &lt;Fernández&gt;") && !es.contains("<Fernández>"));
        let fr = render_html(&d, Lang::Fr);
        assert!(fr.contains("Facture ES-2027-000001") && fr.contains("Montant HT") && fr.contains("janvier 2027"));
        let de = render_html(&d, Lang::De);
        assert!(de.contains("Rechnung") && de.contains("Netto") && de.contains("USt."));
        let en = render_html(&d, Lang::En);
        assert!(en.contains("Invoice ES-2027-000001") && en.contains("€24.99") && en.contains("Prices include VAT."));
        let cn = render_html(&doc(DocKind::CreditNote), Lang::Es);
        assert!(cn.contains("Factura rectificativa") && cn.contains("Rectifica la factura"));
        assert_eq!(line_text(&DocLine { kind: LineKind::Refund, name: "X".into(), period: None, vat_rate_bp: 0, amounts: Amounts::default() }, Lang::De), "Erstattung: X");
    }
}
