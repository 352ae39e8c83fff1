//! The harness itself: the component list comes from the manifest, and a component that has not
//! been built fails the test that needs it, naming the file (never a silent skip).

use caas_tests::*;

#[test]
fn the_component_list_is_every_source_of_spin_toml() {
    let files = manifest_wasm(&app_manifest());
    // Every quoted `….wasm` on a `source`/`path` line of the manifest, read as plain text.
    let text = std::fs::read_to_string(app_manifest()).unwrap();
    let named: std::collections::BTreeSet<_> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && (l.contains("source") || l.contains("path")))
        .filter_map(|l| l.split_once(".wasm\"").map(|(head, _)| head))
        .map(|head| repo_root().join(format!("{}.wasm", &head[head.rfind('"').unwrap() + 1..])))
        .collect();
    assert_eq!(files.iter().cloned().collect::<std::collections::BTreeSet<_>>(), named);
    assert!(files.len() >= 18, "{files:?}");
    assert!(files.iter().any(|f| f.ends_with("fn_auth.wasm")), "{files:?}");
    assert!(files.iter().all(|f| f.is_absolute()), "{files:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_component_not_built_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("spin.toml");
    std::fs::write(
        &manifest,
        "spin_manifest_version = 2\n[application]\nname = \"x\"\n[[trigger.http]]\nroute = \"/a\"\ncomponent = \"c\"\n[component.c]\nsource = \"not-built/c.wasm\"\n",
    )
    .unwrap();
    let err = require_components(&manifest).expect_err("a missing component must fail");
    assert!(format!("{err:#}").contains("not-built/c.wasm"), "{err:#}");
    let err = TestApp::start_with(Options { manifest, ..Options::default() }).await.err().expect("no app without its components");
    assert!(format!("{err:#}").contains("make build-wasm"), "{err:#}");
}
