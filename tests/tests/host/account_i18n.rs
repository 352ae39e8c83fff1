//! Customer language and account (issue 7, issue 10 "localised messages"): every customer text
//! in the customer's language (chosen at sale, changeable in the account), notification
//! preferences (SMS opt-in, mandatory e-mail for payments), profile, e-mail change by link.
use crate::journey::*;
use caas_tests::*;
use serde_json::{Value, json};

fn sale_in(n: u32, country: &str, language: Option<&str>) -> Value {
    let mut b = sale_body(n);
    b["country"] = json!(country);
    b["delivery_address"]["country"] = json!(country);
    if let Some(l) = language {
        b["language"] = json!(l);
    }
    b
}

fn mails(t: &TestApp, to: &str, template: &str) -> Vec<Value> {
    t.sims.notify().messages_to(to).into_iter().filter(|m| m["template"] == template).collect()
}

fn text(m: &Value) -> String {
    format!("{}\n{}", m["subject"].as_str().unwrap_or(""), m["body"].as_str().unwrap_or(""))
}

async fn patch(t: &TestApp, path: &str, body: &Value, token: &str) -> Resp {
    t.send(t.client.patch(t.url(path)).bearer_auth(token).json(body)).await
}

async fn put(t: &TestApp, path: &str, body: &Value, token: &str) -> Resp {
    t.send(t.client.put(t.url(path)).bearer_auth(token).json(body)).await
}

