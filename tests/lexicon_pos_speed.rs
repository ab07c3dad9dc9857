//! Speed of the perceptron tagger at the size of UD English EWT (12,543
//! training sentences, 204,585 words), on a synthetic treebank of that size.
//! Ignored by default (it is a measurement, and debug builds are slower):
//!
//! ```sh
//! cargo test --release --test lexicon_pos_speed -- --ignored --nocapture
//! ```

use std::time::Instant;

use hotflip::lexicon::pos::{PerceptronTagger, PosTagger, TaggedSentence, TrainOptions, Upos};
use hotflip::Rng;

/// Sentences whose tags follow a random first-order Markov chain and whose
/// words are drawn, Zipf-like, from a per-tag vocabulary (20,000 words in
/// all, one in ten shared by two tags), so that the tagger meets the same
/// mix of frequent, rare, ambiguous and unseen words as on a real treebank.
fn synthetic_treebank(sentences: usize, seed: u64) -> Vec<TaggedSentence> {
    let mut rng = Rng::new(seed);
    let per_tag = 20_000 / Upos::COUNT;
    let transitions: Vec<Vec<f32>> =
        (0..Upos::COUNT).map(|_| (0..Upos::COUNT).map(|_| rng.uniform().powi(4)).collect()).collect();
    let draw = |rng: &mut Rng, weights: &[f32]| {
        let mut x = rng.uniform() * weights.iter().sum::<f32>();
        for (k, w) in weights.iter().enumerate() {
            x -= w;
            if x < 0.0 {
                return k;
            }
        }
        weights.len() - 1
    };
    (0..sentences)
        .map(|_| {
            let len = 4 + rng.below(25);
            let mut tag = rng.below(Upos::COUNT);
            let mut s = TaggedSentence { tokens: Vec::new(), tags: Vec::new() };
            for _ in 0..len {
                tag = draw(&mut rng, &transitions[tag]);
                // Zipf-like rank: small ranks are far more frequent.
                let rank = ((per_tag as f32).powf(rng.uniform()) as usize).min(per_tag - 1);
                let owner = if rank % 10 == 3 { (tag + 1) % Upos::COUNT } else { tag };
                let word = format!("w{owner}x{rank}");
                let word = if rng.below(8) == 0 { capitalise(&word) } else { word };
                s.tokens.push(word);
                s.tags.push(Upos::ALL[tag]);
            }
            s
        })
        .collect()
}

fn capitalise(w: &str) -> String {
    let mut c = w.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

#[test]
#[ignore = "a measurement: run with --release -- --ignored"]
fn ewt_sized_training_and_tagging_speed() {
    let train = synthetic_treebank(12_543, 1);
    let test = synthetic_treebank(2_000, 2);
    let words: usize = train.iter().map(|s| s.tokens.len()).sum();
    let t0 = Instant::now();
    let tagger = PerceptronTagger::train_with_progress(&train, &TrainOptions::default(), |i, acc| {
        eprintln!("  pass {}: train accuracy {:.3}", i + 1, acc.ratio())
    })
    .unwrap();
    let train_s = t0.elapsed().as_secs_f64();

    let inputs: Vec<Vec<&str>> = test.iter().map(|s| s.token_strs()).collect();
    let t1 = Instant::now();
    let tagged: usize = inputs.iter().map(|t| tagger.tag(t).len()).sum();
    let tag_s = t1.elapsed().as_secs_f64();
    let acc = tagger.evaluate(&test);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tagger.json");
    let t2 = Instant::now();
    tagger.save(&path).unwrap();
    let save_s = t2.elapsed().as_secs_f64();
    let t3 = Instant::now();
    PerceptronTagger::load(&path).unwrap();
    let load_s = t3.elapsed().as_secs_f64();
    let mb = std::fs::metadata(&path).unwrap().len() as f64 / 1e6;

    let per_s = test.len() as f64 / tag_s;
    eprintln!(
        "train: {} sentences, {words} words, {train_s:.1} s; tag: {tagged} words, {per_s:.0} sentences/s; \
         held-out accuracy {:.3}; model {mb:.1} MB, {} features, save {save_s:.2} s, load {load_s:.2} s",
        train.len(),
        acc.ratio(),
        tagger.size().1
    );
    assert!(train_s < 60.0, "training took {train_s:.1} s");
    assert!(per_s > 2_000.0, "{per_s:.0} sentences/s");
    assert!(acc.ratio() > 0.8, "{acc:?}");
}
