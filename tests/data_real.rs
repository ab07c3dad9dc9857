//! The loaders on the real data in ../shared/data, against the counts its
//! README gives (and counts taken from the raw files here).

use std::collections::HashMap;
use std::path::PathBuf;

use hotflip::data::{self, Dataset, Example, LoadOptions};

fn shared(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data").join(name)
}

fn classification(name: &str, folder: &str) -> Dataset<Example> {
    data::load(name, Some(&shared(folder)), LoadOptions::default()).unwrap().into_classification().unwrap()
}

fn per_label(examples: &[Example], n: usize) -> Vec<usize> {
    let mut counts = vec![0; n];
    for e in examples {
        counts[e.label] += 1;
    }
    counts
}

fn all_texts(ds: &Dataset<Example>) -> impl Iterator<Item = &Example> {
    ds.train.iter().chain(&ds.dev).chain(&ds.test)
}

/// The class field of each raw test.csv line, counted without the loader.
fn raw_ag_classes() -> Vec<usize> {
    let raw = std::fs::read_to_string(shared("ag_news/test.csv")).unwrap();
    raw.lines().map(|l| l[1..2].parse::<usize>().unwrap() - 1).collect()
}

#[test]
fn ag_news_small_split_matches_the_data_readme() {
    let ds = classification("ag_news", "ag_news");
    // No train.csv in the shared folder: the loader picks the reduced split itself.
    assert!(!shared("ag_news/train.csv").exists());
    assert_eq!(ds.name, "ag_news_small");
    assert!(ds.split.starts_with("ag_news_small"), "{}", ds.split);
    assert_eq!(ds.labels, ["World", "Sports", "Business", "Sci/Tech"]);
    assert_eq!(ds.sizes(), [5400, 600, 1600]);
    assert_eq!(ds.skipped_count(), 0);

    let raw = raw_ag_classes();
    assert_eq!(raw.len(), 7600);
    let count = |rows: &mut dyn Iterator<Item = usize>| {
        let mut c = vec![0; 4];
        rows.for_each(|k| c[k] += 1);
        c
    };
    let want_train = count(&mut raw[..6000].iter().enumerate().filter(|(i, _)| i % 10 != 0).map(|(_, &k)| k));
    let want_dev = count(&mut raw[..6000].iter().step_by(10).copied());
    let want_test = count(&mut raw[6000..].iter().copied());
    assert_eq!(per_label(&ds.train, 4), want_train);
    assert_eq!(per_label(&ds.dev, 4), want_dev);
    assert_eq!(per_label(&ds.test, 4), want_test);
    assert!(want_train.iter().chain(&want_test).all(|&n| n > 0), "{want_train:?} {want_test:?}");
    let total: Vec<usize> = (0..4).map(|k| want_train[k] + want_dev[k] + want_test[k]).collect();
    assert_eq!(total, [1900; 4]);

    // Forcing the reduced split by name gives the same data.
    assert_eq!(classification("ag_news_small", "ag_news"), ds);
}

#[test]
fn ag_news_text_is_clean() {
    let ds = classification("ag_news_small", "ag_news");
    // File rows 0 and 1: dev[0] and train[0].
    assert_eq!(
        ds.dev[0].text,
        "Fears for T N pension after talks Unions representing workers at Turner Newall say they are \
         'disappointed' after talks with stricken parent firm Federal Mogul."
    );
    assert!(ds.train[0].text.contains("A second team of rocketeers competing for the $10 million Ansari X Prize"));
    let texts: Vec<&str> = all_texts(&ds).map(|e| e.text.as_str()).collect();
    assert_eq!(texts.len(), 7600);
    for t in &texts {
        for bad in ["#39;", "quot;", "\\", "&lt;", "&gt;", "&amp;", " amp;", "#36;", "#151;", "  "] {
            assert!(!t.contains(bad), "`{bad}` left in: {t}");
        }
        for tag in ["<b>", "</A>", "<A HREF", "<p>", "<FONT", "<nobr>"] {
            assert!(!t.contains(tag), "tag left in: {t}");
        }
        let b = t.as_bytes();
        let numeric_entity = (0..b.len()).any(|i| {
            b[i] == b'#'
                && b[i + 1..].iter().position(|c| !c.is_ascii_digit()).is_some_and(|n| n > 0 && b[i + 1 + n] == b';')
        });
        assert!(!numeric_entity, "numeric entity left in: {t}");
    }
    // Line breaks written as a backslash, even before an `n`, split words.
    assert!(texts.iter().any(|t| t.contains("for social network and")));
    assert!(texts.iter().any(|t| t.contains("fired on Wednesday a nuclear-capable")));
    assert!(texts.iter().any(|t| t.contains("Standard & Poor's")));
    assert!(texts.iter().any(|t| t.contains("AT&T Wireless")));
}

