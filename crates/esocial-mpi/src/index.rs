//! The in-memory master index: every live source record's features, which person it belongs
//! to, blocking postings and name frequencies. It is rebuilt from the store at start and kept
//! in step by [`crate::MasterIndex`], which writes the store first.
//!
//! Blocking: a record is only compared with records sharing one of its blocking keys (IDNP,
//! phone, other identifiers, halves of identifiers, full birth date, full birth date
//! with either name's sound, birth year with both names' sounds, both names' sounds with the
//! locality), so the cost of a match grows little with the size of the index. Keys shared by more than [`MAX_BLOCK`] records are ignored as
//! uninformative.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::compare::{Attribute, Comparison, Features, Interner, Name, Text, compare};
use crate::model::{Model, NameFrequencies, Score, TrainingBlock};
use crate::record::SourceRecord;

/// Blocks larger than this are skipped: a key that many records share says too little.
pub const MAX_BLOCK: u32 = 400;
const NO_POSTING: u32 = u32::MAX;
const NO_SLOT: u32 = u32::MAX;
/// Identifiers at least this long are also blocked on by either half.
const MIN_IDENTIFIER_FOR_HALVES: usize = 6;
/// Names an index must hold before their frequencies adjust the weights.
pub const MIN_NAMES_FOR_FREQUENCIES: u32 = 1_000;

pub type PersonId = Uuid;

/// A source record's identity: its system and its key there.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordRef {
    pub source: String,
    pub local_id: String,
}

/// A source record's identity as the index holds it: a [`RecordRef`] whose source name is
/// shared by every record of that source. A record's slot, the lookup table and the links
/// anchored on the record share one; it reads and writes as a [`RecordRef`] does.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordKey {
    pub source: Text,
    pub local_id: Box<str>,
}

impl RecordKey {
    pub fn to_record_ref(&self) -> RecordRef {
        RecordRef {
            source: self.source.to_string(),
            local_id: self.local_id.to_string(),
        }
    }
}

/// Why a record belongs to its person, by whom and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Link {
    /// `auto` (score above the auto-link threshold), `new` (no candidate: a new person),
    /// `review` (a reviewer said match), `manual` (linked or unlinked by hand), `merge`.
    pub rule: Text,
    /// Match weight when the rule is `auto` (against `anchor`) or `review` (as reviewed).
    pub score: Option<f64>,
    /// The record it was matched with, for `auto` links.
    pub anchor: Option<Arc<RecordKey>>,
    pub actor: Text,
    /// Epoch milliseconds.
    pub at: i64,
    /// Set by human decisions; automatic matching never moves a pinned record.
    pub pinned: bool,
}

/// The pairs training learns from, and the sources their records came from.
pub struct TrainingPairs {
    pub blocks: Vec<TrainingBlock>,
    pub random: Vec<Comparison>,
    pub sources: Vec<String>,
}

impl TrainingPairs {
    /// The model EM learns from these pairs, starting from the prior; not yet checked.
    pub fn learn(self) -> Model {
        Model::prior().train(&self.blocks, &self.random, self.sources)
    }
}

/// One live record in the index.
#[derive(Debug)]
pub struct Slot {
    pub record: Arc<RecordKey>,
    pub person: PersonId,
    pub features: Features,
    pub link: Link,
    alive: bool,
    /// The person's next record, in the order they joined ([`NO_SLOT`] after the last): a
    /// person's records form a chain through their slots, so a person holds no list of its own.
    next_of_person: u32,
}

/// A set of slots (records), one bit each, read in the order the slots were taken.
#[derive(Debug, Clone, Default)]
pub struct SlotSet {
    words: Vec<u64>,
    len: usize,
}

impl SlotSet {
    pub fn insert(&mut self, slot: u32) {
        let (word, bit) = (slot as usize / 64, slot % 64);
        if word >= self.words.len() {
            self.words.resize(word + 1, 0);
        }
        if self.words[word] & (1 << bit) == 0 {
            self.words[word] |= 1 << bit;
            self.len += 1;
        }
    }

    pub fn contains(&self, slot: u32) -> bool {
        self.words
            .get(slot as usize / 64)
            .is_some_and(|word| word & (1 << (slot % 64)) != 0)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The slots in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.words.iter().enumerate().flat_map(|(at, &word)| {
            (0..64)
                .filter(move |bit| word & (1 << bit) != 0)
                .map(move |bit| (at * 64) as u32 + bit)
        })
    }
}

impl Extend<u32> for SlotSet {
    fn extend<I: IntoIterator<Item = u32>>(&mut self, slots: I) {
        for slot in slots {
            self.insert(slot);
        }
    }
}

/// What the index knows of a person besides its records.
#[derive(Debug, Clone, Copy)]
pub struct Person {
    pub created_at: i64,
    /// The person it was merged into, if any.
    pub merged_into: Option<PersonId>,
}

/// A person's chain of records (first and last slot, [`NO_SLOT`] when it has none) and its
/// creation time. Merges are rare, so the persons merged into another are kept apart.
#[derive(Debug, Clone, Copy)]
struct PersonEntry {
    first: u32,
    last: u32,
    created_at: i64,
}

impl Default for PersonEntry {
    fn default() -> Self {
        Self {
            first: NO_SLOT,
            last: NO_SLOT,
            created_at: 0,
        }
    }
}

