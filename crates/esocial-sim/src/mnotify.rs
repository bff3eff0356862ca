//! A simulator of MNotify, the government's notifications to people, over mTLS:
//! `POST /api/Notification` takes a notification from a template (Romanian subject and body
//! required, `{{var}}` placeholders each with a variable), refuses one whose rendered text
//! carries what looks like an IDNP (the recipient's channels, SMS and messengers among them,
//! are not safe for personal data), and answers the same id again for the same `externalId`.
//! Each notification moves Pending → Resolving → Sending → Sent → Delivered as time passes,
//! and to Read when the recipient reads it. Tests can take it down or fail requests.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::dev::Server;
use actix_web::http::StatusCode;
use actix_web::{App, HttpResponse, HttpServer, web};
use serde::Serialize;
use serde_json::{Map, Value};
use tracing::info;
use uuid::Uuid;

use crate::http::{Problem, read_body};

/// How long each status lasts before the next, unless configured otherwise.
pub const DEFAULT_STATUS_STEP: Duration = Duration::from_millis(50);
/// Largest notification request taken.
const MAX_REQUEST_BYTES: usize = 64 * 1024;
/// The languages of a text, Romanian first (the one required).
const LANGUAGES: [&str; 3] = ["ro", "ru", "en"];
/// The statuses a notification goes through by itself, in order.
const PROGRESS: [&str; 5] = ["Pending", "Resolving", "Sending", "Sent", "Delivered"];

pub struct MnotifyConfig {
    pub listen: SocketAddr,
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
    /// CA of the senders' TLS client certificates.
    pub client_ca: PathBuf,
    /// How long each status lasts before the next.
    pub status_step: Duration,
}

impl MnotifyConfig {
    /// A configuration with the default status step.
    pub fn new(
        listen: SocketAddr,
        tls_cert: PathBuf,
        tls_key: PathBuf,
        client_ca: PathBuf,
    ) -> Self {
        Self {
            listen,
            tls_cert,
            tls_key,
            client_ca,
            status_step: DEFAULT_STATUS_STEP,
        }
    }
}

/// One notification as MNotify delivers it: its texts rendered.
struct Notification {
    id: Uuid,
    external_id: String,
    recipient: Value,
    priority: String,
    /// `subject`, `body` and `shortBody`, each by language, placeholders replaced.
    texts: Map<String, Value>,
    created: Instant,
    read: bool,
}

impl Notification {
    fn status(&self, step: Duration) -> &'static str {
        if self.read {
            return "Read";
        }
        let steps = self.created.elapsed().as_nanos() / step.as_nanos().max(1);
        PROGRESS[usize::try_from(steps)
            .unwrap_or(usize::MAX)
            .min(PROGRESS.len() - 1)]
    }

    fn rendered(&self, step: Duration) -> Value {
        let mut value = Value::Object(self.texts.clone());
        value["id"] = self.id.to_string().into();
        value["externalId"] = self.external_id.clone().into();
        value["recipient"] = self.recipient.clone();
        value["priority"] = self.priority.clone().into();
        value["status"] = self.status(step).into();
        value
    }
}

#[derive(Default)]
struct Outbox {
    notifications: Vec<Notification>,
    by_external_id: HashMap<String, usize>,
}

/// The simulator's notifications and its failure switches; clones share them.
#[derive(Clone)]
pub struct MnotifyHandle {
    outbox: Arc<Mutex<Outbox>>,
    down: Arc<AtomicBool>,
    failures_left: Arc<AtomicU32>,
    status_step: Duration,
}

impl MnotifyHandle {
    /// While down, every request is answered 503.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// The next `count` requests are answered 500, and change nothing.
    pub fn fail_next(&self, count: u32) {
        self.failures_left.store(count, Ordering::SeqCst);
    }

    /// Every notification taken, rendered as delivered, with its status now.
    pub fn notifications(&self) -> Vec<Value> {
        let outbox = self.outbox.lock().expect("not poisoned");
        outbox
            .notifications
            .iter()
            .map(|notification| notification.rendered(self.status_step))
            .collect()
    }

    /// The `externalId` of each notification taken and when it was taken, in that order.
    pub fn arrivals(&self) -> Vec<(String, Instant)> {
        let outbox = self.outbox.lock().expect("not poisoned");
        outbox
            .notifications
            .iter()
            .map(|notification| (notification.external_id.clone(), notification.created))
            .collect()
    }

    pub fn len(&self) -> usize {
        self.outbox
            .lock()
            .expect("not poisoned")
            .notifications
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The answer for an injected failure, if this request is to fail.
    fn fault(&self) -> Option<HttpResponse> {
        if self.down.load(Ordering::SeqCst) {
            return Some(
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "MNotify unavailable",
                    "MNotify is down for maintenance",
                )
                .response(),
            );
        }
        self.failures_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(1)
            })
            .ok()
            .map(|_| {
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "MNotify failed",
                    "the notification was not taken",
                )
                .response()
            })
    }
}

pub struct RunningMnotify {
    pub port: u16,
    pub server: Server,
    pub handle: MnotifyHandle,
}

