//! `word_cnn` on a device (Kim 2014): word embedding → (perturbation) →
//! per width a ReLU convolution max-pooled over the sentence's valid
//! windows (`Device::word_conv_fwd`) → dropout → linear → log-softmax +
//! cross-entropy (or VAT's KL), and back to the embedded words and every
//! weight. Same parameters as `models::WordCnn`, in the store's order, so
//! that gradients, Adam's moments and checkpoints line up with the tape's.

use std::sync::Arc;

use crate::backend::{CharConvShape, ConvKernel, Device, Gemm, Saved, Storage, WordConvArgs};
use crate::error::{Error, Result};
use crate::models::device::{DeviceGrads, Pass, PassLoss};
use crate::models::{Mode, Model, ModelConfig, WordBatch, WordCnnConfig};
use crate::nn::ParamStore;

const OP: &str = "word_cnn on a device";

/// Where each weight sits in the store's order.
struct Layout {
    embedding: usize,
    /// `(weight, bias)` per kernel width.
    convs: Vec<(usize, usize)>,
    /// `(weight, bias)`.
    classifier: (usize, usize),
}

impl Layout {
    fn of(store: &ParamStore, cfg: &WordCnnConfig) -> Result<Self> {
        let at = |name: String| super::param_index(store, OP, name);
        Ok(Layout {
            embedding: at("embedding.weight".into())?,
            convs: (0..cfg.kernel_widths.len())
                .map(|i| Ok((at(format!("convs.{i}.weight"))?, at(format!("convs.{i}.bias"))?)))
                .collect::<Result<_>>()?,
            classifier: (at("classifier.weight".into())?, at("classifier.bias".into())?),
        })
    }
}

/// `word_cnn`'s weights on a device, uploaded once.
pub struct DeviceWordCnn {
    dev: Arc<dyn Device>,
    cfg: WordCnnConfig,
    /// Every entry of the store, in its order.
    params: Vec<Storage>,
    layout: Layout,
    /// The seed 1.0 of the summed loss's backward.
    one: Storage,
}

/// A forward pass's values, kept for its backward.
struct Forward {
    /// The convolutions' input `[B, T, D]` (embedded words plus any perturbation).
    input: Storage,
    /// Words that count per sentence (each at least the widest kernel).
    lengths: Vec<usize>,
    /// The pooled features `[B, ΣF]` and what their backward needs.
    feats: Storage,
    saved: Saved,
    /// The dropout seed on the features, if any.
    seed: Option<u64>,
    /// The classifier's input (after dropout) `[B, ΣF]`.
    z: Storage,
    ls: Storage,
    per_row: Storage,
}

impl DeviceWordCnn {
    /// Uploads `model`'s weights (a `word_cnn`) from `store` to `dev`.
    pub fn new(model: &Model, store: &ParamStore, dev: Arc<dyn Device>) -> Result<Self> {
        let ModelConfig::WordCnn(cfg) = model.config() else {
            return Err(Error::invalid(OP, format!("{} is not word_cnn", model.config().arch())));
        };
        let layout = Layout::of(store, &cfg)?;
        let params = store.ids().map(|id| dev.upload(store.get(id).data())).collect::<Result<Vec<_>>>()?;
        Ok(DeviceWordCnn { one: dev.upload(&[1.0])?, cfg: cfg.clone(), params, layout, dev })
    }

    /// Nothing is derived from the weights: a no-op, for `DeviceModel`.
    pub fn refresh(&mut self) -> Result<()> {
        Ok(())
    }

    /// The device it runs on.
    pub fn device(&self) -> &Arc<dyn Device> {
        &self.dev
    }

    /// Its hyper-parameters.
    pub fn config(&self) -> &WordCnnConfig {
        &self.cfg
    }

    /// Every weight, in the store's order.
    pub fn params(&self) -> &[Storage] {
        &self.params
    }

    /// Every weight, to update in place.
    pub fn params_mut(&mut self) -> &mut [Storage] {
        &mut self.params
    }

    /// The word embedding table `[vocab, D]` on the device.
    pub fn table(&self) -> &Storage {
        &self.params[self.layout.embedding]
    }

