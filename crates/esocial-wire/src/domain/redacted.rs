//! A wrapper that keeps personal data out of logs: `Debug` and `Display` print `***`.

use std::fmt;

/// Holds a value that must never be printed in clear (names, IDNPs, birth dates).
#[derive(Clone, PartialEq, Eq)]
pub struct Redacted<T>(T);

impl<T> Redacted<T> {
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The value itself, for the wire or for matching. Never pass it to a log macro.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<T> fmt::Display for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::Redacted;

    #[test]
    fn neither_debug_nor_display_reveal_the_value() {
        let name = Redacted::new("Ion Ceban".to_string());
        assert_eq!(format!("{name:?} {name}"), "*** ***");
        assert_eq!(name.expose(), "Ion Ceban");
    }
}
