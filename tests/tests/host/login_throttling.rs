//! Login throttling an attacker cannot turn against everyone (issue 9): per account growing
//! delays (never a lockout, admins included), per client network (the last value of the trusted
//! header; IPv6 by /64), and no race that lets parallel guesses through the limit.

use std::collections::BTreeMap;
use std::time::Duration;

use caas_tests::*;
use serde_json::json;


async fn attempt(t: &TestApp, email: &str, password: &str, headers: &[(&str, &str)]) -> Resp {
    let mut req = t.client.post(t.url("/api/auth/login")).json(&json!({"email": email, "password": password}));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    t.send(req).await
}

fn retry_after(r: &Resp) -> u64 {
    r.headers.get("retry-after").expect("Retry-After").to_str().unwrap().parse().unwrap()
}

/// The app behind a proxy that puts the client address in `x-forwarded-for`.
async fn behind_proxy() -> TestApp {
    TestApp::start_with(Options {
        variables: BTreeMap::from([("trusted_client_ip_header".to_string(), "x-forwarded-for".to_string())]),
        ..Options::default()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_parallel_guesses_get_at_most_five_password_checks() {
    let t = TestApp::start().await;
    // Fifty wrong guesses at once, each on its own connection.
    let url = t.url("/api/auth/login");
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let (client, url) = (t.client.clone(), url.clone());
            tokio::spawn(async move {
                let r = client.post(url).json(&json!({"email": ADMIN_EMAIL, "password": format!("wrong-guess-{i}")})).send().await;
                r.expect("request reaches the app").status().as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    let unauthorized = statuses.iter().filter(|s| **s == 401).count();
    let throttled = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(unauthorized + throttled, 50, "{statuses:?}");
    assert!(unauthorized <= 5, "{unauthorized} guesses reached the password check (limit 5): {statuses:?}");
    // Delays, not a lockout: the admin signs in once the (short) delay has passed.
    let r = attempt(&t, ADMIN_EMAIL, ADMIN_PASSWORD, &[]).await;
    assert_eq!(r.status, 429, "{}", r.text);
    let wait = retry_after(&r);
    assert!((1..=60).contains(&wait), "{wait}");
    t.advance(Duration::from_secs(wait));
    let r = attempt(&t, ADMIN_EMAIL, ADMIN_PASSWORD, &[]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_attacked_account_gets_growing_delays_not_a_lockout() {
    let t = behind_proxy().await;
    let attacker = [("x-forwarded-for", "203.0.113.66")];
    let victim = [("x-forwarded-for", "198.51.100.20")];
    // Five free failures, then each further guess must wait 1 s, 2 s, 4 s … after the last one.
    for i in 0..5 {
        assert_eq!(attempt(&t, EMPLOYEE_EMAIL, &format!("guess-{i}"), &attacker).await.status, 401);
    }
    let mut waits = Vec::new();
    for i in 0..4 {
        let r = attempt(&t, EMPLOYEE_EMAIL, &format!("again-{i}"), &attacker).await;
        assert_eq!(r.status, 429, "{}", r.text);
        let w = retry_after(&r);
        waits.push(w);
        t.advance(Duration::from_secs(w));
        assert_eq!(attempt(&t, EMPLOYEE_EMAIL, &format!("again-{i}"), &attacker).await.status, 401);
    }
    assert_eq!(waits, vec![1, 2, 4, 8], "growing delays");
    // The owner, from another network: only the current short delay, then the right password works.
    let r = attempt(&t, EMPLOYEE_EMAIL, EMPLOYEE_PASSWORD, &victim).await;
    assert_eq!(r.status, 429);
    let w = retry_after(&r);
    assert!(w <= 16, "{w}");
    t.advance(Duration::from_secs(w));
    assert_eq!(attempt(&t, EMPLOYEE_EMAIL, EMPLOYEE_PASSWORD, &victim).await.status, 200);
    // A success resets the account: four fresh failures cost nothing.
    for i in 0..4 {
        assert_eq!(attempt(&t, EMPLOYEE_EMAIL, &format!("later-{i}"), &attacker).await.status, 401);
    }
    assert_eq!(attempt(&t, EMPLOYEE_EMAIL, EMPLOYEE_PASSWORD, &victim).await.status, 200);
    // Delays are capped: hammering for long never locks the owner out for more than a minute.
    for i in 0..30 {
        let r = attempt(&t, EMPLOYEE_EMAIL, &format!("hammer-{i}"), &[("x-forwarded-for", &format!("192.0.2.{i}"))]).await;
        if r.status == 429 {
            let w = retry_after(&r);
            assert!(w <= 60, "{w}");
            t.advance(Duration::from_secs(w));
        }
    }
    let r = attempt(&t, EMPLOYEE_EMAIL, EMPLOYEE_PASSWORD, &victim).await;
    let w = if r.status == 429 { retry_after(&r) } else { 0 };
    assert!(w <= 60, "{w}");
    t.advance(Duration::from_secs(w));
    assert_eq!(attempt(&t, EMPLOYEE_EMAIL, EMPLOYEE_PASSWORD, &victim).await.status, 200);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spoofed_spin_client_addr_does_not_escape_the_network_limit() {
    let t = TestApp::start().await;
    // Spraying many accounts, each request claiming another address in its own
    // `spin-client-addr`: the runtime (like Spin 4.1) appends the real one after it.
    for i in 0..20 {
        let spoof = format!("10.66.{}.{}:4444", i / 200, i % 200 + 1);
        let r = attempt(&t, &format!("nobody{i}@example.com"), "guess-guess", &[("spin-client-addr", &spoof)]).await;
        assert_eq!(r.status, 401, "{i}: {}", r.text);
    }
    let r = attempt(&t, "nobody-else@example.com", "guess-guess", &[("spin-client-addr", "10.99.99.99:1")]).await;
    assert_eq!(r.status, 429, "the spoofed address escaped the per-network limit: {}", r.text);
    // That network is throttled for everyone on it until failures leave the window.
    assert_eq!(attempt(&t, ADMIN_EMAIL, ADMIN_PASSWORD, &[]).await.status, 429);
    t.advance(Duration::from_secs(15 * 60 + 1));
    assert_eq!(attempt(&t, ADMIN_EMAIL, ADMIN_PASSWORD, &[]).await.status, 200);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn behind_a_proxy_the_last_forwarded_address_counts_and_ipv6_shares_a_64() {
    let t = behind_proxy().await;
    // Twenty failures from twenty addresses of one IPv6 /64 (each also claiming an address of its
    // own in front of the proxy's value).
    for i in 0..20 {
        let xff = format!("10.0.0.{i}, 2001:db8:aa:bb:{i:x}::1");
        let r = attempt(&t, &format!("v6-{i}@example.com"), "guess-guess", &[("x-forwarded-for", &xff)]).await;
        assert_eq!(r.status, 401, "{i}: {}", r.text);
    }
    let same_64 = [("x-forwarded-for", "2001:db8:aa:bb:ffff:ffff:ffff:ffff")];
    let r = attempt(&t, EMPLOYEE_EMAIL, EMPLOYEE_PASSWORD, &same_64).await;
    assert_eq!(r.status, 429, "same /64 must share the limit: {}", r.text);
    // Another /64, and an IPv4 client, are not affected.
    assert_eq!(attempt(&t, EMPLOYEE_EMAIL, EMPLOYEE_PASSWORD, &[("x-forwarded-for", "2001:db8:aa:bc::1")]).await.status, 200);
    assert_eq!(attempt(&t, ADMIN_EMAIL, ADMIN_PASSWORD, &[("x-forwarded-for", "198.51.100.7")]).await.status, 200);
    // Without the header (a direct hit on the app), the peer address is used.
    assert_eq!(attempt(&t, ADMIN_EMAIL, ADMIN_PASSWORD, &[]).await.status, 200);
    t.stop().await;
}