/// A candidate person for a record, with its best-matching record's score.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub person: PersonId,
    pub record: Arc<RecordKey>,
    pub comparison: Comparison,
    pub score: Score,
    /// The person holds a valid IDNP different from the record's valid IDNP, or holds IDNPs
    /// and every one is more than a typo from the record's (some failing their check digit).
    pub idnp_conflict: bool,
}

/// The shares of a record's first name and surname among the index's first names and
/// surnames, and of each among the other kind (for names written the other way round).
struct NameShares {
    first: Option<f64>,
    last: Option<f64>,
    swapped_first: Option<f64>,
    swapped_last: Option<f64>,
}

impl NameShares {
    /// The frequencies that weigh a comparison's exact name agreements.
    fn frequencies(&self, comparison: &Comparison) -> NameFrequencies {
        let exact = |attribute: Attribute| comparison.levels[attribute.index()] == Some(0);
        let (first, last) = if comparison.names_swapped {
            (self.swapped_first, self.swapped_last)
        } else {
            (self.first, self.last)
        };
        NameFrequencies {
            first: first.filter(|_| exact(Attribute::FirstName)),
            last: last.filter(|_| exact(Attribute::LastName)),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Posting {
    slot: u32,
    next: u32,
}

#[derive(Debug, Clone, Copy)]
struct Block {
    head: u32,
    len: u32,
}

/// Names, place strings, source names and link rules and actors shared between records.
#[derive(Default)]
struct Strings {
    given: HashMap<Box<str>, Arc<Name>>,
    surnames: HashMap<Box<str>, Arc<Name>>,
    texts: HashMap<Text, ()>,
}

impl Strings {
    /// The shared copy of `text`, if one is held.
    fn known(&self, text: &str) -> Option<Text> {
        self.texts
            .get_key_value(text)
            .map(|(text, ())| text.clone())
    }
}

impl Interner for Strings {
    fn given(&mut self, display: &str) -> Option<Arc<Name>> {
        if let Some(name) = self.given.get(display) {
            return Some(name.clone());
        }
        let name = Arc::new(Name::given(display)?);
        self.given.insert(display.into(), name.clone());
        Some(name)
    }

    fn surname(&mut self, display: &str) -> Option<Arc<Name>> {
        if let Some(name) = self.surnames.get(display) {
            return Some(name.clone());
        }
        let name = Arc::new(Name::surname(display)?);
        self.surnames.insert(display.into(), name.clone());
        Some(name)
    }

    fn text(&mut self, folded: String) -> Text {
        if let Some(text) = self.known(&folded) {
            return text;
        }
        let text = Text::from(folded);
        self.texts.insert(text.clone(), ());
        text
    }
}

/// The whole index. Not synchronised: the owner wraps it in a lock.
#[derive(Default)]
pub struct Index {
    slots: Vec<Slot>,
    by_record: HashMap<Arc<RecordKey>, u32>,
    persons: HashMap<PersonId, PersonEntry>,
    merged_into: HashMap<PersonId, PersonId>,
    blocks: HashMap<u64, Block>,
    postings: Vec<Posting>,
    names: NameCounts,
    /// While an import runs: the counts its records will leave in the index, used to weigh
    /// names from its first record on (see [`Index::fix_name_counts`]).
    fixed_names: Option<NameCounts>,
    strings: Strings,
    /// Human non-match decisions: this record must never be linked to these persons.
    non_matches: HashMap<RecordRef, Vec<PersonId>>,
    pub model: Model,
}

fn block_key(parts: impl Hash) -> u64 {
    let mut hasher = DefaultHasher::new();
    parts.hash(&mut hasher);
    hasher.finish()
}

/// A blocking rule: which attributes two records must share to be compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlockRule {
    Idnp,
    Phone,
    Identifier,
    /// Either half of an identifier (a one-typo difference leaves one whole), the second half
    /// only of an IDNP.
    IdentifierHalf,
    /// Full birth date (day and month in either order), whatever the names and the place: for
    /// learning the weights of names only (see [`BlockRule::searched`]).
    Date,
    /// Full birth date (day and month in either order) and the sound of either name.
    DateName,
    /// Full birth date (day and month in either order) and the district or the locality,
    /// whatever the names: a married surname with a mistyped first name, or both names
    /// mistyped.
    DatePlace,
    /// Birth year and the sounds of both names.
    YearNames,
    /// The sounds of both names and the locality.
    NamesLocality,
}

impl BlockRule {
    pub const ALL: [BlockRule; 9] = [
        Self::Idnp,
        Self::Phone,
        Self::Identifier,
        Self::IdentifierHalf,
        Self::Date,
        Self::DateName,
        Self::DatePlace,
        Self::YearNames,
        Self::NamesLocality,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Idnp => "idnp",
            Self::Phone => "phone",
            Self::Identifier => "identifier",
            Self::IdentifierHalf => "identifier-half",
            Self::Date => "date",
            Self::DatePlace => "date-place",
            Self::DateName => "date-name",
            Self::YearNames => "year-names",
            Self::NamesLocality => "names-locality",
        }
    }

    /// Whether a search for candidates walks the rule's blocks. Everyone born on one day grows
    /// with the index (about fifty records at a million persons), and at that size those
    /// blocks were most of what a search compared, for the few pairs that share no name sound,
    /// identifier or place: those pairs still teach the weights of names.
    pub fn searched(self) -> bool {
        self != Self::Date
    }

    /// The attributes that agree (at least roughly) on every pair the rule proposes.
    pub fn blocked_on(self) -> Vec<Attribute> {
        match self {
            Self::Idnp => vec![Attribute::Idnp],
            Self::Phone => vec![Attribute::Phone],
            Self::Identifier => vec![Attribute::Identifier],
            // Half an identifier is shared mostly by the same number, exact or mistyped.
            Self::IdentifierHalf => vec![Attribute::Idnp, Attribute::Identifier],
            Self::Date => vec![Attribute::BirthDate],
            Self::DatePlace => vec![Attribute::BirthDate, Attribute::Address],
            Self::DateName | Self::YearNames => {
                vec![
                    Attribute::BirthDate,
                    Attribute::FirstName,
                    Attribute::LastName,
                ]
            }
            Self::NamesLocality => {
                vec![
                    Attribute::FirstName,
                    Attribute::LastName,
                    Attribute::Address,
                ]
            }
        }
    }
}

/// The blocking keys of a record's features, with the rule that made each.
pub fn blocking_keys(features: &Features) -> Vec<(BlockRule, u64)> {
    let mut keys = Vec::with_capacity(12);
    // Only the IDNP's second half: its first (the year and office of issue) is shared by many.
    if let Some(idnp) = &features.idnp {
        let digits = idnp.digits();
        if digits.len() >= MIN_IDENTIFIER_FOR_HALVES && digits.is_ascii() {
            let tail = &digits[digits.len() / 2..];
            keys.push((
                BlockRule::IdentifierHalf,
                block_key(("id-tail", "idnp", tail)),
            ));
        }
    }
    for (system, value) in &features.identifiers {
        if value.len() >= MIN_IDENTIFIER_FOR_HALVES && value.is_ascii() {
            let (head, tail) = value.split_at(value.len() / 2);
            keys.push((
                BlockRule::IdentifierHalf,
                block_key(("id-head", system, head)),
            ));
            keys.push((
                BlockRule::IdentifierHalf,
                block_key(("id-tail", system, tail)),
            ));
        }
    }
    if let Some(idnp) = &features.idnp {
        keys.push((BlockRule::Idnp, block_key(("idnp", idnp.digits()))));
    }
    if let Some(phone) = features.phone {
        keys.push((
            BlockRule::Phone,
            block_key(("phone", u64::from(phone.get()))),
        ));
    }
    for (system, value) in &features.identifiers {
        keys.push((BlockRule::Identifier, block_key(("id", system, value))));
    }
    let sounds: Vec<&str> = [&features.first, &features.last]
        .into_iter()
        .flatten()
        .map(|name| &*name.phonetic)
        .filter(|key| !key.is_empty())
        .collect();
    if let Some(birth) = features.birth {
        if let (Some(month), Some(day)) = (birth.month, birth.day) {
            // Day and month in order of size, so a swapped date falls in the same block.
            let (low, high) = (month.min(day), month.max(day));
            keys.push((BlockRule::Date, block_key(("date", birth.year, low, high))));
            let places = [
                ("district", &features.place.district),
                ("locality", &features.place.locality),
            ];
            for (kind, place) in places {
                if let Some(place) = place {
                    let key = block_key(("date-place", birth.year, low, high, kind, &**place));
                    keys.push((BlockRule::DatePlace, key));
                }
            }
            for sound in &sounds {
                let key = block_key(("date-name", birth.year, low, high, sound));
                keys.push((BlockRule::DateName, key));
            }
        }
        if let [a, b] = sounds[..] {
            let key = block_key(("year-names", birth.year, a.min(b), a.max(b)));
            keys.push((BlockRule::YearNames, key));
        }
    }
    if let ([a, b], Some(locality)) = (&sounds[..], &features.place.locality) {
        let key = block_key(("names-locality", a.min(b), a.max(b), locality));
        keys.push((BlockRule::NamesLocality, key));
    }
    keys.sort_unstable_by_key(|(_, key)| *key);
    keys.dedup_by_key(|(_, key)| *key);
    keys
}

impl Index {
    pub fn new(model: Model) -> Self {
        Self {
            model,
            ..Self::default()
        }
    }

