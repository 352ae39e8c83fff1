//! `/api/catalog/...`: the catalog of opciones disponibles.
//!
//! * `GET /api/catalog[?vin=]` (any signed-in user): every offered option; with `vin` (the
//!   customer's own vehicle) each is marked available or blocked, with the reason. Maintenance is
//!   asked to VSS only when some option depends on it; VSS unreachable → available, recorded as
//!   "assumed current".
//! * Admin (`admin` role): `GET /api/catalog/admin/options` (retired included),
//!   `POST /api/catalog/admin/options` (add), `POST /api/catalog/admin/options/{code}/price`
//!   (reprice: future purchases only — sold services keep their snapshot),
//!   `POST /api/catalog/admin/options/{code}/retire`.
//!
//! The table is seeded from the shipped seed data on first use. Rules: `caas_domain::services::catalog`.
use caas_domain::Problem;
use caas_domain::auth::Role;
use caas_domain::services::catalog::{self, Availability, CatalogError, Duration, MaintenanceStatus, OptionKind, OptionStatus, ServiceOption};
use caas_domain::services::lifecycle::ServiceState;
use caas_domain::vehicle::normalize_vin;
use caas_domain::wit::Money;
use caas_domain::FieldError;
use caas_platform::db::{Db, DbError};
use caas_platform::store::vehicles;
use caas_platform::services::{self as svc, option_json};
use caas_platform::{Resp, auth, clock, req, resp, vars};
use serde_json::{Value, json};
use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;
use std::collections::BTreeMap;

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    caas_platform::guard(route(req)).await
}

async fn route(req: Request) -> Result<Resp, Problem> {
    let path = req::path(&req);
    let method = req.method().as_str().to_string();
    let rest = path.strip_prefix("/api/catalog").unwrap_or("/");
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    match (method.as_str(), segs.as_slice()) {
        ("GET", []) => customer_view(req).await,
        ("GET", ["admin", "options"]) => admin_list(req).await,
        ("POST", ["admin", "options"]) => admin_add(req).await,
        ("POST", ["admin", "options", code, "price"]) => {
            let code = code.to_string();
            admin_reprice(req, &code).await
        }
        ("POST", ["admin", "options", code, "retire"]) => {
            let code = code.to_string();
            admin_retire(req, &code).await
        }
        (_, []) => Err(resp::method_not_allowed(&method, &path, &["GET"])),
        (_, ["admin", "options"]) => Err(resp::method_not_allowed(&method, &path, &["GET", "POST"])),
        (_, ["admin", "options", _, "price"]) => Err(resp::method_not_allowed(&method, &path, &["POST"])),
        (_, ["admin", "options", _, "retire"]) => Err(resp::method_not_allowed(&method, &path, &["POST"])),
        _ => Err(Problem::not_found(format!("no route {path}"))),
    }
}

fn maintenance_str(m: MaintenanceStatus) -> &'static str {
    match m {
        MaintenanceStatus::Current => "current",
        MaintenanceStatus::Overdue => "overdue",
        MaintenanceStatus::Unknown => "unknown",
    }
}

