//! What each simulated registry answers about a person of the synthetic population, in its wire format.

use serde_json::{Map, Value, json};

use crate::moldova::Sex;
use crate::population::{
    Date, DecisionRole, DecisionType, DisabilityDegree, InsuranceCategory, OrderRole, OrderType,
    Population, ProtectionOrder, REFERENCE_DATE, SyntheticPerson, add_days, date_text,
};
use crate::random::splitmix64;
use esocial_wire::mconnect::xml;

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
    "cases.beneficiary-status",
    "cases.active-cases",
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
        "cases.beneficiary-status" => WireAnswer::Rest(beneficiary_status(population, person)),
        "cases.active-cases" => WireAnswer::Rest(active_cases(population, person)),
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

/// A territorial social-assistance directorate: code, name and the district's phone prefix
/// (the national number after +373 is the prefix and the office's own digits, 8 in all).
struct Agency {
    code: &'static str,
    name: &'static str,
    phone_prefix: &'static str,
}

/// The directorate serving a district, by the district's name in the civil register.
fn agency_of(district: &str) -> Agency {
    let (code, name, phone_prefix) = match district {
        "mun. Chișinău" => (
            "DGAS-Chisinau",
            "Direcția Generală Asistență Socială și Sănătate a mun. Chișinău",
            "22",
        ),
        "mun. Bălți" => (
            "DASPF-Balti",
            "Direcția Asistență Socială și Protecția Familiei mun. Bălți",
            "231",
        ),
        "Orhei" => (
            "DASPF-Orhei",
            "Direcția Asistență Socială și Protecția Familiei Orhei",
            "235",
        ),
        "Cahul" => (
            "DASPF-Cahul",
            "Direcția Asistență Socială și Protecția Familiei Cahul",
            "299",
        ),
        "Ungheni" => (
            "DASPF-Ungheni",
            "Direcția Asistență Socială și Protecția Familiei Ungheni",
            "236",
        ),
        "Soroca" => (
            "DASPF-Soroca",
            "Direcția Asistență Socială și Protecția Familiei Soroca",
            "230",
        ),
        "Hîncești" => (
            "DASPF-Hincesti",
            "Direcția Asistență Socială și Protecția Familiei Hîncești",
            "269",
        ),
        "UTA Găgăuzia" => (
            "DPASPF-Gagauzia",
            "Direcția Principală Asistență Socială și Protecția Familiei a UTA Găgăuzia",
            "298",
        ),
        "Edineț" => (
            "DASPF-Edinet",
            "Direcția Asistență Socială și Protecția Familiei Edineț",
            "246",
        ),
        "Strășeni" => (
            "DASPF-Straseni",
            "Direcția Asistență Socială și Protecția Familiei Strășeni",
            "237",
        ),
        "Căușeni" => (
            "DASPF-Causeni",
            "Direcția Asistență Socială și Protecția Familiei Căușeni",
            "243",
        ),
        "Florești" => (
            "DASPF-Floresti",
            "Direcția Asistență Socială și Protecția Familiei Florești",
            "250",
        ),
        "Ialoveni" => (
            "DASPF-Ialoveni",
            "Direcția Asistență Socială și Protecția Familiei Ialoveni",
            "268",
        ),
        "Anenii Noi" => (
            "DASPF-Anenii-Noi",
            "Direcția Asistență Socială și Protecția Familiei Anenii Noi",
            "265",
        ),
        _ => ("ANAS-Central", "Agenția Națională Asistență Socială", "22"),
    };
    Agency {
        code,
        name,
        phone_prefix,
    }
}

/// Invented social workers (name, local part of the work address); any likeness to a real
/// person is chance.
const CASE_MANAGERS: &[(&str, &str)] = &[
    ("Lilia Moraru", "lilia.moraru"),
    ("Corina Bivol", "corina.bivol"),
    ("Ecaterina Rotari", "ecaterina.rotari"),
    ("Angela Grosu", "angela.grosu"),
    ("Natalia Ursu", "natalia.ursu"),
    ("Doina Cazacu", "doina.cazacu"),
    ("Mariana Popa", "mariana.popa"),
    ("Elena Mocanu", "elena.mocanu"),
    ("Veronica Botnaru", "veronica.botnaru"),
    ("Victor Stratan", "victor.stratan"),
    ("Svetlana Volkova", "svetlana.volkova"),
];

