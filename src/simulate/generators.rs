//! What each simulated registry answers about a person of the synthetic population, in its wire format.

use serde_json::{Map, Value, json};

use crate::mconnect::xml;
use crate::simulate::population::{Population, REFERENCE_DATE, SyntheticPerson, date_text};

pub const CIVIL_NAMESPACE: &str = "urn:md:gov:asp:civil:v1";
pub const POLICE_NAMESPACE: &str = "urn:md:gov:igp:protection:v1";
pub const DECISIONS_NAMESPACE: &str = "urn:md:gov:just:decisions:v1";
pub const PROBATION_NAMESPACE: &str = "urn:md:gov:just:probation:v1";

/// A registry's answer payload.
#[derive(Debug, Clone, PartialEq)]
pub enum WireAnswer {
    /// SOAP: the Body's payload element as XML text (with its namespace declared), e.g. <civ:GetPersonDetailsResponse xmlns:civ="urn:md:gov:asp:civil:v1">…
    Soap(String),
    /// REST: the `response` object of the answer payload (see adapters/README.md).
    Rest(Value),
}

/// Service ids this module can answer.
pub const SERVICES: &[&str] = &[
    "civil.person-details",
    "civil.family-relations",
    "civil.death-registration",
    "health.insurance-status",
    "health.disability",
    "education.enrolment",
    "police.protection-orders",
    "justice.court-decisions",
    "justice.probation",
];

/// The registry's answer for `service_id` about the person with `idnp`, or None when the
/// person is not in the population (the simulator then answers "person not found").
/// Panics never; unknown service ids return None too (callers check the catalog first).
pub fn generate(service_id: &str, population: &Population, idnp: &str) -> Option<WireAnswer> {
    let person = population.find(idnp)?;
    let answer = match service_id {
        "civil.person-details" => WireAnswer::Soap(person_details(person)),
        "civil.family-relations" => WireAnswer::Soap(family_relations(population, person)),
        "civil.death-registration" => WireAnswer::Soap(death_registration(person)),
        "health.insurance-status" => WireAnswer::Rest(insurance_status(person)),
        "health.disability" => WireAnswer::Rest(disability(person)),
        "education.enrolment" => WireAnswer::Rest(enrolment(person)),
        "police.protection-orders" => WireAnswer::Soap(protection_orders(population, person)),
        "justice.court-decisions" => WireAnswer::Soap(court_decisions(population, person)),
        "justice.probation" => WireAnswer::Soap(probation(person)),
        _ => return None,
    };
    Some(answer)
}

/// Writes prefixed elements; every text goes through `xml::escape`.
struct XmlWriter {
    prefix: &'static str,
    out: String,
}

impl XmlWriter {
    /// Starts the payload element, declaring its namespace.
    fn new(prefix: &'static str, namespace: &str, root: &str) -> Self {
        let out = format!(
            r#"<{prefix}:{root} xmlns:{prefix}="{}">"#,
            xml::escape(namespace)
        );
        Self { prefix, out }
    }

    fn open(&mut self, name: &str) -> &mut Self {
        self.out.push_str(&format!("<{}:{name}>", self.prefix));
        self
    }

    fn close(&mut self, name: &str) -> &mut Self {
        self.out.push_str(&format!("</{}:{name}>", self.prefix));
        self
    }

    fn empty(&mut self, name: &str) -> &mut Self {
        self.out.push_str(&format!("<{}:{name}/>", self.prefix));
        self
    }

    fn leaf(&mut self, name: &str, value: &str) -> &mut Self {
        let prefix = self.prefix;
        self.out.push_str(&format!(
            "<{prefix}:{name}>{}</{prefix}:{name}>",
            xml::escape(value)
        ));
        self
    }

    fn optional(&mut self, name: &str, value: Option<&str>) -> &mut Self {
        if let Some(value) = value {
            self.leaf(name, value);
        }
        self
    }

