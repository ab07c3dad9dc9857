//! Named model parameters, in PyTorch's naming, and their binding to a tape.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::tape::{Gradients, Tape, Var};
use crate::tensor::Tensor;

/// Handle to one parameter of a `ParamStore`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ParamId(usize);

impl ParamId {
    /// Position in the store (store order).
    pub fn index(self) -> usize {
        self.0
    }
}

/// Parameters in insertion order (the order of the safetensors file),
/// addressable by id or by PyTorch name.
#[derive(Clone, Debug, Default)]
pub struct ParamStore {
    names: Vec<String>,
    tensors: Vec<Tensor>,
    /// False for buffers (saved with the model, never trained).
    trainable: Vec<bool>,
    by_name: HashMap<String, usize>,
}

impl ParamStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a trainable parameter; a name may be defined once.
    pub fn add(&mut self, name: &str, value: Tensor) -> Result<ParamId> {
        self.insert(name, value, true)
    }

    /// A tensor saved with the model but never trained (e.g. `embedding.freq`).
    pub fn add_buffer(&mut self, name: &str, value: Tensor) -> Result<ParamId> {
        self.insert(name, value, false)
    }

    /// Whether the optimiser updates it (buffers are not).
    pub fn trainable(&self, id: ParamId) -> bool {
        self.trainable[id.0]
    }

    fn insert(&mut self, name: &str, value: Tensor, trainable: bool) -> Result<ParamId> {
        if self.by_name.contains_key(name) {
            return Err(Error::Param { name: name.into(), msg: "defined twice".into() });
        }
        self.by_name.insert(name.into(), self.names.len());
        self.names.push(name.into());
        self.tensors.push(value);
        self.trainable.push(trainable);
        Ok(ParamId(self.names.len() - 1))
    }

    /// Parameters and buffers held.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Total number of trainable scalars.
    pub fn num_values(&self) -> usize {
        self.tensors.iter().zip(&self.trainable).filter(|(_, &t)| t).map(|(t, _)| t.numel()).sum()
    }

    /// Every id, in store order.
    pub fn ids(&self) -> impl Iterator<Item = ParamId> {
        (0..self.names.len()).map(ParamId)
    }

    /// The PyTorch-style name (`classifier.weight`).
    pub fn name(&self, id: ParamId) -> &str {
        &self.names[id.0]
    }

    /// The current value.
    pub fn get(&self, id: ParamId) -> &Tensor {
        &self.tensors[id.0]
    }

    /// The current value, mutable (optimisers update in place).
    pub fn get_mut(&mut self, id: ParamId) -> &mut Tensor {
        &mut self.tensors[id.0]
    }

    /// The id of `name`, if defined.
    pub fn id(&self, name: &str) -> Option<ParamId> {
        self.by_name.get(name).copied().map(ParamId)
    }

    /// The value of `name`; an error naming it if undefined.
    pub fn by_name(&self, name: &str) -> Result<&Tensor> {
        self.id(name)
            .map(|id| self.get(id))
            .ok_or_else(|| Error::Param { name: name.into(), msg: "no such parameter".into() })
    }

    /// Replaces a parameter's value; the shape must not change.
    pub fn set(&mut self, id: ParamId, value: Tensor) -> Result<()> {
        let old = &self.tensors[id.0];
        if old.shape() != value.shape() {
            return Err(Error::Param {
                name: self.names[id.0].clone(),
                msg: format!("expected shape {:?}, got {:?}", old.shape(), value.shape()),
            });
        }
        self.tensors[id.0] = value;
        Ok(())
    }

    /// `(name, value)` in store order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Tensor)> {
        self.names.iter().map(String::as_str).zip(self.tensors.iter())
    }
}

/// A store's parameters as vars on one tape (leaves on a grad tape,
/// constants on a no-grad tape).
pub struct Bound {
    vars: Vec<Var>,
}

impl Bound {
    /// Vars in store order, bound by the caller (gradient checks perturb
    /// parameters this way).
    pub fn from_vars(vars: Vec<Var>) -> Self {
        Bound { vars }
    }

    /// The tape variable bound to `id`.
    pub fn var(&self, id: ParamId) -> Var {
        self.vars[id.0]
    }

    /// Each parameter's gradient, in store order (`None` if it did not
    /// influence the loss).
    pub fn grads<'g>(&self, grads: &'g Gradients) -> Vec<Option<&'g Tensor>> {
        self.vars.iter().map(|&v| grads.get(v)).collect()
    }
}

impl Tape {
    /// Every parameter as a constant: for passes that differentiate with
    /// respect to inputs only (attacks), so no weight gradient is computed.
    pub fn bind_frozen(&self, store: &ParamStore) -> Bound {
        Bound { vars: store.tensors.iter().map(|t| self.constant(t.clone())).collect() }
    }

    /// Every parameter as a leaf (buffers as constants): for training passes, whose weights get gradients.
    pub fn bind(&self, store: &ParamStore) -> Bound {
        Bound {
            vars: store
                .tensors
                .iter()
                .zip(&store.trainable)
                .map(|(t, &train)| if train { self.leaf(t.clone()) } else { self.constant(t.clone()) })
                .collect(),
        }
    }
}
