//! Load a checkpoint written by PyTorch and compare its logits.
//!
//! ```text
//! cargo run --release --example load_pytorch -- [FIXTURE_DIR]
//! ```
//!
//! tests/fixtures/pytorch/<arch>/ holds a checkpoint made by
//! benches/pytorch/checkpoint_compat.py (MODELS.md's tensor names), the
//! token ids it was fed and PyTorch's logits. A checkpoint of your own needs
//! only config.json, vocab.json and model.safetensors.

use std::path::PathBuf;

use hotflip::models::{Input, Mode, WordBatch};
use hotflip::prelude::*;

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    run(std::env::args().skip(1).collect())
}

/// The example, with its command-line arguments (none: the defaults).
pub fn run(args: Vec<String>) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let dir = args
        .into_iter()
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pytorch/word_cnn"));
    let ck = checkpoint::load(&dir)?;
    println!("{}: {} with {} parameters", dir.display(), ck.config.model.arch(), ck.store.num_values());
    if ck.config.model.is_char_level() {
        return Ok(());
    }
    let read = |name: &str| -> std::result::Result<serde_json::Value, Box<dyn std::error::Error>> {
        Ok(serde_json::from_str(&std::fs::read_to_string(dir.join(name))?)?)
    };
    let sentences: Vec<Vec<usize>> = serde_json::from_value(read("inputs.json")?)?;
    let torch: Vec<f32> = serde_json::from_value(read("logits.json")?["logits"].clone())?;
    let batch = WordBatch::from_sentences(&sentences, ck.config.model.max_words(), ck.model.min_len())?;
    let tape = Tape::no_grad();
    let params = tape.bind(&ck.store);
    let out = ck.model.forward(&tape, &params, &Input::Words(batch), None, Mode::EVAL)?;
    let ours = tape.value(out.logits)?;
    let scale = torch.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let err = ours.data().iter().zip(&torch).fold(0.0f32, |m, (a, b)| m.max((a - b).abs())) / scale;
    println!("largest difference from PyTorch's logits, relative: {err:.2e}");
    assert!(err < 1e-4, "the logits differ from PyTorch's");
    Ok(())
}
