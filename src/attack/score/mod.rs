//! HotFlip's first-order scores, written once: the attack's beam search
//! (`CharSpace`, `WordSpace`), HotFlip adversarial training
//! (`adv::flip_training`) and the fused CUDA scorer's host side and CPU
//! twin all score edits here.
//!
//! With `g` the loss gradient at an embedded input position and E the
//! embedding table, replacing the token a there by b changes the loss by
//! about `g · E_b − g · E_a` (Ebrahimi et al. 2018, ATTACKS.md).
//!
//! - [`chars`]: character flips, inserts and deletes of one word from a
//!   `[positions, V]` block of `g_j · E_c`, and each position's best flip.
//! - [`words`]: word flips `g_t · (E_j − E_i)`; [`flip_table`]: the same
//!   sums for every vocabulary word at once, bit for bit.
//! - [`cuda`]: the launchers of kernels/hotflip_score.cu, which compute
//!   `chars`' pruned lists on a GPU, and their self-check against it.

pub mod chars;
// Hidden from the documentation like `crate::cuda`: internals of the GPU
// path that the binary, the benches and the tests reach.
#[doc(hidden)]
pub mod cuda;
pub mod flip_table;
pub mod words;
