//! The engine's device seam: a narrow interface of coarse, fused primitives
//! (after candle's `BackendDevice`/`BackendStorage` and dfdx's per-op
//! `cpu_kernel`/`cuda_kernel` split), with storage that lives on the CPU
//! or on a device.
//!
//! - [`Storage`]: f32 values on the host (`Cpu`) or in a device buffer
//!   (`Cuda`, on a GPU or on the emulated device).
//! - [`Device`]: the primitives. [`CpuDevice`] (the default) runs the CPU
//!   kernels the tape's ops use; [`CudaDevice`] runs the launchers of
//!   `cuda::ops`, so values stay on the device between primitives and only
//!   what a caller asks for comes back.
//! - `CudaDevice::new(Arc::new(Gpu::emulated()?))` is the same code on the
//!   emulated device: the kernels' sources run on the CPU, so the device
//!   side's buffers and launches are tested in `cargo test` without a GPU
//!   (tests/backend_seam.rs compares every primitive with the CPU device).
//!
//! The coarse layers are primitives too: one LSTM direction
//! ([`Device::lstm_fwd`]/[`Device::lstm_bwd`]: on a GPU the input
//! projection as one GEMM, then per step a strided GEMM into the gate rows
//! and one `lstm_cell_*` launch) and the fused char-CNN features
//! ([`Device::char_conv_fwd`]/[`Device::char_conv_bwd`]: per width im2col,
//! GEMM and the `conv_max_tanh_*` pooling), and word_cnn's convolutions
//! ([`Device::word_conv_fwd`]/[`Device::word_conv_bwd`]: the same with
//! `conv_max_relu_*`, over each sentence's valid windows). The CPU device runs the tape's
//! own ops for them (`Tape::lstm_layer`, `Tape::char_conv_features`), so the
//! comparison in tests/backend_seam.rs is against the engine itself. A
//! model built from these primitives runs on either device
//! (`models::device`).
//!
//! What it is not (yet): the tape still records `Tensor`s (host `Vec<f32>`)
//! and calls the CPU kernels directly; models run on a device through
//! `models::device`, not through the tape.
//!
//! Nothing here imports `attack`, `adv` or `train`.

mod cpu;
mod cpu_layers;
mod cuda;
mod cuda_layers;
mod cuda_neighbours;
mod cuda_word_conv;

pub use cpu::CpuDevice;
pub use cuda::CudaDevice;

use crate::cuda::buffer::DeviceBuf;
use crate::cuda::params::AdamParams;
use crate::error::{Error, Result};
use crate::ops::neighbours::{AlphaScope, IadvtConfig};
use crate::ops::{BinaryKind, Unary};

/// f32 values, on the host or on a device.
pub enum Storage {
    /// Host memory.
    Cpu(Vec<f32>),
    /// Device memory of a GPU.
    Cuda(DeviceBuf<f32>),
}

impl Storage {
    /// Values held.
    pub fn len(&self) -> usize {
        match self {
            Storage::Cpu(v) => v.len(),
            Storage::Cuda(b) => b.len(),
        }
    }

    /// Whether no value is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Where the values live: `"cpu"` or `"cuda"`, for error messages.
    pub fn location(&self) -> &'static str {
        match self {
            Storage::Cpu(_) => "cpu",
            Storage::Cuda(_) => "cuda",
        }
    }
}

/// A matrix product's operands: `a [m, k]` (or its transpose stored as
/// `[k, m]` when `ta`), `b [k, n]` (or stored `[n, k]` when `tb`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gemm {
    /// Rows of the product.
    pub m: usize,
    /// The contracted dimension.
    pub k: usize,
    /// Columns of the product.
    pub n: usize,
    /// `a` is stored transposed.
    pub ta: bool,
    /// `b` is stored transposed.
    pub tb: bool,
}

/// One LSTM direction over a padded batch (batch-major, as the tape's
/// `lstm_layer`): `x [batch, steps, n_in]` → `[batch, steps, hidden]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LstmShape {
    /// Sequences `B`.
    pub batch: usize,
    /// Time steps `T` (the padded length).
    pub steps: usize,
    /// Input features per step.
    pub n_in: usize,
    /// Hidden units `H`.
    pub hidden: usize,
    /// Right to left.
    pub reverse: bool,
}

