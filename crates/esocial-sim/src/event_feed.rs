//! Realistic MConnect Events about the synthetic population, as the registries would publish
//! them: deaths (civil status), protection orders (police), enrolments ended (education),
//! disabilities determined (health) and custody decisions (justice), each about a person the
//! registry simulators answer for, keyed `idnp:<idnp>` and passing its type's contract.

use esocial_wire::mconnect::cloudevent::CloudEvent;
use serde_json::{Value, json};

use crate::population::{
    Date, DecisionRole, DecisionType, DisabilityDegree, EnrolmentStatus, OrderType, Population,
    SyntheticPerson, add_days, date_text,
};
use crate::random::Random;

/// Most persons one protection order event names as protected (its contract's limit).
const MAX_PROTECTED: usize = 20;

/// One fact a registry publishes: the person it is about, its type, its data and the day.
struct Fact {
    source: &'static str,
    event_type: &'static str,
    idnp: String,
    data: Value,
    on: Date,
}

/// `count` events about persons of `population`, spread evenly over the five event types in
/// turn, drawn without repeating a fact until a type has none left (then its facts come round
/// again under new ids, as a registry republishing would). The same seed gives the same events.
pub fn population_events(population: &Population, seed: u64, count: usize) -> Vec<CloudEvent> {
    let mut random = Random::new(seed);
    let mut kinds: Vec<Vec<Fact>> = [
        deaths(population),
        protection_orders(population),
        enrolments_ended(population, &mut random),
        disabilities(population),
        custody_decisions(population),
    ]
    .into_iter()
    .filter(|facts| !facts.is_empty())
    .map(|mut facts| {
        shuffle(&mut facts, &mut random);
        facts
    })
    .collect();
    if kinds.is_empty() {
        return Vec::new();
    }
    let mut drawn = vec![0usize; kinds.len()];
    (0..count)
        .map(|index| {
            let kind = index % kinds.len();
            let facts = &mut kinds[kind];
            let fact = &facts[drawn[kind] % facts.len()];
            drawn[kind] += 1;
            let hour = random.below(24);
            let minute = random.below(60);
            CloudEvent {
                id: uuid::Builder::from_random_bytes(random.bytes())
                    .into_uuid()
                    .to_string(),
                source: fact.source.to_string(),
                event_type: fact.event_type.to_string(),
                partition_key: Some(format!("idnp:{}", fact.idnp)),
                time: Some(format!("{}T{hour:02}:{minute:02}:00Z", date_text(fact.on))),
                data: fact.data.clone(),
                offset: None,
            }
        })
        .collect()
}

fn shuffle<T>(items: &mut [T], random: &mut Random) {
    for last in (1..items.len()).rev() {
        items.swap(last, random.index(last + 1));
    }
}

fn idnp(person: &SyntheticPerson) -> String {
    person.idnp.expose().to_string()
}

fn deaths(population: &Population) -> Vec<Fact> {
    population
        .persons()
        .iter()
        .filter_map(|person| {
            let death = person.death.as_ref()?;
            Some(Fact {
                source: "urn:gov:md:civil",
                event_type: "Gov.Civil.Person.Died",
                idnp: idnp(person),
                data: json!({
                    "idnp": idnp(person),
                    "dateOfDeath": date_text(death.date),
                    "actNumber": death.act_number,
                    "office": death.office,
                }),
                on: death.date,
            })
        })
        .collect()
}

/// Each order is published about its aggressor; it protects the victim and the aggressor's
/// spouse and minor children.
fn protection_orders(population: &Population) -> Vec<Fact> {
    population
        .protection_orders()
        .iter()
        .filter_map(|order| {
            let aggressor = population.person(order.aggressor)?;
            let mut protected: Vec<String> = Vec::new();
            let relatives = std::iter::once(order.victim).chain(aggressor.spouse).chain(
                aggressor.children.iter().copied().filter(|&child| {
                    population
                        .person(child)
                        .is_some_and(|child| child.is_minor() && !child.deceased)
                }),
            );
            for relative in relatives.filter_map(|index| population.person(index)) {
                let relative = idnp(relative);
                if !protected.contains(&relative) && protected.len() < MAX_PROTECTED {
                    protected.push(relative);
                }
            }
            let kind = match order.kind {
                OrderType::EmergencyBarring => "emergency",
                OrderType::Protection => "court",
            };
            Some(Fact {
                source: "urn:gov:md:police",
                event_type: "Gov.Police.ProtectionOrder.Issued",
                idnp: idnp(aggressor),
                data: json!({
                    "idnp": idnp(aggressor),
                    "orderId": order.number,
                    "kind": kind,
                    "issuedOn": date_text(order.issued_on),
                    "validUntil": date_text(order.valid_until),
                    "protectedPersons": protected,
                }),
                on: order.issued_on,
            })
        })
        .collect()
}

