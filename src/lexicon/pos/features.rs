//! The tagger's feature templates (after Honnibal's "A good part-of-speech
//! tagger in about 200 lines of Python", 2013, with word shape, a cased word
//! form and two more affixes added), each hashed to a `u64`.
//!
//! Hashing instead of building strings keeps tagging allocation-free per
//! feature and the model file small. The hash is our own (FNV-1a with a
//! SplitMix64 finaliser) so that it never changes under us: a saved model is
//! only valid with the same templates and hash, which [`FEATURE_SET`] names
//! and the model file records.

/// Names the templates and hash below; bump it whenever either changes, so
/// old model files are refused instead of silently mis-scored.
pub(super) const FEATURE_SET: &str = "hotflip-pos-features-v1";

/// Tag ids for the two positions before a sentence (real tags are 0..17).
pub(super) const START: u8 = 17;
pub(super) const START2: u8 = 18;

// Template ids: part of each hash, so equal strings in different templates
// are different features.
const BIAS: u8 = 0;
const WORD: u8 = 1;
const FORM: u8 = 2;
const SUFFIX3: u8 = 3;
const SUFFIX2: u8 = 4;
const PREFIX1: u8 = 5;
const PREFIX3: u8 = 6;
const SHAPE: u8 = 7;
const PREV_TAG: u8 = 8;
const PREV2_TAG: u8 = 9;
const PREV_TAGS: u8 = 10;
const PREV_TAG_WORD: u8 = 11;
const PREV_WORD: u8 = 12;
const PREV_SUFFIX3: u8 = 13;
const PREV2_WORD: u8 = 14;
const NEXT_WORD: u8 = 15;
const NEXT_SUFFIX3: u8 = 16;
const NEXT2_WORD: u8 = 17;

/// Features of one position that do not depend on earlier predictions.
const STATIC_FEATURES: usize = 14;
/// Every feature of a position: the static ones and four on previous tags.
pub(super) const FEATURES: usize = STATIC_FEATURES + 4;

/// One feature's hash under construction.
struct FeatureHash(u64);

impl FeatureHash {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0100_0000_01b3;

    fn new(template: u8) -> Self {
        FeatureHash(Self::OFFSET).byte(template)
    }

    fn byte(mut self, b: u8) -> Self {
        self.0 = (self.0 ^ b as u64).wrapping_mul(Self::PRIME);
        self
    }

    /// A string part, closed by 0xFF (never a byte of UTF-8) so that
    /// ("ab", "c") and ("a", "bc") differ.
    fn str(self, s: &str) -> Self {
        s.bytes().fold(self, FeatureHash::byte).byte(0xFF)
    }

    fn u64(self, x: u64) -> Self {
        x.to_le_bytes().into_iter().fold(self, FeatureHash::byte)
    }

