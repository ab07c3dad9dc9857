//! Training `char_cnn_lstm` on a device (`train --device cuda`) against the
//! tape: on the CPU device and on the emulated CUDA device (the kernels'
//! sources on the CPU, through the same launchers and buffers as on a GPU),
//! every weight's gradient of one training pass (dropout on, the tape's
//! masks) matches the tape's (which tests/gradcheck checks against finite
//! differences), and N optimiser steps (clipping that bites, Adam with
//! decay, max-norm) leave the same losses, weights and Adam moments as the
//! host `Updater`. Needs a C++17 compiler for the emulator.

use std::sync::Arc;

use hotflip::adv::{FlipKind, FlipTraining};
use hotflip::backend::{CpuDevice, CudaDevice, Device};
use hotflip::cuda::Gpu;
use hotflip::models::device::{DeviceCharCnnLstm, DeviceModel};
use hotflip::models::{CharBatch, CharCnnLstmConfig, Input, Mode, Model, ModelConfig};
use hotflip::nn::ParamStore;
use hotflip::optim::{Adam, AdamConfig, Optimizer};
use hotflip::train::device_step::{DeviceObjective, DevicePlain, DeviceUpdater};
use hotflip::train::{Batch, Objective, Plain, StepContext, Targets, Updater};
use hotflip::Rng;

fn devices() -> Vec<Arc<dyn Device>> {
    let gpu = Gpu::emulated().unwrap_or_else(|e| panic!("the CUDA emulator is unavailable: {e}"));
    vec![Arc::new(CpuDevice), Arc::new(CudaDevice::new(Arc::new(gpu)))]
}

/// A small model with every part the device path handles: two kernel
/// widths, two highway layers, two LSTM layers, dropout.
fn model(seed: u64) -> (Model, ParamStore) {
    let cfg = ModelConfig::CharCnnLstm(CharCnnLstmConfig {
        n_chars: 11,
        n_classes: 3,
        char_dim: 5,
        kernel_widths: vec![1, 3],
        kernel_filters: vec![4, 6],
        highway_layers: 2,
        lstm_hidden: 7,
        lstm_layers: 2,
        max_word_len: 6,
        max_words: 8,
        dropout: 0.3,
    });
    let mut store = ParamStore::new();
    let model = Model::new(&cfg, &mut store, &mut Rng::new(seed)).unwrap();
    (model, store)
}

/// `batch` documents of 1..=`words` words; padded characters and words are 0.
fn batch(rng: &mut Rng, batch: usize, words: usize) -> Batch {
    let chars = 6;
    let lengths: Vec<usize> = (0..batch).map(|b| if b == 0 { words } else { 1 + rng.below(words) }).collect();
    let mut ids = vec![0usize; batch * words * chars];
    for (b, &len) in lengths.iter().enumerate() {
        for w in 0..len {
            let n = 1 + rng.below(chars - 1);
            for c in 0..n {
                ids[(b * words + w) * chars + c] = 1 + rng.below(10);
            }
        }
    }
    let y = (0..batch).map(|_| rng.below(3)).collect();
    Batch {
        input: Input::Chars(CharBatch { ids, batch, words, chars, lengths }),
        targets: Targets::Classes(y),
        members: (0..batch).collect(),
    }
}

/// `got` within `tol` of `want`, relative to `want`'s largest magnitude.
fn close(what: &str, got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6);
    let worst = got.iter().zip(want).map(|(g, w)| (g - w).abs()).fold(0.0f32, f32::max);
    assert!(worst <= tol * scale, "{what}: max error {worst} against values up to {scale}");
}

#[test]
fn every_weight_gradient_matches_the_tape() {
    let (m, store) = model(1);
    let mut rng = Rng::new(2);
    let b = batch(&mut rng, 4, 5);
    let mode = Mode::train(77);
    let want = Plain.step(&StepContext { model: &m, store: &store, mode, step: 0 }, &b).unwrap();
    let (Input::Chars(x), Targets::Classes(y)) = (&b.input, &b.targets) else { unreachable!() };
    for dev in devices() {
        let dm = DeviceCharCnnLstm::new(&m, &store, dev.clone()).unwrap();
        let got = dm.train_grads(x, y, mode).unwrap();
        let name = dev.name();
        assert!((got.loss - want.loss).abs() <= 1e-5 * want.loss.abs(), "{name}: loss {} vs {}", got.loss, want.loss);
        assert_eq!(got.grads.len(), store.len());
        for ((id, g), w) in store.ids().zip(&got.grads).zip(&want.grads) {
            let what = format!("{name}: d/d {}", store.name(id));
            let (g, w) = (g.as_ref().unwrap_or_else(|| panic!("{what}: none")), w.as_ref().unwrap());
            close(&what, &dev.to_host(g).unwrap(), w.data(), 1e-4);
        }
        // Dropout is on: evaluation mode gives another loss.
        let eval = dm.train_grads(x, y, Mode::EVAL).unwrap();
        assert!((eval.loss - got.loss).abs() > 1e-4, "{name}: dropout had no effect");
    }
}

