//! Catalog of "opciones disponibles": what a customer can buy for an operational vehicle.
//!
//! Source: issue ("Catalog"), customer-journey.md phase 5 and "Maintenance-Required Services",
//! architecture.md "VSS Integration" and "Failure Handling" (VSS unavailable → allow).
//!
//! * Each option has a code, the IoT feature it switches, a name, a description, a price
//!   (integer minor units + ISO 4217 currency, [`Money`]), a kind (temporary with a duration in
//!   days or months, permanent for the vehicle's lifetime, or a monthly subscription billed in
//!   arrears) and whether it requires current maintenance.
//! * Seeded from `shared/domain/data/catalog.json` ([`seed_catalog`]). Admin operations
//!   ([`add_option`], [`reprice`], [`retire`]) are pure transforms that validate and return the
//!   new catalog. A price change never alters what was already sold: a purchase stores a
//!   [`PurchaseSnapshot`] of the option at purchase time, and every later rule (billing,
//!   refunds) reads the snapshot, never the catalog.
//! * [`availability`] says, per option, whether the customer may buy it now and, if not, why.
use super::lifecycle::ServiceState;
use crate::money::is_currency_code;
use crate::problem::FieldError;
use crate::wit::Money;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The seed catalog shipped with the code.
pub const SEED_JSON: &str = include_str!("../../data/catalog.json");

/// Length of a temporary service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Duration {
    /// Exact 24-hour days from activation.
    Days(u32),
    /// Calendar months from activation (clamped to month end), see `lifecycle::service_end`.
    Months(u32),
}

/// Commercial kind of an option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum OptionKind {
    /// Active for `duration` from activation, paid once up front.
    Temporary { duration: Duration },
    /// Active for the vehicle's lifetime, paid once up front.
    Permanent,
    /// Monthly, billed in arrears (mes vencido) at each month end; `price` is per month.
    Subscription,
}

impl OptionKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            OptionKind::Temporary { .. } => "temporary",
            OptionKind::Permanent => "permanent",
            OptionKind::Subscription => "subscription",
        }
    }
    /// Paid once at purchase (temporary, permanent) rather than billed monthly.
    pub fn is_one_time(&self) -> bool {
        !matches!(self, OptionKind::Subscription)
    }
}

/// How a subscription is billed when not at a flat monthly price: by use, from the vehicle's
/// daily usage telemetry (issue 10). `price` is then the price of one unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Metering {
    /// Per day on which the feature was used (a day counts once however long it was used).
    DayUsed,
}

impl Metering {
    pub fn as_str(self) -> &'static str {
        match self {
            Metering::DayUsed => "day-used",
        }
    }
    pub fn parse(s: &str) -> Option<Metering> {
        (s == "day-used").then_some(Metering::DayUsed)
    }
}

/// Whether the option can still be sold. Retired options stay in the catalog (purchases and
/// history reference them) but are not offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OptionStatus {
    Active,
    Retired,
}

/// One catalog option. JSON: kebab-case fields, price as `{"amount-minor", "currency"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ServiceOption {
    /// `^[a-z][a-z0-9-]{2,47}$`, unique in the catalog, immutable.
    pub code: String,
    /// IoT feature key sent in OTA commands (same format as `code`).
    pub feature: String,
    pub name: String,
    pub description: String,
    #[serde(with = "price_serde")]
    pub price: Money,
    pub kind: OptionKind,
    pub requires_maintenance: bool,
    #[serde(default = "active")]
    pub status: OptionStatus,
    /// A subscription billed by use (`price` per unit) instead of a flat monthly price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billed_by: Option<Metering>,
}

fn active() -> OptionStatus {
    OptionStatus::Active
}

/// The whole catalog, in a stable order (by insertion).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    pub options: Vec<ServiceOption>,
}

/// Money as `{"amount-minor": i64, "currency": "EUR"}` (the kebab-case WIT naming).
pub mod price_serde {
    use crate::wit::Money;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "kebab-case", deny_unknown_fields)]
    struct Price {
        amount_minor: i64,
        currency: String,
    }

    pub fn serialize<S: Serializer>(m: &Money, s: S) -> Result<S::Ok, S::Error> {
        Price { amount_minor: m.amount_minor, currency: m.currency.clone() }.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Money, D::Error> {
        let p = Price::deserialize(d)?;
        Ok(Money { amount_minor: p.amount_minor, currency: p.currency })
    }
}