async fn customer_view(req: Request) -> Result<Resp, Problem> {
    let principal = auth::require(&req, &[Role::Customer, Role::Employee, Role::Admin]).await?;
    let vin = req::query(&req, "vin");
    let db = Db::open_for_request().await?;
    let cat = svc::load_catalog(&db).await?;
    let Some(vin_raw) = vin.filter(|v| !v.trim().is_empty()) else {
        let options: Vec<Value> = cat.offered().map(option_json).collect();
        return Ok(resp::json(200, &json!({"options": options})));
    };
    let Some(vin) = normalize_vin(&vin_raw) else {
        return Err(Problem::validation(vec![FieldError::new("/vin", "must be a 17-character VIN")]));
    };
    // Only the customer's own vehicle (404 otherwise, whoever asks).
    let owned = if principal.role == Role::Customer {
        svc::owned_vehicle(&db, &principal.subject_id, &vin).await?
    } else {
        None
    };
    let Some(vehicle) = owned else {
        return Err(Problem::not_found(format!("no vehicle {vin} on your account")));
    };
    let existing = existing_services(&db, &vin).await?;
    let (maintenance, note) = maintenance_of(&cat, &vin).await?;
    let view = catalog::customer_view(&cat, true, vehicle.operational, maintenance, &existing);
    let options: Vec<Value> = view.iter().map(line_json).collect();
    let assumed_current = maintenance == MaintenanceStatus::Unknown && catalog::needs_maintenance_check(&cat);
    let maintenance = json!({"status": maintenance_str(maintenance), "assumed_current": assumed_current, "detail": note});
    Ok(resp::json(200, &json!({"vin": vin, "maintenance": maintenance, "options": options})))
}

/// The vehicle's services by (lower-case) option code.
async fn existing_services(db: &Db, vin: &str) -> Result<BTreeMap<String, Vec<ServiceState>>, Problem> {
    let mut existing: BTreeMap<String, Vec<ServiceState>> = BTreeMap::new();
    for (code, state) in vehicles::service_states(db, vin).await? {
        existing.entry(code.to_ascii_lowercase()).or_default().push(state);
    }
    Ok(existing)
}

/// The vehicle's maintenance status from VSS, asked only when an offered option needs it.
async fn maintenance_of(cat: &catalog::Catalog, vin: &str) -> Result<(MaintenanceStatus, String), Problem> {
    if !catalog::needs_maintenance_check(cat) {
        return Ok((MaintenanceStatus::Unknown, "not needed".to_string()));
    }
    let vss_url = vars::base_url("vss_url").await?;
    Ok(svc::vss_maintenance(&vss_url, vin).await)
}

/// One option of the customer's view, with its availability.
fn line_json(l: &catalog::OptionView<'_>) -> Value {
    let mut v = option_json(l.option);
    match &l.availability {
        Availability::Available { maintenance } => {
            v["available"] = json!(true);
            v["maintenance_decision"] = json!(maintenance.as_str());
        }
        Availability::Blocked { reason_code, message } => {
            v["available"] = json!(false);
            v["blocked_reason"] = json!(reason_code.code());
            v["blocked_message"] = json!(message);
        }
    }
    v
}

async fn admin_list(req: Request) -> Result<Resp, Problem> {
    auth::require(&req, &[Role::Admin]).await?;
    let db = Db::open_for_request().await?;
    let cat = svc::load_catalog(&db).await?;
    let options: Vec<Value> = cat.options.iter().map(option_json).collect();
    Ok(resp::json(200, &json!({"options": options})))
}

fn catalog_problem(e: CatalogError) -> Problem {
    match e {
        CatalogError::Invalid(errs) => Problem::validation(errs),
        CatalogError::DuplicateCode(c) => Problem::conflict("option-exists", format!("option {c} already exists (codes are never reused)")),
        CatalogError::UnknownCode(c) => Problem::not_found(format!("no option {c}")),
        CatalogError::Retired(c) => Problem::conflict("option-retired", format!("option {c} is retired")),
        CatalogError::Parse(m) => Problem::bad_request(m),
    }
}

fn str_field(body: &Value, name: &str, errs: &mut Vec<FieldError>) -> String {
    match body.get(name) {
        Some(Value::String(s)) => s.clone(),
        _ => {
            errs.push(FieldError::new(format!("/{name}"), "is required and must be a string"));
            String::new()
        }
    }
}

