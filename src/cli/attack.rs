//! `hotflip attack`: HotFlip and its baselines on a trained model.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use hotflip::attack::results_file::ResultsFile;
use hotflip::attack::{
    Attacker, CharAttacker, CharOps, ExampleResult, Method, RunInfo, Settings, Summary, Task, WordConstraints,
    WordMode, WordSpace,
};
use hotflip::checkpoint::atomic;
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
    #[arg(long, value_enum, default_value = "test")]
    split: Split,
    /// Attack this many correctly classified examples (the first ones of the split).
    #[arg(long)]
    limit: Option<usize>,
    #[arg(long, value_enum, default_value = "char")]
    level: Level,
    #[arg(long, value_enum, default_value = "hotflip")]
    method: MethodArg,
    /// Beam width (default 10; 5 for loss-beam, as HotFlip Table 2); 1 = greedy.
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
    /// Results, one JSON object per example; rerunning resumes.
    #[arg(long, value_name = "FILE.jsonl")]
    out: PathBuf,
    /// The run's summary as JSON.
    #[arg(long, value_name = "FILE.json")]
    summary: Option<PathBuf>,
    /// An HTML report.
    #[arg(long, value_name = "FILE.html")]
    html: Option<PathBuf>,
    #[arg(long)]
    no_progress: bool,
}

/// One batch of tasks in, one result per task out.
type AttackFn<'a> = dyn Fn(&[Task]) -> hotflip::Result<Vec<ExampleResult>> + 'a;

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
            eprintln!("pos: training the tagger on {}", t.display());
            let opts = TaggerOptions { lowercase: true, ..TaggerOptions::default() };
            Ok(Some(Box::new(PerceptronTagger::train_conllu(&t, &opts)?)))
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

