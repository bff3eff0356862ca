//! `/api/v1/persons`: the beneficiary master index over HTTP. Matching, registration of source
//! records, persons and their history, links, merges, undo and the review queue. Each client
//! needs a role for each kind of use (`[mpi.access]`), and every call touching a person is
//! written to the audit table.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::api::ApiState;
use crate::api::exchanges::{caller, read_limited};
use crate::api::problem::Problem;
use crate::config::MpiRole;
use crate::exchange::Fault;
use esocial_catalog::json_schema::Violation;
use esocial_mpi::MpiError;
use esocial_mpi::engine::Verdict;
use esocial_mpi::index::RecordRef;
use esocial_mpi::record::{RecordError, SourceRecord, json_problem};

/// Most candidates one match returns.
const MAX_CANDIDATES: usize = 50;

/// A failed call, answered as problem+json.
#[derive(Debug)]
pub struct PersonsFailure(Box<Problem>);

impl std::fmt::Display for PersonsFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.detail)
    }
}

impl ResponseError for PersonsFailure {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        self.0.response()
    }
}

fn caller_problem(status: u16, code: &str, detail: impl Into<String>) -> PersonsFailure {
    PersonsFailure(Box::new(Problem::new(
        status,
        code,
        Fault::Caller,
        false,
        detail.into(),
    )))
}

fn invalid_record(error: &RecordError, prefix: &str) -> PersonsFailure {
    let mut problem = Problem::new(
        422,
        "caller.invalid_record",
        Fault::Caller,
        false,
        error.to_string(),
    );
    problem.violations = vec![Violation {
        pointer: crate::api::problem::field_pointer(prefix, &error.field),
        message: error.problem.clone(),
    }];
    PersonsFailure(Box::new(problem))
}

impl From<MpiError> for PersonsFailure {
    fn from(error: MpiError) -> Self {
        match &error {
            MpiError::InvalidRecord(record) => invalid_record(record, "/record"),
            MpiError::UnknownPerson => {
                caller_problem(404, "caller.unknown_person", error.to_string())
            }
            MpiError::UnknownRecord => {
                caller_problem(404, "caller.unknown_record", error.to_string())
            }
            MpiError::UnknownReview => {
                caller_problem(404, "caller.unknown_review", error.to_string())
            }
            MpiError::UnknownEntry => {
                caller_problem(404, "caller.unknown_history_entry", error.to_string())
            }
            MpiError::Conflict { code, message } => caller_problem(
                409,
                &format!("caller.{}", code.replace('-', "_")),
                message.clone(),
            ),
            MpiError::Store(_) => PersonsFailure(Box::new(Problem::new(
                503,
                "hub.store_unavailable",
                Fault::Hub,
                true,
                "the master index's store is unavailable".into(),
            ))),
            MpiError::Sealing(_) => PersonsFailure(Box::new(Problem::new(
                500,
                "hub.internal",
                Fault::Hub,
                false,
                "a stored record could not be opened".into(),
            ))),
        }
    }
}

/// The calling client, if it holds `role`.
fn authorise(
    request: &HttpRequest,
    state: &ApiState,
    role: MpiRole,
) -> Result<String, PersonsFailure> {
    let client = caller(request, state).map_err(|failure| {
        PersonsFailure(Box::new(Problem::from_exchange_error(&failure.error, None)))
    })?;
    let allowed = state
        .mpi_roles
        .get(&client)
        .is_some_and(|roles| roles.contains(&role));
    if !allowed {
        return Err(caller_problem(
            403,
            "caller.access_denied",
            format!(
                "client `{client}` has no `{}` role in the master index",
                role_name(role)
            ),
        ));
    }
    Ok(client)
}

fn role_name(role: MpiRole) -> &'static str {
    match role {
        MpiRole::Match => "match",
        MpiRole::Register => "register",
        MpiRole::Read => "read",
        MpiRole::Steward => "steward",
        MpiRole::AccessLog => "access-log",
    }
}

