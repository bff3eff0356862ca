//! The shipped catalog against worked examples computed by hand from the legal texts and the
//! figures the catalog cites: the amounts, the figures of the right date (an estimate for a
//! past year uses that year's figures), what is missing when an input is, and the receipt.

use std::path::{Path, PathBuf};

use esocial_benefits::estimate::BenefitEstimate;
use esocial_benefits::{Catalog, Household, Member, Outcome, estimate as estimate_with};
use time::macros::date;

fn catalog_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../benefits")
}

fn catalog() -> Catalog {
    Catalog::load(&catalog_dir()).unwrap()
}

fn member(birth: &str, income: Option<f64>) -> Member {
    Member {
        birth_date: birth.into(),
        monthly_income: income,
        studying: false,
        disability: None,
    }
}

fn household(date: &str, members: Vec<Member>) -> Household {
    Household {
        date: Some(date.into()),
        members,
    }
}

fn benefit<'a>(estimate: &'a esocial_benefits::Estimate, id: &str) -> &'a BenefitEstimate {
    estimate.benefits.iter().find(|b| b.id == id).unwrap()
}

/// Two adults and two children; the applicant earns 1,000 lei a month.
fn family(date: &str, income: f64) -> Household {
    household(
        date,
        vec![
            member("1990-03-10", Some(income)),
            member("1991-07-22", Some(0.0)),
            member("2015-05-01", Some(0.0)),
            member("2018-09-12", Some(0.0)),
        ],
    )
}

#[test]
fn social_aid_is_the_household_minimum_income_less_its_income() {
    // 2025-06-30: VLMG 1,749 lei (adult) and 1,819 lei (child) since 2025-04-01.
    // 1,749 + 0.70 × 1,749 + 2 × 0.75 × 1,819 = 1,749 + 1,224.3 + 2,728.5 = 5,701.8;
    // less 1,000 lei of income: 4,701.8, rounded to 4,702.
    let estimate = estimate_with(
        &catalog(),
        &family("2025-06-30", 1000.0),
        date!(2026 - 01 - 01),
    )
    .unwrap();
    let aid = benefit(&estimate, "ajutor-social");
    assert_eq!(aid.outcome, Outcome::Eligible);
    assert_eq!(aid.amount, Some(4702.0));
    let trace = &aid.evaluations[0].evaluation.trace;
    assert_eq!(trace[0].rule, "venit-minim-familie");
    assert!(trace[0].article.contains("art. 7 alin. (2)"));
    let vlmg = trace[0]
        .inputs
        .iter()
        .find(|i| i.name == "vlmg_adult")
        .unwrap();
    let figure = vlmg.parameter.as_ref().unwrap();
    assert_eq!(figure.from, "2025-04-01");
    assert!(figure.url.starts_with("https://"));
    assert_eq!(
        trace[0].result.as_ref().and_then(|v| v.as_f64()),
        Some(5701.8)
    );
    assert!(
        trace[0].note.is_some(),
        "the child-level interpretation says it is unconfirmed"
    );

    let richer = estimate_with(
        &catalog(),
        &family("2025-06-30", 6000.0),
        date!(2026 - 01 - 01),
    )
    .unwrap();
    assert_eq!(
        benefit(&richer, "ajutor-social").outcome,
        Outcome::NotEligible
    );
    assert_eq!(benefit(&richer, "ajutor-social").amount, None);
}

