//! `attack --device cuda` at word level without a GPU: the word models'
//! forward and backward passes on a device (`models::device::
//! DeviceClassifier`), on the CPU device and the emulated GPU, against the
//! tape; and the CLI's word and UNK attacks on `--device cuda-emulated`
//! writing the CPU run's JSONL. Needs a C++17 compiler (the emulator).

#[path = "common/jsonl.rs"]
mod jsonl;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use hotflip::attack::oracle::{evaluate, evaluate_on_device, Goal};
use hotflip::backend::{CpuDevice, CudaDevice, Device};
use hotflip::checkpoint::{self, CheckpointConfig};
use hotflip::cuda::Gpu;
use hotflip::data::{ModelVocab, Vocab, VocabKind};
use hotflip::models::device::DeviceClassifier;
use hotflip::models::{Input, LstmTextConfig, Model, ModelConfig, WordBatch, WordCnnConfig};
use hotflip::nn::ParamStore;
use hotflip::{Rng, Tensor};
use serde_json::Value;

const WORDS: [&str; 12] = ["ab", "cd", "ef", "gh", "abc", "bcd", "cde", "def", "efg", "fgh", "ace", "bdf"];

fn configs(vocab: usize) -> Vec<ModelConfig> {
    vec![
        ModelConfig::WordCnn(WordCnnConfig {
            vocab,
            n_classes: 3,
            embed_dim: 5,
            kernel_widths: vec![1, 2, 3],
            kernel_filters: vec![3, 4, 2],
            dropout: 0.0,
            max_words: 12,
        }),
        ModelConfig::LstmClassifier(LstmTextConfig {
            vocab,
            n_classes: 3,
            embed_dim: 5,
            lstm_hidden: 4,
            ffnn_dim: 6,
            normalize_embeddings: true,
            dropout: 0.0,
            max_words: 12,
        }),
    ]
}

/// A model whose outputs move with its input: random weights, doubled.
fn model(cfg: &ModelConfig, seed: u64) -> (Model, ParamStore) {
    let mut store = ParamStore::new();
    let model = Model::new(cfg, &mut store, &mut Rng::new(seed)).unwrap();
    let ids: Vec<_> = store.ids().collect();
    for id in ids {
        let t = store.get(id).clone();
        store.set(id, Tensor::new(t.shape(), t.data().iter().map(|v| v * 3.0).collect()).unwrap()).unwrap();
    }
    (model, store)
}

fn close(what: &str, got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-3);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol * scale, "{what}[{i}]: {g} vs {w} (scale {scale})");
    }
}

/// Probabilities, J and dJ/d(embedded words) of both word classifiers on
/// the CPU device and the emulated GPU equal the tape's, for targeted and
/// untargeted goals and sentences of different lengths (padding).
#[test]
fn word_classifiers_on_a_device_match_the_tape() {
    let vocab = WORDS.len() + 2;
    let mut rng = Rng::new(7);
    let sents: Vec<Vec<usize>> =
        [5, 2, 7, 3].iter().map(|&n| (0..n).map(|_| 2 + rng.below(WORDS.len())).collect()).collect();
    let input = Input::Words(WordBatch::from_sentences(&sents, 12, 3).unwrap());
    let goals = [
        Goal { label: 0, target: None },
        Goal { label: 1, target: Some(2) },
        Goal { label: 2, target: None },
        Goal { label: 1, target: Some(0) },
    ];
    let gpu = Arc::new(Gpu::emulated().unwrap_or_else(|e| panic!("the CUDA emulator is unavailable: {e}")));
    for cfg in configs(vocab) {
        let (model, store) = model(&cfg, 11);
        let want = evaluate(&model, &store, &input, &goals, true).unwrap();
        let want_g = want.grads.unwrap().into_vec();
        assert!(want_g.iter().any(|v| v.abs() > 1e-4), "{}: a gradient of zeros tests nothing", cfg.arch());
        let devices: [Arc<dyn Device>; 2] = [Arc::new(CpuDevice), Arc::new(CudaDevice::new(Arc::clone(&gpu)))];
        for dev in devices {
            let what = format!("{} on {}", cfg.arch(), dev.name());
            let dm = DeviceClassifier::new(&model, &store, Arc::clone(&dev)).unwrap();
            let got = evaluate_on_device(&dm, &input, &goals, true).unwrap();
            for (b, (p, q)) in got.probs.iter().zip(&want.probs).enumerate() {
                close(&format!("{what}: probabilities of text {b}"), p, q, 1e-5);
            }
            close(&format!("{what}: J"), &got.loss, &want.loss, 1e-5);
            let g = dev.to_host(got.grads.as_ref().expect("a gradient was asked for")).unwrap();
            close(&format!("{what}: dJ/d(embedded words)"), &g, &want_g, 1e-4);
            // Without a gradient: the same probabilities, no backward pass.
            let plain = evaluate_on_device(&dm, &input, &goals, false).unwrap();
            assert!(plain.grads.is_none(), "{what}");
            close(&format!("{what}: probabilities without a gradient"), &plain.probs[1], &want.probs[1], 1e-5);
        }
    }
}

