//! Stop-words: HotFlip never flips one and never flips a word into one
//! (ATTACKS.md). Function words carry grammar, not content; flipping them
//! ("not" → "now") changes meaning or breaks the sentence rather than
//! making a meaning-preserving adversarial example.
//!
//! The built-in list is NLTK's English list (the classic 179 words of
//! `nltk_data/corpora/stopwords/english`): the list most Python NLP code,
//! and most work replicating HotFlip, filters with; Snowball's 174-word
//! list is close to it but spells the contractions differently and is less
//! often what a reader compares with. It includes the negations ("no", "not", "nor", "don't", ...), so
//! they are never flipped: a flipped negation reverses a review's label
//! instead of fooling the model. [`StopWords::english`] adds the Penn
//! Treebank clitic tokens (`n't`, `'s`, `'re`, ...): they are the words
//! NLTK lists as `t`, `s`, `re` after its own tokeniser split them, and
//! SST-2 and MR in ../shared/data are tokenised the PTB way (`does n't`).

use std::collections::HashSet;
use std::path::Path;
use std::sync::OnceLock;

use crate::error::{Error, Result};
use crate::lexicon::lines::TextLines;

/// NLTK's English stop-word list, in its own order.
pub const NLTK_ENGLISH: [&str; 179] = [
    "i",
    "me",
    "my",
    "myself",
    "we",
    "our",
    "ours",
    "ourselves",
    "you",
    "you're",
    "you've",
    "you'll",
    "you'd",
    "your",
    "yours",
    "yourself",
    "yourselves",
    "he",
    "him",
    "his",
    "himself",
    "she",
    "she's",
    "her",
    "hers",
    "herself",
    "it",
    "it's",
    "its",
    "itself",
    "they",
    "them",
    "their",
    "theirs",
    "themselves",
    "what",
    "which",
    "who",
    "whom",
    "this",
    "that",
    "that'll",
    "these",
    "those",
    "am",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "being",
    "have",
    "has",
    "had",
    "having",
    "do",
    "does",
    "did",
    "doing",
    "a",
    "an",
    "the",
    "and",
    "but",
    "if",
    "or",
    "because",
    "as",
    "until",
    "while",
    "of",
    "at",
    "by",
    "for",
    "with",
    "about",
    "against",
    "between",
    "into",
    "through",
    "during",
    "before",
    "after",
    "above",
    "below",
    "to",
    "from",
    "up",
    "down",
    "in",
    "out",
    "on",
    "off",
    "over",
    "under",
    "again",
    "further",
    "then",
    "once",
    "here",
    "there",
    "when",
    "where",
    "why",
    "how",
    "all",
    "any",
    "both",
    "each",
    "few",
    "more",
    "most",
    "other",
    "some",
    "such",
    "no",
    "nor",
    "not",
    "only",
    "own",
    "same",
    "so",
    "than",
    "too",
    "very",
    "s",
    "t",
    "can",
    "will",
    "just",
    "don",
    "don't",
    "should",
    "should've",
    "now",
    "d",
    "ll",
    "m",
    "o",
    "re",
    "ve",
    "y",
    "ain",
    "aren",
    "aren't",
    "couldn",
    "couldn't",
    "didn",
    "didn't",
    "doesn",
    "doesn't",
    "hadn",
    "hadn't",
    "hasn",
    "hasn't",
    "haven",
    "haven't",
    "isn",
    "isn't",
    "ma",
    "mightn",
    "mightn't",
    "mustn",
    "mustn't",
    "needn",
    "needn't",
    "shan",
    "shan't",
    "shouldn",
    "shouldn't",
    "wasn",
    "wasn't",
    "weren",
    "weren't",
    "won",
    "won't",
    "wouldn",
    "wouldn't",
];

/// Penn Treebank clitic tokens, the PTB spelling of NLTK's `t`, `s`, `re`,
/// `ve`, `ll`, `d`, `m`.
pub const PTB_CLITICS: [&str; 7] = ["n't", "'s", "'re", "'ve", "'ll", "'d", "'m"];

/// A set of stop-words, matched case-insensitively.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StopWords {
    words: HashSet<String>,
}

impl StopWords {
    /// [`NLTK_ENGLISH`] and [`PTB_CLITICS`]: what [`is_stop_word`] uses.
    pub fn english() -> Self {
        Self::from_words(NLTK_ENGLISH.iter().chain(&PTB_CLITICS))
    }

    /// Exactly [`NLTK_ENGLISH`].
    pub fn nltk_english() -> Self {
        Self::from_words(NLTK_ENGLISH)
    }

    /// A list of these words (normalised as lookups are).
    pub fn from_words<I, S>(words: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        StopWords { words: words.into_iter().map(|w| normalize(w.as_ref())).collect() }
    }

    /// Reads a list with one word per line. Blank lines are skipped; `#`
    /// starts a comment (a whole line, or the rest of a line after
    /// whitespace); a line with two words, or a file with none, is an error
    /// (a wrong file is likelier than an intended empty list).
    pub fn load_list(path: &Path) -> Result<Self> {
        let mut lines = TextLines::open(path)?;
        let mut words = HashSet::new();
        while let Some(line) = lines.next_line()? {
            let content = strip_comment(line).trim();
            if content.is_empty() {
                continue;
            }
            if content.split_whitespace().nth(1).is_some() {
                let msg = format!("expected one word per line, found `{content}`");
                return Err(lines.error(msg));
            }
            words.insert(normalize(content));
        }
        if words.is_empty() {
            return Err(Error::BadFile { path: lines.path().to_path_buf(), msg: "no stop-words in the list".into() });
        }
        Ok(StopWords { words })
    }

    /// Whether `word` is on the list, ignoring case and the kind of
    /// apostrophe (`don’t` matches `don't`).
    pub fn contains(&self, word: &str) -> bool {
        self.words.contains(&normalize(word))
    }

    /// Whether `word` has no letter or digit (`,` `?` `...` `--`): a
    /// punctuation token, which word-level attacks never flip.
    pub fn is_punctuation(word: &str) -> bool {
        !word.chars().any(char::is_alphanumeric)
    }

    /// Words in the list.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The words, lowercased, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.words.iter().map(String::as_str)
    }
}

/// [`StopWords::load_list`].
pub fn load_list(path: &Path) -> Result<StopWords> {
    StopWords::load_list(path)
}

/// Whether `word` is an English stop-word ([`StopWords::english`]), ignoring
/// case.
pub fn is_stop_word(word: &str) -> bool {
    static ENGLISH: OnceLock<StopWords> = OnceLock::new();
    ENGLISH.get_or_init(StopWords::english).contains(word)
}

/// Lowercase, with typographic apostrophes as ASCII ones, the way lists
/// spell them.
/// Lowercased, curly apostrophes straightened, and punctuation around the
/// word trimmed: the token `No.` or `(the` is the stop-word `no` or `the`.
fn normalize(word: &str) -> String {
    // Sentence punctuation only: `c#` and `n't` stay what they are.
    let core = word.trim_matches(|c: char| ".,;:!?()[]{}\"“”«»…".contains(c));
    let core = if core.is_empty() { word } else { core };
    core.to_lowercase().replace(['\u{2019}', '\u{2018}'], "'")
}

/// The line up to a `#` that starts it or follows whitespace.
fn strip_comment(line: &str) -> &str {
    let mut prev_space = true;
    for (i, c) in line.char_indices() {
        if c == '#' && prev_space {
            return &line[..i];
        }
        prev_space = c.is_whitespace();
    }
    line
}