/// One LSTM direction's weights on a device: `w_ih [4H, n_in]`, `w_hh
/// [4H, H]`, `bias [4H]` (PyTorch's `b_ih + b_hh`, added once).
#[derive(Clone, Copy)]
pub struct LstmParams<'a> {
    /// `[4H, n_in]`.
    pub w_ih: &'a Storage,
    /// `[4H, H]`.
    pub w_hh: &'a Storage,
    /// `[4H]`.
    pub bias: &'a Storage,
}

/// What a forward primitive keeps for its backward, on the device that
/// ran it (nothing on the CPU device, which recomputes through the tape).
#[derive(Default)]
pub struct Saved {
    pub(crate) f32s: Vec<Storage>,
    pub(crate) u32s: Vec<DeviceBuf<u32>>,
}

/// A layer's input gradient and, when asked for, its weights' gradients.
pub struct LayerGrads {
    /// dLoss/dx, the input's shape.
    pub dx: Storage,
    /// In the order the primitive takes its weights (LSTM: `w_ih`, `w_hh`,
    /// `bias`; char-CNN: `weight`, `bias` per kernel).
    pub weights: Option<Vec<Storage>>,
}

/// One kernel width of the char-CNN features: `weight [filters, dim,
/// width]`, `bias [filters]`.
#[derive(Clone, Copy)]
pub struct ConvKernel<'a> {
    /// `[filters, dim, width]`.
    pub weight: &'a Storage,
    /// `[filters]`.
    pub bias: &'a Storage,
    /// Output features of this width.
    pub filters: usize,
    /// Characters per window.
    pub width: usize,
}

/// The char-CNN features' input: `words` words of `positions` characters of
/// `dim` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CharConvShape {
    /// Words `N`.
    pub words: usize,
    /// Characters per word `L`.
    pub positions: usize,
    /// Embedding width `C`.
    pub dim: usize,
}

/// word_cnn's convolutions (`Device::word_conv_fwd`): `x [B, T, D]`, per
/// kernel a narrow convolution plus bias, relu, and the max over each
/// sentence's valid windows, into `[B, ΣF_i]` (the tape's `conv1d` →
/// `relu` → `max_over_valid` → `concat`, as `models::WordCnn` builds it).
#[derive(Clone, Copy)]
pub struct WordConvArgs<'a> {
    /// The embedded words `[B, T, D]`.
    pub x: &'a Storage,
    /// `B`, `T` and `D` (`words` = B sentences, `positions` = T words).
    pub shape: CharConvShape,
    /// Per width `[filters, D, width]` and `[filters]`.
    pub kernels: &'a [ConvKernel<'a>],
    /// Words that count per sentence `[B]`, each between the widest kernel
    /// and `T`: width `w` pools over the first `len − w + 1` windows.
    pub lengths: &'a [usize],
}

impl WordConvArgs<'_> {
    /// Checks sizes and lengths; returns the total filters `ΣF_i`.
    pub(crate) fn check(&self, op: &'static str) -> Result<usize> {
        let ftot = self.shape.check(op, self.x, self.kernels)?;
        expect_len(op, "lengths", self.lengths.len(), self.shape.words)?;
        let widest = self.kernels.iter().map(|k| k.width).max().unwrap_or(1);
        if let Some(&l) = self.lengths.iter().find(|&&l| l < widest || l > self.shape.positions) {
            return Err(Error::invalid(
                op,
                format!("a sentence of {l} words: need {widest}..={} (the widest kernel, T)", self.shape.positions),
            ));
        }
        Ok(ftot)
    }

    /// Windows that count for width `width`, per sentence.
    pub(crate) fn valid(&self, width: usize) -> Vec<usize> {
        self.lengths.iter().map(|&l| l + 1 - width).collect()
    }
}

/// iAdvT's inputs (`ops::neighbours::iadvt`): `P` real positions of
/// `lengths.len()` examples, the table the words were looked up in.
#[derive(Clone, Copy)]
pub struct IadvtArgs<'a> {
    /// `[vocab, dim]`: the candidates.
    pub table: &'a Storage,
    /// Rows of the table `V`.
    pub vocab: usize,
    /// Embedding width `D`.
    pub dim: usize,
    /// The word at each position, `[P]`.
    pub ids: &'a [usize],
    /// The embedded words, `[P, D]`.
    pub w: &'a Storage,
    /// The loss gradient at them, `[P, D]`.
    pub g: &'a Storage,
    /// Positions per example (summing to `P`).
    pub lengths: &'a [usize],
    /// K, ε and α's scope.
    pub cfg: IadvtConfig,
}

