//! PyTorch's `nn.Linear` and the highway layer built from two of them.

use crate::error::Result;
use crate::nn::{init, Bound, ParamId, ParamStore};
use crate::rng::Rng;
use crate::tape::{Tape, Var};

/// `y = x·Wᵀ + b` with `{name}.weight [out, in]`, `{name}.bias [out]`.
#[derive(Clone, Debug)]
pub struct Linear {
    pub weight: ParamId,
    pub bias: ParamId,
}

impl Linear {
    pub fn new(store: &mut ParamStore, name: &str, n_in: usize, n_out: usize, rng: &mut Rng) -> Result<Self> {
        let (w, b) = init::linear(n_out, n_in, rng);
        Ok(Linear { weight: store.add(&format!("{name}.weight"), w)?, bias: store.add(&format!("{name}.bias"), b)? })
    }

    pub fn forward(&self, tape: &Tape, p: &Bound, x: Var) -> Result<Var> {
        tape.linear(x, p.var(self.weight), Some(p.var(self.bias)))
    }
}

/// Highway layer (Srivastava et al. 2015, as in Kim et al. 2016):
/// `t = σ(gate(x))`, `h = relu(transform(x))`, `y = t·h + (1 − t)·x`.
#[derive(Clone, Debug)]
pub struct Highway {
    pub gate: Linear,
    pub transform: Linear,
}

impl Highway {
    pub fn new(store: &mut ParamStore, name: &str, dim: usize, rng: &mut Rng) -> Result<Self> {
        Ok(Highway {
            gate: Linear::new(store, &format!("{name}.gate"), dim, dim, rng)?,
            transform: Linear::new(store, &format!("{name}.transform"), dim, dim, rng)?,
        })
    }

    pub fn forward(&self, tape: &Tape, p: &Bound, x: Var) -> Result<Var> {
        let t = tape.sigmoid(self.gate.forward(tape, p, x)?)?;
        let h = tape.relu(self.transform.forward(tape, p, x)?)?;
        // t·h + (1 − t)·x  =  x + t·(h − x): one fewer op and intermediate.
        let d = tape.sub(h, x)?;
        let td = tape.mul(t, d)?;
        tape.add(x, td)
    }
}
