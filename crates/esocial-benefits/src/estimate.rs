//! The estimator: for each benefit of the catalog, whether the household qualifies (eligible,
//! not eligible, or cannot tell and what is missing to decide), the estimated amount, and a
//! trace of every rule applied with its legal article, the inputs and parameters it read
//! (each figure with its date, source and whether a public source confirmed it) and what it
//! gave. A receipt names the rule set (version and content hash) and the input's digest, so
//! that the same estimate can be recomputed and compared later. An estimate is never a
//! decision, and says so.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use time::Date;

use crate::catalog::{Benefit, Catalog, Period, Status, Subject, Text};
use crate::facts::{Fact, Household, InputError};

/// What every estimate says of itself.
fn notice() -> Text {
    Text {
        ro: "Estimare cu caracter informativ, calculată din datele introduse: nu este o decizie \
             și nu angajează nicio autoritate. Dreptul și cuantumul se stabilesc de structura \
             teritorială de asistență socială sau de Casa Națională de Asigurări Sociale, pe \
             baza cererii și a documentelor."
            .into(),
        ru: "Оценка носит информационный характер и рассчитана по введённым данным: это не \
             решение и ни к чему не обязывает органы власти. Право и размер устанавливает \
             территориальная структура социальной помощи или Национальная касса социального \
             страхования на основании заявления и документов."
            .into(),
    }
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Eligible,
    NotEligible,
    CannotTell,
}

/// A figure a rule read from the catalog, as it was on the day it was taken.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ParameterUsed {
    pub unit: String,
    pub label: Text,
    /// The day its value applies from.
    pub from: String,
    pub status: Status,
    pub source: String,
    pub url: String,
}

/// One input of a rule.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Input {
    pub name: String,
    /// `fact` (from the household), `parameter` (from the catalog) or `variable` (set by an
    /// earlier rule).
    pub kind: &'static str,
    pub value: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameter: Option<ParameterUsed>,
    /// For a fact: the input fields it comes from.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
}

/// One rule applied.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub rule: String,
    pub article: String,
    pub explains: Text,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<Text>,
    pub expression: String,
    pub inputs: Vec<Input>,
    /// What it set, and its value; no value when an input was missing.
    pub sets: String,
    pub result: Option<Value>,
}

/// The evaluation of a benefit for one subject (the household, or one newborn child).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Evaluation {
    pub outcome: Outcome,
    pub amount: Option<f64>,
    /// The day whose figures were used.
    pub figures_of: String,
    /// The input fields, or the figures, that are missing to decide.
    pub missing: Vec<String>,
    pub trace: Vec<Step>,
}

