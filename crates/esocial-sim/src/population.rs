//! A synthetic, deterministic population of Moldovan persons for the registry simulators:
//! Romanian and Russian names, valid IDNPs, realistic districts and addresses, and the records
//! every registry keeps about them (families, deaths, health insurance, disability, schooling,
//! protection orders, court decisions, probation), consistent across registries.
//!
//! The synthetic world is frozen at [`REFERENCE_DATE`]: ages, "active" and "valid" are all
//! measured against it. Everything is invented; any likeness to a real person is chance.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use esocial_wire::domain::Idnp;

use crate::moldova::{DISTRICTS, Names, Origin, STREETS, Sex, idnp};
use crate::random::{Random, Weighted};

/// A date in `low..=high` (`low` when the range is empty).
fn date_between(random: &mut Random, low: Date, high: Date) -> Date {
    from_days(random.between(days(low), days(high)))
}

/// A calendar date: year, month, day.
pub type Date = (i32, u8, u8);

/// "Today" in the synthetic world: ages, validity and activity are measured on this day.
pub const REFERENCE_DATE: Date = (2026, 11, 1);

/// `YYYY-MM-DD`.
pub fn date_text(date: Date) -> String {
    let (year, month, day) = date;
    format!("{year:04}-{month:02}-{day:02}")
}

/// Days since 1970-01-01 (proleptic Gregorian calendar).
fn days(date: Date) -> i64 {
    let (year, month, day) = date;
    let month = i64::from(month);
    let year = i64::from(year) - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn from_days(count: i64) -> Date {
    let shifted = count + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year as i32, month as u8, day as u8)
}

/// The day `count` days after (or before) `date`.
pub fn add_days(date: Date, count: i64) -> Date {
    from_days(days(date) + count)
}

/// The same day `years` later (or earlier); 29 February becomes 28 February when needed.
fn add_years(date: Date, years: i32) -> Date {
    let (year, month, day) = date;
    let target = year + years;
    let leap = (target % 4 == 0 && target % 100 != 0) || target % 400 == 0;
    let day = if month == 2 && day == 29 && !leap {
        28
    } else {
        day
    };
    (target, month, day)
}

/// Completed years of someone born on `birth`, on `on`.
pub fn age_on(birth: Date, on: Date) -> i32 {
    let years = on.0 - birth.0;
    if (on.1, on.2) < (birth.1, birth.2) {
        years - 1
    } else {
        years
    }
}

/// The districts the population lives in, each with the court (seat) that serves it: the
/// districts whose court the simulated justice registries name. Everything else about a
/// district comes from [`DISTRICTS`].
const COURTS: &[(&str, &str)] = &[
    ("mun. Chișinău", "Judecătoria Chișinău"),
    ("mun. Bălți", "Judecătoria Bălți, sediul central"),
    ("Orhei", "Judecătoria Orhei, sediul central"),
    ("Cahul", "Judecătoria Cahul, sediul central"),
    ("Ungheni", "Judecătoria Ungheni, sediul central"),
    ("Soroca", "Judecătoria Soroca, sediul central"),
    ("Hîncești", "Judecătoria Hîncești, sediul central"),
    ("UTA Găgăuzia", "Judecătoria Comrat, sediul central"),
    ("Edineț", "Judecătoria Edineț, sediul central"),
    ("Strășeni", "Judecătoria Strășeni, sediul central"),
    ("Căușeni", "Judecătoria Căușeni, sediul central"),
    ("Florești", "Judecătoria Soroca, sediul Florești"),
    ("Ialoveni", "Judecătoria Hîncești, sediul Ialoveni"),
    ("Anenii Noi", "Judecătoria Căușeni, sediul Anenii Noi"),
];

/// A district of [`COURTS`] with its town (the district's first locality, which names its
/// police inspectorate, civil status office and probation office) and court.
struct Place {
    district: &'static str,
    postal_base: u16,
    town: &'static str,
    court: &'static str,
    /// Share of the population, from [`DISTRICTS`].
    weight: u64,
}

static PLACES: LazyLock<Vec<Place>> = LazyLock::new(|| {
    COURTS
        .iter()
        .map(|&(name, court)| {
            let district = DISTRICTS
                .iter()
                .find(|district| district.name == name)
                .unwrap_or_else(|| panic!("{name} is not a district of moldova::DISTRICTS"));
            let (town, postal_base) = district.localities[0];
            Place {
                district: district.name,
                postal_base,
                town,
                court,
                weight: district.weight,
            }
        })
        .collect()
});

/// Sectors of Chișinău: each has its own police inspectorate, court seat and probation office.
const CHISINAU_SECTORS: &[&str] = &["Botanica", "Buiucani", "Centru", "Ciocana", "Rîșcani"];
const LYCEUM_PATRONS: &[&str] = &[
    "Mihai Eminescu",
    "Ion Creangă",
    "Alexandru cel Bun",
    "Ștefan cel Mare",
    "Vasile Alecsandri",
    "Lucian Blaga",
    "Gheorghe Asachi",
    "Spiru Haret",
    "Dimitrie Cantemir",
    "Alexei Mateevici",
];
const KINDERGARTEN_NAMES: &[&str] = &[
    "Andrieș",
    "Licurici",
    "Guguță",
    "Ghiocel",
    "Albinuța",
    "Romanița",
    "Steluța",
    "Spicușor",
    "Fluturaș",
];
/// Kindergarten groups by the year of age the child turns this year (3 to 6).
const KINDERGARTEN_GROUPS: &[&str] = &[
    "grupa mică",
    "grupa mijlocie",
    "grupa mare",
    "grupa pregătitoare",
];
const EMERGENCY_MEASURES: &[&str] = &[
    "removal from the shared home",
    "ban on approaching the victim",
    "ban on contact",
];
const PROTECTION_MEASURES: &[&str] = &[
    "ban on approaching the victim",
    "removal from the shared home",
    "ban on contact",
    "mandatory counselling program",
    "ban on visiting the victim's workplace",
    "temporary limitation of contact with the common children",
    "ban on possessing firearms",
];

#[derive(Debug, Clone)]
pub struct Address {
    pub district: String,
    pub locality: String,
    pub street: String,
    pub house: String,
    pub postal_code: String,
}

/// A death registered by the civil status service.
#[derive(Debug, Clone)]
pub struct Death {
    pub date: Date,
    pub act_number: String,
    /// The civil status office that registered the death.
    pub office: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InsuranceCategory {
    Employed,
    StateInsuredChild,
    StateInsuredPensioner,
    StateInsuredDisability,
    Uninsured,
}

impl InsuranceCategory {
    pub fn code(self) -> &'static str {
        match self {
            Self::Employed => "employed",
            Self::StateInsuredChild => "state-insured-child",
            Self::StateInsuredPensioner => "state-insured-pensioner",
            Self::StateInsuredDisability => "state-insured-disability",
            Self::Uninsured => "uninsured",
        }
    }
}

/// CNAM compulsory medical insurance.
#[derive(Debug, Clone)]
pub struct Insurance {
    pub category: InsuranceCategory,
    /// Absent for the uninsured.
    pub valid_until: Option<Date>,
}

