//! Helpers below every layer that touches files: atomic writes (results
//! files, checkpoints, the POS tagger's model file).

pub mod atomic;
