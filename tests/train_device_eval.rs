//! Dev evaluation during `train --device cuda` runs on the device
//! (`train::device_step::predict`): for each architecture that trains
//! there, on the CPU device and on the emulated CUDA device, the
//! probabilities of every sample (the same batches and padding as the
//! tape's `train::predict`, evaluation mode: dropout off) equal the
//! tape's within 1e-5, and so do the figures (`device_step::evaluate_at`
//! against `train::evaluate_at`, a tagger's included). Needs a C++17
//! compiler for the emulator.

#[path = "common/device_train.rs"]
mod device_train;

use device_train::{close, devices};
use hotflip::models::device::DeviceModel;
use hotflip::models::{CharCnnLstmConfig, LstmTextConfig, Model, ModelConfig, WordCnnConfig};
use hotflip::nn::ParamStore;
use hotflip::train::{device_step, evaluate_at, predict, Sample, Target, Tokens};
use hotflip::Rng;

const VOCAB: usize = 17;

/// The four architectures, small, with dropout (which evaluation must not apply).
fn configs() -> Vec<ModelConfig> {
    let text = LstmTextConfig {
        vocab: VOCAB,
        n_classes: 3,
        embed_dim: 6,
        lstm_hidden: 7,
        ffnn_dim: 5,
        normalize_embeddings: true,
        dropout: 0.3,
        max_words: 10,
    };
    vec![
        ModelConfig::CharCnnLstm(CharCnnLstmConfig {
            n_chars: 11,
            n_classes: 3,
            char_dim: 5,
            kernel_widths: vec![1, 3],
            kernel_filters: vec![4, 6],
            highway_layers: 1,
            lstm_hidden: 7,
            lstm_layers: 1,
            max_word_len: 6,
            max_words: 8,
            dropout: 0.3,
        }),
        ModelConfig::LstmClassifier(text.clone()),
        ModelConfig::BilstmTagger(LstmTextConfig { n_classes: 2, ..text }),
        ModelConfig::WordCnn(WordCnnConfig {
            vocab: VOCAB,
            n_classes: 3,
            embed_dim: 6,
            kernel_widths: vec![2, 3],
            kernel_filters: vec![4, 5],
            dropout: 0.3,
            max_words: 10,
        }),
    ]
}

/// `n` samples of 1..=7 words for `cfg` (uneven lengths: several eval batches).
fn samples(cfg: &ModelConfig, rng: &mut Rng, n: usize) -> Vec<Sample> {
    (0..n)
        .map(|index| {
            let len = 1 + rng.below(7);
            let tokens = match cfg {
                ModelConfig::CharCnnLstm(_) => Tokens::Chars(
                    (0..len).map(|_| (0..1 + rng.below(5)).map(|_| 1 + rng.below(10)).collect()).collect(),
                ),
                _ => Tokens::Words((0..len).map(|_| 1 + rng.below(VOCAB - 1)).collect()),
            };
            let target = match cfg {
                ModelConfig::BilstmTagger(_) => Target::Tags((0..len).map(|_| rng.below(2)).collect()),
                _ => Target::Class(rng.below(3)),
            };
            Sample { tokens, target, index }
        })
        .collect()
}

#[test]
fn device_predictions_and_figures_equal_the_tapes() {
    for cfg in configs() {
        let mut store = ParamStore::new();
        let model = Model::new(&cfg, &mut store, &mut Rng::new(3)).unwrap();
        let data = samples(&cfg, &mut Rng::new(4), 11);
        let (batch, min_len) = (4, model.min_len());
        let want = predict(&model, &store, &data, batch).unwrap();
        let want_m = evaluate_at(&model, &store, &data, batch, None).unwrap();
        for dev in devices() {
            let what = format!("{} on {}", cfg.arch(), dev.name());
            let dm = DeviceModel::new(&model, &store, dev.clone()).unwrap();
            let got = device_step::predict(&dm, &cfg, min_len, &data, batch).unwrap();
            assert_eq!(got.len(), want.len(), "{what}");
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                close(&format!("{what}: sample {i}"), g, w, 1e-5);
            }
            let m = device_step::evaluate_at(&dm, &cfg, min_len, &data, batch, None).unwrap();
            assert_eq!(m.confusion, want_m.confusion, "{what}");
            assert_eq!(m.n, want_m.n, "{what}");
            if let (Some(a), Some(b)) = (m.average_precision, want_m.average_precision) {
                assert!((a - b).abs() <= 1e-6, "{what}: AP {a} vs {b}");
            }
        }
    }
}
