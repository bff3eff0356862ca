//! Defensive XML reading: size, node, depth, attribute and namespace limits, and no DTDs or
//! entity declarations.

/// Largest SOAP message the hub reads, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;
/// Deepest element nesting accepted.
pub const MAX_DEPTH: usize = 64;
/// Most attributes on one element, namespace declarations included. Parsers check duplicate
/// attributes pairwise, so this bounds the quadratic part of parsing an element.
pub const MAX_ATTRIBUTES_PER_ELEMENT: usize = 32;
/// Most namespace declarations in one document.
pub const MAX_NAMESPACE_DECLARATIONS: usize = 256;
/// Longest element or attribute name (prefix included), in bytes.
pub const MAX_NAME_BYTES: usize = 256;
/// Longest attribute value as written, in bytes.
pub const MAX_ATTRIBUTE_VALUE_BYTES: usize = 8 * 1024;
/// Most nodes in a document of [`MAX_MESSAGE_BYTES`]; see [`nodes_limit`].
const MAX_NODES: u32 = 200_000;

/// Most nodes (elements, text, comments) in a document of up to `max_bytes`: as many as a
/// message may hold, or one per 16 bytes of a larger document, whichever is more. Parsing is
/// linear in nodes, and the tree's memory with it.
pub fn nodes_limit(max_bytes: usize) -> u32 {
    u32::try_from(max_bytes / 16).map_or(u32::MAX, |nodes| nodes.max(MAX_NODES))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("message is larger than {0} bytes")]
    TooLarge(usize),
    #[error("DTDs and entity declarations are refused")]
    DtdForbidden,
    #[error("elements are nested deeper than {MAX_DEPTH}")]
    TooDeep,
    #[error(
        "an element has more than {MAX_ATTRIBUTES_PER_ELEMENT} attributes and namespace declarations"
    )]
    TooManyAttributes,
    #[error("the document has more than {MAX_NAMESPACE_DECLARATIONS} namespace declarations")]
    TooManyNamespaces,
    #[error("an element or attribute name is longer than {MAX_NAME_BYTES} bytes")]
    NameTooLong,
    #[error("an attribute value is longer than {MAX_ATTRIBUTE_VALUE_BYTES} bytes")]
    ValueTooLong,
    #[error("malformed XML: {0}")]
    Malformed(String),
}

/// Parses `text` as XML, refusing DTDs, oversized input, excessive nesting and elements with
/// too many attributes ([`check_markup`] runs first).
pub fn parse(text: &str) -> Result<roxmltree::Document<'_>, XmlError> {
    parse_within(text, MAX_MESSAGE_BYTES)
}

/// [`parse`] for a document allowed to be larger than a message, such as a registry's answer
/// under its adapter's `max_answer_bytes`: up to `max_bytes`, with [`nodes_limit`] nodes.
pub fn parse_within(text: &str, max_bytes: usize) -> Result<roxmltree::Document<'_>, XmlError> {
    check_markup(text, max_bytes)?;
    parse_checked(text, max_bytes)
}

/// A linear pre-scan that refuses, before any parser runs, what would make parsing slow or
/// unsafe: a DTD or other markup declaration (`<!DOCTYPE`, `<!ENTITY`...) outside comments
/// and CDATA sections, more than [`MAX_ATTRIBUTES_PER_ELEMENT`] attributes on one element,
/// more than [`MAX_NAMESPACE_DECLARATIONS`] namespace declarations in the document, nesting
/// deeper than [`MAX_DEPTH`], names longer than [`MAX_NAME_BYTES`] and attribute values
/// longer than [`MAX_ATTRIBUTE_VALUE_BYTES`].
///
/// One pass over the bytes: comments, CDATA sections and processing instructions are skipped
/// whole and quoted attribute values are skipped to their closing quote, so a `>` or `<` in
/// them is not taken for markup. It checks only what it needs to; well-formedness is the
/// parser's job.
pub fn check_markup(text: &str, max_bytes: usize) -> Result<(), XmlError> {
    if text.len() > max_bytes {
        return Err(XmlError::TooLarge(max_bytes));
    }
    let bytes = text.as_bytes();
    let mut depth = 0_usize;
    let mut namespaces = 0_usize;
    let mut at = 0;
    while let Some(offset) = bytes[at..].iter().position(|&b| b == b'<') {
        let start = at + offset;
        let rest = &bytes[start..];
        at = if rest.starts_with(b"<!--") {
            skip_past(text, start + 4, "-->", "unterminated comment")?
        } else if rest.starts_with(b"<![CDATA[") {
            skip_past(text, start + 9, "]]>", "unterminated CDATA section")?
        } else if rest.starts_with(b"<?") {
            skip_past(text, start + 2, "?>", "unterminated processing instruction")?
        } else if rest.starts_with(b"<!") {
            // DOCTYPE, ENTITY, ELEMENT, ATTLIST, NOTATION or nothing XML knows.
            return Err(XmlError::DtdForbidden);
        } else if rest.starts_with(b"</") {
            depth = depth.saturating_sub(1);
            skip_past(text, start + 2, ">", "unterminated end tag")?
        } else {
            if depth >= MAX_DEPTH {
                return Err(XmlError::TooDeep);
            }
            let (end, empty) = scan_start_tag(bytes, start + 1, &mut namespaces)?;
            if !empty {
                depth += 1;
            }
            end
        };
    }
    Ok(())
}

