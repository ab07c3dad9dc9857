//! Translation with `char_nmt` (HotFlip §4.2): vocabularies, checkpoints,
//! encoded sentence pairs, beam-search decoding and training.

pub mod checkpoint;
pub mod data;
pub mod decode;
pub mod train;
pub mod vocab;

pub use checkpoint::{is_nmt, NmtCheckpoint, NmtConfigFile};
pub use data::{encode_pairs, encode_source, Direction, NmtExample};
pub use decode::{translate, Translation};
pub use vocab::NmtVocab;