    pub fn interner(&mut self) -> &mut impl Interner {
        &mut self.strings
    }

    pub fn record_count(&self) -> usize {
        self.by_record.len()
    }

    pub fn person_count(&self) -> usize {
        self.persons
            .iter()
            .filter(|(id, p)| p.first != NO_SLOT && !self.merged_into.contains_key(id))
            .count()
    }

    pub fn slot(&self, record: &RecordRef) -> Option<&Slot> {
        self.slot_id(record).map(|slot| &self.slots[slot as usize])
    }

    /// The slot of a live record.
    pub fn slot_id(&self, record: &RecordRef) -> Option<u32> {
        // A source the index has never seen holds no record.
        let source = self.strings.known(&record.source)?;
        let key = RecordKey {
            source,
            local_id: record.local_id.as_str().into(),
        };
        self.by_record.get(&key).copied()
    }

    /// The live record in slot `slot`.
    pub fn live_slot(&self, slot: u32) -> Option<&Slot> {
        self.slots.get(slot as usize).filter(|slot| slot.alive)
    }

    /// The live slots, in the order they were taken.
    pub fn live_slots(&self) -> SlotSet {
        let mut set = SlotSet::default();
        for &slot in self.by_record.values() {
            set.insert(slot);
        }
        set
    }

    pub fn person(&self, id: &PersonId) -> Option<Person> {
        self.persons.get(id).map(|entry| Person {
            created_at: entry.created_at,
            merged_into: self.merged_into.get(id).copied(),
        })
    }

