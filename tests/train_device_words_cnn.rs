//! Training `word_cnn` on a device (`train --device cuda --arch word_cnn`)
//! against the tape, on the CPU device and on the emulated CUDA device (the
//! kernels' sources on the CPU, through the same launchers and buffers as
//! on a GPU, `conv_max_relu_*` included): every weight's gradient of one
//! training pass (dropout on, the tape's mask; sentences shorter than the
//! widest kernel and batch padding past each sentence) matches the tape's
//! (which tests/grad_models checks against finite differences), and N
//! optimiser steps (clipping that bites, Adam with decay, max-norm, a save
//! and resume halfway) leave the same losses, weights and Adam moments as
//! the host `Updater`; likewise AdvT, iAdvT, VAT and iVAT. Needs a C++17
//! compiler for the emulator.

#[path = "common/device_train.rs"]
mod device_train;

use std::sync::Arc;

use device_train::{adversary, close, devices, the_perturbation_matters};
use hotflip::adv::EmbeddingMethod;
use hotflip::backend::CpuDevice;
use hotflip::models::device::{DeviceModel, DeviceWordCnn};
use hotflip::models::{Input, Mode, Model, ModelConfig, WordBatch, WordCnnConfig};
use hotflip::nn::ParamStore;
use hotflip::train::device_step::{DeviceObjective, DevicePlain};
use hotflip::train::{Batch, Objective, Plain, Targets};
use hotflip::Rng;

const VOCAB: usize = 17;
/// The widest kernel: batches are at least this long.
const WMAX: usize = 3;

/// A small word CNN: widths 2 and 3, dropout on the pooled features.
fn model(seed: u64) -> (Model, ParamStore) {
    let cfg = WordCnnConfig {
        vocab: VOCAB,
        n_classes: 3,
        embed_dim: 6,
        kernel_widths: vec![2, WMAX],
        kernel_filters: vec![4, 5],
        dropout: 0.3,
        max_words: 10,
    };
    let mut store = ParamStore::new();
    let model = Model::new(&ModelConfig::WordCnn(cfg), &mut store, &mut Rng::new(seed)).unwrap();
    (model, store)
}

/// `batch` texts of 1..=`words` words (the first `words` long, one of a
/// single word: shorter than the widest kernel); padding 0.
fn batch(rng: &mut Rng, batch: usize, words: usize) -> Batch {
    let sents: Vec<Vec<usize>> = (0..batch)
        .map(|b| {
            let len = match b {
                0 => words,
                1 => 1,
                _ => 1 + rng.below(words),
            };
            (0..len).map(|_| 1 + rng.below(VOCAB - 1)).collect()
        })
        .collect();
    let x = WordBatch::from_sentences(&sents, 10, WMAX).unwrap();
    let y = (0..batch).map(|_| rng.below(3)).collect();
    Batch { input: Input::Words(x), targets: Targets::Classes(y), members: (0..batch).collect() }
}

/// The host objective's and the device objective's loss and every
/// gradient on one batch agree, on every device.
fn same_grads(host: &mut dyn Objective, device: &mut dyn DeviceObjective) {
    let (m, store) = model(1);
    device_train::same_grads(host, device, &m, &store, &batch(&mut Rng::new(2), 4, 6));
}

#[test]
fn every_weight_gradient_matches_the_tape() {
    same_grads(&mut Plain, &mut DevicePlain);
    // Dropout is on: evaluation mode gives another loss.
    let (m, store) = model(1);
    let b = batch(&mut Rng::new(2), 4, 6);
    let (Input::Words(x), Targets::Classes(y)) = (&b.input, &b.targets) else { unreachable!() };
    let dm = DeviceWordCnn::new(&m, &store, Arc::new(CpuDevice)).unwrap();
    let (train, eval) = (dm.train_grads(x, y, Mode::train(77)).unwrap(), dm.train_grads(x, y, Mode::EVAL).unwrap());
    assert!((eval.loss - train.loss).abs() > 1e-4, "dropout had no effect");
}

/// Batch padding past each sentence is ignored by the max over time: the
/// same sentences padded further give the same loss on every device.
#[test]
fn batch_padding_does_not_change_the_loss() {
    let (m, store) = model(4);
    let b = batch(&mut Rng::new(6), 4, 5);
    let Input::Words(x) = &b.input else { unreachable!() };
    let extra = 4;
    let mut ids = Vec::new();
    for row in x.ids.chunks(x.len) {
        ids.extend_from_slice(row);
        ids.extend(std::iter::repeat_n(0, extra));
    }
    let wide = WordBatch { ids, len: x.len + extra, ..x.clone() };
    let b2 = Batch { input: Input::Words(wide), ..b.clone() };
    for dev in devices() {
        let dm = DeviceModel::new(&m, &store, dev.clone()).unwrap();
        let (l1, l2) = (
            DevicePlain.grads(&dm, &b, Mode::EVAL, 0).unwrap().loss,
            DevicePlain.grads(&dm, &b2, Mode::EVAL, 0).unwrap().loss,
        );
        assert!((l1 - l2).abs() <= 1e-6 * l1.abs(), "{}: padding moved the loss {l1} → {l2}", dev.name());
    }
}

