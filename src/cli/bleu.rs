//! `hotflip bleu`: corpus BLEU of a hypothesis file against a reference
//! file, as sacreBLEU computes it (13a tokenisation, exponential smoothing).

use std::path::{Path, PathBuf};

use clap::Args;

use super::CliResult;

#[derive(Args, Debug)]
pub struct BleuArgs {
    /// System output, one sentence per line.
    #[arg(long, value_name = "FILE")]
    hyp: PathBuf,
    /// Reference translations, line-aligned with --hyp.
    #[arg(long = "ref", value_name = "FILE")]
    reference: PathBuf,
    /// Print one JSON object (bleu, precisions, bp, sys_len, ref_len).
    #[arg(long)]
    json: bool,
}

/// The lines of a UTF-8 text file (without their line endings).
pub fn read_lines(path: &Path) -> CliResult<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(text.lines().map(str::to_string).collect())
}

pub fn run(a: BleuArgs) -> CliResult<()> {
    let hyps = read_lines(&a.hyp)?;
    let refs = read_lines(&a.reference)?;
    if hyps.len() != refs.len() {
        return Err(format!(
            "{} has {} lines but {} has {}: hypotheses and references must be line-aligned",
            a.hyp.display(),
            hyps.len(),
            a.reference.display(),
            refs.len()
        )
        .into());
    }
    let b = hotflip::bleu::corpus_bleu(&hyps, &refs)?;
    if a.json {
        println!("{}", serde_json::to_string(&b)?);
    } else {
        let p = b.precisions;
        println!(
            "BLEU = {:.2} {:.1}/{:.1}/{:.1}/{:.1} (BP = {:.3} ratio = {:.3} hyp_len = {} ref_len = {})",
            b.bleu,
            p[0],
            p[1],
            p[2],
            p[3],
            b.bp,
            b.sys_len as f64 / (b.ref_len.max(1)) as f64,
            b.sys_len,
            b.ref_len
        );
    }
    Ok(())
}
