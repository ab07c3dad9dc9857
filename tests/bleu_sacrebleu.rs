//! BLEU against values sacreBLEU 2.6.0 produced (benches/bleu_fixture.py
//! wrote tests/fixtures/bleu_sacrebleu.json).

use hotflip::bleu::{corpus_bleu, sentence_bleu, tokenize_13a};
use serde_json::Value;

fn fixture() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bleu_sacrebleu.json"))
        .expect("fixture present");
    serde_json::from_str(&text).expect("fixture is JSON")
}

fn cases(f: &Value) -> &Vec<Value> {
    f["cases"].as_array().expect("cases")
}

#[test]
fn tokens_equal_sacrebleu_13a() {
    let f = fixture();
    for c in cases(&f) {
        let want: Vec<String> =
            c["hyp_tokens"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_string()).collect();
        assert_eq!(tokenize_13a(c["hyp"].as_str().unwrap()), want, "tokens of {:?}", c["hyp"]);
    }
}

#[test]
fn sentence_bleu_equals_sacrebleu() {
    let f = fixture();
    for c in cases(&f) {
        let (h, r) = (c["hyp"].as_str().unwrap(), c["ref"].as_str().unwrap());
        let want = c["sentence_bleu"].as_f64().unwrap();
        let got = sentence_bleu(h, r);
        assert!((got - want).abs() < 1e-9, "sentence BLEU of {h:?} vs {r:?}: {got} != sacreBLEU {want}");
    }
}

#[test]
fn corpus_bleu_equals_sacrebleu() {
    let f = fixture();
    let hyps: Vec<&str> = cases(&f).iter().map(|c| c["hyp"].as_str().unwrap()).collect();
    let refs: Vec<&str> = cases(&f).iter().map(|c| c["ref"].as_str().unwrap()).collect();
    let b = corpus_bleu(&hyps, &refs).unwrap();
    let want = &f["corpus"];
    assert!((b.bleu - want["bleu"].as_f64().unwrap()).abs() < 1e-9, "{} vs {}", b.bleu, want["bleu"]);
    assert!((b.bp - want["bp"].as_f64().unwrap()).abs() < 1e-12);
    assert_eq!(b.sys_len, want["sys_len"].as_u64().unwrap());
    assert_eq!(b.ref_len, want["ref_len"].as_u64().unwrap());
    for (n, p) in want["precisions"].as_array().unwrap().iter().enumerate() {
        assert!((b.precisions[n] - p.as_f64().unwrap()).abs() < 1e-9, "precision {n}");
    }
}
