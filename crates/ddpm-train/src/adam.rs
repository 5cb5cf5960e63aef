//! Adam whose state can be saved: the two moment estimates are kept as two more copies of the
//! model, so a checkpoint stores them like weights and `--resume` continues the same run.
//! (dfdx's own `Adam` keeps its moments private.)

use dfdx::nn::tensor_collection::{
    RecursiveWalker, TensorCollection, TensorOptions, TensorVisitor, ViewTensorMut,
};
use dfdx::prelude::*;

/// The moment estimates m (mean of gradients) and v (mean of squared gradients), and the
/// number of updates made so far.
#[derive(Clone, Debug)]
pub struct AdamState<M> {
    pub m: M,
    pub v: M,
    pub t: i32,
}

/// Adam's hyper-parameters (Kingma & Ba's defaults, learning rate set per step).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamHyper {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
}

impl Default for AdamHyper {
    fn default() -> Self {
        Self {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

struct AdamStep<'g, D: Device<f32>> {
    grads: &'g Gradients<f32, D>,
    hyper: AdamHyper,
    lr: f64,
    t: i32,
    /// Multiplies every gradient (≤ 1 when clipping).
    grad_scale: f32,
}

impl<D: Device<f32>> TensorVisitor<f32, D> for AdamStep<'_, D> {
    type Viewer = (ViewTensorMut, ViewTensorMut, ViewTensorMut);
    type Err = D::Err;
    type E2 = f32;
    type D2 = D;

    // ANCHOR: adam_update
    fn visit<S: Shape>(
        &mut self,
        opts: TensorOptions<S, f32, D>,
        (p, m, v): (
            &mut Tensor<S, f32, D>,
            &mut Tensor<S, f32, D>,
            &mut Tensor<S, f32, D>,
        ),
    ) -> Result<Option<Tensor<S, f32, D>>, Self::Err> {
        if !opts.do_gradient_update {
            return Ok(None);
        }
        let g = self.grads.get(p).try_mul(self.grad_scale)?;
        let AdamHyper { beta1, beta2, eps } = self.hyper;
        // m ← β₁ m + (1 − β₁) g,  v ← β₂ v + (1 − β₂) g²
        m.try_axpy(beta1, &g, 1.0 - beta1)?;
        v.try_axpy(beta2, &g.clone().try_square()?, 1.0 - beta2)?;
        // θ ← θ − lr · m̂ / (√v̂ + ε), with the bias corrections m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ).
        let m_hat = m
            .clone()
            .try_mul((1.0 / (1.0 - beta1.powi(self.t))) as f32)?;
        let v_hat = v
            .clone()
            .try_mul((1.0 / (1.0 - beta2.powi(self.t))) as f32)?;
        let step = m_hat.try_div(v_hat.try_sqrt()?.try_add(eps as f32)?)?;
        p.try_axpy(1.0, &step, -self.lr)?;
        Ok(None)
    }
    // ANCHOR_END: adam_update
}

impl<M: Clone> AdamState<M> {
    /// Zero moments shaped like `model`.
    pub fn new<D: Device<f32>>(model: &M) -> Self
    where
        M: TensorCollection<f32, D>,
    {
        let mut m = model.clone();
        m.zero_params();
        Self {
            v: m.clone(),
            m,
            t: 0,
        }
    }

    /// One Adam update of `model` with `grads` at learning rate `lr`, the gradients first
    /// scaled down so their global norm is at most `max_grad_norm` (if given). Returns the norm
    /// before clipping.
    pub fn update<D: Device<f32>>(
        &mut self,
        model: &mut M,
        grads: &Gradients<f32, D>,
        lr: f64,
        hyper: AdamHyper,
        max_grad_norm: Option<f64>,
    ) -> f64
    where
        M: TensorCollection<f32, D>,
    {
        let norm = grad_norm(model, grads);
        let grad_scale = match max_grad_norm {
            Some(max) if norm > max => (max / norm) as f32,
            _ => 1.0,
        };
        self.t += 1;
        let mut op = AdamStep {
            grads,
            hyper,
            lr,
            t: self.t,
            grad_scale,
        };
        M::iter_tensors(&mut RecursiveWalker {
            m: (model, &mut self.m, &mut self.v),
            f: &mut op,
        })
        .expect("Adam update on a device that failed");
        norm
    }
}

/// Sets every trainable parameter of a model to zero (used for fresh moment estimates).
trait ZeroParams<D: Device<f32>> {
    fn zero_params(&mut self);
}

struct Zero;
impl<D: Device<f32>> TensorVisitor<f32, D> for Zero {
    type Viewer = ViewTensorMut;
    type Err = D::Err;
    type E2 = f32;
    type D2 = D;
    fn visit<S: Shape>(
        &mut self,
        _: TensorOptions<S, f32, D>,
        t: &mut Tensor<S, f32, D>,
    ) -> Result<Option<Tensor<S, f32, D>>, Self::Err> {
        t.try_fill_with_zeros()?;
        Ok(None)
    }
}

impl<M: TensorCollection<f32, D>, D: Device<f32>> ZeroParams<D> for M {
    fn zero_params(&mut self) {
        M::iter_tensors(&mut RecursiveWalker {
            m: self,
            f: &mut Zero,
        })
        .expect("zeroing parameters");
    }
}

/// The global L2 norm of the gradients of `model`'s trainable parameters. [`AdamState::update`]
/// scales the gradients down to a maximum norm with it (dfdx 0.13 has no gradient clipping).
pub fn grad_norm<M: TensorCollection<f32, D>, D: Device<f32>>(
    model: &M,
    grads: &Gradients<f32, D>,
) -> f64 {
    struct SumSq<'g, D: Device<f32>> {
        grads: &'g Gradients<f32, D>,
        total: f64,
    }
    impl<D: Device<f32>> TensorVisitor<f32, D> for SumSq<'_, D> {
        type Viewer = dfdx::nn::tensor_collection::ViewTensorRef;
        type Err = D::Err;
        type E2 = f32;
        type D2 = D;
        fn visit<S: Shape>(
            &mut self,
            opts: TensorOptions<S, f32, D>,
            p: &Tensor<S, f32, D>,
        ) -> Result<Option<Tensor<S, f32, D>>, Self::Err> {
            if opts.do_gradient_update {
                self.total += self
                    .grads
                    .get(p)
                    .try_square()?
                    .try_sum::<Rank0, _>()?
                    .as_vec()[0] as f64;
            }
            Ok(None)
        }
    }
    let mut sum = SumSq { grads, total: 0.0 };
    M::iter_tensors(&mut RecursiveWalker {
        m: model,
        f: &mut sum,
    })
    .expect("gradient norm");
    sum.total.sqrt()
}