/// Catalog errors: either field errors (400 with `errors[]`) or a conflict/not found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogError {
    /// Invalid input; pointers are relative to the option object (e.g. `/price/amount-minor`).
    Invalid(Vec<FieldError>),
    /// `add_option` with a code already in the catalog (409).
    DuplicateCode(String),
    /// No option with that code (404).
    UnknownCode(String),
    /// Reprice/retire of a retired option (409).
    Retired(String),
    /// The seed file does not parse.
    Parse(String),
}

impl std::fmt::Display for CatalogError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CatalogError::Invalid(errs) => {
                write!(f, "invalid option:")?;
                for e in errs {
                    write!(f, " {} {};", e.pointer, e.message)?;
                }
                Ok(())
            }
            CatalogError::DuplicateCode(c) => write!(f, "option {c:?} already exists"),
            CatalogError::UnknownCode(c) => write!(f, "no option {c:?}"),
            CatalogError::Retired(c) => write!(f, "option {c:?} is retired"),
            CatalogError::Parse(e) => write!(f, "catalog does not parse: {e}"),
        }
    }
}
impl std::error::Error for CatalogError {}

/// Longest temporary durations accepted (sanity bound, 10 years).
pub const MAX_DAYS: u32 = 3650;
pub const MAX_MONTHS: u32 = 120;
/// Largest price accepted (1,000,000.00 in a 2-decimal currency).
pub const MAX_PRICE_MINOR: i64 = 100_000_000;

/// `^[a-z][a-z0-9-]{2,47}$`, no `--`, no trailing `-`.
pub fn is_valid_code(code: &str) -> bool {
    let b = code.as_bytes();
    (3..=48).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && !code.contains("--")
        && !code.ends_with('-')
}

/// Price rule: strictly positive, at most [`MAX_PRICE_MINOR`], well-formed currency.
pub fn validate_price(price: &Money, pointer: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if price.amount_minor <= 0 {
        errs.push(FieldError::new(format!("{pointer}/amount-minor"), "must be greater than 0"));
    } else if price.amount_minor > MAX_PRICE_MINOR {
        errs.push(FieldError::new(format!("{pointer}/amount-minor"), format!("must be at most {MAX_PRICE_MINOR}")));
    }
    if !is_currency_code(&price.currency) {
        errs.push(FieldError::new(format!("{pointer}/currency"), "must be an ISO 4217 code (3 uppercase letters)"));
    } else if !crate::sale::is_market_currency(&price.currency) {
        errs.push(FieldError::new(
            format!("{pointer}/currency"),
            format!("must be a currency the markets use ({})", crate::sale::market_currencies().join(", ")),
        ));
    }
    errs
}

/// Validates one option on its own (field errors, all of them at once).
pub fn validate_option(o: &ServiceOption) -> Result<(), CatalogError> {
    let mut errs = Vec::new();
    if !is_valid_code(&o.code) {
        errs.push(FieldError::new("/code", "must match ^[a-z][a-z0-9-]{2,47}$ (lowercase letters, digits, single dashes)"));
    }
    if !is_valid_code(&o.feature) {
        errs.push(FieldError::new("/feature", "must match ^[a-z][a-z0-9-]{2,47}$"));
    }
    let name = o.name.trim();
    if name.is_empty() || name.chars().count() > 80 || o.name.chars().any(char::is_control) {
        errs.push(FieldError::new("/name", "must be 1 to 80 characters without control characters"));
    }
    if o.description.trim().is_empty() || o.description.chars().count() > 1000 {
        errs.push(FieldError::new("/description", "must be 1 to 1000 characters"));
    }
    errs.extend(validate_price(&o.price, "/price"));
    if o.billed_by.is_some() && !matches!(o.kind, OptionKind::Subscription) {
        errs.push(FieldError::new("/billed_by", "only a subscription can be billed by use"));
    }
    if let OptionKind::Temporary { duration } = o.kind {
        match duration {
            Duration::Days(n) if n == 0 || n > MAX_DAYS => {
                errs.push(FieldError::new("/kind/duration/days", format!("must be between 1 and {MAX_DAYS}")))
            }
            Duration::Months(n) if n == 0 || n > MAX_MONTHS => {
                errs.push(FieldError::new("/kind/duration/months", format!("must be between 1 and {MAX_MONTHS}")))
            }
            _ => {}
        }
    }
    if errs.is_empty() { Ok(()) } else { Err(CatalogError::Invalid(errs)) }
}

