//! `char_cnn_lstm` on a device: embedding → char-CNN features → highway →
//! (dropout, in training) → LSTM → the last step's state → linear →
//! log-softmax + cross-entropy, and back to the character embeddings
//! (HotFlip's e_ij gradient) and, for training, to every weight. Same
//! parameters as `models::CharCnnLstm`, held in the store's order so that
//! gradients, Adam's moments and checkpoints line up with the tape's.

use std::sync::Arc;

use crate::backend::{CharConvShape, ConvKernel, Device, Gemm, LstmParams, LstmShape, Saved, Storage};
use crate::error::{Error, Result};
use crate::models::{CharBatch, CharCnnLstmConfig, Model, ModelConfig};
use crate::nn::ParamStore;
use crate::ops::{BinaryKind, Unary};

pub(super) const OP: &str = "char_cnn_lstm on a device";

/// Where each weight sits in the store's order.
pub(super) struct Layout {
    pub(super) embedding: usize,
    /// `(weight, bias)` per kernel width.
    pub(super) convs: Vec<(usize, usize)>,
    /// `[gate.weight, gate.bias, transform.weight, transform.bias]` per layer.
    pub(super) highway: Vec<[usize; 4]>,
    /// `[weight_ih, weight_hh, bias_ih, bias_hh]` per layer.
    pub(super) lstm: Vec<[usize; 4]>,
    /// `(weight, bias)`.
    pub(super) classifier: (usize, usize),
}

impl Layout {
    fn of(store: &ParamStore, cfg: &CharCnnLstmConfig) -> Result<Self> {
        let at = |name: String| super::param_index(store, OP, name);
        Ok(Layout {
            embedding: at("char_embedding.weight".into())?,
            convs: (0..cfg.kernel_widths.len())
                .map(|i| Ok((at(format!("convs.{i}.weight"))?, at(format!("convs.{i}.bias"))?)))
                .collect::<Result<_>>()?,
            highway: (0..cfg.highway_layers)
                .map(|l| {
                    let p = |part: &str| at(format!("highway.{l}.{part}"));
                    Ok([p("gate.weight")?, p("gate.bias")?, p("transform.weight")?, p("transform.bias")?])
                })
                .collect::<Result<_>>()?,
            lstm: (0..cfg.lstm_layers)
                .map(|l| {
                    let p = |part: &str| at(format!("lstm.{part}_l{l}"));
                    Ok([p("weight_ih")?, p("weight_hh")?, p("bias_ih")?, p("bias_hh")?])
                })
                .collect::<Result<_>>()?,
            classifier: (at("classifier.weight".into())?, at("classifier.bias".into())?),
        })
    }
}

/// `char_cnn_lstm`'s weights on a device, uploaded once.
pub struct DeviceCharCnnLstm {
    pub(super) dev: Arc<dyn Device>,
    pub(super) cfg: CharCnnLstmConfig,
    /// Every entry of the store, in its order.
    pub(super) params: Vec<Storage>,
    pub(super) layout: Layout,
    /// `b_ih + b_hh` per LSTM layer (the primitive adds one bias), rebuilt
    /// by [`DeviceCharCnnLstm::refresh`] after the weights change.
    pub(super) lstm_bias: Vec<Storage>,
    /// The seed 1.0 of the summed loss's backward, resident so that no
    /// evaluation pays a host-to-device copy for it.
    pub(super) one: Storage,
}

/// One evaluation on the device.
pub struct DeviceEval {
    /// Log-probabilities `[B, C]`, on the host.
    pub log_probs: Vec<f32>,
    /// dJ/d(character embeddings) `[B·W, L, char_dim]`, on the device, for
    /// J = Σ_b weight_b · CE(row b, class_b).
    pub grad: Option<Storage>,
}

/// What one highway layer's backward needs.
pub(super) struct HighwaySaved {
    pub(super) x: Storage,
    a: Storage,
    t: Storage,
    c: Storage,
    r: Storage,
    d: Storage,
}

/// A forward pass's values, kept for its backward.
pub(super) struct Forward {
    pub(super) emb: Storage,
    conv_shape: CharConvShape,
    conv_saved: Saved,
    hw_saved: Vec<HighwaySaved>,
    /// The word features before dropout when nothing else keeps them (no
    /// highway layer and dropout applied).
    pre_dropout: Option<Storage>,
    /// The dropout seed applied to the LSTM's input, if any.
    pub(super) dropout_seed: Option<u64>,
    /// `outs[0]`: the LSTM's input `[B, W, F]`; `outs[l + 1]`: layer `l`'s output.
    outs: Vec<Storage>,
    lstm_saved: Vec<Saved>,
    last_ids: Vec<usize>,
    pub(super) last: Storage,
    /// Log-softmax of the logits `[B, C]`.
    pub(super) ls: Storage,
    /// Per-row weighted loss `[B]`.
    pub(super) per_row: Storage,
}

