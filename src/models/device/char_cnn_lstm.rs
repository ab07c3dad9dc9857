//! `char_cnn_lstm` on a device: embedding → char-CNN features → highway →
//! LSTM → the last step's state → linear → log-softmax + cross-entropy, and
//! back to the character embeddings (HotFlip's e_ij gradient). Same
//! parameters as `models::CharCnnLstm` (read by name from its store).

use std::sync::Arc;

use crate::backend::{CharConvShape, ConvKernel, Device, Gemm, LstmParams, LstmShape, Storage};
use crate::error::{Error, Result};
use crate::models::{CharBatch, CharCnnLstmConfig, Model, ModelConfig};
use crate::nn::ParamStore;
use crate::ops::{BinaryKind, Unary};

const OP: &str = "char_cnn_lstm on a device";

/// One highway layer's weights: gate and transform, `[F, F]` and `[F]` each.
struct HighwayWeights {
    gate: (Storage, Storage),
    transform: (Storage, Storage),
}

/// One LSTM layer's weights (`bias` = `b_ih + b_hh`).
struct LstmLayer {
    w_ih: Storage,
    w_hh: Storage,
    bias: Storage,
}

/// `char_cnn_lstm`'s weights on a device, uploaded once.
pub struct DeviceCharCnnLstm {
    dev: Arc<dyn Device>,
    cfg: CharCnnLstmConfig,
    embedding: Storage,
    convs: Vec<(Storage, Storage)>,
    highway: Vec<HighwayWeights>,
    lstm: Vec<LstmLayer>,
    classifier: (Storage, Storage),
    /// The seed 1.0 of the summed loss's backward, resident so that no
    /// evaluation pays a host-to-device copy for it.
    one: Storage,
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
struct HighwaySaved {
    x: Storage,
    a: Storage,
    t: Storage,
    c: Storage,
    r: Storage,
    d: Storage,
}

impl DeviceCharCnnLstm {
    /// Uploads `model`'s weights (a `char_cnn_lstm`) from `store` to `dev`.
    pub fn new(model: &Model, store: &ParamStore, dev: Arc<dyn Device>) -> Result<Self> {
        let ModelConfig::CharCnnLstm(cfg) = model.config() else {
            return Err(Error::invalid(OP, "only char_cnn_lstm runs on a device so far"));
        };
        let up = |name: &str| -> Result<Storage> { dev.upload(store.by_name(name)?.data()) };
        let convs = (0..cfg.kernel_widths.len())
            .map(|i| Ok((up(&format!("convs.{i}.weight"))?, up(&format!("convs.{i}.bias"))?)))
            .collect::<Result<_>>()?;
        let highway = (0..cfg.highway_layers)
            .map(|l| {
                let pair = |part: &str| -> Result<(Storage, Storage)> {
                    Ok((up(&format!("highway.{l}.{part}.weight"))?, up(&format!("highway.{l}.{part}.bias"))?))
                };
                Ok(HighwayWeights { gate: pair("gate")?, transform: pair("transform")? })
            })
            .collect::<Result<_>>()?;
        let lstm = (0..cfg.lstm_layers)
            .map(|l| {
                let (b_ih, b_hh) =
                    (store.by_name(&format!("lstm.bias_ih_l{l}"))?, store.by_name(&format!("lstm.bias_hh_l{l}"))?);
                let bias: Vec<f32> = b_ih.data().iter().zip(b_hh.data()).map(|(a, b)| a + b).collect();
                Ok(LstmLayer {
                    w_ih: up(&format!("lstm.weight_ih_l{l}"))?,
                    w_hh: up(&format!("lstm.weight_hh_l{l}"))?,
                    bias: dev.upload(&bias)?,
                })
            })
            .collect::<Result<_>>()?;
        Ok(DeviceCharCnnLstm {
            embedding: up("char_embedding.weight")?,
            convs,
            highway,
            lstm,
            classifier: (up("classifier.weight")?, up("classifier.bias")?),
            one: dev.upload(&[1.0])?,
            cfg: cfg.clone(),
            dev,
        })
    }

    /// The device it runs on.
    pub fn device(&self) -> &Arc<dyn Device> {
        &self.dev
    }

    fn kernels(&self) -> Vec<ConvKernel<'_>> {
        self.convs
            .iter()
            .zip(self.cfg.kernel_widths.iter().zip(&self.cfg.kernel_filters))
            .map(|((w, b), (&width, &filters))| ConvKernel { weight: w, bias: b, filters, width })
            .collect()
    }

