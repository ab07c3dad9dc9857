//! W5: HotFlip scoring and top-b pruning for one beam step — 10 entries of
//! 64 words × 16 characters, an alphabet of 100 characters, char_dim 25,
//! keep 10 — fused (bounded heaps, no score matrix) against materialising
//! every child's score and sorting; on a GPU also the fused CUDA kernels
//! (kernels/hotflip_score.cu), checked against the CPU result first.
//! benches/pytorch/w5_score.py times PyTorch's materialise + `topk` on the
//! same shapes.

use std::time::Instant;

use cudarc::driver::sys::CUevent_flags;
use serde::Serialize;

use crate::attack::char_doc::{CharDoc, CharEdit};
use crate::attack::score::chars::{top_children, top_children_by_sorting, EntryRef, ScoreTensors};
use crate::attack::score::cuda::{
    compare_all, finish_on_host, merge_entries, score_rows, twin_scores, DeviceInputs, DeviceTable, HostInputs, Lists,
    ScoreShape, Tops,
};
use crate::cuda::Gpu;
use crate::error::{Error, Result};
use crate::models::CharBatch;
use crate::rng::Rng;

#[derive(Clone, Debug, Serialize)]
pub struct ScoreReport {
    pub workload: &'static str,
    pub entries: usize,
    pub words: usize,
    pub chars: usize,
    pub alphabet: usize,
    pub dim: usize,
    pub keep: usize,
    pub backend: &'static str,
    pub threads: usize,
    pub fused_us: f64,
    pub sorted_us: f64,
    pub speedup: f64,
    /// The GPU the CUDA kernels ran on; null (and the `cuda_*` fields too)
    /// without one.
    pub gpu: Option<String>,
    /// Both kernels per step, device time (CUDA events around many
    /// back-to-back steps, gradients rotating over enough sets to leave the
    /// L2 cache): the kernels' own cost.
    pub cuda_us: Option<f64>,
    /// One step launched and waited for (host clock): launch latency included.
    pub cuda_latency_us: Option<f64>,
    /// One step as the attack would take it with the gradients already on
    /// the GPU: both kernels, the per-entry lists copied back and decoded,
    /// the per-group merge on the host.
    pub cuda_host_us: Option<f64>,
    /// `sorted_us / cuda_host_us`.
    pub cuda_speedup: Option<f64>,
    /// Bytes the kernels must move at least (every input read once, the
    /// per-entry lists written once), and that over `cuda_us`.
    pub min_bytes: usize,
    pub cuda_gbps: Option<f64>,
}

/// The least device traffic of one fused step: gradients, ids, table,
/// per-character and per-word flags, parent scores read once; each entry's
/// `cap` candidates (total, gain, 8-byte edit) and count written once.
pub fn min_bytes(shape: ScoreShape, cap: usize) -> usize {
    let ScoreShape { entries, words: _, positions: l, dim: d, vocab: v } = shape;
    let rows = shape.rows();
    4 * (rows * l * d + rows * l + d * v + 2 * v + 3 * rows + entries) + entries * (cap * 16 + 4)
}

/// `entries` documents of `words` random words of 1 to `chars − 1`
/// characters drawn from `chars_of[2..]`.
fn random_docs(rng: &mut Rng, entries: usize, words: usize, chars: usize, chars_of: &[char]) -> Vec<CharDoc> {
    let alphabet = chars_of.len();
    (0..entries)
        .map(|_| {
            let words: Vec<Vec<char>> = (0..words)
                .map(|_| (0..1 + rng.below(chars - 1)).map(|_| chars_of[2 + rng.below(alphabet - 2)]).collect())
                .collect();
            CharDoc { changed: vec![false; words.len()], words }
        })
        .collect()
}