impl Forward {
    /// The char-CNN's output (the features before highway and dropout).
    fn features(&self) -> &Storage {
        self.hw_saved.first().map(|s| &s.x).or(self.pre_dropout.as_ref()).unwrap_or(&self.outs[0])
    }
}

impl DeviceCharCnnLstm {
    /// Uploads `model`'s weights (a `char_cnn_lstm`) from `store` to `dev`.
    pub fn new(model: &Model, store: &ParamStore, dev: Arc<dyn Device>) -> Result<Self> {
        let ModelConfig::CharCnnLstm(cfg) = model.config() else {
            return Err(Error::invalid(
                OP,
                format!("only char_cnn_lstm runs on a device so far, not {}", model.config().arch()),
            ));
        };
        let layout = Layout::of(store, &cfg)?;
        let params = store.ids().map(|id| dev.upload(store.get(id).data())).collect::<Result<Vec<_>>>()?;
        let mut m = DeviceCharCnnLstm {
            one: dev.upload(&[1.0])?,
            cfg: cfg.clone(),
            params,
            layout,
            lstm_bias: Vec::new(),
            dev,
        };
        m.refresh()?;
        Ok(m)
    }

    /// Rebuilds what is derived from the weights (the LSTM's summed bias)
    /// after they changed in place.
    pub fn refresh(&mut self) -> Result<()> {
        let d = self.dev.as_ref();
        self.lstm_bias = self
            .layout
            .lstm
            .iter()
            .map(|&[_, _, b_ih, b_hh]| d.binary(BinaryKind::Add, &self.params[b_ih], &self.params[b_hh]))
            .collect::<Result<_>>()?;
        Ok(())
    }

    /// The device it runs on.
    pub fn device(&self) -> &Arc<dyn Device> {
        &self.dev
    }

    /// Its hyper-parameters.
    pub fn config(&self) -> &CharCnnLstmConfig {
        &self.cfg
    }

    /// Every weight, in the store's order.
    pub fn params(&self) -> &[Storage] {
        &self.params
    }

