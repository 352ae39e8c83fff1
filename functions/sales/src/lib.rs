//! `/api/sales/...`: sale registration at the dealership (employees/admins) and sale lookup.
use caas_domain::auth::{Principal, Role};
use caas_domain::idempotency::{self, Replay};
use caas_domain::ids::{IdKind, is_id};
use caas_domain::order::OrderStatus;
use caas_domain::credentials::{self, NO_PASSWORD, Purpose};
use caas_domain::routing::credentials_notification;
use caas_domain::sale::{NewSale, validate_sale};
use caas_domain::vehicle_pricing::{self, DEFAULT_MAX_DISCOUNT_PERCENT, SalePrice};
use caas_domain::wit::Job;
use caas_domain::Problem;
use caas_platform::db::{Db, DbError, int, opt_text, text};
use caas_platform::{Resp, auth, clock, queue, rand, req, resp, vars};
use serde_json::{Value, json};
use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;

const STAFF: &[Role] = &[Role::Employee, Role::Admin];
/// Registering a sale is dealership work: employees only (admins read all, configure, and do not
/// act on orders).
const EMPLOYEE: &[Role] = &[Role::Employee];

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    caas_platform::guard(route(req)).await
}

async fn route(req: Request) -> Result<Resp, Problem> {
    let path = req::path(&req);
    let method = req.method().as_str().to_string();
    let rest = path.strip_prefix("/api/sales").unwrap_or("");
    match (method.as_str(), rest) {
        ("POST", "") => register(req).await,
        (_, "") => Err(resp::method_not_allowed(&method, &path, &["POST"])),
        ("GET", id) if id.starts_with('/') && !id[1..].contains('/') => get_sale(req, &id[1..]).await,
        (_, id) if id.starts_with('/') && !id[1..].contains('/') => Err(resp::method_not_allowed(&method, &path, &["GET"])),
        _ => Err(Problem::not_found(format!("no route {path}"))),
    }
}

enum Outcome {
    Created(Value),
    Replayed(u16, String),
    KeyReused,
    EmailTaken,
}

/// The tx's error: storage failures, or a business conflict detected by a constraint.
enum TxError {
    Db(DbError),
    EmailTaken,
    /// The named stock vehicle cannot be sold (not in stock / other model): rolls back.
    VehicleUnavailable(String),
}
impl From<DbError> for TxError {
    fn from(e: DbError) -> Self {
        TxError::Db(e)
    }
}

fn email_taken(email: &str) -> Problem {
    Problem::conflict("customer-exists", format!("a customer with e-mail {email} is already registered"))
}

async fn register(req: Request) -> Result<Resp, Problem> {
    let principal = auth::require(&req, EMPLOYEE).await?;
    let key = match req::header(&req, "idempotency-key") {
        None | Some("") => return Err(Problem::bad_request("the Idempotency-Key header is required")),
        Some(k) if !idempotency::is_valid_key(k) => {
            return Err(Problem::bad_request("the Idempotency-Key header must be 1-200 visible ASCII characters"));
        }
        Some(k) => k.to_string(),
    };
    let body = req::json_body(req).await?;
    // The vehicle price comes from the model's list price, less an explicit bounded discount
    // (caas_domain::vehicle_pricing); a sent `vehicle_price_minor` must agree with it.
    let max_discount = caas_platform::vars::u64_or("max_vehicle_discount_percent", DEFAULT_MAX_DISCOUNT_PERCENT as u64).await.min(100) as u32;
    let pricing = vehicle_pricing::price_sale(&vehicle_pricing::seed_price_list(), &body, max_discount)
        .map_err(|e| Problem::unprocessable(e.code, e.detail).with_errors(e.errors))?;
    let mut priced_body = body.clone();
    if let (Some(p), Some(prices)) = (&pricing, priced_body.get_mut("prices").and_then(Value::as_object_mut)) {
        prices.entry("vehicle_price_minor").or_insert(json!(p.vehicle_price_minor));
    }
    let sale = validate_sale(&priced_body).map_err(Problem::validation)?;
    // Validation passed, so model and currency were strings and pricing ran.
    let pricing = pricing.ok_or_else(|| Problem::unprocessable("unknown-model", format!("model {} has no list price", sale.model)))?;
    let stock_vin = stock_vin(&body)?;
    let request_hash = idempotency::request_hash(&body);
    let scope = format!("sales:{}", principal.subject_id);

    let db = Db::open_for_request().await?;
    // Fast path: replay / mismatch / duplicate e-mail, before the expensive hashing.
    match stored_idempotency(&db, &scope, &key, &request_hash).await? {
        Replay::Replay { status, body } => return Ok(resp::json_raw(status, body)),
        Replay::Mismatch => return Err(key_reused()),
        Replay::Fresh => {}
    }
    if customer_exists(&db, &sale.customer.email).await? {
        return Err(email_taken(&sale.customer.email));
    }

    // Credentials: no password exists until the customer chooses one through the e-mailed
    // single-use link; only the link token's SHA-256 is stored.
    let token = credentials::make_token(&rand::bytes::<{ credentials::TOKEN_RANDOM_BYTES }>());
    let link = credentials::set_password_link(&vars::base_url("app_url").await?, &token);

    let outcome = persist(&db, &principal, &sale, stock_vin.as_deref(), &key, &scope, &request_hash, &token, &link, &pricing).await;
    match outcome {
        Ok(Outcome::Created(v)) => Ok(resp::json(201, &v)),
        Ok(Outcome::Replayed(status, body)) => Ok(resp::json_raw(status, body)),
        Ok(Outcome::KeyReused) => Err(key_reused()),
        Ok(Outcome::EmailTaken) | Err(TxError::EmailTaken) => Err(email_taken(&sale.customer.email)),
        Err(TxError::VehicleUnavailable(why)) => Err(Problem::conflict("vehicle-not-in-stock", why)),
        Err(TxError::Db(e)) => Err(e.into()),
    }
}

