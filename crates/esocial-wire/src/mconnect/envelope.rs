//! SOAP 1.1 envelopes with the MConnect headers: building requests, answers and faults, and
//! reading them back.

use crate::mconnect::xml::{self, XmlError};

pub const SOAP_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
pub const MCONNECT_NS: &str = "https://mconnect.gov.md";

/// The MConnect call context every request carries (Law 142/2018 requires basis and reason).
#[derive(Clone)]
pub struct CallContext {
    /// IDNP of the person acting. Personal data: only ever written to the wire.
    pub calling_user: String,
    /// IDNO of the calling organisation.
    pub calling_entity: String,
    /// Legal basis, e.g. "Legea nr. 123/2010, art. 12".
    pub call_basis: String,
    /// Purpose of the call.
    pub call_reason: String,
    /// Unique message identifier: a new one for every attempt, so replay caches can refuse a
    /// message seen twice.
    pub message_id: String,
    /// Which exchange this message delivers, and which attempt it is: the same exchange id on
    /// every attempt, so that a registry can recognise a retry and answer it once.
    pub delivery: Option<Delivery>,
}

/// The exchange a request belongs to and its attempt number (`mc:ExchangeId`, `mc:Attempt`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub exchange_id: String,
    /// 1 for the first attempt.
    pub attempt: u32,
}

impl CallContext {
    /// The REST profile's payload, signed as one JWS: the same headers as the SOAP envelope,
    /// in an `mconnect` block beside the request.
    pub fn rest_payload(&self, request: serde_json::Value) -> serde_json::Value {
        let mut block = serde_json::json!({
            "callingUser": self.calling_user,
            "callingEntity": self.calling_entity,
            "callBasis": self.call_basis,
            "callReason": self.call_reason,
            "messageId": self.message_id,
        });
        if let Some(delivery) = &self.delivery {
            block["exchangeId"] = serde_json::json!(delivery.exchange_id);
            block["attempt"] = serde_json::json!(delivery.attempt);
        }
        serde_json::json!({"mconnect": block, "request": request})
    }
}

/// Builds an unsigned request envelope around `body_content` (already-escaped XML).
pub fn request(context: &CallContext, body_content: &str) -> String {
    format!(
        concat!(
            r#"<soap:Envelope xmlns:soap="{soap}" xmlns:mc="{mc}">"#,
            "<soap:Header>",
            "<mc:CallingUser>{user}</mc:CallingUser>",
            "<mc:CallingEntity>{entity}</mc:CallingEntity>",
            "<mc:CallBasis>{basis}</mc:CallBasis>",
            "<mc:CallReason>{reason}</mc:CallReason>",
            "<mc:MessageId>{id}</mc:MessageId>",
            "{delivery}",
            "</soap:Header>",
            "<soap:Body>{body}</soap:Body>",
            "</soap:Envelope>"
        ),
        soap = SOAP_NS,
        mc = MCONNECT_NS,
        delivery = context
            .delivery
            .as_ref()
            .map(|d| format!(
                "<mc:ExchangeId>{}</mc:ExchangeId><mc:Attempt>{}</mc:Attempt>",
                xml::escape(&d.exchange_id),
                d.attempt
            ))
            .unwrap_or_default(),
        user = xml::escape(&context.calling_user),
        entity = xml::escape(&context.calling_entity),
        basis = xml::escape(&context.call_basis),
        reason = xml::escape(&context.call_reason),
        id = xml::escape(&context.message_id),
        body = body_content,
    )
}

/// What ties an answer to the request it answers. All three travel as signed headers, so an
/// answer cannot be replayed as the answer to another request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerBinding {
    /// The answer's own message id.
    pub message_id: String,
    /// The request's message id.
    pub relates_to: String,
    /// [`super::request_hash`] of the signed request as received.
    pub request_hash: String,
}

/// Builds an unsigned answer envelope bound to its request.
pub fn response(binding: &AnswerBinding, body_content: &str) -> String {
    format!(
        concat!(
            r#"<soap:Envelope xmlns:soap="{soap}" xmlns:mc="{mc}">"#,
            "<soap:Header>",
            "<mc:MessageId>{id}</mc:MessageId>",
            "<mc:RelatesTo>{relates}</mc:RelatesTo>",
            r#"<mc:RequestHash algorithmId="{algorithm}">{hash}</mc:RequestHash>"#,
            "</soap:Header>",
            "<soap:Body>{body}</soap:Body>",
            "</soap:Envelope>"
        ),
        soap = SOAP_NS,
        mc = MCONNECT_NS,
        id = xml::escape(&binding.message_id),
        relates = xml::escape(&binding.relates_to),
        algorithm = super::REQUEST_HASH_ALGORITHM,
        hash = xml::escape(&binding.request_hash),
        body = body_content,
    )
}