    /// The records of a person, in the order they joined.
    pub fn records_of(&self, id: &PersonId) -> Vec<&Slot> {
        self.slots_of(id)
            .map(|slot| &self.slots[slot as usize])
            .collect()
    }

    /// The slots of a person's records, in the order they joined.
    pub fn slots_of(&self, id: &PersonId) -> impl Iterator<Item = u32> + '_ {
        let present = |slot: u32| (slot != NO_SLOT).then_some(slot);
        let first = self.persons.get(id).and_then(|entry| present(entry.first));
        std::iter::successors(first, move |&slot| {
            present(self.slots[slot as usize].next_of_person)
        })
    }

    /// Appends a slot to the end of its person's chain.
    fn chain(&mut self, person: PersonId, slot_id: u32) {
        let entry = self.persons.entry(person).or_default();
        let previous_last = std::mem::replace(&mut entry.last, slot_id);
        if previous_last == NO_SLOT {
            entry.first = slot_id;
        }
        self.slots[slot_id as usize].next_of_person = NO_SLOT;
        if previous_last != NO_SLOT {
            self.slots[previous_last as usize].next_of_person = slot_id;
        }
    }

    /// Takes a slot out of its person's chain.
    fn unchain(&mut self, person: PersonId, slot_id: u32) {
        let Some(mut entry) = self.persons.get(&person).copied() else {
            return;
        };
        let mut previous = NO_SLOT;
        let mut current = entry.first;
        while current != NO_SLOT && current != slot_id {
            previous = current;
            current = self.slots[current as usize].next_of_person;
        }
        if current == NO_SLOT {
            return;
        }
        let next = self.slots[slot_id as usize].next_of_person;
        if previous == NO_SLOT {
            entry.first = next;
        } else {
            self.slots[previous as usize].next_of_person = next;
        }
        if entry.last == slot_id {
            entry.last = previous;
        }
        self.persons.insert(person, entry);
    }

    pub fn is_non_match(&self, record: &RecordRef, person: &PersonId) -> bool {
        self.non_matches_of(record).contains(person)
    }

    /// The persons a human ruled out for `record`.
    pub fn non_matches_of(&self, record: &RecordRef) -> &[PersonId] {
        self.non_matches.get(record).map_or(&[], Vec::as_slice)
    }

    pub fn add_non_match(&mut self, record: &RecordRef, person: PersonId) {
        let persons = self.non_matches.entry(record.clone()).or_default();
        if !persons.contains(&person) {
            persons.push(person);
        }
    }

    pub fn remove_non_match(&mut self, record: &RecordRef, person: &PersonId) {
        if let Some(persons) = self.non_matches.get_mut(record) {
            persons.retain(|p| p != person);
        }
    }

    /// Creates an empty person (or revives its entry) with the given creation time.
    pub fn ensure_person(&mut self, id: PersonId, created_at: i64) {
        self.persons.entry(id).or_insert_with(|| PersonEntry {
            created_at,
            ..PersonEntry::default()
        });
    }

    pub fn set_merged_into(&mut self, id: PersonId, target: Option<PersonId>) {
        if !self.persons.contains_key(&id) {
            return;
        }
        match target {
            Some(target) => self.merged_into.insert(id, target),
            None => self.merged_into.remove(&id),
        };
    }

    /// Puts a record in the index (replacing an earlier version of it) under `person`.
    pub fn upsert(&mut self, record: RecordRef, features: Features, person: PersonId, link: Link) {
        self.remove(&record);
        let record = Arc::new(RecordKey {
            source: self.strings.text(record.source),
            local_id: record.local_id.into(),
        });
        let slot = u32::try_from(self.slots.len()).expect("fewer than 4 billion record versions");
        for (_, key) in blocking_keys(&features) {
            let block = self.blocks.entry(key).or_insert(Block {
                head: NO_POSTING,
                len: 0,
            });
            self.postings.push(Posting {
                slot,
                next: block.head,
            });
            block.head = (self.postings.len() - 1) as u32;
            block.len += 1;
        }
        self.names
            .add(features.first.as_deref(), features.last.as_deref());
        self.by_record.insert(record.clone(), slot);
        let link = self.shared(link);
        self.slots.push(Slot {
            record,
            person,
            features,
            link,
            alive: true,
            next_of_person: NO_SLOT,
        });
        self.chain(person, slot);
    }

