//! Billing at scale (issue 11): bills N subscriptions per size through the billing tick and
//! prints the Markdown section (`caas_bench::billing::billing_scale`).
//!
//! `cargo build --release -p caas-runtime --bins` first (the runtime runs as its own process), then
//! `cargo run --release -p caas-bench --example billing_scale -- 1000 10000 100000`
//! (sizes default to 1000 10000 100000; on 2 cores 100,000 take about 3 minutes).
use anyhow::{Context, Result};

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<()> {
    let sizes = std::env::args()
        .skip(1)
        .map(|a| a.replace(['_', ','], "").parse::<usize>().with_context(|| format!("size {a:?}: expected a number of subscriptions")))
        .collect::<Result<Vec<_>>>()?;
    let sizes = if sizes.is_empty() { vec![1_000, 10_000, 100_000] } else { sizes };
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().context("workspace root")?.to_path_buf();
    let md = caas_bench::billing::billing_scale(&root, &sizes).await?;
    println!("{md}");
    Ok(())
}