/// `steps_follow_the_host_updater` for plain training.
#[test]
fn device_steps_follow_the_host_updater() {
    steps_follow_the_host_updater(&mut Plain, &mut || Box::new(DevicePlain));
}

/// HotFlip adversarial training: the clean pass's input gradient chooses
/// the flips (on the host, from the device's gradient), the adversarial
/// pass and the combination run on the device.
#[test]
fn device_hotflip_steps_follow_the_host_updater() {
    let flip = FlipTraining { fraction: 0.3, ..FlipTraining::paper(FlipKind::Chars) };
    let f2 = flip.clone();
    steps_follow_the_host_updater(&mut flip.clone(), &mut || Box::new(f2.clone()));
    // The flips matter: the adversarial batch's loss (combined − clean,
    // weights 1 and 1) exceeds the clean loss (unflipped, the two are equal:
    // evaluation mode, no dropout).
    let (m, store) = model(3);
    let b = batch(&mut Rng::new(5), 3, 4);
    let (Input::Chars(x), Targets::Classes(y)) = (&b.input, &b.targets) else { unreachable!() };
    let dm = DeviceCharCnnLstm::new(&m, &store, Arc::new(CpuDevice)).unwrap();
    let clean = dm.train_grads(x, y, Mode::EVAL).unwrap().loss;
    let dm = DeviceModel::CharCnnLstm(Box::new(dm));
    let both = DeviceObjective::grads(&mut flip.clone(), &dm, &b, Mode::EVAL, 0).unwrap().loss;
    assert!(both - clean > clean, "adversarial {} vs clean {clean}: the flips did not raise the loss", both - clean);
}

/// N steps (clipping that bites, Adam with decay, max-norm, a sync and a
/// fresh updater halfway as a save and resume) on each device against the
/// host `Updater` with the tape: losses, weights and Adam's moments.
fn steps_follow_the_host_updater(
    host_objective: &mut dyn Objective,
    device_objective: &mut dyn FnMut() -> Box<dyn DeviceObjective>,
) {
    let cfg = AdamConfig { lr: 0.01, decay: 0.99, ..AdamConfig::default() };
    // A clip below the first gradients' norm, so that the rescale runs.
    let (clip, max_norm) = (Some(0.5), Some(0.9));
    let mut rng = Rng::new(5);
    let batches: Vec<Batch> = (0..4).map(|i| batch(&mut rng, 3 + i % 2, 4)).collect();
    let (m, store0) = model(3);
    let mut host = store0.clone();
    let mut up = Updater { adam: Adam::new(cfg).unwrap(), clip, max_norm };
    let mut want = Vec::new();
    for (i, b) in batches.iter().enumerate() {
        want.push(up.step(host_objective, &m, &mut host, b, Mode::train(100 + i as u64), i as u64).unwrap());
    }
    for dev in devices() {
        let name = dev.name();
        let mut store = store0.clone();
        let mut adam = Adam::new(cfg).unwrap();
        // Two steps, a sync (as a checkpoint save), a fresh updater from
        // the synced state (as a resume), two more steps.
        let mut got = Vec::new();
        let mut objective = device_objective();
        let mut d = DeviceUpdater::new(dev.clone(), &m, &store, &adam, clip, max_norm).unwrap();
        for (i, b) in batches.iter().enumerate() {
            if i == 2 {
                d.sync(&mut store, &mut adam).unwrap();
                d = DeviceUpdater::new(dev.clone(), &m, &store, &adam, clip, max_norm).unwrap();
            }
            got.push(d.step(objective.as_mut(), b, Mode::train(100 + i as u64), i as u64).unwrap());
        }
        d.sync(&mut store, &mut adam).unwrap();
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!((g - w).abs() <= 1e-4 * w.abs(), "{name}: loss of step {i}: {g} vs {w}");
        }
        assert_eq!(adam.steps(), up.adam.steps(), "{name}: steps");
        for id in store.ids() {
            close(&format!("{name}: {}", store.name(id)), store.get(id).data(), host.get(id).data(), 1e-4);
        }
        let (a, b) = (adam.state(&store), up.adam.state(&host));
        assert_eq!(a.0.len(), b.0.len(), "{name}: Adam state entries");
        for ((ka, ta), (kb, tb)) in a.0.iter().zip(&b.0) {
            assert_eq!(ka, kb);
            close(&format!("{name}: {ka}"), ta.data(), tb.data(), 1e-4);
        }
        // The weights moved: the comparison is not of two untouched stores.
        let moved = store.ids().any(|id| store.get(id).data() != store0.get(id).data());
        assert!(moved, "{name}: no weight changed");
    }
}
