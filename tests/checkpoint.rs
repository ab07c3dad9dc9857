//! Checkpoints: round trips for every architecture, PyTorch-style names,
//! and validation errors that name the tensor.

use std::path::PathBuf;

use hotflip::checkpoint::{self, tensors, CheckpointConfig};
use hotflip::data::{ModelVocab, Vocab, VocabKind};
use hotflip::models::{CharCnnLstmConfig, LstmTextConfig, Model, ModelConfig, WordCnnConfig};
use hotflip::nn::ParamStore;
use hotflip::{Rng, Tensor};

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hotflip-ckpt-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn configs() -> Vec<ModelConfig> {
    vec![
        ModelConfig::CharCnnLstm(CharCnnLstmConfig::small(30, 4)),
        ModelConfig::WordCnn(WordCnnConfig::small(50, 2)),
        ModelConfig::LstmClassifier(LstmTextConfig::small(50, 2)),
        ModelConfig::BilstmTagger(LstmTextConfig { normalize_embeddings: false, ..LstmTextConfig::small(50, 2) }),
    ]
}

/// A vocabulary of the size the config says (PAD and UNK included).
fn vocab_for(cfg: &ModelConfig) -> ModelVocab {
    let n = cfg.vocab_size() - 2;
    if cfg.is_char_level() {
        let chars = (0..n).map(|i| char::from_u32(0x61 + i as u32).unwrap().to_string()).collect();
        let words = Vocab::from_tokens(VocabKind::Words, vec!["ab".into(), "cd".into()]).unwrap();
        ModelVocab::new(Vocab::from_tokens(VocabKind::Chars, chars).unwrap(), Some(words)).unwrap()
    } else {
        let words = (0..n).map(|i| format!("w{i}")).collect();
        ModelVocab::new(Vocab::from_tokens(VocabKind::Words, words).unwrap(), None).unwrap()
    }
}

fn ckpt_config(model: ModelConfig) -> CheckpointConfig {
    let labels = (0..model.n_classes()).map(|i| format!("label{i}")).collect();
    CheckpointConfig {
        model,
        labels,
        lowercase: true,
        dataset: Some("test".into()),
        training: serde_json::json!({"epochs": 1}),
    }
}

