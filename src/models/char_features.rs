//! Kim et al. (2016)'s character word features, shared by `char_cnn_lstm`
//! and `char_nmt`'s encoder: character embeddings → one max-pooled
//! convolution per width → highway layers, one feature vector per word.

use crate::error::{Error, Result};
use crate::models::CharBatch;
use crate::nn::{init, Bound, Highway, ParamId, ParamStore};
use crate::rng::Rng;
use crate::tape::{Tape, Var};

/// The sizes of the character feature extractor.
#[derive(Clone, Debug, PartialEq)]
pub struct CharFeatureSizes<'a> {
    /// Character vocabulary size including PAD (0) and UNK (1).
    pub n_chars: usize,
    /// Width of a character embedding.
    pub char_dim: usize,
    /// Convolution widths in characters, one max-pooled convolution per width.
    pub kernel_widths: &'a [usize],
    /// Filters per width (same length as `kernel_widths`); their sum is `F`.
    pub kernel_filters: &'a [usize],
    /// Highway layers applied to the pooled features (0 allowed).
    pub highway_layers: usize,
    /// Characters per word `L`; batches must have exactly this many.
    pub max_word_len: usize,
}

/// Character embeddings → max-pooled convolutions → highway layers: one
/// `F`-sized feature vector per word. The PAD row (id 0) of the embedding is
/// initialised to zero.
#[derive(Clone, Debug)]
pub struct CharFeatures {
    n_chars: usize,
    max_word_len: usize,
    char_embedding: ParamId,
    convs: Vec<(ParamId, ParamId)>,
    highway: Vec<Highway>,
}

impl CharFeatures {
    /// Adds `{prefix}char_embedding.weight`, `{prefix}convs.{i}.*` and
    /// `{prefix}highway.{l}.*` to `store`, in that order.
    pub fn new(store: &mut ParamStore, prefix: &str, s: &CharFeatureSizes<'_>, rng: &mut Rng) -> Result<Self> {
        let char_embedding = store
            .add(&format!("{prefix}char_embedding.weight"), init::embedding(s.n_chars, s.char_dim, Some(0), rng)?)?;
        let mut convs = Vec::new();
        for (i, (&w, &f)) in s.kernel_widths.iter().zip(s.kernel_filters).enumerate() {
            let (wt, b) = init::conv1d(f, s.char_dim, w, rng);
            convs.push((
                store.add(&format!("{prefix}convs.{i}.weight"), wt)?,
                store.add(&format!("{prefix}convs.{i}.bias"), b)?,
            ));
        }
        let feats: usize = s.kernel_filters.iter().sum();
        let highway = (0..s.highway_layers)
            .map(|l| Highway::new(store, &format!("{prefix}highway.{l}"), feats, rng))
            .collect::<Result<_>>()?;
        Ok(CharFeatures { n_chars: s.n_chars, max_word_len: s.max_word_len, char_embedding, convs, highway })
    }

    /// The character embeddings of a batch, `[B·W, L, char_dim]`.
    pub fn embed(&self, tape: &Tape, p: &Bound, x: &CharBatch, model: &'static str) -> Result<Var> {
        if x.chars != self.max_word_len {
            return Err(Error::invalid(
                model,
                format!("batch has {} chars per word, the model {}", x.chars, self.max_word_len),
            ));
        }
        if let Some(&id) = x.ids.iter().find(|&&id| id >= self.n_chars) {
            return Err(Error::IndexOutOfRange { op: "char id", index: id, size: self.n_chars });
        }
        tape.embedding(p.var(self.char_embedding), &x.ids, &[x.batch * x.words, x.chars], Some(0))
    }

    /// Word features `[B·W, F]` from character embeddings.
    pub fn features(&self, tape: &Tape, p: &Bound, embedded: Var) -> Result<Var> {
        let kernels: Vec<(Var, Var)> = self.convs.iter().map(|&(w, b)| (p.var(w), p.var(b))).collect();
        let mut h = tape.char_conv_features(embedded, &kernels)?;
        for hw in &self.highway {
            h = hw.forward(tape, p, h)?;
        }
        Ok(h)
    }

    /// The character embedding table `[n_chars, char_dim]`.
    pub fn embedding_param(&self) -> ParamId {
        self.char_embedding
    }
}
