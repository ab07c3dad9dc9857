//! Training `lstm_classifier` (and `bilstm_tagger`) on a device (`train
//! --device cuda`) against the tape, on the CPU device and on the emulated CUDA device (the
//! kernels' sources on the CPU, through the same launchers and buffers as
//! on a GPU): every weight's gradient of one training pass (dropout on,
//! the tape's masks; normalised embeddings with uneven frequencies)
//! matches the tape's (which tests/grad_models checks against finite
//! differences), and N optimiser steps (clipping that bites, Adam with
//! decay, max-norm, a save and resume halfway) leave the same losses,
//! weights and Adam moments as the host `Updater`; likewise for the
//! embedding-space adversaries that run on the device. Needs a C++17
//! compiler for the emulator.

use std::sync::Arc;

use hotflip::adv::{EmbeddingAdversary, EmbeddingMethod};
use hotflip::backend::{CpuDevice, CudaDevice, Device};
use hotflip::cuda::Gpu;
use hotflip::models::device::{DeviceLstmClassifier, DeviceModel};
use hotflip::models::{Input, LstmTextConfig, Mode, Model, ModelConfig, WordBatch};
use hotflip::nn::ParamStore;
use hotflip::optim::{Adam, AdamConfig, Optimizer};
use hotflip::tensor::Tensor;
use hotflip::train::device_step::{DeviceObjective, DevicePlain, DeviceUpdater};
use hotflip::train::{Batch, Objective, Plain, StepContext, Targets, Updater};
use hotflip::Rng;

fn devices() -> Vec<Arc<dyn Device>> {
    let gpu = Gpu::emulated().unwrap_or_else(|e| panic!("the CUDA emulator is unavailable: {e}"));
    vec![Arc::new(CpuDevice), Arc::new(CudaDevice::new(Arc::new(gpu)))]
}

const VOCAB: usize = 17;

/// A small model with dropout and, when `normalize`, normalised embeddings
/// whose frequencies are uneven (so the normalisation's mean and variance
/// matter).
fn model(seed: u64, normalize: bool) -> (Model, ParamStore) {
    text_model(seed, normalize, false)
}

/// `model`'s `lstm_classifier` (3 classes), or with `tagger` a
/// `bilstm_tagger` (2 labels) of the same sizes.
fn text_model(seed: u64, normalize: bool, tagger: bool) -> (Model, ParamStore) {
    let text = LstmTextConfig {
        vocab: VOCAB,
        n_classes: if tagger { 2 } else { 3 },
        embed_dim: 6,
        lstm_hidden: 7,
        ffnn_dim: 5,
        normalize_embeddings: normalize,
        dropout: 0.3,
        max_words: 10,
    };
    let cfg = if tagger { ModelConfig::BilstmTagger(text) } else { ModelConfig::LstmClassifier(text) };
    let mut store = ParamStore::new();
    let model = Model::new(&cfg, &mut store, &mut Rng::new(seed)).unwrap();
    if let Some(id) = store.id("embedding.freq") {
        let raw: Vec<f32> = (0..VOCAB).map(|v| 1.0 + (v * 7 % 5) as f32).collect();
        let total: f32 = raw.iter().sum();
        store.set(id, Tensor::new(&[VOCAB], raw.iter().map(|r| r / total).collect()).unwrap()).unwrap();
    }
    (model, store)
}

/// `batch` texts of 1..=`words` words (the first `words` long); padding 0.
fn batch(rng: &mut Rng, batch: usize, words: usize) -> Batch {
    let sents: Vec<Vec<usize>> = (0..batch)
        .map(|b| {
            let len = if b == 0 { words } else { 1 + rng.below(words) };
            (0..len).map(|_| 1 + rng.below(VOCAB - 1)).collect()
        })
        .collect();
    let x = WordBatch::from_sentences(&sents, 10, 1).unwrap();
    let y = (0..batch).map(|_| rng.below(3)).collect();
    Batch { input: Input::Words(x), targets: Targets::Classes(y), members: (0..batch).collect() }
}

/// `got` within `tol` of `want`, relative to `want`'s largest magnitude.
fn close(what: &str, got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6);
    let worst = got.iter().zip(want).map(|(g, w)| (g - w).abs()).fold(0.0f32, f32::max);
    assert!(worst <= tol * scale, "{what}: max error {worst} against values up to {scale}");
}

