//! The Fellegi–Sunter model: for every attribute and agreement level, the probability `m` of
//! seeing it when two records are the same person and `u` when they are not. A pair's score is
//! the sum of log2(m/u) over its attributes, with exact name agreement weighed by how common
//! the name is (term-frequency adjustment). `u` is estimated from random pairs, `m` learned by
//! expectation–maximisation over the pairs blocking proposes, starting from and held towards
//! the documented prior ([`Model::prior`]), so that EM moves `m` only as far as the data's
//! matches carry it. A trained model is accepted only if [`Model::check`] finds nothing wrong.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::compare::{ATTRIBUTES, Attribute, Comparison};

/// Probabilities are kept away from 0 and 1 so that no single attribute decides alone.
const PROBABILITY_FLOOR: f64 = 1e-5;
/// The rarest a name can count as, so that a one-off typo is not mistaken for a rare name.
const TERM_FREQUENCY_FLOOR: f64 = 1e-5;
const EM_ITERATIONS: usize = 40;
const EM_TOLERANCE: f64 = 1e-6;
/// The prior counts as this many matches seen: EM's `m` is (prior × this + expected counts) /
/// (this + expected matches), so a rule whose pairs hold few matches barely moves it.
const PRIOR_MATCHES: f64 = 200.0;
/// The prior `u` counts as this many random pairs.
const PRIOR_PAIRS: f64 = 100.0;
/// Fewer expected matches than this among the candidate pairs: the data has no duplicates to
/// learn from (a clean register loaded alone), and a model learned from it would be noise.
pub const MIN_EXPECTED_MATCHES: f64 = 50.0;
/// Most of the matches EM finds may disagree outright on a first name, a surname or a birth
/// date (typos and transliterations have levels of their own; maiden names are the bulk of
/// this): beyond it, EM has taken relatives or namesakes for duplicates.
const MAX_MATCHES_DISAGREEING: f64 = 0.35;

/// m and u per attribute and level, and the share of matches among candidate pairs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    pub m: Vec<Vec<f64>>,
    pub u: Vec<Vec<f64>>,
    /// Share of true matches among the pairs blocking proposes, as EM estimated it.
    pub match_share: f64,
    /// How the model was obtained: "prior" or "em".
    pub source: String,
    /// Candidate and random pairs the estimates rest on.
    pub candidate_pairs: usize,
    pub random_pairs: usize,
    /// EM's expected number of matches among the candidate pairs (0 for the prior).
    #[serde(default)]
    pub expected_matches: f64,
    /// Per attribute, the share of the matches EM found that disagree on it outright, as the
    /// pairs alone have it (before the prior is mixed in); empty for the prior.
    #[serde(default)]
    pub disagreement_among_matches: Vec<f64>,
    /// The sources whose records the pairs came from (none for the prior). Weights learned
    /// from one source never saw a pair across sources.
    #[serde(default)]
    pub sources: Vec<String>,
}

/// Why a trained model was refused; the index keeps the weights it had.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrainingRefused {
    #[error(
        "the pairs hold about {expected:.0} matches, fewer than the {minimum:.0} needed to learn from (a source without duplicates teaches nothing about matches)"
    )]
    TooFewMatches { expected: f64, minimum: f64 },
    #[error(
        "{attribute} `{level}` would weigh {weight:+.1}, less than `{differs}` ({differs_weight:+.1}): agreement cannot count for less than disagreement"
    )]
    Inverted {
        attribute: &'static str,
        level: &'static str,
        weight: f64,
        differs: &'static str,
        differs_weight: f64,
    },
    #[error(
        "the pairs EM took for matches disagree on {attribute} {share_percent:.0}% of the time (at most {limit_percent:.0}% is plausible): they are relatives or namesakes, not duplicates"
    )]
    Implausible {
        attribute: &'static str,
        share_percent: f64,
        limit_percent: f64,
    },
    #[error(
        "{attribute} `{level}` would weigh {weight:+.1}: agreeing on it would count against a match"
    )]
    AgreementAgainst {
        attribute: &'static str,
        level: &'static str,
        weight: f64,
    },
}

