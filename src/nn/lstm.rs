//! PyTorch's `nn.LSTM(batch_first=True)`: stacked, optionally bidirectional,
//! over padded batches with per-sequence lengths.

use crate::error::{Error, Result};
use crate::nn::{init, Bound, ParamId, ParamStore};
use crate::ops::LstmWeights;
use crate::rng::Rng;
use crate::tape::{Tape, Var};

#[derive(Clone, Debug)]
struct Direction {
    w_ih: ParamId,
    w_hh: ParamId,
    b_ih: ParamId,
    b_hh: ParamId,
}

impl Direction {
    fn new(store: &mut ParamStore, name: &str, suffix: &str, n_in: usize, h: usize, rng: &mut Rng) -> Result<Self> {
        let mut add = |t: &str, shape: &[usize], rng: &mut Rng| {
            store.add(&format!("{name}.{t}{suffix}"), init::lstm(h, shape, rng))
        };
        Ok(Direction {
            w_ih: add("weight_ih", &[4 * h, n_in], rng)?,
            w_hh: add("weight_hh", &[4 * h, h], rng)?,
            b_ih: add("bias_ih", &[4 * h], rng)?,
            b_hh: add("bias_hh", &[4 * h], rng)?,
        })
    }

    fn weights(&self, p: &Bound) -> LstmWeights {
        LstmWeights { w_ih: p.var(self.w_ih), w_hh: p.var(self.w_hh), b_ih: p.var(self.b_ih), b_hh: p.var(self.b_hh) }
    }
}

#[derive(Clone, Debug)]
/// A stack of (optionally bidirectional) LSTM layers with PyTorch's parameter names (`{name}.weight_ih_l0`, …).
pub struct Lstm {
    /// Hidden units per direction.
    pub hidden: usize,
    /// Whether each layer also runs right to left.
    pub bidirectional: bool,
    /// Per layer: forward, then reverse if bidirectional.
    layers: Vec<Vec<Direction>>,
}

/// What an LSTM stack returns.
pub struct LstmOutput {
    /// Top layer's outputs `[B, T, H·dirs]`, zero at padded steps.
    pub outputs: Var,
    /// Top layer's forward-direction hidden state at each sequence's last
    /// true step, `[B, H]`.
    pub last: Var,
}

impl Lstm {
    /// Adds the stack's weights to `store` (`layers` ≥ 1, `hidden` ≥ 1).
    pub fn new(
        store: &mut ParamStore,
        name: &str,
        n_in: usize,
        hidden: usize,
        layers: usize,
        bidirectional: bool,
        rng: &mut Rng,
    ) -> Result<Self> {
        if layers == 0 || hidden == 0 {
            return Err(Error::invalid("lstm", "needs at least one layer and one hidden unit"));
        }
        let dirs = if bidirectional { 2 } else { 1 };
        let mut all = Vec::with_capacity(layers);
        for l in 0..layers {
            let input = if l == 0 { n_in } else { hidden * dirs };
            let mut layer = vec![Direction::new(store, name, &format!("_l{l}"), input, hidden, rng)?];
            if bidirectional {
                layer.push(Direction::new(store, name, &format!("_l{l}_reverse"), input, hidden, rng)?);
            }
            all.push(layer);
        }
        Ok(Lstm { hidden, bidirectional, layers: all })
    }

    /// Layers in the stack.
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// The forward direction's weights of layer `l` (for step-by-step use,
    /// `nn::lstm_cell`).
    pub fn layer_weights(&self, p: &Bound, l: usize) -> Option<LstmWeights> {
        self.layers.get(l).map(|layer| layer[0].weights(p))
    }

    /// `x [B, T, In]`; `lengths[b]` in 1..=T.
    pub fn forward(&self, tape: &Tape, p: &Bound, x: Var, lengths: &[usize]) -> Result<LstmOutput> {
        let shape = tape.shape(x)?;
        if shape.len() != 3 {
            return Err(Error::invalid("lstm", format!("input must be [batch, time, features], got {shape:?}")));
        }
        let (b, t) = (shape[0], shape[1]);
        if let Some(&l) = lengths.iter().find(|&&l| l == 0) {
            return Err(Error::invalid(
                "lstm",
                format!("sequence of length {l}: every sequence needs at least one step"),
            ));
        }
        let mut input = x;
        let mut top_forward = x;
        for layer in &self.layers {
            let fwd = tape.lstm_layer(input, layer[0].weights(p), lengths, false)?;
            top_forward = fwd;
            input = match layer.get(1) {
                Some(rev) => {
                    let bwd = tape.lstm_layer(input, rev.weights(p), lengths, true)?;
                    tape.concat(&[fwd, bwd], 2)?
                }
                None => fwd,
            };
        }
        let flat = tape.reshape(top_forward, &[b * t, self.hidden])?;
        let rows: Vec<usize> = lengths.iter().enumerate().map(|(i, &l)| i * t + l - 1).collect();
        let last = tape.index_select(flat, &rows)?;
        Ok(LstmOutput { outputs: input, last })
    }
}
