//! Loaders on small files written here: the formats not yet in
//! ../shared/data (IMDB, FCE, Multi30k), malformed rows, missing data.

use std::fs;
use std::path::Path;

use hotflip::data::{self, fce, imdb, multi30k, Example, LoadOptions, ParallelPair, TaggedSentence};
use hotflip::Error;

const SKIP: LoadOptions = LoadOptions { skip_bad_rows: true };

fn write(path: &Path, text: impl AsRef<[u8]>) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

#[test]
fn imdb_reads_the_acl_layout_in_id_order() {
    let root = tempfile::tempdir().unwrap();
    let acl = root.path().join("aclImdb");
    for i in 0..12 {
        write(&acl.join(format!("train/pos/{i}_9.txt")), format!("good film {i}<br /><br />really"));
        write(&acl.join(format!("train/neg/{i}_2.txt")), format!("bad film {i}"));
    }
    write(&acl.join("test/pos/0_10.txt"), "fine");
    write(&acl.join("test/neg/3_1.txt"), "awful");
    write(&acl.join("test/neg/10_1.txt"), "dull");
    write(&acl.join("train/unsup/0_0.txt"), "no label<br/>here");
    write(&acl.join("train/pos/README"), "not a review");

    // The folder holding aclImdb/, through the registry.
    let ds = data::load("imdb", Some(root.path()), LoadOptions::default()).unwrap().into_classification().unwrap();
    assert_eq!(ds.labels, ["negative", "positive"]);
    assert_eq!(ds.sizes(), [21, 3, 3]);
    // Ids 0, 10 (neg) and 8 (pos: overall index 20) are dev; numeric, not string, order.
    let dev: Vec<&str> = ds.dev.iter().map(|e| e.text.as_str()).collect();
    assert_eq!(dev, ["bad film 0", "bad film 10", "good film 8 really"]);
    assert_eq!(ds.test[0], Example { text: "awful".into(), label: 0 });
    assert_eq!(ds.test[1].text, "dull");
    assert_eq!(ds.unlabeled, ["no label here"]);
    assert_eq!(imdb::load(&acl, LoadOptions::default()).unwrap(), ds);

    // A review that is not UTF-8 names its file.
    write(&acl.join("test/pos/7_8.txt"), b"caf\xe9");
    let msg = imdb::load(&acl, LoadOptions::default()).unwrap_err().to_string();
    assert!(msg.contains("7_8.txt:1: not valid UTF-8"), "{msg}");
    let skipped = imdb::load(&acl, SKIP).unwrap();
    assert_eq!((skipped.skipped_count(), skipped.test.len()), (1, 3));

    fs::remove_dir_all(acl.join("test/neg")).unwrap();
    let msg = imdb::load(&acl, LoadOptions::default()).unwrap_err().to_string();
    assert!(msg.contains("test/neg") && msg.contains("missing folder"), "{msg}");
}

fn tagged(tokens: &[&str], labels: &[usize]) -> TaggedSentence {
    TaggedSentence { tokens: tokens.iter().map(|s| s.to_string()).collect(), labels: labels.to_vec() }
}

#[test]
fn fce_reads_token_label_sentences() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    write(&p.join("fce-public.train.original.tsv"), "I\tc\nhas\ti\na\tc\ncat\tc\n\n\nIt\tc\nruns\tc\n");
    write(&p.join("fce-public.dev.tsv"), "Hi\tc\r\n\r\n");
    write(&p.join("test.tsv"), "Ok\ti\n\n");
    let ds = data::load("fce", Some(p), LoadOptions::default()).unwrap().into_tagging().unwrap();
    assert_eq!(ds.labels, ["c", "i"]);
    assert_eq!(ds.train, [tagged(&["I", "has", "a", "cat"], &[0, 1, 0, 0]), tagged(&["It", "runs"], &[0, 0])]);
    assert_eq!((ds.dev.clone(), ds.test.clone()), (vec![tagged(&["Hi"], &[0])], vec![tagged(&["Ok"], &[1])]));
    assert!(ds.split.contains("fce-public.dev.tsv"), "{}", ds.split);

    // A bad line drops its sentence in skip mode; otherwise it is an error at its line.
    write(&p.join("test.tsv"), "Ok\ti\n\nBad\tx\nline\tc\n\nno tab\n\nFine\tc\n");
    let msg = fce::load(p, LoadOptions::default()).unwrap_err().to_string();
    assert!(msg.contains("test.tsv:3: label `x`"), "{msg}");
    let ds = fce::load(p, SKIP).unwrap();
    assert_eq!(ds.test, [tagged(&["Ok"], &[1]), tagged(&["Fine"], &[0])]);
    assert_eq!(ds.skipped.iter().map(|s| s.line).collect::<Vec<_>>(), [3, 6]);

    fs::remove_file(p.join("fce-public.dev.tsv")).unwrap();
    let Err(Error::MissingDataset { looked, .. }) = fce::load(p, LoadOptions::default()) else { panic!() };
    let names: Vec<String> = looked.iter().map(|l| l.file_name().unwrap().to_string_lossy().into()).collect();
    assert_eq!(names, fce::candidates("dev"));
}

