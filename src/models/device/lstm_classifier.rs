//! `lstm_classifier` on a device (Sato et al. §3.2): the (normalised) word
//! embedding → (perturbation) → dropout → LSTM → the last true step →
//! ReLU FFNN → dropout → linear → log-softmax + cross-entropy, and back to
//! the embedded words (AdvT/iAdvT's g) and to every weight. Same
//! parameters as `models::LstmClassifier`, in the store's order, so that
//! gradients, Adam's moments and checkpoints line up with the tape's.
//!
//! `bilstm_tagger` (§3.3) is the same body with a reverse direction and
//! every step read: the FFNN's input is the two directions' outputs side
//! by side, computed without a concat as `y_f·W_fᵀ + y_b·W_bᵀ`, the two
//! `[F, H]` halves of `hidden.weight [F, 2H]` cut out (and their gradients
//! put back) by GEMMs with `[I | 0]` selectors (F·2H·H values: small, F is
//! the 30-unit FFNN); its loss is the masked mean over real tokens.
//!
//! The normalised table `(E − m)/√(v + 1e-6)` (frequency-weighted mean and
//! variance, `models::lstm_text`) is built on the device when the weights
//! change ([`DeviceLstmClassifier::refresh`]); its broadcasts are rank-1
//! GEMMs with a ones vector, so no primitive beyond the existing ones is
//! needed, and its backward is the chain rule through them.

use std::sync::Arc;

use crate::backend::{Device, Gemm, LstmParams, LstmShape, Saved, Storage};
use crate::error::{Error, Result};
use crate::models::device::DeviceGrads;
use crate::models::{LstmTextConfig, Mode, Model, ModelConfig, WordBatch};
use crate::nn::ParamStore;
use crate::ops::{BinaryKind, Unary};

const OP: &str = "lstm_classifier on a device";

/// The variance's epsilon in the normalisation (as `lstm_text::Embedding`).
const NORM_EPS: f32 = 1e-6;

/// Where each weight sits in the store's order.
struct Layout {
    embedding: usize,
    /// The frequency buffer, when the embeddings are normalised.
    freq: Option<usize>,
    /// `[weight_ih, weight_hh, bias_ih, bias_hh]`.
    lstm: [usize; 4],
    /// The same for the reverse direction (`bilstm_tagger`).
    reverse: Option<[usize; 4]>,
    /// `(weight, bias)` of the ReLU layer.
    hidden: (usize, usize),
    /// `(weight, bias)`.
    classifier: (usize, usize),
}

impl Layout {
    fn of(store: &ParamStore, cfg: &LstmTextConfig, per_token: bool) -> Result<Self> {
        let at = |name: &str| super::param_index(store, OP, name.into());
        Ok(Layout {
            embedding: at("embedding.weight")?,
            freq: if cfg.normalize_embeddings { Some(at("embedding.freq")?) } else { None },
            lstm: [at("lstm.weight_ih_l0")?, at("lstm.weight_hh_l0")?, at("lstm.bias_ih_l0")?, at("lstm.bias_hh_l0")?],
            reverse: if per_token {
                let p = |part: &str| at(&format!("lstm.{part}_l0_reverse"));
                Some([p("weight_ih")?, p("weight_hh")?, p("bias_ih")?, p("bias_hh")?])
            } else {
                None
            },
            hidden: (at("hidden.weight")?, at("hidden.bias")?),
            classifier: (at("classifier.weight")?, at("classifier.bias")?),
        })
    }
}

/// The normalised table and what its backward needs.
struct Normalised {
    /// `(E − m)/s`, `[V, D]`.
    table: Storage,
    /// `E − m`, `[V, D]`.
    centered: Storage,
    /// `s = √(v + 1e-6)`, `[D]`.
    std: Storage,
    /// `s` on every row, `[V, D]`.
    std_rows: Storage,
}

/// `lstm_classifier`'s (or `bilstm_tagger`'s) weights on a device, uploaded once.
pub struct DeviceLstmClassifier {
    dev: Arc<dyn Device>,
    cfg: LstmTextConfig,
    /// `bilstm_tagger`: both directions, every step read, a masked loss.
    per_token: bool,
    /// Every entry of the store, in its order.
    params: Vec<Storage>,
    layout: Layout,
    /// `b_ih + b_hh` (the primitive adds one bias), per direction.
    lstm_bias: Vec<Storage>,
    /// The `[I | 0]` and `[0 | I]` selectors `[H, 2H]` (tagger only).
    selectors: Option<[Storage; 2]>,
    /// The normalised table (rebuilt by `refresh`), if normalised.
    norm: Option<Normalised>,
    /// `[V]` ones: the rank-1 broadcasts' other factor.
    ones_v: Storage,
    /// The seed 1.0 of the summed loss's backward.
    one: Storage,
}

