//! The customer web app (issue 7): its files as the web component serves them, and the
//! customer's screens in a real headless Chromium (Debian's chromium + chromium-driver) against
//! the real components and the simulators. `make screenshots` writes the main screens (phone and
//! desktop) to docs/screenshots with the ignored test at the end.
use std::time::Duration;

use caas_tests::browser::{Browser, DESKTOP, PHONE};
use caas_tests::*;
use serde_json::json;

/// The app on a port chosen first, so `app_url` (e-mailed links, the payment page's way back)
/// names it.
async fn web_app() -> TestApp {
    // The port is chosen before the app binds it: another test's server may take it in between;
    // then try another one.
    for _ in 0..5 {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut opts = Options { listen: Some(format!("127.0.0.1:{port}").parse().unwrap()), ..Options::default() };
        opts.variables.insert("app_url".into(), format!("http://127.0.0.1:{port}"));
        match TestApp::start_with(opts).await {
            Ok(t) => return t,
            Err(e) if format!("{e:#}").contains("cannot listen") => continue,
            Err(e) => panic!("start the app: {e:#}"),
        }
    }
    panic!("start the app: no free port after 5 tries")
}

/// Sale `n` registered by the employee and its credentials e-mail delivered: the set-password
/// link the customer received.
async fn sale_with_emailed_link(t: &TestApp, n: u32) -> (String, String) {
    let (order_id, _) = t.register_sale(&sale_body(n), &format!("web-sale-{n}")).await;
    t.tick("retry").await;
    let email = format!("lucia.{n}@example.com");
    let link = t.url(&format!("/set-password?token={}", emailed_set_password_token(t, &email)));
    (order_id, link)
}

/// The customer follows the e-mailed link, chooses a password and signs in: the dashboard.
async fn first_sign_in(b: &Browser, link: &str, email: &str) -> anyhow::Result<()> {
    b.goto(link).await?;
    b.fill("#new-password", CUSTOMER_NEW_PASSWORD).await?;
    b.fill("#confirm-password", CUSTOMER_NEW_PASSWORD).await?;
    b.click("#set-password-submit").await?;
    b.wait_url("/app/login", 15).await?;
    sign_in(b, email, CUSTOMER_NEW_PASSWORD).await
}

async fn sign_in(b: &Browser, email: &str, password: &str) -> anyhow::Result<()> {
    b.fill("#email", email).await?;
    b.fill("#password", password).await?;
    b.click("#login-submit").await?;
    b.find(".order-card, .mainnav").await?;
    Ok(())
}

