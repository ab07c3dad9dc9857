//! Same-lexeme checks on pairs whose Porter2 stems are known.

use hotflip::lexicon::{same_lexeme, stem, StemIndex};

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

/// A vocabulary's interned stems answer exactly as `same_lexeme` on every
/// pair of its words.
#[test]
fn stem_index_agrees_with_same_lexeme_on_every_pair() {
    let words = [
        "running",
        "runs",
        "run",
        "Running",
        "RUN",
        "film",
        "films",
        "Film",
        "movie",
        "movies",
        "flies",
        "fly",
        "happy",
        "happiness",
        "university",
        "universe",
        "ran",
        "better",
        "good",
        "",
        "The",
        "the",
    ];
    let index = StemIndex::new(words.iter().copied());
    assert_eq!(index.len(), words.len());
    let mut same = 0;
    for (a, wa) in words.iter().enumerate() {
        for (b, wb) in words.iter().enumerate() {
            assert_eq!(index.same(a, b), same_lexeme(wa, wb), "{wa} / {wb}");
            same += usize::from(index.same(a, b));
        }
    }
    assert!(same > words.len(), "some distinct words share a stem");
    assert!(!index.same(0, words.len()), "an id outside the list matches nothing");
}