    fn kernels(&self) -> Vec<ConvKernel<'_>> {
        self.layout
            .convs
            .iter()
            .zip(self.cfg.kernel_widths.iter().zip(&self.cfg.kernel_filters))
            .map(|(&(w, b), (&width, &filters))| ConvKernel {
                weight: &self.params[w],
                bias: &self.params[b],
                filters,
                width,
            })
            .collect()
    }

    fn check(&self, x: &WordBatch, classes: &[usize], weights: &[f32]) -> Result<()> {
        for (what, len) in [("classes", classes.len()), ("weights", weights.len()), ("lengths", x.lengths.len())] {
            if len != x.batch {
                return Err(Error::invalid(OP, format!("{len} {what} for a batch of {}", x.batch)));
            }
        }
        if x.ids.len() != x.batch * x.len {
            return Err(Error::invalid(OP, format!("{} ids for a [{}, {}] batch", x.ids.len(), x.batch, x.len)));
        }
        let wmax = self.cfg.max_width();
        if x.len < wmax {
            return Err(Error::invalid(
                OP,
                format!(
                    "batch length {} is shorter than the widest kernel {wmax}; build it with min_len {wmax}",
                    x.len
                ),
            ));
        }
        if let Some(&l) = x.lengths.iter().find(|&&l| l > x.len) {
            return Err(Error::invalid(OP, format!("a text of {l} words in a batch of {}", x.len)));
        }
        Ok(())
    }

    fn args<'a>(
        &self,
        x: &WordBatch,
        input: &'a Storage,
        kernels: &'a [ConvKernel<'a>],
        lengths: &'a [usize],
    ) -> WordConvArgs<'a> {
        let shape = CharConvShape { words: x.batch, positions: x.len, dim: self.cfg.embed_dim };
        WordConvArgs { x: input, shape, kernels, lengths }
    }

    /// Evaluation-mode log-probabilities `[B, C]` of `x`, left on the
    /// device (no backward: dev evaluation).
    pub fn log_probs(&self, x: &WordBatch) -> Result<Storage> {
        let (zeros, w) = (vec![0; x.batch], vec![0.0; x.batch]);
        self.check(x, &zeros, &w)?;
        Ok(self.forward(x, self.embed(x)?, None, &zeros, &w, Mode::EVAL)?.ls)
    }

    /// The embedded words `[B·T, D]`.
    pub fn embed(&self, x: &WordBatch) -> Result<Storage> {
        self.dev.embedding_fwd(self.table(), self.cfg.vocab, self.cfg.embed_dim, &x.ids)
    }

    /// Forward from the embedded words (plus `r`) to the log-softmax and
    /// per-row loss; dropout on the features with `mode.site(0)`, as the
    /// tape draws it.
    fn forward(
        &self,
        x: &WordBatch,
        emb: Storage,
        r: Option<&Storage>,
        classes: &[usize],
        weights: &[f32],
        mode: Mode,
    ) -> Result<Forward> {
        let d = self.dev.as_ref();
        let c = &self.cfg;
        let input = match r {
            Some(r) => d.binary(crate::ops::BinaryKind::Add, &emb, r)?,
            None => emb,
        };
        // Each sentence counts as padded to the widest kernel (MODELS.md).
        let wmax = c.max_width();
        let lengths: Vec<usize> = x.lengths.iter().map(|&l| l.max(wmax)).collect();
        let kernels = self.kernels();
        let (feats, saved) = d.word_conv_fwd(self.args(x, &input, &kernels, &lengths))?;
        let seed = (mode.train && c.dropout > 0.0).then(|| mode.site(0));
        let z = match seed {
            Some(s) => d.dropout(&feats, c.dropout, s)?,
            None => d.scale(&feats, 1.0)?,
        };
        let (cw, cb) = self.layout.classifier;
        let ftot: usize = c.kernel_filters.iter().sum();
        let logits = d.linear(&z, &self.params[cw], Some(&self.params[cb]), (x.batch, ftot, c.n_classes))?;
        let (ls, per_row) = d.cross_entropy(&logits, c.n_classes, classes, weights)?;
        Ok(Forward { input, lengths, feats, saved, seed, z, ls, per_row })
    }

    /// From dLoss/dlogits back to the embedded words: dLoss/d(embedded)
    /// `[B·T, D]`; with `grads` also every weight's gradient.
    fn backward(
        &self,
        x: &WordBatch,
        fw: &Forward,
        glogits: &Storage,
        grads: Option<&mut [Option<Storage>]>,
    ) -> Result<Storage> {
        let d = self.dev.as_ref();
        let c = &self.cfg;
        let (nc, ftot) = (c.n_classes, c.kernel_filters.iter().sum::<usize>());
        let (cw, cb) = self.layout.classifier;
        let mut gz = d.gemm(glogits, &self.params[cw], Gemm { m: x.batch, k: nc, n: ftot, ta: false, tb: false })?;
        if let Some(s) = fw.seed {
            // Inverted dropout's backward is the same mask and scale.
            gz = d.dropout(&gz, c.dropout, s)?;
        }
        let kernels = self.kernels();
        let args = self.args(x, &fw.input, &kernels, &fw.lengths);
        let need_w = grads.is_some();
        let lg = d.word_conv_bwd(args, &fw.saved, &fw.feats, &gz, need_w)?;
        let Some(gr) = grads else { return Ok(lg.dx) };
        // dW = gᵀ·x for y = x·Wᵀ + b; the bias takes the column sums.
        gr[cw] = Some(d.gemm(glogits, &fw.z, Gemm { m: nc, k: x.batch, n: ftot, ta: true, tb: false })?);
        gr[cb] = Some(d.col_sums(glogits, nc)?);
        let ws = lg.weights.ok_or_else(|| Error::invalid(OP, "the convolutions returned no weight gradients"))?;
        if ws.len() != 2 * self.layout.convs.len() {
            return Err(Error::invalid(OP, format!("{} convolution weight gradients", ws.len())));
        }
        let mut ws = ws.into_iter();
        for &(w, b) in &self.layout.convs {
            gr[w] = ws.next();
            gr[b] = ws.next();
        }
        // The padding row gets no gradient (`padding_idx` 0).
        gr[self.layout.embedding] = Some(d.embedding_bwd(&lg.dx, c.vocab, c.embed_dim, &x.ids, Some(0))?);
        Ok(lg.dx)
    }

    /// The mean cross-entropy of `x` against `classes` and every weight's
    /// gradient, under `mode` (dropout as the tape draws it).
    pub fn train_grads(&self, x: &WordBatch, classes: &[usize], mode: Mode) -> Result<DeviceGrads> {
        Ok(self.pass(x, mode, None, PassLoss::CrossEntropy(classes), true, false)?.grads)
    }

    /// A training pass with the embedded words perturbed by `r [B·T, D]`
    /// (`DeviceLstmClassifier::pass`'s contract; the per-token losses are refused).
    pub fn pass(
        &self,
        x: &WordBatch,
        mode: Mode,
        r: Option<&Storage>,
        loss: PassLoss<'_>,
        need_w: bool,
        keep_input_grad: bool,
    ) -> Result<Pass> {
        let d = self.dev.as_ref();
        let (rows, nc) = (x.batch, self.cfg.n_classes);
        let (classes, w) = super::loss::rows_of(loss, rows, false)?;
        let classes = &classes[..];
        self.check(x, classes, &w)?;
        let fw = self.forward(x, self.embed(x)?, r, classes, &w, mode)?;
        let mut grads: Vec<Option<Storage>> = (0..self.params.len()).map(|_| None).collect();
        let (value, glogits) = super::loss::differentiate(d, loss, (&fw.ls, &fw.per_row), classes, &w, nc, &self.one)?;
        let Some(glogits) = glogits.filter(|_| need_w || keep_input_grad) else {
            return Ok(Pass { grads: DeviceGrads { loss: value, grads }, input_grad: None, log_probs: fw.ls });
        };
        let gemb = self.backward(x, &fw, &glogits, need_w.then_some(&mut grads[..]))?;
        Ok(Pass {
            grads: DeviceGrads { loss: value, grads },
            input_grad: keep_input_grad.then_some(gemb),
            log_probs: fw.ls,
        })
    }
}