/// The position just after the first `needle` at or after `from`.
fn skip_past(
    text: &str,
    from: usize,
    needle: &str,
    problem: &'static str,
) -> Result<usize, XmlError> {
    text.get(from..)
        .and_then(|rest| rest.find(needle))
        .map(|found| from + found + needle.len())
        .ok_or_else(|| XmlError::Malformed(problem.into()))
}

fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\r' | b'\n')
}

/// Reads a start tag from just after its `<`: the position after its `>` and whether it was
/// an empty-element tag (`/>`). Counts its attributes and namespace declarations.
fn scan_start_tag(
    bytes: &[u8],
    mut at: usize,
    namespaces: &mut usize,
) -> Result<(usize, bool), XmlError> {
    let unterminated = || XmlError::Malformed("unterminated start tag".into());
    let name_end = |from: usize| {
        bytes[from..]
            .iter()
            .position(|&b| is_space(b) || matches!(b, b'=' | b'/' | b'>'))
            .map_or(bytes.len(), |length| from + length)
    };
    let skip_spaces = |from: usize| {
        bytes[from..]
            .iter()
            .position(|&b| !is_space(b))
            .map_or(bytes.len(), |length| from + length)
    };
    let end = name_end(at);
    if end - at > MAX_NAME_BYTES {
        return Err(XmlError::NameTooLong);
    }
    at = end;
    let mut attributes = 0_usize;
    loop {
        at = skip_spaces(at);
        match bytes.get(at) {
            None => return Err(unterminated()),
            Some(b'>') => return Ok((at + 1, false)),
            Some(b'/') if bytes.get(at + 1) == Some(&b'>') => return Ok((at + 2, true)),
            Some(_) => {}
        }
        let end = name_end(at);
        let name = &bytes[at..end];
        if name.is_empty() {
            return Err(XmlError::Malformed(
                "unexpected character in a start tag".into(),
            ));
        }
        if name.len() > MAX_NAME_BYTES {
            return Err(XmlError::NameTooLong);
        }
        attributes += 1;
        if attributes > MAX_ATTRIBUTES_PER_ELEMENT {
            return Err(XmlError::TooManyAttributes);
        }
        if name == b"xmlns" || name.starts_with(b"xmlns:") {
            *namespaces += 1;
            if *namespaces > MAX_NAMESPACE_DECLARATIONS {
                return Err(XmlError::TooManyNamespaces);
            }
        }
        at = skip_spaces(end);
        if bytes.get(at) != Some(&b'=') {
            return Err(XmlError::Malformed("an attribute has no value".into()));
        }
        at = skip_spaces(at + 1);
        let quote = match bytes.get(at) {
            Some(&quote @ (b'"' | b'\'')) => quote,
            Some(_) => {
                return Err(XmlError::Malformed(
                    "an attribute value is not quoted".into(),
                ));
            }
            None => return Err(unterminated()),
        };
        let length = bytes[at + 1..]
            .iter()
            .position(|&b| b == quote)
            .ok_or_else(unterminated)?;
        if length > MAX_ATTRIBUTE_VALUE_BYTES {
            return Err(XmlError::ValueTooLong);
        }
        at += length + 2;
    }
}

