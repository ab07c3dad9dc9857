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
    /// W4: iAdvT's nearest-neighbour directions (search, ĝ, α, r) for a
    /// batch of positions, on the GPU when `--device` picks one.
    Nn(NnArgs),
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
}

pub fn run(cmd: BenchCommand, threads: usize, backend: &Backend) -> CliResult<()> {
    match cmd {
        BenchCommand::Gemm(a) => {
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
        BenchCommand::Nn(a) => {
            let wl = neighbours::Workload::new(a.positions, a.vocab, a.dim, a.k, a.seed)?;
            let gpu = backend.gpu().map(|g| g.as_ref());
            if !a.json {
                match gpu {
                    Some(g) => eprintln!("backend: cuda ({})", g.info().name),
                    None => eprintln!("backend: cpu ({threads} threads); no GPU figure without a GPU"),
                }
            }
            let r = neighbours::run(&wl, a.warmup, a.iters, gpu)?;
            if a.json {
                println!("{}", serde_json::to_string(&r)?);
            } else {
                println!(
                    "W4 neighbours P {} × V {} × D {}, K {}: {:.1} ms ({:.1} GFLOP/s of search GEMM; median of {}, {})",
                    r.positions, r.vocab, r.dim, r.k, r.ms, r.gflops, r.iters, r.backend
                );
            }
            Ok(())
        }
        BenchCommand::Engine(a) => {
            if a.batch == 0 || a.words == 0 || a.chars < 2 {
                return Err("--batch and --words must be at least 1, --chars at least 2".into());
            }
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
    }
}
