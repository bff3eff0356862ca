//! Synthetic identity records with known truth, for measuring how well the master index links
//! records: `esocial-hub mpi synth --persons N --out FILE --truth FILE` and the benchmarks.
//!
//! [`generate`] invents a deterministic population of Moldovan persons living in households and
//! writes each person as one to five [`SourceRecord`]s, as if several registries and legacy
//! systems had each recorded them, together with the truth: which person each record describes.
//!
//! The data holds the cases that make linkage hard, in both directions:
//!
//! * different persons who look alike: twins (same surname, birth date, address and
//!   patronymic, sometimes look-alike first names such as Ion and Ionel), sons named after their
//!   father, siblings and spouses sharing a surname and an address, strangers with the same
//!   common name, and records that carry a relative's IDNP;
//! * one person who looks different: IDNP missing or mistyped, names in Russian transliteration
//!   or Cyrillic, written with comma-below or cedilla diacritics or none, mojibake, typos, first
//!   and last name swapped, day and month swapped, partial or shifted birth dates, a maiden name
//!   before marriage, another address or phone.
//!
//! Most records keep the birth date and a recognisable name, so a good linker can do well.
//!
//! Memory stays small at any size: persons are made one household at a time, and records leave
//! through a bounded window that shuffles them, so one person's records are seldom adjacent.
//! Everything is invented; any likeness to a real person is chance.

use std::io::{self, Write};

use esocial_mpi::normalize::days_in_month;
use esocial_mpi::record::{Address, Identifier, SourceRecord};

use crate::moldova::{
    BALTI, CHISINAU, DISTRICTS, GAGAUZIA, MOBILE_CODES, Names, Origin, SCRIPT_SHARES, STREETS,
    Script, Sex, Style, TARACLIA, idnp, mobile, render, restyle,
};
use crate::random::{Random, Weighted};

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SynthOptions {
    /// Distinct persons to invent. IDNPs stay unique up to 99,999,999 persons.
    pub persons: usize,
    /// The same seed gives the same bytes.
    pub seed: u64,
}

/// What [`generate`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SynthSummary {
    pub persons: usize,
    pub records: usize,
}

/// Writes one JSON line per record to `records` (a [`SourceRecord`]) and one line per record
/// to `truth`: `{"localId":"…","personId":"…"}`. `progress` is called with the number of
/// persons done, about every 1000 persons and at the end.
///
/// Local ids are `R0000001`, `R0000002`... in file order; person ids are `P0000001`...
/// Write to buffered writers: every record is a separate small write.
pub fn generate(
    options: &SynthOptions,
    records: &mut impl Write,
    truth: &mut impl Write,
    mut progress: impl FnMut(usize),
) -> io::Result<SynthSummary> {
    let mut generator = Generator::new(options.seed);
    let mut output = Shuffler::new("R");
    let mut household = Vec::new();
    let mut batch = Vec::new();
    let (mut done, mut next_report, mut reported) = (0, REPORT_EVERY, None);
    while done < options.persons {
        household.clear();
        generator.household(options.persons - done, &mut household);
        for person in &household {
            generator.records_of(person, &household, &mut batch);
            for record in batch.drain(..) {
                output.push(&mut generator.rng, record, person.number, records, truth)?;
            }
        }
        done += household.len();
        if done >= next_report {
            progress(done);
            reported = Some(done);
            next_report = (done / REPORT_EVERY + 1) * REPORT_EVERY;
        }
    }
    output.finish(&mut generator.rng, records, truth)?;
    if reported != Some(done) {
        progress(done);
    }
    Ok(SynthSummary {
        persons: done,
        records: output.written,
    })
}

/// The source systems [`generate_by_source`] writes, in the order a first load takes them:
/// the population register first, then the sectoral systems, each with its own coverage and
/// noise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceSystem {
    /// Nearly everyone, once, the least noisy records, almost always with an IDNP.
    Register,
    /// Pupils and former pupils; a pupil who changed schools appears twice; women under
    /// their maiden name.
    School,
    /// Few persons, often more than once, often without an IDNP.
    Police,
    /// Most persons, with an IDNP more often than not.
    Health,
}

/// How a source covers persons: all per mille.
struct SourceProfile {
    /// Persons with a record here.
    coverage: u32,
    /// Of those, persons with a second record.
    duplicates: u32,
    /// Records without an IDNP.
    idnp_missing: u32,
    /// Records of a married woman under her maiden name.
    maiden: u32,
}

impl SourceSystem {
    pub const ALL: [Self; 4] = [Self::Register, Self::School, Self::Police, Self::Health];

    /// The source's name: its file name and its `--source` when imported.
    pub fn name(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::School => "school",
            Self::Police => "police",
            Self::Health => "health",
        }
    }

    /// The first letters of its local ids, so that local ids are unique across sources.
    fn id_prefix(self) -> &'static str {
        match self {
            Self::Register => "REG",
            Self::School => "SCH",
            Self::Police => "POL",
            Self::Health => "HEA",
        }
    }

    fn profile(self, age: u16) -> SourceProfile {
        let (coverage, duplicates, idnp_missing, maiden) = match self {
            Self::Register => (985, 0, 20, 0),
            Self::School if (6..=25).contains(&age) => (950, 60, 250, 1000),
            Self::School if (26..=50).contains(&age) => (250, 0, 450, 1000),
            Self::School => (0, 0, 0, 0),
            Self::Police if age >= 14 => (60, 200, 500, 300),
            Self::Police => (15, 0, 600, 0),
            Self::Health => (750, 30, 80, 200),
        };
        SourceProfile {
            coverage,
            duplicates,
            idnp_missing,
            maiden,
        }
    }
}

