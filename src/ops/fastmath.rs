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

/// The same formulas as [`exp`], [`tanh`] and [`sigmoid`] on 16 lanes,
/// written with AVX-512 intrinsics so that a fused kernel can apply them to
/// a tile still in registers. Every operation mirrors the scalar one (no
/// fused multiply-add, the same order), so the results are bit-identical:
/// `vector_matches_scalar_bitwise` checks it.
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512 {
    use std::arch::x86_64::*;

    use super::{LN2_HI, LN2_LO, LOG2E};

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn splat(v: f32) -> __m512 {
        _mm512_set1_ps(v)
    }

    /// [`super::exp`] on 16 lanes.
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub fn exp(x: __m512) -> __m512 {
        // f32::clamp: NaN passes through, which min/max would not do.
        let lo = splat(-87.3);
        let hi = splat(88.0);
        let x = _mm512_mask_blend_ps(_mm512_cmp_ps_mask::<_CMP_LT_OQ>(x, lo), x, lo);
        let x = _mm512_mask_blend_ps(_mm512_cmp_ps_mask::<_CMP_GT_OQ>(x, hi), x, hi);
        let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC }>(_mm512_add_ps(
            _mm512_mul_ps(x, splat(LOG2E)),
            splat(0.5),
        ));
        let r = _mm512_sub_ps(_mm512_sub_ps(x, _mm512_mul_ps(n, splat(LN2_HI))), _mm512_mul_ps(n, splat(LN2_LO)));
        let mut p = splat(1.0 / 5040.0);
        for c in [1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0] {
            p = _mm512_add_ps(splat(c), _mm512_mul_ps(r, p));
        }
        let bits = _mm512_slli_epi32::<23>(_mm512_add_epi32(_mm512_cvttps_epi32(n), _mm512_set1_epi32(127)));
        _mm512_mul_ps(p, _mm512_castsi512_ps(bits))
    }

    /// [`super::tanh`] on 16 lanes.
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub fn tanh(x: __m512) -> __m512 {
        let sign = _mm512_set1_epi32(i32::MIN);
        let xi = _mm512_castps_si512(x);
        let a = _mm512_castsi512_ps(_mm512_andnot_si512(sign, xi));
        let t = exp(_mm512_mul_ps(splat(-2.0), a));
        let one = splat(1.0);
        let big = _mm512_div_ps(_mm512_sub_ps(one, t), _mm512_add_ps(one, t));
        let x2 = _mm512_mul_ps(x, x);
        let mut q = splat(-17.0 / 315.0);
        for c in [2.0 / 15.0, -1.0 / 3.0, 1.0] {
            q = _mm512_add_ps(splat(c), _mm512_mul_ps(x2, q));
        }
        let small = _mm512_mul_ps(a, q);
        let y = _mm512_mask_blend_ps(_mm512_cmp_ps_mask::<_CMP_LT_OQ>(a, splat(0.1)), big, small);
        // copysign(y, x)
        _mm512_castsi512_ps(_mm512_or_si512(
            _mm512_andnot_si512(sign, _mm512_castps_si512(y)),
            _mm512_and_si512(sign, xi),
        ))
    }

    /// [`super::sigmoid`] on 16 lanes.
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub fn sigmoid(x: __m512) -> __m512 {
        let neg = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(x), _mm512_set1_epi32(i32::MIN)));
        let one = splat(1.0);
        _mm512_div_ps(one, _mm512_add_ps(one, exp(neg)))
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

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn vector_matches_scalar_bitwise() {
        if !std::is_x86_feature_detected!("avx512f") {
            return;
        }
        let mut xs: Vec<f32> = (0..200_000).map(|i| (i as f32 - 100_000.0) * 0.0011).collect();
        xs.extend([0.0, -0.0, 0.1, -0.1, 0.099_999_99, 1e-30, -1e-30, 87.3, -87.3, 88.0, 200.0, -200.0]);
        xs.extend([f32::MIN_POSITIVE, f32::MAX, f32::MIN, f32::INFINITY, f32::NEG_INFINITY, f32::NAN]);
        while !xs.len().is_multiple_of(16) {
            xs.push(0.5);
        }
        for chunk in xs.chunks(16) {
            let mut out = [[0.0f32; 16]; 3];
            // SAFETY: avx512f was detected above; the slices hold 16 floats.
            unsafe {
                use std::arch::x86_64::*;
                let v = _mm512_loadu_ps(chunk.as_ptr());
                _mm512_storeu_ps(out[0].as_mut_ptr(), avx512::exp(v));
                _mm512_storeu_ps(out[1].as_mut_ptr(), avx512::tanh(v));
                _mm512_storeu_ps(out[2].as_mut_ptr(), avx512::sigmoid(v));
            }
            for (l, &x) in chunk.iter().enumerate() {
                for (k, f) in [exp as fn(f32) -> f32, tanh, sigmoid].iter().enumerate() {
                    let (got, want) = (out[k][l], f(x));
                    assert!(
                        got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                        "function {k} at {x}: vector {got} scalar {want}"
                    );
                }
            }
        }
    }
}
