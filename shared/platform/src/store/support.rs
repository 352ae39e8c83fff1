//! Support tickets store (issue 8): the tickets `ota-dispatch` opens when an OTA command gave up,
//! joined with their service, customer and the command's job (attempts, last error), and the
//! agents' work on them (assignment, notes, resolution). Rules: `caas_domain::support`.
use crate::db::{Db, DbError, Row, Value as DbValue, int, opt_text, text};
use crate::paging::{self, Page};
use caas_domain::expediente::PageRequest;
use caas_domain::services::lifecycle::ServiceState;
use caas_domain::support::TicketStatus;
use crate::store::services::{catalog_join_sql, known_name_sql, option_name};
use serde_json::{Value, json};

/// One ticket with what support needs to work it.
#[derive(Debug, Clone)]
pub struct Ticket {
    pub id: String,
    pub status: TicketStatus,
    pub service_id: String,
    pub vin: String,
    pub command_id: String,
    pub action: String,
    pub summary: String,
    pub last_error: String,
    pub vehicle_status_at_escalation: String,
    pub created_at: i64,
    pub assigned_to: Option<String>,
    pub assigned_at: Option<i64>,
    pub resolution: Option<String>,
    pub resolution_note: Option<String>,
    pub retry_command_id: Option<String>,
    pub closed_by: Option<String>,
    pub closed_at: Option<i64>,
    pub option_code: String,
    pub option_name: String,
    pub service_state: Option<ServiceState>,
    pub payment_id: Option<String>,
    pub payment_status: Option<String>,
    pub order_id: Option<String>,
    pub customer_id: String,
    pub customer_name: String,
    pub customer_email: String,
    pub attempts: i64,
    pub job_last_error: Option<String>,
}

const SELECT: &str = concat!(
    "SELECT t.rowid AS k, t.id, t.status, t.service_id, t.vin, t.command_id, t.action, t.summary, t.last_error,
        t.vehicle_status, t.created_at, t.assigned_to, t.assigned_at, t.resolution, t.resolution_note, t.retry_command_id,
        t.closed_by, t.closed_at,
        s.option_code, ",
    known_name_sql!(),
    " AS known_name, s.state AS service_state, s.payment_id, s.payment_status, s.order_id, s.customer_id,
        c.full_name AS customer_name, c.email AS customer_email,
        j.attempts AS job_attempts, j.last_error AS job_last_error
    FROM support_tickets t
    LEFT JOIN services s ON s.id = t.service_id
    ", catalog_join_sql!(), "
    LEFT JOIN customers c ON c.id = s.customer_id
    LEFT JOIN jobs j ON j.dedupe_key = t.command_id"
);

fn from_row(r: &Row) -> Ticket {
    let option_code = r.str("option_code");
    Ticket {
        id: r.str("id"),
        status: TicketStatus::parse(&r.str("status")).unwrap_or(TicketStatus::Open),
        service_id: r.str("service_id"),
        vin: r.str("vin"),
        command_id: r.str("command_id"),
        action: r.str("action"),
        summary: r.str("summary"),
        last_error: r.str("last_error"),
        vehicle_status_at_escalation: r.str("vehicle_status"),
        created_at: r.i64("created_at"),
        assigned_to: r.opt_str("assigned_to"),
        assigned_at: r.opt_i64("assigned_at"),
        resolution: r.opt_str("resolution"),
        resolution_note: r.opt_str("resolution_note"),
        retry_command_id: r.opt_str("retry_command_id"),
        closed_by: r.opt_str("closed_by"),
        closed_at: r.opt_i64("closed_at"),
        // The purchase's name, else the catalog's (a plan comercial service), else the legacy
        // plan code's or the code (`services::option_name`).
        option_name: r.opt_str("known_name").unwrap_or_else(|| option_name(None, &option_code)),
        option_code,
        service_state: ServiceState::parse(&r.str("service_state")),
        payment_id: r.opt_str("payment_id"),
        payment_status: r.opt_str("payment_status"),
        order_id: r.opt_str("order_id"),
        customer_id: r.str("customer_id"),
        customer_name: r.str("customer_name"),
        customer_email: r.str("customer_email"),
        attempts: r.i64("job_attempts"),
        job_last_error: r.opt_str("job_last_error"),
    }
}