/// Writes the records of every [`SourceSystem`] to its own writer (in [`SourceSystem::ALL`]
/// order), each source's records shuffled, and the truth of all of them to `truth`. Local ids
/// are `REG0000001`, `SCH0000001`... The same seed gives the same bytes.
pub fn generate_by_source(
    options: &SynthOptions,
    sources: &mut [&mut dyn Write; 4],
    truth: &mut impl Write,
    mut progress: impl FnMut(usize),
) -> io::Result<SynthSummary> {
    let mut generator = Generator::new(options.seed);
    let mut shufflers: Vec<Shuffler> = SourceSystem::ALL
        .iter()
        .map(|source| Shuffler::new(source.id_prefix()))
        .collect();
    let mut household = Vec::new();
    let mut batch = Vec::new();
    let (mut done, mut next_report) = (0, REPORT_EVERY);
    while done < options.persons {
        household.clear();
        generator.household(options.persons - done, &mut household);
        for person in &household {
            for (index, source) in SourceSystem::ALL.into_iter().enumerate() {
                generator.records_in(source, person, &household, &mut batch);
                for record in batch.drain(..) {
                    shufflers[index].push(
                        &mut generator.rng,
                        record,
                        person.number,
                        &mut *sources[index],
                        truth,
                    )?;
                }
            }
        }
        done += household.len();
        if done >= next_report {
            progress(done);
            next_report = (done / REPORT_EVERY + 1) * REPORT_EVERY;
        }
    }
    let mut records = 0;
    for (index, shuffler) in shufflers.iter_mut().enumerate() {
        shuffler.finish(&mut generator.rng, &mut *sources[index], truth)?;
        records += shuffler.written;
    }
    progress(done);
    Ok(SynthSummary {
        persons: done,
        records,
    })
}

/// Persons between two calls of the progress callback.
const REPORT_EVERY: usize = 1000;
/// Records held back to shuffle the output.
const SHUFFLE_WINDOW: usize = 4096;
const FIRST_BIRTH_YEAR: u16 = 1930;
const LAST_BIRTH_YEAR: u16 = 2025;

// ---------------------------------------------------------------------------------------------
// Randomness
// ---------------------------------------------------------------------------------------------

/// A date in `year`.
fn date_in(rng: &mut Random, year: u16) -> Date {
    let month = rng.between(1u8, 12);
    let day = rng.between(1, days_in_month(year, month));
    Date { year, month, day }
}

// ---------------------------------------------------------------------------------------------
// Dates
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Date {
    year: u16,
    month: u8,
    day: u8,
}

impl Date {
    fn text(self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }

    /// Age reached during the last year of births.
    fn age(self) -> u16 {
        LAST_BIRTH_YEAR.saturating_sub(self.year)
    }
}

/// Where a household lives. Indices are into [`DISTRICTS`] and [`STREETS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Home {
    district: u8,
    locality: u8,
    street: u8,
    house: u16,
    /// Building part, "12/3"; 0 when none.
    block: u8,
    /// 0 for a house.
    apartment: u16,
    postal_code: u16,
}

