//! Every program in examples/ runs here, so that CI executes their `main`
//! (`cargo test` alone only builds examples). Each is included as a module
//! and its `run` (all `main` does, with the command line) called with no arguments: it uses the fixtures under tests/fixtures
//! and temporary folders, and asserts what it claims.

#[allow(dead_code)] // their `main` reads the command line; `run` is what it calls
#[path = "../examples/attack_dataset.rs"]
mod attack_dataset;
#[allow(dead_code)] // their `main` reads the command line; `run` is what it calls
#[path = "../examples/attack_text.rs"]
mod attack_text;
#[allow(dead_code)] // their `main` reads the command line; `run` is what it calls
#[path = "../examples/load_pytorch.rs"]
mod load_pytorch;
#[allow(dead_code)] // their `main` reads the command line; `run` is what it calls
#[path = "../examples/train_iadvt.rs"]
mod train_iadvt;

#[test]
fn attack_text_runs() {
    attack_text::run(Vec::new()).unwrap();
}

#[test]
fn attack_dataset_runs_and_resumes() {
    attack_dataset::run(Vec::new()).unwrap();
}

#[test]
fn train_iadvt_runs() {
    train_iadvt::run(Vec::new()).unwrap();
}

#[test]
fn load_pytorch_matches_torch() {
    load_pytorch::run(Vec::new()).unwrap();
}