/// A forward pass's values, kept for its backward.
pub(super) struct Forward {
    /// The dropout seeds of the embedded words and of the FFNN output.
    seeds: Option<(u64, u64)>,
    /// The LSTM's input `[B, T, D]` (after dropout).
    lstm_in: Storage,
    /// Per direction: output `[B, T, H]` and what its backward needs.
    lstm_out: Vec<(Storage, Saved)>,
    last_ids: Vec<usize>,
    /// The classifier's last steps `[B, H]` (`lstm_classifier`), else empty.
    last: Option<Storage>,
    /// The halves of `hidden.weight` per direction (tagger), else empty.
    halves: Vec<Storage>,
    /// The ReLU layer's pre-activation and output `[B, F]`.
    pre: Storage,
    post: Storage,
    /// The classifier's input (after dropout) `[B, F]`.
    z: Storage,
    /// Log-softmax of the logits `[B, C]`.
    pub(super) ls: Storage,
    /// Per-row weighted loss `[B]`.
    pub(super) per_row: Storage,
}

impl DeviceLstmClassifier {
    /// Uploads `model`'s weights (an `lstm_classifier`) from `store` to `dev`.
    pub fn new(model: &Model, store: &ParamStore, dev: Arc<dyn Device>) -> Result<Self> {
        let (cfg, per_token) = match model.config() {
            ModelConfig::LstmClassifier(c) => (c, false),
            ModelConfig::BilstmTagger(c) => (c, true),
            other => return Err(Error::invalid(OP, format!("{} is not an LSTM text model", other.arch()))),
        };
        let layout = Layout::of(store, &cfg, per_token)?;
        let params = store.ids().map(|id| dev.upload(store.get(id).data())).collect::<Result<Vec<_>>>()?;
        let selectors = if per_token {
            let h = cfg.lstm_hidden;
            let sel = |half: usize| -> Vec<f32> {
                (0..h * 2 * h).map(|i| if i % (2 * h) == i / (2 * h) + half * h { 1.0 } else { 0.0 }).collect()
            };
            Some([dev.upload(&sel(0))?, dev.upload(&sel(1))?])
        } else {
            None
        };
        let mut m = DeviceLstmClassifier {
            one: dev.upload(&[1.0])?,
            ones_v: dev.upload(&vec![1.0; cfg.vocab])?,
            lstm_bias: Vec::new(),
            selectors,
            per_token,
            norm: None,
            cfg,
            params,
            layout,
            dev,
        };
        m.refresh()?;
        Ok(m)
    }

    /// Rebuilds what is derived from the weights (the LSTM's summed bias,
    /// the normalised table) after they changed in place.
    pub fn refresh(&mut self) -> Result<()> {
        let d = self.dev.as_ref();
        self.lstm_bias = self
            .directions()
            .iter()
            .map(|&[_, _, b_ih, b_hh]| d.binary(BinaryKind::Add, &self.params[b_ih], &self.params[b_hh]))
            .collect::<Result<_>>()?;
        self.norm = match self.layout.freq {
            Some(f) => Some(self.normalise(&self.params[f])?),
            None => None,
        };
        Ok(())
    }

    /// The device it runs on.
    pub fn device(&self) -> &Arc<dyn Device> {
        &self.dev
    }

    /// Its hyper-parameters.
    pub fn config(&self) -> &LstmTextConfig {
        &self.cfg
    }

    /// Every weight, in the store's order.
    pub fn params(&self) -> &[Storage] {
        &self.params
    }

    /// Every weight, in the store's order, to update in place; call
    /// [`DeviceLstmClassifier::refresh`] afterwards.
    pub fn params_mut(&mut self) -> &mut [Storage] {
        &mut self.params
    }

    /// The embedding table `[V, D]` as the model reads it (normalised if
    /// configured): iAdvT's nearest-neighbour candidates.
    pub fn table(&self) -> &Storage {
        self.norm.as_ref().map_or(&self.params[self.layout.embedding], |n| &n.table)
    }

