//! Fuzzing every loader a user's file reaches: AG's News CSV, FCE TSV,
//! CoNLL-U, config.json / vocab.json, the safetensors header, and the
//! attack's results JSONL. Each target starts from a valid input and applies
//! 1–8 random mutations per case (byte flips, deletions, duplications,
//! truncation, and insertions of bytes that parsers trip on: quotes,
//! separators, a BOM, invalid UTF-8, huge and negative numbers). A loader
//! may accept or refuse an input, but must never panic.
//!
//! `HOTFLIP_FUZZ_CASES` sets the cases per target (CI: the default, 300);
//! README's RELIABILITY section records a run of 10,000 per target:
//! `HOTFLIP_FUZZ_CASES=10000 cargo test --release --test fuzz_loaders -- --nocapture --test-threads 1`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use hotflip::checkpoint::{self, tensors, CheckpointConfig};
use hotflip::data::{ModelVocab, Vocab, VocabKind};
use hotflip::models::{Model, ModelConfig, WordCnnConfig};
use hotflip::nn::ParamStore;
use hotflip::Rng;

fn cases() -> usize {
    std::env::var("HOTFLIP_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(300)
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hotflip-fuzz-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Byte strings parsers trip on.
const TOKENS: &[&[u8]] = &[
    b"\"",
    b",",
    b"\t",
    b"\n",
    b"\r\n",
    b"\xEF\xBB\xBF",
    b"\xff",
    b"\xc3",
    b"-1",
    b"0",
    b"1e999",
    b"99999999999999999999",
    b"18446744073709551615",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b"null",
    b"\"\"",
    b"#",
    b"_",
    b"\\",
    b"&amp;",
    b"<br />",
    b" ",
    b"\x00",
];

fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..1 + rng.below(8) {
        let at = if b.is_empty() { 0 } else { rng.below(b.len() + 1) };
        match rng.below(6) {
            0 if !b.is_empty() => {
                let i = at.min(b.len() - 1);
                b[i] ^= 1 << rng.below(8);
            }
            1 => {
                let end = (at + 1 + rng.below(16)).min(b.len());
                b.drain(at.min(end)..end);
            }
            2 => {
                let end = (at + 1 + rng.below(64)).min(b.len());
                let piece = b[at.min(end)..end].to_vec();
                b.splice(at..at, piece);
            }
            3 => b.truncate(at),
            _ => {
                let t = TOKENS[rng.below(TOKENS.len())];
                b.splice(at..at, t.iter().copied());
            }
        }
    }
    b
}

/// Runs `target` on `cases()` mutants of `seed`; panics (failing the test)
/// if any case panicked, naming the first such input. Prints the counts.
fn fuzz(name: &str, seed: &[u8], mut target: impl FnMut(&[u8]) -> bool) {
    let n = cases();
    let mut rng = Rng::new(0xF022 ^ name.len() as u64);
    let (mut ok, mut refused) = (0usize, 0usize);
    assert!(target(seed), "{name}: the seed input itself does not load");
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut panicked: Vec<Vec<u8>> = Vec::new();
    for _ in 0..n {
        let input = mutate(seed, &mut rng);
        match catch_unwind(AssertUnwindSafe(|| target(&input))) {
            Ok(true) => ok += 1,
            Ok(false) => refused += 1,
            Err(_) => panicked.push(input),
        }
    }
    std::panic::set_hook(hook);
    println!("fuzz {name}: {n} inputs, {ok} loaded, {refused} refused with an error, {} panicked", panicked.len());
    if let Some(first) = panicked.first() {
        // Re-run the first one with the hook back, to show where it panicked.
        let _ = catch_unwind(AssertUnwindSafe(|| target(first)));
        panic!("{name}: {} of {n} inputs panicked; first: {:?}", panicked.len(), String::from_utf8_lossy(first));
    }
}

#[test]
fn fuzz_ag_news_csv() {
    let dir = scratch("csv");
    std::fs::write(dir.join("classes.txt"), "World\nSports\nBusiness\nSci/Tech\n").unwrap();
    let seed = b"\"3\",\"Wall St. Bears\",\"Reuters - Short-sellers, Wall Street's \"\"dwindling\"\" band\"\n\
\"4\",\"New &lt;b&gt;chip\",\"A line\\break and &#36;5.\"\n\"1\",\"a\",\"b\"\n";
    fuzz("csv (AG's News)", seed, |bytes| {
        std::fs::write(dir.join("test.csv"), bytes).unwrap();
        let opts = hotflip::data::LoadOptions { skip_bad_rows: bytes.len() % 2 == 0 };
        hotflip::data::ag_news::load(&dir, opts, true).is_ok()
    });
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn fuzz_fce_tsv() {
    let dir = scratch("tsv");
    let good = "Dear\tc\nSir\tc\n,\tc\nI\tc\nam\ti\n\nThank\tc\nyou\tc\n";
    for split in ["dev", "test"] {
        std::fs::write(dir.join(format!("fce-public.{split}.original.tsv")), good).unwrap();
    }
    fuzz("tsv (FCE)", good.as_bytes(), |bytes| {
        std::fs::write(dir.join("fce-public.train.original.tsv"), bytes).unwrap();
        let opts = hotflip::data::LoadOptions { skip_bad_rows: bytes.len() % 2 == 0 };
        hotflip::data::fce::load(&dir, opts).is_ok()
    });
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn fuzz_conllu() {
    let seed = b"# sent_id = 1\n# text = I can't go.\n1\tI\tI\tPRON\tPRP\t_\t3\tnsubj\t_\t_\n\
2-3\tcan't\t_\t_\t_\t_\t_\t_\t_\t_\n2\tca\tcan\tAUX\tMD\t_\t4\taux\t_\t_\n3\tn't\tnot\tPART\tRB\t_\t4\tadvmod\t_\t_\n\
4\tgo\tgo\tVERB\tVB\t_\t0\troot\t_\tSpaceAfter=No\n4.1\tgone\t_\t_\t_\t_\t_\t_\t_\t_\n5\t.\t.\tPUNCT\t.\t_\t4\tpunct\t_\t_\n\n";
    fuzz("conllu", seed, |bytes| {
        let reader = hotflip::lexicon::pos::conllu::Reader::new(bytes, Path::new("fuzz.conllu"));
        reader.collect::<Result<Vec<_>, _>>().is_ok()
    });
}

/// A small word_cnn checkpoint in `dir`.
fn checkpoint_in(dir: &Path) {
    let words = ["good", "bad", "film"].iter().map(|w| w.to_string()).collect();
    let vocab = ModelVocab::new(Vocab::from_tokens(VocabKind::Words, words).unwrap(), None).unwrap();
    let model = ModelConfig::WordCnn(WordCnnConfig {
        embed_dim: 3,
        kernel_widths: vec![1, 2],
        kernel_filters: vec![2, 2],
        max_words: 5,
        ..WordCnnConfig::small(vocab.vocab.len(), 2)
    });
    let mut store = ParamStore::new();
    Model::new(&model, &mut store, &mut Rng::new(1)).unwrap();
    let config = CheckpointConfig {
        model,
        labels: vec!["neg".into(), "pos".into()],
        lowercase: true,
        dataset: None,
        training: serde_json::Value::Null,
    };
    checkpoint::save(dir, &config, &vocab, &store, &[]).unwrap();
}

#[test]
fn fuzz_config_json() {
    let dir = scratch("config").join("m");
    checkpoint_in(&dir);
    let seed = std::fs::read(dir.join("config.json")).unwrap();
    fuzz("config.json", &seed, |bytes| {
        std::fs::write(dir.join("config.json"), bytes).unwrap();
        checkpoint::load(&dir).is_ok()
    });
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
}

#[test]
fn fuzz_vocab_json() {
    let dir = scratch("vocab").join("m");
    checkpoint_in(&dir);
    let seed = std::fs::read(dir.join("vocab.json")).unwrap();
    fuzz("vocab.json", &seed, |bytes| {
        std::fs::write(dir.join("vocab.json"), bytes).unwrap();
        checkpoint::load(&dir).is_ok()
    });
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
}

#[test]
fn fuzz_safetensors_header() {
    let dir = scratch("safetensors").join("m");
    checkpoint_in(&dir);
    let file = std::fs::read(dir.join("model.safetensors")).unwrap();
    let n = u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
    let (header, data) = (&file[8..8 + n], &file[8 + n..]);
    fuzz("safetensors header", header, |h| {
        // The length prefix follows the mutated header, as a writer would
        // set it; a wrong prefix is covered below.
        let mut bytes = (h.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(h);
        bytes.extend_from_slice(data);
        std::fs::write(dir.join("model.safetensors"), &bytes).unwrap();
        let whole = checkpoint::load(&dir).is_ok();
        let parsed = tensors::parse_header(h, data.len() as u64).is_ok();
        let _ = tensors::load(&dir.join("model.safetensors"));
        whole && parsed
    });
    fuzz("safetensors file", &file, |bytes| {
        std::fs::write(dir.join("model.safetensors"), bytes).unwrap();
        checkpoint::load(&dir).is_ok()
    });
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
}

#[test]
fn fuzz_results_jsonl() {
    let dir = scratch("jsonl");
    let out = dir.join("a.jsonl");
    let settings = serde_json::json!({"method": "hotflip"});
    let line = r#"{"index":3,"label":1,"skipped":false,"orig_text":"a good film","orig_pred":1,"orig_prob":0.61,"adv_text":"a <unk> film","adv_pred":0,"adv_prob":0.55,"success":true,"changes":[{"op":"unk","word":1,"pos":0,"from":"good","to":"<unk>","word_before":"good","word_after":"<unk>","predicted":0.2,"actual":0.3}],"chars_changed":4,"n_chars":9,"n_units":3,"frac_changed":0.33,"max_changes":1,"tau_changes":{"0.5":1},"best_adv_prob":0.55,"forward_passes":4,"backward_passes":1,"seconds":0.01}"#;
    let skipped = line.replace("\"index\":3", "\"index\":4").replace("\"skipped\":false", "\"skipped\":true");
    let seed = format!("{line}\n{skipped}\n");
    fuzz("results jsonl", seed.as_bytes(), |bytes| {
        std::fs::write(&out, bytes).unwrap();
        std::fs::write(dir.join("a.jsonl.meta.json"), serde_json::to_vec(&settings).unwrap()).unwrap();
        hotflip::attack::results_file::ResultsFile::open(&out, &settings).is_ok()
    });
    let _ = std::fs::remove_dir_all(&dir);
}
