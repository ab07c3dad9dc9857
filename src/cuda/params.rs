//! Kernel parameter structs, passed by value and mirrored field for field
//! by the struct of the same name in a `kernels/*.cu` file.
//!
//! The mirror is checked twice without a GPU: the `.cu` file asserts its
//! `sizeof`, and the tests below parse the embedded C struct and compare
//! field names, C types and offsets with [`Mirror::FIELDS`] and Rust's own
//! layout.

use cudarc::driver::DeviceRepr;

/// Most dimensions a broadcast kernel handles (`HF_MAX_DIMS`).
pub const MAX_DIMS: usize = 6;

/// A Rust struct and the `.cu` file that mirrors it.
pub trait Mirror {
    const NAME: &'static str;
    const FILE: &'static str;
    /// (field, C type, byte offset), in order.
    const FIELDS: &'static [(&'static str, &'static str, usize)];
    const SIZE: usize;
}

/// kernels/binary.cu `Broadcast`: both operands as strides inside the output.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Broadcast {
    pub rank: u32,
    pub pad0: u32,
    pub numel: u64,
    pub dims: [u64; MAX_DIMS],
    pub a_strides: [u64; MAX_DIMS],
    pub b_strides: [u64; MAX_DIMS],
}

/// kernels/binary.cu `ReduceToShape`: a gradient of shape `dims` summed
/// down to a target given by its strides inside `dims`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReduceToShape {
    pub rank: u32,
    pub pad0: u32,
    pub numel: u64,
    pub dims: [u64; MAX_DIMS],
    pub target_strides: [u64; MAX_DIMS],
    pub src_strides: [u64; MAX_DIMS],
}

/// kernels/optim.cu `SgdParams`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SgdParams {
    pub lr: f32,
    pub momentum: f32,
    pub dampening: f32,
    pub weight_decay: f32,
    pub nesterov: u32,
    pub first_step: u32,
}

/// kernels/optim.cu `AdamParams`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct AdamParams {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    pub bias_correction1: f32,
    pub bias_correction2_sqrt: f32,
    pub decoupled: u32,
}

/// kernels/lstm.cu `LstmStep`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LstmStep {
    pub batch: u32,
    pub steps: u32,
    pub hidden: u32,
    pub t: u32,
    pub prev_t: u32,
    pub has_prev: u32,
}

/// kernels/neighbours.cu `NnDims`: the sizes of one neighbour search and
/// its vocabulary splits (`cuda::ops::neighbours::plan` fills it).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NnDims {
    pub positions: u32,
    pub vocab: u32,
    pub dim: u32,
    pub k: u32,
    pub split_len: u32,
    pub splits: u32,
}

/// kernels/hotflip_score.cu `HotflipDims`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HotflipDims {
    pub entries: u32,
    pub words: u32,
    pub positions: u32,
    pub dim: u32,
    pub vocab: u32,
    pub cap: u32,
}

// SAFETY: plain-old-data `#[repr(C)]` structs of u32/u64/f32 with no
// implicit padding, laid out as their C mirrors (checked in tests).
unsafe impl DeviceRepr for Broadcast {}
unsafe impl DeviceRepr for ReduceToShape {}
unsafe impl DeviceRepr for SgdParams {}
unsafe impl DeviceRepr for AdamParams {}
unsafe impl DeviceRepr for LstmStep {}
unsafe impl DeviceRepr for NnDims {}
unsafe impl DeviceRepr for HotflipDims {}

const U: &str = "unsigned int";
const ULL: &str = "unsigned long long";
const ULL6: &str = "unsigned long long[6]";
const F: &str = "float";

impl Mirror for Broadcast {
    const NAME: &'static str = "Broadcast";
    const FILE: &'static str = "binary";
    const FIELDS: &'static [(&'static str, &'static str, usize)] = &[
        ("rank", U, 0),
        ("pad0", U, 4),
        ("numel", ULL, 8),
        ("dims", ULL6, 16),
        ("a_strides", ULL6, 64),
        ("b_strides", ULL6, 112),
    ];
    const SIZE: usize = 160;
}

