//! `caas-sim [--app-url http://127.0.0.1:3000] [--base-port 4101]`
//!
//! Starts the six simulators on fixed ports (factory base, payment base+1, iot base+2,
//! vss base+3, registry base+4, notify base+5) with automatic webhooks on.
//! Webhook secrets: CAAS_FACTORY_WEBHOOK_SECRET / CAAS_PAYMENT_WEBHOOK_SECRET.

use caas_sim::{SimConfig, SimPorts, Sims, System};

fn usage() -> ! {
    eprintln!(
        "usage: caas-sim [--app-url http://127.0.0.1:3000] [--base-port 4101] [--no-auto-webhooks]\n\
         \x20               [--factory-step-ms 3000] [--settle-delay-ms 2000] [--clock-file FILE]"
    );
    std::process::exit(2)
}

#[path = "../../exit_with_parent.rs"]
mod exit_with_parent;
use exit_with_parent::exit_with_parent;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    exit_with_parent();
    let mut app_url = Some("http://127.0.0.1:3000".to_string());
    let mut base = 4101u16;
    let mut auto = true;
    let mut step_ms = 3000u64;
    let mut settle_ms = 2000u64;
    let mut clock_file: Option<std::path::PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (a.clone(), None),
        };
        let mut value = || inline.clone().or_else(|| args.next()).unwrap_or_else(|| usage());
        match flag.as_str() {
            "--app-url" => app_url = Some(value()),
            "--base-port" => base = value().parse().unwrap_or_else(|_| usage()),
            "--no-auto-webhooks" => auto = false,
            "--factory-step-ms" => step_ms = value().parse().unwrap_or_else(|_| usage()),
            "--settle-delay-ms" => settle_ms = value().parse().unwrap_or_else(|_| usage()),
            "--clock-file" => clock_file = Some(std::path::PathBuf::from(value())),
            "-h" | "--help" => usage(),
            _ => usage(),
        }
    }
    let env = |k: &str, d: &str| std::env::var(k).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| d.to_string());
    let cfg = SimConfig {
        app_url,
        factory_webhook_secret: env("CAAS_FACTORY_WEBHOOK_SECRET", caas_sim::DEV_FACTORY_WEBHOOK_SECRET),
        payment_webhook_secret: env("CAAS_PAYMENT_WEBHOOK_SECRET", caas_sim::DEV_PAYMENT_WEBHOOK_SECRET),
        ports: Some(SimPorts::from_base(base)),
        auto_webhooks: auto,
        // The runtime's development clock (`caas-runtime up --dev-clock FILE`): webhooks are
        // signed with the app's business time, so they stay fresh after it was moved forward.
        clock: clock_file.map(|f| {
            caas_sim::SimClock::new(move || {
                let ms: i64 = std::fs::read_to_string(&f).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0);
                let now = std::time::SystemTime::now();
                if ms >= 0 { now + std::time::Duration::from_millis(ms as u64) } else { now - std::time::Duration::from_millis(ms.unsigned_abs()) }
            })
        }),
    };
    let sims = Sims::start(cfg).await?;
    sims.factory().set_auto(auto, step_ms);
    sims.payment().set_auto(auto, settle_ms, true);
    for s in System::ALL {
        println!("caas-sim: {:<9} listening on {}", s.name(), sims.url(s));
    }
    println!("caas-sim: webhooks to {} (auto: {auto})", sims.app_url().unwrap_or_default());
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    println!("caas-sim: shutting down");
    sims.shutdown().await;
    Ok(())
}
