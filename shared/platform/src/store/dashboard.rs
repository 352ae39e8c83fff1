//! The admins' dashboard: server-side aggregates over bounded windows (12 weeks, 12 months),
//! each a few indexed GROUP BY queries — never the rows themselves.
use crate::db::{Db, DbError, int};
use crate::store::services::{CATALOG_JOIN_SQL, KNOWN_NAME_SQL, option_name};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Point {
    pub label: String,
    pub value: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct OptionRate {
    pub option_code: String,
    /// The option's name as staff know it ([`crate::store::services::option_name`]).
    pub name: String,
    /// Services of this option switched on, given up on (activation failed), and still waiting
    /// for their first activation.
    pub activated: i64,
    pub failed: i64,
    pub pending: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Dashboard {
    /// Sales registered per ISO-ish week (the week's Monday, UTC), last 12 weeks.
    pub sales_per_week: Vec<Point>,
    /// Orders that reached each step of the journey (all time).
    pub funnel: Vec<Point>,
    pub ota_by_option: Vec<OptionRate>,
    /// Open escalations by age.
    pub open_escalations_by_age: Vec<Point>,
    /// Money charged and given back (refunds + voids) per month, minor units, last 12 months.
    pub revenue_per_month: Vec<Point>,
    pub refunds_per_month: Vec<Point>,
    pub collections_open: i64,
    pub collections_open_minor: i64,
}

const WEEK: i64 = 7 * 86_400_000;
const DAY: i64 = 86_400_000;

async fn points(db: &Db, sql: &str, params: Vec<crate::db::Value>) -> Result<Vec<Point>, DbError> {
    Ok(db.query(sql, params).await?.iter().map(|r| Point { label: r.str("label"), value: r.i64("value") }).collect())
}

/// The dashboard at `now`.
pub async fn dashboard(db: &Db, now: i64) -> Result<Dashboard, DbError> {
    // Weeks start on Monday (UTC); 1970-01-01 was a Thursday. The week is numbered in SQL and
    // labelled here, so that its start is defined once.
    const MONDAY_SHIFT: i64 = 3 * DAY;
    let week_of = |t: i64| (t + MONDAY_SHIFT).div_euclid(WEEK);
    let from = week_of(now) - 11;
    let sales_per_week = db
        .query("SELECT (created_at + ?1) / ?2 AS week, COUNT(*) AS value FROM orders WHERE created_at >= ?3 GROUP BY week ORDER BY week", vec![int(MONDAY_SHIFT), int(WEEK), int(from * WEEK - MONDAY_SHIFT)])
        .await?
        .iter()
        .map(|r| {
            let d = caas_domain::services::calendar::date_of(r.i64("week") * WEEK - MONDAY_SHIFT);
            Point { label: format!("{:04}-{:02}-{:02}", d.year, d.month, d.day), value: r.i64("value") }
        })
        .collect();
    let funnel = points(
        db,
        "SELECT 'registered' AS label, COUNT(*) AS value FROM orders
         UNION ALL SELECT 'reserved', COUNT(*) FROM orders WHERE status NOT IN ('reservation-pending', 'abandoned', 'cancelled')
         UNION ALL SELECT 'paid-in-full', COUNT(*) FROM orders WHERE status IN ('fully-paid','registering','matriculated','in-transit','returned-to-dealer','delivered','operational')
         UNION ALL SELECT 'delivered', COUNT(*) FROM orders WHERE status IN ('delivered','operational')
         UNION ALL SELECT 'connected', COUNT(*) FROM orders WHERE status = 'operational'",
        vec![],
    )
    .await?;
    let ota_by_option = db
        .query(
            &format!(
                "SELECT s.option_code, MAX({KNOWN_NAME_SQL}) AS known_name, SUM(s.activated_at IS NOT NULL) AS activated,
                        SUM(s.state = 'failed') AS failed, SUM(s.state = 'pending-activation') AS pending
                   FROM services s {CATALOG_JOIN_SQL} GROUP BY s.option_code ORDER BY s.option_code LIMIT 200"
            ),
            vec![],
        )
        .await?
        .iter()
        .map(|r| {
            let code = r.str("option_code");
            OptionRate {
                name: r.opt_str("known_name").unwrap_or_else(|| option_name(None, &code)),
                option_code: code,
                activated: r.i64("activated"),
                failed: r.i64("failed"),
                pending: r.i64("pending"),
            }
        })
        .collect();
    let open_escalations_by_age = points(
        db,
        "SELECT CASE WHEN ? - created_at < 86400000 THEN 'under 1 day' WHEN ? - created_at < 604800000 THEN '1-7 days' ELSE 'over 7 days' END AS label,
                COUNT(*) AS value
           FROM escalations WHERE resolution IS NULL GROUP BY label ORDER BY MIN(? - created_at)",
        vec![int(now), int(now), int(now)],
    )
    .await?;
    let month_from = now - 366 * DAY;
    let per_month = |kinds: &'static str| {
        format!(
            "SELECT strftime('%Y-%m', created_at / 1000, 'unixepoch') AS label, SUM(amount_minor) AS value
               FROM ledger WHERE kind IN ({kinds}) AND created_at >= ? GROUP BY label ORDER BY label"
        )
    };
    let revenue_per_month = points(db, &per_month("'charge'"), vec![int(month_from)]).await?;
    let refunds_per_month = points(db, &per_month("'refund','void'"), vec![int(month_from)]).await?;
    let c = db.query_one("SELECT COUNT(*) AS n, COALESCE(SUM(amount_minor), 0) AS m FROM collections WHERE status = 'open'", vec![]).await?;
    Ok(Dashboard {
        sales_per_week,
        funnel,
        ota_by_option,
        open_escalations_by_age,
        revenue_per_month,
        refunds_per_month,
        collections_open: c.as_ref().map(|r| r.i64("n")).unwrap_or(0),
        collections_open_minor: c.as_ref().map(|r| r.i64("m")).unwrap_or(0),
    })
}
