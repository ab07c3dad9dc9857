//! `pretrain-lm`'s run (`train::lm_run`) on the shared training loop:
//! interrupted mid-epoch and resumed, it ends with the same weights, heads,
//! optimiser state and best checkpoint, bit for bit, as a run that was
//! never interrupted; a finished run resumed with more epochs equals one
//! trained straight through; a resume with other settings is refused.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hotflip::checkpoint::{tensors, CheckpointConfig};
use hotflip::data::{ModelVocab, Vocab, VocabKind};
use hotflip::models::{LstmTextConfig, Model, ModelConfig};
use hotflip::nn::ParamStore;
use hotflip::optim::AdamConfig;
use hotflip::train::lm::{counts, LmHead, LmOptions, Proposal};
use hotflip::train::lm_run::{LmRunOptions, LmSummary, LmTrainee, LmTrainer, HEAD_FILE, HEAD_OPTIMIZER_FILE, LM_LOG};
use hotflip::train::{StopReason, BEST, LAST};
use hotflip::Rng;

const WORDS: usize = 12;
const VOCAB: usize = WORDS + 2;
/// 96 training sentences in batches of 16.
const STEPS_PER_EPOCH: u64 = 6;

/// Sentences where each word fixes the next, as in `train::lm`'s unit tests.
fn corpus(n: usize, rng: &mut Rng) -> Vec<Vec<usize>> {
    (0..n)
        .map(|_| {
            let start = rng.below(WORDS);
            let len = 3 + rng.below(5);
            (0..len).map(|k| 2 + (start + 5 * k) % WORDS).collect()
        })
        .collect()
}

fn trainee() -> LmTrainee {
    let c = LstmTextConfig {
        vocab: VOCAB,
        n_classes: 2,
        embed_dim: 8,
        lstm_hidden: 10,
        ffnn_dim: 4,
        normalize_embeddings: false,
        // Dropout on, so that a resume must reproduce the masks too.
        dropout: 0.3,
        max_words: 20,
    };
    let cfg = ModelConfig::BilstmTagger(c);
    let mut rng = Rng::new(5);
    let mut store = ParamStore::new();
    let model = Model::new(&cfg, &mut store, &mut rng).expect("a valid config");
    let head = LmHead::new(VOCAB, 10, 2, &mut rng).expect("heads");
    let tokens: Vec<String> = (0..WORDS).map(|i| format!("w{i}")).collect();
    let vocab = ModelVocab::new(Vocab::from_tokens(VocabKind::Words, tokens).expect("distinct tokens"), None)
        .expect("a word vocabulary");
    let config = CheckpointConfig {
        model: cfg,
        labels: vec!["c".into(), "i".into()],
        lowercase: true,
        dataset: Some("synthetic".into()),
        training: serde_json::json!({"pretrain_lm": {"samples": 4, "directions": 2}}),
    };
    LmTrainee { model, store, head, config, vocab }
}

fn options(epochs: u64, batch: usize) -> LmRunOptions {
    LmRunOptions {
        epochs,
        minutes: None,
        lm: LmOptions {
            batch,
            samples: 4,
            adam: AdamConfig { lr: 1e-2, decay: 0.999, ..AdamConfig::default() },
            clip: Some(5.0),
            seed: 3,
        },
        save_every: Duration::from_secs(3600),
        progress: false,
    }
}

struct Data {
    train: Vec<Vec<usize>>,
    dev: Vec<Vec<usize>>,
    proposal: Proposal,
}

fn data() -> Data {
    let mut rng = Rng::new(11);
    let train = corpus(96, &mut rng);
    let dev = corpus(20, &mut rng);
    let proposal = Proposal::new(&counts(&train, VOCAB)).expect("a proposal");
    Data { train, dev, proposal }
}

fn run(
    out: &Path,
    d: &Data,
    opts: LmRunOptions,
    resume: bool,
    interrupt_at: Option<u64>,
) -> hotflip::Result<LmSummary> {
    let flag = Arc::new(AtomicBool::new(false));
    let raise = {
        let flag = Arc::clone(&flag);
        move |step: u64| {
            if Some(step) == interrupt_at {
                flag.store(true, Ordering::SeqCst);
            }
        }
    };
    let trainer = LmTrainer {
        out: out.to_path_buf(),
        opts,
        train: &d.train,
        dev: &d.dev,
        proposal: &d.proposal,
        max_words: 20,
        interrupt: flag,
        after_step: Some(&raise),
    };
    trainer.run(&mut trainee(), resume)
}

