//! Comparison of two source records attribute by attribute: each attribute pair is graded into
//! an agreement level (exact, sounds alike, typo, differs...), the input of the Fellegi–Sunter
//! model in [`crate::model`].

use std::num::NonZeroU32;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::normalize::{
    DateAgreement, PartialDate, at_most_one_edit, compare_dates, damerau_levenshtein, fold,
    jaro_winkler, phonetic_key, surname_stem,
};
use crate::record::{IdnpEvidence, RecordError, SourceRecord};

/// A name in the forms the comparison uses; shared between records through an interner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    /// [`fold`]ed.
    pub folded: Box<str>,
    /// [`phonetic_key`] of the stem.
    pub phonetic: Box<str>,
    /// [`surname_stem`] (masculine and feminine forms agree); the folded form for given names.
    pub stem: Box<str>,
    /// The stem's characters counted, `None` for a stem too long to count in bytes.
    stem_letters: Option<LetterCounts>,
}

/// How many characters a text holds by bucket (its code point modulo 32), and in all: bounds on
/// how many characters two texts can match one to one, to rule out a typo between two stems
/// without comparing them character by character.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LetterCounts {
    by_bucket: [u8; 32],
    chars: u8,
}

impl LetterCounts {
    fn of(text: &str) -> Option<Self> {
        let mut counts = Self {
            by_bucket: [0; 32],
            chars: 0,
        };
        for c in text.chars() {
            let bucket = &mut counts.by_bucket[(u32::from(c) % 32) as usize];
            *bucket = bucket.checked_add(1)?;
            counts.chars = counts.chars.checked_add(1)?;
        }
        Some(counts)
    }

    /// At least the number of characters of one text that equal characters of the other, one
    /// to one.
    fn shared_at_most(&self, other: &Self) -> usize {
        self.by_bucket
            .iter()
            .zip(&other.by_bucket)
            .map(|(a, b)| usize::from(*a.min(b)))
            .sum()
    }

    /// Whether two texts can be a typo apart: a Jaro–Winkler similarity of 0.9 or more, or at
    /// most `tolerated` edits. Jaro's matches `m` are at most the characters shared, so Jaro is
    /// at most (m/a + m/b + 1)/3 and Jaro–Winkler at most 0.4 + 0.6 × Jaro (four prefix
    /// characters); every character of the longer text not shared costs an edit.
    fn typo_possible(&self, other: &Self, tolerated: usize) -> bool {
        let (a, b) = (usize::from(self.chars), usize::from(other.chars));
        if a == 0 || b == 0 {
            return true;
        }
        let shared = self.shared_at_most(other).min(a).min(b);
        let similar_enough = 2 * shared * (a + b) >= 3 * a * b;
        let few_edits = a.max(b) - shared <= tolerated;
        similar_enough || few_edits
    }
}

impl Name {
    /// `None` when nothing of the name survives folding.
    pub fn surname(display: &str) -> Option<Self> {
        let stem = surname_stem(display);
        Self::build(display, stem)
    }

    pub fn given(display: &str) -> Option<Self> {
        Self::build(display, fold(display))
    }

    /// The [`Name::folded`] form of a name as written, if anything is left of it.
    pub fn folded_form(display: &str) -> Option<String> {
        Some(fold(display)).filter(|folded| !folded.is_empty())
    }

    fn build(display: &str, stem: String) -> Option<Self> {
        let folded = Self::folded_form(display)?;
        Some(Self {
            phonetic: phonetic_key(&stem).into(),
            stem_letters: LetterCounts::of(&stem),
            stem: stem.into(),
            folded: folded.into(),
        })
    }
}

/// A string shared through an [`Interner`], one pointer wide where `Arc<str>` takes two: a
/// million records each hold half a dozen (places, identifier systems, link rules and actors,
/// source names). Compares, hashes, reads and writes as the string it holds.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Text(Arc<Box<str>>);

impl std::ops::Deref for Text {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Text {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<String> for Text {
    fn from(text: String) -> Self {
        Self(Arc::new(text.into_boxed_str()))
    }
}

impl From<&str> for Text {
    fn from(text: &str) -> Self {
        Self(Arc::new(text.into()))
    }
}

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

impl std::fmt::Display for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self)
    }
}

impl Serialize for Text {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self)
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::from)
    }
}

/// Where a record's person lives, folded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Place {
    pub district: Option<Text>,
    pub locality: Option<Text>,
    pub street: Option<Text>,
    pub house: Option<Text>,
    /// The postal code's digits ("MD-2001" and "2001" agree).
    pub postcode: Option<Text>,
}