/// The median wall time of `iters` runs of `f` (after one warm-up run), in µs.
fn median_us(iters: usize, f: &dyn Fn()) -> f64 {
    f();
    let mut v: Vec<f64> = (0..iters.max(1))
        .map(|_| {
            let t0 = Instant::now();
            f();
            t0.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[allow(clippy::too_many_arguments)]
pub fn run(
    entries: usize,
    words: usize,
    chars: usize,
    alphabet: usize,
    dim: usize,
    keep: usize,
    iters: usize,
    gpu: Option<&Gpu>,
) -> Result<ScoreReport> {
    if alphabet < 3 || chars < 2 || words == 0 || entries == 0 {
        return Err(Error::invalid("bench score", "alphabet ≥ 3, chars ≥ 2, words and entries ≥ 1"));
    }
    let mut rng = Rng::new(5);
    // Characters are ids 2..alphabet, drawn from a private range of chars.
    let chars_of: Vec<char> =
        (0..alphabet).map(|i| if i < 2 { '\0' } else { char::from_u32(0x4E00 + i as u32).unwrap_or('x') }).collect();
    let docs = random_docs(&mut rng, entries, words, chars, &chars_of);
    let id_of = |c: char| chars_of.iter().position(|&x| x == c).unwrap_or(1);
    let ids: Vec<Vec<Vec<usize>>> =
        docs.iter().map(|d| d.words.iter().map(|w| w.iter().map(|&c| id_of(c)).collect()).collect()).collect();
    let batch = CharBatch::from_docs(&ids, chars, words)?;
    let grads: Vec<f32> = (0..batch.batch * batch.words * chars * dim).map(|_| rng.normal()).collect();
    let table_t: Vec<f32> = (0..alphabet * dim).map(|_| rng.normal()).collect();
    let allowed: Vec<bool> = (0..alphabet).map(|i| i >= 2).collect();
    let open = vec![true; words];
    let refs: Vec<EntryRef<'_>> = docs.iter().map(|d| EntryRef { doc: d, group: 0, score: 0.0, open: &open }).collect();
    let char_id = move |c: char| id_of(c);
    let t = ScoreTensors {
        grads: &grads,
        ids: &batch.ids,
        words: batch.words,
        positions: chars,
        dim,
        table_t: &table_t,
        allowed: &allowed,
        chars: &chars_of,
        char_id: &char_id,
    };
    let none = |_: &CharDoc, _: &CharEdit| false;
    let time = |f: &dyn Fn()| median_us(iters, f);
    let fused = top_children(&t, &refs, 1, keep, &none);
    let sorted = top_children_by_sorting(&t, &refs, 1, keep, &none);
    if fused != sorted {
        return Err(Error::invalid("bench score", "the fused and the sorted results differ"));
    }
    let fused_us = time(&|| {
        std::hint::black_box(top_children(&t, &refs, 1, keep, &none));
    });
    let sorted_us = time(&|| {
        std::hint::black_box(top_children_by_sorting(&t, &refs, 1, keep, &none));
    });
    let host = HostInputs::new(&t, &refs)?;
    let cap = crate::attack::score::chars::entry_cap(keep);
    let mut report = ScoreReport {
        workload: "W5",
        entries,
        words,
        chars,
        alphabet,
        dim,
        keep,
        backend: "cpu",
        threads: rayon::current_num_threads(),
        fused_us,
        sorted_us,
        speedup: sorted_us / fused_us,
        gpu: None,
        cuda_us: None,
        cuda_latency_us: None,
        cuda_host_us: None,
        cuda_speedup: None,
        min_bytes: min_bytes(host.shape, cap),
        cuda_gbps: None,
    };
    if let Some(gpu) = gpu {
        let c = time_cuda(gpu, &t, &refs, &host, keep, iters, &mut rng)?;
        report.gpu = Some(gpu.info().name.clone());
        report.cuda_us = Some(c.kernels_us);
        report.cuda_latency_us = Some(c.latency_us);
        report.cuda_host_us = Some(c.host_us);
        report.cuda_speedup = Some(sorted_us / c.host_us);
        report.cuda_gbps = Some(report.min_bytes as f64 / (c.kernels_us * 1e3));
    }
    Ok(report)
}

struct CudaTimes {
    kernels_us: f64,
    latency_us: f64,
    host_us: f64,
}

/// Checks the kernels' result against the CPU's, then times them.
fn time_cuda(
    gpu: &Gpu,
    t: &ScoreTensors<'_>,
    refs: &[EntryRef<'_>],
    host: &HostInputs,
    keep: usize,
    iters: usize,
    rng: &mut Rng,
) -> Result<CudaTimes> {
    let s = host.shape;
    let cap = crate::attack::score::chars::entry_cap(keep);
    let table = DeviceTable::upload(gpu, t.table_t, t.dim, &host.chars, &host.allowed)?;
    let inp = DeviceInputs::upload(gpu, &table, host)?;
    let grads = gpu.upload(t.grads)?;
    let mut rows = Tops::zeroed(gpu, s.rows(), cap)?;
    let mut lists = Tops::zeroed(gpu, s.entries, cap)?;
    let none = |_: &CharDoc, _: &CharEdit| false;
    let step = |rows: &mut Tops, lists: &mut Tops, grads: &crate::cuda::DeviceBuf<f32>| -> Result<()> {
        score_rows(gpu, &table, &inp, grads, cap, rows)?;
        merge_entries(gpu, s, rows, lists)
    };
    let fetch = |rows: &mut Tops, lists: &mut Tops| -> Result<Vec<Vec<crate::attack::score::chars::Candidate>>> {
        step(rows, lists, &grads)?;
        let per_entry = lists.download(gpu)?.decode(s, Lists::Entries)?;
        finish_on_host(per_entry, refs, 1, keep, &none, cap)
            .ok_or_else(|| Error::invalid("bench score", "nothing is forbidden, yet a list came back short"))
    };
    // The GPU's children must be the CPU's (the kernels round as the CPU does).
    let got = fetch(&mut rows, &mut lists)?;
    let want = top_children(t, refs, 1, keep, &none);
    let err = compare_all(&got, &want, &twin_scores(t, refs, &got), crate::cuda::selfcheck::MATH)?;
    if !crate::cuda::selfcheck::passes(err, crate::cuda::selfcheck::MATH) {
        return Err(Error::invalid("bench score", format!("the CUDA children differ from the CPU's (error {err})")));
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let iters = iters.max(1);
    // Host path and latency: the same gradients each time (as one attack step).
    fetch(&mut rows, &mut lists)?;
    let host_us = median(
        (0..iters)
            .map(|_| {
                let t0 = Instant::now();
                std::hint::black_box(fetch(&mut rows, &mut lists)?);
                Ok(t0.elapsed().as_secs_f64() * 1e6)
            })
            .collect::<Result<Vec<f64>>>()?,
    );
    let latency_us = median(
        (0..iters)
            .map(|_| {
                let t0 = Instant::now();
                step(&mut rows, &mut lists, &grads)?;
                gpu.synchronize()?;
                Ok(t0.elapsed().as_secs_f64() * 1e6)
            })
            .collect::<Result<Vec<f64>>>()?,
    );
    // Device time: back-to-back steps over gradient sets that together
    // exceed the L2 cache (256 MiB), timed with events.
    let set_bytes = t.grads.len() * 4;
    let sets = (256usize << 20).div_ceil(set_bytes.max(1)).clamp(1, 256);
    let mut grad_sets = vec![grads];
    for _ in 1..sets {
        let g: Vec<f32> = (0..t.grads.len()).map(|_| rng.normal()).collect();
        grad_sets.push(gpu.upload(&g)?);
    }
    let cuda = |e: cudarc::driver::DriverError| Error::Cuda { op: "cuEvent", msg: format!("{e:?}") };
    let mut kernels = Vec::with_capacity(iters);
    for i in 0..=iters {
        let start = gpu.stream()?.record_event(Some(CUevent_flags::CU_EVENT_DEFAULT)).map_err(cuda)?;
        for g in &grad_sets {
            step(&mut rows, &mut lists, g)?;
        }
        let end = gpu.stream()?.record_event(Some(CUevent_flags::CU_EVENT_DEFAULT)).map_err(cuda)?;
        let ms = start.elapsed_ms(&end).map_err(cuda)? as f64;
        if i > 0 {
            kernels.push(ms * 1e3 / sets as f64);
        }
    }
    Ok(CudaTimes { kernels_us: median(kernels), latency_us, host_us })
}
