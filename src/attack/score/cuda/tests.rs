//! Host-side tests: packing, decoding, comparison and the twins against
//! `top_children`.

use super::*;
use crate::attack::score::chars::{top_children, top_children_by_sorting};

fn small() -> CaseSize {
    CaseSize { entries: 4, words: 6, positions: 7, dim: 5, vocab: 12, keep: 5 }
}

fn edit(op: CharOp, word: usize, pos: usize, ch: char) -> CharEdit {
    CharEdit { op, word, pos, ch }
}

#[test]
fn edit_keys_round_trip_and_order_as_char_edits() {
    let mut rng = Rng::new(1);
    let ops = [CharOp::Flip, CharOp::Insert, CharOp::Delete];
    let chars = ['a', 'b', 'Z', 'é', '\u{10FFFF}', '😀'];
    let edits: Vec<CharEdit> = (0..400)
        .map(|_| {
            let op = ops[rng.below(3)];
            let ch = if op == CharOp::Delete { '\0' } else { chars[rng.below(chars.len())] };
            let big = |rng: &mut Rng, m: usize| if rng.below(4) == 0 { m - 1 - rng.below(3) } else { rng.below(20) };
            edit(op, big(&mut rng, MAX_WORDS), big(&mut rng, MAX_POSITIONS), ch)
        })
        .collect();
    for a in &edits {
        let ka = pack_edit(a).unwrap();
        assert_eq!(unpack_edit(ka), Some(*a));
        assert_ne!(ka, EMPTY);
        for b in &edits {
            assert_eq!(ka.cmp(&pack_edit(b).unwrap()), a.cmp(b), "{a:?} vs {b:?}");
        }
    }
    assert_eq!(pack_edit(&edit(CharOp::Flip, MAX_WORDS, 0, 'a')), None);
    assert_eq!(pack_edit(&edit(CharOp::Flip, 0, MAX_POSITIONS, 'a')), None);
    assert_eq!(unpack_edit(EMPTY), None);
    assert_eq!(unpack_edit(POISON_U64), None, "poison must not decode");
    assert_eq!(unpack_edit((2 << OP_SHIFT) | 'a' as u64), None, "a delete carries no character");
    assert_eq!(unpack_edit(0xD800), None, "a surrogate is no char");
}

#[test]
fn order_keys_follow_total_cmp() {
    let mut xs = vec![
        f32::NEG_INFINITY,
        f32::INFINITY,
        -0.0,
        0.0,
        f32::MIN_POSITIVE,
        -f32::MIN_POSITIVE,
        f32::from_bits(1),
        f32::from_bits(0x8000_0001),
        f32::NAN,
        -f32::NAN,
        f32::MAX,
        f32::MIN,
        POISON,
    ];
    let mut rng = Rng::new(2);
    xs.extend((0..100).map(|_| rng.normal() * 10.0));
    for &a in &xs {
        for &b in &xs {
            assert_eq!(order_key(a).cmp(&order_key(b)), a.total_cmp(&b), "{a} vs {b}");
        }
    }
    // The kernel file computes the same transform.
    let src = crate::cuda::registry::file("hotflip_score").unwrap().source;
    assert!(src.contains("return (b & 0x80000000u) ? ~b : (b | 0x80000000u);"));
    for (name, v) in [("HF_OP_SHIFT", OP_SHIFT), ("HF_WORD_SHIFT", WORD_SHIFT), ("HF_POS_SHIFT", POS_SHIFT)] {
        assert!(src.contains(&format!("#define {name} {v}\n")), "{name}");
    }
    assert!(src.contains(&format!("#define HF_SLOTS {SLOTS}\n")));
}

#[test]
fn the_twins_are_top_children_without_a_filter() {
    let mut rng = Rng::new(3);
    for _ in 0..30 {
        let case = Case::random(&mut rng, small());
        let (keep, groups) = (case.keep, case.n_groups);
        case.with_twin(|t, entries| {
            let none = |_: &CharDoc, _: &CharEdit| false;
            let lists = twin_entries(t, entries, entry_cap(keep));
            let via_lists = finish_on_host(lists.clone(), entries, groups, keep, &none, entry_cap(keep)).unwrap();
            assert_eq!(via_lists, top_children(t, entries, groups, keep, &none));
            // The rows' lists hold every entry list's candidates.
            let rows = twin_rows(t, entries, entry_cap(keep));
            for (e, list) in lists.iter().enumerate() {
                let mut merged: Vec<Candidate> = rows[e * t.words..(e + 1) * t.words].concat();
                merged.sort_by(|a, b| a.rank(b));
                merged.truncate(entry_cap(keep));
                assert_eq!(&merged, list);
            }
        });
    }
}

