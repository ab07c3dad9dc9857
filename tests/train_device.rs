//! Training `char_cnn_lstm` on a device (`train --device cuda`) against the
//! tape: on the CPU device and on the emulated CUDA device (the kernels'
//! sources on the CPU, through the same launchers and buffers as on a GPU),
//! every weight's gradient of one training pass (dropout on, the tape's
//! masks) matches the tape's (which tests/gradcheck checks against finite
//! differences), and N optimiser steps (clipping that bites, Adam with
//! decay, max-norm) leave the same losses, weights and Adam moments as the
//! host `Updater`. Needs a C++17 compiler for the emulator.

#[path = "common/device_train.rs"]
mod device_train;

use std::sync::Arc;

use device_train::{devices, same_grads};
use hotflip::adv::{FlipKind, FlipTraining};
use hotflip::backend::CpuDevice;
use hotflip::models::device::{DeviceCharCnnLstm, DeviceModel};
use hotflip::models::{CharBatch, CharCnnLstmConfig, Input, Mode, Model, ModelConfig};
use hotflip::nn::ParamStore;
use hotflip::train::device_step::{DeviceObjective, DevicePlain};
use hotflip::train::{Batch, Objective, Plain, Targets};
use hotflip::Rng;

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

#[test]
fn every_weight_gradient_matches_the_tape() {
    let (m, store) = model(1);
    let mut rng = Rng::new(2);
    let b = batch(&mut rng, 4, 5);
    same_grads(&mut Plain, &mut DevicePlain, &m, &store, &b);
    // Dropout is on: evaluation mode gives another loss.
    let (Input::Chars(x), Targets::Classes(y)) = (&b.input, &b.targets) else { unreachable!() };
    for dev in devices() {
        let dm = DeviceCharCnnLstm::new(&m, &store, dev.clone()).unwrap();
        let (train, eval) = (dm.train_grads(x, y, Mode::train(77)).unwrap(), dm.train_grads(x, y, Mode::EVAL).unwrap());
        assert!((eval.loss - train.loss).abs() > 1e-4, "{}: dropout had no effect", dev.name());
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

/// [`device_train::steps_follow_the_host_updater`] on four batches of
/// 3 or 4 documents of up to 4 words.
fn steps_follow_the_host_updater(
    host_objective: &mut dyn Objective,
    device_objective: &mut dyn FnMut() -> Box<dyn DeviceObjective>,
) {
    let mut rng = Rng::new(5);
    let batches: Vec<Batch> = (0..4).map(|i| batch(&mut rng, 3 + i % 2, 4)).collect();
    let (m, store0) = model(3);
    device_train::steps_follow_the_host_updater(host_objective, device_objective, &m, &store0, &batches);
}
