//! Embeds the built web app (`web/dist`, made by `infra/build-web.sh`) into the component: one
//! table of (path, content type, ETag, bytes, and the gzip copy `web/build.mjs` wrote beside a
//! text file with its own ETag). Without a build the table holds one page saying
//! how to make it, so `cargo build` of the workspace never fails for a missing front end.
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("../../web/dist");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    if root.is_dir() {
        walk(&root, &root, &mut files);
    }
    files.sort();
    let mut out = String::from("pub static ASSETS: &[Asset] = &[\n");
    for (rel, abs) in &files {
        println!("cargo:rerun-if-changed={}", abs.display());
        let bytes = std::fs::read(abs).unwrap();
        let etag = hex::encode(&Sha256::digest(&bytes)[..12]);
        let gz_path = PathBuf::from(format!("{}.gz", abs.display()));
        let gzip = if gz_path.is_file() {
            println!("cargo:rerun-if-changed={}", gz_path.display());
            format!("Some(include_bytes!({:?}))", gz_path.display().to_string())
        } else {
            "None".to_string()
        };
        writeln!(
            out,
            "    Asset {{ path: {rel:?}, content_type: {ct:?}, etag: \"\\\"{etag}\\\"\", gzip_etag: \"\\\"{etag}-gz\\\"\", body: include_bytes!({abs:?}), gzip: {gzip} }},",
            ct = content_type(rel),
            abs = abs.display().to_string(),
        )
        .unwrap();
    }
    out.push_str("];\n");
    let dest = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("assets.rs");
    std::fs::write(dest, out).unwrap();
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "gz") {
            // A gzip copy: served as its file's other representation, not as a file of its own.
        } else {
            let rel = path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
            out.push((format!("/{rel}"), path.canonicalize().unwrap()));
        }
    }
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "webmanifest" => "application/manifest+json",
        "json" => "application/json",
        "pdf" => "application/pdf",
        "txt" => "text/plain; charset=utf-8",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}
