//! Search over the catalog in both languages: words are folded to lower case without
//! diacritics (`ajutor social` finds `Ajutor social`, `indemnizatie` finds `Indemnizația`,
//! `пособие` finds `Пособие`, `еж` finds `ежемесячное`), and every word of the query must
//! start a word of the benefit's name or sheet, in Romanian or Russian.

use esocial_benefits::catalog::{Benefit, Sheet};

/// A letter without its diacritics, in lower case.
fn fold(letter: char) -> char {
    match letter {
        'ă' | 'â' | 'Ă' | 'Â' | 'á' | 'à' | 'ä' => 'a',
        'î' | 'Î' | 'í' | 'ì' | 'ï' => 'i',
        'ș' | 'ş' | 'Ș' | 'Ş' => 's',
        'ț' | 'ţ' | 'Ț' | 'Ţ' => 't',
        'é' | 'è' | 'ë' => 'e',
        'ё' | 'Ё' => 'е',
        'й' | 'Й' => 'и',
        other => other.to_lowercase().next().unwrap_or(other),
    }
}

/// The folded words of `text`.
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(|word| word.chars().map(fold).collect())
        .collect()
}

fn sheet_text(sheet: &Sheet) -> String {
    let mut text = sheet.summary.clone();
    for line in sheet
        .conditions
        .iter()
        .chain(&sheet.obligations)
        .chain(&sheet.forms)
    {
        text.push(' ');
        text.push_str(line);
    }
    text.push(' ');
    text.push_str(&sheet.payment);
    text
}

/// How well `benefit` answers `query`: `None` when a word of the query is in none of its
/// texts; more when the words are in its name.
pub fn score(benefit: &Benefit, query: &[String]) -> Option<usize> {
    if query.is_empty() {
        return None;
    }
    let name = words(&format!("{} {}", benefit.name.ro, benefit.name.ru));
    let body = words(&format!(
        "{} {}",
        sheet_text(&benefit.sheet.ro),
        sheet_text(&benefit.sheet.ru)
    ));
    let mut score = 0;
    for word in query {
        let in_name = name.iter().any(|w| w.starts_with(word.as_str()));
        let in_body = body.iter().any(|w| w.starts_with(word.as_str()));
        match (in_name, in_body) {
            (false, false) => return None,
            (true, _) => score += 10,
            (false, true) => score += 1,
        }
    }
    Some(score)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_fold_case_and_diacritics_in_both_languages() {
        assert_eq!(words("Indemnizația unică"), ["indemnizatia", "unica"]);
        assert_eq!(words("ÎNGRIJIREA ȘI ţara"), ["ingrijirea", "si", "tara"]);
        assert_eq!(
            words("Ежемесячное пособие, ёлка"),
            ["ежемесячное", "пособие", "елка"]
        );
    }
}
