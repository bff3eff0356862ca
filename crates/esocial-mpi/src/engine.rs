//! The master index's operations: match, register, link, unlink, merge, undo, review
//! decisions and person views. Each operation is planned against the in-memory index, written
//! to the store in one transaction, and only then applied in memory, so a failed write changes
//! nothing. Writers are serialised, so two registrations of the same new person make one
//! person.

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::compare::level::{
    ADDRESS_SAME_HOUSE, AGREES, DATE_DAY_MONTH_SWAPPED, DATE_DIFFERS, DATE_ONE_DIGIT,
    DATE_SAME_YEAR, DIFFERS, IDENTIFIER_AGREES, IDENTIFIER_ONE_TYPO, IDNP_DIFFERS, IDNP_EXACT,
    IDNP_ONE_TYPO, NAME_DIFFERS, NAME_SOUNDS_ALIKE, NAME_TYPO,
};
use crate::compare::{Attribute, Features};
use crate::index::{Candidate, Index, Link, NameCounts, PersonId, RecordRef, SlotSet};
use crate::model::{Contribution, Model};
use crate::record::{IdnpDigits, IdnpEvidence, RecordError, SourceRecord};
use esocial_store::{
    MpiAuditRow, MpiBatch, MpiHistoryRow, MpiNonMatchRow, MpiPersonRow, MpiRecordRow, MpiRelink,
    MpiReviewRow, Store, StoreError, now_millis,
};
use esocial_wire::crypto::sealing::Sealer;

/// Match-weight thresholds (sums of log2 m/u) of the three outcomes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// At or above: linked automatically (if nothing calls for a human).
    pub auto_link: f64,
    /// At or above (and below `auto_link`): a possible match for the review queue.
    pub review: f64,
}

impl Default for Thresholds {
    /// Measured on the linkage benchmark (`scripts/bench-mpi-linkage.sh`): from 20 down to 16,
    /// F1 rose on every data set with pairwise precision still at or above 0.999; at 14 a
    /// register without duplicates began to link records of different persons.
    fn default() -> Self {
        Self {
            auto_link: 16.0,
            review: 8.0,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MpiError {
    #[error("invalid record: {0}")]
    InvalidRecord(#[from] RecordError),
    #[error("no person with this id")]
    UnknownPerson,
    #[error("no source record with this source and localId")]
    UnknownRecord,
    #[error("no review with this id")]
    UnknownReview,
    #[error("no history entry with this id")]
    UnknownEntry,
    /// The request is valid but the index's state does not allow it; `code` is stable.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("master index storage failed: {0}")]
    Store(#[from] StoreError),
    #[error("stored record cannot be opened: {0}")]
    Sealing(String),
}

fn conflict(code: &'static str, message: impl Into<String>) -> MpiError {
    MpiError::Conflict {
        code,
        message: message.into(),
    }
}

/// What matching concluded for a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    AutoLink,
    Review,
    NoMatch,
}

/// A candidate person as the API shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CandidateView {
    pub person_id: PersonId,
    pub weight: f64,
    /// What this candidate alone would lead to.
    pub outcome: Outcome,
    /// Why a high score still needs a human, if it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub needs_review_because: Option<&'static str>,
    /// Why this candidate is somebody else whatever its score (twins, siblings), if it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub another_person_because: Option<&'static str>,
    pub matched_record: RecordRef,
    pub names_swapped: bool,
    pub idnp_conflict: bool,
    pub explanation: Vec<Contribution>,
}

/// The result of `POST /persons/match`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MatchResult {
    pub outcome: Outcome,
    pub candidates: Vec<CandidateView>,
}

/// The result of registering a record.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Registration {
    pub person_id: PersonId,
    pub outcome: Outcome,
    /// A new person was created for the record.
    pub created_person: bool,
    /// The record was already known (its attributes were replaced).
    pub updated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    pub history_entry: Uuid,
}

/// A record's membership of a person, as history keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Membership {
    pub person: PersonId,
    pub link: Link,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordChange {
    pub record: RecordRef,
    pub before: Option<Membership>,
    pub after: Option<Membership>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersonChange {
    pub person: PersonId,
    pub merged_into_before: Option<PersonId>,
    pub merged_into_after: Option<PersonId>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NonMatchChange {
    pub record: RecordRef,
    pub person: PersonId,
    /// `true`: the decision was recorded; `false`: it was withdrawn.
    pub added: bool,
}

/// The exact before and after state of everything one operation changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Changes {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub records: Vec<RecordChange>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub persons: Vec<PersonChange>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub non_matches: Vec<NonMatchChange>,
}

impl Changes {
    fn persons(&self) -> Vec<String> {
        let mut persons: Vec<String> = Vec::new();
        let mut add = |p: &PersonId| {
            let p = p.to_string();
            if !persons.contains(&p) {
                persons.push(p);
            }
        };
        for change in &self.records {
            for membership in change.before.iter().chain(change.after.iter()) {
                add(&membership.person);
            }
        }
        for change in &self.persons {
            add(&change.person);
            for target in change
                .merged_into_after
                .iter()
                .chain(&change.merged_into_before)
            {
                add(target);
            }
        }
        for change in &self.non_matches {
            add(&change.person);
        }
        persons
    }

    /// The changes that take the state back from `after` to `before`.
    fn inverse(&self) -> Result<Self, MpiError> {
        let mut records = Vec::new();
        for change in &self.records {
            if change.before.is_none() {
                return Err(conflict(
                    "not-undoable",
                    "the entry registered a new record; unlink it instead of undoing",
                ));
            }
            records.push(RecordChange {
                record: change.record.clone(),
                before: change.after.clone(),
                after: change.before.clone(),
            });
        }
        Ok(Self {
            records,
            persons: self
                .persons
                .iter()
                .map(|p| PersonChange {
                    person: p.person,
                    merged_into_before: p.merged_into_after,
                    merged_into_after: p.merged_into_before,
                })
                .collect(),
            non_matches: self
                .non_matches
                .iter()
                .map(|n| NonMatchChange {
                    record: n.record.clone(),
                    person: n.person,
                    added: !n.added,
                })
                .collect(),
        })
    }
}

/// One change to make to the in-memory index once the store has it.
enum IndexOp {
    EnsurePerson(PersonId, i64),
    Upsert(RecordRef, Box<Features>, PersonId, Link),
    Relink(RecordRef, PersonId, Link),
    MergedInto(PersonId, Option<PersonId>),
    NonMatch(RecordRef, PersonId, bool),
    ReviewOpened(RecordRef, PersonId),
    ReviewClosed(RecordRef, PersonId),
}

/// What an operation will change: rows for the store and steps for the index.
#[derive(Default)]
pub struct Plan {
    pub batch: MpiBatch,
    ops: Vec<IndexOp>,
    /// The records (slots) a registered record was compared with and came close to
    /// (reaching the review weight).
    neighbours: Vec<u32>,
}

impl Plan {
    /// A new, empty person.
    fn add_person(&mut self, person: PersonId, now: i64) {
        self.batch.persons.push(MpiPersonRow {
            id: person.to_string(),
            created_at: now,
            merged_into: None,
        });
        self.ops.push(IndexOp::EnsurePerson(person, now));
    }
}

/// What matching concluded for one record.
struct Decision<'a> {
    outcome: Outcome,
    candidate: Option<&'a Candidate>,
    also_matches: Option<&'a Candidate>,
}

impl Default for Decision<'_> {
    fn default() -> Self {
        Self {
            outcome: Outcome::NoMatch,
            candidate: None,
            also_matches: None,
        }
    }
}

/// A record as the person view shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkedRecord {
    pub source: String,
    pub local_id: String,
    pub link: Link,
    pub attributes: SourceRecord,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PersonView {
    pub person_id: PersonId,
    /// `active`, `merged` (see `mergedInto`) or `empty` (every record left).
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<PersonId>,
    pub records: Vec<LinkedRecord>,
    /// `idnp`: the person's records carry different valid IDNPs.
    pub conflicts: Vec<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    pub id: String,
    pub action: String,
    pub actor: String,
    pub at: i64,
    pub changes: Changes,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub undoes: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub undone_by: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Review {
    pub id: String,
    pub record: RecordRef,
    pub candidate_person_id: String,
    pub weight: f64,
    pub reason: String,
    pub explanation: Value,
    pub status: String,
    pub created_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<i64>,
}

/// A reviewer's verdict on a possible match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Match,
    NonMatch,
}

/// How the exchange flow names its subject when it does not give an IDNP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubjectRef {
    Person(PersonId),
    Record(RecordRef),
}

/// Why a subject reference cannot be turned into one IDNP.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubjectError {
    #[error("the master index has no such person or record")]
    Unknown,
    #[error("no record of this person carries a valid IDNP")]
    NoIdnp,
    #[error("this person's records carry different valid IDNPs; resolve the conflict first")]
    ConflictingIdnps,
    #[error("records of several persons carry this IDNP; a steward must resolve it first")]
    SeveralPersons,
}

/// Passes of a relink at most: a pass touches each person once, so moves that meet a person
/// already touched wait for the next pass.
const MAX_RELINK_PASSES: usize = 4;

/// What [`MasterIndex::relink`] did.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RelinkSummary {
    /// Records with an automatic link, re-evaluated.
    pub examined: usize,
    /// Records a human placed (pinned), left where they are.
    pub pinned: usize,
    /// Records moved to another person.
    pub moved: usize,
    /// Records that left their person for one of their own.
    pub split: usize,
    pub reviews_opened: usize,
    pub reviews_withdrawn: usize,
    pub passes: usize,
    /// One history entry per pass that moved records, newest first: the order to undo them.
    pub history_entries: Vec<String>,
}

impl RelinkSummary {
    /// The counts, as the audit record of a relink keeps them.
    pub fn audit_outcome(&self) -> String {
        format!(
            "moved={} split={} reviews_opened={} reviews_withdrawn={}",
            self.moved, self.split, self.reviews_opened, self.reviews_withdrawn
        )
    }
}

/// The open reviews a relink works with: by record, the candidate persons and review ids.
#[derive(Default)]
struct OpenReviews(HashMap<RecordRef, Vec<(PersonId, String)>>);

impl OpenReviews {
    fn insert(&mut self, record: RecordRef, person: PersonId, id: String) {
        self.0.entry(record).or_default().push((person, id));
    }

    fn contains(&self, record: &RecordRef, person: &PersonId) -> bool {
        self.0
            .get(record)
            .is_some_and(|open| open.iter().any(|(p, _)| p == person))
    }

    fn persons_of(&self, record: &RecordRef) -> impl Iterator<Item = PersonId> + '_ {
        self.0.get(record).into_iter().flatten().map(|(p, _)| *p)
    }

    /// Takes the review out; returns its id.
    fn remove(&mut self, record: &RecordRef, person: &PersonId) -> Option<String> {
        let open = self.0.get_mut(record)?;
        let at = open.iter().position(|(p, _)| p == person)?;
        let (_, id) = open.swap_remove(at);
        if open.is_empty() {
            self.0.remove(record);
        }
        Some(id)
    }
}

/// Records whose candidates a relink searches at once, on every core, before deciding them
/// one by one in order.
const RELINK_SEARCH_CHUNK: usize = 4_096;

/// Where a relink takes a record.
enum Move<'a> {
    To(&'a Candidate),
    Out,
}

/// The master index: the in-memory index, its store and its settings.
pub struct MasterIndex {
    index: RwLock<Index>,
    writer: tokio::sync::Mutex<()>,
    open_reviews: RwLock<HashSet<(RecordRef, PersonId)>>,
    /// Records a bulk registration left unsettled: see [`MasterIndex::relink_unsettled`].
    unsettled: std::sync::Mutex<SlotSet>,
    store: Store,
    sealer: Sealer,
    thresholds: Thresholds,
}

fn relink_row(record: &RecordRef, person: PersonId, link: &Link) -> MpiRelink {
    MpiRelink {
        source: record.source.clone(),
        local_id: record.local_id.clone(),
        person_id: person.to_string(),
        link: serde_json::to_string(link).expect("links serialise"),
    }
}

impl MasterIndex {
    /// Loads the index from the store: the model, persons, records (unsealed to compute their
    /// features) and human decisions. `progress` is told the number of records loaded.
    pub async fn load(
        store: Store,
        sealer: Sealer,
        thresholds: Thresholds,
        mut progress: impl FnMut(usize),
    ) -> Result<Self, MpiError> {
        let model = match store.mpi_model().await? {
            Some(json) => serde_json::from_str::<Model>(&json)
                .map_err(|e| MpiError::Store(StoreError::Corrupt(format!("mpi model: {e}"))))?,
            None => Model::prior(),
        };
        // Weights stored before an attribute gained or lost a level no longer fit: the prior
        // stands in until the next import or `mpi train` learns them again.
        let model = if model.fits_levels() {
            model
        } else {
            Model::prior()
        };
        let mut index = Index::new(model);
        for person in store.mpi_persons().await? {
            let id = parse_person(&person.id)?;
            index.ensure_person(id, person.created_at);
            if let Some(target) = person.merged_into {
                index.set_merged_into(id, Some(parse_person(&target)?));
            }
        }
        let mut loaded = 0;
        let mut failure = None;
        store
            .mpi_each_record(|row| {
                let attributes = match open_record(&sealer, &row.sealed_attributes) {
                    Ok(attributes) => attributes,
                    Err(error) => {
                        failure = Some(error);
                        return Err(StoreError::Corrupt("sealed record".into()));
                    }
                };
                let features = Features::of(&attributes, index.interner())
                    .map_err(|e| StoreError::Corrupt(format!("stored record: {e}")))?;
                let link: Link = serde_json::from_str(&row.link)
                    .map_err(|e| StoreError::Corrupt(format!("stored link: {e}")))?;
                let person = Uuid::parse_str(&row.person_id)
                    .map_err(|_| StoreError::Corrupt("stored person id".into()))?;
                let record = RecordRef {
                    source: row.source,
                    local_id: row.local_id,
                };
                index.upsert(record, features, person, link);
                loaded += 1;
                if loaded % 10_000 == 0 {
                    progress(loaded);
                }
                Ok(())
            })
            .await
            .map_err(|error| failure.take().unwrap_or(MpiError::Store(error)))?;
        progress(loaded);
        for row in store.mpi_non_match_rows().await? {
            let record = RecordRef {
                source: row.source,
                local_id: row.local_id,
            };
            index.add_non_match(&record, parse_person(&row.person_id)?);
        }
        let mut open_reviews = HashSet::new();
        let mut offset = 0;
        loop {
            let page = store.mpi_reviews("open", 1000, offset).await?;
            if page.is_empty() {
                break;
            }
            offset += page.len() as i64;
            for review in page {
                open_reviews.insert((
                    RecordRef {
                        source: review.source,
                        local_id: review.local_id,
                    },
                    parse_person(&review.person_id)?,
                ));
            }
        }
        Ok(Self {
            index: RwLock::new(index),
            writer: tokio::sync::Mutex::new(()),
            open_reviews: RwLock::new(open_reviews),
            unsettled: std::sync::Mutex::default(),
            store,
            sealer,
            thresholds,
        })
    }