/// What of a record matching compares, derived once from the [`SourceRecord`].
#[derive(Debug, Clone, Default)]
pub struct Features {
    pub idnp: Option<IdnpEvidence>,
    pub first: Option<Arc<Name>>,
    pub last: Option<Arc<Name>>,
    pub patronymic: Option<Arc<Name>>,
    pub birth: Option<PartialDate>,
    /// `Some(true)` for F.
    pub female: Option<bool>,
    pub place: Place,
    /// The last eight digits (Moldovan numbers with +373, with a trunk 0 or bare agree).
    pub phone: Option<NonZeroU32>,
    /// (system folded, value trimmed).
    pub identifiers: Box<[(Text, Box<str>)]>,
}

/// Shares repeated strings (names, places) between records to keep a million records small.
pub trait Interner {
    fn given(&mut self, display: &str) -> Option<Arc<Name>>;
    fn surname(&mut self, display: &str) -> Option<Arc<Name>>;
    fn text(&mut self, folded: String) -> Text;
}

/// An interner that shares nothing, for one-off comparisons.
pub struct NoInterning;

impl Interner for NoInterning {
    fn given(&mut self, display: &str) -> Option<Arc<Name>> {
        Name::given(display).map(Arc::new)
    }
    fn surname(&mut self, display: &str) -> Option<Arc<Name>> {
        Name::surname(display).map(Arc::new)
    }
    fn text(&mut self, folded: String) -> Text {
        folded.into()
    }
}

impl Features {
    /// Derives the features of a checked record.
    pub fn of(record: &SourceRecord, interner: &mut impl Interner) -> Result<Self, RecordError> {
        let non_blank = |value: &Option<String>| {
            value
                .as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let mut place = Place::default();
        if let Some(address) = &record.address {
            let mut folded = |value: &Option<String>| {
                non_blank(value)
                    .map(|v| fold(&v))
                    .filter(|v| !v.is_empty())
                    .map(|v| interner.text(v))
            };
            place.district = folded(&address.district);
            place.locality = folded(&address.locality);
            place.street = folded(&address.street);
            place.house =
                non_blank(&address.house).map(|h| interner.text(fold(&h).replace(' ', "")));
            place.postcode = non_blank(&address.postal_code)
                .map(|code| {
                    code.chars()
                        .filter(char::is_ascii_digit)
                        .collect::<String>()
                })
                .filter(|digits| !digits.is_empty())
                .map(|digits| interner.text(digits));
        }
        let phone = non_blank(&record.phone).and_then(|phone| {
            let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
            let tail = &digits[digits.len().saturating_sub(8)..];
            tail.trim_start_matches('0').parse().ok()
        });
        let identifiers = record
            .identifiers
            .iter()
            .map(|id| {
                (
                    interner.text(fold(&id.system)),
                    id.value.trim().to_uppercase().into_boxed_str(),
                )
            })
            .collect();
        Ok(Self {
            idnp: record.idnp_evidence()?,
            first: non_blank(&record.first_name).and_then(|n| interner.given(&n)),
            last: non_blank(&record.last_name).and_then(|n| interner.surname(&n)),
            patronymic: non_blank(&record.patronymic).and_then(|n| interner.given(&n)),
            birth: record.birth_date()?,
            female: record.sex.as_deref().map(|sex| sex == "F"),
            place,
            phone,
            identifiers,
        })
    }
}

/// The attributes compared, in the order of [`Comparison::levels`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attribute {
    Idnp,
    FirstName,
    LastName,
    Patronymic,
    BirthDate,
    Sex,
    Address,
    Phone,
    Identifier,
}

