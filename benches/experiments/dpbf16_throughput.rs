//! Throughput of `vdpbf16ps` (AVX512-BF16: 32 bf16 products per instruction)
//! against `vfmadd231ps` (16 f32 products), 12 independent accumulators each.
//! Standalone: `rustc -O --edition 2021 benches/experiments/dpbf16_throughput.rs -o /tmp/dpbf16 && /tmp/dpbf16`
use std::arch::x86_64::*;

#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn dpbf16(n: usize) -> f32 {
    let mut acc = [_mm512_setzero_ps(); 12];
    let a: __m512bh = std::mem::transmute(_mm512_set1_epi32(0x3f80_3f80));
    let b: __m512bh = std::mem::transmute(_mm512_set1_epi32(0x3c00_3c00));
    for _ in 0..n {
        for v in acc.iter_mut() {
            *v = _mm512_dpbf16_ps(*v, a, b);
        }
    }
    acc.iter().fold(0.0, |s, &v| s + _mm512_reduce_add_ps(v))
}

#[target_feature(enable = "avx512f")]
unsafe fn fma(n: usize) -> f32 {
    let mut acc = [_mm512_setzero_ps(); 12];
    let (a, b) = (_mm512_set1_ps(1.0001), _mm512_set1_ps(0.0001));
    for _ in 0..n {
        for v in acc.iter_mut() {
            *v = _mm512_fmadd_ps(*v, a, b);
        }
    }
    acc.iter().fold(0.0, |s, &v| s + _mm512_reduce_add_ps(v))
}

fn main() {
    let n = 20_000_000;
    for _ in 0..3 {
        let t = std::time::Instant::now();
        let x = unsafe { fma(n) };
        let tf = t.elapsed().as_secs_f64();
        let t = std::time::Instant::now();
        let y = unsafe { dpbf16(n) };
        let tb = t.elapsed().as_secs_f64();
        let per = |s: f64| s * 1e9 / (n * 12) as f64;
        println!("ns per instruction: vfmadd231ps {:.3}, vdpbf16ps {:.3} ({x:e} {y:e})", per(tf), per(tb));
    }
}
