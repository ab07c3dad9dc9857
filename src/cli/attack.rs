//! `hotflip attack`: HotFlip and its baselines on a trained model.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use hotflip::util::atomic;
use std::sync::Arc;

use clap::{Args, ValueEnum};

use hotflip::attack::run::{run_resumable, RunOptions, RunSpec};
use hotflip::attack::{Attacker, CharOps, Method, Settings, Shard, Task, WordConstraints};
use hotflip::cuda::Backend;
use hotflip::data::AnyDataset;
use hotflip::lexicon::pos::TrainOptions as TaggerOptions;
use hotflip::lexicon::{PerceptronTagger, PosTagger, StopWords};

use super::common::{announce_attack_backend, load_model, DataArgs};
use super::eval::Split;
use super::CliResult;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Level {
    /// Character flips, insertions and deletions (char_cnn_lstm).
    Char,
    /// Word flips under the semantic constraints (word models).
    Word,
    /// Replace one word by UNK (word models).
    Unk,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OpArg {
    Flip,
    Insert,
    Delete,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MethodArg {
    /// Beam search ranked by first-order gradient scores.
    Hotflip,
    /// Beam search ranked by the true loss of every child (slow baseline).
    LossBeam,
    /// As many random changes as HotFlip makes.
    Random,
    /// Beam search with random gradients.
    RandomGrad,
}

#[derive(Args)]
pub struct AttackArgs {
    /// A checkpoint directory, or a training run (its best/ is used).
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// Which split's examples to attack.
    #[arg(long, value_enum, default_value = "test")]
    split: Split,
    /// Attack this many correctly classified examples (the first ones of the split).
    #[arg(long)]
    limit: Option<usize>,
    #[arg(long, value_enum, default_value = "char")]
    level: Level,
    #[arg(long, value_enum, default_value = "hotflip")]
    method: MethodArg,
    /// Beam width (default 10; 5 for loss-beam, as HotFlip Table 2, and for translation); 1 = greedy.
    #[arg(long)]
    beam: Option<usize>,
    /// Success: the adversarial class reaches this probability.
    #[arg(long, default_value_t = 0.5)]
    tau: f32,
    /// Largest share of characters changed.
    #[arg(long, default_value_t = 0.1)]
    budget: f32,
    /// Targeted attack towards this label (name or index).
    #[arg(long, value_name = "LABEL")]
    target: Option<String>,
    /// Documents attacked together (their beams share forward and backward passes).
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// Beam entries per forward/backward pass at most.
    #[arg(long, default_value_t = 512)]
    eval_batch: usize,
    /// Batches attacked side by side, each on its share of the threads (default: one per thread on
    /// the CPU, 1 when the attack runs on a GPU). The results are the same for any number.
    #[arg(long, value_name = "N")]
    parallel: Option<usize>,
    /// Seed of the random baselines (--method random, random-grad).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Allow several changed characters in one word.
    #[arg(long)]
    multiple_per_word: bool,
    /// Allow changed words that are in the training vocabulary (character level).
    #[arg(long)]
    allow_training_words: bool,
    /// Character operations allowed (comma-separated: flip,insert,delete).
    #[arg(long, value_delimiter = ',', default_value = "flip,insert,delete")]
    ops: Vec<OpArg>,
    /// At most this many changes (default: the budget for characters; 2 word flips; 1 UNK).
    #[arg(long)]
    max_changes: Option<usize>,
    /// Word flips: cosine similarity threshold on the model's embeddings.
    #[arg(long, default_value_t = 0.8)]
    cosine: f32,
    /// Word flips: no cosine-similarity constraint.
    #[arg(long)]
    no_cosine: bool,
    /// Word flips: no part-of-speech constraint.
    #[arg(long)]
    no_pos: bool,
    /// Word flips: a CoNLL-U treebank to train the POS tagger on (default: one found under ../shared/data).
    #[arg(long, value_name = "FILE")]
    pos_treebank: Option<PathBuf>,
    /// Word flips: a tagger saved by `hotflip pos-train`.
    #[arg(long, value_name = "FILE")]
    pos_model: Option<PathBuf>,
    /// Word flips: allow stop-words.
    #[arg(long)]
    allow_stopwords: bool,
    /// Word flips: allow a word's own inflections (same stem).
    #[arg(long)]
    allow_same_stem: bool,
    /// Attack only shard I of N (I counts from 0): the batches k with k mod N = I.
    /// Join the shards' --out files with `hotflip merge`.
    #[arg(long, value_name = "I/N")]
    shard: Option<Shard>,
    /// Results, one JSON object per example; rerunning resumes.
    #[arg(long, value_name = "FILE.jsonl")]
    out: PathBuf,
    /// The run's summary as JSON.
    #[arg(long, value_name = "FILE.json")]
    summary: Option<PathBuf>,
    /// An HTML report.
    #[arg(long, value_name = "FILE.html")]
    html: Option<PathBuf>,
    /// No progress bar (for logs and scripts).
    #[arg(long)]
    no_progress: bool,
    /// Translation (char_nmt): success when sentence BLEU drops by at least this many points.
    #[arg(long, default_value_t = 10.0)]
    min_bleu_drop: f64,
    /// Translation (char_nmt): decoder beam width for each candidate's translation.
    #[arg(long, default_value_t = 5)]
    decode_beam: usize,
    /// Translation (char_nmt): remove:WORD (controlled) or replace:WORD=NEW (targeted).
    #[arg(long, value_name = "GOAL")]
    goal: Option<String>,
}

impl From<Level> for hotflip::attack::Level {
    fn from(l: Level) -> Self {
        match l {
            Level::Char => hotflip::attack::Level::Char,
            Level::Word => hotflip::attack::Level::Word,
            Level::Unk => hotflip::attack::Level::Unk,
        }
    }
}

/// The POS tagger for word flips: given, trained from a given or found
/// treebank, or none (the constraint is then off, and the summary says so).
fn pos_tagger(a: &AttackArgs, data_dir: &std::path::Path) -> CliResult<Option<Box<dyn PosTagger + Send + Sync>>> {
    if a.no_pos {
        return Ok(None);
    }
    if let Some(m) = &a.pos_model {
        return Ok(Some(Box::new(PerceptronTagger::load(m)?)));
    }
    let root = data_dir.parent().unwrap_or(data_dir);
    let treebank = a.pos_treebank.clone().or_else(|| hotflip::lexicon::resources::find_pos_treebank(root));
    match treebank {
        Some(t) => {
            let opts = TaggerOptions { lowercase: true, ..TaggerOptions::default() };
            let cache = hotflip::lexicon::pos::cache::default_dir();
            let (tagger, source) = hotflip::lexicon::pos::cache::train_cached(&t, &opts, cache.as_deref())?;
            match source {
                hotflip::lexicon::pos::cache::Source::Cached => {
                    eprintln!(
                        "pos: the tagger trained on {} (cached in {})",
                        t.display(),
                        cache.unwrap_or_default().display()
                    )
                }
                hotflip::lexicon::pos::cache::Source::Trained => {
                    eprintln!("pos: trained the tagger on {}", t.display())
                }
            }
            Ok(Some(Box::new(tagger)))
        }
        None => {
            eprintln!(
                "pos: no POS treebank under {} and no --pos-treebank/--pos-model: the same-part-of-speech constraint is OFF for this run (the summary records it)",
                root.display()
            );
            Ok(None)
        }
    }
}

fn method_of(m: MethodArg) -> Method {
    match m {
        MethodArg::Hotflip => Method::HotFlip,
        MethodArg::LossBeam => Method::LossBeam,
        MethodArg::Random => Method::Random,
        MethodArg::RandomGrad => Method::RandomGrad,
    }
}

/// The search settings the flags ask for (`labels`: the model's, for `--target`).
fn settings(a: &AttackArgs, labels: &[String]) -> CliResult<Settings> {
    let target = match &a.target {
        None => None,
        Some(t) => Some(
            labels
                .iter()
                .position(|l| l == t)
                .or_else(|| t.parse::<usize>().ok().filter(|&i| i < labels.len()))
                .ok_or_else(|| format!("--target `{t}` is neither a label name nor an index; labels: {:?}", labels))?,
        ),
    };
    let method = method_of(a.method);
    let beam = a.beam.unwrap_or(if method == Method::LossBeam { 5 } else { 10 });
    let max_changes = a.max_changes.or(hotflip::attack::Level::from(a.level).default_max_changes());
    Ok(Settings {
        method,
        beam,
        tau: a.tau,
        budget: a.budget,
        max_changes,
        one_change_per_word: !a.multiple_per_word,
        forbid_training_words: !a.allow_training_words,
        target,
        char_ops: CharOps {
            flip: a.ops.contains(&OpArg::Flip),
            insert: a.ops.contains(&OpArg::Insert),
            delete: a.ops.contains(&OpArg::Delete),
        },
        seed: a.seed,
        eval_batch: a.eval_batch.max(1),
    })
}

pub fn run(a: AttackArgs, threads: usize, backend: &Backend, interrupt: Arc<AtomicBool>) -> CliResult<()> {
    if a.batch == 0 {
        return Err("--batch must be at least 1".into());
    }
    if a.parallel == Some(0) {
        return Err("--parallel must be at least 1".into());
    }
    if let Some(beam) = a.beam.filter(|&b| b > hotflip::attack::settings::MAX_BEAM) {
        return Err(format!(
            "--beam {beam}: at most {}: each step evaluates every beam entry's children, so the run would take hours per document",
            hotflip::attack::settings::MAX_BEAM
        )
        .into());
    }
    announce_attack_backend(threads, backend, a.level == Level::Char);
    if let Ok(dir) = hotflip::train::resolve_model_dir(&a.model) {
        if hotflip::nmt::is_nmt(&dir) {
            return translation(a, threads, interrupt);
        }
    }
    let ck = load_model(&a.model)?;
    let char_model = ck.config.model.is_char_level();
    if (a.level == Level::Char) != char_model {
        return Err(format!(
            "--level {:?} does not fit {} ({}): use --level char for char_cnn_lstm, word or unk for word models",
            a.level,
            ck.dir.display(),
            ck.config.model.arch()
        )
        .to_lowercase()
        .into());
    }
    let data_dir =
        hotflip::data::locate(&a.data.dataset.replace("ag_news_small", "ag_news"), a.data.data_dir.as_deref())?;
    let data = match a.data.load()? {
        AnyDataset::Classification(d) => d,
        other => return Err(format!("`{}` is not a classification data set", other.name()).into()),
    };
    if data.labels != ck.config.labels {
        return Err(
            format!("the model's labels {:?} differ from {}'s {:?}", ck.config.labels, data.name, data.labels).into()
        );
    }
    let settings = settings(&a, &ck.config.labels)?;
    if a.ops.is_empty() {
        return Err("--ops needs at least one of flip, insert, delete".into());
    }
    let level: hotflip::attack::Level = a.level.into();
    let wc = match a.level {
        Level::Char => WordConstraints::none(),
        Level::Word | Level::Unk => WordConstraints {
            cosine: (!a.no_cosine).then_some(a.cosine),
            pos: if a.level == Level::Word { pos_tagger(&a, &data_dir)? } else { None },
            stopwords: (!a.allow_stopwords && a.level == Level::Word).then(StopWords::english),
            distinct_lexemes: !a.allow_same_stem && a.level == Level::Word,
        },
    };
    let attacker = Attacker::with_constraints_on(&ck, level, settings.clone(), wc, backend.gpu().cloned())?;
    let attack = |t: &[Task]| attacker.attack(t);
    let examples = match a.split {
        Split::Train => &data.train,
        Split::Dev => &data.dev,
        Split::Test => &data.test,
    };
    let spec = RunSpec {
        model: ck.dir.display().to_string(),
        dataset: data.name.clone(),
        split: format!("{:?}", a.split).to_lowercase(),
        level,
        settings,
        batch: a.batch,
        constraints: attacker.constraints().clone(),
        shard: a.shard,
    };
    let opts = RunOptions {
        out: a.out.clone(),
        summary: a.summary.clone(),
        html: a.html.clone(),
        limit: a.limit,
        progress: !a.no_progress,
        parallel: parallel(a.parallel, attacker.on_gpu(), threads)?,
    };
    let mut outcome = run_resumable(&attack, examples, &spec, &ck.config.labels, &opts, &interrupt)?;
    if a.level == Level::Word && outcome.summary.unchanged > 0 {
        outcome.summary.hint = Some(no_candidates_hint(&a, &outcome.summary, attacker.largest_cosine_seen()));
        if let Some(p) = &opts.summary {
            atomic::write_file(p, &serde_json::to_vec_pretty(&outcome.summary)?)?;
        }
    }
    eprint!("{}", hotflip::attack::report::table(&outcome.summary));
    eprintln!("({:.1} s this session; results in {})", outcome.seconds, a.out.display());
    if outcome.interrupted {
        return Err(super::Interrupted(
            "interrupted: finished examples are saved; run the same command again to continue".into(),
        )
        .into());
    }
    Ok(())
}

/// Batches side by side: one per thread on the CPU, where a batch's passes
/// are too small to share the threads well (BENCHMARKS.md, par21); one at a
/// time on a GPU, whose one queue the workers would only contend for (a
/// larger `--batch` is the way to fill it).
fn parallel(asked: Option<usize>, on_gpu: bool, threads: usize) -> CliResult<usize> {
    match asked {
        Some(n) if n > 1 && on_gpu => {
            Err(format!("--parallel {n}: an attack on the GPU runs one batch at a time; use --batch for larger passes")
                .into())
        }
        Some(n) => Ok(n),
        None if on_gpu => Ok(1),
        None => Ok(threads.max(1)),
    }
}

/// What to tell the user when the word constraints left examples without a
/// single allowed flip: the largest cosine met and the flag to change.
fn no_candidates_hint(a: &AttackArgs, s: &hotflip::attack::Summary, largest: Option<f32>) -> String {
    let which = format!("the constraints allowed no word flip on {} of {} attacked examples", s.unchanged, s.attacked);
    match (a.no_cosine, largest) {
        (false, Some(c)) if c > a.cosine => format!(
            "{which}; some words have neighbours above --cosine {} (largest cosine {c:.3}), but stop-words, punctuation, \
             same stems and part of speech closed them (--allow-stopwords, --allow-same-stem, --no-pos)",
            a.cosine
        ),
        (false, Some(c)) => format!(
            "{which}; the largest cosine between an attacked word and any other vocabulary word was {c:.3}, \
             below --cosine {}: lower --cosine (or --no-cosine), or give the model pre-trained vectors (train --init-vectors)",
            a.cosine
        ),
        (false, None) => format!("{which}; with --cosine {} no candidate was left: lower --cosine or use --no-cosine", a.cosine),
        (true, _) => format!(
            "{which}: stop-words, punctuation, same stems and part of speech closed every word \
             (--allow-stopwords, --allow-same-stem, --no-pos)"
        ),
    }
}

/// `hotflip attack` on a char_nmt model (src/cli/translate_attack.rs).
fn translation(a: AttackArgs, threads: usize, interrupt: Arc<AtomicBool>) -> CliResult<()> {
    if a.level != Level::Char {
        return Err("a char_nmt model takes --level char".into());
    }
    if a.ops.is_empty() {
        return Err("--ops needs at least one of flip, insert, delete".into());
    }
    // Classification-only flags would be silently ignored: say so instead.
    if a.target.is_some() {
        return Err("--target is for classifiers; a char_nmt model takes --goal remove:WORD or replace:WORD=NEW".into());
    }
    if a.shard.is_some() {
        return Err("--shard is not available for char_nmt models yet; use --limit and one --out per run".into());
    }
    let search = Settings {
        // Beam width 5 for translation (ATTACKS.md), whatever the method.
        method: method_of(a.method),
        beam: a.beam.unwrap_or(5),
        eval_batch: a.eval_batch.max(1),
        budget: a.budget,
        max_changes: a.max_changes,
        one_change_per_word: !a.multiple_per_word,
        forbid_training_words: !a.allow_training_words,
        char_ops: CharOps {
            flip: a.ops.contains(&OpArg::Flip),
            insert: a.ops.contains(&OpArg::Insert),
            delete: a.ops.contains(&OpArg::Delete),
        },
        seed: a.seed,
        ..Settings::default()
    };
    let split = match a.split {
        Split::Train => "train",
        Split::Dev => "dev",
        Split::Test => "test",
    };
    let r = super::translate_attack::NmtAttackRequest {
        model: a.model,
        data: a.data,
        split: split.into(),
        limit: a.limit,
        search,
        decode_beam: a.decode_beam,
        min_bleu_drop: a.min_bleu_drop,
        goal: a.goal,
        batch: a.batch,
        parallel: a.parallel.unwrap_or(threads),
        out: a.out,
        summary: a.summary,
        html: a.html,
    };
    super::translate_attack::run(r, interrupt)
}

#[cfg(test)]
mod tests {
    use super::parallel;

    #[test]
    fn batches_go_side_by_side_on_the_cpu_and_one_at_a_time_on_a_gpu() {
        assert_eq!(parallel(None, false, 4).unwrap(), 4);
        assert_eq!(parallel(Some(3), false, 4).unwrap(), 3);
        assert_eq!(parallel(None, true, 16).unwrap(), 1);
        assert_eq!(parallel(Some(1), true, 16).unwrap(), 1);
        let err = parallel(Some(2), true, 16).unwrap_err().to_string();
        assert!(err.contains("--parallel 2") && err.contains("--batch"), "{err}");
    }
}