impl Attribute {
    pub const ALL: [Attribute; 9] = [
        Self::Idnp,
        Self::FirstName,
        Self::LastName,
        Self::Patronymic,
        Self::BirthDate,
        Self::Sex,
        Self::Address,
        Self::Phone,
        Self::Identifier,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Idnp => "idnp",
            Self::FirstName => "firstName",
            Self::LastName => "lastName",
            Self::Patronymic => "patronymic",
            Self::BirthDate => "birthDate",
            Self::Sex => "sex",
            Self::Address => "address",
            Self::Phone => "phone",
            Self::Identifier => "identifiers",
        }
    }

    /// The names of the agreement levels, strongest first; the last always means "differs".
    pub fn levels(self) -> &'static [&'static str] {
        match self {
            Self::Idnp => &["exact", "exact-but-suspect", "one-typo", "differs"],
            Self::FirstName | Self::LastName => &["exact", "sounds-alike", "typo", "differs"],
            Self::Patronymic => &["agrees", "differs"],
            Self::BirthDate => &[
                "exact",
                "day-month-swapped",
                "agrees-partially",
                "one-digit",
                "same-year-month",
                "same-year",
                "year-off-by-one",
                "differs",
            ],
            Self::Identifier => &["agrees", "one-typo", "differs"],
            Self::Sex | Self::Phone => &["agrees", "differs"],
            Self::Address => &[
                "same-house",
                "same-street",
                "same-locality",
                "same-district",
                "differs",
            ],
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

pub const ATTRIBUTES: usize = Attribute::ALL.len();

/// Agreement levels by name: indices into [`Attribute::levels`] of the attribute named.
pub mod level {
    /// First name and surname.
    pub const NAME_EXACT: u8 = 0;
    pub const NAME_SOUNDS_ALIKE: u8 = 1;
    pub const NAME_TYPO: u8 = 2;
    pub const NAME_DIFFERS: u8 = 3;
    pub const IDNP_EXACT: u8 = 0;
    pub const IDNP_ONE_TYPO: u8 = 2;
    pub const IDNP_DIFFERS: u8 = 3;
    pub const DATE_DAY_MONTH_SWAPPED: u8 = 1;
    pub const DATE_ONE_DIGIT: u8 = 3;
    pub const DATE_SAME_YEAR: u8 = 5;
    pub const DATE_DIFFERS: u8 = 7;
    pub const ADDRESS_SAME_HOUSE: u8 = 0;
    pub const IDENTIFIER_AGREES: u8 = 0;
    pub const IDENTIFIER_ONE_TYPO: u8 = 1;
    pub const IDENTIFIER_DIFFERS: u8 = 2;
    /// Patronymic, sex and phone.
    pub const AGREES: u8 = 0;
    pub const DIFFERS: u8 = 1;
}

/// The agreement level of every attribute; `None` where either side lacks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Comparison {
    pub levels: [Option<u8>; ATTRIBUTES],
    /// First and last name agree only when exchanged.
    pub names_swapped: bool,
    /// Both IDNPs pass their check digit and differ: two people, or a registry error to review.
    /// Not set for the one slip the check digit cannot catch ([`check_digit_blind_slip`]) on
    /// records whose first name and birth date agree.
    pub idnp_conflict: bool,
}

impl Comparison {
    /// The first names agree (a typo at most) and so does the full birth date (day and month
    /// perhaps swapped): what twins never share and a namesake seldom does.
    pub fn first_name_and_birth_agree(&self) -> bool {
        let level = |a: Attribute| self.levels[a.index()];
        level(Attribute::FirstName).is_some_and(|l| l <= level::NAME_TYPO)
            && level(Attribute::BirthDate).is_some_and(|l| l <= level::DATE_DAY_MONTH_SWAPPED)
    }
}

/// Whether two IDNPs that both pass their check digit are one typo apart. The check digit
/// (weights 7, 3, 1) catches every changed digit and every dropped or added one, but not two
/// neighbouring digits exchanged when they differ by five (the weights' difference times five
/// is a multiple of ten): so two valid numbers one typo apart are always that exchange, the
/// same number mistyped, never numbers issued one after another (the next number changes its
/// last digit and its check digit alike).
pub fn check_digit_blind_slip(a: &IdnpEvidence, b: &IdnpEvidence) -> bool {
    a.is_valid()
        && b.is_valid()
        && a.digits() != b.digits()
        && at_most_one_edit(a.digits(), b.digits())
}

/// Grades a pair of names: 0 exact, 1 same stem or same sound, 2 typo, 3 differs.
fn name_level(a: &Name, b: &Name) -> u8 {
    // Interned names are shared: the same one is the same name.
    if std::ptr::eq(a, b) || a.folded == b.folded {
        0
    } else if a.stem == b.stem || (!a.phonetic.is_empty() && a.phonetic == b.phonetic) {
        1
    } else if (typo_possible(a, b)
        && (jaro_winkler(&a.stem, &b.stem) >= 0.9 || within_typos(&a.stem, &b.stem)))
        || shares_a_word(a, b)
    {
        2
    } else {
        3
    }
}

/// Whether two names' stems can be a typo apart; `false` only when they certainly are not.
fn typo_possible(a: &Name, b: &Name) -> bool {
    match (&a.stem_letters, &b.stem_letters) {
        (Some(x), Some(y)) => x.typo_possible(y, typos_tolerated(&a.stem, &b.stem)),
        _ => true,
    }
}

/// Edits a name may have and still count as a typo: one, or two in names of eight letters
/// or more.
fn typos_tolerated(a: &str, b: &str) -> usize {
    if a.len().min(b.len()) >= 8 { 2 } else { 1 }
}

/// Whether two names are at most [`typos_tolerated`] edits apart.
fn within_typos(a: &str, b: &str) -> bool {
    match typos_tolerated(a, b) {
        1 => at_most_one_edit(a, b),
        tolerated => damerau_levenshtein(a, b) <= tolerated,
    }
}

/// Double names: "Ana-Maria" and "Ana" share a word.
fn shares_a_word(a: &Name, b: &Name) -> bool {
    let (a_words, b_words) = (a.folded.split(' '), b.folded.split(' '));
    if a.folded.contains(' ') || b.folded.contains(' ') {
        let b_words: Vec<&str> = b_words.collect();
        a_words
            .into_iter()
            .any(|w| w.len() > 2 && b_words.contains(&w))
    } else {
        false
    }
}

fn both<'a, T>(a: &'a Option<T>, b: &'a Option<T>) -> Option<(&'a T, &'a T)> {
    Some((a.as_ref()?, b.as_ref()?))
}