fn parse_checked(text: &str, max_bytes: usize) -> Result<roxmltree::Document<'_>, XmlError> {
    if text.len() > max_bytes {
        return Err(XmlError::TooLarge(max_bytes));
    }
    let options = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: nodes_limit(max_bytes),
        ..Default::default()
    };
    let document =
        roxmltree::Document::parse_with_options(text, options).map_err(|error| match error {
            roxmltree::Error::DtdDetected => XmlError::DtdForbidden,
            other => XmlError::Malformed(other.to_string()),
        })?;
    // An element deeper than the limit has more than MAX_DEPTH element ancestors (the
    // document root node is one more ancestor); checking stops after MAX_DEPTH + 1 steps.
    let too_deep = document
        .descendants()
        .filter(|node| node.is_element())
        .any(|node| node.ancestors().nth(MAX_DEPTH + 1).is_some());
    if too_deep {
        return Err(XmlError::TooDeep);
    }
    Ok(document)
}

/// Escapes text for use in element content or attribute values.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// The first child element with the given local name.
pub fn child<'a, 'input>(
    node: roxmltree::Node<'a, 'input>,
    local_name: &str,
) -> Option<roxmltree::Node<'a, 'input>> {
    node.children()
        .find(|c| c.is_element() && c.tag_name().name() == local_name)
}

/// Follows a `/`-separated path of local names from `node`.
pub fn descend<'a, 'input>(
    node: roxmltree::Node<'a, 'input>,
    path: &str,
) -> Option<roxmltree::Node<'a, 'input>> {
    path.split('/')
        .filter(|step| !step.is_empty())
        .try_fold(node, |current, step| child(current, step))
}

