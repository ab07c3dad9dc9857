//! `hotflip bench ...`

use clap::{Args, Subcommand};

use hotflip::bench::engine::{self, Preset};
use hotflip::bench::neighbours;
use hotflip::cuda::Backend;

use super::CliResult;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// W1: documents per second for one forward + backward of char_cnn_lstm.
    Engine(EngineArgs),
    /// GEMM GFLOP/s at the models' shapes (the CPU ceiling W1 runs under).
    Gemm(GemmArgs),
    /// W3: one lstm_classifier training step, plain vs AdvT vs iAdvT (ms).
    Advstep(AdvStepArgs),
    /// W5: HotFlip scoring + top-b pruning, fused vs materialise-and-sort (µs).
    Score(ScoreArgs),
    /// Training throughput: documents per second through char_cnn_lstm's training step
    /// (forward with dropout, backward, clipping, Adam) on W1's synthetic batch.
    Train(TrainArgs),
    /// W4: iAdvT's nearest-neighbour directions (search, ĝ, α, r) for a
    /// batch of positions, on the GPU when `--device` picks one.
    Nn(NnArgs),
}

#[derive(Args)]
pub struct ScoreArgs {
    #[arg(long, default_value_t = 10)]
    entries: usize,
    #[arg(long, default_value_t = 64)]
    words: usize,
    #[arg(long, default_value_t = 16)]
    chars: usize,
    #[arg(long, default_value_t = 100)]
    alphabet: usize,
    #[arg(long, default_value_t = 25)]
    dim: usize,
    #[arg(long, default_value_t = 10)]
    keep: usize,
    #[arg(long, default_value_t = 50)]
    iters: usize,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct AdvStepArgs {
    #[arg(long, default_value_t = 20_000)]
    vocab: usize,
    #[arg(long, default_value_t = 256)]
    dim: usize,
    #[arg(long, default_value_t = 1024)]
    hidden: usize,
    #[arg(long, default_value_t = 32)]
    batch: usize,
    #[arg(long, default_value_t = 100)]
    words: usize,
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// Timed steps per method; the median is reported.
    #[arg(long, default_value_t = 5)]
    iters: usize,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct NnArgs {
    /// Positions (P).
    #[arg(long, default_value_t = 12_800)]
    positions: usize,
    /// Vocabulary rows of the embedding table (V).
    #[arg(long, default_value_t = 50_000)]
    vocab: usize,
    /// Embedding dimension (D).
    #[arg(long, default_value_t = 256)]
    dim: usize,
    /// Neighbours per position (K).
    #[arg(short = 'k', long = "k", default_value_t = 10)]
    k: usize,
    /// Untimed runs before timing.
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// Timed runs; the median is reported.
    #[arg(long, default_value_t = 5)]
    iters: usize,
    /// Seed of the random problem.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print one JSON object instead of a sentence.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct TrainArgs {
    /// Model size: `small` (the CPU training preset, dropout 0.5) or `paper` (MODELS.md, no dropout).
    #[arg(long, value_enum, default_value = "small")]
    preset: Preset,
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Words per document.
    #[arg(long, default_value_t = 40)]
    words: usize,
    /// Characters per word (the model's max_word_len).
    #[arg(long, default_value_t = 16)]
    chars: usize,
    /// Untimed steps before timing.
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// Timed steps; the median is reported.
    #[arg(long, default_value_t = 20)]
    iters: usize,
    /// Print one JSON object instead of a sentence.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct GemmArgs {
    /// Timed runs per shape; the median is reported.
    #[arg(long, default_value_t = 20)]
    iters: usize,
    /// Print one JSON object per shape.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct EngineArgs {
    /// Model size: `paper` (MODELS.md) or `small` (CPU training preset).
    #[arg(long, value_enum, default_value = "paper")]
    preset: Preset,
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Words per document.
    #[arg(long, default_value_t = 40)]
    words: usize,
    /// Characters per word (the model's max_word_len).
    #[arg(long, default_value_t = 16)]
    chars: usize,
    /// Untimed passes before timing.
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// Timed passes; the median is reported.
    #[arg(long, default_value_t = 20)]
    iters: usize,
    /// Print one JSON object instead of a sentence.
    #[arg(long)]
    json: bool,
    /// Also print where the time goes, op by op (forward and backward).
    #[arg(long)]
    profile: bool,
    /// Run the LSTM's recurrent products in bfloat16 (AVX512-BF16 CPUs;
    /// changes results slightly, see BENCHMARKS.md). Same as
    /// `HOTFLIP_LSTM_BF16=1`.
    #[arg(long)]
    bf16: bool,
}

pub fn run(cmd: BenchCommand, threads: usize, backend: &Backend) -> CliResult<()> {
    match cmd {
        BenchCommand::Score(a) => score(a, threads, backend),
        BenchCommand::Advstep(a) => advstep(a, threads),
        BenchCommand::Gemm(a) => gemm(a, threads),
        BenchCommand::Train(a) => train(a, threads),
        BenchCommand::Nn(a) => nn(a, threads, backend),
        BenchCommand::Engine(a) => engine(a, threads, backend),
    }
}

/// W5: HotFlip scoring, fused vs materialise-and-sort, and the CUDA kernels on a GPU.
fn score(a: ScoreArgs, threads: usize, backend: &Backend) -> CliResult<()> {
    let gpu = backend.gpu().map(|g| g.as_ref());
    if !a.json {
        eprintln!("backend: cpu ({threads} threads)");
        match gpu {
            Some(g) => {
                eprintln!("gpu: {} (the CUDA kernels are checked against the CPU, then timed)", g.info().name)
            }
            None => eprintln!("no GPU in use: CPU figures only (on a GPU the CUDA kernels are timed too)"),
        }
    }
    let r = hotflip::bench::score::run(a.entries, a.words, a.chars, a.alphabet, a.dim, a.keep, a.iters, gpu)?;
    if a.json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        println!(
            "W5 scoring {} entries × {} words × {} chars, alphabet {}, dim {}, keep {}: fused {:.0} µs, materialise+sort {:.0} µs ({:.1}×)",
            r.entries, r.words, r.chars, r.alphabet, r.dim, r.keep, r.fused_us, r.sorted_us, r.speedup
        );
        if let (Some(g), Some(k), Some(l), Some(h), Some(x), Some(bw)) =
            (&r.gpu, r.cuda_us, r.cuda_latency_us, r.cuda_host_us, r.cuda_speedup, r.cuda_gbps)
        {
            println!(
                "W5 CUDA on {g}: kernels {k:.1} µs per step ({bw:.0} GB/s of the {} bytes that must move), one step waited for {l:.1} µs, with the host merge {h:.1} µs ({x:.1}× materialise+sort on the CPU)",
                r.min_bytes
            );
        }
    }
    Ok(())
}

/// W3: one training step, plain vs AdvT vs iAdvT.
fn advstep(a: AdvStepArgs, threads: usize) -> CliResult<()> {
    if a.vocab < 3 || a.dim == 0 || a.hidden == 0 || a.batch == 0 || a.words == 0 {
        return Err("--vocab ≥ 3 and positive --dim, --hidden, --batch, --words required".into());
    }
    if !a.json {
        eprintln!("backend: cpu ({threads} threads)");
    }
    let shape = hotflip::bench::advstep::AdvStepShape {
        vocab: a.vocab,
        dim: a.dim,
        hidden: a.hidden,
        batch: a.batch,
        words: a.words,
    };
    let r = hotflip::bench::advstep::run(shape, a.warmup, a.iters)?;
    print_report(a.json, &r, |r| {
        format!(
            "W3 lstm_classifier V {} D {} H {} batch {} × {} words: plain {:.1} ms, AdvT {:.1} ms, iAdvT {:.1} ms (iAdvT/AdvT {:.2}, iAdvT/plain {:.2})",
            r.vocab, r.dim, r.hidden, r.batch, r.words, r.plain_ms, r.advt_ms, r.iadvt_ms, r.iadvt_over_advt, r.iadvt_over_plain
        )
    })
}

/// GEMM throughput at the models' shapes.
fn gemm(a: GemmArgs, threads: usize) -> CliResult<()> {
    if !a.json {
        eprintln!("backend: cpu ({threads} threads)");
    }
    let packed = [(32, 500, 2000, true), (32, 2000, 500, true)];
    let shapes = hotflip::bench::gemm::SHAPES.iter().map(|&(m, k, n)| (m, k, n, false)).chain(packed);
    for (m, k, n, packed) in shapes {
        let r = hotflip::bench::gemm::run(m, k, n, a.iters, packed);
        if a.json {
            println!("{}", serde_json::to_string(&r)?);
        } else {
            println!("{} {m}x{k}x{n}: {:.1} GFLOP/s (median {:.3} ms)", r.kind, r.gflops, r.median_s * 1e3);
        }
    }
    Ok(())
}

/// One full char_cnn_lstm training step.
fn train(a: TrainArgs, threads: usize) -> CliResult<()> {
    check_doc_shape(a.batch, a.words, a.chars)?;
    if !a.json {
        eprintln!("backend: cpu ({threads} threads)");
    }
    let r = hotflip::bench::train::run(a.preset, a.batch, a.words, a.chars, a.warmup, a.iters)?;
    print_report(a.json, &r, |r| {
        format!(
            "training step char_cnn_lstm {:?} (dropout {}) batch {} × {} words × {} chars: {:.1} docs/s (median {:.4} s over {} steps, {} threads)",
            r.preset, r.dropout, r.batch, r.words, r.chars, r.docs_per_s, r.median_s, r.iters, r.threads
        )
    })
}

/// W4: iAdvT's nearest-neighbour directions.
fn nn(a: NnArgs, threads: usize, backend: &Backend) -> CliResult<()> {
    let wl = neighbours::Workload::new(a.positions, a.vocab, a.dim, a.k, a.seed)?;
    let gpu = backend.gpu().map(|g| g.as_ref());
    if !a.json {
        match gpu {
            Some(g) => eprintln!("backend: cuda ({})", g.info().name),
            None => eprintln!("backend: cpu ({threads} threads); no GPU figure without a GPU"),
        }
    }
    let r = neighbours::run(&wl, a.warmup, a.iters, gpu)?;
    print_report(a.json, &r, |r| {
        format!(
            "W4 neighbours P {} × V {} × D {}, K {}: {:.1} ms ({:.1} GFLOP/s of search GEMM; median of {}, {})",
            r.positions, r.vocab, r.dim, r.k, r.ms, r.gflops, r.iters, r.backend
        )
    })
}

/// W1: char_cnn_lstm forward + backward throughput.
fn engine(a: EngineArgs, threads: usize, backend: &Backend) -> CliResult<()> {
    check_doc_shape(a.batch, a.words, a.chars)?;
    if let Some(gpu) = backend.gpu() {
        eprintln!(
            "note: {} is available, but the engine computes on the CPU until its CUDA path lands",
            gpu.info().name
        );
    }
    if !a.json {
        eprintln!("backend: cpu ({threads} threads)");
    }
    hotflip::profile::enable(a.profile);
    if a.bf16 {
        hotflip::ops::bf16::set_recurrent_bf16(true);
    }
    let r = engine::run(a.preset, a.batch, a.words, a.chars, a.warmup, a.iters)?;
    if a.profile {
        eprint!("{}", hotflip::profile::render(&hotflip::profile::take()));
    }
    if a.json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        println!(
            "W1 char_cnn_lstm {:?} batch {} × {} words × {} chars: {:.1} docs/s (median {:.4} s over {} passes, {} threads)",
            r.preset, r.batch, r.words, r.chars, r.docs_per_s, r.median_s, r.iters, r.threads
        );
    }
    Ok(())
}

/// Rejects a synthetic document batch the models cannot take, naming the flags.
fn check_doc_shape(batch: usize, words: usize, chars: usize) -> CliResult<()> {
    if batch == 0 || words == 0 || chars < 2 {
        return Err("--batch and --words must be at least 1, --chars at least 2".into());
    }
    Ok(())
}

/// Prints a bench result as one JSON object (`--json`) or as a sentence.
fn print_report<R: serde::Serialize>(json: bool, r: &R, sentence: impl FnOnce(&R) -> String) -> CliResult<()> {
    if json {
        println!("{}", serde_json::to_string(r)?);
    } else {
        println!("{}", sentence(r));
    }
    Ok(())
}
