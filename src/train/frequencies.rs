//! The word frequencies that normalise the LSTM models' embeddings.
//!
//! MODELS.md (after Miyato et al. 2017): with `normalize_embeddings`, the
//! table is `(E − m)/√(v + 1e-6)` with mean and variance weighted by each
//! word's relative frequency in the training set, stored as the buffer
//! `embedding.freq`. A fresh model holds uniform weights there; this fills
//! in the real ones from the encoded training split, so that frequent words
//! dominate the statistics as the paper intends.

use crate::error::{Error, Result};
use crate::nn::ParamStore;
use crate::tensor::Tensor;
use crate::train::samples::{Sample, Tokens};

/// The buffer's PyTorch name.
pub const FREQ: &str = "embedding.freq";

/// Sets `embedding.freq` to each word id's share of the training tokens
/// (PAD 0). Returns false, changing nothing, for a model without the buffer.
pub fn set_embedding_frequencies(store: &mut ParamStore, train: &[Sample]) -> Result<bool> {
    let Some(id) = store.id(FREQ) else { return Ok(false) };
    let v = store.get(id).numel();
    let mut counts = vec![0u64; v];
    for s in train {
        let Tokens::Words(ids) = &s.tokens else {
            return Err(Error::invalid("embedding frequencies", "a word model's training samples hold characters"));
        };
        for &w in ids {
            *counts.get_mut(w).ok_or_else(|| {
                Error::invalid("embedding frequencies", format!("word id {w} is outside the vocabulary of {v}"))
            })? += 1;
        }
    }
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return Err(Error::invalid("embedding frequencies", "the training split has no words"));
    }
    let freq = counts.iter().map(|&c| (c as f64 / total as f64) as f32).collect();
    store.set(id, Tensor::new(&[v], freq)?)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{LstmTextConfig, Model, ModelConfig, WordCnnConfig};
    use crate::rng::Rng;
    use crate::train::samples::Target;

    fn words(ids: Vec<usize>) -> Sample {
        Sample { tokens: Tokens::Words(ids), target: Target::Class(0), index: 0 }
    }

    #[test]
    fn shares_of_training_tokens_with_pad_at_zero() {
        let cfg = ModelConfig::LstmClassifier(LstmTextConfig::small(5, 2));
        let mut store = ParamStore::new();
        Model::new(&cfg, &mut store, &mut Rng::new(0)).unwrap();
        let train = vec![words(vec![2, 2, 3]), words(vec![2, 1, 4, 4])];
        assert!(set_embedding_frequencies(&mut store, &train).unwrap());
        let f = store.by_name(FREQ).unwrap().data().to_vec();
        let expect = [0.0, 1.0 / 7.0, 3.0 / 7.0, 1.0 / 7.0, 2.0 / 7.0];
        for (a, b) in f.iter().zip(expect) {
            assert!((a - b).abs() < 1e-7, "{f:?}");
        }
        assert!(set_embedding_frequencies(&mut store, &[words(vec![9])]).is_err(), "id 9 of 5");
    }

    #[test]
    fn models_without_the_buffer_are_left_alone() {
        let cfg = ModelConfig::WordCnn(WordCnnConfig::small(5, 2));
        let mut store = ParamStore::new();
        Model::new(&cfg, &mut store, &mut Rng::new(0)).unwrap();
        assert!(!set_embedding_frequencies(&mut store, &[words(vec![2])]).unwrap());
    }
}
