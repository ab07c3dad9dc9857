//! f64 reductions over f32 rows, in a fixed order.
//!
//! The per-row sums of the neighbour computation (‖E_v‖², ‖E_k − w_t‖²,
//! g·(E_k − w_t)) are short (D terms) and cheap next to the search, so they
//! run in f64: a square of an f32 never underflows there, so a distance is
//! 0 exactly when the two vectors are equal, and the CPU and the GPU
//! (which sums in another order) round to the same f32 almost always. Eight
//! independent lanes let the compiler vectorise while the order stays a
//! function of the length alone (deterministic).

use multiversion::multiversion;

const LANES: usize = 8;

/// Adds lanes in order: the one order every target uses.
#[inline(always)]
fn fold(acc: [f64; LANES]) -> f64 {
    acc.iter().sum()
}

/// `Σ x_j²`.
#[multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma", "x86_64+sse4.1"))]
pub fn sum_sq(x: &[f32]) -> f64 {
    let mut acc = [0.0f64; LANES];
    let (blocks, rest) = x.as_chunks::<LANES>();
    for b in blocks {
        for l in 0..LANES {
            let v = b[l] as f64;
            acc[l] += v * v;
        }
    }
    for (a, &v) in acc.iter_mut().zip(rest) {
        *a += v as f64 * v as f64;
    }
    fold(acc)
}

/// `Σ (e_j − w_j)²` with each difference taken in f32, as the directions are.
#[multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma", "x86_64+sse4.1"))]
pub fn sq_dist(e: &[f32], w: &[f32]) -> f64 {
    let n = e.len().min(w.len());
    let mut acc = [0.0f64; LANES];
    let (eb, er) = e[..n].as_chunks::<LANES>();
    let (wb, wr) = w[..n].as_chunks::<LANES>();
    for (x, y) in eb.iter().zip(wb) {
        for l in 0..LANES {
            let v = (x[l] - y[l]) as f64;
            acc[l] += v * v;
        }
    }
    for ((a, &x), &y) in acc.iter_mut().zip(er).zip(wr) {
        let v = (x - y) as f64;
        *a += v * v;
    }
    fold(acc)
}

/// `Σ g_j (e_j − w_j)`, differences in f32.
#[multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma", "x86_64+sse4.1"))]
pub fn dot_diff(g: &[f32], e: &[f32], w: &[f32]) -> f64 {
    let n = g.len().min(e.len()).min(w.len());
    let mut acc = [0.0f64; LANES];
    let (gb, gr) = g[..n].as_chunks::<LANES>();
    let (eb, er) = e[..n].as_chunks::<LANES>();
    let (wb, wr) = w[..n].as_chunks::<LANES>();
    for ((z, x), y) in gb.iter().zip(eb).zip(wb) {
        for l in 0..LANES {
            acc[l] += z[l] as f64 * (x[l] - y[l]) as f64;
        }
    }
    for (((a, &z), &x), &y) in acc.iter_mut().zip(gr).zip(er).zip(wr) {
        *a += z as f64 * (x - y) as f64;
    }
    fold(acc)
}

/// `acc_j += c · (e_j − w_j)`, the difference in f32 (one term of `r`).
#[multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma", "x86_64+sse4.1"))]
pub fn add_scaled_diff(acc: &mut [f64], c: f64, e: &[f32], w: &[f32]) {
    for ((a, &x), &y) in acc.iter_mut().zip(e).zip(w) {
        *a += c * (x - y) as f64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_match_plain_loops_and_keep_tiny_differences() {
        let x: Vec<f32> = (0..19).map(|i| i as f32 * 0.5 - 3.0).collect();
        let y: Vec<f32> = (0..19).map(|i| (i * i) as f32 * 0.01).collect();
        let g: Vec<f32> = (0..19).map(|i| 1.0 - i as f32 * 0.1).collect();
        let plain_sq: f64 = x.iter().map(|&v| v as f64 * v as f64).sum();
        assert!((sum_sq(&x) - plain_sq).abs() < 1e-12);
        let plain_d: f64 = x.iter().zip(&y).map(|(&a, &b)| ((a - b) as f64).powi(2)).sum();
        assert!((sq_dist(&x, &y) - plain_d).abs() < 1e-12);
        let plain_g: f64 = g.iter().zip(x.iter().zip(&y)).map(|(&g, (&a, &b))| g as f64 * (a - b) as f64).sum();
        assert!((dot_diff(&g, &x, &y) - plain_g).abs() < 1e-12);
        // A difference whose f32 square would underflow still counts.
        assert!(sq_dist(&[1e-30], &[0.0]) > 0.0);
        assert_eq!(sq_dist(&x, &x), 0.0);
        assert_eq!(sum_sq(&[]), 0.0);
        let mut acc = vec![1.0f64; 19];
        add_scaled_diff(&mut acc, 0.5, &x, &y);
        assert!(acc.iter().zip(x.iter().zip(&y)).all(|(&a, (&p, &q))| a == 1.0 + 0.5 * (p - q) as f64));
    }
}
