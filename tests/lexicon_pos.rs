//! The CoNLL-U reader and the averaged-perceptron tagger on a small
//! hand-tagged sample (UD English EWT conventions: copula and auxiliaries
//! AUX, possessive pronouns PRON, "today"/"tomorrow" NOUN, infinitival "to"
//! and "n't" PART).

use std::path::{Path, PathBuf};

use hotflip::lexicon::pos::{self, conllu, PerceptronTagger, PosTagger, TaggedSentence, TrainOptions, Upos};
use hotflip::{Error, Rng};

/// Two sentences written out in full CoNLL-U, the way treebanks have them
/// (lemma, XPOS, features, head, relation), with document and sentence
/// comments.
const FULL_ROWS: &str = "\
# newdoc id = hand-0001
# sent_id = hand-0001-1
# text = The cat sleeps on the sofa.
1\tThe\tthe\tDET\tDT\tDefinite=Def|PronType=Art\t2\tdet\t2:det\t_
2\tcat\tcat\tNOUN\tNN\tNumber=Sing\t3\tnsubj\t3:nsubj\t_
3\tsleeps\tsleep\tVERB\tVBZ\tMood=Ind|Number=Sing|Person=3|Tense=Pres|VerbForm=Fin\t0\troot\t0:root\t_
4\ton\ton\tADP\tIN\t_\t6\tcase\t6:case\t_
5\tthe\tthe\tDET\tDT\tDefinite=Def|PronType=Art\t6\tdet\t6:det\t_
6\tsofa\tsofa\tNOUN\tNN\tNumber=Sing\t3\tobl\t3:obl:on\tSpaceAfter=No
7\t.\t.\tPUNCT\t.\t_\t3\tpunct\t3:punct\t_

# sent_id = hand-0001-2
# text = I don't like cold coffee.
1\tI\tI\tPRON\tPRP\tCase=Nom|Number=Sing|Person=1|PronType=Prs\t4\tnsubj\t4:nsubj\t_
2-3\tdon't\t_\t_\t_\t_\t_\t_\t_\t_
2\tdo\tdo\tAUX\tVBP\tMood=Ind|Number=Sing|Person=1|Tense=Pres|VerbForm=Fin\t4\taux\t4:aux\t_
3\tn't\tnot\tPART\tRB\tPolarity=Neg\t4\tadvmod\t4:advmod\t_
4\tlike\tlike\tVERB\tVB\tVerbForm=Inf\t0\troot\t0:root\t_
5\tcold\tcold\tADJ\tJJ\tDegree=Pos\t6\tamod\t6:amod\t_
6\tcoffee\tcoffee\tNOUN\tNN\tNumber=Sing\t4\tobj\t4:obj\tSpaceAfter=No
7\t.\t.\tPUNCT\t.\t_\t4\tpunct\t4:punct\t_
";

