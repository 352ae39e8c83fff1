//! The native floor as its own process, for `wrk` or `perf` beside `caas-runtime up`:
//! `cargo build --release -p caas-bench --examples`, then
//! `target/release/examples/hello [127.0.0.1:PORT]` serves `{"status":"ok"}` to every request
//! (the same hyper server as the bench's in-process floor, `caas_bench::native::hello_on`).
use anyhow::Result;

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:0".into());
    let bound = caas_bench::native::hello_on(&addr).await?;
    eprintln!("hello: listening on http://{bound}");
    std::future::pending::<()>().await;
    Ok(())
}
