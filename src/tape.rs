//! The reverse-mode tape.
//!
//! A `Tape` records every op's output value and a boxed backward closure; a
//! `Var` is an index into it. `Tape::backward` consumes the tape, replays the
//! closures in reverse order and frees each one as it goes, so the graph's
//! memory is gone once gradients exist. Gradients are kept for leaves (model
//! parameters, inputs made with `leaf`) and for intermediate values marked with
//! `retain_grad` (HotFlip needs dLoss/dEmbedding of one input, iAdvT the
//! gradient at the embedded sequence); the rest are dropped as soon as they
//! have been propagated.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};
use crate::profile;
use crate::tensor::Tensor;

static NEXT_TAPE_ID: AtomicU64 = AtomicU64::new(1);

/// A value recorded on a tape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Var {
    tape: u64,
    id: usize,
}

impl Var {
    /// The position of the value on its tape.
    pub fn index(self) -> usize {
        self.id
    }
}

/// A backward rule: given dLoss/dOutput, add dLoss/dInput for each parent.
pub type BackwardFn = Box<dyn FnOnce(&Tensor, &mut GradSink<'_>) -> Result<()>>;

struct Node {
    op: &'static str,
    value: Tensor,
    requires_grad: bool,
    keep_grad: bool,
    backward: Option<BackwardFn>,
}

/// Records ops on [`Var`]s as they run; [`Tape::backward`] then returns the
/// gradients of a scalar with respect to every leaf.
///
/// ```
/// use hotflip::{Tape, Tensor};
///
/// let tape = Tape::new();
/// let x = tape.leaf(Tensor::new(&[3], vec![1.0, 2.0, 3.0])?);
/// let y = tape.mul(x, x)?; // x²
/// let loss = tape.sum(y)?; // Σ x²
/// let grads = tape.backward(loss)?;
/// assert_eq!(grads.get(x).unwrap().data(), &[2.0, 4.0, 6.0]); // 2x
/// # Ok::<(), hotflip::Error>(())
/// ```
pub struct Tape {
    id: u64,
    grad_enabled: bool,
    nodes: RefCell<Vec<Node>>,
    /// When profiling: the time of the last recorded op.
    last: std::cell::Cell<Option<std::time::Instant>>,
}

impl Default for Tape {
    fn default() -> Self {
        Tape::new()
    }
}

impl Tape {
    /// A tape that records backward rules.
    pub fn new() -> Self {
        let last = std::cell::Cell::new(profile::enabled().then(std::time::Instant::now));
        Tape {
            id: NEXT_TAPE_ID.fetch_add(1, Ordering::Relaxed),
            grad_enabled: true,
            nodes: RefCell::new(Vec::new()),
            last,
        }
    }

    /// A tape for inference: values only, no closures, no gradients.
    pub fn no_grad() -> Self {
        Tape { grad_enabled: false, ..Tape::new() }
    }

    /// Whether ops record backward rules (false for [`Tape::no_grad`]).
    pub fn grad_enabled(&self) -> bool {
        self.grad_enabled
    }

    /// The number of values recorded.
    pub fn len(&self) -> usize {
        self.nodes.borrow().len()
    }

    /// Nothing recorded yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn push(&self, node: Node) -> Var {
        if let Some(t0) = self.last.get() {
            let now = std::time::Instant::now();
            profile::add_forward(node.op, now - t0);
            self.last.set(Some(now));
        }
        let mut nodes = self.nodes.borrow_mut();
        nodes.push(node);
        Var { tape: self.id, id: nodes.len() - 1 }
    }

    /// A value no gradient flows into (data, labels, masks).
    pub fn constant(&self, value: Tensor) -> Var {
        self.push(Node { op: "constant", value, requires_grad: false, keep_grad: false, backward: None })
    }

    /// A value whose gradient is wanted (a parameter, a perturbation). On a
    /// no-grad tape it is a constant.
    pub fn leaf(&self, value: Tensor) -> Var {
        self.push(Node { op: "leaf", value, requires_grad: self.grad_enabled, keep_grad: true, backward: None })
    }

    fn check(&self, v: Var) -> Result<()> {
        if v.tape != self.id {
            return Err(Error::ForeignVar { id: v.id, var_tape: v.tape, tape: self.id });
        }
        Ok(())
    }

    /// The value of `v` (shares storage; cheap).
    pub fn value(&self, v: Var) -> Result<Tensor> {
        self.check(v)?;
        Ok(self.nodes.borrow()[v.id].value.clone())
    }

    /// The shape of `v`'s value.
    pub fn shape(&self, v: Var) -> Result<Vec<usize>> {
        self.check(v)?;
        Ok(self.nodes.borrow()[v.id].value.shape().to_vec())
    }

    /// Whether a gradient flows into `v`.
    pub fn requires_grad(&self, v: Var) -> bool {
        v.tape == self.id && self.nodes.borrow()[v.id].requires_grad
    }

    /// Keep the gradient of an intermediate value after `backward`.
    pub fn retain_grad(&self, v: Var) -> Result<()> {
        self.check(v)?;
        let mut nodes = self.nodes.borrow_mut();
        nodes[v.id].keep_grad = true;
        Ok(())
    }

    /// The same value, cut off from the graph (VAT's clean prediction).
    pub fn detach(&self, v: Var) -> Result<Var> {
        Ok(self.constant(self.value(v)?))
    }

    /// Records an op's output. The closure is kept only if some parent needs
    /// a gradient; it must add exactly one gradient of the parent's shape to
    /// each parent for which `GradSink::wants` is true.
    pub(crate) fn record<F>(&self, op: &'static str, value: Tensor, parents: &[Var], backward: F) -> Result<Var>
    where
        F: FnOnce(&Tensor, &mut GradSink<'_>) -> Result<()> + 'static,
    {
        for &p in parents {
            self.check(p)?;
        }
        let requires_grad = self.grad_enabled && {
            let nodes = self.nodes.borrow();
            parents.iter().any(|p| nodes[p.id].requires_grad)
        };
        Ok(self.push(Node {
            op,
            value,
            requires_grad,
            keep_grad: false,
            backward: if requires_grad { Some(Box::new(backward)) } else { None },
        }))
    }

    /// Back-propagates from a scalar loss.
    pub fn backward(self, loss: Var) -> Result<Gradients> {
        let shape = self.shape(loss)?;
        if shape.iter().product::<usize>() != 1 {
            return Err(Error::Backward(format!(
                "the root must be a scalar, got shape {shape:?}; use backward_with for a seed gradient"
            )));
        }
        self.backward_with(loss, Tensor::full(&shape, 1.0))
    }

    /// Back-propagates `seed` = dLoss/dRoot from `root`.
    pub fn backward_with(self, root: Var, seed: Tensor) -> Result<Gradients> {
        self.check(root)?;
        if !self.grad_enabled {
            return Err(Error::Backward("this tape was made with Tape::no_grad".into()));
        }
        let nodes = self.nodes.into_inner();
        if seed.shape() != nodes[root.id].value.shape() {
            return Err(Error::shapes("backward seed", seed.shape(), nodes[root.id].value.shape()));
        }
        let n = root.id + 1;
        let mut meta = Vec::with_capacity(n);
        let mut closures = Vec::with_capacity(n);
        // Values are dropped here: each closure captured what it needs.
        for node in nodes.into_iter().take(n) {
            meta.push(NodeMeta { op: node.op, shape: node.value.shape().to_vec(), requires_grad: node.requires_grad });
            closures.push((node.backward, node.keep_grad));
        }
        let mut grads: Vec<Option<Tensor>> = vec![None; n];
        if meta[root.id].requires_grad {
            grads[root.id] = Some(seed);
        }
        for id in (0..n).rev() {
            let (backward, keep) = (closures[id].0.take(), closures[id].1);
            if let (Some(f), Some(g)) = (backward, &grads[id]) {
                let g = if keep { g.clone() } else { grads[id].take().expect("checked above") };
                let mut sink = GradSink { tape: self.id, meta: &meta, grads: &mut grads[..id], from: meta[id].op };
                let t0 = self.last.get().map(|_| std::time::Instant::now());
                f(&g, &mut sink)?;
                if let Some(t0) = t0 {
                    profile::add_backward(meta[id].op, t0.elapsed());
                }
            } else if !keep {
                grads[id] = None;
            }
        }
        Ok(Gradients { tape: self.id, grads })
    }
}

struct NodeMeta {
    op: &'static str,
    shape: Vec<usize>,
    requires_grad: bool,
}

/// Where a backward rule deposits its parents' gradients.
pub struct GradSink<'a> {
    tape: u64,
    meta: &'a [NodeMeta],
    grads: &'a mut [Option<Tensor>],
    from: &'static str,
}

impl GradSink<'_> {
    /// Whether `v` needs a gradient (skip computing one it would discard).
    pub fn wants(&self, v: Var) -> bool {
        v.tape == self.tape && v.id < self.grads.len() && self.meta[v.id].requires_grad
    }

    /// Accumulates `g` into the gradient of `v`.
    pub fn add(&mut self, v: Var, g: Tensor) -> Result<()> {
        if !self.wants(v) {
            return Ok(());
        }
        if g.shape() != self.meta[v.id].shape.as_slice() {
            return Err(Error::Backward(format!(
                "{} produced a gradient of shape {:?} for a `{}` value of shape {:?}",
                self.from,
                g.shape(),
                self.meta[v.id].op,
                self.meta[v.id].shape
            )));
        }
        match &mut self.grads[v.id] {
            slot @ None => *slot = Some(g),
            Some(acc) => crate::cpu::add_assign(acc.data_mut(), g.data()),
        }
        Ok(())
    }
}

/// Gradients left after `Tape::backward`: leaves and retained values.
pub struct Gradients {
    tape: u64,
    grads: Vec<Option<Tensor>>,
}

impl Gradients {
    /// dLoss/dv, or `None` if `v` did not influence the loss or was not kept.
    pub fn get(&self, v: Var) -> Option<&Tensor> {
        if v.tape != self.tape {
            return None;
        }
        self.grads.get(v.id).and_then(|g| g.as_ref())
    }

    /// Moves the gradient of `v` out (none if it has none).
    pub fn take(&mut self, v: Var) -> Option<Tensor> {
        if v.tape != self.tape {
            return None;
        }
        self.grads.get_mut(v.id).and_then(|g| g.take())
    }
}