/// `mun. Chișinău` as some systems write it: `Chișinău`, `municipiul Chișinău`, `r. Orhei`.
fn district_variant(name: &str, variant: usize) -> String {
    match (name.strip_prefix("mun. "), variant) {
        (Some(city), 1) => city.to_owned(),
        (Some(city), 2) => format!("municipiul {city}"),
        (None, 1) if !name.starts_with("UTA") => format!("r. {name}"),
        (None, 2) if !name.starts_with("UTA") => format!("raionul {name}"),
        _ => name.to_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// Persons
// ---------------------------------------------------------------------------------------------

/// One invented person. Names are indices into [`Generator::given`] and
/// [`Generator::surnames`].
#[derive(Debug, Clone, Copy)]
struct Person {
    /// 1, 2, 3... in order of creation: the truth's person id.
    number: u64,
    sex: Sex,
    origin: Origin,
    first: u16,
    surname: u16,
    /// The birth surname, when marriage changed it.
    maiden: Option<u16>,
    /// The father's given name, which makes the patronymic.
    father_name: u16,
    birth: Date,
    idnp: [u8; 13],
    home: Home,
    /// Where a grown-up child lived before moving out: the parents' home.
    former_home: Option<Home>,
    /// National number without the leading 0 (69123456); a child may carry a parent's.
    phone: Option<u32>,
    passport: Option<u32>,
}

impl Person {
    /// Per mille of this person's records that show a patronymic: Russian-speaking families
    /// and Soviet-era documents use them, Romanian registers of today rarely do.
    fn patronymic_rate(&self) -> u32 {
        match self.origin {
            Origin::Romanian if self.birth.year < 1991 => 450,
            Origin::Romanian => 100,
            Origin::Slavic | Origin::Southern => 700,
        }
    }
}

/// Who a household's children take after.
struct Parents {
    /// Absent from the household (a single mother's).
    father: Option<Person>,
    /// The father's given name, for the patronymic.
    father_name: u16,
    mother: Person,
    /// The children's surname.
    family: u16,
}

/// One record of a person, before styling.
#[derive(Debug, Clone, Copy)]
struct Version {
    /// The first record of a person: the population register's, the least noisy.
    primary: bool,
    surname: u16,
    /// The person's records disagree on the surname (maiden and married).
    renamed: bool,
    /// Per mille of this source's records without an IDNP, when the source has its own rate.
    idnp_missing: Option<u32>,
}

// ---------------------------------------------------------------------------------------------
// Generator
// ---------------------------------------------------------------------------------------------

/// IDNPs of recent persons, for records that carry someone else's number.
const RECENT_IDNPS: usize = 256;

struct Generator {
    rng: Random,
    names: Names,
    districts: Weighted,
    streets: Weighted,
    next_person: u64,
    recent: Vec<[u8; 13]>,
}

impl Generator {
    fn new(seed: u64) -> Self {
        Self {
            rng: Random::new(seed),
            names: Names::new(),
            districts: Weighted::new(DISTRICTS.iter().map(|district| district.weight)),
            streets: Weighted::zipf(STREETS.len(), 3),
            next_person: 0,
            recent: Vec::with_capacity(RECENT_IDNPS),
        }
    }

    // --- Households ------------------------------------------------------------------------

    /// Appends one household of at most `room` persons: a single person, a couple, a couple
    /// with children (sometimes twins, sometimes a grandparent) or a parent with children.
    fn household(&mut self, room: usize, members: &mut Vec<Person>) {
        let origin = match self.rng.share(&[760, 180, 60]) {
            0 => Origin::Romanian,
            1 => Origin::Slavic,
            _ => Origin::Southern,
        };
        let home = self.home_for(origin);
        match self.rng.index(100) {
            0..22 => self.single(origin, home, members),
            22..40 => self.couple(origin, home, false, members),
            40..88 => self.couple(origin, home, true, members),
            _ => self.single_parent(origin, home, members),
        }
        members.truncate(room);
        self.register(members);
    }

    fn single(&mut self, origin: Origin, home: Home, members: &mut Vec<Person>) {
        let year = if self.rng.chance(400) {
            self.rng.between(FIRST_BIRTH_YEAR, 1960)
        } else {
            self.rng.between(1961, 2006)
        };
        let sex = self.random_sex();
        let surname = self.surname(origin);
        let mut person = self.adult(sex, origin, year, surname, home);
        // A widow or divorcee keeps her married name.
        if sex == Sex::Female && person.birth.age() > 25 && self.rng.chance(500) {
            person.maiden = Some(self.other_surname(origin, surname));
        }
        members.push(person);
    }

    fn couple(&mut self, origin: Origin, home: Home, with_children: bool, out: &mut Vec<Person>) {
        let husband_year = if with_children {
            self.rng.between(1950, 2000)
        } else {
            self.rng.between(1935, 1998)
        };
        let wife_year = (husband_year + self.rng.between(0u16, 8)).saturating_sub(2);
        let family = self.surname(origin);
        let mut husband = self.adult(Sex::Male, origin, husband_year, family, home);
        let wife_origin = if self.rng.chance(100) {
            Origin::Slavic
        } else {
            origin
        };
        let birth_surname = self.other_surname(wife_origin, family);
        let mut wife = self.adult(Sex::Female, wife_origin, wife_year, birth_surname, home);
        // Most wives take their husband's surname.
        if self.rng.chance(880) {
            wife.maiden = Some(wife.surname);
            wife.surname = family;
        }
        let grandparent = if with_children && self.rng.chance(120) {
            Some(self.grandparent(&mut husband))
        } else {
            None
        };
        out.push(husband);
        out.push(wife);
        if with_children {
            let parents = Parents {
                father: Some(husband),
                father_name: husband.first,
                mother: wife,
                family,
            };
            self.children(parents, out);
        }
        out.extend(grandparent);
    }

    /// The husband's widowed father or mother, living with the family.
    fn grandparent(&mut self, son: &mut Person) -> Person {
        let year = son.birth.year.saturating_sub(self.rng.between(20, 34));
        let sex = self.random_sex();
        let mut grandparent = self.adult(sex, son.origin, year, son.surname, son.home);
        match sex {
            Sex::Male => son.father_name = grandparent.first,
            Sex::Female => grandparent.maiden = Some(self.other_surname(son.origin, son.surname)),
        }
        grandparent
    }

    fn single_parent(&mut self, origin: Origin, home: Home, out: &mut Vec<Person>) {
        let year = self.rng.between(1965, 2000);
        let family = self.surname(origin);
        let mut mother = self.adult(Sex::Female, origin, year, family, home);
        if self.rng.chance(700) {
            mother.maiden = Some(self.other_surname(origin, family));
        }
        out.push(mother);
        let parents = Parents {
            father: None,
            father_name: self.given_name(Sex::Male, origin),
            mother,
            family,
        };
        self.children(parents, out);
    }

    /// Appends one to four children, now and then twins; adult daughters may have married
    /// and adult children moved out.
    fn children(&mut self, parents: Parents, out: &mut Vec<Person>) {
        let first_child = out.len();
        let count = 1 + self.rng.share(&[350, 400, 180, 70]);
        let mut year = parents.mother.birth.year + self.rng.between(19, 32);
        for _ in 0..count {
            if year > LAST_BIRTH_YEAR {
                break;
            }
            let birth = date_in(&mut self.rng, year);
            let sex = self.random_sex();
            let first = self.child_name(sex, &parents, &out[first_child..]);
            let child = self.child(&parents, sex, first, birth);
            out.push(child);
            if self.rng.chance(30) {
                let sex = if self.rng.chance(500) {
                    sex
                } else {
                    sex.other()
                };
                let name = self.twin_name(sex, parents.mother.origin, &out[first_child..]);
                let twin = self.child(&parents, sex, name, birth);
                out.push(twin);
            }
            year += self.rng.between(1, 6);
        }
    }

    fn child(&mut self, parents: &Parents, sex: Sex, first: u16, birth: Date) -> Person {
        let mut child = Person {
            number: 0,
            sex,
            origin: parents.mother.origin,
            first,
            surname: parents.family,
            maiden: None,
            father_name: parents.father_name,
            birth,
            idnp: [0; 13],
            home: parents.mother.home,
            former_home: None,
            phone: None,
            passport: None,
        };
        let married = sex == Sex::Female && birth.age() > 22 && self.rng.chance(550);
        if married {
            child.maiden = Some(parents.family);
            child.surname = self.other_surname(parents.mother.origin, parents.family);
        }
        if married || (birth.age() > 24 && self.rng.chance(500)) {
            child.former_home = Some(child.home);
            child.home = self.moved(child.home);
        }
        child
    }

    /// An adult with a random father's name, not yet registered.
    fn adult(&mut self, sex: Sex, origin: Origin, year: u16, surname: u16, home: Home) -> Person {
        Person {
            number: 0,
            sex,
            origin,
            first: self.given_name(sex, origin),
            surname,
            maiden: None,
            father_name: self.given_name(Sex::Male, origin),
            birth: date_in(&mut self.rng, year.clamp(FIRST_BIRTH_YEAR, LAST_BIRTH_YEAR)),
            idnp: [0; 13],
            home,
            former_home: None,
            phone: None,
            passport: None,
        }
    }

    /// Numbers the household's persons and gives them IDNPs, phones and passports.
    fn register(&mut self, members: &mut [Person]) {
        for index in 0..members.len() {
            self.next_person += 1;
            let number = self.next_person;
            // Children's records give a parent's phone.
            let family_phone = members[..index].iter().find_map(|member| member.phone);
            let person = &mut members[index];
            person.number = number;
            person.idnp = idnp(number, person.birth.year, &mut self.rng);
            person.phone = if person.birth.age() >= 14 {
                self.rng.chance(700).then(|| mobile(number))
            } else {
                family_phone.filter(|_| self.rng.chance(600))
            };
            // A bijection of the person number, like the IDNP's serial: passports are unique.
            person.passport = (person.birth.age() >= 16 && self.rng.chance(600))
                .then(|| ((number * 48_271 + 1_700_000) % 100_000_000) as u32);
            if self.recent.len() < RECENT_IDNPS {
                self.recent.push(person.idnp);
            } else {
                self.recent[(number as usize) % RECENT_IDNPS] = person.idnp;
            }
        }
    }

    fn random_sex(&mut self) -> Sex {
        if self.rng.chance(512) {
            Sex::Male
        } else {
            Sex::Female
        }
    }

    // --- Names -----------------------------------------------------------------------------

    fn given_name(&mut self, sex: Sex, origin: Origin) -> u16 {
        self.names.given_name(&mut self.rng, sex, origin)
    }

    fn surname(&mut self, origin: Origin) -> u16 {
        self.names.surname(&mut self.rng, origin)
    }

    fn other_surname(&mut self, origin: Origin, not: u16) -> u16 {
        loop {
            let surname = self.surname(origin);
            if surname != not {
                return surname;
            }
        }
    }

    /// A name none of the siblings has; sons are sometimes named after their father,
    /// daughters after their mother.
    fn child_name(&mut self, sex: Sex, parents: &Parents, siblings: &[Person]) -> u16 {
        let taken = |name: u16| siblings.iter().any(|sibling| sibling.first == name);
        let namesake = match (sex, parents.father) {
            (Sex::Male, Some(father)) if self.rng.chance(100) => Some(father.first),
            (Sex::Female, _) if self.rng.chance(30) => Some(parents.mother.first),
            _ => None,
        };
        if let Some(name) = namesake.filter(|&name| !taken(name)) {
            return name;
        }
        self.unused_name(sex, parents.mother.origin, siblings)
    }

    /// The second twin's name: often one that looks like the first twin's (Ion and Ionel,
    /// Cristian and Cristina), never the same.
    fn twin_name(&mut self, sex: Sex, origin: Origin, siblings: &[Person]) -> u16 {
        let taken = |name: u16| siblings.iter().any(|sibling| sibling.first == name);
        if let Some(twin) = siblings.last()
            && self.rng.chance(400)
        {
            let prefix: String = self.names.given[usize::from(twin.first)]
                .spellings
                .latin
                .chars()
                .take(3)
                .collect();
            let similar: Vec<u16> = (0..self.names.given.len() as u16)
                .filter(|&name| {
                    let entry = &self.names.given[usize::from(name)];
                    entry.sex == sex && entry.spellings.latin.starts_with(&prefix) && !taken(name)
                })
                .collect();
            if !similar.is_empty() {
                return *self.rng.pick(&similar);
            }
        }
        self.unused_name(sex, origin, siblings)
    }

    /// A name none of the siblings has.
    fn unused_name(&mut self, sex: Sex, origin: Origin, siblings: &[Person]) -> u16 {
        loop {
            let name = self.given_name(sex, origin);
            if siblings.iter().all(|sibling| sibling.first != name) {
                return name;
            }
        }
    }

    // --- Places ----------------------------------------------------------------------------

    fn home_for(&mut self, origin: Origin) -> Home {
        let district = match origin {
            Origin::Southern if self.rng.chance(800) => {
                if self.rng.chance(750) {
                    GAGAUZIA
                } else {
                    TARACLIA
                }
            }
            Origin::Slavic if self.rng.chance(450) => CHISINAU,
            Origin::Slavic if self.rng.chance(250) => BALTI,
            _ => self.districts.sample(&mut self.rng),
        };
        self.home_in(district)
    }

    fn home_in(&mut self, district: usize) -> Home {
        let localities = DISTRICTS[district].localities;
        let locality = if self.rng.chance(550) {
            0
        } else {
            self.rng.index(localities.len())
        };
        let town = locality == 0;
        let base = localities[locality].1;
        let postal_code = match district {
            CHISINAU if town => base + self.rng.index(70) as u16,
            BALTI if town => base + self.rng.index(22) as u16,
            _ => base,
        };
        let apartments = match district {
            _ if !town => 0,
            CHISINAU | BALTI => 750,
            _ => 350,
        };
        Home {
            district: district as u8,
            locality: locality as u8,
            street: self.streets.sample(&mut self.rng) as u8,
            house: self.rng.between(1, if town { 180 } else { 260 }),
            block: if town && self.rng.chance(120) {
                self.rng.between(1, 4) as u8
            } else {
                0
            },
            apartment: if self.rng.chance(apartments) {
                self.rng.between(1, 160)
            } else {
                0
            },
            postal_code,
        }
    }

    /// A new home, in the same district half of the time.
    fn moved(&mut self, from: Home) -> Home {
        if self.rng.chance(500) {
            self.home_in(usize::from(from.district))
        } else {
            let district = self.districts.sample(&mut self.rng);
            self.home_in(district)
        }
    }

    // --- Records ---------------------------------------------------------------------------

    /// Appends the person's records: one (60 %), two (25 %), three (10 %), four or five.
    fn records_of(&mut self, person: &Person, household: &[Person], out: &mut Vec<SourceRecord>) {
        let copies = 1 + self.rng.share(&[600, 250, 100, 30, 20]);
        // Some records of a married woman predate the marriage.
        let maiden = person
            .maiden
            .filter(|_| copies > 1 && person.birth.age() > 20 && self.rng.chance(420));
        let maiden_records = if maiden.is_some() {
            1 + self.rng.index(copies - 1)
        } else {
            0
        };
        for copy in 0..copies {
            let version = Version {
                primary: copy == 0,
                surname: match maiden {
                    Some(maiden) if copy < maiden_records => maiden,
                    _ => person.surname,
                },
                renamed: maiden.is_some(),
                idnp_missing: None,
            };
            out.push(self.record(person, version, household));
        }
    }

    /// Appends the person's records in `source`: none, one, or (where the source keeps
    /// duplicates) two.
    fn records_in(
        &mut self,
        source: SourceSystem,
        person: &Person,
        household: &[Person],
        out: &mut Vec<SourceRecord>,
    ) {
        let profile = source.profile(person.birth.age());
        if !self.rng.chance(profile.coverage) {
            return;
        }
        let copies = if self.rng.chance(profile.duplicates) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            // School records predate a marriage; other sources may not have heard of it yet.
            let surname = match person.maiden {
                Some(maiden) if self.rng.chance(profile.maiden) => maiden,
                _ => person.surname,
            };
            let version = Version {
                primary: source == SourceSystem::Register,
                surname,
                renamed: person.maiden.is_some(),
                idnp_missing: Some(profile.idnp_missing),
            };
            out.push(self.record(person, version, household));
        }
    }

    fn record(&mut self, person: &Person, version: Version, household: &[Person]) -> SourceRecord {
        let primary = version.primary;
        let style = self.style(person.origin, primary);
        let sex = person.sex.index();
        let mut first = render(
            &self.names.given[usize::from(person.first)].spellings,
            style,
        );
        let mut last = render(
            &self.names.surnames[usize::from(version.surname)][sex],
            style,
        );
        let patronymic = if self.rng.chance(person.patronymic_rate()) {
            self.names.given[usize::from(person.father_name)]
                .patronymic
                .as_ref()
                .map(|forms| render(&forms[sex], style))
        } else {
            None
        };
        if !primary && self.rng.chance(100) {
            if self.rng.chance(500) {
                first = self.typo(&first);
            } else {
                last = self.typo(&last);
            }
        }
        if !primary && self.rng.chance(20) {
            std::mem::swap(&mut first, &mut last);
        }
        let before_marriage = version.surname != person.surname;
        SourceRecord {
            local_id: String::new(),
            idnp: self.idnp_text(person, version, household),
            identifiers: self.passport(person),
            first_name: Some(first),
            last_name: Some(last),
            patronymic,
            birth_date: self.birth_date(person.birth, primary),
            sex: (!self.rng.chance(if primary { 20 } else { 100 }))
                .then(|| person.sex.code().to_owned()),
            address: self.address(person, primary, before_marriage, style.latin()),
            phone: self.phone(person, primary),
        }
    }

    fn style(&mut self, origin: Origin, primary: bool) -> Style {
        let row = usize::from(!primary) * 2 + usize::from(origin != Origin::Romanian);
        let script = match self.rng.share(&SCRIPT_SHARES[row]) {
            0 => Script::CommaBelow,
            1 => Script::Cedilla,
            2 => Script::NoDiacritics,
            3 => Script::Mojibake,
            4 => Script::RussianLatin {
                english: self.rng.chance(500),
            },
            _ => Script::Cyrillic {
                russian: self.rng.chance(300),
            },
        };
        let upper = self.rng.chance(if primary { 50 } else { 100 });
        Style { script, upper }
    }

    /// One insertion, deletion, substitution or transposition, never in the first letter.
    fn typo(&mut self, text: &str) -> String {
        let mut chars: Vec<char> = text.chars().collect();
        if chars.len() < 2 {
            return text.to_owned();
        }
        let at = 1 + self.rng.index(chars.len() - 1);
        match self.rng.index(4) {
            0 => {
                let letter = self.letter_like(chars[at]);
                chars.insert(at, letter);
            }
            1 if chars.len() > 3 => {
                chars.remove(at);
            }
            2 if at + 1 < chars.len() && chars[at] != chars[at + 1] => chars.swap(at, at + 1),
            _ => {
                let mut letter = self.letter_like(chars[at]);
                while letter == chars[at] {
                    letter = self.letter_like(chars[at]);
                }
                chars[at] = letter;
            }
        }
        chars.into_iter().collect()
    }

    /// A random letter of the script and case of `near`.
    fn letter_like(&mut self, near: char) -> char {
        const LATIN: &str = "abcdefghijklmnoprstuvz";
        const CYRILLIC: &str = "абвгдежзиклмнопрстуфхцчшыэюя";
        let alphabet = if ('\u{0400}'..='\u{04FF}').contains(&near) {
            CYRILLIC
        } else {
            LATIN
        };
        let letter = alphabet
            .chars()
            .nth(self.rng.index(alphabet.chars().count()))
            .unwrap_or('a');
        if near.is_uppercase() {
            letter.to_uppercase().next().unwrap_or(letter)
        } else {
            letter
        }
    }

    /// The IDNP as this record gives it: mostly right; missing, mistyped or someone else's.
    fn idnp_text(
        &mut self,
        person: &Person,
        version: Version,
        household: &[Person],
    ) -> Option<String> {
        // Per mille: missing, then mistyped, then someone else's.
        let mut shares: [u32; 3] = if version.primary {
            [80, 10, 1]
        } else if version.renamed {
            [100, 10, 0]
        } else {
            [300, 30, 3]
        };
        if let Some(missing) = version.idnp_missing {
            shares[0] = missing;
        }
        let digits = match self.rng.share(&[shares[0], shares[1], shares[2], 1000]) {
            0 => return None,
            1 => self.mistyped(person.idnp),
            2 => self.someone_elses(person, household),
            _ => person.idnp,
        };
        Some(
            digits
                .iter()
                .map(|&digit| char::from(b'0' + digit))
                .collect(),
        )
    }

    /// One digit changed or two adjacent digits swapped; the check digit catches most.
    fn mistyped(&mut self, idnp: [u8; 13]) -> [u8; 13] {
        let mut digits = idnp;
        let at = self.rng.index(12);
        if self.rng.chance(300) && digits[at] != digits[at + 1] {
            digits.swap(at, at + 1);
        } else {
            digits[at] = (digits[at] + 1 + self.rng.index(9) as u8) % 10;
        }
        digits
    }

    /// A relative's IDNP (a parent's number on a child's record), or a stranger's.
    fn someone_elses(&mut self, person: &Person, household: &[Person]) -> [u8; 13] {
        let relatives: Vec<&Person> = household
            .iter()
            .filter(|member| member.number != person.number)
            .collect();
        if !relatives.is_empty() {
            return self.rng.pick(&relatives).idnp;
        }
        let stranger = *self.rng.pick(&self.recent);
        if stranger == person.idnp {
            self.mistyped(stranger)
        } else {
            stranger
        }
    }

    fn passport(&mut self, person: &Person) -> Vec<Identifier> {
        match person.passport {
            Some(number) if self.rng.chance(120) => vec![Identifier {
                system: "passport".to_owned(),
                value: format!("B{number:08}"),
            }],
            _ => Vec::new(),
        }
    }

    /// The birth date as this record gives it: mostly exact; else day and month swapped,
    /// partial, missing, or a year off.
    fn birth_date(&mut self, birth: Date, primary: bool) -> Option<String> {
        let swappable = birth.day <= 12 && birth.day != birth.month;
        if !primary && swappable && self.rng.chance(20) {
            let swapped = Date {
                month: birth.day,
                day: birth.month,
                ..birth
            };
            return Some(swapped.text());
        }
        // Per mille: partial, missing, a year off.
        let shares: [u32; 3] = if primary { [10, 10, 0] } else { [50, 50, 10] };
        match self.rng.share(&[shares[0], shares[1], shares[2], 1000]) {
            0 => Some(match self.rng.index(5) {
                0 | 1 => format!("{:04}", birth.year),
                2 | 3 => format!("{:04}-{:02}", birth.year, birth.month),
                _ => format!("{:04}-00-00", birth.year),
            }),
            1 => None,
            2 => {
                let year = if self.rng.chance(500) {
                    birth.year + 1
                } else {
                    birth.year - 1
                };
                let day = birth.day.min(days_in_month(year, birth.month));
                Some(Date { year, day, ..birth }.text())
            }
            _ => Some(birth.text()),
        }
    }

    /// The address as this record gives it: mostly the current one; else missing, an earlier
    /// one (the parents' home, before marriage), or another.
    fn address(
        &mut self,
        person: &Person,
        primary: bool,
        before_marriage: bool,
        style: Style,
    ) -> Option<Address> {
        // Per mille: missing, elsewhere.
        let shares: [u32; 2] = if primary { [50, 0] } else { [150, 180] };
        let elsewhere = match self.rng.share(&[shares[0], shares[1], 1000]) {
            0 => return None,
            1 => true,
            _ => before_marriage && self.rng.chance(600),
        };
        let home = match person.former_home {
            Some(former) if elsewhere && self.rng.chance(600) => former,
            _ if elsewhere => self.moved(person.home),
            _ => person.home,
        };
        let district = &DISTRICTS[usize::from(home.district)];
        let variant = if primary { 0 } else { self.rng.index(8) };
        let partial = !primary && self.rng.chance(60);
        let house = (!partial).then(|| {
            let mut house = home.house.to_string();
            if home.block > 0 {
                house.push_str(&format!("/{}", home.block));
            }
            if home.apartment > 0 {
                let separator = [", ap. ", " ap.", "-"][variant % 3];
                house.push_str(&format!("{separator}{}", home.apartment));
            }
            house
        });
        let postal_code = self
            .rng
            .chance(if primary { 900 } else { 650 })
            .then(|| match variant {
                3 => format!("MD{}", home.postal_code),
                4 => home.postal_code.to_string(),
                _ => format!("MD-{}", home.postal_code),
            });
        Some(Address {
            district: Some(restyle(&district_variant(district.name, variant), style)),
            locality: Some(restyle(
                district.localities[usize::from(home.locality)].0,
                style,
            )),
            street: (!partial).then(|| restyle(STREETS[usize::from(home.street)], style)),
            house,
            postal_code,
        })
    }

    fn phone(&mut self, person: &Person, primary: bool) -> Option<String> {
        let number = person.phone?;
        if !self.rng.chance(if primary { 750 } else { 600 }) {
            return None;
        }
        let number = if !primary && self.rng.chance(100) {
            let code = *self.rng.pick(MOBILE_CODES);
            code * 1_000_000 + self.rng.index(1_000_000) as u32
        } else {
            number
        };
        let (code, rest) = (number / 1_000_000, number % 1_000_000);
        let (high, low) = (rest / 1000, rest % 1000);
        Some(match self.rng.index(4) {
            0 => format!("+373 {code} {high:03} {low:03}"),
            1 => format!("0{code} {high:03} {low:03}"),
            2 => format!("0{code}{rest:06}"),
            _ => format!("+373{code}{rest:06}"),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------------

/// Holds records back and writes them in random order, so that a person's records are
/// scattered through the file rather than adjacent; numbers them as they leave.
struct Shuffler {
    pending: Vec<(SourceRecord, u64)>,
    /// Local ids are this prefix and the record's number in its output.
    id_prefix: &'static str,
    written: usize,
}

impl Shuffler {
    fn new(id_prefix: &'static str) -> Self {
        Self {
            pending: Vec::with_capacity(SHUFFLE_WINDOW + 1),
            id_prefix,
            written: 0,
        }
    }

    fn push(
        &mut self,
        rng: &mut Random,
        record: SourceRecord,
        person: u64,
        records: &mut (impl Write + ?Sized),
        truth: &mut impl Write,
    ) -> io::Result<()> {
        self.pending.push((record, person));
        if self.pending.len() > SHUFFLE_WINDOW {
            self.write_one(rng, records, truth)?;
        }
        Ok(())
    }

    fn finish(
        &mut self,
        rng: &mut Random,
        records: &mut (impl Write + ?Sized),
        truth: &mut impl Write,
    ) -> io::Result<()> {
        while !self.pending.is_empty() {
            self.write_one(rng, records, truth)?;
        }
        Ok(())
    }

    fn write_one(
        &mut self,
        rng: &mut Random,
        records: &mut (impl Write + ?Sized),
        truth: &mut impl Write,
    ) -> io::Result<()> {
        let (mut record, person) = self.pending.swap_remove(rng.index(self.pending.len()));
        self.written += 1;
        record.local_id = format!("{}{:07}", self.id_prefix, self.written);
        serde_json::to_writer(&mut *records, &record)?;
        records.write_all(b"\n")?;
        writeln!(
            truth,
            r#"{{"localId":"{}","personId":"P{person:07}"}}"#,
            record.local_id
        )
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::*;
    use esocial_mpi::normalize::{phonetic_key, surname_stem};
    use esocial_mpi::record::IdnpEvidence;
    use esocial_wire::domain::Idnp;

    struct Run {
        records_bytes: Vec<u8>,
        truth_bytes: Vec<u8>,
        records: Vec<SourceRecord>,
        /// (localId, personId) per truth line.
        truth: Vec<(String, String)>,
        summary: SynthSummary,
        progress: Vec<usize>,
    }

    /// Generates in memory and reads the output back.
    fn synthesize(persons: usize, seed: u64) -> Run {
        let (mut records_bytes, mut truth_bytes, mut progress) =
            (Vec::new(), Vec::new(), Vec::new());
        let summary = generate(
            &SynthOptions { persons, seed },
            &mut records_bytes,
            &mut truth_bytes,
            |done| progress.push(done),
        )
        .expect("writing to memory cannot fail");
        let records = String::from_utf8(records_bytes.clone())
            .expect("UTF-8")
            .lines()
            .map(|line| serde_json::from_str(line).expect("every line is a source record"))
            .collect();
        let truth = String::from_utf8(truth_bytes.clone())
            .expect("UTF-8")
            .lines()
            .map(|line| {
                let value: serde_json::Value = serde_json::from_str(line).expect("JSON");
                let field = |name: &str| value[name].as_str().expect("string field").to_owned();
                (field("localId"), field("personId"))
            })
            .collect();
        Run {
            records_bytes,
            truth_bytes,
            records,
            truth,
            summary,
            progress,
        }
    }

    /// Households until `persons` persons, as [`generate`] makes them.
    fn households(persons: usize, seed: u64) -> Vec<Vec<Person>> {
        let mut generator = Generator::new(seed);
        let mut all = Vec::new();
        let mut done = 0;
        while done < persons {
            let mut members = Vec::new();
            generator.household(persons - done, &mut members);
            done += members.len();
            all.push(members);
        }
        all
    }

    fn share(count: usize, total: usize) -> f64 {
        count as f64 / total as f64
    }

    #[test]
    fn every_record_passes_the_checks() {
        let run = synthesize(3000, 1);
        assert!(!run.records.is_empty());
        for record in &run.records {
            assert_eq!(record.check(), Ok(()), "{record:?}");
            assert!(record.first_name.is_some() && record.last_name.is_some());
            if let Some(idnp) = &record.idnp {
                assert_eq!(idnp.len(), 13);
                assert!(idnp.bytes().all(|b| b.is_ascii_digit()), "{idnp}");
            }
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_bytes() {
        let first = synthesize(1500, 7);
        let again = synthesize(1500, 7);
        assert_eq!(first.records_bytes, again.records_bytes);
        assert_eq!(first.truth_bytes, again.truth_bytes);
        assert_eq!(first.summary, again.summary);
        let other = synthesize(1500, 8);
        assert_ne!(first.records_bytes, other.records_bytes);
    }

    #[test]
    fn the_truth_names_the_person_of_every_record() {
        let run = synthesize(3000, 2);
        assert_eq!(
            run.summary,
            SynthSummary {
                persons: 3000,
                records: run.records.len()
            }
        );
        assert_eq!(run.truth.len(), run.records.len());
        for (record, (local_id, _)) in run.records.iter().zip(&run.truth) {
            assert_eq!(&record.local_id, local_id);
        }
        let local_ids: HashSet<&str> = run.truth.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(local_ids.len(), run.records.len(), "local ids are unique");
        let persons: HashSet<&str> = run.truth.iter().map(|(_, id)| id.as_str()).collect();
        let expected: HashSet<String> = (1..=3000).map(|n| format!("P{n:07}")).collect();
        assert_eq!(persons, expected.iter().map(String::as_str).collect());
    }

    #[test]
    fn progress_is_reported_every_thousand_persons_and_at_the_end() {
        let run = synthesize(2500, 3);
        assert_eq!(run.progress.len(), 3, "{:?}", run.progress);
        assert!(
            (1000..1010).contains(&run.progress[0]),
            "{:?}",
            run.progress
        );
        assert!(
            (2000..2010).contains(&run.progress[1]),
            "{:?}",
            run.progress
        );
        assert_eq!(run.progress[2], 2500);
        assert_eq!(synthesize(0, 3).progress, [0]);
    }

    #[test]
    fn duplicates_come_at_the_intended_rate() {
        let run = synthesize(5000, 4);
        let mut per_person: HashMap<&str, usize> = HashMap::new();
        for (_, person) in &run.truth {
            *per_person.entry(person.as_str()).or_default() += 1;
        }
        let with = |copies: usize| per_person.values().filter(|&&n| n == copies).count();
        assert!((0.57..0.63).contains(&share(with(1), 5000)), "{}", with(1));
        assert!((0.22..0.28).contains(&share(with(2), 5000)), "{}", with(2));
        assert!((0.08..0.12).contains(&share(with(3), 5000)), "{}", with(3));
        assert!(with(4) + with(5) > 150, "{} {}", with(4), with(5));
        assert!(per_person.values().all(|&n| (1..=5).contains(&n)));
        // A person's records are shuffled apart, not written one after the other.
        let adjacent = run
            .truth
            .windows(2)
            .filter(|pair| pair[0].1 == pair[1].1)
            .count();
        assert!(share(adjacent, run.truth.len()) < 0.01, "{adjacent}");
    }

    fn has_any(text: &str, letters: &[char]) -> bool {
        text.chars().any(|c| letters.contains(&c))
    }

    #[test]
    fn records_carry_every_kind_of_variant() {
        let run = synthesize(5000, 5);
        let total = run.records.len();
        let names = |record: &SourceRecord| {
            format!(
                "{} {}",
                record.first_name.as_deref().unwrap_or(""),
                record.last_name.as_deref().unwrap_or("")
            )
        };
        let count = |predicate: &dyn Fn(&SourceRecord) -> bool| {
            run.records
                .iter()
                .filter(|record| predicate(record))
                .count()
        };
        let cyrillic = count(&|r| {
            names(r)
                .chars()
                .any(|c| ('\u{0400}'..='\u{04FF}').contains(&c))
        });
        assert!(
            (0.04..0.2).contains(&share(cyrillic, total)),
            "{cyrillic} of {total}"
        );
        assert!(count(&|r| has_any(&names(r), &['ş', 'ţ', 'Ş', 'Ţ'])) > 50);
        assert!(count(&|r| has_any(&names(r), &['ș', 'ț', 'Ș', 'Ț'])) > 50);
        assert!(count(&|r| has_any(&names(r), &['º', 'ª', 'þ', 'Þ', 'ã'])) > 0);
        assert!(
            count(&|r| names(r)
                .chars()
                .filter(|c| c.is_alphabetic())
                .all(char::is_uppercase))
                > 100
        );

        let missing_idnp = count(&|r| r.idnp.is_none());
        assert!(
            (0.12..0.25).contains(&share(missing_idnp, total)),
            "{missing_idnp}"
        );
        let suspect = count(&|r| matches!(r.idnp_evidence(), Ok(Some(IdnpEvidence::Suspect(_)))));
        assert!(suspect > 10, "{suspect}");

        let partial = count(&|r| {
            r.birth_date
                .as_ref()
                .is_some_and(|date| date.len() < 10 || date.ends_with("-00"))
        });
        assert!(partial > 50, "{partial}");
        assert!(count(&|r| r.birth_date.is_none()) > 50);
        let patronymics = count(&|r| r.patronymic.is_some());
        assert!(
            (0.3..0.5).contains(&share(patronymics, total)),
            "{patronymics}"
        );
        let phones = count(&|r| r.phone.is_some());
        assert!((0.35..0.6).contains(&share(phones, total)), "{phones}");
        assert!(count(&|r| r.sex.is_none()) > 50);
        assert!(count(&|r| r.address.is_none()) > 100);
        assert!(count(&|r| !r.identifiers.is_empty()) > 100);
    }

    #[test]
    fn a_persons_records_mostly_agree_on_the_birth_date_and_name() {
        let run = synthesize(3000, 6);
        let mut by_person: HashMap<&str, Vec<&SourceRecord>> = HashMap::new();
        for (record, (_, person)) in run.records.iter().zip(&run.truth) {
            by_person.entry(person).or_default().push(record);
        }
        let (mut pairs, mut same_date, mut same_surname_sound) = (0, 0, 0);
        for records in by_person.values() {
            for pair in records.windows(2) {
                pairs += 1;
                same_date += usize::from(pair[0].birth_date == pair[1].birth_date);
                let key = |record: &SourceRecord| {
                    phonetic_key(&surname_stem(record.last_name.as_deref().unwrap_or("")))
                };
                same_surname_sound += usize::from(key(pair[0]) == key(pair[1]));
            }
        }
        assert!(share(same_date, pairs) > 0.75, "{same_date} of {pairs}");
        assert!(
            share(same_surname_sound, pairs) > 0.8,
            "{same_surname_sound} of {pairs}"
        );
        assert!(
            share(same_surname_sound, pairs) < 0.99,
            "some records differ"
        );
    }

    #[test]
    fn families_hold_twins_namesakes_and_couples() {
        let households = households(5000, 9);
        let persons: Vec<&Person> = households.iter().flatten().collect();
        assert_eq!(persons.len(), 5000);
        let numbers: Vec<u64> = persons.iter().map(|person| person.number).collect();
        assert_eq!(numbers, (1..=5000).collect::<Vec<u64>>());

        let idnps: HashSet<[u8; 13]> = persons.iter().map(|person| person.idnp).collect();
        assert_eq!(idnps.len(), 5000, "IDNPs are unique");
        for person in &persons {
            let text: String = person.idnp.iter().map(|&d| char::from(b'0' + d)).collect();
            assert!(Idnp::parse(&text).is_ok(), "{text}");
            assert!((FIRST_BIRTH_YEAR..=LAST_BIRTH_YEAR).contains(&person.birth.year));
        }

        let names: Vec<String> = Names::new()
            .given
            .iter()
            .map(|name| name.spellings.latin.clone())
            .collect();
        let latin = |person: &Person| names[usize::from(person.first)].as_str();
        let (mut twins, mut look_alike_twins, mut namesakes, mut couples) = (0, 0, 0, 0);
        for household in &households {
            for (index, a) in household.iter().enumerate() {
                for b in &household[index + 1..] {
                    if a.birth == b.birth
                        && a.surname == b.surname
                        && a.father_name == b.father_name
                    {
                        assert_ne!(a.first, b.first, "twins have different names");
                        twins += 1;
                        let prefix = |name: &str| name.chars().take(3).collect::<String>();
                        look_alike_twins += usize::from(prefix(latin(a)) == prefix(latin(b)));
                    }
                    if a.first == b.first && a.birth.year.abs_diff(b.birth.year) >= 18 {
                        namesakes += 1;
                    }
                    if a.sex != b.sex
                        && a.surname == b.surname
                        && a.home == b.home
                        && a.birth.year.abs_diff(b.birth.year) < 10
                    {
                        couples += 1;
                    }
                }
            }
        }
        assert!(twins >= 10, "{twins}");
        assert!(look_alike_twins >= 2, "{look_alike_twins}");
        assert!(namesakes >= 20, "{namesakes}");
        assert!(couples >= 500, "{couples}");
    }

    #[test]
    fn married_women_appear_under_their_maiden_name_too() {
        let mut generator = Generator::new(10);
        let mut members = Vec::new();
        let woman = loop {
            members.clear();
            generator.household(100, &mut members);
            if let Some(woman) = members
                .iter()
                .find(|p| p.maiden.is_some() && p.birth.age() > 30)
            {
                break *woman;
            }
        };
        let key =
            |surname: u16| phonetic_key(&generator.names.surnames[usize::from(surname)][1].latin);
        let (married, maiden) = (key(woman.surname), woman.maiden.map(key));
        let (mut under_married, mut under_maiden, mut maiden_with_idnp) = (0, 0, 0);
        let mut records = Vec::new();
        for _ in 0..500 {
            generator.records_of(&woman, &members, &mut records);
        }
        for record in &records {
            let last = phonetic_key(record.last_name.as_deref().unwrap_or(""));
            let first = phonetic_key(record.first_name.as_deref().unwrap_or(""));
            if last == married || first == married {
                under_married += 1;
            } else if Some(&last) == maiden.as_ref() || Some(&first) == maiden.as_ref() {
                under_maiden += 1;
                maiden_with_idnp += usize::from(record.idnp.is_some());
            }
        }
        assert!(
            under_married > under_maiden,
            "{under_married} {under_maiden}"
        );
        assert!(under_maiden > 30, "{under_maiden}");
        assert!(
            share(maiden_with_idnp, under_maiden) > 0.8,
            "{maiden_with_idnp}"
        );
    }

    #[test]
    fn mistyped_idnps_mostly_fail_the_check_digit() {
        let mut generator = Generator::new(11);
        let valid = idnp(12345, 1980, &mut generator.rng);
        let mut failing = 0;
        for _ in 0..1000 {
            let typo = generator.mistyped(valid);
            assert_ne!(typo, valid);
            let text: String = typo.iter().map(|&d| char::from(b'0' + d)).collect();
            failing += usize::from(Idnp::parse(&text).is_err());
        }
        assert!(failing > 900, "{failing}");
    }
}