    /// `ones [rows, 1] · row [1, cols]`: `row` on every one of `rows` rows.
    fn rows_of(&self, ones: &Storage, row: &Storage, rows: usize, cols: usize) -> Result<Storage> {
        self.dev.gemm(ones, row, Gemm { m: rows, k: 1, n: cols, ta: false, tb: false })
    }

    /// `(E − m)/√(v + 1e-6)` with `m = Σ_v f_v E_v`, `v = Σ_v f_v (E_v − m)²`.
    fn normalise(&self, freq: &Storage) -> Result<Normalised> {
        let d = self.dev.as_ref();
        let (v, dim) = (self.cfg.vocab, self.cfg.embed_dim);
        let e = &self.params[self.layout.embedding];
        let weighted = |x: &Storage| d.gemm(freq, x, Gemm { m: 1, k: v, n: dim, ta: false, tb: false });
        let mean = weighted(e)?;
        let centered = d.binary(BinaryKind::Sub, e, &self.rows_of(&self.ones_v, &mean, v, dim)?)?;
        let var = weighted(&d.unary(Unary::Square, &centered)?)?;
        let std = d.unary(Unary::Sqrt, &d.binary(BinaryKind::Add, &var, &d.upload(&vec![NORM_EPS; dim])?)?)?;
        let std_rows = self.rows_of(&self.ones_v, &std, v, dim)?;
        let table = d.binary(BinaryKind::Div, &centered, &std_rows)?;
        Ok(Normalised { table, centered, std, std_rows })
    }

    /// dLoss/dE from dLoss/d(table) `gt [V, D]` through the normalisation:
    /// `dc = gt/s + 2 c ∘ (f ⊗ dv)` with `dv = −½ Σ_v gt∘table / s²`, then
    /// `dE = dc − f ⊗ Σ_v dc` (the mean's share).
    fn normalise_bwd(&self, n: &Normalised, freq: &Storage, gt: &Storage) -> Result<Storage> {
        let d = self.dev.as_ref();
        let (v, dim) = (self.cfg.vocab, self.cfg.embed_dim);
        let direct = d.binary(BinaryKind::Div, gt, &n.std_rows)?;
        let t1 = d.col_sums(&d.binary(BinaryKind::Mul, gt, &n.table)?, dim)?;
        let dvar = d.scale(&d.binary(BinaryKind::Div, &d.binary(BinaryKind::Div, &t1, &n.std)?, &n.std)?, -0.5)?;
        let f_dvar = self.rows_of(freq, &dvar, v, dim)?;
        let through_var = d.scale(&d.binary(BinaryKind::Mul, &n.centered, &f_dvar)?, 2.0)?;
        let dc = d.binary(BinaryKind::Add, &direct, &through_var)?;
        let mean_share = self.rows_of(freq, &d.col_sums(&dc, dim)?, v, dim)?;
        d.binary(BinaryKind::Sub, &dc, &mean_share)
    }

    pub(super) fn check(&self, x: &WordBatch, classes: &[usize], weights: &[f32]) -> Result<()> {
        let rows = self.rows(x);
        for (what, len, want) in
            [("targets", classes.len(), rows), ("weights", weights.len(), rows), ("lengths", x.lengths.len(), x.batch)]
        {
            if len != want {
                return Err(Error::invalid(OP, format!("{len} {what} for a batch of {} ({want} expected)", x.batch)));
            }
        }
        if x.ids.len() != x.batch * x.len {
            return Err(Error::invalid(OP, format!("{} ids for a [{}, {}] batch", x.ids.len(), x.batch, x.len)));
        }
        if let Some(&l) = x.lengths.iter().find(|&&l| l == 0 || l > x.len) {
            return Err(Error::invalid(OP, format!("a text of {l} words in a batch of {}", x.len)));
        }
        Ok(())
    }

    /// Evaluation-mode log-probabilities of `x` (`[B, C]`, or `[B·T, C]`
    /// for the tagger), left on the device (no backward: dev evaluation).
    pub fn log_probs(&self, x: &WordBatch) -> Result<Storage> {
        let rows = self.rows(x);
        let (zeros, w) = (vec![0; rows], vec![0.0; rows]);
        self.check(x, &zeros, &w)?;
        Ok(self.forward(x, &self.embed(x)?, None, &zeros, &w, Mode::EVAL)?.ls)
    }