#[test]
fn an_estimate_for_a_past_year_uses_that_years_figures() {
    // 2021-06-30: one level of 1,151 lei for adults and children (from 2021-04-01); the child
    // share 0.75 (unconfirmed date 2021-04-01): 1,151 + 805.7 + 1,726.5 = 3,683.2; less 1,000.
    let estimate = estimate_with(
        &catalog(),
        &family("2021-06-30", 1000.0),
        date!(2026 - 01 - 01),
    )
    .unwrap();
    let aid = benefit(&estimate, "ajutor-social");
    assert_eq!(aid.amount, Some(2683.0));
    let inputs = &aid.evaluations[0].evaluation.trace[0].inputs;
    let share = inputs.iter().find(|i| i.name == "cota_copil").unwrap();
    assert_eq!(
        serde_json::to_value(share.parameter.as_ref().unwrap().status).unwrap(),
        "unconfirmed"
    );
    // Child care: 740 lei per child under two in 2021, 1,000 lei since 2022-10-01.
    let baby = |date: &str| {
        household(
            date,
            vec![
                member("1990-01-01", Some(0.0)),
                member("2021-01-05", Some(0.0)),
            ],
        )
    };
    let in_2021 = estimate_with(&catalog(), &baby("2021-06-30"), date!(2026 - 01 - 01)).unwrap();
    assert_eq!(
        benefit(&in_2021, "indemnizatie-ingrijire-copil").amount,
        Some(740.0)
    );
    let in_2022 = estimate_with(&catalog(), &baby("2022-11-30"), date!(2026 - 01 - 01)).unwrap();
    assert_eq!(
        benefit(&in_2022, "indemnizatie-ingrijire-copil").amount,
        Some(1000.0)
    );
    let in_2023 = estimate_with(&catalog(), &baby("2023-01-05"), date!(2026 - 01 - 01)).unwrap();
    assert_eq!(
        benefit(&in_2023, "indemnizatie-ingrijire-copil").outcome,
        Outcome::NotEligible,
        "the child turned two that day"
    );
}

#[test]
fn the_birth_allowance_uses_the_figure_of_each_childs_birth() {
    // Born 2024-12-20: 20,000 lei (2024); born 2025-02-10: 21,350 lei (2025).
    let estimate = estimate_with(
        &catalog(),
        &household(
            "2025-03-01",
            vec![
                member("1993-02-02", Some(5000.0)),
                member("2024-12-20", Some(0.0)),
                member("2025-02-10", Some(0.0)),
            ],
        ),
        date!(2026 - 01 - 01),
    )
    .unwrap();
    let allowance = benefit(&estimate, "indemnizatie-unica-nastere");
    assert_eq!(allowance.outcome, Outcome::Eligible);
    assert_eq!(allowance.amount, Some(41350.0));
    let figures: Vec<_> = allowance
        .evaluations
        .iter()
        .map(|e| {
            (
                e.member,
                e.evaluation.figures_of.as_str(),
                e.evaluation.amount,
            )
        })
        .collect();
    assert_eq!(
        figures,
        [
            (Some(1), "2024-12-20", Some(20000.0)),
            (Some(2), "2025-02-10", Some(21350.0))
        ]
    );
    let none = estimate_of(&family("2025-03-01", 0.0));
    let allowance = benefit(&none, "indemnizatie-unica-nastere");
    assert_eq!(allowance.outcome, Outcome::NotEligible);
    assert!(allowance.reason.is_some());
}

fn estimate_of(household: &Household) -> esocial_benefits::Estimate {
    estimate_with(&catalog(), household, date!(2026 - 01 - 01)).unwrap()
}

#[test]
fn cold_season_aid_sits_between_the_minimum_income_and_its_multiple_in_the_cold_months() {
    // January 2022, one adult: VLMG 1,196 lei (from 2021-10-01), multiplier 2.6: eligible for
    // an income from 1,196 to under 3,109.6 lei; 700 lei a month.
    let alone = |date: &str, income: f64| household(date, vec![member("1970-01-01", Some(income))]);
    let january = estimate_of(&alone("2022-01-15", 2000.0));
    let aid = benefit(&january, "ajutor-perioada-rece");
    assert_eq!((aid.outcome, aid.amount), (Outcome::Eligible, Some(700.0)));
    let poorer = estimate_of(&alone("2022-01-15", 1000.0));
    assert_eq!(
        benefit(&poorer, "ajutor-perioada-rece").outcome,
        Outcome::NotEligible
    );
    assert_eq!(benefit(&poorer, "ajutor-social").amount, Some(196.0));
    let june = estimate_of(&alone("2022-06-15", 2000.0));
    assert_eq!(
        benefit(&june, "ajutor-perioada-rece").outcome,
        Outcome::NotEligible
    );
    let replaced = estimate_of(&alone("2024-01-15", 2000.0));
    let aid = benefit(&replaced, "ajutor-perioada-rece");
    assert_eq!(aid.outcome, Outcome::NotEligible);
    assert!(
        aid.reason
            .as_ref()
            .unwrap()
            .ro
            .contains("nu era în vigoare")
    );
}

