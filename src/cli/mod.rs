//! Argument parsing and dispatch. Each subcommand lives in its own module.

mod bench;

use clap::{Parser, Subcommand};

/// White-box adversarial examples (HotFlip) and adversarial training
/// (AdvT, VAT, iAdvT, iVAT) for neural text models.
#[derive(Parser)]
#[command(name = "hotflip", version, about, long_about = None)]
struct Cli {
    /// Worker threads for CPU kernels (default: all cores).
    #[arg(long, global = true, value_name = "N")]
    threads: Option<usize>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a benchmark workload (shared/spec/BENCHMARKS.md).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

/// A CLI failure with the context a user needs.
pub type CliResult<T> = Result<T, Box<dyn std::error::Error>>;

pub fn run() -> CliResult<()> {
    let cli = Cli::parse();
    if let Some(0) = cli.threads {
        return Err("--threads must be at least 1".into());
    }
    let threads = hotflip::set_threads(cli.threads.unwrap_or(0));
    match cli.command {
        Command::Bench(cmd) => bench::run(cmd, threads),
    }
}
