//! BLEU exactly as sacreBLEU 2.x computes it: the `13a` tokeniser
//! (mteval-v13a), corpus BLEU (exponential smoothing, no effective order)
//! and sentence BLEU (exponential smoothing, effective order), one
//! reference per hypothesis. Checked against values sacreBLEU itself
//! produced (tests/fixtures/bleu_sacrebleu.json, made by
//! benches/bleu_fixture.py).

use std::collections::HashMap;

use serde::Serialize;

use crate::error::{Error, Result};

/// n-gram orders 1..=4.
pub const MAX_ORDER: usize = 4;

/// sacreBLEU's `Tokenizer13a` followed by `str.split()`.
pub fn tokenize_13a(line: &str) -> Vec<String> {
    // `_preprocess_segment` strips trailing whitespace first.
    let mut s = line.trim_end_matches(is_py_space).replace("<skipped>", "");
    s = s.replace("-\n", "").replace('\n', " ");
    if s.contains('&') {
        s = s.replace("&quot;", "\"").replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">");
    }
    let chars: Vec<char> = format!(" {s} ").chars().collect();
    let chars = pad_punct(&chars);
    let chars = split_period_comma_after(&chars);
    let chars = split_period_comma_before(&chars);
    let chars = split_dash_after_digit(&chars);
    let text: String = chars.into_iter().collect();
    text.split(is_py_space).filter(|t| !t.is_empty()).map(str::to_string).collect()
}

/// Python's `str.isspace` (what `str.split()` splits on).
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `([\{-\~\[-\` -\&\(-\+\:-\@\/])` → ` \1 `.
fn pad_punct(s: &[char]) -> Vec<char> {
    let mut out = Vec::with_capacity(s.len() * 2);
    for &c in s {
        let special = matches!(c, '{'..='~' | '['..='`' | ' '..='&' | '('..='+' | ':'..='@' | '/');
        if special {
            out.extend([' ', c, ' ']);
        } else {
            out.push(c);
        }
    }
    out
}

fn digit(c: char) -> bool {
    c.is_ascii_digit()
}