    fn finish(mut self, root: &str) -> String {
        self.close(root);
        self.out
    }
}

fn boolean(value: bool) -> &'static str {
    if value { "true" } else { "false" }
}

fn person_details(person: &SyntheticPerson) -> String {
    const ROOT: &str = "GetPersonDetailsResponse";
    let mut xml = XmlWriter::new("civ", CIVIL_NAMESPACE, ROOT);
    xml.open("Person")
        .leaf("IDNP", person.idnp.expose())
        .leaf("LastName", &person.last_name)
        .leaf("FirstName", &person.first_name)
        .optional("Patronymic", person.patronymic.as_deref())
        .leaf("BirthDate", &person.birth_date_text())
        .leaf("Sex", person.sex.code())
        .leaf("Citizenship", "MDA")
        .leaf("Status", if person.deceased { "deceased" } else { "alive" });
    let address = &person.address;
    xml.open("Address")
        .leaf("District", &address.district)
        .leaf("Locality", &address.locality)
        .leaf("Street", &address.street)
        .leaf("House", &address.house)
        .leaf("PostalCode", &address.postal_code)
        .close("Address")
        .close("Person");
    xml.finish(ROOT)
}

fn family_relations(population: &Population, person: &SyntheticPerson) -> String {
    const ROOT: &str = "GetFamilyRelationsResponse";
    let mut xml = XmlWriter::new("civ", CIVIL_NAMESPACE, ROOT);
    xml.open("Family").leaf("IDNP", person.idnp.expose());
    let parents: Vec<(&SyntheticPerson, &str)> =
        [(person.mother, "mother"), (person.father, "father")]
            .into_iter()
            .filter_map(|(index, relation)| Some((population.person(index?)?, relation)))
            .collect();
    if parents.is_empty() {
        xml.empty("Parents");
    } else {
        xml.open("Parents");
        for (parent, relation) in parents {
            xml.open("Parent")
                .leaf("IDNP", parent.idnp.expose())
                .leaf("FirstName", &parent.first_name)
                .leaf("LastName", &parent.last_name)
                .leaf("Relation", relation)
                .close("Parent");
        }
        xml.close("Parents");
    }
    let children: Vec<&SyntheticPerson> = person
        .children
        .iter()
        .filter_map(|&index| population.person(index))
        .collect();
    if children.is_empty() {
        xml.empty("Children");
    } else {
        xml.open("Children");
        for child in children {
            xml.open("Child")
                .leaf("IDNP", child.idnp.expose())
                .leaf("FirstName", &child.first_name)
                .leaf("LastName", &child.last_name)
                .leaf("BirthDate", &child.birth_date_text())
                .close("Child");
        }
        xml.close("Children");
    }
    if let Some(spouse) = person.spouse.and_then(|index| population.person(index)) {
        xml.open("Spouse")
            .leaf("IDNP", spouse.idnp.expose())
            .leaf("FirstName", &spouse.first_name)
            .leaf("LastName", &spouse.last_name)
            .close("Spouse");
    }
    xml.close("Family");
    xml.finish(ROOT)
}

fn death_registration(person: &SyntheticPerson) -> String {
    const ROOT: &str = "GetDeathRegistrationResponse";
    let mut xml = XmlWriter::new("civ", CIVIL_NAMESPACE, ROOT);
    xml.open("Death")
        .leaf("IDNP", person.idnp.expose())
        .leaf("Deceased", boolean(person.death.is_some()));
    if let Some(death) = &person.death {
        xml.leaf("DateOfDeath", &date_text(death.date))
            .leaf("ActNumber", &death.act_number)
            .leaf("Office", &death.office);
    }
    xml.close("Death");
    xml.finish(ROOT)
}