/// What one attribute added to a score.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Contribution {
    pub attribute: &'static str,
    pub level: &'static str,
    /// log2(m/u), after term-frequency adjustment.
    pub weight: f64,
    /// Set when a name agreed exactly and its weight reflects how common it is.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub term_frequency_adjusted: bool,
}

/// A pair's total match weight with its explanation.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Score {
    pub weight: f64,
    pub contributions: Vec<Contribution>,
}

/// The most agreement levels an attribute has.
const MOST_LEVELS: usize = 8;

/// A model's weights by attribute and level ([`Model::level_weights`]): the same total as
/// [`Model::score`] without the logarithms and the explanation.
#[derive(Debug, Clone)]
pub struct LevelWeights {
    by_level: [[f64; MOST_LEVELS]; ATTRIBUTES],
    exact_m: [f64; ATTRIBUTES],
}

impl LevelWeights {
    /// The weight [`Model::score`] gives this comparison.
    pub fn total(&self, comparison: &Comparison, frequencies: NameFrequencies) -> f64 {
        weigh(
            comparison,
            frequencies,
            |attribute, level| self.by_level[attribute.index()][level as usize],
            |attribute| self.exact_m[attribute.index()],
            |_, _, _, _| {},
        )
    }
}

/// Sums a comparison's weights, rounded to hundredths, telling `each` every attribute's level
/// and weight (and whether the name's frequency set it); `weight` gives log2(m/u) of a level,
/// `exact_m` the m of an exact agreement.
fn weigh(
    comparison: &Comparison,
    frequencies: NameFrequencies,
    weight: impl Fn(Attribute, u8) -> f64,
    exact_m: impl Fn(Attribute) -> f64,
    mut each: impl FnMut(Attribute, u8, f64, bool),
) -> f64 {
    let mut total = 0.0;
    for attribute in Attribute::ALL {
        let Some(level) = comparison.levels[attribute.index()] else {
            continue;
        };
        let frequency = match attribute {
            Attribute::FirstName => frequencies.first,
            Attribute::LastName => frequencies.last,
            _ => None,
        };
        let (weight, adjusted) = match frequency {
            Some(share) if level == 0 => (
                (exact_m(attribute) / share.max(TERM_FREQUENCY_FLOOR)).log2(),
                true,
            ),
            _ => (weight(attribute, level), false),
        };
        total += weight;
        each(attribute, level, weight, adjusted);
    }
    (total * 100.0).round() / 100.0
}

/// How common the agreeing names are: the share of records with that exact value.
#[derive(Debug, Clone, Copy, Default)]
pub struct NameFrequencies {
    pub first: Option<f64>,
    pub last: Option<f64>,
}

impl Default for Model {
    fn default() -> Self {
        Self::prior()
    }
}

impl Model {
    /// Hand-set starting values, used before any training and as EM's starting point: per
    /// attribute, `m` then `u` for each of its levels in the order of [`Attribute::levels`].
    /// `u` is what random pairs of a national register would show (for a birth date: the
    /// chance that two persons share it, a year or a month; for an identifier: one value in
    /// about a million, and ten times that for one a typo away); `m` is how often one person's
    /// records show each level when a clerk copies them (mostly exact, a few typos).
    pub fn prior() -> Self {
        let table = |attribute: Attribute| -> (Vec<f64>, Vec<f64>) {
            let (m, u): (&[f64], &[f64]) = match attribute {
                Attribute::Idnp => (&[0.93, 0.01, 0.03, 0.03], &[1e-6, 1e-7, 1e-5, 0.99999]),
                Attribute::FirstName => (&[0.85, 0.08, 0.05, 0.02], &[0.01, 0.005, 0.02, 0.965]),
                Attribute::LastName => (&[0.8, 0.08, 0.05, 0.07], &[0.005, 0.003, 0.01, 0.982]),
                Attribute::Patronymic => (&[0.95, 0.05], &[0.05, 0.95]),
                // A digit mistyped is likelier among one person's records than another day
                // of the same month; for random pairs it is rarer than the month alone.
                Attribute::BirthDate => (
                    &[0.84, 0.02, 0.05, 0.03, 0.01, 0.01, 0.02, 0.02],
                    &[3e-5, 1e-6, 1e-3, 7e-4, 5e-4, 0.01, 0.02, 0.96777],
                ),
                Attribute::Sex => (&[0.98, 0.02], &[0.5, 0.5]),
                Attribute::Address => (
                    &[0.6, 0.1, 0.15, 0.05, 0.1],
                    &[1e-4, 1e-3, 0.02, 0.05, 0.93],
                ),
                Attribute::Phone => (&[0.7, 0.3], &[1e-5, 0.99999]),
                // One typo away counts for less than agreeing (log2 m/u 11.6 against 19.7):
                // numbers issued in sequence are excluded from it, not made impossible.
                Attribute::Identifier => (&[0.88, 0.03, 0.09], &[1e-6, 1e-5, 0.999989]),
            };
            (m.to_vec(), u.to_vec())
        };
        let (m, u) = Attribute::ALL.iter().map(|a| table(*a)).unzip();
        Self {
            m,
            u,
            match_share: 0.1,
            source: "prior".into(),
            candidate_pairs: 0,
            random_pairs: 0,
            expected_matches: 0.0,
            disagreement_among_matches: Vec::new(),
            sources: Vec::new(),
        }
    }