/// Optional `stock_vin`: resell a "sin asignar" dealership stock vehicle with this sale.
fn stock_vin(body: &Value) -> Result<Option<String>, Problem> {
    match body.get("stock_vin") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let v = s.trim().to_ascii_uppercase();
            if v.len() == 17 && v.bytes().all(|b| b.is_ascii_digit() || (b.is_ascii_uppercase() && !matches!(b, b'I' | b'O' | b'Q'))) {
                Ok(Some(v))
            } else {
                Err(Problem::validation(vec![caas_domain::FieldError::new("/stock_vin", "must be a 17-character VIN")]))
            }
        }
        Some(_) => Err(Problem::validation(vec![caas_domain::FieldError::new("/stock_vin", "must be a string")])),
    }
}

fn key_reused() -> Problem {
    Problem::unprocessable("idempotency-key-reused", "this Idempotency-Key was already used with a different request body")
}

async fn stored_idempotency(db: &Db, scope: &str, key: &str, hash: &str) -> Result<Replay, DbError> {
    let row = db
        .query_one(
            "SELECT request_hash, status_code, response_body FROM idempotency WHERE scope = ? AND key = ?",
            vec![text(scope), text(key)],
        )
        .await?;
    Ok(idempotency::decide(
        row.map(|r| (r.str("request_hash"), r.i64("status_code").clamp(100, 599) as u16, r.str("response_body"))),
        hash,
    ))
}

async fn customer_exists(db: &Db, email: &str) -> Result<bool, DbError> {
    Ok(db.query_one("SELECT 1 AS x FROM customers WHERE email = ?", vec![text(email)]).await?.is_some())
}

