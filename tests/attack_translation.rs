//! The translation adversary on the PyTorch-made `char_nmt` fixture
//! (tests/fixtures/pytorch/char_nmt), run by the beam search the
//! classification attack uses: the loss-based beam keeps the child of
//! highest true teacher-forced loss (checked against the model's own loss),
//! beams of many sentences share passes without changing any result, and the
//! random baseline makes as many changes as HotFlip.

use std::path::Path;

use hotflip::attack::char_doc::CharDoc;
use hotflip::attack::translation::{
    TranslationAttacker, TranslationGoal, TranslationResult, TranslationSettings, TranslationTask,
};
use hotflip::attack::{Method, Settings, Space};
use hotflip::models::char_nmt::TargetBatch;
use hotflip::models::{CharBatch, Mode};
use hotflip::nmt::NmtCheckpoint;
use hotflip::tape::Tape;

fn fixture() -> NmtCheckpoint {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pytorch/char_nmt");
    hotflip::nmt::checkpoint::load(&dir).expect("the char_nmt fixture")
}

/// Sources over the fixture's characters (a–j) and references over its
/// target words (t0–t10), of different lengths so that batches pad.
fn tasks() -> Vec<TranslationTask> {
    [
        ("abc dea fgh", "t1 t3 t2"),
        ("jih gf", "t4 t5"),
        ("bad cafe hide jig", "t0 t6 t7 t8"),
        ("ace", "t9"),
        ("gig ahead bee", "t2 t2 t10"),
    ]
    .iter()
    .enumerate()
    .map(|(index, (s, r))| TranslationTask { index, src: s.to_string(), reference: r.to_string() })
    .collect()
}

fn settings(method: Method, beam: usize, max_changes: usize, min_bleu_drop: f64) -> TranslationSettings {
    TranslationSettings {
        search: Settings { method, beam, max_changes: Some(max_changes), ..Settings::default() },
        decode_beam: 2,
        min_bleu_drop,
        goal: TranslationGoal::BleuDrop,
    }
}

/// J of `doc` as the model itself computes it: the mean teacher-forced
/// cross-entropy of the reference times its number of tokens.
fn true_loss(ck: &NmtCheckpoint, doc: &CharDoc, reference: &str) -> f32 {
    let c = &ck.model.config;
    let x = CharBatch::from_docs(&[doc.ids(&ck.vocab.chars)], c.max_word_len, c.max_src_words).unwrap();
    let y = TargetBatch::new(&[ck.vocab.encode_tgt(reference)], c.max_tgt_words).unwrap();
    let tape = Tape::no_grad();
    let p = tape.bind_frozen(&ck.store);
    let l = ck.model.loss(&tape, &p, &x, &y, Mode::EVAL).unwrap();
    tape.value(l).unwrap().data()[0] * y.tokens() as f32
}

#[test]
fn loss_beam_keeps_the_child_of_highest_true_loss() {
    let ck = fixture();
    // One change, beam 1, and a drop no sentence can reach: the reported
    // entry is the single child kept, the one of highest J.
    let a = TranslationAttacker::new(&ck.model, &ck.store, &ck.vocab, settings(Method::LossBeam, 1, 1, 100.0)).unwrap();
    let ts = tasks();
    let results = a.attack(&ts).unwrap();
    for (t, r) in ts.iter().zip(&results) {
        let doc = a.space.parse(&t.src);
        let j0 = true_loss(&ck, &doc, &t.reference);
        let mut kids: Vec<CharDoc> = a.space.edits(&doc).iter().filter_map(|e| a.space.apply(&doc, e)).collect();
        kids.sort_by(|x, y| format!("{x:?}").cmp(&format!("{y:?}")));
        kids.dedup();
        assert!(!kids.is_empty(), "{}: no allowed edit", t.src);
        let best = kids.iter().map(|k| true_loss(&ck, k, &t.reference)).fold(f32::NEG_INFINITY, f32::max);
        assert!(!r.success && r.changes.len() == 1, "{r:?}");
        let actual = r.changes[0].actual.expect("the loss change of the edit");
        assert!((actual - (best - j0)).abs() <= 1e-4 * (1.0 + best.abs()), "{}: {actual} vs {}", t.src, best - j0);
        assert!(r.changes[0].predicted.is_none(), "a loss-ranked child has no first-order score");
        // The clean decoding, the original's pass, every distinct child, and the kept child's decoding.
        assert_eq!(r.forward_passes, 3 + kids.len() as u64, "{}", t.src);
        assert_eq!(r.backward_passes, 0);
    }
}

fn same_attack(a: &TranslationResult, b: &TranslationResult) {
    assert_eq!(
        (&a.adv_src, &a.adv_output, a.success, a.forward_passes, a.backward_passes),
        (&b.adv_src, &b.adv_output, b.success, b.forward_passes, b.backward_passes)
    );
    let ops = |r: &TranslationResult| r.changes.iter().map(|c| (c.op.clone(), c.word, c.pos)).collect::<Vec<_>>();
    assert_eq!(ops(a), ops(b));
}

#[test]
fn sentences_batched_together_get_the_results_they_get_alone() {
    let ck = fixture();
    for method in [Method::HotFlip, Method::LossBeam] {
        let a = TranslationAttacker::new(&ck.model, &ck.store, &ck.vocab, settings(method, 3, 2, 5.0)).unwrap();
        let ts = tasks();
        let together = a.attack(&ts).unwrap();
        assert!(together.iter().any(|r| !r.changes.is_empty()), "{method:?}: nothing changed");
        for (t, r) in ts.iter().zip(&together) {
            let alone = a.attack(std::slice::from_ref(t)).unwrap();
            same_attack(r, &alone[0]);
        }
    }
}

#[test]
fn hotflip_ranks_by_gradients_and_random_makes_as_many_changes() {
    let ck = fixture();
    let hot =
        TranslationAttacker::new(&ck.model, &ck.store, &ck.vocab, settings(Method::HotFlip, 2, 2, 100.0)).unwrap();
    let rnd = TranslationAttacker::new(&ck.model, &ck.store, &ck.vocab, settings(Method::Random, 2, 2, 100.0)).unwrap();
    let ts = tasks();
    let (h, r) = (hot.attack(&ts).unwrap(), rnd.attack(&ts).unwrap());
    for (h, r) in h.iter().zip(&r) {
        assert!(h.backward_passes >= 1 && h.changes.iter().all(|c| c.predicted.is_some()), "{h:?}");
        assert_eq!(h.changes.len(), r.changes.len(), "{} vs {}", h.adv_src, r.adv_src);
        assert_eq!(r.src_output, h.src_output);
    }
    // Seeded per sentence: the same random edits whatever the batch.
    let alone = rnd.attack(&ts[2..3]).unwrap();
    same_attack(&alone[0], &r[2]);
}