pub fn start_mnotify(config: MnotifyConfig) -> anyhow::Result<RunningMnotify> {
    let handle = MnotifyHandle {
        outbox: Arc::default(),
        down: Arc::default(),
        failures_left: Arc::default(),
        status_step: config.status_step,
    };
    let state = web::Data::new(handle.clone());
    let (listener, tls, port) = crate::http::mutual_tls_listener(
        config.listen,
        &config.tls_cert,
        &config.tls_key,
        &config.client_ca,
        "MNotify simulator",
    )?;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route("/api/Notification", web::post().to(send))
            .route("/api/Notification/{id}", web::get().to(status))
            .route("/api/Notification/{id}/read", web::post().to(read))
    })
    .workers(1)
    .listen_openssl(listener, tls)?
    .run();
    info!(port, "MNotify simulator listening");
    Ok(RunningMnotify {
        port,
        server,
        handle,
    })
}

#[derive(Serialize)]
struct Accepted {
    id: Uuid,
    status: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NotificationStatus<'a> {
    id: Uuid,
    external_id: &'a str,
    priority: &'a str,
    status: &'static str,
}

fn unprocessable(detail: impl Into<String>) -> HttpResponse {
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "notification refused",
        detail,
    )
    .response()
}

async fn send(body: web::Payload, state: web::Data<MnotifyHandle>) -> HttpResponse {
    if let Some(fault) = state.fault() {
        return fault;
    }
    let body = match read_body(body, MAX_REQUEST_BYTES).await {
        Ok(body) => body,
        Err(problem) => return problem.response(),
    };
    let Ok(Value::Object(request)) = serde_json::from_slice::<Value>(&body) else {
        return Problem::new(
            StatusCode::BAD_REQUEST,
            "notification refused",
            "the body must be a JSON object",
        )
        .response();
    };
    let notification = match NotificationRequest::read(&request) {
        Ok(notification) => notification,
        Err(detail) => return unprocessable(detail),
    };
    let mut outbox = state.outbox.lock().expect("not poisoned");
    if let Some(&index) = outbox.by_external_id.get(&notification.external_id) {
        let existing = &outbox.notifications[index];
        return HttpResponse::Ok().json(Accepted {
            id: existing.id,
            status: existing.status(state.status_step),
        });
    }
    let id = Uuid::new_v4();
    let index = outbox.notifications.len();
    outbox
        .by_external_id
        .insert(notification.external_id.clone(), index);
    outbox.notifications.push(Notification {
        id,
        external_id: notification.external_id,
        recipient: notification.recipient,
        priority: notification.priority,
        texts: notification.texts,
        created: Instant::now(),
        read: false,
    });
    HttpResponse::Created().json(Accepted {
        id,
        status: PROGRESS[0],
    })
}

/// A notification request checked and rendered.
struct NotificationRequest {
    external_id: String,
    recipient: Value,
    priority: String,
    texts: Map<String, Value>,
}

impl NotificationRequest {
    /// Checks the request and renders its texts; an error names the field or placeholder,
    /// never a value.
    fn read(request: &Map<String, Value>) -> Result<Self, String> {
        let external_id = match request.get("externalId") {
            Some(Value::String(id)) if !id.trim().is_empty() => id.clone(),
            _ => return Err("`externalId` must be a non-empty string".into()),
        };
        let recipient = read_recipient(request.get("recipient"))?;
        let priority = match request.get("priority").and_then(Value::as_str) {
            Some(priority @ ("Low" | "Medium" | "High")) => priority.to_string(),
            _ => return Err("`priority` must be Low, Medium or High".into()),
        };
        let variables = read_variables(request.get("variables"))?;
        for (name, value) in &variables {
            if holds_idnp(value) {
                return Err(format!(
                    "personal data in clear: variable `{name}` holds what looks like an IDNP"
                ));
            }
        }
        let mut texts = Map::new();
        for (field, required) in [("subject", true), ("body", true), ("shortBody", false)] {
            match request.get(field) {
                None | Some(Value::Null) if !required => {}
                text => {
                    let rendered = render_text(field, text, &variables)?;
                    texts.insert(field.to_string(), Value::Object(rendered));
                }
            }
        }
        Ok(Self {
            external_id,
            recipient,
            priority,
            texts,
        })
    }
}

fn read_recipient(recipient: Option<&Value>) -> Result<Value, String> {
    const SHAPE: &str = "`recipient` must be {\"idnp\": …} or {\"email\": …}";
    let Some(Value::Object(recipient)) = recipient else {
        return Err(SHAPE.into());
    };
    if recipient.len() != 1 {
        return Err(SHAPE.into());
    }
    match recipient.iter().next() {
        Some((key, Value::String(idnp))) if key == "idnp" => {
            if esocial_wire::domain::Idnp::parse(idnp).is_err() {
                return Err("`recipient.idnp` must be a valid IDNP".into());
            }
        }
        Some((key, Value::String(email))) if key == "email" => {
            let valid = email
                .split_once('@')
                .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
            if !valid {
                return Err("`recipient.email` must be an e-mail address".into());
            }
        }
        _ => return Err(SHAPE.into()),
    }
    Ok(Value::Object(recipient.clone()))
}