#[test]
fn every_architecture_round_trips() {
    let root = scratch("roundtrip");
    for (k, cfg) in configs().into_iter().enumerate() {
        let mut store = ParamStore::new();
        let _ = Model::new(&cfg, &mut store, &mut Rng::new(k as u64)).unwrap();
        let dir = root.join(cfg.arch());
        let c = ckpt_config(cfg.clone());
        let vocab = vocab_for(&cfg);
        checkpoint::save(&dir, &c, &vocab, &store, &[]).unwrap();
        let text = std::fs::read_to_string(dir.join("config.json")).unwrap();
        assert!(text.contains(&format!("\"arch\": \"{}\"", cfg.arch())), "{text}");
        let back = checkpoint::load(&dir).unwrap();
        assert_eq!(back.config, c);
        assert_eq!(back.vocab, vocab);
        assert_eq!(back.vocab.vocab.len(), cfg.vocab_size());
        assert_eq!(back.store.len(), store.len());
        for ((n1, t1), (n2, t2)) in store.iter().zip(back.store.iter()) {
            assert_eq!(n1, n2);
            assert_eq!(t1, t2, "{n1} changed on the way through the file");
        }
    }
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn pytorch_names_and_layouts() {
    let mut store = ParamStore::new();
    let cfg = CharCnnLstmConfig { lstm_layers: 2, ..CharCnnLstmConfig::paper(70, 4) };
    let _ = Model::new(&ModelConfig::CharCnnLstm(cfg), &mut store, &mut Rng::new(1)).unwrap();
    let shape = |n: &str| store.by_name(n).unwrap().shape().to_vec();
    assert_eq!(shape("char_embedding.weight"), vec![70, 25]);
    assert_eq!(shape("convs.5.weight"), vec![150, 25, 6]);
    assert_eq!(shape("highway.0.gate.weight"), vec![525, 525]);
    assert_eq!(shape("lstm.weight_ih_l0"), vec![2000, 525]);
    assert_eq!(shape("lstm.weight_hh_l1"), vec![2000, 500]);
    assert_eq!(shape("lstm.bias_ih_l1"), vec![2000]);
    assert_eq!(shape("classifier.weight"), vec![4, 500]);
    let mut store = ParamStore::new();
    let _ = Model::new(&configs()[3], &mut store, &mut Rng::new(1)).unwrap();
    assert!(store.by_name("lstm.weight_ih_l0_reverse").is_ok());
    assert_eq!(store.by_name("hidden.weight").unwrap().shape(), &[30, 256]);
}

#[test]
fn validation_names_the_tensor() {
    let root = scratch("validate");
    let cfg = configs()[1].clone();
    let mut store = ParamStore::new();
    let _ = Model::new(&cfg, &mut store, &mut Rng::new(0)).unwrap();
    let dir = root.join("m");
    checkpoint::save(&dir, &ckpt_config(cfg.clone()), &vocab_for(&cfg), &store, &[]).unwrap();
    let weights = dir.join("model.safetensors");
    let all: Vec<(String, Tensor)> = store.iter().map(|(n, t)| (n.to_string(), t.clone())).collect();

    let mut missing = all.clone();
    missing.retain(|(n, _)| n != "convs.1.bias");
    tensors::save(&weights, &missing, None).unwrap();
    let e = checkpoint::load(&dir).err().unwrap().to_string();
    assert!(e.contains("`convs.1.bias`") && e.contains("missing"), "{e}");

    let mut reshaped = all.clone();
    reshaped[0].1 = Tensor::zeros(&[49, 64]);
    tensors::save(&weights, &reshaped, None).unwrap();
    let e = checkpoint::load(&dir).err().unwrap().to_string();
    assert!(e.contains("`embedding.weight`") && e.contains("[49, 64]"), "{e}");

    let mut extra = all.clone();
    extra.push(("surprise".into(), Tensor::zeros(&[1])));
    tensors::save(&weights, &extra, None).unwrap();
    let e = checkpoint::load(&dir).err().unwrap().to_string();
    assert!(e.contains("`surprise`"), "{e}");

    let mut nan = all.clone();
    nan[2].1.data_mut()[0] = f32::NAN;
    tensors::save(&weights, &nan, None).unwrap();
    let e = checkpoint::load(&dir).err().unwrap().to_string();
    assert!(e.contains(&format!("`{}`", nan[2].0)), "{e}");

    tensors::save(&weights, &all, None).unwrap();
    let small = ModelVocab::new(Vocab::from_tokens(VocabKind::Words, vec!["x".into()]).unwrap(), None).unwrap();
    std::fs::write(dir.join("vocab.json"), small.to_json()).unwrap();
    let e = checkpoint::load(&dir).err().unwrap().to_string();
    assert!(e.contains("vocab.json") && e.contains("50"), "{e}");
    std::fs::write(dir.join("vocab.json"), vocab_for(&cfg).to_json()).unwrap();

    std::fs::write(&weights, b"garbage").unwrap();
    let e = checkpoint::load(&dir).err().unwrap().to_string();
    assert!(e.contains("model.safetensors"), "{e}");

    std::fs::write(dir.join("config.json"), b"{\"arch\": \"resnet\"}").unwrap();
    let e = checkpoint::load(&dir).err().unwrap().to_string();
    assert!(e.contains("config.json"), "{e}");
    let e = checkpoint::load(&root.join("nowhere")).err().unwrap().to_string();
    assert!(e.contains("nowhere") && e.contains("config.json"), "{e}");
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn half_precision_files_load_as_f32() {
    // A checkpoint exported from PyTorch in bf16 still loads (rounded). The
    // file is built by hand from the format's definition: u64 header length,
    // JSON header, then little-endian data.
    let root = scratch("half");
    let path = root.join("w.safetensors");
    let values = [1.0f32, -2.5, 0.15625, 3.0e-3];
    let data: Vec<u8> = values.iter().flat_map(|&v| half::bf16::from_f32(v).to_le_bytes()).collect();
    let header = format!(r#"{{"w":{{"dtype":"BF16","shape":[2,2],"data_offsets":[0,{}]}}}}"#, data.len());
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend(header.as_bytes());
    bytes.extend(&data);
    std::fs::write(&path, &bytes).unwrap();
    let back = tensors::load(&path).unwrap();
    assert_eq!(back[0].0, "w");
    assert_eq!(back[0].1.shape(), &[2, 2]);
    for (a, b) in back[0].1.data().iter().zip(values) {
        assert!((a - b).abs() <= 8e-3 * b.abs(), "{a} vs {b}");
    }
    let i64_header = r#"{"w":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#;
    let mut bytes = (i64_header.len() as u64).to_le_bytes().to_vec();
    bytes.extend(i64_header.as_bytes());
    bytes.extend([0u8; 8]);
    std::fs::write(&path, &bytes).unwrap();
    let e = tensors::load(&path).unwrap_err().to_string();
    assert!(e.contains("`w`") && e.contains("I64"), "{e}");
    let _ = std::fs::remove_dir_all(&root);
}
