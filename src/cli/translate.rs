//! `hotflip train --arch char_nmt` (its glue) and `hotflip translate`.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;

use hotflip::bleu::corpus_bleu;
use hotflip::data::{AnyDataset, ParallelPair};
use hotflip::models::char_nmt::{CharNmt, CharNmtConfig};
use hotflip::nmt::checkpoint::{self as nmt_ck, NmtCheckpoint, NmtConfigFile, ARCH};
use hotflip::nmt::train::{NmtTrainOptions, NmtTrainee, NmtTrainer};
use hotflip::nmt::{encode_pairs, encode_source, translate, Direction, NmtVocab};
use hotflip::nn::ParamStore;
use hotflip::optim::AdamConfig;
use hotflip::train::{resolve_model_dir, StopReason, BEST};
use hotflip::Rng;

use super::common::DataArgs;
use super::CliResult;

/// What `hotflip train` passes on for `--arch char_nmt`.
pub struct NmtTrainRequest {
    pub data: DataArgs,
    pub paper: bool,
    pub src: String,
    pub tgt: String,
    pub out: PathBuf,
    pub epochs: u64,
    pub minutes: Option<f64>,
    pub batch: usize,
    pub lr: f32,
    pub lr_decay: f32,
    pub clip: f32,
    pub dropout: Option<f32>,
    pub seed: u64,
    pub min_count: Option<usize>,
    pub max_vocab: Option<usize>,
    pub eval_every: Option<u64>,
    pub resume: bool,
    pub progress: bool,
}

/// The direction `--src`/`--tgt` ask for on Multi30k.
fn direction(src: &str, tgt: &str) -> CliResult<Direction> {
    use hotflip::data::multi30k::{SRC, TGT};
    match (src, tgt) {
        (s, t) if s == SRC && t == TGT => Ok(Direction::Forward),
        (s, t) if s == TGT && t == SRC => Ok(Direction::Reverse),
        _ => Err(format!("--src {src} --tgt {tgt}: multi30k has de and en (de→en or en→de)").into()),
    }
}

fn translation_data(data: &DataArgs) -> CliResult<hotflip::data::Dataset<ParallelPair>> {
    match data.load()? {
        AnyDataset::Translation(d) => Ok(d),
        other => {
            Err(format!("`{}` is not a translation data set; --arch char_nmt trains on multi30k", other.name()).into())
        }
    }
}

pub fn train_nmt(r: NmtTrainRequest, interrupt: Arc<AtomicBool>) -> CliResult<()> {
    let dir = direction(&r.src, &r.tgt)?;
    let data = translation_data(&r.data)?;
    let sides = data.train.iter().map(|p| dir.sides(p));
    let vocab = NmtVocab::build(sides, r.min_count.unwrap_or(2), 2, r.max_vocab)?;
    let (nc, nt) = (vocab.chars.len(), vocab.n_tgt());
    let mut cfg = if r.paper {
        CharNmtConfig::paper(nc, nt, &r.src, &r.tgt)
    } else {
        CharNmtConfig::small(nc, nt, &r.src, &r.tgt)
    };
    if let Some(p) = r.dropout {
        cfg.dropout = p;
    }
    let mut store = ParamStore::new();
    let model = CharNmt::new(cfg.clone(), &mut store, &mut Rng::new(r.seed))?;
    eprintln!(
        "model: char_nmt {}→{} ({} preset), {} parameters, {nc} source characters, {nt} target words",
        r.src,
        r.tgt,
        if r.paper { "paper" } else { "small" },
        store.num_values()
    );
    let train = encode_pairs(&vocab, &data.train, dir);
    let dev = encode_pairs(&vocab, &data.dev, dir);
    let config = NmtConfigFile {
        arch: ARCH.into(),
        model: cfg,
        dataset: Some(data.name.clone()),
        training: serde_json::Value::Null,
    };
    let opts = NmtTrainOptions {
        epochs: r.epochs,
        minutes: r.minutes,
        batch: r.batch,
        eval_batch: 100,
        eval_every: r.eval_every,
        adam: AdamConfig { lr: r.lr, decay: r.lr_decay, ..AdamConfig::default() },
        clip: (r.clip > 0.0).then_some(r.clip),
        seed: r.seed,
        save_every: Duration::from_secs(300),
        progress: r.progress,
    };
    let trainer = NmtTrainer { out: r.out.clone(), opts, train: &train, dev: &dev, interrupt };
    let mut trainee = NmtTrainee { model, store, config, vocab };
    let summary = trainer.run(&mut trainee, r.resume)?;
    let json = serde_json::to_string_pretty(&summary)?;
    hotflip::checkpoint::atomic::write_file(&r.out.join("summary.json"), json.as_bytes())?;
    if summary.stopped == StopReason::Interrupted {
        eprintln!("interrupted: state saved in {}; continue with --resume", r.out.join("last").display());
    } else {
        eprintln!(
            "done ({:?}) after {:.2} epochs, {:.1} min: best dev BLEU (greedy) {:.2} -> {}",
            summary.stopped,
            summary.epochs,
            summary.minutes,
            summary.best_dev_bleu.unwrap_or(f64::NAN),
            r.out.join(BEST).display()
        );
    }
    Ok(())
}