fn read_variables(variables: Option<&Value>) -> Result<BTreeMap<String, String>, String> {
    match variables {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(variables)) => variables
            .iter()
            .map(|(name, value)| match value {
                Value::String(text) => Ok((name.clone(), text.clone())),
                _ => Err(format!("variable `{name}` must be a string")),
            })
            .collect(),
        Some(_) => Err("`variables` must be an object of strings".into()),
    }
}

/// One text in its languages, Romanian required, with every placeholder replaced.
fn render_text(
    field: &str,
    text: Option<&Value>,
    variables: &BTreeMap<String, String>,
) -> Result<Map<String, Value>, String> {
    let Some(Value::Object(languages)) = text else {
        return Err(format!(
            "`{field}` must be an object with a Romanian text (`ro`)"
        ));
    };
    if let Some(other) = languages
        .keys()
        .find(|key| !LANGUAGES.contains(&key.as_str()))
    {
        return Err(format!(
            "`{field}.{other}` is not a language MNotify sends (ro, ru, en)"
        ));
    }
    let mut rendered = Map::new();
    for language in LANGUAGES {
        let text = match languages.get(language) {
            None | Some(Value::Null) if language != "ro" => continue,
            Some(Value::String(text)) if !text.trim().is_empty() => text,
            _ => return Err(format!("`{field}.{language}` must be a non-empty string")),
        };
        let place = format!("{field}.{language}");
        let text = render(text, variables).map_err(|placeholder| {
            format!("placeholder `{{{{{placeholder}}}}}` in `{place}` has no variable")
        })?;
        if holds_idnp(&text) {
            return Err(format!(
                "personal data in clear: `{place}` holds what looks like an IDNP"
            ));
        }
        rendered.insert(language.to_string(), text.into());
    }
    Ok(rendered)
}

/// `template` with each `{{name}}` replaced by its variable, or the first placeholder that has
/// none. An unclosed `{{` is kept as it is.
fn render(template: &str, variables: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let Some(length) = rest[start + 2..].find("}}") else {
            break;
        };
        let name = rest[start + 2..start + 2 + length].trim();
        let value = variables.get(name).ok_or_else(|| name.to_string())?;
        out.push_str(&rest[..start]);
        out.push_str(value);
        rest = &rest[start + 2 + length + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Whether `text` has 13 consecutive digits, the shape of an IDNP.
fn holds_idnp(text: &str) -> bool {
    let mut run = 0;
    for character in text.chars() {
        run = if character.is_ascii_digit() {
            run + 1
        } else {
            0
        };
        if run == 13 {
            return true;
        }
    }
    false
}

fn not_found() -> HttpResponse {
    Problem::new(
        StatusCode::NOT_FOUND,
        "notification not found",
        "no notification has this id",
    )
    .response()
}

async fn status(id: web::Path<String>, state: web::Data<MnotifyHandle>) -> HttpResponse {
    if let Some(fault) = state.fault() {
        return fault;
    }
    let outbox = state.outbox.lock().expect("not poisoned");
    match outbox
        .notifications
        .iter()
        .find(|notification| notification.id.to_string() == *id)
    {
        Some(notification) => HttpResponse::Ok().json(NotificationStatus {
            id: notification.id,
            external_id: &notification.external_id,
            priority: &notification.priority,
            status: notification.status(state.status_step),
        }),
        None => not_found(),
    }
}

async fn read(id: web::Path<String>, state: web::Data<MnotifyHandle>) -> HttpResponse {
    if let Some(fault) = state.fault() {
        return fault;
    }
    let mut outbox = state.outbox.lock().expect("not poisoned");
    let Some(notification) = outbox
        .notifications
        .iter_mut()
        .find(|notification| notification.id.to_string() == *id)
    else {
        return not_found();
    };
    match notification.status(state.status_step) {
        "Delivered" | "Read" => {
            notification.read = true;
            HttpResponse::Ok().json(Accepted {
                id: notification.id,
                status: "Read",
            })
        }
        _ => Problem::new(
            StatusCode::CONFLICT,
            "notification not delivered",
            "only a delivered notification can be read",
        )
        .response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_replaced_and_a_missing_variable_is_named() {
        let variables = BTreeMap::from([("caseLink".to_string(), "https://e/1".to_string())]);
        assert_eq!(
            render("Vedeți {{ caseLink }} și {{caseLink}}", &variables),
            Ok("Vedeți https://e/1 și https://e/1".to_string())
        );
        assert_eq!(render("{{ name }}", &variables), Err("name".to_string()));
        assert_eq!(
            render("open {{ brace", &variables),
            Ok("open {{ brace".into())
        );
    }

    #[test]
    fn thirteen_consecutive_digits_look_like_an_idnp() {
        assert!(holds_idnp("cazul 2000000000004"));
        assert!(!holds_idnp("tel. 022-123-456, dosar 123456789012"));
    }
}
