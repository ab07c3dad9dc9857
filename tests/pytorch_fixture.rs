//! Checkpoints written by PyTorch load in hotflip and give PyTorch's logits.
//!
//! The fixtures under tests/fixtures/pytorch/ were produced once by
//! `benches/pytorch/checkpoint_compat.py fixture tests/fixtures/pytorch`
//! (PyTorch modules with MODELS.md's names; random weights; token-id inputs
//! with ragged lengths, over-long words and documents, UNK ids). The error
//! measure is max_i |ours_i − torch_i| / max_i |torch_i|, which must stay
//! below 1e-4. Under minimal/ the same script wrote each architecture from
//! MODELS.md alone: config.json without the sizes vocab.json, `labels` and
//! the tensors give (n_chars/vocab, n_classes), which the loader derives.

use std::path::{Path, PathBuf};

use hotflip::checkpoint;
use hotflip::models::{CharBatch, Input, Mode, ModelConfig, WordBatch};
use hotflip::Tape;

fn fixture(arch: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pytorch").join(arch)
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn check(arch: &str) {
    check_dir(arch, &fixture(arch));
}

fn check_dir(arch: &str, dir: &Path) {
    let dir = dir.to_path_buf();
    let ck = checkpoint::load(&dir).unwrap();
    assert_eq!(ck.config.model.arch(), arch);
    let inputs = read_json(&dir.join("inputs.json"));
    let want = read_json(&dir.join("logits.json"));
    let shape: Vec<usize> = serde_json::from_value(want["shape"].clone()).unwrap();
    let want: Vec<f32> = serde_json::from_value(want["logits"].clone()).unwrap();

    let input = match &ck.config.model {
        ModelConfig::CharCnnLstm(c) => {
            let docs: Vec<Vec<Vec<usize>>> = serde_json::from_value(inputs).unwrap();
            Input::Chars(CharBatch::from_docs(&docs, c.max_word_len, c.max_words).unwrap())
        }
        cfg => {
            let sents: Vec<Vec<usize>> = serde_json::from_value(inputs).unwrap();
            Input::Words(WordBatch::from_sentences(&sents, cfg.max_words(), ck.model.min_len()).unwrap())
        }
    };
    let tape = Tape::no_grad();
    let p = tape.bind(&ck.store);
    let out = ck.model.forward(&tape, &p, &input, None, Mode::EVAL).unwrap();
    let got = tape.value(out.logits).unwrap();
    assert_eq!(got.shape(), shape.as_slice(), "{arch}: logits shape");

    // The tagger's padded positions are not predictions: compare true tokens only.
    let lengths = input.lengths().to_vec();
    let keep = |i: usize| -> bool {
        if shape.len() == 3 {
            let (t, c) = (shape[1], shape[2]);
            (i / c) % t < lengths[i / (t * c)]
        } else {
            true
        }
    };
    let scale = want.iter().enumerate().filter(|(i, _)| keep(*i)).map(|(_, v)| v.abs()).fold(0.0f32, f32::max);
    let err = got
        .data()
        .iter()
        .zip(&want)
        .enumerate()
        .filter(|(i, _)| keep(*i))
        .map(|(_, (a, b))| (a - b).abs())
        .fold(0.0f32, f32::max)
        / scale;
    assert!(err < 1e-4, "{arch}: relative error {err} (logits {:?} vs {:?})", got.data(), want);
}

#[test]
fn char_cnn_lstm_matches_pytorch() {
    check("char_cnn_lstm");
}

#[test]
fn word_cnn_matches_pytorch() {
    check("word_cnn");
}

#[test]
fn lstm_classifier_matches_pytorch() {
    check("lstm_classifier");
}

#[test]
fn bilstm_tagger_matches_pytorch() {
    check("bilstm_tagger");
}

#[test]
fn minimal_configs_written_by_pytorch_load_and_match() {
    for arch in ["char_cnn_lstm", "word_cnn", "lstm_classifier", "bilstm_tagger"] {
        let dir = fixture("minimal").join(arch);
        let raw = std::fs::read_to_string(dir.join("config.json")).unwrap();
        for derived in ["n_chars", "\"vocab\"", "n_classes"] {
            assert!(!raw.contains(derived), "{arch}: the fixture gives {derived}");
        }
        check_dir(arch, &dir);
    }
}