#[test]
fn a_missing_income_cannot_tell_and_names_the_field() {
    let estimate = estimate_of(&household(
        "2025-06-30",
        vec![
            member("1990-01-01", Some(800.0)),
            member("2024-10-01", None),
        ],
    ));
    let aid = benefit(&estimate, "ajutor-social");
    assert_eq!(aid.outcome, Outcome::CannotTell);
    assert_eq!(aid.missing, ["members[1].monthlyIncome"]);
    let care = benefit(&estimate, "indemnizatie-ingrijire-copil");
    assert_eq!(
        (care.outcome, care.amount),
        (Outcome::Eligible, Some(1000.0))
    );
}

#[test]
fn a_day_before_the_first_figure_cannot_tell_and_says_which_figure() {
    // The catalog's first guaranteed minimum income applies from 2019-04-01.
    let estimate = estimate_of(&family("2019-03-31", 500.0));
    let aid = benefit(&estimate, "ajutor-social");
    assert_eq!(aid.outcome, Outcome::CannotTell);
    assert!(
        aid.missing
            .contains(&"parameter vlmg_adult for 2019-03-31".to_string()),
        "{:?}",
        aid.missing
    );
}

#[test]
fn past_the_last_known_figure_the_estimate_cannot_tell_rather_than_use_an_old_one() {
    // The guaranteed minimum income is indexed every 1 April; the 2026 figure was not found,
    // so in June 2026 it is unknown, not 2025's.
    let estimate = estimate_of(&family("2026-06-30", 1000.0));
    let aid = benefit(&estimate, "ajutor-social");
    assert_eq!(aid.outcome, Outcome::CannotTell);
    assert!(
        aid.missing
            .contains(&"parameter vlmg_adult for 2026-06-30".to_string()),
        "{:?}",
        aid.missing
    );
    // The day before, 2025's figure still holds.
    let estimate = estimate_of(&family("2026-03-31", 1000.0));
    assert_eq!(benefit(&estimate, "ajutor-social").amount, Some(4702.0));
}