impl IadvtArgs<'_> {
    pub(crate) fn check(&self, op: &'static str) -> Result<()> {
        let p = self.ids.len();
        expect_len(op, "table", self.table.len(), self.vocab * self.dim)?;
        expect_len(op, "w", self.w.len(), p * self.dim)?;
        expect_len(op, "g", self.g.len(), p * self.dim)?;
        check_ids(op, self.ids, self.vocab)
    }
}

/// The K nearest words of P positions (`Device::nn_search`), kept where
/// they were found, for projections and perturbations along their unit
/// directions (iVAT: one search, a random α, a gradient, a chosen α).
pub struct NearestWords {
    pub(crate) k: usize,
    pub(crate) positions: usize,
    pub(crate) at: NearestAt,
}

pub(crate) enum NearestAt {
    /// The ids `[P, K]` (the CPU functions recompute the norms).
    Cpu(Vec<usize>),
    /// The plan, ids `[P, K]` and inverse direction norms `[P, K]`.
    Cuda { dims: crate::cuda::params::NnDims, ids: DeviceBuf<u32>, inv: DeviceBuf<f64> },
}

impl NearestWords {
    /// K.
    pub fn k(&self) -> usize {
        self.k
    }

    /// P.
    pub fn positions(&self) -> usize {
        self.positions
    }
}

/// The words whose neighbours `Device::nn_search` finds and along whose
/// directions `nn_project`/`nn_perturb` work.
#[derive(Clone, Copy)]
pub struct NearestArgs<'a> {
    /// `[vocab, dim]`: the candidates.
    pub table: &'a Storage,
    /// Rows of the table `V`.
    pub vocab: usize,
    /// Embedding width `D`.
    pub dim: usize,
    /// The word at each position, `[P]`.
    pub ids: &'a [usize],
    /// The embedded words, `[P, D]`.
    pub w: &'a Storage,
}

impl NearestArgs<'_> {
    pub(crate) fn check(&self, op: &'static str) -> Result<()> {
        expect_len(op, "table", self.table.len(), self.vocab * self.dim)?;
        expect_len(op, "w", self.w.len(), self.ids.len() * self.dim)?;
        check_ids(op, self.ids, self.vocab)
    }

    pub(crate) fn check_nearest(&self, op: &'static str, n: &NearestWords) -> Result<()> {
        self.check(op)?;
        expect_len(op, "positions", n.positions, self.ids.len())
    }
}

/// The primitives. Every method checks its lengths and returns an error
/// naming the primitive for storage of another device or a wrong size.
pub trait Device: Send + Sync {
    /// The backend's name for reports (`cpu`, or `cuda` and whether emulated).
    fn name(&self) -> &'static str;

    /// The GPU behind this device, for kernels that live beside their
    /// callers rather than behind this seam (the HotFlip scorer with the
    /// attack); `None` on the CPU.
    fn cuda_gpu(&self) -> Option<&std::sync::Arc<crate::cuda::Gpu>> {
        None
    }

    /// Host values onto this device.
    fn upload(&self, host: &[f32]) -> Result<Storage>;
    /// Values back to the host.
    fn to_host(&self, s: &Storage) -> Result<Vec<f32>>;

    /// `c = op(a)·op(b)`, `[m, n]`.
    fn gemm(&self, a: &Storage, b: &Storage, g: Gemm) -> Result<Storage>;

    /// Rows of `weight [vocab, dim]` at `ids` (each below `vocab`): `[N, dim]`.
    fn embedding_fwd(&self, weight: &Storage, vocab: usize, dim: usize, ids: &[usize]) -> Result<Storage>;
    /// dLoss/dweight `[vocab, dim]` from `g [N, dim]`: each row sums its
    /// positions in order; the padding row stays 0.
    fn embedding_bwd(
        &self,
        g: &Storage,
        vocab: usize,
        dim: usize,
        ids: &[usize],
        padding: Option<usize>,
    ) -> Result<Storage>;