    /// SplitMix64's finaliser spreads FNV's weak high bits, so the hashes
    /// can key a hash table as they are.
    fn finish(self) -> u64 {
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Honnibal's normalisation of context words: hyphenated words, years and
/// other numbers collapse to one class each (their identity rarely decides
/// the tag and they are sparse); everything else is lowercased.
fn normalize(word: &str) -> String {
    let mut chars = word.chars();
    let first = chars.next();
    if word.contains('-') && first != Some('-') {
        "!HYPHEN".to_string()
    } else if word.len() == 4 && word.bytes().all(|b| b.is_ascii_digit()) {
        "!YEAR".to_string()
    } else if first.is_some_and(|c| c.is_ascii_digit()) {
        "!DIGITS".to_string()
    } else {
        word.to_lowercase()
    }
}

/// The last `n` characters (all of a shorter word), on char boundaries.
fn suffix(word: &str, n: usize) -> &str {
    match word.char_indices().rev().nth(n - 1) {
        Some((i, _)) => &word[i..],
        None => word,
    }
}

/// The first `n` characters (all of a shorter word).
fn prefix(word: &str, n: usize) -> &str {
    match word.char_indices().nth(n) {
        Some((i, _)) => &word[..i],
        None => word,
    }
}

/// Word shape with runs collapsed: `Xx` for "London", `d.d` for "3.14",
/// `x'x` for "don't", `X` for "USA": case and digits are what separate
/// PROPN, NUM and SYM from the rest when the word itself is unseen.
fn shape(word: &str) -> String {
    let mut out = String::new();
    let mut last = None;
    for c in word.chars() {
        let s = if c.is_uppercase() {
            'X'
        } else if c.is_lowercase() {
            'x'
        } else if c.is_numeric() {
            'd'
        } else {
            c
        };
        if last != Some(s) {
            out.push(s);
            last = Some(s);
        }
    }
    out
}

/// A sentence prepared for feature extraction: the static features of every
/// position, hashed once, and each word's normalised-form hash for the
/// features that pair it with the previous tag.
pub(super) struct Sentence {
    /// The first position held.
    from: usize,
    static_features: Vec<[u64; STATIC_FEATURES]>,
    word_hashes: Vec<u64>,
}

impl Sentence {
    pub(super) fn new(tokens: &[&str]) -> Self {
        Self::range(tokens, 0, tokens.len())
    }

    /// Positions `from..to` only (`features(i)` for `i` in that range), each
    /// with its real context: what re-tagging around one changed word needs.
    pub(super) fn range(tokens: &[&str], from: usize, to: usize) -> Self {
        let to = to.min(tokens.len());
        let from = from.min(to);
        // Context with two padding words on each side, as in Honnibal's
        // tagger: `context(c)` is token `c − 2`.
        let n = tokens.len();
        let lo = from.saturating_sub(2);
        let hi = (to + 2).min(n);
        let normalized: Vec<String> = tokens[lo..hi].iter().map(|t| normalize(t)).collect();
        let context = |c: usize| -> &str {
            match c {
                0 => "-START-",
                1 => "-START2-",
                c if c - 2 == n => "-END-",
                c if c - 2 == n + 1 => "-END2-",
                c => &normalized[c - 2 - lo],
            }
        };
        let mut static_features = Vec::with_capacity(to - from);
        let mut word_hashes = Vec::with_capacity(to - from);
        for (i, form) in tokens.iter().enumerate().take(to).skip(from) {
            let c = i + 2;
            let lower = form.to_lowercase();
            let f = |t: u8, s: &str| FeatureHash::new(t).str(s).finish();
            static_features.push([
                FeatureHash::new(BIAS).finish(),
                f(WORD, context(c)),
                f(FORM, form),
                f(SUFFIX3, suffix(&lower, 3)),
                f(SUFFIX2, suffix(&lower, 2)),
                f(PREFIX1, prefix(form, 1)),
                f(PREFIX3, prefix(&lower, 3)),
                f(SHAPE, &shape(form)),
                f(PREV_WORD, context(c - 1)),
                f(PREV_SUFFIX3, suffix(context(c - 1), 3)),
                f(PREV2_WORD, context(c - 2)),
                f(NEXT_WORD, context(c + 1)),
                f(NEXT_SUFFIX3, suffix(context(c + 1), 3)),
                f(NEXT2_WORD, context(c + 2)),
            ]);
            word_hashes.push(FeatureHash::new(WORD).str(context(c)).finish());
        }
        Sentence { from, static_features, word_hashes }
    }

    /// Every feature of position `i` given the two tags before it (`START`,
    /// `START2` at the sentence start).
    pub(super) fn features(&self, i: usize, prev: u8, prev2: u8) -> [u64; FEATURES] {
        let mut out = [0u64; FEATURES];
        let k = i - self.from;
        out[..STATIC_FEATURES].copy_from_slice(&self.static_features[k]);
        out[STATIC_FEATURES] = FeatureHash::new(PREV_TAG).byte(prev).finish();
        out[STATIC_FEATURES + 1] = FeatureHash::new(PREV2_TAG).byte(prev2).finish();
        out[STATIC_FEATURES + 2] = FeatureHash::new(PREV_TAGS).byte(prev).byte(prev2).finish();
        out[STATIC_FEATURES + 3] = FeatureHash::new(PREV_TAG_WORD).byte(prev).u64(self.word_hashes[k]).finish();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affixes_respect_char_boundaries() {
        assert_eq!(suffix("naïve", 3), "ïve");
        assert_eq!(suffix("é", 3), "é");
        assert_eq!(prefix("Éclair", 1), "É");
        assert_eq!(prefix("ab", 3), "ab");
    }

    #[test]
    fn normalisation_and_shape() {
        assert_eq!(normalize("well-known"), "!HYPHEN");
        assert_eq!(normalize("-"), "-");
        assert_eq!(normalize("1999"), "!YEAR");
        assert_eq!(normalize("3.5"), "!DIGITS");
        assert_eq!(normalize("The"), "the");
        assert_eq!(shape("London"), "Xx");
        assert_eq!(shape("3.14"), "d.d");
        assert_eq!(shape("don't"), "x'x");
    }

    #[test]
    fn features_are_distinct_and_depend_on_context() {
        let a = Sentence::new(&["the", "dog", "barks"]);
        let f = a.features(1, 5, START);
        let mut unique = f.to_vec();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), FEATURES, "templates must not collide");
        assert_ne!(a.features(1, 5, START), a.features(1, 7, START));
        let b = Sentence::new(&["a", "dog", "barks"]);
        assert_ne!(a.features(1, 5, START), b.features(1, 5, START));
        // Same word, same neighbours, same tags: same features.
        let c = Sentence::new(&["the", "dog", "barks", "loudly"]);
        assert_eq!(a.features(0, START, START2), c.features(0, START, START2));
    }
}