const COLD_SEASON_START: Date = (2026, 11, 1);

/// A deterministic number for `person` and `salt`, so each registry draws the same.
fn draw(person: &SyntheticPerson, salt: u64) -> u64 {
    let mut state = person.idnp.expose().parse::<u64>().unwrap_or_default() ^ salt;
    splitmix64(&mut state)
}

/// The first day of the month `months` months after `date`'s month (before, if negative).
fn first_of_month(date: Date, months: i32) -> Date {
    let index = date.0 * 12 + i32::from(date.1) - 1 + months;
    (index.div_euclid(12), (index.rem_euclid(12) + 1) as u8, 1)
}

/// A benefit or social service granted by the social-assistance system.
struct Benefit {
    code: &'static str,
    name: &'static str,
    since: Date,
    /// None for a service in kind.
    monthly_cents: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Risk {
    Low,
    Medium,
    High,
}

impl Risk {
    fn code(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CaseType {
    ChildProtection,
    DomesticViolence,
    Disability,
    Poverty,
}

impl CaseType {
    fn code(self) -> &'static str {
        match self {
            Self::ChildProtection => "child_protection",
            Self::DomesticViolence => "domestic_violence",
            Self::Disability => "disability",
            Self::Poverty => "poverty",
        }
    }
}

/// An open case file about a person.
struct CaseFile {
    kind: CaseType,
    opened: Date,
    risk: Risk,
    notes: Option<String>,
    /// Whether a case manager is assigned yet.
    managed: bool,
}

fn employed(person: &SyntheticPerson) -> bool {
    person.insurance.category == InsuranceCategory::Employed
}

fn living_minors<'a>(
    population: &'a Population,
    person: &SyntheticPerson,
) -> Vec<&'a SyntheticPerson> {
    person
        .children
        .iter()
        .filter_map(|&child| population.person(child))
        .filter(|child| child.is_minor() && !child.deceased)
        .collect()
}

/// Social aid goes to the mother of a household with minor children where no adult is
/// employed; the answer is the number of those children.
fn social_aid_children(population: &Population, person: &SyntheticPerson) -> Option<usize> {
    if person.deceased || person.is_minor() || person.sex != Sex::Female || employed(person) {
        return None;
    }
    let earning_spouse = person
        .spouse
        .and_then(|spouse| population.person(spouse))
        .is_some_and(|spouse| !spouse.deceased && employed(spouse));
    let children = living_minors(population, person).len();
    (children > 0 && !earning_spouse).then_some(children)
}

fn pension_age(person: &SyntheticPerson) -> i32 {
    match person.sex {
        Sex::Male => 63,
        Sex::Female => 62,
    }
}