    /// Fused log-softmax and weighted cross-entropy of `logits [rows, c]`:
    /// (log-softmax `[rows, c]`, per-row loss `[rows]`).
    fn cross_entropy(
        &self,
        logits: &Storage,
        c: usize,
        targets: &[usize],
        weights: &[f32],
    ) -> Result<(Storage, Storage)>;
    /// dLoss/dlogits from the saved log-softmax; `g` one value if `reduce`, else one per row.
    fn cross_entropy_bwd(
        &self,
        ls: &Storage,
        c: usize,
        targets: &[usize],
        weights: &[f32],
        g: &Storage,
        reduce: bool,
    ) -> Result<Storage>;

    /// Inverted dropout with the mask of (seed, p) (`ops::dropout::keep`).
    fn dropout(&self, x: &Storage, p: f32, seed: u64) -> Result<Storage>;

    /// The sum of every value, accumulated in f64.
    fn sum(&self, x: &Storage) -> Result<f32>;
    /// `c·x`, elementwise (gradient clipping's rescale).
    fn scale(&self, x: &Storage, c: f32) -> Result<Storage>;

    /// One Adam/AdamW step, in place.
    fn adam(&self, p: &AdamParams, param: &mut Storage, grad: &Storage, m: &mut Storage, v: &mut Storage)
        -> Result<()>;

    /// `x [rows, n_in] · wᵀ (+ bias)`, `w [n_out, n_in]`: `[rows, n_out]`,
    /// the bias in the accumulator first (as the tape's `linear`).
    fn linear(&self, x: &Storage, w: &Storage, bias: Option<&Storage>, dims: (usize, usize, usize)) -> Result<Storage>;
    /// `op(x)`, elementwise.
    fn unary(&self, op: Unary, x: &Storage) -> Result<Storage>;
    /// `op'(x, y) · g` for the op's input `x` and output `y`.
    fn unary_bwd(&self, op: Unary, x: &Storage, y: &Storage, g: &Storage) -> Result<Storage>;
    /// `a ∘ b` of two equal-length values.
    fn binary(&self, kind: BinaryKind, a: &Storage, b: &Storage) -> Result<Storage>;
    /// Column sums of `x [rows, cols]`: `[cols]` (a bias's gradient).
    fn col_sums(&self, x: &Storage, cols: usize) -> Result<Storage>;