fn insurance_status(person: &SyntheticPerson) -> Value {
    let insurance = &person.insurance;
    let mut object = Map::new();
    object.insert("idnp".into(), json!(person.idnp.expose()));
    object.insert("insured".into(), json!(insurance.insured()));
    object.insert("category".into(), json!(insurance.category.code()));
    if let Some(valid_until) = insurance.valid_until {
        object.insert("validUntil".into(), json!(date_text(valid_until)));
    }
    json!({ "insurance": object })
}

fn disability(person: &SyntheticPerson) -> Value {
    let mut object = Map::new();
    object.insert("idnp".into(), json!(person.idnp.expose()));
    object.insert("hasDisability".into(), json!(person.disability.is_some()));
    if let Some(disability) = &person.disability {
        object.insert("degree".into(), json!(disability.degree.code()));
        object.insert("decisionNumber".into(), json!(disability.decision_number));
        object.insert("decidedOn".into(), json!(date_text(disability.decided_on)));
        if let Some(valid_until) = disability.valid_until {
            object.insert("validUntil".into(), json!(date_text(valid_until)));
        }
    }
    json!({ "determination": object })
}

fn enrolment(person: &SyntheticPerson) -> Value {
    let enrolment = &person.enrolment;
    let mut object = Map::new();
    object.insert("childIdnp".into(), json!(person.idnp.expose()));
    object.insert("status".into(), json!(enrolment.status.code()));
    if let Some(grade) = &enrolment.grade {
        object.insert("grade".into(), json!(grade));
    }
    if let Some(absences) = enrolment.absences_this_term {
        object.insert("absencesThisTerm".into(), json!(absences));
    }
    if let Some(institution) = &enrolment.institution {
        object.insert(
            "institution".into(),
            json!({
                "name": institution.name,
                "code": institution.code,
                "type": institution.kind.code(),
                "district": institution.district,
            }),
        );
    }
    json!({ "enrolment": object })
}

/// Orders in force on the reference date (the hub always asks `ActiveOnly`).
fn protection_orders(population: &Population, person: &SyntheticPerson) -> String {
    const ROOT: &str = "GetProtectionOrdersResponse";
    let mut xml = XmlWriter::new("pol", POLICE_NAMESPACE, ROOT);
    xml.leaf("IDNP", person.idnp.expose());
    let orders: Vec<_> = population
        .orders_of(person)
        .into_iter()
        .filter(|(order, _)| order.is_active_on(REFERENCE_DATE))
        .collect();
    if orders.is_empty() {
        xml.empty("Orders");
    } else {
        xml.open("Orders");
        for (order, role) in orders {
            xml.open("Order")
                .leaf("Number", &order.number)
                .leaf("Type", order.kind.code())
                .leaf("Role", role.code())
                .leaf("IssuedOn", &date_text(order.issued_on))
                .leaf("ValidUntil", &date_text(order.valid_until))
                .leaf("IssuedBy", &order.issued_by)
                .open("Measures");
            for measure in &order.measures {
                xml.leaf("Measure", measure);
            }
            xml.close("Measures").close("Order");
        }
        xml.close("Orders");
    }
    xml.finish(ROOT)
}

fn court_decisions(population: &Population, person: &SyntheticPerson) -> String {
    const ROOT: &str = "GetCourtDecisionsResponse";
    let mut xml = XmlWriter::new("jus", DECISIONS_NAMESPACE, ROOT);
    xml.leaf("IDNP", person.idnp.expose());
    let decisions = population.decisions_of(person);
    if decisions.is_empty() {
        xml.empty("Decisions");
    } else {
        xml.open("Decisions");
        for (decision, role) in decisions {
            xml.open("Decision")
                .leaf("CaseNumber", &decision.case_number)
                .leaf("Court", &decision.court)
                .leaf("DecidedOn", &date_text(decision.decided_on))
                .leaf("Type", decision.kind.code())
                .leaf("Role", role.code())
                .leaf("Final", boolean(decision.final_decision))
                .leaf("Summary", &decision.summary)
                .close("Decision");
        }
        xml.close("Decisions");
    }
    xml.finish(ROOT)
}