    /// The link with its rule and actor shared with every other link that has them, and its
    /// anchor shared with the anchor record's own key (or, for a record not indexed, its source
    /// name with the other records'): a million links hold a few strings.
    fn shared(&mut self, mut link: Link) -> Link {
        link.rule = self.strings.text(link.rule.to_string());
        link.actor = self.strings.text(link.actor.to_string());
        if let Some(anchor) = link.anchor.take() {
            let shared = match self.by_record.get_key_value(&*anchor) {
                Some((key, _)) => key.clone(),
                None => Arc::new(RecordKey {
                    source: self.strings.text(anchor.source.to_string()),
                    local_id: anchor.local_id.clone(),
                }),
            };
            link.anchor = Some(shared);
        }
        link
    }

    /// Takes a record out of the index; its postings stay but point at a dead slot.
    pub fn remove(&mut self, record: &RecordRef) -> Option<(PersonId, Link)> {
        let slot_id = self.slot_id(record)?;
        self.by_record.remove(&*self.slots[slot_id as usize].record);
        let slot = &mut self.slots[slot_id as usize];
        slot.alive = false;
        let person = slot.person;
        let link = slot.link.clone();
        self.names.remove(
            slot.features.first.as_deref(),
            slot.features.last.as_deref(),
        );
        self.unchain(person, slot_id);
        Some((person, link))
    }

    /// Moves a live record to another person with a new link.
    pub fn relink(&mut self, record: &RecordRef, person: PersonId, link: Link) -> bool {
        let Some(slot_id) = self.slot_id(record) else {
            return false;
        };
        let link = self.shared(link);
        let slot = &mut self.slots[slot_id as usize];
        let previous = slot.person;
        slot.person = person;
        slot.link = link;
        if previous != person {
            self.unchain(previous, slot_id);
            self.chain(person, slot_id);
        }
        true
    }

    /// How common a record's names are in the index (or in the index as the running import
    /// will leave it), looked up once for all its comparisons.
    fn name_shares(&self, features: &Features) -> NameShares {
        let counts = self.fixed_names.as_ref().unwrap_or(&self.names);
        NameShares {
            first: counts.share(NameKind::First, &features.first),
            last: counts.share(NameKind::Last, &features.last),
            swapped_first: counts.share(NameKind::First, &features.last),
            swapped_last: counts.share(NameKind::Last, &features.first),
        }
    }

    /// The first names and surnames the index holds, counted.
    pub fn name_counts(&self) -> &NameCounts {
        &self.names
    }

    /// Weighs names by `counts` instead of the index's own until
    /// [`Index::release_name_counts`]: an import that counted its file's names beforehand
    /// ([`NameCounts::add_record`] onto [`Index::name_counts`]) decides its first record under
    /// the frequencies its last one leaves, so no decision rests on frequencies that change.
    pub fn fix_name_counts(&mut self, counts: NameCounts) {
        self.fixed_names = Some(counts);
    }

    /// Weighs names by the index's own counts again. `Some(true)` when the fixed counts were
    /// exactly those (no record counted beforehand was rejected, replaced or removed), so that
    /// every score computed under them is what it is now; `None` when none were fixed.
    pub fn release_name_counts(&mut self) -> Option<bool> {
        self.fixed_names.take().map(|fixed| fixed == self.names)
    }

    /// Scores a pair of feature sets with the index's model and name frequencies.
    pub fn score_pair(&self, a: &Features, b: &Features) -> (Comparison, Score) {
        let comparison = compare(a, b);
        let score = self
            .model
            .score(&comparison, self.name_shares(a).frequencies(&comparison));
        (comparison, score)
    }

    /// The persons (after merges) whose live records carry `idnp` as a valid IDNP.
    pub fn persons_with_idnp(&self, idnp: &str) -> Vec<PersonId> {
        let mut found = Vec::new();
        let Some(block) = self.blocks.get(&block_key(("idnp", idnp))) else {
            return found;
        };
        let mut posting = block.head;
        while posting != NO_POSTING {
            let Posting { slot, next } = self.postings[posting as usize];
            let slot = &self.slots[slot as usize];
            let exact = matches!(&slot.features.idnp,
                Some(crate::record::IdnpEvidence::Valid(digits)) if digits.as_str() == idnp);
            if slot.alive && exact {
                let mut person = slot.person;
                for _ in 0..16 {
                    match self.person(&person).and_then(|p| p.merged_into) {
                        Some(target) => person = target,
                        None => break,
                    }
                }
                if !found.contains(&person) {
                    found.push(person);
                }
            }
            posting = next;
        }
        found
    }

    /// The live slots sharing a blocking key with `features`, each once.
    pub fn candidate_slots(&self, features: &Features) -> Vec<u32> {
        let mut found = self.slots_by_rule(features, None);
        found.sort_unstable();
        found.dedup();
        found
    }

    /// The live slots sharing a key of `rule` (of any [`BlockRule::searched`] rule if `None`)
    /// with `features`.
    fn slots_by_rule(&self, features: &Features, rule: Option<BlockRule>) -> Vec<u32> {
        let mut found = Vec::new();
        for (key_rule, key) in blocking_keys(features) {
            if rule.map_or(!key_rule.searched(), |r| r != key_rule) {
                continue;
            }
            let Some(block) = self.blocks.get(&key) else {
                continue;
            };
            if block.len > MAX_BLOCK {
                continue;
            }
            let mut posting = block.head;
            while posting != NO_POSTING {
                let Posting { slot, next } = self.postings[posting as usize];
                if self.slots[slot as usize].alive {
                    found.push(slot);
                }
                posting = next;
            }
        }
        found
    }