/// What the social-assistance system pays or provides the person, oldest first.
fn benefits_of(population: &Population, person: &SyntheticPerson) -> Vec<Benefit> {
    let mut benefits = Vec::new();
    if let Some(disability) = &person.disability {
        let since = first_of_month(disability.decided_on, 1);
        if person.age() < pension_age(person) {
            let cents = match disability.degree {
                DisabilityDegree::Severe => 141_230,
                DisabilityDegree::Accentuated => 117_605,
                DisabilityDegree::Medium => 62_740,
            };
            benefits.push(Benefit {
                code: "alocatie-dizabilitate",
                name: "Alocație socială de stat pentru persoanele cu dizabilități",
                since,
                monthly_cents: Some(cents),
            });
        }
        if disability.degree == DisabilityDegree::Severe {
            benefits.push(Benefit {
                code: "alocatie-ingrijire",
                name: "Alocație pentru îngrijire, însoțire și supraveghere",
                since,
                monthly_cents: Some(103_250),
            });
        }
        if disability.degree != DisabilityDegree::Medium {
            benefits.push(Benefit {
                code: "compensatie-transport",
                name: "Compensație pentru cheltuielile de transport",
                since,
                monthly_cents: Some(7_500),
            });
        }
    }
    if let Some(children) = social_aid_children(population, person) {
        let spouse = u64::from(person.spouse.is_some());
        let income = draw(person, 1) % 9 * 8_565;
        let cents = (160_000 + 115_000 * children as u64 + 70_000 * spouse).saturating_sub(income);
        let months = 1 + (draw(person, 2) % 30) as i32;
        benefits.push(Benefit {
            code: "ajutor-social",
            name: "Ajutor social",
            since: first_of_month(REFERENCE_DATE, -months),
            monthly_cents: Some(cents),
        });
        benefits.push(Benefit {
            code: "ajutor-perioada-rece",
            name: "Ajutor pentru perioada rece a anului",
            since: COLD_SEASON_START,
            monthly_cents: Some(70_000),
        });
        if children >= 3 {
            benefits.push(Benefit {
                code: "sprijin-familial",
                name: "Serviciul de sprijin pentru familiile cu copii",
                since: add_days(first_of_month(REFERENCE_DATE, -months), 14),
                monthly_cents: None,
            });
        }
    }
    benefits.sort_by_key(|benefit| benefit.since);
    benefits
}

/// The current domestic-violence episode in which `person` has an order in force on the
/// reference date: the day its first order was issued, and whether an emergency barring order
/// (the acute phase) is among those in force.
fn violence_episode(
    population: &Population,
    person: &SyntheticPerson,
    role: OrderRole,
) -> Option<(Date, bool)> {
    let orders: Vec<&ProtectionOrder> = population
        .orders_of(person)
        .into_iter()
        .filter(|(_, r)| *r == role)
        .map(|(order, _)| order)
        .collect();
    let active: Vec<&&ProtectionOrder> = orders
        .iter()
        .filter(|order| order.is_active_on(REFERENCE_DATE))
        .collect();
    let first_active = active.iter().map(|order| order.issued_on).min()?;
    let acute = active
        .iter()
        .any(|order| order.kind == OrderType::EmergencyBarring);
    // An emergency barring order a few days before the protection order opened the episode.
    let opened = orders
        .iter()
        .map(|order| order.issued_on)
        .filter(|&issued| add_days(first_active, -10) <= issued && issued <= first_active)
        .min()
        .unwrap_or(first_active);
    Some((opened, acute))
}