    fn check(&self, x: &CharBatch, classes: &[usize], weights: &[f32]) -> Result<()> {
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
        let d = self.dev.as_ref();
        let c = &self.cfg;
        let (n, l, dim, f, h) = (x.batch * x.words, x.chars, c.char_dim, c.features(), c.lstm_hidden);
        let emb = d.embedding_fwd(&self.embedding, c.n_chars, dim, &x.ids)?;
        let conv_shape = CharConvShape { words: n, positions: l, dim };
        let kernels = self.kernels();
        let (feats, conv_saved) = d.char_conv_fwd(&emb, conv_shape, &kernels)?;
        let mut hw_saved = Vec::with_capacity(self.highway.len());
        let mut hcur = feats;
        for hw in &self.highway {
            let (y, saved) = self.highway_fwd(hw, hcur, n, f)?;
            hw_saved.push(saved);
            hcur = y;
        }
        // outs[0]: the LSTM's input [B, W, F]; outs[l + 1]: layer l's output.
        let mut outs = vec![hcur];
        let mut lstm_saved = Vec::with_capacity(self.lstm.len());
        for (li, layer) in self.lstm.iter().enumerate() {
            let s = self.lstm_shape(x, li);
            let (y, saved) = d.lstm_fwd(&outs[li], self.lstm_params(layer), &x.lengths, s)?;
            lstm_saved.push(saved);
            outs.push(y);
        }
        let last_ids: Vec<usize> = x.lengths.iter().enumerate().map(|(b, &len)| b * x.words + len - 1).collect();
        let top = outs.last().ok_or_else(|| Error::invalid(OP, "no LSTM layer"))?;
        let last = d.embedding_fwd(top, n, h, &last_ids)?;
        let (cw, cb) = &self.classifier;
        let logits = d.linear(&last, cw, Some(cb), (x.batch, h, c.n_classes))?;
        let (ls, _) = d.cross_entropy(&logits, c.n_classes, classes, weights)?;
        let log_probs = d.to_host(&ls)?;
        if !need_grad {
            return Ok(DeviceEval { log_probs, grad: None });
        }
        let glogits = d.cross_entropy_bwd(&ls, c.n_classes, classes, weights, &self.one, true)?;
        let glast = d.gemm(&glogits, cw, Gemm { m: x.batch, k: c.n_classes, n: h, ta: false, tb: false })?;
        let mut g = d.embedding_bwd(&glast, n, h, &last_ids, None)?;
        for (li, (layer, saved)) in self.lstm.iter().zip(&lstm_saved).enumerate().rev() {
            let (s, p) = (self.lstm_shape(x, li), self.lstm_params(layer));
            g = d.lstm_bwd(&outs[li], p, &x.lengths, s, saved, &outs[li + 1], &g, false)?.dx;
        }
        for (hw, saved) in self.highway.iter().zip(&hw_saved).rev() {
            g = self.highway_bwd(hw, saved, &g, n, f)?;
        }
        // The features' output: the first highway layer's input, or the LSTM's.
        let feats = hw_saved.first().map_or(&outs[0], |s| &s.x);
        let gemb = d.char_conv_bwd(&emb, conv_shape, &kernels, &conv_saved, feats, &g, false)?.dx;
        Ok(DeviceEval { log_probs, grad: Some(gemb) })
    }

    fn lstm_shape(&self, x: &CharBatch, layer: usize) -> LstmShape {
        let (f, h) = (self.cfg.features(), self.cfg.lstm_hidden);
        LstmShape { batch: x.batch, steps: x.words, n_in: if layer == 0 { f } else { h }, hidden: h, reverse: false }
    }

    fn lstm_params<'a>(&self, layer: &'a LstmLayer) -> LstmParams<'a> {
        LstmParams { w_ih: &layer.w_ih, w_hh: &layer.w_hh, bias: &layer.bias }
    }

    /// `t = σ(gate(x))`, `r = relu(transform(x))`, `y = x + t·(r − x)`, as
    /// `nn::Highway` computes it.
    fn highway_fwd(&self, hw: &HighwayWeights, x: Storage, n: usize, f: usize) -> Result<(Storage, HighwaySaved)> {
        let d = self.dev.as_ref();
        let a = d.linear(&x, &hw.gate.0, Some(&hw.gate.1), (n, f, f))?;
        let t = d.unary(Unary::Sigmoid, &a)?;
        let c = d.linear(&x, &hw.transform.0, Some(&hw.transform.1), (n, f, f))?;
        let r = d.unary(Unary::Relu, &c)?;
        let dd = d.binary(BinaryKind::Sub, &r, &x)?;
        let td = d.binary(BinaryKind::Mul, &t, &dd)?;
        let y = d.binary(BinaryKind::Add, &x, &td)?;
        Ok((y, HighwaySaved { x, a, t, c, r, d: dd }))
    }

    /// dLoss/dx of one highway layer from dLoss/dy.
    fn highway_bwd(&self, hw: &HighwayWeights, s: &HighwaySaved, gy: &Storage, n: usize, f: usize) -> Result<Storage> {
        let d = self.dev.as_ref();
        let dt = d.binary(BinaryKind::Mul, gy, &s.d)?;
        let dd = d.binary(BinaryKind::Mul, gy, &s.t)?;
        let da = d.unary_bwd(Unary::Sigmoid, &s.a, &s.t, &dt)?;
        let dc = d.unary_bwd(Unary::Relu, &s.c, &s.r, &dd)?;
        let through = |g: &Storage, w: &Storage| d.gemm(g, w, Gemm { m: n, k: f, n: f, ta: false, tb: false });
        let mut dx = d.binary(BinaryKind::Sub, gy, &dd)?;
        dx = d.binary(BinaryKind::Add, &dx, &through(&da, &hw.gate.0)?)?;
        d.binary(BinaryKind::Add, &dx, &through(&dc, &hw.transform.0)?)
    }
}