/// Parses and validates a catalog document (`{"options": [...]}`): every option valid, codes unique.
pub fn parse_catalog(json: &str) -> Result<Catalog, CatalogError> {
    let cat: Catalog = serde_json::from_str(json).map_err(|e| CatalogError::Parse(e.to_string()))?;
    let mut seen = std::collections::BTreeSet::new();
    for (i, o) in cat.options.iter().enumerate() {
        if let Err(CatalogError::Invalid(errs)) = validate_option(o) {
            let errs = errs
                .into_iter()
                .map(|e| FieldError::new(format!("/options/{i}{}", e.pointer), e.message))
                .collect();
            return Err(CatalogError::Invalid(errs));
        }
        if !seen.insert(o.code.as_str()) {
            return Err(CatalogError::DuplicateCode(o.code.clone()));
        }
    }
    Ok(cat)
}

/// The seed catalog (`data/catalog.json`, embedded at compile time; a unit test proves it valid).
pub fn seed_catalog() -> Catalog {
    parse_catalog(SEED_JSON).expect("data/catalog.json is valid (checked by unit tests)")
}

impl Catalog {
    pub fn get(&self, code: &str) -> Option<&ServiceOption> {
        self.options.iter().find(|o| o.code == code)
    }
    /// Options still offered (not retired).
    pub fn offered(&self) -> impl Iterator<Item = &ServiceOption> {
        self.options.iter().filter(|o| o.status == OptionStatus::Active)
    }
}

/// Admin: add a new option (validated; code must be new, including retired codes: a code is never
/// reused so that history stays unambiguous). New options are always `active`.
pub fn add_option(catalog: &Catalog, mut option: ServiceOption) -> Result<Catalog, CatalogError> {
    option.status = OptionStatus::Active;
    validate_option(&option)?;
    if catalog.get(&option.code).is_some() {
        return Err(CatalogError::DuplicateCode(option.code));
    }
    let mut next = catalog.clone();
    next.options.push(option);
    Ok(next)
}

/// Admin: change the price of an option. Affects future purchases only (purchases snapshot the
/// price). The currency may change too. Retired options cannot be repriced.
pub fn reprice(catalog: &Catalog, code: &str, price: Money) -> Result<Catalog, CatalogError> {
    let errs = validate_price(&price, "/price");
    if !errs.is_empty() {
        return Err(CatalogError::Invalid(errs));
    }
    let mut next = catalog.clone();
    let o = next.options.iter_mut().find(|o| o.code == code).ok_or_else(|| CatalogError::UnknownCode(code.into()))?;
    if o.status == OptionStatus::Retired {
        return Err(CatalogError::Retired(code.into()));
    }
    o.price = price;
    Ok(next)
}

/// Admin: stop selling an option. Already-sold instances are unaffected (they keep running,
/// subscriptions keep billing at their snapshot price).
pub fn retire(catalog: &Catalog, code: &str) -> Result<Catalog, CatalogError> {
    let mut next = catalog.clone();
    let o = next.options.iter_mut().find(|o| o.code == code).ok_or_else(|| CatalogError::UnknownCode(code.into()))?;
    if o.status == OptionStatus::Retired {
        return Err(CatalogError::Retired(code.into()));
    }
    o.status = OptionStatus::Retired;
    Ok(next)
}

/// What a purchase records about the option, frozen at purchase time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PurchaseSnapshot {
    pub code: String,
    pub feature: String,
    pub name: String,
    #[serde(with = "price_serde")]
    pub price: Money,
    pub kind: OptionKind,
    pub requires_maintenance: bool,
    /// Billed by use: `price` is per unit (e.g. per day used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billed_by: Option<Metering>,
}

impl PurchaseSnapshot {
    pub fn of(o: &ServiceOption) -> PurchaseSnapshot {
        PurchaseSnapshot {
            code: o.code.clone(),
            feature: o.feature.clone(),
            name: o.name.clone(),
            price: o.price.clone(),
            kind: o.kind,
            requires_maintenance: o.requires_maintenance,
            billed_by: o.billed_by,
        }
    }
}

/// Official maintenance status from VSS (the authoritative source; vehicles never report it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MaintenanceStatus {
    Current,
    Overdue,
    /// VSS unreachable / timed out / unusable answer.
    Unknown,
}

impl MaintenanceStatus {
    /// VSS `status` field (`current` | `overdue`); anything else is `Unknown`.
    pub fn from_vss(s: &str) -> MaintenanceStatus {
        match s {
            "current" => MaintenanceStatus::Current,
            "overdue" => MaintenanceStatus::Overdue,
            _ => MaintenanceStatus::Unknown,
        }
    }
}