/// The case files open about the person on the reference date, oldest first. Children in a
/// household with a protection order in force, children whose parents lost their parental
/// rights and children under guardianship have a child-protection case; the victim of an order
/// in force a domestic-violence case; a person with a disability determination a disability
/// case; a household on social aid a poverty case.
fn cases_of(population: &Population, person: &SyntheticPerson) -> Vec<CaseFile> {
    let mut cases = Vec::new();
    if person.deceased {
        return cases;
    }
    if let Some((opened, acute)) = violence_episode(population, person, OrderRole::Victim) {
        cases.push(CaseFile {
            kind: CaseType::DomesticViolence,
            opened,
            risk: if acute { Risk::High } else { Risk::Medium },
            notes: Some(if acute {
                "Emergency barring order in force; safety plan agreed; home visits every week."
                    .to_string()
            } else {
                "Protection order in force; counselling arranged; home visits every month."
                    .to_string()
            }),
            managed: true,
        });
    }
    if person.is_minor() {
        let mut reasons: Vec<(Date, Risk, &str)> = Vec::new();
        for parent in [person.mother, person.father]
            .into_iter()
            .flatten()
            .filter_map(|parent| population.person(parent))
        {
            for role in [OrderRole::Victim, OrderRole::Aggressor] {
                if let Some((opened, acute)) = violence_episode(population, parent, role) {
                    reasons.push((
                        add_days(opened, 1).min(REFERENCE_DATE),
                        if acute { Risk::High } else { Risk::Medium },
                        "Domestic violence in the household; the child's safety is assessed at every visit.",
                    ));
                }
            }
        }
        let decisions = population.decisions_of(person);
        let restored = decisions
            .iter()
            .any(|(d, _)| d.kind == DecisionType::RestorationOfParentalRights);
        for (decision, role) in &decisions {
            if *role != DecisionRole::Child {
                continue;
            }
            match decision.kind {
                DecisionType::DeprivationOfParentalRights if !restored => reasons.push((
                    add_days(decision.decided_on, -30 - (draw(person, 3) % 90) as i64),
                    Risk::Medium,
                    "A parent was deprived of parental rights; the child's placement is monitored.",
                )),
                DecisionType::Guardianship => reasons.push((
                    add_days(decision.decided_on, -14),
                    Risk::Low,
                    "The child lives with a guardian; monitoring visits every quarter.",
                )),
                _ => {}
            }
        }
        let opened = reasons.iter().map(|(opened, _, _)| *opened).min();
        let gravest = reasons.iter().max_by_key(|(_, risk, _)| *risk);
        if let (Some(opened), Some((_, risk, notes))) = (opened, gravest) {
            cases.push(CaseFile {
                kind: CaseType::ChildProtection,
                opened,
                risk: *risk,
                notes: Some((*notes).to_string()),
                managed: true,
            });
        }
    }
    if let Some(disability) = &person.disability {
        let severe = disability.degree == DisabilityDegree::Severe;
        cases.push(CaseFile {
            kind: CaseType::Disability,
            opened: add_days(disability.decided_on, 5 + (draw(person, 4) % 20) as i64)
                .min(add_days(REFERENCE_DATE, -1)),
            risk: if severe { Risk::Medium } else { Risk::Low },
            notes: severe.then(|| {
                "Care allowance granted; home-care needs reviewed every six months.".to_string()
            }),
            managed: true,
        });
    }
    if let Some(children) = social_aid_children(population, person) {
        let aid = benefits_of(population, person)
            .into_iter()
            .find(|benefit| benefit.code == "ajutor-social")
            .map_or(REFERENCE_DATE, |benefit| benefit.since);
        let many = children >= 3;
        cases.push(CaseFile {
            kind: CaseType::Poverty,
            opened: add_days(aid, -10 - (draw(person, 5) % 20) as i64),
            risk: if many { Risk::Medium } else { Risk::Low },
            notes: many.then(|| "Family support plan; reviewed every year.".to_string()),
            // Low-risk households wait for a case manager.
            managed: many,
        });
    }
    cases.sort_by_key(|case| case.opened);
    cases
}

fn beneficiary_status(population: &Population, person: &SyntheticPerson) -> Value {
    let benefits: Vec<Value> = benefits_of(population, person)
        .into_iter()
        .map(|benefit| {
            json!({
                "code": benefit.code,
                "name": benefit.name,
                "grantedFrom": date_text(benefit.since),
                "payment": benefit.monthly_cents.map(|cents| json!({
                    "monthlyAmount": cents as f64 / 100.0,
                    "currency": "MDL",
                })),
            })
        })
        .collect();
    json!({"status": {
        "idnp": person.idnp.expose(),
        "beneficiary": !benefits.is_empty(),
        "benefits": benefits,
    }})
}

