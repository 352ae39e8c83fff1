//! The one keyset-paging helper: every paged list (`?cursor=&limit=`, oldest first by a row key)
//! runs its query through `keyset` and answers a `Page` (`{"items": [...], "next_cursor": ...}`,
//! the OpenAPI `…Page` schemas). Cursors are opaque (`caas_domain::expediente::encode_cursor`).
use crate::db::{Db, DbError, Row, Value, int};
use caas_domain::expediente::{PageRequest, paginate};
use serde::Serialize;

/// One page of a list.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Cut `rows` (key, item) — fetched with `LIMIT page.limit + 1` — to a page.
    pub fn of(rows: Vec<(i64, T)>, page: PageRequest) -> Page<T> {
        let (items, next_cursor) = paginate(rows, page.limit);
        Page { items, next_cursor }
    }

    /// The same page with every item turned into a view.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { items: self.items.into_iter().map(f).collect(), next_cursor: self.next_cursor }
    }
}

/// Run one page of a keyset query and map its rows to items.
///
/// `sql` selects the key as column `k` and ends with its last two placeholders being the key and
/// the limit, e.g. `… WHERE <filters on params> AND o.rowid > ? ORDER BY o.rowid LIMIT ?`:
/// `params` bind the filters, the helper appends `page.after` and `page.limit + 1`.
pub async fn keyset<T>(db: &Db, sql: &str, mut params: Vec<Value>, page: PageRequest, item: impl Fn(&Row) -> T) -> Result<Page<T>, DbError> {
    params.push(int(page.after));
    params.push(int(page.limit as i64 + 1));
    let rows = db.query(sql, params).await?;
    Ok(Page::of(rows.iter().map(|r| (r.i64("k"), item(r))).collect(), page))
}
