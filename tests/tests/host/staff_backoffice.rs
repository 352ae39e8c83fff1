//! Issue 8 — dealership employees' back office: re-issued customer credentials (a new single-use
//! set-password link by e-mail, every session ended, earlier links dead), audited; role
//! boundaries (customers, admins and support cannot, nothing written).

use caas_tests::*;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread")]
async fn an_employee_reissues_credentials_sessions_end_and_the_new_link_works_once() {
    let t = TestApp::start().await;
    let (token, _order_id, customer_id) = customer_with_sale(&t, 821).await;
    let email = "lucia.821@example.com";
    assert_eq!(t.get("/api/auth/me", Some(&token)).await.status, 200);
    let path = format!("/api/staff/customers/{customer_id}/reissue-credentials");

    // Role boundaries: nothing written, the session lives on.
    let admin = t.admin_token().await;
    let support = t.support_token().await;
    for (who, tok) in [("customer", Some(token.as_str())), ("admin", Some(admin.as_str())), ("support", Some(support.as_str()))] {
        let r = t.post_json(&path, &json!({}), tok, None).await;
        assert_eq!(r.status, 403, "{who}: {}", r.text);
        assert!(r.is_problem());
    }
    assert_eq!(t.post_json(&path, &json!({}), None, None).await.status, 401);
    let employee = t.employee_token().await;
    let r = t.post_json("/api/staff/customers/cus_nope/reissue-credentials", &json!({}), Some(&employee), None).await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert_eq!(t.get(&path, Some(&employee)).await.status, 405);
    assert_eq!(t.count("SELECT COUNT(*) FROM audit_log"), 0);
    assert_eq!(t.get("/api/auth/me", Some(&token)).await.status, 200);

    let r = t.post_json(&path, &json!({}), Some(&employee), None).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.json()["sessions_revoked"], true);
    // Every session of the customer ended at once.
    assert_eq!(t.get("/api/auth/me", Some(&token)).await.status, 401);
    // The e-mail carries a new link (delivered by the outbox); it sets the password once.
    t.tick("retry").await;
    let link = emailed_set_password_token(&t, email);
    let mail = t.sims.notify().messages_to(email).into_iter().rev().find(|m| m["template"] == "credentials").unwrap();
    assert!(mail["body"].as_str().unwrap().contains("new credentials"), "{mail}");
    let r = t.post_json("/api/auth/set-password", &json!({"token": link, "new_password": "Brand-New-Passw0rd-821"}), None, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = t.post_json("/api/auth/set-password", &json!({"token": link, "new_password": "Other-New-Passw0rd-821"}), None, None).await;
    assert_eq!(r.status, 410, "single use: {}", r.text);
    let _ = t.login(email, "Brand-New-Passw0rd-821").await;

    // Audited: who, what, when, after.
    let r = t.get(&format!("/api/admin/audit?target={customer_id}"), Some(&admin)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let items: Vec<Value> = r.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!((items[0]["action"].as_str(), items[0]["actor_role"].as_str()), (Some("staff.customer.reissue-credentials"), Some("employee")));
    assert_eq!(items[0]["after"]["sessions_revoked"], true);
    assert!(items[0]["at"].as_i64().unwrap() > 0);
    t.stop().await;
}

/// The re-issued credentials e-mail is in the customer's language (like every customer message).
#[tokio::test(flavor = "multi_thread")]
async fn reissued_credentials_are_emailed_in_the_customers_language() {
    let t = TestApp::start().await;
    let employee = t.employee_token().await;
    let mut body = sale_body(822);
    body["language"] = json!("es");
    let (_order_id, customer_id) = t.register_sale(&body, "sale-822").await;
    t.tick("retry").await;
    let r = t.post_json(&format!("/api/staff/customers/{customer_id}/reissue-credentials"), &json!({}), Some(&employee), None).await;
    assert_eq!(r.status, 202, "{}", r.text);
    t.tick("retry").await;
    let mails = t.sims.notify().messages_to("lucia.822@example.com");
    let reissued = mails.iter().rev().find(|m| m["template"] == "credentials").unwrap();
    assert_eq!(reissued["subject"], "Su cuenta de CaaS: nuevo enlace para elegir contraseña", "{reissued}");
    let text = reissued["body"].as_str().unwrap();
    assert!(text.contains("nuevas credenciales") && text.contains("/set-password?token="), "{text}");
    t.stop().await;
}