/// What the hub says about a failure in `soap:Fault/detail` (see `contracts/provider/mconnect.xsd`).
pub struct FaultDetail<'a> {
    /// The stable code, e.g. `caller.replayed_message`.
    pub code: &'a str,
    pub retryable: bool,
    /// The exchange-log record of the refusal, if it was recorded.
    pub exchange_id: Option<uuid::Uuid>,
}

/// Builds an unsigned SOAP 1.1 Fault envelope. `fault_code` is e.g. `Client.PersonNotFound`.
pub fn fault(
    binding: &AnswerBinding,
    fault_code: &str,
    fault_string: &str,
    detail: Option<&FaultDetail<'_>>,
) -> String {
    let detail = detail
        .map(|detail| {
            format!(
                "<detail><mc:Code>{}</mc:Code><mc:Retryable>{}</mc:Retryable>{}</detail>",
                xml::escape(detail.code),
                detail.retryable,
                detail
                    .exchange_id
                    .map(|id| format!("<mc:ExchangeId>{id}</mc:ExchangeId>"))
                    .unwrap_or_default()
            )
        })
        .unwrap_or_default();
    response(
        binding,
        &format!(
            "<soap:Fault><faultcode>soap:{}</faultcode><faultstring>{}</faultstring>{detail}</soap:Fault>",
            xml::escape(fault_code),
            xml::escape(fault_string)
        ),
    )
}

/// A SOAP Fault as read from an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoapFault {
    /// The fault code without its namespace prefix, e.g. `Client.PersonNotFound`.
    pub code: String,
    pub message: String,
}

