//! A small MLP that predicts the noise in a 2-D point: ε_θ(x_t, t).

use dfdx::nn::modules;
use dfdx::prelude::*;

use crate::timestep_embedding;

/// A batch of 2-D points on a device, `[B, 2]`.
pub type Points<D> = Tensor<(usize, Const<2>), f32, D>;

/// The architecture (a dfdx builder): hidden width `H`, time-embedding size `E`.
///
/// h = W_x x + W_t emb(t) + b, then three ReLU + linear layers, the last back to 2 numbers.
/// (ReLU rather than GeLU: the same samples here, at a third of the CPU time.)
/// Adding the two projections is the same as one linear layer on [x, emb(t)] concatenated.
#[derive(Clone, Copy, Debug, Default)]
pub struct EpsMlp<const H: usize, const E: usize>;

/// The chapter's model: 128 hidden units, a 32-number time embedding (≈ 38k parameters).
pub type ToyModel = EpsMlp<128, 32>;

/// The layers after the input layer.
pub type Body<const H: usize, Elem, D> = (
    ReLU,
    modules::Linear<H, H, Elem, D>,
    ReLU,
    modules::Linear<H, H, Elem, D>,
    ReLU,
    modules::Linear<H, 2, Elem, D>,
);

/// [`EpsMlp`] built on a device. Generic over the element type only because dfdx's module
/// machinery (optimisers, save/load, device moves) requires it; the course uses `f32`.
#[derive(Clone, Debug)]
pub struct DeviceEpsMlp<const H: usize, const E: usize, Elem: Dtype, D: Storage<Elem>> {
    pub x_in: modules::Linear<2, H, Elem, D>,
    pub t_in: modules::UnbiasedLinear<E, H, Elem, D>,
    pub body: Body<H, Elem, D>,
}

impl<const H: usize, const E: usize, D: Device<f32>> BuildOnDevice<D, f32> for EpsMlp<H, E> {
    type Built = DeviceEpsMlp<H, E, f32, D>;
}

impl<const H: usize, const E: usize, D: Device<f32>> TensorCollection<f32, D>
    for DeviceEpsMlp<H, E, f32, D>
{
    type To<E2: Dtype, D2: Device<E2>> = DeviceEpsMlp<H, E, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, f32, D>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::module("x_in", |s| &s.x_in, |s| &mut s.x_in),
                Self::module("t_in", |s| &s.t_in, |s| &mut s.t_in),
                Self::module("body", |s| &s.body, |s| &mut s.body),
            ),
            |(x_in, t_in, body)| DeviceEpsMlp { x_in, t_in, body },
        )
    }
}

// ANCHOR: forward
impl<const H: usize, const E: usize, D: Device<f32>> DeviceEpsMlp<H, E, f32, D> {
    /// ε_θ(x_t, t) for a batch of points, each at its own step `ts[i]`. The tape (if any) rides
    /// on `x_t`; it is moved to the embedding branch first so both input layers are recorded.
    pub fn forward<T: Tape<f32, D>>(
        &self,
        x_t: Tensor<(usize, Const<2>), f32, D, T>,
        ts: &[usize],
    ) -> Tensor<(usize, Const<2>), f32, D, T> {
        let emb = timestep_embedding::<E, D>(x_t.device(), ts);
        let (x_t, tape) = x_t.split_tape();
        let (from_t, tape) = self.t_in.forward(emb.put_tape(tape)).split_tape();
        let h = self.x_in.forward(x_t.put_tape(tape)) + from_t;
        self.body.forward(h)
    }
}
// ANCHOR_END: forward

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_parameter_gets_a_gradient() {
        let dev: Cpu = Default::default();
        let model = dev.build_module::<EpsMlp<16, 8>, f32>();
        assert_eq!(
            model.num_trainable_params(),
            2 * 16 + 16 + 8 * 16 + 2 * (16 * 16 + 16) + 16 * 2 + 2
        );
        let x: Points<Cpu> = dev.sample_normal_like(&(4, Const));
        let grads = model.alloc_grads();
        let loss = model
            .forward(x.traced(grads), &[1, 2, 3, 4])
            .square()
            .mean();
        let g = loss.backward();
        for (name, norm) in [
            ("x_in", g.get(&model.x_in.weight).as_vec()),
            ("t_in", g.get(&model.t_in.weight).as_vec()),
            ("out", g.get(&model.body.5.weight).as_vec()),
        ] {
            assert!(norm.iter().any(|v| *v != 0.0), "{name} got no gradient");
        }
    }

    #[test]
    fn output_depends_on_t() {
        let dev: Cpu = Default::default();
        let model = dev.build_module::<ToyModel, f32>();
        let x: Points<Cpu> = dev.tensor_from_vec(vec![0.3, -0.2, 0.3, -0.2], (2, Const));
        let y = model.forward(x, &[1, 900]).as_vec();
        assert!((y[0] - y[2]).abs() + (y[1] - y[3]).abs() > 1e-4);
    }
}
