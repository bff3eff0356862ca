//! Name and birth-date normalisation for the beneficiary master index, so that records of one
//! person in Romanian (with or without diacritics), Russian or Moldovan Cyrillic compare equal.
//!
//! The matcher keeps what the registry sent as the *display* form ([`NormalizedName::display`])
//! and compares only derived forms:
//!
//! * [`fold`]: lower case, Romanian diacritics folded (ș/ş → s, ț/ţ → t, ă → a, â/î → i), other
//!   Latin diacritics dropped, Cyrillic transliterated the Romanian way (Чебан → ceban,
//!   Кириак → chiriac, Георге → gheorghe, Стефэнукэ → stefanuca), punctuation turned into single
//!   spaces. Idempotent.
//! * [`phonetic_key`]: a coarse sound code in the spirit of Daitch–Mokotoff, simplified for
//!   Romanian and Russian, so that transliteration variants collide (Şevcenco, Shevchenko,
//!   Ševčenko, Шевченко → `SBCNK`).
//! * [`surname_stem`]: maps masculine and feminine Slavic surnames to one stem
//!   (Ivanova/Иванова/Ivanov → `ivanov`).
//! * [`jaro_winkler`] and [`damerau_levenshtein`] score typos; [`compare_dates`] grades birth
//!   dates that may be partial or have day and month swapped.
//!
//! Unicode normalisation does not unify ș (comma below, U+0219) with ş (cedilla, U+015F), nor ț
//! with ţ, so every variant is listed explicitly, as are decomposed sequences (s + U+0326 or
//! U+0327) and the Windows-1250-read-as-Latin-1 mojibake of old Romanian data (ª º → ş, þ → ţ).
//! Words mixing Latin letters with Cyrillic look-alikes (a Cyrillic С typed in "Сeban") are
//! repaired to Latin before folding.
//!
//! Known limits, by design: Romanian "che/chi" (/k/, Chiriac) and English "ch" (/tʃ/, Cheban)
//! cannot be told apart, so "ch" always keys as the affricate: Chiriac and Кириак agree, Latin
//! "Kiriak" does not. Moldovan Cyrillic щ (= "șt") is read the Russian way ("șc"). A russified
//! name (Stepaniuc for Ştefănucă) is a different name, linked by name-change records, never here.

use std::fmt;
use std::str::FromStr;

// ---------------------------------------------------------------------------------------------
// Folding
// ---------------------------------------------------------------------------------------------

/// A name as the registry sent it, with the forms the matcher compares.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NormalizedName {
    /// Exactly the input, for display and for the record; never compared.
    pub display: String,
    /// [`fold`] of the input.
    pub folded: String,
    /// [`phonetic_key`] of the input.
    pub phonetic: String,
}

impl NormalizedName {
    pub fn new(display: &str) -> Self {
        Self {
            display: display.to_owned(),
            folded: fold(display),
            phonetic: phonetic_key(display),
        }
    }
}

/// Lower-cases, folds diacritics, transliterates Cyrillic to Latin (Romanian conventions) and
/// turns every run of non-letters into one space; apostrophes, soft hyphens and zero-width
/// characters vanish without splitting the word ("Vasil'ev" → "vasilev"). Idempotent.
pub fn fold(input: &str) -> String {
    let chars = prepare(input);
    let mut out = String::with_capacity(chars.len());
    for (index, &c) in chars.iter().enumerate() {
        let prev = index.checked_sub(1).map(|i| chars[i]);
        let next = chars.get(index + 1).copied();
        match fold_char(c, prev, next) {
            Folded::Text(text) => out.push_str(text),
            Folded::Char(letter) => out.push(letter),
            Folded::Join => {}
            Folded::Separator => {
                if !out.is_empty() && !out.ends_with(' ') {
                    out.push(' ');
                }
            }
        }
    }
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    out
}

/// The folded words of a name; hyphenated double names are split ("Ana-Maria" → ana, maria).
pub fn name_tokens(input: &str) -> Vec<String> {
    fold(input)
        .split(' ')
        .filter(|token| !token.is_empty())
        .map(str::to_owned)
        .collect()
}

