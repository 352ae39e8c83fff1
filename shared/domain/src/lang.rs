//! The customer's language (es, fr, de, en) and locale formatting of money, dates and numbers
//! for the texts the system sends (`crate::messages`).
use crate::services::calendar::date_of;

/// A language the system writes to customers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    Es,
    Fr,
    De,
    /// The default: a sale without a language, and customers from before languages existed.
    #[default]
    En,
}

impl Lang {
    pub const ALL: [Lang; 4] = [Lang::Es, Lang::Fr, Lang::De, Lang::En];

    /// `es`, `fr`, `de` or `en` (exact, lower case); anything else is None.
    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "es" => Some(Lang::Es),
            "fr" => Some(Lang::Fr),
            "de" => Some(Lang::De),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Es => "es",
            Lang::Fr => "fr",
            Lang::De => "de",
            Lang::En => "en",
        }
    }

    /// The language a form should preselect for a customer of `country` (ISO 3166 alpha-2):
    /// ES → es, FR → fr, DE → de, anything else → en. A suggestion only: the API's default
    /// when no language is given stays `en`.
    pub fn suggested_for_country(country: &str) -> Lang {
        match country.trim().to_ascii_uppercase().as_str() {
            "ES" => Lang::Es,
            "FR" => Lang::Fr,
            "DE" => Lang::De,
            _ => Lang::En,
        }
    }

    /// A stored value (unknown or missing → en).
    pub fn from_stored(s: &str) -> Lang {
        Lang::parse(s).unwrap_or_default()
    }
}

impl std::fmt::Display for Lang {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Digits of `n` grouped by thousands with `sep`.
fn group(n: u64, sep: &str) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push_str(sep);
        }
        out.push(c);
    }
    out
}

/// No-break space (French grouping and the space before the currency sign).
const NBSP: &str = "\u{a0}";

fn symbol(currency: &str) -> Option<&'static str> {
    match currency {
        "EUR" => Some("€"),
        "GBP" => Some("£"),
        "USD" => Some("$"),
        _ => None,
    }
}

/// A whole number with the locale's grouping: es/de `1.234`, fr `1 234`, en `1,234`.
pub fn number(lang: Lang, n: i64) -> String {
    let sep = match lang {
        Lang::Es | Lang::De => ".",
        Lang::Fr => NBSP,
        Lang::En => ",",
    };
    format!("{}{}", if n < 0 { "-" } else { "" }, group(n.unsigned_abs(), sep))
}

/// An amount in minor units (2 decimals) as the locale writes it: es/de `1.234,56 €`,
/// fr `1 234,56 €` (no-break spaces), en `€1,234.56`. Currencies without a sign keep their
/// code (`1.234,56 CHF`, `CHF 1,234.56`).
pub fn money(lang: Lang, amount_minor: i64, currency: &str) -> String {
    let sign = if amount_minor < 0 { "-" } else { "" };
    let abs = amount_minor.unsigned_abs();
    let (units, cents) = (abs / 100, abs % 100);
    match lang {
        Lang::En => {
            let amount = format!("{}.{cents:02}", group(units, ","));
            match symbol(currency) {
                Some(s) => format!("{sign}{s}{amount}"),
                None => format!("{sign}{currency} {amount}"),
            }
        }
        _ => {
            let sep = if lang == Lang::Fr { NBSP } else { "." };
            format!("{sign}{},{cents:02}{NBSP}{}", group(units, sep), symbol(currency).unwrap_or(currency))
        }
    }
}

const MONTHS_EN: [&str; 12] = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
const MONTHS_ES: [&str; 12] = ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre"];
const MONTHS_FR: [&str; 12] = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"];
const MONTHS_DE: [&str; 12] = ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober", "November", "Dezember"];

fn month_name(lang: Lang, month: u32) -> &'static str {
    let i = (month.clamp(1, 12) - 1) as usize;
    match lang {
        Lang::Es => MONTHS_ES[i],
        Lang::Fr => MONTHS_FR[i],
        Lang::De => MONTHS_DE[i],
        Lang::En => MONTHS_EN[i],
    }
}

fn civil(lang: Lang, year: i32, month: u32, day: u32) -> String {
    match lang {
        Lang::Es | Lang::Fr => format!("{day:02}/{month:02}/{year:04}"),
        Lang::De => format!("{day:02}.{month:02}.{year:04}"),
        // English goes to customers of every other country: ISO 8601, unambiguous everywhere.
        Lang::En => format!("{year:04}-{month:02}-{day:02}"),
    }
}

/// The calendar date (UTC) of an instant: es/fr `03/12/2026`, de `03.12.2026`, en `2026-12-03` (ISO 8601).
pub fn date(lang: Lang, ms: i64) -> String {
    let d = date_of(ms);
    civil(lang, d.year, d.month, d.day)
}

