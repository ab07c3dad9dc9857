//! Vectorisable exp, tanh and sigmoid, and slice kernels built on them.
//!
//! libm's `tanhf`/`expf` are scalar calls: in W1 they took a fifth of the
//! time. These are branch-free f32 formulas the compiler turns into SIMD, and
//! `multiversion` compiles each slice kernel for AVX-512, AVX2+FMA and a
//! baseline, chosen at run time. Accuracy: exp within ~2 ulp (Cody–Waite
//! reduction, degree-7 Taylor on |r| ≤ ln2/2); tanh and sigmoid within a few
//! 1e-7 absolute, far inside what the finite-difference tests and the PyTorch
//! fixture (1e-4) can see.

use multiversion::multiversion;

const LOG2E: f32 = std::f32::consts::LOG2_E;
// ln 2 split so that n·LN2_HI is exact for the n that occur.
const LN2_HI: f32 = 0.693_145_75;
const LN2_LO: f32 = 1.428_606_8e-6;

/// e^x, clamped to [−87.3, 88] so that 2^n stays a normal f32.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.3, 88.0);
    let n = (x * LOG2E + 0.5).floor();
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    p * f32::from_bits(((n as i32 + 127) << 23) as u32)
}

/// tanh x: an odd polynomial near 0 (where 1 − e^{−2|x|} would cancel),
/// (1 − t)/(1 + t) with t = e^{−2|x|} elsewhere.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    let a = x.abs();
    let t = exp(-2.0 * a);
    let big = (1.0 - t) / (1.0 + t);
    let x2 = x * x;
    let small = a * (1.0 + x2 * (-1.0 / 3.0 + x2 * (2.0 / 15.0 + x2 * (-17.0 / 315.0))));
    let y = if a < 0.1 { small } else { big };
    y.copysign(x)
}

/// 1 / (1 + e^{−x}).
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// `out[i] = exp(a[i])` for `i < min(a.len(), out.len())`; the rest of `out`
/// is left as it was. SIMD-dispatched at run time.
#[multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma", "x86_64+sse4.1"))]
pub fn exp_slice(a: &[f32], out: &mut [f32]) {
    for (o, &x) in out.iter_mut().zip(a) {
        *o = exp(x);
    }
}

/// `out[i] = tanh(a[i])` over the shorter of the two slices (see [`exp_slice`]).
#[multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma", "x86_64+sse4.1"))]
pub fn tanh_slice(a: &[f32], out: &mut [f32]) {
    for (o, &x) in out.iter_mut().zip(a) {
        *o = tanh(x);
    }
}

/// `out[i] = sigmoid(a[i])` over the shorter of the two slices (see
/// [`exp_slice`]).
#[multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma", "x86_64+sse4.1"))]
pub fn sigmoid_slice(a: &[f32], out: &mut [f32]) {
    for (o, &x) in out.iter_mut().zip(a) {
        *o = sigmoid(x);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agree_with_libm() {
        let mut worst = [0.0f64; 3];
        let mut x = -30.0f32;
        while x < 30.0 {
            let e = (x as f64).exp();
            worst[0] = worst[0].max(((exp(x) as f64 - e) / e).abs());
            worst[1] = worst[1].max((tanh(x) as f64 - (x as f64).tanh()).abs());
            worst[2] = worst[2].max((sigmoid(x) as f64 - 1.0 / (1.0 + (-x as f64).exp())).abs());
            x += 0.000_37;
        }
        assert!(worst[0] < 3e-7, "exp relative error {}", worst[0]);
        assert!(worst[1] < 3e-7, "tanh absolute error {}", worst[1]);
        assert!(worst[2] < 2e-7, "sigmoid absolute error {}", worst[2]);
        // Relative accuracy of tanh near zero, where gradients live.
        for &x in &[1e-6f32, 1e-3, 0.05, 0.0999, 0.1001] {
            let rel = ((tanh(x) as f64 - (x as f64).tanh()) / (x as f64).tanh()).abs();
            assert!(rel < 1e-6, "tanh({x}) relative error {rel}");
        }
        assert_eq!(exp(-200.0), exp(-87.3));
        assert!(exp(200.0).is_finite() && sigmoid(-200.0) >= 0.0 && sigmoid(200.0) == 1.0);
        assert_eq!(tanh(-0.0).to_bits(), (-0.0f32).to_bits());
        assert!(tanh(f32::NAN).is_nan() || tanh(f32::NAN).abs() <= 1.0);
    }

    #[test]
    fn slices_match_scalars() {
        let a: Vec<f32> = (0..1000).map(|i| (i as f32 - 500.0) * 0.03).collect();
        let mut out = vec![0.0; 1000];
        for (k, f) in [exp as fn(f32) -> f32, tanh, sigmoid].iter().enumerate() {
            match k {
                0 => exp_slice(&a, &mut out),
                1 => tanh_slice(&a, &mut out),
                _ => sigmoid_slice(&a, &mut out),
            }
            for (o, &x) in out.iter().zip(&a) {
                assert_eq!(o.to_bits(), f(x).to_bits());
            }
        }
    }
}
