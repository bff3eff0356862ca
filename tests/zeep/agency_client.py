#!/usr/bin/env python3
"""An agency calling eSocial's MConnect SOAP services with zeep, as an agency's own system would.

The client is built from contracts/provider/esocial.wsdl. It connects over mutual TLS with the
agency's certificate, sends the MConnect headers through zeep's header mechanism as the WSDL
defines them, and signs with WS-Security through the `xmlsec` package: exclusive C14N,
RSA-SHA256, SHA-256 digests, a BinarySecurityToken and one reference each to the Timestamp, to
every soap:Header child and to the Body (zeep's own BinarySignature signs only the Body and the
Timestamp). It then verifies the answer: the signature, made with the certificate in the answer's
BinarySecurityToken, which must chain to the CA and name the expected signer; the signature's
coverage; the Timestamp; RelatesTo against the MessageId sent and RequestHash against the SHA-256
of the exact bytes sent. It prints the parsed answer as JSON.

Exit status: 0 for a verified answer, 2 for a verified SOAP Fault (printed as JSON with its
stable code), 1 for anything else (nothing printed on standard output). With --replay it calls
nobody and checks a saved answer against a saved request, so that its checks can be seen to
refuse an altered answer.
"""

import argparse
import base64
import datetime
import decimal
import hashlib
import json
import sys
import uuid
from pathlib import Path

import requests
import xmlsec
import zeep
from cryptography import x509
from cryptography.x509.oid import NameOID
from lxml import etree
from lxml.etree import QName
from zeep import ns
from zeep.exceptions import Fault, SignatureVerificationFailed
from zeep.helpers import serialize_object
from zeep.utils import detect_soap_env
from zeep.wsse.signature import BinarySignature, _make_sign_key, _sign_node
from zeep.wsse.utils import WSU, ensure_id, get_security_header

ES_NS = "https://esocial.gov.md/mconnect/v1"
MC_NS = "https://mconnect.gov.md"
BINDING = QName(ES_NS, "ESocialProviderSoapBinding")
OPERATIONS = ("GetActiveCases", "GetBeneficiaryStatus", "NotifyCaseRelevantEvent")
REQUEST_HEADERS = ("CallingUser", "CallingEntity", "CallBasis", "CallReason", "MessageId")
WSDL = Path(__file__).resolve().parents[2] / "contracts" / "provider" / "esocial.wsdl"

EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
X509V3 = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3"
BASE64_BINARY = (
    "http://docs.oasis-open.org/wss/2004/01/"
    "oasis-200401-wss-soap-message-security-1.0#Base64Binary"
)
ID_ATTR = QName(ns.WSU, "Id")
TTL = datetime.timedelta(minutes=15)
CLOCK_SKEW = datetime.timedelta(minutes=5)


class ClientError(Exception):
    """A failure of the call or of the answer's checks; the message is safe to print."""


