//! Opt-in bfloat16 recurrent products for the LSTM (AVX512-BF16).
//!
//! The recurrent weights `W_hh` (`[4H, H]`, 4 MB in f32 at H = 500) are
//! streamed from L3 at every step; in bf16 they take half the bytes (and fit
//! in L2 per core), and `vdpbf16ps` does two multiply–adds per lane per
//! instruction. The state is rounded to bf16 before each product; sums stay
//! f32. This changes results (about 3 significant digits on the products),
//! so it is off unless asked for: [`set_recurrent_bf16`] or the environment
//! variable `HOTFLIP_LSTM_BF16=1`. Its effect on logits is measured in
//! BENCHMARKS.md. Machines without AVX512-BF16 keep computing in f32.

use std::sync::atomic::{AtomicU8, Ordering};

/// 0: not decided yet (read the environment), 1: off, 2: on.
static RECURRENT_BF16: AtomicU8 = AtomicU8::new(0);

/// Turns the bf16 recurrent products on or off for every LSTM layer run
/// afterwards (process-wide).
pub fn set_recurrent_bf16(on: bool) {
    RECURRENT_BF16.store(if on { 2 } else { 1 }, Ordering::Relaxed);
}

/// Whether the LSTM's recurrent products run in bf16: asked for (by
/// [`set_recurrent_bf16`] or `HOTFLIP_LSTM_BF16=1`) and supported by the CPU.
pub fn recurrent_bf16() -> bool {
    let mut v = RECURRENT_BF16.load(Ordering::Relaxed);
    if v == 0 {
        let on = std::env::var("HOTFLIP_LSTM_BF16").is_ok_and(|s| s == "1");
        v = if on { 2 } else { 1 };
        RECURRENT_BF16.store(v, Ordering::Relaxed);
    }
    v == 2 && available()
}

/// AVX512-BF16 (and AVX-512F) on this CPU.
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static OK: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *OK.get_or_init(|| std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512bf16"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// f32 → bf16, round to nearest even (NaN stays NaN).
pub fn round(x: f32) -> u16 {
    let b = x.to_bits();
    if x.is_nan() {
        return ((b >> 16) | 0x40) as u16;
    }
    ((b + 0x7FFF + ((b >> 16) & 1)) >> 16) as u16
}

/// Two bf16 values in one 32-bit word, `lo` in the low half: the operand
/// layout of `vdpbf16ps` (depth 2k in the low half, 2k + 1 in the high).
pub fn pair(lo: f32, hi: f32) -> u32 {
    round(lo) as u32 | (round(hi) as u32) << 16
}

/// Rows of `a` (`rows` rows of `k` floats at stride `rs`) as bf16 pairs:
/// `ceil(k / 2)` words per row, an odd depth padded with zero.
pub fn pairs_of_rows(a: &[f32], rows: usize, k: usize, rs: usize) -> Vec<u32> {
    let kp = k.div_ceil(2);
    let mut out = vec![0u32; rows * kp];
    for (r, dst) in out.chunks_mut(kp.max(1)).enumerate().take(rows) {
        let row = &a[r * rs..r * rs + k];
        for (j, d) in dst.iter_mut().enumerate() {
            *d = pair(row[2 * j], row.get(2 * j + 1).copied().unwrap_or(0.0));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_to_nearest_even() {
        assert_eq!(round(1.0), 0x3F80);
        assert_eq!(round(-2.0), 0xC000);
        // 1 + 2^-8 is halfway between two bf16 values: ties go to even.
        assert_eq!(round(1.0 + 1.0 / 256.0), 0x3F80);
        assert_eq!(round(1.0 + 3.0 / 256.0), 0x3F82);
        assert_eq!(round(1.0 + 1.5 / 256.0), 0x3F81);
        assert!(f32::from_bits((round(f32::NAN) as u32) << 16).is_nan());
        assert_eq!(pair(1.0, -2.0), 0xC000_3F80);
        assert_eq!(
            pairs_of_rows(&[1.0, 2.0, 3.0, 9.0, 1.0, 1.0, 1.0, 9.0], 2, 3, 4),
            vec![pair(1.0, 2.0), pair(3.0, 0.0), pair(1.0, 1.0), pair(1.0, 0.0)]
        );
    }
}