    /// Candidate persons for `features`, best first, one entry per person (its best record).
    /// `record` (the record being matched, if it is already indexed) is left out.
    pub fn candidates(&self, features: &Features, record: Option<&RecordRef>) -> Vec<Candidate> {
        self.candidates_reaching(features, record, f64::NEG_INFINITY)
    }

    /// The [`Index::candidates`] whose weight reaches `floor`: a person whose best record
    /// scores below it is left out, and only the persons kept get their score's explanation.
    pub fn candidates_reaching(
        &self,
        features: &Features,
        record: Option<&RecordRef>,
        floor: f64,
    ) -> Vec<Candidate> {
        self.candidates_and_records_reaching(features, record, floor)
            .0
    }

    /// [`Index::candidates_reaching`], and every record (its slot) whose comparison reaches
    /// `floor`, not only each person's best.
    pub fn candidates_and_records_reaching(
        &self,
        features: &Features,
        record: Option<&RecordRef>,
        floor: f64,
    ) -> (Vec<Candidate>, Vec<u32>) {
        let mut reaching = Vec::new();
        let weights = self.model.level_weights();
        let shares = self.name_shares(features);
        let own_slot = record.and_then(|record| self.slot_id(record));
        // Each person's best record so far: its slot, comparison and weight.
        let mut best: HashMap<PersonId, (u32, Comparison, f64)> = HashMap::new();
        for slot_id in self.candidate_slots(features) {
            if own_slot == Some(slot_id) {
                continue;
            }
            let slot = &self.slots[slot_id as usize];
            let comparison = compare(features, &slot.features);
            let weight = weights.total(&comparison, shares.frequencies(&comparison));
            if weight < floor {
                continue;
            }
            reaching.push(slot_id);
            match best.entry(slot.person) {
                Entry::Occupied(mut current) => {
                    if weight > current.get().2 {
                        current.insert((slot_id, comparison, weight));
                    }
                }
                Entry::Vacant(vacant) => {
                    vacant.insert((slot_id, comparison, weight));
                }
            }
        }
        let mut candidates: Vec<Candidate> = best
            .into_iter()
            .map(|(person, (slot_id, comparison, _))| Candidate {
                person,
                record: self.slots[slot_id as usize].record.clone(),
                comparison,
                score: self
                    .model
                    .score(&comparison, shares.frequencies(&comparison)),
                idnp_conflict: false,
            })
            .collect();
        for candidate in &mut candidates {
            candidate.idnp_conflict = self.idnp_conflict(features, &candidate.person);
        }
        candidates.sort_by(|a, b| {
            b.score
                .weight
                .total_cmp(&a.score.weight)
                .then_with(|| a.person.cmp(&b.person))
        });
        (candidates, reaching)
    }

    /// The live records for which the record in slot `slot` is a candidate reaching `floor`:
    /// those sharing a block with it whose comparison with it, weighed as
    /// [`Index::candidates_reaching`] weighs their own candidates, reaches `floor`.
    pub fn slots_reached_by(&self, slot: u32, floor: f64) -> Vec<u32> {
        let Some(target) = self.live_slot(slot) else {
            return Vec::new();
        };
        let weights = self.model.level_weights();
        self.candidate_slots(&target.features)
            .into_iter()
            .filter(|&other| other != slot)
            .filter(|&other| {
                let features = &self.slots[other as usize].features;
                let comparison = compare(features, &target.features);
                let shares = self.name_shares(features);
                weights.total(&comparison, shares.frequencies(&comparison)) >= floor
            })
            .collect()
    }

    /// Whether `person` holds a valid IDNP different from the valid IDNP of `features`, or
    /// holds IDNPs and every one is more than a typo from that of `features`.
    fn idnp_conflict(&self, features: &Features, person: &PersonId) -> bool {
        let Some(idnp) = &features.idnp else {
            return false;
        };
        let theirs = || {
            self.slots_of(person)
                .filter_map(|slot| self.slots[slot as usize].features.idnp.as_ref())
        };
        // A valid number one slip from the record's is the same number mistyped (see
        // `check_digit_blind_slip`); whether the names and birth dates bear that out is the
        // comparison's to say.
        let valid_differs = idnp.is_valid()
            && theirs().any(|other| {
                other.is_valid()
                    && other.digits() != idnp.digits()
                    && !crate::compare::check_digit_blind_slip(other, idnp)
            });
        // A mistyped number is one typo off; every one further off is another number.
        let all_far = theirs().next().is_some()
            && theirs()
                .all(|other| !crate::normalize::at_most_one_edit(other.digits(), idnp.digits()));
        valid_differs || all_far
    }

