//! Max-norm constraint (Kim 2014, after Hinton et al. 2012): after each
//! update, a weight row whose L2 norm exceeds `max_norm` is scaled back to
//! that norm. Kim applies it to the softmax layer's weight vectors (one per
//! class), with a limit of 3; it bounds the classifier without the shrinking
//! an L2 penalty applies to every row on every step.

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// Rescales each row of a 2-D weight `[rows, cols]` (PyTorch's Linear layout
/// `[out, in]`: one row per output unit) to L2 norm at most `max_norm`.
/// Returns how many rows were rescaled.
pub fn renorm_rows(weight: &mut Tensor, max_norm: f32) -> Result<usize> {
    // Written as "all good" so that a NaN limit fails too.
    if !(max_norm > 0.0 && max_norm.is_finite()) {
        return Err(Error::invalid("max-norm", format!("the limit {max_norm} must be positive and finite")));
    }
    let &[_, cols] = weight.shape() else {
        return Err(Error::invalid("max-norm", format!("needs a 2-D weight, got shape {:?}", weight.shape())));
    };
    if cols == 0 {
        return Ok(0);
    }
    let rescaled = weight
        .data_mut()
        .par_chunks_mut(cols)
        .map(|row| {
            let norm = row.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt();
            if norm > max_norm as f64 {
                let scale = (max_norm as f64 / norm) as f32;
                row.iter_mut().for_each(|x| *x *= scale);
                1
            } else {
                0
            }
        })
        .sum();
    Ok(rescaled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_over_the_limit_are_scaled_to_it_and_others_are_left_alone() {
        // Row norms: 5, 1, 0.
        let mut w = Tensor::new(&[3, 2], vec![3.0, 4.0, 0.6, 0.8, 0.0, 0.0]).unwrap();
        assert_eq!(renorm_rows(&mut w, 3.0).unwrap(), 1);
        let d = w.data();
        assert!((d[0] - 1.8).abs() < 1e-6 && (d[1] - 2.4).abs() < 1e-6, "{d:?}");
        assert_eq!(&d[2..], &[0.6, 0.8, 0.0, 0.0]);
        let n0 = (d[0] * d[0] + d[1] * d[1]).sqrt();
        assert!((n0 - 3.0).abs() < 1e-5, "{n0}");
    }

    #[test]
    fn bad_limits_and_shapes_are_refused() {
        let mut w = Tensor::zeros(&[2, 2]);
        for bad in [0.0, -1.0, f32::NAN, f32::INFINITY] {
            assert!(renorm_rows(&mut w, bad).is_err(), "{bad}");
        }
        assert!(renorm_rows(&mut Tensor::zeros(&[4]), 3.0).is_err());
    }
}