/// The rest of the sample, one sentence per line, `form/UPOS` per word;
/// rendered to CoNLL-U by [`render`]. `[form]` opens a multiword token over
/// the next two words; `<form/UPOS>` is an empty node after the last word
/// (gapping, as UD's enhanced graphs write it).
const COMPACT: &[&str] = &[
    "The/DET dog/NOUN runs/VERB in/ADP the/DET garden/NOUN ./PUNCT",
    "My/PRON sister/NOUN feeds/VERB the/DET cat/NOUN every/DET morning/NOUN ./PUNCT",
    "Anna/PROPN likes/VERB the/DET small/ADJ dog/NOUN ./PUNCT",
    "The/DET weather/NOUN is/AUX cold/ADJ today/NOUN ./PUNCT",
    "We/PRON eat/VERB bread/NOUN and/CCONJ cheese/NOUN for/ADP breakfast/NOUN ./PUNCT",
    "The/DET children/NOUN play/VERB in/ADP the/DET park/NOUN after/ADP school/NOUN ./PUNCT",
    "Tom/PROPN walks/VERB the/DET dog/NOUN when/SCONJ it/PRON is/AUX sunny/ADJ ./PUNCT",
    "The/DET old/ADJ cat/NOUN quickly/ADV ate/VERB the/DET fish/NOUN ./PUNCT",
    "She/PRON will/AUX bake/VERB a/DET cake/NOUN for/ADP Anna/PROPN ./PUNCT",
    "It/PRON rained/VERB all/DET day/NOUN and/CCONJ we/PRON stayed/VERB at/ADP home/NOUN ./PUNCT",
    "The/DET garden/NOUN has/VERB two/NUM apple/NOUN trees/NOUN ./PUNCT",
    "My/PRON brother/NOUN reads/VERB a/DET book/NOUN every/DET evening/NOUN ./PUNCT",
    "The/DET small/ADJ dog/NOUN barks/VERB at/ADP the/DET cat/NOUN ./PUNCT",
    "We/PRON [cannot] can/AUX not/PART find/VERB the/DET keys/NOUN ./PUNCT",
    "Anna/PROPN and/CCONJ Tom/PROPN went/VERB to/ADP the/DET market/NOUN on/ADP Saturday/PROPN ./PUNCT",
    "The/DET coffee/NOUN was/AUX very/ADV hot/ADJ ./PUNCT",
    "Oh/INTJ ,/PUNCT the/DET cat/NOUN is/AUX on/ADP the/DET table/NOUN again/ADV !/PUNCT",
    "They/PRON bought/VERB three/NUM kilos/NOUN of/ADP apples/NOUN ./PUNCT",
    "The/DET dog/NOUN sleeps/VERB because/SCONJ it/PRON is/AUX tired/ADJ ./PUNCT",
    "I/PRON want/VERB to/PART drink/VERB some/DET tea/NOUN ./PUNCT",
    "The/DET children/NOUN like/VERB the/DET new/ADJ teacher/NOUN ./PUNCT",
    "It/PRON costs/VERB $/SYM 5/NUM ./PUNCT",
    "Tom/PROPN 's/PART cat/NOUN is/AUX black/ADJ and/CCONJ white/ADJ ./PUNCT",
    "She/PRON quickly/ADV opened/VERB the/DET door/NOUN and/CCONJ the/DET window/NOUN ./PUNCT",
    "We/PRON will/AUX visit/VERB the/DET old/ADJ park/NOUN tomorrow/NOUN ./PUNCT",
    "Anna/PROPN eats/VERB an/DET apple/NOUN every/DET day/NOUN ./PUNCT",
    "The/DET teacher/NOUN gave/VERB the/DET children/NOUN a/DET book/NOUN ./PUNCT",
    "Tom/PROPN likes/VERB hot/ADJ tea/NOUN ,/PUNCT but/CCONJ Anna/PROPN prefers/VERB coffee/NOUN ./PUNCT",
    "Tom/PROPN likes/VERB tea/NOUN and/CCONJ Anna/PROPN <likes/VERB> coffee/NOUN ./PUNCT",
    // Held out (the last HELD_OUT sentences): the same small world in new
    // combinations, with one unseen word ("rains").
    "The/DET cat/NOUN sleeps/VERB in/ADP the/DET garden/NOUN ./PUNCT",
    "My/PRON sister/NOUN likes/VERB the/DET old/ADJ dog/NOUN ./PUNCT",
    "We/PRON will/AUX eat/VERB the/DET cake/NOUN at/ADP home/NOUN ./PUNCT",
    "The/DET weather/NOUN was/AUX very/ADV cold/ADJ on/ADP Saturday/PROPN ./PUNCT",
    "Anna/PROPN reads/VERB a/DET book/NOUN when/SCONJ it/PRON rains/VERB ./PUNCT",
    "The/DET children/NOUN want/VERB to/PART play/VERB in/ADP the/DET park/NOUN ./PUNCT",
    "Tom/PROPN bought/VERB two/NUM apples/NOUN and/CCONJ some/DET bread/NOUN ./PUNCT",
    "She/PRON [doesn't] does/AUX n't/PART like/VERB the/DET new/ADJ teacher/NOUN ./PUNCT",
    "The/DET dog/NOUN quickly/ADV ate/VERB the/DET cheese/NOUN !/PUNCT",
];

const HELD_OUT: usize = 9;

/// CoNLL-U for one compact sentence, with a `# sent_id` and `# text` comment.
fn render(n: usize, compact: &str) -> String {
    let mut rows = Vec::new();
    let mut words = Vec::new();
    let mut id = 0;
    let mut empty = 0;
    for item in compact.split(' ') {
        if let Some(mwt) = item.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            rows.push(format!("{}-{}\t{mwt}\t_\t_\t_\t_\t_\t_\t_\t_", id + 1, id + 2));
        } else if let Some(node) = item.strip_prefix('<').and_then(|s| s.strip_suffix('>')) {
            let (form, tag) = node.split_once('/').unwrap();
            empty += 1;
            rows.push(format!("{id}.{empty}\t{form}\t{form}\t{tag}\t_\t_\t_\t_\t{id}:conj\t_"));
        } else {
            let (form, tag) = item.split_once('/').unwrap();
            id += 1;
            words.push(form);
            // HEAD 0 everywhere: the reader must not care about the tree.
            rows.push(format!("{id}\t{form}\t_\t{tag}\t_\t_\t0\tdep\t_\t_"));
        }
    }
    format!("# sent_id = compact-{n}\n# text = {}\n{}\n", words.join(" "), rows.join("\n"))
}

