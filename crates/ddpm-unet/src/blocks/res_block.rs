//! The residual block (Ho et al.'s, after Wide ResNet), with the time embedding let in either
//! added to every channel or as a scale and shift of the normalised features.

use dfdx::nn::modules;
use dfdx::prelude::*;

use super::{DeviceConv, DeviceGroupNorm, Identity};
use crate::device::ConvDevice;
use crate::ops::{realized, silu, Act, Rank4Dyn};

/// How a ResBlock's input reaches its output: unchanged, or through a 1×1 convolution when the
/// channel count changes.
pub trait Skip<D: ConvDevice> {
    fn skip<T: Tape<f32, D> + Merge<T>>(&self, x: Act<D, T>) -> Act<D, T>;
}

impl<D: ConvDevice> Skip<D> for Identity {
    fn skip<T: Tape<f32, D> + Merge<T>>(&self, x: Act<D, T>) -> Act<D, T> {
        x
    }
}

impl<const CI: usize, const CO: usize, D: ConvDevice> Skip<D>
    for DeviceConv<CI, CO, 1, 1, 0, f32, D>
{
    fn skip<T: Tape<f32, D> + Merge<T>>(&self, x: Act<D, T>) -> Act<D, T> {
        self.forward(x)
    }
}

/// A residual block: GroupNorm → SiLU → 3×3 conv, the time embedding let in, GroupNorm → SiLU
/// → dropout → 3×3 conv, plus the skip. `SK` is [`Identity`] when CI = CO, else
/// `Conv<CI, CO, 1, 1, 0>`. `CT` is the width of the time projection, and says how the
/// embedding enters: CT = CO adds it to every channel (Ho et al., the default); CT = 2·CO makes
/// it a per-channel scale and shift of the normalised features (adaptive group norm).
#[derive(Clone, Copy, Debug, Default)]
pub struct ResBlock<
    const CI: usize,
    const CO: usize,
    const TE: usize,
    const G: usize,
    SK,
    const CT: usize = CO,
>(std::marker::PhantomData<SK>);

#[derive(Clone, Debug)]
pub struct DeviceResBlock<
    const CI: usize,
    const CO: usize,
    const TE: usize,
    const G: usize,
    SK,
    E: Dtype,
    D: Storage<E>,
    const CT: usize = CO,
> {
    pub norm1: DeviceGroupNorm<CI, G, E, D>,
    pub conv1: DeviceConv<CI, CO, 3, 1, 1, E, D>,
    /// The time projection, Linear(SiLU(e)): CO values per image to add, or 2·CO — a scale
    /// (first half) and a shift (second half).
    pub time: modules::Linear<TE, CT, E, D>,
    pub norm2: DeviceGroupNorm<CO, G, E, D>,
    pub conv2: DeviceConv<CO, CO, 3, 1, 1, E, D>,
    pub skip: SK,
    /// Probability of zeroing an activation before the second convolution while training
    /// (0 by default; not a parameter, so checkpoints do not record it).
    pub dropout: f32,
}

impl<
        const CI: usize,
        const CO: usize,
        const TE: usize,
        const G: usize,
        SK: BuildOnDevice<D, f32>,
        const CT: usize,
        D: Device<f32>,
    > BuildOnDevice<D, f32> for ResBlock<CI, CO, TE, G, SK, CT>
where
    SK::Built: TensorCollection<f32, D>,
{
    type Built = DeviceResBlock<CI, CO, TE, G, SK::Built, f32, D, CT>;
    fn try_build_on_device(device: &D) -> Result<Self::Built, D::Err> {
        assert!(
            CT == CO || CT == 2 * CO,
            "ResBlock: the time projection must have CO ({CO}) or 2·CO outputs, not {CT}"
        );
        Self::Built::try_build(device)
    }
}

impl<
        const CI: usize,
        const CO: usize,
        const TE: usize,
        const G: usize,
        SK: TensorCollection<f32, D>,
        const CT: usize,
        D: Device<f32>,
    > TensorCollection<f32, D> for DeviceResBlock<CI, CO, TE, G, SK, f32, D, CT>
{
    type To<E2: Dtype, D2: Device<E2>> = DeviceResBlock<CI, CO, TE, G, SK::To<E2, D2>, E2, D2, CT>;

    fn iter_tensors<V: ModuleVisitor<Self, f32, D>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::module("norm1", |s| &s.norm1, |s| &mut s.norm1),
                Self::module("conv1", |s| &s.conv1, |s| &mut s.conv1),
                Self::module("time", |s| &s.time, |s| &mut s.time),
                Self::module("norm2", |s| &s.norm2, |s| &mut s.norm2),
                Self::module("conv2", |s| &s.conv2, |s| &mut s.conv2),
                Self::module("skip", |s| &s.skip, |s| &mut s.skip),
            ),
            |(norm1, conv1, time, norm2, conv2, skip)| DeviceResBlock {
                norm1,
                conv1,
                time,
                norm2,
                conv2,
                skip,
                dropout: 0.0,
            },
        )
    }
}