    /// One LSTM direction: outputs `[B, T, H]` (0 at padded steps) and what
    /// its backward needs. `lengths[b] ≤ T`.
    fn lstm_fwd(&self, x: &Storage, w: LstmParams<'_>, lengths: &[usize], s: LstmShape) -> Result<(Storage, Saved)>;
    /// Its backward from `gy [B, T, H]` (`y` the forward's output); weight
    /// gradients if `need_w`.
    #[allow(clippy::too_many_arguments)]
    fn lstm_bwd(
        &self,
        x: &Storage,
        w: LstmParams<'_>,
        lengths: &[usize],
        s: LstmShape,
        saved: &Saved,
        y: &Storage,
        gy: &Storage,
        need_w: bool,
    ) -> Result<LayerGrads>;

    /// Kim et al.'s character features (`Tape::char_conv_features`): `x
    /// [N, L, C]` → `[N, ΣF_i]`, tanh of each width's max-pooled narrow
    /// convolution plus its bias.
    fn char_conv_fwd(&self, x: &Storage, s: CharConvShape, kernels: &[ConvKernel<'_>]) -> Result<(Storage, Saved)>;
    /// Its backward from `g [N, ΣF_i]` (`y` the forward's output).
    #[allow(clippy::too_many_arguments)]
    fn char_conv_bwd(
        &self,
        x: &Storage,
        s: CharConvShape,
        kernels: &[ConvKernel<'_>],
        saved: &Saved,
        y: &Storage,
        g: &Storage,
        need_w: bool,
    ) -> Result<LayerGrads>;

    /// word_cnn's features (see [`WordConvArgs`]): `[B, ΣF_i]`.
    fn word_conv_fwd(&self, a: WordConvArgs<'_>) -> Result<(Storage, Saved)>;
    /// Its backward from `g [B, ΣF_i]` (`y` the forward's output): dx
    /// `[B, T, D]` and with `need_w` per kernel its weight's and bias's
    /// gradients.
    fn word_conv_bwd(
        &self,
        a: WordConvArgs<'_>,
        saved: &Saved,
        y: &Storage,
        g: &Storage,
        need_w: bool,
    ) -> Result<LayerGrads>;

    /// iAdvT's perturbation `r [P, D]`: the K nearest words' unit
    /// directions at every position, weighted by α = ε ĝ/‖ĝ‖ over each
    /// group (`ops::neighbours::iadvt`; on a GPU the batched pipeline of
    /// kernels/neighbours.cu).
    fn iadvt(&self, a: IadvtArgs<'_>) -> Result<Storage>;

    /// The `k` nearest candidate words of each position
    /// (`ops::neighbours::nearest`), kept on this device.
    fn nn_search(&self, a: NearestArgs<'_>, k: usize) -> Result<NearestWords>;
    /// `ĝ [P, K] = g_t · d_{t,k}` along `n`'s unit directions, `g [P, D]`
    /// (`ops::neighbours::alpha_grad`).
    fn nn_project(&self, a: NearestArgs<'_>, n: &NearestWords, g: &Storage) -> Result<Storage>;
    /// `α [P, K] = ε ĝ/‖ĝ‖` over the groups of `lengths` in `scope`
    /// (`ops::neighbours::alpha`).
    fn nn_alpha(&self, ghat: &Storage, k: usize, lengths: &[usize], scope: AlphaScope, eps: f32) -> Result<Storage>;
    /// `r [P, D] = Σ_k α_{t,k} d_{t,k}` (`ops::neighbours::perturbation`).
    fn nn_perturb(&self, a: NearestArgs<'_>, n: &NearestWords, alpha: &Storage) -> Result<Storage>;
}

pub(crate) fn wrong_place(op: &'static str, s: &Storage, device: &str) -> Error {
    Error::invalid(op, format!("a {} value passed to the {device} device", s.location()))
}

pub(crate) fn expect_len(op: &'static str, what: &str, got: usize, want: usize) -> Result<()> {
    if got != want {
        return Err(Error::invalid(op, format!("{what} holds {got} values, {want} expected")));
    }
    Ok(())
}

pub(crate) fn check_ids(op: &'static str, ids: &[usize], bound: usize) -> Result<()> {
    match ids.iter().find(|&&i| i >= bound) {
        Some(&bad) => Err(Error::IndexOutOfRange { op, index: bad, size: bound }),
        None => Ok(()),
    }
}

impl LstmShape {
    pub(crate) fn check(&self, op: &'static str, x: &Storage, w: LstmParams<'_>, lengths: &[usize]) -> Result<()> {
        let (g4, h) = (4 * self.hidden, self.hidden);
        if self.batch == 0 || self.steps == 0 || self.hidden == 0 || self.n_in == 0 {
            return Err(Error::invalid(op, format!("{self:?}: every size must be positive")));
        }
        expect_len(op, "x", x.len(), self.batch * self.steps * self.n_in)?;
        expect_len(op, "w_ih", w.w_ih.len(), g4 * self.n_in)?;
        expect_len(op, "w_hh", w.w_hh.len(), g4 * h)?;
        expect_len(op, "bias", w.bias.len(), g4)?;
        expect_len(op, "lengths", lengths.len(), self.batch)?;
        if let Some(&l) = lengths.iter().find(|&&l| l > self.steps) {
            return Err(Error::invalid(op, format!("length {l} exceeds the {} time steps of the input", self.steps)));
        }
        Ok(())
    }

    pub(crate) fn out_len(&self) -> usize {
        self.batch * self.steps * self.hidden
    }
}

impl CharConvShape {
    /// Checks the input and kernels; returns the total filters `ΣF_i`.
    pub(crate) fn check(&self, op: &'static str, x: &Storage, kernels: &[ConvKernel<'_>]) -> Result<usize> {
        if kernels.is_empty() || self.dim == 0 {
            return Err(Error::invalid(op, format!("{self:?} with {} kernels", kernels.len())));
        }
        expect_len(op, "x", x.len(), self.words * self.positions * self.dim)?;
        for k in kernels {
            if k.width == 0 || k.width > self.positions || k.filters == 0 {
                return Err(Error::invalid(
                    op,
                    format!("kernel of width {} and {} filters on {} positions", k.width, k.filters, self.positions),
                ));
            }
            expect_len(op, "kernel weight", k.weight.len(), k.filters * self.dim * k.width)?;
            expect_len(op, "kernel bias", k.bias.len(), k.filters)?;
        }
        Ok(kernels.iter().map(|k| k.filters).sum())
    }
}
