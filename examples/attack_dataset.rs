//! Attack a data set with a results file that resumes.
//!
//! ```text
//! cargo run --release --example attack_dataset -- [OUT.jsonl]
//! ```
//!
//! The "data set" is a handful of texts over the fixture model's alphabet;
//! a real one comes from `hotflip::data::load`. The run is cut short after
//! the first batch (as an interruption would), then the same call resumes
//! it: the results file ends up as one uninterrupted run would write it.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use hotflip::data::Example;
use hotflip::prelude::*;

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    run(std::env::args().skip(1).collect())
}

/// The example, with its command-line arguments (none: the defaults).
pub fn run(args: Vec<String>) -> std::result::Result<(), Box<dyn std::error::Error>> {
    // A file of your own is resumed as it is; the default one starts afresh.
    let given = args.into_iter().next().map(PathBuf::from);
    let out = given
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("hotflip-example-attack-{}.jsonl", std::process::id())));
    if given.is_none() {
        let _ = std::fs::remove_file(&out);
        let _ = std::fs::remove_file(format!("{}.meta.json", out.display()));
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pytorch/char_cnn_lstm");
    let ck = checkpoint::load(&dir)?;
    let texts = ["bad cafe", "a big jade hedge", "head bag face", "ice age dice", "fed a hag", "chai deed"];
    let attacker = Attacker::from_checkpoint(&ck, Level::Char, Settings { budget: 0.3, ..Settings::default() })?;
    // Label every text with the model's own prediction, so that all are attacked.
    let examples: Vec<Example> = texts
        .iter()
        .map(|t| Ok(Example { text: t.to_string(), label: attacker.predict(t)? }))
        .collect::<Result<_>>()?;
    let spec = RunSpec {
        model: dir.display().to_string(),
        dataset: "example".into(),
        split: "test".into(),
        level: Level::Char,
        settings: Settings { budget: 0.3, ..Settings::default() },
        batch: 2,
        constraints: attacker.constraints().clone(),
        shard: None,
    };
    let attack = |tasks: &[Task]| attacker.attack(tasks);
    let not_interrupted = AtomicBool::new(false);
    // A first session that stops after two attacked examples...
    let first =
        RunOptions { out: out.clone(), summary: None, html: None, limit: Some(2), progress: false, parallel: 1 };
    let part = attack_resumable(&attack, &examples, &spec, &ck.config.labels, &first, &not_interrupted)?;
    println!("first session: {} results", part.results.len());
    // ...and the same call without the limit picks up where it stopped.
    let rest = RunOptions { limit: None, ..first };
    let all = attack_resumable(&attack, &examples, &spec, &ck.config.labels, &rest, &not_interrupted)?;
    println!(
        "after resuming: {} results, {} successes of {} attacked -> {}",
        all.results.len(),
        all.summary.successes,
        all.summary.attacked,
        out.display()
    );
    assert_eq!(all.results.len(), texts.len());
    if given.is_none() {
        let _ = std::fs::remove_file(format!("{}.meta.json", out.display()));
        let _ = std::fs::remove_file(&out);
    }
    Ok(())
}