#[test]
fn multi30k_pairs_aligned_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    write(&p.join("train.de"), "Ein Hund .\nZwei Katzen .\n");
    write(&p.join("train.en"), "A dog .\nTwo cats .\n");
    write(&p.join("val.de"), "Hallo\n");
    write(&p.join("val.en"), "Hello\n");
    write(&p.join("test_2016_flickr.de"), "Ja\n");
    write(&p.join("test_2016_flickr.en"), "Yes\n");
    write(&p.join("test.de"), "other release\n");
    let ds = data::load("multi30k", Some(p), LoadOptions::default()).unwrap().into_translation().unwrap();
    let pair = |s: &str, t: &str| ParallelPair { src: s.into(), tgt: t.into() };
    assert_eq!(ds.train, [pair("Ein Hund .", "A dog ."), pair("Zwei Katzen .", "Two cats .")]);
    assert_eq!((ds.dev.clone(), ds.test.clone()), (vec![pair("Hallo", "Hello")], vec![pair("Ja", "Yes")]));
    assert!(ds.labels.is_empty());

    write(&p.join("val.en"), "Hello\nextra\n");
    let msg = multi30k::load(p, LoadOptions::default()).unwrap_err().to_string();
    assert!(msg.contains("differ in length"), "{msg}");

    write(&p.join("val.en"), "\n");
    let msg = multi30k::load(p, LoadOptions::default()).unwrap_err().to_string();
    assert!(msg.contains("val.en:1: empty sentence"), "{msg}");
    assert_eq!(multi30k::load(p, SKIP).unwrap().skipped_count(), 1);

    fs::remove_file(p.join("train.de")).unwrap();
    write(&p.join("train.de.gz"), "");
    let msg = multi30k::load(p, LoadOptions::default()).unwrap_err().to_string();
    assert!(msg.contains("train.de.gz: decompress it"), "{msg}");
}

#[test]
fn malformed_lines_name_file_and_line_or_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    write(&p.join("stsa.binary.train"), "1 good .\n0 bad .\n7 seven\nnolabel\n1 fine\n");
    write(&p.join("stsa.binary.dev"), b"0 caf\xe9\n");
    write(&p.join("stsa.binary.test"), "1 ok\n");
    let err = data::load("sst2", Some(p), LoadOptions::default()).unwrap_err();
    let Error::Data { path, line, msg } = &err else { panic!("{err}") };
    assert_eq!((path.as_path(), *line), (p.join("stsa.binary.train").as_path(), 3));
    assert!(msg.contains("label `7`"), "{msg}");
    assert!(err.to_string().contains("stsa.binary.train:3:"), "{err}");

    let ds = data::load("sst2", Some(p), SKIP).unwrap().into_classification().unwrap();
    assert_eq!(ds.skipped_count(), 3);
    let lines: Vec<(String, usize)> =
        ds.skipped.iter().map(|s| (s.path.file_name().unwrap().to_string_lossy().into_owned(), s.line)).collect();
    assert_eq!(
        lines,
        [("stsa.binary.train".into(), 3), ("stsa.binary.train".into(), 4), ("stsa.binary.dev".into(), 1)]
    );
    assert_eq!(ds.sizes(), [3, 0, 1]);

    // MR is Latin-1, so the same byte is text there.
    write(&p.join("rt-polarity.all"), b"0 caf\xe9 .\n1 x\n2 y\n");
    let msg = data::load("mr", Some(p), LoadOptions::default()).unwrap_err().to_string();
    assert!(msg.contains("rt-polarity.all:3: label `2`"), "{msg}");
    let mr = data::load("mr", Some(p), SKIP).unwrap().into_classification().unwrap();
    assert_eq!(mr.skipped_count(), 1);
    assert!(mr.train.iter().any(|e| e.text == "caf\u{e9} ."));
}

#[test]
fn missing_and_unknown_data_sets() {
    let dir = tempfile::tempdir().unwrap();
    let nowhere = dir.path().join("no-such-folder");
    let err = data::load("sst2", Some(&nowhere), LoadOptions::default()).unwrap_err();
    let Error::MissingDataset { name, looked, hint } = &err else { panic!("{err}") };
    assert_eq!((name.as_str(), looked.as_slice()), ("sst2", &[nowhere.clone()][..]));
    assert!(hint.contains("../shared/data/README.md"));
    assert!(err.to_string().contains(&nowhere.display().to_string()));

    // Without --data-dir: data/<name> then ../shared/data/<name>.
    let err = data::locate_from("imdb", None, dir.path()).unwrap_err().to_string();
    assert!(err.contains("data/imdb") && err.contains("shared/data/imdb"), "{err}");

    let err = data::load("agnews", None, LoadOptions::default()).unwrap_err().to_string();
    for name in data::KNOWN {
        assert!(err.contains(name), "{err}");
    }
}