/// `[B, C]` per-image values spread over the positions of a `[B, C, H, W]` map.
fn over_positions<D: Device<f32>, T: Tape<f32, D>>(
    v: Tensor<(usize, usize), f32, D, T>,
    shape: Rank4Dyn,
) -> Act<D, T> {
    v.broadcast_like::<_, Axes2<2, 3>>(&shape)
}

impl<
        const CI: usize,
        const CO: usize,
        const TE: usize,
        const G: usize,
        SK: Skip<D>,
        const CT: usize,
        D: ConvDevice,
    > DeviceResBlock<CI, CO, TE, G, SK, f32, D, CT>
{
    // ANCHOR: time_injection
    /// Lets the time embedding in between the first convolution's output `h` and the second
    /// GroupNorm, returning the normalised features (before their SiLU):
    /// GroupNorm(h + Linear(SiLU(e))) when the projection has CO outputs (Ho et al.), or
    /// GroupNorm(h)·(1 + s) + b with [s, b] = Linear(SiLU(e)) when it has 2·CO (adaptive group
    /// norm, Dhariwal & Nichol 2021).
    fn inject<T: Tape<f32, D> + Merge<T>>(
        &self,
        h: Act<D, T>,
        temb: &Tensor<(usize, Const<TE>), f32, D>,
    ) -> Act<D, T> {
        let shape = *h.shape();
        let e = realized::<_, (usize, usize), D, T>(self.time.forward(silu(temb.retaped::<T>())));
        if CT == CO {
            return self.norm2.forward(D::add_per_channel(h, e));
        }
        // Each half gets its own source: dfdx 0.13's slice backward assigns rather than adds.
        let b = shape.0;
        let scale = (e.retaped::<T>() + 0.0).slice((0..b, 0..CO));
        let shift = (e + 0.0).slice((0..b, CO..2 * CO));
        let (scale, shift) = (
            over_positions(realized::<_, (usize, usize), D, T>(scale), shape),
            over_positions(realized::<_, (usize, usize), D, T>(shift), shape),
        );
        let n = self.norm2.forward(h);
        n.retaped::<T>() * scale + n + shift
    }
    // ANCHOR_END: time_injection

    // ANCHOR: res_block
    /// `temb` is the (tape-less) time embedding `[B, TE]`; it gets an empty tape here, so its
    /// gradient is collected from every block that uses it. Dropout acts only when a tape is
    /// recorded (training), never while sampling.
    pub fn forward<T: Tape<f32, D> + Merge<T>>(
        &self,
        x: Act<D, T>,
        temb: &Tensor<(usize, Const<TE>), f32, D>,
    ) -> Act<D, T> {
        let h = self
            .conv1
            .forward(D::silu(self.norm1.forward(x.retaped::<T>())));
        let h = D::silu(self.inject(h, temb));
        let h = if T::OWNS_TAPE && self.dropout > 0.0 {
            h.dropout(self.dropout)
        } else {
            h
        };
        D::add(self.conv2.forward(h), self.skip.skip(x))
    }
    // ANCHOR_END: res_block
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocks::Conv;

    type AdaGnBlock = ResBlock<4, 6, 8, 2, Conv<4, 6, 1, 1, 0>, 12>;

    /// The scale-shift (adaptive group norm) block's gradients against central finite
    /// differences, for the input, both halves of the time projection (scale and shift) and
    /// the convolutions.
    #[test]
    fn scale_shift_block_gradients_match_finite_differences() {
        let dev: Cpu = Cpu::seed_from_u64(8);
        let block = dev.build_module::<AdaGnBlock, f32>();
        let x: Act<Cpu, NoneTape> = dev.sample_normal_like(&(2, 4, 5, 5));
        let r: Act<Cpu, NoneTape> = dev.sample_normal_like(&(2, 6, 5, 5));
        let temb: Tensor<(usize, Const<8>), f32, Cpu> = dev.sample_normal_like(&(2, Const));
        let f =
            |b: &DeviceResBlock<4, 6, 8, 2, DeviceConv<4, 6, 1, 1, 0, f32, Cpu>, f32, Cpu, 12>,
             x: &Act<Cpu, NoneTape>|
             -> f64 {
                let y = b.forward(x.clone(), &temb).as_vec();
                y.iter().zip(r.as_vec()).map(|(a, b)| (a * b) as f64).sum()
            };
        let grads = (block.forward(x.leaky_trace(), &temb) * r.clone())
            .sum()
            .backward();
        let h = 1e-2f32;
        let check = |what: &str, g: f32, fd: f64| {
            assert!(
                (fd - g as f64).abs() < 2e-2 * (g.abs() as f64).max(0.05),
                "{what}: finite difference {fd} vs gradient {g}"
            );
        };
        macro_rules! param {
            ($($field:ident).+, $i:expr) => {{
                let g = grads.get(&block.$($field).+).as_vec()[$i];
                let mut v = block.$($field).+.as_vec();
                let (mut up, mut down) = (block.clone(), block.clone());
                v[$i] += h;
                up.$($field).+.copy_from(&v);
                v[$i] -= 2.0 * h;
                down.$($field).+.copy_from(&v);
                check(stringify!($($field).+), g, (f(&up, &x) - f(&down, &x)) / (2.0 * h as f64));
            }};
        }
        param!(time.weight, 5); // row 0: a scale
        param!(time.weight, 73); // row 9: a shift
        param!(time.bias, 2);
        param!(time.bias, 8);
        param!(norm2.gamma, 1);
        param!(conv1.weight, 13);
        param!(skip.weight, 3);
        let gx = grads.get(&x).as_vec();
        for i in [0, 37, 150] {
            let mut v = x.as_vec();
            v[i] += h;
            let up = dev.tensor_from_vec(v.clone(), (2, 4, 5, 5));
            v[i] -= 2.0 * h;
            let down = dev.tensor_from_vec(v, (2, 4, 5, 5));
            check(
                "x",
                gx[i],
                (f(&block, &up) - f(&block, &down)) / (2.0 * h as f64),
            );
        }
    }

    /// Dropout zeroes activations only while training (a tape is recorded); sampling
    /// (no tape) is deterministic and unaffected.
    #[test]
    fn dropout_acts_only_while_training() {
        let dev: Cpu = Cpu::seed_from_u64(9);
        let mut block = dev.build_module::<AdaGnBlock, f32>();
        let x: Act<Cpu, NoneTape> = dev.sample_normal_like(&(2, 4, 5, 5));
        let temb: Tensor<(usize, Const<8>), f32, Cpu> = dev.sample_normal_like(&(2, Const));
        let plain = block.forward(x.clone(), &temb).as_vec();
        let traced_plain = block.forward(x.leaky_trace(), &temb).as_vec();
        assert_eq!(plain, traced_plain);
        block.dropout = 0.5;
        assert_eq!(block.forward(x.clone(), &temb).as_vec(), plain);
        let dropped = block.forward(x.leaky_trace(), &temb).as_vec();
        assert_ne!(dropped, plain);
    }

    /// With a CO-wide time projection the block adds the embedding: its output equals
    /// conv2(SiLU(GroupNorm(h + Linear(SiLU(e))))) + x computed by hand from the same layers.
    #[test]
    fn additive_block_adds_the_projection() {
        let dev: Cpu = Cpu::seed_from_u64(10);
        let block = dev.build_module::<ResBlock<4, 4, 8, 2, Identity>, f32>();
        let x: Act<Cpu, NoneTape> = dev.sample_normal_like(&(2, 4, 5, 5));
        let temb: Tensor<(usize, Const<8>), f32, Cpu> = dev.sample_normal_like(&(2, Const));
        let h = block.conv1.forward(silu(block.norm1.forward(x.clone())));
        let e: Tensor<(usize, usize), f32, Cpu> = block.time.forward(silu(temb.clone())).realize();
        let n = block
            .norm2
            .forward(h + e.broadcast_like::<_, Axes2<2, 3>>(&(2, 4, 5, 5)));
        let want = block.conv2.forward(silu(n)) + x.clone();
        let got = block.forward(x, &temb);
        for (a, b) in got.as_vec().iter().zip(want.as_vec()) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }
}
