//! Moldova as the synthetic data sees it: given names and surnames with every spelling that
//! records carry (register Latin, Moldovan and Russian Cyrillic, Russian transliterations) and
//! how often each is given, patronymics, districts with their localities and postal codes,
//! streets, and valid IDNPs and phone numbers. The simulators' population and the master
//! index's identity records both draw their persons from here.

use esocial_wire::domain::idnp::check_digit;

use crate::random::{Random, Weighted};

// ---------------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------------

// Name tables list names most frequent first, separated by white space. Romanian names are
// in the register's spelling, the others in Cyrillic.

/// Romanian men's names. `Name/Форма` adds the Russian form where it is not simply the
/// Moldovan Cyrillic spelling (which is derived): the Russian form gives the Russian
/// transliteration (Gheorghe/Георгий → Georgii) and the children's patronymic (Georgievici).
pub(crate) const ROMANIAN_MEN: &str = "
    Ion Vasile/Василий Gheorghe/Георгий Nicolae/Николай Mihai/Михаил Andrei/Андрей
    Alexandru/Александр Dumitru/Дмитрий Sergiu/Сергей Victor Ștefan/Стефан Petru/Пётр
    Constantin/Константин Valeriu/Валерий Iurie/Юрий Tudor Pavel/Павел Grigore/Григорий
    Vitalie/Виталий Anatol/Анатолий Eugen/Евгений Valentin Ilie/Илья Radu Octavian
    Veaceslav/Вячеслав Cristian Daniel/Даниил David/Давид Maxim/Максим Denis/Денис Dan Adrian
    Marin Mircea Sorin Florin Cătălin Ionel Ioan Vlad Emil Liviu Lucian Marcel Mihail/Михаил
    Nicu Simion/Семён Toma Iacob/Яков Iosif/Иосиф Efim/Ефим Filip/Филипп Gavril/Гавриил
    Luca/Лука Matei/Матвей Ghenadie/Геннадий Arcadie/Аркадий Chiril/Кирилл Eduard/Эдуард Gabriel
    Iulian Marian Ovidiu Rareș Sandu Teodor/Фёдор Traian Veniamin/Вениамин Viorel Artur Aurel
    Bogdan Călin Corneliu Dorin Dragoș Eugeniu/Евгений Horia Ilarion/Илларион Lilian Marius
    Petrică Timotei/Тимофей Zaharia/Захар Pantelei/Пантелей Nichifor/Никифор Trofim/Трофим Ionuț
    Costel Emanuel Nicolai/Николай Petre/Пётр Roman/Роман Anton/Антон Leonid/Леонид
    Savelie/Савелий Vasilică Gheorghiță Laurențiu Severin Damian Isidor Pantelimon
    Stanislav/Станислав Tudorel Andrian Valerian Nelu Robert Răzvan Mihăiță
";

/// Russian, Ukrainian, Gagauz and Bulgarian men's names. The register spells them in Romanian
/// transliteration (Сергей → Serghei).
pub(crate) const RUSSIAN_MEN: &str = "
    Сергей Владимир Дмитрий Александр Алексей Андрей Николай Игорь Олег Юрий Евгений Виктор
    Максим Артём Иван Михаил Павел Роман Вадим Виталий Валерий Анатолий Геннадий Борис Григорий
    Василий Пётр Фёдор Константин Станислав Вячеслав Леонид Аркадий Эдуард Денис Кирилл Никита
    Илья Антон Тимур Руслан Ярослав Богдан Степан Семён Тарас Владислав Егор Глеб Матвей Тимофей
    Захар Арсений Даниил Георгий Валентин Вениамин Лев Яков Марк Всеволод Святослав Филипп
    Савелий Родион Гавриил Ефим Давид Герман Альберт Тодор Христо Димитр Стоян Петко
";

/// Romanian women's names, written as [`ROMANIAN_MEN`].
pub(crate) const ROMANIAN_WOMEN: &str = "
    Maria/Мария Elena/Елена Ana/Анна Tatiana/Татьяна Natalia/Наталья Ecaterina/Екатерина
    Valentina/Валентина Galina/Галина Nadejda/Надежда Cristina/Кристина Doina/Дойна
    Mariana/Марианна Lilia/Лилия Aurelia Diana/Диана Ionela Corina Veronica/Вероника Mihaela
    Angela/Анжела Svetlana/Светлана Olga/Ольга Irina/Ирина Eugenia/Евгения Zinaida/Зинаида
    Nina/Нина Vera/Вера Raisa/Раиса Ludmila/Людмила Larisa/Лариса Victoria/Виктория
    Alexandra/Александра Daniela Andreea Alina/Алина Adriana Ana-Maria Anastasia/Анастасия
    Antonina/Антонина Aliona/Алёна Carolina Cătălina Claudia Constanța Dorina Domnica Dumitrița
    Eleonora/Элеонора Emilia Felicia Gabriela Iuliana Ina/Инна Ioana Iulia/Юлия Lidia/Лидия
    Liliana Lucia Marcela Margareta/Маргарита Marina/Марина Melania Mirela Nicoleta Nelea
    Olesea/Олеся Parascovia/Прасковья Paulina/Полина Profira Rodica Silvia Sofia/София
    Stela/Стелла Tamara/Тамара Teodora Valeria/Валерия Violeta Viorica Zoia/Зоя Agafia/Агафья
    Alexandrina Axenia/Аксинья Efrosinia/Ефросинья Eudochia/Евдокия Ileana Lucreția Mădălina
    Maia/Майя Nadia Oana Raluca Sanda Simona Smaranda Vasilica Xenia/Ксения Ariadna Cristiana
    Elina Ilinca Loredana Petronela Tudora Virginia Zina Georgeta Liuba/Люба Lenuța Aurica
    Florica Marioara Paraschiva Anișoara Maricica
";

/// Russian, Ukrainian, Gagauz and Bulgarian women's names.
pub(crate) const RUSSIAN_WOMEN: &str = "
    Светлана Татьяна Наталья Ольга Ирина Галина Людмила Лариса Оксана Екатерина Елена Анна Мария
    Валентина Надежда Вера Любовь Нина Тамара Раиса Антонина Евгения Юлия Анастасия Дарья Алёна
    Ксения Виктория Алина Кристина Марина Елизавета Полина Софья Ульяна Варвара Маргарита Алла
    Инна Жанна Эльвира Лидия Клавдия Валерия Вероника Диана Яна Олеся Алиса Ангелина Арина
    Василиса Милана Таисия Зоя Римма Снежана Ярослава Зинаида Кира Майя Тодора Стояна Донка
";

