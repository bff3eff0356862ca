//! CloudEvents 1.0 in structured JSON mode, as MConnect Events carries them: the attributes
//! checked (spec version, identity, type, subject partition), the size limits MConnect Events
//! sets (64 KiB per event, 1 MiB per request) and the `offset` a consumer stream adds. Errors
//! name the attribute, never its value.

use serde_json::{Map, Value};

use crate::domain::Idnp;

/// Largest event MConnect Events takes, as serialised JSON.
pub const MAX_EVENT_BYTES: usize = 64 * 1024;
/// Largest request (one event or a batch) MConnect Events takes.
pub const MAX_REQUEST_BYTES: usize = 1024 * 1024;
/// Most events in one batch.
pub const MAX_BATCH_EVENTS: usize = 1000;
/// Media type of one structured event.
pub const EVENT_MEDIA_TYPE: &str = "application/cloudevents+json";
/// Media type of a batch.
pub const BATCH_MEDIA_TYPE: &str = "application/cloudevents-batch+json";
/// WebSocket subprotocol of the consumer stream.
pub const WS_SUBPROTOCOL: &str = "cloudevents.json";

/// Longest `id`, `source` and `type` accepted.
const MAX_ATTRIBUTE_CHARS: usize = 256;

/// A checked CloudEvent. `data` is JSON; its shape is the event type's contract's business.
#[derive(Debug, Clone, PartialEq)]
pub struct CloudEvent {
    pub id: String,
    pub source: String,
    pub event_type: String,
    /// Ordering key, `idnp:<idnp>` for an event about a person.
    pub partition_key: Option<String>,
    /// RFC 3339 time of the occurrence, as the producer gave it.
    pub time: Option<String>,
    pub data: Value,
    /// Position in a consumer stream (MConnect Events adds it; producers do not send it).
    pub offset: Option<u64>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CloudEventError {
    #[error("the event is larger than {MAX_EVENT_BYTES} bytes")]
    TooLarge,
    #[error("the event is not a JSON object")]
    NotAnObject,
    #[error("attribute `{0}` is missing")]
    Missing(&'static str),
    #[error("attribute `{0}` is not valid: {1}")]
    Invalid(&'static str, &'static str),
    #[error("the batch is not a JSON array of events")]
    NotABatch,
    #[error("the batch has more than {MAX_BATCH_EVENTS} events")]
    BatchTooLarge,
    #[error("event {index} of the batch: {error}")]
    InBatch {
        index: usize,
        error: Box<CloudEventError>,
    },
}

impl CloudEvent {
    /// Reads one structured-mode event.
    pub fn parse(bytes: &[u8]) -> Result<Self, CloudEventError> {
        if bytes.len() > MAX_EVENT_BYTES {
            return Err(CloudEventError::TooLarge);
        }
        let value: Value =
            serde_json::from_slice(bytes).map_err(|_| CloudEventError::NotAnObject)?;
        Self::from_value(value)
    }

    /// Reads a batch (a JSON array of structured events); any bad event refuses the batch.
    pub fn parse_batch(bytes: &[u8]) -> Result<Vec<Self>, CloudEventError> {
        let Ok(Value::Array(items)) = serde_json::from_slice::<Value>(bytes) else {
            return Err(CloudEventError::NotABatch);
        };
        if items.len() > MAX_BATCH_EVENTS {
            return Err(CloudEventError::BatchTooLarge);
        }
        items
            .into_iter()
            .enumerate()
            .map(|(index, item)| {
                if item.to_string().len() > MAX_EVENT_BYTES {
                    return Err(CloudEventError::TooLarge);
                }
                Self::from_value(item).map_err(|error| CloudEventError::InBatch {
                    index,
                    error: Box::new(error),
                })
            })
            .collect()
    }

    /// Checks an event already parsed as JSON.
    pub fn from_value(value: Value) -> Result<Self, CloudEventError> {
        let Value::Object(mut object) = value else {
            return Err(CloudEventError::NotAnObject);
        };
        match object.get("specversion") {
            None => return Err(CloudEventError::Missing("specversion")),
            Some(Value::String(version)) if version == "1.0" => {}
            Some(_) => return Err(CloudEventError::Invalid("specversion", "must be \"1.0\"")),
        }
        let id = attribute(&object, "id")?;
        let source = attribute(&object, "source")?;
        let event_type = attribute(&object, "type")?;
        if !is_event_type(&event_type) {
            return Err(CloudEventError::Invalid(
                "type",
                "must be dot-separated names such as Organization.System.Entity.Action",
            ));
        }
        let partition_key = optional_attribute(&object, "partitionkey")?;
        let time = optional_attribute(&object, "time")?;
        if let Some(time) = &time
            && time::OffsetDateTime::parse(time, &time::format_description::well_known::Rfc3339)
                .is_err()
        {
            return Err(CloudEventError::Invalid(
                "time",
                "must be an RFC 3339 timestamp",
            ));
        }
        if let Some(media_type) = object.get("datacontenttype")
            && media_type.as_str() != Some("application/json")
        {
            return Err(CloudEventError::Invalid(
                "datacontenttype",
                "must be application/json",
            ));
        }
        if object.contains_key("data_base64") {
            return Err(CloudEventError::Invalid(
                "data_base64",
                "binary data is not taken; send JSON `data`",
            ));
        }
        let offset = match object.get("offset") {
            None => None,
            Some(Value::Number(number)) => Some(
                number
                    .as_u64()
                    .ok_or(CloudEventError::Invalid("offset", "must be a whole number"))?,
            ),
            Some(Value::String(text)) => Some(
                text.parse()
                    .map_err(|_| CloudEventError::Invalid("offset", "must be a whole number"))?,
            ),
            Some(_) => return Err(CloudEventError::Invalid("offset", "must be a whole number")),
        };
        let data = object
            .remove("data")
            .ok_or(CloudEventError::Missing("data"))?;
        Ok(Self {
            id,
            source,
            event_type,
            partition_key,
            time,
            data,
            offset,
        })
    }

    /// The person an event is about, from a `partitionkey` of the form `idnp:<idnp>`.
    pub fn subject_idnp(&self) -> Result<Idnp, CloudEventError> {
        let key = self
            .partition_key
            .as_deref()
            .ok_or(CloudEventError::Missing("partitionkey"))?;
        let digits = key.strip_prefix("idnp:").ok_or(CloudEventError::Invalid(
            "partitionkey",
            "must be idnp:<13 digits>",
        ))?;
        Idnp::parse(digits).map_err(|_| {
            CloudEventError::Invalid(
                "partitionkey",
                "must hold a valid IDNP (13 digits, check digit)",
            )
        })
    }

    /// The event as structured-mode JSON (with its `offset` when it has one).
    pub fn to_value(&self) -> Value {
        let mut object = Map::new();
        object.insert("specversion".into(), "1.0".into());
        object.insert("id".into(), self.id.clone().into());
        object.insert("source".into(), self.source.clone().into());
        object.insert("type".into(), self.event_type.clone().into());
        object.insert("datacontenttype".into(), "application/json".into());
        if let Some(key) = &self.partition_key {
            object.insert("partitionkey".into(), key.clone().into());
        }
        if let Some(time) = &self.time {
            object.insert("time".into(), time.clone().into());
        }
        if let Some(offset) = self.offset {
            object.insert("offset".into(), offset.into());
        }
        object.insert("data".into(), self.data.clone());
        Value::Object(object)
    }
}

fn attribute(object: &Map<String, Value>, name: &'static str) -> Result<String, CloudEventError> {
    optional_attribute(object, name)?.ok_or(CloudEventError::Missing(name))
}

fn optional_attribute(
    object: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<String>, CloudEventError> {
    match object.get(name) {
        None => Ok(None),
        Some(Value::String(text)) if text.is_empty() => {
            Err(CloudEventError::Invalid(name, "must not be empty"))
        }
        Some(Value::String(text)) if text.chars().count() > MAX_ATTRIBUTE_CHARS => Err(
            CloudEventError::Invalid(name, "is too long (256 characters at most)"),
        ),
        Some(Value::String(text)) if text.chars().any(char::is_control) => Err(
            CloudEventError::Invalid(name, "must not hold control characters"),
        ),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(CloudEventError::Invalid(name, "must be a string")),
    }
}

/// `Organization.System.Entity.Action`: at least two dot-separated names of ASCII letters and
/// digits, each starting with a letter.
fn is_event_type(text: &str) -> bool {
    let mut names = 0;
    for name in text.split('.') {
        let mut chars = name.chars();
        if !chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            || !chars.all(|c| c.is_ascii_alphanumeric())
        {
            return false;
        }
        names += 1;
    }
    names >= 2
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn died() -> Value {
        json!({
            "specversion": "1.0",
            "id": "evt-1",
            "source": "urn:gov:md:asp:civil",
            "type": "Gov.Civil.Person.Died",
            "partitionkey": "idnp:2000000000004",
            "time": "2026-12-01T10:00:00Z",
            "datacontenttype": "application/json",
            "data": {"idnp": "2000000000004", "dateOfDeath": "2026-11-30", "actNumber": "D-1"}
        })
    }

    #[test]
    fn reads_a_structured_event_and_writes_it_back() {
        let event = CloudEvent::parse(died().to_string().as_bytes()).unwrap();
        assert_eq!(event.event_type, "Gov.Civil.Person.Died");
        assert_eq!(event.subject_idnp().unwrap().expose(), "2000000000004");
        assert_eq!(CloudEvent::from_value(event.to_value()).unwrap(), event);
    }

    #[test]
    fn names_the_attribute_never_the_value() {
        let mut event = died();
        event["specversion"] = json!("0.3");
        let error = CloudEvent::from_value(event).unwrap_err();
        assert_eq!(
            error,
            CloudEventError::Invalid("specversion", "must be \"1.0\"")
        );
        let mut event = died();
        event.as_object_mut().unwrap().remove("source");
        assert_eq!(
            CloudEvent::from_value(event).unwrap_err(),
            CloudEventError::Missing("source")
        );
        let mut event = died();
        event["partitionkey"] = json!("idnp:2000000000005");
        let error = CloudEvent::from_value(event)
            .unwrap()
            .subject_idnp()
            .unwrap_err();
        assert!(!error.to_string().contains("2000000000005"), "{error}");
        let mut event = died();
        event["type"] = json!("died");
        assert!(matches!(
            CloudEvent::from_value(event),
            Err(CloudEventError::Invalid("type", _))
        ));
    }

    #[test]
    fn refuses_events_over_the_size_limit() {
        let mut event = died();
        event["data"]["office"] = json!("x".repeat(MAX_EVENT_BYTES));
        assert_eq!(
            CloudEvent::parse(event.to_string().as_bytes()),
            Err(CloudEventError::TooLarge)
        );
    }

    #[test]
    fn one_bad_event_refuses_the_batch_and_says_which() {
        let mut bad = died();
        bad["id"] = json!("");
        let batch = json!([died(), bad]).to_string();
        let error = CloudEvent::parse_batch(batch.as_bytes()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "event 1 of the batch: attribute `id` is not valid: must not be empty"
        );
        assert_eq!(
            CloudEvent::parse_batch(b"{}"),
            Err(CloudEventError::NotABatch)
        );
    }
}