    /// Whether the model has an `m` and a `u` for every level of every attribute (weights
    /// stored before a level was added do not).
    pub fn fits_levels(&self) -> bool {
        let fits = |table: &[Vec<f64>]| {
            table.len() == ATTRIBUTES
                && Attribute::ALL
                    .iter()
                    .all(|a| table[a.index()].len() == a.levels().len())
        };
        fits(&self.m) && fits(&self.u)
    }

    /// Whether the weights were learned from pairs of every one of `sources`.
    pub fn learned_from(&self, sources: &[String]) -> bool {
        self.source == "em" && sources.iter().all(|source| self.sources.contains(source))
    }

    /// Checks that the weights make sense: the pairs held enough matches to learn from, those
    /// matches mostly agree on names and birth date, every agreement level of an attribute
    /// weighs at least as much as its disagreement (the last level), and exact agreement
    /// counts for a match.
    pub fn check(&self) -> Result<(), TrainingRefused> {
        if self.source == "em" && self.expected_matches < MIN_EXPECTED_MATCHES {
            return Err(TrainingRefused::TooFewMatches {
                expected: self.expected_matches,
                minimum: MIN_EXPECTED_MATCHES,
            });
        }
        for attribute in [
            Attribute::FirstName,
            Attribute::LastName,
            Attribute::BirthDate,
        ] {
            let Some(&differs) = self.disagreement_among_matches.get(attribute.index()) else {
                continue;
            };
            if differs > MAX_MATCHES_DISAGREEING {
                return Err(TrainingRefused::Implausible {
                    attribute: attribute.name(),
                    share_percent: differs * 100.0,
                    limit_percent: MAX_MATCHES_DISAGREEING * 100.0,
                });
            }
        }
        for attribute in Attribute::ALL {
            let levels = attribute.levels();
            let last = (levels.len() - 1) as u8;
            let differs_weight = self.weight(attribute, last);
            let exact = self.weight(attribute, 0);
            if exact <= 0.0 {
                return Err(TrainingRefused::AgreementAgainst {
                    attribute: attribute.name(),
                    level: levels[0],
                    weight: exact,
                });
            }
            for level in 0..last {
                let weight = self.weight(attribute, level);
                if weight < differs_weight {
                    return Err(TrainingRefused::Inverted {
                        attribute: attribute.name(),
                        level: levels[level as usize],
                        weight,
                        differs: levels[last as usize],
                        differs_weight,
                    });
                }
            }
        }
        Ok(())
    }

    /// log2(m/u) of one attribute at one level.
    pub fn weight(&self, attribute: Attribute, level: u8) -> f64 {
        let (a, l) = (attribute.index(), level as usize);
        (self.m[a][l] / self.u[a][l]).log2()
    }

