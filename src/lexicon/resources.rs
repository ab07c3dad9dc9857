//! Finding the lexicon's resources under the shared data root
//! (`../shared/data`), whose README announces "an English POS tagging
//! resource and stop-word list" without saying yet how they will be laid
//! out. The finders accept the layouts such resources are published in and
//! rank what they find, so the attack can use them as soon as they land.
//!
//! Both walk the root at most [`MAX_DEPTH`] folders deep, skip hidden
//! entries (`.cache/`, `.git/`), and treat an unreadable folder as empty.
//! Names are compared case-insensitively, split into tokens at anything not
//! a letter or digit (`UD_English-EWT` → `ud`, `english`, `ewt`).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// How many folders below the root a resource may sit (`ud-treebanks-v2.13/
/// UD_English-EWT/en_ewt-ud-train.conllu` is two).
pub const MAX_DEPTH: usize = 3;

/// What [`find_pos_treebank`] accepts, for messages.
const TREEBANK_RULE: &str = "a *.conllu training file directly in the data root or under a folder named with \
     `pos`, `ud`, `treebank(s)`, `conllu` or `dependencies` (e.g. ud_english_ewt/en_ewt-ud-train.conllu, \
     UD_English-EWT/*train*.conllu, pos/*.conllu), at most 3 folders deep; dev/test files and other languages' \
     UD files are not used";

/// What [`find_stopword_list`] accepts, for messages.
const STOPWORDS_RULE: &str = "a .txt or extension-less file named like stopwords / stop_words / stop-words (e.g. \
     stopwords.txt, stop_words_english.txt), or `english`/`en` in a stopwords folder (NLTK's \
     corpora/stopwords/english), at most 3 folders deep";

/// A CoNLL-U file to train the POS tagger on, or `None`.
///
/// Candidates are `*.conllu` files that are directly in `data_root` or have
/// a folder on their path (below the root) named with one of the tokens
/// `pos`, `ud`, `treebank`, `treebanks`, `conllu`, `dependencies`
/// (`ud_english_ewt/`, `UD_English-EWT/`, `ud-treebanks-v2.13/`, `pos/`,
/// `universal_dependencies/`). Not candidates: files named as dev or test
/// splits (`dev`, `test`, `valid`, `validation` tokens: never train on held-out
/// data) and UD files of another language (UD names files
/// `<language code>_<treebank>-ud-<split>.conllu`; only `en_` is English).
///
/// Of the candidates, the first by: English Web Treebank (an `ewt` token;
/// the treebank the tagger's design was tuned on and the largest English
/// one), then other English ones (an `english` or `en` token), then the
/// rest; a `train` (or `training`) file before others; fewer folders deep; path order.
pub fn find_pos_treebank(data_root: &Path) -> Option<PathBuf> {
    let mut best: Option<((u8, u8, usize, PathBuf), PathBuf)> = None;
    for (path, depth) in files_under(data_root) {
        let name = file_name(&path);
        if !name.to_lowercase().ends_with(".conllu") {
            continue;
        }
        let name_tokens = tokens(&name);
        let held_out = ["dev", "test", "valid", "validation"];
        if name_tokens.iter().any(|t| held_out.contains(&t.as_str())) || other_language_ud_file(&name) {
            continue;
        }
        let folders = folder_tokens(data_root, &path);
        let treebank_words = ["pos", "ud", "treebank", "treebanks", "conllu", "dependencies"];
        if depth > 0 && !folders.iter().any(|t| treebank_words.contains(&t.as_str())) {
            continue;
        }
        let all: Vec<&str> = name_tokens.iter().chain(&folders).map(String::as_str).collect();
        let language = if all.contains(&"ewt") {
            0
        } else if all.contains(&"english") || all.contains(&"en") {
            1
        } else {
            2
        };
        let split = u8::from(!name_tokens.iter().any(|t| t.starts_with("train")));
        let key = (language, split, depth, path.clone());
        if best.as_ref().is_none_or(|(k, _)| key < *k) {
            best = Some((key, path));
        }
    }
    best.map(|(_, p)| p)
}

/// [`find_pos_treebank`], or an error saying what it looked for.
pub fn pos_treebank(data_root: &Path) -> Result<PathBuf> {
    find_pos_treebank(data_root).ok_or_else(|| Error::MissingResource {
        what: "POS treebank (CoNLL-U)",
        root: data_root.to_path_buf(),
        looked_for: TREEBANK_RULE.to_string(),
    })
}