/// How the maintenance rule was satisfied for an allowed purchase — recorded with the purchase
/// (issue: "VSS unreachable → allowed and that decision recorded").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MaintenanceDecision {
    /// The option does not depend on maintenance (never blocked by it, VSS not needed).
    NotRequired,
    /// VSS said `current`.
    VerifiedCurrent,
    /// VSS could not be reached: allowed optimistically (architecture.md "Failure Handling":
    /// "VSS unavailable → allow service purchase (assume maintenance current)").
    AssumedCurrentVssUnavailable,
}

impl MaintenanceDecision {
    pub fn as_str(self) -> &'static str {
        match self {
            MaintenanceDecision::NotRequired => "not-required",
            MaintenanceDecision::VerifiedCurrent => "verified-current",
            MaintenanceDecision::AssumedCurrentVssUnavailable => "assumed-current-vss-unavailable",
        }
    }
}

/// Why an option cannot be bought now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlockReason {
    /// Not the customer's vehicle (components answer 404 for this, not revealing the vehicle).
    NotOwner,
    /// The vehicle is not operational (not yet delivered/linked).
    VehicleNotOperational,
    /// The option was retired from the catalog.
    OptionRetired,
    /// Maintenance-dependent option and VSS says overdue.
    MaintenanceOverdue,
    /// The same option is already active on this vehicle.
    AlreadyActive,
    /// A purchase of the same option is in flight.
    AlreadyPending,
    /// A previous instance of the option is being switched off (its deactivation command is in
    /// flight); buy again once it has ended.
    DeactivationInProgress,
}

impl BlockReason {
    /// Stable machine code (problem `type` slug / UI key).
    pub fn code(self) -> &'static str {
        match self {
            BlockReason::NotOwner => "not-owner",
            BlockReason::VehicleNotOperational => "vehicle-not-operational",
            BlockReason::OptionRetired => "option-retired",
            BlockReason::MaintenanceOverdue => "maintenance-overdue",
            BlockReason::AlreadyActive => "already-active",
            BlockReason::AlreadyPending => "already-pending",
            BlockReason::DeactivationInProgress => "deactivation-in-progress",
        }
    }
    /// Customer-facing explanation.
    pub fn message(self) -> &'static str {
        match self {
            BlockReason::NotOwner => "This vehicle is not registered to you.",
            BlockReason::VehicleNotOperational => "Services can be bought once your vehicle is delivered and operational.",
            BlockReason::OptionRetired => "This option is no longer offered.",
            BlockReason::MaintenanceOverdue => {
                "This option requires up-to-date maintenance. Please complete your scheduled maintenance at an official or approved workshop first."
            }
            BlockReason::AlreadyActive => "This option is already active on your vehicle.",
            BlockReason::AlreadyPending => "A purchase of this option is already in progress.",
            BlockReason::DeactivationInProgress => {
                "This option is being switched off on your vehicle. You can buy it again once that has finished."
            }
        }
    }
    /// HTTP status a purchase attempt blocked for this reason maps to.
    pub fn http_status(self) -> u16 {
        match self {
            BlockReason::NotOwner => 404,
            BlockReason::AlreadyActive | BlockReason::AlreadyPending | BlockReason::DeactivationInProgress => 409,
            _ => 422,
        }
    }
}

/// The answer for one option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    Available { maintenance: MaintenanceDecision },
    Blocked { reason_code: BlockReason, message: String },
}

impl Availability {
    pub fn is_available(&self) -> bool {
        matches!(self, Availability::Available { .. })
    }
    fn blocked(r: BlockReason) -> Availability {
        Availability::Blocked { reason_code: r, message: r.message().to_string() }
    }
}

/// Facts about the vehicle and the customer's existing instances of *this* option.
#[derive(Debug, Clone, Copy)]
pub struct AvailabilityContext<'a> {
    pub owned_by_customer: bool,
    pub vehicle_operational: bool,
    pub maintenance: MaintenanceStatus,
    /// States of existing service instances of this option on this vehicle (any age).
    pub existing: &'a [ServiceState],
}

