//! `/api/sales/...`: sale registration at the dealership (employees/admins) and sale lookup.
use caas_domain::auth::{Principal, Role};
use caas_domain::credentials::{self, Purpose};
use caas_domain::idempotency::Replay;
use caas_domain::ids::{IdKind, is_id};
use caas_domain::order::OrderStatus;
use caas_domain::routing::credentials_notification;
use caas_domain::sale::{Address, NewSale, validate_sale};
use caas_domain::vehicle::VehicleStatus;
use caas_domain::vehicle_pricing::{self, DEFAULT_MAX_DISCOUNT_PERCENT, SalePrice};
use caas_domain::wit::Job;
use caas_domain::Problem;
use caas_platform::db::{Db, DbError};
use caas_platform::idempotency::{self, Idempotent};
use caas_platform::store::orders::{self, NewOrder, Order, TimelineEvent};
use caas_platform::store::{accounts, vehicles};
use caas_platform::{Resp, auth, clock, queue, rand, req, resp, vars};
use serde::Serialize;
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
        ("GET", "/models") => models(req).await,
        ("GET", id) if id.starts_with('/') && !id[1..].contains('/') => get_sale(req, &id[1..]).await,
        (_, id) if id.starts_with('/') && !id[1..].contains('/') => Err(resp::method_not_allowed(&method, &path, &["GET"])),
        _ => Err(Problem::not_found(format!("no route {path}"))),
    }
}

/// `GET /api/sales/models` (employees, admins): what the sale form offers — every model of the
/// price list (`caas_domain::vehicle_pricing`, the shipped seed) with its list prices, the most
/// discount an employee may give, and the catalog options a plan comercial may include (the
/// offered, non-retired options).
async fn models(req: Request) -> Result<Resp, Problem> {
    auth::require(&req, STAFF).await?;
    let max_discount = vars::u64_or("max_vehicle_discount_percent", DEFAULT_MAX_DISCOUNT_PERCENT as u64).await.min(100);
    let db = Db::open_for_request().await?;
    let catalog = caas_platform::services::load_catalog(&db).await?;
    let models: Vec<Value> = vehicle_pricing::seed_price_list()
        .models
        .iter()
        .map(|m| {
            let prices: Vec<Value> = m.list_prices.iter().map(|p| json!({"amount_minor": p.amount_minor, "currency": p.currency})).collect();
            json!({"code": m.code, "name": m.name, "list_prices": prices})
        })
        .collect();
    let options: Vec<Value> = catalog.offered().map(caas_platform::services::option_json).collect();
    Ok(resp::json(200, &json!({"max_discount_percent": max_discount, "models": models, "plan_options": options})))
}