/// Pupils who left school this term (drop-outs) or graduated last summer.
fn enrolments_ended(population: &Population, random: &mut Random) -> Vec<Fact> {
    const TERM_START: Date = (2026, 9, 1);
    /// Days from the start of the term to the reference date (1 September to 31 October).
    const TERM_DAYS: u64 = 61;
    const GRADUATION: Date = (2026, 6, 30);
    population
        .persons()
        .iter()
        .filter_map(|person| {
            let institution = person.enrolment.institution.as_ref()?;
            let (reason, ended_on) = match person.enrolment.status {
                EnrolmentStatus::Left => (
                    "dropout",
                    add_days(TERM_START, random.below(TERM_DAYS) as i64),
                ),
                EnrolmentStatus::Graduated => ("graduation", GRADUATION),
                EnrolmentStatus::Enrolled | EnrolmentStatus::NotEnrolled => return None,
            };
            Some(Fact {
                source: "urn:gov:md:education",
                event_type: "Gov.Education.Enrolment.Ended",
                idnp: idnp(person),
                data: json!({
                    "idnp": idnp(person),
                    "school": institution.name,
                    "endedOn": date_text(ended_on),
                    "reason": reason,
                }),
                on: ended_on,
            })
        })
        .collect()
}

fn disabilities(population: &Population) -> Vec<Fact> {
    population
        .persons()
        .iter()
        .filter_map(|person| {
            let disability = person.disability.as_ref()?;
            let degree = match disability.degree {
                DisabilityDegree::Severe => "severe",
                DisabilityDegree::Accentuated => "moderate",
                DisabilityDegree::Medium => "mild",
            };
            let mut data = json!({
                "idnp": idnp(person),
                "degree": degree,
                "decidedOn": date_text(disability.decided_on),
            });
            if let Some(review) = disability.valid_until {
                data["reviewOn"] = date_text(review).into();
            }
            Some(Fact {
                source: "urn:gov:md:health",
                event_type: "Gov.Health.Disability.Determined",
                idnp: idnp(person),
                data,
                on: disability.decided_on,
            })
        })
        .collect()
}

/// One event per child of each decision on custody, guardianship or parental rights.
fn custody_decisions(population: &Population) -> Vec<Fact> {
    let mut facts = Vec::new();
    for decision in population.court_decisions() {
        let outcome = match decision.kind {
            // The synthetic courts set a divorced family's children's residence with the mother.
            DecisionType::Custody => "custody-mother",
            DecisionType::Guardianship => "custody-guardian",
            DecisionType::DeprivationOfParentalRights => "parental-rights-removed",
            DecisionType::RestorationOfParentalRights => continue,
        };
        let children = decision
            .parties
            .iter()
            .filter(|(_, role)| *role == DecisionRole::Child)
            .filter_map(|(index, _)| population.person(*index));
        for child in children {
            facts.push(Fact {
                source: "urn:gov:md:justice",
                event_type: "Gov.Justice.Custody.Decided",
                idnp: idnp(child),
                data: json!({
                    "idnp": idnp(child),
                    "decisionId": decision.case_number,
                    "decidedOn": date_text(decision.decided_on),
                    "outcome": outcome,
                }),
                on: decision.decided_on,
            });
        }
    }
    facts
}

#[cfg(test)]
mod tests {
    use super::*;
    use esocial_catalog::events::EventContracts;
    use std::collections::HashSet;
    use std::path::Path;

    #[test]
    fn events_pass_their_contracts_and_are_about_persons_of_the_population() {
        let population = Population::default_population();
        let contracts = EventContracts::load(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contracts/events"),
        )
        .unwrap();
        let events = population_events(&population, 7, 500);
        assert_eq!(events.len(), 500);
        let mut ids = HashSet::new();
        let mut types = HashSet::new();
        for event in &events {
            assert_eq!(
                contracts.check(&event.event_type, &event.data),
                Ok(()),
                "{}",
                event.event_type
            );
            let subject = event.subject_idnp().expect("partitionkey idnp:<idnp>");
            assert_eq!(event.data["idnp"], subject.expose());
            assert!(population.find(subject.expose()).is_some());
            assert!(ids.insert((event.source.clone(), event.id.clone())));
            types.insert(event.event_type.clone());
            CloudEvent::from_value(event.to_value()).expect("a valid CloudEvent");
        }
        assert_eq!(types.len(), 5, "{types:?}");
    }

    #[test]
    fn a_protection_order_protects_the_victim_and_the_aggressors_children() {
        let population = Population::default_population();
        let events = population_events(&population, 7, 100);
        let order = events
            .iter()
            .filter(|event| event.event_type == "Gov.Police.ProtectionOrder.Issued")
            .find(|event| {
                let aggressor = population
                    .find(event.data["idnp"].as_str().unwrap())
                    .unwrap();
                aggressor
                    .children
                    .iter()
                    .any(|&child| population.person(child).unwrap().is_minor())
            })
            .expect("an aggressor with minor children");
        let aggressor = population
            .find(order.data["idnp"].as_str().unwrap())
            .unwrap();
        let protected: Vec<&str> = order.data["protectedPersons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|idnp| idnp.as_str().unwrap())
            .collect();
        for &child in &aggressor.children {
            let child = population.person(child).unwrap();
            if child.is_minor() && !child.deceased {
                assert!(protected.contains(&child.idnp.expose()));
            }
        }
        assert!(!protected.contains(&aggressor.idnp.expose()));
    }

    #[test]
    fn the_same_seed_gives_the_same_events() {
        let population = Population::default_population();
        assert_eq!(
            population_events(&population, 3, 50),
            population_events(&population, 3, 50)
        );
        assert_ne!(
            population_events(&population, 3, 50),
            population_events(&population, 4, 50)
        );
    }
}
