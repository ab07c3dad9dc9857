//! Every self-check of the CUDA kernels against their CPU twins: the
//! generic kernels' (`cuda::ops`) and HotFlip's fused scorer
//! (`attack::score::cuda`). It sits above both so that `cuda` never
//! reaches up into the attack; `hotflip device` and tests/kernels_emu.rs
//! run this list.

use crate::cuda::selfcheck::Check;

/// One check per registered kernel, plus the library routines.
pub fn all_checks() -> Vec<Check> {
    let mut checks = crate::cuda::selfcheck::ops_checks();
    checks.extend(crate::attack::score::cuda::checks());
    checks
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::cuda::registry::{self, KernelRef};
    use crate::cuda::selfcheck::{Subject, CHAIN};

    #[test]
    fn every_kernel_has_exactly_one_check() {
        let checks = all_checks();
        let mut checked = BTreeSet::new();
        for c in &checks {
            if let Subject::Kernel(k) = c.subject {
                assert!(checked.insert(k), "{} is checked twice", k.name);
            }
            assert!(c.threshold > 0.0 && c.threshold <= CHAIN, "{}: threshold {}", c.name(), c.threshold);
        }
        let registered: BTreeSet<KernelRef> = registry::all_kernels().collect();
        let missing: Vec<_> = registered.difference(&checked).map(|k| k.name).collect();
        assert!(missing.is_empty(), "kernels without a self-check against a CPU twin: {missing:?}");
        assert_eq!(checked, registered);
    }
}