    pub fn thresholds(&self) -> Thresholds {
        self.thresholds
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Live records and persons.
    pub fn counts(&self) -> (usize, usize) {
        let index = self.read();
        (index.record_count(), index.person_count())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Index> {
        self.index.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Candidates for a record, with scores and explanations. Changes nothing.
    pub fn find(&self, record: &SourceRecord, limit: usize) -> Result<MatchResult, MpiError> {
        record.check()?;
        let features = Features::of(record, &mut crate::compare::NoInterning)?;
        let index = self.read();
        let candidates = index.candidates(&features, None);
        let outcome = self.decide(&candidates).outcome;
        let views = candidates
            .iter()
            .take(limit)
            .map(|c| self.view(c))
            .collect();
        Ok(MatchResult {
            outcome,
            candidates: views,
        })
    }

    fn view(&self, candidate: &Candidate) -> CandidateView {
        let another_person_because = another_person(candidate);
        let needs_review_because =
            needs_human(candidate).filter(|_| another_person_because.is_none());
        let outcome = if another_person_because.is_some() {
            Outcome::NoMatch
        } else if candidate.score.weight >= self.thresholds.auto_link
            && needs_review_because.is_none()
        {
            Outcome::AutoLink
        } else if candidate.score.weight >= self.thresholds.review
            || (needs_review_because.is_some()
                && candidate.score.weight >= self.thresholds.auto_link)
        {
            Outcome::Review
        } else {
            Outcome::NoMatch
        };
        CandidateView {
            person_id: candidate.person,
            weight: candidate.score.weight,
            outcome,
            needs_review_because: needs_review_because
                .filter(|_| candidate.score.weight >= self.thresholds.review),
            another_person_because,
            matched_record: candidate.record.to_record_ref(),
            names_swapped: candidate.comparison.names_swapped,
            idnp_conflict: candidate.idnp_conflict,
            explanation: candidate.score.contributions.clone(),
        }
    }

    /// The outcome for a record given its candidates (already stripped of persons a human
    /// ruled out): the candidate it concerns, and a second person that matches as well as the
    /// first (the index may hold that person twice; a human should look). Candidates below the
    /// review weight never change it, so registration scores only those reaching it.
    fn decide<'a>(&self, candidates: &'a [Candidate]) -> Decision<'a> {
        let auto_link = self.thresholds.auto_link;
        // Different valid IDNPs and a score that would not link anyway: different people
        // (usually relatives sharing a surname and an address), not worth a review.
        let mut plausible = candidates
            .iter()
            .filter(|c| !(c.idnp_conflict && c.score.weight < auto_link))
            .filter(|c| another_person(c).is_none());
        let Some(top) = plausible
            .next()
            .filter(|c| c.score.weight >= self.thresholds.review)
        else {
            return Decision::default();
        };
        if top.score.weight >= auto_link && needs_human(top).is_none() {
            let also = plausible
                .next()
                .filter(|c| c.score.weight >= auto_link && needs_human(c).is_none());
            Decision {
                outcome: Outcome::AutoLink,
                candidate: Some(top),
                also_matches: also,
            }
        } else {
            Decision {
                outcome: Outcome::Review,
                candidate: Some(top),
                also_matches: None,
            }
        }
    }

    /// Registers or updates a source record and links it. Serialised with every other change.
    pub async fn register(
        &self,
        source: &str,
        record: &SourceRecord,
        actor: &str,
    ) -> Result<Registration, MpiError> {
        check_source(source)?;
        record.check()?;
        let _writer = self.writer.lock().await;
        let (plan, registration) = {
            let mut index = self.write();
            let features = Features::of(record, index.interner())?;
            let reviews = self.open_reviews.read().unwrap_or_else(|e| e.into_inner());
            self.plan_register(
                &index,
                &reviews,
                source,
                record,
                features,
                actor,
                now_millis(),
            )?
        };
        self.commit(plan).await?;
        Ok(registration)
    }

    /// Writes a plan's rows, then applies it to the index.
    async fn commit(&self, plan: Plan) -> Result<(), MpiError> {
        self.store.mpi_apply(&plan.batch).await?;
        self.apply(plan.ops);
        Ok(())
    }

    fn apply(&self, ops: Vec<IndexOp>) {
        let mut index = self.write();
        let mut reviews = self.open_reviews.write().unwrap_or_else(|e| e.into_inner());
        apply_ops(&mut index, &mut reviews, ops);
    }

    #[allow(clippy::too_many_arguments)]
    fn plan_register(
        &self,
        index: &Index,
        open_reviews: &HashSet<(RecordRef, PersonId)>,
        source: &str,
        record: &SourceRecord,
        features: Features,
        actor: &str,
        now: i64,
    ) -> Result<(Plan, Registration), MpiError> {
        let key = RecordRef {
            source: source.to_owned(),
            local_id: record.local_id.trim().to_owned(),
        };
        let existing = index.slot(&key).map(|slot| Membership {
            person: slot.person,
            link: slot.link.clone(),
        });
        let mut plan = Plan::default();
        let entry_id = Uuid::now_v7();
        let mut review_id = None;
        let (candidates, near) = self.deciding_candidates(index, &features, &key);
        plan.neighbours = near;
        // A pinned record stays where a human put it; an automatic one stays with its person
        // while it still matches it well enough.
        let keep = existing.as_ref().filter(|m| {
            m.link.pinned
                || index.records_of(&m.person).len() <= 1
                || candidates
                    .iter()
                    .any(|c| c.person == m.person && c.score.weight >= self.thresholds.review)
        });
        let (person, link, outcome, created, score) = if let Some(kept) = keep {
            (
                kept.person,
                kept.link.clone(),
                Outcome::AutoLink,
                false,
                kept.link.score,
            )
        } else {
            let decision = self.decide(&candidates);
            let absorbed = match (decision.candidate, decision.also_matches) {
                (Some(top), Some(other)) => {
                    self.one_person_held_twice(index, top.person, other.person, actor, now)
                }
                _ => None,
            };
            if let Some(changes) = absorbed {
                let entry = Uuid::now_v7().to_string();
                changes_into_plan(&changes, actor, now, &mut plan);
                plan.batch.history.push(history_row(
                    &entry,
                    "auto-merge",
                    actor,
                    now,
                    &changes,
                    None,
                ));
            } else if let (Some(top), Some(other)) = (decision.candidate, decision.also_matches)
                && !open_reviews.contains(&(key.clone(), other.person))
            {
                let id = Uuid::now_v7();
                review_id = Some(id);
                plan.batch.reviews.push(review_row(
                    id,
                    &key,
                    other,
                    &format!(
                        "linked to person {} but matches this person as well: possibly one person held twice",
                        top.person
                    ),
                    now,
                ));
                plan.ops
                    .push(IndexOp::ReviewOpened(key.clone(), other.person));
            }
            match (decision.outcome, decision.candidate) {
                (Outcome::AutoLink, Some(candidate)) => (
                    candidate.person,
                    automatic_link(candidate, actor, now),
                    Outcome::AutoLink,
                    false,
                    Some(candidate.score.weight),
                ),
                (outcome, candidate) => {
                    let person = Uuid::now_v7();
                    plan.add_person(person, now);
                    if let (Outcome::Review, Some(candidate)) = (outcome, candidate)
                        && !open_reviews.contains(&(key.clone(), candidate.person))
                    {
                        let id = Uuid::now_v7();
                        review_id = Some(id);
                        plan.batch.reviews.push(review_row(
                            id,
                            &key,
                            candidate,
                            review_reason(candidate),
                            now,
                        ));
                        plan.ops
                            .push(IndexOp::ReviewOpened(key.clone(), candidate.person));
                    }
                    (
                        person,
                        new_person_link(actor, now),
                        outcome,
                        true,
                        candidate.map(|c| c.score.weight),
                    )
                }
            }
        };
        let after = Membership {
            person,
            link: link.clone(),
        };
        let changes = Changes {
            records: vec![RecordChange {
                record: key.clone(),
                before: existing.clone(),
                after: Some(after),
            }],
            ..Changes::default()
        };
        plan.batch.records.push(MpiRecordRow {
            source: key.source.clone(),
            local_id: key.local_id.clone(),
            person_id: person.to_string(),
            sealed_attributes: self
                .sealer
                .seal(&serde_json::to_vec(record).expect("records serialise")),
            link: serde_json::to_string(&link).expect("links serialise"),
            updated_at: now,
        });
        plan.batch.history.push(history_row(
            &entry_id.to_string(),
            if existing.is_some() {
                "update"
            } else {
                "register"
            },
            actor,
            now,
            &changes,
            None,
        ));
        plan.ops
            .push(IndexOp::Upsert(key, Box::new(features), person, link));
        Ok((
            plan,
            Registration {
                person_id: person,
                outcome,
                created_person: created,
                updated: existing.is_some(),
                review_id,
                score,
                history_entry: entry_id,
            },
        ))
    }

    /// When a record links automatically to `kept` and matches `absorbed` as well, the index
    /// may hold one person twice. It is, and `absorbed`'s records join `kept` (an automatic,
    /// undoable `auto-merge`), only if the two persons' own records come close to each other
    /// (their best pair reaches the review weight, and nothing says they are two people: the
    /// record that links to both brings what their own records lacked, a birth date or a
    /// name), no record of `absorbed` was placed by a person, no record of either was ruled
    /// out for the other, their valid IDNPs do not differ, and their IDNPs (valid or not) are not
    /// all more than a typo apart. Otherwise a human looks.
    fn one_person_held_twice(
        &self,
        index: &Index,
        kept: PersonId,
        absorbed: PersonId,
        actor: &str,
        now: i64,
    ) -> Option<Changes> {
        const MOST_RECORDS_COMPARED: usize = 16;
        let kept_records = index.records_of(&kept);
        let absorbed_records = index.records_of(&absorbed);
        if absorbed_records.is_empty()
            || absorbed_records.iter().any(|slot| {
                slot.link.pinned || index.is_non_match(&slot.record.to_record_ref(), &kept)
            })
            || kept_records
                .iter()
                .any(|slot| index.is_non_match(&slot.record.to_record_ref(), &absorbed))
        {
            return None;
        }
        let valid_idnps = |slots: &[&crate::index::Slot]| -> HashSet<IdnpDigits> {
            slots
                .iter()
                .filter_map(|slot| match slot.features.idnp {
                    Some(IdnpEvidence::Valid(digits)) => Some(digits),
                    _ => None,
                })
                .collect()
        };
        let (a, b) = (valid_idnps(&kept_records), valid_idnps(&absorbed_records));
        if !a.is_empty() && !b.is_empty() && a.is_disjoint(&b) {
            return None;
        }
        // Nor when every IDNP of one is more than a typo from every IDNP of the other, though
        // some fail their check digit (a mistyped number is one typo off).
        let idnps = |slots: &[&crate::index::Slot]| -> Vec<String> {
            slots
                .iter()
                .filter_map(|slot| slot.features.idnp.as_ref().map(|i| i.digits().to_owned()))
                .collect()
        };
        let (a, b) = (idnps(&kept_records), idnps(&absorbed_records));
        if !a.is_empty()
            && !b.is_empty()
            && a.iter().all(|x| {
                b.iter()
                    .all(|y| crate::normalize::damerau_levenshtein(x, y) > 1)
            })
        {
            return None;
        }
        let mut best: Option<Candidate> = None;
        for from in absorbed_records.iter().take(MOST_RECORDS_COMPARED) {
            for to in kept_records.iter().take(MOST_RECORDS_COMPARED) {
                let (comparison, score) = index.score_pair(&from.features, &to.features);
                if best.as_ref().is_none_or(|b| score.weight > b.score.weight) {
                    best = Some(Candidate {
                        person: kept,
                        record: to.record.clone(),
                        comparison,
                        score,
                        idnp_conflict: false,
                    });
                }
            }
        }
        let best = best?;
        if best.score.weight < self.thresholds.review || another_person(&best).is_some() {
            return None;
        }
        Some(Changes {
            records: absorbed_records
                .iter()
                .map(|slot| RecordChange {
                    record: slot.record.to_record_ref(),
                    before: Some(Membership {
                        person: absorbed,
                        link: slot.link.clone(),
                    }),
                    after: Some(Membership {
                        person: kept,
                        link: Link {
                            rule: "auto".into(),
                            score: Some(best.score.weight),
                            anchor: Some(best.record.clone()),
                            actor: actor.into(),
                            at: now,
                            pinned: false,
                        },
                    }),
                })
                .collect(),
            persons: vec![PersonChange {
                person: absorbed,
                merged_into_before: None,
                merged_into_after: Some(kept),
            }],
            ..Changes::default()
        })
    }

    /// The person with its records (attributes unsealed from the store).
    pub async fn person(&self, id: PersonId) -> Result<PersonView, MpiError> {
        let merged_into = self
            .read()
            .person(&id)
            .ok_or(MpiError::UnknownPerson)?
            .merged_into;
        let rows = self.store.mpi_records_of(&id.to_string()).await?;
        let mut records = Vec::with_capacity(rows.len());
        let mut valid_idnps = HashSet::new();
        for row in rows {
            let attributes = open_record(&self.sealer, &row.sealed_attributes)?;
            if let Ok(Some(IdnpEvidence::Valid(idnp))) = attributes.idnp_evidence() {
                valid_idnps.insert(idnp);
            }
            records.push(LinkedRecord {
                source: row.source,
                local_id: row.local_id,
                link: serde_json::from_str(&row.link)
                    .map_err(|e| MpiError::Store(StoreError::Corrupt(format!("link: {e}"))))?,
                attributes,
            });
        }
        let status = match (merged_into, records.is_empty()) {
            (Some(_), _) => "merged",
            (None, true) => "empty",
            (None, false) => "active",
        };
        Ok(PersonView {
            person_id: id,
            status,
            merged_into,
            records,
            conflicts: if valid_idnps.len() > 1 {
                vec!["idnp"]
            } else {
                Vec::new()
            },
        })
    }

    /// Links a record to a person by hand; the decision is pinned.
    pub async fn link(
        &self,
        person: PersonId,
        record: &RecordRef,
        actor: &str,
    ) -> Result<HistoryEntry, MpiError> {
        let _writer = self.writer.lock().await;
        let now = now_millis();
        let changes = {
            let index = self.read();
            active_person(&index, person)?;
            let slot = index.slot(record).ok_or(MpiError::UnknownRecord)?;
            if slot.person == person {
                return Err(conflict(
                    "already-linked",
                    "the record already belongs to this person",
                ));
            }
            let mut changes = Changes {
                records: vec![RecordChange {
                    record: record.clone(),
                    before: Some(Membership {
                        person: slot.person,
                        link: slot.link.clone(),
                    }),
                    after: Some(Membership {
                        person,
                        link: manual_link("manual", None, actor, now),
                    }),
                }],
                ..Changes::default()
            };
            if index.is_non_match(record, &person) {
                changes.non_matches.push(NonMatchChange {
                    record: record.clone(),
                    person,
                    added: false,
                });
            }
            changes
        };
        self.commit_changes("link", actor, now, changes, Plan::default(), None)
            .await
    }

    /// Takes a record out of a person into a new person of its own, and remembers that it is
    /// not that person.
    pub async fn unlink(
        &self,
        person: PersonId,
        record: &RecordRef,
        actor: &str,
    ) -> Result<HistoryEntry, MpiError> {
        let _writer = self.writer.lock().await;
        let now = now_millis();
        let (changes, new_person) = {
            let index = self.read();
            active_person(&index, person)?;
            let slot = index.slot(record).ok_or(MpiError::UnknownRecord)?;
            if slot.person != person {
                return Err(conflict(
                    "not-linked",
                    "the record does not belong to this person",
                ));
            }
            if index.records_of(&person).len() < 2 {
                return Err(conflict(
                    "only-record",
                    "the record is the person's only record; there is nothing to unlink it from",
                ));
            }
            let new_person = Uuid::now_v7();
            let changes = Changes {
                records: vec![RecordChange {
                    record: record.clone(),
                    before: Some(Membership {
                        person,
                        link: slot.link.clone(),
                    }),
                    after: Some(Membership {
                        person: new_person,
                        link: manual_link("manual", None, actor, now),
                    }),
                }],
                non_matches: vec![NonMatchChange {
                    record: record.clone(),
                    person,
                    added: true,
                }],
                ..Changes::default()
            };
            (changes, new_person)
        };
        let mut plan = Plan::default();
        plan.add_person(new_person, now);
        self.commit_changes("unlink", actor, now, changes, plan, None)
            .await
    }

    /// Moves every record of `merged` into `target`; `merged` then points at `target`.
    /// Persons with different valid IDNPs are merged only when the caller acknowledges it.
    pub async fn merge(
        &self,
        target: PersonId,
        merged: PersonId,
        acknowledge_idnp_conflict: bool,
        actor: &str,
    ) -> Result<HistoryEntry, MpiError> {
        let _writer = self.writer.lock().await;
        let now = now_millis();
        let changes = {
            let index = self.read();
            if target == merged {
                return Err(conflict(
                    "same-person",
                    "a person cannot be merged into itself",
                ));
            }
            active_person(&index, target)?;
            active_person(&index, merged)?;
            let idnps = |p: &PersonId| -> HashSet<IdnpDigits> {
                index
                    .records_of(p)
                    .iter()
                    .filter_map(|s| match s.features.idnp {
                        Some(IdnpEvidence::Valid(d)) => Some(d),
                        _ => None,
                    })
                    .collect()
            };
            let (a, b) = (idnps(&target), idnps(&merged));
            if !a.is_empty() && !b.is_empty() && a.is_disjoint(&b) && !acknowledge_idnp_conflict {
                return Err(conflict(
                    "idnp-conflict",
                    "the persons carry different valid IDNPs; set acknowledgeIdnpConflict to merge anyway",
                ));
            }
            Changes {
                records: index
                    .records_of(&merged)
                    .iter()
                    .map(|slot| RecordChange {
                        record: slot.record.to_record_ref(),
                        before: Some(Membership {
                            person: merged,
                            link: slot.link.clone(),
                        }),
                        after: Some(Membership {
                            person: target,
                            link: manual_link("merge", None, actor, now),
                        }),
                    })
                    .collect(),
                persons: vec![PersonChange {
                    person: merged,
                    merged_into_before: None,
                    merged_into_after: Some(target),
                }],
                ..Changes::default()
            }
        };
        self.commit_changes("merge", actor, now, changes, Plan::default(), None)
            .await
    }

    /// Undoes the latest merge of `merged` into `target`, restoring both exactly.
    pub async fn unmerge(
        &self,
        target: PersonId,
        merged: PersonId,
        actor: &str,
    ) -> Result<HistoryEntry, MpiError> {
        let entry = self
            .store
            .mpi_history_of(&merged.to_string())
            .await?
            .into_iter()
            .rev()
            .find(|entry| {
                entry.action == "merge"
                    && entry.undone_by.is_none()
                    && serde_json::from_str::<Changes>(&entry.changes).is_ok_and(|c| {
                        c.persons
                            .iter()
                            .any(|p| p.person == merged && p.merged_into_after == Some(target))
                    })
            })
            .ok_or_else(|| {
                conflict(
                    "not-merged",
                    "no merge of that person into this one to undo",
                )
            })?;
        self.undo(&entry.id, actor).await
    }

    /// Undoes a history entry if nothing it changed has changed since.
    pub async fn undo(&self, entry_id: &str, actor: &str) -> Result<HistoryEntry, MpiError> {
        let _writer = self.writer.lock().await;
        let entry = self
            .store
            .mpi_history_entry(entry_id)
            .await?
            .ok_or(MpiError::UnknownEntry)?;
        if entry.undone_by.is_some() {
            return Err(conflict("already-undone", "this entry was already undone"));
        }
        let changes: Changes = serde_json::from_str(&entry.changes)
            .map_err(|e| MpiError::Store(StoreError::Corrupt(format!("history: {e}"))))?;
        let inverse = changes.inverse()?;
        {
            let index = self.read();
            for change in &inverse.records {
                let current = index.slot(&change.record).map(|s| Membership {
                    person: s.person,
                    link: s.link.clone(),
                });
                if current != change.before {
                    return Err(conflict(
                        "changed-since",
                        "a record this entry changed has changed since; undo the later entries first",
                    ));
                }
            }
            for change in &inverse.persons {
                let current = index.person(&change.person).and_then(|p| p.merged_into);
                if current != change.merged_into_before {
                    return Err(conflict(
                        "changed-since",
                        "a person this entry changed has changed since; undo the later entries first",
                    ));
                }
            }
        }
        let now = now_millis();
        self.commit_changes(
            "undo",
            actor,
            now,
            inverse,
            Plan::default(),
            Some(entry_id.to_owned()),
        )
        .await
    }

    /// Writes hand-made changes with their history entry (and whatever `plan` already holds),
    /// then applies them. `undoes` names the entry this one undoes.
    async fn commit_changes(
        &self,
        action: &str,
        actor: &str,
        now: i64,
        changes: Changes,
        mut plan: Plan,
        undoes: Option<String>,
    ) -> Result<HistoryEntry, MpiError> {
        let entry_id = Uuid::now_v7().to_string();
        changes_into_plan(&changes, actor, now, &mut plan);
        if let Some(undone) = &undoes {
            plan.batch.undone.push((undone.clone(), entry_id.clone()));
        }
        plan.batch.history.push(history_row(
            &entry_id,
            action,
            actor,
            now,
            &changes,
            undoes.clone(),
        ));
        self.commit(plan).await?;
        Ok(HistoryEntry {
            id: entry_id,
            action: action.to_owned(),
            actor: actor.to_owned(),
            at: now,
            changes,
            undoes,
            undone_by: None,
        })
    }

    /// A person's history, oldest first.
    pub async fn history(&self, person: PersonId) -> Result<Vec<HistoryEntry>, MpiError> {
        if self.read().person(&person).is_none() {
            return Err(MpiError::UnknownPerson);
        }
        self.store
            .mpi_history_of(&person.to_string())
            .await?
            .into_iter()
            .map(|row| {
                Ok(HistoryEntry {
                    changes: serde_json::from_str(&row.changes).map_err(|e| {
                        MpiError::Store(StoreError::Corrupt(format!("history: {e}")))
                    })?,
                    id: row.id,
                    action: row.action,
                    actor: row.actor,
                    at: row.at,
                    undoes: row.undoes,
                    undone_by: row.undone_by,
                })
            })
            .collect()
    }

    /// Reviews by status (`open`, `match`, `non-match`), oldest first.
    pub async fn reviews(
        &self,
        status: &str,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<Review>, MpiError> {
        let rows = self.store.mpi_reviews(status, limit, offset).await?;
        Ok(rows.into_iter().map(review_view).collect())
    }

    /// Records a reviewer's verdict. A match links the record to the candidate (pinned); a
    /// non-match is remembered so automatic matching never proposes that person again.
    pub async fn decide_review(
        &self,
        review_id: &str,
        verdict: Verdict,
        actor: &str,
    ) -> Result<HistoryEntry, MpiError> {
        let _writer = self.writer.lock().await;
        let review = self
            .store
            .mpi_review(review_id)
            .await?
            .ok_or(MpiError::UnknownReview)?;
        if review.status != "open" {
            return Err(conflict(
                "already-decided",
                "this review was already decided",
            ));
        }
        let candidate = parse_person(&review.person_id)?;
        let record = RecordRef {
            source: review.source.clone(),
            local_id: review.local_id.clone(),
        };
        let now = now_millis();
        let (changes, status) = {
            let index = self.read();
            let slot = index.slot(&record).ok_or(MpiError::UnknownRecord)?;
            let target = index
                .person(&candidate)
                .and_then(|p| p.merged_into)
                .unwrap_or(candidate);
            match verdict {
                Verdict::Match if slot.person == target => (Changes::default(), "match"),
                Verdict::Match => (
                    Changes {
                        records: vec![RecordChange {
                            record: record.clone(),
                            before: Some(Membership {
                                person: slot.person,
                                link: slot.link.clone(),
                            }),
                            after: Some(Membership {
                                person: target,
                                link: manual_link("review", Some(review.score), actor, now),
                            }),
                        }],
                        ..Changes::default()
                    },
                    "match",
                ),
                Verdict::NonMatch => (
                    Changes {
                        non_matches: vec![NonMatchChange {
                            record: record.clone(),
                            person: candidate,
                            added: true,
                        }],
                        ..Changes::default()
                    },
                    "non-match",
                ),
            }
        };
        let mut plan = Plan::default();
        plan.batch
            .review_decisions
            .push((review.id.clone(), status.into(), actor.into(), now));
        plan.ops.push(IndexOp::ReviewClosed(record, candidate));
        self.commit_changes(&format!("review-{status}"), actor, now, changes, plan, None)
            .await
    }

    /// The person a subject reference stands for (after merges) and its one valid IDNP.
    pub fn resolve_subject(
        &self,
        subject: &SubjectRef,
    ) -> Result<(PersonId, String), SubjectError> {
        let index = self.read();
        let mut person = match subject {
            SubjectRef::Person(id) => *id,
            SubjectRef::Record(record) => index.slot(record).ok_or(SubjectError::Unknown)?.person,
        };
        for _ in 0..16 {
            match index.person(&person).and_then(|p| p.merged_into) {
                Some(target) => person = target,
                None => break,
            }
        }
        index.person(&person).ok_or(SubjectError::Unknown)?;
        let idnps: HashSet<&str> = index
            .records_of(&person)
            .iter()
            .filter_map(|s| match &s.features.idnp {
                Some(IdnpEvidence::Valid(d)) => Some(d.as_str()),
                _ => None,
            })
            .collect();
        match idnps.len() {
            0 => Err(SubjectError::NoIdnp),
            1 => Ok((person, idnps.into_iter().next().expect("one").to_owned())),
            _ => Err(SubjectError::ConflictingIdnps),
        }
    }

    /// The one person whose records carry `idnp` (a valid IDNP), if the index knows it.
    pub fn person_with_idnp(&self, idnp: &str) -> Result<Option<PersonId>, SubjectError> {
        match self.read().persons_with_idnp(idnp).as_slice() {
            [] => Ok(None),
            [person] => Ok(Some(*person)),
            _ => Err(SubjectError::SeveralPersons),
        }
    }

    /// Writes audit rows (who accessed which person's data).
    pub async fn audit(
        &self,
        client: &str,
        action: &str,
        person: Option<PersonId>,
        outcome: &str,
    ) -> Result<(), MpiError> {
        let batch = MpiBatch {
            audit: vec![MpiAuditRow {
                id: Uuid::now_v7().to_string(),
                at: now_millis(),
                client_id: client.to_owned(),
                action: action.to_owned(),
                person_id: person.map(|p| p.to_string()),
                outcome: outcome.to_owned(),
            }],
            ..MpiBatch::default()
        };
        Ok(self.store.mpi_apply(&batch).await?)
    }

    /// Replaces the model (and stores it when `persist`).
    pub async fn set_model(&self, model: Model, persist: bool) -> Result<(), MpiError> {
        let _writer = self.writer.lock().await;
        if persist {
            self.store
                .mpi_save_model(
                    &serde_json::to_string(&model).expect("models serialise"),
                    now_millis(),
                )
                .await?;
        }
        self.write().model = model;
        Ok(())
    }

    /// The weights the index matches with.
    pub fn model(&self) -> Model {
        self.read().model.clone()
    }

    /// The sources the index holds records of, by name.
    pub fn sources(&self) -> Vec<String> {
        self.read().sources()
    }

    /// Re-learns the weights from the pairs of every source in the index (EM from the prior)
    /// and stores them, if [`Model::check`] accepts them; otherwise the index keeps the
    /// weights it had and the refusal is a `training-refused` conflict.
    pub async fn train(&self, pairs: usize) -> Result<Model, MpiError> {
        let _writer = self.writer.lock().await;
        let model = self.read().training_pairs(pairs, 0x5eed).learn();
        model
            .check()
            .map_err(|refused| conflict("training-refused", refused.to_string()))?;
        self.store
            .mpi_save_model(
                &serde_json::to_string(&model).expect("models serialise"),
                now_millis(),
            )
            .await?;
        self.write().model = model.clone();
        Ok(model)
    }

    /// Re-evaluates every automatic link under the current weights: records linked
    /// automatically or made new persons, and the open reviews. A record whose best match is
    /// now another person moves there (a person left without records points at it, as after a
    /// merge); a record linked automatically that no longer matches its person well enough to
    /// stay leaves for a person of its own (the record a person was founded on stays), with a
    /// review when a candidate is close; an open review
    /// whose candidate no longer comes close, or whose record now belongs to its candidate,
    /// is withdrawn. Pinned records (every human decision) are never moved, and a person a
    /// reviewer ruled out is never proposed.
    ///
    /// Works in passes, each planned against the index, written in one transaction with its
    /// own history entry (undo them newest first), then applied; a pass touches each person
    /// once, and passes repeat until nothing moves (at most four). `progress` gets (records
    /// examined, total).
    pub async fn relink(
        &self,
        actor: &str,
        progress: impl FnMut(usize, usize),
    ) -> Result<RelinkSummary, MpiError> {
        // Every record is seen again, under the index's own name counts: none stays unsettled.
        self.write().release_name_counts();
        std::mem::take(&mut *self.unsettled.lock().unwrap_or_else(|e| e.into_inner()));
        self.relink_scoped(None, actor, progress).await
    }

    /// [`MasterIndex::relink`] of only the records bulk registration
    /// ([`MasterIndex::register_unwritten`]) left unsettled: those that opened a review,
    /// those it moved and the records they come close to, the records of every person a later
    /// record came close to (reaching the review weight) without joining it, the records
    /// linked automatically that would no longer stay with their person automatically (a
    /// later record of the person may now be its best match yet need a human, and name
    /// frequencies may have changed since), and those that opened a person of their own,
    /// unless the import weighed names by the counts its whole file leaves
    /// ([`MasterIndex::fix_name_counts`]): then nothing about such a record changed that no
    /// later record coming close to it would have marked. A record that joined a person
    /// already there, would still stay with it, and that no later record came close to from
    /// another person, keeps its link. After the first pass, a pass re-evaluates only what
    /// the pass before could have changed: the records of a person that lost or gained one,
    /// the records such a person's records are candidates for (reaching the review weight),
    /// the records whose move was put off, and the records of a person a withdrawn review
    /// named.
    ///
    /// Fixed name counts are released here. If the import's records did not leave exactly
    /// those counts (a record replaced or rejected after being counted), the scores its
    /// registrations computed may differ from today's, and the records that opened a person
    /// are decided again as well.
    pub async fn relink_unsettled(
        &self,
        actor: &str,
        progress: impl FnMut(usize, usize),
    ) -> Result<RelinkSummary, MpiError> {
        let new_persons_settled = self.write().release_name_counts() == Some(true);
        let mut scope =
            std::mem::take(&mut *self.unsettled.lock().unwrap_or_else(|e| e.into_inner()));
        {
            let index = self.read();
            let all = index.live_slots();
            for slot_id in all.iter() {
                if scope.contains(slot_id) {
                    continue;
                }
                let Some(slot) = index.live_slot(slot_id) else {
                    continue;
                };
                let unsettled = !slot.link.pinned
                    && match &*slot.link.rule {
                        "auto" => !self.stays_automatically(&index, slot_id, slot),
                        "new" => !new_persons_settled,
                        _ => true,
                    };
                if unsettled {
                    scope.insert(slot_id);
                }
            }
        }
        self.relink_scoped(Some(scope), actor, progress).await
    }

    /// Whether a record linked automatically would stay with its person, as a relink decides
    /// it with every record in: its person's best candidate record still reaches the
    /// auto-link weight under today's name frequencies, with nothing for a human.
    fn stays_automatically(&self, index: &Index, slot_id: u32, slot: &crate::index::Slot) -> bool {
        &*slot.link.rule == "auto"
            && index
                .own_person_candidate(slot_id)
                .is_some_and(|candidate| {
                    candidate.score.weight >= self.thresholds.auto_link
                        && needs_human(&candidate).is_none()
                })
    }

    /// [`MasterIndex::relink`] of the records in `scope` (of all when `None`).
    async fn relink_scoped(
        &self,
        mut scope: Option<SlotSet>,
        actor: &str,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<RelinkSummary, MpiError> {
        let _writer = self.writer.lock().await;
        let mut summary = RelinkSummary::default();
        let mut open = OpenReviews::default();
        let mut offset = 0;
        loop {
            let page = self.store.mpi_reviews("open", 1000, offset).await?;
            if page.is_empty() {
                break;
            }
            offset += page.len() as i64;
            for review in page {
                let record = RecordRef {
                    source: review.source,
                    local_id: review.local_id,
                };
                open.insert(record, parse_person(&review.person_id)?, review.id);
            }
        }
        for pass in 1..=MAX_RELINK_PASSES {
            let now = now_millis();
            let (changes, plan, outcome, revisit) = {
                let index = self.read();
                let pass_scope = scope.as_ref().map(|s| s.iter().collect());
                self.plan_relink_pass(
                    &index,
                    pass_scope,
                    &mut open,
                    pass,
                    actor,
                    now,
                    &mut progress,
                )
            };
            if scope.is_some() {
                scope = Some(revisit);
            }
            summary.passes = pass;
            summary.examined = summary.examined.max(outcome.examined);
            summary.pinned = outcome.pinned;
            summary.moved += outcome.moved;
            summary.split += outcome.split;
            summary.reviews_opened += outcome.reviews_opened;
            summary.reviews_withdrawn += outcome.reviews_withdrawn;
            if changes.records.is_empty() {
                // Nothing moved: the reviews this pass opened or withdrew, and done.
                if !plan.batch.is_empty() {
                    self.commit(plan).await?;
                }
                break;
            }
            let entry = self
                .commit_changes("relink", actor, now, changes, plan, None)
                .await?;
            summary.history_entries.insert(0, entry.id);
        }
        Ok(summary)
    }

    /// One pass of [`MasterIndex::relink`] over the slots in `scope` (in order; all live ones
    /// when `None`): the changes, the rows and index steps besides them (new persons,
    /// reviews), the counts, and, for a scoped pass, the slots the next pass must see again.
    #[allow(clippy::too_many_arguments)]
    fn plan_relink_pass(
        &self,
        index: &Index,
        scope: Option<Vec<u32>>,
        open: &mut OpenReviews,
        pass: usize,
        actor: &str,
        now: i64,
        progress: &mut impl FnMut(usize, usize),
    ) -> (Changes, Plan, RelinkSummary, SlotSet) {
        let mut changes = Changes::default();
        let mut plan = Plan::default();
        let mut outcome = RelinkSummary::default();
        let mut revisit = SlotSet::default();
        let scoped = scope.is_some();
        // Every record of these persons, and every record one of them is a candidate for.
        let revisit_around = |revisit: &mut SlotSet, persons: &[PersonId]| {
            for person in persons {
                for slot_id in index.slots_of(person) {
                    revisit.insert(slot_id);
                    revisit.extend(index.slots_reached_by(slot_id, self.thresholds.review));
                }
            }
        };
        // Persons a move of this pass already took a record from or gave one to.
        let mut touched: HashSet<PersonId> = HashSet::new();
        let slots = scope.unwrap_or_else(|| index.live_slots().iter().collect());
        let total = slots.len();
        // Read once a pass: on Linux it reads the process's cgroup limits.
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut done = 0;
        for chunk in slots.chunks(RELINK_SEARCH_CHUNK) {
            for (&slot_id, candidates) in chunk
                .iter()
                .zip(self.relink_candidates(index, chunk, threads))
            {
                if done % 10_000 == 0 {
                    progress(done, total);
                }
                done += 1;
                let Some(slot) = index.live_slot(slot_id) else {
                    continue;
                };
                let key = &slot.record.to_record_ref();
                if slot.link.pinned {
                    outcome.pinned += 1;
                    continue;
                }
                outcome.examined += 1;
                let current = slot.person;
                let decision = self.decide(&candidates);
                let alone = index.records_of(&current).len() <= 1;
                let stays_automatically = candidates.iter().any(|c| {
                    c.person == current
                        && c.score.weight >= self.thresholds.auto_link
                        && needs_human(c).is_none()
                });
                let target = match (decision.outcome, decision.candidate) {
                    (Outcome::AutoLink, Some(top)) if top.person != current => {
                        // Two persons of one record each: the younger one moves, so that the
                        // older person's id stays; its own record will come to this one.
                        let younger = |p: &PersonId| index.person(p).map(|p| p.created_at);
                        if pass == 1
                            && alone
                            && index.records_of(&top.person).len() == 1
                            && younger(&top.person) > younger(&current)
                        {
                            // Put off: should its own record not come, it moves next pass.
                            revisit.insert(slot_id);
                            None
                        } else {
                            Some(Move::To(top))
                        }
                    }
                    (Outcome::AutoLink, _) => None,
                    // The record a person was founded on stays with it; the records linked to it
                    // are the ones that leave.
                    _ if alone || stays_automatically || &*slot.link.rule == "new" => None,
                    _ => Some(Move::Out),
                };
                if let Some(target) = target {
                    let destination = match &target {
                        Move::To(top) => Some(top.person),
                        Move::Out => None,
                    };
                    if touched.contains(&current)
                        || destination.is_some_and(|d| touched.contains(&d))
                    {
                        revisit.insert(slot_id);
                        continue;
                    }
                    touched.insert(current);
                    if scoped {
                        let persons: Vec<PersonId> =
                            std::iter::once(current).chain(destination).collect();
                        revisit_around(&mut revisit, &persons);
                    }
                    let (person, link) = match target {
                        Move::To(top) => {
                            outcome.moved += 1;
                            touched.insert(top.person);
                            let link = automatic_link(top, actor, now);
                            if alone {
                                changes.persons.push(PersonChange {
                                    person: current,
                                    merged_into_before: None,
                                    merged_into_after: Some(top.person),
                                });
                            }
                            (top.person, link)
                        }
                        Move::Out => {
                            outcome.split += 1;
                            let person = Uuid::now_v7();
                            plan.add_person(person, now);
                            (person, new_person_link(actor, now))
                        }
                    };
                    changes.records.push(RecordChange {
                        record: key.clone(),
                        before: Some(Membership {
                            person: current,
                            link: slot.link.clone(),
                        }),
                        after: Some(Membership { person, link }),
                    });
                }
                let person_after = changes
                    .records
                    .last()
                    .filter(|c| c.record == *key)
                    .and_then(|c| c.after.as_ref().map(|m| m.person))
                    .unwrap_or(current);
                // A possible match a human should see, unless the record stays where it was
                // linked automatically, or a review is open already.
                if decision.outcome == Outcome::Review
                    && (person_after != current || alone || !stays_automatically)
                    && let Some(top) = decision.candidate
                    && top.person != person_after
                    && !open.contains(key, &top.person)
                    && !index
                        .records_of(&top.person)
                        .iter()
                        .any(|other| open.contains(&other.record.to_record_ref(), &person_after))
                {
                    let id = Uuid::now_v7();
                    plan.batch
                        .reviews
                        .push(review_row(id, key, top, review_reason(top), now));
                    plan.ops
                        .push(IndexOp::ReviewOpened(key.clone(), top.person));
                    open.insert(key.clone(), top.person, id.to_string());
                    outcome.reviews_opened += 1;
                }
                // Open reviews of this record that no longer stand.
                let stale: Vec<PersonId> = open
                    .persons_of(key)
                    .filter(|person| {
                        *person == person_after
                            || !candidates.iter().any(|c| {
                                c.person == *person && c.score.weight >= self.thresholds.review
                            })
                    })
                    .collect();
                for person in stale {
                    if scoped {
                        revisit.extend(index.slots_of(&person));
                    }
                    if let Some(id) = open.remove(key, &person) {
                        plan.batch.review_decisions.push((
                            id,
                            "withdrawn".into(),
                            actor.to_owned(),
                            now,
                        ));
                        plan.ops.push(IndexOp::ReviewClosed(key.clone(), person));
                        outcome.reviews_withdrawn += 1;
                    }
                }
            }
        }
        progress(total, total);
        (changes, plan, outcome, revisit)
    }

    /// The candidates that can decide for the record `key` with `features`, in registration
    /// and relink alike: only those reaching the review weight can be linked, reviewed or kept
    /// (see `decide`), so the others need no explanation, and none a human ruled out. Besides,
    /// every record of theirs reaching that weight (not only each person's best).
    fn deciding_candidates(
        &self,
        index: &Index,
        features: &Features,
        key: &RecordRef,
    ) -> (Vec<Candidate>, Vec<u32>) {
        let (mut candidates, mut near) =
            index.candidates_and_records_reaching(features, Some(key), self.thresholds.review);
        let ruled_out = index.non_matches_of(key);
        if !ruled_out.is_empty() {
            candidates.retain(|c| !ruled_out.contains(&c.person));
            near.retain(|&slot| {
                index
                    .live_slot(slot)
                    .is_some_and(|s| !ruled_out.contains(&s.person))
            });
        }
        (candidates, near)
    }

    /// The [`MasterIndex::deciding_candidates`] of each record in `slots` (none for a record
    /// gone or pinned). The searches only read the index, so they run on every core, each
    /// giving what it would alone, in the order of `slots`, on `threads` threads.
    fn relink_candidates(
        &self,
        index: &Index,
        slots: &[u32],
        threads: usize,
    ) -> Vec<Vec<Candidate>> {
        let search = |slot_id: u32| -> Vec<Candidate> {
            let Some(slot) = index.live_slot(slot_id).filter(|slot| !slot.link.pinned) else {
                return Vec::new();
            };
            self.deciding_candidates(index, &slot.features, &slot.record.to_record_ref())
                .0
        };
        if threads < 2 || slots.len() < 2 {
            return slots.iter().map(|&slot| search(slot)).collect();
        }
        let per_thread = slots.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let parts: Vec<_> = slots
                .chunks(per_thread)
                .map(|part| {
                    let search = &search;
                    scope.spawn(move || part.iter().map(|&slot| search(slot)).collect::<Vec<_>>())
                })
                .collect();
            parts
                .into_iter()
                .flat_map(|part| part.join().expect("a candidate search does not panic"))
                .collect()
        })
    }

    /// Before a bulk import into an empty index: weighs names by `counts`, the names of every
    /// record the import will add, counted beforehand ([`crate::bulk::count_names`]), until
    /// [`MasterIndex::relink_unsettled`]. Each record is then decided under the frequencies
    /// the whole file leaves, so a record that opened a person need not be decided again
    /// unless a later record came close to it.
    pub fn fix_name_counts(&self, counts: NameCounts) {
        self.write().fix_name_counts(counts);
    }

    /// Bulk registration: plans and applies each record in memory at once, and returns the
    /// rows to write; the caller writes them in large batches. Only for exclusive use of the
    /// store (the import command).
    pub fn register_unwritten(
        &self,
        source: &str,
        record: &SourceRecord,
        actor: &str,
    ) -> Result<(MpiBatch, Registration), MpiError> {
        check_source(source)?;
        record.check()?;
        let mut index = self.write();
        let mut reviews = self.open_reviews.write().unwrap_or_else(|e| e.into_inner());
        let features = Features::of(record, index.interner())?;
        let (plan, registration) = self.plan_register(
            &index,
            &reviews,
            source,
            record,
            features,
            actor,
            now_millis(),
        )?;
        // The records this registration moved (a person held twice, merged).
        let moved: Vec<RecordRef> = plan
            .ops
            .iter()
            .filter_map(|op| match op {
                IndexOp::Relink(record, _, _) => Some(record.clone()),
                _ => None,
            })
            .collect();
        apply_ops(&mut index, &mut reviews, plan.ops);
        let mut unsettled = self.unsettled.lock().unwrap_or_else(|e| e.into_inner());
        // The record, if it opened a review (one that opened a person is seen to by
        // `relink_unsettled`); the records it moved and those they come close to; and the
        // records of other persons it came close to, which now have a candidate more.
        if registration.review_id.is_some() {
            let key = RecordRef {
                source: source.to_owned(),
                local_id: record.local_id.trim().to_owned(),
            };
            unsettled.extend(index.slot_id(&key));
        }
        for record in &moved {
            if let Some(slot_id) = index.slot_id(record) {
                unsettled.insert(slot_id);
                unsettled.extend(index.slots_reached_by(slot_id, self.thresholds.review));
            }
        }
        for slot_id in plan.neighbours {
            if index
                .live_slot(slot_id)
                .is_some_and(|slot| slot.person != registration.person_id)
            {
                unsettled.insert(slot_id);
            }
        }
        Ok((plan.batch, registration))
    }

    /// Runs `f` over the index (exports, statistics).
    pub fn with_index<T>(&self, f: impl FnOnce(&Index) -> T) -> T {
        f(&self.read())
    }
}

fn apply_ops(index: &mut Index, reviews: &mut HashSet<(RecordRef, PersonId)>, ops: Vec<IndexOp>) {
    for op in ops {
        match op {
            IndexOp::EnsurePerson(id, at) => index.ensure_person(id, at),
            IndexOp::Upsert(record, features, person, link) => {
                index.upsert(record, *features, person, link)
            }
            IndexOp::Relink(record, person, link) => {
                index.relink(&record, person, link);
            }
            IndexOp::MergedInto(person, target) => index.set_merged_into(person, target),
            IndexOp::NonMatch(record, person, true) => index.add_non_match(&record, person),
            IndexOp::NonMatch(record, person, false) => index.remove_non_match(&record, &person),
            IndexOp::ReviewOpened(record, person) => {
                reviews.insert((record, person));
            }
            IndexOp::ReviewClosed(record, person) => {
                reviews.remove(&(record, person));
            }
        }
    }
}

/// Turns hand-made changes into rows and index steps.
fn changes_into_plan(changes: &Changes, actor: &str, now: i64, plan: &mut Plan) {
    for change in &changes.records {
        if let Some(after) = &change.after {
            plan.batch
                .relinks
                .push(relink_row(&change.record, after.person, &after.link));
            plan.ops.push(IndexOp::Relink(
                change.record.clone(),
                after.person,
                after.link.clone(),
            ));
        }
    }
    for change in &changes.persons {
        plan.batch.person_merges.push((
            change.person.to_string(),
            change.merged_into_after.map(|p| p.to_string()),
        ));
        plan.ops
            .push(IndexOp::MergedInto(change.person, change.merged_into_after));
    }
    for change in &changes.non_matches {
        if change.added {
            plan.batch.non_matches.push(MpiNonMatchRow {
                source: change.record.source.clone(),
                local_id: change.record.local_id.clone(),
                person_id: change.person.to_string(),
                actor: actor.to_owned(),
                at: now,
            });
        } else {
            plan.batch.non_match_removals.push((
                change.record.source.clone(),
                change.record.local_id.clone(),
                change.person.to_string(),
            ));
        }
        plan.ops.push(IndexOp::NonMatch(
            change.record.clone(),
            change.person,
            change.added,
        ));
    }
}

/// Evidence that a candidate is somebody else, however high its score: such a candidate is
/// neither linked nor sent to review.
///
/// Fellegi–Sunter treats attributes as independent; family members are not (twins share a
/// surname, birth date, patronymic and address), so their scores run high. Two valid IDNPs that
/// differ, or two IDNPs more than a typo apart though one fails its check digit, unless the
/// first name and the birth date agree as well (then a mistyped number is possible and a human
/// looks); or, with no identifier agreeing or a typo away, first names or
/// sexes that differ outright (typos and transliterations have levels of their own), or birth
/// dates that differ by more than a typo (but not the same full name born the same year in the
/// same house).
fn another_person(candidate: &Candidate) -> Option<&'static str> {
    let level = |a: Attribute| candidate.comparison.levels[a.index()];
    let same_name_and_birth = candidate.comparison.first_name_and_birth_agree();
    if candidate.idnp_conflict || candidate.comparison.idnp_conflict {
        return (!same_name_and_birth).then_some("the records carry different valid IDNPs");
    }
    // A mistyped IDNP is one typo off its number; one further off, even failing its check
    // digit, is another number, and held like two valid ones that differ.
    if level(Attribute::Idnp) == Some(IDNP_DIFFERS)
        && level(Attribute::Identifier) != Some(IDENTIFIER_AGREES)
    {
        return (!same_name_and_birth).then_some("the records carry IDNPs more than a typo apart");
    }
    if identifier_agrees(candidate) || identifier_nearly_agrees(candidate) {
        return None;
    }
    if level(Attribute::FirstName) == Some(NAME_DIFFERS) {
        return Some("first names differ and no identifier agrees (twins, siblings)");
    }
    // Same year but another month and day, or another year altogether: a parent and a child
    // of the same name, not a typo (a year off by one has a level of its own). Yet a parent
    // and a child are never born the same year, twins are born the same day, and a namesake
    // does not live in the same house: the same full name born the same year in the same house
    // is one person whose day and month were written wrongly.
    let same_name_year_and_house = level(Attribute::BirthDate) == Some(DATE_SAME_YEAR)
        && level(Attribute::FirstName).is_some_and(|l| l <= NAME_SOUNDS_ALIKE)
        && level(Attribute::LastName).is_some_and(|l| l <= NAME_SOUNDS_ALIKE)
        && level(Attribute::Address) == Some(ADDRESS_SAME_HOUSE);
    if matches!(
        level(Attribute::BirthDate),
        Some(DATE_SAME_YEAR | DATE_DIFFERS)
    ) && !same_name_year_and_house
    {
        return Some("birth dates differ beyond a typo and no identifier agrees");
    }
    if level(Attribute::Sex) == Some(DIFFERS) {
        return Some("sexes differ and no identifier agrees");
    }
    None
}