#[test]
fn a_tagger_and_a_character_batch_are_refused() {
    let cfg = ModelConfig::BilstmTagger(LstmTextConfig::small(8, 2));
    let (tagger, store) = model(&cfg, 1);
    let err = DeviceClassifier::new(&tagger, &store, Arc::new(CpuDevice)).err().expect("a tagger is not attacked");
    assert!(err.to_string().contains("classifiers"), "{err}");
    let (cnn, store) = model(&configs(8)[0], 1);
    let dm = DeviceClassifier::new(&cnn, &store, Arc::new(CpuDevice)).unwrap();
    let chars = hotflip::models::CharBatch::from_docs(&[vec![vec![2, 3]]], 4, 4).unwrap();
    let err = evaluate_on_device(&dm, &Input::Chars(chars), &[Goal { label: 0, target: None }], true)
        .err()
        .expect("characters for a word model are refused");
    assert!(err.to_string().contains("characters for a word model"), "{err}");
}

/// An SST-2-format data set of the words above and a random word model
/// checkpoint whose vocabulary holds them.
fn setup(name: &str, cfg: &ModelConfig) -> (PathBuf, PathBuf, PathBuf) {
    let root = std::env::temp_dir().join(format!("hotflip-attack-word-device-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let data = root.join("sst2");
    std::fs::create_dir_all(&data).unwrap();
    let mut rng = Rng::new(5);
    for (file, n) in [("stsa.binary.train", 10), ("stsa.binary.dev", 5), ("stsa.binary.test", 30)] {
        let text: String = (0..n)
            .map(|_| {
                let words: Vec<&str> = (0..3 + rng.below(6)).map(|_| WORDS[rng.below(WORDS.len())]).collect();
                format!("{} {}\n", rng.below(2), words.join(" "))
            })
            .collect();
        std::fs::write(data.join(file), text).unwrap();
    }
    let vocab = Vocab::from_tokens(VocabKind::Words, WORDS.iter().map(|w| w.to_string()).collect()).unwrap();
    let cfg = match cfg.clone() {
        ModelConfig::WordCnn(c) => ModelConfig::WordCnn(WordCnnConfig { vocab: vocab.len(), n_classes: 2, ..c }),
        ModelConfig::LstmClassifier(c) => {
            ModelConfig::LstmClassifier(LstmTextConfig { vocab: vocab.len(), n_classes: 2, ..c })
        }
        other => other,
    };
    let (_, store) = model(&cfg, 3);
    let config = CheckpointConfig {
        model: cfg,
        labels: vec!["negative".into(), "positive".into()],
        lowercase: true,
        dataset: Some("sst2".into()),
        training: Value::Null,
    };
    let dir = root.join("model");
    checkpoint::save(&dir, &config, &ModelVocab::new(vocab, None).unwrap(), &store, &[]).unwrap();
    (root, data, dir)
}

fn attack(device: &str, level: &str, model: &Path, data: &Path, out: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hotflip"))
        .args(["--threads", "1", "--device", device, "attack", "--model"])
        .arg(model)
        .args(["--dataset", "sst2", "--data-dir"])
        .arg(data)
        .args(["--level", level, "--limit", "8", "--batch", "3", "--beam", "3", "--tau", "0.6"])
        .args(["--no-cosine", "--no-pos", "--allow-stopwords", "--allow-same-stem", "--no-progress", "--out"])
        .arg(out)
        .output()
        .unwrap()
}

#[test]
fn the_emulated_device_word_attack_writes_the_cpu_runs_jsonl() {
    for (k, cfg) in configs(0).iter().enumerate() {
        let (root, data, model) = setup(&format!("jsonl{k}"), cfg);
        for level in ["word", "unk"] {
            let (cpu_out, emu_out) = (root.join(format!("cpu-{level}.jsonl")), root.join(format!("emu-{level}.jsonl")));
            let cpu = attack("cpu", level, &model, &data, &cpu_out);
            assert!(cpu.status.success(), "cpu run: {}", String::from_utf8_lossy(&cpu.stderr));
            let emu = attack("cuda-emulated", level, &model, &data, &emu_out);
            let stderr = String::from_utf8_lossy(&emu.stderr);
            assert!(emu.status.success(), "emulated run: {stderr}");
            assert!(stderr.contains("emulated on the CPU) for forward/backward, word flips"), "{stderr}");
            let (a, b) = (jsonl::records(&cpu_out), jsonl::records(&emu_out));
            assert_eq!(a.len(), b.len(), "{} {level}", cfg.arch());
            let mut diffs = Vec::new();
            for (i, (x, y)) in a.iter().zip(&b).enumerate() {
                jsonl::same(&format!("record {i}"), x, y, 1e-4, &mut diffs);
            }
            assert!(diffs.is_empty(), "{} {level}: the emulated JSONL differs:\n{}", cfg.arch(), diffs.join("\n"));
            let changed: usize = a.iter().map(|r| r["changes"].as_array().map_or(0, |c| c.len())).sum();
            assert!(changed > 0, "{} {level}: no text changed, the scorer is not exercised", cfg.arch());
        }
        let _ = std::fs::remove_dir_all(&root);
    }
}
