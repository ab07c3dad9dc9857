//! Character convolution forward + backward at W1's shapes (1280 words ×
//! 16 chars × 25 dims, widths 1..6 with 25·w filters).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use hotflip::{Rng, Tape, Tensor};

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("cpu_conv1d");
    let mut rng = Rng::new(2);
    let x = Tensor::randn(&[1280, 16, 25], 1.0, &mut rng);
    for w in [1usize, 3, 6] {
        let wt = Tensor::randn(&[25 * w, 25, w], 0.1, &mut rng);
        let b = Tensor::randn(&[25 * w], 0.1, &mut rng);
        g.bench_function(BenchmarkId::new("fwd_bwd", w), |bch| {
            bch.iter(|| {
                let t = Tape::new();
                let (xv, wv, bv) = (t.leaf(x.clone()), t.leaf(wt.clone()), t.leaf(b.clone()));
                let y = t.conv1d(xv, wv, Some(bv)).unwrap();
                let s = t.sum(y).unwrap();
                t.backward(s).unwrap()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