/// May the customer buy `option` now? Checks, in order (the first failing one is reported):
/// ownership, vehicle operational, option offered, no live or pending instance of the same option
/// (issue: "a second purchase of an option already active or pending is refused"; an instance
/// still being deactivated also blocks, so two OTA commands for one feature never race), and — only for
/// maintenance-dependent options — maintenance: `Current` → allowed, `Overdue` → blocked,
/// `Unknown` → allowed with [`MaintenanceDecision::AssumedCurrentVssUnavailable`].
/// Options that do not require maintenance are never blocked by it (selective blocking).
pub fn availability(option: &ServiceOption, ctx: &AvailabilityContext<'_>) -> Availability {
    if !ctx.owned_by_customer {
        return Availability::blocked(BlockReason::NotOwner);
    }
    if !ctx.vehicle_operational {
        return Availability::blocked(BlockReason::VehicleNotOperational);
    }
    if option.status == OptionStatus::Retired {
        return Availability::blocked(BlockReason::OptionRetired);
    }
    if ctx.existing.iter().any(|s| s.is_live()) {
        return Availability::blocked(BlockReason::AlreadyActive);
    }
    if ctx.existing.iter().any(|s| matches!(s, ServiceState::PendingPayment | ServiceState::PendingActivation)) {
        return Availability::blocked(BlockReason::AlreadyPending);
    }
    if ctx.existing.iter().any(|s| matches!(s, ServiceState::Deactivating(_))) {
        return Availability::blocked(BlockReason::DeactivationInProgress);
    }
    if !option.requires_maintenance {
        return Availability::Available { maintenance: MaintenanceDecision::NotRequired };
    }
    match ctx.maintenance {
        MaintenanceStatus::Current => Availability::Available { maintenance: MaintenanceDecision::VerifiedCurrent },
        MaintenanceStatus::Unknown => {
            Availability::Available { maintenance: MaintenanceDecision::AssumedCurrentVssUnavailable }
        }
        MaintenanceStatus::Overdue => Availability::blocked(BlockReason::MaintenanceOverdue),
    }
}

/// One line of the customer's catalog view.
#[derive(Debug, Clone, PartialEq)]
pub struct OptionView<'c> {
    pub option: &'c ServiceOption,
    pub availability: Availability,
}

/// The customer's view of the catalog for one vehicle: every offered (non-retired) option with
/// its availability. `existing` maps option code → states of that vehicle's instances.
pub fn customer_view<'c>(
    catalog: &'c Catalog,
    owned_by_customer: bool,
    vehicle_operational: bool,
    maintenance: MaintenanceStatus,
    existing: &BTreeMap<String, Vec<ServiceState>>,
) -> Vec<OptionView<'c>> {
    catalog
        .offered()
        .map(|o| {
            let states = existing.get(&o.code).map(Vec::as_slice).unwrap_or(&[]);
            let ctx = AvailabilityContext { owned_by_customer, vehicle_operational, maintenance, existing: states };
            OptionView { option: o, availability: availability(o, &ctx) }
        })
        .collect()
}

/// Does the view need VSS at all? Only if some offered option depends on maintenance
/// (saves the VSS call otherwise).
pub fn needs_maintenance_check(catalog: &Catalog) -> bool {
    catalog.offered().any(|o| o.requires_maintenance)
}

/// What to record and do for an allowed purchase.
#[derive(Debug, Clone, PartialEq)]
pub struct PurchasePlan {
    /// Frozen option terms (price included) stored with the instance.
    pub snapshot: PurchaseSnapshot,
    /// `pending-payment` (one-time) or `pending-activation` (subscription).
    pub initial_state: ServiceState,
    /// Amount to initiate at the gateway now (`None` for subscriptions: billed in arrears).
    /// Gateway down or refusing → `payment-refused`: nothing activated, nothing charged.
    /// Initiated → `payment-initiated` and the activation command is queued at once,
    /// before settlement.
    pub upfront_charge: Option<Money>,
    /// Recorded with the purchase (incl. "VSS unavailable, assumed current").
    pub maintenance: MaintenanceDecision,
}

