//! `attack --device cuda` end to end without a GPU: the hidden
//! `--device cuda-emulated` runs the same path on the emulated device (the
//! kernels' sources on the CPU, through the same launchers): the model's
//! forward and backward passes from `backend::Device` primitives
//! (`models::device`), the gradients handed to the fused scorer on the
//! device, only the kept children back. Its JSONL must be the CPU run's:
//! the same records and changes, probabilities within 1e-4. Needs a C++17
//! compiler. The GPU version (200 AG News documents, ≥ 198 identical) is
//! benches/gpu/device_run.sh with MODEL=...

#[path = "char_fixture/mod.rs"]
mod char_fixture;

#[path = "common/jsonl.rs"]
mod jsonl;

use std::path::Path;
use std::process::{Command, Output};

fn attack(device: &str, model: &Path, data: &Path, out: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hotflip"))
        .args(["--threads", "1", "--device", device, "attack", "--model"])
        .arg(model)
        .args(["--dataset", "sst2", "--data-dir"])
        .arg(data)
        .args(["--limit", "5", "--batch", "3", "--beam", "3", "--tau", "0.6", "--budget", "0.3", "--no-progress"])
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

#[test]
fn the_emulated_device_attack_writes_the_cpu_runs_jsonl() {
    let (root, data, model) = char_fixture::setup("attack-device-emu", "jsonl");
    let (cpu_out, emu_out) = (root.join("cpu.jsonl"), root.join("emu.jsonl"));
    let cpu = attack("cpu", &model, &data, &cpu_out);
    assert!(cpu.status.success(), "cpu run: {}", String::from_utf8_lossy(&cpu.stderr));
    let emu = attack("cuda-emulated", &model, &data, &emu_out);
    let stderr = String::from_utf8_lossy(&emu.stderr);
    assert!(emu.status.success(), "emulated run: {stderr}");
    assert!(stderr.contains("emulated on the CPU) for forward/backward, HotFlip scoring"), "{stderr}");
    let (a, b) = (jsonl::records(&cpu_out), jsonl::records(&emu_out));
    assert_eq!(a.len(), b.len());
    let mut diffs = Vec::new();
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        jsonl::same(&format!("record {i}"), x, y, 1e-4, &mut diffs);
    }
    assert!(diffs.is_empty(), "the emulated device's JSONL differs from the CPU's:\n{}", diffs.join("\n"));
    let changed: usize = a.iter().map(|r| r["changes"].as_array().map_or(0, |c| c.len())).sum();
    assert!(changed > 0, "no document changed: the test does not exercise the scorer");
    let _ = std::fs::remove_dir_all(&root);
}

/// The device model itself: probabilities, J and dJ/d(character
/// embeddings) from `models::device` on the CPU device and on the emulated
/// device against the tape's (`attack::oracle::evaluate`), on a model with
/// two highway and two LSTM layers, targeted and untargeted goals, and
/// documents of different lengths (padding words and sequences).
#[test]
fn the_device_model_matches_the_tape() {
    use std::sync::Arc;

    use hotflip::attack::oracle::{evaluate, evaluate_on_device, Goal};
    use hotflip::backend::{CpuDevice, CudaDevice, Device};
    use hotflip::cuda::Gpu;
    use hotflip::models::device::DeviceClassifier;
    use hotflip::models::{CharBatch, CharCnnLstmConfig, Input, Model, ModelConfig};
    use hotflip::nn::ParamStore;
    use hotflip::{Rng, Tensor};

    let cfg = CharCnnLstmConfig {
        n_chars: 9,
        n_classes: 3,
        char_dim: 3,
        kernel_widths: vec![1, 2, 3],
        kernel_filters: vec![3, 4, 2],
        highway_layers: 2,
        lstm_hidden: 5,
        lstm_layers: 2,
        max_word_len: 6,
        max_words: 10,
        dropout: 0.0,
    };
    let mut store = ParamStore::new();
    let model = Model::new(&ModelConfig::CharCnnLstm(cfg), &mut store, &mut Rng::new(5)).unwrap();
    let ids: Vec<_> = store.ids().collect();
    for id in ids {
        let t = store.get(id).clone();
        store.set(id, Tensor::new(t.shape(), t.data().iter().map(|v| v * 2.0).collect()).unwrap()).unwrap();
    }
    let mut rng = Rng::new(6);
    let docs: Vec<Vec<Vec<usize>>> = [4, 1, 3]
        .iter()
        .map(|&n| (0..n).map(|_| (0..1 + rng.below(7)).map(|_| 2 + rng.below(7)).collect()).collect())
        .collect();
    let input = Input::Chars(CharBatch::from_docs(&docs, 6, 10).unwrap());
    let goals = [Goal { label: 0, target: None }, Goal { label: 1, target: Some(2) }, Goal { label: 2, target: None }];
    let want = evaluate(&model, &store, &input, &goals, true).unwrap();
    let want_g = want.grads.unwrap().into_vec();
    let gpu = Gpu::emulated().unwrap_or_else(|e| panic!("the CUDA emulator is unavailable: {e}"));
    let devices: [Arc<dyn Device>; 2] = [Arc::new(CpuDevice), Arc::new(CudaDevice::new(Arc::new(gpu)))];
    for dev in devices {
        let name = dev.name();
        let dm = DeviceClassifier::new(&model, &store, dev.clone()).unwrap();
        let ev = evaluate_on_device(&dm, &input, &goals, true).unwrap();
        let (probs, loss, grads) = (ev.probs, ev.loss, ev.grads);
        let g = grads.expect("asked for gradients");
        assert_eq!(g.location(), if name == "cpu" { "cpu" } else { "cuda" }, "the gradient stays on {name}");
        let g = dev.to_host(&g).unwrap();
        for (b, (p, w)) in probs.iter().zip(&want.probs).enumerate() {
            for (x, y) in p.iter().zip(w) {
                assert!((x - y).abs() <= 1e-5, "{name}: probability of document {b}: {x} vs {y}");
            }
            assert!((loss[b] - want.loss[b]).abs() <= 1e-5 * (1.0 + want.loss[b].abs()), "{name}: J of {b}");
        }
        let scale = want_g.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(scale > 0.0, "a zero gradient tests nothing");
        assert_eq!(g.len(), want_g.len());
        let worst = g.iter().zip(&want_g).fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
        assert!(worst <= 1e-5 * scale, "{name}: gradient off by {worst} (scale {scale})");
    }
}