async fn body<T: for<'de> Deserialize<'de>>(
    payload: web::Payload,
    state: &ApiState,
) -> Result<T, PersonsFailure> {
    let bytes = read_limited(payload, state).await.map_err(|failure| {
        PersonsFailure(Box::new(Problem::from_exchange_error(&failure.error, None)))
    })?;
    serde_json::from_slice(&bytes).map_err(|error| {
        caller_problem(
            400,
            "caller.malformed_json",
            format!("the request body is not valid: {}", json_problem(&error)),
        )
    })
}

fn person_id(raw: &str) -> Result<Uuid, PersonsFailure> {
    Uuid::parse_str(raw)
        .map_err(|_| caller_problem(404, "caller.unknown_person", "no person with this id"))
}

/// Records the client's action on the person in the master index's audit trail and in the
/// audit log.
async fn audit(
    state: &ApiState,
    client: &str,
    action: &str,
    person: Option<Uuid>,
    outcome: &str,
) -> Result<(), PersonsFailure> {
    state.mpi.audit(client, action, person, outcome).await?;
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchBody {
    record: Value,
    limit: Option<usize>,
}

/// `POST /api/v1/persons/match`: candidates with scores and explanations; changes nothing.
pub async fn find(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, PersonsFailure> {
    let client = authorise(&request, &state, MpiRole::Match)?;
    let MatchBody { mut record, limit } = body(payload, &state).await?;
    // A record being looked for has no key of its own yet.
    if let Some(object) = record.as_object_mut() {
        object.entry("localId").or_insert_with(|| json!("query"));
    }
    let record = parse_record(record)?;
    let limit = limit.unwrap_or(10).clamp(1, MAX_CANDIDATES);
    let result = state.mpi.find(&record, limit)?;
    audit(
        &state,
        &client,
        "match",
        None,
        &format!("candidates={}", result.candidates.len()),
    )
    .await?;
    Ok(HttpResponse::Ok().json(result))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    source: String,
    record: Value,
}

/// A record from a request body; a wrong field or type is a 422 naming it, never its value.
fn parse_record(record: Value) -> Result<SourceRecord, PersonsFailure> {
    serde_json::from_value(record).map_err(|error| {
        caller_problem(
            422,
            "caller.invalid_record",
            format!("record: {}", json_problem(&error)),
        )
    })
}

/// `POST /api/v1/persons/records`: registers or updates a source record and links it.
pub async fn register(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, PersonsFailure> {
    let client = authorise(&request, &state, MpiRole::Register)?;
    let RegisterBody { source, record } = body(payload, &state).await?;
    let record = parse_record(record)?;
    esocial_mpi::engine::check_source(&source).map_err(|e| invalid_record(&e, ""))?;
    let registration = state.mpi.register(&source, &record, &client).await?;
    audit(
        &state,
        &client,
        "register",
        Some(registration.person_id),
        "ok",
    )
    .await?;
    let status = if registration.updated {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok(HttpResponse::build(status)
        .insert_header((
            "Location",
            format!("/api/v1/persons/{}", registration.person_id),
        ))
        .json(registration))
}

/// `GET /api/v1/persons/{id}`: the person and its linked records.
pub async fn get(
    request: HttpRequest,
    path: web::Path<String>,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, PersonsFailure> {
    let client = authorise(&request, &state, MpiRole::Read)?;
    let id = person_id(&path)?;
    let person = state.mpi.person(id).await;
    audit(
        &state,
        &client,
        "read",
        Some(id),
        if person.is_ok() { "ok" } else { "refused" },
    )
    .await?;
    Ok(HttpResponse::Ok().json(person?))
}

/// `GET /api/v1/persons/{id}/history`: every change that concerned the person, oldest first.
pub async fn history(
    request: HttpRequest,
    path: web::Path<String>,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, PersonsFailure> {
    let client = authorise(&request, &state, MpiRole::Read)?;
    let id = person_id(&path)?;
    let entries = state.mpi.history(id).await?;
    audit(&state, &client, "history", Some(id), "ok").await?;
    Ok(HttpResponse::Ok().json(json!({ "personId": id, "entries": entries })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessLogQuery {
    from: Option<String>,
    to: Option<String>,
    after: Option<i64>,
    limit: Option<u32>,
}

fn query_time(field: &str, value: Option<&str>) -> Result<Option<OffsetDateTime>, PersonsFailure> {
    value
        .map(|text| {
            OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).map_err(
                |_| {
                    caller_problem(
                        400,
                        "caller.invalid_request",
                        format!("query parameter `{field}` must be an RFC 3339 time"),
                    )
                },
            )
        })
        .transpose()
}

/// `GET /api/v1/persons/{id}/access-log`: every access to the person's data the audit log
/// holds, paged (`from`, `to`, `after`, `limit`), each with its proof of inclusion. Needs the
/// `access-log` role, and is audited itself.
pub async fn access_log(
    request: HttpRequest,
    path: web::Path<String>,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, PersonsFailure> {
    let client = match authorise(&request, &state, MpiRole::AccessLog) {
        Ok(client) => client,
        Err(refusal) => {
            // A known client without the role: the refusal is audited too.
            if let (Ok(client), Ok(id)) = (caller(&request, &state), Uuid::parse_str(&path)) {
                audit(&state, &client, "access-log", Some(id), "refused").await?;
            }
            return Err(refusal);
        }
    };
    let id = person_id(&path)?;
    let query = web::Query::<AccessLogQuery>::from_query(request.query_string()).map_err(|_| {
        caller_problem(
            400,
            "caller.invalid_request",
            "the query takes only `from`, `to` (RFC 3339), `after` and `limit` (1 to 500)",
        )
    })?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=crate::audit::report::MAX_PAGE).contains(&limit) {
        return Err(caller_problem(
            400,
            "caller.invalid_request",
            "query parameter `limit` must be between 1 and 500",
        ));
    }
    let report_query = crate::audit::report::ReportQuery {
        from: query_time("from", query.from.as_deref())?,
        to: query_time("to", query.to.as_deref())?,
        after: query.after,
        limit,
        person_id: Some(id.to_string()),
        subject_digests: Vec::new(),
    };
    let person = match state.mpi.person(id).await {
        Ok(person) => person,
        Err(error) => {
            audit(&state, &client, "access-log", Some(id), "refused").await?;
            return Err(error.into());
        }
    };
    let mut subject_digests: Vec<String> = person
        .records
        .iter()
        .filter_map(|record| record.attributes.idnp.as_deref())
        .flat_map(|idnp| state.exchanger.digests(idnp))
        .collect();
    subject_digests.sort();
    subject_digests.dedup();
    // Audited before it is answered: a report that cannot be audited is not given.
    audit(&state, &client, "access-log", Some(id), "ok").await?;
    let report = crate::audit::report::access_report(
        state.exchanger.store(),
        &crate::audit::report::ReportQuery {
            subject_digests,
            ..report_query
        },
    )
    .await
    .map_err(|error| {
        tracing::warn!(error = %format!("{error:#}"), "cannot build an access report");
        caller_problem_hub(error)
    })?;
    Ok(HttpResponse::Ok().json(report))
}

/// A report the audit log could not give.
fn caller_problem_hub(_error: anyhow::Error) -> PersonsFailure {
    PersonsFailure(Box::new(Problem::new(
        503,
        "hub.store_unavailable",
        Fault::Hub,
        true,
        "the audit log cannot give the report now".into(),
    )))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RecordBody {
    source: String,
    local_id: String,
}

/// `POST /api/v1/persons/{id}/link`: puts a source record in this person (pinned).
pub async fn link(
    request: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, PersonsFailure> {
    let client = authorise(&request, &state, MpiRole::Steward)?;
    let id = person_id(&path)?;
    let RecordBody { source, local_id } = body(payload, &state).await?;
    let entry = state
        .mpi
        .link(id, &RecordRef { source, local_id }, &client)
        .await?;
    audit(&state, &client, "link", Some(id), "ok").await?;
    Ok(HttpResponse::Ok().json(entry))
}

/// `POST /api/v1/persons/{id}/unlink`: takes a source record out into a new person.
pub async fn unlink(
    request: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, PersonsFailure> {
    let client = authorise(&request, &state, MpiRole::Steward)?;
    let id = person_id(&path)?;
    let RecordBody { source, local_id } = body(payload, &state).await?;
    let entry = state
        .mpi
        .unlink(id, &RecordRef { source, local_id }, &client)
        .await?;
    audit(&state, &client, "unlink", Some(id), "ok").await?;
    Ok(HttpResponse::Ok().json(entry))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MergeBody {
    person_id: Uuid,
    #[serde(default)]
    acknowledge_idnp_conflict: bool,
}

/// `POST /api/v1/persons/{id}/merge`: moves every record of `personId` into this person.
pub async fn merge(
    request: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, PersonsFailure> {
    let client = authorise(&request, &state, MpiRole::Steward)?;
    let id = person_id(&path)?;
    let MergeBody {
        person_id: other,
        acknowledge_idnp_conflict,
    } = body(payload, &state).await?;
    let entry = state
        .mpi
        .merge(id, other, acknowledge_idnp_conflict, &client)
        .await?;
    audit(&state, &client, "merge", Some(id), "ok").await?;
    Ok(HttpResponse::Ok().json(entry))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UnmergeBody {
    person_id: Uuid,
}

/// `POST /api/v1/persons/{id}/unmerge`: undoes the merge of `personId` into this person.
pub async fn unmerge(
    request: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, PersonsFailure> {
    let client = authorise(&request, &state, MpiRole::Steward)?;
    let id = person_id(&path)?;
    let UnmergeBody { person_id: other } = body(payload, &state).await?;
    let entry = state.mpi.unmerge(id, other, &client).await?;
    audit(&state, &client, "unmerge", Some(id), "ok").await?;
    Ok(HttpResponse::Ok().json(entry))
}

/// `POST /api/v1/persons/history/{entryId}/undo`: undoes one history entry.
pub async fn undo(
    request: HttpRequest,
    path: web::Path<String>,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, PersonsFailure> {
    let client = authorise(&request, &state, MpiRole::Steward)?;
    let entry = state.mpi.undo(&path, &client).await?;
    audit(&state, &client, "undo", None, "ok").await?;
    Ok(HttpResponse::Ok().json(entry))
}

/// `POST /api/v1/persons/relink`: re-evaluates every automatic link and open review under
/// the index's current weights; returns what changed and the history entries that undo it.
pub async fn relink(
    request: HttpRequest,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, PersonsFailure> {
    let client = authorise(&request, &state, MpiRole::Steward)?;
    let summary = state.mpi.relink(&client, |_, _| {}).await?;
    audit(&state, &client, "relink", None, &summary.audit_outcome()).await?;
    Ok(HttpResponse::Ok().json(summary))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewQuery {
    status: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

/// `GET /api/v1/persons/reviews`: possible matches, oldest first (`status`: open, match,
/// non-match, withdrawn).
pub async fn reviews(
    request: HttpRequest,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, PersonsFailure> {
    let client = authorise(&request, &state, MpiRole::Steward)?;
    let query = web::Query::<ReviewQuery>::from_query(request.query_string()).map_err(|_| {
        caller_problem(
            400,
            "caller.invalid_request",
            "query parameters: status (open, match, non-match, withdrawn), limit and offset (integers)",
        )
    })?;
    let status = query.status.as_deref().unwrap_or("open");
    if !matches!(status, "open" | "match" | "non-match" | "withdrawn") {
        return Err(caller_problem(
            400,
            "caller.invalid_request",
            "status must be open, match, non-match or withdrawn",
        ));
    }
    let limit = query.limit.unwrap_or(50).clamp(1, 500);
    let offset = query.offset.unwrap_or(0).max(0);
    let items = state.mpi.reviews(status, limit, offset).await?;
    audit(
        &state,
        &client,
        "reviews",
        None,
        &format!("items={}", items.len()),
    )
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "reviews": items })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    verdict: Verdict,
}

/// `POST /api/v1/persons/reviews/{id}/decision`: `match` or `non-match`; remembered.
pub async fn decide(
    request: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, PersonsFailure> {
    let client = authorise(&request, &state, MpiRole::Steward)?;
    let DecisionBody { verdict } = body(payload, &state).await?;
    let entry = state.mpi.decide_review(&path, verdict, &client).await?;
    audit(&state, &client, "review-decision", None, "ok").await?;
    Ok(HttpResponse::Ok().json(entry))
}