fn probation(person: &SyntheticPerson) -> String {
    const ROOT: &str = "GetProbationStatusResponse";
    let probation = &person.probation;
    let mut xml = XmlWriter::new("prb", PROBATION_NAMESPACE, ROOT);
    xml.open("Probation")
        .leaf("IDNP", person.idnp.expose())
        .leaf("Status", probation.status.code())
        .optional("Office", probation.office.as_deref())
        .optional("Since", probation.since.map(date_text).as_deref())
        .optional("Until", probation.until.map(date_text).as_deref())
        .close("Probation");
    xml.finish(ROOT)
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap, HashSet};
    use std::sync::OnceLock;

    use super::*;
    use crate::simulate::population::{EnrolmentStatus, ProbationStatus};

    fn population() -> &'static Population {
        static POPULATION: OnceLock<Population> = OnceLock::new();
        POPULATION.get_or_init(Population::default_population)
    }

    fn soap(service: &str, idnp: &str) -> String {
        match generate(service, population(), idnp) {
            Some(WireAnswer::Soap(text)) => text,
            other => panic!("{service}: expected SOAP, got {other:?}"),
        }
    }

    fn rest(service: &str, idnp: &str) -> Value {
        match generate(service, population(), idnp) {
            Some(WireAnswer::Rest(value)) => value,
            other => panic!("{service}: expected REST, got {other:?}"),
        }
    }

    /// The `[[services]]` table of `service` in `adapters/<registry>/adapter.toml`.
    fn adapter_service(service: &str) -> toml::Table {
        let registry = service.split('.').next().unwrap();
        let path = format!(
            "{}/adapters/{registry}/adapter.toml",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let table: toml::Table = text.parse().unwrap_or_else(|e| panic!("{path}: {e}"));
        table["services"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s.as_table())
            .find(|s| s["id"].as_str() == Some(service))
            .unwrap_or_else(|| panic!("{service} is not in {path}"))
            .clone()
    }

    /// A tree both wire formats reduce to: named children, or a text.
    #[derive(Debug, Clone)]
    enum Tree {
        Text(String),
        Node(Vec<(String, Tree)>),
    }

    impl Tree {
        fn from_xml(node: roxmltree::Node<'_, '_>) -> Tree {
            let children: Vec<(String, Tree)> = node
                .children()
                .filter(|c| c.is_element())
                .map(|c| (c.tag_name().name().to_string(), Tree::from_xml(c)))
                .collect();
            if children.is_empty() {
                Tree::Text(xml::text_of(node))
            } else {
                Tree::Node(children)
            }
        }

        fn from_json(value: &Value) -> Tree {
            match value {
                Value::Object(map) => Tree::Node(
                    map.iter()
                        .map(|(k, v)| (k.clone(), Tree::from_json(v)))
                        .collect(),
                ),
                Value::String(text) => Tree::Text(text.clone()),
                other => Tree::Text(other.to_string()),
            }
        }

        /// Every node reached by `path` (all matches of the last step).
        fn all(&self, path: &str) -> Vec<&Tree> {
            let steps: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
            let mut current = vec![self];
            for (position, step) in steps.iter().enumerate() {
                let last = position + 1 == steps.len();
                current = current
                    .into_iter()
                    .flat_map(|tree| {
                        let matches: Vec<&Tree> = match tree {
                            Tree::Node(children) => children
                                .iter()
                                .filter(|(name, _)| name == step)
                                .map(|(_, child)| child)
                                .collect(),
                            Tree::Text(_) => Vec::new(),
                        };
                        if last {
                            matches
                        } else {
                            matches.into_iter().take(1).collect()
                        }
                    })
                    .collect();
            }
            current
        }

        fn text(&self) -> Option<&str> {
            match self {
                Tree::Text(text) => Some(text),
                Tree::Node(_) => None,
            }
        }
    }

    /// The answer as a tree rooted above the payload element (SOAP) or at `response` (REST).
    fn answer_tree(service: &str, idnp: &str) -> Tree {
        match generate(service, population(), idnp).expect("an answer") {
            WireAnswer::Soap(text) => {
                let document = xml::parse(&text).expect("well-formed XML");
                let root = document.root_element();
                Tree::Node(vec![(
                    root.tag_name().name().to_string(),
                    Tree::from_xml(root),
                )])
            }
            WireAnswer::Rest(value) => Tree::from_json(&value),
        }
    }

    /// Checks a mapped value against its `|type` suffix.
    fn check_typed(service: &str, path: &str, text: &str) {
        if path.ends_with("|boolean") {
            assert!(
                text == "true" || text == "false",
                "{service} {path}: {text}"
            );
        } else if path.ends_with("|integer") {
            assert!(text.parse::<i64>().is_ok(), "{service} {path}: {text}");
        }
    }

    fn strip(path: &str) -> &str {
        path.split('|').next().unwrap().trim_end_matches("[]")
    }

    #[test]
    fn every_adapter_path_is_answered_for_someone() {
        let persons = population().persons();
        for service in SERVICES {
            let definition = adapter_service(service);
            let response = definition["response"].as_table().unwrap();
            let root = response["root"].as_str().unwrap();
            let fields: BTreeMap<&str, &str> = response
                .get("fields")
                .and_then(|f| f.as_table())
                .map(|t| {
                    t.iter()
                        .map(|(k, v)| (k.as_str(), v.as_str().unwrap()))
                        .collect()
                })
                .unwrap_or_default();
            let lists = response.get("lists").and_then(|l| l.as_table());
            let mut seen_fields = HashSet::new();
            let mut seen_list_fields = HashSet::new();
            for person in persons {
                let tree = answer_tree(service, person.idnp.expose());
                let mapped = tree.all(root);
                assert_eq!(mapped.len(), 1, "{service}: root `{root}`");
                let mapped = mapped[0];
                for (key, path) in &fields {
                    if let Some(node) = mapped.all(strip(path)).first() {
                        let text = node.text().unwrap_or_else(|| panic!("{service} {path}"));
                        assert!(!text.is_empty(), "{service} {path} is empty");
                        check_typed(service, path, text);
                        seen_fields.insert(*key);
                    }
                }
                assert_eq!(
                    mapped.all(strip(fields.get("idnp").copied().unwrap_or("idnp")))[0].text(),
                    Some(person.idnp.expose()),
                    "{service} names its subject"
                );
                for (list, rule) in lists.into_iter().flatten() {
                    let rule = rule.as_table().unwrap();
                    for item in mapped.all(rule["items"].as_str().unwrap()) {
                        for (key, path) in rule["fields"].as_table().unwrap() {
                            let path = path.as_str().unwrap();
                            let values = item.all(strip(path));
                            if path.contains("[]") {
                                assert!(!values.is_empty(), "{service} {list}.{key}");
                            }
                            for value in values {
                                let text =
                                    value.text().unwrap_or_else(|| panic!("{service} {path}"));
                                check_typed(service, path, text);
                                seen_list_fields.insert(format!("{list}.{key}"));
                            }
                        }
                    }
                }
            }
            for key in fields.keys() {
                assert!(seen_fields.contains(key), "{service}: nobody has `{key}`");
            }
            for (list, rule) in lists.into_iter().flatten() {
                for key in rule["fields"].as_table().unwrap().keys() {
                    let name = format!("{list}.{key}");
                    assert!(
                        seen_list_fields.contains(&name),
                        "{service}: nobody has `{name}`"
                    );
                }
            }
        }
    }

    #[test]
    fn answers_are_deterministic_and_soap_answers_parse() {
        let again = Population::default_population();
        for person in population().persons().iter().step_by(7) {
            let idnp = person.idnp.expose();
            for service in SERVICES {
                let answer = generate(service, population(), idnp).expect("an answer");
                assert_eq!(Some(&answer), generate(service, &again, idnp).as_ref());
                if let WireAnswer::Soap(text) = answer {
                    let document = xml::parse(&text).expect("well-formed XML");
                    let namespace = document.root_element().tag_name().namespace().unwrap();
                    let expected = match service.split('.').collect::<Vec<_>>()[..] {
                        ["civil", _] => CIVIL_NAMESPACE,
                        ["police", _] => POLICE_NAMESPACE,
                        ["justice", "probation"] => PROBATION_NAMESPACE,
                        _ => DECISIONS_NAMESPACE,
                    };
                    assert_eq!(namespace, expected);
                }
            }
        }
    }

    #[test]
    fn unknown_persons_and_services_get_none() {
        let someone = population().sample_subject().idnp.expose();
        assert!(generate("civil.person-details", population(), "2000000000007").is_none());
        assert!(generate("civil.no-such-service", population(), someone).is_none());
        assert!(generate("", population(), "").is_none());
    }

    #[test]
    fn the_person_details_answer_keeps_its_shape() {
        let person = population().sample_subject();
        let text = soap("civil.person-details", person.idnp.expose());
        assert!(text.starts_with(
            r#"<civ:GetPersonDetailsResponse xmlns:civ="urn:md:gov:asp:civil:v1"><civ:Person><civ:IDNP>"#
        ));
        assert!(text.contains(&format!(
            "<civ:BirthDate>{}</civ:BirthDate>",
            person.birth_date_text()
        )));
        assert!(text.contains("<civ:Status>alive</civ:Status>"));
        assert!(text.ends_with("</civ:Address></civ:Person></civ:GetPersonDetailsResponse>"));
    }

    #[test]
    fn every_child_and_its_parents_agree_in_the_civil_answers() {
        let persons = population().persons();
        let mut checked = 0;
        for child in persons.iter().filter(|p| p.is_minor()) {
            let tree = answer_tree("civil.family-relations", child.idnp.expose());
            let parents = tree.all("GetFamilyRelationsResponse/Family/Parents/Parent");
            assert!(!parents.is_empty());
            for parent in parents {
                let idnp = parent.all("IDNP")[0].text().unwrap();
                let relation = parent.all("Relation")[0].text().unwrap();
                assert!(relation == "mother" || relation == "father");
                assert!(population().find(idnp).is_some(), "the parent exists");
                let theirs = answer_tree("civil.family-relations", idnp);
                let listed = theirs
                    .all("GetFamilyRelationsResponse/Family/Children/Child")
                    .iter()
                    .any(|c| c.all("IDNP")[0].text() == Some(child.idnp.expose()));
                assert!(listed, "the parent lists the child");
                checked += 1;
            }
        }
        assert!(checked > 200);
    }

    #[test]
    fn enrolled_children_exist_in_the_civil_register() {
        let mut statuses = HashSet::new();
        for person in population().persons() {
            let answer = rest("education.enrolment", person.idnp.expose());
            let enrolment = &answer["enrolment"];
            let status = enrolment["status"].as_str().unwrap().to_string();
            if status == "not-enrolled" {
                assert!(enrolment.get("institution").is_none());
            } else {
                let idnp = enrolment["childIdnp"].as_str().unwrap();
                let civil = soap("civil.person-details", idnp);
                assert!(civil.contains("<civ:Status>alive</civ:Status>"));
                assert!(
                    ["school", "kindergarten"]
                        .contains(&enrolment["institution"]["type"].as_str().unwrap())
                );
            }
            statuses.insert(status);
        }
        for status in ["enrolled", "not-enrolled", "left", "graduated"] {
            assert!(statuses.contains(status), "nobody is {status}");
        }
    }

    #[test]
    fn protection_order_pairs_share_numbers_with_opposite_roles() {
        let mut by_number: HashMap<String, Vec<(String, String)>> = HashMap::new();
        for person in population().persons() {
            let tree = answer_tree("police.protection-orders", person.idnp.expose());
            for order in tree.all("GetProtectionOrdersResponse/Orders/Order") {
                let number = order.all("Number")[0].text().unwrap().to_string();
                let role = order.all("Role")[0].text().unwrap().to_string();
                by_number
                    .entry(number)
                    .or_default()
                    .push((person.idnp.expose().to_string(), role));
            }
        }
        assert!(!by_number.is_empty(), "someone has an active order");
        for (number, holders) in &by_number {
            assert_eq!(holders.len(), 2, "{number}");
            let mut roles: Vec<&str> = holders.iter().map(|(_, role)| role.as_str()).collect();
            roles.sort_unstable();
            assert_eq!(roles, ["aggressor", "victim"], "{number}");
            assert_ne!(holders[0].0, holders[1].0);
        }
    }

    #[test]
    fn some_persons_of_each_kind_exist() {
        let persons = population().persons();
        let any = |service: &str, test: &dyn Fn(&Value) -> bool| {
            persons
                .iter()
                .any(|p| test(&rest(service, p.idnp.expose())))
        };
        assert!(any("education.enrolment", &|v| v["enrolment"]["status"]
            == "left"));
        assert!(any(
            "health.disability",
            &|v| v["determination"]["hasDisability"] == true
        ));
        assert!(any(
            "health.insurance-status",
            &|v| v["insurance"]["insured"] == false
        ));
        let soap_any = |service: &str, needle: &str| {
            persons
                .iter()
                .any(|p| soap(service, p.idnp.expose()).contains(needle))
        };
        assert!(soap_any(
            "civil.death-registration",
            "<civ:Deceased>true</civ:Deceased>"
        ));
        assert!(soap_any(
            "police.protection-orders",
            "<pol:Role>aggressor</pol:Role>"
        ));
        assert!(soap_any(
            "justice.probation",
            "<prb:Status>active</prb:Status>"
        ));
        assert!(soap_any(
            "justice.probation",
            "<prb:Status>completed</prb:Status>"
        ));
        for kind in ["custody", "guardianship", "deprivation-of-parental-rights"] {
            assert!(soap_any(
                "justice.court-decisions",
                &format!("<jus:Type>{kind}</jus:Type>")
            ));
        }
        for role in ["parent", "child", "guardian"] {
            assert!(soap_any(
                "justice.court-decisions",
                &format!("<jus:Role>{role}</jus:Role>")
            ));
        }
        let nobody = persons
            .iter()
            .find(|p| p.probation.status == ProbationStatus::None)
            .unwrap();
        let text = soap("justice.probation", nobody.idnp.expose());
        assert!(text.contains("<prb:Status>none</prb:Status></prb:Probation>"));
        let not_enrolled = persons
            .iter()
            .find(|p| p.enrolment.status == EnrolmentStatus::NotEnrolled)
            .unwrap();
        let answer = rest("education.enrolment", not_enrolled.idnp.expose());
        assert_eq!(answer["enrolment"].as_object().unwrap().len(), 2);
    }

    #[test]
    fn empty_lists_are_empty_elements() {
        let persons = population().persons();
        let quiet = persons
            .iter()
            .find(|p| p.orders.is_empty() && p.decisions.is_empty())
            .unwrap();
        let idnp = quiet.idnp.expose();
        assert!(soap("police.protection-orders", idnp).contains("<pol:Orders/>"));
        assert!(soap("justice.court-decisions", idnp).contains("<jus:Decisions/>"));
    }

    #[test]
    fn text_is_escaped() {
        let mut xml = XmlWriter::new("civ", CIVIL_NAMESPACE, "R");
        xml.leaf("Name", "A & <B> \"c\"");
        let text = xml.finish("R");
        let document = xml::parse(&text).unwrap();
        assert_eq!(
            xml::text_of(document.root_element().first_element_child().unwrap()),
            "A & <B> \"c\""
        );
    }
}