/// Romanian surnames. They do not change with sex.
pub(crate) const ROMANIAN_SURNAMES: &str = "
    Rusu Ceban Popa Ciobanu Țurcan Lungu Munteanu Cebotari Cojocaru Moraru Țurcanu Rotari Sîrbu
    Ursu Guțu Bivol Cazacu Mocanu Botnaru Grosu Stratan Croitoru Bejenaru Vrabie Roșca Negru
    Sandu Ungureanu Lupu Găină Cozma Cucu Crețu Rotaru Prodan Pascari Morari Doroftei Plămădeală
    Gheorghiță Ojog Bulat Buzu Chiriac Cîrlan Ștefănucă Țîbîrnă Păduraru Gîrlea Zgardan Tabacaru
    Bîrcă Burlacu Ciubotaru Cernei Donciu Dragan Frunze Furtună Ganea Golban Hîncu Ionescu
    Iordache Istrati Josan Leahu Leu Lozan Manole Marin Moldovan Mihăilă Nistor Olaru Onu Pîrvu
    Paraschiv Pleșca Popovici Postolachi Răileanu Robu Russu Sîrghi Scutaru Spînu Surdu Știrbu
    Tcaci Toma Tofan Ulinici Vasilachi Vieru Zaporojan Arnaut Bostan Calancea Cazac Căldare
    Ciumac Cojocari Colesnic Condrea Covali Cristea Dabija Dascăl Diaconu Dima Duca Eremia Focșa
    Gavriliță Ghețu Gonța Gore Grecu Gribincea Guzun Harea Ignat Iovu Jitaru Lazăr Lisnic Luca
    Lupașcu Mardari Mereuță Mîțu Morozan Mustață Nedelcu Niculiță Oprea Palii Pîslari Pîntea
    Plugaru Pogor Popescu Prisăcaru Railean Rață Roman Rusnac Sava Soltan Stanciu Stoica
    Suruceanu Talmaci Tănase Toderaș Tomșa Ursachi Vicol Vlas Zugrav Andronic Arseni Baciu Bălan
    Banari Bîrlădeanu Bobeică Bodiu Bolboceanu Bulgaru Bunduc Buruiană Butnaru Căpățînă Chicu
    Chistol Cîrstea Ciocan Ciocîrlan Cioban Cîrnaț Comerzan Corcimari Cornea Costin Curmei
    Damian Danu Druță Dumbravă Efros Enache Faur Frecăuțanu Gheorghiu Gîrbu Gorea Hîrbu Iachim
    Jardan Lipcan Lozovan Macovei Malai Manea Mîndru Moroșan Negară Nistreanu Panfil Pavaloi
    Plăcintă Puiu Racu Roibu Saracuța Sclifos Scripcaru Sochircă Stamati Șova Tătaru Untilă
    Varzari Voicu Zamfir Agache Albu Ambros Anghel Babii Borș Brînză Bucur Cebanu Chirilă
    Cibotaru Cucoș Dulgheru Gangan Gușan Mazilu Mija Nastas Onică Pînzari Pripa Rotundu Sîrcu
    Strătulat Șchiopu Tabără Țăranu Vartic Vizitiu
";

/// Russian and Ukrainian surnames, masculine form. Those in -ов/-ев/-ин and -ский/-цкий take a
/// feminine form (Иванова, Ковальская); the others (Шевченко, Ткачук) do not change.
pub(crate) const SLAVIC_SURNAMES: &str = "
    Иванов Шевченко Попов Бондаренко Петров Ткаченко Смирнов Коваленко Кузнецов Мельник Волков
    Кравченко Соколов Ткачук Лебедев Бойко Козлов Олейник Новиков Мороз Морозов Савчук Васильев
    Полищук Павлов Лысенко Семёнов Коваль Степанов Марченко Фёдоров Кравчук Михайлов Руденко
    Андреев Гончарук Алексеев Петренко Николаев Ковальчук Романов Степанюк Егоров Кушнир Макаров
    Романюк Ильин Гаврилюк Никитин Остапенко Сорокин Приходько Захаров Павленко Борисов
    Литвиненко Яковлев Федорчук Григорьев Мазур Медведев Шевчук Антонов Грищенко Тарасов
    Левченко Белов Костенко Орлов Зинченко Киселёв Яковенко Ковалёв Климчук Сергеев Данилов
    Жуков Фролов Калинин Дмитриев Ковальский Вишневский Зелинский Левицкий Садовский Ясинский
    Чернов Комаров Баранов Гусев Титов Кузьмин Куликов Максимов
";

/// Gagauz and Bulgarian surnames of the south, gendered as [`SLAVIC_SURNAMES`].
pub(crate) const SOUTHERN_SURNAMES: &str = "
    Топал Гайдаржи Стоянов Караман Кара Узун Влах Дерменжи Колца Чолак Курдогло Димитров Кечеджи
    Терзи Таушанжи Петков Бузаджи Янул Формузал Кысса Арабаджи Георгиев Тодоров Ангелов Манолов
    Станчев Колев
";

/// The entries of a table of Romanian names: `Name` or `Name/Форма`.
pub(crate) fn entries(table: &'static str) -> impl Iterator<Item = (&'static str, &'static str)> {
    table
        .split_whitespace()
        .map(|entry| entry.split_once('/').unwrap_or((entry, "")))
}

/// Every spelling of one name that records may carry.
#[derive(Debug, Clone)]
pub(crate) struct Spellings {
    /// As the population register writes it: Romanian, comma-below ș and ț.
    pub(crate) latin: String,
    /// Moldovan Cyrillic for Romanian names (Георге), Russian for the others.
    pub(crate) cyrillic: String,
    /// The Russian form in Cyrillic (Георгий for Gheorghe).
    pub(crate) russian: String,
    /// The Russian form transliterated, passport style (Georgii) and English style (Georgiy).
    pub(crate) russian_latin: [String; 2],
}

impl Spellings {
    /// A Romanian name and its Russian form ("" when there is none).
    pub(crate) fn romanian(latin: &str, russian: &str) -> Self {
        let cyrillic = moldovan_cyrillic(latin);
        let russian = if russian.is_empty() {
            cyrillic.clone()
        } else {
            russian.to_owned()
        };
        Self::new(latin.to_owned(), cyrillic, russian)
    }

    /// A name written in Cyrillic, whose register spelling is its Romanian transliteration.
    pub(crate) fn cyrillic(cyrillic: &str) -> Self {
        Self::new(
            romanian_latin(cyrillic),
            cyrillic.to_owned(),
            cyrillic.to_owned(),
        )
    }

    pub(crate) fn new(latin: String, cyrillic: String, russian: String) -> Self {
        let russian_latin = [
            russian_latin(&russian, false),
            russian_latin(&russian, true),
        ];
        Self {
            latin,
            cyrillic,
            russian,
            russian_latin,
        }
    }
}

pub(crate) struct GivenName {
    pub(crate) spellings: Spellings,
    pub(crate) sex: Sex,
    /// The patronymic of this man's son and daughter.
    pub(crate) patronymic: Option<[Spellings; 2]>,
}

