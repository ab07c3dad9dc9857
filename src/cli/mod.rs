//! Argument parsing and dispatch. Each subcommand lives in its own module.

mod attack;
mod bench;
mod bleu;
mod common;
mod demo;
mod device;
mod eval;
mod interpret;
mod merge;
mod pos;
mod predict;
mod pretrain_lm;
mod train;
mod translate;
mod translate_attack;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use hotflip::cuda::{Backend, DeviceChoice};

/// The heading global flags sit under in every command's help, after the
/// command's own flags.
const GLOBAL: &str = "Global options";

/// White-box adversarial examples (HotFlip) and adversarial training
/// (AdvT, VAT, iAdvT, iVAT) for neural text models.
#[derive(Parser)]
#[command(name = "hotflip", version, about, long_about = None)]
struct Cli {
    /// Worker threads for CPU kernels (default: all cores; at most 8 per core).
    #[arg(long, global = true, value_name = "N", help_heading = GLOBAL)]
    threads: Option<usize>,

    /// Compute backend: `auto` uses a GPU when the CUDA driver, a GPU and
    /// NVRTC are all usable and says why not otherwise; `cuda` requires one.
    #[arg(long, global = true, value_enum, default_value = "auto", help_heading = GLOBAL)]
    device: DeviceArg,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train the small character model on AG's News, evaluate and attack it (the README's main job).
    Demo(demo::DemoArgs),
    /// Train a model on a data set (best-on-dev checkpoint, resumable; Ctrl-C saves and stops).
    Train(Box<train::TrainArgs>),
    /// Pre-train the embedding and LSTM of lstm_classifier / bilstm_tagger as a language model.
    PretrainLm(Box<pretrain_lm::PretrainLmArgs>),
    /// Score a trained model on a split: accuracy and confusion matrix (tagger: P/R/F0.5).
    Eval(eval::EvalArgs),
    /// Show which words iAdvT's perturbations point at (Sato et al. Figure 4, Table 7).
    Interpret(Box<interpret::InterpretArgs>),
    /// Label texts from standard input, one per line.
    Predict(predict::PredictArgs),
    /// Attack a trained model (HotFlip and baselines); resumable JSON Lines results.
    Attack(Box<attack::AttackArgs>),
    /// Join the results files of `attack --shard I/N` runs into one run's (JSONL, summary, HTML).
    Merge(merge::MergeArgs),
    /// Translate with a char_nmt model (beam search); scores BLEU on a data set's split.
    Translate(Box<translate::TranslateArgs>),
    /// Corpus BLEU of a hypothesis file against a reference file (sacreBLEU's definition).
    Bleu(bleu::BleuArgs),
    /// Run a benchmark workload (shared/spec/BENCHMARKS.md).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Report the GPU, driver and NVRTC, compile every CUDA kernel and, on a
    /// GPU, check each against its CPU twin.
    Device(device::DeviceArgs),
    /// Train the part-of-speech tagger the word-level attack uses, from a CoNLL-U treebank.
    PosTrain(pos::PosTrainArgs),
    /// Tag sentences from standard input (one per line, tokens split on whitespace) as token/UPOS.
    PosTag(pos::PosTagArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum DeviceArg {
    Cpu,
    Cuda,
    Auto,
    /// The emulated GPU (the kernels' sources run on the CPU, slowly): the
    /// device path's wiring without a GPU, for tests. Needs a C++ compiler.
    #[value(hide = true)]
    CudaEmulated,
}

impl From<DeviceArg> for DeviceChoice {
    fn from(d: DeviceArg) -> Self {
        match d {
            DeviceArg::Cpu => DeviceChoice::Cpu,
            DeviceArg::Cuda => DeviceChoice::Cuda,
            DeviceArg::Auto => DeviceChoice::Auto,
            DeviceArg::CudaEmulated => DeviceChoice::Emulated,
        }
    }
}

/// Resolves `--device` once per run; commands that compute say which
/// backend in one line (`common::announce_backend`), none for `--device cpu`.
fn resolve_device(choice: DeviceChoice) -> CliResult<Backend> {
    Ok(hotflip::cuda::select(choice)?)
}

/// A run stopped by Ctrl-C after saving what it had: the process exits
/// with 130 (as a shell reports SIGINT) so that scripts can tell it from a
/// finished run.
#[derive(Debug)]
pub struct Interrupted(pub String);

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Interrupted {}

/// The exit status of an interrupted run.
pub const INTERRUPTED_EXIT: u8 = 130;

/// A CLI failure with the context a user needs.
pub type CliResult<T> = Result<T, Box<dyn std::error::Error>>;

pub fn run() -> CliResult<()> {
    let cli = Cli::parse();
    if let Some(n) = cli.threads {
        check_threads(n, std::thread::available_parallelism().map_or(1, |c| c.get()))?;
    }
    let threads = hotflip::set_threads(cli.threads.unwrap_or(0));
    let backend = resolve_device(cli.device.into())?;
    match cli.command {
        Command::Demo(a) => demo::run(a, threads, &backend, interrupt_flag()?),
        Command::Train(a) => {
            train::run(*a, threads, &backend, matches!(cli.device, DeviceArg::Auto), interrupt_flag()?)
        }
        Command::Attack(a) => attack::run(*a, threads, &backend, interrupt_flag()?),
        Command::Merge(a) => merge::run(a),
        Command::PretrainLm(a) => pretrain_lm::run(*a, threads, &backend, interrupt_flag()?),
        Command::Eval(a) => eval::run(a, threads, &backend),
        Command::Interpret(a) => interpret::run(*a, threads, &backend),
        Command::Predict(a) => predict::run(a, threads, &backend),
        Command::Bleu(a) => bleu::run(a),
        Command::Translate(a) => translate::run(*a),
        Command::Bench(cmd) => bench::run(cmd, threads, &backend),
        Command::Device(args) => {
            // The device report is about the backend: say why `auto` fell back.
            if let Some(note) = backend.fallback_note() {
                eprintln!("{note}");
            }
            device::run(args, &backend)
        }
        Command::PosTrain(args) => pos::train(args),
        Command::PosTag(args) => pos::tag(args),
    }
}

/// A flag the first Ctrl-C raises (long jobs then save and stop at the next
/// step); a second Ctrl-C ends the process at once.
fn interrupt_flag() -> CliResult<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = Arc::clone(&flag);
    ctrlc::set_handler(move || {
        if f.swap(true, Ordering::SeqCst) {
            eprintln!("\nsecond interrupt: stopping now");
            std::process::exit(130);
        }
        eprintln!("\ninterrupt: saving a resumable state after this step (Ctrl-C again to quit at once)");
    })
    .map_err(|e| format!("cannot install the Ctrl-C handler: {e}"))?;
    Ok(flag)
}

/// Most worker threads per core `--threads` accepts: beyond a few per core
/// threads only add switching, and 100,000 of them exhaust the machine.
const MAX_THREADS_PER_CORE: usize = 8;

fn check_threads(n: usize, cores: usize) -> CliResult<()> {
    let max = MAX_THREADS_PER_CORE * cores;
    if n == 0 {
        return Err("--threads 0: must be at least 1".into());
    }
    if n > max {
        return Err(format!(
            "--threads {n}: this machine has {cores} cores; more than {MAX_THREADS_PER_CORE} threads per core ({max}) only slows the kernels down"
        )
        .into());
    }
    Ok(())
}