impl Insurance {
    pub fn insured(&self) -> bool {
        self.category != InsuranceCategory::Uninsured
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DisabilityDegree {
    Severe,
    Accentuated,
    Medium,
}

impl DisabilityDegree {
    pub fn code(self) -> &'static str {
        match self {
            Self::Severe => "severe",
            Self::Accentuated => "accentuated",
            Self::Medium => "medium",
        }
    }
}

/// A disability determination in force on the reference date.
#[derive(Debug, Clone)]
pub struct Disability {
    pub degree: DisabilityDegree,
    pub decision_number: String,
    pub decided_on: Date,
    /// Absent when determined without a term.
    pub valid_until: Option<Date>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InstitutionType {
    School,
    Kindergarten,
}

impl InstitutionType {
    pub fn code(self) -> &'static str {
        match self {
            Self::School => "school",
            Self::Kindergarten => "kindergarten",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Institution {
    pub name: String,
    pub code: String,
    pub kind: InstitutionType,
    pub district: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EnrolmentStatus {
    Enrolled,
    NotEnrolled,
    /// Left school before finishing it: the drop-out social workers look for.
    Left,
    Graduated,
}

impl EnrolmentStatus {
    pub fn code(self) -> &'static str {
        match self {
            Self::Enrolled => "enrolled",
            Self::NotEnrolled => "not-enrolled",
            Self::Left => "left",
            Self::Graduated => "graduated",
        }
    }
}

/// Enrolment in the current school year (2026/2027). `NotEnrolled` carries nothing else.
#[derive(Debug, Clone)]
pub struct Enrolment {
    pub status: EnrolmentStatus,
    pub institution: Option<Institution>,
    /// The school grade ("1" to "12") or the kindergarten group ("grupa mare").
    pub grade: Option<String>,
    /// Absences this term (lesson hours at school, days at kindergarten).
    pub absences_this_term: Option<u32>,
}

impl Enrolment {
    fn none() -> Self {
        Self {
            status: EnrolmentStatus::NotEnrolled,
            institution: None,
            grade: None,
            absences_this_term: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderType {
    EmergencyBarring,
    Protection,
}

impl OrderType {
    pub fn code(self) -> &'static str {
        match self {
            Self::EmergencyBarring => "emergency-barring",
            Self::Protection => "protection",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderRole {
    Victim,
    Aggressor,
}

impl OrderRole {
    pub fn code(self) -> &'static str {
        match self {
            Self::Victim => "victim",
            Self::Aggressor => "aggressor",
        }
    }
}

/// A protection order in a domestic-violence case. Victim and aggressor are indices into
/// [`Population::persons`]; both see the same order (same number) with their own role.
#[derive(Debug, Clone)]
pub struct ProtectionOrder {
    pub number: String,
    pub kind: OrderType,
    pub issued_on: Date,
    pub valid_until: Date,
    /// The police inspectorate that issued (emergency-barring) or enforces (protection) it.
    pub issued_by: String,
    pub measures: Vec<String>,
    pub victim: usize,
    pub aggressor: usize,
}

impl ProtectionOrder {
    /// In force on `date`.
    pub fn is_active_on(&self, date: Date) -> bool {
        self.issued_on <= date && date <= self.valid_until
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecisionType {
    Custody,
    Guardianship,
    DeprivationOfParentalRights,
    RestorationOfParentalRights,
}

impl DecisionType {
    pub fn code(self) -> &'static str {
        match self {
            Self::Custody => "custody",
            Self::Guardianship => "guardianship",
            Self::DeprivationOfParentalRights => "deprivation-of-parental-rights",
            Self::RestorationOfParentalRights => "restoration-of-parental-rights",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecisionRole {
    Parent,
    Child,
    Guardian,
}

impl DecisionRole {
    pub fn code(self) -> &'static str {
        match self {
            Self::Parent => "parent",
            Self::Child => "child",
            Self::Guardian => "guardian",
        }
    }
}

/// A court decision about a family. Parties are indices into [`Population::persons`].
#[derive(Debug, Clone)]
pub struct CourtDecision {
    pub case_number: String,
    pub court: String,
    pub decided_on: Date,
    pub kind: DecisionType,
    /// Irrevocable (no appeal pending).
    pub final_decision: bool,
    pub summary: String,
    pub parties: Vec<(usize, DecisionRole)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProbationStatus {
    None,
    Active,
    Completed,
}

impl ProbationStatus {
    pub fn code(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Active => "active",
            Self::Completed => "completed",
        }
    }
}

/// Supervision by the National Probation Inspectorate; only `None` lacks office and dates.
#[derive(Debug, Clone)]
pub struct Probation {
    pub status: ProbationStatus,
    pub office: Option<String>,
    pub since: Option<Date>,
    pub until: Option<Date>,
}

/// One synthetic person. Entirely invented; any likeness to a real person is chance.
/// Links to other persons (`mother`, `father`, `spouse`, `children`, `orders`, `decisions`)
/// are indices into [`Population::persons`], [`Population::protection_orders`] and
/// [`Population::court_decisions`].
#[derive(Debug, Clone)]
pub struct SyntheticPerson {
    pub idnp: Idnp,
    pub first_name: String,
    pub last_name: String,
    pub patronymic: Option<String>,
    pub birth_date: Date,
    pub sex: Sex,
    /// Always `death.is_some()`.
    pub deceased: bool,
    pub address: Address,
    pub mother: Option<usize>,
    pub father: Option<usize>,
    pub spouse: Option<usize>,
    /// Eldest first.
    pub children: Vec<usize>,
    pub death: Option<Death>,
    pub insurance: Insurance,
    pub disability: Option<Disability>,
    pub enrolment: Enrolment,
    pub orders: Vec<usize>,
    pub decisions: Vec<usize>,
    pub probation: Probation,
}

impl SyntheticPerson {
    pub fn birth_date_text(&self) -> String {
        date_text(self.birth_date)
    }

    /// Completed years on the reference date.
    pub fn age(&self) -> i32 {
        age_on(self.birth_date, REFERENCE_DATE)
    }

    pub fn is_minor(&self) -> bool {
        self.age() < 18
    }
}

/// The simulated population, the same for every registry simulator with the same seed.
pub struct Population {
    persons: Vec<SyntheticPerson>,
    by_idnp: HashMap<String, usize>,
    orders: Vec<ProtectionOrder>,
    decisions: Vec<CourtDecision>,
}

/// Seed used by the simulators unless told otherwise.
pub const DEFAULT_SEED: u64 = 0x4d44_2026;
/// Size of the default population.
pub const DEFAULT_SIZE: usize = 2000;

impl Population {
    pub fn synthetic(seed: u64, size: usize) -> Self {
        let mut builder = Builder::new(seed, size);
        while builder.persons.len() < size {
            builder.household();
        }
        builder.deaths();
        builder.disabilities();
        builder.insurance();
        builder.education();
        builder.protection_orders();
        builder.court_decisions();
        builder.probation();
        Self {
            persons: builder.persons,
            by_idnp: builder.by_idnp,
            orders: builder.orders,
            decisions: builder.decisions,
        }
    }

    pub fn default_population() -> Self {
        Self::synthetic(DEFAULT_SEED, DEFAULT_SIZE)
    }

    pub fn find(&self, idnp: &str) -> Option<&SyntheticPerson> {
        self.index_of(idnp).map(|index| &self.persons[index])
    }

    /// Position of the person in [`Population::persons`].
    pub fn index_of(&self, idnp: &str) -> Option<usize> {
        self.by_idnp.get(idnp.trim()).copied()
    }

    pub fn persons(&self) -> &[SyntheticPerson] {
        &self.persons
    }

    pub fn person(&self, index: usize) -> Option<&SyntheticPerson> {
        self.persons.get(index)
    }

    pub fn protection_orders(&self) -> &[ProtectionOrder] {
        &self.orders
    }

    pub fn court_decisions(&self) -> &[CourtDecision] {
        &self.decisions
    }

    /// The orders naming the person, with the person's role in each, oldest first.
    pub fn orders_of(&self, person: &SyntheticPerson) -> Vec<(&ProtectionOrder, OrderRole)> {
        let index = self.index_of(person.idnp.expose());
        person
            .orders
            .iter()
            .filter_map(|&order| self.orders.get(order))
            .map(|order| {
                let role = if Some(order.aggressor) == index {
                    OrderRole::Aggressor
                } else {
                    OrderRole::Victim
                };
                (order, role)
            })
            .collect()
    }

    /// The court decisions naming the person, with the person's role in each, oldest first.
    pub fn decisions_of(&self, person: &SyntheticPerson) -> Vec<(&CourtDecision, DecisionRole)> {
        let index = self.index_of(person.idnp.expose());
        person
            .decisions
            .iter()
            .filter_map(|&decision| self.decisions.get(decision))
            .filter_map(|decision| {
                let role = decision
                    .parties
                    .iter()
                    .find(|(party, _)| Some(*party) == index)?
                    .1;
                Some((decision, role))
            })
            .collect()
    }

    /// A living adult, handy for demos and examples.
    pub fn sample_subject(&self) -> &SyntheticPerson {
        self.persons
            .iter()
            .find(|p| !p.deceased && p.birth_date.0 < 2000)
            .unwrap_or(&self.persons[0])
    }
}

/// A family's surname: an index into [`Names::surnames`].
#[derive(Clone, Copy, PartialEq, Eq)]
struct Surname(u16);

/// Where a person lives: the place (index into PLACES) and, in Chișinău, the sector.
#[derive(Clone, Copy)]
struct Home {
    place: usize,
    sector: usize,
}

impl Home {
    fn place(self) -> &'static Place {
        &PLACES[self.place]
    }

    fn town(self) -> &'static str {
        if self.place == 0 {
            CHISINAU_SECTORS[self.sector]
        } else {
            self.place().town
        }
    }

    fn inspectorate(self) -> String {
        format!("IP {}", self.town())
    }

    fn court(self) -> String {
        if self.place == 0 {
            format!(
                "Judecătoria Chișinău, sediul {}",
                CHISINAU_SECTORS[self.sector]
            )
        } else {
            self.place().court.to_string()
        }
    }

    fn probation_office(self) -> String {
        format!("Biroul de probațiune {}", self.town())
    }

    fn civil_status_office(self) -> String {
        format!("Oficiul Stare Civilă {}", self.place().town)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FamilyKind {
    Married,
    Divorced,
    SingleMother,
    /// The mother died; a grandmother is the children's guardian.
    Orphaned,
}

/// A household with minor children.
struct Family {
    kind: FamilyKind,
    mother: usize,
    father: Option<usize>,
    children: Vec<usize>,
    /// The grandmother of an orphaned family.
    guardian: Option<usize>,
    home: Home,
}

struct NewPerson {
    sex: Sex,
    /// An index into [`Names::given`].
    given: u16,
    surname: Surname,
    patronymic: Option<String>,
    birth: Date,
    address: Address,
    home: Home,
}

const LAST_ADULT_BIRTH: Date = (2008, 10, 31);
const FIRST_MINOR_BIRTH: Date = (2008, 11, 2);
const LAST_BIRTH: Date = (2026, 10, 31);
const END_OF_YEAR: Date = (2026, 12, 31);

struct Builder {
    random: Random,
    names: Names,
    /// Districts by their share of the population.
    places: Weighted,
    /// Each person's given name, an index into [`Names::given`].
    given: Vec<u16>,
    size: usize,
    persons: Vec<SyntheticPerson>,
    homes: Vec<Home>,
    by_idnp: HashMap<String, usize>,
    families: Vec<Family>,
    /// Persons the random death pass leaves alone (parents of minors, guardians).
    keep_alive: HashSet<usize>,
    orders: Vec<ProtectionOrder>,
    decisions: Vec<CourtDecision>,
    /// Aggressors of protection orders, for probation and parental-rights cases.
    aggressors: HashSet<usize>,
    /// Running serial numbers per kind of document.
    serials: [u64; 4],
}

/// Kinds of numbered documents, each with its own serial.
#[derive(Clone, Copy)]
enum Serial {
    DeathAct = 0,
    Disability = 1,
    Order = 2,
    Case = 3,
}

impl Builder {
    fn new(seed: u64, size: usize) -> Self {
        Self {
            random: Random::new(seed),
            names: Names::new(),
            places: Weighted::new(PLACES.iter().map(|place| place.weight)),
            given: Vec::with_capacity(size),
            size,
            persons: Vec::with_capacity(size),
            homes: Vec::with_capacity(size),
            by_idnp: HashMap::with_capacity(size),
            families: Vec::new(),
            keep_alive: HashSet::new(),
            orders: Vec::new(),
            decisions: Vec::new(),
            aggressors: HashSet::new(),
            serials: [0; 4],
        }
    }

    /// An increasing serial number of the given kind.
    fn next_serial(&mut self, kind: Serial) -> u64 {
        let serial = &mut self.serials[kind as usize];
        *serial += 1 + self.random.below(23);
        *serial
    }

    fn remaining(&self) -> usize {
        self.size - self.persons.len()
    }

    fn origin(&mut self) -> Origin {
        match self.random.share(&[760, 180, 60]) {
            0 => Origin::Romanian,
            1 => Origin::Slavic,
            _ => Origin::Southern,
        }
    }

    fn surname(&mut self, origin: Origin) -> Surname {
        Surname(self.names.surname(&mut self.random, origin))
    }

    fn surname_form(&self, surname: Surname, sex: Sex) -> String {
        self.names.surnames[usize::from(surname.0)][sex.index()]
            .latin
            .clone()
    }

    fn given_name(&mut self, origin: Origin, sex: Sex) -> u16 {
        self.names.given_name(&mut self.random, sex, origin)
    }

    /// The patronymic of a person of `origin` whose father's given name is `father`: Russian,
    /// Ukrainian, Gagauz and Bulgarian families record one, Romanian ones do not. A father
    /// outside the population gets a name of the family's origin.
    fn patronymic(&mut self, origin: Origin, sex: Sex, father: Option<u16>) -> Option<String> {
        if origin == Origin::Romanian {
            return None;
        }
        let father = match father {
            Some(father) => father,
            None => self.given_name(origin, Sex::Male),
        };
        self.names.given[usize::from(father)]
            .patronymic
            .as_ref()
            .map(|forms| forms[sex.index()].latin.clone())
    }

    fn sex(&mut self) -> Sex {
        if self.random.below(2) == 0 {
            Sex::Male
        } else {
            Sex::Female
        }
    }

    fn new_home(&mut self) -> (Address, Home) {
        let place = self.places.sample(&mut self.random);
        let sector = self.random.below(CHISINAU_SECTORS.len() as u64) as usize;
        let home = Home { place, sector };
        (self.address_in(home), home)
    }

    fn address_in(&mut self, home: Home) -> Address {
        let place = home.place();
        Address {
            district: place.district.to_string(),
            locality: place.town.to_string(),
            street: self.random.pick(STREETS).to_string(),
            house: (1 + self.random.below(120)).to_string(),
            postal_code: format!("MD-{}", place.postal_base + self.random.below(10) as u16),
        }
    }

    fn add(&mut self, new: NewPerson) -> usize {
        let index = self.persons.len();
        let birth_year = u16::try_from(new.birth.0).expect("births are in years 1900 to 2100");
        let digits = idnp(index as u64 + 1, birth_year, &mut self.random);
        let mut first_twelve = [0u8; 12];
        first_twelve.copy_from_slice(&digits[..12]);
        let idnp = Idnp::from_first_twelve(first_twelve);
        self.by_idnp.insert(idnp.expose().to_string(), index);
        self.persons.push(SyntheticPerson {
            idnp,
            first_name: self.names.given[usize::from(new.given)]
                .spellings
                .latin
                .clone(),
            last_name: self.surname_form(new.surname, new.sex),
            patronymic: new.patronymic,
            birth_date: new.birth,
            sex: new.sex,
            deceased: false,
            address: new.address,
            mother: None,
            father: None,
            spouse: None,
            children: Vec::new(),
            death: None,
            insurance: Insurance {
                category: InsuranceCategory::Uninsured,
                valid_until: None,
            },
            disability: None,
            enrolment: Enrolment::none(),
            orders: Vec::new(),
            decisions: Vec::new(),
            probation: Probation {
                status: ProbationStatus::None,
                office: None,
                since: None,
                until: None,
            },
        });
        self.homes.push(new.home);
        self.given.push(new.given);
        index
    }

    /// An adult of the given sex and origin.
    fn adult(
        &mut self,
        sex: Sex,
        origin: Origin,
        surname: Surname,
        birth: Date,
        at: (Address, Home),
    ) -> usize {
        let given = self.given_name(origin, sex);
        let patronymic = self.patronymic(origin, sex, None);
        self.add(NewPerson {
            sex,
            given,
            surname,
            patronymic,
            birth,
            address: at.0,
            home: at.1,
        })
    }

    /// A child of `mother` (and `father`), linked both ways.
    fn child(
        &mut self,
        mother: usize,
        father: Option<usize>,
        origin: Origin,
        surname: Surname,
        birth: Date,
        at: (Address, Home),
    ) -> usize {
        let sex = self.sex();
        let given = self.given_name(origin, sex);
        let father_name = father.map(|father| self.given[father]);
        let patronymic = self.patronymic(origin, sex, father_name);
        let index = self.add(NewPerson {
            sex,
            given,
            surname,
            patronymic,
            birth,
            address: at.0,
            home: at.1,
        });
        self.persons[index].mother = Some(mother);
        self.persons[mother].children.push(index);
        if let Some(father) = father {
            self.persons[index].father = Some(father);
            self.persons[father].children.push(index);
        }
        index
    }

    fn marry(&mut self, husband: usize, wife: usize) {
        self.persons[husband].spouse = Some(wife);
        self.persons[wife].spouse = Some(husband);
    }

    fn household(&mut self) {
        let remaining = self.remaining();
        let roll = self.random.below(100);
        if remaining >= 2 && roll < 45 {
            self.family();
        } else if remaining >= 2 && roll < 72 {
            self.couple();
        } else {
            self.single();
        }
    }

    fn single(&mut self) {
        let origin = self.origin();
        let sex = self.sex();
        let surname = self.surname(origin);
        let birth = date_between(&mut self.random, (1935, 1, 1), LAST_ADULT_BIRTH);
        let at = self.new_home();
        self.adult(sex, origin, surname, birth, at);
    }

    /// A couple without minor children; older couples often have adult children living apart.
    fn couple(&mut self) {
        let origin = self.origin();
        let surname = self.surname(origin);
        let husband_birth = date_between(&mut self.random, (1937, 1, 1), (2000, 12, 31));
        let offset = self.random.between(-3 * 365, 6 * 365);
        let wife_birth = add_days(husband_birth, offset).min(LAST_ADULT_BIRTH);
        let wife_origin = if self.random.chance(100) {
            self.origin()
        } else {
            origin
        };
        let at = self.new_home();
        let husband = self.adult(Sex::Male, origin, surname, husband_birth, at.clone());
        let wife = self.adult(Sex::Female, wife_origin, surname, wife_birth, at);
        self.marry(husband, wife);
        let low = add_years(wife_birth, 20).max(add_years(husband_birth, 20));
        let high = add_years(wife_birth, 40)
            .min(add_years(husband_birth, 45))
            .min(LAST_ADULT_BIRTH);
        if low <= high && self.remaining() > 0 && self.random.chance(500) {
            let count = (1 + self.random.below(2) as usize).min(self.remaining());
            for _ in 0..count {
                let birth = date_between(&mut self.random, low, high);
                let home = self.new_home();
                self.child(wife, Some(husband), origin, surname, birth, home);
            }
        }
    }

    /// A household with minor children: a mother, usually a father, one to four children.
    fn family(&mut self) {
        let remaining = self.remaining();
        let roll = self.random.below(100);
        let mut kind = match roll {
            0..68 => FamilyKind::Married,
            68..81 => FamilyKind::Divorced,
            81..97 => FamilyKind::SingleMother,
            _ => FamilyKind::Orphaned,
        };
        if remaining < 3 {
            kind = FamilyKind::SingleMother;
        }
        let adults = if kind == FamilyKind::SingleMother {
            1
        } else {
            2
        };
        let wanted = match self.random.below(100) {
            0..45 => 1,
            45..80 => 2,
            80..95 => 3,
            _ => 4,
        };
        let count = wanted.min(remaining - adults).max(1);

        // Children first, then parents 18 to 45 years older than each of them.
        let eldest = date_between(&mut self.random, FIRST_MINOR_BIRTH, LAST_BIRTH);
        let mother_age = self.random.between(18, 37);
        let mother_birth = add_days(add_years(eldest, -mother_age), -self.random.between(0, 364));
        let last_child = add_years(mother_birth, 45).min(LAST_BIRTH);
        let mut births: Vec<Date> = (0..count)
            .map(|position| {
                if position == 0 {
                    eldest
                } else {
                    date_between(&mut self.random, eldest, last_child)
                }
            })
            .collect();
        births.sort_unstable();
        let youngest = births[births.len() - 1];
        let father_low = add_days(add_years(youngest, -45), 1);
        let father_high = add_years(eldest, -18);
        let father_birth = add_days(mother_birth, self.random.between(-8 * 365, 3 * 365))
            .clamp(father_low, father_high);

        let origin = self.origin();
        let mother_origin = if self.random.chance(100) {
            self.origin()
        } else {
            origin
        };
        let family_surname = self.surname(origin);
        let maiden_surname = self.surname(mother_origin);
        let home_at = self.new_home();
        let home = home_at.1;

        let mut guardian = None;
        let (mother, father, children_surname) = match kind {
            FamilyKind::Married | FamilyKind::Divorced => {
                let father_at = if kind == FamilyKind::Divorced {
                    let address = self.address_in(home);
                    (address, home)
                } else {
                    home_at.clone()
                };
                let father = self.adult(Sex::Male, origin, family_surname, father_birth, father_at);
                let keeps_name = kind == FamilyKind::Divorced && self.random.chance(500);
                let mother_surname = if keeps_name {
                    maiden_surname
                } else {
                    family_surname
                };
                let mother = self.adult(
                    Sex::Female,
                    mother_origin,
                    mother_surname,
                    mother_birth,
                    home_at.clone(),
                );
                if kind == FamilyKind::Married {
                    self.marry(father, mother);
                }
                (mother, Some(father), family_surname)
            }
            FamilyKind::SingleMother => {
                let mother = self.adult(
                    Sex::Female,
                    mother_origin,
                    maiden_surname,
                    mother_birth,
                    home_at.clone(),
                );
                (mother, None, maiden_surname)
            }
            FamilyKind::Orphaned => {
                let grandmother_birth = add_days(
                    add_years(mother_birth, -20),
                    -self.random.between(0, 8 * 365),
                );
                let grandmother = self.adult(
                    Sex::Female,
                    mother_origin,
                    maiden_surname,
                    grandmother_birth,
                    home_at.clone(),
                );
                let given = self.given_name(mother_origin, Sex::Female);
                let patronymic = self.patronymic(mother_origin, Sex::Female, None);
                let mother = self.add(NewPerson {
                    sex: Sex::Female,
                    given,
                    surname: maiden_surname,
                    patronymic,
                    birth: mother_birth,
                    address: home_at.0.clone(),
                    home,
                });
                self.persons[mother].mother = Some(grandmother);
                self.persons[grandmother].children.push(mother);
                guardian = Some(grandmother);
                self.keep_alive.insert(grandmother);
                (mother, None, maiden_surname)
            }
        };
        self.keep_alive.insert(mother);
        if let Some(father) = father {
            self.keep_alive.insert(father);
        }
        let children_origin = if father.is_some() {
            origin
        } else {
            mother_origin
        };
        let children = births
            .into_iter()
            .map(|birth| {
                self.child(
                    mother,
                    father,
                    children_origin,
                    children_surname,
                    birth,
                    home_at.clone(),
                )
            })
            .collect();
        self.families.push(Family {
            kind,
            mother,
            father,
            children,
            guardian,
            home,
        });
    }

    fn register_death(&mut self, index: usize, date: Date) {
        let home = self.homes[index];
        let serial = self.next_serial(Serial::DeathAct);
        let person = &mut self.persons[index];
        person.deceased = true;
        person.death = Some(Death {
            date,
            act_number: format!("D-{}-{:05}", date.0, serial % 100_000),
            office: home.civil_status_office(),
        });
    }

    fn deaths(&mut self) {
        let orphaned: Vec<(usize, Date)> = self
            .families
            .iter()
            .filter(|family| family.kind == FamilyKind::Orphaned)
            .map(|family| {
                let youngest = family
                    .children
                    .iter()
                    .map(|&child| self.persons[child].birth_date)
                    .max()
                    .unwrap_or(REFERENCE_DATE);
                (family.mother, youngest)
            })
            .collect();
        let last_day = add_days(REFERENCE_DATE, -1);
        for (mother, youngest) in orphaned {
            let low = add_days(youngest, 30).min(add_days(last_day, -60));
            let date = date_between(&mut self.random, low, add_days(last_day, -60).max(low));
            self.register_death(mother, date);
        }
        for index in 0..self.persons.len() {
            let person = &self.persons[index];
            if person.deceased || person.is_minor() || self.keep_alive.contains(&index) {
                continue;
            }
            let elderly = person.birth_date.0 < 1960;
            let per_mille = if elderly { 150 } else { 15 };
            if !self.random.chance(per_mille) {
                continue;
            }
            let youngest_child = person
                .children
                .iter()
                .map(|&child| self.persons[child].birth_date)
                .max();
            let low = add_years(person.birth_date, if elderly { 55 } else { 18 })
                .max((1996, 1, 1))
                .max(youngest_child.unwrap_or((1900, 1, 1)))
                .min(last_day);
            let date = date_between(&mut self.random, low, last_day);
            self.register_death(index, date);
        }
    }

    fn disabilities(&mut self) {
        let last_day = add_days(REFERENCE_DATE, -1);
        for index in 0..self.persons.len() {
            let person = &self.persons[index];
            if person.deceased || person.age() < 1 || !self.random.chance(60) {
                continue;
            }
            let birth = person.birth_date;
            let elderly = person.age() >= 60;
            let degree = match self.random.below(100) {
                0..25 => DisabilityDegree::Severe,
                25..65 => DisabilityDegree::Accentuated,
                _ => DisabilityDegree::Medium,
            };
            let years = match degree {
                DisabilityDegree::Medium => 1,
                _ => 2,
            };
            // Decided recently enough to be in force on the reference date.
            let earliest = add_days(add_years(REFERENCE_DATE, -years), 1).max(add_days(birth, 90));
            let decided_on = date_between(&mut self.random, earliest, last_day);
            let valid_until = if degree == DisabilityDegree::Severe && elderly {
                None
            } else {
                Some(add_days(add_years(decided_on, years), -1))
            };
            let serial = self.next_serial(Serial::Disability);
            self.persons[index].disability = Some(Disability {
                degree,
                decision_number: format!("CNDDCM-{}/{:05}", decided_on.0, serial % 100_000),
                decided_on,
                valid_until,
            });
        }
    }

    fn insurance(&mut self) {
        for index in 0..self.persons.len() {
            let person = &self.persons[index];
            let age = person.age();
            let pension_age = match person.sex {
                Sex::Male => 63,
                Sex::Female => 62,
            };
            let (category, valid_until) = if person.deceased {
                (InsuranceCategory::Uninsured, None)
            } else if age < 18 {
                let day_before_adulthood = add_days(add_years(person.birth_date, 18), -1);
                (
                    InsuranceCategory::StateInsuredChild,
                    Some(day_before_adulthood),
                )
            } else if age >= pension_age {
                (InsuranceCategory::StateInsuredPensioner, Some(END_OF_YEAR))
            } else if let Some(disability) = &person.disability {
                (
                    InsuranceCategory::StateInsuredDisability,
                    Some(disability.valid_until.unwrap_or(END_OF_YEAR)),
                )
            } else if self.random.chance(160) {
                (InsuranceCategory::Uninsured, None)
            } else {
                (InsuranceCategory::Employed, Some(END_OF_YEAR))
            };
            self.persons[index].insurance = Insurance {
                category,
                valid_until,
            };
        }
    }

    fn institution(
        &self,
        home: Home,
        kind: InstitutionType,
        lyceum: bool,
        slot: usize,
    ) -> Institution {
        let place = home.place;
        let k = slot % 2;
        let (name, code) = match (kind, lyceum) {
            (InstitutionType::Kindergarten, _) => {
                let number = 1 + (place * 11 + k * 9) % 150;
                let name = KINDERGARTEN_NAMES[(place + k * 4) % KINDERGARTEN_NAMES.len()];
                (
                    format!("Grădinița nr. {number} „{name}”"),
                    format!("KG{:02}{:02}", place + 1, k + 1),
                )
            }
            (InstitutionType::School, true) => {
                let patron = LYCEUM_PATRONS[(place * 3 + k * 5) % LYCEUM_PATRONS.len()];
                (
                    format!("Liceul Teoretic „{patron}”"),
                    format!("LT{:02}{:02}", place + 1, k + 1),
                )
            }
            (InstitutionType::School, false) => {
                let number = 1 + (place * 7 + k * 4) % 30;
                (
                    format!("Gimnaziul nr. {number}"),
                    format!("GM{:02}{:02}", place + 1, k + 1),
                )
            }
        };
        Institution {
            name,
            code,
            kind,
            district: home.place().district.to_string(),
        }
    }

    fn education(&mut self) {
        const SCHOOL_YEAR: i32 = 2026;
        for index in 0..self.persons.len() {
            let person = &self.persons[index];
            if person.deceased {
                continue;
            }
            let home = self.homes[index];
            // Children of one household go to the same kindergarten and school.
            let slot = person.mother.unwrap_or(index);
            let years_this_year = SCHOOL_YEAR - person.birth_date.0;
            let grade = years_this_year - 6;
            let enrolment = if (13..=14).contains(&grade) {
                // Finished the lyceum in 2025 or 2026.
                if self.random.chance(650) {
                    Enrolment {
                        status: EnrolmentStatus::Graduated,
                        institution: Some(self.institution(
                            home,
                            InstitutionType::School,
                            true,
                            slot,
                        )),
                        grade: Some("12".to_string()),
                        absences_this_term: None,
                    }
                } else {
                    Enrolment::none()
                }
            } else if (3..=6).contains(&years_this_year) {
                if self.random.chance(820) {
                    Enrolment {
                        status: EnrolmentStatus::Enrolled,
                        institution: Some(self.institution(
                            home,
                            InstitutionType::Kindergarten,
                            false,
                            slot,
                        )),
                        grade: Some(
                            KINDERGARTEN_GROUPS[(years_this_year - 3) as usize].to_string(),
                        ),
                        absences_this_term: Some(self.random.below(21) as u32),
                    }
                } else {
                    Enrolment::none()
                }
            } else if (1..=12).contains(&grade) {
                let lyceum = grade >= 10 || self.random.chance(500);
                let institution = self.institution(home, InstitutionType::School, lyceum, slot);
                let left = grade >= 6 && self.random.chance(50);
                let absences = if left {
                    self.random.between(35, 60)
                } else {
                    match self.random.below(100) {
                        0..85 => self.random.between(0, 12),
                        85..95 => self.random.between(13, 30),
                        _ => self.random.between(31, 60),
                    }
                };
                Enrolment {
                    status: if left {
                        EnrolmentStatus::Left
                    } else {
                        EnrolmentStatus::Enrolled
                    },
                    institution: Some(institution),
                    grade: Some(grade.to_string()),
                    absences_this_term: Some(absences as u32),
                }
            } else {
                Enrolment::none()
            };
            self.persons[index].enrolment = enrolment;
        }
    }

    fn alive_adult(&self, index: usize) -> bool {
        let person = &self.persons[index];
        !person.deceased && !person.is_minor()
    }

    fn protection_orders(&mut self) {
        // Couples, married or separated parents, both alive: (man, woman).
        let mut couples: Vec<(usize, usize)> = Vec::new();
        for (index, person) in self.persons.iter().enumerate() {
            if let Some(spouse) = person.spouse
                && person.sex == Sex::Male
                && self.alive_adult(index)
                && self.alive_adult(spouse)
            {
                couples.push((index, spouse));
            }
        }
        for family in &self.families {
            if family.kind == FamilyKind::Divorced
                && let Some(father) = family.father
                && self.alive_adult(father)
                && self.alive_adult(family.mother)
            {
                couples.push((father, family.mother));
            }
        }
        couples.sort_unstable();
        let adults = (0..self.persons.len())
            .filter(|&index| self.alive_adult(index))
            .count();
        // About 3% of adults are named in an order: one pair per 66 adults.
        let wanted = if adults == 0 {
            0
        } else {
            (adults * 15).div_ceil(1000)
        };
        let wanted = wanted.min(couples.len());
        for position in 0..wanted {
            let other = position + self.random.below((couples.len() - position) as u64) as usize;
            couples.swap(position, other);
            let (man, woman) = couples[position];
            let (victim, aggressor) = if self.random.chance(850) {
                (woman, man)
            } else {
                (man, woman)
            };
            self.order_case(victim, aggressor);
        }
    }

    fn order(&mut self, kind: OrderType, issued_on: Date, victim: usize, aggressor: usize) {
        let serial = self.next_serial(Serial::Order);
        let issued_by = self.homes[victim].inspectorate();
        let (number, valid_until, measures) = match kind {
            OrderType::EmergencyBarring => {
                let mut measures = vec![EMERGENCY_MEASURES[0], EMERGENCY_MEASURES[1]];
                if self.random.chance(500) {
                    measures.push(EMERGENCY_MEASURES[2]);
                }
                (
                    format!("ORU-{}-{:05}", issued_on.0, serial % 100_000),
                    add_days(issued_on, 10),
                    measures,
                )
            }
            OrderType::Protection => {
                let mut measures = vec![PROTECTION_MEASURES[0]];
                for measure in &PROTECTION_MEASURES[1..] {
                    if self.random.chance(400) {
                        measures.push(measure);
                    }
                }
                (
                    format!("OP-{}-{:05}", issued_on.0, serial % 100_000),
                    add_days(issued_on, 90),
                    measures,
                )
            }
        };
        let order = self.orders.len();
        self.orders.push(ProtectionOrder {
            number,
            kind,
            issued_on,
            valid_until,
            issued_by,
            measures: measures.into_iter().map(str::to_string).collect(),
            victim,
            aggressor,
        });
        self.persons[victim].orders.push(order);
        self.persons[aggressor].orders.push(order);
        self.aggressors.insert(aggressor);
    }

    /// One case: an emergency-barring order, often followed by a court protection order.
    fn order_case(&mut self, victim: usize, aggressor: usize) {
        let roll = self.random.below(100);
        if roll < 35 {
            // Active emergency-barring order, issued in the last ten days.
            let issued = add_days(REFERENCE_DATE, -self.random.between(0, 9));
            self.order(OrderType::EmergencyBarring, issued, victim, aggressor);
        } else if roll < 75 {
            // Emergency-barring order, then a protection order still in force.
            let protection = add_days(REFERENCE_DATE, -self.random.between(1, 85));
            let emergency = add_days(protection, -self.random.between(3, 9));
            self.order(OrderType::EmergencyBarring, emergency, victim, aggressor);
            self.order(OrderType::Protection, protection, victim, aggressor);
        } else {
            // An older case whose orders have expired.
            let emergency = date_between(&mut self.random, (2023, 1, 1), (2026, 6, 30));
            let protection = add_days(emergency, self.random.between(3, 9));
            self.order(OrderType::EmergencyBarring, emergency, victim, aggressor);
            if self.random.chance(600) {
                self.order(OrderType::Protection, protection, victim, aggressor);
            }
        }
    }

    fn case_number(&mut self, year: i32) -> String {
        let serial = self.next_serial(Serial::Case);
        format!("2c-{}/{year}", 1 + serial % 9999)
    }

    fn decide(
        &mut self,
        kind: DecisionType,
        decided_on: Date,
        home: Home,
        summary: String,
        parties: Vec<(usize, DecisionRole)>,
    ) {
        let case_number = self.case_number(decided_on.0);
        // Decisions older than a month are final; newer ones may still be appealed.
        let recent = days(REFERENCE_DATE) - days(decided_on) < 30;
        let final_decision = !recent || self.random.chance(300);
        let decision = self.decisions.len();
        for &(party, _) in &parties {
            self.persons[party].decisions.push(decision);
        }
        self.decisions.push(CourtDecision {
            case_number,
            court: home.court(),
            decided_on,
            kind,
            final_decision,
            summary,
            parties,
        });
    }

    fn court_decisions(&mut self) {
        let last_day = add_days(REFERENCE_DATE, -1);
        for position in 0..self.families.len() {
            let family = &self.families[position];
            let (kind, mother, father, home, guardian) = (
                family.kind,
                family.mother,
                family.father,
                family.home,
                family.guardian,
            );
            let children = family.children.clone();
            let youngest = children
                .iter()
                .map(|&child| self.persons[child].birth_date)
                .max()
                .unwrap_or(REFERENCE_DATE);
            let child_parties = || children.iter().map(|&child| (child, DecisionRole::Child));
            match kind {
                FamilyKind::Divorced => {
                    let Some(father) = father else { continue };
                    let decided_on = date_between(
                        &mut self.random,
                        add_days(youngest, 60).min(last_day),
                        last_day,
                    );
                    let summary = if self.random.chance(850) {
                        "Divorce: the children's residence is set with the mother; the father has a visiting schedule and pays maintenance."
                    } else {
                        "Divorce: the children's residence is set with the mother; the father's contact is supervised."
                    };
                    let mut parties = vec![
                        (mother, DecisionRole::Parent),
                        (father, DecisionRole::Parent),
                    ];
                    parties.extend(child_parties());
                    self.decide(
                        DecisionType::Custody,
                        decided_on,
                        home,
                        summary.to_string(),
                        parties,
                    );
                }
                FamilyKind::Orphaned => {
                    let Some(guardian) = guardian else { continue };
                    let died = self.persons[mother]
                        .death
                        .as_ref()
                        .map_or(youngest, |death| death.date);
                    let decided_on = date_between(
                        &mut self.random,
                        add_days(died, 20).min(last_day),
                        add_days(died, 120).min(last_day),
                    );
                    let mut parties = vec![(guardian, DecisionRole::Guardian)];
                    parties.extend(child_parties());
                    self.decide(
                        DecisionType::Guardianship,
                        decided_on,
                        home,
                        "The mother died; the grandmother is appointed guardian of the children."
                            .to_string(),
                        parties,
                    );
                }
                FamilyKind::Married | FamilyKind::SingleMother => {
                    let violent = father.is_some_and(|father| self.aggressors.contains(&father));
                    let per_mille = if violent { 300 } else { 25 };
                    if !self.random.chance(per_mille) {
                        continue;
                    }
                    let deprived = match father {
                        Some(father) if self.random.chance(800) => father,
                        _ => mother,
                    };
                    let decided_on = date_between(
                        &mut self.random,
                        add_days(youngest, 180).min(last_day),
                        last_day,
                    );
                    let parent_word = if deprived == mother {
                        "mother"
                    } else {
                        "father"
                    };
                    let mut parties = vec![(deprived, DecisionRole::Parent)];
                    parties.extend(child_parties());
                    self.decide(
                        DecisionType::DeprivationOfParentalRights,
                        decided_on,
                        home,
                        format!(
                            "The {parent_word} is deprived of parental rights over the children."
                        ),
                        parties,
                    );
                    let restored_on = add_years(decided_on, 1 + self.random.below(3) as i32);
                    if father.is_none() {
                        // Nobody else holds parental rights: the court appoints a guardian.
                        if let Some(guardian) = self.guardian_near(home, &children, deprived) {
                            let appointed_on = date_between(
                                &mut self.random,
                                add_days(decided_on, 14).min(last_day),
                                add_days(decided_on, 90).min(last_day),
                            );
                            let mut parties = vec![
                                (guardian, DecisionRole::Guardian),
                                (deprived, DecisionRole::Parent),
                            ];
                            parties.extend(child_parties());
                            self.decide(
                                DecisionType::Guardianship,
                                appointed_on,
                                home,
                                "A guardian is appointed for the children: their only parent was deprived of parental rights.".to_string(),
                                parties,
                            );
                        }
                    }
                    if restored_on < last_day && !violent && self.random.chance(250) {
                        let mut parties = vec![(deprived, DecisionRole::Parent)];
                        parties.extend(child_parties());
                        self.decide(
                            DecisionType::RestorationOfParentalRights,
                            restored_on,
                            home,
                            format!("The {parent_word}'s parental rights are restored."),
                            parties,
                        );
                    }
                }
            }
        }
    }

    /// A living adult aged 40 to 75 in the same district, not the parent or a child.
    fn guardian_near(&mut self, home: Home, children: &[usize], parent: usize) -> Option<usize> {
        let count = self.persons.len();
        let start = self.random.below(count as u64) as usize;
        (0..count)
            .map(|step| (start + step) % count)
            .find(|&index| {
                let person = &self.persons[index];
                index != parent
                    && !children.contains(&index)
                    && !person.deceased
                    && (40..=75).contains(&person.age())
                    && self.homes[index].place == home.place
            })
    }

    fn probation(&mut self) {
        let last_day = add_days(REFERENCE_DATE, -1);
        for index in 0..self.persons.len() {
            if !self.alive_adult(index) {
                continue;
            }
            let adult_since = add_years(self.persons[index].birth_date, 18);
            let active_per_mille = if self.aggressors.contains(&index) {
                300
            } else {
                17
            };
            let status = if self.random.chance(active_per_mille) {
                ProbationStatus::Active
            } else if self.random.chance(30) {
                ProbationStatus::Completed
            } else {
                continue;
            };
            let (since, until) = match status {
                ProbationStatus::Active => {
                    let since = date_between(
                        &mut self.random,
                        add_years(REFERENCE_DATE, -3).max(adult_since),
                        last_day,
                    );
                    let until = add_years(since, 1 + self.random.below(4) as i32)
                        .max(add_days(REFERENCE_DATE, 30));
                    (since, until)
                }
                _ => {
                    let since = date_between(
                        &mut self.random,
                        (2012, 1, 1).max(adult_since).min(add_days(last_day, -200)),
                        add_days(last_day, -200),
                    );
                    let until = add_days(since, self.random.between(180, 3 * 365))
                        .min(add_days(last_day, -1));
                    (since, until)
                }
            };
            let office = self.homes[index].probation_office();
            self.persons[index].probation = Probation {
                status,
                office: Some(office),
                since: Some(since),
                until: Some(until),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_population_is_deterministic_unique_and_valid() {
        let first = Population::synthetic(7, 500);
        let second = Population::synthetic(7, 500);
        assert_eq!(first.persons().len(), 500);
        let mut seen = std::collections::HashSet::new();
        for (a, b) in first.persons().iter().zip(second.persons()) {
            assert_eq!(a.idnp, b.idnp);
            assert_eq!(a.last_name, b.last_name);
            assert_eq!(a.birth_date, b.birth_date);
            assert_eq!(a.children, b.children);
            assert_eq!(
                a.death.as_ref().map(|d| d.date),
                b.death.as_ref().map(|d| d.date)
            );
            assert_eq!(a.insurance.category, b.insurance.category);
            assert_eq!(a.enrolment.status, b.enrolment.status);
            assert_eq!(a.orders, b.orders);
            assert_eq!(a.decisions, b.decisions);
            assert_eq!(a.probation.status, b.probation.status);
            assert!(Idnp::parse(a.idnp.expose()).is_ok());
            assert!(seen.insert(a.idnp.expose().to_string()));
        }
        let numbers = |p: &Population| {
            p.protection_orders()
                .iter()
                .map(|o| o.number.clone())
                .chain(p.court_decisions().iter().map(|d| d.case_number.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(numbers(&first), numbers(&second));
    }

    #[test]
    fn small_and_odd_sizes_are_filled_exactly() {
        for size in [1, 2, 3, 5, 17, 200] {
            let population = Population::synthetic(size as u64, size);
            assert_eq!(population.persons().len(), size);
        }
    }

    #[test]
    fn it_mixes_romanian_and_russian_names_and_both_idnp_eras() {
        let population = Population::default_population();
        let persons = population.persons();
        assert!(persons.iter().any(|p| p.patronymic.is_some()));
        assert!(persons.iter().any(|p| p.patronymic.is_none()));
        assert!(persons.iter().any(|p| p.last_name.ends_with("ova")));
        assert!(persons.iter().any(|p| p.idnp.expose().starts_with("09")));
        assert!(persons.iter().any(|p| p.idnp.expose().starts_with('2')));
        assert!(persons.iter().any(|p| p.deceased));
        let sample = population.sample_subject();
        assert!(!sample.deceased);
        assert!(population.find(sample.idnp.expose()).is_some());
    }

    #[test]
    fn find_uses_the_index_for_every_person() {
        let population = Population::default_population();
        for (index, person) in population.persons().iter().enumerate() {
            assert_eq!(population.index_of(person.idnp.expose()), Some(index));
        }
        assert!(population.find("2000000000007").is_none());
    }

    #[test]
    fn dates_convert_both_ways() {
        for date in [(1970, 1, 1), (2000, 2, 29), (2026, 11, 1), (1935, 12, 31)] {
            assert_eq!(from_days(days(date)), date);
        }
        assert_eq!(days((1970, 1, 2)), 1);
        assert_eq!(add_days((2026, 10, 31), 1), REFERENCE_DATE);
        assert_eq!(add_years((2000, 2, 29), 1), (2001, 2, 28));
        assert_eq!(age_on((2008, 11, 1), REFERENCE_DATE), 18);
        assert_eq!(age_on((2008, 11, 2), REFERENCE_DATE), 17);
    }

    #[test]
    fn families_are_consistent() {
        let names = Names::new();
        let population = Population::default_population();
        let persons = population.persons();
        let mut minors = 0;
        let mut without_father = 0;
        for (index, person) in persons.iter().enumerate() {
            assert!(person.birth_date < REFERENCE_DATE);
            for (parent, sex) in [(person.mother, Sex::Female), (person.father, Sex::Male)] {
                let Some(parent) = parent else { continue };
                let parent = &persons[parent];
                assert_eq!(parent.sex, sex);
                assert!(parent.children.contains(&index), "a parent lists the child");
                let age = age_on(parent.birth_date, person.birth_date);
                assert!((18..=45).contains(&age), "parent aged {age} at the birth");
            }
            for &child in &person.children {
                let child = &persons[child];
                assert!(child.mother == Some(index) || child.father == Some(index));
            }
            if let Some(spouse) = person.spouse {
                assert_eq!(persons[spouse].spouse, Some(index));
                assert_ne!(persons[spouse].sex, person.sex);
            }
            if person.is_minor() {
                minors += 1;
                let mother = &persons[person.mother.expect("every minor has a mother")];
                assert_eq!(mother.address.street, person.address.street);
                assert_eq!(mother.address.house, person.address.house);
                match person.father {
                    Some(father) => {
                        let father = &persons[father];
                        // The father's surname, in its feminine form for a daughter
                        // (Ivanov, Ivanova).
                        let forms = names
                            .surnames
                            .iter()
                            .find(|forms| forms[0].latin == father.last_name)
                            .expect("the father's surname is in the tables");
                        assert_eq!(person.last_name, forms[person.sex.index()].latin);
                    }
                    None => without_father += 1,
                }
            }
        }
        assert!(minors > 200, "{minors} minors");
        assert!(without_father > 0 && without_father * 3 < minors);
        let married_parents = persons
            .iter()
            .filter(|p| p.is_minor())
            .filter(|p| {
                p.father
                    .is_some_and(|father| persons[father].spouse == p.mother)
            })
            .count();
        assert!(
            married_parents * 2 > minors,
            "parents are spouses in most families"
        );
    }

    #[test]
    fn deaths_are_registered_after_birth_and_before_today() {
        let population = Population::default_population();
        let mut deaths = 0;
        for person in population.persons() {
            assert_eq!(person.deceased, person.death.is_some());
            if let Some(death) = &person.death {
                deaths += 1;
                assert!(person.birth_date < death.date && death.date < REFERENCE_DATE);
                assert!(!death.act_number.is_empty() && death.office.starts_with("Oficiul"));
                assert!(!person.insurance.insured());
                assert!(person.disability.is_none());
                assert_eq!(person.probation.status, ProbationStatus::None);
            }
        }
        assert!(deaths > 20);
    }

    #[test]
    fn health_and_education_have_realistic_shares() {
        let population = Population::default_population();
        let persons = population.persons();
        let share = |count: usize| count * 1000 / persons.len();
        let uninsured = persons
            .iter()
            .filter(|p| !p.deceased && !p.insurance.insured())
            .count();
        assert!(
            (40..=140).contains(&share(uninsured)),
            "uninsured ‰ {}",
            share(uninsured)
        );
        let disabled = persons.iter().filter(|p| p.disability.is_some()).count();
        assert!(
            (30..=100).contains(&share(disabled)),
            "disabled ‰ {}",
            share(disabled)
        );
        for person in persons {
            if let Some(disability) = &person.disability {
                assert!(disability.decided_on < REFERENCE_DATE);
                assert!(
                    disability
                        .valid_until
                        .is_none_or(|until| until >= REFERENCE_DATE)
                );
            }
            if let Some(until) = person.insurance.valid_until {
                assert!(until >= REFERENCE_DATE);
            }
            let enrolment = &person.enrolment;
            match enrolment.status {
                EnrolmentStatus::NotEnrolled => {
                    assert!(enrolment.institution.is_none() && enrolment.grade.is_none());
                }
                status => {
                    let institution = enrolment.institution.as_ref().expect("an institution");
                    assert_eq!(institution.district, person.address.district);
                    assert!(!person.deceased);
                    let expected = if (3..=6).contains(&(2026 - person.birth_date.0)) {
                        InstitutionType::Kindergarten
                    } else {
                        InstitutionType::School
                    };
                    assert_eq!(institution.kind, expected);
                    if status != EnrolmentStatus::Graduated {
                        assert!(enrolment.absences_this_term.is_some_and(|a| a <= 60));
                        assert!(person.age() <= 18);
                    }
                }
            }
        }
        let left = persons
            .iter()
            .filter(|p| p.enrolment.status == EnrolmentStatus::Left)
            .count();
        let enrolled = persons
            .iter()
            .filter(|p| p.enrolment.status == EnrolmentStatus::Enrolled)
            .count();
        assert!(
            left > 0 && left * 10 < enrolled,
            "{left} left, {enrolled} enrolled"
        );
    }

    #[test]
    fn protection_orders_come_in_pairs_of_living_adults() {
        let population = Population::default_population();
        let persons = population.persons();
        let mut named = HashSet::new();
        for (index, order) in population.protection_orders().iter().enumerate() {
            assert_ne!(order.victim, order.aggressor);
            for party in [order.victim, order.aggressor] {
                assert!(!persons[party].is_minor() && !persons[party].deceased);
                assert!(persons[party].orders.contains(&index));
                named.insert(party);
            }
            assert!(order.issued_on < order.valid_until && !order.measures.is_empty());
            assert!(order.issued_by.starts_with("IP "));
            let victim = population.orders_of(&persons[order.victim]);
            let aggressor = population.orders_of(&persons[order.aggressor]);
            assert!(
                victim
                    .iter()
                    .any(|(o, r)| o.number == order.number && *r == OrderRole::Victim)
            );
            assert!(
                aggressor
                    .iter()
                    .any(|(o, r)| o.number == order.number && *r == OrderRole::Aggressor)
            );
        }
        let adults = persons.iter().filter(|p| !p.is_minor()).count();
        let share = named.len() * 1000 / adults;
        assert!((15..=50).contains(&share), "named in orders ‰ {share}");
        assert!(
            population
                .protection_orders()
                .iter()
                .any(|o| o.is_active_on(REFERENCE_DATE))
        );
    }

    #[test]
    fn court_decisions_and_probation_are_consistent() {
        let population = Population::default_population();
        let persons = population.persons();
        let mut kinds = HashSet::new();
        for (index, decision) in population.court_decisions().iter().enumerate() {
            kinds.insert(decision.kind);
            assert!(decision.decided_on < REFERENCE_DATE);
            assert!(decision.case_number.starts_with("2c-"));
            assert!(decision.court.starts_with("Judecătoria "));
            let children: Vec<usize> = decision
                .parties
                .iter()
                .filter(|(_, role)| *role == DecisionRole::Child)
                .map(|(party, _)| *party)
                .collect();
            assert!(!children.is_empty());
            for &(party, role) in &decision.parties {
                assert!(persons[party].decisions.contains(&index));
                match role {
                    DecisionRole::Child => assert!(persons[party].birth_date < decision.decided_on),
                    DecisionRole::Parent => {
                        for child in &children {
                            assert!(persons[party].children.contains(child));
                        }
                    }
                    DecisionRole::Guardian => {
                        assert!(!persons[party].is_minor() && !persons[party].deceased);
                    }
                }
            }
        }
        assert!(kinds.contains(&DecisionType::Custody));
        assert!(kinds.contains(&DecisionType::Guardianship));
        assert!(kinds.contains(&DecisionType::DeprivationOfParentalRights));
        let adults: Vec<&SyntheticPerson> = persons.iter().filter(|p| !p.is_minor()).collect();
        let active = adults
            .iter()
            .filter(|p| p.probation.status == ProbationStatus::Active)
            .count();
        assert!(active > 0 && active * 1000 / adults.len() <= 50);
        assert!(
            adults
                .iter()
                .any(|p| p.probation.status == ProbationStatus::Completed)
        );
        for person in persons {
            let probation = &person.probation;
            match probation.status {
                ProbationStatus::None => {
                    assert!(probation.office.is_none() && probation.since.is_none())
                }
                ProbationStatus::Active => {
                    assert!(probation.since.unwrap() < REFERENCE_DATE);
                    assert!(probation.until.unwrap() > REFERENCE_DATE);
                }
                ProbationStatus::Completed => {
                    assert!(probation.since.unwrap() < probation.until.unwrap());
                    assert!(probation.until.unwrap() < REFERENCE_DATE);
                }
            }
        }
    }

    #[test]
    fn generation_is_fast() {
        let started = std::time::Instant::now();
        let population = Population::synthetic(DEFAULT_SEED, DEFAULT_SIZE);
        let elapsed = started.elapsed();
        assert_eq!(population.persons().len(), DEFAULT_SIZE);
        // Well under 100 ms in debug on a quiet machine; generous here for busy CI runners.
        assert!(elapsed < std::time::Duration::from_secs(2), "{elapsed:?}");
    }
}
