//! The host tests as ONE test binary (one link of wasmtime instead of one per file): every module
//! drives the real compiled components of spin.toml in the local runtime against the simulators.
//! The default harness runs the tests in parallel threads of this process; a test that must not
//! share the process with others (process-wide measurements) starts its app with
//! `Options { alone: true, .. }` (see `caas_tests::Gate`).

// Shared steps of the journeys.
mod journey;

mod account_i18n;
mod admin_money;
mod api_contract;
mod billing_crash;
mod breakers;
mod deploy_files;
mod fuzz;
mod harness;
mod http_hardening;
mod invoices_monthly;
mod journey_accounts;
mod journey_delivery;
mod journey_factory;
mod journey_payments;
mod limits;
mod local_up;
mod login_throttling;
mod maintenance;
mod money_rules;
mod money_safety;
mod outbox_retry;
mod payments_hosted;
mod plan_subscriptions;
mod reliability;
mod query_plans;
mod replicas;
mod runtime_host;
mod sale_registration;
mod secrets_and_accounts;
mod services_billing;
mod services_cancel;
mod services_ota;
mod services_purchase;
mod staff_backoffice;
mod staff_orders;
mod support_queue;
mod usage_billing;
mod web;