/// A `YYYY-MM-DD…` text (a date from a partner system) in the locale's form; other text unchanged.
pub fn date_text(lang: Lang, s: &str) -> String {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| s.get(r).filter(|t| t.bytes().all(|c| c.is_ascii_digit())).and_then(|t| t.parse::<u32>().ok());
    if b.len() >= 10
        && b[4] == b'-'
        && b[7] == b'-'
        && let (Some(y), Some(m), Some(d)) = (num(0..4), num(5..7), num(8..10))
        && (1..=12).contains(&m)
        && (1..=31).contains(&d)
    {
        return civil(lang, y as i32, m, d);
    }
    s.to_string()
}

/// A billing period `YYYY-MM` as words: `enero de 2026`, `janvier 2026`, `Januar 2026`; en
/// keeps ISO `2026-01` (like its dates); other text unchanged.
pub fn period(lang: Lang, p: &str) -> String {
    let parsed = (p.len() == 7 && p.as_bytes()[4] == b'-')
        .then(|| Some((p.get(0..4)?.parse::<i32>().ok()?, p.get(5..7)?.parse::<u32>().ok()?)))
        .flatten()
        .filter(|(_, m)| (1..=12).contains(m));
    match parsed {
        Some(_) if lang == Lang::En => p.to_string(),
        Some((y, m)) if lang == Lang::Es => format!("{} de {y}", month_name(lang, m)),
        Some((y, m)) => format!("{} {y}", month_name(lang, m)),
        None => p.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::calendar::utc_ms;

    #[test]
    fn parse_and_suggest() {
        for l in Lang::ALL {
            assert_eq!(Lang::parse(l.as_str()), Some(l));
        }
        assert_eq!(Lang::parse("EN"), None);
        assert_eq!(Lang::parse("it"), None);
        assert_eq!(Lang::parse(""), None);
        assert_eq!(Lang::suggested_for_country("ES"), Lang::Es);
        assert_eq!(Lang::suggested_for_country("fr"), Lang::Fr);
        assert_eq!(Lang::suggested_for_country("DE"), Lang::De);
        assert_eq!(Lang::suggested_for_country("PT"), Lang::En);
        assert_eq!(Lang::default(), Lang::En);
        assert_eq!(Lang::from_stored("xx"), Lang::En);
    }

    #[test]
    fn money_per_locale() {
        assert_eq!(money(Lang::Es, 123_456, "EUR"), "1.234,56\u{a0}€");
        assert_eq!(money(Lang::Fr, 123_456, "EUR"), "1\u{a0}234,56\u{a0}€");
        assert_eq!(money(Lang::De, 123_456, "EUR"), "1.234,56\u{a0}€");
        assert_eq!(money(Lang::En, 123_456, "EUR"), "€1,234.56");
        assert_eq!(money(Lang::En, 5, "EUR"), "€0.05");
        assert_eq!(money(Lang::De, 123_456_789, "EUR"), "1.234.567,89\u{a0}€");
        assert_eq!(money(Lang::En, -2_999, "GBP"), "-£29.99");
        assert_eq!(money(Lang::De, 100_000, "CHF"), "1.000,00\u{a0}CHF");
        assert_eq!(money(Lang::En, 100_000, "CHF"), "CHF 1,000.00");
        assert_eq!(number(Lang::Fr, 1_234_567), "1\u{a0}234\u{a0}567");
        assert_eq!(number(Lang::En, 999), "999");
        assert_eq!(number(Lang::Es, 12_000), "12.000");
    }

    #[test]
    fn dates_per_locale() {
        let ms = utc_ms(2026, 12, 3, 15, 30, 0).unwrap();
        assert_eq!(date(Lang::Es, ms), "03/12/2026");
        assert_eq!(date(Lang::Fr, ms), "03/12/2026");
        assert_eq!(date(Lang::De, ms), "03.12.2026");
        assert_eq!(date(Lang::En, ms), "2026-12-03");
        assert_eq!(date_text(Lang::De, "2027-01-09"), "09.01.2027");
        assert_eq!(date_text(Lang::En, "2027-01-09T10:00:00Z"), "2027-01-09");
        assert_eq!(date_text(Lang::Es, "2027-01-09T10:00:00Z"), "09/01/2027");
        assert_eq!(date_text(Lang::Fr, "soon"), "soon");
        assert_eq!(period(Lang::Es, "2026-01"), "enero de 2026");
        assert_eq!(period(Lang::Fr, "2026-08"), "août 2026");
        assert_eq!(period(Lang::De, "2026-03"), "März 2026");
        assert_eq!(period(Lang::En, "2026-12"), "2026-12");
        assert_eq!(period(Lang::En, "2026-13"), "2026-13");
    }
}
