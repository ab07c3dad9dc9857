//! The self-check of kernels/hotflip_score.cu: random cases with the
//! shapes and ties that matter, each kernel against its twin.

use super::*;

/// Size limits of a [`Case`].
#[derive(Clone, Copy, Debug)]
pub struct CaseSize {
    pub entries: usize,
    pub words: usize,
    pub positions: usize,
    pub dim: usize,
    pub vocab: usize,
    pub keep: usize,
}

/// A random scoring step with everything the twin needs: documents (some
/// words longer than L − 1, some with repeated or unknown characters, some
/// closed), a vocabulary whose character order is not its id order, exact
/// ties (zero gradient rows, duplicated table columns, equal parent scores).
#[derive(Clone, Debug)]
pub struct Case {
    pub docs: Vec<CharDoc>,
    pub opens: Vec<Vec<bool>>,
    pub groups: Vec<usize>,
    pub n_groups: usize,
    pub scores: Vec<f32>,
    pub keep: usize,
    pub words: usize,
    pub positions: usize,
    pub dim: usize,
    /// `[V]`; ids 0 (PAD) and 1 (UNK) are `'\0'`.
    pub chars: Vec<char>,
    pub allowed: Vec<bool>,
    /// `[D, V]`.
    pub table_t: Vec<f32>,
    /// `[E·W, L]`, from `CharBatch::from_docs`.
    pub ids: Vec<usize>,
    /// `[E·W, L, D]`.
    pub grads: Vec<f32>,
    char_ids: HashMap<char, usize>,
}

impl Case {
    pub fn random(rng: &mut Rng, size: CaseSize) -> Self {
        let v = size_in(rng, 3, size.vocab.max(3));
        let l = size_in(rng, 2, size.positions.max(2));
        let d = size_in(rng, 1, size.dim.max(1));
        let e = size_in(rng, 1, size.entries.max(1));
        // Distinct code points, shuffled against the ids: ASCII and beyond.
        let mut pool: Vec<char> = ('!'..='~').chain('À'..='ɏ').collect();
        rng.shuffle(&mut pool);
        let mut chars = vec!['\0'; v];
        chars[2..].copy_from_slice(&pool[..v - 2]);
        let char_ids: HashMap<char, usize> = chars.iter().enumerate().skip(2).map(|(i, &c)| (c, i)).collect();
        let allowed: Vec<bool> = (0..v).map(|i| i >= 2 && rng.below(8) != 0).collect();
        let unknown = pool[v - 2]; // not in the vocabulary: UNK
        let n_groups = size_in(rng, 1, e);
        let groups: Vec<usize> = (0..e).map(|i| if i < n_groups { i } else { rng.below(n_groups) }).collect();
        let shared_score = rng.below(2) == 0;
        let group_scores: Vec<f32> = (0..n_groups).map(|_| rng.normal()).collect();
        let scores: Vec<f32> =
            groups.iter().map(|&g| if shared_score { group_scores[g] } else { rng.normal() }).collect();
        let mut docs = Vec::with_capacity(e);
        let mut opens = Vec::with_capacity(e);
        for _ in 0..e {
            let n_words = size_in(rng, 1, size.words.max(1));
            let words: Vec<Vec<char>> = (0..n_words)
                .map(|_| {
                    let len = match rng.below(10) {
                        0 => 0,
                        1 | 2 => size_in(rng, l - 1, l + 3),
                        _ => size_in(rng, 1, l),
                    };
                    // Some words from two characters only (runs: unchanged shifts).
                    let alphabet: Vec<char> = if rng.below(3) == 0 {
                        vec![chars[2 + rng.below(v - 2)], chars[2 + rng.below(v - 2)]]
                    } else {
                        chars[2..].to_vec()
                    };
                    (0..len)
                        .map(|_| if rng.below(25) == 0 { unknown } else { alphabet[rng.below(alphabet.len())] })
                        .collect()
                })
                .collect();
            opens.push((0..n_words).map(|_| rng.below(5) != 0).collect());
            docs.push(CharDoc { changed: vec![false; words.len()], words });
        }
        let id_of = |c: char| char_ids.get(&c).copied().unwrap_or(1);
        let ids: Vec<Vec<Vec<usize>>> =
            docs.iter().map(|doc| doc.words.iter().map(|w| w.iter().map(|&c| id_of(c)).collect()).collect()).collect();
        let max_words = docs.iter().map(|d| d.words.len()).max().unwrap_or(1);
        let batch = CharBatch::from_docs(&ids, l, max_words).expect("documents have words and L ≥ 2");
        let mut table_t: Vec<f32> = (0..d * v).map(|_| rng.normal()).collect();
        // Duplicated columns: flips to either character score the same.
        for _ in 0..rng.below(3) {
            let (a, b) = (rng.below(v), rng.below(v));
            for k in 0..d {
                table_t[k * v + b] = table_t[k * v + a];
            }
        }
        let mut grads: Vec<f32> = (0..batch.batch * batch.words * l * d).map(|_| rng.normal()).collect();
        // Zero rows: every score of the position is 0.
        for row in grads.chunks_mut(d) {
            if rng.below(12) == 0 {
                row.fill(0.0);
            }
        }
        for word in grads.chunks_mut(l * d) {
            if rng.below(10) == 0 {
                word.fill(0.0);
            }
        }
        Case {
            docs,
            opens,
            groups,
            n_groups,
            scores,
            keep: size_in(rng, 1, size.keep.max(1)),
            words: batch.words,
            positions: l,
            dim: d,
            chars,
            allowed,
            table_t,
            ids: batch.ids,
            grads,
            char_ids,
        }
    }

