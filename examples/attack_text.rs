//! Attack one text with HotFlip.
//!
//! ```text
//! cargo run --release --example attack_text -- [CHECKPOINT_DIR] [TEXT]
//! ```
//!
//! Without arguments it attacks a made-up text on the small random
//! `char_cnn_lstm` under tests/fixtures/pytorch (its alphabet is a–j).
//! No label is given, so the model's own prediction is the class to flip.

use std::path::PathBuf;

use hotflip::prelude::*;

fn fixture(arch: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pytorch").join(arch)
}

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    run(std::env::args().skip(1).collect())
}

/// The example, with its command-line arguments (none: the defaults).
pub fn run(args: Vec<String>) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let mut args = args.into_iter();
    let dir = args.next().map(PathBuf::from).unwrap_or_else(|| fixture("char_cnn_lstm"));
    let text = args.next().unwrap_or_else(|| "a bad cafe faced a big jade hedge".to_string());
    let ck = checkpoint::load(&dir)?;
    let level = if ck.config.model.is_char_level() { Level::Char } else { Level::Word };
    // A larger budget than the default, so that short texts have room.
    let settings = Settings { budget: 0.3, ..Settings::default() };
    let attacker = Attacker::from_checkpoint(&ck, level, settings)?;
    let r = attacker.attack_text(&text, None)?;
    let labels = &ck.config.labels;
    println!("original    ({} {:.3}): {}", labels[r.orig_pred], r.orig_prob, r.orig_text);
    println!("adversarial ({} {:.3}): {}", labels[r.adv_pred], r.adv_prob, r.adv_text);
    println!("{} change(s), success: {}", r.changes.len(), r.success);
    Ok(())
}
