//! A `char_nmt` checkpoint written by PyTorch (benches/pytorch/nmt_fixture.py
//! wrote tests/fixtures/pytorch/char_nmt) loads here and gives PyTorch's
//! teacher-forced log-probabilities at every real target position.

use std::path::Path;

use hotflip::models::char_nmt::TargetBatch;
use hotflip::models::{CharBatch, Mode};
use hotflip::nmt::checkpoint;
use hotflip::Tape;

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn char_nmt_matches_pytorch() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pytorch/char_nmt");
    let ck = checkpoint::load(&dir).unwrap();
    let c = &ck.config.model;
    let inputs = read_json(&dir.join("inputs.json"));
    let docs: Vec<Vec<Vec<usize>>> = serde_json::from_value(inputs["src"].clone()).unwrap();
    let tgts: Vec<Vec<usize>> = serde_json::from_value(inputs["tgt"].clone()).unwrap();
    let want = read_json(&dir.join("log_probs.json"));
    let shape: Vec<usize> = serde_json::from_value(want["shape"].clone()).unwrap();
    let mask: Vec<bool> = serde_json::from_value(want["mask"].clone()).unwrap();
    let want: Vec<f32> = serde_json::from_value(want["log_probs"].clone()).unwrap();

    let x = CharBatch::from_docs(&docs, c.max_word_len, c.max_src_words).unwrap();
    let y = TargetBatch::new(&tgts, c.max_tgt_words).unwrap();
    assert_eq!(y.mask.iter().map(|&m| m > 0.0).collect::<Vec<_>>(), mask, "target mask");
    let tape = Tape::no_grad();
    let p = tape.bind(&ck.store);
    let e = ck.model.embed(&tape, &p, &x).unwrap();
    let mem = ck.model.encode(&tape, &p, &x, e, Mode::EVAL).unwrap();
    let logits = ck.model.forced_logits(&tape, &p, &mem, &y, Mode::EVAL).unwrap();
    let got = tape.value(tape.log_softmax(logits).unwrap()).unwrap();
    assert_eq!(got.shape(), shape.as_slice());
    let v = shape[2];
    let mut worst = 0.0f32;
    for (i, (a, b)) in got.data().iter().zip(&want).enumerate() {
        if mask[i / v] {
            worst = worst.max((a - b).abs());
        }
    }
    assert!(worst < 1e-5, "max |log p − torch log p| = {worst}");
}
