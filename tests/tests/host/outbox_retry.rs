//! The notification outbox: the retry tick delivers, backs off while the notifier is down,
//! delivers once it is back, and escalates (never drops) after the last try.

use std::time::Duration;

use caas_sim::System;
use caas_tests::*;


#[tokio::test(flavor = "multi_thread")]
async fn notifier_down_then_up_delivers_after_backoff() {
    let t = TestApp::start().await;
    let token = t.employee_token().await;
    assert_eq!(t.post_json("/api/sales", &sale_body(10), Some(&token), Some("o-10")).await.status, 201);

    t.sims.faults(System::Notify).down(true);
    let r = t.tick("retry").await;
    assert_eq!(r["failed"], 1, "{r}");
    assert!(t.sims.notify().messages_to("lucia.10@example.com").is_empty());

    // Not due yet: a tick right away does not hammer the notifier.
    let calls = t.sims.faults(System::Notify).calls();
    let r = t.tick("retry").await;
    assert_eq!(r["processed"], 0, "{r}");
    assert_eq!(t.sims.faults(System::Notify).calls(), calls);

    // Back up; after the backoff (base 30 s, jittered, capped) the message goes out exactly once.
    t.sims.faults(System::Notify).down(false);
    t.advance(Duration::from_secs(120));
    let r = t.tick("retry").await;
    assert_eq!(r["succeeded"], 1, "{r}");
    assert_eq!(t.sims.notify().messages_to("lucia.10@example.com").len(), 1);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn notifier_failing_for_good_is_escalated_not_dropped() {
    let t = TestApp::start().await;
    let token = t.employee_token().await;
    assert_eq!(t.post_json("/api/sales", &sale_body(11), Some(&token), Some("o-11")).await.status, 201);

    t.sims.faults(System::Notify).fail_next(1000, 503);
    let mut escalated = 0;
    for _ in 0..10 {
        let r = t.tick("retry").await;
        escalated += r["escalated"].as_u64().unwrap();
        t.advance(Duration::from_secs(3600));
    }
    assert_eq!(escalated, 1, "the job is escalated once after retry_max_attempts (4)");
    // 4 tries, no more.
    assert_eq!(t.sims.faults(System::Notify).calls(), 4);

    // The escalation is visible to an admin.
    let admin = t.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let r = t.get("/api/admin/escalations", Some(&admin)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let list = r.json();
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
    // Employees' tokens are not admin tokens.
    let r = t.get("/api/admin/escalations", Some(&token)).await;
    assert_eq!(r.status, 403, "{}", r.text);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ticks_require_the_tick_secret() {
    let t = TestApp::start().await;
    let r = t.send(t.client.post(t.url("/internal/ticks/retry"))).await;
    assert_eq!(r.status, 401, "{}", r.text);
    let r = t.send(t.client.post(t.url("/internal/ticks/retry")).bearer_auth("guess")).await;
    assert_eq!(r.status, 401, "{}", r.text);
    t.stop().await;
}

/// `infra/deploy/tick-caller.sh`, the way to fire the ticks beside plain `spin up`, parses and
/// really fires them: against an app that runs no scheduler of its own, the credentials e-mail of
/// a new sale (sent only by the retry tick) arrives.
#[tokio::test(flavor = "multi_thread")]
async fn the_tick_caller_for_plain_spin_fires_the_ticks() {
    use std::os::unix::process::CommandExt;
    let script = repo_root().join("infra/deploy/tick-caller.sh");
    let syntax = std::process::Command::new("bash").arg("-n").arg(&script).output().unwrap();
    assert!(syntax.status.success(), "bash -n: {}", String::from_utf8_lossy(&syntax.stderr));

    let t = TestApp::start().await;
    let token = t.employee_token().await;
    assert_eq!(t.post_json("/api/sales", &sale_body(11), Some(&token), Some("o-11")).await.status, 201);
    let email = "lucia.11@example.com";
    assert!(t.sims.notify().messages_to(email).is_empty(), "nothing is sent before a tick runs");

    let schedules = t.state.path().join("schedules.toml");
    std::fs::write(&schedules, "[[tick]]\nname = \"retry\"\nroute = \"/internal/ticks/retry\"\nevery_seconds = 1\n").unwrap();
    let mut child = std::process::Command::new("bash")
        .arg(&script)
        .arg(t.url(""))
        .arg(&schedules)
        .env("TICK_SECRET", TICK_SECRET)
        .process_group(0)
        .spawn()
        .unwrap();
    let mut delivered = false;
    for _ in 0..100 {
        if !t.sims.notify().messages_to(email).is_empty() {
            delivered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Stop the caller and everything it started (its own process group).
    unsafe { libc_kill(-(child.id() as i32), 15) };
    let _ = child.wait();
    assert!(delivered, "the tick caller never fired the retry tick");
    t.stop().await;
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}
