//! One step of a stacked LSTM (PyTorch's gate order i, f, g, o), built from
//! existing ops so that its gradients are theirs: for decoders that feed
//! each step's output back in, and for encoders whose final cell state is
//! needed.

use crate::error::{Error, Result};
use crate::nn::{Bound, Lstm};
use crate::ops::LstmWeights;
use crate::tape::{Tape, Var};

/// One layer's `(h, c)`, each `[B, H]`.
pub type State = (Var, Var);

/// `(h', c')` of one LSTM cell for input `x [B, In]`.
pub fn cell(tape: &Tape, w: &LstmWeights, x: Var, (h, c): State, hidden: usize) -> Result<State> {
    let gx = tape.linear(x, w.w_ih, Some(w.b_ih))?;
    let gh = tape.linear(h, w.w_hh, Some(w.b_hh))?;
    let gates = tape.add(gx, gh)?;
    let gate = |k: usize| tape.narrow(gates, 1, k * hidden, hidden);
    let i = tape.sigmoid(gate(0)?)?;
    let f = tape.sigmoid(gate(1)?)?;
    let g = tape.tanh(gate(2)?)?;
    let o = tape.sigmoid(gate(3)?)?;
    let fc = tape.mul(f, c)?;
    let ig = tape.mul(i, g)?;
    let c2 = tape.add(fc, ig)?;
    let tc = tape.tanh(c2)?;
    let h2 = tape.mul(o, tc)?;
    Ok((h2, c2))
}

/// One step of every layer of `lstm`: returns the top layer's output and the
/// new states. `keep` (`[B, 1]`, 1 or 0), when given, keeps the old state of
/// rows whose sequence has ended.
pub fn step(
    tape: &Tape,
    p: &Bound,
    lstm: &Lstm,
    x: Var,
    states: &[State],
    keep: Option<Var>,
) -> Result<(Var, Vec<State>)> {
    if states.len() != lstm.num_layers() {
        return Err(Error::invalid("lstm step", format!("{} states for {} layers", states.len(), lstm.num_layers())));
    }
    let mut input = x;
    let mut out = Vec::with_capacity(states.len());
    for (l, &st) in states.iter().enumerate() {
        let w = lstm.layer_weights(p, l).ok_or_else(|| Error::invalid("lstm step", "missing layer"))?;
        let (mut h, mut c) = cell(tape, &w, input, st, lstm.hidden)?;
        if let Some(m) = keep {
            h = blend(tape, m, h, st.0)?;
            c = blend(tape, m, c, st.1)?;
        }
        out.push((h, c));
        input = h;
    }
    Ok((input, out))
}

/// `old + m·(new − old)`: `new` where `m` is 1, `old` where it is 0.
fn blend(tape: &Tape, m: Var, new: Var, old: Var) -> Result<Var> {
    let d = tape.sub(new, old)?;
    let md = tape.mul(m, d)?;
    tape.add(old, md)
}