/// Purchase rule: [`availability`] must say available; the plan snapshots the option.
pub fn plan_purchase(option: &ServiceOption, ctx: &AvailabilityContext<'_>) -> Result<PurchasePlan, BlockReason> {
    match availability(option, ctx) {
        Availability::Blocked { reason_code, .. } => Err(reason_code),
        Availability::Available { maintenance } => Ok(PurchasePlan {
            snapshot: PurchaseSnapshot::of(option),
            initial_state: super::lifecycle::initial_state(&option.kind),
            upfront_charge: option.kind.is_one_time().then(|| option.price.clone()),
            maintenance,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur(n: i64) -> Money {
        Money { amount_minor: n, currency: "EUR".into() }
    }

    fn opt(code: &str, requires_maintenance: bool) -> ServiceOption {
        ServiceOption {
            code: code.into(),
            feature: code.into(),
            name: "Test".into(),
            description: "A test option".into(),
            price: eur(1000),
            kind: OptionKind::Permanent,
            requires_maintenance,
            status: OptionStatus::Active,
            billed_by: None,
        }
    }

    #[test]
    fn only_a_subscription_is_billed_by_use_and_the_seed_has_one() {
        let mut o = opt("track-days", false);
        o.billed_by = Some(Metering::DayUsed);
        assert!(validate_option(&o).is_err(), "a permanent option cannot be metered");
        o.kind = OptionKind::Subscription;
        assert!(validate_option(&o).is_ok());
        let seed = seed_catalog();
        let metered: Vec<&ServiceOption> = seed.options.iter().filter(|o| o.billed_by.is_some()).collect();
        assert_eq!(metered.len(), 1);
        assert_eq!(PurchaseSnapshot::of(metered[0]).billed_by, Some(Metering::DayUsed));
        let back: ServiceOption = serde_json::from_str(&serde_json::to_string(metered[0]).unwrap()).unwrap();
        assert_eq!(&back, metered[0]);
    }

    #[test]
    fn seed_is_valid_and_covers_all_kinds() {
        let c = seed_catalog();
        assert!(c.options.len() >= 8);
        assert!(c.options.iter().any(|o| o.kind == OptionKind::Subscription));
        assert!(c.options.iter().any(|o| o.kind == OptionKind::Permanent && o.requires_maintenance));
        assert!(c.options.iter().any(|o| o.kind == OptionKind::Temporary { duration: Duration::Months(1) }));
        assert!(c.options.iter().any(|o| o.kind == OptionKind::Temporary { duration: Duration::Days(7) }));
        assert!(c.options.iter().any(|o| o.kind == OptionKind::Temporary { duration: Duration::Days(14) }));
        assert!(c.options.iter().any(|o| !o.requires_maintenance));
        assert!(c.options.iter().all(|o| o.status == OptionStatus::Active && o.price.currency == "EUR"));
        // Round trip through JSON.
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(parse_catalog(&json).unwrap(), c);
        assert!(json.contains("\"amount-minor\"") && json.contains("\"requires-maintenance\""));
    }

    #[test]
    fn parse_rejects_bad_documents() {
        assert!(matches!(parse_catalog("{"), Err(CatalogError::Parse(_))));
        assert!(matches!(parse_catalog("{\"options\": [{\"code\": \"x\"}]}"), Err(CatalogError::Parse(_))));
        let mut c = Catalog { options: vec![opt("abc", false), opt("abc", true)] };
        assert_eq!(
            parse_catalog(&serde_json::to_string(&c).unwrap()),
            Err(CatalogError::DuplicateCode("abc".into()))
        );
        c.options[1].code = "abd".into();
        c.options[1].price = eur(0);
        match parse_catalog(&serde_json::to_string(&c).unwrap()) {
            Err(CatalogError::Invalid(e)) => assert_eq!(e[0].pointer, "/options/1/price/amount-minor"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn code_format() {
        for ok in ["abc", "power-boost-1m", "a1-b2", &"a".repeat(48)] {
            assert!(is_valid_code(ok), "{ok}");
        }
        for bad in ["", "ab", "Abc", "1abc", "-abc", "abc-", "a--b", "a_b", "a b", "añb", &"a".repeat(49)] {
            assert!(!is_valid_code(bad), "{bad}");
        }
    }

    #[test]
    fn prices_only_in_a_market_currency() {
        let cat = seed_catalog();
        let code = cat.options[0].code.clone();
        for bad in ["USD", "XXX", "eur", "Eur"] {
            match reprice(&cat, &code, Money { amount_minor: 100, currency: bad.into() }) {
                Err(CatalogError::Invalid(errs)) => assert_eq!(errs[0].pointer, "/price/currency", "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
        assert!(reprice(&cat, &code, Money { amount_minor: 100, currency: "EUR".into() }).is_ok());
    }

    #[test]
    fn option_validation_reports_every_field() {
        let mut o = opt("BAD", false);
        o.feature = "".into();
        o.name = " ".into();
        o.description = "".into();
        o.price = Money { amount_minor: -1, currency: "eur".into() };
        o.kind = OptionKind::Temporary { duration: Duration::Days(0) };
        match validate_option(&o) {
            Err(CatalogError::Invalid(errs)) => {
                let ptrs: Vec<_> = errs.iter().map(|e| e.pointer.as_str()).collect();
                assert_eq!(
                    ptrs,
                    [
                        "/code",
                        "/feature",
                        "/name",
                        "/description",
                        "/price/amount-minor",
                        "/price/currency",
                        "/kind/duration/days"
                    ]
                );
            }
            other => panic!("{other:?}"),
        }
        let mut o = opt("abc", false);
        o.kind = OptionKind::Temporary { duration: Duration::Months(121) };
        assert!(validate_option(&o).is_err());
        o.kind = OptionKind::Temporary { duration: Duration::Months(120) };
        assert!(validate_option(&o).is_ok());
        o.price = eur(MAX_PRICE_MINOR + 1);
        assert!(validate_option(&o).is_err());
    }

    #[test]
    fn admin_transforms() {
        let c0 = seed_catalog();
        let before = c0.clone();
        // Add.
        let c1 = add_option(&c0, opt("new-thing", false)).unwrap();
        assert_eq!(c1.options.len(), c0.options.len() + 1);
        assert_eq!(c0, before, "transforms are pure");
        assert_eq!(add_option(&c1, opt("new-thing", true)), Err(CatalogError::DuplicateCode("new-thing".into())));
        assert!(matches!(add_option(&c1, opt("X", true)), Err(CatalogError::Invalid(_))));
        // A retired option added back with status retired is normalized to active.
        let mut r = opt("other-thing", false);
        r.status = OptionStatus::Retired;
        assert_eq!(add_option(&c1, r).unwrap().get("other-thing").unwrap().status, OptionStatus::Active);
        // Reprice: the snapshot taken before is unchanged.
        let snap = PurchaseSnapshot::of(c1.get("new-thing").unwrap());
        let c2 = reprice(&c1, "new-thing", eur(2500)).unwrap();
        assert_eq!(c2.get("new-thing").unwrap().price, eur(2500));
        assert_eq!(snap.price, eur(1000));
        assert!(matches!(reprice(&c2, "new-thing", eur(0)), Err(CatalogError::Invalid(_))));
        assert!(matches!(reprice(&c2, "new-thing", Money { amount_minor: 5, currency: "EURO".into() }), Err(CatalogError::Invalid(_))));
        assert_eq!(reprice(&c2, "nope", eur(1)), Err(CatalogError::UnknownCode("nope".into())));
        // Retire.
        let c3 = retire(&c2, "new-thing").unwrap();
        assert_eq!(c3.get("new-thing").unwrap().status, OptionStatus::Retired);
        assert!(c3.offered().all(|o| o.code != "new-thing"));
        assert_eq!(retire(&c3, "new-thing"), Err(CatalogError::Retired("new-thing".into())));
        assert_eq!(reprice(&c3, "new-thing", eur(1)), Err(CatalogError::Retired("new-thing".into())));
        assert_eq!(add_option(&c3, opt("new-thing", false)), Err(CatalogError::DuplicateCode("new-thing".into())));
        assert_eq!(retire(&c3, "nope"), Err(CatalogError::UnknownCode("nope".into())));
    }

    #[test]
    fn availability_table() {
        use MaintenanceStatus::*;
        use ServiceState as S;
        let dep = opt("needs-maint", true);
        let free = opt("no-maint", false);
        let mut retired = opt("retired-one", false);
        retired.status = OptionStatus::Retired;
        let avail = |m| Availability::Available { maintenance: m };
        let blocked = |r: BlockReason| Availability::Blocked { reason_code: r, message: r.message().to_string() };
        #[allow(clippy::type_complexity)]
        let table: Vec<(&ServiceOption, bool, bool, MaintenanceStatus, Vec<S>, Availability)> = vec![
            (&dep, true, true, Current, vec![], avail(MaintenanceDecision::VerifiedCurrent)),
            (&dep, true, true, Overdue, vec![], blocked(BlockReason::MaintenanceOverdue)),
            (&dep, true, true, Unknown, vec![], avail(MaintenanceDecision::AssumedCurrentVssUnavailable)),
            (&free, true, true, Overdue, vec![], avail(MaintenanceDecision::NotRequired)),
            (&free, true, true, Unknown, vec![], avail(MaintenanceDecision::NotRequired)),
            (&free, true, true, Current, vec![], avail(MaintenanceDecision::NotRequired)),
            (&free, false, true, Current, vec![], blocked(BlockReason::NotOwner)),
            (&dep, true, false, Current, vec![], blocked(BlockReason::VehicleNotOperational)),
            (&retired, true, true, Current, vec![], blocked(BlockReason::OptionRetired)),
            (&free, true, true, Current, vec![S::Active], blocked(BlockReason::AlreadyActive)),
            (&free, true, true, Current, vec![S::Expired, S::CancellationScheduled], blocked(BlockReason::AlreadyActive)),
            (&free, true, true, Current, vec![S::PendingPayment], blocked(BlockReason::AlreadyPending)),
            (&free, true, true, Current, vec![S::PendingActivation], blocked(BlockReason::AlreadyPending)),
            (&free, true, true, Current, vec![S::Deactivating(super::super::lifecycle::Ending::Expired)], blocked(BlockReason::DeactivationInProgress)),
            // Ended instances do not block a new purchase.
            (
                &dep,
                true,
                true,
                Current,
                vec![S::Expired, S::Cancelled, S::Withdrawn, S::Failed, S::Refused, S::Aborted],
                avail(MaintenanceDecision::VerifiedCurrent),
            ),
            // An already-active dependent option is reported as active, not as maintenance-blocked.
            (&dep, true, true, Overdue, vec![S::Active], blocked(BlockReason::AlreadyActive)),
        ];
        for (i, (o, owned, op, m, ex, want)) in table.into_iter().enumerate() {
            let ctx = AvailabilityContext { owned_by_customer: owned, vehicle_operational: op, maintenance: m, existing: &ex };
            assert_eq!(availability(o, &ctx), want, "row {i}");
        }
    }

    #[test]
    fn customer_view_marks_each_option() {
        let c = seed_catalog();
        let dep = c.options.iter().find(|o| o.requires_maintenance).unwrap().code.clone();
        let free = c.options.iter().find(|o| !o.requires_maintenance).unwrap().code.clone();
        let mut existing = BTreeMap::new();
        existing.insert(free.clone(), vec![ServiceState::Active]);
        let v = customer_view(&c, true, true, MaintenanceStatus::Overdue, &existing);
        assert_eq!(v.len(), c.offered().count());
        let find = |code: &str| v.iter().find(|l| l.option.code == code).unwrap().availability.clone();
        assert!(matches!(find(&dep), Availability::Blocked { reason_code: BlockReason::MaintenanceOverdue, .. }));
        assert!(matches!(find(&free), Availability::Blocked { reason_code: BlockReason::AlreadyActive, .. }));
        assert!(v.iter().filter(|l| !l.option.requires_maintenance && l.option.code != free).all(|l| l.availability.is_available()));
        assert!(needs_maintenance_check(&c));
        assert_eq!(MaintenanceStatus::from_vss("current"), MaintenanceStatus::Current);
        assert_eq!(MaintenanceStatus::from_vss("overdue"), MaintenanceStatus::Overdue);
        assert_eq!(MaintenanceStatus::from_vss("??"), MaintenanceStatus::Unknown);
        assert_eq!(BlockReason::MaintenanceOverdue.http_status(), 422);
        assert_eq!(BlockReason::AlreadyActive.http_status(), 409);
    }

    #[test]
    fn purchase_plans() {
        let c = seed_catalog();
        let ctx = |m| AvailabilityContext { owned_by_customer: true, vehicle_operational: true, maintenance: m, existing: &[] };
        let auto = c.get("highway-autopilot").unwrap();
        let plan = plan_purchase(auto, &ctx(MaintenanceStatus::Unknown)).unwrap();
        assert_eq!(plan.maintenance, MaintenanceDecision::AssumedCurrentVssUnavailable);
        assert_eq!(plan.initial_state, ServiceState::PendingPayment);
        assert_eq!(plan.upfront_charge, Some(auto.price.clone()));
        assert_eq!(plan.snapshot, PurchaseSnapshot::of(auto));
        assert_eq!(plan_purchase(auto, &ctx(MaintenanceStatus::Overdue)), Err(BlockReason::MaintenanceOverdue));
        let sub = c.options.iter().find(|o| o.kind == OptionKind::Subscription).unwrap();
        let plan = plan_purchase(sub, &ctx(MaintenanceStatus::Overdue)).unwrap();
        assert_eq!(plan.initial_state, ServiceState::PendingActivation);
        assert_eq!(plan.upfront_charge, None);
        assert_eq!(plan.maintenance, MaintenanceDecision::NotRequired);
        assert_eq!(MaintenanceDecision::AssumedCurrentVssUnavailable.as_str(), "assumed-current-vss-unavailable");
    }
}