impl GivenName {
    pub(crate) fn new(spellings: Spellings, sex: Sex) -> Self {
        let patronymic = (sex == Sex::Male).then(|| {
            [Sex::Male, Sex::Female]
                .map(|child| Spellings::cyrillic(&patronymic(&spellings.russian, child)))
        });
        Self {
            spellings,
            sex,
            patronymic,
        }
    }
}

/// A surname's masculine and feminine forms (equal for most).
pub(crate) type Surname = [Spellings; 2];

/// The feminine form of a Cyrillic surname, when it has one: Иванов → Иванова,
/// Ковальский → Ковальская.
pub(crate) fn feminine_surname(masculine: &str) -> Option<String> {
    if ["ов", "ев", "ёв", "ин", "ын"]
        .iter()
        .any(|ending| masculine.ends_with(ending))
    {
        return Some(format!("{masculine}а"));
    }
    masculine
        .strip_suffix("ий")
        .filter(|stem| stem.ends_with("ск") || stem.ends_with("цк"))
        .map(|stem| format!("{stem}ая"))
}

/// The patronymic, in Cyrillic, of a child whose father's name has this Russian form:
/// Иван → Иванович / Ивановна, Юрий → Юрьевич, Дмитрий → Дмитриевич, Илья → Ильич.
pub(crate) fn patronymic(father: &str, sex: Sex) -> String {
    // Никита → Никитич / Никитична, Илья → Ильич / Ильична.
    if let Some(base) = father.strip_suffix(['а', 'я']) {
        return match sex {
            Sex::Male => format!("{base}ич"),
            Sex::Female => format!("{base}ична"),
        };
    }
    let stem = match father {
        "Пётр" => "Петров".to_owned(),
        "Павел" => "Павлов".to_owned(),
        "Лев" => "Львов".to_owned(),
        "Михаил" => "Михайлов".to_owned(),
        "Яков" => "Яковлев".to_owned(),
        _ => {
            if let Some(base) = father.strip_suffix("ий") {
                // Юрий → Юрьев, but Дмитрий → Дмитриев after two consonants.
                let cluster = base.chars().rev().take(2).all(|c| !is_cyrillic_vowel(c));
                format!("{base}{}", if cluster { "иев" } else { "ьев" })
            } else if let Some(base) = father.strip_suffix(['й', 'ь']) {
                format!("{base}ев")
            } else if father.ends_with(['ж', 'ш', 'ч', 'щ', 'ц']) {
                format!("{father}ев")
            } else {
                // Moldovan names ending in a vowel drop it: Раду → Радович.
                let base = father.strip_suffix(is_cyrillic_vowel).unwrap_or(father);
                format!("{base}ов")
            }
        }
    };
    match sex {
        Sex::Male => stem + "ич",
        Sex::Female => stem + "на",
    }
}

// ---------------------------------------------------------------------------------------------
// Scripts
// ---------------------------------------------------------------------------------------------

pub(crate) fn lower(c: char) -> char {
    c.to_lowercase().next().unwrap_or(c)
}

pub(crate) fn is_cyrillic_vowel(c: char) -> bool {
    matches!(
        lower(c),
        'а' | 'е' | 'ё' | 'и' | 'о' | 'у' | 'ы' | 'э' | 'ю' | 'я' | 'і' | 'ї' | 'є'
    )
}

pub(crate) fn is_latin_vowel(c: char) -> bool {
    matches!(
        lower(c),
        'a' | 'e' | 'i' | 'o' | 'u' | 'ă' | 'â' | 'î' | 'y'
    )
}

/// Appends `text`, capitalised when the letter it stands for was.
pub(crate) fn push_cased(out: &mut String, text: &str, upper: bool) {
    let mut chars = text.chars();
    if upper && let Some(first) = chars.next() {
        out.extend(first.to_uppercase());
        out.push_str(chars.as_str());
    } else {
        out.push_str(text);
    }
}

/// Romanian Latin to Moldovan Cyrillic: Gheorghe → Георге, Ciobanu → Чобану,
/// Munteanu → Мунтяну, Cebotari → Чеботарь, Ștefan → Штефан.
pub fn moldovan_cyrillic(latin: &str) -> String {
    let chars: Vec<char> = latin.chars().collect();
    let at = |index: usize| chars.get(index).copied().map(lower);
    let last_letter = |index: usize| !at(index + 1).is_some_and(char::is_alphabetic);
    let mut out = String::with_capacity(latin.len() * 2);
    let mut index = 0;
    while let Some(c) = at(index) {
        let prev = index.checked_sub(1).and_then(at);
        let (next, after) = (at(index + 1), at(index + 2));
        let word_start = !prev.is_some_and(char::is_alphabetic);
        let after_vowel = prev.is_some_and(is_latin_vowel);
        // The i of cio, ciu, gio, giu and of cia inside a word is not pronounced; the i of a
        // final -cia is (Lucia).
        let silent_i = next == Some('i')
            && (matches!(after, Some('o' | 'u'))
                || (after == Some('a') && !last_letter(index + 2)));
        let (text, used) = match (c, next, after) {
            // ch and gh before e or i are hard; a final -chi keeps its i (Postolachi).
            ('c', Some('h'), Some('i')) if last_letter(index + 2) => ("ки", 3),
            ('g', Some('h'), Some('i')) if last_letter(index + 2) => ("ги", 3),
            ('c', Some('h'), Some('e' | 'i')) => ("к", 2),
            ('g', Some('h'), Some('e' | 'i')) => ("г", 2),
            // A silent e or i only softens c and g: Mircea, Ciobanu, Giurgiu, Popovici.
            ('c', Some('e'), Some('a')) => ("ча", 3),
            ('g', Some('e'), Some('a')) => ("ӂа", 3),
            ('c', Some('i'), _) if silent_i || last_letter(index + 1) => ("ч", 2),
            ('g', Some('i'), _) if silent_i || last_letter(index + 1) => ("ӂ", 2),
            ('c', Some('e' | 'i'), _) => ("ч", 1),
            ('g', Some('e' | 'i'), _) => ("ӂ", 1),
            ('c' | 'k' | 'q', ..) => ("к", 1),
            ('g', ..) => ("г", 1),
            // ea after a letter is я (Munteanu → Мунтяну); ia and iu starting a syllable are
            // я and ю (Iacob → Якоб, Iurie → Юрие); a final -ia is ия (Maria → Мария).
            ('e', Some('a'), _) if !word_start => ("я", 2),
            ('i', Some('a'), _) if word_start || after_vowel => ("я", 2),
            ('i', Some('u'), _) if word_start || after_vowel => ("ю", 2),
            ('i', Some('a'), _) if last_letter(index + 1) => ("ия", 2),
            // A final i is й after a vowel (Mihai → Михай), ь after a consonant (Cebotari).
            ('i', ..) if last_letter(index) && after_vowel => ("й", 1),
            ('i', ..) if last_letter(index) && !word_start => ("ь", 1),
            _ => (single_cyrillic(c), 1),
        };
        if text.is_empty() {
            out.push(chars[index]);
        } else {
            push_cased(&mut out, text, chars[index].is_uppercase());
        }
        index += used;
    }
    out
}

