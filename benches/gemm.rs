//! CPU GEMM throughput (GFLOP/s = 2·m·n·k / time) at the shapes the models use.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hotflip::ops::gemm::{matmul, View, ViewMut};
use hotflip::{Rng, Tensor};

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("cpu_gemm");
    let mut rng = Rng::new(1);
    // Square sizes for the machine's ceiling; then W1's LSTM step
    // (32×500·500×2000), its input projection (1280×525·525×2000) and the
    // highway layer (1280×525·525×525).
    let shapes =
        [(256, 256, 256), (512, 512, 512), (1024, 1024, 1024), (32, 500, 2000), (1280, 525, 2000), (1280, 525, 525)];
    for &(m, k, n) in &shapes {
        let a = Tensor::randn(&[m, k], 1.0, &mut rng);
        let b = Tensor::randn(&[k, n], 1.0, &mut rng);
        let mut out = vec![0.0f32; m * n];
        g.throughput(Throughput::Elements((2 * m * n * k) as u64));
        g.bench_function(BenchmarkId::from_parameter(format!("{m}x{k}x{n}")), |bch| {
            bch.iter(|| matmul(View::rm(a.data(), m, k), View::rm(b.data(), k, n), ViewMut::rm(&mut out, m, n), false))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