#[test]
fn the_receipt_names_the_rule_set_and_changes_with_it() {
    let first = estimate_of(&family("2025-06-30", 1000.0));
    let again = estimate_of(&family("2025-06-30", 1000.0));
    assert_eq!(first.receipt.ruleset_hash, again.receipt.ruleset_hash);
    assert_eq!(first.receipt.input_digest, again.receipt.input_digest);
    assert_ne!(
        first.receipt.input_digest,
        estimate_of(&family("2025-06-30", 1001.0))
            .receipt
            .input_digest
    );
    assert!(first.notice.ro.contains("nu este o decizie"));

    // A copy of the catalog with one figure changed has another hash.
    let copy = tempfile_copy();
    let path = copy.join("parameters.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("value = 1749"));
    std::fs::write(&path, text.replacen("value = 1749", "value = 1750", 1)).unwrap();
    let changed = Catalog::load(&copy).unwrap();
    assert_ne!(changed.hash, catalog().hash);
    std::fs::remove_dir_all(copy).unwrap();
}

fn tempfile_copy() -> PathBuf {
    let target = std::env::temp_dir().join(format!("benefits-copy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&target);
    copy_dir(&catalog_dir(), &target);
    target
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

#[test]
fn a_rule_that_reads_an_undeclared_name_is_refused_at_load() {
    let copy = tempfile_copy();
    let path = copy.join("ajutor-social/benefit.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("uses = [\"venit_familie\", \"vlmg_familie\"]\nexpression = \"venit_familie < vlmg_familie\"", "uses = [\"venit_familie\", \"salariu\"]\nexpression = \"venit_familie < salariu\"")).unwrap();
    let error = Catalog::load(&copy).unwrap_err().to_string();
    std::fs::remove_dir_all(copy).unwrap();
    assert!(error.contains("uses `salariu`"), "{error}");
}

#[test]
fn the_state_allocation_of_a_child_with_a_disability_is_a_share_of_the_minimum_pension() {
    // June 2019, a child with a severe disability: 80 % of 809.50 lei = 647.60 lei.
    let child = |date: &str| {
        household(
            date,
            vec![
                member("1985-01-01", Some(3000.0)),
                Member {
                    disability: Some(esocial_benefits::Disability::Severe),
                    ..member("2012-05-05", Some(0.0))
                },
            ],
        )
    };
    let estimate = estimate_of(&child("2019-06-30"));
    let allocation = benefit(&estimate, "alocatie-sociala-de-stat");
    assert_eq!(allocation.outcome, Outcome::Eligible);
    assert_eq!(allocation.amount, Some(647.6));
    // In 2025 the child qualifies, but no minimum pension of that year was confirmed: the
    // amount is unknown, and the estimate names the figure.
    let estimate = estimate_of(&child("2025-06-30"));
    let allocation = benefit(&estimate, "alocatie-sociala-de-stat");
    assert_eq!(
        (allocation.outcome, allocation.amount),
        (Outcome::Eligible, None)
    );
    assert!(
        allocation
            .missing
            .contains(&"parameter pensie_minima_severa for 2025-06-30".to_string()),
        "{:?}",
        allocation.missing
    );
    // No child with a disability: nothing to evaluate, and the reason says so.
    let none = estimate_of(&family("2025-06-30", 0.0));
    let allocation = benefit(&none, "alocatie-sociala-de-stat");
    assert_eq!(allocation.outcome, Outcome::NotEligible);
    assert!(allocation.reason.is_some());
}

#[test]
fn the_twins_support_is_paid_for_each_child_of_a_multiple_birth_after_the_first() {
    let parents_and = |date: &str, children: &[&str]| {
        let mut members = vec![
            member("1992-02-02", Some(3000.0)),
            member("1993-03-03", Some(0.0)),
        ];
        members.extend(children.iter().map(|birth| member(birth, Some(0.0))));
        household(date, members)
    };
    // June 2021: 370 lei for the second twin (from 2021-01-01).
    let twins = estimate_of(&parents_and("2021-06-30", &["2020-05-05", "2020-05-05"]));
    let support = benefit(&twins, "indemnizatie-suport-gemeni");
    assert_eq!(
        (support.outcome, support.amount),
        (Outcome::Eligible, Some(370.0))
    );
    // June 2024: triplets and an older sibling: 2 × 500 lei (from 2022-10-01).
    let triplets = estimate_of(&parents_and(
        "2024-06-30",
        &["2023-01-10", "2023-01-10", "2023-01-10", "2019-08-08"],
    ));
    assert_eq!(
        benefit(&triplets, "indemnizatie-suport-gemeni").amount,
        Some(1000.0)
    );
    // Two children of different birthdays are no multiple birth.
    let siblings = estimate_of(&parents_and("2024-06-30", &["2023-01-10", "2024-02-11"]));
    assert_eq!(
        benefit(&siblings, "indemnizatie-suport-gemeni").outcome,
        Outcome::NotEligible
    );
    // The twins' third birthday ends it.
    let older = estimate_of(&parents_and("2023-05-05", &["2020-05-05", "2020-05-05"]));
    assert_eq!(
        benefit(&older, "indemnizatie-suport-gemeni").outcome,
        Outcome::NotEligible
    );
    // Before the first figure the catalog holds, the right is there but the amount unknown.
    let early = estimate_of(&parents_and("2020-06-30", &["2020-05-05", "2020-05-05"]));
    let support = benefit(&early, "indemnizatie-suport-gemeni");
    assert_eq!((support.outcome, support.amount), (Outcome::Eligible, None));
    assert_eq!(
        support.missing,
        ["parameter cuantum_pe_copil_suplimentar for 2020-06-30"]
    );
}