/// The Moldovan Cyrillic letter of one Romanian letter; "" for anything else.
pub(crate) fn single_cyrillic(c: char) -> &'static str {
    match c {
        'a' => "а",
        'ă' => "э",
        'â' | 'î' => "ы",
        'b' => "б",
        'd' => "д",
        'e' => "е",
        'f' => "ф",
        'h' => "х",
        'i' | 'y' => "и",
        'j' => "ж",
        'l' => "л",
        'm' => "м",
        'n' => "н",
        'o' => "о",
        'p' => "п",
        'r' => "р",
        's' => "с",
        'ș' | 'ş' => "ш",
        't' => "т",
        'ț' | 'ţ' => "ц",
        'u' => "у",
        'v' | 'w' => "в",
        'x' => "кс",
        'z' => "з",
        _ => "",
    }
}

/// Cyrillic to the Romanian transliteration Moldovan registers use: Сергей → Serghei,
/// Шевченко → Șevcenco, Алексей → Alexei, Юрьевич → Iurievici, Ковальский → Covalschi,
/// Кэтэлинович → Cătălinovici.
pub(crate) fn romanian_latin(cyrillic: &str) -> String {
    let chars: Vec<char> = cyrillic.chars().collect();
    let at = |index: usize| chars.get(index).copied().map(lower);
    let mut out = String::with_capacity(cyrillic.len());
    let mut index = 0;
    while let Some(c) = at(index) {
        let prev = index.checked_sub(1).and_then(at);
        let next = at(index + 1);
        let soft = matches!(next, Some('е' | 'ё' | 'и' | 'і' | 'є' | 'ю' | 'я'));
        let word_end = !next.is_some_and(char::is_alphabetic);
        let (text, used) = match c {
            'к' if next == Some('с') => ("x", 2),
            'и' if next == Some('я') => ("ia", 2),
            'и' if next == Some('ю') => ("iu", 2),
            'к' if soft => ("ch", 1),
            'г' if soft => ("gh", 1),
            'ч' if soft => ("c", 1),
            'щ' if soft => ("șc", 1),
            'ӂ' if soft => ("g", 1),
            'е' if matches!(prev, Some('ь' | 'ъ')) => ("ie", 1),
            // Moldovan э is ă (Кэлин = Călin); Russian initial э is e (Эдуард).
            'э' if prev.is_some_and(char::is_alphabetic) => ("ă", 1),
            // -ский is -schi, not -schii.
            'й' if word_end && prev == Some('и') && index >= 2 && at(index - 2) == Some('к') => {
                ("", 1)
            }
            'а' => ("a", 1),
            'б' => ("b", 1),
            'в' => ("v", 1),
            'г' => ("g", 1),
            'д' => ("d", 1),
            'е' | 'э' => ("e", 1),
            'ё' => ("io", 1),
            'ж' => ("j", 1),
            'з' => ("z", 1),
            'и' | 'й' | 'і' => ("i", 1),
            'ї' => ("ii", 1),
            'є' => ("ie", 1),
            'к' => ("c", 1),
            'л' => ("l", 1),
            'м' => ("m", 1),
            'н' => ("n", 1),
            'о' => ("o", 1),
            'п' => ("p", 1),
            'р' => ("r", 1),
            'с' => ("s", 1),
            'т' => ("t", 1),
            'у' => ("u", 1),
            'ф' => ("f", 1),
            'х' => ("h", 1),
            'ц' => ("ț", 1),
            'ч' => ("ci", 1),
            'ш' => ("ș", 1),
            'щ' => ("șci", 1),
            'ъ' | 'ь' => ("", 1),
            'ы' => ("î", 1),
            'ю' => ("iu", 1),
            'я' => ("ia", 1),
            'ӂ' => ("gi", 1),
            _ => {
                out.push(chars[index]);
                index += 1;
                continue;
            }
        };
        push_cased(&mut out, text, chars[index].is_uppercase());
        index += used;
    }
    out
}

/// Cyrillic to Russian-style Latin, as Russian-speaking clerks and foreign documents write it:
/// passport style (Георгий → Georgii, Юлия → Iuliia) or English style (Georgiy, Yuliya).
pub(crate) fn russian_latin(cyrillic: &str, english: bool) -> String {
    let chars: Vec<char> = cyrillic.chars().collect();
    let mut out = String::with_capacity(cyrillic.len());
    for (index, &original) in chars.iter().enumerate() {
        let c = lower(original);
        let prev = index.checked_sub(1).map(|i| lower(chars[i]));
        let iotated = english
            && prev.is_none_or(|p| {
                is_cyrillic_vowel(p) || matches!(p, 'ь' | 'ъ') || !p.is_alphabetic()
            });
        let text = match c {
            'а' => "a",
            'б' => "b",
            'в' => "v",
            'г' => "g",
            'д' => "d",
            'е' if iotated => "ye",
            'е' | 'э' => "e",
            'ё' if english => "yo",
            'ё' => "e",
            'є' => "ye",
            'ж' => "zh",
            'з' => "z",
            'и' | 'і' => "i",
            'й' if english => "y",
            'й' => "i",
            'ї' => "yi",
            'к' => "k",
            'л' => "l",
            'м' => "m",
            'н' => "n",
            'о' => "o",
            'п' => "p",
            'р' => "r",
            'с' => "s",
            'т' => "t",
            'у' => "u",
            'ф' => "f",
            'х' => "kh",
            'ц' => "ts",
            'ч' => "ch",
            'ш' => "sh",
            'щ' => "shch",
            'ъ' | 'ь' => "",
            'ы' => "y",
            'ю' if english => "yu",
            'ю' => "iu",
            'я' if english => "ya",
            'я' => "ia",
            'ӂ' => "dzh",
            _ => {
                out.push(original);
                continue;
            }
        };
        push_cased(&mut out, text, original.is_uppercase());
    }
    out
}

/// How one source system writes text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Script {
    /// The correct Romanian letters ș ț.
    CommaBelow,
    /// ş ţ from pre-2007 keyboards and code pages.
    Cedilla,
    NoDiacritics,
    /// Windows-1250 read as Latin-1: ş → º, ţ → þ, ă → ã.
    Mojibake,
    /// Russian transliteration, English style or not (Georgiy / Georgii).
    RussianLatin {
        english: bool,
    },
    /// Cyrillic; Romanian names in their Russian form or in Moldovan Cyrillic.
    Cyrillic {
        russian: bool,
    },
}

/// Per mille of each script, in the order of [`Script`] without payloads, for the first
/// record of a person (the register's) and for later ones, of Romanian and other persons.
pub(crate) const SCRIPT_SHARES: [[u32; 6]; 4] = [
    [620, 150, 150, 0, 40, 40],
    [450, 100, 150, 0, 150, 150],
    [330, 200, 220, 10, 110, 130],
    [220, 120, 200, 10, 200, 250],
];