#[test]
fn device_steps_follow_the_host_updater() {
    steps_follow_the_host_updater(&mut Plain, &mut || Box::new(DevicePlain));
}

/// [`device_train::steps_follow_the_host_updater`] on four batches of 3
/// or 4 texts of up to 5 words.
fn steps_follow_the_host_updater(
    host_objective: &mut dyn Objective,
    device_objective: &mut dyn FnMut() -> Box<dyn DeviceObjective>,
) {
    let mut rng = Rng::new(5);
    let batches: Vec<Batch> = (0..4).map(|i| batch(&mut rng, 3 + i % 2, 5)).collect();
    let (m, store0) = model(3);
    device_train::steps_follow_the_host_updater(host_objective, device_objective, &m, &store0, &batches);
}

/// AdvT, iAdvT, VAT and iVAT on the device for word_cnn (the word CNN's
/// raw table is the neighbours' table): the objective's loss and every
/// gradient as the host objective's, N steps as the host updater's, and
/// the perturbation matters.
#[test]
fn embedding_adversaries_on_the_device_match_the_host_objective() {
    let methods = [EmbeddingMethod::AdvT, EmbeddingMethod::IAdvT, EmbeddingMethod::Vat, EmbeddingMethod::IVat];
    for method in methods {
        same_grads(&mut adversary(method), &mut adversary(method));
        steps_follow_the_host_updater(&mut adversary(method), &mut || Box::new(adversary(method)));
        let (m, store) = model(1);
        the_perturbation_matters(method, &m, &store, &batch(&mut Rng::new(2), 4, 6), 1e-5);
    }
}

/// The primitive itself (`Device::word_conv_fwd`/`bwd`): the emulated CUDA
/// device's output, dx and every weight's gradient as the CPU device's
/// (the tape's conv1d → relu → max_over_valid), with uneven lengths; a
/// length below the widest kernel or past `T` is an error naming it.
#[test]
fn the_word_conv_primitive_agrees_with_the_cpu_device() {
    use hotflip::backend::{CharConvShape, ConvKernel, Storage, WordConvArgs};
    let mut rng = Rng::new(0xC55);
    let shape = CharConvShape { words: 4, positions: 7, dim: 3 };
    let widths = [(1usize, 3usize), (3, 4), (2, 2)];
    let lengths = [7usize, 3, 5, 4];
    let normal = |rng: &mut Rng, n: usize| -> Vec<f32> { (0..n).map(|_| rng.normal()).collect() };
    let x = normal(&mut rng, shape.words * shape.positions * shape.dim);
    let kernels: Vec<(Vec<f32>, Vec<f32>)> =
        widths.iter().map(|&(w, f)| (normal(&mut rng, f * shape.dim * w), normal(&mut rng, f))).collect();
    let ftot: usize = widths.iter().map(|w| w.1).sum();
    let g = normal(&mut rng, shape.words * ftot);
    let mut outs = Vec::new();
    for dev in devices() {
        let d = dev.as_ref();
        let xd = d.upload(&x).unwrap();
        let stored: Vec<(Storage, Storage)> =
            kernels.iter().map(|(w, b)| (d.upload(w).unwrap(), d.upload(b).unwrap())).collect();
        let ks: Vec<ConvKernel<'_>> = stored
            .iter()
            .zip(&widths)
            .map(|((w, b), &(width, filters))| ConvKernel { weight: w, bias: b, filters, width })
            .collect();
        let a = WordConvArgs { x: &xd, shape, kernels: &ks, lengths: &lengths };
        let (y, saved) = d.word_conv_fwd(a).unwrap();
        let gr = d.word_conv_bwd(a, &saved, &y, &d.upload(&g).unwrap(), true).unwrap();
        let mut got = vec![d.to_host(&y).unwrap(), d.to_host(&gr.dx).unwrap()];
        got.extend(gr.weights.unwrap().iter().map(|w| d.to_host(w).unwrap()));
        outs.push((d.name(), got));
        for bad in [[7usize, 2, 5, 4], [8, 3, 5, 4]] {
            let err = d.word_conv_fwd(WordConvArgs { lengths: &bad, ..a }).err().expect("a bad length");
            assert!(err.to_string().contains("word_conv_fwd"), "{err}");
        }
    }
    let (want, got) = (&outs[0].1, &outs[1].1);
    assert_eq!(got.len(), 2 + 2 * widths.len());
    assert!(want[0].contains(&0.0) && want[0].iter().any(|&v| v > 0.0), "relu never or always bit");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        close(&format!("{} word_conv output {i}", outs[1].0), g, w, 1e-5);
    }
}
