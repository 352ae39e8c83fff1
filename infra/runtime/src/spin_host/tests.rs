//! Native tests of the Spin host backends (no Wasm involved).
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::bindings::spin::key_value::key_value::Error as KvError;
use super::bindings::spin::sqlite::sqlite::{Error as SqlError, Value};
use super::bindings::spin::variables::variables::Error as VarError;
use super::sql::{ConnInner, SqlConnection, SqlPool};
use super::*;

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "caas-spin-host-{tag}-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn grants() -> Grants {
    Grants {
        key_value_stores: vec!["default".into()],
        sqlite_databases: vec!["default".into()],
        variables: [("notify_url".to_string(), "http://127.0.0.1:9/n".to_string())].into(),
    }
}

fn exec(
    c: &ConnInner,
    sql: &str,
    params: Vec<Value>,
) -> Result<(Vec<String>, Vec<Vec<Value>>), SqlError> {
    c.execute(sql, params)
        .map(|(cols, rows)| (cols, rows.into_iter().map(|r| r.values).collect()))
}

fn count(c: &ConnInner, table: &str) -> i64 {
    match &exec(c, &format!("SELECT COUNT(*) FROM {table}"), vec![])
        .unwrap()
        .1[0][0]
    {
        Value::Integer(n) => *n,
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn spin_host_kv_roundtrip_and_persistence() {
    let dir = TempDir::new("kv");
    {
        let shared = SpinHostShared::new(&dir.0).unwrap();
        let kv = &shared.kv;
        assert_eq!(kv.get("default", "a").unwrap(), None);
        assert!(!kv.exists("default", "a").unwrap());
        kv.set("default", "a", b"one").unwrap();
        kv.set("default", "b", b"").unwrap();
        kv.set("default", "a", b"two").unwrap(); // overwrite
        assert_eq!(
            kv.get("default", "a").unwrap().as_deref(),
            Some(&b"two"[..])
        );
        assert_eq!(kv.get("default", "b").unwrap().as_deref(), Some(&b""[..]));
        assert!(kv.exists("default", "b").unwrap());
        assert_eq!(kv.keys("default").unwrap(), vec!["a", "b"]);
        kv.delete("default", "b").unwrap();
        kv.delete("default", "never-there").unwrap();
        assert_eq!(kv.keys("default").unwrap(), vec!["a"]);
    }
    // A new runtime over the same state dir sees the data.
    let shared = SpinHostShared::new(&dir.0).unwrap();
    assert_eq!(
        shared.kv.get("default", "a").unwrap().as_deref(),
        Some(&b"two"[..])
    );
    assert!(dir.0.join("kv.db").exists());
}

#[test]
fn spin_host_open_access_checks() {
    let g = grants();
    assert!(kv::check_open(&g, "default").is_ok());
    assert!(matches!(
        kv::check_open(&g, "other"),
        Err(KvError::AccessDenied)
    ));
    let g2 = Grants {
        key_value_stores: vec!["default".into(), "other".into()],
        ..grants()
    };
    assert!(matches!(
        kv::check_open(&g2, "other"),
        Err(KvError::NoSuchStore)
    ));
    let none = Grants::default();
    assert!(matches!(
        kv::check_open(&none, "default"),
        Err(KvError::AccessDenied)
    ));

    assert!(sql::check_open(&g, "default").is_ok());
    assert!(matches!(
        sql::check_open(&g, "x"),
        Err(SqlError::AccessDenied)
    ));
    let g3 = Grants {
        sqlite_databases: vec!["default".into(), "x".into()],
        ..grants()
    };
    assert!(matches!(
        sql::check_open(&g3, "x"),
        Err(SqlError::NoSuchDatabase)
    ));
    assert!(matches!(
        sql::check_open(&none, "default"),
        Err(SqlError::AccessDenied)
    ));
}

#[test]
fn spin_host_sql_value_mapping_and_counters() {
    let dir = TempDir::new("sql");
    let shared = SpinHostShared::new(&dir.0).unwrap();
    let c = ConnInner::open(shared.sqlite_path()).unwrap();
    exec(
        &c,
        "CREATE TABLE t (id INTEGER PRIMARY KEY, i INTEGER, r REAL, s TEXT, b BLOB, n TEXT)",
        vec![],
    )
    .unwrap();
    assert_eq!(c.last_insert_rowid(), 0);
    exec(
        &c,
        "INSERT INTO t (i, r, s, b, n) VALUES (?, ?, ?, ?, ?)",
        vec![
            Value::Integer(-7),
            Value::Real(2.5),
            Value::Text("héllo".into()),
            Value::Blob(vec![0, 1, 255]),
            Value::Null,
        ],
    )
    .unwrap();
    assert_eq!(c.last_insert_rowid(), 1);
    assert_eq!(c.changes(), 1);
    exec(
        &c,
        "INSERT INTO t (i) VALUES (?1), (?1)",
        vec![Value::Integer(9)],
    )
    .unwrap();
    assert_eq!(c.last_insert_rowid(), 3);
    assert_eq!(c.changes(), 2);
    let (cols, rows) = exec(
        &c,
        "SELECT i, r, s, b, n FROM t WHERE id = ?",
        vec![Value::Integer(1)],
    )
    .unwrap();
    assert_eq!(cols, vec!["i", "r", "s", "b", "n"]);
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert!(matches!(row[0], Value::Integer(-7)));
    assert!(matches!(row[1], Value::Real(r) if r == 2.5));
    assert!(matches!(&row[2], Value::Text(s) if s == "héllo"));
    assert!(matches!(&row[3], Value::Blob(b) if b == &vec![0, 1, 255]));
    assert!(matches!(row[4], Value::Null));
    // SELECT keeps the counters of the last write.
    assert_eq!(c.changes(), 2);
    let (cols, rows) = exec(&c, "SELECT * FROM t WHERE 0", vec![]).unwrap();
    assert_eq!(cols.len(), 6);
    assert!(rows.is_empty());
    exec(&c, "UPDATE t SET i = i + 1", vec![]).unwrap();
    assert_eq!(c.changes(), 3);
}

#[test]
fn spin_host_sql_errors_map_to_io() {
    let dir = TempDir::new("sqlerr");
    let shared = SpinHostShared::new(&dir.0).unwrap();
    let c = ConnInner::open(shared.sqlite_path()).unwrap();
    match exec(&c, "SELEC 1", vec![]) {
        Err(SqlError::Io(msg)) => assert!(msg.contains("syntax error"), "{msg}"),
        other => panic!("unexpected {other:?}"),
    }
    match exec(&c, "SELECT ?", vec![]) {
        Err(SqlError::Io(_)) => {}
        other => panic!("unexpected {other:?}"),
    }
    exec(&c, "CREATE TABLE p (id INTEGER PRIMARY KEY)", vec![]).unwrap();
    exec(
        &c,
        "CREATE TABLE ch (p INTEGER NOT NULL REFERENCES p(id))",
        vec![],
    )
    .unwrap();
    // foreign_keys is ON for every connection.
    match exec(&c, "INSERT INTO ch (p) VALUES (42)", vec![]) {
        Err(SqlError::Io(msg)) => assert!(msg.contains("FOREIGN KEY"), "{msg}"),
        other => panic!("unexpected {other:?}"),
    }
    match exec(
        &c,
        "INSERT INTO p (id) VALUES (1); INSERT INTO p (id) VALUES (2)",
        vec![],
    ) {
        Err(SqlError::Io(_)) => {}
        other => panic!("multiple statements must be rejected: {other:?}"),
    }
}

#[test]
fn spin_host_sql_transaction_spans_calls_and_rolls_back_on_drop() {
    let dir = TempDir::new("tx");
    let shared = SpinHostShared::new(&dir.0).unwrap();
    let path = shared.sqlite_path().to_path_buf();
    let setup = ConnInner::open(&path).unwrap();
    exec(
        &setup,
        "CREATE TABLE acc (id TEXT PRIMARY KEY, bal INTEGER NOT NULL CHECK (bal >= 0))",
        vec![],
    )
    .unwrap();
    exec(&setup, "INSERT INTO acc VALUES ('a', 10)", vec![]).unwrap();

    // Committed transaction across several execute calls on one connection.
    let c1 = ConnInner::open(&path).unwrap();
    exec(&c1, "BEGIN IMMEDIATE", vec![]).unwrap();
    exec(&c1, "INSERT INTO acc VALUES ('b', 5)", vec![]).unwrap();
    exec(&c1, "UPDATE acc SET bal = bal - 5 WHERE id = 'a'", vec![]).unwrap();
    assert_eq!(
        count(&setup, "acc"),
        1,
        "uncommitted rows are invisible to others"
    );
    exec(&c1, "COMMIT", vec![]).unwrap();
    assert_eq!(count(&setup, "acc"), 2);

    // A failing statement inside a transaction, then the resource is dropped
    // without COMMIT/ROLLBACK: everything since BEGIN is undone.
    let res = SqlConnection::for_test(ConnInner::open(&path).unwrap());
    let c2 = res.inner_for_test();
    exec(&c2, "BEGIN IMMEDIATE", vec![]).unwrap();
    exec(&c2, "INSERT INTO acc VALUES ('c', 1)", vec![]).unwrap();
    assert!(exec(&c2, "UPDATE acc SET bal = bal - 100 WHERE id = 'a'", vec![]).is_err());
    drop(c2);
    drop(res); // no tokio runtime here: closes (and rolls back) inline
    assert_eq!(count(&setup, "acc"), 2);
    // The write lock was released: another connection can write at once.
    let c3 = ConnInner::open(&path).unwrap();
    exec(&c3, "BEGIN IMMEDIATE", vec![]).unwrap();
    exec(&c3, "INSERT INTO acc VALUES ('d', 1)", vec![]).unwrap();
    exec(&c3, "COMMIT", vec![]).unwrap();
    assert_eq!(count(&setup, "acc"), 3);

    // Dropping the whole instance state (its ResourceTable) also rolls back.
    let mut state = SpinHostState::new(shared.clone(), Arc::new(grants()));
    let res = SqlConnection::for_test(ConnInner::open(&path).unwrap());
    let c4 = res.inner_for_test();
    state.table.push(res).unwrap();
    exec(&c4, "BEGIN", vec![]).unwrap();
    exec(&c4, "DELETE FROM acc", vec![]).unwrap();
    drop(c4);
    drop(state);
    assert_eq!(count(&setup, "acc"), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spin_host_sql_drop_inside_runtime_rolls_back_off_thread() {
    let dir = TempDir::new("txrt");
    let shared = SpinHostShared::new(&dir.0).unwrap();
    let path = shared.sqlite_path().to_path_buf();
    let setup = ConnInner::open(&path).unwrap();
    exec(&setup, "CREATE TABLE x (v INTEGER)", vec![]).unwrap();
    let res = SqlConnection::for_test(ConnInner::open(&path).unwrap());
    {
        let c = res.inner_for_test();
        exec(&c, "BEGIN IMMEDIATE", vec![]).unwrap();
        exec(&c, "INSERT INTO x VALUES (1)", vec![]).unwrap();
    }
    drop(res); // rollback happens on the blocking pool
    // A writer waits (busy timeout) until the rollback released the lock.
    let path2 = path.clone();
    let n = tokio::task::spawn_blocking(move || {
        let c = ConnInner::open(&path2).unwrap();
        exec(&c, "BEGIN IMMEDIATE", vec![]).unwrap();
        let n = count(&c, "x");
        exec(&c, "COMMIT", vec![]).unwrap();
        n
    })
    .await
    .unwrap();
    assert_eq!(n, 0);
}

#[test]
fn spin_host_sql_pool_reuses_only_clean_connections() {
    let dir = TempDir::new("pool");
    let shared = SpinHostShared::new(&dir.0).unwrap();
    let pool = SqlPool::new(shared.sqlite_path());
    let setup = ConnInner::open(shared.sqlite_path()).unwrap();
    exec(&setup, "CREATE TABLE t (v INTEGER)", vec![]).unwrap();

    // A closed connection in autocommit mode goes back to the pool and is handed out again,
    // with its settings (foreign keys on) intact.
    let c = ConnInner::open_pooled(&pool).unwrap();
    exec(&c, "INSERT INTO t VALUES (1)", vec![]).unwrap();
    drop(SqlConnection::for_test(c));
    assert_eq!(pool.idle_count(), 1);
    let again = ConnInner::from_idle(&pool).expect("the closed connection is reused");
    assert_eq!(pool.idle_count(), 0);
    assert!(matches!(
        exec(&again, "PRAGMA foreign_keys", vec![]).unwrap().1[0][0],
        Value::Integer(1)
    ));
    drop(again); // it read a PRAGMA: treated as changed, closed rather than pooled
    assert_eq!(pool.idle_count(), 0);

    // A transaction left open is rolled back before the connection is pooled: the next user
    // starts in autocommit mode and the abandoned rows are gone.
    let c = ConnInner::open_pooled(&pool).unwrap();
    exec(&c, "BEGIN IMMEDIATE", vec![]).unwrap();
    exec(&c, "INSERT INTO t VALUES (2)", vec![]).unwrap();
    drop(SqlConnection::for_test(c));
    assert_eq!(pool.idle_count(), 1);
    let next = ConnInner::from_idle(&pool).unwrap();
    exec(&next, "BEGIN IMMEDIATE", vec![]).expect("no transaction is open on a pooled connection");
    exec(&next, "COMMIT", vec![]).unwrap();
    assert_eq!(count(&next, "t"), 1);

    // Temporary objects would leak into the next user: such a connection is closed.
    exec(&next, "CREATE TEMP TABLE scratch (v INTEGER)", vec![]).unwrap();
    drop(next);
    assert_eq!(pool.idle_count(), 0);
    // Plain connections (not from the pool) are closed, never pooled.
    drop(ConnInner::open(shared.sqlite_path()).unwrap());
    assert_eq!(pool.idle_count(), 0);
}

#[test]
fn spin_host_variables() {
    let g = grants();
    assert_eq!(
        variables::lookup(&g, "notify_url").unwrap(),
        "http://127.0.0.1:9/n"
    );
    assert!(matches!(
        variables::lookup(&g, "payment_url"),
        Err(VarError::Undefined(_))
    ));
    for bad in ["", "Notify_url", "notify-url", "1abc", "a b", "ünï"] {
        assert!(
            matches!(variables::lookup(&g, bad), Err(VarError::InvalidName(_))),
            "{bad:?}"
        );
    }
    assert!(variables::valid_name("a1_b"));
}
