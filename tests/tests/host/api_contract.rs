//! The API document and the manifest agree: every path in docs/openapi.yaml is routed by spin.toml
//! to a component, every public route of spin.toml is documented, and the app serves the document.

use std::collections::BTreeMap;

use caas_runtime::manifest;
use caas_tests::*;

/// The `paths:` keys of the OpenAPI document (two-space indented `/…:` lines).
fn openapi_paths(doc: &str) -> Vec<String> {
    doc.lines()
        .filter(|l| l.starts_with("  /") && l.trim_end().ends_with(':'))
        .map(|l| l.trim().trim_end_matches(':').to_string())
        .collect()
}

/// `/api/orders/{order_id}/final-payment` → a concrete path for the router.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|s| if s.starts_with('{') { "x1" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

#[test]
fn every_documented_path_is_routed_and_every_public_route_documented() {
    let root = repo_root();
    let doc = std::fs::read_to_string(root.join("docs/openapi.yaml")).unwrap();
    let paths = openapi_paths(&doc);
    assert!(paths.len() >= 30, "{paths:?}");
    let app = manifest::load(&root.join("spin.toml"), &BTreeMap::new(), false).expect("spin.toml loads");

    let mut documented_components = std::collections::BTreeSet::new();
    for p in &paths {
        let m = app.router.route(&concrete(p)).unwrap_or_else(|| panic!("{p} is documented but no route serves it"));
        documented_components.insert(app.components[m.target].id.clone());
    }
    for (route, target) in app.router.routes() {
        let id = &app.components[target].id;
        assert!(
            documented_components.contains(id),
            "route {} (component {id}) has no path in docs/openapi.yaml",
            route.raw
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_app_serves_its_api_document() {
    let t = TestApp::start().await;
    let r = t.get("/openapi.yaml", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text, std::fs::read_to_string(repo_root().join("docs/openapi.yaml")).unwrap());
    t.stop().await;
}