#[derive(Debug, Clone, Copy)]
pub(crate) struct Style {
    pub(crate) script: Script,
    /// ALL CAPITALS, as many legacy systems store names.
    pub(crate) upper: bool,
}

impl Style {
    /// The style for addresses: Latin always, following the record's diacritics.
    pub(crate) fn latin(self) -> Self {
        let script = match self.script {
            Script::RussianLatin { .. } | Script::Cyrillic { .. } => Script::NoDiacritics,
            script => script,
        };
        Self { script, ..self }
    }
}

/// `text` (Romanian Latin with comma-below letters, or any other script) as `style` writes it.
pub(crate) fn restyle(text: &str, style: Style) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        let c = match style.script {
            Script::Cedilla => match c {
                'ș' => 'ş',
                'Ș' => 'Ş',
                'ț' => 'ţ',
                'Ț' => 'Ţ',
                c => c,
            },
            Script::NoDiacritics => match c {
                'ă' | 'â' => 'a',
                'Ă' | 'Â' => 'A',
                'î' => 'i',
                'Î' => 'I',
                'ș' | 'ş' => 's',
                'Ș' | 'Ş' => 'S',
                'ț' | 'ţ' => 't',
                'Ț' | 'Ţ' => 'T',
                c => c,
            },
            Script::Mojibake => match c {
                'ș' | 'ş' => 'º',
                'Ș' | 'Ş' => 'ª',
                'ț' | 'ţ' => 'þ',
                'Ț' | 'Ţ' => 'Þ',
                'ă' => 'ã',
                'Ă' => 'Ã',
                c => c,
            },
            _ => c,
        };
        if style.upper {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The name as a record in `style` carries it.
pub(crate) fn render(spellings: &Spellings, style: Style) -> String {
    let base = match style.script {
        Script::RussianLatin { english } => &spellings.russian_latin[usize::from(english)],
        Script::Cyrillic { russian: true } => &spellings.russian,
        Script::Cyrillic { russian: false } => &spellings.cyrillic,
        _ => &spellings.latin,
    };
    restyle(base, style)
}

// ---------------------------------------------------------------------------------------------
// Places
// ---------------------------------------------------------------------------------------------

/// A district, its share of the population (per mille, roughly), and its localities with their
/// postal codes, the district's town first.
pub(crate) struct District {
    pub(crate) name: &'static str,
    pub(crate) weight: u64,
    pub(crate) localities: &'static [(&'static str, u16)],
}

pub(crate) const DISTRICTS: &[District] = &[
    District {
        name: "mun. Chișinău",
        weight: 300,
        localities: &[
            ("Chișinău", 2001),
            ("Durlești", 2003),
            ("Codru", 2019),
            ("Sîngera", 2091),
            ("Stăuceni", 2052),
            ("Vadul lui Vodă", 2046),
        ],
    },
    District {
        name: "mun. Bălți",
        weight: 55,
        localities: &[("Bălți", 3100), ("Elizaveta", 3130), ("Sadovoe", 3125)],
    },
    District {
        name: "UTA Găgăuzia",
        weight: 45,
        localities: &[
            ("Comrat", 3801),
            ("Ceadîr-Lunga", 6101),
            ("Vulcănești", 5301),
            ("Congaz", 3812),
            ("Copceac", 6110),
            ("Baurci", 6106),
            ("Avdarma", 3804),
        ],
    },
    District {
        name: "Orhei",
        weight: 40,
        localities: &[
            ("Orhei", 3501),
            ("Peresecina", 3543),
            ("Ivancea", 3535),
            ("Susleni", 3549),
            ("Pelivan", 3541),
        ],
    },
    District {
        name: "Cahul",
        weight: 40,
        localities: &[
            ("Cahul", 3901),
            ("Giurgiulești", 5318),
            ("Crihana Veche", 3917),
            ("Slobozia Mare", 5324),
            ("Colibași", 5316),
        ],
    },
    District {
        name: "Ungheni",
        weight: 37,
        localities: &[
            ("Ungheni", 3601),
            ("Cornești", 3610),
            ("Valea Mare", 3662),
            ("Pîrlița", 3649),
            ("Sculeni", 3656),
        ],
    },
    District {
        name: "Hîncești",
        weight: 38,
        localities: &[
            ("Hîncești", 3401),
            ("Lăpușna", 3430),
            ("Cărpineni", 3426),
            ("Mingir", 3436),
            ("Bobeica", 3418),
        ],
    },
    District {
        name: "Soroca",
        weight: 33,
        localities: &[
            ("Soroca", 3001),
            ("Vădeni", 3053),
            ("Racovăț", 3031),
            ("Cosăuți", 3022),
        ],
    },
    District {
        name: "Ialoveni",
        weight: 35,
        localities: &[
            ("Ialoveni", 6801),
            ("Costești", 6819),
            ("Puhoi", 6823),
            ("Bardar", 6808),
            ("Văsieni", 6826),
        ],
    },
    District {
        name: "Strășeni",
        weight: 30,
        localities: &[
            ("Strășeni", 3701),
            ("Bucovăț", 3719),
            ("Lozova", 3726),
            ("Vorniceni", 3736),
            ("Micăuți", 3729),
        ],
    },
    District {
        name: "Anenii Noi",
        weight: 28,
        localities: &[
            ("Anenii Noi", 6501),
            ("Bulboaca", 6511),
            ("Varnița", 6550),
            ("Mereni", 6530),
        ],
    },
    District {
        name: "Criuleni",
        weight: 24,
        localities: &[
            ("Criuleni", 4801),
            ("Dubăsarii Vechi", 4815),
            ("Măgdăcești", 4829),
            ("Cruglic", 4813),
        ],
    },
    District {
        name: "Căușeni",
        weight: 28,
        localities: &[
            ("Căușeni", 4301),
            ("Zaim", 4339),
            ("Tănătari", 4331),
            ("Cîrnățeni", 4315),
        ],
    },
    District {
        name: "Edineț",
        weight: 26,
        localities: &[
            ("Edineț", 4601),
            ("Cupcini", 4616),
            ("Gordinești", 4637),
            ("Brătușeni", 4623),
        ],
    },
    District {
        name: "Florești",
        weight: 26,
        localities: &[
            ("Florești", 5001),
            ("Mărculești", 5010),
            ("Ghindești", 5033),
            ("Prodănești", 5044),
        ],
    },
    District {
        name: "Drochia",
        weight: 26,
        localities: &[
            ("Drochia", 5201),
            ("Pelinia", 5236),
            ("Zgurița", 5250),
            ("Ochiul Alb", 5233),
        ],
    },
    District {
        name: "Fălești",
        weight: 28,
        localities: &[
            ("Fălești", 5901),
            ("Catranîc", 5920),
            ("Năvîrneț", 5938),
            ("Pîrlița", 5943),
        ],
    },
    District {
        name: "Sîngerei",
        weight: 27,
        localities: &[
            ("Sîngerei", 6201),
            ("Biruința", 6203),
            ("Coșcodeni", 6225),
            ("Bilicenii Vechi", 6212),
        ],
    },
    District {
        name: "Rîșcani",
        weight: 22,
        localities: &[
            ("Rîșcani", 5601),
            ("Costești", 5629),
            ("Corlăteni", 5621),
            ("Pociumbăuți", 5641),
        ],
    },
    District {
        name: "Briceni",
        weight: 22,
        localities: &[
            ("Briceni", 4701),
            ("Lipcani", 4725),
            ("Corjeuți", 4732),
            ("Criva", 4735),
        ],
    },
    District {
        name: "Ocnița",
        weight: 16,
        localities: &[
            ("Ocnița", 7101),
            ("Otaci", 7105),
            ("Frunză", 7102),
            ("Naslavcea", 7133),
        ],
    },
    District {
        name: "Dondușeni",
        weight: 14,
        localities: &[("Dondușeni", 5101), ("Sudarca", 5141), ("Corbu", 5111)],
    },
    District {
        name: "Glodeni",
        weight: 18,
        localities: &[("Glodeni", 4901), ("Cuhnești", 4920), ("Balatina", 4910)],
    },
    District {
        name: "Telenești",
        weight: 22,
        localities: &[
            ("Telenești", 5801),
            ("Sărătenii Vechi", 5843),
            ("Mîndrești", 5835),
        ],
    },
    District {
        name: "Rezina",
        weight: 15,
        localities: &[("Rezina", 5401), ("Ignăței", 5427), ("Mateuți", 5433)],
    },
    District {
        name: "Șoldănești",
        weight: 13,
        localities: &[
            ("Șoldănești", 7201),
            ("Cotiujenii Mari", 7212),
            ("Olișcani", 7226),
        ],
    },
    District {
        name: "Călărași",
        weight: 22,
        localities: &[
            ("Călărași", 4401),
            ("Sipoteni", 4433),
            ("Hîrjauca", 4420),
            ("Bravicea", 4410),
        ],
    },
    District {
        name: "Nisporeni",
        weight: 22,
        localities: &[
            ("Nisporeni", 6401),
            ("Grozești", 6419),
            ("Bălănești", 6415),
            ("Vărzărești", 6433),
        ],
    },
    District {
        name: "Leova",
        weight: 16,
        localities: &[("Leova", 6301), ("Iargara", 6323), ("Sărata Nouă", 6334)],
    },
    District {
        name: "Cimișlia",
        weight: 18,
        localities: &[
            ("Cimișlia", 4101),
            ("Gura Galbenei", 4126),
            ("Selemet", 4138),
        ],
    },
    District {
        name: "Basarabeasca",
        weight: 8,
        localities: &[
            ("Basarabeasca", 6701),
            ("Iordanovca", 6713),
            ("Sadaclia", 6720),
        ],
    },
    District {
        name: "Cantemir",
        weight: 18,
        localities: &[
            ("Cantemir", 7301),
            ("Baimaclia", 7310),
            ("Cociulia", 7320),
            ("Gotești", 7330),
        ],
    },
    District {
        name: "Ștefan Vodă",
        weight: 21,
        localities: &[
            ("Ștefan Vodă", 4201),
            ("Slobozia", 4233),
            ("Purcari", 4230),
            ("Olănești", 4229),
        ],
    },
    District {
        name: "Taraclia",
        weight: 12,
        localities: &[
            ("Taraclia", 7401),
            ("Corten", 7413),
            ("Tvardița", 7420),
            ("Vinogradovca", 7424),
        ],
    },
    District {
        name: "Dubăsari",
        weight: 10,
        localities: &[("Cocieri", 4571), ("Molovata", 4578), ("Doroțcaia", 4573)],
    },
];
/// Rows of [`DISTRICTS`] the generator treats specially.
pub(crate) const CHISINAU: usize = 0;
pub(crate) const BALTI: usize = 1;
pub(crate) const GAGAUZIA: usize = 2;
pub(crate) const TARACLIA: usize = 33;

