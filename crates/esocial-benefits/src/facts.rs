//! The household an estimate is about, as its caller describes it, and the facts the rules read
//! from it (how many adults and children, the household's income, the month...). Each fact
//! names the input fields it comes from, so that an estimate can say what is missing to decide.

use serde::{Deserialize, Serialize};
use time::Date;

use crate::catalog::{Subject, parse_date};

/// Members a household may have.
pub const MAX_MEMBERS: usize = 30;
/// Above this, a monthly income is taken for a typing error.
const MAX_MONTHLY_INCOME: f64 = 10_000_000.0;

/// A household as the caller describes it. The first member is the applicant.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Household {
    /// The day the estimate is for (`YYYY-MM-DD`); today when absent. An estimate for a past
    /// day uses the figures in force on that day.
    pub date: Option<String>,
    pub members: Vec<Member>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Member {
    /// `YYYY-MM-DD`.
    pub birth_date: String,
    /// Average monthly income in lei, all sources; unknown when absent.
    pub monthly_income: Option<f64>,
    /// In full-time studies (a child up to 23, for social aid).
    #[serde(default)]
    pub studying: bool,
    /// The degree of a disability determined for the member, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disability: Option<Disability>,
}

/// The degrees of disability Moldovan law determines.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Disability {
    Severe,
    Accentuated,
    Medium,
}

impl Disability {
    /// The degree as the rules read it: 3 severe, 2 accentuated, 1 medium.
    fn degree(self) -> f64 {
        match self {
            Self::Severe => 3.0,
            Self::Accentuated => 2.0,
            Self::Medium => 1.0,
        }
    }
}

/// A household input the estimator refuses, naming the field, never its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct InputError {
    pub field: String,
    pub problem: String,
}

fn refuse(field: impl Into<String>, problem: impl Into<String>) -> InputError {
    InputError {
        field: field.into(),
        problem: problem.into(),
    }
}

/// A member as the rules see them.
#[derive(Debug, Clone)]
struct Person {
    index: usize,
    birth: Date,
    income: Option<f64>,
    studying: bool,
    disability: Option<Disability>,
}

/// A household whose fields were checked, on the day of the estimate.
#[derive(Debug, Clone)]
pub struct CheckedHousehold {
    pub date: Date,
    persons: Vec<Person>,
}

/// Full years between `birth` and `date`.
fn years(birth: Date, date: Date) -> i32 {
    let mut years = date.year() - birth.year();
    if (date.month() as u8, date.day()) < (birth.month() as u8, birth.day()) {
        years -= 1;
    }
    years
}

/// Full months between `birth` and `date`.
fn months(birth: Date, date: Date) -> i32 {
    let mut months = (date.year() - birth.year()) * 12 + date.month() as i32 - birth.month() as i32;
    if date.day() < birth.day() {
        months -= 1;
    }
    months
}

impl Person {
    /// A child for social aid: under 18, or under 23 in full-time studies.
    fn is_child(&self, date: Date) -> bool {
        let age = years(self.birth, date);
        age < 18 || (self.studying && age < 23)
    }
}

impl Household {
    /// Checks every field; `today` is the day when the household gives none.
    pub fn check(&self, today: Date) -> Result<CheckedHousehold, InputError> {
        let date = match &self.date {
            Some(text) => {
                parse_date(text).map_err(|_| refuse("date", "must be a date like 2025-06-30"))?
            }
            None => today,
        };
        if self.members.is_empty() {
            return Err(refuse("members", "a household has at least one member"));
        }
        if self.members.len() > MAX_MEMBERS {
            return Err(refuse(
                "members",
                format!("a household has at most {MAX_MEMBERS} members"),
            ));
        }
        let mut persons = Vec::with_capacity(self.members.len());
        for (index, member) in self.members.iter().enumerate() {
            let birth = parse_date(&member.birth_date).map_err(|_| {
                refuse(
                    format!("members[{index}].birthDate"),
                    "must be a date like 1990-04-01",
                )
            })?;
            if birth > date {
                return Err(refuse(
                    format!("members[{index}].birthDate"),
                    "is after the estimate's date",
                ));
            }
            if years(birth, date) > 130 {
                return Err(refuse(
                    format!("members[{index}].birthDate"),
                    "is more than 130 years before the estimate's date",
                ));
            }
            if let Some(income) = member.monthly_income
                && (!income.is_finite() || !(0.0..=MAX_MONTHLY_INCOME).contains(&income))
            {
                return Err(refuse(
                    format!("members[{index}].monthlyIncome"),
                    "must be a number of lei from 0 to 10,000,000",
                ));
            }
            persons.push(Person {
                index,
                birth,
                income: member.monthly_income,
                studying: member.studying,
                disability: member.disability,
            });
        }
        if persons.iter().all(|person| person.is_child(date)) {
            return Err(refuse("members", "a household has at least one adult"));
        }
        Ok(CheckedHousehold { date, persons })
    }
}