fn dir(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new().prefix(&format!("hotflip-lm-{name}-")).tempdir().expect("a temporary directory")
}

fn assert_same_tensors(a: &Path, b: &Path) {
    let ta = tensors::load(a).unwrap_or_else(|e| panic!("{e}"));
    let tb = tensors::load(b).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ta.len(), tb.len(), "{} vs {}", a.display(), b.display());
    for ((na, xa), (nb, xb)) in ta.iter().zip(&tb) {
        assert_eq!(na, nb);
        let same = xa.data().iter().zip(xb.data()).all(|(x, y)| x.to_bits() == y.to_bits());
        assert!(same, "tensor {na} differs between {} and {}", a.display(), b.display());
    }
}

fn assert_same_run(a: &Path, b: &Path) {
    for f in ["model.safetensors", "optimizer.safetensors", HEAD_FILE, HEAD_OPTIMIZER_FILE] {
        assert_same_tensors(&a.join(LAST).join(f), &b.join(LAST).join(f));
    }
    assert_same_tensors(&a.join(BEST).join("model.safetensors"), &b.join(BEST).join("model.safetensors"));
    let log = |r: &Path| -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(r.join(LM_LOG)).expect("lm_log.jsonl");
        text.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect()
    };
    let (la, lb) = (log(a), log(b));
    assert_eq!(la.len(), lb.len());
    for (x, y) in la.iter().zip(&lb) {
        assert_eq!(x["epoch"], y["epoch"]);
        assert_eq!(x["dev_perplexity"], y["dev_perplexity"], "the same weights score the same");
    }
}

#[test]
fn an_interrupted_pretraining_resumes_to_the_uninterrupted_run() {
    let d = data();
    let straight = dir("straight");
    let s = run(straight.path(), &d, options(3, 16), false, None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((s.stopped, s.steps, s.epochs), (StopReason::Epochs, 3 * STEPS_PER_EPOCH, 3.0));
    let ppl = s.best_perplexity.expect("a best perplexity");
    assert!(ppl < WORDS as f64, "the LM learns something: dev perplexity {ppl}");

    // The flag goes up during step 9, the third batch of the second epoch.
    let cut = dir("cut");
    let s = run(cut.path(), &d, options(3, 16), false, Some(STEPS_PER_EPOCH + 3)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((s.stopped, s.steps), (StopReason::Interrupted, STEPS_PER_EPOCH + 3));
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cut.path().join(LAST).join("trainer.json")).unwrap()).unwrap();
    assert_eq!((state["epoch"].as_u64(), state["batch"].as_u64()), (Some(1), Some(3)));
    // A second fresh run into the same folder is refused.
    let err = run(cut.path(), &d, options(3, 16), false, None).unwrap_err().to_string();
    assert!(err.contains("--resume"), "{err}");
    let s = run(cut.path(), &d, options(3, 16), true, None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((s.stopped, s.steps), (StopReason::Epochs, 3 * STEPS_PER_EPOCH));
    assert_same_run(straight.path(), cut.path());
}

#[test]
fn a_finished_pretraining_resumed_with_more_epochs_equals_one_run() {
    let d = data();
    let straight = dir("straight2");
    run(straight.path(), &d, options(2, 16), false, None).unwrap_or_else(|e| panic!("{e}"));
    let split = dir("split");
    run(split.path(), &d, options(1, 16), false, None).unwrap_or_else(|e| panic!("{e}"));
    // Another batch size cannot continue it.
    let err = run(split.path(), &d, options(2, 8), true, None).unwrap_err().to_string();
    assert!(err.contains("--batch"), "{err}");
    let s = run(split.path(), &d, options(2, 16), true, None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.steps, 2 * STEPS_PER_EPOCH);
    assert_same_run(straight.path(), split.path());
    // Nothing to resume in an empty folder.
    let empty = dir("empty");
    let err = run(empty.path(), &d, options(1, 16), true, None).unwrap_err().to_string();
    assert!(err.contains("nothing to resume"), "{err}");
}