fn active_cases(population: &Population, person: &SyntheticPerson) -> Value {
    let index = population
        .index_of(person.idnp.expose())
        .unwrap_or_default() as u64;
    let agency = agency_of(&person.address.district);
    let items: Vec<Value> = cases_of(population, person)
        .into_iter()
        .map(|case| {
            let ordinal = case.kind as u64;
            // A bijection below the prime 999 983, so every case has its own number.
            let number = (index * 4 + ordinal) * 7919 % 999_983;
            let manager = case.managed.then(|| {
                let slot = (draw(person, 6 + ordinal) % CASE_MANAGERS.len() as u64) as usize;
                let (name, mailbox) = CASE_MANAGERS[slot];
                let digits = 8 - agency.phone_prefix.len();
                let office = 2 * 10u64.pow(digits as u32 - 1) + 100 + slot as u64 * 7;
                json!({
                    "name": name,
                    "contact": {
                        "workPhone": format!("+373{}{office}", agency.phone_prefix),
                        "workEmail": format!("{mailbox}@social.gov.md"),
                    },
                })
            });
            json!({
                "caseId": format!("CM-{}-{number:06}", case.opened.0),
                "type": case.kind.code(),
                "openedOn": date_text(case.opened),
                "riskLevel": case.risk.code(),
                "agency": {"code": agency.code, "name": agency.name},
                "caseManager": manager,
                "notes": case.notes,
            })
        })
        .collect();
    json!({"cases": {"idnp": person.idnp.expose(), "items": items}})
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap, HashSet};
    use std::sync::OnceLock;

    use super::*;
    use crate::population::{EnrolmentStatus, ProbationStatus};

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
            "{}/../../adapters/{registry}/adapter.toml",
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

        /// Arrays become repeated children (as repeated XML elements do); nulls are absent.
        fn from_json(value: &Value) -> Tree {
            match value {
                Value::Object(map) => Tree::Node(
                    map.iter()
                        .flat_map(|(key, value)| {
                            let values: Vec<&Value> = match value {
                                Value::Array(items) => items.iter().collect(),
                                Value::Null => Vec::new(),
                                single => vec![single],
                            };
                            values
                                .into_iter()
                                .map(move |v| (key.clone(), Tree::from_json(v)))
                        })
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
        } else if path.ends_with("|number") {
            assert!(text.parse::<f64>().is_ok(), "{service} {path}: {text}");
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

    fn case_items(idnp: &str) -> Vec<Value> {
        rest("cases.active-cases", idnp)["cases"]["items"]
            .as_array()
            .unwrap()
            .clone()
    }

    fn benefit_codes(idnp: &str) -> Vec<String> {
        rest("cases.beneficiary-status", idnp)["status"]["benefits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["code"].as_str().unwrap().to_string())
            .collect()
    }

    fn has_case(idnp: &str, kind: &str) -> bool {
        case_items(idnp).iter().any(|c| c["type"] == kind)
    }

    #[test]
    fn case_files_follow_what_the_other_registries_record() {
        let population = population();
        let persons = population.persons();
        let in_force = |person: &SyntheticPerson, role: OrderRole| {
            population
                .orders_of(person)
                .iter()
                .any(|(order, r)| *r == role && order.is_active_on(REFERENCE_DATE))
        };
        let mut kinds = HashSet::new();
        let mut with_cases = 0;
        let mut numbers = HashSet::new();
        for person in persons {
            let idnp = person.idnp.expose();
            let items = case_items(idnp);
            let alive = !person.deceased;
            assert_eq!(
                has_case(idnp, "domestic_violence"),
                alive && in_force(person, OrderRole::Victim),
                "the victim of an order in force, and only they, have a domestic-violence case"
            );
            let parent_in_order = [person.mother, person.father]
                .into_iter()
                .flatten()
                .filter_map(|parent| population.person(parent))
                .any(|parent| {
                    in_force(parent, OrderRole::Victim) || in_force(parent, OrderRole::Aggressor)
                });
            if alive && person.is_minor() && parent_in_order {
                assert!(
                    has_case(idnp, "child_protection"),
                    "a child of a violent household"
                );
            }
            if has_case(idnp, "child_protection") {
                assert!(person.is_minor());
            }
            assert_eq!(
                has_case(idnp, "disability"),
                person.disability.is_some(),
                "a disability determination and only it opens a disability case"
            );
            let codes = benefit_codes(idnp);
            if let Some(disability) = &person.disability {
                let entitled = person.age() < pension_age(person)
                    || disability.degree != DisabilityDegree::Medium;
                assert_eq!(
                    codes
                        .iter()
                        .any(|c| c.starts_with("alocatie-") || c == "compensatie-transport"),
                    entitled,
                    "a disability allowance or compensation"
                );
            }
            assert_eq!(
                has_case(idnp, "poverty"),
                codes.iter().any(|c| c == "ajutor-social"),
                "social aid and the poverty case go together"
            );
            if codes.iter().any(|c| c == "ajutor-social") {
                assert!(!employed(person) && person.sex == Sex::Female);
                assert!(!living_minors(population, person).is_empty());
            }
            let status = rest("cases.beneficiary-status", idnp);
            assert_eq!(status["status"]["beneficiary"], json!(!codes.is_empty()));
            if person.deceased {
                assert!(items.is_empty());
            }
            let agency = agency_of(&person.address.district);
            assert_ne!(agency.code, "ANAS-Central", "{}", person.address.district);
            for item in &items {
                kinds.insert(item["type"].as_str().unwrap().to_string());
                assert!(numbers.insert(item["caseId"].as_str().unwrap().to_string()));
                let opened = item["openedOn"].as_str().unwrap();
                assert!(opened <= date_text(REFERENCE_DATE).as_str(), "{opened}");
                assert_eq!(item["agency"]["code"], agency.code);
                if let Some(manager) = item["caseManager"].as_object() {
                    let phone = manager["contact"]["workPhone"].as_str().unwrap();
                    assert_eq!(phone.len(), 12, "{phone}");
                    assert!(phone.starts_with(&format!("+373{}", agency.phone_prefix)));
                    let email = manager["contact"]["workEmail"].as_str().unwrap();
                    assert!(email.ends_with("@social.gov.md"), "{email}");
                }
            }
            with_cases += usize::from(!items.is_empty());
        }
        for kind in [
            "child_protection",
            "domestic_violence",
            "disability",
            "poverty",
        ] {
            assert!(kinds.contains(kind), "nobody has a {kind} case");
        }
        assert!(
            with_cases * 4 < persons.len(),
            "most people have no case: {with_cases} of {}",
            persons.len()
        );
    }

    #[test]
    fn benefits_have_amounts_dates_and_the_cold_season_aid_goes_with_social_aid() {
        let mut codes = HashSet::new();
        let mut beneficiaries = 0;
        for person in population().persons() {
            let status = rest("cases.beneficiary-status", person.idnp.expose());
            let benefits = status["status"]["benefits"].as_array().unwrap();
            for benefit in benefits {
                let code = benefit["code"].as_str().unwrap();
                codes.insert(code.to_string());
                assert!(
                    benefit["grantedFrom"].as_str().unwrap().ends_with("-01")
                        || code == "sprijin-familial"
                );
                assert!(benefit["grantedFrom"].as_str().unwrap() <= "2026-11-01");
                match benefit["payment"].as_object() {
                    Some(payment) => {
                        assert!(payment["monthlyAmount"].as_f64().unwrap() > 0.0);
                        assert_eq!(payment["currency"], "MDL");
                    }
                    None => assert_eq!(code, "sprijin-familial"),
                }
            }
            let has = |code: &str| benefits.iter().any(|b| b["code"] == code);
            assert_eq!(has("ajutor-social"), has("ajutor-perioada-rece"));
            beneficiaries += usize::from(!benefits.is_empty());
        }
        for code in [
            "ajutor-social",
            "ajutor-perioada-rece",
            "alocatie-dizabilitate",
            "alocatie-ingrijire",
            "compensatie-transport",
            "sprijin-familial",
        ] {
            assert!(codes.contains(code), "nobody receives {code}");
        }
        let share = beneficiaries * 1000 / population().persons().len();
        assert!((30..=250).contains(&share), "beneficiaries ‰ {share}");
    }

    #[test]
    fn agencies_and_months_are_what_they_say() {
        assert_eq!(agency_of("Orhei").code, "DASPF-Orhei");
        assert_eq!(
            agency_of("Orhei").name,
            "Direcția Asistență Socială și Protecția Familiei Orhei"
        );
        assert_eq!(agency_of("mun. Chișinău").phone_prefix, "22");
        assert_eq!(first_of_month((2026, 11, 1), -1), (2026, 10, 1));
        assert_eq!(first_of_month((2026, 1, 15), -1), (2025, 12, 1));
        assert_eq!(first_of_month((2025, 12, 31), 1), (2026, 1, 1));
        assert_eq!(first_of_month((2026, 11, 1), -30), (2024, 5, 1));
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