    /// The embedded words `[B·T, D]` (rows of the table as the model reads it).
    pub fn embed(&self, x: &WordBatch) -> Result<Storage> {
        self.dev.embedding_fwd(self.table(), self.cfg.vocab, self.cfg.embed_dim, &x.ids)
    }

    /// Rows of the logits: one per text, or one per position (tagger).
    fn rows(&self, x: &WordBatch) -> usize {
        if self.per_token {
            x.batch * x.len
        } else {
            x.batch
        }
    }

    /// The directions' store indices: forward, then reverse (tagger).
    fn directions(&self) -> Vec<[usize; 4]> {
        std::iter::once(self.layout.lstm).chain(self.layout.reverse).collect()
    }

    /// The forward pass from the embedded words `emb [B·T, D]` (plus the
    /// perturbation `r`, if any) to the log-softmax and per-row loss, with
    /// dropout under `mode` (`mode.site(0)` on the words, `site(1)` on the
    /// FFNN output, as the tape draws them).
    pub(super) fn forward(
        &self,
        x: &WordBatch,
        emb: &Storage,
        r: Option<&Storage>,
        classes: &[usize],
        weights: &[f32],
        mode: Mode,
    ) -> Result<Forward> {
        let d = self.dev.as_ref();
        let c = &self.cfg;
        let (h, f, nc, rows) = (c.lstm_hidden, c.ffnn_dim, c.n_classes, self.rows(x));
        let seeds = (mode.train && c.dropout > 0.0).then(|| (mode.site(0), mode.site(1)));
        let mut owned = match r {
            Some(r) => Some(d.binary(BinaryKind::Add, emb, r)?),
            None => None,
        };
        if let Some((s0, _)) = seeds {
            owned = Some(d.dropout(owned.as_ref().unwrap_or(emb), c.dropout, s0)?);
        }
        // The backward needs the LSTM's input: a copy only when nothing changed the embedded words.
        let lstm_in = match owned {
            Some(v) => v,
            None => d.scale(emb, 1.0)?,
        };
        let lstm_out = (0..self.directions().len())
            .map(|dir| d.lstm_fwd(&lstm_in, self.lstm_params(dir), &x.lengths, self.lstm_shape(x, dir)))
            .collect::<Result<Vec<_>>>()?;
        let last_ids: Vec<usize> = x.lengths.iter().enumerate().map(|(b, &len)| b * x.len + len - 1).collect();
        let (hw, hb) = self.layout.hidden;
        let (pre, last, halves) = match &self.selectors {
            None => {
                let last = d.embedding_fwd(&lstm_out[0].0, x.batch * x.len, h, &last_ids)?;
                let pre = d.linear(&last, &self.params[hw], Some(&self.params[hb]), (rows, h, f))?;
                (pre, Some(last), Vec::new())
            }
            Some(sel) => {
                // W_f, W_b [F, H] = W [F, 2H] · selectorᵀ.
                let half =
                    |s: &Storage| d.gemm(&self.params[hw], s, Gemm { m: f, k: 2 * h, n: h, ta: false, tb: true });
                let halves = vec![half(&sel[0])?, half(&sel[1])?];
                let fwd = d.linear(&lstm_out[0].0, &halves[0], Some(&self.params[hb]), (rows, h, f))?;
                let bwd = d.linear(&lstm_out[1].0, &halves[1], None, (rows, h, f))?;
                (d.binary(BinaryKind::Add, &fwd, &bwd)?, None, halves)
            }
        };
        let post = d.unary(Unary::Relu, &pre)?;
        let z = match seeds {
            Some((_, s1)) => d.dropout(&post, c.dropout, s1)?,
            None => d.scale(&post, 1.0)?,
        };
        let (cw, cb) = self.layout.classifier;
        let logits = d.linear(&z, &self.params[cw], Some(&self.params[cb]), (rows, f, nc))?;
        let (ls, per_row) = d.cross_entropy(&logits, nc, classes, weights)?;
        Ok(Forward { seeds, lstm_in, lstm_out, last_ids, last, halves, pre, post, z, ls, per_row })
    }