    /// The candidate [`Index::candidates`] gives for the record in slot `own` among its own
    /// person's other records: the best of those sharing a block (of at most [`MAX_BLOCK`]
    /// records) with it, the first in slot order on a tie; `None` when none does.
    pub fn own_person_candidate(&self, own: u32) -> Option<Candidate> {
        let slot = self.live_slot(own)?;
        let keys: Vec<u64> = blocking_keys(&slot.features)
            .into_iter()
            .filter(|(rule, _)| rule.searched())
            .map(|(_, key)| key)
            .filter(|key| self.blocks.get(key).is_some_and(|b| b.len <= MAX_BLOCK))
            .collect();
        let mut others: Vec<u32> = self.slots_of(&slot.person).filter(|&s| s != own).collect();
        others.sort_unstable();
        let shares = self.name_shares(&slot.features);
        let weights = self.model.level_weights();
        let mut best: Option<(u32, Comparison, f64)> = None;
        for other in others {
            let features = &self.slots[other as usize].features;
            if !blocking_keys(features)
                .iter()
                .any(|(_, key)| keys.contains(key))
            {
                continue;
            }
            let comparison = compare(&slot.features, features);
            let weight = weights.total(&comparison, shares.frequencies(&comparison));
            if best.as_ref().is_none_or(|(_, _, w)| weight > *w) {
                best = Some((other, comparison, weight));
            }
        }
        let (other, comparison, _) = best?;
        Some(Candidate {
            person: slot.person,
            record: self.slots[other as usize].record.clone(),
            comparison,
            score: self
                .model
                .score(&comparison, shares.frequencies(&comparison)),
            idnp_conflict: self.idnp_conflict(&slot.features, &slot.person),
        })
    }

    /// Comparisons for training, from every source in the index: the pairs each blocking rule
    /// proposes (up to `limit` per rule, records taken in a shuffled order so that a large
    /// first source does not crowd out the pairs across sources), up to `limit` random pairs,
    /// and the names of the sources.
    pub fn training_pairs(&self, limit: usize, seed: u64) -> TrainingPairs {
        let mut live: Vec<u32> = self.by_record.values().copied().collect();
        live.sort_unstable();
        let mut state = seed | 1;
        let mut next = move |bound: usize| {
            // xorshift64*: enough to pick pairs, and reproducible.
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_F491_4F6C_DD1D) % bound.max(1) as u64) as usize
        };
        let mut order = live.clone();
        for i in (1..order.len()).rev() {
            order.swap(i, next(i + 1));
        }
        let mut blocks = Vec::new();
        for rule in BlockRule::ALL {
            let mut pairs = Vec::new();
            'records: for &slot_id in &order {
                let features = &self.slots[slot_id as usize].features;
                let mut others = self.slots_by_rule(features, Some(rule));
                others.sort_unstable();
                others.dedup();
                for other in others {
                    if other > slot_id {
                        pairs.push(compare(features, &self.slots[other as usize].features));
                        if pairs.len() >= limit {
                            break 'records;
                        }
                    }
                }
            }
            blocks.push(TrainingBlock {
                rule: rule.name(),
                excluded: rule.blocked_on(),
                pairs,
            });
        }
        let mut random = Vec::new();
        if live.len() >= 2 {
            let wanted = limit.min(live.len() * (live.len() - 1) / 2);
            while random.len() < wanted {
                let (a, b) = (next(live.len()), next(live.len()));
                if a != b {
                    random.push(compare(
                        &self.slots[live[a] as usize].features,
                        &self.slots[live[b] as usize].features,
                    ));
                }
            }
        }
        TrainingPairs {
            blocks,
            random,
            sources: self.sources(),
        }
    }

    /// The names of the sources the index holds records of, sorted.
    pub fn sources(&self) -> Vec<String> {
        self.by_record
            .keys()
            .map(|record| &*record.source)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    /// Approximate heap bytes held, for the benchmark report.
    pub fn approximate_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot>()
            + self.postings.capacity() * std::mem::size_of::<Posting>()
            + self.blocks.capacity() * (std::mem::size_of::<(u64, Block)>() + 1)
            + self.by_record.capacity() * 48
            + self.persons.capacity() * (std::mem::size_of::<(PersonId, PersonEntry)>() + 1)
            + self.merged_into.capacity() * (std::mem::size_of::<(PersonId, PersonId)>() + 1)
    }
}

#[derive(Debug, Clone, Copy)]
enum NameKind {
    First,
    Last,
}

/// First names and surnames counted by their folded form: how common a name is weighs an
/// exact agreement on it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameCounts {
    first: HashMap<Box<str>, u32>,
    last: HashMap<Box<str>, u32>,
    first_total: u32,
    last_total: u32,
}

impl NameCounts {
    fn add(&mut self, first: Option<&Name>, last: Option<&Name>) {
        self.add_folded(first.map(|n| &*n.folded), last.map(|n| &*n.folded));
    }

    fn add_folded(&mut self, first: Option<&str>, last: Option<&str>) {
        let increment = |counts: &mut HashMap<Box<str>, u32>, key: &str| match counts.get_mut(key) {
            Some(count) => *count += 1,
            None => {
                counts.insert(key.into(), 1);
            }
        };
        if let Some(first) = first {
            increment(&mut self.first, first);
            self.first_total += 1;
        }
        if let Some(last) = last {
            increment(&mut self.last, last);
            self.last_total += 1;
        }
    }

    /// Counts the names of a checked record as [`Index::upsert`] counts them on adding it
    /// (each the [`Name::folded`] form of the trimmed name, if any is left).
    pub fn add_record(&mut self, record: &SourceRecord) {
        let folded = |name: &Option<String>| Name::folded_form(name.as_deref()?.trim());
        let (first, last) = (folded(&record.first_name), folded(&record.last_name));
        self.add_folded(first.as_deref(), last.as_deref());
    }