impl Ticket {
    /// The OpenAPI `SupportTicket` view (without the live vehicle status and the notes).
    pub fn view(&self) -> Value {
        json!({
            "id": self.id,
            "status": self.status.as_str(),
            "action": self.action,
            "command_id": self.command_id,
            "summary": self.summary,
            "attempts": self.attempts,
            "last_error": self.job_last_error.clone().unwrap_or_else(|| self.last_error.clone()),
            "vehicle_status_at_escalation": self.vehicle_status_at_escalation,
            "created_at": self.created_at,
            "assigned_to": self.assigned_to,
            "assigned_at": self.assigned_at,
            "resolution": self.resolution,
            "resolution_note": self.resolution_note,
            "retry_command_id": self.retry_command_id,
            "closed_by": self.closed_by,
            "closed_at": self.closed_at,
            "service": {
                "id": self.service_id,
                "option_code": self.option_code,
                "name": self.option_name,
                "state": self.service_state.map(|s| s.as_str()),
                "vin": self.vin,
                "order_id": self.order_id,
                "payment_status": self.payment_status,
            },
            "customer": {"id": self.customer_id, "full_name": self.customer_name, "email": self.customer_email},
        })
    }

    /// The ticket's own fields as the audit log's before/after.
    pub fn audit_state(&self) -> Value {
        json!({
            "status": self.status.as_str(),
            "assigned_to": self.assigned_to,
            "resolution": self.resolution,
            "service_state": self.service_state.map(|s| s.as_str()),
        })
    }
}

/// Tickets, oldest first, optionally of one status (keyset paging on the row id).
pub async fn page(db: &Db, status: Option<TicketStatus>, page: PageRequest) -> Result<Page<Ticket>, DbError> {
    let (filter, params) = match status {
        Some(s) => ("t.status = ? AND", vec![text(s.as_str())]),
        None => ("", vec![]),
    };
    let sql = format!("{SELECT} WHERE {filter} t.rowid > ? ORDER BY t.rowid LIMIT ?");
    paging::keyset(db, &sql, params, page, from_row).await
}

pub async fn get(db: &Db, id: &str) -> Result<Option<Ticket>, DbError> {
    Ok(db.query_one(&format!("{SELECT} WHERE t.id = ?"), vec![text(id)]).await?.as_ref().map(from_row))
}

/// One note on a ticket.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Note {
    pub at: i64,
    pub author_id: String,
    pub id: i64,
    pub text: String,
}

/// A ticket's notes, oldest first (at most 500).
pub async fn notes(db: &Db, ticket_id: &str) -> Result<Vec<Note>, DbError> {
    let rows = db
        .query("SELECT id, author_id, text, created_at FROM support_ticket_notes WHERE ticket_id = ? ORDER BY id LIMIT 500", vec![text(ticket_id)])
        .await?;
    Ok(rows.iter().map(|r| Note { at: r.i64("created_at"), author_id: r.str("author_id"), id: r.i64("id"), text: r.str("text") }).collect())
}

pub async fn add_note(tx: &Db, ticket_id: &str, author_id: &str, note: &str, now: i64) -> Result<i64, DbError> {
    tx.exec(
        "INSERT INTO support_ticket_notes(ticket_id, author_id, text, created_at) VALUES (?, ?, ?, ?)",
        vec![text(ticket_id), text(author_id), text(note), int(now)],
    )
    .await?;
    let r = tx.query_one("SELECT MAX(id) AS id FROM support_ticket_notes WHERE ticket_id = ?", vec![text(ticket_id)]).await?;
    Ok(r.map(|r| r.i64("id")).unwrap_or(0))
}

/// Compare-and-set assignment (to `agent`) of a ticket still in `from`: whether it moved.
pub async fn assign(tx: &Db, id: &str, from: TicketStatus, agent: &str, now: i64) -> Result<bool, DbError> {
    Ok(tx
        .exec(
            "UPDATE support_tickets SET status = 'assigned', assigned_to = ?, assigned_at = ? WHERE id = ? AND status = ?",
            vec![text(agent), int(now), text(id), text(from.as_str())],
        )
        .await?
        == 1)
}

/// Compare-and-set close of a ticket still in `from`: whether it moved.
#[allow(clippy::too_many_arguments)]
pub async fn close(tx: &Db, id: &str, from: TicketStatus, resolution: &str, note: Option<&str>, retry_command_id: Option<&str>, by: &str, now: i64) -> Result<bool, DbError> {
    Ok(tx
        .exec(
            "UPDATE support_tickets SET status = 'closed', resolution = ?, resolution_note = ?, retry_command_id = ?, closed_by = ?, closed_at = ?
             WHERE id = ? AND status = ?",
            vec![text(resolution), opt_text(note), retry_command_id.map(text).unwrap_or(DbValue::Null), text(by), int(now), text(id), text(from.as_str())],
        )
        .await?
        == 1)
}