#[test]
fn finishing_on_the_host_filters_forbidden_edits_or_asks_for_more() {
    let mut rng = Rng::new(4);
    let mut short = 0;
    for _ in 0..40 {
        let case = Case::random(&mut rng, small());
        let (keep, groups) = (case.keep, case.n_groups);
        case.with_twin(|t, entries| {
            // Forbid a third of the characters: many candidates drop out.
            let forbidden = |_: &CharDoc, e: &CharEdit| (e.ch as u32).is_multiple_of(3) && e.op != CharOp::Delete;
            let want = top_children(t, entries, groups, keep, &forbidden);
            assert_eq!(want, top_children_by_sorting(t, entries, groups, keep, &forbidden));
            let mut cap = entry_cap(keep);
            loop {
                match finish_on_host(twin_entries(t, entries, cap), entries, groups, keep, &forbidden, cap) {
                    Some(got) => {
                        assert_eq!(got, want);
                        break;
                    }
                    None => {
                        short += 1;
                        cap *= 4;
                    }
                }
            }
        });
    }
    assert!(short > 0, "no case needed a longer list: the test does not exercise the retry");
}

#[test]
fn host_inputs_follow_the_documents() {
    let mut rng = Rng::new(5);
    for _ in 0..20 {
        let case = Case::random(&mut rng, small());
        case.with_twin(|t, entries| {
            let h = HostInputs::new(t, entries).unwrap();
            let l = t.positions;
            for (e, entry) in entries.iter().enumerate() {
                for w in 0..t.words {
                    let row = e * t.words + w;
                    match entry.doc.words.get(w) {
                        None => assert_eq!((h.open[row], h.lengths[row]), (0, 0)),
                        Some(word) => {
                            assert_eq!(h.open[row] == 1, entry.open[w]);
                            assert_eq!(h.lengths[row] as usize, word.len());
                            let want = if word.len() > l - 1 { (t.char_id)(word[l - 1]) } else { 0 };
                            assert_eq!(h.unseen[row] as usize, want);
                        }
                    }
                }
            }
        });
    }
    // Two allowed ids with one character would make edit keys collide.
    let case = Case::random(&mut rng, small());
    case.with_twin(|t, entries| {
        let mut h = HostInputs::new(t, entries).unwrap();
        let a: Vec<usize> = (0..h.chars.len()).filter(|&i| h.allowed[i] == 1).collect();
        if a.len() >= 2 {
            h.chars[a[1]] = h.chars[a[0]];
            assert!(h.validate().is_err());
            h.chars[a[1]] = 'ʬ' as u32;
        }
        h.ids[0] = h.shape.vocab as u32;
        assert!(matches!(h.validate(), Err(Error::IndexOutOfRange { .. })));
    });
}

fn encode(lists: &[Vec<Candidate>], cap: usize) -> HostTops {
    HostTops::from_lists(lists, cap).unwrap()
}

#[test]
fn decoding_round_trips_and_rejects_what_a_kernel_must_not_leave() {
    let mut rng = Rng::new(6);
    let case = Case::random(&mut rng, small());
    let cap = case.cap();
    case.with_twin(|t, entries| {
        let shape = HostInputs::new(t, entries).unwrap().shape;
        let rows = twin_rows(t, entries, cap);
        let lists = twin_entries(t, entries, cap);
        assert_eq!(encode(&rows, cap).decode(shape, Lists::Rows).unwrap(), rows);
        let good = encode(&lists, cap);
        assert_eq!(good.decode(shape, Lists::Entries).unwrap(), lists);
        let full = lists.iter().position(|l| l.len() >= 2).expect("a list with two candidates");
        let mut bad = good.clone();
        bad.count[full] = POISON_U32;
        assert!(bad.decode(shape, Lists::Entries).is_err(), "poisoned count");
        let mut bad = good.clone();
        bad.edit[full * cap + 1] = bad.edit[full * cap];
        assert!(bad.decode(shape, Lists::Entries).is_err(), "repeated edit");
        let mut bad = good.clone();
        bad.edit[full * cap] = POISON_U64;
        assert!(bad.decode(shape, Lists::Entries).is_err(), "poisoned edit");
        if let Some(short) = lists.iter().position(|l| l.len() < cap) {
            let mut bad = good.clone();
            bad.total[short * cap + cap - 1] = POISON;
            assert!(bad.decode(shape, Lists::Entries).is_err(), "an unwritten empty slot");
        }
        // A row list holding another word's edit.
        if t.words > 1 {
            let r = rows.iter().position(|l| !l.is_empty()).unwrap();
            let mut moved = rows.clone();
            moved[r][0].edit.word = (moved[r][0].edit.word + 1) % t.words;
            assert!(encode(&moved, cap).decode(shape, Lists::Rows).is_err());
        }
    });
}

fn cand(entry: usize, pos: usize, total: f32) -> Candidate {
    Candidate { entry, edit: edit(CharOp::Flip, 0, pos, 'a'), gain: total, total }
}

fn sorted(mut l: Vec<Candidate>) -> Vec<Candidate> {
    l.sort_by(|a, b| a.rank(b));
    l
}