/// An IDNP or another identifier of a common system agrees.
fn identifier_agrees(candidate: &Candidate) -> bool {
    let level = |a: Attribute| candidate.comparison.levels[a.index()];
    level(Attribute::Idnp) == Some(IDNP_EXACT)
        || level(Attribute::Identifier) == Some(IDENTIFIER_AGREES)
}

/// An identifier is one typo away: an IDNP one side of which fails its check digit (two valid
/// ones are a conflict), or another identifier (not one issued next to it, see
/// [`crate::compare::one_typo_apart`]).
fn identifier_nearly_agrees(candidate: &Candidate) -> bool {
    let level = |a: Attribute| candidate.comparison.levels[a.index()];
    level(Attribute::Idnp) == Some(IDNP_ONE_TYPO)
        || level(Attribute::Identifier) == Some(IDENTIFIER_ONE_TYPO)
}

/// Why a candidate that scores high enough, and is not [`another_person`], must still be seen
/// by a person, if it must: different valid IDNPs, or IDNPs more than a typo apart, on records
/// whose first name and birth date agree; an identifier that agrees (or is a typo away) with two
/// contradictions and another birth date (a relative's number copied by mistake) unless the
/// identifier agrees exactly with the same first name and sex (a relative has a first name of
/// their own: a married name and a birth date copied wrongly are the owner's), or an IDNP
/// that agrees (or is a typo away) with another first name and no birth date (a sibling's); where no identifier agrees or is a
/// typo away, a surname that differs where the first name and the birth date do not both
/// agree (a marriage shows as a new surname with the same first name and birth date, one of
/// them perhaps a typo off), a first name missing, a surname missing where the first name and
/// the full birth date do not both agree, or a birth date missing without an agreeing
/// patronymic. Birth years one apart (day and month the same) are a typo, not a reason.
fn needs_human(candidate: &Candidate) -> Option<&'static str> {
    if let Some(reason) = another_person(candidate) {
        return Some(reason);
    }
    if candidate.idnp_conflict || candidate.comparison.idnp_conflict {
        return Some("the records carry different valid IDNPs but the same name and birth date");
    }
    let level = |a: Attribute| candidate.comparison.levels[a.index()];
    if level(Attribute::Idnp) == Some(IDNP_DIFFERS)
        && level(Attribute::Identifier) != Some(IDENTIFIER_AGREES)
    {
        return Some(
            "the records carry IDNPs more than a typo apart but the same name and birth date",
        );
    }
    let first_differs = level(Attribute::FirstName) == Some(NAME_DIFFERS);
    let surname_differs = level(Attribute::LastName) == Some(NAME_DIFFERS);
    let year_at_most = level(Attribute::BirthDate).is_some_and(|l| l >= DATE_SAME_YEAR);
    let patronymic_agrees = level(Attribute::Patronymic) == Some(AGREES);
    let sex_differs = level(Attribute::Sex) == Some(DIFFERS);
    if identifier_agrees(candidate) || identifier_nearly_agrees(candidate) {
        // A relative's number copied by mistake comes with another birth date; names
        // recorded wrongly (or swapped) under the right number and birth date do not.
        let birth_agrees = level(Attribute::BirthDate).is_some_and(|l| l <= DATE_DAY_MONTH_SWAPPED);
        let contradictions = [first_differs, surname_differs, year_at_most, sex_differs]
            .into_iter()
            .filter(|c| *c)
            .count();
        // A household's IDNPs are the numbers mixed up between siblings on forms; with no
        // birth date to confirm it, another first name under the same IDNP is a sibling's.
        let idnp_agrees = matches!(level(Attribute::Idnp), Some(l) if l <= IDNP_ONE_TYPO);
        if idnp_agrees && first_differs && level(Attribute::BirthDate).is_none() {
            return Some(
                "the IDNP agrees but the first name differs and no birth date confirms it (a sibling's number?)",
            );
        }
        // A relative holding the number has a first name of their own (a father and a son
        // named alike share the surname as well, one contradiction only): the same first name
        // and sex under the very number, with a new surname (a marriage) and a birth date
        // copied wrongly, are the number's owner with two clerical differences.
        let owner_named = identifier_agrees(candidate)
            && level(Attribute::FirstName).is_some_and(|l| l <= NAME_TYPO)
            && !sex_differs;
        return (contradictions >= 2 && !birth_agrees && !owner_named).then_some(
            "an identifier agrees but two attributes contradict it, the birth date among them (a relative's number?)",
        );
    }
    // A married woman: the same first name and full birth date, one of them at most a typo
    // off (a birth year alone says too little).
    let first = level(Attribute::FirstName);
    let birth = level(Attribute::BirthDate);
    let full_date_agrees = birth.is_some_and(|l| l <= DATE_DAY_MONTH_SWAPPED);
    let renamed = (first.is_some_and(|l| l <= NAME_SOUNDS_ALIKE)
        && (full_date_agrees || birth == Some(DATE_ONE_DIGIT)))
        || (first.is_some_and(|l| l <= NAME_TYPO) && full_date_agrees);
    if surname_differs && !renamed {
        return Some("surnames differ and no identifier agrees (a name change?)");
    }
    // Without a first name, twins cannot be told apart; without a surname, a first name and a
    // full birth date that agree still can (twins' first names differ, namesakes' birth dates).
    let surname_not_needed = first.is_some_and(|l| l <= NAME_SOUNDS_ALIKE) && full_date_agrees;
    if first.is_none() || (level(Attribute::LastName).is_none() && !surname_not_needed) {
        return Some("a name is missing and no identifier agrees");
    }
    // A father and a son of the same name share an address but not a patronymic.
    if level(Attribute::BirthDate).is_none() && !patronymic_agrees {
        return Some("a birth date is missing and neither an identifier nor the patronymic agrees");
    }
    None
}