/// Compares two records' features.
pub fn compare(a: &Features, b: &Features) -> Comparison {
    let mut levels = [None; ATTRIBUTES];
    let mut idnp_conflict = false;
    let mut blind_slip = false;
    if let Some((x, y)) = both(&a.idnp, &b.idnp) {
        levels[Attribute::Idnp.index()] = Some(if x.digits() == y.digits() {
            if x.is_valid() { 0 } else { 1 }
        } else if at_most_one_edit(x.digits(), y.digits()) {
            // Settled below, once the names and birth dates are compared.
            blind_slip = check_digit_blind_slip(x, y);
            2
        } else {
            if x.is_valid() && y.is_valid() {
                idnp_conflict = true;
            }
            3
        });
    }
    let direct = (
        both(&a.first, &b.first).map(|(x, y)| name_level(x, y)),
        both(&a.last, &b.last).map(|(x, y)| name_level(x, y)),
    );
    let mut names_swapped = false;
    let (first, last) = match direct {
        (Some(3), Some(3)) => {
            let swapped = (
                both(&a.first, &b.last).map(|(x, y)| name_level(x, y)),
                both(&a.last, &b.first).map(|(x, y)| name_level(x, y)),
            );
            match swapped {
                (Some(f), Some(l)) if f <= level::NAME_TYPO && l <= level::NAME_TYPO => {
                    names_swapped = true;
                    (Some(f), Some(l))
                }
                // One name written in the other's field and the other name different: which
                // of them is the surname cannot be told, so the one found counts as a surname
                // that sounds alike (its frequency belongs to another field) and the first
                // names differ, which keeps twins and siblings apart unless an identifier
                // agrees.
                (Some(f), Some(l)) if f.min(l) <= level::NAME_TYPO => (
                    Some(level::NAME_DIFFERS),
                    Some(f.min(l).max(level::NAME_SOUNDS_ALIKE)),
                ),
                _ => direct,
            }
        }
        _ => direct,
    };
    levels[Attribute::FirstName.index()] = first;
    levels[Attribute::LastName.index()] = last;
    levels[Attribute::Patronymic.index()] = both(&a.patronymic, &b.patronymic).map(|(x, y)| {
        let same_prefix = x.folded.chars().take(5).eq(y.folded.chars().take(5));
        u8::from(!(x.folded == y.folded || same_prefix || x.phonetic == y.phonetic))
    });
    levels[Attribute::BirthDate.index()] =
        both(&a.birth, &b.birth).map(|(x, y)| match compare_dates(x, y) {
            DateAgreement::Exact => 0,
            DateAgreement::DayMonthSwapped => 1,
            DateAgreement::Partial => 2,
            DateAgreement::OneDigit => 3,
            DateAgreement::SameYearMonth => 4,
            DateAgreement::SameYear => 5,
            DateAgreement::OffByOneYear => 6,
            DateAgreement::Disagree => 7,
        });
    levels[Attribute::Sex.index()] = both(&a.female, &b.female).map(|(x, y)| u8::from(x != y));
    levels[Attribute::Address.index()] = compare_places(&a.place, &b.place);
    levels[Attribute::Phone.index()] = both(&a.phone, &b.phone).map(|(x, y)| u8::from(x != y));
    levels[Attribute::Identifier.index()] = compare_identifiers(&a.identifiers, &b.identifiers);
    let mut comparison = Comparison {
        levels,
        names_swapped,
        idnp_conflict,
    };
    // Two valid numbers a slip apart under the same first name and birth date are one number
    // mistyped; under another first name or birth date they stay two (a relative's number
    // copied with a slip is still a relative's).
    comparison.idnp_conflict |= blind_slip && !comparison.first_name_and_birth_agree();
    comparison
}

