//! PyTorch's `nn.Linear` and the highway layer built from two of them.

use crate::error::Result;
use crate::nn::{init, Bound, ParamId, ParamStore};
use crate::rng::Rng;
use crate::tape::{Tape, Var};

/// `y = x·Wᵀ + b` with `{name}.weight [out, in]`, `{name}.bias [out]`.
#[derive(Clone, Debug)]
pub struct Linear {
    /// `{name}.weight`, `[out, in]`.
    pub weight: ParamId,
    /// `{name}.bias`, `[out]`.
    pub bias: ParamId,
}

impl Linear {
    /// Adds `{name}.weight` and `{name}.bias` to `store`, initialised as PyTorch's `nn.Linear`.
    pub fn new(store: &mut ParamStore, name: &str, n_in: usize, n_out: usize, rng: &mut Rng) -> Result<Self> {
        let (w, b) = init::linear(n_out, n_in, rng);
        Ok(Linear { weight: store.add(&format!("{name}.weight"), w)?, bias: store.add(&format!("{name}.bias"), b)? })
    }

    /// `x [.., in]` → `[.., out]`.
    pub fn forward(&self, tape: &Tape, p: &Bound, x: Var) -> Result<Var> {
        tape.linear(x, p.var(self.weight), Some(p.var(self.bias)))
    }
}

/// Highway layer (Srivastava et al. 2015, as in Kim et al. 2016):
/// `t = σ(gate(x))`, `h = relu(transform(x))`, `y = t·h + (1 − t)·x`.
#[derive(Clone, Debug)]
pub struct Highway {
    /// The gate `t`.
    pub gate: Linear,
    /// The transform `h`.
    pub transform: Linear,
}

impl Highway {
    /// Adds `{name}.gate` and `{name}.transform` (`dim → dim`) to `store`.
    pub fn new(store: &mut ParamStore, name: &str, dim: usize, rng: &mut Rng) -> Result<Self> {
        Ok(Highway {
            gate: Linear::new(store, &format!("{name}.gate"), dim, dim, rng)?,
            transform: Linear::new(store, &format!("{name}.transform"), dim, dim, rng)?,
        })
    }

    /// `x [.., dim]` → `[.., dim]`.
    pub fn forward(&self, tape: &Tape, p: &Bound, x: Var) -> Result<Var> {
        let t = tape.sigmoid(self.gate.forward(tape, p, x)?)?;
        let h = tape.relu(self.transform.forward(tape, p, x)?)?;
        // t·h + (1 − t)·x  =  x + t·(h − x): one fewer op and intermediate.
        let d = tape.sub(h, x)?;
        let td = tape.mul(t, d)?;
        tape.add(x, td)
    }
}
