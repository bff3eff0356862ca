//! Comparison of two source records attribute by attribute: each attribute pair is graded into
//! an agreement level (exact, sounds alike, typo, differs...), the input of the Fellegi–Sunter
//! model in [`crate::model`].

use std::sync::Arc;

use crate::normalize::{
    DateAgreement, PartialDate, compare_dates, damerau_levenshtein, fold, jaro_winkler,
    phonetic_key, surname_stem,
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

    fn build(display: &str, stem: String) -> Option<Self> {
        let folded = fold(display);
        if folded.is_empty() {
            return None;
        }
        Some(Self {
            phonetic: phonetic_key(&stem).into(),
            stem: stem.into(),
            folded: folded.into(),
        })
    }
}

/// Where a record's person lives, folded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Place {
    pub district: Option<Arc<str>>,
    pub locality: Option<Arc<str>>,
    pub street: Option<Arc<str>>,
    pub house: Option<Box<str>>,
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
    pub phone: Option<u64>,
    /// (system folded, value trimmed).
    pub identifiers: Box<[(Arc<str>, Box<str>)]>,
}

/// Shares repeated strings (names, places) between records to keep a million records small.
pub trait Interner {
    fn given(&mut self, display: &str) -> Option<Arc<Name>>;
    fn surname(&mut self, display: &str) -> Option<Arc<Name>>;
    fn text(&mut self, folded: String) -> Arc<str>;
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
    fn text(&mut self, folded: String) -> Arc<str> {
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
            place.house = non_blank(&address.house).map(|h| fold(&h).replace(' ', "").into());
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
                "same-year-month",
                "same-year",
                "year-off-by-one",
                "differs",
            ],
            Self::Sex | Self::Phone | Self::Identifier => &["agrees", "differs"],
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

/// The agreement level of every attribute; `None` where either side lacks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Comparison {
    pub levels: [Option<u8>; ATTRIBUTES],
    /// First and last name agree only when exchanged.
    pub names_swapped: bool,
    /// Both IDNPs pass their check digit and differ: two people, or a registry error to review.
    pub idnp_conflict: bool,
}

/// Grades a pair of names: 0 exact, 1 same stem or same sound, 2 typo, 3 differs.
fn name_level(a: &Name, b: &Name) -> u8 {
    if a.folded == b.folded {
        0
    } else if a.stem == b.stem || (!a.phonetic.is_empty() && a.phonetic == b.phonetic) {
        1
    } else if jaro_winkler(&a.stem, &b.stem) >= 0.9
        || damerau_levenshtein(&a.stem, &b.stem) <= typos_tolerated(&a.stem, &b.stem)
        || shares_a_word(a, b)
    {
        2
    } else {
        3
    }
}

/// Edits a name may have and still count as a typo: one, or two in names of eight letters
/// or more.
fn typos_tolerated(a: &str, b: &str) -> usize {
    if a.len().min(b.len()) >= 8 { 2 } else { 1 }
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
    if let Some((x, y)) = both(&a.idnp, &b.idnp) {
        levels[Attribute::Idnp.index()] = Some(if x.digits() == y.digits() {
            if x.is_valid() { 0 } else { 1 }
        } else if damerau_levenshtein(x.digits(), y.digits()) <= 1 {
            if x.is_valid() && y.is_valid() {
                idnp_conflict = true;
            }
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
                (Some(f), Some(l)) if f <= 2 && l <= 2 => {
                    names_swapped = true;
                    (Some(f), Some(l))
                }
                _ => direct,
            }
        }
        _ => direct,
    };
    levels[Attribute::FirstName.index()] = first;
    levels[Attribute::LastName.index()] = last;
    levels[Attribute::Patronymic.index()] = both(&a.patronymic, &b.patronymic).map(|(x, y)| {
        let prefix = |n: &Name| n.folded.chars().take(5).collect::<String>();
        u8::from(!(x.folded == y.folded || prefix(x) == prefix(y) || x.phonetic == y.phonetic))
    });
    levels[Attribute::BirthDate.index()] =
        both(&a.birth, &b.birth).map(|(x, y)| match compare_dates(x, y) {
            DateAgreement::Exact => 0,
            DateAgreement::DayMonthSwapped => 1,
            DateAgreement::Partial => 2,
            DateAgreement::SameYearMonth => 3,
            DateAgreement::SameYear => 4,
            DateAgreement::OffByOneYear => 5,
            DateAgreement::Disagree => 6,
        });
    levels[Attribute::Sex.index()] = both(&a.female, &b.female).map(|(x, y)| u8::from(x != y));
    levels[Attribute::Address.index()] = compare_places(&a.place, &b.place);
    levels[Attribute::Phone.index()] = both(&a.phone, &b.phone).map(|(x, y)| u8::from(x != y));
    levels[Attribute::Identifier.index()] = compare_identifiers(&a.identifiers, &b.identifiers);
    Comparison {
        levels,
        names_swapped,
        idnp_conflict,
    }
}

fn compare_places(a: &Place, b: &Place) -> Option<u8> {
    let same = |x: &Option<Arc<str>>, y: &Option<Arc<str>>| both(x, y).map(|(x, y)| x == y);
    let locality = same(&a.locality, &b.locality);
    let district = same(&a.district, &b.district);
    if locality.is_none() && district.is_none() {
        return None;
    }
    if locality == Some(true) || (locality.is_none() && district == Some(true)) {
        let street = same(&a.street, &b.street);
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

fn compare_identifiers(a: &[(Arc<str>, Box<str>)], b: &[(Arc<str>, Box<str>)]) -> Option<u8> {
    let mut common_system = false;
    for (system, value) in a {
        for (other_system, other_value) in b {
            if system == other_system {
                if value == other_value {
                    return Some(0);
                }
                common_system = true;
            }
        }
    }
    common_system.then_some(1)
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
    fn phones_agree_with_or_without_the_country_code() {
        let a = features(r#"{"localId":"1","phone":"+373 69 123 456"}"#);
        let b = features(r#"{"localId":"2","phone":"069123456"}"#);
        assert_eq!(level(&compare(&a, &b), Attribute::Phone), Some("agrees"));
    }
}