/// Grades two places: same house, same street, same locality, same district, or elsewhere.
/// Localities and streets agree despite a typo (as names do); two postcodes that are equal
/// make the same locality, whatever its name says.
fn compare_places(a: &Place, b: &Place) -> Option<u8> {
    let same = |x: &Option<Text>, y: &Option<Text>| both(x, y).map(|(x, y)| x == y);
    let alike = |x: &Option<Text>, y: &Option<Text>| {
        both(x, y).map(|(x, y)| {
            let tolerated = typos_tolerated(x, y);
            x == y || (x.len().abs_diff(y.len()) <= tolerated && within_typos(x, y))
        })
    };
    let locality = match (
        alike(&a.locality, &b.locality),
        same(&a.postcode, &b.postcode),
    ) {
        (Some(true), _) | (_, Some(true)) => Some(true),
        (named, _) => named,
    };
    let district = same(&a.district, &b.district);
    if locality.is_none() && district.is_none() {
        return None;
    }
    if locality == Some(true) || (locality.is_none() && district == Some(true)) {
        let street = alike(&a.street, &b.street).map(|alike| {
            alike || both(&a.street, &b.street).is_some_and(|(x, y)| same_street_words(x, y))
        });
        let house = both(&a.house, &b.house).map(|(x, y)| x == y);
        return Some(match (street, house) {
            (Some(true), Some(true)) => 0,
            (Some(true), _) => 1,
            _ if locality == Some(true) => 2,
            _ => 3,
        });
    }
    Some(if district == Some(true) { 3 } else { 4 })
}

/// Letters the street words two places share must hold at least, so that a lone short word
/// ("1", "nr") does not make a street.
const MIN_STREET_LETTERS: usize = 4;

/// Two streets whose words, for the one with fewer, are all found in the other, each exact or
/// (from five letters) a typo away, in any order: a street type written or left out ("str.
/// Păcii" and "Păcii"), a building or an estate added after a comma, parts in another order.
fn same_street_words(a: &str, b: &str) -> bool {
    fn words(street: &str) -> impl Iterator<Item = &str> + Clone {
        street
            .split(|c: char| !c.is_alphanumeric())
            .filter(|word| !word.is_empty())
    }
    let (fewer, more) = if words(a).count() <= words(b).count() {
        (words(a), words(b))
    } else {
        (words(b), words(a))
    };
    let found = |word: &str| {
        more.clone().any(|other| {
            other == word || (word.len().min(other.len()) >= 5 && at_most_one_edit(word, other))
        })
    };
    fewer.clone().all(found)
        && fewer.map(|word| word.chars().count()).sum::<usize>() >= MIN_STREET_LETTERS
}

/// Identifier values shorter than this are never taken for one another mistyped.
const SHORTEST_TYPO_IDENTIFIER: usize = 5;

/// Grades two records' identifiers of a common system: one pair equal, one pair a typo apart
/// (see [`one_typo_apart`]), or all different.
fn compare_identifiers(a: &[(Text, Box<str>)], b: &[(Text, Box<str>)]) -> Option<u8> {
    let mut best = None;
    for (system, value) in a {
        for (other_system, other_value) in b {
            if system == other_system {
                if value == other_value {
                    return Some(level::IDENTIFIER_AGREES);
                }
                let found = if one_typo_apart(value, other_value) {
                    level::IDENTIFIER_ONE_TYPO
                } else {
                    level::IDENTIFIER_DIFFERS
                };
                best = Some(best.map_or(found, |b: u8| b.min(found)));
            }
        }
    }
    best
}

