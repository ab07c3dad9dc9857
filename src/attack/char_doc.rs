//! A document as the character-level attack edits it: the words the model
//! sees (normalised, cut to the model's word count), which of them were
//! changed, and the edits that can be made to a word.

use serde::{Deserialize, Serialize};

use crate::data::{char_ids, normalised_char_words, Tokenizer, Vocab};

/// The three character operations of HotFlip §3.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CharOp {
    /// Replace one character by another (the word keeps its length).
    Flip,
    /// Add a character before a position (the word grows by one).
    Insert,
    /// Remove one character (the word shrinks by one).
    Delete,
}

impl CharOp {
    /// `flip`, `insert` or `delete`: the name in [`Change::op`](crate::attack::Change::op),
    /// `op_share` and the `--ops` option.
    pub fn name(self) -> &'static str {
        match self {
            CharOp::Flip => "flip",
            CharOp::Insert => "insert",
            CharOp::Delete => "delete",
        }
    }
}

/// One edit of one word: flip the character at `pos` to `ch`, insert `ch`
/// before `pos`, or delete the character at `pos` (`ch` unused).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CharEdit {
    /// Which operation.
    pub op: CharOp,
    /// Index of the word in [`CharDoc::words`].
    pub word: usize,
    /// Character index within that word (0-based).
    pub pos: usize,
    /// The character put in (flip, insert); ignored by a delete.
    pub ch: char,
}

/// The words of a document, as the model sees them, and as written.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CharDoc {
    /// Normalised words (lowercased if the model lowercases), as chars.
    pub words: Vec<Vec<char>>,
    /// Whether each word was edited.
    pub changed: Vec<bool>,
}

impl CharDoc {
    /// The first `max_words` words of `text` (whitespace-split).
    pub fn new(text: &str, tok: Tokenizer, max_words: usize) -> Self {
        let words = normalised_char_words(tok, text, max_words);
        let changed = vec![false; words.len()];
        CharDoc { words, changed }
    }

    /// Character ids of every word (UNK for characters outside `vocab`).
    pub fn ids(&self, vocab: &Vocab) -> Vec<Vec<usize>> {
        self.words.iter().map(|w| char_ids(vocab, w.iter().copied())).collect()
    }

    /// Non-space characters, the base of the change budget.
    pub fn n_chars(&self) -> usize {
        self.words.iter().map(Vec::len).sum()
    }

    /// The word an edit produces, or `None` if the edit does not apply.
    pub fn edited_word(&self, e: &CharEdit) -> Option<Vec<char>> {
        let w = self.words.get(e.word)?;
        let mut out = w.clone();
        match e.op {
            CharOp::Flip if e.pos < w.len() && w[e.pos] != e.ch => out[e.pos] = e.ch,
            CharOp::Insert if e.pos <= w.len() => out.insert(e.pos, e.ch),
            CharOp::Delete if e.pos < w.len() && w.len() > 1 => {
                out.remove(e.pos);
            }
            _ => return None,
        }
        Some(out)
    }

    /// The document after `e` (which must apply).
    pub fn apply(&self, e: &CharEdit) -> Option<CharDoc> {
        let word = self.edited_word(e)?;
        let mut d = self.clone();
        d.words[e.word] = word;
        d.changed[e.word] = true;
        Some(d)
    }

    /// The character an edit removes or replaces (none for insert).
    pub fn from_char(&self, e: &CharEdit) -> Option<char> {
        match e.op {
            CharOp::Insert => None,
            _ => self.words.get(e.word).and_then(|w| w.get(e.pos)).copied(),
        }
    }
}

/// Applies the same edits to a word as written (keeping its case where the
/// normalised form has as many characters), so adversarial text reads like
/// the original.
pub fn edit_display_word(shown: &str, normalised_before: &[char], e: &CharEdit) -> String {
    let mut chars: Vec<char> = shown.chars().collect();
    if chars.len() != normalised_before.len() {
        chars = normalised_before.to_vec();
    }
    match e.op {
        CharOp::Flip => {
            if let Some(c) = chars.get_mut(e.pos) {
                *c = e.ch;
            }
        }
        CharOp::Insert => {
            if e.pos <= chars.len() {
                chars.insert(e.pos, e.ch);
            }
        }
        CharOp::Delete => {
            if e.pos < chars.len() {
                chars.remove(e.pos);
            }
        }
    }
    chars.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_apply_and_refuse() {
        let d = CharDoc::new("The Cat sat", Tokenizer::new(true), 64);
        assert_eq!(d.n_chars(), 9);
        let flip = CharEdit { op: CharOp::Flip, word: 1, pos: 0, ch: 'b' };
        assert_eq!(d.edited_word(&flip).unwrap(), vec!['b', 'a', 't']);
        assert!(d.edited_word(&CharEdit { ch: 'c', ..flip }).is_none(), "a flip to the same char is no edit");
        let ins = CharEdit { op: CharOp::Insert, word: 2, pos: 3, ch: 's' };
        assert_eq!(d.apply(&ins).unwrap().words[2], vec!['s', 'a', 't', 's']);
        let del = CharEdit { op: CharOp::Delete, word: 0, pos: 1, ch: '\0' };
        let after = d.apply(&del).unwrap();
        assert_eq!(after.words[0], vec!['t', 'e']);
        assert_eq!(after.changed, vec![true, false, false]);
        let one = CharDoc::new("a", Tokenizer::new(true), 64);
        assert!(one.apply(&CharEdit { op: CharOp::Delete, word: 0, pos: 0, ch: '\0' }).is_none());
        assert_eq!(
            edit_display_word("Cat", &['c', 'a', 't'], &CharEdit { op: CharOp::Flip, word: 1, pos: 1, ch: 'o' }),
            "Cot"
        );
    }
}
