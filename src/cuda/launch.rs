//! A kernel launch's arguments, independent of the device that runs it:
//! the launchers build them the same way for a GPU (cudarc pushes them) and
//! for the emulated device (the emulator receives them as bytes), so the
//! emulator runs exactly the launches a GPU would.

use cudarc::driver::{DeviceRepr, LaunchArgs, PushKernelArg};

use super::buffer::{DevMem, DeviceBuf};
use super::params;
use crate::error::{Error, Result};

/// Largest by-value parameter (the broadcast structs are 160 bytes).
const BLOB: usize = 192;

/// A by-value parameter's bytes at offset 0 of an aligned block: a pointer
/// to the block is what the driver copies the parameter from.
#[repr(C, align(16))]
#[derive(Clone, Copy)]
pub(crate) struct Blob {
    pub(crate) bytes: [u8; BLOB],
    pub(crate) len: usize,
}

// SAFETY: plain bytes; the driver copies the parameter's size from offset 0.
unsafe impl DeviceRepr for Blob {}

impl Blob {
    fn of<T: KernelValue>(v: &T) -> Blob {
        let n = std::mem::size_of::<T>();
        assert!(n <= BLOB, "a {n}-byte kernel parameter exceeds the {BLOB} bytes a launch argument holds");
        let mut bytes = [0u8; BLOB];
        // SAFETY: KernelValue types are plain data without padding.
        let src = unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), n) };
        bytes[..n].copy_from_slice(src);
        Blob { bytes, len: n }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// Types a kernel takes by value: scalars and the parameter structs.
pub(crate) trait KernelValue: Copy {}
impl KernelValue for u32 {}
impl KernelValue for u64 {}
impl KernelValue for i32 {}
impl KernelValue for f32 {}
impl KernelValue for f64 {}
impl KernelValue for params::Broadcast {}
impl KernelValue for params::ReduceToShape {}
impl KernelValue for params::SgdParams {}
impl KernelValue for params::AdamParams {}
impl KernelValue for params::LstmStep {}
impl KernelValue for params::NnDims {}
impl KernelValue for params::HotflipDims {}

pub(crate) enum Arg<'a> {
    /// A buffer the kernel reads.
    In(&'a dyn DevMem),
    /// A buffer the kernel may write.
    Out(&'a mut dyn DevMem),
    Value(Blob),
}

/// A launch's arguments, in the kernel's parameter order.
#[derive(Default)]
pub struct Args<'a> {
    pub(crate) list: Vec<Arg<'a>>,
}

/// What [`Args::arg`] accepts.
pub(crate) trait IntoArg<'a> {
    fn into_arg(self) -> Arg<'a>;
}

impl<'a, T: DeviceRepr> IntoArg<'a> for &'a DeviceBuf<T> {
    fn into_arg(self) -> Arg<'a> {
        Arg::In(self)
    }
}

impl<'a, T: DeviceRepr> IntoArg<'a> for &'a mut DeviceBuf<T> {
    fn into_arg(self) -> Arg<'a> {
        Arg::Out(self)
    }
}

impl<'a, 'b: 'a, T: DeviceRepr> IntoArg<'a> for &'a &'b DeviceBuf<T> {
    fn into_arg(self) -> Arg<'a> {
        Arg::In(*self)
    }
}

impl<'a, 'b: 'a, T: DeviceRepr> IntoArg<'a> for &'a mut &'b mut DeviceBuf<T> {
    fn into_arg(self) -> Arg<'a> {
        Arg::Out(&mut **self)
    }
}

impl<'a, T: KernelValue> IntoArg<'a> for &T {
    fn into_arg(self) -> Arg<'a> {
        Arg::Value(Blob::of(self))
    }
}

impl<'a> Args<'a> {
    #[allow(private_bounds)]
    pub fn arg(&mut self, a: impl IntoArg<'a>) -> &mut Self {
        self.list.push(a.into_arg());
        self
    }

    /// Pushes every argument onto cudarc's launch builder.
    pub(crate) fn push_cuda<'b>(&'b mut self, b: &mut LaunchArgs<'b>) -> Result<()>
    where
        'a: 'b,
    {
        for a in self.list.iter_mut() {
            match a {
                Arg::In(m) => m.push(b)?,
                Arg::Out(m) => m.push_mut(b)?,
                Arg::Value(v) => {
                    b.arg(&*v);
                }
            }
        }
        Ok(())
    }
}

/// A launch's shape: a 1-D or 2-D grid of 1-D blocks.
pub(crate) fn check_shape(op: &'static str, grid: (u32, u32, u32), block: (u32, u32, u32)) -> Result<()> {
    if grid.2 != 1 || block.1 != 1 || block.2 != 1 {
        return Err(Error::invalid(op, "the emulator runs 1-D blocks on 1-D or 2-D grids".to_string()));
    }
    Ok(())
}