async fn account(t: &TestApp, token: &str) -> Value {
    let r = t.get("/api/account", Some(token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_french_customer_receives_french_messages() {
    let t = start().await;
    let c = customer_body(&t, 701, sale_in(701, "FR", Some("fr"))).await;
    // The credentials e-mail, in French, still carrying the set-password link.
    let cred = mails(&t, &c.email, "credentials");
    let body = text(&cred[0]);
    assert!(body.contains("Votre compte CaaS") && body.contains("/set-password?token=") && body.contains("mot de passe"), "{body}");
    assert!(!body.contains("Your CaaS account"), "{body}");
    let acc = account(&t, &c.token).await;
    assert_eq!((acc["language"].as_str(), acc["country"].as_str()), (Some("fr"), Some("FR")));

    // The reservation: e-mail and push in French, with the order id.
    reserve(&t, &c).await;
    t.tick("retry").await;
    let confirmed = t.sims.notify().messages_with_template("reservation-confirmed").into_iter().filter(|m| m["customer-id"] == c.customer_id.as_str()).collect::<Vec<_>>();
    assert_eq!(confirmed.len(), 2, "e-mail + push: {confirmed:?}");
    for m in &confirmed {
        let s = text(m);
        assert!(s.contains("Votre réservation est confirmée") && s.contains(&c.order_id), "{s}");
        assert!(!s.contains("Your reservation"), "{s}");
    }
    let placed = mails(&t, &c.email, "factory-order-placed");
    assert!(text(&placed[0]).contains("commandée à l'usine"), "{}", text(&placed[0]));
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn german_at_sale_then_switched_to_spanish_in_the_account() {
    let t = start().await;
    let c = customer_body(&t, 702, sale_in(702, "DE", Some("de"))).await;
    let cred = text(&mails(&t, &c.email, "credentials")[0]);
    assert!(cred.contains("Ihr CaaS-Konto") && cred.contains("Passwort") && cred.contains("/set-password?token="), "{cred}");

    // Switching the language makes the next message arrive in the new language.
    let r = patch(&t, "/api/account/profile", &json!({"language": "es"}), &c.token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["language"], "es");
    reserve(&t, &c).await;
    t.tick("retry").await;
    let m = text(&mails(&t, &c.email, "reservation-confirmed")[0]);
    assert!(m.contains("Su reserva está confirmada") && m.contains(&c.order_id), "{m}");

    // The password-reset e-mail follows the account's language too.
    let r = t.post_json("/api/auth/password-reset", &json!({"email": c.email}), None, None).await;
    assert_eq!(r.status, 202, "{}", r.text);
    t.tick("retry").await;
    let reset = text(&mails(&t, &c.email, "password-reset")[0]);
    assert!(reset.contains("contraseña") && reset.contains("/set-password?token="), "{reset}");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn no_language_means_english_and_an_unknown_one_is_refused() {
    let t = start().await;
    let staff = t.employee_token().await;
    let before = t.count("SELECT COUNT(*) FROM customers");
    let r = t.post_json("/api/sales", &sale_in(703, "ES", Some("it")), Some(&staff), Some("i18n-bad-lang")).await;
    assert_problem(&r, 400);
    assert!(r.text.contains("/language"), "{}", r.text);
    assert_eq!(t.count("SELECT COUNT(*) FROM customers"), before, "nothing written");

    // A Spanish sale without a language: English (the documented default).
    let c = customer_body(&t, 703, sale_in(703, "ES", None)).await;
    assert_eq!(account(&t, &c.token).await["language"], "en");
    assert!(text(&mails(&t, &c.email, "credentials")[0]).contains("Your CaaS account"));

    // Staff and anonymous callers are refused.
    assert_problem(&t.get("/api/account", Some(&staff)).await, 403);
    assert_problem(&t.get("/api/account", None).await, 401);
    assert_problem(&patch(&t, "/api/account/profile", &json!({"language": "fr"}), &staff).await, 403);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_profile_input_writes_nothing_and_valid_input_is_saved() {
    let t = start().await;
    let c = customer(&t, 704).await;
    let before = account(&t, &c.token).await;
    let bad = patch(&t, "/api/account/profile", &json!({"phone": "123", "language": "fr", "address": {"city": "Paris"}}), &c.token).await;
    assert_problem(&bad, 400);
    let errors: Vec<String> = bad.json()["errors"].as_array().unwrap().iter().map(|e| e["pointer"].as_str().unwrap_or("").to_string()).collect();
    assert!(errors.contains(&"/phone".to_string()) && errors.contains(&"/address/line1".to_string()), "{errors:?}");
    assert_eq!(account(&t, &c.token).await, before, "nothing written (not even the valid language)");
    assert_problem(&patch(&t, "/api/account/profile", &json!({"email": "x@example.com"}), &c.token).await, 400);

    let ok = patch(
        &t,
        "/api/account/profile",
        &json!({"phone": "+33 6 12 34 56 78", "address": {"line1": "1 rue de la Paix", "city": "Paris", "postal_code": "75002", "country": "FR"}}),
        &c.token,
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    let a = account(&t, &c.token).await;
    assert_eq!(a["phone"], "+33612345678");
    assert_eq!(a["address"]["city"], "Paris");
    assert_eq!(a["language"], "en");
    assert_eq!(a["email"], c.email.as_str());
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sms_opt_in_is_honoured_and_payment_email_cannot_be_switched_off() {
    let t = start().await;
    let c = customer(&t, 705).await;
    let phone = "+34600705705";
    assert_eq!(patch(&t, "/api/account/profile", &json!({"phone": phone}), &c.token).await.status, 200);
    let prefs = account(&t, &c.token).await["preferences"].clone();
    assert_eq!(prefs["sms_opt_in"], false);
    assert_eq!(prefs["channels"]["manufacturing_status"]["sms"], false);
    assert_eq!(prefs["channels"]["payment_confirmation"]["email"], true);
    assert!(prefs["mandatory"]["payment_confirmation"].as_array().unwrap().contains(&json!("email")));

    // E-mail for payments is always on: 422, nothing written.
    let r = put(&t, "/api/account/preferences", &json!({"sms_opt_in": true, "channels": {"payment_confirmation": {"email": false}}}), &c.token).await;
    assert_problem(&r, 422);
    assert_eq!(account(&t, &c.token).await["preferences"], prefs, "nothing written");
    assert_problem(&put(&t, "/api/account/preferences", &json!({"channels": {"nope": {"sms": true}}}), &c.token).await, 400);

    // Opted in: the optional SMS of manufacturing updates is sent.
    let r = put(&t, "/api/account/preferences", &json!({"sms_opt_in": true}), &c.token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["preferences"]["channels"]["manufacturing_status"]["sms"], true);
    reserve(&t, &c).await;
    t.tick("retry").await;
    let sms = |template: &str| t.sims.notify().messages_to(phone).into_iter().filter(|m| m["template"] == template && m["channel"] == "sms").count();
    assert_eq!(sms("factory-order-placed"), 1, "{:?}", t.sims.notify().messages_to(phone));

    // The manufacturing SMS switched off again: e-mail and push only from now on.
    let r = put(&t, "/api/account/preferences", &json!({"channels": {"manufacturing_status": {"sms": false}}}), &c.token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["preferences"]["sms_opt_in"], true);
    manufacture(&t, &c).await;
    t.tick("retry").await;
    assert_eq!(sms("manufacturing-status"), 0, "{:?}", t.sims.notify().messages_to(phone));
    assert!(!mails(&t, &c.email, "manufacturing-status").is_empty());
    // Vehicle ready is a mandatory SMS: still sent.
    assert_eq!(sms("vehicle-ready"), 1, "{:?}", t.sims.notify().messages_to(phone));
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn email_change_is_confirmed_by_a_link_to_the_new_address() {
    let t = start().await;
    let c = customer(&t, 706).await;
    let other = customer(&t, 707).await;
    let new_email = "lucia.nueva.706@example.com";

    // Taken by another account: 409; malformed: 400.
    assert_problem(&t.post_json("/api/account/email-change", &json!({"new_email": other.email}), Some(&c.token), None).await, 409);
    assert_problem(&t.post_json("/api/account/email-change", &json!({"new_email": "nope"}), Some(&c.token), None).await, 400);

    let r = t.post_json("/api/account/email-change", &json!({"new_email": new_email}), Some(&c.token), None).await;
    assert_eq!(r.status, 202, "{}", r.text);
    t.tick("retry").await;
    // The link goes to the NEW address only; the address has not changed yet.
    assert!(mails(&t, &c.email, "email-change").is_empty());
    let mail = text(&mails(&t, new_email, "email-change")[0]);
    let at = mail.find("/confirm-email?token=").expect("link") + "/confirm-email?token=".len();
    let token: String = mail[at..].chars().take_while(|ch| ch.is_ascii_hexdigit()).collect();
    assert_eq!(token.len(), 64, "{mail}");
    assert_eq!(t.count(&format!("SELECT COUNT(*) FROM email_change_tokens WHERE token_hash = '{token}'")), 0, "only the hash is stored");
    assert_eq!(account(&t, &c.token).await["email"], c.email.as_str());
    t.login(&c.email, NEW_PASSWORD).await;

    let ok = t.post_json("/api/account/email-change/confirm", &json!({"token": token}), None, None).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.json()["email"], new_email);
    // Single use.
    assert_problem(&t.post_json("/api/account/email-change/confirm", &json!({"token": token}), None, None).await, 410);
    assert_problem(&t.post_json("/api/account/email-change/confirm", &json!({"token": "a".repeat(64)}), None, None).await, 400);

    // The existing session stays valid; sign-in uses the new address, not the old one.
    assert_eq!(account(&t, &c.token).await["email"], new_email);
    t.login(new_email, NEW_PASSWORD).await;
    assert_problem(&t.post_json("/api/auth/login", &json!({"email": c.email, "password": NEW_PASSWORD}), None, None).await, 401);

    // An expired link (24 h) is refused with 410 and changes nothing.
    let r = t.post_json("/api/account/email-change", &json!({"new_email": "late.706@example.com"}), Some(&other.token), None).await;
    assert_eq!(r.status, 202, "{}", r.text);
    t.tick("retry").await;
    let mail = text(&mails(&t, "late.706@example.com", "email-change")[0]);
    let at = mail.find("/confirm-email?token=").unwrap() + "/confirm-email?token=".len();
    let late: String = mail[at..].chars().take_while(|ch| ch.is_ascii_hexdigit()).collect();
    t.advance(std::time::Duration::from_secs(24 * 3600 + 1));
    assert_problem(&t.post_json("/api/account/email-change/confirm", &json!({"token": late}), None, None).await, 410);
    assert_eq!(t.count("SELECT COUNT(*) FROM customers WHERE email = 'late.706@example.com'"), 0);
    t.stop().await;
}
