//! The GroupNorm layer (Wu & He 2018): normalise over groups of channels, then a per-channel
//! scale and shift; it runs the device's GroupNorm ([`ConvDevice::group_norm`]).

use dfdx::prelude::*;

use crate::device::ConvDevice;
use crate::ops::Act;

/// GroupNorm over G groups of C/G channels (Wu & He 2018), with a per-channel scale and shift.
#[derive(Clone, Copy, Debug, Default)]
pub struct GroupNorm<const C: usize, const G: usize>;

#[derive(Clone, Debug)]
pub struct DeviceGroupNorm<const C: usize, const G: usize, E: Dtype, D: Storage<E>> {
    pub gamma: Tensor<Rank1<C>, E, D>,
    pub beta: Tensor<Rank1<C>, E, D>,
}

impl<const C: usize, const G: usize, D: Device<f32>> BuildOnDevice<D, f32> for GroupNorm<C, G> {
    type Built = DeviceGroupNorm<C, G, f32, D>;
}

impl<const C: usize, const G: usize, D: Device<f32>> TensorCollection<f32, D>
    for DeviceGroupNorm<C, G, f32, D>
{
    type To<E2: Dtype, D2: Device<E2>> = DeviceGroupNorm<C, G, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, f32, D>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::tensor(
                    "gamma",
                    |s| &s.gamma,
                    |s| &mut s.gamma,
                    TensorOptions::reset_to_ones(),
                ),
                Self::tensor(
                    "beta",
                    |s| &s.beta,
                    |s| &mut s.beta,
                    TensorOptions::reset_to_zeros(),
                ),
            ),
            |(gamma, beta)| DeviceGroupNorm { gamma, beta },
        )
    }
}

impl<const C: usize, const G: usize, D: ConvDevice> DeviceGroupNorm<C, G, f32, D> {
    pub fn forward<T: Tape<f32, D> + Merge<T>>(&self, x: Act<D, T>) -> Act<D, T> {
        D::group_norm(x, &self.gamma, &self.beta, G)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::{group_norm_generic, silu};

    /// Golden values from an independent computation in Python (standard library only):
    /// ```python
    /// import math
    /// x = [0.1 * ((i * i) % 7) - 0.03 * i for i in range(16)]      # [1, 4, 2, 2]
    /// gamma, beta, G, HW, eps = [1.0, 2.0, 0.5, -1.0], [0.0, 0.1, -0.2, 0.3], 2, 4, 1e-5
    /// out = []
    /// for g in range(G):
    ///     vals = [x[c * HW + k] for c in range(2 * g, 2 * g + 2) for k in range(HW)]
    ///     m = sum(vals) / len(vals); v = sum((a - m) ** 2 for a in vals) / len(vals)
    ///     out += [gamma[c] * (x[c * HW + k] - m) / math.sqrt(v + eps) + beta[c]
    ///             for c in range(2 * g, 2 * g + 2) for k in range(HW)]
    /// ```
    #[test]
    fn group_norm_matches_golden_values() {
        let dev: Cpu = Default::default();
        let mut gn = dev.build_module::<GroupNorm<4, 2>, f32>();
        gn.gamma = dev.tensor([1.0, 2.0, 0.5, -1.0]);
        gn.beta = dev.tensor([0.0, 0.1, -0.2, 0.3]);
        let x: Vec<f32> = (0..16)
            .map(|i| 0.1 * ((i * i) % 7) as f32 - 0.03 * i as f32)
            .collect();
        let x = dev.tensor_from_vec(x, (1, 4, 2, 2));
        let fused = gn.forward(x.clone()).as_vec();
        let generic = group_norm_generic(x, &gn.gamma, &gn.beta, 2).as_vec();
        let want = [
            -0.4291168841505297,
            -8.507418661416496e-17,
            1.655165124580614,
            0.24520964808601683,
            0.22260482404300838,
            2.306886832774152,
            -1.7390723606451268,
            -3.3329350732042364,
            -0.15046585647824162,
            0.6137752150003171,
            -0.0372449569999366,
            -0.12216063160866526,
            -0.8180563823482618,
            1.050088459043771,
            1.7860243056527532,
            1.3897511574786856,
        ];
        for y in [fused, generic] {
            for (a, b) in y.iter().zip(want) {
                assert!((*a as f64 - b).abs() < 2e-5, "{a} vs {b}");
            }
        }
    }

    /// The fused CPU GroupNorm and SiLU agree with their dfdx compositions in value and in every
    /// gradient (x, γ, β), on a batch with several groups and non-trivial γ, β.
    #[test]
    fn fused_kernels_match_the_dfdx_compositions() {
        let dev: Cpu = Cpu::seed_from_u64(4);
        let gamma: Tensor<Rank1<6>, f32, Cpu> = dev.sample_normal();
        let beta: Tensor<Rank1<6>, f32, Cpu> = dev.sample_normal();
        let x: Act<Cpu, NoneTape> = dev.sample_normal_like(&(3, 6, 5, 4));
        let r: Act<Cpu, NoneTape> = dev.sample_normal_like(&(3, 6, 5, 4));
        let fused = crate::fused::group_norm_cpu(x.leaky_trace(), &gamma, &beta, 3, 1e-5);
        let generic = group_norm_generic(x.leaky_trace(), &gamma, &beta, 3);
        let close = |a: Vec<f32>, b: Vec<f32>, what: &str| {
            for (i, (p, q)) in a.iter().zip(&b).enumerate() {
                assert!(
                    (p - q).abs() < 1e-4 * (1.0 + q.abs()),
                    "{what}[{i}]: {p} vs {q}"
                );
            }
        };
        close(fused.as_vec(), generic.as_vec(), "group norm");
        let gf = (fused * r.clone()).sum().backward();
        let gg = (generic * r.clone()).sum().backward();
        close(gf.get(&x).as_vec(), gg.get(&x).as_vec(), "dx");
        close(gf.get(&gamma).as_vec(), gg.get(&gamma).as_vec(), "dγ");
        close(gf.get(&beta).as_vec(), gg.get(&beta).as_vec(), "dβ");

        let fused = crate::fused::silu_cpu(x.leaky_trace());
        let generic = silu(x.leaky_trace());
        close(fused.as_vec(), generic.as_vec(), "silu");
        let gf = (fused * r.clone()).sum().backward();
        let gg = (generic * r).sum().backward();
        close(gf.get(&x).as_vec(), gg.get(&x).as_vec(), "silu dx");
    }
}