/// A benefit's estimate.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BenefitEstimate {
    pub id: String,
    pub name: Text,
    pub period: Period,
    pub outcome: Outcome,
    pub amount: Option<f64>,
    pub missing: Vec<String>,
    /// Why there is nothing to evaluate, when there is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Text>,
    /// The household's evaluation, or one per newborn child (`member` is its index).
    pub evaluations: Vec<SubjectEvaluation>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubjectEvaluation {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member: Option<usize>,
    #[serde(flatten)]
    pub evaluation: Evaluation,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Receipt {
    pub ruleset_version: String,
    pub ruleset_hash: String,
    /// `sha256:` and the hex SHA-256 of the household as the estimator read it.
    pub input_digest: String,
    pub date: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Estimate {
    pub notice: Text,
    pub date: String,
    pub benefits: Vec<BenefitEstimate>,
    pub receipt: Receipt,
}

fn number(value: f64) -> Value {
    serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number)
}

fn as_f64(value: &Value) -> Option<f64> {
    value.as_f64()
}

/// Evaluates `benefit`'s rules on `facts` with the figures in force on `figures_of`.
fn evaluate(catalog: &Catalog, benefit: &Benefit, facts: &[Fact], figures_of: Date) -> Evaluation {
    // Every name a rule may read: its value (None when missing) and how to show it.
    let mut known: BTreeMap<String, (Option<Value>, Input)> = BTreeMap::new();
    for fact in facts {
        let value = fact.value.map(number);
        known.insert(
            fact.name.to_string(),
            (
                value.clone(),
                Input {
                    name: fact.name.to_string(),
                    kind: "fact",
                    value,
                    parameter: None,
                    fields: fact.fields.clone(),
                },
            ),
        );
    }
    let mut missing = Vec::new();
    let mut trace = Vec::new();
    for rule in &benefit.rule {
        let mut inputs = Vec::with_capacity(rule.uses.len());
        let mut context = serde_json::Map::new();
        let mut complete = true;
        for name in &rule.uses {
            let (value, input) = match known.get(name) {
                Some((value, input)) => (value.clone(), input.clone()),
                None => {
                    // Not a fact nor a variable: a parameter (the catalog checked it exists).
                    let parameter = catalog
                        .parameter(benefit, name)
                        .expect("the catalog checks every name a rule uses");
                    match parameter.at(figures_of) {
                        Some(dated) => {
                            let value = number(dated.value);
                            (
                                Some(value.clone()),
                                Input {
                                    name: name.clone(),
                                    kind: "parameter",
                                    value: Some(value),
                                    parameter: Some(ParameterUsed {
                                        unit: parameter.unit.clone(),
                                        label: parameter.label.clone(),
                                        from: dated.from.clone(),
                                        status: dated.status,
                                        source: dated.source.clone(),
                                        url: dated.url.clone(),
                                    }),
                                    fields: Vec::new(),
                                },
                            )
                        }
                        None => {
                            let what = format!("parameter {name} for {figures_of}");
                            if !missing.contains(&what) {
                                missing.push(what);
                            }
                            (
                                None,
                                Input {
                                    name: name.clone(),
                                    kind: "parameter",
                                    value: None,
                                    parameter: None,
                                    fields: Vec::new(),
                                },
                            )
                        }
                    }
                }
            };
            match &value {
                Some(value) => {
                    context.insert(name.clone(), value.clone());
                }
                None => {
                    complete = false;
                    for field in &input.fields {
                        if input.kind == "fact" && !missing.contains(field) {
                            missing.push(field.clone());
                        }
                    }
                }
            }
            inputs.push(input);
        }
        let result = if complete {
            zen_expression::evaluate_expression(&rule.expression, Value::Object(context).into())
                .ok()
                .map(|variable| variable.to_value())
                .filter(|value| !value.is_null())
        } else {
            None
        };
        let variable = Input {
            name: rule.sets.clone(),
            kind: "variable",
            value: result.clone(),
            parameter: None,
            fields: if result.is_none() {
                inputs
                    .iter()
                    .filter(|input| input.value.is_none())
                    .flat_map(|input| input.fields.clone())
                    .collect()
            } else {
                Vec::new()
            },
        };
        known.insert(rule.sets.clone(), (result.clone(), variable));
        trace.push(Step {
            rule: rule.id.clone(),
            article: rule.article.clone(),
            explains: rule.explains.clone(),
            note: rule.note.clone(),
            expression: rule.expression.clone(),
            inputs,
            sets: rule.sets.clone(),
            result,
        });
    }
    let value_of = |name: &str| known.get(name).and_then(|(value, _)| value.clone());
    let (outcome, amount) = match value_of(&benefit.eligible).and_then(|v| v.as_bool()) {
        Some(true) => (
            Outcome::Eligible,
            value_of(&benefit.amount).as_ref().and_then(as_f64),
        ),
        Some(false) => (Outcome::NotEligible, None),
        None => (Outcome::CannotTell, None),
    };
    Evaluation {
        outcome,
        amount,
        figures_of: figures_of.to_string(),
        missing,
        trace,
    }
}

/// Estimates every benefit of the catalog for `household`; `today` is the day when it names
/// none.
pub fn estimate(
    catalog: &Catalog,
    household: &Household,
    today: Date,
) -> Result<Estimate, InputError> {
    let checked = household.check(today)?;
    let date = checked.date;
    let mut benefits = Vec::with_capacity(catalog.benefits.len());
    for benefit in &catalog.benefits {
        let mut estimate = BenefitEstimate {
            id: benefit.id.clone(),
            name: benefit.name.clone(),
            period: benefit.period,
            outcome: Outcome::NotEligible,
            amount: None,
            missing: Vec::new(),
            reason: None,
            evaluations: Vec::new(),
        };
        if !benefit.in_force_on(date) {
            estimate.reason = Some(Text {
                ro: format!("Prestația nu era în vigoare la {date}."),
                ru: format!("Выплата не действовала на {date}."),
            });
            benefits.push(estimate);
            continue;
        }
        match benefit.for_each {
            Subject::Household => {
                let evaluation = evaluate(catalog, benefit, &checked.facts(), date);
                estimate.outcome = evaluation.outcome;
                estimate.amount = evaluation.amount;
                estimate.missing = evaluation.missing.clone();
                estimate.evaluations.push(SubjectEvaluation {
                    member: None,
                    evaluation,
                });
            }
            Subject::Newborn | Subject::ChildWithDisability => {
                // Each subject with the day whose figures apply to it.
                let (subjects, none): (Vec<(usize, Date, Vec<Fact>)>, Text) = if benefit.for_each
                    == Subject::Newborn
                {
                    (
                        checked.newborns(),
                        Text {
                            ro: "Niciun copil din gospodărie nu s-a născut în ultimele 12 luni."
                                .into(),
                            ru: "Ни один ребёнок в семье не родился за последние 12 месяцев."
                                .into(),
                        },
                    )
                } else {
                    (
                        checked
                            .children_with_disability()
                            .into_iter()
                            .map(|(member, facts)| (member, date, facts))
                            .collect(),
                        Text {
                            ro: "Niciun copil sub 18 ani din gospodărie nu are o dizabilitate \
                                     stabilită."
                                .into(),
                            ru: "Ни у одного ребёнка до 18 лет в семье не установлена \
                                     инвалидность."
                                .into(),
                        },
                    )
                };
                if subjects.is_empty() {
                    estimate.reason = Some(none);
                }
                for (member, figures_of, facts) in subjects {
                    let evaluation = evaluate(catalog, benefit, &facts, figures_of);
                    for missing in &evaluation.missing {
                        if !estimate.missing.contains(missing) {
                            estimate.missing.push(missing.clone());
                        }
                    }
                    estimate.evaluations.push(SubjectEvaluation {
                        member: Some(member),
                        evaluation,
                    });
                }
                let outcomes: Vec<_> = estimate
                    .evaluations
                    .iter()
                    .map(|e| e.evaluation.outcome)
                    .collect();
                estimate.outcome = if outcomes.contains(&Outcome::Eligible) {
                    Outcome::Eligible
                } else if outcomes.contains(&Outcome::CannotTell) {
                    Outcome::CannotTell
                } else {
                    Outcome::NotEligible
                };
                let amounts: Option<f64> = estimate
                    .evaluations
                    .iter()
                    .filter(|e| e.evaluation.outcome == Outcome::Eligible)
                    .map(|e| e.evaluation.amount)
                    .sum();
                estimate.amount = amounts.filter(|_| estimate.outcome == Outcome::Eligible);
            }
        }
        benefits.push(estimate);
    }
    let canonical = json!({ "date": date.to_string(), "members": household.members });
    let input_digest = format!(
        "sha256:{}",
        hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
    );
    Ok(Estimate {
        notice: notice(),
        date: date.to_string(),
        benefits,
        receipt: Receipt {
            ruleset_version: catalog.version.clone(),
            ruleset_hash: catalog.hash.clone(),
            input_digest,
            date: date.to_string(),
        },
    })
}
