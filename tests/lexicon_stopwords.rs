//! The built-in stop-word list and the loader for lists that come with data.

use std::collections::HashSet;

use hotflip::lexicon::is_stop_word;
use hotflip::lexicon::stopwords::{self, StopWords, NLTK_ENGLISH, PTB_CLITICS};
use hotflip::Error;

#[test]
fn nltk_list_has_its_179_distinct_lowercase_words() {
    let distinct: HashSet<&str> = NLTK_ENGLISH.iter().copied().collect();
    assert_eq!(distinct.len(), 179);
    assert!(NLTK_ENGLISH.iter().all(|w| *w == w.to_lowercase()));
    assert_eq!(StopWords::nltk_english().len(), 179);
    assert_eq!(StopWords::english().len(), 179 + PTB_CLITICS.len());
    // First and last entries as NLTK orders them.
    assert_eq!((NLTK_ENGLISH[0], NLTK_ENGLISH[178]), ("i", "wouldn't"));
}

#[test]
fn stop_words_match_case_insensitively_and_content_words_do_not() {
    for w in ["the", "The", "THE", "not", "Not", "don't", "DON'T", "don’t", "n't", "'s", "itself", "wouldn't"] {
        assert!(is_stop_word(w), "{w}");
    }
    for w in ["movie", "good", "terrible", "never", "film", "", "thee", "nt", "-lrb-", "."] {
        assert!(!is_stop_word(w), "{w}");
    }
    assert!(!StopWords::nltk_english().contains("n't"));
}

#[test]
fn loaded_lists_skip_comments_and_blank_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stop.txt");
    std::fs::write(&path, "\u{feff}# my list\r\nThe\r\n\n  a  \nof # a preposition\nC#\n   # indented comment\n")
        .unwrap();
    let list = stopwords::load_list(&path).unwrap();
    let mut words: Vec<&str> = list.iter().collect();
    words.sort_unstable();
    assert_eq!(words, ["a", "c#", "of", "the"]);
    assert!(list.contains("OF") && list.contains("c#") && !list.contains("my"));
}

#[test]
fn malformed_lists_are_errors_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.txt");
    std::fs::write(&path, "# list\nthe\nof the\n").unwrap();
    let err = StopWords::load_list(&path).unwrap_err();
    assert!(matches!(err, Error::Data { line: 3, .. }), "{err:?}");
    assert!(err.to_string().starts_with(&format!("{}:3: expected one word per line", path.display())), "{err}");

    std::fs::write(&path, "# nothing here\n\n").unwrap();
    let err = StopWords::load_list(&path).unwrap_err();
    assert!(matches!(err, Error::BadFile { .. }) && err.to_string().contains("no stop-words"), "{err}");

    std::fs::write(&path, b"the\n\xe9t\xe9\n").unwrap();
    assert!(StopWords::load_list(&path).unwrap_err().to_string().contains("bad.txt:2: not valid UTF-8"));

    let missing = dir.path().join("missing.txt");
    assert!(matches!(StopWords::load_list(&missing), Err(Error::Io { path, .. }) if path == missing));
}
