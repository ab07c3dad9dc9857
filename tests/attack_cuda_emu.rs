//! `attack --device cuda`'s wiring without a GPU: the character attack with
//! its scoring and top-b pruning on the emulated device (the fused kernels
//! of kernels/hotflip_score.cu run on the CPU through the same launchers and
//! the same `CudaScorer` a GPU run uses) must produce the CPU run's results:
//! the same changes, the same probabilities. Needs a C++17 compiler.
//!
//! The real-GPU version of this (200 AG News documents, ≥ 198 identical)
//! is benches/gpu/device_run.sh with MODEL=...; it needs a GPU.

use std::sync::Arc;

use hotflip::attack::{CharAttacker, Settings, Task};
use hotflip::cuda::Gpu;
use hotflip::data::{ModelVocab, Vocab, VocabKind};
use hotflip::models::{CharCnnLstmConfig, Model, ModelConfig};
use hotflip::nn::ParamStore;
use hotflip::{Rng, Tensor};

const ALPHABET: &str = "abcdefgh";

fn fixture(seed: u64) -> (Model, ParamStore, ModelVocab) {
    let chars = ALPHABET.chars().map(String::from).collect();
    let words = Vocab::from_tokens(VocabKind::Words, vec!["abc".into(), "bad".into(), "cafe".into()]).unwrap();
    let vocab = ModelVocab::new(Vocab::from_tokens(VocabKind::Chars, chars).unwrap(), Some(words)).unwrap();
    let cfg = CharCnnLstmConfig {
        n_chars: vocab.vocab.len(),
        n_classes: 3,
        char_dim: 3,
        kernel_widths: vec![1, 2, 3],
        kernel_filters: vec![3, 4, 2],
        highway_layers: 1,
        lstm_hidden: 5,
        lstm_layers: 1,
        max_word_len: 6,
        max_words: 10,
        dropout: 0.0,
    };
    let mut store = ParamStore::new();
    let model = Model::new(&ModelConfig::CharCnnLstm(cfg), &mut store, &mut Rng::new(seed)).unwrap();
    // Larger weights make the tiny model's output move with its input.
    let ids: Vec<_> = store.ids().collect();
    for id in ids {
        let t = store.get(id).clone();
        let scaled: Vec<f32> = t.data().iter().map(|v| v * 3.0).collect();
        store.set(id, Tensor::new(t.shape(), scaled).unwrap()).unwrap();
    }
    (model, store, vocab)
}

#[test]
fn the_attack_on_the_emulated_device_matches_the_cpu_attack() {
    let gpu = Arc::new(Gpu::emulated().unwrap_or_else(|e| panic!("the CUDA emulator is unavailable: {e}")));
    let (model, store, vocab) = fixture(11);
    let mut rng = Rng::new(12);
    let alphabet: Vec<char> = ALPHABET.chars().collect();
    let tasks: Vec<Task> = (0..4)
        .map(|index| {
            let words: Vec<String> = (0..2 + rng.below(4))
                .map(|_| (0..1 + rng.below(6)).map(|_| alphabet[rng.below(alphabet.len())]).collect())
                .collect();
            Task { index, text: words.join(" "), label: rng.below(3) }
        })
        .collect();
    let settings = Settings { beam: 3, budget: 0.3, ..Settings::default() };
    let cpu = CharAttacker::chars(&model, &store, &vocab, true, settings.clone()).unwrap().attack(&tasks).unwrap();
    let emu =
        CharAttacker::chars_on(&model, &store, &vocab, true, settings, Some(gpu)).unwrap().attack(&tasks).unwrap();
    assert_eq!(cpu.len(), emu.len());
    let mut changed = 0;
    for (c, e) in cpu.iter().zip(&emu) {
        changed += c.changes.len();
        assert_eq!(c.adv_text, e.adv_text, "document {}", c.index);
        assert_eq!((c.adv_pred, c.success, c.skipped), (e.adv_pred, e.success, e.skipped));
        assert_eq!(c.changes.len(), e.changes.len());
        for (a, b) in c.changes.iter().zip(&e.changes) {
            assert_eq!((&a.op, a.word, a.pos, &a.from, &a.to), (&b.op, b.word, b.pos, &b.from, &b.to));
        }
        assert_eq!(c.adv_prob.to_bits(), e.adv_prob.to_bits(), "document {}", c.index);
    }
    assert!(changed > 0, "no document changed: the test does not exercise the scorer");
}

#[test]
#[ignore = "needs a CUDA GPU (run `hotflip device` and benches/gpu/device_run.sh there)"]
fn the_attack_on_a_gpu_matches_the_cpu_attack() {
    let gpu = Arc::new(Gpu::new(0).expect("a CUDA GPU"));
    let (model, store, vocab) = fixture(11);
    let tasks = vec![Task { index: 0, text: "abc bad cafe hedge".into(), label: 0 }];
    let settings = Settings { beam: 3, budget: 0.3, ..Settings::default() };
    let cpu = CharAttacker::chars(&model, &store, &vocab, true, settings.clone()).unwrap().attack(&tasks).unwrap();
    let gpu =
        CharAttacker::chars_on(&model, &store, &vocab, true, settings, Some(gpu)).unwrap().attack(&tasks).unwrap();
    assert_eq!(cpu[0].adv_text, gpu[0].adv_text);
    assert!((cpu[0].adv_prob - gpu[0].adv_prob).abs() <= 1e-4);
}