enum Outcome {
    Created(String),
    Replayed(u16, String),
    KeyReused,
    /// The e-mail belongs to a customer who is not this sale's person (which fields differ).
    NotSamePerson(String),
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

/// A sale for an e-mail that already has an account attaches to it only if it is the same
/// person: the national id and the full name (case and spacing aside) must match.
fn identity_mismatch(existing: &accounts::Customer, new: &caas_domain::sale::NewCustomer) -> Option<String> {
    let norm = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
    let mut differ = Vec::new();
    if existing.national_id.trim().to_uppercase() != new.national_id {
        differ.push("national_id");
    }
    if norm(&existing.full_name) != norm(&new.full_name) {
        differ.push("full_name");
    }
    (!differ.is_empty()).then(|| {
        format!(
            "e-mail {} already belongs to a customer whose {} does not match this sale; a new order is attached only to the same person",
            new.email,
            differ.join(" and ")
        )
    })
}

/// Everything the sale's transaction writes, decided before it starts.
struct SaleTx {
    principal: Principal,
    sale: NewSale,
    pricing: SalePrice,
    stock_vin: Option<String>,
    idem: Idempotent,
    /// The set-password link token (only its SHA-256 is stored) and the e-mailed link.
    token: String,
    link: String,
    customer_id: String,
    order_id: String,
    message_id: String,
}

async fn register(req: Request) -> Result<Resp, Problem> {
    let principal = auth::require(&req, EMPLOYEE).await?;
    let key = idempotency::require_key(&req)?;
    let body = req::json_body(req).await?;
    let (mut sale, pricing) = priced_sale(&body).await?;
    let stock_vin = stock_vin(&body)?;
    // Financing terms (optional): checked against the price after discount and the deposit.
    sale.financing = caas_domain::sale::validate_financing(&body, sale.prices.vehicle_price_minor, sale.prices.deposit_minor)
        .map_err(|e| Problem::unprocessable("invalid-financing", "the financing terms are not valid for this sale").with_errors(e))?;
    let idem = Idempotent::new(format!("sales:{}", principal.subject_id), key, &body);
    let db = Db::open_for_request().await?;
    // Fast path: replay / mismatch / duplicate e-mail, before the expensive hashing.
    if let Some(answer) = idem.stored_answer(&db).await? {
        return answer;
    }
    // The plan comercial: offered catalog options only (unknown or retired codes refused).
    let catalog = caas_platform::services::load_catalog(&db).await?;
    caas_domain::sale::check_plan_options(&sale.plan_options, &catalog).map_err(|r| {
        let errors = r.unknown.iter().chain(&r.retired).filter_map(|c| sale.plan_options.iter().position(|o| o == c).map(|i| (i, c)));
        let errors = errors.map(|(i, c)| caas_domain::FieldError::new(format!("/plan_options/{i}"), format!("{c} cannot be sold")));
        Problem::unprocessable("unknown-plan-option", r.detail()).with_errors(errors.collect())
    })?;
    if let Some(existing) = accounts::customer_by_email(&db, &sale.customer.email).await? {
        if let Some(why) = identity_mismatch(&existing, &sale.customer) {
            return Err(Problem::conflict("customer-mismatch", why));
        }
    }
    // Credentials: no password exists until the customer chooses one through the e-mailed
    // single-use link; only the link token's SHA-256 is stored.
    let token = credentials::make_token(&rand::bytes::<{ credentials::TOKEN_RANDOM_BYTES }>());
    let link = credentials::set_password_link(&vars::base_url("app_url").await?, &token);
    let ids = (rand::id(IdKind::Customer), rand::id(IdKind::Order), rand::id(IdKind::Message));
    let s = SaleTx { principal, sale, pricing, stock_vin, idem, token, link, customer_id: ids.0, order_id: ids.1, message_id: ids.2 };
    let outcome = db.transaction(async |tx: &Db| -> Result<Outcome, TxError> { persist(tx, &s).await }).await;
    respond(outcome, &s.sale.customer.email)
}

fn respond(outcome: Result<Outcome, TxError>, email: &str) -> Result<Resp, Problem> {
    match outcome {
        Ok(Outcome::Created(body)) => Ok(resp::json_raw(201, body)),
        Ok(Outcome::Replayed(status, body)) => Ok(resp::json_raw(status, body)),
        Ok(Outcome::KeyReused) => Err(idempotency::key_reused()),
        Ok(Outcome::NotSamePerson(why)) => Err(Problem::conflict("customer-mismatch", why)),
        Err(TxError::EmailTaken) => Err(email_taken(email)),
        Err(TxError::VehicleUnavailable(why)) => Err(Problem::conflict("vehicle-not-in-stock", why)),
        Err(TxError::Db(e)) => Err(e.into()),
    }
}

/// The vehicle price comes from the model's list price, less an explicit bounded discount
/// (caas_domain::vehicle_pricing); a sent `vehicle_price_minor` must agree with it.
async fn priced_sale(body: &Value) -> Result<(NewSale, SalePrice), Problem> {
    let max_discount = vars::u64_or("max_vehicle_discount_percent", DEFAULT_MAX_DISCOUNT_PERCENT as u64).await.min(100) as u32;
    let pricing = vehicle_pricing::price_sale(&vehicle_pricing::seed_price_list(), body, max_discount)
        .map_err(|e| Problem::unprocessable(e.code, e.detail).with_errors(e.errors))?;
    let mut priced_body = body.clone();
    if let (Some(p), Some(prices)) = (&pricing, priced_body.get_mut("prices").and_then(Value::as_object_mut)) {
        prices.entry("vehicle_price_minor").or_insert(json!(p.vehicle_price_minor));
    }
    let sale = validate_sale(&priced_body).map_err(Problem::validation)?;
    // Validation passed, so model and currency were strings and pricing ran.
    let pricing = pricing.ok_or_else(|| Problem::unprocessable("unknown-model", format!("model {} has no list price", sale.model)))?;
    Ok((sale, pricing))
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

/// The whole sale in one transaction: re-check under the write lock, then the named steps.
async fn persist(tx: &Db, s: &SaleTx) -> Result<Outcome, TxError> {
    let now = clock::now_ms();
    // Re-check under the write lock (concurrent duplicates of the same request).
    match s.idem.lookup(tx).await? {
        Replay::Replay { status, body } => return Ok(Outcome::Replayed(status, body)),
        Replay::Mismatch => return Ok(Outcome::KeyReused),
        Replay::Fresh => {}
    }
    // A returning customer (issue 8): the e-mail already has an account — the new order is
    // attached to it (same person only), and no credentials are sent (they have them).
    let returning = accounts::customer_by_email(tx, &s.sale.customer.email).await?;
    if let Some(why) = returning.as_ref().and_then(|c| identity_mismatch(c, &s.sale.customer)) {
        return Ok(Outcome::NotSamePerson(why));
    }
    if let Some(vin) = &s.stock_vin {
        check_stock(tx, vin, &s.sale.model).await?;
    }
    let customer_id = match &returning {
        Some(c) => c.id.clone(),
        None => {
            create_customer(tx, s, now).await?;
            s.customer_id.clone()
        }
    };
    create_order(tx, s, &customer_id, now).await?;
    if let Some(vin) = &s.stock_vin {
        assign_stock_vehicle(tx, &s.order_id, vin, now).await?;
    }
    orders::add_plan_options(tx, &s.order_id, &s.sale.plan_options).await?;
    if let Some(f) = &s.sale.financing {
        orders::set_financing(tx, &s.order_id, f).await?;
        let money = |m: i64| format!("{}.{:02} {}", m / 100, m % 100, s.sale.prices.currency);
        let detail = format!(
            "financed by {}: {} over {} months at {} a month",
            f.lender_reference,
            money(f.financed_amount_minor),
            f.term_months,
            money(f.monthly_amount_minor)
        );
        orders::event(tx, &s.order_id, now, "financing-agreed", detail).await?;
    }
    record_registration(tx, s, returning.is_some(), now).await?;
    match &returning {
        Some(c) => tell_returning_customer(tx, s, c, now).await?,
        None => queue_credentials(tx, s, now).await?,
    }
    let body = serde_json::to_string(&sale_created(s, returning.as_ref())).map_err(|e| DbError::Other(e.to_string()))?;
    s.idem.record(tx, 201, &body, now).await?;
    Ok(Outcome::Created(body))
}

/// The named stock vehicle is in dealership stock and of the sold model.
async fn check_stock(tx: &Db, vin: &str, model: &str) -> Result<(), TxError> {
    match vehicles::load(tx, vin).await? {
        Some(v) if v.status == Some(VehicleStatus::Stock) && v.model == model => Ok(()),
        Some(v) if v.status == Some(VehicleStatus::Stock) => {
            Err(TxError::VehicleUnavailable(format!("stock vehicle {vin} is a {}, not a {model}", v.model)))
        }
        _ => Err(not_in_stock(vin)),
    }
}

fn not_in_stock(vin: &str) -> TxError {
    TxError::VehicleUnavailable(format!("vehicle {vin} is not in dealership stock"))
}

async fn create_customer(tx: &Db, s: &SaleTx, now: i64) -> Result<(), TxError> {
    accounts::insert_customer(tx, &s.customer_id, &s.sale.customer, &s.sale.delivery_address, &s.sale.country, s.sale.language, now)
        .await
        .map_err(|e| if e.is_unique_violation() { TxError::EmailTaken } else { TxError::Db(e) })
}

/// The order with its price audit (list price, and who gave what discount and why).
async fn create_order(tx: &Db, s: &SaleTx, customer_id: &str, now: i64) -> Result<(), DbError> {
    let (sale, p) = (&s.sale, &s.pricing);
    let order = NewOrder {
        id: &s.order_id,
        customer_id,
        employee_id: &s.principal.subject_id,
        model: &sale.model,
        country: &sale.country,
        currency: &sale.prices.currency,
        vehicle_price_minor: sale.prices.vehicle_price_minor,
        deposit_minor: sale.prices.deposit_minor,
        list_price_minor: p.list_price_minor,
        discount_minor: p.discount_minor,
        discount_reason: p.discount_reason.clone(),
        discount_by: (p.discount_minor > 0).then(|| s.principal.subject_id.clone()),
    };
    orders::insert(tx, &order, now).await?;
    orders::event(tx, &s.order_id, now, "vehicle-priced", priced_detail(&sale.model, p)).await
}

fn priced_detail(model: &str, p: &SalePrice) -> String {
    let money = |m: i64| format!("{}.{:02} {}", m / 100, m % 100, p.currency);
    if p.discount_minor > 0 {
        format!("{model}: list price {}, discount {}, price {}", money(p.list_price_minor), money(p.discount_minor), money(p.vehicle_price_minor))
    } else {
        format!("{model}: list price {}", money(p.list_price_minor))
    }
}

async fn assign_stock_vehicle(tx: &Db, order_id: &str, vin: &str, now: i64) -> Result<(), TxError> {
    if !vehicles::take_from_stock(tx, vin, order_id, now).await? {
        return Err(not_in_stock(vin));
    }
    orders::set_stock_vin(tx, order_id, vin).await?;
    orders::event(tx, order_id, now, "stock-vehicle-assigned", format!("dealership stock vehicle {vin} assigned to this sale")).await?;
    Ok(())
}

/// The customer's timeline never shows staff ids: who registered the sale is a `staff:` event.
async fn record_registration(tx: &Db, s: &SaleTx, returning: bool, now: i64) -> Result<(), DbError> {
    let p = &s.principal;
    let third = if returning {
        ("order-notice-queued", format!("returning customer: new-order e-mail queued to {} (no new credentials)", s.sale.customer.email))
    } else {
        ("credentials-queued", format!("credentials e-mail {} queued to {}", s.message_id, s.sale.customer.email))
    };
    let events = [
        ("sale-registered", "sale registered at the dealership".to_string()),
        ("staff:sale-registered", format!("registered by {} ({})", p.subject_id, p.role.as_str())),
        third,
    ];
    for (kind, detail) in events {
        orders::event(tx, &s.order_id, now, kind, detail).await?;
    }
    Ok(())
}

/// The welcome token and the credentials e-mail. The link travels in the job until the e-mail
/// is sent; the retry tick redacts it then.
async fn queue_credentials(tx: &Db, s: &SaleTx, now: i64) -> Result<(), DbError> {
    let c = &s.sale.customer;
    accounts::insert_password_token(tx, &credentials::token_hash(&s.token), &s.customer_id, Role::Customer, Purpose::Welcome, now).await?;
    let job = Job::Notify(credentials_notification(&s.message_id, &s.customer_id, &c.email, &c.full_name, &s.link, s.sale.language));
    queue::enqueue(tx, &job, &format!("credentials:{}", s.customer_id), now).await?;
    Ok(())
}

/// The returning customer is told, in their language and on their channels, that a new order
/// was registered on their account (caas_domain::messages::order_registered).
async fn tell_returning_customer(tx: &Db, s: &SaleTx, c: &accounts::Customer, now: i64) -> Result<(), DbError> {
    let m = caas_domain::messages::order_registered(&c.full_name, &s.order_id, &s.sale.model);
    caas_platform::notify::send_to_customer(tx, &c.id, None, &format!("{}:order-registered", s.order_id), &m, now).await?;
    Ok(())
}

/// OpenAPI `SaleCreated` (fields in alphabetical order, like the stored replay).
#[derive(Serialize)]
struct SaleCreated {
    /// None for a returning customer (no credentials e-mail: they already have an account).
    credentials_sent_to: Option<String>,
    customer_email: String,
    customer_id: String,
    /// Only for a financed sale.
    #[serde(skip_serializing_if = "Option::is_none")]
    financing: Option<orders::OrderFinancing>,
    order_id: String,
    pricing: SalePricing,
    returning_customer: bool,
    status: OrderStatus,
}

fn sale_created(s: &SaleTx, returning: Option<&accounts::Customer>) -> SaleCreated {
    let p = &s.pricing;
    SaleCreated {
        credentials_sent_to: returning.is_none().then(|| s.sale.customer.email.clone()),
        customer_email: s.sale.customer.email.clone(),
        customer_id: returning.map_or_else(|| s.customer_id.clone(), |c| c.id.clone()),
        financing: s.sale.financing.as_ref().map(|f| orders::OrderFinancing {
            financed_amount_minor: f.financed_amount_minor,
            lender_reference: f.lender_reference.clone(),
            monthly_amount_minor: f.monthly_amount_minor,
            term_months: f.term_months,
        }),
        order_id: s.order_id.clone(),
        pricing: SalePricing::new(p.list_price_minor, p.discount_minor, p.discount_reason.clone(), Some(s.principal.subject_id.clone()), &p.currency),
        returning_customer: returning.is_some(),
        status: OrderStatus::INITIAL,
    }
}

/// OpenAPI `SalePricing`: the price audit of an order (staff view): list price, discount (how
/// much, why, by whom), price.
#[derive(Serialize)]
struct SalePricing {
    currency: String,
    discount: Option<Discount>,
    list_price_minor: i64,
    vehicle_price_minor: i64,
}

#[derive(Serialize)]
struct Discount {
    amount_minor: i64,
    by: Option<String>,
    reason: Option<String>,
}

impl SalePricing {
    fn new(list_minor: i64, discount_minor: i64, reason: Option<String>, by: Option<String>, currency: &str) -> SalePricing {
        SalePricing {
            currency: currency.to_string(),
            discount: (discount_minor > 0).then_some(Discount { amount_minor: discount_minor, by, reason }),
            list_price_minor: list_minor,
            vehicle_price_minor: list_minor - discount_minor,
        }
    }

    /// Orders from before the price list have no list price: their price stands as sold.
    fn of(o: &Order) -> SalePricing {
        let list = o.list_price_minor.unwrap_or(o.vehicle_price_minor);
        SalePricing::new(list, o.discount_minor.unwrap_or(0), o.discount_reason.clone(), o.discount_by.clone(), &o.currency)
    }
}

/// OpenAPI `SaleSummary` (fields in alphabetical order).
#[derive(Serialize)]
struct SaleSummary {
    country: String,
    created_at: i64,
    customer: SaleCustomer,
    delivery_address: Address,
    employee_id: String,
    /// Only for a financed sale.
    #[serde(skip_serializing_if = "Option::is_none")]
    financing: Option<orders::OrderFinancing>,
    model: String,
    order_id: String,
    plan_options: Vec<String>,
    prices: SalePrices,
    pricing: SalePricing,
    status: OrderStatus,
    timeline: Vec<TimelineEvent>,
    updated_at: i64,
}

#[derive(Serialize)]
struct SaleCustomer {
    email: String,
    full_name: String,
    id: String,
    national_id: String,
    phone: String,
}

#[derive(Serialize)]
struct SalePrices {
    currency: String,
    deposit_minor: i64,
    vehicle_price_minor: i64,
}

async fn get_sale(req: Request, order_id: &str) -> Result<Resp, Problem> {
    auth::require(&req, STAFF).await?;
    let no_sale = || Problem::not_found(format!("no sale {order_id}"));
    if !is_id(IdKind::Order, order_id) {
        return Err(no_sale());
    }
    let db = Db::open_for_request().await?;
    let Some(o) = orders::load_order(&db, order_id).await? else { return Err(no_sale()) };
    let Some(c) = accounts::load_customer(&db, &o.customer_id).await? else { return Err(no_sale()) };
    let plan_options = orders::plan_options(&db, order_id).await?;
    let timeline = orders::timeline(&db, order_id).await?;
    Ok(resp::json(200, &sale_summary(o, c, plan_options, timeline)))
}

fn sale_summary(o: Order, c: accounts::Customer, plan_options: Vec<String>, timeline: Vec<TimelineEvent>) -> SaleSummary {
    SaleSummary {
        pricing: SalePricing::of(&o),
        country: o.country,
        created_at: o.created_at,
        customer: SaleCustomer { email: c.email, full_name: c.full_name, id: c.id, national_id: c.national_id, phone: c.phone },
        delivery_address: c.address,
        employee_id: o.employee_id.unwrap_or_default(),
        financing: o.financing,
        model: o.model,
        order_id: o.id,
        plan_options,
        prices: SalePrices { currency: o.currency, deposit_minor: o.deposit_minor, vehicle_price_minor: o.vehicle_price_minor },
        status: o.status,
        timeline,
        updated_at: o.updated_at,
    }
}
