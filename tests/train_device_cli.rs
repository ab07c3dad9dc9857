//! `train --device cuda` end to end without a GPU: the hidden `--device
//! cuda-emulated` trains char_cnn_lstm's steps on the emulated device (the
//! kernels' sources on the CPU, through the same launchers), through the
//! ordinary trainer: epochs, dev evaluation, best/ and last/ checkpoints,
//! and a resume from last/; plain and `--adv hotflip` training. Its checkpoints must be the CPU run's (weights
//! within 1e-4 of their scale), and what does not train on a device yet is
//! an error naming it. Needs a C++17 compiler. (At the default rate 1e-3: Adam moves
//! a weight whose gradient is near 0 by up to lr per step whatever its size,
//! so summation-order noise grows with the rate; at 0.01 it reaches 2e-4.)

#[path = "char_fixture/mod.rs"]
mod char_fixture;

#[path = "common/device_train.rs"]
mod device_train;

use device_train::emulated_run_matches_the_cpu_run;

const ARCH: &str = "char_cnn_lstm";

#[test]
fn the_emulated_device_trains_and_resumes_to_the_cpu_runs_checkpoint() {
    let (root, data, _) = char_fixture::setup("train-device-emu", "ck");
    device_train::trains_and_resumes_to_the_cpu_runs_checkpoint(ARCH, &root, &data);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn hotflip_training_on_the_emulated_device_matches_the_cpu_run() {
    let (root, data, _) = char_fixture::setup("train-device-emu", "hotflip");
    let args = ["--epochs", "1", "--adv", "hotflip", "--flip-fraction", "0.3"];
    emulated_run_matches_the_cpu_run(ARCH, &root, &data, &args, 1e-4);
    let _ = std::fs::remove_dir_all(&root);
}
