//! Text to the id lists the models take, with the words kept beside them so
//! an attack can edit words and rebuild the text.

use super::tokenize::Tokenizer;
use super::vocab::{Vocab, VocabKind};
use crate::error::{Error, Result};

/// A document for `CharBatch::from_docs`: `ids[w]` are the char ids of
/// `words[w]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodedDoc {
    /// The words as written in the text (not lowercased).
    pub words: Vec<String>,
    /// Char ids of each word.
    pub ids: Vec<Vec<usize>>,
}

/// A sentence for `WordBatch::from_sentences`: `ids[w]` is the id of
/// `words[w]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodedSentence {
    /// The words as written in the text (not lowercased).
    pub words: Vec<String>,
    /// Id of each word.
    pub ids: Vec<usize>,
}

impl EncodedDoc {
    /// The (cleaned, truncated) text: words joined by spaces.
    pub fn text(&self) -> String {
        self.words.join(" ")
    }
}

impl EncodedSentence {
    /// The (cleaned, truncated) text: words joined by spaces.
    pub fn text(&self) -> String {
        self.words.join(" ")
    }
}

/// Words of char ids, for `char_cnn_lstm`. Words are kept whole here;
/// `CharBatch` cuts each to `max_word_len - 1` characters.
#[derive(Clone, Debug)]
pub struct CharEncoder<'a> {
    vocab: &'a Vocab,
    tokenizer: Tokenizer,
    max_words: Option<usize>,
}

impl<'a> CharEncoder<'a> {
    /// `max_words` truncates documents to their first words (MODELS.md), in
    /// `words` as in `ids`.
    pub fn new(vocab: &'a Vocab, tokenizer: Tokenizer, max_words: Option<usize>) -> Result<Self> {
        if vocab.kind() != VocabKind::Chars {
            return Err(Error::invalid("CharEncoder", "needs a chars vocabulary"));
        }
        Ok(CharEncoder { vocab, tokenizer, max_words })
    }

    /// Splits cleaned `text` into words and encodes them.
    pub fn encode(&self, text: &str) -> EncodedDoc {
        let words: Vec<String> =
            text.split_whitespace().take(self.max_words.unwrap_or(usize::MAX)).map(String::from).collect();
        let ids = self.encode_words(&words);
        EncodedDoc { words, ids }
    }

    /// Char ids of each word (after lowercasing if the tokenizer does).
    pub fn encode_words<S: AsRef<str>>(&self, words: &[S]) -> Vec<Vec<usize>> {
        words.iter().map(|w| self.encode_word(w.as_ref())).collect()
    }

    /// Char ids of one word, UNK for characters not in the vocabulary.
    pub fn encode_word(&self, word: &str) -> Vec<usize> {
        char_ids(self.vocab, self.tokenizer.normalize(word).chars())
    }
}

/// The first `max_words` words of `text` as the model sees them
/// (normalised), as characters: what the character attack edits.
pub fn normalised_char_words(tokenizer: Tokenizer, text: &str, max_words: usize) -> Vec<Vec<char>> {
    tokenizer.first_words(text, max_words).iter().map(|w| w.chars().collect()).collect()
}

/// The ids of already normalised characters, UNK for characters outside
/// the (character) vocabulary: the one place characters become ids.
pub fn char_ids(vocab: &Vocab, chars: impl IntoIterator<Item = char>) -> Vec<usize> {
    chars.into_iter().map(|c| vocab.char_id(c)).collect()
}

/// Word ids, for `word_cnn`, `lstm_classifier` and `bilstm_tagger`.
#[derive(Clone, Debug)]
pub struct WordEncoder<'a> {
    vocab: &'a Vocab,
    tokenizer: Tokenizer,
    max_words: Option<usize>,
}

impl<'a> WordEncoder<'a> {
    /// `max_words` truncates sentences to their first words, in `words` as
    /// in `ids`.
    pub fn new(vocab: &'a Vocab, tokenizer: Tokenizer, max_words: Option<usize>) -> Result<Self> {
        if vocab.kind() != VocabKind::Words {
            return Err(Error::invalid("WordEncoder", "needs a words vocabulary"));
        }
        Ok(WordEncoder { vocab, tokenizer, max_words })
    }

    /// Splits cleaned `text` into words and encodes them.
    pub fn encode(&self, text: &str) -> EncodedSentence {
        let words: Vec<String> =
            text.split_whitespace().take(self.max_words.unwrap_or(usize::MAX)).map(String::from).collect();
        let ids = self.encode_words(&words);
        EncodedSentence { words, ids }
    }

    /// Ids of already split words (e.g. a tagged sentence's tokens, or an
    /// attack's edited words); not truncated.
    pub fn encode_words<S: AsRef<str>>(&self, words: &[S]) -> Vec<usize> {
        words.iter().map(|w| self.vocab.id(&self.tokenizer.normalize(w.as_ref()))).collect()
    }

    /// The first words of `text` as the model sees them (normalised, unlike
    /// [`encode`](Self::encode)'s) and their ids: what the word attack
    /// edits and the interpretation reads.
    pub fn encode_normalised(&self, text: &str) -> (Vec<String>, Vec<usize>) {
        let words = self.tokenizer.first_words(text, self.max_words.unwrap_or(usize::MAX));
        let ids = words.iter().map(|w| self.vocab.id(w)).collect();
        (words, ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{CharBatch, WordBatch};

    #[test]
    fn char_docs_feed_char_batch_and_keep_the_words() {
        let t = Tokenizer::new(true);
        let vocab = Vocab::chars_from_texts(["ab ba c"], &t, 1, None);
        let enc = CharEncoder::new(&vocab, t, Some(2)).unwrap();
        let doc = enc.encode("AB  x\tmore words");
        assert_eq!(doc.words, ["AB", "x"]);
        let (a, b) = (vocab.char_id('a'), vocab.char_id('b'));
        assert_eq!(doc.ids, vec![vec![a, b], vec![Vocab::UNK]]);
        assert_eq!(doc.text(), "AB x");
        let batch = CharBatch::from_docs(std::slice::from_ref(&doc.ids), 3, 64).unwrap();
        assert_eq!(batch.ids, [a, b, 0, 1, 0, 0]);
        assert!(WordEncoder::new(&vocab, t, None).is_err());
    }

    #[test]
    fn word_sentences_feed_word_batch() {
        let t = Tokenizer::new(false);
        let vocab = Vocab::words_from_texts(["the cat", "the dog"], &t, 1, None);
        let enc = WordEncoder::new(&vocab, t, None).unwrap();
        let s = enc.encode("the Cat dog");
        assert_eq!(s.ids, [2, Vocab::UNK, vocab.id("dog")]);
        let batch = WordBatch::from_sentences(&[s.ids.clone(), vec![2]], 10, 1).unwrap();
        assert_eq!(batch.lengths, [3, 1]);
        assert!(CharEncoder::new(&vocab, t, None).is_err());
    }
}