fn assert_accessible(screen: &str, violations: &[String]) {
    assert!(violations.is_empty(), "serious accessibility violations on {screen}:\n{}", violations.join("\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_app_files_are_served_with_types_caching_and_a_screen_fallback() {
    let t = TestApp::start().await;
    let c = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = c.get(t.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()["location"], "/app/");

    let r = c.get(t.url("/app/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
    assert_eq!(r.headers()["cache-control"], "no-cache");
    assert!(r.headers()["content-security-policy"].to_str().unwrap().contains("default-src 'self'"));
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    let html = r.text().await.unwrap();
    // Every file the page loads is ours and fingerprinted (no outside host, no CDN).
    let assets: Vec<&str> = html.split(['"', '\'']).filter(|s| s.starts_with("/app/assets/")).collect();
    // One stylesheet, one script and the script's preloaded imports (code it shares with the
    // intranet, whose own file is loaded only for staff).
    assert_eq!(assets.iter().filter(|a| a.ends_with(".css")).count(), 1, "{html}");
    assert_eq!(html.matches("<script").count(), 1, "{html}");
    assert!(assets.iter().filter(|a| a.ends_with(".js")).count() >= 1 && !assets.iter().any(|a| a.contains("/staff-")), "{html}");
    assert!(!html.contains("http://") && !html.contains("https://"), "{html}");
    let r = c.get(t.url("/app/")).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(r.status(), 304, "revalidation with the ETag");

    for a in &assets {
        let r = c.get(t.url(a)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{a}");
        assert_eq!(r.headers()["cache-control"], "public, max-age=31536000, immutable", "{a}");
        let ct = r.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ct.starts_with(if a.ends_with(".js") { "text/javascript" } else { "text/css" }), "{a}: {ct}");
        assert!(r.headers().get("content-encoding").is_none(), "{a}: no Accept-Encoding, no encoding");
        let plain = r.bytes().await.unwrap();
        // A browser that takes gzip gets the same file in far fewer bytes; one that refuses it does not.
        let r = c.get(t.url(a)).header("accept-encoding", "gzip, deflate, br, zstd").send().await.unwrap();
        assert_eq!((r.headers()["content-encoding"].to_str().unwrap(), r.headers()["vary"].to_str().unwrap()), ("gzip", "accept-encoding"), "{a}");
        let gz = r.bytes().await.unwrap();
        let mut decoded = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut decoded).unwrap();
        assert_eq!(decoded, plain, "{a}: the gzip copy is the same file");
        assert!(gz.len() * 2 < plain.len(), "{a}: {} gzip bytes for {}", gz.len(), plain.len());
        let r = c.get(t.url(a)).header("accept-encoding", "gzip;q=0, identity").send().await.unwrap();
        assert!(r.headers().get("content-encoding").is_none(), "{a}: gzip refused with q=0");
    }
    // A screen's address (deep link, the payment page's way back) opens the app.
    let r = c.get(t.url("/app/orders/ord_anything")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("<div id=\"root\">"));
    let r = c.get(t.url("/set-password?token=abc")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // Unknown files are 404 problems, never the app page; only GET/HEAD.
    let r = c.get(t.url("/app/assets/missing.js")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let r = c.post(t.url("/app/")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "GET, HEAD");
    // The PWA: manifest, service worker, icon.
    let r = c.get(t.url("/app/manifest.webmanifest")).send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "application/manifest+json");
    let m: serde_json::Value = r.json().await.unwrap();
    assert_eq!(m["start_url"], "/app/");
    assert_eq!(m["display"], "standalone");
    let r = c.get(t.url("/app/sw.js")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("addEventListener('fetch'"));

    // The documents the expediente lists really open: PDFs served by the app.
    let (token, _, _) = customer_with_sale(&t, 1).await;
    let x = t.get("/api/expediente", Some(&token)).await.json();
    let docs = x["orders"][0]["documents"].as_array().unwrap().clone();
    assert_eq!(docs.len(), 4, "{x}");
    for d in docs {
        let url = d["url"].as_str().unwrap();
        let r = c.get(t.url(url)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{url}");
        assert_eq!(r.headers()["content-type"], "application/pdf", "{url}");
        let body = r.bytes().await.unwrap();
        assert!(body.starts_with(b"%PDF-1.4") && body.ends_with(b"%%EOF\n"), "{url}");
        assert!(body.len() > 800, "{url}: a real document, {} bytes", body.len());
    }
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn first_sign_in_from_the_emailed_link_shows_the_order_and_is_accessible_on_a_phone() {
    let t = web_app().await;
    let (order_id, link) = sale_with_emailed_link(&t, 11).await;
    let b = Browser::start("en-GB", PHONE).await.expect("browser");

    b.goto(&link).await.unwrap();
    b.wait_text("Choose your password", 15).await.unwrap();
    assert_accessible("set-password", &b.accessibility_violations().await.unwrap());
    // Too short: the API's rule is shown, nothing changes.
    b.fill("#new-password", "short").await.unwrap();
    b.fill("#confirm-password", "short").await.unwrap();
    b.click("#set-password-submit").await.unwrap();
    b.find(".alert-bad").await.unwrap();
    assert!(b.url().await.unwrap().contains("/set-password"));

    b.fill("#new-password", CUSTOMER_NEW_PASSWORD).await.unwrap();
    b.fill("#confirm-password", CUSTOMER_NEW_PASSWORD).await.unwrap();
    b.click("#set-password-submit").await.unwrap();
    b.wait_url("/app/login", 15).await.unwrap();
    b.wait_text("Your password is set", 10).await.unwrap();
    assert_accessible("login", &b.accessibility_violations().await.unwrap());

    // A wrong password: the API's message, still on the login screen.
    b.fill("#email", "lucia.11@example.com").await.unwrap();
    b.fill("#password", "not-the-password-at-all").await.unwrap();
    b.click("#login-submit").await.unwrap();
    b.find(".alert-bad").await.unwrap();

    sign_in(&b, "lucia.11@example.com", CUSTOMER_NEW_PASSWORD).await.unwrap();
    let text = b.wait_text("Reservation pending", 15).await.unwrap();
    assert!(text.contains("Pay the reservation of €1,500.00"), "{text}");
    assert!(text.contains("CAAS-SEDAN-24"), "{text}");
    assert_accessible("dashboard", &b.accessibility_violations().await.unwrap());
    // Fits a 360 px phone: nothing wider than the screen.
    let wide = b.eval("return document.documentElement.scrollWidth").await.unwrap().as_u64().unwrap();
    assert!(wide <= 360, "page is {wide}px wide on a 360px screen");

    b.click(".order-card a.button").await.unwrap();
    b.wait_url(&format!("/app/orders/{order_id}"), 10).await.unwrap();
    b.find("#pay-button").await.unwrap();
    let text = b.page_text().await.unwrap();
    assert!(text.contains("€34,500.00") && text.contains("Sale registered at the dealership"), "{text}");
    assert_accessible("order", &b.accessibility_violations().await.unwrap());

    // Everything the app loaded came from the app itself, and the first screen was light.
    let (bytes, foreign) = {
        let v = b
            .eval(
                "const e = performance.getEntriesByType('resource').concat(performance.getEntriesByType('navigation'));
                 return [e.reduce((n, x) => n + (x.encodedBodySize || 0), 0), e.map(x => x.name).filter(u => !u.startsWith(location.origin))];",
            )
            .await
            .unwrap();
        (v[0].as_u64().unwrap(), v[1].as_array().unwrap().clone())
    };
    assert!(foreign.is_empty(), "requests to other hosts: {foreign:?}");
    assert!(bytes < 200 * 1024, "{bytes} bytes loaded");
    // A customer never downloads the staff intranet's code.
    let loaded = b.eval("return performance.getEntriesByType('resource').map(x => x.name).join(' ')").await.unwrap();
    assert!(!loaded.as_str().unwrap().contains("/app/assets/staff-"), "{loaded}");
    b.close().await;
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forgotten_password_is_reset_by_the_emailed_link() {
    let t = web_app().await;
    let (_, link) = sale_with_emailed_link(&t, 12).await;
    let b = Browser::start("en-GB", DESKTOP).await.expect("browser");
    first_sign_in(&b, &link, "lucia.12@example.com").await.unwrap();
    b.click("a[href='/app/account']").await.unwrap();
    b.click("#logout").await.unwrap();
    b.wait_url("/app/login", 10).await.unwrap();

    b.click("a[href='/app/forgot']").await.unwrap();
    b.fill("#email", "lucia.12@example.com").await.unwrap();
    b.click("#reset-submit").await.unwrap();
    let sent = b.text("#reset-sent").await.unwrap();
    assert!(sent.contains("If an account exists"), "{sent}");
    // The same answer for an address without an account.
    b.goto(&t.url("/app/forgot")).await.unwrap();
    b.fill("#email", "nobody.here@example.com").await.unwrap();
    b.click("#reset-submit").await.unwrap();
    assert_eq!(b.text("#reset-sent").await.unwrap(), sent);

    t.tick("retry").await;
    assert!(t.sims.notify().messages_to("nobody.here@example.com").is_empty());
    let token = emailed_set_password_token(&t, "lucia.12@example.com");
    b.goto(&t.url(&format!("/set-password?token={token}"))).await.unwrap();
    let new_password = "A-brand-new-Passw0rd-2026";
    b.fill("#new-password", new_password).await.unwrap();
    b.fill("#confirm-password", new_password).await.unwrap();
    b.click("#set-password-submit").await.unwrap();
    b.wait_url("/app/login", 15).await.unwrap();
    sign_in(&b, "lucia.12@example.com", new_password).await.unwrap();
    b.wait_text("Reservation pending", 15).await.unwrap();
    // The link was single-use.
    b.goto(&t.url(&format!("/set-password?token={token}"))).await.unwrap();
    b.fill("#new-password", "Yet-another-Passw0rd-2026").await.unwrap();
    b.fill("#confirm-password", "Yet-another-Passw0rd-2026").await.unwrap();
    b.click("#set-password-submit").await.unwrap();
    b.find(".alert-bad").await.unwrap();
    b.close().await;
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn switching_the_language_to_german_shows_german_with_german_formats() {
    let t = web_app().await;
    let (_, link) = sale_with_emailed_link(&t, 13).await;
    let b = Browser::start("en-GB", DESKTOP).await.expect("browser");
    first_sign_in(&b, &link, "lucia.13@example.com").await.unwrap();
    b.wait_text("Reservation pending", 15).await.unwrap();
    b.click("a[href='/app/account']").await.unwrap();
    b.find("#language").await.unwrap().select_by_value("de").await.unwrap();
    b.wait_text("Abmelden", 10).await.unwrap();
    b.click("a[href='/app/']").await.unwrap();
    let text = b.wait_text("Reservierung", 15).await.unwrap().replace('\u{a0}', " ");
    assert!(text.contains("1.500,00 €"), "German money format: {text}");
    assert!(!text.contains("Reservation pending"), "{text}");
    assert_eq!(b.eval("return document.documentElement.lang").await.unwrap(), "de");
    // The choice stays after a reload.
    b.goto(&t.url("/app/")).await.unwrap();
    b.wait_text("1.500,00\u{a0}€", 15).await.unwrap();
    b.close().await;
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn another_customers_order_in_the_address_shows_not_found() {
    let t = web_app().await;
    let (other_order, _) = sale_with_emailed_link(&t, 14).await;
    let (_, link) = sale_with_emailed_link(&t, 15).await;
    let b = Browser::start("en-GB", DESKTOP).await.expect("browser");
    first_sign_in(&b, &link, "lucia.15@example.com").await.unwrap();
    b.goto(&t.url(&format!("/app/orders/{other_order}"))).await.unwrap();
    let text = b.wait_text("Not found", 15).await.unwrap();
    assert!(!text.contains("Lucía Fernández 14") && !text.contains("Pay reservation"), "{text}");
    b.goto(&t.url("/app/orders/ord_00000000000000000000000000")).await.unwrap();
    b.wait_text("Not found", 15).await.unwrap();
    b.close().await;
    t.stop().await;
}

/// Pays on the gateway's hosted page (the simulator's) with `card`; ticks "save this card" when asked.
async fn pay_on_hosted_page(b: &Browser, card: &str, save: bool) -> anyhow::Result<()> {
    b.wait_url("/checkout/", 15).await?;
    b.fill("#card-number", card).await?;
    b.fill("#card-expiry", "12/30").await?;
    b.fill("#card-cvc", "123").await?;
    b.fill("#card-name", "Lucia Fernandez").await?;
    if save {
        b.click("#save-card").await?;
    }
    b.click("#pay").await
}

/// The customer's whole journey in the browser: reservation on the hosted page (declined, then
/// abandoned, then paid and the card saved), the factory's statuses appearing, the final payment
/// with the bank's extra confirmation, delivery, linking the car, buying an option charged to the
/// saved card, watching it activate, and withdrawing within 14 days with the refund shown.
#[tokio::test(flavor = "multi_thread")]
async fn a_customer_pays_on_the_hosted_page_links_the_car_buys_and_withdraws_in_the_browser() {
    let t = web_app().await;
    let (order_id, link) = sale_with_emailed_link(&t, 21).await;
    let b = Browser::start("en-GB", DESKTOP).await.expect("browser");
    first_sign_in(&b, &link, "lucia.21@example.com").await.unwrap();
    b.goto(&t.url(&format!("/app/orders/{order_id}"))).await.unwrap();

    // Declined: back in the app, told so, nothing charged, free to try again.
    b.click("#pay-button").await.unwrap();
    pay_on_hosted_page(&b, "4000 0000 0000 0002", false).await.unwrap();
    b.wait_url("result=declined", 15).await.unwrap();
    b.wait_text("Your card was declined", 15).await.unwrap();
    // Abandoned: the payment waits; the order is still to pay.
    b.click("#pay-button").await.unwrap();
    b.wait_url("/checkout/", 15).await.unwrap();
    b.click("#cancel").await.unwrap();
    b.wait_url("result=abandoned", 15).await.unwrap();
    b.wait_text("The payment was not completed", 15).await.unwrap();
    // Paid, card saved: the order moves on by the gateway's webhook.
    b.click("#pay-button").await.unwrap();
    pay_on_hosted_page(&b, "4242 4242 4242 4242", true).await.unwrap();
    b.wait_url("result=succeeded", 15).await.unwrap();
    b.wait_text("Payment confirmed", 20).await.unwrap();
    let text = b.wait_text("Ordered from the factory", 20).await.unwrap();
    assert!(text.contains("Paid"), "{text}");
    let declined = t.sims.payment().payments().into_iter().filter(|p| p["reference"] == order_id.as_str() && p["status"] == "declined").count();
    assert_eq!(declined, 1, "one declined attempt at the gateway");

    // The factory reports; the page follows by itself.
    t.manufacture(&order_id).await;
    let text = b.wait_text("At the dealership", 30).await.unwrap();
    assert!(text.contains("Pay the remaining €33,000.00 by"), "{text}");
    // The final payment with the bank's extra confirmation step.
    b.click("#pay-button").await.unwrap();
    pay_on_hosted_page(&b, "4000 0027 6000 3184", false).await.unwrap();
    b.click("#confirm").await.unwrap();
    b.wait_url("result=succeeded", 15).await.unwrap();
    b.wait_text("Paid in full", 20).await.unwrap();

    // Registration and delivery happen; the dashboard asks to link the car.
    t.tick("retry").await;
    let staff = t.employee_token().await;
    let now = t.now_ms();
    for body in [json!({"event": "scheduled", "at": now + 86_400_000}), json!({"event": "delivered"})] {
        let r = t.delivery_event(&staff, &order_id, body).await;
        assert!(r.status == 200 || r.status == 201, "{}", r.text);
    }
    let vin = t.db().query_row("SELECT vin FROM orders WHERE id = ?1", [&order_id], |r| r.get::<_, String>(0)).unwrap();
    b.goto(&t.url("/app/")).await.unwrap();
    b.wait_text("Link the app to it", 15).await.unwrap();
    b.click("a[href='/app/link']").await.unwrap();
    b.fill("#vin", &vin).await.unwrap();
    b.fill("#link-code", "WRONG1").await.unwrap();
    b.click("#link-submit").await.unwrap();
    b.find(".alert-bad").await.unwrap();
    b.fill("#link-code", &caas_domain::vehicle::link_code(DEFAULT_LINK_CODE_SECRET, &vin)).await.unwrap();
    b.click("#link-submit").await.unwrap();
    b.wait_text("Your car is linked to the app", 15).await.unwrap();

    // Buy an option with the keyboard only: charged to the saved card, activation watched live.
    b.click("a[href='/app/catalog']").await.unwrap();
    b.find("#buy-parking-assist").await.unwrap();
    assert_accessible("catalog", &b.accessibility_violations().await.unwrap());
    b.tab_to_and_press_enter("#buy-parking-assist", 60).await.unwrap();
    b.wait_text("Charged once it is active on your car", 10).await.unwrap();
    // A modal dialog: focus is in it as soon as it shows, and Tab / Shift+Tab go round its two
    // buttons (confirm, cancel) without reaching the page behind it.
    assert_eq!(b.eval("return document.activeElement.id").await.unwrap(), "confirm-buy");
    assert_eq!(b.press_tab(2, false).await.unwrap(), "confirm-buy");
    assert_eq!(b.press_tab(3, true).await.unwrap(), "Cancel");
    assert_eq!(b.press_tab(1, false).await.unwrap(), "confirm-buy");
    b.tab_to_and_press_enter("#confirm-buy", 5).await.unwrap();
    b.wait_url("/app/services/svc_", 15).await.unwrap();
    b.wait_text("Sending the feature to your car", 15).await.unwrap();
    let payment = t
        .sims
        .payment()
        .payments()
        .into_iter()
        .find(|p| p["kind"] == "service")
        .expect("the option's payment at the gateway");
    assert!(payment["payment-method"].as_str().is_some_and(|m| m.starts_with("pm_")), "charged to the saved card: {payment}");
    t.sims.payment().settle(payment["payment-id"].as_str().unwrap(), true).await.unwrap();
    t.tick("ota").await;
    b.wait_text("Active on your car since", 20).await.unwrap();

    // Withdraw within 14 days: the rule before confirming, the refund after.
    b.click("#cancel-service").await.unwrap();
    b.wait_text("within the 14-day withdrawal period", 10).await.unwrap();
    b.click("#confirm-cancel").await.unwrap();
    let outcome = b.text("#cancel-outcome").await.unwrap();
    assert!(outcome.contains("Refund: €599.00"), "{outcome}");
    assert_accessible("service", &b.accessibility_violations().await.unwrap());

    // A subscription: nothing charged up front, the next charge shown once active.
    b.goto(&t.url("/app/catalog")).await.unwrap();
    b.click("#buy-entertainment-plus").await.unwrap();
    b.wait_text("Billed monthly at the end of each month", 10).await.unwrap();
    b.click("#confirm-buy").await.unwrap();
    b.wait_url("/app/services/svc_", 15).await.unwrap();
    t.tick("ota").await;
    b.wait_text("Active on your car since", 20).await.unwrap();
    b.click("a[href='/app/services']").await.unwrap();
    let text = b.wait_text("Next charge", 15).await.unwrap();
    assert!(text.contains("Parking Assist") && text.contains("Withdrawn"), "{text}");
    // The charge the billing tick will take on the 1st: this month pro rata from the activation.
    let activated: i64 = t
        .db()
        .query_row("SELECT activated_at FROM services WHERE option_code = 'entertainment-plus' AND state = 'active'", [], |r| r.get(0))
        .unwrap();
    let price = caas_domain::wit::Money { amount_minor: 999, currency: "EUR".into() };
    let terms = caas_domain::services::billing::SubscriptionTerms { subscription_id: "-", price: &price, activated_at: activated, billing_ends_at: None, last_billed: None };
    let due = caas_domain::services::billing::next_charge(&terms, t.now_ms()).expect("a charge to come");
    let amount = format!("€{}.{:02}", due.amount.amount_minor / 100, due.amount.amount_minor % 100);
    assert!(text.contains(&format!("{amount}{}", if due.prorated { " (part of the month)" } else { "" })), "{amount}: {text}");

    // The account shows the saved card (brand and last four digits only).
    b.click("a[href='/app/account']").await.unwrap();
    b.wait_text("•••• 4242", 15).await.unwrap();
    let cards = b.text("#payment-methods").await.unwrap();
    assert!(cards.contains("4242") && !cards.contains("4242 4242"), "{cards}");
    assert_accessible("account", &b.accessibility_violations().await.unwrap());
    b.click("a[href='/app/expediente']").await.unwrap();
    b.wait_text("Invoices", 15).await.unwrap();
    assert_accessible("documents", &b.accessibility_violations().await.unwrap());
    b.close().await;
    t.stop().await;
}

/// The intranet: a support agent works a failed activation (sees the tries and the vehicle's
/// status, notes it, retries it — the new command succeeds and the service is active), an
/// employee re-issues a customer's credentials, an admin reads both actions in the audit log.
#[tokio::test(flavor = "multi_thread")]
async fn support_retries_a_failed_activation_an_employee_reissues_credentials_an_admin_audits() {
    use caas_tests::caas_sim::System;
    let t = web_app().await;
    let (token, vin) = operational_vehicle(&t, 41).await;
    let s = t.bought_service(&token, &vin, "entertainment-plus", "web-buy-ent").await;
    let service_id = s["id"].as_str().unwrap().to_string();
    t.sims.faults(System::Iot).fail_rate(1.0);
    for _ in 0..4 {
        t.tick("ota").await;
        t.advance(Duration::from_secs(3600));
    }
    assert_eq!(t.service_state(&service_id), "failed");
    t.sims.faults(System::Iot).reset();

    let b = Browser::start("en-GB", DESKTOP).await.expect("browser");
    b.goto(&t.url("/app/login")).await.unwrap();
    b.fill("#email", SUPPORT_EMAIL).await.unwrap();
    b.fill("#password", SUPPORT_PASSWORD).await.unwrap();
    b.click("#login-submit").await.unwrap();
    b.wait_url("/app/staff/support", 15).await.unwrap();
    b.click("#tickets a").await.unwrap();
    let text = b.wait_text("Entertainment Plus", 15).await.unwrap();
    assert!(text.contains("Attempts") && text.contains("Lucía Fernández 41"), "{text}");
    assert_accessible("support ticket", &b.accessibility_violations().await.unwrap());
    b.fill("#ticket-note", "Customer called; vehicle back online").await.unwrap();
    b.click("#ticket-note-add").await.unwrap();
    b.wait_text("Customer called; vehicle back online", 15).await.unwrap();
    b.click("#ticket-retry").await.unwrap();
    b.wait_text("Done.", 15).await.unwrap();
    t.tick("ota").await;
    assert_eq!(t.service_state(&service_id), "active", "the retried command switched it on");
    b.click("a[href='/app/account']").await.unwrap();
    b.click("#logout").await.unwrap();

    // An employee re-issues the customer's credentials from the sale.
    let order_id = t.db().query_row("SELECT id FROM orders WHERE vin = ?1", [&vin], |r| r.get::<_, String>(0)).unwrap();
    b.wait_url("/app/login", 15).await.unwrap();
    b.fill("#email", EMPLOYEE_EMAIL).await.unwrap();
    b.fill("#password", EMPLOYEE_PASSWORD).await.unwrap();
    b.click("#login-submit").await.unwrap();
    // The sale form: a new customer registered, the credentials e-mail in their language.
    b.wait_url("/app/staff/new-sale", 15).await.unwrap();
    for (field, value) in [
        ("#sale-full_name", "Jeanne Martin"),
        ("#sale-email", "jeanne.martin@example.com"),
        ("#sale-phone", "+33612345678"),
        ("#sale-national_id", "FR-AB123456"),
        ("#sale-line1", "12 rue de la Paix"),
        ("#sale-postal_code", "75002"),
        ("#sale-city", "Paris"),
    ] {
        b.fill(field, value).await.unwrap();
    }
    // The model from the price list, its list price shown.
    let option = b.text("#sale-model option[value='CAAS-HATCH-24']").await.unwrap();
    assert!(option.contains("€24,900.00"), "{option}");
    b.find("#sale-model").await.unwrap().select_by_value("CAAS-HATCH-24").await.unwrap();
    b.find("#sale-country").await.unwrap().select_by_value("FR").await.unwrap();
    b.click("#plan-heated-seats").await.unwrap();
    assert_accessible("sale form", &b.accessibility_violations().await.unwrap());
    b.click("#sale-submit").await.unwrap();
    let done = b.text("#sale-done").await.unwrap();
    assert!(done.contains("jeanne.martin@example.com"), "{done}");
    t.tick("retry").await;
    let mails = t.sims.notify().messages_to("jeanne.martin@example.com");
    let credentials = mails.iter().find(|m| m["template"] == "credentials").expect("credentials e-mail");
    assert!(credentials["body"].as_str().unwrap().contains("/set-password?token="), "{credentials}");
    assert_eq!(t.count("SELECT COUNT(*) FROM customers WHERE email = 'jeanne.martin@example.com' AND language = 'fr'"), 1, "French preselected from the country");

    b.click("a[href='/app/staff/sale']").await.unwrap();
    b.fill("#sale-id", &order_id).await.unwrap();
    b.click("#sale-open").await.unwrap();
    b.click("#reissue").await.unwrap();
    let done = b.text("#reissued").await.unwrap();
    assert!(done.contains("lucia.41@example.com"), "{done}");
    // The customer's old session ended; a new link is on its way.
    assert_eq!(t.get("/api/orders", Some(&token)).await.status, 401);
    t.tick("retry").await;
    let links = t.sims.notify().messages_to("lucia.41@example.com").iter().filter(|m| m["template"] == "credentials").count();
    assert_eq!(links, 2, "the sale's credentials e-mail and the re-issued one");
    b.click("a[href='/app/account']").await.unwrap();
    b.click("#logout").await.unwrap();

    // The admin reads both actions in the audit log.
    b.wait_url("/app/login", 15).await.unwrap();
    b.fill("#email", ADMIN_EMAIL).await.unwrap();
    b.fill("#password", ADMIN_PASSWORD).await.unwrap();
    b.click("#login-submit").await.unwrap();
    b.wait_url("/app/staff/dashboard", 15).await.unwrap();
    b.click("a[href='/app/staff/audit']").await.unwrap();
    let audit = b.wait_text("support.ticket.retry", 15).await.unwrap();
    assert!(audit.contains("staff.customer.reissue-credentials") && audit.contains("support.ticket.note"), "{audit}");
    assert_accessible("audit log", &b.accessibility_violations().await.unwrap());
    b.close().await;
    t.stop().await;
}

/// Staff accounts: an admin invites an employee in the intranet; the employee sets a password
/// from the invitation and works; the admin disables the account mid-session — the employee's
/// next request is refused, sign-in and password reset no longer work.
#[tokio::test(flavor = "multi_thread")]
async fn an_admin_invites_an_employee_who_signs_in_then_disables_them_mid_session() {
    let t = web_app().await;
    let admin = Browser::start("en-GB", DESKTOP).await.expect("browser");
    admin.goto(&t.url("/app/login")).await.unwrap();
    admin.fill("#email", ADMIN_EMAIL).await.unwrap();
    admin.fill("#password", ADMIN_PASSWORD).await.unwrap();
    admin.click("#login-submit").await.unwrap();
    admin.wait_url("/app/staff/", 15).await.unwrap();
    admin.click("a[href='/app/staff/accounts']").await.unwrap();
    admin.fill("#staff-email", "marta.ruiz@caas.test").await.unwrap();
    admin.find("#staff-role").await.unwrap().select_by_value("employee").await.unwrap();
    admin.click("#staff-invite").await.unwrap();
    admin.wait_text("Invitation sent to marta.ruiz@caas.test", 15).await.unwrap();
    assert_accessible("staff accounts", &admin.accessibility_violations().await.unwrap());

    // The invitation's link: the employee chooses a password and signs in.
    t.tick("retry").await;
    let mail = t.sims.notify().messages_to("marta.ruiz@caas.test").into_iter().find(|m| m["template"] == "staff-invitation").expect("invitation e-mail");
    let body = mail["body"].as_str().unwrap();
    let at = body.find("/set-password?token=").expect("link") + "/set-password?token=".len();
    let token: String = body[at..].chars().take_while(|c| c.is_ascii_hexdigit()).collect();
    let employee = Browser::start("es-ES", DESKTOP).await.expect("browser");
    employee.goto(&t.url(&format!("/set-password?token={token}"))).await.unwrap();
    let password = "Marta-chooses-a-Passw0rd";
    employee.fill("#new-password", password).await.unwrap();
    employee.fill("#confirm-password", password).await.unwrap();
    employee.click("#set-password-submit").await.unwrap();
    employee.wait_url("/app/login", 15).await.unwrap();
    employee.fill("#email", "marta.ruiz@caas.test").await.unwrap();
    employee.fill("#password", password).await.unwrap();
    employee.click("#login-submit").await.unwrap();
    employee.wait_url("/app/staff/new-sale", 15).await.unwrap();
    employee.wait_text("Registrar una venta", 10).await.unwrap();

    // Disabled while signed in: the next request is refused and sign-in fails.
    admin.goto(&t.url("/app/staff/accounts")).await.unwrap();
    admin.find("li[data-email='marta.ruiz@caas.test'] button").await.unwrap().click().await.unwrap();
    admin.wait_text("Disabled", 15).await.unwrap();
    employee.click("a[href='/app/staff/deliveries']").await.unwrap();
    employee.wait_url("/app/login", 15).await.unwrap();
    let r = t.post_json("/api/auth/login", &json!({"email": "marta.ruiz@caas.test", "password": password}), None, None).await;
    assert_eq!(r.status, 401, "{}", r.text);
    let r = t.post_json("/api/auth/password-reset", &json!({"email": "marta.ruiz@caas.test"}), None, None).await;
    assert_eq!(r.status, 202);
    t.tick("retry").await;
    let resets = t.sims.notify().messages_to("marta.ruiz@caas.test").iter().filter(|m| m["template"] == "password-reset").count();
    assert_eq!(resets, 0, "no reset link for a disabled account");
    let audit = t.count("SELECT COUNT(*) FROM audit_log WHERE action IN ('admin.staff.create', 'admin.staff.disable')");
    assert_eq!(audit, 2);
    employee.close().await;
    admin.close().await;
    t.stop().await;
}

/// An escalated factory order, re-queued by an admin in the intranet, completes once the factory
/// answers again; another escalation is marked handled with a note; OTA commands are never
/// re-queued by admins.
#[tokio::test(flavor = "multi_thread")]
async fn an_admin_requeues_an_escalated_factory_order_which_then_completes() {
    use caas_tests::caas_sim::System;
    let t = web_app().await;
    let (token, order_id, _) = customer_with_sale(&t, 51).await;
    let c = Customer { email: "lucia.51@example.com".into(), token, order_id: order_id.clone(), customer_id: String::new() };
    t.sims.faults(System::Factory).fail_next(1000, 503);
    t.pay_and_settle(&c, "reservation").await;
    for _ in 0..8 {
        t.tick("retry").await;
        t.advance(Duration::from_secs(3600));
    }
    assert_eq!(t.order(&c).await["status"], "reserved", "the factory order gave up");
    t.sims.faults(System::Factory).reset();

    let b = Browser::start("en-GB", DESKTOP).await.expect("browser");
    b.goto(&t.url("/app/login")).await.unwrap();
    b.fill("#email", ADMIN_EMAIL).await.unwrap();
    b.fill("#password", ADMIN_PASSWORD).await.unwrap();
    b.click("#login-submit").await.unwrap();
    b.wait_url("/app/staff/", 15).await.unwrap();
    b.click("a[href='/app/staff/escalations']").await.unwrap();
    b.wait_text("place-factory-order", 15).await.unwrap();
    assert_accessible("escalations", &b.accessibility_violations().await.unwrap());
    b.click(".escalation button.requeue").await.unwrap();
    b.wait_text("Re-queued", 15).await.unwrap();
    t.tick("retry").await;
    assert_eq!(t.order(&c).await["status"], "factory-ordered", "the re-queued job placed the order");
    // Resolved once: the API refuses a second resolution.
    let admin = t.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let list = t.get("/api/admin/escalations", Some(&admin)).await.json();
    let esc = list["items"].as_array().unwrap().iter().find(|e| e["kind"] == "place-factory-order").unwrap().clone();
    assert_eq!(esc["resolution"], "requeued");
    let again = t.post_json(&format!("/api/admin/escalations/{}/requeue", esc["id"].as_str().unwrap()), &json!({}), Some(&admin), None).await;
    assert_eq!(again.status, 409, "{}", again.text);
    let staff = t.employee_token().await;
    let r = t.post_json(&format!("/api/admin/escalations/{}/handled", esc["id"].as_str().unwrap()), &json!({"note": "x"}), Some(&staff), None).await;
    assert_eq!(r.status, 403, "employees do not resolve escalations");
    assert_eq!(t.count("SELECT COUNT(*) FROM audit_log WHERE action = 'admin.escalation.requeued'"), 1);
    b.close().await;
    t.stop().await;
}

/// The catalog in the intranet: an admin adds an option, reprices one and retires another; the
/// catalog customers see follows.
#[tokio::test(flavor = "multi_thread")]
async fn an_admin_adds_reprices_and_retires_catalog_options() {
    let t = web_app().await;
    let b = Browser::start("es-ES", DESKTOP).await.expect("browser");
    b.goto(&t.url("/app/login")).await.unwrap();
    b.fill("#email", ADMIN_EMAIL).await.unwrap();
    b.fill("#password", ADMIN_PASSWORD).await.unwrap();
    b.click("#login-submit").await.unwrap();
    b.wait_url("/app/staff/", 15).await.unwrap();
    b.click("a[href='/app/staff/catalog']").await.unwrap();
    b.wait_text("Catálogo", 15).await.unwrap();
    b.find("li[data-code='heated-seats']").await.unwrap();
    assert_accessible("catalog admin", &b.accessibility_violations().await.unwrap());
    b.fill("#opt-code", "winter-pack-30d").await.unwrap();
    b.fill("#opt-name", "Winter Pack (30 days)").await.unwrap();
    b.fill("#opt-description", "Heated seats, wheel and screen for thirty days.").await.unwrap();
    b.fill("#opt-price", "29,90").await.unwrap();
    b.find("#opt-kind").await.unwrap().select_by_value("temporary").await.unwrap();
    b.fill("#opt-days", "30").await.unwrap();
    b.click("#opt-add").await.unwrap();
    b.wait_text("Guardado", 15).await.unwrap();
    b.fill("#price-heated-seats", "349").await.unwrap();
    b.click("li[data-code='heated-seats'] .reprice").await.unwrap();
    b.wait_text("349,00", 15).await.unwrap();
    b.click("li[data-code='premium-audio'] .retire").await.unwrap();
    b.find("li[data-code='premium-audio'] .chip-muted").await.unwrap();

    let staff = t.employee_token().await;
    let cat = t.get("/api/catalog", Some(&staff)).await.json();
    let opts = cat["options"].as_array().unwrap();
    let find = |code: &str| opts.iter().find(|o| o["code"] == code).cloned();
    let winter = find("winter-pack-30d").expect("new option on sale");
    assert_eq!((winter["price"]["amount_minor"].as_i64(), winter["duration_days"].as_i64()), (Some(2990), Some(30)), "{winter}");
    assert_eq!(find("heated-seats").unwrap()["price"]["amount_minor"], 34900);
    assert!(find("premium-audio").is_none(), "retired options are not offered");
    b.close().await;
    t.stop().await;
}

/// The admins' dashboard charts the real data (funnel, revenue); reconciliation in the intranet: a
/// paid reservation agrees with the gateway, a planted ledger row no gateway payment holds is shown
/// as a difference with both sides.
#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_charts_the_real_data_and_reconciliation_shows_a_planted_difference() {
    let t = web_app().await;
    let (token, order_id, customer_id) = customer_with_sale(&t, 61).await;
    let c = Customer { email: "lucia.61@example.com".into(), token, order_id: order_id.clone(), customer_id };
    t.pay_and_settle(&c, "reservation").await;
    t.db()
        .execute(
            "INSERT INTO ledger(id, idempotency_key, kind, amount_minor, currency, order_id, reference, created_at)
             VALUES ('led_planted', 'planted:1', 'charge', 5000, 'EUR', ?1, 'pay_PLANTED0001', 0)",
            [&order_id],
        )
        .unwrap();
    let b = Browser::start("en-GB", DESKTOP).await.expect("browser");
    b.goto(&t.url("/app/login")).await.unwrap();
    b.fill("#email", ADMIN_EMAIL).await.unwrap();
    b.fill("#password", ADMIN_PASSWORD).await.unwrap();
    b.click("#login-submit").await.unwrap();
    // The dashboard admins land on: charts drawn from the real data, numbers behind each.
    b.wait_url("/app/staff/dashboard", 15).await.unwrap();
    let funnel = b.find("#chart-funnel svg").await.unwrap().attr("aria-label").await.unwrap().unwrap_or_default();
    assert!(funnel.contains("Registered 1") && funnel.contains("Reserved 1") && funnel.contains("Connected 0"), "{funnel}");
    let revenue = b.find("#chart-revenue svg").await.unwrap().attr("aria-label").await.unwrap().unwrap_or_default();
    assert!(revenue.contains("€1,500.00"), "the settled reservation: {revenue}");
    // Every bar's figure and label is drawn inside its chart, the tallest bar's figure too (not
    // cut off at the top) and the first bar's label (not cut off at the left).
    let drawn = b
        .eval(
            "const t = [...document.querySelectorAll('.chart svg text')];
             return [t.length, t.filter((x) => { const s = x.ownerSVGElement.getBoundingClientRect(), r = x.getBoundingClientRect();
                                                 return r.top < s.top || r.bottom > s.bottom || r.left < s.left || r.right > s.right; }).length];",
        )
        .await
        .unwrap();
    assert!(drawn[0].as_u64().unwrap() >= 10 && drawn[1] == 0, "bar figures and labels drawn / cut off: {drawn}");
    // The external systems' circuit breakers, all closed here.
    b.wait_text("External systems", 15).await.unwrap();
    let breakers = b.text("#breakers").await.unwrap();
    for system in ["factory API", "payment gateway", "IoT API", "VSS"] {
        assert!(breakers.contains(system), "{system}: {breakers}");
    }
    assert_eq!(breakers.matches("closed").count(), 4, "{breakers}");
    assert_accessible("dashboard", &b.accessibility_violations().await.unwrap());
    b.click("a[href='/app/staff/reconciliation']").await.unwrap();
    let summary = b.text("#reconciliation-summary").await.unwrap();
    assert!(summary.contains("1 differences"), "{summary}");
    let table = b.text("#differences").await.unwrap();
    assert!(table.contains("pay_PLANTED0001") && table.contains("€50.00"), "{table}");
    assert!(!table.contains(&order_id), "the paid reservation agrees: {table}");
    assert_accessible("reconciliation", &b.accessibility_violations().await.unwrap());
    let staff = t.employee_token().await;
    assert_eq!(t.get("/api/admin/reconciliation", Some(&staff)).await.status, 403);
    b.close().await;
    // The planted row is not the app's: remove it before the harness checks the books.
    t.db().execute("DELETE FROM ledger WHERE id = 'led_planted'", []).unwrap();
    t.stop().await;
}

/// An employee finds a sale in the intranet and cancels it before it is paid for: the reason is
/// recorded, the customer's order shows it cancelled.
#[tokio::test(flavor = "multi_thread")]
async fn an_employee_finds_a_sale_and_cancels_it_before_it_is_paid_for() {
    let t = web_app().await;
    let (token, order_id, _) = customer_with_sale(&t, 71).await;
    let b = Browser::start("en-GB", DESKTOP).await.expect("browser");
    b.goto(&t.url("/app/login")).await.unwrap();
    b.fill("#email", EMPLOYEE_EMAIL).await.unwrap();
    b.fill("#password", EMPLOYEE_PASSWORD).await.unwrap();
    b.click("#login-submit").await.unwrap();
    b.wait_url("/app/staff/", 15).await.unwrap();
    b.click("a[href='/app/staff/orders']").await.unwrap();
    b.fill("#order-q", "lucia.71@").await.unwrap();
    b.click("#order-search").await.unwrap();
    b.wait_text("Lucía Fernández 71", 15).await.unwrap();
    assert_accessible("orders", &b.accessibility_violations().await.unwrap());
    b.click("#orders a").await.unwrap();
    b.wait_url(&format!("/app/staff/orders/{order_id}"), 15).await.unwrap();
    b.fill("#cancel-reason", "Customer changed their mind at the dealership").await.unwrap();
    b.click("#cancel-sale").await.unwrap();
    b.wait_text("Sale cancelled.", 15).await.unwrap();
    b.wait_text("Cancelled by the dealership", 15).await.unwrap();
    assert_eq!(t.get(&format!("/api/orders/{order_id}"), Some(&token)).await.json()["status"], "cancelled");
    b.close().await;
    t.stop().await;
}

/// French and German staff get the intranet in their own language (they saw English before): a
/// German employee's menu and sale form, a French admin's dashboard down to its charts' labels.
#[tokio::test(flavor = "multi_thread")]
async fn french_and_german_staff_see_the_intranet_in_their_language() {
    let t = web_app().await;
    let b = Browser::start("de-DE", DESKTOP).await.expect("browser");
    staff_sign_in(&b, &t, EMPLOYEE_EMAIL, EMPLOYEE_PASSWORD).await;
    let nav = b.text("nav.staffnav").await.unwrap();
    assert!(nav.contains("Neuer Verkauf") && nav.contains("Preisliste"), "{nav}");
    assert!(!nav.contains("New sale") && !nav.contains("Price list"), "{nav}");
    b.click("a[href='/app/staff/new-sale']").await.unwrap();
    b.wait_text("Verkauf erfassen", 15).await.unwrap();
    assert_accessible("sale form (de)", &b.accessibility_violations().await.unwrap());
    b.close().await;

    let b = Browser::start("fr-FR", DESKTOP).await.expect("browser");
    staff_sign_in(&b, &t, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    b.wait_text("Ventes par semaine", 15).await.unwrap();
    b.wait_text("Systèmes externes", 15).await.unwrap();
    let page = b.page_text().await.unwrap();
    for english in ["Sales per week", "The numbers", "External systems", "Orders", "Ledger", "Collections at risk", "Failures in a row"] {
        assert!(!page.contains(english), "{english:?} left in English: {page}");
    }
    let funnel = b.find("#chart-funnel svg").await.unwrap().attr("aria-label").await.unwrap().unwrap_or_default();
    assert!(funnel.contains("Enregistrées 0") && funnel.contains("Connectées 0"), "{funnel}");
    // The intranet's code came as its own file, after sign-in.
    let loaded = b.eval("return performance.getEntriesByType('resource').map(x => x.name).join(' ')").await.unwrap();
    assert!(loaded.as_str().unwrap().contains("/app/assets/staff-"), "{loaded}");
    b.close().await;
    t.stop().await;
}

async fn staff_sign_in(b: &Browser, t: &TestApp, email: &str, password: &str) {
    b.goto(&t.url("/app/login")).await.unwrap();
    b.fill("#email", email).await.unwrap();
    b.fill("#password", password).await.unwrap();
    b.click("#login-submit").await.unwrap();
    b.wait_url("/app/staff/", 15).await.unwrap();
}

async fn sign_out(b: &Browser) {
    b.click("a[href='/app/account']").await.unwrap();
    b.click("#logout").await.unwrap();
    b.wait_url("/app/login", 15).await.unwrap();
}

/// The customer part of the sale form (`#sale-<field>`).
async fn fill_sale_customer(b: &Browser, fields: &[(&str, &str)]) {
    for (field, value) in fields {
        b.fill(&format!("#sale-{field}"), value).await.unwrap();
    }
}

/// Issues 8/10: the price list screen; an employee registers a sale in the form choosing the
/// model from the price list, with financing terms; the customer gets the e-mail, sets a password
/// and sees the financing and the reduced final payment on the order page and in the documents.
#[tokio::test(flavor = "multi_thread")]
async fn an_employee_sells_a_financed_car_from_the_price_list_and_the_customer_sees_the_reduced_final_payment() {
    let t = web_app().await;
    let b = Browser::start("en-GB", DESKTOP).await.expect("browser");
    staff_sign_in(&b, &t, EMPLOYEE_EMAIL, EMPLOYEE_PASSWORD).await;
    b.click("a[href='/app/staff/price-list']").await.unwrap();
    b.wait_text("Plan comercial options", 15).await.unwrap();
    let sedan = b.text("#model-CAAS-SEDAN-24").await.unwrap();
    assert!(sedan.contains("€34,500.00") && sedan.contains("CAAS-SEDAN-24"), "{sedan}");
    let seats = b.text("#option-heated-seats").await.unwrap();
    assert!(seats.contains('€'), "{seats}");
    assert_accessible("price list", &b.accessibility_violations().await.unwrap());

    b.click("a[href='/app/staff/new-sale']").await.unwrap();
    b.wait_url("/app/staff/new-sale", 15).await.unwrap();
    let email = "marta.ruiz@example.com";
    fill_sale_customer(
        &b,
        &[("full_name", "Marta Ruiz"), ("email", email), ("phone", "+34600333444"), ("national_id", "Y1234567X"), ("line1", "Calle Alcalá 10"), ("postal_code", "28014"), ("city", "Madrid")],
    )
    .await;
    let option = b.text("#sale-model option[value='CAAS-SEDAN-24']").await.unwrap();
    assert!(option.contains("€34,500.00"), "{option}");
    b.find("#sale-model").await.unwrap().select_by_value("CAAS-SEDAN-24").await.unwrap();
    // The customer reads English (the country preselected Spanish).
    b.find("#sale-language").await.unwrap().select_by_value("en").await.unwrap();
    b.click("#plan-heated-seats").await.unwrap();
    b.click("#sale-financing").await.unwrap();
    fill_sale_customer(&b, &[("lender", "CaaS Bank L-1001"), ("financed", "20000"), ("term", "48"), ("monthly", "450")]).await;
    assert_accessible("sale form with financing", &b.accessibility_violations().await.unwrap());
    b.click("#sale-submit").await.unwrap();
    let done = b.text("#sale-done").await.unwrap();
    assert!(done.contains(email) && done.contains("choose a password"), "{done}");
    let order_id = t.db().query_row("SELECT id FROM orders WHERE financed_minor = 2000000", [], |r| r.get::<_, String>(0)).unwrap();
    t.tick("retry").await;
    assert!(t.sims.notify().messages_to(email).iter().any(|m| m["template"] == "credentials"), "credentials e-mail sent");
    sign_out(&b).await;

    // The customer: 34 500 − 1 500 deposit − 20 000 financed = 13 000 at the end.
    let link = t.url(&format!("/set-password?token={}", emailed_set_password_token(&t, email)));
    first_sign_in(&b, &link, email).await.unwrap();
    b.click(".order-card a.button").await.unwrap();
    b.wait_url(&format!("/app/orders/{order_id}"), 15).await.unwrap();
    let text = b.wait_text("CaaS Bank L-1001", 15).await.unwrap();
    assert!(text.contains("€20,000.00") && text.contains("48 months") && text.contains("€450.00"), "{text}");
    assert_eq!(b.text("#order-final-payment").await.unwrap(), "€13,000.00");
    assert_accessible("financed order", &b.accessibility_violations().await.unwrap());
    b.click("a[href='/app/expediente']").await.unwrap();
    let text = b.wait_text("CaaS Bank L-1001", 15).await.unwrap();
    assert!(text.contains("Financed amount") && text.contains("€20,000.00"), "{text}");
    b.close().await;
    t.stop().await;
}

/// Issue 8: a returning customer's second order registered in the form — the employee sees that
/// it was attached to the existing account; the customer sees both orders.
#[tokio::test(flavor = "multi_thread")]
async fn a_returning_customers_second_order_is_attached_to_their_account() {
    let t = web_app().await;
    let (_token, first_order, _) = customer_with_sale(&t, 72).await;
    let b = Browser::start("en-GB", DESKTOP).await.expect("browser");
    staff_sign_in(&b, &t, EMPLOYEE_EMAIL, EMPLOYEE_PASSWORD).await;
    b.goto(&t.url("/app/staff/new-sale")).await.unwrap();
    let email = "lucia.72@example.com";
    fill_sale_customer(
        &b,
        &[("full_name", "Lucía Fernández 72"), ("email", email), ("phone", "+34600111222"), ("national_id", "X0000072L"), ("line1", "Calle Mayor 1"), ("postal_code", "28013"), ("city", "Madrid")],
    )
    .await;
    b.find("#sale-model option[value='CAAS-SUV-24']").await.unwrap();
    b.find("#sale-model").await.unwrap().select_by_value("CAAS-SUV-24").await.unwrap();
    b.click("#sale-submit").await.unwrap();
    let done = b.text("#sale-done").await.unwrap();
    assert!(done.contains("attached to the existing account") && done.contains(email), "{done}");
    t.tick("retry").await;
    let mails = t.sims.notify().messages_to(email);
    assert_eq!(mails.iter().filter(|m| m["template"] == "credentials").count(), 1, "no new credentials: {mails:?}");
    assert!(mails.iter().any(|m| m["template"] == "order-registered"), "{mails:?}");
    sign_out(&b).await;

    sign_in(&b, email, CUSTOMER_NEW_PASSWORD).await.unwrap();
    b.wait_text("CAAS-SUV-24", 15).await.unwrap();
    let cards = b.eval("return document.querySelectorAll('.order-card').length").await.unwrap();
    assert_eq!(cards, json!(2), "both orders on the dashboard");
    let text = b.page_text().await.unwrap();
    assert!(text.contains("CAAS-SEDAN-24") && text.contains("CAAS-SUV-24"), "{text}");
    assert_eq!(t.count(&format!("SELECT COUNT(*) FROM orders WHERE id = '{first_order}'")), 1);
    b.close().await;
    t.stop().await;
}

/// Issue 8: a sale whose reservation is never paid expires on the virtual clock (deadline tick):
/// the employee finds it by state "abandoned" with its pending payment voided, the customer's app
/// shows it as cancelled, and both were told.
#[tokio::test(flavor = "multi_thread")]
async fn an_unpaid_sale_expires_and_both_the_employee_and_the_customer_see_it_abandoned() {
    let t = web_app().await;
    let (token, order_id, customer_id) = customer_with_sale(&t, 73).await;
    let c = Customer { email: "lucia.73@example.com".into(), token, order_id: order_id.clone(), customer_id };
    let pid = t.start_payment(&c, "reservation").await;
    t.advance(Duration::from_secs(8 * 86_400));
    assert_eq!(t.tick("deadlines").await["abandoned"], 1);
    t.tick("retry").await;
    let at_gateway = t.sims.payment().payment(&pid).expect("payment at the gateway");
    assert_eq!(at_gateway["status"], "voided", "the pending reservation payment is voided");
    let told = |to: &str| t.sims.notify().messages_to(to).iter().any(|m| m["body"].as_str().unwrap_or_default().contains(&order_id));
    assert!(told(&c.email), "the customer is told");
    assert!(told(EMPLOYEE_EMAIL), "the employee is told");

    let b = Browser::start("en-GB", DESKTOP).await.expect("browser");
    staff_sign_in(&b, &t, EMPLOYEE_EMAIL, EMPLOYEE_PASSWORD).await;
    b.click("a[href='/app/staff/orders']").await.unwrap();
    b.find("#order-status").await.unwrap().select_by_value("abandoned").await.unwrap();
    b.click("#order-search").await.unwrap();
    b.wait_text("Lucía Fernández 73", 15).await.unwrap();
    b.click("#orders a").await.unwrap();
    b.wait_url(&format!("/app/staff/orders/{order_id}"), 15).await.unwrap();
    b.wait_text("voided", 15).await.unwrap();
    assert_eq!(b.text("#staff-order-status").await.unwrap(), "Sale cancelled");
    let text = b.page_text().await.unwrap();
    assert!(text.contains(&pid), "{text}");
    assert_accessible("abandoned order", &b.accessibility_violations().await.unwrap());
    sign_out(&b).await;

    sign_in(&b, &c.email, CUSTOMER_NEW_PASSWORD).await.unwrap();
    let text = b.wait_text("Sale cancelled", 15).await.unwrap();
    assert!(!text.contains("Pay the reservation"), "{text}");
    b.close().await;
    t.stop().await;
}

/// The main screens, phone and desktop, as PNGs in `$CAAS_SCREENSHOTS` (`make screenshots`,
/// shown by the README). Ignored in `make test`: it asserts only that each screen rendered.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "writes docs/screenshots; run by `make screenshots`"]
async fn screenshots() {
    let dir = std::path::PathBuf::from(std::env::var("CAAS_SCREENSHOTS").unwrap_or_else(|_| repo_root().join("docs/screenshots").display().to_string()));
    let t = web_app().await;
    // A customer waiting to pay the reservation, and one whose car is connected.
    let (pending_order, link) = sale_with_emailed_link(&t, 31).await;
    let (_, vin) = operational_vehicle(&t, 32).await;
    let b = Browser::start("es-ES", DESKTOP).await.expect("browser");
    b.goto(&t.url("/app/login")).await.unwrap();
    b.wait_text("Iniciar sesión", 15).await.unwrap();
    b.find("#language").await.unwrap().select_by_value("en").await.unwrap();
    b.wait_text("Sign in", 5).await.unwrap();
    for (size, tag) in [(PHONE, "phone"), (DESKTOP, "desktop")] {
        b.resize(size).await.unwrap();
        b.screenshot(&dir, &format!("login-{tag}"), size).await.unwrap();
    }
    first_sign_in(&b, &link, "lucia.31@example.com").await.unwrap();
    b.wait_text("Reservation pending", 15).await.unwrap();
    for (size, tag) in [(PHONE, "phone"), (DESKTOP, "desktop")] {
        b.resize(size).await.unwrap();
        b.goto(&t.url("/app/")).await.unwrap();
        b.wait_text("Reservation pending", 15).await.unwrap();
        b.screenshot(&dir, &format!("dashboard-{tag}"), size).await.unwrap();
        b.goto(&t.url(&format!("/app/orders/{pending_order}"))).await.unwrap();
        b.find("#pay-button").await.unwrap();
        b.screenshot(&dir, &format!("order-{tag}"), size).await.unwrap();
    }
    b.click("a[href='/app/account']").await.unwrap();
    b.click("#logout").await.unwrap();
    sign_in(&b, "lucia.32@example.com", CUSTOMER_NEW_PASSWORD).await.unwrap();
    for (size, tag) in [(PHONE, "phone"), (DESKTOP, "desktop")] {
        b.resize(size).await.unwrap();
        b.goto(&t.url(&format!("/app/catalog?vin={vin}"))).await.unwrap();
        b.find(".option button").await.unwrap();
        b.screenshot(&dir, &format!("catalog-{tag}"), size).await.unwrap();
        b.goto(&t.url("/app/services")).await.unwrap();
        b.wait_text("Active", 15).await.unwrap();
        b.screenshot(&dir, &format!("services-{tag}"), size).await.unwrap();
        b.goto(&t.url("/app/expediente")).await.unwrap();
        b.wait_text("Documents and manuals", 15).await.unwrap();
        b.screenshot(&dir, &format!("documents-{tag}"), size).await.unwrap();
        b.goto(&t.url("/app/")).await.unwrap();
        b.wait_text("Connected", 15).await.unwrap();
        b.screenshot(&dir, &format!("connected-{tag}"), size).await.unwrap();
        b.goto(&t.url("/app/account")).await.unwrap();
        b.find("#preferences").await.unwrap();
        b.screenshot(&dir, &format!("account-{tag}"), size).await.unwrap();
    }
    // The gateway's hosted page and a service being activated.
    b.resize(PHONE).await.unwrap();
    b.goto(&t.url(&format!("/app/catalog?vin={vin}"))).await.unwrap();
    b.click("#buy-parking-assist").await.unwrap();
    b.click("#confirm-buy").await.unwrap();
    b.wait_text("Sending the feature to your car", 15).await.unwrap();
    b.screenshot(&dir, "activation-phone", PHONE).await.unwrap();
    b.click("a[href='/app/account']").await.unwrap();
    b.click("#add-card").await.unwrap();
    b.wait_url("/checkout/", 15).await.unwrap();
    b.screenshot(&dir, "hosted-card-page-phone", PHONE).await.unwrap();
    // The intranet: the admins' dashboard and the support queue.
    b.goto(&t.url("/app/account")).await.unwrap();
    b.click("#logout").await.unwrap();
    b.wait_url("/app/login", 15).await.unwrap();
    b.fill("#email", ADMIN_EMAIL).await.unwrap();
    b.fill("#password", ADMIN_PASSWORD).await.unwrap();
    b.click("#login-submit").await.unwrap();
    b.find("#chart-funnel").await.unwrap();
    b.screenshot(&dir, "intranet-dashboard-desktop", DESKTOP).await.unwrap();
    // The admins' ledger, then the dealership's sale form and price list.
    b.goto(&t.url("/app/staff/ledger")).await.unwrap();
    b.find("#ledger-totals").await.unwrap();
    b.screenshot(&dir, "intranet-ledger-desktop", DESKTOP).await.unwrap();
    b.goto(&t.url("/app/account")).await.unwrap();
    b.click("#logout").await.unwrap();
    b.wait_url("/app/login", 15).await.unwrap();
    b.fill("#email", EMPLOYEE_EMAIL).await.unwrap();
    b.fill("#password", EMPLOYEE_PASSWORD).await.unwrap();
    b.click("#login-submit").await.unwrap();
    b.find("nav.staffnav").await.unwrap();
    b.goto(&t.url("/app/staff/new-sale")).await.unwrap();
    b.find("#sale-model option[value='CAAS-SEDAN-24']").await.unwrap();
    b.screenshot(&dir, "intranet-sale-form-desktop", DESKTOP).await.unwrap();
    b.goto(&t.url("/app/staff/price-list")).await.unwrap();
    b.find("#price-list-models").await.unwrap();
    b.screenshot(&dir, "intranet-price-list-desktop", DESKTOP).await.unwrap();
    b.close().await;
    t.stop().await;
}

/// The money back office in the intranet: a deposit refund the retry queue gave up on (gateway
/// down) is found with the escalation filters and refunded by hand once the gateway works; the
/// order's ledger shows the refund row and a net of zero; collections list the customer at risk
/// with the dunning state of their failed charge. Every screen axe-clean.
#[tokio::test(flavor = "multi_thread")]
async fn an_admin_refunds_an_escalated_refund_by_hand_and_checks_ledger_and_collections() {
    use caas_tests::caas_sim::System;
    let t = web_app().await;
    let (token, order_id, customer_id) = customer_with_sale(&t, 53).await;
    let c = Customer { email: "lucia.53@example.com".into(), token, order_id: order_id.clone(), customer_id: customer_id.clone() };
    let pid = t.pay_and_settle(&c, "reservation").await;
    // The gateway fails every call; the dealership cancels the sale; the refund job gives up.
    t.sims.faults(System::Payment).fail_next(10_000, 503);
    let employee = t.employee_token().await;
    let r = t.post_json(&format!("/api/staff/orders/{order_id}/cancel"), &json!({"reason": "customer moved abroad"}), Some(&employee), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    for _ in 0..10 {
        t.tick("retry").await;
        t.advance(Duration::from_secs(6 * 3600));
    }
    assert_eq!(t.count("SELECT COUNT(*) FROM escalations WHERE kind = 'return-payment'"), 1);
    t.sims.faults(System::Payment).reset();
    // Another open escalation of another kind, which the filter leaves out.
    t.db()
        .execute("INSERT INTO escalations(id, job_id, kind, detail, created_at) VALUES ('esc_webnotify', 'job_x', 'notify', 'notifier gave up', 1)", [])
        .unwrap();
    // A subscription charge of this customer in dunning (its billing path is covered by the API tests).
    let next_try = t.now_ms() + 86_400_000;
    t.db()
        .execute(
            "INSERT INTO subscription_charges(id, subscription_id, customer_id, period, amount_minor, currency, idempotency_key, attempt_key, status, failures, first_failed_at, next_attempt_at, last_error, created_at, updated_at)
             VALUES ('sch_web53', 'svc_web53', ?1, '2026-11', 999, 'EUR', 'sub:svc_web53:2026-11', 'sub:svc_web53:2026-11:1', 'failed', 1, ?2, ?3, 'card_declined', ?2, ?2)",
            rusqlite::params![customer_id, t.now_ms(), next_try],
        )
        .unwrap();

    let b = Browser::start("en-GB", DESKTOP).await.expect("browser");
    b.goto(&t.url("/app/login")).await.unwrap();
    b.fill("#email", ADMIN_EMAIL).await.unwrap();
    b.fill("#password", ADMIN_PASSWORD).await.unwrap();
    b.click("#login-submit").await.unwrap();
    b.wait_url("/app/staff/", 15).await.unwrap();
    b.click("a[href='/app/staff/escalations']").await.unwrap();
    b.wait_text("notifier gave up", 15).await.unwrap();
    b.find("#esc-kind").await.unwrap().select_by_value("return-payment").await.unwrap();
    b.find("#esc-status").await.unwrap().select_by_value("open").await.unwrap();
    b.click("#esc-filter").await.unwrap();
    b.wait_text("return-payment", 15).await.unwrap();
    for _ in 0..50 {
        if !b.page_text().await.unwrap().contains("notifier gave up") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!b.page_text().await.unwrap().contains("notifier gave up"), "the kind filter leaves the notify escalation out");
    assert_accessible("escalations (filtered)", &b.accessibility_violations().await.unwrap());
    let esc_id: String = t.db().query_row("SELECT id FROM escalations WHERE kind = 'return-payment'", [], |r| r.get(0)).unwrap();
    b.fill(&format!("#note-{esc_id}"), "refunded by hand after the gateway outage").await.unwrap();
    b.click(".escalation button.refund").await.unwrap();
    b.wait_text("refunded at the gateway", 15).await.unwrap();
    // Resolved: the open filter no longer lists it; "all" shows who resolved it.
    b.find("#esc-status").await.unwrap().select_by_value("all").await.unwrap();
    b.click("#esc-filter").await.unwrap();
    b.wait_text("Resolved by", 15).await.unwrap();
    let refunded: i64 = t.sims.payment().refunds().iter().filter(|r| r["payment-id"] == pid.as_str()).map(|r| r["amount-minor"].as_i64().unwrap()).sum();
    assert_eq!(refunded, 150_000);
    assert_eq!(t.count(&format!("SELECT COUNT(*) FROM ledger WHERE kind = 'refund' AND reference = '{pid}'")), 1);

    // The order's ledger: the deposit and its refund, net zero.
    b.goto(&t.url(&format!("/app/staff/orders/{order_id}"))).await.unwrap();
    b.wait_text("Ledger of this order", 15).await.unwrap();
    b.click("#order-ledger").await.unwrap();
    b.wait_url("/app/staff/ledger", 15).await.unwrap();
    b.wait_text("refund", 15).await.unwrap();
    b.find("#ledger tr.ledger-refund").await.unwrap();
    b.find("#ledger tr.ledger-charge").await.unwrap();
    let totals = b.text("#ledger-totals").await.unwrap();
    assert!(totals.contains("1,500.00") && totals.contains("0.00"), "{totals}");
    assert_accessible("ledger", &b.accessibility_violations().await.unwrap());

    // Collections: the customer at risk with the dunning state.
    b.click("a[href='/app/staff/collections']").await.unwrap();
    b.wait_text("lucia.53@example.com", 15).await.unwrap();
    let page = b.page_text().await.unwrap();
    assert!(page.contains("Failed subscription charge") && page.contains("1 failed attempt"), "{page}");
    assert_accessible("collections", &b.accessibility_violations().await.unwrap());
    b.close().await;
    t.stop().await;
}
