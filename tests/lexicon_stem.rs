//! Same-lexeme checks on pairs whose Porter2 stems are known.

use hotflip::lexicon::{same_lexeme, stem};

#[test]
fn inflected_and_derived_forms_share_a_lexeme() {
    for (a, b) in [
        ("running", "runs"),
        ("runs", "run"),
        ("Running", "RUN"),
        ("film", "films"),
        ("movie", "movies"),
        ("flies", "fly"),
        ("connection", "connected"),
        ("happy", "happiness"),
        ("generous", "generously"),
        ("boring", "bored"),
    ] {
        assert!(same_lexeme(a, b), "{a} / {b}: stems {} / {}", stem(a), stem(b));
        assert!(same_lexeme(b, a), "symmetric: {b} / {a}");
    }
}

#[test]
fn different_words_and_irregular_forms_are_different_lexemes() {
    for (a, b) in [
        ("good", "better"),
        ("run", "ran"),
        ("go", "went"),
        ("cat", "dog"),
        ("good", "bad"),
        ("movie", "film"),
        ("funny", "fun"),
        ("terrible", "terrific"),
    ] {
        assert!(!same_lexeme(a, b), "{a} / {b}: stems {} / {}", stem(a), stem(b));
    }
}

#[test]
fn stems_are_porter2_stems_of_the_lowercased_word() {
    assert_eq!(stem("Running"), "run");
    assert_eq!(stem("generously"), "generous");
    assert_eq!(stem("happiness"), "happi");
    assert_eq!(stem("ÉTUDES"), stem("études"));
    assert!(same_lexeme("", ""));
    assert!(same_lexeme("The", "the"));
}