    /// `entry_cap(keep)`: the candidates per entry `top_children` keeps.
    pub fn cap(&self) -> usize {
        entry_cap(self.keep)
    }

    /// Runs `f` on the case as the twin takes it.
    pub fn with_twin<R>(&self, f: impl FnOnce(&ScoreTensors<'_>, &[EntryRef<'_>]) -> R) -> R {
        let char_id = |c: char| self.char_ids.get(&c).copied().unwrap_or(1);
        let t = ScoreTensors {
            grads: &self.grads,
            ids: &self.ids,
            words: self.words,
            positions: self.positions,
            dim: self.dim,
            table_t: &self.table_t,
            allowed: &self.allowed,
            chars: &self.chars,
            char_id: &char_id,
        };
        let entries: Vec<EntryRef<'_>> = self
            .docs
            .iter()
            .zip(&self.opens)
            .enumerate()
            .map(|(e, (doc, open))| EntryRef { doc, group: self.groups[e], score: self.scores[e], open })
            .collect();
        f(&t, &entries)
    }
}

/// Sizes of the self-check's cases: small ones (a word or two, tiny
/// alphabets: many ties, lists shorter than the cap) and larger ones.
fn check_size(trial: usize) -> CaseSize {
    if trial.is_multiple_of(2) {
        CaseSize { entries: 3, words: 4, positions: 6, dim: 4, vocab: 8, keep: 4 }
    } else if small_sizes() {
        // The emulator: a few blocks with many candidates per thread.
        CaseSize { entries: 2, words: 6, positions: 14, dim: 12, vocab: 60, keep: 10 }
    } else {
        CaseSize { entries: 6, words: 24, positions: 18, dim: 32, vocab: 100, keep: 12 }
    }
}

/// Cases per check: fewer on the emulator.
fn check_trials() -> usize {
    if small_sizes() {
        4
    } else {
        6
    }
}

fn check_score(gpu: &Gpu, rng: &mut Rng) -> Result<f64> {
    let mut err = 0.0;
    for trial in 0..check_trials() {
        let case = Case::random(rng, check_size(trial));
        let cap = case.cap();
        let e = case.with_twin(|t, entries| -> Result<f64> {
            let host = HostInputs::new(t, entries)?;
            let table = DeviceTable::upload(gpu, t.table_t, t.dim, &host.chars, &host.allowed)?;
            let inp = DeviceInputs::upload(gpu, &table, &host)?;
            let grads = gpu.upload(t.grads)?;
            let mut rows = Tops::poisoned(gpu, host.shape.rows(), cap)?;
            score_rows(gpu, &table, &inp, &grads, cap, &mut rows)?;
            let got = rows.download(gpu)?.decode(host.shape, Lists::Rows)?;
            compare_all(&got, &twin_rows(t, entries, cap), &twin_scores(t, entries, &got), MATH)
        })?;
        err = worst(err, e);
    }
    Ok(err)
}

/// The merge kernel alone, on the twin's row lists made on the host: the
/// per-entry lists against the twin's, then the host's per-group merge of
/// them against `top_children` itself.
fn check_merge(gpu: &Gpu, rng: &mut Rng) -> Result<f64> {
    let mut err = 0.0;
    for trial in 0..check_trials() {
        let case = Case::random(rng, check_size(trial));
        let (cap, keep, groups) = (case.cap(), case.keep, case.n_groups);
        let e = case.with_twin(|t, entries| -> Result<f64> {
            let shape = HostInputs::new(t, entries)?.shape;
            let rows = Tops::upload(gpu, &HostTops::from_lists(&twin_rows(t, entries, cap), cap)?)?;
            let mut out = Tops::poisoned(gpu, shape.entries, cap)?;
            merge_entries(gpu, shape, &rows, &mut out)?;
            let got = out.download(gpu)?.decode(shape, Lists::Entries)?;
            let mut e = compare_all(&got, &twin_entries(t, entries, cap), &twin_scores(t, entries, &got), MATH)?;
            let none = |_: &CharDoc, _: &CharEdit| false;
            let got_groups = finish_on_host(got, entries, groups, keep, &none, cap)
                .ok_or_else(|| Error::invalid(OP, "nothing is forbidden, yet a list came back short"))?;
            let want_groups = crate::attack::score::chars::top_children(t, entries, groups, keep, &none);
            let scores = twin_scores(t, entries, &got_groups);
            e = worst(e, compare_all(&got_groups, &want_groups, &scores, MATH)?);
            Ok(e)
        })?;
        err = worst(err, e);
    }
    Ok(err)
}

pub fn checks() -> Vec<Check> {
    vec![
        Check::kernel(
            k::hotflip_score::HOTFLIP_SCORE_F32,
            "attack::score::chars::for_each_edit, each word's best 2·keep by Candidate::rank",
            MATH,
            check_score,
        ),
        Check::kernel(
            k::hotflip_score::HOTFLIP_MERGE_F32,
            "attack::score::chars::top_children's per-entry lists, from the twin's row lists (then the host's \
             per-group merge)",
            MATH,
            check_merge,
        ),
        super::best_flips::check(),
    ]
}
