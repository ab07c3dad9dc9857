//! `vocab.json` (MODELS.md): `{"kind": "chars"|"words", "tokens": [...],
//! "word_vocab": [...]?}`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::dataset::io_err;
use super::vocab::{Vocab, VocabKind};
use crate::error::{Error, Result};

/// A model's vocabulary as stored in its checkpoint: the input tokens and,
/// for a character model, the training set's word vocabulary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelVocab {
    /// The input tokens (chars or words).
    pub vocab: Vocab,
    /// The training words a char-level attack may turn a word into
    /// ([`Vocab::contains`] tests membership).
    pub word_vocab: Option<Vocab>,
}

#[derive(Serialize, Deserialize)]
struct VocabJson {
    kind: String,
    tokens: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    word_vocab: Option<Vec<String>>,
}

impl ModelVocab {
    /// `word_vocab`, if given, must be a word vocabulary.
    pub fn new(vocab: Vocab, word_vocab: Option<Vocab>) -> Result<Self> {
        if word_vocab.as_ref().is_some_and(|w| w.kind() != VocabKind::Words) {
            return Err(Error::invalid("ModelVocab", "word_vocab must be a words vocabulary"));
        }
        Ok(ModelVocab { vocab, word_vocab })
    }

    /// Whether `word` is a training word (false without a word vocabulary).
    pub fn contains_word(&self, word: &str) -> bool {
        self.word_vocab.as_ref().is_some_and(|w| w.contains(word))
    }

    /// The JSON text of `vocab.json`.
    pub fn to_json(&self) -> String {
        let file = VocabJson {
            kind: self.vocab.kind().as_str().to_string(),
            tokens: self.vocab.tokens().to_vec(),
            word_vocab: self.word_vocab.as_ref().map(|w| w.tokens().to_vec()),
        };
        // A struct of strings always serialises.
        serde_json::to_string_pretty(&file).unwrap_or_default()
    }

    /// Parses and validates `vocab.json` text; `path` names it in errors.
    pub fn from_json(text: &str, path: &Path) -> Result<Self> {
        let bad = |msg: String| Error::BadFile { path: path.to_path_buf(), msg };
        let file: VocabJson = serde_json::from_str(text).map_err(|e| bad(format!("not a vocab.json: {e}")))?;
        let kind = match file.kind.as_str() {
            "chars" => VocabKind::Chars,
            "words" => VocabKind::Words,
            other => return Err(bad(format!("unknown kind `{other}` (expected `chars` or `words`)"))),
        };
        let vocab = Vocab::from_tokens(kind, file.tokens).map_err(|e| bad(format!("tokens: {}", inner(e))))?;
        let word_vocab = match file.word_vocab {
            Some(words) => Some(
                Vocab::from_tokens(VocabKind::Words, words).map_err(|e| bad(format!("word_vocab: {}", inner(e))))?,
            ),
            None => None,
        };
        Ok(ModelVocab { vocab, word_vocab })
    }

    /// Writes `vocab.json` to `path` (the checkpoint writer makes the whole
    /// directory atomic).
    pub fn save(&self, path: &Path) -> Result<()> {
        std::fs::write(path, self.to_json()).map_err(io_err(path))
    }

    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(io_err(path))?;
        Self::from_json(super::strip_bom(&text), path)
    }
}

fn inner(e: Error) -> String {
    match e {
        Error::InvalidArgument { msg, .. } => msg,
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_exact_format() {
        let chars = Vocab::build_chars(["ab", "b"], 1, None);
        let words = Vocab::build_words(["ab", "b", "b"], 1, None);
        let mv = ModelVocab::new(chars, Some(words)).unwrap();
        let json = mv.to_json();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value, serde_json::json!({"kind": "chars", "tokens": ["b", "a"], "word_vocab": ["b", "ab"]}));
        assert_eq!(ModelVocab::from_json(&json, Path::new("v.json")).unwrap(), mv);
        assert!(mv.contains_word("ab") && !mv.contains_word("a"));

        let wv = ModelVocab::new(Vocab::build_words(["x"], 1, None), None).unwrap();
        assert_eq!(wv.to_json().replace(char::is_whitespace, ""), r#"{"kind":"words","tokens":["x"]}"#);
    }

    #[test]
    fn invalid_files_are_errors_naming_the_file() {
        let p = Path::new("ckpt/vocab.json");
        let cases = [
            (r#"{"kind": "bytes", "tokens": []}"#, "unknown kind `bytes`"),
            (r#"{"kind": "words", "tokens": ["a", "a"]}"#, "duplicate token `a`"),
            (r#"{"kind": "chars", "tokens": ["a"], "word_vocab": ["x", "x"]}"#, "word_vocab: duplicate"),
            (r#"{"kind": "chars", "tokens": ["ab"]}"#, "not one character"),
            (r#"{"tokens": []}"#, "missing field `kind`"),
            ("[1, 2", "not a vocab.json"),
        ];
        for (text, want) in cases {
            let msg = ModelVocab::from_json(text, p).unwrap_err().to_string();
            assert!(msg.starts_with("ckpt/vocab.json: ") && msg.contains(want), "{text} -> {msg}");
        }
    }
}
