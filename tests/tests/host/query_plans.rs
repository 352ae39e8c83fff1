//! The billing tick's queries use the indexes made for them (migration 32): with 100,000
//! subscriptions a plan that reads the services table row by row makes every tick slower as the
//! month's billing progresses (measured in `make bench`, billing section). Checked on a database
//! migrated with the app's own migrations, filled enough for SQLite to prefer the indexes.
use caas_domain::migrations::{self, queries};
use rusqlite::Connection;

fn migrated() -> Connection {
    let c = Connection::open_in_memory().unwrap();
    c.execute_batch(migrations::SCHEMA_MIGRATIONS_DDL).unwrap();
    for m in migrations::MIGRATIONS {
        for stmt in migrations::statements(m.sql) {
            c.execute_batch(&stmt).unwrap_or_else(|e| panic!("migration {} ({}): {e}\n{stmt}", m.version, m.name));
        }
    }
    c
}

/// `EXPLAIN QUERY PLAN` lines of `sql` (SQLite plans do not depend on the bound values).
fn plan(c: &Connection, sql: &str) -> Vec<String> {
    let mut stmt = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    let nulls = std::iter::repeat_n(rusqlite::types::Null, stmt.parameter_count());
    stmt.query_map(rusqlite::params_from_iter(nulls), |r| r.get::<_, String>(3)).unwrap().map(Result::unwrap).collect()
}

#[test]
fn billing_tick_queries_read_their_indexes_not_the_whole_services_table() {
    let c = migrated();
    let to_bill = plan(&c, queries::SUBSCRIPTIONS_TO_BILL);
    assert!(
        to_bill.iter().any(|l| l.contains("USING COVERING INDEX services_billing") || l.contains("USING INDEX services_billing")),
        "due subscriptions are paged through services_billing: {to_bill:?}"
    );
    assert!(!to_bill.iter().any(|l| l.starts_with("SCAN services") && !l.contains("INDEX")), "{to_bill:?}");
    assert!(!to_bill.iter().any(|l| l.contains("TEMP B-TREE")), "pages come in id order from the index: {to_bill:?}");

    let metered = plan(&c, queries::METERED_BEHIND);
    assert!(
        metered.iter().any(|l| l.contains("services_metered")),
        "metered subscriptions are found through the partial index: {metered:?}"
    );
    assert!(!metered.iter().any(|l| l.contains("TEMP B-TREE")), "{metered:?}");
}
