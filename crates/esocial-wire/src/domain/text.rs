//! Free text that must say something, such as a request's legal basis and reason.

use unicode_general_category::{GeneralCategory, get_general_category};

/// Fewest letters a text needs to count as words.
pub const MIN_LETTERS: usize = 3;

/// Whether `text` has at least [`MIN_LETTERS`] letters, in any script (Latin with ș ț ă â î,
/// Cyrillic...). Format characters (zero-width spaces and joiners, byte-order marks,
/// direction marks), whitespace, digits, punctuation, symbols and lone combining marks are
/// not letters, so "---", "..." or a run of zero-width spaces does not count.
pub fn has_words(text: &str) -> bool {
    text.chars()
        .filter(|&c| is_letter(c))
        .nth(MIN_LETTERS - 1)
        .is_some()
}

/// Letters proper (Unicode Lu, Ll, Lt, Lo); modifier letters (Lm) are mostly diacritics.
fn is_letter(c: char) -> bool {
    matches!(
        get_general_category(c),
        GeneralCategory::UppercaseLetter
            | GeneralCategory::LowercaseLetter
            | GeneralCategory::TitlecaseLetter
            | GeneralCategory::OtherLetter
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use proptest::sample::select;

    /// Format characters (Cf) and whitespace that must not count.
    const INVISIBLE: &[char] = &[
        '\u{200B}', '\u{200C}', '\u{200D}', '\u{200E}', '\u{200F}', '\u{2060}', '\u{FEFF}',
        '\u{202A}', '\u{202E}', '\u{00AD}', ' ', '\t', '\n', '\u{00A0}', '\u{3000}',
    ];
    /// Characters that are not letters.
    const NOT_LETTERS: &[char] = &[
        '-', '.', '…', '_', '/', '*', '0', '7', '№', '§', '(', ')', '«', '»', '—', '\u{0301}',
        '\u{0306}', 'ʼ', '🙂',
    ];
    const LETTERS: &[char] = &[
        'a', 'L', 'ș', 'ț', 'ă', 'â', 'î', 'Ș', 'Ț', 'з', 'Ж', 'ё', 'ӂ', 'Ă', 'ß', 'ω',
    ];

    #[test]
    fn real_words_in_any_script_count() {
        for text in [
            "Legea nr. 123/2010, art. 12",
            "Evaluarea inițială a cazului",
            "Закон № 123",
            "ăîș",
            "Hotărârea Guvernului nr. 1",
            "L\u{200B}e\u{200B}g",
        ] {
            assert!(has_words(text), "{text:?}");
        }
    }

    #[test]
    fn punctuation_digits_and_invisible_characters_do_not() {
        for text in [
            "",
            "   ",
            "---",
            "...",
            "…",
            "\u{200B}\u{200B}\u{200B}\u{200B}",
            "\u{FEFF}\u{2060}\u{200E}\u{200F}",
            "123/2010",
            "ab",
            "a - b",
            "\u{0301}\u{0301}\u{0301}",
            "ʼʼʼ",
        ] {
            assert!(!has_words(text), "{text:?}");
        }
    }

    fn text_of(choices: &'static [char]) -> impl Strategy<Value = String> {
        proptest::collection::vec(select(choices), 0..40).prop_map(String::from_iter)
    }

    proptest! {
        #[test]
        fn text_without_letters_never_counts(
            visible in text_of(NOT_LETTERS),
            invisible in text_of(INVISIBLE),
        ) {
            let mixed: String = visible.chars().zip(invisible.chars().chain(std::iter::repeat(' ')))
                .flat_map(|(a, b)| [a, b])
                .collect();
            prop_assert!(!has_words(&visible));
            prop_assert!(!has_words(&invisible));
            prop_assert!(!has_words(&mixed));
        }

        #[test]
        fn invisible_characters_never_change_the_verdict(
            text in proptest::collection::vec(
                prop_oneof![select(LETTERS), select(NOT_LETTERS)], 0..12),
            invisible in select(INVISIBLE),
            every in 1usize..4,
        ) {
            let plain = String::from_iter(&text);
            let padded: String = text
                .iter()
                .enumerate()
                .flat_map(|(i, &c)| if i % every == 0 { vec![invisible, c] } else { vec![c] })
                .collect();
            let letters = text.iter().filter(|c| LETTERS.contains(c)).count();
            prop_assert_eq!(has_words(&plain), letters >= MIN_LETTERS);
            prop_assert_eq!(has_words(&padded), has_words(&plain));
        }
    }
}
