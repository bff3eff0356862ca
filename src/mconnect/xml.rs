//! Defensive XML reading: size, node and depth limits, and no DTDs or entity declarations.

/// Largest SOAP message the hub reads, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;
/// Deepest element nesting accepted.
pub const MAX_DEPTH: usize = 64;
const MAX_NODES: u32 = 200_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("message is larger than {MAX_MESSAGE_BYTES} bytes")]
    TooLarge,
    #[error("DTDs and entity declarations are refused")]
    DtdForbidden,
    #[error("elements are nested deeper than {MAX_DEPTH}")]
    TooDeep,
    #[error("malformed XML: {0}")]
    Malformed(String),
}

/// Parses `text` as XML, refusing DTDs, oversized input and excessive nesting.
pub fn parse(text: &str) -> Result<roxmltree::Document<'_>, XmlError> {
    if text.len() > MAX_MESSAGE_BYTES {
        return Err(XmlError::TooLarge);
    }
    let options = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
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
        assert_eq!(parse(&big).unwrap_err(), XmlError::TooLarge);
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