/// A stop-word list file ([`crate::lexicon::stopwords::load_list`] reads
/// it), or `None`.
///
/// Candidates are files with a `.txt` extension or none, and either
/// - a name saying stop-words: its tokens joined contain `stopword`
///   (`stopwords.txt`, `stop_words.txt`, `English-Stop-Words.txt`), and
///   every other token is `english`/`en` or a generic word (`list`,
///   `words`, `default`, `common`, `nltk`, `snowball`, `smart`), so that
///   `stopwords_de.txt` is not taken for English; or
/// - `english`, `english.txt`, `en` or `en.txt` in a folder whose name
///   contains `stopword` (NLTK's `corpora/stopwords/english`).
///
/// Of the candidates, the first by: marked English, fewer folders deep,
/// path order.
pub fn find_stopword_list(data_root: &Path) -> Option<PathBuf> {
    let mut best: Option<((u8, usize, PathBuf), PathBuf)> = None;
    for (path, depth) in files_under(data_root) {
        let name = file_name(&path);
        let lower = name.to_lowercase();
        let stem = match lower.strip_suffix(".txt") {
            Some(stem) => stem,
            None if !lower.contains('.') => lower.as_str(),
            None => continue,
        };
        let english_name = stem == "english" || stem == "en";
        let stem_tokens = tokens(stem);
        let in_stopword_folder = folder_tokens(data_root, &path).join("").contains("stopword");
        let named_stopwords = stem_tokens.join("").contains("stopword")
            && stem_tokens.iter().all(|t| {
                let generic = ["stop", "stopword", "stopwords", "word", "words", "list", "default", "common"];
                let sources = ["nltk", "snowball", "smart", "english", "en"];
                generic.contains(&t.as_str()) || sources.contains(&t.as_str())
            });
        if !(named_stopwords || (english_name && in_stopword_folder)) {
            continue;
        }
        let english = stem_tokens.iter().any(|t| t == "english" || t == "en");
        let key = (u8::from(!english), depth, path.clone());
        if best.as_ref().is_none_or(|(k, _)| key < *k) {
            best = Some((key, path));
        }
    }
    best.map(|(_, p)| p)
}

/// [`find_stopword_list`], or an error saying what it looked for.
pub fn stopword_list(data_root: &Path) -> Result<PathBuf> {
    find_stopword_list(data_root).ok_or_else(|| Error::MissingResource {
        what: "stop-word list",
        root: data_root.to_path_buf(),
        looked_for: STOPWORDS_RULE.to_string(),
    })
}

/// Every non-hidden file under `root`, with how many folders below the root
/// it is, in path order.
fn files_under(root: &Path) -> Vec<(PathBuf, usize)> {
    let mut out = Vec::new();
    let mut stack = vec![(root.to_path_buf(), 0usize)];
    while let Some((dir, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if file_name(&path).starts_with('.') {
                continue;
            }
            // metadata() follows symbolic links, so a data root that links
            // its resources in still works; MAX_DEPTH bounds any cycle.
            match std::fs::metadata(&path) {
                Ok(m) if m.is_dir() && depth < MAX_DEPTH => stack.push((path, depth + 1)),
                Ok(m) if m.is_file() => out.push((path, depth)),
                _ => {}
            }
        }
    }
    out.sort();
    out
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Lowercase tokens of a name, split at anything not a letter or digit.
fn tokens(name: &str) -> Vec<String> {
    name.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|t| !t.is_empty()).map(str::to_string).collect()
}

/// Tokens of the folders between `root` and `path`'s file.
fn folder_tokens(root: &Path, path: &Path) -> Vec<String> {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let folders = rel.parent().map(|p| p.components().collect::<Vec<_>>()).unwrap_or_default();
    folders.iter().flat_map(|c| tokens(&c.as_os_str().to_string_lossy())).collect()
}

/// Whether `name` follows UD's `<code>_<treebank>-ud-<split>.conllu` naming
/// with a language code other than English's `en`.
fn other_language_ud_file(name: &str) -> bool {
    let lower = name.to_lowercase();
    let Some((code, rest)) = lower.split_once('_') else { return false };
    let ud_named = rest.contains("-ud-") || rest.contains("-ud.");
    let code_like = (2..=3).contains(&code.len()) && code.chars().all(|c| c.is_ascii_lowercase());
    ud_named && code_like && code != "en"
}