fn review_row(
    id: Uuid,
    record: &RecordRef,
    candidate: &Candidate,
    reason: &str,
    now: i64,
) -> MpiReviewRow {
    MpiReviewRow {
        id: id.to_string(),
        source: record.source.clone(),
        local_id: record.local_id.clone(),
        person_id: candidate.person.to_string(),
        score: candidate.score.weight,
        reason: reason.to_owned(),
        explanation: serde_json::to_string(&candidate.score.contributions)
            .expect("contributions serialise"),
        status: "open".into(),
        created_at: now,
        decided_by: None,
        decided_at: None,
    }
}

fn review_reason(candidate: &Candidate) -> &'static str {
    needs_human(candidate).unwrap_or("the score is between the review and auto-link thresholds")
}

/// A link made by matching, to the candidate's person, anchored on its best record.
fn automatic_link(candidate: &Candidate, actor: &str, now: i64) -> Link {
    Link {
        rule: "auto".into(),
        score: Some(candidate.score.weight),
        anchor: Some(candidate.record.clone()),
        actor: actor.into(),
        at: now,
        pinned: false,
    }
}

/// The link of a record that opened a person of its own.
fn new_person_link(actor: &str, now: i64) -> Link {
    Link {
        rule: "new".into(),
        score: None,
        anchor: None,
        actor: actor.into(),
        at: now,
        pinned: false,
    }
}