enum Folded {
    Text(&'static str),
    Char(char),
    /// Removed without separating words.
    Join,
    /// Separates words.
    Separator,
}

fn is_combining(c: char) -> bool {
    matches!(
        c,
        '\u{0300}'..='\u{036F}'
            | '\u{0483}'..='\u{0489}'
            | '\u{1AB0}'..='\u{1AFF}'
            | '\u{1DC0}'..='\u{1DFF}'
            | '\u{20D0}'..='\u{20FF}'
            | '\u{FE20}'..='\u{FE2F}'
    )
}

/// Apostrophes (Russian transliteration of ь, O'Brien), soft hyphen, zero-width characters.
fn is_joiner(c: char) -> bool {
    matches!(
        c,
        '\'' | '`'
            | '\u{00B4}'
            | '\u{2018}'
            | '\u{2019}'
            | '\u{02BC}'
            | '\u{02BB}'
            | '\u{2032}'
            | '\u{00AD}'
            | '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}'
    )
}

fn is_cyrillic(c: char) -> bool {
    ('\u{0400}'..='\u{052F}').contains(&c)
}

fn is_latin(c: char) -> bool {
    c.is_ascii_alphabetic()
        || (matches!(c, '\u{00C0}'..='\u{024F}' | '\u{1E00}'..='\u{1EFF}') && c.is_alphabetic())
}

/// The Latin letter a Cyrillic one is indistinguishable from on screen.
fn latin_look_alike(c: char) -> Option<char> {
    Some(match c {
        'А' => 'A',
        'а' => 'a',
        'В' => 'B',
        'Е' => 'E',
        'е' => 'e',
        'К' => 'K',
        'к' => 'k',
        'М' => 'M',
        'Н' => 'H',
        'О' => 'O',
        'о' => 'o',
        'Р' => 'P',
        'р' => 'p',
        'С' => 'C',
        'с' => 'c',
        'Т' => 'T',
        'У' => 'Y',
        'у' => 'y',
        'Х' => 'X',
        'х' => 'x',
        'І' => 'I',
        'і' => 'i',
        'Ј' => 'J',
        'ј' => 'j',
        'Ѕ' => 'S',
        'ѕ' => 's',
        _ => return None,
    })
}

/// Base letter plus combining mark, for the marks that change the folded result.
fn compose(base: char, mark: char) -> Option<char> {
    Some(match (base, mark) {
        ('a', '\u{0306}') => 'ă',
        ('a', '\u{0302}') => 'â',
        ('i', '\u{0302}') => 'î',
        ('s', '\u{0326}' | '\u{0327}') => 'ș',
        ('t', '\u{0326}' | '\u{0327}') => 'ț',
        ('c', '\u{0327}') => 'ç',
        ('c', '\u{030C}') => 'č',
        ('s', '\u{030C}') => 'š',
        ('z', '\u{030C}') => 'ž',
        ('ж', '\u{0306}') => 'ӂ',
        ('и', '\u{0306}') => 'й',
        ('у', '\u{0306}') => 'ў',
        ('е', '\u{0308}') => 'ё',
        ('і', '\u{0308}') => 'ї',
        _ => return None,
    })
}

/// Repairs mixed-script words, lower-cases, and composes or drops combining marks.
fn prepare(input: &str) -> Vec<char> {
    let raw: Vec<char> = input.chars().collect();
    let in_word = |c: char| c.is_alphabetic() || is_combining(c);
    let mut repaired = Vec::with_capacity(raw.len());
    let mut start = 0;
    while start < raw.len() {
        if !in_word(raw[start]) {
            repaired.push(raw[start]);
            start += 1;
            continue;
        }
        let end = raw[start..]
            .iter()
            .position(|&c| !in_word(c))
            .map_or(raw.len(), |offset| start + offset);
        let word = &raw[start..end];
        let has_latin = word.iter().any(|&c| is_latin(c));
        let cyrillic: Vec<char> = word
            .iter()
            .copied()
            .filter(|&c| is_cyrillic(c) && c.is_alphabetic())
            .collect();
        // Only Cyrillic → Latin: every Cyrillic letter must have a twin, so the result holds no
        // Cyrillic and folding stays idempotent. Latin look-alikes inside Cyrillic words (a
        // Latin "e" in "Чeбан") fold correctly anyway.
        if has_latin
            && !cyrillic.is_empty()
            && cyrillic.iter().all(|&c| latin_look_alike(c).is_some())
        {
            repaired.extend(word.iter().map(|&c| latin_look_alike(c).unwrap_or(c)));
        } else {
            repaired.extend_from_slice(word);
        }
        start = end;
    }

    let mut out: Vec<char> = Vec::with_capacity(repaired.len());
    for c in repaired {
        for lower in c.to_lowercase() {
            if is_combining(lower) {
                if let Some(last) = out.last_mut()
                    && let Some(composed) = compose(*last, lower)
                {
                    *last = composed;
                }
            } else {
                out.push(lower);
            }
        }
    }
    out
}

/// Vowels before which Romanian spells a palatal consonant: ce/ci, ge/gi, che/chi, ghe/ghi.
fn is_front_vowel(c: char) -> bool {
    matches!(
        c,
        'е' | 'ё'
            | 'и'
            | 'ю'
            | 'я'
            | 'і'
            | 'ї'
            | 'є'
            | 'e'
            | 'i'
            | 'é'
            | 'è'
            | 'ê'
            | 'ë'
            | 'ě'
            | 'í'
            | 'ì'
            | 'ï'
    )
}

fn is_cyrillic_consonant(c: char) -> bool {
    is_cyrillic(c)
        && c.is_alphabetic()
        && !matches!(
            c,
            'а' | 'е'
                | 'ё'
                | 'и'
                | 'о'
                | 'у'
                | 'ы'
                | 'э'
                | 'ю'
                | 'я'
                | 'і'
                | 'ї'
                | 'є'
                | 'ь'
                | 'ъ'
                | 'й'
        )
}

/// One lower-case character, with its neighbours for the context rules.
fn fold_char(c: char, prev: Option<char>, next: Option<char>) -> Folded {
    use Folded::{Char, Join, Separator, Text};
    let soft = next.is_some_and(is_front_vowel);
    let word_start = !prev.is_some_and(char::is_alphabetic);
    let word_end = !next.is_some_and(char::is_alphabetic);
    match c {
        'a'..='z' => Char(c),
        // Romanian: â and î are one sound (Cîrlan/Cârlan), ă is often typed as a.
        'ă' => Text("a"),
        'â' | 'î' => Text("i"),
        'ș' | 'ş' => Text("s"),
        'ț' | 'ţ' => Text("t"),
        // Windows-1250 Romanian read as Latin-1: ª º are Ş ş, Þ þ are Ţ ţ (ã is ă, folded below).
        'ª' | 'º' => Text("s"),
        'þ' => Text("t"),
        // Other Latin diacritics, including Gagauz (ä ö ü ç ş ı ê) and Czech-style
        // transliteration of Russian (š č ž), folded to the Romanian spelling of the sound.
        'á' | 'à' | 'ä' | 'ã' | 'å' | 'ā' | 'ą' | 'ǎ' => Text("a"),
        'é' | 'è' | 'ê' | 'ë' | 'ě' | 'ē' | 'ė' | 'ę' => Text("e"),
        'í' | 'ì' | 'ï' | 'ī' | 'ĭ' | 'į' | 'ı' => Text("i"),
        'ó' | 'ò' | 'ô' | 'ö' | 'õ' | 'ő' | 'ø' | 'ō' => Text("o"),
        'ú' | 'ù' | 'û' | 'ü' | 'ů' | 'ű' | 'ū' | 'ŭ' | 'ų' => Text("u"),
        'ý' | 'ÿ' => Text("y"),
        'č' | 'ć' | 'ç' => Text(if soft { "c" } else { "ci" }),
        'š' | 'ś' => Text("s"),
        'ž' => Text("j"),
        'ź' | 'ż' => Text("z"),
        'ď' | 'đ' => Text("d"),
        'ğ' | 'ǧ' => Text("g"),
        'ľ' | 'ĺ' | 'ł' => Text("l"),
        'ń' | 'ň' | 'ñ' => Text("n"),
        'ŕ' | 'ř' => Text("r"),
        'ť' => Text("t"),
        'ß' => Text("ss"),
        'æ' => Text("ae"),
        'œ' => Text("oe"),
        // Cyrillic, Russian and Moldovan, transliterated the Romanian way.
        'а' => Text("a"),
        'б' => Text("b"),
        'в' => Text("v"),
        'г' | 'ґ' => Text(if soft { "gh" } else { "g" }),
        'д' => Text("d"),
        'е' => Text(if matches!(prev, Some('ь' | 'ъ')) {
            "ie"
        } else {
            "e"
        }),
        'ё' => Text("io"),
        'є' => Text("ie"),
        'ж' => Text("j"),
        'з' => Text("z"),
        // Moldovan ы is î (Пынзарь = Pînzari), which folds to i.
        'и' | 'і' | 'ї' | 'й' | 'ы' => Text("i"),
        'к' => Text(if soft { "ch" } else { "c" }),
        'л' => Text("l"),
        'м' => Text("m"),
        'н' => Text("n"),
        'о' => Text("o"),
        'п' => Text("p"),
        'р' => Text("r"),
        'с' => Text("s"),
        'т' => Text("t"),
        'у' | 'ў' => Text("u"),
        'ф' => Text("f"),
        'х' => Text("h"),
        'ц' => Text("t"),
        'ч' => Text(if soft { "c" } else { "ci" }),
        // Moldovan ӂ is the g of "ge/gi": Ӂеорӂе = George, Ӂурӂу = Giurgiu.
        'ӂ' => Text(if soft { "g" } else { "gi" }),
        'ш' => Text("s"),
        // Serbian/Macedonian look-alikes of Latin j and s, folded to their twins.
        'ј' => Text("j"),
        'ѕ' => Text("s"),
        'щ' => Text(if soft { "sc" } else { "sci" }),
        'ъ' => Join,
        // Moldovan word-final ь is a short i: Чеботарь = Cebotari, Морарь = Morari.
        'ь' if word_end && prev.is_some_and(is_cyrillic_consonant) => Text("i"),
        'ь' => Join,
        // Moldovan э is ă (Стефэнукэ = Ştefănucă); Russian initial э is e (Эдуард).
        'э' => Text(if word_start { "e" } else { "a" }),
        'ю' => Text("iu"),
        'я' => Text("ia"),
        c if is_joiner(c) => Join,
        c if c.is_alphabetic() => Char(c),
        _ => Separator,
    }
}

// ---------------------------------------------------------------------------------------------
// Phonetic key
// ---------------------------------------------------------------------------------------------

/// A coarse sound code of each word of `input`, words separated by one space.
///
/// Works on [`fold`]ed text. A word-initial vowel group (including iotated ia/iu/ie/ya/yu/ye)
/// becomes `A`; other vowels are dropped but separate repeated consonants; adjacent repeats
/// collapse. Consonant classes:
///
/// | class | spellings |
/// |---|---|
/// | `S` | s, sh, sz (ș ş š ш fold to s) |
/// | `C` | c before e/i/y, ch, tch, tsch, tsh, cz (č ч fold to c/ci) |
/// | `K` | k, q, ck, c elsewhere (so -nko = -nco), ci before a consonant (Cîrlan = Cirlan = Carlan); x is `KS` |
/// | `G` | g, gh, dj, dzh (Romanian ge/gi, ӂ: Gheorghe = George = Ӂеорӂе) |
/// | `J` | j, zh (ж, ž); j ending a word after a vowel (Sergej) is a vowel |
/// | `H` | h, kh (х) |
/// | `T` | t, th, ts, tz (ț ţ ц fold to t) |
/// | `B` | b, v, w (Iacob = Yakov) |
/// | `F` | f, ph |
/// | `D` `L` `M` `N` `P` `R` `Z` | themselves |
///
/// Letters outside a–z (other scripts) are ignored.
pub fn phonetic_key(input: &str) -> String {
    name_tokens(input)
        .iter()
        .map(|token| word_key(token))
        .filter(|key| !key.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn is_key_vowel(b: u8) -> bool {
    matches!(b, b'a' | b'e' | b'i' | b'o' | b'u' | b'y')
}

fn word_key(token: &str) -> String {
    let word: Vec<u8> = token.bytes().filter(u8::is_ascii_lowercase).collect();
    let mut key = String::new();
    let mut index = 0;
    if word.first().copied().is_some_and(is_key_vowel) {
        key.push('A');
        while index < word.len() && is_key_vowel(word[index]) {
            index += 1;
        }
    }
    // The class last emitted, reset by a vowel so that Popov keeps both P.
    let mut last: Option<char> = None;
    while index < word.len() {
        let (classes, consumed) = classify(&word, index);
        index += consumed;
        if classes.is_empty() {
            last = None;
        }
        for class in classes.chars() {
            if last != Some(class) {
                key.push(class);
            }
            last = Some(class);
        }
    }
    key
}

/// The classes of the sound starting at `word[index]`, and how many letters it spans; no
/// classes for a vowel.
fn classify(word: &[u8], index: usize) -> (&'static str, usize) {
    let rest = &word[index..];
    let prev = index.checked_sub(1).map(|i| word[i]);
    match rest {
        [b't', b's', b'c', b'h', ..] => ("C", 4),
        [b't', b'c', b'h', ..] | [b't', b's', b'h', ..] => ("C", 3),
        [b'd', b'z', b'h', ..] => ("G", 3),
        [b'd', b'j', ..] => ("G", 2),
        [b's', b'h', ..] | [b's', b'z', ..] => ("S", 2),
        [b'z', b'h', ..] => ("J", 2),
        [b'k', b'h', ..] => ("H", 2),
        [b'c', b'h', ..] | [b'c', b'z', ..] => ("C", 2),
        [b'p', b'h', ..] => ("F", 2),
        [b't', b'h', ..] | [b't', b's', ..] | [b't', b'z', ..] => ("T", 2),
        [b'g', b'h', ..] => ("G", 2),
        [b'c', b'k', ..] => ("K", 2),
        // Folded î/â is i, so "cir" may be Cîrlan (/k/) or Cireș (/tʃ/); diacritics are so often
        // missing (Cirlan) that ci before a consonant keys as K.
        [b'c', b'i', next, ..] if !is_key_vowel(*next) => ("K", 1),
        [b'c', b'e' | b'i' | b'y', ..] => ("C", 1),
        [b'c' | b'k' | b'q', ..] => ("K", 1),
        [b'x', ..] => ("KS", 1),
        [b'g', ..] => ("G", 1),
        [b'j'] if prev.is_some_and(is_key_vowel) => ("", 1),
        [b'j', ..] => ("J", 1),
        [b'h', ..] => ("H", 1),
        [b's', ..] => ("S", 1),
        [b'z', ..] => ("Z", 1),
        [b't', ..] => ("T", 1),
        [b'd', ..] => ("D", 1),
        [b'b' | b'v' | b'w', ..] => ("B", 1),
        [b'f', ..] => ("F", 1),
        [b'p', ..] => ("P", 1),
        [b'l', ..] => ("L", 1),
        [b'm', ..] => ("M", 1),
        [b'n', ..] => ("N", 1),
        [b'r', ..] => ("R", 1),
        _ => ("", 1),
    }
}

// ---------------------------------------------------------------------------------------------
// Surname stems
// ---------------------------------------------------------------------------------------------

/// Adjectival -ski surnames in Russian, English, Polish and Romanian transliteration, masculine
/// and feminine (Ковальский = Kovalskii = Kovalsky = Covalschi, Ковальская = Kovalskaya =
/// Covalscaia).
const SKI_ENDINGS: [&str; 17] = [
    "skaia", "skaya", "skaja", "scaia", "scaya", "schii", "skii", "skiy", "skij", "skyi", "skoi",
    "skoy", "skoj", "schi", "sky", "ska", "ski",
];

/// Feminine endings whose masculine form drops the final a.
const FEMININE_ENDINGS: [&str; 4] = ["ova", "eva", "ina", "yna"];

/// Shortest root left before a stripped ending, so that short names (Nina, Iova) stay whole.
const MIN_ROOT: usize = 2;

/// Maps both genders of a Slavic surname to one stem, word by word on the [`fold`]ed form:
/// -ova → -ov, -eva → -ev, -ina → -in, -yna → -yn, and every -skii/-skaia/-ski/-skaya/-schi
/// variant → -ski. Other words are returned folded and unchanged.
pub fn surname_stem(input: &str) -> String {
    name_tokens(input)
        .iter()
        .map(|token| stem_word(token))
        .collect::<Vec<_>>()
        .join(" ")
}

fn stem_word(word: &str) -> String {
    for ending in SKI_ENDINGS {
        if let Some(root) = word.strip_suffix(ending)
            && root.chars().count() >= MIN_ROOT
        {
            return format!("{root}ski");
        }
    }
    for ending in FEMININE_ENDINGS {
        if let Some(root) = word.strip_suffix(ending)
            && root.chars().count() >= MIN_ROOT
        {
            return format!("{root}{}", &ending[..2]);
        }
    }
    word.to_owned()
}

// ---------------------------------------------------------------------------------------------
// String distances
// ---------------------------------------------------------------------------------------------

/// Winkler's prefix scale.
const PREFIX_SCALE: f64 = 0.1;
/// Longest common prefix rewarded.
const MAX_PREFIX: usize = 4;
/// Winkler's boost threshold: the prefix bonus only lifts pairs already this similar, so a
/// shared initial cannot rescue unrelated names.
const BOOST_THRESHOLD: f64 = 0.7;

/// Names and identifiers up to this many characters are compared without a heap allocation.
const STACK_CHARS: usize = 32;

/// Calls `f` with the characters of `text`, held on the stack when there are few.
fn with_chars<R>(text: &str, f: impl FnOnce(&[char]) -> R) -> R {
    let mut buffer = ['\0'; STACK_CHARS];
    let mut len = 0;
    for c in text.chars() {
        if len == STACK_CHARS {
            return f(&text.chars().collect::<Vec<char>>());
        }
        buffer[len] = c;
        len += 1;
    }
    f(&buffer[..len])
}

/// Jaro–Winkler similarity in [0, 1] over Unicode scalar values (pass [`fold`]ed names).
/// Prefix scale 0.1, at most 4 prefix characters, boost applied above a Jaro score of 0.7.
/// Two empty strings are identical (1.0); an empty and a non-empty string share nothing (0.0).
pub fn jaro_winkler(a: &str, b: &str) -> f64 {
    with_chars(a, |a| with_chars(b, |b| jaro_winkler_chars(a, b)))
}

fn jaro_winkler_chars(a: &[char], b: &[char]) -> f64 {
    // A canonical argument order makes the greedy matching, hence the score, symmetric.
    let (first, second) = if (a.len(), a) <= (b.len(), b) {
        (a, b)
    } else {
        (b, a)
    };
    let jaro = if second.len() <= STACK_CHARS {
        jaro(
            first,
            second,
            &mut [false; STACK_CHARS],
            &mut ['\0'; STACK_CHARS],
        )
    } else {
        jaro(
            first,
            second,
            &mut vec![false; second.len()],
            &mut vec!['\0'; first.len()],
        )
    };
    if jaro <= BOOST_THRESHOLD {
        return jaro;
    }
    let prefix = a
        .iter()
        .zip(b)
        .take(MAX_PREFIX)
        .take_while(|(x, y)| x == y)
        .count();
    (jaro + prefix as f64 * PREFIX_SCALE * (1.0 - jaro)).min(1.0)
}

/// Jaro similarity; `second_matched` and `first_matches` are scratch space at least as long
/// as `second` and `first` (`first` is never the longer).
fn jaro(
    first: &[char],
    second: &[char],
    second_matched: &mut [bool],
    first_matches: &mut [char],
) -> f64 {
    if first.is_empty() && second.is_empty() {
        return 1.0;
    }
    if first.is_empty() || second.is_empty() {
        return 0.0;
    }
    let window = (first.len().max(second.len()) / 2).saturating_sub(1);
    let second_matched = &mut second_matched[..second.len()];
    second_matched.fill(false);
    let mut matches = 0;
    for (i, &c) in first.iter().enumerate() {
        let low = i.saturating_sub(window);
        let high = (i + window + 1).min(second.len());
        for j in low..high {
            if !second_matched[j] && second[j] == c {
                second_matched[j] = true;
                first_matches[matches] = c;
                matches += 1;
                break;
            }
        }
    }
    if matches == 0 {
        return 0.0;
    }
    let second_matches = second
        .iter()
        .zip(second_matched.iter())
        .filter(|(_, matched)| **matched)
        .map(|(c, _)| *c);
    let out_of_order = first_matches[..matches]
        .iter()
        .zip(second_matches)
        .filter(|(x, y)| **x != *y)
        .count();
    let m = matches as f64;
    let transpositions = out_of_order as f64 / 2.0;
    (m / first.len() as f64 + m / second.len() as f64 + (m - transpositions) / m) / 3.0
}

/// Edit distance counting insertions, deletions, substitutions and transpositions of adjacent
/// characters (optimal string alignment: no substring is edited twice, so "ca" → "abc" is 3).
pub fn damerau_levenshtein(a: &str, b: &str) -> usize {
    with_chars(a, |a| {
        with_chars(b, |b| {
            let width = b.len() + 1;
            if width <= STACK_CHARS + 1 {
                let mut rows = [0usize; 3 * (STACK_CHARS + 1)];
                optimal_string_alignment(a, b, &mut rows[..3 * width])
            } else {
                optimal_string_alignment(a, b, &mut vec![0; 3 * width])
            }
        })
    })
}

/// Whether [`damerau_levenshtein`] is at most 1 (the same, or one character replaced,
/// inserted or dropped, or two neighbours exchanged), without building its table.
pub fn at_most_one_edit(a: &str, b: &str) -> bool {
    let (mut a, mut b) = (a.chars(), b.chars());
    loop {
        match (a.next(), b.next()) {
            (None, None) => return true,
            (Some(x), Some(y)) if x == y => continue,
            // The first difference: the rest must agree after one edit there.
            (Some(x), Some(y)) => {
                let (rest_a, rest_b) = (a.as_str(), b.as_str());
                let replaced = rest_a == rest_b;
                let inserted = rest_b.strip_prefix(x).is_some_and(|r| r == rest_a);
                let dropped = rest_a.strip_prefix(y).is_some_and(|r| r == rest_b);
                let exchanged = rest_a
                    .strip_prefix(y)
                    .zip(rest_b.strip_prefix(x))
                    .is_some_and(|(ra, rb)| ra == rb);
                return replaced || inserted || dropped || exchanged;
            }
            // One ran out: the other may hold one character more.
            (Some(_), None) => return a.next().is_none(),
            (None, Some(_)) => return b.next().is_none(),
        }
    }
}

/// [`damerau_levenshtein`] over characters, keeping the last three rows of the table in
/// `rows` (three times `b.len() + 1` cells).
fn optimal_string_alignment(a: &[char], b: &[char], rows: &mut [usize]) -> usize {
    let width = b.len() + 1;
    let (mut before_last, mut last, mut current) = (0, width, 2 * width);
    for (j, cell) in rows[last..last + width].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        rows[current] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[last + j] + 1)
                .min(rows[current + j - 1] + 1)
                .min(rows[last + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[before_last + j - 2] + 1);
            }
            rows[current + j] = best;
        }
        (before_last, last, current) = (last, current, before_last);
    }
    rows[last + b.len()]
}

