//! Train a word CNN with iAdvT (Sato et al. 2018): adversarial
//! perturbations in embedding space, restricted to directions towards
//! neighbouring words.
//!
//! ```text
//! cargo run --release --example train_iadvt -- [RUN_DIR]
//! ```
//!
//! The data is a small SST-2-format set written to a temporary folder (a
//! cue word decides each label); point `hotflip::data::load` at a real
//! copy (../shared/data/sst2) for real figures. Rerunning with
//! `resume: true` continues the run from `RUN_DIR/last`.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use hotflip::adv::{EmbeddingAdversary, EmbeddingMethod};
use hotflip::data::LoadOptions;
use hotflip::optim::AdamConfig;
use hotflip::prelude::*;
use hotflip::Rng;

fn write_data(dir: &std::path::Path) -> std::io::Result<()> {
    let filler = ["the", "film", "plot", "actors", "is", "was", "a", "story", "with", "and"];
    let cues = [["awful", "dull"], ["great", "moving"]];
    let mut rng = Rng::new(1);
    for (split, n) in [("train", 120), ("dev", 30), ("test", 30)] {
        let lines: Vec<String> = (0..n)
            .map(|_| {
                let label = rng.below(2);
                let mut words: Vec<&str> = (0..4 + rng.below(4)).map(|_| filler[rng.below(filler.len())]).collect();
                words.insert(rng.below(words.len() + 1), cues[label][rng.below(2)]);
                format!("{label} {}\n", words.join(" "))
            })
            .collect();
        std::fs::write(dir.join(format!("stsa.binary.{split}")), lines.concat())?;
    }
    Ok(())
}

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    run(std::env::args().skip(1).collect())
}

/// The example, with its command-line arguments (none: the defaults).
pub fn run(args: Vec<String>) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let root = std::env::temp_dir().join(format!("hotflip-example-train-{}", std::process::id()));
    let data_dir = root.join("sst2");
    std::fs::create_dir_all(&data_dir)?;
    write_data(&data_dir)?;
    let out = args.into_iter().next().map(PathBuf::from).unwrap_or_else(|| root.join("run"));
    let data = hotflip::data::load("sst2", Some(&data_dir), LoadOptions::default())?;
    let spec = TrainSpec {
        arch: Arch::WordCnn,
        preset: Preset::Small,
        dropout: None,
        lowercase: true,
        min_count: None,
        max_vocab: None,
        init: None,
        init_vectors: None,
        init_lm: None,
        out: out.clone(),
        resume: false,
        options: TrainOptions {
            epochs: 2,
            adam: AdamConfig { lr: 0.01, ..AdamConfig::default() },
            progress: false,
            ..TrainOptions::default()
        },
    };
    // iAdvT with the paper's ε = 15, λ = 1 and 10 neighbours.
    let mut objective = EmbeddingAdversary::paper(EmbeddingMethod::IAdvT, 0);
    let summary = train_resumable(&data, &spec, &mut objective, Arc::new(AtomicBool::new(false)))?;
    let dev = summary.best_dev.as_ref().map_or(f64::NAN, |m| m.accuracy);
    println!(
        "{:?} after {} steps: best dev accuracy {dev:.3} -> {}",
        summary.stopped,
        summary.steps,
        summary.best_dir.display()
    );
    let _ = std::fs::remove_dir_all(&root);
    Ok(())
}