/// A link made by a person (pinned), with the reviewed score if there was one.
fn manual_link(rule: &str, score: Option<f64>, actor: &str, now: i64) -> Link {
    Link {
        rule: rule.into(),
        score,
        anchor: None,
        actor: actor.into(),
        at: now,
        pinned: true,
    }
}

fn history_row(
    id: &str,
    action: &str,
    actor: &str,
    at: i64,
    changes: &Changes,
    undoes: Option<String>,
) -> MpiHistoryRow {
    MpiHistoryRow {
        id: id.to_owned(),
        action: action.to_owned(),
        actor: actor.to_owned(),
        at,
        changes: serde_json::to_string(changes).expect("changes serialise"),
        undoes,
        undone_by: None,
        persons: changes.persons(),
    }
}

fn review_view(row: MpiReviewRow) -> Review {
    Review {
        id: row.id,
        record: RecordRef {
            source: row.source,
            local_id: row.local_id,
        },
        candidate_person_id: row.person_id,
        weight: row.score,
        reason: row.reason,
        explanation: serde_json::from_str(&row.explanation).unwrap_or(Value::Null),
        status: row.status,
        created_at: row.created_at,
        decided_by: row.decided_by,
        decided_at: row.decided_at,
    }
}

fn active_person(index: &Index, id: PersonId) -> Result<(), MpiError> {
    let person = index.person(&id).ok_or(MpiError::UnknownPerson)?;
    if person.merged_into.is_some() {
        return Err(conflict(
            "person-merged",
            "the person was merged into another person",
        ));
    }
    Ok(())
}