    /// Scores a comparison; exact name agreement is weighed by the name's frequency.
    pub fn score(&self, comparison: &Comparison, frequencies: NameFrequencies) -> Score {
        let mut contributions = Vec::with_capacity(ATTRIBUTES);
        let weight = weigh(
            comparison,
            frequencies,
            |attribute, level| self.weight(attribute, level),
            |attribute| self.m[attribute.index()][0],
            |attribute, level, weight, adjusted| {
                contributions.push(Contribution {
                    attribute: attribute.name(),
                    level: attribute.levels()[level as usize],
                    weight: (weight * 100.0).round() / 100.0,
                    term_frequency_adjusted: adjusted,
                });
            },
        );
        Score {
            weight,
            contributions,
        }
    }

    /// Every level's weight worked out once, for scoring many comparisons.
    pub fn level_weights(&self) -> LevelWeights {
        let mut weights = LevelWeights {
            by_level: [[0.0; MOST_LEVELS]; ATTRIBUTES],
            exact_m: [0.0; ATTRIBUTES],
        };
        for attribute in Attribute::ALL {
            let a = attribute.index();
            for level in 0..self.m[a].len().min(MOST_LEVELS) {
                weights.by_level[a][level] = self.weight(attribute, level as u8);
            }
            weights.exact_m[a] = self.m[a][0];
        }
        weights
    }

    /// Estimates `u` from random pairs (almost all non-matches), then `m` by EM with `u` held
    /// fixed, separately over the pairs each blocking rule proposes, leaving out the
    /// attributes that rule blocked on (they agree by construction there, so they say
    /// nothing). Each attribute's `m` is the average over the rules that could estimate it,
    /// weighted by their expected matches.
    ///
    /// `sources` names the sources the pairs came from. The result is not checked; see
    /// [`Model::check`].
    pub fn train(
        &self,
        blocks: &[TrainingBlock],
        random: &[Comparison],
        sources: Vec<String>,
    ) -> Self {
        let mut model = self.clone();
        if !random.is_empty() {
            for attribute in Attribute::ALL {
                let a = attribute.index();
                // The prior counts as a few random pairs, so that an attribute the random
                // pairs rarely or never compare keeps its documented `u`.
                let mut counts: Vec<f64> = self.u[a].iter().map(|u| u * PRIOR_PAIRS).collect();
                for comparison in random {
                    if let Some(level) = comparison.levels[a] {
                        counts[level as usize] += 1.0;
                    }
                }
                let total: f64 = counts.iter().sum();
                model.u[a] = counts.iter().map(|c| clamp(c / total)).collect();
            }
        }
        let mut m_sums: Vec<Vec<f64>> = model.m.iter().map(|l| vec![0.0; l.len()]).collect();
        let mut m_weights = [0.0; ATTRIBUTES];
        let mut matches = 0.0;
        let mut pairs = 0.0;
        let mut raw: Vec<Vec<f64>> = model.m.iter().map(|l| vec![0.0; l.len()]).collect();
        for block in blocks.iter().filter(|b| !b.pairs.is_empty()) {
            let (m, expected_matches, counts) = em_for_block(&model, block);
            matches += expected_matches;
            pairs += block.pairs.len() as f64;
            for attribute in Attribute::ALL {
                let a = attribute.index();
                if block.excluded.contains(&attribute) || expected_matches <= 0.0 {
                    continue;
                }
                for (level, p) in m[a].iter().enumerate() {
                    m_sums[a][level] += p * expected_matches;
                    raw[a][level] += counts[a][level];
                }
                m_weights[a] += expected_matches;
            }
        }
        for a in 0..ATTRIBUTES {
            if m_weights[a] > 0.0 {
                model.m[a] = m_sums[a].iter().map(|s| clamp(s / m_weights[a])).collect();
                // Clamping can raise a rare disagreement's `m`; keep the order after it.
                keep_agreement_above_disagreement(&mut model.m[a], &model.u[a]);
            }
        }
        if pairs > 0.0 {
            model.match_share = clamp(matches / pairs);
        }
        model.source = "em".into();
        model.candidate_pairs = blocks.iter().map(|b| b.pairs.len()).sum();
        model.random_pairs = random.len();
        model.expected_matches = matches;
        model.disagreement_among_matches = raw
            .iter()
            .map(|counts| {
                let sum: f64 = counts.iter().sum();
                if sum > 0.0 {
                    counts[counts.len() - 1] / sum
                } else {
                    0.0
                }
            })
            .collect();
        model.sources = sources;
        model
    }
}