#[allow(clippy::too_many_arguments)]
async fn persist(
    db: &Db,
    principal: &Principal,
    sale: &NewSale,
    stock_vin: Option<&str>,
    key: &str,
    scope: &str,
    request_hash: &str,
    token: &str,
    link: &str,
    pricing: &SalePrice,
) -> Result<Outcome, TxError> {
    let now = clock::now_ms();
    let customer_id = rand::id(IdKind::Customer);
    let order_id = rand::id(IdKind::Order);
    let message_id = rand::id(IdKind::Message);
    let status = OrderStatus::INITIAL;
    let c = &sale.customer;
    let a = &sale.delivery_address;

    db.transaction(async |tx: &Db| -> Result<Outcome, TxError> {
        // Re-check under the write lock (concurrent duplicates of the same request).
        match stored_idempotency(tx, scope, key, request_hash).await? {
            Replay::Replay { status, body } => return Ok(Outcome::Replayed(status, body)),
            Replay::Mismatch => return Ok(Outcome::KeyReused),
            Replay::Fresh => {}
        }
        if customer_exists(tx, &c.email).await? {
            return Ok(Outcome::EmailTaken);
        }
        if let Some(vin) = stock_vin {
            match tx.query_one("SELECT model, status FROM vehicles WHERE vin = ?", vec![text(vin)]).await? {
                Some(v) if v.str("status") == "stock" && v.str("model") == sale.model => {}
                Some(v) if v.str("status") == "stock" => {
                    return Err(TxError::VehicleUnavailable(format!(
                        "stock vehicle {vin} is a {}, not a {}",
                        v.str("model"),
                        sale.model
                    )));
                }
                _ => return Err(TxError::VehicleUnavailable(format!("vehicle {vin} is not in dealership stock"))),
            }
        }
        tx.exec(
            "INSERT INTO customers(id, email, full_name, phone, national_id, address_line1, address_line2, address_city,
               address_postal_code, address_country, country, password_hash, must_change_password, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)",
            vec![
                text(&customer_id), text(&c.email), text(&c.full_name), text(&c.phone), text(&c.national_id),
                text(&a.line1), opt_text(a.line2.clone()), text(&a.city), text(&a.postal_code), text(&a.country),
                text(&sale.country), text(NO_PASSWORD), int(now),
            ],
        )
        .await
        .map_err(|e| if e.is_unique_violation() { TxError::EmailTaken } else { TxError::Db(e) })?;
        tx.exec(
            "INSERT INTO orders(id, customer_id, employee_id, status, model, country, currency, vehicle_price_minor,
               deposit_minor, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            vec![
                text(&order_id), text(&customer_id), text(&principal.subject_id), text(status.as_str()), text(&sale.model),
                text(&sale.country), text(&sale.prices.currency), int(sale.prices.vehicle_price_minor),
                int(sale.prices.deposit_minor), int(now), int(now),
            ],
        )
        .await?;
        // The price audit: list price, and who gave what discount and why.
        tx.exec(
            "UPDATE orders SET list_price_minor = ?, discount_minor = ?, discount_reason = ?, discount_by = ? WHERE id = ?",
            vec![
                int(pricing.list_price_minor),
                int(pricing.discount_minor),
                opt_text(pricing.discount_reason.clone()),
                opt_text((pricing.discount_minor > 0).then(|| principal.subject_id.clone())),
                text(&order_id),
            ],
        )
        .await?;
        let money = |m: i64| format!("{}.{:02} {}", m / 100, m % 100, pricing.currency);
        tx.exec(
            "INSERT INTO order_events(order_id, at, kind, detail) VALUES (?, ?, 'vehicle-priced', ?)",
            vec![
                text(&order_id),
                int(now),
                text(if pricing.discount_minor > 0 {
                    format!(
                        "{}: list price {}, discount {}, price {}",
                        sale.model,
                        money(pricing.list_price_minor),
                        money(pricing.discount_minor),
                        money(pricing.vehicle_price_minor)
                    )
                } else {
                    format!("{}: list price {}", sale.model, money(pricing.list_price_minor))
                }),
            ],
        )
        .await?;
        if let Some(vin) = stock_vin {
            let taken = tx
                .exec(
                    "UPDATE vehicles SET status = 'assigned', order_id = ?, updated_at = ? WHERE vin = ? AND status = 'stock'",
                    vec![text(&order_id), int(now), text(vin)],
                )
                .await?;
            if taken != 1 {
                return Err(TxError::VehicleUnavailable(format!("vehicle {vin} is not in dealership stock")));
            }
            tx.exec("UPDATE orders SET vin = ?, from_stock = 1 WHERE id = ?", vec![text(vin), text(&order_id)]).await?;
            tx.exec(
                "INSERT INTO order_events(order_id, at, kind, detail) VALUES (?, ?, 'stock-vehicle-assigned', ?)",
                vec![text(&order_id), int(now), text(format!("dealership stock vehicle {vin} assigned to this sale"))],
            )
            .await?;
        }
        for opt in &sale.plan_options {
            tx.exec("INSERT INTO plan_options(order_id, option_code) VALUES (?, ?)", vec![text(&order_id), text(opt)]).await?;
        }
        // The customer's timeline never shows staff ids: who registered the sale is a `staff:` event.
        let events = [
            ("sale-registered", "sale registered at the dealership".to_string()),
            ("staff:sale-registered", format!("registered by {} ({})", principal.subject_id, principal.role.as_str())),
            ("credentials-queued", format!("credentials e-mail {message_id} queued to {}", c.email)),
        ];
        for (kind, detail) in events {
            tx.exec(
                "INSERT INTO order_events(order_id, at, kind, detail) VALUES (?, ?, ?, ?)",
                vec![text(&order_id), int(now), text(kind), text(detail)],
            )
            .await?;
        }
        tx.exec(
            "INSERT INTO password_tokens(token_hash, subject_id, role, purpose, created_at, expires_at) VALUES (?, ?, 'customer', ?, ?, ?)",
            vec![
                text(credentials::token_hash(token)), text(&customer_id), text(Purpose::Welcome.as_str()), int(now),
                int(now + Purpose::Welcome.ttl_ms()),
            ],
        )
        .await?;
        // The link travels in the job until the e-mail is sent; the retry tick redacts it then.
        let job = Job::Notify(credentials_notification(&message_id, &customer_id, &c.email, &c.full_name, link));
        queue::enqueue(tx, &job, &format!("credentials:{customer_id}"), now).await?;

        let body = json!({
            "order_id": order_id,
            "customer_id": customer_id,
            "status": status.as_str(),
            "customer_email": c.email,
            "credentials_sent_to": c.email,
            "pricing": pricing_json(pricing.list_price_minor, pricing.discount_minor, pricing.discount_reason.as_deref(), Some(&principal.subject_id), &pricing.currency),
        });
        tx.exec(
            "INSERT INTO idempotency(scope, key, request_hash, status_code, response_body, created_at) VALUES (?, ?, ?, 201, ?, ?)",
            vec![text(scope), text(key), text(request_hash), text(body.to_string()), int(now)],
        )
        .await?;
        Ok(Outcome::Created(body))
    })
    .await
}

