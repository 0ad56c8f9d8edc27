//! What the property tests (`proptest`) share: a bounded run, so that CI's
//! time stays fixed, and the one mutation they all try on a valid input.

use proptest::prelude::*;
use proptest::sample::Index;

/// 256 cases a property; a failure is reported, not written to a
/// regression file in the source tree.
pub fn bounded() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// `text` with the character at `at` replaced by `c`.
pub fn with_char_replaced(text: &str, at: Index, c: char) -> String {
    let i = at.index(text.chars().count());
    text.chars()
        .enumerate()
        .map(|(j, x)| if j == i { c } else { x })
        .collect()
}