/// The pairs one blocking rule proposed, and the attributes it blocked on.
#[derive(Debug, Clone, Default)]
pub struct TrainingBlock {
    pub rule: &'static str,
    pub excluded: Vec<Attribute>,
    pub pairs: Vec<Comparison>,
}

/// EM over one rule's pairs with `u` fixed: returns `m`, the expected number of matches, and
/// the expected matches at each level as the data alone has them (without the prior).
fn em_for_block(start: &Model, block: &TrainingBlock) -> (Vec<Vec<f64>>, f64, Vec<Vec<f64>>) {
    let mut patterns: HashMap<[Option<u8>; ATTRIBUTES], f64> = HashMap::new();
    for comparison in &block.pairs {
        let mut levels = comparison.levels;
        for attribute in &block.excluded {
            levels[attribute.index()] = None;
        }
        *patterns.entry(levels).or_default() += 1.0;
    }
    let mut m = start.m.clone();
    let mut share = 0.5;
    let mut expected_matches = 0.0;
    let mut m_counts: Vec<Vec<f64>> = Vec::new();
    for _ in 0..EM_ITERATIONS {
        m_counts = m.iter().map(|l| vec![0.0; l.len()]).collect();
        expected_matches = 0.0;
        let mut total = 0.0;
        for (levels, count) in &patterns {
            let mut log_m = f64::ln(share);
            let mut log_u = f64::ln(1.0 - share);
            for (a, level) in levels.iter().enumerate() {
                if let Some(level) = level {
                    log_m += m[a][*level as usize].ln();
                    log_u += start.u[a][*level as usize].ln();
                }
            }
            let posterior = 1.0 / (1.0 + (log_u - log_m).exp());
            expected_matches += posterior * count;
            total += count;
            for (a, level) in levels.iter().enumerate() {
                if let Some(level) = level {
                    m_counts[a][*level as usize] += posterior * count;
                }
            }
        }
        let mut change: f64 = 0.0;
        for (a, counts) in m_counts.iter().enumerate() {
            let sum: f64 = counts.iter().sum();
            if sum <= 0.0 {
                continue;
            }
            let mut updated: Vec<f64> = counts
                .iter()
                .zip(&start.m[a])
                .map(|(count, prior)| (count + PRIOR_MATCHES * prior) / (sum + PRIOR_MATCHES))
                .collect();
            keep_agreement_above_disagreement(&mut updated, &start.u[a]);
            for (level, updated) in updated.into_iter().enumerate() {
                let updated = clamp(updated);
                change = change.max((updated - m[a][level]).abs());
                m[a][level] = updated;
            }
        }
        let updated_share = clamp(expected_matches / total);
        change = change.max((updated_share - share).abs());
        share = updated_share;
        if change < EM_TOLERANCE {
            break;
        }
    }
    (m, expected_matches, m_counts)
}

/// EM's `m` for one attribute, constrained to the order its levels imply: no agreement level
/// may weigh less than the last level (disagreement). A level below it is raised to weigh the
/// same, and the distribution renormalised (which keeps every ratio, so the order holds).
/// Without this, pairs of relatives that EM half counts as matches can make an agreement look
/// like evidence against a match.
fn keep_agreement_above_disagreement(m: &mut [f64], u: &[f64]) {
    let last = m.len() - 1;
    let floor = m[last] / u[last];
    for level in 0..last {
        m[level] = m[level].max(floor * u[level]);
    }
    let sum: f64 = m.iter().sum();
    for p in m.iter_mut() {
        *p /= sum;
    }
}