pub fn run(a: AttackArgs, threads: usize, backend: &Backend, interrupt: Arc<AtomicBool>) -> CliResult<()> {
    if a.batch == 0 {
        return Err("--batch must be at least 1".into());
    }
    announce_attack_backend(threads, backend, a.level == Level::Char);
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
    let target = match &a.target {
        None => None,
        Some(t) => Some(
            ck.config
                .labels
                .iter()
                .position(|l| l == t)
                .or_else(|| t.parse::<usize>().ok().filter(|&i| i < ck.config.labels.len()))
                .ok_or_else(|| {
                    format!("--target `{t}` is neither a label name nor an index; labels: {:?}", ck.config.labels)
                })?,
        ),
    };
    let method = match a.method {
        MethodArg::Hotflip => Method::HotFlip,
        MethodArg::LossBeam => Method::LossBeam,
        MethodArg::Random => Method::Random,
        MethodArg::RandomGrad => Method::RandomGrad,
    };
    let beam = a.beam.unwrap_or(if method == Method::LossBeam { 5 } else { 10 });
    let max_changes = a.max_changes.or(match a.level {
        Level::Char => None,
        Level::Word => Some(2),
        Level::Unk => Some(1),
    });
    let settings = Settings {
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
    };
    if a.ops.is_empty() {
        return Err("--ops needs at least one of flip, insert, delete".into());
    }
    let mut constraints: BTreeMap<String, String> = BTreeMap::new();
    constraints.insert("one_change_per_word".into(), settings.one_change_per_word.to_string());
    if a.level == Level::Char {
        let ops: Vec<String> = a.ops.iter().map(|o| format!("{o:?}").to_lowercase()).collect();
        constraints.insert("ops".into(), ops.join(","));
    }
    let attack: Box<AttackFn<'_>> = match a.level {
        Level::Char => {
            constraints.insert("not_training_word".into(), settings.forbid_training_words.to_string());
            let attacker = CharAttacker::chars_on(
                &ck.model,
                &ck.store,
                &ck.vocab,
                ck.config.lowercase,
                settings.clone(),
                backend.gpu().cloned(),
            )?;
            Box::new(move |t: &[Task]| attacker.attack(t))
        }
        Level::Word | Level::Unk => {
            let wc = WordConstraints {
                cosine: (!a.no_cosine).then_some(a.cosine),
                pos: if a.level == Level::Word { pos_tagger(&a, &data_dir)? } else { None },
                stopwords: (!a.allow_stopwords && a.level == Level::Word).then(StopWords::english),
                distinct_lexemes: !a.allow_same_stem && a.level == Level::Word,
            };
            if a.level == Level::Word {
                constraints.extend(wc.describe());
            }
            let mode = if a.level == Level::Word { WordMode::Flip } else { WordMode::Unk };
            let space =
                WordSpace::new(&ck.model, &ck.store, &ck.vocab.vocab, ck.config.lowercase, mode, wc, &settings)?;
            let attacker = Attacker::new(&ck.model, &ck.store, space, settings.clone())?;
            Box::new(move |t: &[Task]| attacker.attack(t))
        }
    };
    let level = format!("{:?}", a.level).to_lowercase();
    let examples = match a.split {
        Split::Train => &data.train,
        Split::Dev => &data.dev,
        Split::Test => &data.test,
    };
    let meta = serde_json::json!({
        "model": ck.dir.display().to_string(),
        "dataset": data.name,
        "split": format!("{:?}", a.split).to_lowercase(),
        "level": level,
        "method": method.name(),
        "beam": beam,
        "tau": a.tau,
        "budget": a.budget,
        "max_changes": max_changes,
        "target": target,
        "seed": a.seed,
        "batch": a.batch,
        "constraints": constraints,
    });
    let mut file = ResultsFile::open(&a.out, &meta)?;
    let attacked_of = |rs: &[ExampleResult]| rs.iter().filter(|r| !r.skipped).count();
    let limit = a.limit.unwrap_or(usize::MAX);
    if !file.results.is_empty() {
        eprintln!(
            "resuming {}: {} examples done ({} attacked)",
            a.out.display(),
            file.results.len(),
            attacked_of(&file.results)
        );
    }
    let total = a.limit.unwrap_or(examples.len()).min(examples.len()) as u64;
    let target_draw = if a.no_progress { ProgressDrawTarget::hidden() } else { ProgressDrawTarget::stderr() };
    let bar = ProgressBar::with_draw_target(Some(total), target_draw);
    bar.set_style(
        ProgressStyle::with_template("attack [{bar:30}] {pos}/{len} attacked {msg} ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let show = |bar: &ProgressBar, rs: &[ExampleResult]| {
        let att: Vec<&ExampleResult> = rs.iter().filter(|r| !r.skipped).collect();
        let wins = att.iter().filter(|r| r.success).count();
        bar.set_position(att.len() as u64);
        bar.set_message(format!(
            "| {wins} succeeded ({:.1}%) | {} skipped",
            100.0 * wins as f64 / att.len().max(1) as f64,
            rs.len() - att.len()
        ));
    };
    show(&bar, &file.results);
    let start = Instant::now();
    // Batches are fixed slices of the split ([k·K, (k+1)·K)), so a resumed
    // run attacks every example in the same company as an uninterrupted one
    // and writes the same numbers; finished examples of a partly done batch
    // are attacked again and their results discarded.
    let first_open = (0..examples.len()).find(|i| !file.done.contains(i)).unwrap_or(examples.len());
    let mut batch_start = first_open - first_open % a.batch;
    let mut interrupted = false;
    while attacked_of(&file.results) < limit && batch_start < examples.len() {
        if interrupt.load(Ordering::Relaxed) {
            interrupted = true;
            break;
        }
        let end = (batch_start + a.batch).min(examples.len());
        let tasks: Vec<Task> = (batch_start..end)
            .map(|i| Task { index: i, text: examples[i].text.clone(), label: examples[i].label })
            .collect();
        batch_start = end;
        if tasks.iter().all(|t| file.done.contains(&t.index)) {
            continue;
        }
        let mut results = attack(&tasks)?;
        results.retain(|r| !file.done.contains(&r.index));
        // Stop exactly at the limit: drop results past the example that reaches it.
        let room = limit - attacked_of(&file.results);
        let mut seen = 0;
        results.retain(|r| {
            if seen >= room {
                return false;
            }
            seen += !r.skipped as usize;
            true
        });
        file.append(&results)?;
        show(&bar, &file.results);
    }
    bar.finish_and_clear();
    let info = RunInfo { method: method.name().into(), level, tau: a.tau, beam, budget: a.budget, target, constraints };
    let summary = Summary::of(&info, &file.results);
    if let Some(p) = &a.summary {
        atomic::write_file(p, &serde_json::to_vec_pretty(&summary)?)?;
    }
    if let Some(p) = &a.html {
        let html = hotflip::attack::report::html(&summary, &file.results, &ck.config.labels);
        atomic::write_file(p, html.as_bytes())?;
    }
    eprint!("{}", hotflip::attack::report::table(&summary));
    eprintln!("({:.1} s this session; results in {})", start.elapsed().as_secs_f64(), a.out.display());
    if interrupted {
        eprintln!("interrupted: finished examples are saved; run the same command again to continue");
    }
    Ok(())
}