/// (source, reference) pairs of a split, in the model's direction.
pub fn translation_split(data: &DataArgs, src: &str, tgt: &str, split: &str) -> CliResult<Vec<(String, String)>> {
    let dir = direction(src, tgt)?;
    let data = translation_data(data)?;
    let pairs = match split {
        "train" => &data.train,
        "dev" | "val" => &data.dev,
        "test" => &data.test,
        other => return Err(format!("--split {other}: expected train, dev or test").into()),
    };
    Ok(pairs
        .iter()
        .map(|p| {
            let (s, t) = dir.sides(p);
            (s.to_string(), t.to_string())
        })
        .collect())
}

/// Loads `--model DIR` as a `char_nmt` checkpoint (or a run's best).
pub fn load_nmt(dir: &Path) -> CliResult<NmtCheckpoint> {
    let resolved = resolve_model_dir(dir)?;
    if !nmt_ck::is_nmt(&resolved) {
        return Err(
            format!("{}: not a char_nmt checkpoint (config.json's arch is not char_nmt)", resolved.display()).into()
        );
    }
    Ok(nmt_ck::load(&resolved)?)
}

#[derive(Args)]
pub struct TranslateArgs {
    /// A char_nmt checkpoint or training run.
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    /// Translate a data set's split (with --split) and score it; without it, lines from stdin.
    #[arg(long, value_name = "NAME")]
    dataset: Option<String>,
    /// The data set's folder (default: data/<name>, then ../shared/data/<name>).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// train, dev or test.
    #[arg(long, default_value = "test")]
    split: String,
    /// Only the first N sentences.
    #[arg(long)]
    limit: Option<usize>,
    /// Beam width (1 = greedy).
    #[arg(long, default_value_t = 5)]
    beam: usize,
    /// Sentences decoded together.
    #[arg(long, default_value_t = 50)]
    batch: usize,
    /// Translations, one per line.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Print a JSON summary as the last stdout line (bleu, n, beam, seconds).
    #[arg(long)]
    json: bool,
}

pub fn run(a: TranslateArgs) -> CliResult<()> {
    if a.beam == 0 || a.batch == 0 {
        return Err("--beam and --batch must be at least 1".into());
    }
    let ck = load_nmt(&a.model)?;
    let c = &ck.config.model;
    let (sources, refs): (Vec<String>, Option<Vec<String>>) = match &a.dataset {
        Some(name) => {
            let d = DataArgs { dataset: name.clone(), data_dir: a.data_dir.clone(), skip_bad_rows: false };
            let pairs = translation_split(&d, &c.src_lang, &c.tgt_lang, &a.split)?;
            let (s, t) = pairs.into_iter().take(a.limit.unwrap_or(usize::MAX)).unzip();
            (s, Some(t))
        }
        None => {
            let mut lines = Vec::new();
            for (i, l) in std::io::stdin().lock().lines().enumerate() {
                lines.push(l.map_err(|e| format!("stdin line {}: {e}", i + 1))?);
                if a.limit.is_some_and(|n| lines.len() >= n) {
                    break;
                }
            }
            (lines, None)
        }
    };
    let start = Instant::now();
    let bar = indicatif::ProgressBar::new(sources.len() as u64);
    let mut hyps = Vec::with_capacity(sources.len());
    for chunk in sources.chunks(a.batch) {
        let srcs: Vec<Vec<Vec<usize>>> = chunk.iter().map(|s| encode_source(&ck.vocab, s).1).collect();
        for t in translate(&ck.model, &ck.store, &srcs, a.beam)? {
            hyps.push(ck.vocab.decode_tgt(&t.ids));
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    let seconds = start.elapsed().as_secs_f64();
    let mut text = hyps.join("\n");
    text.push('\n');
    hotflip::checkpoint::atomic::write_file(&a.out, text.as_bytes())?;
    let bleu = refs.as_ref().map(|r| corpus_bleu(&hyps, r)).transpose()?;
    let summary = serde_json::json!({
        "bleu": bleu.as_ref().map(|b| b.bleu),
        "precisions": bleu.as_ref().map(|b| b.precisions),
        "bp": bleu.as_ref().map(|b| b.bp),
        "n": hyps.len(),
        "beam": a.beam,
        "seconds": seconds,
        "out": a.out,
    });
    if a.json {
        println!("{summary}");
    } else {
        match bleu {
            Some(b) => println!(
                "BLEU {:.2} on {} sentences (beam {}, {seconds:.1} s) -> {}",
                b.bleu,
                hyps.len(),
                a.beam,
                a.out.display()
            ),
            None => {
                println!("{} sentences translated (beam {}, {seconds:.1} s) -> {}", hyps.len(), a.beam, a.out.display())
            }
        }
    }
    let _ = std::io::stdout().flush();
    Ok(())
}