#[test]
fn comparison_allows_near_ties_only() {
    let tol = MATH;
    let passes = |r: std::result::Result<f64, String>| matches!(r, Ok(e) if e <= tol);
    // The twin's scores: positions 0..6.
    let twin = [cand(0, 0, 5.0), cand(0, 1, 3.0), cand(0, 2, 3.0), cand(0, 3, 2.0), cand(0, 4, 1.0), cand(0, 5, 1.0)];
    let map: HashMap<_, _> = twin.iter().map(|c| ((c.entry, c.edit), *c)).collect();
    let twin_of = |c: &Candidate| map.get(&(c.entry, c.edit)).copied();
    let want = sorted(twin[..4].to_vec());
    assert_eq!(compare_lists(&want, &want, &twin_of, tol), Ok(0.0));
    // An exact tie (3.0, 3.0) broken the other way: a bug, not rounding.
    let swapped = vec![want[0], want[2], want[1], want[3]];
    assert!(compare_lists(&swapped, &want, &twin_of, tol).is_err());
    // The same order with the kernel's total of pos 2 a rounding above
    // 3.0: its own order is right, and the twin's tie is that close.
    let mut near = swapped.clone();
    near[1].total = 3.0 + 3.0 * 2e-7;
    near[1].gain = near[1].total;
    let e = compare_lists(&near, &want, &twin_of, tol).unwrap();
    assert!(e > 0.0 && e < 1e-6, "{e}");
    // The same swap across a gap the tolerance does not cover.
    let mut far = swapped;
    far[1].total = 3.0 + 3.0 * 3.0 * tol as f32;
    far[1].gain = far[1].total;
    assert!(!passes(compare_lists(&far, &want, &twin_of, tol)));
    // Scores off by more than the tolerance: Ok with the difference.
    let mut off = want.clone();
    off[3].total = 2.01;
    off[3].gain = 2.01;
    assert!(compare_lists(&off, &want, &twin_of, tol).unwrap() > tol);
    // NaN never passes, in a total or a gain.
    for last in [true, false] {
        let mut nan = want.clone();
        if last {
            nan[3].total = f32::NAN;
        } else {
            nan[3].gain = f32::NAN;
        }
        assert!(!passes(compare_lists(&nan, &want, &twin_of, tol)), "NaN total {last}");
    }
    // The cut: the twin keeps pos 3 (2.0); a kernel that scored pos 4
    // a rounding above 2.0 may keep it instead, one clearly lower not.
    let twin2 = [cand(0, 0, 5.0), cand(0, 3, 2.0), cand(0, 4, 2.0 - 2e-7), cand(0, 5, 1.0)];
    let map2: HashMap<_, _> = twin2.iter().map(|c| ((c.entry, c.edit), *c)).collect();
    let twin_of2 = |c: &Candidate| map2.get(&(c.entry, c.edit)).copied();
    let want2 = vec![twin2[0], twin2[1]];
    let cut = vec![twin2[0], cand(0, 4, 2.0 + 2e-7)];
    assert!(passes(compare_lists(&cut, &want2, &twin_of2, tol)));
    let wrong_cut = vec![twin2[0], cand(0, 5, 1.0)];
    assert!(compare_lists(&wrong_cut, &want2, &twin_of2, tol).is_err());
    // Lengths, order of the kernel's own list, unknown edits.
    assert!(compare_lists(&want[..3], &want, &twin_of, tol).is_err());
    let unsorted = vec![want[1], want[0], want[2], want[3]];
    assert!(compare_lists(&unsorted, &want, &twin_of, tol).is_err());
    let mut unknown = want.clone();
    unknown[3] = cand(7, 3, 2.0);
    assert!(compare_lists(&unknown, &want, &twin_of, tol).is_err());
}

#[test]
fn twin_lists_compare_equal_to_themselves() {
    let mut rng = Rng::new(7);
    for _ in 0..10 {
        let case = Case::random(&mut rng, small());
        let cap = case.cap();
        case.with_twin(|t, entries| {
            let rows = twin_rows(t, entries, cap);
            assert_eq!(compare_all(&rows, &rows, &twin_scores(t, entries, &rows), MATH).unwrap(), 0.0);
            let lists = twin_entries(t, entries, cap);
            // Reversing a list of two or more breaks the order.
            if let Some(i) = lists.iter().position(|l| l.len() >= 2) {
                let mut rev = lists.clone();
                rev[i].reverse();
                assert!(compare_all(&rev, &lists, &twin_scores(t, entries, &lists), MATH).is_err());
            }
        });
    }
}

#[test]
fn shapes_that_do_not_fit_are_refused() {
    let s = ScoreShape { entries: 10, words: 64, positions: 16, dim: 25, vocab: 100 };
    assert!(s.params("t", 20).is_ok());
    // W5: one word's S and gradients in 8.9 KB.
    assert_eq!(s.score_smem_bytes(), 396 + 4 * (16 * 125 + 96 + 200 + 2));
    assert!(ScoreShape { positions: 1, ..s }.params("t", 20).is_err());
    assert!(s.params("t", 0).is_err());
    assert!(ScoreShape { vocab: 3000, ..s }.params("t", 20).is_err(), "shared memory");
    assert!(ScoreShape { words: MAX_WORDS + 1, positions: 2, dim: 1, vocab: 3, ..s }.params("t", 1).is_err());
    assert_eq!(s.merge_smem_bytes(), 396 + 4 * 64);
    assert!(ScoreShape { words: 20_000, ..s }.params("t", 1).is_err(), "merge heads");
}