/// The whole sample as one CoNLL-U text.
fn sample_text() -> String {
    let mut text = String::from(FULL_ROWS);
    for (n, s) in COMPACT.iter().enumerate() {
        text.push('\n');
        text.push_str(&render(n, s));
    }
    text
}

/// The gold sentences straight from [`COMPACT`], without the reader.
fn expected_compact() -> Vec<TaggedSentence> {
    COMPACT
        .iter()
        .map(|s| {
            let words: Vec<(&str, &str)> = s
                .split(' ')
                .filter(|i| !i.starts_with('[') && !i.starts_with('<'))
                .map(|i| i.split_once('/').unwrap())
                .collect();
            TaggedSentence {
                tokens: words.iter().map(|(f, _)| f.to_string()).collect(),
                tags: words.iter().map(|(_, t)| t.parse().unwrap()).collect(),
            }
        })
        .collect()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn sample() -> Vec<TaggedSentence> {
    let dir = tempfile::tempdir().unwrap();
    conllu::read(&write(dir.path(), "sample.conllu", &sample_text())).unwrap()
}

fn split(all: &[TaggedSentence]) -> (&[TaggedSentence], &[TaggedSentence]) {
    all.split_at(all.len() - HELD_OUT)
}

#[test]
fn conllu_sample_reads_words_and_tags() {
    let s = sample();
    assert_eq!(s.len(), 2 + COMPACT.len());
    assert_eq!(s[0].tokens, ["The", "cat", "sleeps", "on", "the", "sofa", "."]);
    assert_eq!(s[0].tags, [Upos::Det, Upos::Noun, Upos::Verb, Upos::Adp, Upos::Det, Upos::Noun, Upos::Punct]);
    // The multiword token "don't" is read as its two words only.
    assert_eq!(s[1].tokens, ["I", "do", "n't", "like", "cold", "coffee", "."]);
    assert_eq!(s[1].tags[1..3], [Upos::Aux, Upos::Part]);
    assert_eq!(s[2..], expected_compact()[..]);
    // The empty node of the gapping sentence is not a word.
    let gapping = &s[2 + 28];
    assert_eq!(gapping.tokens, ["Tom", "likes", "tea", "and", "Anna", "coffee", "."]);
    let words: usize = s.iter().map(|x| x.tokens.len()).sum();
    let expected: usize = 14 + expected_compact().iter().map(|x| x.tokens.len()).sum::<usize>();
    assert_eq!(words, expected);
    assert!(s.iter().all(|x| x.tokens.len() == x.tags.len()));
}

/// Each malformed line, put in place of line 10 of the sample, and what the
/// error must say.
#[test]
fn malformed_lines_name_file_and_line() {
    let good = sample_text();
    let lines: Vec<&str> = good.lines().collect();
    assert!(lines[9].starts_with("7\t.\t"), "line 10 is the first sentence's last word: {}", lines[9]);
    let cases = [
        ("7 . . PUNCT . _ 3 punct 3:punct _", "expected 10 tab-separated fields"),
        ("7\t.\t.\tPUNC\t.\t_\t3\tpunct\t3:punct\t_", "unknown UPOS tag `PUNC`"),
        ("7\t.\t.\t_\t.\t_\t3\tpunct\t3:punct\t_", "unknown UPOS tag `_`"),
        ("seven\t.\t.\tPUNCT\t.\t_\t3\tpunct\t3:punct\t_", "bad word ID `seven`"),
        ("9\t.\t.\tPUNCT\t.\t_\t3\tpunct\t3:punct\t_", "word ID 9 out of sequence: expected 7"),
        ("7\t\t.\tPUNCT\t.\t_\t3\tpunct\t3:punct\t_", "empty FORM"),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (bad, says) in cases {
        let mut text: Vec<&str> = lines.clone();
        text[9] = bad;
        let path = write(dir.path(), "broken.conllu", &(text.join("\n") + "\n"));
        let err = conllu::read(&path).unwrap_err();
        assert!(matches!(err, Error::Data { line: 10, .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.starts_with(&format!("{}:10: ", path.display())), "{msg}");
        assert!(msg.contains(says), "{msg} should say {says}");
    }
    let mut bytes = good.into_bytes();
    bytes.splice(0..0, b"\xff\xfe# x\n".iter().copied());
    let path = dir.path().join("latin.conllu");
    std::fs::write(&path, bytes).unwrap();
    assert!(conllu::read(&path).unwrap_err().to_string().contains("latin.conllu:1: not valid UTF-8"));
    let missing = dir.path().join("missing.conllu");
    assert!(matches!(conllu::read(&missing), Err(Error::Io { path, .. }) if path == missing));
}

/// Every held-out word but one ("rains") occurs in training, nearly all with
/// one tag, and the contexts repeat; a tagger that learned the lexicon and
/// the tag bigrams gets nearly all of them. 0.85 leaves room for the unseen
/// word and a couple of context mistakes while staying far above what
/// tagging everything NOUN gets here (about 0.2) and what the shuffled-label
/// tagger gets below.
const HELD_OUT_THRESHOLD: f64 = 0.85;

/// The tiny sample is below the default tag-dictionary count, so every word
/// goes through the perceptron (which is what this test is about); more
/// passes because a few dozen sentences give few updates per pass.
fn small_options() -> TrainOptions {
    TrainOptions { iterations: 10, ..TrainOptions::default() }
}

#[test]
fn perceptron_tags_held_out_sentences_of_the_same_domain() {
    let all = sample();
    let (train, test) = split(&all);
    let tagger = PerceptronTagger::train(train, &small_options()).unwrap();
    let acc = tagger.evaluate(test);
    let nouns = test.iter().flat_map(|s| &s.tags).filter(|&&t| t == Upos::Noun).count() as f64;
    let all_noun_baseline = nouns / acc.total as f64;
    eprintln!(
        "held-out accuracy {:.3} ({}/{}), all-NOUN {:.3}",
        acc.ratio(),
        acc.correct,
        acc.total,
        all_noun_baseline
    );
    assert!(all_noun_baseline < 0.3);
    assert!(acc.ratio() >= HELD_OUT_THRESHOLD, "{acc:?}");
    // The training sentences themselves are learned (near) perfectly.
    assert!(tagger.evaluate(train).ratio() >= 0.97);
    // One tag per token, whatever the input.
    assert_eq!(tagger.tag(&[]), Vec::<Upos>::new());
    assert_eq!(tagger.tag(&["Zorblax", "glimmered", "."]).len(), 3);
}

#[test]
fn perceptron_with_shuffled_labels_scores_clearly_worse() {
    let all = sample();
    let (train, test) = split(&all);
    // The same tag counts, dealt to the tokens at random: the words no
    // longer predict their tags.
    let mut tags: Vec<Upos> = train.iter().flat_map(|s| s.tags.iter().copied()).collect();
    Rng::new(99).shuffle(&mut tags);
    let mut dealt = tags.into_iter();
    let shuffled: Vec<TaggedSentence> = train
        .iter()
        .map(|s| TaggedSentence { tokens: s.tokens.clone(), tags: dealt.by_ref().take(s.tags.len()).collect() })
        .collect();
    let real = PerceptronTagger::train(train, &small_options()).unwrap().evaluate(test).ratio();
    let noise = PerceptronTagger::train(&shuffled, &small_options()).unwrap().evaluate(test).ratio();
    eprintln!("real labels {real:.3}, shuffled labels {noise:.3}");
    assert!(noise < 0.5, "{noise}");
    assert!(noise < real - 0.35, "real {real}, shuffled {noise}");
}

#[test]
fn training_is_deterministic_for_a_seed_and_save_load_round_trips() {
    let all = sample();
    let dir = tempfile::tempdir().unwrap();
    let opts = small_options();
    let tagger = PerceptronTagger::train(&all, &opts).unwrap();
    let path = dir.path().join("models/tagger.json");
    tagger.save(&path).unwrap();
    let loaded = PerceptronTagger::load(&path).unwrap();

    let mut inputs: Vec<Vec<&str>> = all.iter().map(|s| s.token_strs()).collect();
    inputs.push("Zorblax the cat 's new dogs swam 1999 well-known tables !".split(' ').collect());
    for tokens in &inputs {
        assert_eq!(tagger.tag(tokens), loaded.tag(tokens), "{tokens:?}");
    }
    assert_eq!(pos::evaluate(&loaded, &all), tagger.evaluate(&all));

    // Same data and seed: the same bytes; saving the loaded model too.
    let again = dir.path().join("again.json");
    PerceptronTagger::train(&all, &opts).unwrap().save(&again).unwrap();
    let resaved = dir.path().join("resaved.json");
    loaded.save(&resaved).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes, std::fs::read(&again).unwrap());
    assert_eq!(bytes, std::fs::read(&resaved).unwrap());
    // A different seed visits the sentences in another order.
    let other = dir.path().join("other.json");
    PerceptronTagger::train(&all, &TrainOptions { seed: 2, ..opts }).unwrap().save(&other).unwrap();
    assert_ne!(bytes, std::fs::read(&other).unwrap());
    // No temporary files are left beside the model.
    let names: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["tagger.json"]);
}

#[test]
fn lowercasing_tagger_ignores_case() {
    let all = sample();
    let opts = TrainOptions { lowercase: true, ..small_options() };
    let tagger = PerceptronTagger::train(&all, &opts).unwrap();
    assert!(tagger.lowercases());
    let upper = ["THE", "CAT", "SLEEPS", "."];
    assert_eq!(tagger.tag(&upper), tagger.tag(&["the", "cat", "sleeps", "."]));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lc.json");
    tagger.save(&path).unwrap();
    assert!(PerceptronTagger::load(&path).unwrap().lowercases());
}

#[test]
fn bad_model_files_and_bad_training_input_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let tagger = PerceptronTagger::train(&sample(), &small_options()).unwrap();
    let path = dir.path().join("t.json");
    tagger.save(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let cases = [
        (text.replace("hotflip-pos-features-v1", "hotflip-pos-features-v0"), "retrain the tagger"),
        (text.replace("\"version\":1", "\"version\":7"), "version 7"),
        (text.replace("\"DET\"", "\"DT\""), "unknown UPOS tag `DT`"),
        (text[..text.len() / 2].to_string(), "not a hotflip POS tagger file"),
        ("[]".to_string(), "not a hotflip POS tagger file"),
    ];
    for (bad, says) in cases {
        std::fs::write(&path, bad).unwrap();
        let err = PerceptronTagger::load(&path).unwrap_err();
        assert!(matches!(err, Error::BadFile { .. }), "{err:?}");
        assert!(err.to_string().contains(says), "{err} should say {says}");
    }
    assert!(matches!(PerceptronTagger::load(&dir.path().join("none.json")), Err(Error::Io { .. })));

    assert!(PerceptronTagger::train(&[], &small_options()).is_err());
    let ragged = TaggedSentence { tokens: vec!["a".into(), "b".into()], tags: vec![Upos::Det] };
    assert!(PerceptronTagger::train(&[ragged], &small_options())
        .unwrap_err()
        .to_string()
        .contains("2 tokens but 1 tags"));
}

/// `tag_flipped` (re-tagging from two words before the flip) gives the tag
/// a full re-tagging gives, for every position, every replacement word of
/// the sample, cased and lowercasing taggers, with and without a tag
/// dictionary (ids of the sample's words at tagdict_min_count 1).
#[test]
fn tag_flipped_equals_tagging_the_flipped_sentence() {
    let all = sample();
    let words: Vec<String> = {
        let mut w: Vec<String> = all.iter().flat_map(|s| s.tokens.iter().cloned()).collect();
        w.extend(["Zorblax", "1999", "well-known", "SWAM"].map(String::from));
        w.sort();
        w.dedup();
        w
    };
    let mut checked = 0usize;
    for opts in [
        small_options(),
        TrainOptions { lowercase: true, ..small_options() },
        TrainOptions { tagdict_min_count: 1, tagdict_min_ratio: 0.6, ..small_options() },
    ] {
        let tagger = PerceptronTagger::train(&all, &opts).unwrap();
        let mut differed = 0usize;
        for s in all.iter().take(8) {
            let tokens = s.token_strs();
            let tags = tagger.tag(&tokens);
            for i in 0..tokens.len() {
                for w in &words {
                    let mut flipped = tokens.clone();
                    flipped[i] = w;
                    let full = tagger.tag(&flipped);
                    assert_eq!(tagger.tag_flipped(&flipped, i, &tags), full[i], "{flipped:?} at {i}");
                    differed += usize::from(full[i] != tags[i]);
                    checked += 1;
                }
            }
        }
        // The flips do change tags: the check is not vacuous.
        assert!(differed > 100, "{differed}");
    }
    assert!(checked > 5000, "{checked}");
}