/// The trimmed text content of an element (concatenated text children).
pub fn text_of(node: roxmltree::Node<'_, '_>) -> String {
    node.children()
        .filter(|c| c.is_text())
        .filter_map(|c| c.text())
        .collect::<String>()
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_dtd_and_entity_expansion() {
        let billion_laughs = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><a>&lol2;</a>"#;
        assert_eq!(parse(billion_laughs).unwrap_err(), XmlError::DtdForbidden);
        let external = r#"<!DOCTYPE a SYSTEM "file:///etc/passwd"><a/>"#;
        assert_eq!(parse(external).unwrap_err(), XmlError::DtdForbidden);
    }

    #[test]
    fn refuses_deep_nesting_and_oversized_input() {
        let deep = format!(
            "{}{}",
            "<a>".repeat(MAX_DEPTH + 1),
            "</a>".repeat(MAX_DEPTH + 1)
        );
        assert_eq!(parse(&deep).unwrap_err(), XmlError::TooDeep);
        let shallow = format!("{}{}", "<a>".repeat(MAX_DEPTH), "</a>".repeat(MAX_DEPTH));
        assert!(parse(&shallow).is_ok());
        let big = format!("<a>{}</a>", "x".repeat(MAX_MESSAGE_BYTES));
        assert_eq!(
            parse(&big).unwrap_err(),
            XmlError::TooLarge(MAX_MESSAGE_BYTES)
        );
        assert!(parse_within(&big, 2 * MAX_MESSAGE_BYTES).is_ok());
    }

    /// `<a` and `count` attributes made by `attribute`, closed with `/>`.
    fn element_with(count: usize, attribute: impl Fn(usize) -> String) -> String {
        let mut text = String::from("<a");
        for index in 0..count {
            text.push(' ');
            text.push_str(&attribute(index));
        }
        text.push_str("/>");
        text
    }

    #[test]
    fn an_element_with_sixty_thousand_attributes_is_refused_before_parsing() {
        let attributes = element_with(60_000, |i| format!("attribute{i:05}=\"value{i:05}-x\""));
        assert!(attributes.len() > 1_800_000);
        assert_eq!(
            check_markup(&attributes, MAX_MESSAGE_BYTES),
            Err(XmlError::TooManyAttributes)
        );
        assert_eq!(parse(&attributes).unwrap_err(), XmlError::TooManyAttributes);

        let namespaces = element_with(60_000, |i| format!("xmlns:n{i:05}=\"urn:example:{i:05}\""));
        assert!(namespaces.len() > 1_800_000);
        assert_eq!(
            check_markup(&namespaces, MAX_MESSAGE_BYTES),
            Err(XmlError::TooManyAttributes)
        );
        assert_eq!(parse(&namespaces).unwrap_err(), XmlError::TooManyAttributes);
    }

    #[test]
    fn attributes_and_namespace_declarations_are_counted_per_element_and_per_document() {
        let at_limit = element_with(MAX_ATTRIBUTES_PER_ELEMENT, |i| format!("a{i}='1'"));
        assert!(parse(&at_limit).is_ok());
        let mixed = element_with(MAX_ATTRIBUTES_PER_ELEMENT + 1, |i| match i % 2 {
            0 => format!("a{i}='1'"),
            _ => format!("xmlns:n{i}='urn:n{i}'"),
        });
        assert_eq!(parse(&mixed).unwrap_err(), XmlError::TooManyAttributes);

        let declaring = |count: usize| {
            format!(
                "<r>{}</r>",
                "<e xmlns:p=\"urn:p\" xmlns=\"urn:d\"/>".repeat(count)
            )
        };
        assert!(parse(&declaring(MAX_NAMESPACE_DECLARATIONS / 2)).is_ok());
        assert_eq!(
            parse(&declaring(MAX_NAMESPACE_DECLARATIONS / 2 + 1)).unwrap_err(),
            XmlError::TooManyNamespaces
        );
        let many = declaring(60_000);
        assert!(many.len() > 1_800_000);
        assert_eq!(
            check_markup(&many, MAX_MESSAGE_BYTES),
            Err(XmlError::TooManyNamespaces)
        );
    }

    #[test]
    fn long_names_and_values_are_refused() {
        let name = "n".repeat(MAX_NAME_BYTES);
        assert!(parse(&format!("<{name} {name}='1'/>")).is_ok());
        assert_eq!(
            parse(&format!("<{name}x/>")).unwrap_err(),
            XmlError::NameTooLong
        );
        assert_eq!(
            parse(&format!("<a {name}x='1'/>")).unwrap_err(),
            XmlError::NameTooLong
        );
        let value = "v".repeat(MAX_ATTRIBUTE_VALUE_BYTES);
        assert!(parse(&format!("<a b=\"{value}\"/>")).is_ok());
        assert_eq!(
            parse(&format!("<a b=\"{value}v\"/>")).unwrap_err(),
            XmlError::ValueTooLong
        );
    }

    #[test]
    fn markup_declarations_are_refused_anywhere_outside_comments_and_cdata() {
        for text in [
            "<!DOCTYPE a><a/>",
            "<a><!DOCTYPE a></a>",
            "<a/><!ENTITY e 'x'>",
            "<a><b/><!ELEMENT b ANY></a>",
            "<?xml version=\"1.0\"?>\n<!-- x -->\n<!DOCTYPE a [<!ENTITY e 'x'>]><a>&e;</a>",
        ] {
            assert_eq!(
                check_markup(text, MAX_MESSAGE_BYTES),
                Err(XmlError::DtdForbidden),
                "{text}"
            );
            assert_eq!(parse(text).unwrap_err(), XmlError::DtdForbidden, "{text}");
        }
        let inert = "<a><!-- <!DOCTYPE a> --><![CDATA[<!ENTITY e 'x'>]]></a>";
        assert!(parse(inert).is_ok());
    }

    #[test]
    fn quoted_values_comments_cdata_and_instructions_do_not_confuse_the_scan() {
        // Read as markup, each of these would be an element with too many attributes.
        let crowd: String = (0..MAX_ATTRIBUTES_PER_ELEMENT + 1)
            .map(|i| format!(" a{i}=&quot;1&quot;"))
            .collect();
        let raw_crowd = crowd.replace("&quot;", "\"");
        let deep = "<a>".repeat(MAX_DEPTH + 1);
        for text in [
            format!("<a v='\"{raw_crowd} \"'/>"),
            format!("<a v=\"'{crowd} '\"/>"),
            format!("<a><!-- > <b{raw_crowd}> {deep} --></a>"),
            format!("<a><![CDATA[ > <b{raw_crowd}> {deep} <!DOCTYPE a> ]]></a>"),
            format!("<?pi > <b{raw_crowd}> ?><a/>"),
            format!("<a>it's \"1 > 0\" {}</a>", "&lt;a>".repeat(MAX_DEPTH + 1)),
        ] {
            assert_eq!(check_markup(&text, MAX_MESSAGE_BYTES), Ok(()), "{text}");
            assert!(parse(&text).is_ok(), "{text}");
        }
        // After a skipped part the scan is back on the markup.
        for text in [
            format!("<a v='>'{raw_crowd}/>"),
            format!("<a v=\"/>\"{raw_crowd}/>"),
            format!("<a v=\"'\"{raw_crowd}/>"),
            format!("<a><!-- > --><b{raw_crowd}/></a>"),
            format!("<a><![CDATA[ ]] > ]]><b{raw_crowd}/></a>"),
            format!("<r><a>it's 1 > 0</a><b{raw_crowd}/></r>"),
        ] {
            assert_eq!(
                check_markup(&text, MAX_MESSAGE_BYTES),
                Err(XmlError::TooManyAttributes),
                "{text}"
            );
        }
        let nested_after_comment = format!("<!-- -> -->{deep}");
        assert_eq!(
            check_markup(&nested_after_comment, MAX_MESSAGE_BYTES),
            Err(XmlError::TooDeep)
        );
    }

    #[test]
    fn unterminated_markup_is_malformed() {
        for text in [
            "<a><!-- x</a>",
            "<a><![CDATA[ x</a>",
            "<?pi <a/>",
            "<a b='1/>",
            "<a b/>",
            "<a b=1/>",
            "<a",
        ] {
            assert!(
                matches!(
                    check_markup(text, MAX_MESSAGE_BYTES),
                    Err(XmlError::Malformed(_))
                ),
                "{text}"
            );
        }
    }

    #[test]
    fn signed_envelopes_and_the_shipped_xml_pass() {
        use crate::crypto::pki::{CertificateRole, generate_ca, issue_leaf};
        use crate::crypto::wssec::{SigningIdentity, sign_envelope};
        let ca = generate_ca("Test CA").unwrap();
        let leaf = issue_leaf(&ca, "hub", CertificateRole::ServerAndClient).unwrap();
        let identity =
            SigningIdentity::from_pem(&leaf.key_pem().unwrap(), &leaf.certificate_pem().unwrap())
                .unwrap();
        let context = crate::mconnect::envelope::CallContext {
            calling_user: "2000000000004".into(),
            calling_entity: "1008600038413".into(),
            call_basis: "Legea nr. 123/2010, art. 12".into(),
            call_reason: "Evaluare <inițială> & \"plan\"".into(),
            message_id: "m-1".into(),
            delivery: None,
        };
        let envelope = crate::mconnect::envelope::request(
            &context,
            r#"<c:Q xmlns:c="urn:c" c:v="a > b"><c:IDNP>2000000000004</c:IDNP></c:Q>"#,
        );
        let signed = sign_envelope(
            &envelope,
            &identity,
            std::time::SystemTime::now(),
            std::time::Duration::from_secs(300),
        )
        .unwrap();
        assert!(parse(&signed).is_ok());

        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut folders = vec![
            root.join("adapters"),
            root.join("contracts"),
            root.join("tests/fixtures"),
        ];
        let mut checked = 0;
        while let Some(folder) = folders.pop() {
            for entry in std::fs::read_dir(folder).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    folders.push(path);
                } else if path
                    .extension()
                    .is_some_and(|e| e == "xml" || e == "wsdl" || e == "xsd")
                {
                    let text = std::fs::read_to_string(&path).unwrap();
                    assert_eq!(
                        check_markup(&text, MAX_MESSAGE_BYTES),
                        Ok(()),
                        "{}",
                        path.display()
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 10, "only {checked} XML fixtures found");
    }

    mod accepted_before {
        //! Documents the parser took before the pre-scan, within its caps, are still taken.
        use super::super::*;
        use proptest::prelude::*;
        use proptest::sample::select;

        fn pieces(choices: &'static [&'static str], most: usize) -> BoxedStrategy<String> {
            proptest::collection::vec(select(choices), 0..most)
                .prop_map(|parts| parts.concat())
                .boxed()
        }

        fn space() -> BoxedStrategy<String> {
            pieces(&[" ", "\n", "\t", "\r\n"], 3).boxed()
        }

        fn attributes() -> BoxedStrategy<String> {
            let value = pieces(
                &["v", " ", ">", "/>", "'", "\"", "&amp;", "ș", "=", "]]>"],
                6,
            );
            let name = select(&["a", "b", "p:c", "xml:lang", "d-e", "f.g", "h_i"][..]);
            let written = (value, any::<bool>(), select(&["=", " = ", "\n=\t"][..]));
            proptest::collection::btree_map(name, written, 0..6)
                .prop_map(|attributes| {
                    attributes
                        .into_iter()
                        .map(|(name, (value, single, equals))| {
                            let (quote, escaped) = if single {
                                ('\'', value.replace('\'', "&apos;"))
                            } else {
                                ('"', value.replace('"', "&quot;"))
                            };
                            format!(" {name}{equals}{quote}{escaped}{quote}")
                        })
                        .collect()
                })
                .boxed()
        }

        fn leaf() -> BoxedStrategy<String> {
            prop_oneof![
                pieces(
                    &[
                        "x", " ", ">", "'", "\"", "&amp;", "&lt;", "ș", "-", "?", "/"
                    ],
                    6
                ),
                pieces(
                    &[
                        "x",
                        " ",
                        "<",
                        ">",
                        "'",
                        "\"",
                        "<!DOCTYPE a>",
                        "<b c='1'>",
                        "-x"
                    ],
                    6
                )
                .prop_map(|text| format!("<!--{text}-->")),
                pieces(&["x", "<", ">", "]", "'", "<!ENTITY e 'v'>", "<a>"], 6)
                    .prop_map(|text| format!("<![CDATA[{text}]]>")),
                pieces(&["x", " ", "<", ">", "'", "\"", "?"], 6)
                    .prop_map(|text| format!("<?pi {text}?>")),
                (select(&["a", "p:b", "c-d"][..]), attributes(), space())
                    .prop_map(|(name, attributes, space)| format!("<{name}{attributes}{space}/>")),
            ]
            .boxed()
        }

        fn content() -> BoxedStrategy<String> {
            leaf()
                .prop_recursive(5, 48, 4, |inner| {
                    (
                        select(&["a", "p:b", "c-d", "e.f"][..]),
                        attributes(),
                        space(),
                        proptest::collection::vec(inner, 0..4),
                    )
                        .prop_map(|(name, attributes, space, children)| {
                            format!(
                                "<{name}{attributes}{space}>{}</{name}{space}>",
                                children.concat()
                            )
                        })
                })
                .boxed()
        }

        fn document() -> BoxedStrategy<String> {
            (
                select(&["", "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", "\u{feff}"][..]),
                select(&["", "<!-- > -->\n", "<?pi x?>"][..]),
                attributes(),
                proptest::collection::vec(content(), 0..4),
                space(),
            )
                .prop_map(|(declaration, misc, attributes, children, space)| {
                    format!(
                        "{declaration}{misc}<r xmlns=\"urn:d\" xmlns:p=\"urn:p\"{attributes}>{}</r>{space}",
                        children.concat()
                    )
                })
                .boxed()
        }

        proptest! {
            #[test]
            fn documents_the_parser_accepts_pass_the_scan(document in document()) {
                // Most generated documents are well-formed: too many rejections fail the test.
                prop_assume!(parse_checked(&document, MAX_MESSAGE_BYTES).is_ok());
                prop_assert_eq!(check_markup(&document, MAX_MESSAGE_BYTES), Ok(()));
            }

            #[test]
            fn altered_documents_the_parser_accepts_pass_the_scan(
                document in document(),
                at in any::<proptest::sample::Index>(),
                inserted in select(&["<", ">", "\"", "'", "=", "/", "!", "?", "-", "[", "]", " ", "&"][..]),
                remove in any::<bool>(),
            ) {
                let boundaries: Vec<usize> =
                    (0..=document.len()).filter(|&i| document.is_char_boundary(i)).collect();
                let at = boundaries[at.index(boundaries.len())];
                let mut altered = document.clone();
                if remove && at < document.len() {
                    altered.remove(at);
                } else {
                    altered.insert_str(at, inserted);
                }
                if parse_checked(&altered, MAX_MESSAGE_BYTES).is_ok() {
                    prop_assert_eq!(check_markup(&altered, MAX_MESSAGE_BYTES), Ok(()), "{}", altered);
                }
            }
        }
    }

    #[test]
    fn escape_neutralises_markup() {
        assert_eq!(
            escape(r#"<b a="1">&'"#),
            "&lt;b a=&quot;1&quot;&gt;&amp;&apos;"
        );
    }

    #[test]
    fn descend_follows_local_names() {
        let document = parse(r#"<x:a xmlns:x="urn:x"><x:b><c> hi </c></x:b></x:a>"#).unwrap();
        let c = descend(document.root_element(), "b/c").unwrap();
        assert_eq!(text_of(c), "hi");
        assert!(descend(document.root_element(), "b/missing").is_none());
    }
}