    fn remove(&mut self, first: Option<&Name>, last: Option<&Name>) {
        let decrement = |counts: &mut HashMap<Box<str>, u32>, key: &str| {
            if let Some(count) = counts.get_mut(key) {
                *count -= 1;
                if *count == 0 {
                    counts.remove(key);
                }
            }
        };
        if let Some(first) = first {
            decrement(&mut self.first, &first.folded);
            self.first_total -= 1;
        }
        if let Some(last) = last {
            decrement(&mut self.last, &last.folded);
            self.last_total -= 1;
        }
    }

    /// The share of `name` among the names of its kind; `None` while too few are counted to
    /// say anything (the model's u stands in).
    fn share(&self, kind: NameKind, name: &Option<Arc<Name>>) -> Option<f64> {
        let (counts, total) = match kind {
            NameKind::First => (&self.first, self.first_total),
            NameKind::Last => (&self.last, self.last_total),
        };
        if total < MIN_NAMES_FOR_FREQUENCIES {
            return None;
        }
        let name = name.as_ref()?;
        let count = counts.get(&name.folded).copied().unwrap_or(0).max(1);
        Some(f64::from(count) / f64::from(total.max(1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::SourceRecord;

    fn add(index: &mut Index, local_id: &str, json: &str) -> PersonId {
        let record: SourceRecord = serde_json::from_str(json).expect("test record");
        let features = Features::of(&record, index.interner()).expect("valid");
        let person = Uuid::new_v4();
        index.upsert(
            RecordRef {
                source: "test".into(),
                local_id: local_id.into(),
            },
            features,
            person,
            Link {
                rule: "new".into(),
                score: None,
                anchor: None,
                actor: "test".into(),
                at: 0,
                pinned: false,
            },
        );
        person
    }

    fn features(index: &mut Index, json: &str) -> Features {
        let record: SourceRecord = serde_json::from_str(json).expect("test record");
        Features::of(&record, index.interner()).expect("valid")
    }

    #[test]
    fn blocking_finds_variants_and_skips_strangers() {
        let mut index = Index::new(Model::prior());
        let ion = add(
            &mut index,
            "1",
            r#"{"localId":"1","firstName":"Ion","lastName":"Ceban","birthDate":"1980-04-07"}"#,
        );
        add(
            &mut index,
            "2",
            r#"{"localId":"2","firstName":"Maria","lastName":"Lungu","birthDate":"1975-01-01"}"#,
        );
        let query = features(
            &mut index,
            r#"{"localId":"q","firstName":"Ион","lastName":"Чебан","birthDate":"1980-07-04"}"#,
        );
        let candidates = index.candidates(&query, None);
        assert_eq!(candidates.len(), 1);
        assert_eq!(candidates[0].person, ion);
        assert!(
            candidates[0].score.weight > 10.0,
            "{:?}",
            candidates[0].score
        );
    }

    #[test]
    fn a_birth_date_and_place_find_a_record_whatever_its_names() {
        let mut index = Index::new(Model::prior());
        let born = |id: &str, first: &str, last: &str, locality: &str| {
            format!(
                r#"{{"localId":"{id}","firstName":"{first}","lastName":"{last}","birthDate":"1969-05-20","address":{{"locality":"{locality}"}}}}"#
            )
        };
        let here = add(&mut index, "1", &born("1", "Tynan", "Blacklow", "Orhei"));
        add(&mut index, "2", &born("2", "Maria", "Lungu", "Cahul"));
        // Both names mistyped beyond their sounds; the birth date and the locality agree.
        let query = features(&mut index, &born("q", "Tyan", "Blackxlow", "Orhei"));
        let persons: Vec<PersonId> = index
            .candidates(&query, None)
            .iter()
            .map(|c| c.person)
            .collect();
        assert_eq!(persons, vec![here]);
        // Everyone born that day still makes a pair to learn the weights of names from.
        let pairs = index.training_pairs(100, 7);
        let by_date = pairs
            .blocks
            .iter()
            .find(|b| b.rule == "date")
            .expect("date");
        assert_eq!(by_date.pairs.len(), 1);
    }

    #[test]
    fn a_removed_record_is_no_longer_a_candidate() {
        let mut index = Index::new(Model::prior());
        add(&mut index, "1", r#"{"localId":"1","idnp":"2000000000004"}"#);
        let query = features(&mut index, r#"{"localId":"q","idnp":"2000000000004"}"#);
        assert_eq!(index.candidates(&query, None).len(), 1);
        index.remove(&RecordRef {
            source: "test".into(),
            local_id: "1".into(),
        });
        assert!(index.candidates(&query, None).is_empty());
        assert_eq!(index.record_count(), 0);
    }

    #[test]
    fn a_different_valid_idnp_in_the_person_is_flagged() {
        let mut index = Index::new(Model::prior());
        add(
            &mut index,
            "1",
            r#"{"localId":"1","idnp":"2000000000015","firstName":"Ana","lastName":"Rusu","birthDate":"1990-02-03"}"#,
        );
        let query = features(
            &mut index,
            r#"{"localId":"q","idnp":"2000000000004","firstName":"Ana","lastName":"Rusu","birthDate":"1990-02-03"}"#,
        );
        let candidates = index.candidates(&query, None);
        assert_eq!(candidates.len(), 1);
        assert!(candidates[0].idnp_conflict);
    }
}
