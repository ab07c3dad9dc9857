//! `hotflip attack` on a `char_nmt` checkpoint: HotFlip's translation
//! adversary (ATTACKS.md "HotFlip on translation"), resumable JSON Lines
//! results, a summary and an HTML report (Table 4's columns, Figure 3's
//! curve).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use hotflip::attack::side_by_side::{attack_in_order, Flow};
use hotflip::attack::translation::{
    summarize, TranslationAttacker, TranslationGoal, TranslationResult, TranslationSettings, TranslationSummary,
    TranslationTask, DELTAS,
};
use hotflip::attack::Settings;
use hotflip::checkpoint::atomic;
use hotflip::nmt::vocab::words;
use hotflip::Error;

use super::common::DataArgs;
use super::translate::{load_nmt, translation_split};
use super::CliResult;

pub struct NmtAttackRequest {
    pub model: PathBuf,
    pub data: DataArgs,
    pub split: String,
    pub limit: Option<usize>,
    pub search: Settings,
    pub decode_beam: usize,
    pub min_bleu_drop: f64,
    pub goal: Option<String>,
    pub batch: usize,
    /// Batches attacked side by side.
    pub parallel: usize,
    pub out: PathBuf,
    pub summary: Option<PathBuf>,
    pub html: Option<PathBuf>,
}

/// `remove:WORD` or `replace:WORD=NEW`.
pub fn parse_goal(g: Option<&str>) -> CliResult<TranslationGoal> {
    let Some(g) = g else { return Ok(TranslationGoal::BleuDrop) };
    if let Some(w) = g.strip_prefix("remove:").filter(|w| !w.is_empty() && !w.contains(' ')) {
        return Ok(TranslationGoal::Remove(w.to_string()));
    }
    if let Some((w, n)) = g.strip_prefix("replace:").and_then(|r| r.split_once('=')) {
        if !w.is_empty() && !n.is_empty() && !w.contains(' ') && !n.contains(' ') {
            return Ok(TranslationGoal::Replace(w.to_string(), n.to_string()));
        }
    }
    Err(format!("--goal {g}: expected remove:WORD or replace:WORD=NEW (single target words)").into())
}

/// The indices already in `out` (a resumed run skips them).
fn done_indices(out: &Path) -> CliResult<(Vec<TranslationResult>, HashSet<usize>)> {
    if !out.exists() {
        return Ok((Vec::new(), HashSet::new()));
    }
    let text = std::fs::read_to_string(out).map_err(|e| format!("cannot read {}: {e}", out.display()))?;
    let mut rs = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let r: TranslationResult = serde_json::from_str(line).map_err(|e| {
            format!("{} line {}: not a translation attack result ({e}); choose another --out", out.display(), i + 1)
        })?;
        rs.push(r);
    }
    let idx = rs.iter().map(|r| r.index).collect();
    Ok((rs, idx))
}