impl SoapFault {
    /// Whether the registry blames the sender (SOAP `Client`) rather than itself (`Server`).
    pub fn is_client_fault(&self) -> bool {
        self.code == "Client" || self.code.starts_with("Client.")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error(transparent)]
    Xml(#[from] XmlError),
    #[error("not a SOAP 1.1 envelope: {0}")]
    NotSoap(&'static str),
}

/// A parsed envelope: its MConnect header values and its body.
pub struct Envelope<'a, 'input> {
    pub header: Option<roxmltree::Node<'a, 'input>>,
    pub body: roxmltree::Node<'a, 'input>,
}

impl<'a, 'input> Envelope<'a, 'input> {
    /// Reads the SOAP structure of an already-parsed document.
    pub fn read(document: &'a roxmltree::Document<'input>) -> Result<Self, EnvelopeError> {
        let root = document.root_element();
        if root.tag_name().name() != "Envelope" || root.tag_name().namespace() != Some(SOAP_NS) {
            return Err(EnvelopeError::NotSoap("root element is not soap:Envelope"));
        }
        let in_soap_ns = |node: &roxmltree::Node<'_, '_>, name: &str| {
            node.is_element()
                && node.tag_name().name() == name
                && node.tag_name().namespace() == Some(SOAP_NS)
        };
        let header = root.children().find(|n| in_soap_ns(n, "Header"));
        let mut bodies = root.children().filter(|n| in_soap_ns(n, "Body"));
        let body = bodies
            .next()
            .ok_or(EnvelopeError::NotSoap("no soap:Body"))?;
        if bodies.next().is_some() {
            return Err(EnvelopeError::NotSoap("more than one soap:Body"));
        }
        Ok(Self { header, body })
    }

    /// Text of an MConnect header (namespace `https://mconnect.gov.md`), if present and not blank.
    pub fn mconnect_header(&self, local_name: &str) -> Option<String> {
        let header = self.header?;
        header
            .children()
            .find(|n| {
                n.is_element()
                    && n.tag_name().name() == local_name
                    && n.tag_name().namespace() == Some(MCONNECT_NS)
            })
            .map(xml::text_of)
            .filter(|text| !text.is_empty())
    }

    /// The answer's binding to its request (`MessageId`, `RelatesTo`, `RequestHash` with the
    /// one algorithm accepted), if the envelope carries all three.
    pub fn binding(&self) -> Option<AnswerBinding> {
        let hash = self.header?.children().find(|n| {
            n.is_element()
                && n.tag_name().name() == "RequestHash"
                && n.tag_name().namespace() == Some(MCONNECT_NS)
        })?;
        if hash.attribute("algorithmId") != Some(super::REQUEST_HASH_ALGORITHM) {
            return None;
        }
        Some(AnswerBinding {
            message_id: self.mconnect_header("MessageId")?,
            relates_to: self.mconnect_header("RelatesTo")?,
            request_hash: xml::text_of(hash),
        })
    }

    /// The first element inside the body (the payload or the Fault).
    pub fn payload(&self) -> Option<roxmltree::Node<'a, 'input>> {
        self.body.children().find(|n| n.is_element())
    }

    /// The Fault in the body, if the answer is one.
    pub fn fault(&self) -> Option<SoapFault> {
        fault_of(self.payload()?)
    }
}

/// Reads `payload` as a SOAP 1.1 Fault, if it is one.
pub fn fault_of(payload: roxmltree::Node<'_, '_>) -> Option<SoapFault> {
    if payload.tag_name().name() != "Fault" || payload.tag_name().namespace() != Some(SOAP_NS) {
        return None;
    }
    let code = xml::child(payload, "faultcode")
        .map(xml::text_of)
        .unwrap_or_default();
    let code = code
        .split_once(':')
        .map(|(_, local)| local.to_string())
        .unwrap_or(code);
    let message = xml::child(payload, "faultstring")
        .map(xml::text_of)
        .unwrap_or_default();
    Some(SoapFault { code, message })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> CallContext {
        CallContext {
            calling_user: "2000000000004".into(),
            calling_entity: "1008600038413".into(),
            call_basis: "Legea nr. 123/2010, art. 12".into(),
            call_reason: "Evaluare <urgentă> & plan".into(),
            message_id: "m-1".into(),
            delivery: Some(Delivery {
                exchange_id: "e-1".into(),
                attempt: 2,
            }),
        }
    }

    #[test]
    fn request_carries_the_four_mconnect_headers_escaped() {
        let text = request(&context(), "<x:Q xmlns:x=\"urn:x\"/>");
        let document = xml::parse(&text).unwrap();
        let envelope = Envelope::read(&document).unwrap();
        assert_eq!(
            envelope.mconnect_header("CallingUser").as_deref(),
            Some("2000000000004")
        );
        assert_eq!(
            envelope.mconnect_header("CallingEntity").as_deref(),
            Some("1008600038413")
        );
        assert_eq!(
            envelope.mconnect_header("CallBasis").as_deref(),
            Some("Legea nr. 123/2010, art. 12")
        );
        assert_eq!(
            envelope.mconnect_header("CallReason").as_deref(),
            Some("Evaluare <urgentă> & plan")
        );
        assert_eq!(
            envelope.mconnect_header("MessageId").as_deref(),
            Some("m-1")
        );
        assert_eq!(
            envelope.mconnect_header("ExchangeId").as_deref(),
            Some("e-1")
        );
        assert_eq!(envelope.mconnect_header("Attempt").as_deref(), Some("2"));
        assert_eq!(envelope.payload().unwrap().tag_name().name(), "Q");
    }

    #[test]
    fn fault_round_trips_with_its_binding() {
        let binding = AnswerBinding {
            message_id: "m-2".into(),
            relates_to: "m-1".into(),
            request_hash: crate::mconnect::request_hash(b"request"),
        };
        let text = fault(
            &binding,
            "Client.PersonNotFound",
            "unknown person",
            Some(&FaultDetail {
                code: "caller.subject_not_found",
                retryable: false,
                exchange_id: None,
            }),
        );
        let document = xml::parse(&text).unwrap();
        let envelope = Envelope::read(&document).unwrap();
        assert_eq!(envelope.binding(), Some(binding));
        assert!(text.contains("<mc:Code>caller.subject_not_found</mc:Code>"));
        let fault = envelope.fault().unwrap();
        assert_eq!(fault.code, "Client.PersonNotFound");
        assert!(fault.is_client_fault());
        assert_eq!(fault.message, "unknown person");
    }

    #[test]
    fn rejects_non_soap_roots_and_double_bodies() {
        let document = xml::parse("<Envelope/>").unwrap();
        assert!(Envelope::read(&document).is_err());
        let doubled = format!(r#"<s:Envelope xmlns:s="{SOAP_NS}"><s:Body/><s:Body/></s:Envelope>"#);
        let document = xml::parse(&doubled).unwrap();
        assert!(Envelope::read(&document).is_err());
    }
}