// ---------------------------------------------------------------------------------------------
// Dates
// ---------------------------------------------------------------------------------------------

/// Why a birth date could not be read. Messages never repeat the whole date (personal data).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    #[error("date is empty")]
    Empty,
    #[error("expected YYYY, YYYY-MM or YYYY-MM-DD, got {0} dash-separated parts")]
    Shape(usize),
    #[error("year must be four digits 0001-9999")]
    Year,
    #[error("month must be two digits 01-12 (00 if unknown)")]
    Month,
    #[error("day must be two digits 01-31 (00 if unknown)")]
    Day,
    #[error("an unknown month (00) cannot have a known day")]
    DayWithoutMonth,
    #[error("day {day} does not exist in month {month:02} of that year")]
    NoSuchDay { month: u8, day: u8 },
}

/// A birth date of which only the year, or the year and month, may be known.
/// `day` is meaningful only when `month` is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PartialDate {
    pub year: u16,
    pub month: Option<u8>,
    pub day: Option<u8>,
}

impl PartialDate {
    /// Reads "YYYY-MM-DD", "YYYY-MM" or "YYYY". A month or day of "00" (the civil-registry
    /// convention for "unknown") reads as absent; a known day needs a known month.
    pub fn parse(raw: &str) -> Result<Self, DateError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(DateError::Empty);
        }
        let parts: Vec<&str> = trimmed.split('-').collect();
        if parts.len() > 3 {
            return Err(DateError::Shape(parts.len()));
        }
        let year = digits(parts[0], 4)
            .filter(|&year| year >= 1)
            .ok_or(DateError::Year)?;
        let month = match parts.get(1) {
            None => None,
            Some(part) => match digits(part, 2).ok_or(DateError::Month)? {
                0 => None,
                month @ 1..=12 => Some(month as u8),
                _ => return Err(DateError::Month),
            },
        };
        let day = match parts.get(2) {
            None => None,
            Some(part) => match digits(part, 2).ok_or(DateError::Day)? {
                0 => None,
                day @ 1..=31 => Some(day as u8),
                _ => return Err(DateError::Day),
            },
        };
        match (month, day) {
            (None, Some(_)) => Err(DateError::DayWithoutMonth),
            (Some(month), Some(day)) if day > days_in_month(year, month) => {
                Err(DateError::NoSuchDay { month, day })
            }
            _ => Ok(Self { year, month, day }),
        }
    }

    /// Whether year, month and day are all known.
    pub fn is_complete(&self) -> bool {
        self.month.is_some() && self.day.is_some()
    }

    /// The day dropped when the month is unknown (the fields are public).
    fn effective(self) -> Self {
        Self {
            day: self.month.and(self.day),
            ..self
        }
    }
}

