//! The collections work list (issue 8, administrators): customers at risk. Two sources in one
//! list — collection cases (`collections`: a payment that did not settle, open until a person
//! closes it) with the dunning state of the subscription charge that opened them, and
//! subscription charges still in dunning (`subscription_charges` `failed`/`unpaid` with no case
//! yet). Open items first, oldest first, then closed cases; keyset paging on (rank, since, id).
use crate::db::{Db, DbError, Row, Value, int, text};
use crate::store::services::{catalog_join_sql, known_name_sql};
use serde::Serialize;

/// The dunning state of the subscription charge behind an item.
#[derive(Debug, Clone, Serialize)]
pub struct Dunning {
    pub charge_status: String,
    pub failures: i64,
    pub next_attempt_at: Option<i64>,
    pub last_error: Option<String>,
}

/// OpenAPI `CollectionItem`.
#[derive(Debug, Clone, Serialize)]
pub struct CollectionItem {
    /// The case (`col_…`) or the subscription charge in dunning.
    pub id: String,
    /// `collection` (a case; closable) or `charge` (still retried by the billing tick).
    pub source: String,
    /// `open` or `closed`.
    pub status: String,
    pub customer_id: String,
    pub customer_name: Option<String>,
    pub customer_email: Option<String>,
    pub service_id: Option<String>,
    pub option_code: Option<String>,
    /// The service's name as the customer knows it (purchase snapshot, catalog, or code).
    pub option_name: Option<String>,
    pub service_state: Option<String>,
    pub payment_id: Option<String>,
    pub period: Option<String>,
    pub amount_minor: i64,
    pub currency: String,
    pub reason: String,
    /// Case opened / first failure (unix ms).
    pub since: i64,
    pub dunning: Option<Dunning>,
    pub closed_at: Option<i64>,
    pub closed_by: Option<String>,
    pub note: Option<String>,
    #[serde(skip)]
    rank: i64,
}

impl CollectionItem {
    pub fn closable(&self) -> bool {
        self.source == "collection" && self.status == "open"
    }
}

/// Keyset position: after (rank, since, id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub rank: i64,
    pub since: i64,
    pub id: String,
}

impl Cursor {
    /// Opaque to clients: `k` + hex of `rank|since|id`.
    pub fn encode(&self) -> String {
        let raw = format!("{}|{}|{}", self.rank, self.since, self.id);
        format!("k{}", raw.bytes().map(|b| format!("{b:02x}")).collect::<String>())
    }

    pub fn decode(c: &str) -> Option<Cursor> {
        let hex = c.strip_prefix('k')?;
        if hex.len() % 2 != 0 || hex.len() > 600 {
            return None;
        }
        let bytes: Option<Vec<u8>> = (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect();
        let raw = String::from_utf8(bytes?).ok()?;
        let mut parts = raw.splitn(3, '|');
        let rank = parts.next()?.parse().ok()?;
        let since = parts.next()?.parse().ok()?;
        Some(Cursor { rank, since, id: parts.next()?.to_string() })
    }
}

const ITEMS: &str = concat!(
    "
SELECT x.*, cu.full_name AS customer_name, cu.email AS customer_email, s.option_code AS option_code,
       ",
    known_name_sql!(),
    " AS option_name, s.state AS service_state FROM (
  SELECT 'collection' AS source, c.id AS id, c.customer_id, c.service_id, c.payment_id, c.amount_minor, c.currency, c.reason,
         c.status AS status, c.created_at AS since, c.closed_at, c.closed_by, c.note,
         sc.status AS charge_status, sc.period, sc.failures, sc.next_attempt_at, sc.last_error,
         CASE c.status WHEN 'open' THEN 0 ELSE 1 END AS rank
    FROM collections c
    LEFT JOIN subscription_charges sc ON sc.id = (SELECT sc2.id FROM subscription_charges sc2
                                                   WHERE sc2.payment_id = c.payment_id OR 'col_' || sc2.idempotency_key = c.id LIMIT 1)
  UNION ALL
  SELECT 'charge', sc.id, sc.customer_id, sc.subscription_id, sc.payment_id, sc.amount_minor, sc.currency,
         COALESCE(sc.last_error, 'subscription charge failed'), 'open', COALESCE(sc.first_failed_at, sc.created_at), NULL, NULL, NULL,
         sc.status, sc.period, sc.failures, sc.next_attempt_at, sc.last_error, 0
    FROM subscription_charges sc
   WHERE sc.status IN ('failed', 'unpaid')
     AND NOT EXISTS (SELECT 1 FROM collections c WHERE c.payment_id = sc.payment_id OR c.id = 'col_' || sc.idempotency_key)
) x
LEFT JOIN customers cu ON cu.id = x.customer_id
LEFT JOIN services s ON s.id = x.service_id
",
    catalog_join_sql!()
);