/// `([^0-9])([\.,])` → `\1 \2 ` with Python's non-overlapping scan.
fn split_period_comma_after(s: &[char]) -> Vec<char> {
    let mut out = Vec::with_capacity(s.len() * 2);
    let mut i = 0;
    while i < s.len() {
        if i + 1 < s.len() && !digit(s[i]) && matches!(s[i + 1], '.' | ',') {
            out.extend([s[i], ' ', s[i + 1], ' ']);
            i += 2;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    out
}

/// `([\.,])([^0-9])` → ` \1 \2`.
fn split_period_comma_before(s: &[char]) -> Vec<char> {
    let mut out = Vec::with_capacity(s.len() * 2);
    let mut i = 0;
    while i < s.len() {
        if i + 1 < s.len() && matches!(s[i], '.' | ',') && !digit(s[i + 1]) {
            out.extend([' ', s[i], ' ', s[i + 1]]);
            i += 2;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    out
}

/// `([0-9])(-)` → `\1 \2 `.
fn split_dash_after_digit(s: &[char]) -> Vec<char> {
    let mut out = Vec::with_capacity(s.len() * 2);
    let mut i = 0;
    while i < s.len() {
        if i + 1 < s.len() && digit(s[i]) && s[i + 1] == '-' {
            out.extend([s[i], ' ', '-', ' ']);
            i += 2;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    out
}

/// BLEU's sufficient statistics of one or more segments.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Matching n-grams (clipped by the reference's counts), n = 1..=4.
    pub correct: [u64; MAX_ORDER],
    /// Hypothesis n-grams, n = 1..=4.
    pub total: [u64; MAX_ORDER],
    /// Hypothesis length in tokens.
    pub sys_len: u64,
    /// Reference length in tokens.
    pub ref_len: u64,
}

impl Stats {
    /// The statistics of one tokenised hypothesis against one reference.
    pub fn of_tokens(hyp: &[String], reference: &[String]) -> Stats {
        let (h, r) = (ngrams(hyp), ngrams(reference));
        let mut st = Stats { sys_len: hyp.len() as u64, ref_len: reference.len() as u64, ..Stats::default() };
        for (g, &count) in &h {
            let n = g.len() - 1;
            st.total[n] += count;
            st.correct[n] += count.min(r.get(g).copied().unwrap_or(0));
        }
        st
    }

    /// The statistics of one raw hypothesis against one raw reference.
    pub fn of(hyp: &str, reference: &str) -> Stats {
        Stats::of_tokens(&tokenize_13a(hyp), &tokenize_13a(reference))
    }

    /// Adds another segment's statistics (corpus BLEU sums them).
    pub fn add(&mut self, o: &Stats) {
        for n in 0..MAX_ORDER {
            self.correct[n] += o.correct[n];
            self.total[n] += o.total[n];
        }
        self.sys_len += o.sys_len;
        self.ref_len += o.ref_len;
    }
}

fn ngrams(tokens: &[String]) -> HashMap<&[String], u64> {
    let mut m = HashMap::new();
    for n in 1..=MAX_ORDER {
        for w in tokens.windows(n) {
            *m.entry(w).or_insert(0) += 1;
        }
    }
    m
}

/// A BLEU score and its parts, as sacreBLEU's `BLEUScore` holds them.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Bleu {
    /// 0–100.
    pub bleu: f64,
    /// n-gram precisions in percent (smoothed as sacreBLEU smooths them).
    pub precisions: [f64; MAX_ORDER],
    /// The brevity penalty (1 when the hypothesis is not shorter).
    pub bp: f64,
    /// Hypothesis length in tokens.
    pub sys_len: u64,
    /// Reference length in tokens.
    pub ref_len: u64,
}

/// sacreBLEU's `compute_bleu` with `smooth_method='exp'`.
pub fn score(st: &Stats, effective_order: bool) -> Bleu {
    let bp = if st.sys_len < st.ref_len {
        if st.sys_len > 0 {
            (1.0 - st.ref_len as f64 / st.sys_len as f64).exp()
        } else {
            0.0
        }
    } else {
        1.0
    };
    let mut precisions = [0.0f64; MAX_ORDER];
    let out = |bleu, precisions| Bleu { bleu, precisions, bp, sys_len: st.sys_len, ref_len: st.ref_len };
    if st.correct.iter().all(|&c| c == 0) {
        return out(0.0, precisions);
    }
    let mut smooth = 1.0f64;
    let mut eff_order = MAX_ORDER;
    for (n, prec) in precisions.iter_mut().enumerate() {
        if st.total[n] == 0 {
            break;
        }
        if effective_order {
            eff_order = n + 1;
        }
        *prec = if st.correct[n] == 0 {
            smooth *= 2.0;
            100.0 / (smooth * st.total[n] as f64)
        } else {
            100.0 * st.correct[n] as f64 / st.total[n] as f64
        };
    }
    let log = |p: f64| if p == 0.0 { -9_999_999_999.0 } else { p.ln() };
    let sum: f64 = precisions[..eff_order].iter().map(|&p| log(p)).sum();
    out(bp * (sum / eff_order as f64).exp(), precisions)
}

/// Corpus BLEU of line-aligned hypotheses and references
/// (`sacrebleu.corpus_bleu(hyps, [refs])`).
pub fn corpus_bleu<H: AsRef<str>, R: AsRef<str>>(hyps: &[H], refs: &[R]) -> Result<Bleu> {
    if hyps.len() != refs.len() {
        return Err(Error::invalid("corpus_bleu", format!("{} hypotheses but {} references", hyps.len(), refs.len())));
    }
    let mut st = Stats::default();
    for (h, r) in hyps.iter().zip(refs) {
        st.add(&Stats::of(h.as_ref(), r.as_ref()));
    }
    Ok(score(&st, false))
}

/// Sentence BLEU (`sacrebleu.sentence_bleu(hyp, [ref])`: exponential
/// smoothing, effective order), 0–100.
pub fn sentence_bleu(hyp: &str, reference: &str) -> f64 {
    score(&Stats::of(hyp, reference), true).bleu
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<String> {
        tokenize_13a(s)
    }

    #[test]
    fn tokeniser_splits_punctuation_but_not_numbers() {
        assert_eq!(toks("Hello, world."), ["Hello", ",", "world", "."]);
        assert_eq!(toks("3.14 and 1,000"), ["3.14", "and", "1,000"]);
        assert_eq!(toks("a &amp; b"), ["a", "&", "b"]);
        assert_eq!(toks("1990-2000"), ["1990", "-", "2000"]);
    }

    #[test]
    fn identical_sentences_score_100_and_disjoint_0() {
        let s = "a man is riding a bike down the street .";
        assert!((sentence_bleu(s, s) - 100.0).abs() < 1e-9);
        assert_eq!(sentence_bleu("x y z", "a b c"), 0.0);
    }

    #[test]
    fn corpus_bleu_rejects_mismatched_counts() {
        assert!(corpus_bleu(&["a"], &["a", "b"]).is_err());
    }
}
