//! A random `char_cnn_lstm` checkpoint and an SST-2-format data set of
//! random words, for the CLI tests that run the real binary on them
//! (`mod char_fixture;`).

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

use hotflip::checkpoint::{self, CheckpointConfig};
use hotflip::data::{ModelVocab, Vocab, VocabKind};
use hotflip::models::{CharCnnLstmConfig, Model, ModelConfig};
use hotflip::nn::ParamStore;
use hotflip::{Rng, Tensor};

pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hotflip"));
    c.args(["--threads", "1", "--device", "cpu"]);
    c
}

/// A temp folder with an SST-2-format data set of random "words" and a
/// random char model whose labels match it.
pub fn setup(prefix: &str, name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let root = std::env::temp_dir().join(format!("hotflip-{prefix}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let data = root.join("sst2");
    std::fs::create_dir_all(&data).unwrap();
    let mut rng = Rng::new(9);
    let alpha: Vec<char> = "abcdefgh".chars().collect();
    let line = |rng: &mut Rng| {
        let n = 3 + rng.below(6);
        let words: Vec<String> =
            (0..n).map(|_| (0..1 + rng.below(6)).map(|_| alpha[rng.below(alpha.len())]).collect()).collect();
        format!("{} {}\n", rng.below(2), words.join(" "))
    };
    for (file, n) in [("stsa.binary.train", 20), ("stsa.binary.dev", 10), ("stsa.binary.test", 40)] {
        let text: String = (0..n).map(|_| line(&mut rng)).collect();
        std::fs::write(data.join(file), text).unwrap();
    }
    let chars = Vocab::from_tokens(VocabKind::Chars, alpha.iter().map(|c| c.to_string()).collect()).unwrap();
    let words = Vocab::from_tokens(VocabKind::Words, vec!["abc".into(), "de".into()]).unwrap();
    let vocab = ModelVocab::new(chars, Some(words)).unwrap();
    let cfg = ModelConfig::CharCnnLstm(CharCnnLstmConfig {
        kernel_widths: vec![1, 2],
        kernel_filters: vec![4, 4],
        char_dim: 4,
        lstm_hidden: 6,
        max_word_len: 8,
        ..CharCnnLstmConfig::small(vocab.vocab.len(), 2)
    });
    let mut store = ParamStore::new();
    Model::new(&cfg, &mut store, &mut Rng::new(3)).unwrap();
    // Larger weights: a model whose output moves with its input.
    let ids: Vec<_> = store.ids().collect();
    for id in ids {
        let t = store.get(id).clone();
        store.set(id, Tensor::new(t.shape(), t.data().iter().map(|v| v * 4.0).collect()).unwrap()).unwrap();
    }
    let labels = vec!["negative".to_string(), "positive".to_string()];
    let model = root.join("model");
    let config = CheckpointConfig {
        model: cfg,
        labels,
        lowercase: true,
        dataset: Some("sst2".into()),
        training: serde_json::Value::Null,
    };
    checkpoint::save(&model, &config, &vocab, &store, &[]).unwrap();
    (root, data, model)
}
