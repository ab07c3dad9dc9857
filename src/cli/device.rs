//! `hotflip device`: the backend, GPU, driver and NVRTC; every kernel file
//! compiled; with a GPU, every kernel checked against its CPU twin.

use clap::Args;

use hotflip::cuda::report::{self, DeviceReport};
use hotflip::cuda::Backend;

use super::CliResult;

#[derive(Args)]
pub struct DeviceArgs {
    /// Print one JSON object instead of lines.
    #[arg(long)]
    json: bool,
    /// Seed for the self-check's random inputs (default: fresh each run).
    #[arg(long)]
    seed: Option<u64>,
}

fn fresh_seed() -> u64 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    (nanos as u64) ^ ((std::process::id() as u64) << 32)
}

pub fn run(args: DeviceArgs, backend: &Backend) -> CliResult<()> {
    let report = report::collect(backend, args.seed.unwrap_or_else(fresh_seed), &hotflip::kernel_checks::all_checks());
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_lines(&report);
    }
    if !report.success() {
        let s = &report.summary;
        let lib_failed = report.library_checks.iter().filter(|c| !c.passed).count();
        return Err(format!(
            "{} kernel file(s) failed to compile, {} kernel check(s) and {lib_failed} library check(s) failed",
            s.compile_failures, s.failed
        )
        .into());
    }
    Ok(())
}

fn or_none(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("none")
}

fn print_lines(r: &DeviceReport) {
    println!("backend: {}", r.backend);
    match &r.gpu {
        Some(g) => println!(
            "gpu: {} (compute capability {}, {:.1} GiB; {} found)",
            g.name,
            g.compute_capability,
            g.memory_bytes as f64 / (1u64 << 30) as f64,
            r.gpu_count
        ),
        None => println!("gpu: none ({})", or_none(&r.driver_problem)),
    }
    println!("driver: {}", or_none(&r.driver));
    match &r.nvrtc {
        Some(v) => println!("nvrtc: {v} (target {}, PTX cache {})", r.arch, or_none(&r.ptx_cache)),
        None => println!(
            "nvrtc: none; kernels were not compiled. To compile them (no GPU needed), from the project root: {}",
            r.nvrtc_hint.as_deref().unwrap_or_default()
        ),
    }
    println!("{:<24} {:<22} {:<9} check", "kernel", "file", "compiled");
    for k in &r.kernels {
        let check = match (k.checked, k.max_rel_err, k.threshold) {
            (None, _, _) => "-".to_string(),
            (Some(pass), err, thr) => format!(
                "{} rel err {} (max {}){}",
                if pass { "pass" } else { "FAIL" },
                err.map_or("NaN".to_string(), |e| format!("{e:.1e}")),
                thr.map_or("-".to_string(), |t| format!("{t:.0e}")),
                k.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default()
            ),
        };
        println!("{:<24} {:<22} {:<9} {check}", k.name, k.file, if k.compiled { "yes" } else { "no" });
    }
    for c in &r.library_checks {
        println!(
            "{:<47} {} rel err {} (max {:.0e}){}",
            c.name,
            if c.passed { "pass" } else { "FAIL" },
            c.max_rel_err.map_or("NaN".to_string(), |e| format!("{e:.1e}")),
            c.threshold,
            c.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default()
        );
    }
    for f in r.files.iter().filter(|f| f.attempted) {
        if let Some(e) = &f.error {
            println!("{}: {e}", f.file);
        }
        if let Some(w) = &f.warnings {
            println!("{} warnings:\n{w}", f.file);
        }
    }
    let s = &r.summary;
    let files_ok = r.files.iter().filter(|f| f.compiled).count();
    println!("compiled: {files_ok}/{} kernel files, {}/{} kernels", r.files.len(), s.compiled, s.kernels);
    match r.seed {
        Some(seed) => {
            println!("self-check: {} passed, {} failed of {} kernels (seed {seed})", s.passed, s.failed, s.kernels)
        }
        None => println!("self-check: skipped (needs a GPU backend)"),
    }
}