/// Street names, most frequent first.
pub(crate) const STREETS: &[&str] = &[
    "str. Ștefan cel Mare",
    "str. Mihai Eminescu",
    "str. Alexandru cel Bun",
    "str. Independenței",
    "str. Păcii",
    "str. Livezilor",
    "str. Tineretului",
    "str. Școlii",
    "str. Gării",
    "str. Florilor",
    "str. Ion Creangă",
    "str. Vasile Alecsandri",
    "str. 31 August 1989",
    "str. Pușkin",
    "str. Gagarin",
    "str. Viilor",
    "str. Bisericii",
    "str. Unirii",
    "str. Trandafirilor",
    "bd. Dacia",
    "bd. Moscova",
    "bd. Mircea cel Bătrîn",
    "str. Decebal",
    "str. Mitropolit Varlaam",
    "str. Mitropolit Dosoftei",
    "str. Alexei Mateevici",
    "str. Calea Ieșilor",
    "str. Petru Rareș",
    "str. Bucuriei",
    "str. Sfatul Țării",
    "str. Kiev",
    "str. Dimitrie Cantemir",
    "str. Grigore Vieru",
    "str. Ion Neculce",
    "str. Mioriței",
    "str. Cuza Vodă",
    "str. Nicolae Iorga",
    "str. Constructorilor",
    "str. Industrială",
    "str. Voluntarilor",
    "str. Lenin",
    "str. Sadovaia",
    "str. Muncii",
    "str. Mătăsarilor",
    "str. Ghioceilor",
];

/// Mobile operator codes after the 0 (or +373).
pub(crate) const MOBILE_CODES: &[u32] = &[60, 62, 67, 68, 69, 76, 78, 79];

// ---------------------------------------------------------------------------------------------
// Persons
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sex {
    Male,
    Female,
}

impl Sex {
    pub(crate) fn index(self) -> usize {
        match self {
            Self::Male => 0,
            Self::Female => 1,
        }
    }

    /// `M` or `F`, as registries write it.
    pub fn code(self) -> &'static str {
        match self {
            Self::Male => "M",
            Self::Female => "F",
        }
    }

    pub(crate) fn other(self) -> Self {
        match self {
            Self::Male => Self::Female,
            Self::Female => Self::Male,
        }
    }
}

/// Which names a family gives: Romanian, Russian or Ukrainian, Gagauz or Bulgarian.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    Romanian,
    Slavic,
    Southern,
}

/// Given names to choose from, with their frequencies.
pub(crate) struct Pool {
    pub(crate) members: Vec<u16>,
    pub(crate) weights: Weighted,
}

impl Pool {
    pub(crate) fn new(members: Vec<u16>, offset: usize) -> Self {
        let weights = Weighted::zipf(members.len(), offset);
        Self { members, weights }
    }