impl Mirror for ReduceToShape {
    const NAME: &'static str = "ReduceToShape";
    const FILE: &'static str = "binary";
    const FIELDS: &'static [(&'static str, &'static str, usize)] = &[
        ("rank", U, 0),
        ("pad0", U, 4),
        ("numel", ULL, 8),
        ("dims", ULL6, 16),
        ("target_strides", ULL6, 64),
        ("src_strides", ULL6, 112),
    ];
    const SIZE: usize = 160;
}

impl Mirror for SgdParams {
    const NAME: &'static str = "SgdParams";
    const FILE: &'static str = "optim";
    const FIELDS: &'static [(&'static str, &'static str, usize)] = &[
        ("lr", F, 0),
        ("momentum", F, 4),
        ("dampening", F, 8),
        ("weight_decay", F, 12),
        ("nesterov", U, 16),
        ("first_step", U, 20),
    ];
    const SIZE: usize = 24;
}

impl Mirror for AdamParams {
    const NAME: &'static str = "AdamParams";
    const FILE: &'static str = "optim";
    const FIELDS: &'static [(&'static str, &'static str, usize)] = &[
        ("lr", F, 0),
        ("beta1", F, 4),
        ("beta2", F, 8),
        ("eps", F, 12),
        ("weight_decay", F, 16),
        ("bias_correction1", F, 20),
        ("bias_correction2_sqrt", F, 24),
        ("decoupled", U, 28),
    ];
    const SIZE: usize = 32;
}

impl Mirror for LstmStep {
    const NAME: &'static str = "LstmStep";
    const FILE: &'static str = "lstm";
    const FIELDS: &'static [(&'static str, &'static str, usize)] =
        &[("batch", U, 0), ("steps", U, 4), ("hidden", U, 8), ("t", U, 12), ("prev_t", U, 16), ("has_prev", U, 20)];
    const SIZE: usize = 24;
}

impl Mirror for NnDims {
    const NAME: &'static str = "NnDims";
    const FILE: &'static str = "neighbours";
    const FIELDS: &'static [(&'static str, &'static str, usize)] =
        &[("positions", U, 0), ("vocab", U, 4), ("dim", U, 8), ("k", U, 12), ("split_len", U, 16), ("splits", U, 20)];
    const SIZE: usize = 24;
}

impl Mirror for HotflipDims {
    const NAME: &'static str = "HotflipDims";
    const FILE: &'static str = "hotflip_score";
    const FIELDS: &'static [(&'static str, &'static str, usize)] =
        &[("entries", U, 0), ("words", U, 4), ("positions", U, 8), ("dim", U, 12), ("vocab", U, 16), ("cap", U, 20)];
    const SIZE: usize = 24;
}

#[cfg(test)]
mod tests {
    use std::mem::{offset_of, size_of};

    use super::*;
    use crate::cuda::registry;

    /// The fields of `struct NAME { ... };` in a kernel file, as (name, C
    /// type with `HF_MAX_DIMS` spelled out), comments removed.
    fn c_fields(file: &str, name: &str) -> Vec<(String, String)> {
        let src = registry::file(file).unwrap().source;
        let start = src.find(&format!("struct {name} {{")).unwrap_or_else(|| panic!("no struct {name} in {file}.cu"));
        let body = &src[start..];
        let body = &body[body.find('{').unwrap() + 1..body.find("};").unwrap()];
        body.lines()
            .map(|l| l.split("//").next().unwrap().trim())
            .filter(|l| !l.is_empty())
            .map(|l| {
                let decl = l.trim_end_matches(';').replace("HF_MAX_DIMS", &MAX_DIMS.to_string());
                let (ty, field) = decl.rsplit_once(' ').unwrap();
                match field.split_once('[') {
                    Some((f, n)) => (f.to_string(), format!("{}[{}", ty.trim(), n)),
                    None => (field.to_string(), ty.trim().to_string()),
                }
            })
            .collect()
    }

