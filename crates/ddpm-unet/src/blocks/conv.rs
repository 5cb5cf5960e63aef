//! The convolution layer: a K×K kernel from CI to CO channels with stride S and padding P,
//! initialised like PyTorch's, running the device's convolution ([`ConvDevice::conv2d`]).

use dfdx::prelude::*;
use rand_distr::Uniform;

use crate::device::ConvDevice;
use crate::ops::Act;

/// PyTorch's default initialisation of a K×K convolution from CI channels, for its weight and
/// its bias alike: uniform in ±1/√(fan-in), fan-in = CI·K·K.
fn fan_in_uniform<const CI: usize, const K: usize, S: ConstShape, D: Device<f32>>(
    t: &mut Tensor<S, f32, D>,
) -> Result<(), D::Err> {
    let bound = 1.0 / ((CI * K * K) as f32).sqrt();
    t.try_fill_with_distr(Uniform::new(-bound, bound))
}

/// A K×K convolution from CI to CO channels with stride S and padding P (builder).
#[derive(Clone, Copy, Debug, Default)]
pub struct Conv<const CI: usize, const CO: usize, const K: usize, const S: usize, const P: usize>;

/// [`Conv`] on a device.
#[derive(Clone, Debug)]
pub struct DeviceConv<
    const CI: usize,
    const CO: usize,
    const K: usize,
    const S: usize,
    const P: usize,
    E: Dtype,
    D: Storage<E>,
> {
    pub weight: Tensor<Rank4<CO, CI, K, K>, E, D>,
    pub bias: Tensor<Rank1<CO>, E, D>,
}

impl<
        const CI: usize,
        const CO: usize,
        const K: usize,
        const S: usize,
        const P: usize,
        D: Device<f32>,
    > BuildOnDevice<D, f32> for Conv<CI, CO, K, S, P>
{
    type Built = DeviceConv<CI, CO, K, S, P, f32, D>;
}

impl<
        const CI: usize,
        const CO: usize,
        const K: usize,
        const S: usize,
        const P: usize,
        D: Device<f32>,
    > TensorCollection<f32, D> for DeviceConv<CI, CO, K, S, P, f32, D>
{
    type To<E2: Dtype, D2: Device<E2>> = DeviceConv<CI, CO, K, S, P, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, f32, D>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::tensor(
                    "weight",
                    |s| &s.weight,
                    |s| &mut s.weight,
                    TensorOptions::reset_with(fan_in_uniform::<CI, K, _, _>),
                ),
                Self::tensor(
                    "bias",
                    |s| &s.bias,
                    |s| &mut s.bias,
                    TensorOptions::reset_with(fan_in_uniform::<CI, K, _, _>),
                ),
            ),
            |(weight, bias)| DeviceConv { weight, bias },
        )
    }
}

impl<
        const CI: usize,
        const CO: usize,
        const K: usize,
        const S: usize,
        const P: usize,
        D: ConvDevice,
    > DeviceConv<CI, CO, K, S, P, f32, D>
{
    pub fn forward<T: Tape<f32, D> + Merge<T>>(&self, x: Act<D, T>) -> Act<D, T> {
        D::conv2d(x, &self.weight, &self.bias, S, P)
    }
}