/// A fact: its value, or what is missing to know it.
#[derive(Debug, Clone, PartialEq)]
pub struct Fact {
    pub name: &'static str,
    pub value: Option<f64>,
    /// The input fields it comes from.
    pub fields: Vec<String>,
}

/// The facts of a household, for rules evaluated for the household.
const HOUSEHOLD_FACTS: &[&str] = &[
    "adulti",
    "copii",
    "venit_familie",
    "luna",
    "copii_sub_2_ani",
    "gemeni_suplimentari_sub_3_ani",
];
/// The facts of one newborn child, for rules evaluated for each one.
const NEWBORN_FACTS: &[&str] = &["varsta_luni"];
/// The facts of one child with a disability, for rules evaluated for each one.
const CHILD_WITH_DISABILITY_FACTS: &[&str] = &["varsta_ani", "grad_dizabilitate"];

/// The names of the facts rules evaluated for `subject` may use.
pub fn names(subject: Subject) -> &'static [&'static str] {
    match subject {
        Subject::Household => HOUSEHOLD_FACTS,
        Subject::Newborn => NEWBORN_FACTS,
        Subject::ChildWithDisability => CHILD_WITH_DISABILITY_FACTS,
    }
}

impl CheckedHousehold {
    /// The household's facts on its date.
    pub fn facts(&self) -> Vec<Fact> {
        let date = self.date;
        let children = self.persons.iter().filter(|p| p.is_child(date)).count();
        let birth_fields = || {
            (0..self.persons.len())
                .map(|i| format!("members[{i}].birthDate"))
                .collect::<Vec<_>>()
        };
        let income = self
            .persons
            .iter()
            .map(|person| person.income)
            .sum::<Option<f64>>();
        let unknown_income: Vec<String> = self
            .persons
            .iter()
            .filter(|person| person.income.is_none())
            .map(|person| format!("members[{}].monthlyIncome", person.index))
            .collect();
        vec![
            Fact {
                name: "adulti",
                value: Some((self.persons.len() - children) as f64),
                fields: birth_fields(),
            },
            Fact {
                name: "copii",
                value: Some(children as f64),
                fields: birth_fields(),
            },
            Fact {
                name: "venit_familie",
                value: income,
                fields: if unknown_income.is_empty() {
                    (0..self.persons.len())
                        .map(|i| format!("members[{i}].monthlyIncome"))
                        .collect()
                } else {
                    unknown_income
                },
            },
            Fact {
                name: "luna",
                value: Some(f64::from(date.month() as u8)),
                fields: vec!["date".into()],
            },
            Fact {
                name: "copii_sub_2_ani",
                value: Some(
                    self.persons
                        .iter()
                        .filter(|p| years(p.birth, date) < 2)
                        .count() as f64,
                ),
                fields: birth_fields(),
            },
            Fact {
                name: "gemeni_suplimentari_sub_3_ani",
                value: Some(self.extra_children_of_multiple_births_under_3(date) as f64),
                fields: birth_fields(),
            },
        ]
    }

    /// Children under 3 born on the same day as an older sibling of the same birth (twins,
    /// triplets): for each such birth, every child after the first. A shared birth date is how
    /// the household shows a multiple birth.
    fn extra_children_of_multiple_births_under_3(&self, date: Date) -> usize {
        let mut births: std::collections::BTreeMap<Date, usize> = Default::default();
        for person in self.persons.iter().filter(|p| years(p.birth, date) < 3) {
            *births.entry(person.birth).or_default() += 1;
        }
        births.values().map(|children| children - 1).sum()
    }