    fn check<T: Mirror>(rust_offsets: &[usize]) {
        let c = c_fields(T::FILE, T::NAME);
        let want: Vec<(String, String)> = T::FIELDS.iter().map(|(f, t, _)| (f.to_string(), t.to_string())).collect();
        assert_eq!(c, want, "{}: kernels/{}.cu and Mirror::FIELDS disagree", T::NAME, T::FILE);
        let offsets: Vec<usize> = T::FIELDS.iter().map(|f| f.2).collect();
        assert_eq!(offsets, rust_offsets, "{}: Rust layout", T::NAME);
        // C's natural layout of those types gives the same offsets.
        let mut at = 0usize;
        for (field, ty, off) in T::FIELDS {
            let (elem, count) = match ty.split_once('[') {
                Some((e, n)) => (e, n.trim_end_matches(']').parse::<usize>().unwrap()),
                None => (*ty, 1),
            };
            let size = match elem {
                "unsigned int" | "float" => 4,
                "unsigned long long" => 8,
                other => panic!("{field}: unexpected C type {other}"),
            };
            at = at.next_multiple_of(size);
            assert_eq!(at, *off, "{}.{field}: C offset", T::NAME);
            at += size * count;
        }
        assert_eq!(at, T::SIZE, "{}: C size", T::NAME);
        let src = registry::file(T::FILE).unwrap().source;
        assert!(
            src.contains(&format!("static_assert(sizeof({}) == {}", T::NAME, T::SIZE)),
            "{}: sizeof assert",
            T::NAME
        );
    }

    #[test]
    fn structs_mirror_their_kernel_files() {
        assert_eq!(size_of::<Broadcast>(), Broadcast::SIZE);
        check::<Broadcast>(&[
            offset_of!(Broadcast, rank),
            offset_of!(Broadcast, pad0),
            offset_of!(Broadcast, numel),
            offset_of!(Broadcast, dims),
            offset_of!(Broadcast, a_strides),
            offset_of!(Broadcast, b_strides),
        ]);
        assert_eq!(size_of::<ReduceToShape>(), ReduceToShape::SIZE);
        check::<ReduceToShape>(&[
            offset_of!(ReduceToShape, rank),
            offset_of!(ReduceToShape, pad0),
            offset_of!(ReduceToShape, numel),
            offset_of!(ReduceToShape, dims),
            offset_of!(ReduceToShape, target_strides),
            offset_of!(ReduceToShape, src_strides),
        ]);
        assert_eq!(size_of::<SgdParams>(), SgdParams::SIZE);
        check::<SgdParams>(&[
            offset_of!(SgdParams, lr),
            offset_of!(SgdParams, momentum),
            offset_of!(SgdParams, dampening),
            offset_of!(SgdParams, weight_decay),
            offset_of!(SgdParams, nesterov),
            offset_of!(SgdParams, first_step),
        ]);
        assert_eq!(size_of::<AdamParams>(), AdamParams::SIZE);
        check::<AdamParams>(&[
            offset_of!(AdamParams, lr),
            offset_of!(AdamParams, beta1),
            offset_of!(AdamParams, beta2),
            offset_of!(AdamParams, eps),
            offset_of!(AdamParams, weight_decay),
            offset_of!(AdamParams, bias_correction1),
            offset_of!(AdamParams, bias_correction2_sqrt),
            offset_of!(AdamParams, decoupled),
        ]);
        assert_eq!(size_of::<LstmStep>(), LstmStep::SIZE);
        check::<LstmStep>(&[
            offset_of!(LstmStep, batch),
            offset_of!(LstmStep, steps),
            offset_of!(LstmStep, hidden),
            offset_of!(LstmStep, t),
            offset_of!(LstmStep, prev_t),
            offset_of!(LstmStep, has_prev),
        ]);
        assert_eq!(size_of::<NnDims>(), NnDims::SIZE);
        check::<NnDims>(&[
            offset_of!(NnDims, positions),
            offset_of!(NnDims, vocab),
            offset_of!(NnDims, dim),
            offset_of!(NnDims, k),
            offset_of!(NnDims, split_len),
            offset_of!(NnDims, splits),
        ]);
        assert_eq!(size_of::<HotflipDims>(), HotflipDims::SIZE);
        check::<HotflipDims>(&[
            offset_of!(HotflipDims, entries),
            offset_of!(HotflipDims, words),
            offset_of!(HotflipDims, positions),
            offset_of!(HotflipDims, dim),
            offset_of!(HotflipDims, vocab),
            offset_of!(HotflipDims, cap),
        ]);
    }
}
