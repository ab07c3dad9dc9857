//! Perturbations in embedding space (Sato et al. 2018 §4; Miyato et al.
//! 2017): AdvT's `ε g/‖g‖`, VAT's power iteration on the KL divergence,
//! random directions, and their interpretable versions restricted to the
//! directions towards the K nearest vocabulary words (iAdvT, iVAT). Norms are
//! per example, over its real (unpadded) positions.

use crate::error::Result;
use crate::models::WordBatch;
use crate::rng::Rng;

/// The real positions of a padded batch: `(example, time)` in order.
pub fn real_positions(x: &WordBatch) -> Vec<(usize, usize)> {
    x.lengths.iter().enumerate().flat_map(|(b, &l)| (0..l).map(move |t| (b, t))).collect()
}

/// Rows of `[B, T, D]` at the real positions: `[P, D]`.
pub fn gather(full: &[f32], x: &WordBatch, d: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(x.lengths.iter().sum::<usize>() * d);
    for (b, t) in real_positions(x) {
        let at = (b * x.len + t) * d;
        out.extend_from_slice(&full[at..at + d]);
    }
    out
}

/// `[P, D]` back into `[B, T, D]`, zero at padding.
pub fn scatter(rows: &[f32], x: &WordBatch, d: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; x.batch * x.len * d];
    for (k, (b, t)) in real_positions(x).into_iter().enumerate() {
        let at = (b * x.len + t) * d;
        out[at..at + d].copy_from_slice(&rows[k * d..(k + 1) * d]);
    }
    out
}

/// Scales each example's block of `[B, T·D]` to L2 norm `eps` (a zero
/// block stays zero). Padding rows must already be zero.
pub fn normalize_per_example(v: &mut [f32], x: &WordBatch, d: usize, eps: f32) {
    let row = x.len * d;
    for block in v.chunks_mut(row) {
        let n = block.iter().map(|&a| a as f64 * a as f64).sum::<f64>().sqrt();
        if n > 0.0 {
            let s = (eps as f64 / n) as f32;
            block.iter_mut().for_each(|a| *a *= s);
        }
    }
}

/// A random direction: Gaussian at real positions, zero at padding,
/// scaled to norm `eps` per example.
pub fn random_direction(x: &WordBatch, d: usize, eps: f32, rng: &mut Rng) -> Vec<f32> {
    let mut v = vec![0.0f32; x.batch * x.len * d];
    for (b, t) in real_positions(x) {
        let at = (b * x.len + t) * d;
        v[at..at + d].iter_mut().for_each(|a| *a = rng.normal());
    }
    normalize_per_example(&mut v, x, d, eps);
    v
}

/// Checks that a gradient and a batch agree, naming the shapes.
pub fn check(g: &[f32], x: &WordBatch, d: usize) -> Result<()> {
    if g.len() != x.batch * x.len * d {
        return Err(crate::error::Error::invalid(
            "perturbation",
            format!("gradient of {} values for a [{}, {}, {d}] batch", g.len(), x.batch, x.len),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gather_scatter_and_norms() {
        let x = WordBatch::from_sentences(&[vec![2, 3, 4], vec![5]], 10, 1).unwrap();
        let d = 2;
        let full: Vec<f32> = (0..x.batch * x.len * d).map(|i| i as f32).collect();
        let rows = gather(&full, &x, d);
        assert_eq!(rows.len(), 4 * d);
        let back = scatter(&rows, &x, d);
        assert_eq!(&back[..6], &full[..6]);
        assert_eq!(&back[6..8], &full[6..8], "row (1, 0)");
        assert!(back[8..].iter().all(|&v| v == 0.0), "padding stays zero");
        let mut v = back.clone();
        normalize_per_example(&mut v, &x, d, 5.0);
        for block in v.chunks(x.len * d) {
            let n: f32 = block.iter().map(|a| a * a).sum::<f32>().sqrt();
            assert!((n - 5.0).abs() < 1e-4, "{n}");
        }
        let r = random_direction(&x, d, 2.0, &mut Rng::new(1));
        assert!(r[8..].iter().all(|&v| v == 0.0));
    }
}