pub fn run(r: NmtAttackRequest, interrupt: Arc<AtomicBool>) -> CliResult<()> {
    if r.batch == 0 {
        return Err("--batch must be at least 1".into());
    }
    let ck = load_nmt(&r.model)?;
    let goal = parse_goal(r.goal.as_deref())?;
    for w in match &goal {
        TranslationGoal::Remove(w) => vec![w.clone()],
        TranslationGoal::Replace(w, n) => vec![w.clone(), n.clone()],
        TranslationGoal::BleuDrop => Vec::new(),
    } {
        if ck.vocab.tgt_id(&w) == hotflip::models::char_nmt::UNK {
            return Err(format!("--goal: `{w}` is not in the model's target vocabulary").into());
        }
    }
    let pairs = translation_split(&r.data, &ck.config.model.src_lang, &ck.config.model.tgt_lang, &r.split)?;
    let tasks: Vec<TranslationTask> = pairs
        .into_iter()
        .take(r.limit.unwrap_or(usize::MAX))
        .enumerate()
        .map(|(index, (s, t))| TranslationTask { index, src: words(&s).join(" "), reference: t })
        .collect();
    let settings = TranslationSettings {
        search: r.search,
        decode_beam: r.decode_beam,
        min_bleu_drop: r.min_bleu_drop,
        goal: goal.clone(),
    };
    let attacker = TranslationAttacker::new(&ck.model, &ck.store, &ck.vocab, settings)?;
    let (mut results, done) = done_indices(&r.out)?;
    if !done.is_empty() {
        eprintln!("resuming {}: {} sentences already attacked", r.out.display(), done.len());
    }
    let todo: Vec<Vec<TranslationTask>> = tasks
        .iter()
        .filter(|t| !done.contains(&t.index))
        .cloned()
        .collect::<Vec<_>>()
        .chunks(r.batch)
        .map(<[TranslationTask]>::to_vec)
        .collect();
    let bar = indicatif::ProgressBar::new(todo.iter().map(Vec::len).sum::<usize>() as u64);
    let parallel = r.parallel.max(1);
    let threads_each = (rayon::current_num_threads() / parallel).max(1);
    let attack = |batch: &[TranslationTask]| attacker.attack(batch);
    let ended = attack_in_order(&attack, &todo, parallel, threads_each, &interrupt, |batch| {
        for res in batch {
            let line = serde_json::to_string(&res)
                .map_err(|e| Error::InvalidArgument { op: "attack", msg: format!("a result as JSON: {e}") })?;
            atomic::append_line(&r.out, &line)?;
            results.push(res);
            bar.inc(1);
        }
        Ok(Flow::Continue)
    })?;
    if ended.interrupted {
        bar.abandon();
        eprintln!("interrupted: {} results in {}; rerun the same command to continue", results.len(), r.out.display());
        return Ok(());
    }
    bar.finish_and_clear();
    results.sort_by_key(|r| r.index);
    let summary = summarize(&results)?;
    let json = serde_json::to_string_pretty(&summary)?;
    if let Some(p) = &r.summary {
        atomic::write_file(p, json.as_bytes())?;
    }
    if let Some(p) = &r.html {
        atomic::write_file(p, html(&summary, &results, &goal).as_bytes())?;
    }
    println!("{}", serde_json::to_string(&summary)?);
    Ok(())
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The source with edited words in bold red.
fn highlight(r: &TranslationResult) -> String {
    let changed: HashSet<usize> = r.changes.iter().map(|c| c.word).collect();
    r.adv_src
        .split(' ')
        .enumerate()
        .map(|(i, w)| if changed.contains(&i) { format!("<b style=\"color:#b00\">{}</b>", esc(w)) } else { esc(w) })
        .collect::<Vec<_>>()
        .join(" ")
}

fn html(s: &TranslationSummary, results: &[TranslationResult], goal: &TranslationGoal) -> String {
    let (w, h) = (360.0, 200.0);
    let pts: Vec<String> = DELTAS
        .iter()
        .map(|d| {
            let y = s.success_by_bleu_drop.get(&format!("{d}")).copied().unwrap_or(0.0);
            format!("{:.1},{:.1}", 30.0 + d / 50.0 * (w - 40.0), h - 20.0 - y * (h - 40.0))
        })
        .collect();
    let mut out = format!(
        "<!doctype html><meta charset=utf-8><title>HotFlip on translation</title>\
         <h1>HotFlip on translation</h1><p>goal {goal:?}; {} sentences, success {:.1}%, clean corpus BLEU {:.2}, \
         adversarial {:.2}, mean share of characters changed {:.2}%, one change {:.1}% of successes, {:.2} s/sentence</p>\
         <h2>Figure 3: success rate vs BLEU drop δ</h2><svg width={w} height={h} style=\"border:1px solid #ccc\">\
         <polyline fill=none stroke=#06c stroke-width=2 points=\"{}\"/><text x=30 y={} font-size=11>δ = 5 … 50</text></svg>\
         <h2>Table 4</h2><table border=1 cellpadding=4><tr><th>#</th><th>source</th><th>adversarial source</th>\
         <th>reference</th><th>source output</th><th>adversarial output</th><th>BLEU</th><th>adv BLEU</th></tr>",
        s.attacked,
        100.0 * s.success_rate,
        s.clean_corpus_bleu,
        s.adv_corpus_bleu,
        100.0 * s.mean_frac_changed,
        100.0 * s.share_one_change,
        s.seconds_per_example,
        pts.join(" "),
        h - 4.0
    );
    for r in results.iter().filter(|r| !r.skipped) {
        out.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{:.1}</td></tr>",
            r.index,
            esc(&r.src),
            highlight(r),
            esc(&r.reference),
            esc(&r.src_output),
            esc(&r.adv_output),
            r.src_bleu,
            r.adv_bleu
        ));
    }
    out.push_str("</table>\n");
    out
}