fn parse_person(id: &str) -> Result<PersonId, MpiError> {
    Uuid::parse_str(id).map_err(|_| MpiError::Store(StoreError::Corrupt("person id".into())))
}

fn open_record(sealer: &Sealer, sealed: &str) -> Result<SourceRecord, MpiError> {
    let bytes = sealer
        .open(sealed)
        .map_err(|e| MpiError::Sealing(e.to_string()))?;
    serde_json::from_slice(&bytes).map_err(|e| MpiError::Sealing(e.to_string()))
}

/// A source system's name: 1 to 64 of a-z, 0-9, `-`, `_`, `.`.
pub fn check_source(source: &str) -> Result<(), RecordError> {
    let ok = !source.is_empty()
        && source.len() <= 64
        && source.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        });
    if ok {
        Ok(())
    } else {
        Err(RecordError {
            field: "source".into(),
            problem: "must be 1 to 64 characters of a-z, 0-9, '-', '_' or '.'".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;

    async fn open(dir: &std::path::Path, thresholds: Thresholds) -> MasterIndex {
        let url = SecretString::from(format!(
            "sqlite://{}?mode=rwc",
            dir.join("index.db").display()
        ));
        let store = Store::connect(&url, 2).await.expect("store opens");
        let sealer = Sealer::from_secret(&SecretString::from("relink-test-key-0123456789abcdef"));
        MasterIndex::load(store, sealer, thresholds, |_| {})
            .await
            .expect("index loads")
    }

    fn record(json: serde_json::Value) -> SourceRecord {
        serde_json::from_value(json).expect("test record")
    }

    /// Registers a test record from `source` as the test actor; it must be accepted.
    async fn registered(
        index: &MasterIndex,
        source: &str,
        json: serde_json::Value,
    ) -> Registration {
        index
            .register(source, &record(json), "test")
            .await
            .expect("record registered")
    }

    fn person_of(index: &MasterIndex, source: &str, local_id: &str) -> PersonId {
        let key = RecordRef {
            source: source.into(),
            local_id: local_id.into(),
        };
        index.with_index(|i| i.slot(&key).expect("indexed").person)
    }

    #[tokio::test]
    async fn relink_moves_only_automatic_links_respects_non_matches_and_can_be_undone() {
        let dir = tempfile::tempdir().unwrap();
        let index = open(dir.path(), Thresholds::default()).await;
        let ion = serde_json::json!({
            "localId": "A", "firstName": "Ion", "lastName": "Ceban", "birthDate": "1980-04-07",
            "sex": "M", "address": {"locality": "Cahul", "street": "Ştefan cel Mare", "house": "12"}
        });
        let mut ion_again = ion.clone();
        ion_again["localId"] = "B".into();
        ion_again["lastName"] = "Чебан".into();
        registered(&index, "social", ion).await;
        let linked = registered(&index, "school", ion_again).await;
        assert_eq!(linked.outcome, Outcome::AutoLink);
        let ion_person = person_of(&index, "social", "A");
        // A stranger linked to Ion by hand: pinned.
        let stranger = serde_json::json!({
            "localId": "E", "firstName": "Petru", "lastName": "Lungu", "birthDate": "1955-01-30"
        });
        registered(&index, "police", stranger).await;
        let by_hand = RecordRef {
            source: "police".into(),
            local_id: "E".into(),
        };
        index.link(ion_person, &by_hand, "steward").await.unwrap();
        // A birth date missing: reviewed, and a reviewer said they are two persons.
        let ana = serde_json::json!({
            "localId": "C", "firstName": "Ana", "lastName": "Rusu", "birthDate": "2015-09-01",
            "sex": "F", "address": {"locality": "Orhei", "street": "Vasile Lupu", "house": "3"}
        });
        let mut ana_older = ana.clone();
        ana_older["localId"] = "D".into();
        ana_older
            .as_object_mut()
            .expect("an object")
            .remove("birthDate");
        registered(&index, "social", ana).await;
        let reviewed = registered(&index, "social", ana_older).await;
        assert_eq!(reviewed.outcome, Outcome::Review);
        let review = reviewed.review_id.unwrap().to_string();
        index
            .decide_review(&review, Verdict::NonMatch, "steward")
            .await
            .unwrap();
        drop(index);

        // Stricter than any score: every automatic link is re-evaluated and no longer holds.
        let strict = Thresholds {
            auto_link: 1000.0,
            review: 900.0,
        };
        let index = open(dir.path(), strict).await;
        let summary = index.relink("operator", |_, _| {}).await.unwrap();
        assert_eq!(summary.split, 1, "{summary:?}");
        assert_eq!(summary.moved, 0, "{summary:?}");
        assert!(summary.pinned >= 1, "{summary:?}");
        assert_ne!(person_of(&index, "school", "B"), ion_person);
        assert_eq!(person_of(&index, "social", "A"), ion_person);
        assert_eq!(person_of(&index, "police", "E"), ion_person, "pinned stays");
        let entry = summary.history_entries[0].clone();
        drop(index);

        // Looser than any score: the non-match decision still keeps Ana's two records apart.
        let loose = Thresholds {
            auto_link: -1000.0,
            review: -2000.0,
        };
        let index = open(dir.path(), loose).await;
        let before = (
            person_of(&index, "social", "C"),
            person_of(&index, "social", "D"),
        );
        index.relink("operator", |_, _| {}).await.unwrap();
        assert_ne!(
            person_of(&index, "social", "C"),
            person_of(&index, "social", "D")
        );
        assert_eq!(person_of(&index, "social", "D"), before.1);
        assert_eq!(person_of(&index, "police", "E"), ion_person, "pinned stays");
        drop(index);

        // The strict relink's entry cannot be undone once a later one moved its record; undo
        // the later ones first, then it: Ion's second record is back with him.
        let index = open(dir.path(), Thresholds::default()).await;
        let history = index.history(ion_person).await.unwrap();
        let later: Vec<String> = history
            .iter()
            .rev()
            .filter(|e| e.action == "relink" && e.id != entry)
            .map(|e| e.id.clone())
            .collect();
        for id in later {
            index.undo(&id, "steward").await.unwrap();
        }
        index.undo(&entry, "steward").await.unwrap();
        assert_eq!(person_of(&index, "school", "B"), ion_person);
    }

    /// Ion registered twice while nothing linked automatically (strict thresholds), then, under
    /// the default ones, a third record of him that matches both persons. With `pin_stranger`,
    /// a steward first put a stranger's record into the second person by hand.
    async fn held_twice(dir: &std::path::Path, pin_stranger: bool) -> (MasterIndex, Registration) {
        let ion = serde_json::json!({
            "localId": "A", "firstName": "Ion", "lastName": "Ceban", "birthDate": "1980-04-07",
            "sex": "M", "address": {"locality": "Cahul", "street": "Ştefan cel Mare", "house": "12"}
        });
        let variant = |local_id: &str, last_name: &str| {
            let mut record = ion.clone();
            record["localId"] = local_id.into();
            record["lastName"] = last_name.into();
            record
        };
        let strict = Thresholds {
            auto_link: 1000.0,
            review: 900.0,
        };
        let index = open(dir, strict).await;
        registered(&index, "social", ion.clone()).await;
        let second = registered(&index, "school", variant("B", "Чебан")).await;
        if pin_stranger {
            let stranger =
                serde_json::json!({"localId": "X", "firstName": "Petru", "lastName": "Lungu"});
            registered(&index, "police", stranger).await;
            let by_hand = RecordRef {
                source: "police".into(),
                local_id: "X".into(),
            };
            index
                .link(second.person_id, &by_hand, "steward")
                .await
                .unwrap();
        }
        drop(index);
        let index = open(dir, Thresholds::default()).await;
        let third = registered(&index, "health", variant("H", "Cheban")).await;
        (index, third)
    }

    /// A child of the Ceban household as the school register records it.
    fn pupil(local_id: &str, first_name: &str, passport: &str) -> SourceRecord {
        record(serde_json::json!({
            "localId": local_id, "firstName": first_name, "lastName": "Ceban",
            "patronymic": "Petrovici", "birthDate": "2001-05-12", "sex": "M",
            "address": {"district": "Cahul", "locality": "Cahul", "street": "Ştefan cel Mare",
                        "house": "12", "postalCode": "MD-3909"},
            "identifiers": [{"system": "passport", "value": passport}]
        }))
    }

    #[tokio::test]
    async fn twins_with_passports_issued_in_sequence_stay_two_persons_without_a_review() {
        let dir = tempfile::tempdir().unwrap();
        let index = open(dir.path(), Thresholds::default()).await;
        let ion = index
            .register("school", &pupil("1", "Ion", "B01234567"), "test")
            .await
            .unwrap();
        for (local_id, first_name, passport) in [
            // Issued next to his brother's.
            ("2", "Vasile", "B01234568"),
            // Issued elsewhere.
            ("3", "Mihai", "B07654321"),
        ] {
            let twin = index
                .register("school", &pupil(local_id, first_name, passport), "test")
                .await
                .unwrap();
            assert!(twin.created_person, "{first_name}: {twin:?}");
            assert_ne!(twin.person_id, ion.person_id);
            assert_eq!(twin.outcome, Outcome::NoMatch, "{first_name}: {twin:?}");
            assert_eq!(twin.review_id, None);
        }
    }

    #[tokio::test]
    async fn a_record_without_surname_links_on_first_name_and_birth_date_but_not_to_a_twin() {
        let dir = tempfile::tempdir().unwrap();
        let index = open(dir.path(), Thresholds::default()).await;
        let without_surname = |local_id: &str, first_name: &str| {
            record(serde_json::json!({
                "localId": local_id, "firstName": first_name, "patronymic": "Petrovici",
                "birthDate": "2001-05-12", "sex": "M",
                "address": {"district": "Cahul", "locality": "Cahul",
                            "street": "Ştefan cel Mare", "house": "12", "postalCode": "MD-3909"}
            }))
        };
        let ion = index
            .register("school", &pupil("1", "Ion", "B01234567"), "test")
            .await
            .unwrap();
        let vasile = index
            .register("school", &pupil("2", "Vasile", "B01234568"), "test")
            .await
            .unwrap();
        assert_ne!(vasile.person_id, ion.person_id);
        // The health register left the surname out: the first name and the full birth date
        // agree, so no human needs to look.
        let again = index
            .register("health", &without_surname("1", "Ion"), "test")
            .await
            .unwrap();
        assert_eq!(again.outcome, Outcome::AutoLink, "{again:?}");
        assert_eq!(again.person_id, ion.person_id);
        assert_eq!(again.review_id, None);
        // His twin brother, also without surname, is not him.
        let twin = index
            .register("health", &without_surname("2", "Vasile"), "test")
            .await
            .unwrap();
        assert_ne!(twin.person_id, ion.person_id, "{twin:?}");
        assert_eq!(twin.person_id, vasile.person_id, "{twin:?}");
    }

    #[tokio::test]
    async fn idnps_more_than_a_typo_apart_keep_namesakes_apart_though_one_fails_its_check() {
        let dir = tempfile::tempdir().unwrap();
        let index = open(dir.path(), Thresholds::default()).await;
        let ilie = |local_id: &str, idnp: Option<&str>, locality: &str, street: &str| {
            let mut record = serde_json::json!({
                "localId": local_id, "firstName": "Ilie", "lastName": "Rusu",
                "birthDate": "2010-02-02", "sex": "M",
                "address": {"locality": locality, "street": street, "house": "101"}
            });
            if let Some(idnp) = idnp {
                record["idnp"] = idnp.into();
            }
            record
        };
        // The first number fails its check digit; the second is valid and differs in most
        // digits: two boys of the same name born the same day.
        let first = registered(
            &index,
            "register",
            ilie("1", Some("2010005617806"), "Sîngerei", "str. Gării"),
        )
        .await;
        let second = registered(
            &index,
            "register",
            ilie("2", Some("2010366865568"), "Sărătenii Vechi", "str. Şcolii"),
        )
        .await;
        assert_ne!(second.outcome, Outcome::AutoLink, "{second:?}");
        assert_ne!(second.person_id, first.person_id);
        // A school record without an IDNP that matches both does not make them one person.
        registered(
            &index,
            "school",
            ilie("3", None, "Chişinău", "str. Livezilor"),
        )
        .await;
        assert_ne!(
            person_of(&index, "register", "1"),
            person_of(&index, "register", "2")
        );
    }

    #[tokio::test]
    async fn a_slip_the_check_digit_misses_links_but_a_twin_holding_it_stays_apart() {
        let dir = tempfile::tempdir().unwrap();
        let index = open(dir.path(), Thresholds::default()).await;
        let boy = |local_id: &str, first_name: &str, idnp: &str| {
            serde_json::json!({
                "localId": local_id, "idnp": idnp, "firstName": first_name,
                "lastName": "Ceban", "birthDate": "2004-03-12", "sex": "M",
                "address": {"locality": "Orhei", "street": "str. Păcii", "house": "7"}
            })
        };
        let ion = registered(&index, "register", boy("1", "Ion", "2004123456177")).await;
        // His school typed two neighbouring digits the other way round; the number still passes
        // its check digit, so only the name and the birth date tell a slip from another number.
        let school = registered(&index, "school", boy("1", "Ion", "2004123451677")).await;
        assert_eq!(school.outcome, Outcome::AutoLink, "{school:?}");
        assert_eq!(school.person_id, ion.person_id);
        // A later record with the right number still links: the slip is no second number.
        let health = registered(&index, "health", boy("1", "Ion", "2004123456177")).await;
        assert_eq!(health.outcome, Outcome::AutoLink, "{health:?}");
        assert_eq!(health.person_id, ion.person_id);
        // His twin brother, same surname, birth date and house, with that slip of Ion's number
        // on his record, is somebody else, and no review either.
        let dir = tempfile::tempdir().unwrap();
        let index = open(dir.path(), Thresholds::default()).await;
        let ion = registered(&index, "register", boy("1", "Ion", "2004123456177")).await;
        let twin = registered(&index, "police", boy("2", "Vasile", "2004123451677")).await;
        assert_eq!(twin.outcome, Outcome::NoMatch, "{twin:?}");
        assert_ne!(twin.person_id, ion.person_id);
    }

    #[tokio::test]
    async fn an_agreeing_idnp_with_another_first_name_and_no_birth_date_goes_to_a_human() {
        let dir = tempfile::tempdir().unwrap();
        let index = open(dir.path(), Thresholds::default()).await;
        let girl = |first_name: &str, birth_date: Option<&str>| {
            let mut record = serde_json::json!({
                "localId": "1", "idnp": "2013604339878", "firstName": first_name,
                "lastName": "Roşca", "sex": "F", "phone": "069235832",
                "address": {"locality": "Baurci", "street": "str. Alexandru cel Bun", "house": "134"}
            });
            if let Some(birth_date) = birth_date {
                record["birthDate"] = birth_date.into();
            }
            record
        };
        let ecaterina = registered(&index, "register", girl("Ecaterina", Some("2013-09-12"))).await;
        // Her sister's record carries her number, and no birth date to tell them apart.
        let maria = registered(&index, "health", girl("Maria", None)).await;
        assert_eq!(maria.outcome, Outcome::Review, "{maria:?}");
        assert_ne!(maria.person_id, ecaterina.person_id);
        // Her own record without a birth date still links on the number.
        let again = registered(&index, "school", girl("Ecaterina", None)).await;
        assert_eq!(again.outcome, Outcome::AutoLink, "{again:?}");
        assert_eq!(again.person_id, ecaterina.person_id);
    }

    #[tokio::test]
    async fn a_first_name_recorded_wrongly_links_when_the_identifier_is_a_typo_away() {
        let dir = tempfile::tempdir().unwrap();
        let index = open(dir.path(), Thresholds::default()).await;
        let ion = index
            .register("school", &pupil("1", "Ion", "B01234567"), "test")
            .await
            .unwrap();
        // Another first name, and two digits of the passport exchanged.
        let copy = index
            .register("health", &pupil("1", "Mihai", "B01243567"), "test")
            .await
            .unwrap();
        assert_eq!(copy.outcome, Outcome::AutoLink, "{copy:?}");
        assert_eq!(copy.person_id, ion.person_id);
        assert!(!copy.created_person);
    }

    #[tokio::test]
    async fn birth_years_one_apart_link_and_a_bride_keeps_her_first_name_and_birth_date() {
        let dir = tempfile::tempdir().unwrap();
        let index = open(dir.path(), Thresholds::default()).await;
        let person = |local_id: &str, first_name: &str, last_name: &str, birth_date: &str| {
            record(serde_json::json!({
                "localId": local_id, "firstName": first_name, "lastName": last_name,
                "birthDate": birth_date, "sex": "F",
                "address": {"locality": "Orhei", "street": "str. Păcii", "house": "7"}
            }))
        };
        let doina = index
            .register(
                "register",
                &person("1", "Doina", "Rusu", "1990-03-14"),
                "test",
            )
            .await
            .unwrap();
        let year_off = index
            .register(
                "school",
                &person("1", "Doina", "Rusu", "1991-03-14"),
                "test",
            )
            .await
            .unwrap();
        assert_eq!(year_off.outcome, Outcome::AutoLink, "{year_off:?}");
        assert_eq!(year_off.person_id, doina.person_id);
        // Married since, and her first name mistyped.
        let married = person("1", "Doiha", "Lungu", "1990-03-14");
        let features = |record: &SourceRecord| {
            Features::of(record, &mut crate::compare::NoInterning).expect("valid")
        };
        let typo = crate::compare::compare(
            &features(&married),
            &features(&person("1", "Doina", "Rusu", "1990-03-14")),
        );
        assert_eq!(
            typo.levels[Attribute::FirstName.index()],
            Some(NAME_TYPO),
            "{typo:?}"
        );
        let married = index.register("health", &married, "test").await.unwrap();
        assert_eq!(married.outcome, Outcome::AutoLink, "{married:?}");
        assert_eq!(married.person_id, doina.person_id);
        // A woman of the same first name born another day and month, another surname: not her.
        let other = index
            .register(
                "police",
                &person("1", "Doina", "Lungu", "1990-11-27"),
                "test",
            )
            .await
            .unwrap();
        assert_ne!(other.person_id, doina.person_id, "{other:?}");
    }

    #[tokio::test]
    async fn her_own_number_links_a_married_name_and_a_miscopied_birth_date_but_not_her_daughter() {
        let dir = tempfile::tempdir().unwrap();
        let index = open(dir.path(), Thresholds::default()).await;
        let woman = |first_name: &str, last_name: &str, birth_date: &str| {
            serde_json::json!({
                "localId": "1", "firstName": first_name, "lastName": last_name,
                "birthDate": birth_date, "sex": "F",
                "identifiers": [{"system": "passport", "value": "B01234567"}],
                "address": {"locality": "Orhei", "street": "str. Păcii", "house": "7"}
            })
        };
        let elena = registered(&index, "register", woman("Elena", "Rusu", "1975-06-14")).await;
        // Married since, and her birth date copied from another line of the form.
        let married = registered(&index, "health", woman("Elena", "Lungu", "1957-04-16")).await;
        assert_eq!(married.outcome, Outcome::AutoLink, "{married:?}");
        assert_eq!(married.person_id, elena.person_id);
        // Her daughter's record carrying the mother's passport: another first name, another
        // birth date; a human looks, nothing is linked.
        let daughter = registered(&index, "school", woman("Cristina", "Rusu", "1999-02-03")).await;
        assert_eq!(daughter.outcome, Outcome::Review, "{daughter:?}");
        assert_ne!(daughter.person_id, elena.person_id);
    }

    #[tokio::test]
    async fn same_name_year_and_house_link_but_not_a_son_or_a_namesake_elsewhere() {
        let dir = tempfile::tempdir().unwrap();
        let index = open(dir.path(), Thresholds::default()).await;
        let man = |birth_date: &str, street: &str| {
            serde_json::json!({
                "localId": "1", "firstName": "Ion", "lastName": "Ceban", "birthDate": birth_date,
                "sex": "M", "address": {"locality": "Cahul", "street": street, "house": "12"}
            })
        };
        let ion = registered(
            &index,
            "register",
            man("1980-04-07", "str. Ştefan cel Mare"),
        )
        .await;
        // Day and month written wrongly.
        let again = registered(&index, "school", man("1980-11-23", "str. Stefan cel Mare")).await;
        assert_eq!(again.outcome, Outcome::AutoLink, "{again:?}");
        assert_eq!(again.person_id, ion.person_id);
        // His son, named after him, in the same house: another year.
        let son = registered(&index, "police", man("2005-04-07", "str. Ştefan cel Mare")).await;
        assert_eq!(son.outcome, Outcome::NoMatch, "{son:?}");
        assert_ne!(son.person_id, ion.person_id);
        // A namesake born the same year in another street of the town.
        let namesake = registered(&index, "health", man("1980-02-19", "str. Păcii")).await;
        assert_eq!(namesake.outcome, Outcome::NoMatch, "{namesake:?}");
        assert_ne!(namesake.person_id, ion.person_id);
    }

    #[tokio::test]
    async fn names_in_each_others_field_one_of_them_different_link_on_an_agreeing_passport_only() {
        let dir = tempfile::tempdir().unwrap();
        let index = open(dir.path(), Thresholds::default()).await;
        let pupil = |local_id: &str, first_name: &str, last_name: &str, passport: &str| {
            serde_json::json!({
                "localId": local_id, "firstName": first_name, "lastName": last_name,
                "identifiers": [{"system": "passport", "value": passport}],
                "address": {"locality": "Ungheni", "street": "str. Viilor", "house": "160"}
            })
        };
        let maria = registered(
            &index,
            "register",
            pupil("A", "Maria", "Rotari", "B07483538"),
        )
        .await;
        // The surname in the first name's field, the first name another: her passport says who.
        let crossed = registered(
            &index,
            "school",
            pupil("B", "Rotari", "Cristina", "B07483538"),
        )
        .await;
        assert_eq!(crossed.outcome, Outcome::AutoLink, "{crossed:?}");
        assert_eq!(crossed.person_id, maria.person_id);
        // Her twin sister written the same way, with a passport of her own: not her.
        let twin = registered(&index, "health", pupil("C", "Rotari", "Ana", "B07483539")).await;
        assert_ne!(twin.person_id, maria.person_id, "{twin:?}");
        assert_ne!(twin.outcome, Outcome::AutoLink, "{twin:?}");
    }

    #[tokio::test]
    async fn a_record_linked_before_its_duplicates_came_joins_them_when_relinked() {
        let dir = tempfile::tempdir().unwrap();
        let index = open(dir.path(), Thresholds::default()).await;
        let ion = |local_id: &str, birth_date: &str, passport: Option<&str>| {
            let mut record = serde_json::json!({
                "localId": local_id, "firstName": "Ion", "lastName": "Ceban",
                "birthDate": birth_date, "sex": "M",
                "address": {"locality": "Cahul", "street": "str. Păcii", "house": "7"}
            });
            if let Some(passport) = passport {
                record["identifiers"] =
                    serde_json::json!([{"system": "passport", "value": passport}]);
            }
            record
        };
        // A's year mistyped beyond a typo: on its own, B cannot tell it from his father.
        registered(&index, "legacy", ion("A", "1908-04-07", Some("B01234567"))).await;
        registered(&index, "legacy", ion("B", "1980-04-07", None)).await;
        // C links to both; had it come first, A and B would each have linked to it.
        registered(&index, "legacy", ion("C", "1980-04-07", Some("B01234567"))).await;
        assert_ne!(
            person_of(&index, "legacy", "A"),
            person_of(&index, "legacy", "B")
        );
        let summary = index.relink("test", |_, _| {}).await.unwrap();
        assert_eq!(summary.moved, 1, "{summary:?}");
        let person = person_of(&index, "legacy", "C");
        assert_eq!(person_of(&index, "legacy", "A"), person);
        assert_eq!(person_of(&index, "legacy", "B"), person);
    }

    /// Registers test records from `legacy` as an import does (in memory, the rows written
    /// after), so that the records left unsettled are marked.
    async fn imported(index: &MasterIndex, records: Vec<serde_json::Value>) -> Vec<Registration> {
        let mut registrations = Vec::new();
        for json in records {
            let (batch, registration) = index
                .register_unwritten("legacy", &record(json), "test")
                .expect("record registered");
            index.store().mpi_apply(&batch).await.expect("rows written");
            registrations.push(registration);
        }
        registrations
    }

    fn ion_of_cahul(local_id: &str, birth_date: &str, passport: Option<&str>) -> serde_json::Value {
        let mut record = serde_json::json!({
            "localId": local_id, "firstName": "Ion", "lastName": "Ceban",
            "birthDate": birth_date, "sex": "M",
            "address": {"locality": "Cahul", "street": "str. Păcii", "house": "7"}
        });
        if let Some(passport) = passport {
            record["identifiers"] = serde_json::json!([{"system": "passport", "value": passport}]);
        }
        record
    }

    #[tokio::test]
    async fn an_import_relinks_the_records_it_left_unsettled_and_joins_duplicates_met_late() {
        let dir = tempfile::tempdir().unwrap();
        let index = open(dir.path(), Thresholds::default()).await;
        // As in the test above, but imported: A and B each open a person, C links to one of
        // them and comes close to the other; had C come first, both would have linked to it.
        imported(
            &index,
            vec![
                ion_of_cahul("A", "1908-04-07", Some("B01234567")),
                ion_of_cahul("B", "1980-04-07", None),
                ion_of_cahul("C", "1980-04-07", Some("B01234567")),
            ],
        )
        .await;
        assert_ne!(
            person_of(&index, "legacy", "A"),
            person_of(&index, "legacy", "B")
        );
        let summary = index.relink_unsettled("test", |_, _| {}).await.unwrap();
        assert_eq!(summary.moved, 1, "{summary:?}");
        let person = person_of(&index, "legacy", "C");
        assert_eq!(person_of(&index, "legacy", "A"), person);
        assert_eq!(person_of(&index, "legacy", "B"), person);
        // Settled: a second relink changes nothing.
        let again = index.relink_unsettled("test", |_, _| {}).await.unwrap();
        assert_eq!(
            (again.moved, again.split, again.reviews_opened),
            (0, 0, 0),
            "{again:?}"
        );
    }

    #[tokio::test]
    async fn a_record_an_import_linked_to_a_person_already_there_is_not_decided_again() {
        let dir = tempfile::tempdir().unwrap();
        let index = open(dir.path(), Thresholds::default()).await;
        let registrations = imported(
            &index,
            vec![
                ion_of_cahul("A", "1980-04-07", Some("B01234567")),
                ion_of_cahul("B", "1980-04-07", Some("B01234567")),
                ion_of_cahul("C", "1980-04-07", None),
            ],
        )
        .await;
        assert!(registrations[0].created_person);
        assert!(
            registrations[1..].iter().all(|r| !r.created_person
                && r.outcome == Outcome::AutoLink
                && r.review_id.is_none())
        );
        let summary = index.relink_unsettled("test", |_, _| {}).await.unwrap();
        // Only A, which opened the person, is decided again; it stays.
        assert_eq!(summary.examined, 1, "{summary:?}");
        assert_eq!((summary.moved, summary.split), (0, 0), "{summary:?}");
        let person = person_of(&index, "legacy", "A");
        assert_eq!(person_of(&index, "legacy", "B"), person);
        assert_eq!(person_of(&index, "legacy", "C"), person);
    }

    /// `count` records of persons unlike each other and unlike the records of the tests below
    /// (other birth years, no address), to give an index name frequencies.
    fn strangers(count: usize) -> Vec<serde_json::Value> {
        // Letters far apart for neighbouring numbers, so that no two names are a typo apart.
        let name = |i: usize, salt: usize| -> String {
            let mut n = i * 7_919 + salt * 104_729;
            let letters: String = (0..5)
                .map(|_| {
                    let letter = char::from(b'a' + (n % 26) as u8);
                    n /= 26;
                    letter
                })
                .collect();
            format!("Q{letters}")
        };
        (0..count)
            .map(|i| {
                serde_json::json!({
                    "localId": format!("S{i}"),
                    "firstName": name(i, 1),
                    "lastName": name(i, 2),
                    "birthDate": format!("{}-{:02}-{:02}", 1900 + i / 336, 1 + (i / 28) % 12, 1 + i % 28),
                })
            })
            .collect()
    }

    /// Each record's local id, grouped by person, and the open reviews as (record, the local
    /// ids of the proposed person): what a relink decides, without the persons' ids.
    async fn decisions(index: &MasterIndex) -> (Vec<Vec<String>>, Vec<(String, Vec<String>)>) {
        let (mut persons, members) = index.with_index(|i| {
            let mut by_person: HashMap<PersonId, Vec<String>> = HashMap::new();
            for slot in i.live_slots().iter() {
                let slot = i.live_slot(slot).expect("live");
                by_person
                    .entry(slot.person)
                    .or_default()
                    .push(slot.record.local_id.to_string());
            }
            let mut persons: Vec<Vec<String>> = by_person.values().cloned().collect();
            for records in &mut persons {
                records.sort();
            }
            (persons, by_person)
        });
        persons.sort();
        let mut reviews: Vec<(String, Vec<String>)> = index
            .store()
            .mpi_reviews("open", 1000, 0)
            .await
            .unwrap()
            .into_iter()
            .map(|review| {
                let person = parse_person(&review.person_id).unwrap();
                let mut proposed = members.get(&person).cloned().unwrap_or_default();
                proposed.sort();
                (review.local_id, proposed)
            })
            .collect();
        reviews.sort();
        (persons, reviews)
    }

    #[tokio::test]
    async fn a_record_whose_names_weigh_more_at_the_end_of_an_import_is_decided_again() {
        // E and R: the same rare names and locality, birth years one apart, and another
        // patronymic, phone and passport. While the index is small, names weigh what the model
        // says and the pair stays below the review weight; once a thousand others are in, the
        // names weigh as the rare names they are and the pair reaches it.
        let records = namesakes_among_strangers();
        let (scoped_dir, full_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let scoped = open(scoped_dir.path(), Thresholds::default()).await;
        let full = open(full_dir.path(), Thresholds::default()).await;
        let registrations = imported(&scoped, records.clone()).await;
        imported(&full, records).await;
        assert!(
            registrations[..2]
                .iter()
                .all(|r| r.created_person && r.review_id.is_none()),
            "{:?}",
            &registrations[..2]
        );

        scoped.relink_unsettled("test", |_, _| {}).await.unwrap();
        full.relink("test", |_, _| {}).await.unwrap();
        let (persons, reviews) = decisions(&scoped).await;
        assert!(
            reviews.contains(&("E".to_owned(), vec!["R".to_owned()])),
            "{reviews:?}"
        );
        assert_eq!((persons, reviews), decisions(&full).await);
    }

    /// The names of `records` counted as an import counts its file before linking it.
    fn counted(records: &[serde_json::Value]) -> NameCounts {
        let mut counts = NameCounts::default();
        for json in records {
            counts.add_record(&record(json.clone()));
        }
        counts
    }

    /// The records of the test above and a thousand strangers: each stranger opens a person
    /// of its own that no other record comes close to.
    fn namesakes_among_strangers() -> Vec<serde_json::Value> {
        let namesake =
            |local_id: &str, born: &str, patronymic: &str, phone: &str, passport: &str| {
                serde_json::json!({
                    "localId": local_id, "firstName": "Xenofont", "lastName": "Zgardan",
                    "patronymic": patronymic, "birthDate": born, "phone": phone,
                    "identifiers": [{"system": "passport", "value": passport}],
                    "address": {"locality": "Cahul"}
                })
            };
        let mut records = vec![
            namesake("E", "1950-03-14", "Ivan", "+37369000001", "A1111111"),
            namesake("R", "1951-03-14", "Petru", "+37379000002", "Z9876543"),
        ];
        records.extend(strangers(1_000));
        records
    }

    #[tokio::test]
    async fn an_import_that_counted_its_names_first_decides_no_lone_person_again() {
        let records = namesakes_among_strangers();
        let dir = tempfile::tempdir().unwrap();
        let index = open(dir.path(), Thresholds::default()).await;
        index.fix_name_counts(counted(&records));
        let registrations = imported(&index, records.clone()).await;
        // Weighed as the rare names they are from the first record on, R comes close to E
        // as it is registered.
        assert!(
            registrations[1].review_id.is_some(),
            "{:?}",
            registrations[1]
        );

        let summary = index.relink_unsettled("test", |_, _| {}).await.unwrap();
        // E (whose person R came close to) and R (which opened a review) are decided again;
        // none of the thousand strangers is.
        assert_eq!(summary.examined, 2, "{summary:?}");
        assert_eq!(
            index.with_index(|i| i.name_counts().clone()),
            counted(&records)
        );
        // Deciding every record again changes nothing.
        let settled = decisions(&index).await;
        let full = index.relink("test", |_, _| {}).await.unwrap();
        assert_eq!(full.examined, records.len(), "{full:?}");
        assert_eq!(
            (
                full.moved,
                full.split,
                full.reviews_opened,
                full.reviews_withdrawn
            ),
            (0, 0, 0, 0),
            "{full:?}"
        );
        assert!(settled.1 == vec![("R".to_owned(), vec!["E".to_owned()])]);
        assert!(decisions(&index).await == settled);
    }

    #[tokio::test]
    async fn counts_an_import_did_not_leave_make_its_relink_decide_every_lone_person_again() {
        let mut records = namesakes_among_strangers();
        let dir = tempfile::tempdir().unwrap();
        let index = open(dir.path(), Thresholds::default()).await;
        // The file holds a stranger twice, under other names the second time: the index keeps
        // the second, so the names counted beforehand are not the ones it ends with.
        let mut replaced = records[2].clone();
        replaced["firstName"] = "Qzzzzz".into();
        records.push(replaced);
        index.fix_name_counts(counted(&records));
        let registrations = imported(&index, records.clone()).await;
        assert!(registrations.last().unwrap().updated);

        // Each of the 1,002 records opened a person of its own, and each is decided again.
        let summary = index.relink_unsettled("test", |_, _| {}).await.unwrap();
        assert_eq!(summary.examined, 1_002, "{summary:?}");
    }

    /// Two records of one person that a human must look at (B has no birth date, A only the
    /// locality besides), then a third that links to either; `ruled_out`: the reviewer said B
    /// is not A's person. Returns whether A and B ended in one person.
    async fn bridged(dir: &std::path::Path, ruled_out: bool) -> bool {
        let index = open(dir, Thresholds::default()).await;
        let register = serde_json::json!({
            "localId": "A", "firstName": "Ion", "lastName": "Ceban", "birthDate": "1980-04-07",
            "address": {"locality": "Cahul"}
        });
        let school = serde_json::json!({
            "localId": "B", "firstName": "Ion", "lastName": "Ceban",
            "address": {"locality": "Cahul", "street": "Ştefan cel Mare", "house": "12"},
            "identifiers": [{"system": "passport", "value": "B01234567"}]
        });
        let health = serde_json::json!({
            "localId": "C", "firstName": "Ion", "lastName": "Ceban", "birthDate": "1980-04-07",
            "address": {"locality": "Cahul", "street": "Ştefan cel Mare", "house": "12"},
            "identifiers": [{"system": "passport", "value": "B01234567"}]
        });
        registered(&index, "register", register).await;
        let apart = registered(&index, "school", school).await;
        assert!(apart.created_person, "{apart:?}");
        assert_ne!(
            person_of(&index, "register", "A"),
            person_of(&index, "school", "B")
        );
        if ruled_out {
            let review = apart.review_id.expect("B was reviewed").to_string();
            index
                .decide_review(&review, Verdict::NonMatch, "steward")
                .await
                .unwrap();
        }
        let both = registered(&index, "health", health).await;
        assert_eq!(both.outcome, Outcome::AutoLink, "{both:?}");
        person_of(&index, "register", "A") == person_of(&index, "school", "B")
    }

    #[tokio::test]
    async fn a_record_that_links_to_two_persons_close_to_each_other_merges_them() {
        let dir = tempfile::tempdir().unwrap();
        assert!(bridged(dir.path(), false).await);
    }

    #[tokio::test]
    async fn a_non_match_decision_keeps_two_persons_apart_whichever_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        // C links best to B's person (the passport), so B's person is the one kept and A's
        // the one that would be absorbed; the decision was made on B's record.
        assert!(!bridged(dir.path(), true).await);
    }

    #[tokio::test]
    async fn a_person_held_twice_is_merged_when_its_records_match_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let (index, third) = held_twice(dir.path(), false).await;
        assert_eq!(third.outcome, Outcome::AutoLink);
        assert!(third.review_id.is_none(), "{third:?}");
        let ion = third.person_id;
        for (source, local_id) in [("social", "A"), ("school", "B"), ("health", "H")] {
            assert_eq!(person_of(&index, source, local_id), ion, "{source}");
        }
        let merge = index
            .history(ion)
            .await
            .unwrap()
            .into_iter()
            .find(|e| e.action == "auto-merge")
            .expect("an auto-merge entry");
        index.undo(&merge.id, "steward").await.unwrap();
        assert_ne!(
            person_of(&index, "social", "A"),
            person_of(&index, "school", "B")
        );
    }

    #[tokio::test]
    async fn a_person_held_twice_with_a_human_decision_in_it_goes_to_review() {
        let dir = tempfile::tempdir().unwrap();
        let (index, third) = held_twice(dir.path(), true).await;
        assert_eq!(third.outcome, Outcome::AutoLink);
        assert!(third.review_id.is_some(), "{third:?}");
        assert_ne!(
            person_of(&index, "social", "A"),
            person_of(&index, "school", "B")
        );
        assert_eq!(
            person_of(&index, "police", "X"),
            person_of(&index, "school", "B"),
            "the pinned record stays"
        );
    }
}