    /// From dLoss/dlogits back to the embedded words (with any
    /// perturbation): dLoss/d(embedded) `[B·T, D]`; with `grads` (one slot
    /// per store entry) also every weight's gradient.
    pub(super) fn backward(
        &self,
        x: &WordBatch,
        fw: &Forward,
        glogits: &Storage,
        grads: Option<&mut [Option<Storage>]>,
    ) -> Result<Storage> {
        let d = self.dev.as_ref();
        let c = &self.cfg;
        let (rows, h, f, nc) = (self.rows(x), c.lstm_hidden, c.ffnn_dim, c.n_classes);
        let (cw, cb) = self.layout.classifier;
        let (hw, hb) = self.layout.hidden;
        let mut gz = d.gemm(glogits, &self.params[cw], Gemm { m: rows, k: nc, n: f, ta: false, tb: false })?;
        if let Some((_, s1)) = fw.seeds {
            // Inverted dropout's backward is the same mask and scale.
            gz = d.dropout(&gz, c.dropout, s1)?;
        }
        let gpre = d.unary_bwd(Unary::Relu, &fw.pre, &fw.post, &gz)?;
        let through = |w: &Storage| d.gemm(&gpre, w, Gemm { m: rows, k: f, n: h, ta: false, tb: false });
        // dLoss/d(each direction's outputs) [B·T, H].
        let gys: Vec<Storage> = if fw.halves.is_empty() {
            vec![d.embedding_bwd(&through(&self.params[hw])?, x.batch * x.len, h, &fw.last_ids, None)?]
        } else {
            fw.halves.iter().map(through).collect::<Result<_>>()?
        };
        let need_w = grads.is_some();
        let mut gemb: Option<Storage> = None;
        let mut lstm_grads = Vec::new();
        for (dir, gy) in gys.iter().enumerate() {
            let (y, saved) = &fw.lstm_out[dir];
            let (p, s) = (self.lstm_params(dir), self.lstm_shape(x, dir));
            let lg = d.lstm_bwd(&fw.lstm_in, p, &x.lengths, s, saved, y, gy, need_w)?;
            gemb = Some(match gemb {
                Some(g) => d.binary(BinaryKind::Add, &g, &lg.dx)?,
                None => lg.dx,
            });
            lstm_grads.push(lg.weights);
        }
        let mut gemb = gemb.ok_or_else(|| Error::invalid(OP, "no LSTM direction"))?;
        if let Some((s0, _)) = fw.seeds {
            gemb = d.dropout(&gemb, c.dropout, s0)?;
        }
        let Some(gr) = grads else { return Ok(gemb) };
        // dW = gᵀ·x for y = x·Wᵀ + b; the bias takes the column sums.
        gr[cw] = Some(d.gemm(glogits, &fw.z, Gemm { m: nc, k: rows, n: f, ta: true, tb: false })?);
        gr[cb] = Some(d.col_sums(glogits, nc)?);
        let dw = |input: &Storage| d.gemm(&gpre, input, Gemm { m: f, k: rows, n: h, ta: true, tb: false });
        gr[hw] = Some(match (&fw.last, &self.selectors) {
            (Some(last), _) => dw(last)?,
            (None, Some(sel)) => {
                // [dW_f | dW_b] = dW_f · [I | 0] + dW_b · [0 | I].
                let put = |g: Storage, s: &Storage| d.gemm(&g, s, Gemm { m: f, k: h, n: 2 * h, ta: false, tb: false });
                let fwd = put(dw(&fw.lstm_out[0].0)?, &sel[0])?;
                d.binary(BinaryKind::Add, &fwd, &put(dw(&fw.lstm_out[1].0)?, &sel[1])?)?
            }
            (None, None) => return Err(Error::invalid(OP, "neither a last step nor both directions")),
        });
        gr[hb] = Some(d.col_sums(&gpre, f)?);
        for ([w_ih, w_hh, b_ih, b_hh], ws) in self.directions().into_iter().zip(lstm_grads) {
            let mut ws = ws.ok_or_else(|| Error::invalid(OP, "the LSTM returned no weight gradients"))?;
            let bias = ws.pop().ok_or_else(|| Error::invalid(OP, "the LSTM returned no bias gradient"))?;
            // b_ih and b_hh enter as one sum: each gets its gradient.
            gr[b_hh] = Some(d.scale(&bias, 1.0)?);
            gr[b_ih] = Some(bias);
            gr[w_hh] = ws.pop();
            gr[w_ih] = ws.pop();
        }
        // The table's padding row gets no gradient (`padding_idx` 0).
        let gt = d.embedding_bwd(&gemb, c.vocab, c.embed_dim, &x.ids, Some(0))?;
        gr[self.layout.embedding] = Some(match (&self.norm, self.layout.freq) {
            (Some(n), Some(fq)) => self.normalise_bwd(n, &self.params[fq], &gt)?,
            _ => gt,
        });
        Ok(gemb)
    }