    /// Each member under 18 with a disability: the member's index and the child's facts.
    pub fn children_with_disability(&self) -> Vec<(usize, Vec<Fact>)> {
        self.persons
            .iter()
            .filter(|person| years(person.birth, self.date) < 18)
            .filter_map(|person| {
                let disability = person.disability?;
                Some((
                    person.index,
                    vec![
                        Fact {
                            name: "varsta_ani",
                            value: Some(f64::from(years(person.birth, self.date))),
                            fields: vec![format!("members[{}].birthDate", person.index)],
                        },
                        Fact {
                            name: "grad_dizabilitate",
                            value: Some(disability.degree()),
                            fields: vec![format!("members[{}].disability", person.index)],
                        },
                    ],
                ))
            })
            .collect()
    }

    /// Each child born in the twelve months up to the household's date: the member's index, the
    /// date of birth, and the child's facts.
    pub fn newborns(&self) -> Vec<(usize, Date, Vec<Fact>)> {
        self.persons
            .iter()
            .filter(|person| months(person.birth, self.date) < 12)
            .map(|person| {
                (
                    person.index,
                    person.birth,
                    vec![Fact {
                        name: "varsta_luni",
                        value: Some(f64::from(months(person.birth, self.date))),
                        fields: vec![format!("members[{}].birthDate", person.index)],
                    }],
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn member(birth: &str, income: Option<f64>) -> Member {
        Member {
            birth_date: birth.into(),
            monthly_income: income,
            studying: false,
            disability: None,
        }
    }

    #[test]
    fn ages_count_full_years_and_months() {
        assert_eq!(years(date!(2000 - 06 - 15), date!(2018 - 06 - 14)), 17);
        assert_eq!(years(date!(2000 - 06 - 15), date!(2018 - 06 - 15)), 18);
        assert_eq!(months(date!(2025 - 01 - 31), date!(2025 - 02 - 28)), 0);
        assert_eq!(months(date!(2025 - 01 - 15), date!(2026 - 01 - 14)), 11);
        assert_eq!(months(date!(2025 - 01 - 15), date!(2026 - 01 - 15)), 12);
    }

    #[test]
    fn bad_fields_are_named_without_their_values() {
        let today = date!(2025 - 06 - 30);
        let household = Household {
            date: None,
            members: vec![member("1990-01-01", Some(-5.0))],
        };
        let error = household.check(today).unwrap_err();
        assert_eq!(error.field, "members[0].monthlyIncome");
        assert!(!error.to_string().contains("-5"));
        let household = Household {
            date: Some("30.06.2025".into()),
            members: vec![member("1990-01-01", None)],
        };
        assert_eq!(household.check(today).unwrap_err().field, "date");
        let household = Household {
            date: None,
            members: vec![member("2020-01-01", None)],
        };
        assert_eq!(household.check(today).unwrap_err().field, "members");
        let household = Household {
            date: None,
            members: vec![member("1990-01-01", None), member("2026-01-01", None)],
        };
        assert_eq!(
            household.check(today).unwrap_err().field,
            "members[1].birthDate"
        );
    }

    #[test]
    fn an_unknown_income_names_the_members_whose_income_is_missing() {
        let household = Household {
            date: Some("2025-06-30".into()),
            members: vec![
                member("1990-01-01", Some(1000.0)),
                member("1992-01-01", None),
                Member {
                    birth_date: "2005-01-01".into(),
                    monthly_income: Some(0.0),
                    studying: true,
                    disability: None,
                },
            ],
        };
        let facts = household.check(date!(2026 - 01 - 01)).unwrap().facts();
        let fact = |name| facts.iter().find(|f| f.name == name).unwrap().clone();
        assert_eq!(fact("adulti").value, Some(2.0));
        assert_eq!(fact("copii").value, Some(1.0), "a student of 20 is a child");
        assert_eq!(fact("venit_familie").value, None);
        assert_eq!(fact("venit_familie").fields, ["members[1].monthlyIncome"]);
        assert_eq!(fact("luna").value, Some(6.0));
    }
}