/// `{"amount_minor": 1234, "currency": "EUR"}` → Money (field errors under `pointer`).
fn parse_price(v: Option<&Value>, pointer: &str, errs: &mut Vec<FieldError>) -> Money {
    let amount = v.and_then(|p| p.get("amount_minor")).and_then(Value::as_i64);
    let currency = v.and_then(|p| p.get("currency")).and_then(Value::as_str);
    if amount.is_none() {
        errs.push(FieldError::new(format!("{pointer}/amount_minor"), "is required and must be an integer (minor units)"));
    }
    if currency.is_none() {
        errs.push(FieldError::new(format!("{pointer}/currency"), "is required and must be a string"));
    }
    Money { amount_minor: amount.unwrap_or(1), currency: currency.unwrap_or("EUR").to_string() }
}

fn parse_option(body: &Value) -> Result<ServiceOption, Vec<FieldError>> {
    let mut errs = Vec::new();
    if !body.is_object() {
        return Err(vec![FieldError::new("", "must be a JSON object")]);
    }
    let code = str_field(body, "code", &mut errs);
    let feature = match body.get("feature") {
        None | Some(Value::Null) => code.clone(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => {
            errs.push(FieldError::new("/feature", "must be a string"));
            String::new()
        }
    };
    let name = str_field(body, "name", &mut errs);
    let description = str_field(body, "description", &mut errs);
    let price = parse_price(body.get("price"), "/price", &mut errs);
    let kind = parse_kind(body, &mut errs);
    let requires_maintenance = match body.get("requires_maintenance") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            errs.push(FieldError::new("/requires_maintenance", "must be a boolean"));
            false
        }
    };
    if !errs.is_empty() {
        return Err(errs);
    }
    let billed_by = match body.get("billed_by") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if caas_domain::services::catalog::Metering::parse(s).is_some() => caas_domain::services::catalog::Metering::parse(s),
        Some(_) => return Err(vec![FieldError::new("/billed_by", "must be \"day-used\" (a subscription billed per day used) or null")]),
    };
    validated(ServiceOption { code, feature, name, description, price, kind, requires_maintenance, status: OptionStatus::Active, billed_by })
}

/// `kind` (+ `duration_days` | `duration_months` for a temporary option).
fn parse_kind(body: &Value, errs: &mut Vec<FieldError>) -> OptionKind {
    match body.get("kind").and_then(Value::as_str) {
        Some("permanent") => OptionKind::Permanent,
        Some("subscription") => OptionKind::Subscription,
        Some("temporary") => match parse_duration(body) {
            Ok(duration) => OptionKind::Temporary { duration },
            Err(e) => {
                errs.push(e);
                OptionKind::Permanent
            }
        },
        _ => {
            errs.push(FieldError::new("/kind", "must be one of temporary, permanent, subscription"));
            OptionKind::Permanent
        }
    }
}

fn parse_duration(body: &Value) -> Result<Duration, FieldError> {
    let count = |v: &Value, pointer: &str| {
        v.as_u64().filter(|n| *n <= u32::MAX as u64).map(|n| n as u32).ok_or_else(|| FieldError::new(pointer, "must be a positive integer"))
    };
    let days = body.get("duration_days").filter(|v| !v.is_null());
    let months = body.get("duration_months").filter(|v| !v.is_null());
    match (days, months) {
        (Some(d), None) => count(d, "/duration_days").map(Duration::Days),
        (None, Some(m)) => count(m, "/duration_months").map(Duration::Months),
        _ => Err(FieldError::new("/duration_days", "a temporary option needs exactly one of duration_days or duration_months")),
    }
}

/// Domain validation, with pointers mapped to this API's field names.
fn validated(o: ServiceOption) -> Result<ServiceOption, Vec<FieldError>> {
    let api_pointer = |p: String| {
        p.replace("/price/amount-minor", "/price/amount_minor")
            .replace("/kind/duration/days", "/duration_days")
            .replace("/kind/duration/months", "/duration_months")
    };
    match catalog::validate_option(&o) {
        Ok(()) => Ok(o),
        Err(CatalogError::Invalid(errs)) => Err(errs.into_iter().map(|e| FieldError::new(api_pointer(e.pointer), e.message)).collect()),
        Err(other) => Err(vec![FieldError::new("", other.to_string())]),
    }
}