def _utc(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


class MConnectSignature(BinarySignature):
    """zeep's BinarySignature with the MConnect profile.

    Signing adds a wsu:Timestamp (zeep's BinarySignature signs one only when something else put
    it there) and gives every soap:Header child a wsu:Id and its own reference, besides the Body
    and the Timestamp. `unsigned` names headers to leave out of the signature (only to show that
    the hub refuses such a request).

    Verification does not trust the client's own certificate, as zeep's does: it takes the
    certificate from the answer's BinarySecurityToken, requires it to chain to `ca_file` and to
    name `signer`, and requires the signature to cover exactly the Body, the Timestamp and every
    other soap:Header child, once each.
    """

    def __init__(self, key_file, cert_file, ca_file, signer, unsigned=()):
        super().__init__(
            key_file,
            cert_file,
            signature_method=xmlsec.Transform.RSA_SHA256,
            digest_method=xmlsec.Transform.SHA256,
        )
        self.anchors = x509.load_pem_x509_certificates(Path(ca_file).read_bytes())
        self.signer = signer
        self.unsigned = set(unsigned)
        self.verified_headers = None

    # -- signing ----------------------------------------------------------------------------

    def apply(self, envelope, headers):
        soap_env = detect_soap_env(envelope)
        header = envelope.find(QName(soap_env, "Header"))
        body = envelope.find(QName(soap_env, "Body"))
        security = get_security_header(envelope)
        security.set(QName(soap_env, "mustUnderstand"), "1")
        created = _now()
        timestamp = WSU.Timestamp(WSU.Created(_utc(created)), WSU.Expires(_utc(created + TTL)))
        security.append(timestamp)

        # As zeep's _signature_prepare, with more references.
        key = _make_sign_key(self.key_data, self.cert_data, self.password)
        signature = xmlsec.template.create(
            envelope, xmlsec.Transform.EXCL_C14N, self.signature_method
        )
        key_info = xmlsec.template.ensure_key_info(signature)
        x509_data = xmlsec.template.add_x509_data(key_info)
        xmlsec.template.x509_data_add_certificate(x509_data)
        security.insert(0, signature)
        ctx = xmlsec.SignatureContext()
        ctx.key = key
        targets = [timestamp]
        targets += [
            child
            for child in header
            if child is not security and QName(child).localname not in self.unsigned
        ]
        targets.append(body)
        for target in targets:
            _sign_node(ctx, signature, target, self.digest_method)
        ctx.sign(signature)

        # As zeep's _sign_envelope_with_key_binary: the certificate moves to a
        # BinarySecurityToken, which the SecurityTokenReference names.
        token_ref = etree.SubElement(key_info, QName(ns.WSSE, "SecurityTokenReference"))
        reference = etree.SubElement(
            token_ref, QName(ns.WSSE, "Reference"), {"ValueType": X509V3}
        )
        token = etree.Element(
            QName(ns.WSSE, "BinarySecurityToken"),
            {"ValueType": X509V3, "EncodingType": BASE64_BINARY},
        )
        reference.attrib["URI"] = "#" + ensure_id(token)
        token.text = x509_data.find(QName(ns.DS, "X509Certificate")).text
        security.insert(1, token)
        key_info.remove(x509_data)
        return envelope, headers

    # -- verification ------------------------------------------------------------------------

    def verify(self, envelope):
        try:
            self.verified_headers = self._verify(envelope)
        except SignatureVerificationFailed:
            raise
        except (xmlsec.Error, ValueError, TypeError, KeyError, AttributeError) as error:
            raise SignatureVerificationFailed(f"answer signature: {error}") from error
        return envelope

    def _verify(self, envelope):
        def fail(reason):
            raise SignatureVerificationFailed(f"answer signature: {reason}")

        soap_env = detect_soap_env(envelope)
        parts = [child for child in envelope if isinstance(child.tag, str)]
        if [child.tag for child in parts] != [QName(soap_env, "Header"), QName(soap_env, "Body")]:
            fail("the Envelope is not one soap:Header and one soap:Body")
        header, body = parts
        securities = header.findall(QName(ns.WSSE, "Security"))
        if len(securities) != 1:
            fail(f"{len(securities)} wsse:Security headers")
        security = securities[0]
        signatures = list(envelope.iter(QName(ns.DS, "Signature")))
        if len(signatures) != 1 or signatures[0].getparent() is not security:
            fail("not exactly one ds:Signature, in wsse:Security")
        signature = signatures[0]
        timestamps = security.findall(QName(ns.WSU, "Timestamp"))
        if len(timestamps) != 1:
            fail("not exactly one wsu:Timestamp")
        timestamp = timestamps[0]
        if any(
            isinstance(node, (etree._Comment, etree._ProcessingInstruction))
            for node in envelope.iter()
        ):
            fail("comment or processing instruction in a signed message")

        # References resolve by wsu:Id, but xmlsec (libxml2) also knows xml:id, and other stacks
        # other Id attributes: no value may name two elements in any of them.
        ids, seen = {}, {}
        for element in envelope.iter(etree.Element):
            for name, value in element.attrib.items():
                if QName(name).localname.lower() == "id":
                    if seen.setdefault(value, element) is not element:
                        fail(f"the Id {value!r} names two elements")
            if element.get(ID_ATTR) is not None:
                ids[element.get(ID_ATTR)] = element

        signed_info = signature.find(QName(ns.DS, "SignedInfo"))
        if signed_info is None:
            fail("no ds:SignedInfo")
        algorithm = signed_info.find(QName(ns.DS, "CanonicalizationMethod")).get("Algorithm")
        if algorithm != EXC_C14N:
            fail(f"canonicalization {algorithm}")
        algorithm = signed_info.find(QName(ns.DS, "SignatureMethod")).get("Algorithm")
        if algorithm != RSA_SHA256:
            fail(f"signature method {algorithm}")
        covered = []
        for reference in signed_info.findall(QName(ns.DS, "Reference")):
            uri = reference.get("URI", "")
            if not uri.startswith("#") or uri[1:] not in ids:
                fail(f"reference {uri!r} resolves to no element")
            transforms = reference.findall(f"{{{ns.DS}}}Transforms/{{{ns.DS}}}Transform")
            if [t.get("Algorithm") for t in transforms] != [EXC_C14N]:
                fail(f"reference {uri}: not one exclusive-C14N transform")
            digest = reference.find(QName(ns.DS, "DigestMethod")).get("Algorithm")
            if digest != SHA256:
                fail(f"reference {uri}: digest {digest}")
            covered.append(ids[uri[1:]])
        expected = [timestamp, body] + [child for child in header if child is not security]
        if len(covered) != len(expected) or any(
            sum(c is e for c in covered) != 1 for e in expected
        ):
            fail("the signature does not cover exactly the Timestamp, the Body and each header")

        token_ref = signature.find(
            f"{{{ns.DS}}}KeyInfo/{{{ns.WSSE}}}SecurityTokenReference/{{{ns.WSSE}}}Reference"
        )
        if token_ref is None or not token_ref.get("URI", "").startswith("#"):
            fail("no SecurityTokenReference to a BinarySecurityToken")
        token = ids.get(token_ref.get("URI")[1:])
        if (
            token is None
            or token.tag != QName(ns.WSSE, "BinarySecurityToken")
            or token.getparent() is not security
            or token.get("ValueType") != X509V3
        ):
            fail("the token reference does not name this header's X509v3 token")
        der = base64.b64decode("".join(token.text.split()), validate=True)
        now = _now()
        certificate = x509.load_der_x509_certificate(der)
        self._check_chain(certificate, now, fail)
        names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if [n.value for n in names] != [self.signer]:
            fail(f"signed by {[n.value for n in names]}, not {self.signer!r}")

        ctx = xmlsec.SignatureContext()
        for element in covered:
            ctx.register_id(element, "Id", ns.WSU)
        ctx.key = xmlsec.Key.from_memory(der, xmlsec.KeyFormat.CERT_DER, None)
        try:
            ctx.verify(signature)
        except xmlsec.Error as error:
            fail(f"xmlsec: {error}")

        created = datetime.datetime.fromisoformat(
            timestamp.findtext(QName(ns.WSU, "Created")).strip()
        )
        expires = datetime.datetime.fromisoformat(
            timestamp.findtext(QName(ns.WSU, "Expires")).strip()
        )
        if expires <= now or created > now + CLOCK_SKEW:
            fail("the Timestamp is not valid now")

        # What the answer says about itself, read from the elements just verified.
        return {
            QName(child).localname: child
            for child in header
            if QName(child).namespace == MC_NS
        }

    def _check_chain(self, certificate, now, fail):
        current = certificate
        for _ in range(8):
            if not current.not_valid_before_utc <= now <= current.not_valid_after_utc:
                fail("a certificate of the signer's chain is not valid now")
            issuer = next((a for a in self.anchors if a.subject == current.issuer), None)
            if issuer is None:
                fail("the signer's certificate does not chain to the CA")
            try:
                current.verify_directly_issued_by(issuer)
            except Exception as error:  # InvalidSignature, ValueError, TypeError
                fail(f"the signer's certificate does not chain to the CA ({error!r})")
            if issuer.subject == issuer.issuer:
                if not issuer.not_valid_before_utc <= now <= issuer.not_valid_after_utc:
                    fail("the CA certificate is not valid now")
                return
            current = issuer
        fail("the signer's certificate chain is too long")


class CapturingTransport(zeep.Transport):
    """zeep's transport, keeping the exact bytes posted and received.

    With `replay` (the bytes of a request and of its answer, saved before) it posts nothing:
    the saved request counts as sent and the saved answer as received, so that the answer's
    checks can be seen to refuse an altered answer.
    """

    def __init__(self, *args, replay=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.replay = replay
        self.sent = None
        self.received = None

    def post(self, address, message, headers):
        if self.replay is not None:
            self.sent, self.received = self.replay
            response = requests.Response()
            response.status_code = 200
            response.headers["Content-Type"] = "text/xml; charset=utf-8"
            response._content = self.received
            return response
        self.sent = message if isinstance(message, bytes) else message.encode("utf-8")
        response = super().post(address, message, headers)
        self.received = response.content
        return response


def _plain(value):
    """zeep's parsed values as JSON values; absent (None) elements are left out."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    return value


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="https://host:port/mconnect/v1/soap")
    parser.add_argument("--cert", required=True, help="agency certificate (PEM), TLS and signing")
    parser.add_argument("--key", required=True, help="its private key (PEM)")
    parser.add_argument("--ca", required=True, help="CA certificates (PEM) for TLS and answers")
    parser.add_argument("--idnp", required=True, help="IDNP of the subject")
    parser.add_argument("--operation", required=True, choices=OPERATIONS)
    parser.add_argument("--calling-entity", required=True, help="IDNO of the agency")
    parser.add_argument("--calling-user", required=True, help="IDNP of the acting person")
    parser.add_argument("--call-basis", required=True, help="legal basis of the call")
    parser.add_argument("--call-reason", required=True, help="reason of the call")
    parser.add_argument("--message-id", default=None, help="default: a new UUID")
    parser.add_argument("--signer", default="hub", help="common name the answer's signer has")
    parser.add_argument("--wsdl", default=str(WSDL))
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--event-type", default="police.domestic-violence-callout")
    parser.add_argument("--occurred-at", default=None, help="default: now")
    parser.add_argument("--severity", default="high", choices=("low", "medium", "high"))
    parser.add_argument("--summary", default="Apel la 112, intervenție la domiciliu")
    parser.add_argument("--reference", default=None)
    parser.add_argument(
        "--omit-header", action="append", default=[], choices=REQUEST_HEADERS,
        help="leave this MConnect header out (to see the hub refuse)",
    )
    parser.add_argument(
        "--unsigned-header", action="append", default=[], choices=REQUEST_HEADERS,
        help="send this MConnect header without signing it (to see the hub refuse)",
    )
    parser.add_argument("--save-request", default=None, help="write the bytes sent here")
    parser.add_argument("--save-answer", default=None, help="write the bytes received here")
    parser.add_argument(
        "--replay", nargs=2, metavar=("REQUEST", "ANSWER"), default=None,
        help="call nobody: check the saved ANSWER as the answer to the saved REQUEST",
    )
    return parser.parse_args(argv)


def call(args):
    message_id = args.message_id or str(uuid.uuid4())
    session = requests.Session()
    session.trust_env = False  # no proxy, no CA bundle from the environment
    session.cert = (args.cert, args.key)
    session.verify = args.ca
    replay = None
    if args.replay:
        replay = tuple(Path(file).read_bytes() for file in args.replay)
    transport = CapturingTransport(
        session=session, timeout=args.timeout, operation_timeout=args.timeout, replay=replay
    )
    wsse = MConnectSignature(
        args.key, args.cert, args.ca, args.signer, unsigned=args.unsigned_header
    )
    client = zeep.Client(
        wsdl=args.wsdl,
        transport=transport,
        wsse=wsse,
        settings=zeep.Settings(strict=True, xml_huge_tree=False),
    )
    service = client.create_service(BINDING, args.url)
    headers = {
        "CallingUser": args.calling_user,
        "CallingEntity": args.calling_entity,
        "CallBasis": args.call_basis,
        "CallReason": args.call_reason,
        "MessageId": message_id,
    }
    for name in args.omit_header:
        headers.pop(name)
    fields = {"IDNP": args.idnp}
    if args.operation == "NotifyCaseRelevantEvent":
        fields.update(
            EventType=args.event_type,
            OccurredAt=args.occurred_at or _utc(_now()),
            Severity=args.severity,
            Summary=args.summary,
        )
        if args.reference:
            fields["Reference"] = args.reference

    operation = getattr(service, args.operation)
    fault = None
    try:
        result = operation(_soapheaders=headers, **fields)
    except Fault as raised:
        fault = raised
    finally:
        if args.save_request and transport.sent is not None:
            Path(args.save_request).write_bytes(transport.sent)
        if args.save_answer and transport.received is not None:
            Path(args.save_answer).write_bytes(transport.received)

    # zeep verified the answer (faults included) before parsing it; now its binding.
    answer_headers = wsse.verified_headers or {}
    relates_to = answer_headers.get("RelatesTo")
    request_hash = answer_headers.get("RequestHash")
    if relates_to is None or request_hash is None or "MessageId" not in answer_headers:
        raise ClientError("the answer lacks MessageId, RelatesTo or RequestHash")
    expected_hash = base64.b64encode(hashlib.sha256(transport.sent).digest()).decode()
    if request_hash.get("algorithmId") != SHA256 or (request_hash.text or "") != expected_hash:
        raise ClientError("RequestHash is not the SHA-256 of the request sent")
    relates = relates_to.text or ""
    # A request the hub could not verify is refused without echoing its unverified MessageId.
    if relates != message_id and not (fault is not None and relates == ""):
        raise ClientError("RelatesTo is not the MessageId sent")
    binding = {
        "messageId": answer_headers["MessageId"].text,
        "relatesTo": relates,
        "requestHash": request_hash.text,
    }
    if fault is not None:
        detail = fault.detail
        code = detail.findtext(QName(MC_NS, "Code")) if detail is not None else None
        retryable = detail.findtext(QName(MC_NS, "Retryable")) if detail is not None else None
        return 2, {
            "operation": args.operation,
            "fault": {
                "faultcode": fault.code,
                "faultstring": fault.message,
                "code": code,
                "retryable": retryable == "true",
            },
            "mconnect": binding,
            "signer": args.signer,
        }
    body = serialize_object(result.body, dict)
    return 0, {
        "operation": args.operation,
        "answer": _plain(body),
        "mconnect": binding,
        "signer": args.signer,
    }


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        status, document = call(args)
    except (ClientError, SignatureVerificationFailed) as error:
        print(f"agency_client: {error}", file=sys.stderr)
        return 1
    except (zeep.exceptions.Error, requests.RequestException, OSError) as error:
        # The first line only: some of zeep's messages go on with the whole answer.
        first_line = str(error).splitlines()[0] if str(error) else ""
        print(f"agency_client: {type(error).__name__}: {first_line}", file=sys.stderr)
        return 1
    json.dump(document, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