fn item(r: &Row) -> CollectionItem {
    CollectionItem {
        id: r.str("id"),
        source: r.str("source"),
        status: r.str("status"),
        customer_id: r.str("customer_id"),
        customer_name: r.opt_str("customer_name"),
        customer_email: r.opt_str("customer_email"),
        service_id: r.opt_str("service_id"),
        option_name: r.opt_str("option_name").or_else(|| r.opt_str("option_code").map(|c| crate::store::services::option_name(None, &c))),
        option_code: r.opt_str("option_code"),
        service_state: r.opt_str("service_state"),
        payment_id: r.opt_str("payment_id"),
        period: r.opt_str("period"),
        amount_minor: r.i64("amount_minor"),
        currency: r.str("currency"),
        reason: r.str("reason"),
        since: r.i64("since"),
        dunning: r.opt_str("charge_status").map(|s| Dunning {
            charge_status: s,
            failures: r.opt_i64("failures").unwrap_or(0),
            next_attempt_at: r.opt_i64("next_attempt_at"),
            last_error: r.opt_str("last_error"),
        }),
        closed_at: r.opt_i64("closed_at"),
        closed_by: r.opt_str("closed_by"),
        note: r.opt_str("note"),
        rank: r.i64("rank"),
    }
}

/// One page: `open` `Some(true)` open items only, `Some(false)` closed only, `None` both (open
/// first). Returns the items and the cursor of the next page.
pub async fn page(db: &Db, open: Option<bool>, after: Option<&Cursor>, limit: u32) -> Result<(Vec<CollectionItem>, Option<String>), DbError> {
    let rank = match open {
        None => Value::Null,
        Some(true) => int(0),
        Some(false) => int(1),
    };
    let (ar, asince, aid) = after.map_or((Value::Null, int(0), text("")), |c| (int(c.rank), int(c.since), text(&c.id)));
    let sql = format!(
        "{ITEMS}
         WHERE (? IS NULL OR x.rank = ?)
           AND (? IS NULL OR (x.rank, x.since, x.id) > (?, ?, ?))
         ORDER BY x.rank, x.since, x.id LIMIT ?"
    );
    let rows = db.query(&sql, vec![rank.clone(), rank, ar.clone(), ar, asince, aid, int(limit as i64 + 1)]).await?;
    let mut items: Vec<CollectionItem> = rows.iter().map(item).collect();
    let more = items.len() > limit as usize;
    items.truncate(limit as usize);
    let next = if more { items.last().map(|i| Cursor { rank: i.rank, since: i.since, id: i.id.clone() }.encode()) } else { None };
    Ok((items, next))
}

pub async fn by_id(db: &Db, id: &str) -> Result<Option<CollectionItem>, DbError> {
    Ok(db.query_one(&format!("{ITEMS} WHERE x.id = ? LIMIT 1"), vec![text(id)]).await?.as_ref().map(item))
}

/// Closes an open case (inside the caller's transaction); false when it was not open.
pub async fn close(tx: &Db, id: &str, by: &str, note: &str, now: i64) -> Result<bool, DbError> {
    Ok(tx
        .exec(
            "UPDATE collections SET status = 'closed', closed_at = ?, closed_by = ?, note = ? WHERE id = ? AND status = 'open'",
            vec![int(now), text(by), text(note), text(id)],
        )
        .await?
        > 0)
}

#[cfg(test)]
mod tests {
    use super::Cursor;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let c = Cursor { rank: 1, since: 1_764_547_200_000, id: "col_sub:svc_1/2026-11|x".into() };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        for bad in ["", "k", "kzz", "c1f", "k7c7c", "k31"] {
            assert_eq!(Cursor::decode(bad), None, "{bad}");
        }
    }
}
