//! OpenAPI-driven fuzzing of every route (issue 9 reliability suite): schemathesis
//! (`infra/fuzz-tools.sh`, pinned) generates requests from `docs/openapi.yaml` — valid ones,
//! boundary values and garbage — against the real app, without a token and with a customer's,
//! an employee's and an admin's. Every answer must be no 5xx, of a documented content type and
//! match the documented schema of its status. Without a token everything is refused, and a
//! refused request writes no business row.

use caas_tests::*;
use std::path::PathBuf;

fn st() -> PathBuf {
    repo_root().join("target/tools/schemathesis/bin/st")
}

/// Tables whose rows a refused request may legitimately write: throttling records.
const THROTTLE_TABLES: &[&str] = &["login_failures", "password_reset_requests", "schema_migrations"];

fn business_rows(t: &TestApp) -> Vec<(String, i64)> {
    let db = t.db();
    let tables: Vec<String> = {
        let mut st = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").unwrap();
        st.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    };
    tables
        .into_iter()
        .filter(|n| !THROTTLE_TABLES.contains(&n.as_str()))
        .map(|n| {
            let c: i64 = db.query_row(&format!("SELECT COUNT(*) FROM \"{n}\""), [], |r| r.get(0)).unwrap();
            (n, c)
        })
        .collect()
}

/// Runs schemathesis against the app as `role`; panics with its report on any failure.
async fn fuzz(t: &TestApp, role: &str, token: Option<String>) {
    let st = st();
    assert!(st.exists(), "{} is missing: run `make fuzz-tools` (make test does it)", st.display());
    let mut args: Vec<String> = vec![
        "run".into(),
        repo_root().join("docs/openapi.yaml").display().to_string(),
        "--url".into(),
        t.url(""),
        "--checks".into(),
        "not_a_server_error,response_schema_conformance,content_type_conformance".into(),
        "--max-examples".into(),
        "8".into(),
        "--generation-deterministic".into(),
        // One worker: with two, hypothesis parses lambda sources from two threads and
        // CPython 3.11's ast module can fail with "AST constructor recursion depth mismatch".
        "--workers".into(),
        "1".into(),
        "--warnings".into(),
        "off".into(),
        // Operations that end the very session the fuzzer authenticates with.
        "--exclude-path".into(),
        "/api/auth/logout".into(),
        "--exclude-path".into(),
        "/api/auth/password".into(),
    ];
    if let Some(tok) = token {
        args.push("--header".into());
        args.push(format!("Authorization: Bearer {tok}"));
    }
    let cwd = t.state.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || std::process::Command::new(st).args(&args).current_dir(cwd).env("NO_COLOR", "1").output())
        .await
        .unwrap()
        .expect("schemathesis runs");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "fuzzing as {role} found problems:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_route_fuzzed_from_the_openapi_document_without_and_with_each_role() {
    let t = TestApp::start().await;
    let (customer, _, _) = customer_with_sale(&t, 1201).await;
    let employee = t.employee_token().await;
    let admin = t.admin_token().await;

    let before = business_rows(&t);
    fuzz(&t, "anonymous", None).await;
    assert_eq!(business_rows(&t), before, "refused (anonymous) requests wrote rows");

    fuzz(&t, "customer", Some(customer)).await;
    fuzz(&t, "employee", Some(employee)).await;
    fuzz(&t, "admin", Some(admin)).await;
    t.stop().await;
}
