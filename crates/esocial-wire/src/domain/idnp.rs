//! Moldovan state identification numbers: IDNP (persons) and IDNO (organisations).
//!
//! Both are 13 digits whose last digit is a check digit: weights 7, 3, 1 repeating over the first
//! twelve digits, sum modulo 10. The check catches every single-digit error but not every
//! transposition, so a valid number is strong evidence, never proof of identity.

use std::fmt;

/// Why a string is not a valid 13-digit state identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentifierError {
    #[error("must be exactly 13 digits, got {0} characters")]
    WrongLength(usize),
    #[error("must contain only digits 0-9")]
    NotDigits,
    #[error("check digit does not match (the number is mistyped)")]
    CheckDigit,
}

/// Computes the check digit of the first twelve digits (weights 7, 3, 1 repeating, sum mod 10).
pub fn check_digit(first_twelve: &[u8; 12]) -> u8 {
    const WEIGHTS: [u32; 3] = [7, 3, 1];
    let sum: u32 = first_twelve
        .iter()
        .enumerate()
        .map(|(position, digit)| u32::from(*digit) * WEIGHTS[position % 3])
        .sum();
    (sum % 10) as u8
}

fn parse_thirteen_digits(raw: &str) -> Result<[u8; 13], IdentifierError> {
    let trimmed = raw.trim();
    let length = trimmed.chars().count();
    if length != 13 {
        return Err(IdentifierError::WrongLength(length));
    }
    let mut digits = [0u8; 13];
    for (slot, character) in digits.iter_mut().zip(trimmed.chars()) {
        *slot = character
            .to_digit(10)
            .ok_or(IdentifierError::NotDigits)
            .map(|d| d as u8)?;
    }
    let mut first_twelve = [0u8; 12];
    first_twelve.copy_from_slice(&digits[..12]);
    if check_digit(&first_twelve) != digits[12] {
        return Err(IdentifierError::CheckDigit);
    }
    Ok(digits)
}

fn digits_to_string(digits: &[u8; 13]) -> String {
    digits.iter().map(|d| char::from(b'0' + d)).collect()
}

/// A personal identification number with a verified check digit. Personal data: its `Debug`
/// prints only a redaction marker, so it cannot leak into logs by accident.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Idnp(String);

impl Idnp {
    pub fn parse(raw: &str) -> Result<Self, IdentifierError> {
        parse_thirteen_digits(raw).map(|digits| Self(digits_to_string(&digits)))
    }

    /// Builds a valid IDNP from twelve leading digits by appending the check digit.
    pub fn from_first_twelve(first_twelve: [u8; 12]) -> Self {
        let mut digits = [0u8; 13];
        digits[..12].copy_from_slice(&first_twelve);
        digits[12] = check_digit(&first_twelve);
        Self(digits_to_string(&digits))
    }

    /// The 13 digits, for the wire. Never pass this to a log macro.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Idnp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Idnp(***)")
    }
}

/// An organisation identification number with a verified check digit. Not personal data.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Idno(String);

impl Idno {
    pub fn parse(raw: &str) -> Result<Self, IdentifierError> {
        parse_thirteen_digits(raw).map(|digits| Self(digits_to_string(&digits)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Idno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_the_published_test_vector() {
        let idno = Idno::parse("1008600038413").expect("published IDNO is valid");
        assert_eq!(idno.as_str(), "1008600038413");
    }

    #[test]
    fn rejects_a_wrong_check_digit() {
        assert_eq!(
            Idno::parse("1008600038414"),
            Err(IdentifierError::CheckDigit)
        );
        assert_eq!(
            Idnp::parse("1008600038410"),
            Err(IdentifierError::CheckDigit)
        );
    }

    #[test]
    fn rejects_wrong_length_and_non_digits() {
        assert_eq!(
            Idnp::parse("100860003841"),
            Err(IdentifierError::WrongLength(12))
        );
        assert_eq!(
            Idnp::parse("10086000384130"),
            Err(IdentifierError::WrongLength(14))
        );
        assert_eq!(
            Idnp::parse("10086O0038413"),
            Err(IdentifierError::NotDigits)
        );
        assert_eq!(Idnp::parse(""), Err(IdentifierError::WrongLength(0)));
        assert_eq!(
            Idnp::parse("१००८६००३८४१३"),
            Err(IdentifierError::WrongLength(12))
        );
    }

    #[test]
    fn debug_output_hides_the_number() {
        let idnp = Idnp::parse("1008600038413").unwrap();
        assert!(!format!("{idnp:?}").contains("1008600038413"));
    }

    #[test]
    fn older_idnps_starting_with_09_are_accepted() {
        let idnp = Idnp::from_first_twelve([0, 9, 7, 2, 0, 0, 1, 2, 3, 4, 5, 6]);
        assert!(idnp.expose().starts_with("09"));
        assert_eq!(Idnp::parse(idnp.expose()), Ok(idnp));
    }

    proptest! {
        #[test]
        fn every_built_number_parses(first in proptest::array::uniform12(0u8..10)) {
            let idnp = Idnp::from_first_twelve(first);
            prop_assert_eq!(Idnp::parse(idnp.expose()), Ok(idnp.clone()));
        }

        #[test]
        fn every_single_digit_error_is_caught(
            first in proptest::array::uniform12(0u8..10),
            position in 0usize..13,
            delta in 1u8..10,
        ) {
            let valid = Idnp::from_first_twelve(first);
            let mut digits: Vec<u8> = valid.expose().bytes().map(|b| b - b'0').collect();
            digits[position] = (digits[position] + delta) % 10;
            let mistyped: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
            prop_assert_eq!(Idnp::parse(&mistyped), Err(IdentifierError::CheckDigit));
        }
    }
}