    /// Every weight, in the store's order, to update in place; call
    /// [`DeviceCharCnnLstm::refresh`] afterwards.
    pub fn params_mut(&mut self) -> &mut [Storage] {
        &mut self.params
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

    pub(super) fn check(&self, x: &CharBatch, classes: &[usize], weights: &[f32]) -> Result<()> {
        if x.chars != self.cfg.max_word_len {
            return Err(Error::invalid(
                OP,
                format!("batch has {} chars per word, the model {}", x.chars, self.cfg.max_word_len),
            ));
        }
        for (what, len) in [("classes", classes.len()), ("weights", weights.len()), ("lengths", x.lengths.len())] {
            if len != x.batch {
                return Err(Error::invalid(OP, format!("{len} {what} for a batch of {}", x.batch)));
            }
        }
        if let Some(&l) = x.lengths.iter().find(|&&l| l == 0 || l > x.words) {
            return Err(Error::invalid(OP, format!("a document of {l} words in a batch of {}", x.words)));
        }
        Ok(())
    }

    /// Log-probabilities of `x`, and with `need_grad` the gradient of
    /// `J = Σ_b weights[b] · CE(b, classes[b])` with respect to the
    /// character embeddings, left on the device.
    pub fn evaluate(&self, x: &CharBatch, classes: &[usize], weights: &[f32], need_grad: bool) -> Result<DeviceEval> {
        self.check(x, classes, weights)?;
        let f = self.forward(x, classes, weights, None)?;
        let log_probs = self.dev.to_host(&f.ls)?;
        if !need_grad {
            return Ok(DeviceEval { log_probs, grad: None });
        }
        let glogits = self.dev.cross_entropy_bwd(&f.ls, self.cfg.n_classes, classes, weights, &self.one, true)?;
        let gemb = self.backward(x, &f, &glogits, None)?;
        Ok(DeviceEval { log_probs, grad: Some(gemb) })
    }

    /// The forward pass to the log-softmax and per-row loss; dropout on the
    /// word features with `dropout_seed` (the tape's `Mode::site(0)`).
    pub(super) fn forward(
        &self,
        x: &CharBatch,
        classes: &[usize],
        weights: &[f32],
        dropout_seed: Option<u64>,
    ) -> Result<Forward> {
        let d = self.dev.as_ref();
        let c = &self.cfg;
        let (n, l, dim, f, h) = (x.batch * x.words, x.chars, c.char_dim, c.features(), c.lstm_hidden);
        let emb = d.embedding_fwd(&self.params[self.layout.embedding], c.n_chars, dim, &x.ids)?;
        let conv_shape = CharConvShape { words: n, positions: l, dim };
        let (feats, conv_saved) = d.char_conv_fwd(&emb, conv_shape, &self.kernels())?;
        let mut hw_saved = Vec::with_capacity(self.layout.highway.len());
        let mut hcur = feats;
        for hw in &self.layout.highway {
            let (y, saved) = self.highway_fwd(hw, hcur, n, f)?;
            hw_saved.push(saved);
            hcur = y;
        }
        let dropout_seed = dropout_seed.filter(|_| c.dropout > 0.0);
        let mut pre_dropout = None;
        if let Some(seed) = dropout_seed {
            let dropped = d.dropout(&hcur, c.dropout, seed)?;
            if hw_saved.is_empty() {
                pre_dropout = Some(hcur);
            }
            hcur = dropped;
        }
        let mut outs = vec![hcur];
        let mut lstm_saved = Vec::with_capacity(self.layout.lstm.len());
        for li in 0..self.layout.lstm.len() {
            let s = self.lstm_shape(x, li);
            let (y, saved) = d.lstm_fwd(&outs[li], self.lstm_params(li), &x.lengths, s)?;
            lstm_saved.push(saved);
            outs.push(y);
        }
        let last_ids: Vec<usize> = x.lengths.iter().enumerate().map(|(b, &len)| b * x.words + len - 1).collect();
        let top = outs.last().ok_or_else(|| Error::invalid(OP, "no LSTM layer"))?;
        let last = d.embedding_fwd(top, n, h, &last_ids)?;
        let (cw, cb) = self.layout.classifier;
        let logits = d.linear(&last, &self.params[cw], Some(&self.params[cb]), (x.batch, h, c.n_classes))?;
        let (ls, per_row) = d.cross_entropy(&logits, c.n_classes, classes, weights)?;
        Ok(Forward {
            emb,
            conv_shape,
            conv_saved,
            hw_saved,
            pre_dropout,
            dropout_seed,
            outs,
            lstm_saved,
            last_ids,
            last,
            ls,
            per_row,
        })
    }

    /// From dLoss/dlogits back to the character embeddings; with `grads`
    /// (one slot per store entry) also every weight's gradient. Returns
    /// dLoss/d(character embeddings) `[B·W, L, char_dim]`.
    pub(super) fn backward(
        &self,
        x: &CharBatch,
        fw: &Forward,
        glogits: &Storage,
        mut grads: Option<&mut [Option<Storage>]>,
    ) -> Result<Storage> {
        let d = self.dev.as_ref();
        let c = &self.cfg;
        let need_w = grads.is_some();
        let (n, f, h, nc) = (x.batch * x.words, c.features(), c.lstm_hidden, c.n_classes);
        let (cw, cb) = self.layout.classifier;
        if let Some(gr) = grads.as_deref_mut() {
            gr[cw] = Some(d.gemm(glogits, &fw.last, Gemm { m: nc, k: x.batch, n: h, ta: true, tb: false })?);
            gr[cb] = Some(d.col_sums(glogits, nc)?);
        }
        let glast = d.gemm(glogits, &self.params[cw], Gemm { m: x.batch, k: nc, n: h, ta: false, tb: false })?;
        let mut g = d.embedding_bwd(&glast, n, h, &fw.last_ids, None)?;
        for li in (0..self.layout.lstm.len()).rev() {
            let (s, p) = (self.lstm_shape(x, li), self.lstm_params(li));
            let lg = d.lstm_bwd(&fw.outs[li], p, &x.lengths, s, &fw.lstm_saved[li], &fw.outs[li + 1], &g, need_w)?;
            g = lg.dx;
            if let Some(gr) = grads.as_deref_mut() {
                let [w_ih, w_hh, b_ih, b_hh] = self.layout.lstm[li];
                let mut ws = lg.weights.ok_or_else(|| Error::invalid(OP, "the LSTM returned no weight gradients"))?;
                let bias = ws.pop().ok_or_else(|| Error::invalid(OP, "the LSTM returned no bias gradient"))?;
                // b_ih and b_hh enter as one sum: each gets its gradient.
                gr[b_hh] = Some(d.scale(&bias, 1.0)?);
                gr[b_ih] = Some(bias);
                gr[w_hh] = ws.pop();
                gr[w_ih] = ws.pop();
            }
        }
        if let Some(seed) = fw.dropout_seed {
            // Inverted dropout's backward is the same mask and scale.
            g = d.dropout(&g, c.dropout, seed)?;
        }
        for (li, (hw, saved)) in self.layout.highway.iter().zip(&fw.hw_saved).enumerate().rev() {
            let (gx, wg) = self.highway_bwd(hw, saved, &g, n, f, need_w)?;
            g = gx;
            if let (Some(gr), Some([gw, gb, tw, tb])) = (grads.as_deref_mut(), wg) {
                let [a, b, c2, d2] = self.layout.highway[li];
                (gr[a], gr[b], gr[c2], gr[d2]) = (Some(gw), Some(gb), Some(tw), Some(tb));
            }
        }
        let kernels = self.kernels();
        let cg = d.char_conv_bwd(&fw.emb, fw.conv_shape, &kernels, &fw.conv_saved, fw.features(), &g, need_w)?;
        if let Some(gr) = grads {
            let ws = cg.weights.ok_or_else(|| Error::invalid(OP, "the char-CNN returned no weight gradients"))?;
            if ws.len() != 2 * self.layout.convs.len() {
                return Err(Error::invalid(OP, format!("{} char-CNN weight gradients", ws.len())));
            }
            let mut ws = ws.into_iter();
            for &(w, b) in &self.layout.convs {
                gr[w] = ws.next();
                gr[b] = ws.next();
            }
            gr[self.layout.embedding] = Some(d.embedding_bwd(&cg.dx, c.n_chars, c.char_dim, &x.ids, Some(0))?);
        }
        Ok(cg.dx)
    }

    fn lstm_shape(&self, x: &CharBatch, layer: usize) -> LstmShape {
        let (f, h) = (self.cfg.features(), self.cfg.lstm_hidden);
        LstmShape { batch: x.batch, steps: x.words, n_in: if layer == 0 { f } else { h }, hidden: h, reverse: false }
    }

    fn lstm_params(&self, layer: usize) -> LstmParams<'_> {
        let [w_ih, w_hh, _, _] = self.layout.lstm[layer];
        LstmParams { w_ih: &self.params[w_ih], w_hh: &self.params[w_hh], bias: &self.lstm_bias[layer] }
    }