    fn lstm_shape(&self, x: &WordBatch, dir: usize) -> LstmShape {
        let c = &self.cfg;
        LstmShape { batch: x.batch, steps: x.len, n_in: c.embed_dim, hidden: c.lstm_hidden, reverse: dir == 1 }
    }

    fn lstm_params(&self, dir: usize) -> LstmParams<'_> {
        let [w_ih, w_hh, _, _] = self.directions()[dir];
        LstmParams { w_ih: &self.params[w_ih], w_hh: &self.params[w_hh], bias: &self.lstm_bias[dir] }
    }

    /// The seed 1.0 of a summed loss's backward, resident on the device.
    pub(super) fn one(&self) -> &Storage {
        &self.one
    }
}

/// What a training pass differentiates.
#[derive(Clone, Copy)]
pub enum PassLoss<'a> {
    /// The mean cross-entropy against these classes (`Tape::cross_entropy`).
    CrossEntropy(&'a [usize]),
    /// The tagger's mean cross-entropy over the real tokens
    /// (`Tape::cross_entropy_masked`): labels and mask `[B·T]`.
    Tagged {
        /// One label per position.
        labels: &'a [usize],
        /// 1 at real tokens, 0 at padding.
        mask: &'a [f32],
    },
    /// The mean over rows of KL(p ‖ q) with `p` these log-probabilities
    /// `[B, C]` (held fixed) and `q` the model's (`Tape::kl_div`, VAT).
    Kl(&'a Storage),
    /// `Σ_b weights[b] · CE(b, classes[b])`, one weight per text (an
    /// attack's J: +1 away from the label, −1 towards a target).
    Weighted {
        /// One class per text.
        classes: &'a [usize],
        /// One weight per text.
        weights: &'a [f32],
    },
    /// The tagger's VAT term: the mean over the real tokens (`mask > 0`) of
    /// KL(p ‖ q), `p` these log-probabilities `[B·T, C]` (held fixed), as
    /// `adv::embedding`'s `kl_loss` selects the rows on the tape.
    TaggedKl {
        /// The clean pass's log-probabilities `[B·T, C]`.
        log_probs: &'a Storage,
        /// 1 at real tokens, 0 at padding `[B·T]`.
        mask: &'a [f32],
    },
}

/// One training pass on the device.
pub struct Pass {
    /// The loss and, when asked for, every weight's gradient (all `None`
    /// when the loss is not finite).
    pub grads: DeviceGrads,
    /// dLoss/d(embedded words) `[B·T, D]`, when asked for and the loss is finite.
    pub input_grad: Option<Storage>,
    /// The model's log-probabilities `[B, C]`.
    pub log_probs: Storage,
}

impl DeviceLstmClassifier {
    /// The mean cross-entropy of `x` against `classes` and every weight's
    /// gradient, under `mode` (dropout as the tape draws it).
    pub fn train_grads(&self, x: &WordBatch, classes: &[usize], mode: Mode) -> Result<DeviceGrads> {
        Ok(self.pass(x, mode, None, PassLoss::CrossEntropy(classes), true, false)?.grads)
    }

    /// A training pass with the embedded words perturbed by `r [B·T, D]`
    /// (when given): `loss`'s value, with `need_w` every weight's gradient,
    /// with `keep_input_grad` the gradient at the (perturbed) embedded
    /// words (AdvT's g, VAT's dKL/dr, an attack's dJ/d(embedded words));
    /// with neither, no backward pass.
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
        let (rows, nc) = (self.rows(x), self.cfg.n_classes);
        let (classes, w) = super::loss::rows_of(loss, rows, self.per_token)?;
        let classes = &classes[..];
        self.check(x, classes, &w)?;
        let emb = self.embed(x)?;
        let fw = self.forward(x, &emb, r, classes, &w, mode)?;
        let mut grads: Vec<Option<Storage>> = (0..self.params.len()).map(|_| None).collect();
        let (value, glogits) = super::loss::differentiate(d, loss, (&fw.ls, &fw.per_row), classes, &w, nc, self.one())?;
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