/// The value of exactly `width` ASCII digits.
fn digits(part: &str, width: usize) -> Option<u16> {
    if part.len() != width || !part.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    part.parse().ok()
}

/// Days in `month` of `year` (Gregorian leap years).
pub fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        _ => 31,
    }
}

impl FromStr for PartialDate {
    type Err = DateError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::parse(raw)
    }
}

impl fmt::Display for PartialDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let date = self.effective();
        write!(f, "{:04}", date.year)?;
        if let Some(month) = date.month {
            write!(f, "-{month:02}")?;
            if let Some(day) = date.day {
                write!(f, "-{day:02}")?;
            }
        }
        Ok(())
    }
}

/// How two birth dates agree, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DateAgreement {
    /// Both complete and equal.
    Exact,
    /// Both complete, same year, day and month exchanged (1987-03-05 / 1987-05-03).
    DayMonthSwapped,
    /// One side less precise, and every component known on both sides agrees
    /// (1987 / 1987-03-05, 1987-03 / 1987-03-05).
    Partial,
    /// Both complete and one digit apart: a digit of the day or the month mistyped, or the
    /// day's or the month's two digits exchanged (1987-03-15 / 1987-03-18, 1987-03-05 /
    /// 1987-08-05, 1987-03-12 / 1987-03-21), or the year's last digit within its decade
    /// (1987-03-05 / 1984-03-05). Years further apart are never a typo here: a father and a
    /// son named alike may share a birthday.
    OneDigit,
    /// Same year and month; days differ by more than a digit, or both sides know only year
    /// and month.
    SameYearMonth,
    /// Same year; months differ by more than a digit, or both sides know only the year.
    SameYear,
    /// Years one apart, every component known on both sides otherwise equal.
    OffByOneYear,
    Disagree,
}