/// [`batch`] with a label (0/1) per real token instead of a class per text.
fn tag_batch(rng: &mut Rng, n: usize, words: usize) -> Batch {
    let b = batch(rng, n, words);
    let Input::Words(x) = &b.input else { unreachable!() };
    let mask: Vec<f32> =
        (0..x.batch * x.len).map(|i| if i % x.len < x.lengths[i / x.len] { 1.0 } else { 0.0 }).collect();
    let labels = mask.iter().map(|&m| if m > 0.0 { rng.below(2) } else { 0 }).collect();
    Batch { targets: Targets::Tags { labels, mask }, ..b }
}

/// The host objective's and the device objective's loss and every
/// gradient on one batch agree, on every device.
fn same_grads(host: &mut dyn Objective, device: &mut dyn DeviceObjective, normalize: bool) {
    same_grads_of(host, device, normalize, false);
}

fn same_grads_of(host: &mut dyn Objective, device: &mut dyn DeviceObjective, normalize: bool, tagger: bool) {
    let (m, store) = text_model(1, normalize, tagger);
    let mut rng = Rng::new(2);
    let b = if tagger { tag_batch(&mut rng, 4, 6) } else { batch(&mut rng, 4, 6) };
    let mode = Mode::train(77);
    let want = host.step(&StepContext { model: &m, store: &store, mode, step: 0 }, &b).unwrap();
    for dev in devices() {
        let dm = DeviceModel::new(&m, &store, dev.clone()).unwrap();
        let got = device.grads(&dm, &b, mode, 0).unwrap();
        let name = format!("{} {}", dev.name(), device.name());
        assert!((got.loss - want.loss).abs() <= 1e-5 * want.loss.abs(), "{name}: loss {} vs {}", got.loss, want.loss);
        assert_eq!(got.grads.len(), store.len());
        for ((id, g), w) in store.ids().zip(&got.grads).zip(&want.grads) {
            let what = format!("{name}: d/d {}", store.name(id));
            match (g, w) {
                (Some(g), Some(w)) => close(&what, &dev.to_host(g).unwrap(), w.data(), 1e-4),
                (None, None) => assert!(!store.trainable(id), "{what}: no gradient for a weight"),
                _ => panic!("{what}: a gradient on one side only"),
            }
        }
    }
}

#[test]
fn every_weight_gradient_matches_the_tape() {
    same_grads(&mut Plain, &mut DevicePlain, true);
    same_grads(&mut Plain, &mut DevicePlain, false);
    // Dropout is on: evaluation mode gives another loss.
    let (m, store) = model(1, true);
    let b = batch(&mut Rng::new(2), 4, 6);
    let (Input::Words(x), Targets::Classes(y)) = (&b.input, &b.targets) else { unreachable!() };
    let dm = DeviceLstmClassifier::new(&m, &store, Arc::new(CpuDevice)).unwrap();
    let (train, eval) = (dm.train_grads(x, y, Mode::train(77)).unwrap(), dm.train_grads(x, y, Mode::EVAL).unwrap());
    assert!((eval.loss - train.loss).abs() > 1e-4, "dropout had no effect");
}

#[test]
fn device_steps_follow_the_host_updater() {
    steps_follow_the_host_updater(&mut Plain, &mut || Box::new(DevicePlain));
}

/// `bilstm_tagger`: both directions (the FFNN reading them through the
/// halves of `hidden.weight`) and the masked loss, gradients and steps.
#[test]
fn the_tagger_trains_on_the_device_as_on_the_tape() {
    same_grads_of(&mut Plain, &mut DevicePlain, true, true);
    steps_of(&mut Plain, &mut || Box::new(DevicePlain), true);
    // Only the masked positions count: a label at padding changes nothing.
    let (m, store) = text_model(1, true, true);
    let b = tag_batch(&mut Rng::new(2), 3, 5);
    let dm = DeviceModel::new(&m, &store, Arc::new(CpuDevice)).unwrap();
    let Targets::Tags { labels, mask } = &b.targets else { unreachable!() };
    let pad = mask.iter().position(|&v| v == 0.0).expect("a padded position");
    let mut moved = labels.clone();
    moved[pad] = 1;
    let b2 = Batch { targets: Targets::Tags { labels: moved, mask: mask.clone() }, ..b.clone() };
    let (l1, l2) = (
        DevicePlain.grads(&dm, &b, Mode::EVAL, 0).unwrap().loss,
        DevicePlain.grads(&dm, &b2, Mode::EVAL, 0).unwrap().loss,
    );
    assert_eq!(l1, l2, "a padded label changed the loss");
}

