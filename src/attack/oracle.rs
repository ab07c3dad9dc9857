//! Batched model evaluation for attacks: probabilities, the attack's loss
//! J per example, and (optionally) the gradient of J with respect to the
//! embedded input — one forward and at most one backward pass for a whole
//! stack of beam entries from many documents.

use crate::backend::Storage;
use crate::error::{Error, Result};
use crate::models::device::DeviceClassifier;
use crate::models::{Input, Mode, Model, Weights};
use crate::nn::ParamStore;
use crate::tape::Tape;
use crate::tensor::Tensor;

/// What the attack maximises for one example: `J = CE(x, label)`
/// (untargeted: push away from the true label), or `J = −CE(x, target)`
/// (targeted: pull towards the target).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Goal {
    /// The true class.
    pub label: usize,
    /// The class a targeted attack pulls towards (`None`: untargeted).
    pub target: Option<usize>,
}

impl Goal {
    /// The class whose cross-entropy J is built on, and J's sign.
    fn class_and_sign(&self) -> (usize, f32) {
        match self.target {
            Some(t) => (t, -1.0),
            None => (self.label, 1.0),
        }
    }

    /// How strongly `probs` is adversarial: the predicted class's
    /// probability if it is a wrong class (untargeted) or the target
    /// (targeted), else 0. Success at threshold τ is `adversarial ≥ τ`.
    pub fn adversarial(&self, probs: &[f32]) -> f32 {
        let pred = crate::math::argmax(probs);
        let hit = match self.target {
            Some(t) => pred == t,
            None => pred != self.label,
        };
        if hit {
            probs[pred]
        } else {
            0.0
        }
    }
}

/// One batch's evaluation.
pub struct Evaluation {
    /// `[B][C]` probabilities.
    pub probs: Vec<Vec<f32>>,
    /// J per example.
    pub loss: Vec<f32>,
    /// dJ/d(embedded input), in the layout `Model::embed` returns
    /// (`[B·W, L, D]` for characters, `[B, T, D]` for words).
    pub grads: Option<Tensor>,
}

/// Runs `model` (evaluation mode, weights frozen) on `input`.
pub fn evaluate(
    model: &Model,
    store: &ParamStore,
    input: &Input,
    goals: &[Goal],
    need_grads: bool,
) -> Result<Evaluation> {
    let (lp, grads) = if need_grads {
        // J = Σ_b −sign_b · logp[b, class_b]: one gather and a weighted sum.
        let mut lp = None;
        let ig = model.input_gradient(store, input, Mode::EVAL, Weights::Frozen, |tape, logits| {
            let logp = tape.log_softmax(logits)?;
            lp = Some(tape.value(logp)?);
            let classes: Vec<usize> = goals.iter().map(|g| g.class_and_sign().0).collect();
            let picked = tape.gather(logp, &classes)?;
            let signs =
                tape.constant(Tensor::new(&[goals.len()], goals.iter().map(|g| -g.class_and_sign().1).collect())?);
            tape.sum(tape.mul(picked, signs)?)
        })?;
        (lp.ok_or_else(|| Error::invalid("attack", "the loss was not evaluated"))?, Some(ig.grad))
    } else {
        let tape = Tape::no_grad();
        let p = tape.bind_frozen(store);
        let logits = model.forward(&tape, &p, input, None, Mode::EVAL)?.logits;
        (tape.value(tape.log_softmax(logits)?)?, None)
    };
    let c = *lp.shape().last().unwrap_or(&1);
    let probs: Vec<Vec<f32>> = lp.data().chunks(c).map(|r| r.iter().map(|v| v.exp()).collect()).collect();
    let loss: Vec<f32> = goals
        .iter()
        .enumerate()
        .map(|(b, g)| {
            let (k, sign) = g.class_and_sign();
            -sign * lp.data()[b * c + k]
        })
        .collect();
    Ok(Evaluation { probs, loss, grads })
}

/// One batch's evaluation on a device.
pub struct DeviceEvaluation {
    /// `[B][C]` probabilities.
    pub probs: Vec<Vec<f32>>,
    /// J per example.
    pub loss: Vec<f32>,
    /// dJ/d(embedded input), on the device.
    pub grads: Option<Storage>,
}

/// [`evaluate`] on a device: the same probabilities and J, the gradient
/// left on the device (`models::device::DeviceClassifier`).
pub fn evaluate_on_device(
    model: &DeviceClassifier,
    input: &Input,
    goals: &[Goal],
    need_grads: bool,
) -> Result<DeviceEvaluation> {
    // J = Σ_b −sign_b · logp[b, class_b] = Σ_b sign_b · CE(b, class_b).
    let (classes, signs): (Vec<usize>, Vec<f32>) = goals.iter().map(|g| g.class_and_sign()).unzip();
    let ev = model.evaluate(input, &classes, &signs, need_grads)?;
    let c = ev.log_probs.len() / goals.len().max(1);
    let probs = ev.log_probs.chunks(c.max(1)).map(|r| r.iter().map(|v| v.exp()).collect()).collect();
    let loss =
        goals.iter().enumerate().map(|(b, g)| -g.class_and_sign().1 * ev.log_probs[b * c + classes[b]]).collect();
    Ok(DeviceEvaluation { probs, loss, grads: ev.grad })
}
