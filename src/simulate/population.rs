//! A synthetic, deterministic population of Moldovan persons for the registry simulators:
//! Romanian and Russian names, valid IDNPs, realistic districts and addresses.

use crate::domain::Idnp;

/// SplitMix64: a tiny deterministic generator, so the same seed gives the same population on
/// every machine and in every registry simulator.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const ROMANIAN_MALE: &[&str] = &[
    "Ion",
    "Vasile",
    "Gheorghe",
    "Nicolae",
    "Mihai",
    "Andrei",
    "Alexandru",
    "Dumitru",
    "Sergiu",
    "Victor",
    "Ștefan",
    "Petru",
    "Tudor",
    "Constantin",
    "Radu",
    "Valeriu",
    "Octavian",
    "Iurie",
];
const ROMANIAN_FEMALE: &[&str] = &[
    "Maria",
    "Elena",
    "Ana",
    "Ecaterina",
    "Cristina",
    "Doina",
    "Mariana",
    "Lilia",
    "Aurelia",
    "Valentina",
    "Diana",
    "Ionela",
    "Corina",
    "Nadejda",
    "Veronica",
    "Mihaela",
    "Angela",
];
const ROMANIAN_SURNAMES: &[&str] = &[
    "Rusu",
    "Ceban",
    "Popa",
    "Lungu",
    "Munteanu",
    "Ciobanu",
    "Cojocaru",
    "Țurcanu",
    "Moraru",
    "Sârbu",
    "Guțu",
    "Rotari",
    "Bivol",
    "Cazacu",
    "Ursu",
    "Stratan",
    "Mocanu",
    "Botnaru",
    "Cebotari",
    "Grosu",
    "Ștefănucă",
    "Cîrlan",
    "Bejenaru",
    "Păduraru",
    "Țîbîrnă",
];
const RUSSIAN_MALE: &[&str] = &[
    "Dmitri", "Serghei", "Vladimir", "Alexei", "Oleg", "Igor", "Nikolai", "Evghenii", "Iurii",
    "Anatolii", "Valerii", "Piotr",
];
const RUSSIAN_FEMALE: &[&str] = &[
    "Svetlana",
    "Tatiana",
    "Natalia",
    "Olga",
    "Irina",
    "Galina",
    "Liudmila",
    "Larisa",
    "Oxana",
    "Ekaterina",
    "Zinaida",
];
/// Masculine surnames; the feminine form adds `a` (Ivanov/Ivanova). Some, like Șevcenco, do not
/// change with gender.
const RUSSIAN_SURNAMES: &[(&str, bool)] = &[
    ("Ivanov", true),
    ("Popov", true),
    ("Smirnov", true),
    ("Kuznețov", true),
    ("Volkov", true),
    ("Sokolov", true),
    ("Lebedev", true),
    ("Șevcenco", false),
    ("Bondarenco", false),
    ("Tcaciuc", false),
    ("Kovalenco", false),
    ("Stepaniuc", false),
];
/// Patronymics (masculine, feminine), as Soviet-era documents carry them.
const PATRONYMICS: &[(&str, &str)] = &[
    ("Ivanovici", "Ivanovna"),
    ("Petrovici", "Petrovna"),
    ("Nicolaevici", "Nicolaevna"),
    ("Serghevici", "Serghevna"),
    ("Vladimirovici", "Vladimirovna"),
    ("Alexandrovici", "Alexandrovna"),
];
/// District, locality, first postal code.
const PLACES: &[(&str, &str, u16)] = &[
    ("mun. Chișinău", "Chișinău", 2001),
    ("mun. Bălți", "Bălți", 3100),
    ("Orhei", "Orhei", 3500),
    ("Cahul", "Cahul", 3900),
    ("Ungheni", "Ungheni", 3600),
    ("Soroca", "Soroca", 3000),
    ("Hîncești", "Hîncești", 3400),
    ("UTA Găgăuzia", "Comrat", 3800),
    ("Edineț", "Edineț", 4600),
    ("Strășeni", "Strășeni", 3700),
    ("Căușeni", "Căușeni", 4300),
    ("Florești", "Florești", 5000),
    ("Ialoveni", "Costești", 6819),
    ("Anenii Noi", "Bulboaca", 6511),
];
const STREETS: &[&str] = &[
    "str. Ștefan cel Mare",
    "str. Mihai Eminescu",
    "str. Alexandru cel Bun",
    "bd. Dacia",
    "str. Independenței",
    "str. Mitropolit Varlaam",
    "str. Pușkin",
    "str. Decebal",
    "str. Păcii",
    "str. Livezilor",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sex {
    Male,
    Female,
}

impl Sex {
    pub fn code(self) -> &'static str {
        match self {
            Self::Male => "M",
            Self::Female => "F",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Address {
    pub district: String,
    pub locality: String,
    pub street: String,
    pub house: String,
    pub postal_code: String,
}

/// One synthetic person. Entirely invented; any likeness to a real person is chance.
#[derive(Debug, Clone)]
pub struct SyntheticPerson {
    pub idnp: Idnp,
    pub first_name: String,
    pub last_name: String,
    pub patronymic: Option<String>,
    pub birth_date: (i32, u8, u8),
    pub sex: Sex,
    pub deceased: bool,
    pub address: Address,
}

impl SyntheticPerson {
    pub fn birth_date_text(&self) -> String {
        let (year, month, day) = self.birth_date;
        format!("{year:04}-{month:02}-{day:02}")
    }
}

/// The simulated population, the same for every registry simulator with the same seed.
pub struct Population {
    persons: Vec<SyntheticPerson>,
}

/// Seed used by the simulators unless told otherwise.
pub const DEFAULT_SEED: u64 = 0x4d44_2026;
/// Size of the default population.
pub const DEFAULT_SIZE: usize = 2000;

impl Population {
    pub fn synthetic(seed: u64, size: usize) -> Self {
        let mut random = SplitMix64(seed);
        let mut persons = Vec::with_capacity(size);
        let mut seen = std::collections::HashSet::new();
        while persons.len() < size {
            let person = generate(&mut random, persons.len());
            if seen.insert(person.idnp.expose().to_string()) {
                persons.push(person);
            }
        }
        Self { persons }
    }

    pub fn default_population() -> Self {
        Self::synthetic(DEFAULT_SEED, DEFAULT_SIZE)
    }

    pub fn find(&self, idnp: &str) -> Option<&SyntheticPerson> {
        self.persons.iter().find(|p| p.idnp.expose() == idnp)
    }

    pub fn persons(&self) -> &[SyntheticPerson] {
        &self.persons
    }

    /// A living adult, handy for demos and examples.
    pub fn sample_subject(&self) -> &SyntheticPerson {
        self.persons
            .iter()
            .find(|p| !p.deceased && p.birth_date.0 < 2000)
            .unwrap_or(&self.persons[0])
    }
}

fn generate(random: &mut SplitMix64, index: usize) -> SyntheticPerson {
    let sex = if random.below(2) == 0 {
        Sex::Male
    } else {
        Sex::Female
    };
    let russian = random.below(100) < 25;
    let (first_name, last_name, patronymic) = if russian {
        let first = match sex {
            Sex::Male => random.pick(RUSSIAN_MALE),
            Sex::Female => random.pick(RUSSIAN_FEMALE),
        };
        let (surname, gendered) = *random.pick(RUSSIAN_SURNAMES);
        let last = if gendered && sex == Sex::Female {
            format!("{surname}a")
        } else {
            surname.to_string()
        };
        let (male_patronymic, female_patronymic) = *random.pick(PATRONYMICS);
        let patronymic = match sex {
            Sex::Male => male_patronymic,
            Sex::Female => female_patronymic,
        };
        (first.to_string(), last, Some(patronymic.to_string()))
    } else {
        let first = match sex {
            Sex::Male => random.pick(ROMANIAN_MALE),
            Sex::Female => random.pick(ROMANIAN_FEMALE),
        };
        (
            first.to_string(),
            random.pick(ROMANIAN_SURNAMES).to_string(),
            None,
        )
    };
    let year = 1935 + random.below(89) as i32;
    let month = 1 + random.below(12) as u8;
    let day = 1 + random.below(28) as u8;
    let idnp = idnp_for(random, year, index);
    let (district, locality, postal_base) = *random.pick(PLACES);
    let deceased = year < 1960 && random.below(100) < 15;
    SyntheticPerson {
        idnp,
        first_name,
        last_name,
        patronymic,
        birth_date: (year, month, day),
        sex,
        deceased,
        address: Address {
            district: district.to_string(),
            locality: locality.to_string(),
            street: random.pick(STREETS).to_string(),
            house: (1 + random.below(120)).to_string(),
            postal_code: format!("MD-{}", postal_base + random.below(10) as u16),
        },
    }
}

/// IDNPs assigned in the 1990s start with `09` and the year (0997…); later ones with `2` and
/// the last three digits of the year (2012…). Then an office code, a serial and the check digit.
fn idnp_for(random: &mut SplitMix64, birth_year: i32, index: usize) -> Idnp {
    let assigned = birth_year.max(1994);
    let mut digits = [0u8; 12];
    if assigned < 2000 {
        digits[0] = 0;
        digits[1] = 9;
        digits[2] = 9;
        digits[3] = (assigned % 10) as u8;
    } else {
        digits[0] = 2;
        let year = assigned % 1000;
        digits[1] = (year / 100) as u8;
        digits[2] = ((year / 10) % 10) as u8;
        digits[3] = (year % 10) as u8;
    }
    let office = random.below(1000);
    let serial = (index as u64 * 7919 + random.below(7919)) % 100_000;
    let tail = office * 100_000 + serial;
    for (position, slot) in digits[4..].iter_mut().enumerate() {
        *slot = ((tail / 10u64.pow(7 - position as u32)) % 10) as u8;
    }
    Idnp::from_first_twelve(digits)
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
            assert!(Idnp::parse(a.idnp.expose()).is_ok());
            assert!(seen.insert(a.idnp.expose().to_string()));
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
}