enum TxErr {
    Db(DbError),
    Catalog(CatalogError),
}
impl From<DbError> for TxErr {
    fn from(e: DbError) -> Self {
        TxErr::Db(e)
    }
}
fn tx_problem(e: TxErr) -> Problem {
    match e {
        TxErr::Db(e) => e.into(),
        TxErr::Catalog(e) => catalog_problem(e),
    }
}

async fn admin_add(req: Request) -> Result<Resp, Problem> {
    auth::require(&req, &[Role::Admin]).await?;
    let body = req::json_body(req).await?;
    let option = parse_option(&body).map_err(Problem::validation)?;
    let db = Db::open_for_request().await?;
    svc::load_catalog(&db).await?; // seed first: a new option never shadows a seed code
    let now = clock::now_ms();
    let added = db
        .transaction(async |tx: &Db| -> Result<ServiceOption, TxErr> {
            let cat = svc::load_catalog(tx).await?;
            let next = catalog::add_option(&cat, option.clone()).map_err(TxErr::Catalog)?;
            let o = next.get(&option.code).cloned().ok_or(TxErr::Catalog(CatalogError::UnknownCode(option.code.clone())))?;
            let pos = tx.query_one("SELECT COALESCE(MAX(position), -1) + 1 AS p FROM catalog_options", vec![]).await?.map(|r| r.i64("p")).unwrap_or(0);
            svc::insert_option(tx, &o, pos, now).await?;
            Ok(o)
        })
        .await
        .map_err(tx_problem)?;
    Ok(resp::json(201, &option_json(&added)))
}

async fn admin_reprice(req: Request, code: &str) -> Result<Resp, Problem> {
    auth::require(&req, &[Role::Admin]).await?;
    let body = req::json_body(req).await?;
    let mut errs = Vec::new();
    // Accept `{"price": {...}}` or the price object itself.
    let price_v = body.get("price").unwrap_or(&body);
    let price = parse_price(Some(price_v), "/price", &mut errs);
    if !errs.is_empty() {
        return Err(Problem::validation(errs));
    }
    let db = Db::open_for_request().await?;
    svc::load_catalog(&db).await?;
    let now = clock::now_ms();
    let code = code.to_string();
    let updated = db
        .transaction(async |tx: &Db| -> Result<ServiceOption, TxErr> {
            let cat = svc::load_catalog(tx).await?;
            let next = catalog::reprice(&cat, &code, price.clone()).map_err(|e| match e {
                CatalogError::Invalid(errs) => CatalogError::Invalid(
                    errs.into_iter().map(|e| FieldError::new(e.pointer.replace("amount-minor", "amount_minor"), e.message)).collect(),
                ),
                other => other,
            });
            let next = next.map_err(TxErr::Catalog)?;
            let o = next.get(&code).cloned().ok_or(TxErr::Catalog(CatalogError::UnknownCode(code.clone())))?;
            svc::update_option(tx, &o, now).await?;
            Ok(o)
        })
        .await
        .map_err(tx_problem)?;
    Ok(resp::json(200, &option_json(&updated)))
}

async fn admin_retire(req: Request, code: &str) -> Result<Resp, Problem> {
    auth::require(&req, &[Role::Admin]).await?;
    let db = Db::open_for_request().await?;
    svc::load_catalog(&db).await?;
    let now = clock::now_ms();
    let code = code.to_string();
    let updated = db
        .transaction(async |tx: &Db| -> Result<ServiceOption, TxErr> {
            let cat = svc::load_catalog(tx).await?;
            let next = catalog::retire(&cat, &code).map_err(TxErr::Catalog)?;
            let o = next.get(&code).cloned().ok_or(TxErr::Catalog(CatalogError::UnknownCode(code.clone())))?;
            svc::update_option(tx, &o, now).await?;
            Ok(o)
        })
        .await
        .map_err(tx_problem)?;
    Ok(resp::json(200, &option_json(&updated)))
}