    /// `t = σ(gate(x))`, `r = relu(transform(x))`, `y = x + t·(r − x)`, as
    /// `nn::Highway` computes it.
    fn highway_fwd(&self, hw: &[usize; 4], x: Storage, n: usize, f: usize) -> Result<(Storage, HighwaySaved)> {
        let d = self.dev.as_ref();
        let p = &self.params;
        let a = d.linear(&x, &p[hw[0]], Some(&p[hw[1]]), (n, f, f))?;
        let t = d.unary(Unary::Sigmoid, &a)?;
        let c = d.linear(&x, &p[hw[2]], Some(&p[hw[3]]), (n, f, f))?;
        let r = d.unary(Unary::Relu, &c)?;
        let dd = d.binary(BinaryKind::Sub, &r, &x)?;
        let td = d.binary(BinaryKind::Mul, &t, &dd)?;
        let y = d.binary(BinaryKind::Add, &x, &td)?;
        Ok((y, HighwaySaved { x, a, t, c, r, d: dd }))
    }

    /// dLoss/dx of one highway layer from dLoss/dy, and with `need_w` the
    /// gradients of `[gate.weight, gate.bias, transform.weight,
    /// transform.bias]`.
    fn highway_bwd(
        &self,
        hw: &[usize; 4],
        s: &HighwaySaved,
        gy: &Storage,
        n: usize,
        f: usize,
        need_w: bool,
    ) -> Result<(Storage, Option<[Storage; 4]>)> {
        let d = self.dev.as_ref();
        let p = &self.params;
        let dt = d.binary(BinaryKind::Mul, gy, &s.d)?;
        let dd = d.binary(BinaryKind::Mul, gy, &s.t)?;
        let da = d.unary_bwd(Unary::Sigmoid, &s.a, &s.t, &dt)?;
        let dc = d.unary_bwd(Unary::Relu, &s.c, &s.r, &dd)?;
        let through = |g: &Storage, w: &Storage| d.gemm(g, w, Gemm { m: n, k: f, n: f, ta: false, tb: false });
        let mut dx = d.binary(BinaryKind::Sub, gy, &dd)?;
        dx = d.binary(BinaryKind::Add, &dx, &through(&da, &p[hw[0]])?)?;
        dx = d.binary(BinaryKind::Add, &dx, &through(&dc, &p[hw[2]])?)?;
        if !need_w {
            return Ok((dx, None));
        }
        // dW = gᵀ·x for y = x·Wᵀ + b; the bias takes the column sums.
        let dw = |g: &Storage| d.gemm(g, &s.x, Gemm { m: f, k: n, n: f, ta: true, tb: false });
        let ws = [dw(&da)?, d.col_sums(&da, f)?, dw(&dc)?, d.col_sums(&dc, f)?];
        Ok((dx, Some(ws)))
    }
}
