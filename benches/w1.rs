//! W1 (BENCHMARKS.md): char_cnn_lstm forward + backward, batch 32, 40 words
//! × 16 chars, both presets. Documents/s = 32 / time per iteration.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hotflip::bench::engine::{Preset, Workload};

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("cpu_w1");
    g.sample_size(10);
    g.throughput(Throughput::Elements(32));
    for (name, preset) in [("paper", Preset::Paper), ("small", Preset::Small)] {
        let w = Workload::new(preset, 32, 40, 16, 0).expect("workload");
        g.bench_function(name, |b| b.iter(|| w.step().expect("step")));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