/// The price audit of an order (staff view): list price, discount (how much, why, by whom), price.
fn pricing_json(list_minor: i64, discount_minor: i64, reason: Option<&str>, by: Option<&str>, currency: &str) -> Value {
    json!({
        "list_price_minor": list_minor,
        "discount": (discount_minor > 0).then(|| json!({"amount_minor": discount_minor, "reason": reason, "by": by})),
        "vehicle_price_minor": list_minor - discount_minor,
        "currency": currency,
    })
}

async fn get_sale(req: Request, order_id: &str) -> Result<Resp, Problem> {
    auth::require(&req, STAFF).await?;
    if !is_id(IdKind::Order, order_id) {
        return Err(Problem::not_found(format!("no sale {order_id}")));
    }
    let db = Db::open_for_request().await?;
    let Some(o) = db
        .query_one(
            "SELECT o.*, c.email, c.full_name, c.phone, c.national_id, c.address_line1, c.address_line2, c.address_city,
                    c.address_postal_code, c.address_country
             FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.id = ?",
            vec![text(order_id)],
        )
        .await?
    else {
        return Err(Problem::not_found(format!("no sale {order_id}")));
    };
    let options: Vec<String> = db
        .query("SELECT option_code FROM plan_options WHERE order_id = ? ORDER BY option_code", vec![text(order_id)])
        .await?
        .iter()
        .map(|r| r.str("option_code"))
        .collect();
    let timeline: Vec<Value> = db
        .query("SELECT at, kind, detail FROM order_events WHERE order_id = ? ORDER BY at, id", vec![text(order_id)])
        .await?
        .iter()
        .map(|r| json!({"at": r.i64("at"), "kind": r.str("kind"), "detail": r.str("detail")}))
        .collect();
    Ok(resp::json(
        200,
        &json!({
            "order_id": o.str("id"),
            "status": o.str("status"),
            "customer": {
                "id": o.str("customer_id"),
                "full_name": o.str("full_name"),
                "email": o.str("email"),
                "phone": o.str("phone"),
                "national_id": o.str("national_id"),
            },
            "delivery_address": {
                "line1": o.str("address_line1"),
                "line2": o.opt_str("address_line2"),
                "city": o.str("address_city"),
                "postal_code": o.str("address_postal_code"),
                "country": o.str("address_country"),
            },
            "country": o.str("country"),
            "model": o.str("model"),
            "plan_options": options,
            "prices": {
                "vehicle_price_minor": o.i64("vehicle_price_minor"),
                "deposit_minor": o.i64("deposit_minor"),
                "currency": o.str("currency"),
            },
            // Orders from before the price list have no list price: their price stands as sold.
            "pricing": pricing_json(
                o.opt_i64("list_price_minor").unwrap_or(o.i64("vehicle_price_minor")),
                o.opt_i64("discount_minor").unwrap_or(0),
                o.opt_str("discount_reason").as_deref(),
                o.opt_str("discount_by").as_deref(),
                &o.str("currency"),
            ),
            "employee_id": o.str("employee_id"),
            "created_at": o.i64("created_at"),
            "updated_at": o.i64("updated_at"),
            "timeline": timeline,
        }),
    ))
}

