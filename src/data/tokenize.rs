//! Tokenisation (MODELS.md): words are `split_whitespace()` of the cleaned
//! text, optionally lowercased; a word's characters are its Unicode scalar
//! values.

use std::borrow::Cow;

/// Splits cleaned text into words as a model sees them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tokenizer {
    /// Lowercase words (and so their characters) first; `config.json`'s
    /// `lowercase`.
    pub lowercase: bool,
}

impl Tokenizer {
    /// A tokenizer that lowercases or not.
    pub fn new(lowercase: bool) -> Self {
        Tokenizer { lowercase }
    }

    /// The words of `text`, as written (not lowercased): what an attack
    /// edits and rebuilds text from.
    pub fn split(text: &str) -> Vec<String> {
        text.split_whitespace().map(String::from).collect()
    }

    /// One word as the model sees it.
    pub fn normalize<'a>(&self, word: &'a str) -> Cow<'a, str> {
        if self.lowercase {
            Cow::Owned(word.to_lowercase())
        } else {
            Cow::Borrowed(word)
        }
    }

    /// The words of `text` as the model sees them.
    pub fn words(&self, text: &str) -> Vec<String> {
        self.first_words(text, usize::MAX)
    }

    /// The first `max` words of `text` as the model sees them (a model's
    /// `max_words`): what the word attack and the interpretation read.
    pub fn first_words(&self, text: &str, max: usize) -> Vec<String> {
        text.split_whitespace().take(max).map(|w| self.normalize(w).into_owned()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_on_any_whitespace_and_lowercase_on_request() {
        let text = "The  CAT\tsat\u{a0}on\nÉtienne";
        assert_eq!(Tokenizer::new(false).words(text), ["The", "CAT", "sat", "on", "Étienne"]);
        assert_eq!(Tokenizer::new(true).words(text), ["the", "cat", "sat", "on", "étienne"]);
        assert_eq!(Tokenizer::split(text), Tokenizer::new(false).words(text));
        assert!(Tokenizer::new(true).words(" \n ").is_empty());
    }
}