    pub(crate) fn sample(&self, rng: &mut Random) -> u16 {
        self.members[self.weights.sample(rng)]
    }
}

/// Appends given names to `given` and returns their pool.
pub(crate) fn given_pool(
    given: &mut Vec<GivenName>,
    sex: Sex,
    names: impl Iterator<Item = Spellings>,
) -> Pool {
    let start = given.len() as u16;
    given.extend(names.map(|spellings| GivenName::new(spellings, sex)));
    Pool::new((start..given.len() as u16).collect(), 5)
}

/// Appends surnames to `surnames` and returns their pool.
pub(crate) fn surname_pool(
    surnames: &mut Vec<Surname>,
    names: impl Iterator<Item = Surname>,
) -> Pool {
    let start = surnames.len() as u16;
    surnames.extend(names);
    Pool::new((start..surnames.len() as u16).collect(), 10)
}

/// Every name the synthetic data gives, with its spellings, and how often each is given.
pub(crate) struct Names {
    pub(crate) given: Vec<GivenName>,
    pub(crate) surnames: Vec<Surname>,
    /// Romanian and other given names of men and women: `[origin is Romanian][sex]`.
    pub(crate) given_pools: [[Pool; 2]; 2],
    /// Romanian, Slavic and southern surnames.
    pub(crate) surname_pools: [Pool; 3],
}

impl Names {
    pub(crate) fn new() -> Self {
        let romanian =
            |table| entries(table).map(|(latin, russian)| Spellings::romanian(latin, russian));
        let cyrillic = |table: &'static str| table.split_whitespace().map(Spellings::cyrillic);
        let mut given = Vec::new();
        let given_pools = [
            [
                given_pool(&mut given, Sex::Male, cyrillic(RUSSIAN_MEN)),
                given_pool(&mut given, Sex::Female, cyrillic(RUSSIAN_WOMEN)),
            ],
            [
                given_pool(&mut given, Sex::Male, romanian(ROMANIAN_MEN)),
                given_pool(&mut given, Sex::Female, romanian(ROMANIAN_WOMEN)),
            ],
        ];
        let mut surnames = Vec::new();
        let invariable = |spellings: Spellings| [spellings.clone(), spellings];
        let gendered = |masculine: &str| {
            let feminine = feminine_surname(masculine).unwrap_or_else(|| masculine.to_owned());
            [
                Spellings::cyrillic(masculine),
                Spellings::cyrillic(&feminine),
            ]
        };
        let surname_pools = [
            surname_pool(&mut surnames, romanian(ROMANIAN_SURNAMES).map(invariable)),
            surname_pool(
                &mut surnames,
                SLAVIC_SURNAMES.split_whitespace().map(gendered),
            ),
            surname_pool(
                &mut surnames,
                SOUTHERN_SURNAMES.split_whitespace().map(gendered),
            ),
        ];
        Self {
            given,
            surnames,
            given_pools,
            surname_pools,
        }
    }

    /// A given name (an index into `given`) of a person of `sex` in a family of `origin`:
    /// mostly the family's own names, sometimes the other tradition's.
    pub(crate) fn given_name(&self, random: &mut Random, sex: Sex, origin: Origin) -> u16 {
        let romanian_share = if origin == Origin::Romanian { 800 } else { 130 };
        let romanian = random.chance(romanian_share);
        self.given_pools[usize::from(romanian)][sex.index()].sample(random)
    }

    /// A surname (an index into `surnames`) of a family of `origin`.
    pub(crate) fn surname(&self, random: &mut Random, origin: Origin) -> u16 {
        let pool = match origin {
            Origin::Romanian => random.share(&[950, 50]),
            Origin::Slavic => random.share(&[80, 920]),
            Origin::Southern => random.share(&[0, 150, 850]),
        };
        self.surname_pools[pool].sample(random)
    }
}

// ---------------------------------------------------------------------------------------------
// Identifiers
// ---------------------------------------------------------------------------------------------

/// A valid IDNP, unique for up to 10^8 persons: 2 (or 0 for some older numbers), the year
/// of issue, eight digits that are a bijection of the person number, and the check digit.
pub(crate) fn idnp(number: u64, birth_year: u16, rng: &mut Random) -> [u8; 13] {
    let mut digits = [0u8; 13];
    let (series, issued) = if birth_year < 1980 && rng.chance(150) {
        (0, 1993 + rng.between(0, 6))
    } else {
        (2, birth_year.max(1996 + rng.between(0, 12)))
    };
    digits[0] = series;
    let year = if series == 0 {
        900 + issued % 100
    } else {
        issued % 1000
    };
    digits[1] = (year / 100) as u8;
    digits[2] = (year / 10 % 10) as u8;
    digits[3] = (year % 10) as u8;
    // Multiplying by a number coprime with 10 permutes 0..10^8.
    let mut serial = (number % 100_000_000) * 37_249_771 % 100_000_000;
    for slot in digits[4..12].iter_mut().rev() {
        *slot = (serial % 10) as u8;
        serial /= 10;
    }
    let mut first_twelve = [0u8; 12];
    first_twelve.copy_from_slice(&digits[..12]);
    digits[12] = check_digit(&first_twelve);
    digits
}