/// Grades the agreement of two birth dates, see [`DateAgreement`].
pub fn compare_dates(a: &PartialDate, b: &PartialDate) -> DateAgreement {
    let (a, b) = (a.effective(), b.effective());
    let known_parts_agree = (a.month.is_none() || b.month.is_none() || a.month == b.month)
        && (a.day.is_none() || b.day.is_none() || a.day == b.day);
    if a.year != b.year {
        return if a.year.abs_diff(b.year) == 1 && known_parts_agree {
            DateAgreement::OffByOneYear
        } else if a.is_complete()
            && b.is_complete()
            && a.month == b.month
            && a.day == b.day
            && a.year / 10 == b.year / 10
        {
            DateAgreement::OneDigit
        } else {
            DateAgreement::Disagree
        };
    }
    if a == b {
        return if a.is_complete() {
            DateAgreement::Exact
        } else if a.month.is_some() {
            DateAgreement::SameYearMonth
        } else {
            DateAgreement::SameYear
        };
    }
    if a.is_complete() && b.is_complete() {
        let one_digit_apart = |x: Option<u8>, y: Option<u8>| match (x, y) {
            (Some(x), Some(y)) => {
                x / 10 == y / 10 || x % 10 == y % 10 || (x / 10 == y % 10 && x % 10 == y / 10)
            }
            _ => false,
        };
        if a.month == b.day && a.day == b.month {
            DateAgreement::DayMonthSwapped
        } else if a.month == b.month {
            if one_digit_apart(a.day, b.day) {
                DateAgreement::OneDigit
            } else {
                DateAgreement::SameYearMonth
            }
        } else if a.day == b.day && one_digit_apart(a.month, b.month) {
            DateAgreement::OneDigit
        } else {
            DateAgreement::SameYear
        }
    } else if known_parts_agree {
        DateAgreement::Partial
    } else {
        DateAgreement::SameYear
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn all_equal<T: PartialEq + fmt::Debug>(values: &[T]) {
        for value in values {
            assert_eq!(value, &values[0]);
        }
    }

    fn date(raw: &str) -> PartialDate {
        PartialDate::parse(raw).unwrap()
    }

    // --- Romanian diacritics -------------------------------------------------------------

    #[test]
    fn circumflex_a_and_i_are_one_letter() {
        assert_eq!(fold("Cîrlan"), "cirlan");
        assert_eq!(fold("Cârlan"), "cirlan");
        assert_eq!(fold("CÂRLAN"), "cirlan");
        // Typed without diacritics the vowel differs, but the key ignores inner vowels.
        all_equal(&[
            phonetic_key("Carlan"),
            phonetic_key("Cîrlan"),
            phonetic_key("Cârlan"),
            phonetic_key("Cirlan"),
            phonetic_key("Кырлан"),
            "KRLN".to_owned(),
        ]);
        assert!(jaro_winkler(&fold("Carlan"), &fold("Cîrlan")) > 0.89);
    }

    #[test]
    fn comma_below_and_cedilla_are_one_letter() {
        all_equal(&[
            fold("Ştefan"),
            fold("Ștefan"),
            fold("Stefan"),
            fold("ȘTEFAN"),
            fold("ŞTEFAN"),
            fold("S\u{0326}tefan"),
            fold("S\u{0327}tefan"),
            fold("ªtefan"),
            fold("Штефан"),
            "stefan".to_owned(),
        ]);
        all_equal(&[
            fold("Țurcanu"),
            fold("Ţurcanu"),
            fold("Turcanu"),
            fold("ȚURCANU"),
            fold("ŢURCANU"),
            fold("T\u{0326}urcanu"),
            fold("Þurcanu"),
            "turcanu".to_owned(),
        ]);
        all_equal(&[
            phonetic_key("Țurcanu"),
            phonetic_key("Цуркану"),
            phonetic_key("Tsurkanu"),
            "TRKN".to_owned(),
        ]);
    }

    #[test]
    fn breve_a_is_a_and_decomposed_marks_compose() {
        assert_eq!(fold("Ştefănucă"), "stefanuca");
        assert_eq!(fold("Ca\u{0306}lina"), "calina");
        assert_eq!(fold("Ci\u{0302}rlan"), "cirlan");
        assert_eq!(fold("Ca\u{0302}rlan"), "cirlan");
    }

    #[test]
    fn display_form_is_kept_untouched() {
        let name = NormalizedName::new("  Ştefănucă-Ţurcanu ");
        assert_eq!(name.display, "  Ştefănucă-Ţurcanu ");
        assert_eq!(name.folded, "stefanuca turcanu");
        assert_eq!(name.phonetic, "STFNK TRKN");
    }

    #[test]
    fn punctuation_and_spacing_are_normalised() {
        assert_eq!(fold("  POPESCU  -  Ion,  jr. "), "popescu ion jr");
        assert_eq!(fold("Vasil'ev"), "vasilev");
        assert_eq!(fold("Vasil’ev"), "vasilev");
        assert_eq!(fold("Ion\u{00AD}escu"), "ionescu");
        assert_eq!(fold("Ion2escu"), "ion escu");
        assert_eq!(fold(""), "");
        assert_eq!(fold(" - "), "");
    }

    // --- Cyrillic ---------------------------------------------------------------------------

    #[test]
    fn cyrillic_is_transliterated_the_romanian_way() {
        let cases = [
            ("Жосан", "josan"),
            ("Чебан", "ceban"),
            ("Чобану", "ciobanu"),
            ("Чеботарь", "cebotari"),
            ("Пынзарь", "pinzari"),
            ("Стефэнукэ", "stefanuca"),
            ("Кириак", "chiriac"),
            ("Георге", "gheorghe"),
            ("Ӂеорӂе", "george"),
            ("Ӂурӂу", "giurgiu"),
            ("Кожокару", "cojocaru"),
            ("Лупашку", "lupascu"),
            ("Юрий", "iurii"),
            ("Яков", "iacov"),
            ("Фёдор", "fiodor"),
            ("Евгений", "evghenii"),
            ("Хрущёв", "hrusciov"),
            ("Васильев", "vasiliev"),
            ("Эдуард", "eduard"),
            ("Николай", "nicolai"),
            ("Шевченко", "sevcenco"),
        ];
        for (cyrillic, latin) in cases {
            assert_eq!(fold(cyrillic), latin, "{cyrillic}");
        }
        // Ӂ typed as Ж + combining breve.
        assert_eq!(fold("Ж\u{0306}еорж\u{0306}е"), "george");
    }

    #[test]
    fn cyrillic_look_alikes_in_latin_words_are_repaired() {
        // Cyrillic С, Р, о, р inside Latin words.
        assert_eq!(fold("Сeban"), "ceban");
        assert_eq!(fold("Рорescu"), "popescu");
        // A Latin e inside a Cyrillic word.
        assert_eq!(fold("Чeбан"), "ceban");
    }

    #[test]
    fn shevchenko_variants_share_one_key() {
        let key = phonetic_key("Şevcenco");
        assert_eq!(key, "SBCNK");
        for variant in [
            "Shevchenko",
            "Ševčenko",
            "Шевченко",
            "Sevcenco",
            "Șevcenco",
            "SHEVCHENKO",
        ] {
            assert_eq!(phonetic_key(variant), key, "{variant}");
        }
    }

    #[test]
    fn zh_and_j_converge() {
        all_equal(&[
            phonetic_key("Жосан"),
            phonetic_key("Josan"),
            phonetic_key("Zhosan"),
            phonetic_key("Žosan"),
            "JSN".to_owned(),
        ]);
        assert_eq!(fold("Жосан"), fold("Josan"));
        assert_eq!(phonetic_key("Кожокару"), phonetic_key("Kozhokaru"));
    }

    #[test]
    fn affricate_ch_converges() {
        assert_eq!(fold("Чебан"), fold("Ceban"));
        all_equal(&[
            phonetic_key("Ceban"),
            phonetic_key("Чебан"),
            phonetic_key("Cheban"),
            phonetic_key("Tcheban"),
            phonetic_key("Čeban"),
            "CBN".to_owned(),
        ]);
        all_equal(&[
            phonetic_key("Ciobanu"),
            phonetic_key("Чобану"),
            phonetic_key("Chobanu"),
            phonetic_key("Čobanu"),
        ]);
        // Cyrillic к before и is the Romanian "chi", so Soviet and current records agree.
        assert_eq!(phonetic_key("Кириак"), phonetic_key("Chiriac"));
    }

    #[test]
    fn moldovan_dzhe_and_gheorghe() {
        // Gheorghe in Moldovan Cyrillic is Георге; Ӂеорӂе reads George. Both meet Gheorghe:
        // the key puts g, gh and ӂ in one class, and the folded forms are close.
        all_equal(&[
            phonetic_key("Ӂеорӂе"),
            phonetic_key("Gheorghe"),
            phonetic_key("Георге"),
            phonetic_key("George"),
            "GRG".to_owned(),
        ]);
        assert_eq!(fold("Георге"), fold("Gheorghe"));
        let similarity = jaro_winkler(&fold("Ӂеорӂе"), &fold("Gheorghe"));
        assert!(similarity >= 0.9, "{similarity}");
    }

    #[test]
    fn transliteration_variants_of_given_names_converge() {
        let groups: [&[&str]; 7] = [
            &["Iurie", "Yuri", "Юрий", "Iurii"],
            &["Iacob", "Yakov", "Яков", "Iacov"],
            &["Mihail", "Mikhail", "Михаил"],
            &["Hîncu", "Khynku", "Хынку"],
            &["Fiodor", "Fyodor", "Фёдор"],
            &["Evghenii", "Yevgeniy", "Евгений"],
            &["Alexandr", "Aleksandr", "Александр"],
        ];
        for group in groups {
            let keys: Vec<String> = group.iter().map(|name| phonetic_key(name)).collect();
            all_equal(&keys);
        }
    }

    #[test]
    fn russified_names_stay_apart() {
        // Ştefănucă and its russified form Stepaniuc are linked by name-change records, not by
        // normalisation.
        assert_eq!(fold("Стефэнукэ"), fold("Ştefănucă"));
        assert_ne!(phonetic_key("Ştefănucă"), phonetic_key("Stepaniuc"));
        assert_ne!(phonetic_key("Стефэнукэ"), phonetic_key("Stepaniuc"));
    }

    #[test]
    fn key_covers_every_word_and_ignores_other_scripts() {
        assert_eq!(phonetic_key("Ana-Maria Popescu"), "AN MR PPSK");
        assert_eq!(phonetic_key("Popov"), "PPB");
        assert_eq!(phonetic_key("Sergej"), phonetic_key("Serghei"));
        assert_eq!(phonetic_key(""), "");
        assert_eq!(phonetic_key("王"), "");
    }

    // --- Surname stems ---------------------------------------------------------------------

    #[test]
    fn gendered_surnames_share_a_stem() {
        all_equal(&[
            surname_stem("Иванова"),
            surname_stem("Ivanova"),
            surname_stem("Ivanov"),
            surname_stem("ИВАНОВ"),
            "ivanov".to_owned(),
        ]);
        assert_eq!(surname_stem("Popova"), "popov");
        assert_eq!(surname_stem("Popov"), "popov");
        assert_eq!(surname_stem("Sergheeva"), "sergheev");
        assert_eq!(surname_stem("Ильина"), "ilin");
        assert_eq!(surname_stem("Ilin"), "ilin");
    }

    #[test]
    fn ski_surnames_share_a_stem() {
        for variant in [
            "Kovalskii",
            "Kovalskiy",
            "Kovalsky",
            "Kovalski",
            "Kovalskaya",
            "Kovalskaia",
            "Kovalska",
        ] {
            assert_eq!(surname_stem(variant), "kovalski", "{variant}");
        }
        // Romanian transliteration keeps c, the key still agrees.
        assert_eq!(surname_stem("Ковальская"), "covalski");
        assert_eq!(surname_stem("Ковальский"), "covalski");
        assert_eq!(surname_stem("Covalschi"), "covalski");
        assert_eq!(
            phonetic_key(&surname_stem("Ковальская")),
            phonetic_key(&surname_stem("Kovalsky"))
        );
    }

    #[test]
    fn other_surnames_keep_their_form() {
        assert_eq!(surname_stem("Rusu"), "rusu");
        assert_eq!(surname_stem("Nina"), "nina");
        assert_eq!(surname_stem("Iova"), "iova");
        assert_eq!(surname_stem("Ceban-Popova"), "ceban popov");
    }

    // --- Tokens ----------------------------------------------------------------------------

    #[test]
    fn double_names_are_split() {
        assert_eq!(name_tokens("Ana-Maria"), ["ana", "maria"]);
        assert_eq!(name_tokens("Ana–Maria"), ["ana", "maria"]);
        assert_eq!(
            name_tokens("  ȘTEFAN   cel Mare "),
            ["stefan", "cel", "mare"]
        );
        assert!(name_tokens(" -- ").is_empty());
    }

    // --- Distances -------------------------------------------------------------------------

    fn close(actual: f64, expected: f64) {
        assert!((actual - expected).abs() < 0.001, "{actual} vs {expected}");
    }

    #[test]
    fn jaro_winkler_known_values() {
        close(jaro_winkler("MARTHA", "MARHTA"), 0.961);
        close(jaro_winkler("DWAYNE", "DUANE"), 0.840);
        close(jaro_winkler("DIXON", "DICKSONX"), 0.813);
        close(jaro_winkler("DICKSONX", "DIXON"), 0.813);
        assert_eq!(jaro_winkler("", ""), 1.0);
        assert_eq!(jaro_winkler("ceban", ""), 0.0);
        assert_eq!(jaro_winkler("abc", "xyz"), 0.0);
        assert_eq!(jaro_winkler("ceban", "ceban"), 1.0);
        // A shared first letter does not lift a pair below the boost threshold.
        let low = jaro_winkler("cebotari", "ciobanu");
        assert!(low < 0.8, "{low}");
    }

    #[test]
    fn typos_in_moldovan_names_score_high() {
        assert!(jaro_winkler("turcanu", "turcnau") > 0.95);
        assert!(jaro_winkler("cebotari", "cebotaru") > 0.94);
        assert_eq!(damerau_levenshtein("turcanu", "turcnau"), 1);
    }

    #[test]
    fn damerau_levenshtein_values() {
        assert_eq!(damerau_levenshtein("ca", "ac"), 1);
        assert_eq!(damerau_levenshtein("ca", "abc"), 3);
        assert_eq!(damerau_levenshtein("kitten", "sitting"), 3);
        assert_eq!(damerau_levenshtein("", "ion"), 3);
        assert_eq!(damerau_levenshtein("ion", ""), 3);
        assert_eq!(damerau_levenshtein("", ""), 0);
        assert_eq!(damerau_levenshtein("ștefan", "stefan"), 1);
    }

    // --- Dates -----------------------------------------------------------------------------

    #[test]
    fn dates_parse_in_three_precisions() {
        assert_eq!(
            date("1987-03-05"),
            PartialDate {
                year: 1987,
                month: Some(3),
                day: Some(5)
            }
        );
        assert_eq!(
            date("1987-03"),
            PartialDate {
                year: 1987,
                month: Some(3),
                day: None
            }
        );
        assert_eq!(
            date(" 1987 "),
            PartialDate {
                year: 1987,
                month: None,
                day: None
            }
        );
        assert_eq!(date("1987-00-00"), date("1987"));
        assert_eq!(date("1987-03-00"), date("1987-03"));
        assert_eq!(date("1988-02-29").day, Some(29));
        assert_eq!(date("2000-02-29").day, Some(29));
        assert_eq!("1987-03-05".parse::<PartialDate>(), Ok(date("1987-03-05")));
    }

    #[test]
    fn date_errors_name_the_problem() {
        assert_eq!(PartialDate::parse(""), Err(DateError::Empty));
        assert_eq!(PartialDate::parse("87"), Err(DateError::Year));
        assert_eq!(PartialDate::parse("0000"), Err(DateError::Year));
        assert_eq!(PartialDate::parse("1987/03/05"), Err(DateError::Year));
        assert_eq!(PartialDate::parse("1987-3-5"), Err(DateError::Month));
        assert_eq!(PartialDate::parse("1987-13"), Err(DateError::Month));
        assert_eq!(PartialDate::parse("1987-03-5"), Err(DateError::Day));
        assert_eq!(PartialDate::parse("1987-03-32"), Err(DateError::Day));
        assert_eq!(
            PartialDate::parse("1987-03-05-01"),
            Err(DateError::Shape(4))
        );
        assert_eq!(
            PartialDate::parse("1987-00-05"),
            Err(DateError::DayWithoutMonth)
        );
        assert_eq!(
            PartialDate::parse("1987-02-29"),
            Err(DateError::NoSuchDay { month: 2, day: 29 })
        );
        assert_eq!(
            PartialDate::parse("1900-02-29"),
            Err(DateError::NoSuchDay { month: 2, day: 29 })
        );
        assert_eq!(
            PartialDate::parse("1987-04-31"),
            Err(DateError::NoSuchDay { month: 4, day: 31 })
        );
        let message = PartialDate::parse("1987-02-30").unwrap_err().to_string();
        assert!(
            message.contains("day 30") && !message.contains("1987"),
            "{message}"
        );
    }

    #[test]
    fn dates_display_as_iso() {
        for raw in ["1987-03-05", "1987-03", "1987", "0999"] {
            assert_eq!(date(raw).to_string(), raw);
        }
    }

    #[test]
    fn date_agreements() {
        use DateAgreement::*;
        let cases = [
            ("1987-03-05", "1987-03-05", Exact),
            ("1987-03-05", "1987-05-03", DayMonthSwapped),
            ("1987-03-05", "1987-03-27", SameYearMonth),
            ("1987-03-05", "1987-03-15", OneDigit),
            ("1987-03-12", "1987-03-21", OneDigit),
            ("1987-03-05", "1987-08-05", OneDigit),
            ("1987-03-05", "1984-03-05", OneDigit),
            // Another decade: a father and a son of one name may share a birthday.
            ("1987-03-05", "1957-03-05", Disagree),
            ("1987-03-05", "1987-08-06", SameYear),
            ("1987-03", "1987-03", SameYearMonth),
            ("1987-03-05", "1987-11-20", SameYear),
            ("1987", "1987", SameYear),
            ("1987-03", "1987-04-05", SameYear),
            ("1987-03-05", "1988-03-05", OffByOneYear),
            ("1987-03-05", "1986", OffByOneYear),
            ("1987-03-05", "1987-03", Partial),
            ("1987-03-05", "1987", Partial),
            ("1987", "1987-03", Partial),
            ("1987-03-05", "1988-03-06", Disagree),
            ("1987-03-05", "1978-03-05", Disagree),
            ("1987", "1989", Disagree),
        ];
        for (a, b, expected) in cases {
            assert_eq!(compare_dates(&date(a), &date(b)), expected, "{a} vs {b}");
            assert_eq!(compare_dates(&date(b), &date(a)), expected, "{b} vs {a}");
        }
        // Same day and month is not a swap.
        assert_eq!(
            compare_dates(&date("1987-05-05"), &date("1987-05-05")),
            Exact
        );
        // A day without a month (public fields) is ignored.
        let odd = PartialDate {
            year: 1987,
            month: None,
            day: Some(5),
        };
        assert_eq!(compare_dates(&odd, &date("1987-03-09")), Partial);
        assert_eq!(odd.to_string(), "1987");
    }

    // --- Properties ------------------------------------------------------------------------

    fn name_like() -> impl Strategy<Value = String> {
        let alphabet: Vec<char> = "aăâbcdefghiîjklmnopqrsșştțţuvwxyzĂÂÎȘŞȚŢ -'’ABCZ\
             абвгдеёжзийклмнопрстуфхцчшщъыьэюяӂӁЖЧШЩЪЬЭЮЯ\u{0306}\u{0302}\u{0326}\u{0327}\
             čšžçªºþ1."
            .chars()
            .collect();
        proptest::collection::vec(proptest::sample::select(alphabet), 0..24)
            .prop_map(|chars| chars.into_iter().collect())
    }

    /// Longer than the distances hold on the stack.
    fn long_name_like() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            proptest::sample::select(vec!['a', 'b', 'ă', 'ș', 'c']),
            28..48,
        )
        .prop_map(|chars| chars.into_iter().collect())
    }

    /// The distance with its whole table, as first written.
    fn full_table_damerau_levenshtein(a: &str, b: &str) -> usize {
        let a: Vec<char> = a.chars().collect();
        let b: Vec<char> = b.chars().collect();
        let width = b.len() + 1;
        let mut d = vec![0usize; (a.len() + 1) * width];
        for (j, cell) in d.iter_mut().take(width).enumerate() {
            *cell = j;
        }
        for i in 1..=a.len() {
            d[i * width] = i;
            for j in 1..=b.len() {
                let cost = usize::from(a[i - 1] != b[j - 1]);
                let mut best = (d[(i - 1) * width + j] + 1)
                    .min(d[i * width + j - 1] + 1)
                    .min(d[(i - 1) * width + j - 1] + cost);
                if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                    best = best.min(d[(i - 2) * width + j - 2] + 1);
                }
                d[i * width + j] = best;
            }
        }
        d[a.len() * width + b.len()]
    }

    fn vector_jaro(first: &[char], second: &[char]) -> f64 {
        if first.is_empty() && second.is_empty() {
            return 1.0;
        }
        if first.is_empty() || second.is_empty() {
            return 0.0;
        }
        let window = (first.len().max(second.len()) / 2).saturating_sub(1);
        let mut second_matched = vec![false; second.len()];
        let mut first_matches = Vec::with_capacity(first.len());
        for (i, &c) in first.iter().enumerate() {
            let low = i.saturating_sub(window);
            let high = (i + window + 1).min(second.len());
            for j in low..high {
                if !second_matched[j] && second[j] == c {
                    second_matched[j] = true;
                    first_matches.push(c);
                    break;
                }
            }
        }
        let matches = first_matches.len();
        if matches == 0 {
            return 0.0;
        }
        let second_matches = second
            .iter()
            .zip(&second_matched)
            .filter(|(_, matched)| **matched)
            .map(|(c, _)| *c);
        let out_of_order = first_matches
            .iter()
            .zip(second_matches)
            .filter(|(x, y)| **x != *y)
            .count();
        let m = matches as f64;
        let transpositions = out_of_order as f64 / 2.0;
        (m / first.len() as f64 + m / second.len() as f64 + (m - transpositions) / m) / 3.0
    }

    /// Jaro–Winkler with vectors of its own, as first written.
    fn full_table_jaro_winkler(a: &str, b: &str) -> f64 {
        let a: Vec<char> = a.chars().collect();
        let b: Vec<char> = b.chars().collect();
        let (first, second) = if (a.len(), &a) <= (b.len(), &b) {
            (&a, &b)
        } else {
            (&b, &a)
        };
        let jaro = vector_jaro(first, second);
        if jaro <= BOOST_THRESHOLD {
            return jaro;
        }
        let prefix = a
            .iter()
            .zip(&b)
            .take(MAX_PREFIX)
            .take_while(|(x, y)| x == y)
            .count();
        (jaro + prefix as f64 * PREFIX_SCALE * (1.0 - jaro)).min(1.0)
    }

    fn any_text() -> impl Strategy<Value = String> {
        prop_oneof![name_like(), any::<String>()]
    }

    proptest! {
        #[test]
        fn fold_is_idempotent(text in any_text()) {
            let once = fold(&text);
            prop_assert_eq!(fold(&once), once.clone());
            prop_assert!(!once.starts_with(' ') && !once.ends_with(' ') && !once.contains("  "));
        }

        #[test]
        fn keys_and_stems_depend_only_on_the_folded_form(text in any_text()) {
            let folded = fold(&text);
            prop_assert_eq!(phonetic_key(&folded), phonetic_key(&text));
            prop_assert_eq!(surname_stem(&folded), surname_stem(&text));
        }

        #[test]
        fn jaro_winkler_is_symmetric_and_bounded(a in any_text(), b in any_text()) {
            let forward = jaro_winkler(&a, &b);
            prop_assert_eq!(forward, jaro_winkler(&b, &a));
            prop_assert!((0.0..=1.0).contains(&forward));
            prop_assert_eq!(jaro_winkler(&a, &a), 1.0);
        }

        #[test]
        fn damerau_levenshtein_is_a_symmetric_distance(a in name_like(), b in name_like()) {
            let distance = damerau_levenshtein(&a, &b);
            prop_assert_eq!(distance, damerau_levenshtein(&b, &a));
            prop_assert_eq!(damerau_levenshtein(&a, &a), 0);
            prop_assert!(distance <= a.chars().count().max(b.chars().count()));
        }

        #[test]
        fn distances_match_their_full_table_definitions(
            a in prop_oneof![name_like(), long_name_like()],
            b in prop_oneof![name_like(), long_name_like()],
        ) {
            prop_assert_eq!(damerau_levenshtein(&a, &b), full_table_damerau_levenshtein(&a, &b));
            prop_assert_eq!(jaro_winkler(&a, &b), full_table_jaro_winkler(&a, &b));
        }

        #[test]
        fn at_most_one_edit_is_a_distance_of_at_most_one(
            a in name_like(),
            edit in 0usize..5,
            at in 0usize..24,
            other in name_like(),
        ) {
            let chars: Vec<char> = a.chars().collect();
            let at = at.min(chars.len());
            let mut edited = chars.clone();
            match edit {
                0 if at < chars.len() => edited[at] = 'x',
                1 => edited.insert(at, 'ș'),
                2 if at < chars.len() => { edited.remove(at); }
                3 if at + 1 < chars.len() => edited.swap(at, at + 1),
                _ => {}
            }
            let b: String = edited.into_iter().collect();
            prop_assert_eq!(at_most_one_edit(&a, &b), damerau_levenshtein(&a, &b) <= 1);
            prop_assert_eq!(at_most_one_edit(&b, &a), damerau_levenshtein(&b, &a) <= 1);
            prop_assert_eq!(at_most_one_edit(&a, &other), damerau_levenshtein(&a, &other) <= 1);
        }

        #[test]
        fn dates_round_trip(year in 1u16..=9999, month in 0u8..=12, day in 0u8..=31) {
            let raw = format!("{year:04}-{month:02}-{day:02}");
            if let Ok(parsed) = PartialDate::parse(&raw) {
                prop_assert_eq!(PartialDate::parse(&parsed.to_string()), Ok(parsed));
                prop_assert_ne!(compare_dates(&parsed, &parsed), DateAgreement::Disagree);
            }
        }
    }
}