#[test]
fn sst2_counts() {
    let ds = classification("sst2", "sst2");
    assert_eq!(ds.sizes(), [6920, 872, 1821]);
    assert_eq!(per_label(&ds.test, 2), [912, 909]);
    assert_eq!(ds.split, "official (stsa.binary.train / .dev / .test)");
    assert_eq!(ds.dev[0], Example { text: "one long string of cliches .".into(), label: 0 });
}

#[test]
fn mr_count_split_and_latin1() {
    let ds = classification("mr", "mr");
    assert_eq!(ds.sizes(), [8637, 959, 1066]);
    let all: Vec<&Example> = all_texts(&ds).collect();
    assert_eq!(all.len(), 10_662);
    let labels: Vec<Example> = all.iter().map(|e| (*e).clone()).collect();
    assert_eq!(per_label(&labels, 2), [5331, 5331]);
    assert!(ds.split.contains(&format!("seed {}", data::mr::SPLIT_SEED)));
    // Seeded, so a second load is the same split.
    assert_eq!(classification("mr", "mr"), ds);

    // The split is a partition of the file's lines.
    let raw = std::fs::read(shared("mr/rt-polarity.all")).unwrap();
    let lines: Vec<&[u8]> = raw.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
    let mut want: HashMap<String, i64> = HashMap::new();
    for l in &lines {
        *want.entry(data::decode_latin1(&l[2..]).trim().to_string()).or_default() += 1;
    }
    for e in &all {
        *want.entry(e.text.clone()).or_default() -= 1;
    }
    assert!(want.values().all(|&n| n == 0));

    // A line with Latin-1 bytes decodes byte for byte (é = 0xE9), and the
    // Windows-1252 dash 0x97 to an em dash.
    let (n, line) = lines.iter().enumerate().find(|(_, l)| l.iter().any(|&b| b >= 0xA0)).unwrap();
    let e9 = line.iter().position(|&b| b == 0xE9).unwrap();
    assert_eq!((n + 1, &line[e9 - 5..e9 + 2]), (32, &b"clich\xe9s"[..]));
    assert!(all.iter().any(|e| e.text == "the action clich\u{e9}s just pile up ."));
    let dash = lines.iter().find(|l| l.contains(&0x97)).unwrap();
    let decoded = data::decode_latin1(&dash[2..]);
    assert!(decoded.contains('\u{2014}') && !decoded.contains('\u{97}'));
    assert!(all.iter().any(|e| e.text == decoded.trim()));
}

#[test]
fn vocab_from_real_training_text_round_trips() {
    let ds = classification("sst2", "sst2");
    let tok = data::Tokenizer::new(true);
    let words = data::Vocab::words_from_texts(ds.train.iter().map(|e| e.text.as_str()), &tok, 2, Some(5000));
    assert_eq!(words.tokens().len(), 5000);
    // Counted here without the Vocab: kept tokens are the most frequent
    // (count, then string order), all seen at least twice.
    let mut counts: HashMap<String, usize> = HashMap::new();
    for e in &ds.train {
        for w in e.text.split_whitespace() {
            *counts.entry(w.to_lowercase()).or_default() += 1;
        }
    }
    let mut ranked: Vec<(&String, &usize)> = counts.iter().filter(|(_, &n)| n >= 2).collect();
    ranked.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let want: Vec<&str> = ranked.iter().take(5000).map(|(w, _)| w.as_str()).collect();
    assert_eq!(words.tokens(), want);
    assert_eq!(words.id(want[0]), 2);
    let chars = data::Vocab::chars_from_texts(ds.train.iter().map(|e| e.text.as_str()), &tok, 1, None);
    let mv = data::ModelVocab::new(chars, Some(words)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vocab.json");
    mv.save(&path).unwrap();
    assert_eq!(data::ModelVocab::load(&path).unwrap(), mv);
}
