//! Data sets, tokenisation and vocabularies: everything between the files in
//! `../shared/data` and the id tensors the models take.
//!
//! - [`load`] resolves a data set's folder ([`locate`]) and dispatches on its
//!   name to a loader (`ag_news`, `ag_news_small`, `sst2`, `mr`, `imdb`,
//!   `fce`, `multi30k`); each returns a [`Dataset`] with train/dev/test
//!   splits, label names and a description of the split it used.
//! - [`Tokenizer`] splits cleaned text into words (MODELS.md).
//! - [`Vocab`] maps characters or words to ids (0 = PAD, 1 = UNK) and reads
//!   and writes `vocab.json` through [`ModelVocab`].
//! - [`CharEncoder`] and [`WordEncoder`] turn text into the nested id lists
//!   `CharBatch::from_docs` and `WordBatch::from_sentences` take, keeping the
//!   word strings beside the ids.

pub mod ag_news;
mod clean;
mod dataset;
mod encode;
pub mod fce;
pub mod imdb;
mod labeled_lines;
pub mod lines;
mod locate;
pub mod mr;
pub mod multi30k;
mod registry;
mod split_files;
pub mod sst2;
mod tokenize;
pub mod vectors;
mod vocab;
mod vocab_file;

pub use clean::{clean_ag_news, decode_latin1};
pub use dataset::{Dataset, Example, LoadOptions, ParallelPair, SkippedRow, TaggedSentence};
pub use encode::{char_ids, normalised_char_words, CharEncoder, EncodedDoc, EncodedSentence, WordEncoder};
pub use lines::{strip_bom, strip_bom_bytes};
pub use locate::{locate, locate_from, locate_in, DATA_ENV};
pub use registry::{load, AnyDataset, KNOWN};
pub use tokenize::Tokenizer;
pub use vocab::{LabelVocab, Vocab, VocabKind};
pub use vocab_file::ModelVocab;
