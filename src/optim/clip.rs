//! Gradient-norm clipping (PyTorch's `clip_grad_norm_`).

use rayon::prelude::*;

use crate::ops::cpu;
use crate::optim::Grads;

/// Scales all gradients together so that their joint L2 norm is at most
/// `max_norm`; returns the norm before clipping. A non-finite norm is
/// returned as is and nothing is scaled, so the caller can skip the step.
pub fn clip_grad_norm(grads: &mut Grads, max_norm: f32) -> f32 {
    let sq: f64 = grads.iter().flatten().map(|g| cpu::sum_sq(g.data())).sum();
    let norm = sq.sqrt() as f32;
    if !norm.is_finite() || norm <= max_norm {
        return norm;
    }
    // PyTorch's 1e-6 keeps the scale finite for a zero max_norm.
    let scale = max_norm / (norm + 1e-6);
    for g in grads.iter_mut().flatten() {
        g.data_mut().par_iter_mut().for_each(|x| *x *= scale);
    }
    norm
}
