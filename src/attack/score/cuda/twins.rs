//! CPU twins of the two kernels and the comparison the self-check and
//! tests/hotflip_score_emu.rs apply to their lists.

use super::*;

/// Twin of `hotflip_score_f32`: per word row `e·W + w`, its best `cap`
/// candidates by `Candidate::rank` (from `score_all`, i.e. `for_each_edit`).
pub fn twin_rows(t: &ScoreTensors<'_>, entries: &[EntryRef<'_>], cap: usize) -> Vec<Vec<Candidate>> {
    let mut rows = vec![Vec::new(); entries.len() * t.words];
    for c in score_all(t, entries) {
        rows[c.entry * t.words + c.edit.word].push(c);
    }
    for r in &mut rows {
        r.sort_by(|a, b| a.rank(b));
        r.truncate(cap);
    }
    rows
}

/// Twin of both kernels: per entry its best `cap` candidates, best first —
/// `top_children`'s (and `top_children_by_sorting`'s) per-entry lists
/// before the per-group merge, with nothing forbidden.
pub fn twin_entries(t: &ScoreTensors<'_>, entries: &[EntryRef<'_>], cap: usize) -> Vec<Vec<Candidate>> {
    let mut lists = vec![Vec::new(); entries.len()];
    for c in score_all(t, entries) {
        lists[c.entry].push(c);
    }
    for l in &mut lists {
        l.sort_by(|a, b| a.rank(b));
        l.truncate(cap);
    }
    lists
}

/// The twin's candidate for each (entry, edit) in `lists`: what a kernel's
/// candidate is compared with.
pub fn twin_scores(
    t: &ScoreTensors<'_>,
    entries: &[EntryRef<'_>],
    lists: &[Vec<Candidate>],
) -> HashMap<(usize, CharEdit), Candidate> {
    let wanted: HashSet<(usize, CharEdit)> = lists.iter().flatten().map(|c| (c.entry, c.edit)).collect();
    score_all(t, entries)
        .into_iter()
        .filter(|c| wanted.contains(&(c.entry, c.edit)))
        .map(|c| ((c.entry, c.edit), c))
        .collect()
}

/// How far `got` (a kernel's list) is from `want` (the twin's list for the
/// same entry, word or group): the largest relative difference of a
/// candidate's total or gain from the twin's score for the same (entry,
/// edit), `|got − twin| / max(1, |twin|)`. `Err` says how they differ where
/// a summation order cannot explain it:
/// - different lengths, or a candidate the twin does not produce;
/// - `got` not strictly in `Candidate::rank` order by its own totals: equal
///   totals must be ordered by entry and edit exactly as the twin orders
///   them, so a wrong tie-break fails here whatever the tolerance;
/// - two candidates in another order than the twin's scores give, unless
///   their twin totals are within `2·tol·max(1, |total|)` (the kernel's
///   totals differ from the twin's, each by at most `tol`, and order them);
/// - a candidate in one list only, unless every such pair (one from each
///   side) has twin totals within that window (a near-tie at the cut).
///
/// A score difference beyond `tol` returns `Ok` with that difference (NaN
/// for NaN), which fails the check's threshold. The kernels round as the
/// twin does, so on a correct GPU every difference is 0 and the windows
/// are never used; they keep the check meaningful if the arithmetic ever
/// changes (an FMA, another summation order).
pub fn compare_lists(
    got: &[Candidate],
    want: &[Candidate],
    twin_of: &dyn Fn(&Candidate) -> Option<Candidate>,
    tol: f64,
) -> std::result::Result<f64, String> {
    let scale = |x: f32| (x.abs() as f64).max(1.0);
    let rel = |a: f32, b: f32| ((a as f64) - (b as f64)).abs() / scale(b);
    let near = |a: f32, b: f32| rel(a, b) <= 2.0 * tol || rel(b, a) <= 2.0 * tol;
    if got.len() != want.len() {
        return Err(format!("{} candidates, the twin has {}", got.len(), want.len()));
    }
    for (i, pair) in got.windows(2).enumerate() {
        if pair[0].rank(&pair[1]) != std::cmp::Ordering::Less {
            return Err(format!("slots {i} and {} are not in rank order: {:?}, {:?}", i + 1, pair[0], pair[1]));
        }
    }
    let mut twins = Vec::with_capacity(got.len());
    let mut err = 0.0f64;
    for g in got {
        let c = twin_of(g).ok_or_else(|| format!("{g:?} is no edit the twin scores"))?;
        // `worst`, not `max`: f64::max would drop a NaN.
        err = worst(err, worst(rel(g.total, c.total), rel(g.gain, c.gain)));
        if err.is_nan() {
            return Ok(f64::NAN);
        }
        twins.push(c);
    }
    if err > tol {
        return Ok(err);
    }
    for i in 0..got.len() {
        for j in i + 1..got.len() {
            let inverted = twins[j].rank(&twins[i]) == std::cmp::Ordering::Less;
            if inverted && !near(twins[i].total, twins[j].total) {
                return Err(format!("{:?} and {:?} are in the other order than the twin's", got[i], got[j]));
            }
        }
    }
    let ids = |l: &[Candidate]| l.iter().map(|c| (c.entry, c.edit)).collect::<HashSet<_>>();
    let (got_ids, want_ids) = (ids(got), ids(want));
    let only_got: Vec<&Candidate> = twins.iter().filter(|c| !want_ids.contains(&(c.entry, c.edit))).collect();
    let only_want: Vec<&Candidate> = want.iter().filter(|c| !got_ids.contains(&(c.entry, c.edit))).collect();
    for x in &only_got {
        for y in &only_want {
            if !near(x.total, y.total) {
                return Err(format!("{x:?} came back instead of the twin's {y:?}, which ranks clearly better"));
            }
        }
    }
    Ok(err)
}

/// [`compare_lists`] over every list, the twin's candidates looked up in
/// `scores` ([`twin_scores`]); the worst difference.
pub fn compare_all(
    got: &[Vec<Candidate>],
    want: &[Vec<Candidate>],
    scores: &HashMap<(usize, CharEdit), Candidate>,
    tol: f64,
) -> Result<f64> {
    if got.len() != want.len() {
        return Err(Error::invalid(OP, format!("{} lists, the twin has {}", got.len(), want.len())));
    }
    let twin_of = |c: &Candidate| scores.get(&(c.entry, c.edit)).copied();
    let mut err = 0.0;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let e = compare_lists(g, w, &twin_of, tol).map_err(|m| Error::invalid(OP, format!("list {i}: {m}")))?;
        err = worst(err, e);
    }
    Ok(err)
}
