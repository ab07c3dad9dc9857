//! Typed launchers, one module per kernel file (same stem), each with the
//! self-check that compares its kernels with their CPU twins.
//!
//! A launcher checks every length it can see, then launches on device
//! buffers, so kernels chain on the device; index arrays that a kernel
//! dereferences (ids, targets, lengths, valid counts) go through the
//! module's `upload_*` function, which checks their range on the host.

pub mod binary;
pub mod conv;
pub mod dropout;
pub mod embedding;
pub mod gemm;
pub mod loss;
pub mod lstm;
pub mod neighbours;
pub mod optim;
pub mod reduce;
pub mod unary;

use super::selfcheck::Check;

/// Every check, by kernel file.
pub(crate) fn checks() -> Vec<Check> {
    [
        binary::checks(),
        conv::checks(),
        dropout::checks(),
        embedding::checks(),
        loss::checks(),
        lstm::checks(),
        neighbours::checks(),
        optim::checks(),
        reduce::checks(),
        unary::checks(),
        gemm::checks(),
    ]
    .into_iter()
    .flatten()
    .collect()
}