/// One character replaced, inserted, dropped, or two neighbours exchanged, except when the
/// values differ in their last character only: documents issued one after another (twins
/// registered together) hold numbers that differ just there.
pub fn one_typo_apart(a: &str, b: &str) -> bool {
    if a.len().min(b.len()) < SHORTEST_TYPO_IDENTIFIER || a == b {
        return false;
    }
    let issued_in_sequence = a.len() == b.len()
        && a.char_indices()
            .zip(b.chars())
            .all(|((i, x), y)| x == y || i + x.len_utf8() == a.len());
    !issued_in_sequence && at_most_one_edit(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn features(json: &str) -> Features {
        let record: SourceRecord = serde_json::from_str(json).expect("test record");
        Features::of(&record, &mut NoInterning).expect("valid test record")
    }

    fn level(c: &Comparison, attribute: Attribute) -> Option<&'static str> {
        c.levels[attribute.index()].map(|l| attribute.levels()[l as usize])
    }

    #[test]
    fn transliterations_and_gendered_endings_sound_alike() {
        let a = features(r#"{"localId":"1","firstName":"Ştefan","lastName":"Şevcenco"}"#);
        let b = features(r#"{"localId":"2","firstName":"Штефан","lastName":"Shevchenko"}"#);
        let c = compare(&a, &b);
        assert_eq!(level(&c, Attribute::FirstName), Some("exact"));
        assert_eq!(level(&c, Attribute::LastName), Some("sounds-alike"));
        let ivanov = features(r#"{"localId":"1","lastName":"Ivanov"}"#);
        let ivanova = features(r#"{"localId":"2","lastName":"Иванова"}"#);
        assert_eq!(
            level(&compare(&ivanov, &ivanova), Attribute::LastName),
            Some("sounds-alike")
        );
    }

    #[test]
    fn cedilla_and_comma_below_are_the_same_letter() {
        let a = features(r#"{"localId":"1","lastName":"Ţurcanu","firstName":"Ştefan"}"#);
        let b = features(r#"{"localId":"2","lastName":"Țurcanu","firstName":"Ștefan"}"#);
        let c = compare(&a, &b);
        assert_eq!(level(&c, Attribute::LastName), Some("exact"));
        assert_eq!(level(&c, Attribute::FirstName), Some("exact"));
    }

    #[test]
    fn typos_swaps_and_missing_fields() {
        let a = features(
            r#"{"localId":"1","firstName":"Ion","lastName":"Munteanu","birthDate":"1987-03-05"}"#,
        );
        let typo = features(
            r#"{"localId":"2","firstName":"Ion","lastName":"Mumteanu","birthDate":"1987-05-03"}"#,
        );
        let c = compare(&a, &typo);
        assert_eq!(level(&c, Attribute::LastName), Some("typo"));
        assert_eq!(level(&c, Attribute::BirthDate), Some("day-month-swapped"));
        assert_eq!(level(&c, Attribute::Idnp), None);
        let swapped = features(r#"{"localId":"3","firstName":"Munteanu","lastName":"Ion"}"#);
        let c = compare(&a, &swapped);
        assert!(c.names_swapped);
        assert_eq!(level(&c, Attribute::FirstName), Some("exact"));
    }

    #[test]
    fn a_name_found_in_the_other_field_counts_as_the_surname_and_the_first_names_differ() {
        let a = features(r#"{"localId":"1","firstName":"Lucia","lastName":"Ceban"}"#);
        let crossed = features(r#"{"localId":"2","firstName":"Cebanu","lastName":"Lucia"}"#);
        let c = compare(&a, &crossed);
        assert!(c.names_swapped);
        let half_crossed = features(r#"{"localId":"3","firstName":"Ceban","lastName":"Ana"}"#);
        let c = compare(&a, &half_crossed);
        assert!(!c.names_swapped);
        assert_eq!(level(&c, Attribute::FirstName), Some("differs"));
        assert_eq!(level(&c, Attribute::LastName), Some("sounds-alike"));
        let strangers = features(r#"{"localId":"4","firstName":"Ion","lastName":"Rusu"}"#);
        let c = compare(&a, &strangers);
        assert_eq!(level(&c, Attribute::FirstName), Some("differs"));
        assert_eq!(level(&c, Attribute::LastName), Some("differs"));
    }

    #[test]
    fn two_valid_different_idnps_are_a_conflict_but_a_suspect_one_is_not() {
        let a = features(r#"{"localId":"1","idnp":"2000000000004"}"#);
        let other_valid = features(r#"{"localId":"2","idnp":"2000000000015"}"#);
        let suspect = features(r#"{"localId":"3","idnp":"2000000000005"}"#);
        let c = compare(&a, &other_valid);
        assert!(c.idnp_conflict);
        let c = compare(&a, &suspect);
        assert!(!c.idnp_conflict);
        assert_eq!(level(&c, Attribute::Idnp), Some("one-typo"));
        assert_eq!(
            level(&compare(&suspect, &suspect), Attribute::Idnp),
            Some("exact-but-suspect")
        );
    }

    #[test]
    fn valid_idnps_a_slip_apart_are_one_number_under_the_same_first_name_and_birth_date() {
        let person = |idnp: &str, first_name: &str, birth_date: &str| {
            features(&format!(
                r#"{{"localId":"1","idnp":"{idnp}","firstName":"{first_name}","lastName":"Rusu","birthDate":"{birth_date}"}}"#
            ))
        };
        // Both pass the check digit: the 6 and the 1 exchanged, the slip it cannot see.
        let ion = person("2004123456177", "Ion", "2004-03-12");
        let slip = person("2004123451677", "Ion", "2004-03-12");
        let c = compare(&ion, &slip);
        assert_eq!(level(&c, Attribute::Idnp), Some("one-typo"));
        assert!(!c.idnp_conflict, "{c:?}");
        // Day and month swapped and a first name with a typo are still the same person.
        let c = compare(&ion, &person("2004123451677", "Ioon", "2004-12-03"));
        assert!(!c.idnp_conflict, "{c:?}");
        // A twin (another first name) or a relative (another birth date) holding that number
        // is somebody else, as with any other valid number.
        for other in [
            person("2004123451677", "Vasile", "2004-03-12"),
            person("2004123451677", "Ion", "1979-06-02"),
        ] {
            assert!(compare(&ion, &other).idnp_conflict);
        }
        // The next number issued (a twin's, say) differs in its last digit and its check
        // digit: never a slip.
        let next = person("2004123456188", "Ion", "2004-03-12");
        assert!(compare(&ion, &next).idnp_conflict);
        let (Some(a), Some(b), Some(c)) = (&ion.idnp, &slip.idnp, &next.idnp) else {
            panic!("IDNPs parsed");
        };
        assert!(a.is_valid() && b.is_valid() && c.is_valid());
        assert!(check_digit_blind_slip(a, b));
        assert!(!check_digit_blind_slip(a, c));
    }

    #[test]
    fn addresses_grade_from_house_to_district() {
        let a = features(
            r#"{"localId":"1","address":{"district":"Cahul","locality":"Cahul","street":"Ştefan cel Mare","house":"12A"}}"#,
        );
        let same = features(
            r#"{"localId":"2","address":{"district":"Cahul","locality":"Cahul","street":"Stefan cel Mare","house":"12 a"}}"#,
        );
        let neighbour = features(
            r#"{"localId":"3","address":{"district":"Cahul","locality":"Cahul","street":"Ştefan cel Mare","house":"14"}}"#,
        );
        let elsewhere = features(r#"{"localId":"4","address":{"district":"Orhei"}}"#);
        assert_eq!(
            level(&compare(&a, &same), Attribute::Address),
            Some("same-house")
        );
        assert_eq!(
            level(&compare(&a, &neighbour), Attribute::Address),
            Some("same-street")
        );
        assert_eq!(
            level(&compare(&a, &elsewhere), Attribute::Address),
            Some("differs")
        );
    }

    #[test]
    fn an_identifier_one_typo_away_nearly_agrees_but_one_issued_next_to_it_differs() {
        let passport = |value: &str| {
            features(&format!(
                r#"{{"localId":"{value}","identifiers":[{{"system":"passport","value":"{value}"}}]}}"#
            ))
        };
        let a = passport("B39447922");
        let grade = |other: &str| level(&compare(&a, &passport(other)), Attribute::Identifier);
        assert_eq!(grade("B39447922"), Some("agrees"));
        assert_eq!(grade("B39447822"), Some("one-typo"));
        assert_eq!(grade("B39449722"), Some("one-typo"));
        assert_eq!(grade("B3944792"), Some("one-typo"));
        // Twins registered together: consecutive numbers are two documents, not a typo.
        assert_eq!(grade("B39447923"), Some("differs"));
        assert_eq!(grade("B39457823"), Some("differs"));
        assert!(!one_typo_apart("1234", "1235"));
    }

    #[test]
    fn localities_and_streets_agree_despite_a_typo_and_postcodes_name_the_locality() {
        let a = features(
            r#"{"localId":"1","address":{"locality":"windermere","street":"light street, pinehill","house":"3","postalCode":"3212"}}"#,
        );
        let typo = features(
            r#"{"localId":"2","address":{"locality":"windemere","street":"light setreet, pinehill","house":"3"}}"#,
        );
        let renamed = features(
            r#"{"localId":"3","address":{"locality":"north ryde","street":"edkins street","postalCode":"MD-3212"}}"#,
        );
        let elsewhere =
            features(r#"{"localId":"4","address":{"locality":"north ryde","postalCode":"3355"}}"#);
        assert_eq!(
            level(&compare(&a, &typo), Attribute::Address),
            Some("same-house")
        );
        assert_eq!(
            level(&compare(&a, &renamed), Attribute::Address),
            Some("same-locality")
        );
        assert_eq!(
            level(&compare(&a, &elsewhere), Attribute::Address),
            Some("differs")
        );
    }

    #[test]
    fn streets_agree_with_a_street_type_left_out_a_part_added_or_parts_in_another_order() {
        let place = |street: &str| {
            features(&format!(
                r#"{{"localId":"1","address":{{"locality":"Cahul","street":"{street}","house":"12"}}}}"#
            ))
        };
        let a = place("str. Ştefan cel Mare");
        let grade = |street: &str| level(&compare(&a, &place(street)), Attribute::Address);
        assert_eq!(grade("Stefan cel Mare"), Some("same-house"));
        assert_eq!(grade("Ştefan cel Mare şi Sfînt, str."), Some("same-house"));
        assert_eq!(grade("str. Ştefan cel Mere"), Some("same-house"));
        // Another street of the same town, and a street type alone, are not the street.
        assert_eq!(grade("str. Ştefan Vodă"), Some("same-locality"));
        assert_eq!(grade("str."), Some("same-locality"));
        let estate = place("light street, pinehill");
        let grade = |street: &str| level(&compare(&estate, &place(street)), Attribute::Address);
        assert_eq!(grade("pinehill, light street"), Some("same-house"));
        assert_eq!(grade("light street"), Some("same-house"));
        assert_eq!(grade("dark street, pinehill"), Some("same-locality"));
    }

    #[test]
    fn named_levels_point_at_their_names() {
        let name = |attribute: Attribute, index: u8| attribute.levels()[index as usize];
        assert_eq!(name(Attribute::FirstName, level::NAME_DIFFERS), "differs");
        assert_eq!(name(Attribute::FirstName, level::NAME_TYPO), "typo");
        assert_eq!(
            name(Attribute::FirstName, level::NAME_SOUNDS_ALIKE),
            "sounds-alike"
        );
        assert_eq!(name(Attribute::Idnp, level::IDNP_EXACT), "exact");
        assert_eq!(name(Attribute::Idnp, level::IDNP_ONE_TYPO), "one-typo");
        assert_eq!(
            name(Attribute::BirthDate, level::DATE_DAY_MONTH_SWAPPED),
            "day-month-swapped"
        );
        assert_eq!(
            name(Attribute::BirthDate, level::DATE_ONE_DIGIT),
            "one-digit"
        );
        assert_eq!(
            name(Attribute::BirthDate, level::DATE_SAME_YEAR),
            "same-year"
        );
        assert_eq!(name(Attribute::BirthDate, level::DATE_DIFFERS), "differs");
        assert_eq!(
            name(Attribute::Identifier, level::IDENTIFIER_AGREES),
            "agrees"
        );
        assert_eq!(
            name(Attribute::Identifier, level::IDENTIFIER_ONE_TYPO),
            "one-typo"
        );
        assert_eq!(
            name(Attribute::Identifier, level::IDENTIFIER_DIFFERS),
            "differs"
        );
        assert_eq!(
            name(Attribute::Address, level::ADDRESS_SAME_HOUSE),
            "same-house"
        );
        assert_eq!(name(Attribute::Sex, level::AGREES), "agrees");
        assert_eq!(name(Attribute::Sex, level::DIFFERS), "differs");
    }

    #[test]
    fn phones_agree_with_or_without_the_country_code() {
        let a = features(r#"{"localId":"1","phone":"+373 69 123 456"}"#);
        let b = features(r#"{"localId":"2","phone":"069123456"}"#);
        assert_eq!(level(&compare(&a, &b), Attribute::Phone), Some("agrees"));
    }

    fn stem_like() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::strategy::Strategy;
        let alphabet: Vec<char> = "abcinouărsștțvz ".chars().collect();
        proptest::collection::vec(proptest::sample::select(alphabet), 0..14)
            .prop_map(|chars| chars.into_iter().collect())
    }

    proptest::proptest! {
        #[test]
        fn a_typo_ruled_out_by_the_letter_counts_is_no_typo(a in stem_like(), b in stem_like()) {
            let (Some(x), Some(y)) = (LetterCounts::of(&a), LetterCounts::of(&b)) else {
                return Ok(());
            };
            let tolerated = typos_tolerated(&a, &b);
            if !x.typo_possible(&y, tolerated) {
                proptest::prop_assert!(jaro_winkler(&a, &b) < 0.9);
                proptest::prop_assert!(damerau_levenshtein(&a, &b) > tolerated);
            }
        }
    }
}