/// N steps (clipping that bites, Adam with decay, max-norm, a sync and a
/// fresh updater halfway as a save and resume) on each device against the
/// host `Updater` with the tape: losses, weights and Adam's moments.
fn steps_follow_the_host_updater(
    host_objective: &mut dyn Objective,
    device_objective: &mut dyn FnMut() -> Box<dyn DeviceObjective>,
) {
    steps_of(host_objective, device_objective, false);
}

fn steps_of(
    host_objective: &mut dyn Objective,
    device_objective: &mut dyn FnMut() -> Box<dyn DeviceObjective>,
    tagger: bool,
) {
    let cfg = AdamConfig { lr: 0.01, decay: 0.99, ..AdamConfig::default() };
    let (clip, max_norm) = (Some(0.5), Some(0.9));
    let mut rng = Rng::new(5);
    let batches: Vec<Batch> = (0..4)
        .map(|i| if tagger { tag_batch(&mut rng, 3 + i % 2, 5) } else { batch(&mut rng, 3 + i % 2, 5) })
        .collect();
    let (m, store0) = text_model(3, true, tagger);
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
        let moved = store.ids().any(|id| store.get(id).data() != store0.get(id).data());
        assert!(moved, "{name}: no weight changed");
    }
}

fn adversary(method: EmbeddingMethod) -> EmbeddingAdversary {
    EmbeddingAdversary { neighbours: 5, ..EmbeddingAdversary::paper(method, 9) }
}

/// AdvT (`r = ε g/‖g‖` per example), iAdvT (the nearest-neighbour
/// pipeline, `Device::iadvt`), VAT (one power iteration on the KL
/// divergence from the same random start) and iVAT (the same along the
/// nearest-word directions: `Device::nn_search`/`nn_project`/`nn_alpha`/
/// `nn_perturb`) on the device: the objective's loss and every
/// gradient as the host objective's, N steps as the host updater's, and the
/// perturbation matters (the adversarial loss exceeds the clean one).
#[test]
fn embedding_adversaries_on_the_device_match_the_host_objective() {
    let methods = [EmbeddingMethod::AdvT, EmbeddingMethod::IAdvT, EmbeddingMethod::Vat, EmbeddingMethod::IVat];
    for method in methods {
        same_grads(&mut adversary(method), &mut adversary(method), true);
        steps_follow_the_host_updater(&mut adversary(method), &mut || Box::new(adversary(method)));
        let (m, store) = model(1, true);
        let b = batch(&mut Rng::new(2), 4, 6);
        let dm = DeviceModel::new(&m, &store, Arc::new(CpuDevice)).unwrap();
        let clean = DevicePlain.grads(&dm, &b, Mode::EVAL, 0).unwrap().loss;
        let both = adversary(method).grads(&dm, &b, Mode::EVAL, 0).unwrap().loss;
        // AdvT/iAdvT: J_adv exceeds J; (i)VAT: J_adv is KL(p ‖ q(x + r)), positive for r ≠ 0.
        let floor = if matches!(method, EmbeddingMethod::Vat | EmbeddingMethod::IVat) { 1e-4 } else { clean };
        assert!(both - clean > floor, "{method:?}: adversarial {} vs clean {clean}", both - clean);
    }
}

/// What stays on the host is refused on a device, naming the method.
#[test]
fn the_random_baseline_is_refused_on_the_device() {
    let (m, store) = model(1, true);
    let b = batch(&mut Rng::new(2), 2, 3);
    let dm = DeviceModel::new(&m, &store, Arc::new(CpuDevice)).unwrap();
    let err = adversary(EmbeddingMethod::Random).grads(&dm, &b, Mode::EVAL, 0).err().expect("random must be refused");
    assert!(err.to_string().contains("random"), "{err}");
}
