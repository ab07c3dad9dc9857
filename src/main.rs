//! The `hotflip` command line.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    keep_freed_memory();
    match cli::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is::<cli::Interrupted>() => {
            eprintln!("{e}");
            ExitCode::from(cli::INTERRUPTED_EXIT)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

// Training and attacks allocate and free many large tensors per step; glibc
// returns big blocks to the OS (mmap/munmap) and pays page faults to get them
// back. mimalloc keeps them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `purge_delay` option (index 15 of `mi_option_e` in the v3
/// header the crate builds).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Freed memory stays with the process instead of being purged back to
/// the OS: a forward/backward pass frees and reallocates blocks of tens of
/// megabytes, and each purge made the kernel clear those pages again (a
/// fifth of an attack's time at 32 documents per batch; page faults fell
/// from 10,285 to 397).
fn keep_freed_memory() {
    // SAFETY: sets a process-wide option; mimalloc allows it at any time.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}