fn clamp(p: f64) -> f64 {
    p.clamp(PROBABILITY_FLOOR, 1.0 - PROBABILITY_FLOOR)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::level;

    fn comparison(levels: &[(Attribute, u8)]) -> Comparison {
        let mut all = [None; ATTRIBUTES];
        for (attribute, level) in levels {
            all[attribute.index()] = Some(*level);
        }
        Comparison {
            levels: all,
            names_swapped: false,
            idnp_conflict: false,
        }
    }

    #[test]
    fn a_common_surname_counts_for_less_than_a_rare_one() {
        let model = Model::prior();
        let pair = comparison(&[(Attribute::LastName, 0), (Attribute::FirstName, 0)]);
        let common = model.score(
            &pair,
            NameFrequencies {
                first: Some(0.03),
                last: Some(0.02),
            },
        );
        let rare = model.score(
            &pair,
            NameFrequencies {
                first: Some(0.03),
                last: Some(0.0001),
            },
        );
        assert!(rare.weight > common.weight + 5.0, "{rare:?} vs {common:?}");
        assert!(rare.contributions[1].term_frequency_adjusted);
    }

    #[test]
    fn explanations_list_every_compared_attribute() {
        let model = Model::prior();
        let pair = comparison(&[(Attribute::BirthDate, 0), (Attribute::Sex, 1)]);
        let score = model.score(&pair, NameFrequencies::default());
        let described: Vec<(&str, &str)> = score
            .contributions
            .iter()
            .map(|c| (c.attribute, c.level))
            .collect();
        assert_eq!(described, vec![("birthDate", "exact"), ("sex", "differs")]);
        assert!(score.contributions[0].weight > 0.0);
        assert!(score.contributions[1].weight < 0.0);
        let sum: f64 = score.contributions.iter().map(|c| c.weight).sum();
        assert!((sum - score.weight).abs() < 0.02);
    }

    #[test]
    fn em_recovers_m_probabilities_from_unlabelled_pairs() {
        // Three conditionally independent attributes; 1,000 matches among 5,000 pairs.
        let mut state = 7u64;
        let mut chance = |per_mille: u64| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) % 1000 < per_mille
        };
        let mut pair = |date: u64, name: u64, place: u64| {
            let date = if chance(date) { 0 } else { level::DATE_DIFFERS };
            let name = if chance(name) { 0 } else { 3 };
            let place = if chance(place) { 0 } else { 4 };
            comparison(&[
                (Attribute::BirthDate, date),
                (Attribute::FirstName, name),
                (Attribute::Address, place),
            ])
        };
        let mut candidates: Vec<Comparison> = (0..1000).map(|_| pair(900, 950, 700)).collect();
        candidates.extend((0..4000).map(|_| pair(10, 30, 100)));
        let random: Vec<Comparison> = (0..10_000).map(|_| pair(10, 30, 100)).collect();
        let block = TrainingBlock {
            rule: "test",
            excluded: Vec::new(),
            pairs: candidates,
        };
        let trained = Model::prior().train(&[block], &random, vec!["test".into()]);
        let m = |a: Attribute, level: usize| trained.m[a.index()][level];
        assert!(
            (m(Attribute::BirthDate, 0) - 0.9).abs() < 0.05,
            "{trained:?}"
        );
        assert!((m(Attribute::Address, 0) - 0.7).abs() < 0.05, "{trained:?}");
        assert!((trained.u[Attribute::FirstName.index()][0] - 0.03).abs() < 0.02);
        assert!(
            (trained.match_share - 0.2).abs() < 0.03,
            "share = {}",
            trained.match_share
        );
        assert_eq!(trained.source, "em");
    }

    /// Pairs from a register without duplicates: relatives who share a surname, an address
    /// and often a birth year, and differ on the first name.
    fn relatives(count: usize) -> Vec<Comparison> {
        (0..count)
            .map(|i| {
                comparison(&[
                    (Attribute::LastName, 0),
                    (Attribute::Address, 0),
                    (Attribute::FirstName, if i % 10 == 0 { 2 } else { 3 }),
                    (
                        Attribute::BirthDate,
                        if i % 3 == 0 {
                            level::DATE_SAME_YEAR
                        } else {
                            level::DATE_DIFFERS
                        },
                    ),
                ])
            })
            .collect()
    }

    fn strangers(count: usize) -> Vec<Comparison> {
        (0..count)
            .map(|i| {
                comparison(&[
                    (Attribute::LastName, if i % 50 == 0 { 0 } else { 3 }),
                    (Attribute::Address, 4),
                    (Attribute::FirstName, if i % 30 == 0 { 0 } else { 3 }),
                    (Attribute::BirthDate, level::DATE_DIFFERS),
                ])
            })
            .collect()
    }

    #[test]
    fn the_prior_passes_its_own_checks() {
        assert_eq!(Model::prior().check(), Ok(()));
        assert!(Model::prior().fits_levels());
        for attribute in Attribute::ALL {
            let (m, u) = (
                &Model::prior().m[attribute.index()],
                &Model::prior().u[attribute.index()],
            );
            for table in [m, u] {
                let sum: f64 = table.iter().sum();
                assert!((sum - 1.0).abs() < 2e-3, "{}: {table:?}", attribute.name());
            }
        }
    }

    #[test]
    fn weights_stored_before_a_level_was_added_do_not_fit() {
        let mut stored = Model::prior();
        let date = Attribute::BirthDate.index();
        stored.m[date].pop();
        stored.u[date].pop();
        assert!(!stored.fits_levels());
    }

    #[test]
    fn weights_learned_from_relatives_alone_are_refused() {
        let block = TrainingBlock {
            rule: "names-locality",
            excluded: Vec::new(),
            pairs: relatives(3000),
        };
        let trained = Model::prior().train(&[block], &strangers(20_000), vec!["register".into()]);
        match trained.check() {
            Err(TrainingRefused::Implausible { attribute, .. }) => {
                assert_eq!(attribute, "firstName", "{trained:?}")
            }
            other => panic!("expected a refusal, got {other:?} for {trained:?}"),
        }
    }

    #[test]
    fn pairs_without_matches_teach_nothing_and_are_refused() {
        let block = TrainingBlock {
            rule: "names-locality",
            excluded: Vec::new(),
            pairs: strangers(3000),
        };
        let trained = Model::prior().train(&[block], &strangers(20_000), vec!["register".into()]);
        assert!(
            matches!(trained.check(), Err(TrainingRefused::TooFewMatches { .. })),
            "{trained:?}"
        );
    }

    #[test]
    fn an_agreement_weighing_less_than_disagreement_is_refused_and_em_never_learns_one() {
        let mut inverted = Model::prior();
        let date = Attribute::BirthDate.index();
        // `same-year` far rarer among matches than outright disagreement.
        inverted.m[date] = vec![0.84, 0.02, 0.05, 0.03, 0.01, 1e-5, 0.02, 0.02999];
        let refused = inverted.check().unwrap_err();
        assert!(
            matches!(
                refused,
                TrainingRefused::Inverted {
                    level: "same-year",
                    ..
                }
            ),
            "{refused}"
        );
        assert!(refused.to_string().contains("birthDate `same-year`"));

        // Matches that never show `same-year`, and some that disagree outright: EM keeps
        // `same-year` at least as heavy as `differs`.
        let mut pairs: Vec<Comparison> = (0..2000)
            .map(|i| {
                comparison(&[
                    (Attribute::FirstName, 0),
                    (Attribute::LastName, 0),
                    (
                        Attribute::BirthDate,
                        if i % 10 == 0 { level::DATE_DIFFERS } else { 0 },
                    ),
                ])
            })
            .collect();
        pairs.extend(strangers(2000));
        let block = TrainingBlock {
            rule: "test",
            excluded: Vec::new(),
            pairs,
        };
        let trained =
            Model::prior().train(&[block], &strangers(20_000), vec!["a".into(), "b".into()]);
        let weight = |level| trained.weight(Attribute::BirthDate, level);
        for agreement in 0..level::DATE_DIFFERS {
            assert!(
                weight(agreement) >= weight(level::DATE_DIFFERS) - 1e-9,
                "level {agreement}: {trained:?}"
            );
        }
        assert_eq!(trained.check(), Ok(()), "{trained:?}");
        assert!(trained.learned_from(&["a".into(), "b".into()]));
        assert!(!trained.learned_from(&["a".into(), "c".into()]));
    }
}
