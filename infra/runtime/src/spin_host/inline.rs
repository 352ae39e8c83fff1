//! Short SQLite reads run on the executor thread instead of the blocking pool.
//!
//! Handing every statement to tokio's blocking pool costs two thread switches (there and
//! back), which for a primary-key lookup on a warm connection is many times the lookup itself.
//! So a plain read (`SELECT` / `WITH … SELECT` that SQLite confirms read-only, or a key-value
//! get) is first tried right where the request is running, under a budget: a progress handler
//! interrupts it after [`INLINE_BUDGET`], and a busy handler gives up at once instead of
//! sleeping. An interrupted or busy read has no effect, so it is then simply run again on the
//! blocking pool, where it may take as long as it needs (with the usual busy timeout).
//! Writes and transaction control always go to the blocking pool: they may wait on the
//! database's write lock, and an interrupted write inside a transaction would undo the
//! transaction.
use std::cell::Cell;
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode};

/// How long a read may run on the executor thread before it is moved to the blocking pool.
pub(crate) const INLINE_BUDGET: Duration = Duration::from_millis(2);

/// How long a statement on the blocking pool waits for a lock (SQLite's busy timeout).
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

thread_local! {
    /// Set while a read runs inline on this thread: when it must stop.
    static INLINE_DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// SQLite VM instructions between two looks at the clock.
const PROGRESS_STEP: i32 = 1000;

/// Installs the handlers every runtime connection has (instead of `busy_timeout`): inline
/// reads stop at their deadline or at the first busy lock; other statements wait for a lock
/// up to [`BUSY_TIMEOUT`].
pub(crate) fn install(conn: &Connection) -> rusqlite::Result<()> {
    conn.progress_handler(
        PROGRESS_STEP,
        Some(|| INLINE_DEADLINE.with(|d| d.get().is_some_and(|t| Instant::now() >= t))),
    );
    conn.busy_handler(Some(busy))
}

/// Busy handler: give up at once inline; otherwise retry every millisecond (every 5 ms after
/// the first 100) until [`BUSY_TIMEOUT`] has passed. SQLite's own busy timeout backs off to
/// 25 ms sleeps; a write transaction here holds the lock for a few milliseconds, so a waiter
/// that sleeps 25 ms loses its turn to writers that came later (p99 of purchases under 8
/// concurrent clients: ~150–200 ms with the long sleeps).
fn busy(attempt: i32) -> bool {
    if INLINE_DEADLINE.with(|d| d.get().is_some()) {
        return false;
    }
    const FAST: u64 = 100;
    let attempt = attempt.max(0) as u64;
    let (delay_ms, waited_ms) = if attempt < FAST { (1, attempt) } else { (5, FAST + (attempt - FAST) * 5) };
    if waited_ms >= BUSY_TIMEOUT.as_millis() as u64 {
        return false;
    }
    std::thread::sleep(Duration::from_millis(delay_ms));
    true
}

/// Runs `f` inline under the budget. `None`: it was interrupted or met a lock (no effect on
/// the database); run it again on the blocking pool.
pub(crate) fn try_inline<R>(f: impl FnOnce() -> rusqlite::Result<R>) -> Option<rusqlite::Result<R>> {
    INLINE_DEADLINE.with(|d| d.set(Some(Instant::now() + INLINE_BUDGET)));
    let result = f();
    INLINE_DEADLINE.with(|d| d.set(None));
    match result {
        Err(e)
            if matches!(
                e.sqlite_error_code(),
                Some(ErrorCode::OperationInterrupted | ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
            ) =>
        {
            None
        }
        other => Some(other),
    }
}

/// A statement that may run inline: it starts like a query and SQLite says it is read-only
/// (which excludes `WITH … INSERT` and friends; `BEGIN`/`COMMIT`, read-only to SQLite, do not
/// start with these words).
pub(crate) fn looks_like_read(statement: &str) -> bool {
    let first = statement.trim_start().split(|c: char| !c.is_ascii_alphabetic()).next().unwrap_or("");
    first.eq_ignore_ascii_case("SELECT") || first.eq_ignore_ascii_case("WITH") || first.eq_ignore_ascii_case("VALUES")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_recognised_by_their_first_word() {
        assert!(looks_like_read("SELECT 1"));
        assert!(looks_like_read("  with x AS (SELECT 1) SELECT * FROM x"));
        assert!(!looks_like_read("BEGIN IMMEDIATE"));
        assert!(!looks_like_read("INSERT INTO t VALUES (1)"));
        assert!(!looks_like_read("PRAGMA foreign_keys"));
    }

    #[test]
    fn a_long_read_is_interrupted_inline_and_completes_outside() {
        let conn = Connection::open_in_memory().unwrap();
        install(&conn).unwrap();
        // A recursive count that takes far longer than the inline budget.
        let sql = "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 50000000) SELECT COUNT(*) FROM c";
        let inline = try_inline(|| conn.query_row(sql, [], |r| r.get::<_, i64>(0)));
        assert!(inline.is_none(), "interrupted at the budget, to be run on the blocking pool");
        // Outside an inline run the same statement is not interrupted.
        let small = "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 300000) SELECT COUNT(*) FROM c";
        assert_eq!(conn.query_row(small, [], |r| r.get::<_, i64>(0)).unwrap(), 300000);
        // A quick read completes inline.
        assert_eq!(try_inline(|| conn.query_row("SELECT 41 + 1", [], |r| r.get::<_, i64>(0))).unwrap().unwrap(), 42);
    }

    #[test]
    fn an_inline_read_gives_up_on_a_lock_instead_of_waiting() {
        let dir = std::env::temp_dir().join(format!("caas-inline-{}-{:?}", std::process::id(), std::thread::current().id()));
        let _ = std::fs::remove_file(&dir);
        let writer = Connection::open(&dir).unwrap();
        writer.execute_batch("CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (1);").unwrap();
        // Rollback-journal mode: an open write transaction with a pending change blocks readers.
        writer.execute_batch("BEGIN EXCLUSIVE; UPDATE t SET v = 2;").unwrap();
        let reader = Connection::open(&dir).unwrap();
        install(&reader).unwrap();
        let t0 = Instant::now();
        assert!(try_inline(|| reader.query_row("SELECT v FROM t", [], |r| r.get::<_, i64>(0))).is_none());
        assert!(t0.elapsed() < Duration::from_millis(500), "no busy wait inline");
        writer.execute_batch("COMMIT").unwrap();
        assert_eq!(try_inline(|| reader.query_row("SELECT v FROM t", [], |r| r.get::<_, i64>(0))).unwrap().unwrap(), 2);
        let _ = std::fs::remove_file(&dir);
    }
}