/// A mobile number unique for up to 8 million persons: operator code and six digits.
pub(crate) fn mobile(number: u64) -> u32 {
    let slots = (MOBILE_CODES.len() * 1_000_000) as u64;
    // 1,234,567 is coprime with 8,000,000, so this permutes the slots.
    let slot = (number % slots) * 1_234_567 % slots;
    MOBILE_CODES[(slot / 1_000_000) as usize] * 1_000_000 + (slot % 1_000_000) as u32
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use esocial_mpi::normalize::{fold, phonetic_key, surname_stem};

    #[test]
    fn transliteration_follows_moldovan_practice() {
        let cases = [
            ("Gheorghe", "Георге"),
            ("Ciobanu", "Чобану"),
            ("Munteanu", "Мунтяну"),
            ("Cebotari", "Чеботарь"),
            ("Ștefan", "Штефан"),
            ("Ştefan", "Штефан"),
            ("Țurcanu", "Цуркану"),
            ("Ceban", "Чебан"),
            ("Mircea", "Мирча"),
            ("Lucia", "Лучия"),
            ("Postolachi", "Постолаки"),
            ("Popovici", "Попович"),
            ("Iurie", "Юрие"),
            ("Mihai", "Михай"),
            ("Maria", "Мария"),
            ("Ștefănucă", "Штефэнукэ"),
            ("Sîrbu", "Сырбу"),
            ("Giurgiulești", "Ӂурӂулешть"),
            ("Ana-Maria", "Ана-Мария"),
        ];
        for (latin, cyrillic) in cases {
            assert_eq!(moldovan_cyrillic(latin), cyrillic, "{latin}");
        }
        let cases = [
            ("Сергей", "Serghei"),
            ("Шевченко", "Șevcenco"),
            ("Алексей", "Alexei"),
            ("Ковальский", "Covalschi"),
            ("Ковальская", "Covalscaia"),
            ("Юрьевич", "Iurievici"),
            ("Наталья", "Natalia"),
            ("Фёдор", "Fiodor"),
            ("Ткачук", "Tcaciuc"),
            ("Кузнецов", "Cuznețov"),
            ("Кэтэлинович", "Cătălinovici"),
            ("Эдуард", "Eduard"),
        ];
        for (cyrillic, latin) in cases {
            assert_eq!(romanian_latin(cyrillic), latin, "{cyrillic}");
        }
        let cases = [
            ("Шевченко", false, "Shevchenko"),
            ("Георгий", false, "Georgii"),
            ("Георгий", true, "Georgiy"),
            ("Чебан", false, "Cheban"),
            ("Цуркану", false, "Tsurkanu"),
            ("Юлия", true, "Yuliya"),
            ("Елена", true, "Yelena"),
            ("Фёдор", false, "Fedor"),
        ];
        for (cyrillic, english, latin) in cases {
            assert_eq!(russian_latin(cyrillic, english), latin, "{cyrillic}");
        }
    }

    #[test]
    fn patronymics_and_feminine_surnames_follow_russian_grammar() {
        let cases = [
            ("Иван", Sex::Male, "Иванович"),
            ("Иван", Sex::Female, "Ивановна"),
            ("Юрий", Sex::Male, "Юрьевич"),
            ("Дмитрий", Sex::Female, "Дмитриевна"),
            ("Михаил", Sex::Male, "Михайлович"),
            ("Николай", Sex::Female, "Николаевна"),
            ("Никита", Sex::Male, "Никитич"),
            ("Игорь", Sex::Male, "Игоревич"),
            ("Пётр", Sex::Female, "Петровна"),
        ];
        for (father, sex, expected) in cases {
            assert_eq!(patronymic(father, sex), expected, "{father}");
        }
        assert_eq!(feminine_surname("Иванов").as_deref(), Some("Иванова"));
        assert_eq!(feminine_surname("Ильин").as_deref(), Some("Ильина"));
        assert_eq!(
            feminine_surname("Ковальский").as_deref(),
            Some("Ковальская")
        );
        assert_eq!(feminine_surname("Шевченко"), None);
        assert_eq!(feminine_surname("Топал"), None);
    }

    #[test]
    fn styles_write_diacritics_each_their_way() {
        let style = |script| Style {
            script,
            upper: false,
        };
        let name = "Ștefănucă Țurcanu";
        assert_eq!(restyle(name, style(Script::CommaBelow)), name);
        assert_eq!(restyle(name, style(Script::Cedilla)), "Ştefănucă Ţurcanu");
        assert_eq!(
            restyle(name, style(Script::NoDiacritics)),
            "Stefanuca Turcanu"
        );
        assert_eq!(restyle(name, style(Script::Mojibake)), "ªtefãnucã Þurcanu");
        let upper = Style {
            script: Script::Cedilla,
            upper: true,
        };
        assert_eq!(restyle(name, upper), "ŞTEFĂNUCĂ ŢURCANU");
        for variant in [
            "Ştefănucă Ţurcanu",
            "ªtefãnucã Þurcanu",
            "Stefanuca Turcanu",
        ] {
            assert_eq!(fold(variant), fold(name), "{variant}");
        }
    }

    /// The spellings a record may use are the ones the master index's normaliser is built to
    /// bring together: Latin and Cyrillic always share a sound key. Russian transliteration
    /// does too, except where the normaliser's documented limits apply: Romanian "ch" is /k/
    /// (Chiriac, Russian Kiriak), and "ci" before a consonant keys as /k/ (Cîrlan).
    #[test]
    fn every_spelling_of_a_name_sounds_alike() {
        let names = Names::new();
        let surnames = names
            .surnames
            .iter()
            .flatten()
            .map(|spelling| (spelling, true));
        let given = names.given.iter().map(|name| (&name.spellings, false));
        let patronymics = names
            .given
            .iter()
            .filter_map(|name| name.patronymic.as_ref())
            .flatten()
            .map(|spelling| (spelling, false));
        let (mut russian, mut russian_agreeing) = (0, 0);
        for (spelling, surname) in surnames.chain(given).chain(patronymics) {
            let key = |text: &str| {
                if surname {
                    phonetic_key(&surname_stem(text))
                } else {
                    phonetic_key(text)
                }
            };
            let latin = key(&spelling.latin);
            assert_eq!(
                key(&spelling.cyrillic),
                latin,
                "{} / {}",
                spelling.latin,
                spelling.cyrillic
            );
            // A Russian form (Георгий for Gheorghe) is another name: compare only the name itself.
            if spelling.russian == spelling.cyrillic && !fold(&spelling.latin).contains("ch") {
                for variant in &spelling.russian_latin {
                    russian += 1;
                    russian_agreeing += usize::from(key(variant) == latin);
                }
            }
        }
        assert!(
            russian_agreeing as f64 / russian as f64 > 0.98,
            "{russian_agreeing} of {russian}"
        );
    }

    #[test]
    fn tables_are_large_and_hold_no_repeats() {
        let count = |tables: &[&str]| -> usize {
            tables
                .iter()
                .map(|table| table.split_whitespace().count())
                .sum()
        };
        assert!(count(&[ROMANIAN_MEN, RUSSIAN_MEN]) >= 150);
        assert!(count(&[ROMANIAN_WOMEN, RUSSIAN_WOMEN]) >= 150);
        assert!(count(&[ROMANIAN_SURNAMES, SLAVIC_SURNAMES, SOUTHERN_SURNAMES]) >= 300);
        fn unique(names: impl IntoIterator<Item = &'static str>) {
            let mut seen = HashSet::new();
            for name in names {
                assert!(seen.insert(name), "{name} is listed twice");
            }
        }
        unique(entries(ROMANIAN_MEN).map(|(latin, _)| latin));
        unique(entries(ROMANIAN_WOMEN).map(|(latin, _)| latin));
        unique(RUSSIAN_MEN.split_whitespace());
        unique(RUSSIAN_WOMEN.split_whitespace());
        unique(ROMANIAN_SURNAMES.split_whitespace());
        unique(
            SLAVIC_SURNAMES
                .split_whitespace()
                .chain(SOUTHERN_SURNAMES.split_whitespace()),
        );
        assert_eq!(DISTRICTS[CHISINAU].name, "mun. Chișinău");
        assert_eq!(DISTRICTS[BALTI].name, "mun. Bălți");
        assert_eq!(DISTRICTS[GAGAUZIA].name, "UTA Găgăuzia");
        assert_eq!(DISTRICTS[TARACLIA].name, "Taraclia");
        assert!(STREETS.len() < usize::from(u8::MAX));
    }
}
