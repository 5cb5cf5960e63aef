//! The UNet's building blocks as dfdx modules. Parameters have compile-time shapes (dfdx's
//! optimisers, EMA and safetensors see only those); activations are `[B, C, H, W]` with
//! run-time sizes.

use dfdx::nn::modules;
use dfdx::prelude::*;
use rand_distr::Uniform;

use crate::conv::Rank4Dyn;
use crate::device::ConvDevice;

/// Activations: `[batch, channels, height, width]`.
pub type Act<D, T> = Tensor<Rank4Dyn, f32, D, T>;

// ------------------------------------------------------------------------------ convolution

/// 1/√(fan-in): the bound of the uniform initialisation of a layer with that many inputs.
fn fan_in_bound(fan_in: usize) -> f32 {
    1.0 / (fan_in as f32).sqrt()
}

/// Reinterprets a tensor's shape type (const ↔ run-time dims, same sizes): no copy.
pub(crate) fn realized<S, Dst: Shape<Concrete = S::Concrete>, D: Device<f32>, T: Tape<f32, D>>(
    t: Tensor<S, f32, D, T>,
) -> Tensor<Dst, f32, D, T>
where
    S: Shape + RealizeShapeTo<Dst>,
{
    match t.try_realize::<Dst>() {
        Ok(t) => t,
        Err(_) => panic!("realized: the sizes differ"),
    }
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
        // PyTorch's default: uniform in ±1/√(fan-in).
        visitor.visit_fields(
            (
                Self::tensor(
                    "weight",
                    |s| &s.weight,
                    |s| &mut s.weight,
                    TensorOptions::reset_with(|t| {
                        t.try_fill_with_distr(Uniform::new(
                            -fan_in_bound(CI * K * K),
                            fan_in_bound(CI * K * K),
                        ))
                    }),
                ),
                Self::tensor(
                    "bias",
                    |s| &s.bias,
                    |s| &mut s.bias,
                    TensorOptions::reset_with(|t| {
                        t.try_fill_with_distr(Uniform::new(
                            -fan_in_bound(CI * K * K),
                            fan_in_bound(CI * K * K),
                        ))
                    }),
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

// ------------------------------------------------------------------------------ group norm

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

/// Spreads a per-channel vector `[C]` over `[B, C, H, W]`. The parameter gets an empty tape
/// first, so that the (copying) broadcast records its gradient.
fn per_channel<const C: usize, D: Device<f32>, T: Tape<f32, D>>(
    p: &Tensor<Rank1<C>, f32, D>,
    shape: Rank4Dyn,
) -> Act<D, T> {
    realized::<_, (usize,), D, T>(p.retaped::<T>()).broadcast_like::<_, Axes3<0, 2, 3>>(&shape)
}

// ANCHOR: group_norm
/// GroupNorm composed from dfdx ops (any device): y = γ_c · (x − mean_g) / √(var_g + 1e-5) + β_c,
/// with mean and variance over each group's C/G channels and all pixels. The CPU runs the fused
/// kernel in [`crate::fused`], tested against this one.
pub fn group_norm_generic<const C: usize, D: Device<f32>, T: Tape<f32, D> + Merge<T>>(
    x: Act<D, T>,
    gamma: &Tensor<Rank1<C>, f32, D>,
    beta: &Tensor<Rank1<C>, f32, D>,
    groups: usize,
) -> Act<D, T> {
    let shape = *x.shape();
    let (b, c, h, w) = shape;
    assert_eq!(c, C, "GroupNorm<{C}> got {c} channels");
    let normed = x
        .reshape_like(&(b, groups, C / groups * h * w))
        .normalize::<Axis<2>>(1e-5)
        .reshape_like(&shape);
    normed * per_channel::<C, D, T>(gamma, shape) + per_channel::<C, D, T>(beta, shape)
}
// ANCHOR_END: group_norm

impl<const C: usize, const G: usize, D: ConvDevice> DeviceGroupNorm<C, G, f32, D> {
    pub fn forward<T: Tape<f32, D> + Merge<T>>(&self, x: Act<D, T>) -> Act<D, T> {
        D::group_norm(x, &self.gamma, &self.beta, G)
    }
}

// ------------------------------------------------------------------------------ activations

// ANCHOR: silu
/// SiLU (swish), x · σ(x). dfdx 0.13 has no SiLU; the second use of x gets an empty tape.
pub fn silu<S: Shape, D: Device<f32>, T: Tape<f32, D> + Merge<T>>(
    x: Tensor<S, f32, D, T>,
) -> Tensor<S, f32, D, T> {
    x.retaped::<T>().sigmoid() * x
}
// ANCHOR_END: silu

// ------------------------------------------------------------------------------ res block

/// The identity, for a residual skip that needs no projection.
#[derive(Clone, Copy, Debug, Default)]
pub struct Identity;

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

impl<D: Device<f32>> BuildOnDevice<D, f32> for Identity {
    type Built = Identity;
}

impl<D: Device<f32>> TensorCollection<f32, D> for Identity {
    type To<E2: Dtype, D2: Device<E2>> = Identity;
    fn iter_tensors<V: ModuleVisitor<Self, f32, D>>(
        _: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        Ok(Some(Identity))
    }
}

// ANCHOR: time_injection
/// How a ResBlock lets the time embedding in, between its first convolution `h` and the
/// second GroupNorm (whose output it returns, before the SiLU).
pub trait TimeInjection<const TE: usize, const CO: usize, const G: usize, D: ConvDevice> {
    fn inject<T: Tape<f32, D> + Merge<T>>(
        &self,
        h: Act<D, T>,
        temb: &Tensor<(usize, Const<TE>), f32, D>,
        norm: &DeviceGroupNorm<CO, G, f32, D>,
    ) -> Act<D, T>;
}

/// One value per (image, channel) from the embedding, through SiLU and a Linear, spread over
/// the feature map's positions.
fn time_per_channel<const TE: usize, const CO: usize, D: ConvDevice, T: Tape<f32, D>>(
    lin: &modules::Linear<TE, CO, f32, D>,
    temb: &Tensor<(usize, Const<TE>), f32, D>,
    shape: Rank4Dyn,
) -> Act<D, T> {
    let t = realized::<_, (usize, usize), D, T>(lin.forward(silu(temb.retaped::<T>())));
    t.broadcast_like::<_, Axes2<2, 3>>(&shape)
}

/// Ho et al.'s default: add a projection of the embedding to every channel,
/// GroupNorm(h + Linear(SiLU(e))).
impl<const TE: usize, const CO: usize, const G: usize, D: ConvDevice> TimeInjection<TE, CO, G, D>
    for modules::Linear<TE, CO, f32, D>
{
    fn inject<T: Tape<f32, D> + Merge<T>>(
        &self,
        h: Act<D, T>,
        temb: &Tensor<(usize, Const<TE>), f32, D>,
        norm: &DeviceGroupNorm<CO, G, f32, D>,
    ) -> Act<D, T> {
        let shape = *h.shape();
        norm.forward(h + time_per_channel::<TE, CO, D, T>(self, temb, shape))
    }
}

/// Adaptive group norm (Dhariwal & Nichol 2021): the embedding sets a per-channel scale and
/// shift of the normalised features, GroupNorm(h)·(1 + s(e)) + b(e).
#[derive(Clone, Copy, Debug, Default)]
pub struct ScaleShift<const TE: usize, const CO: usize>;

#[derive(Clone, Debug)]
pub struct DeviceScaleShift<const TE: usize, const CO: usize, E: Dtype, D: Storage<E>> {
    pub scale: modules::Linear<TE, CO, E, D>,
    pub shift: modules::Linear<TE, CO, E, D>,
}

impl<const TE: usize, const CO: usize, const G: usize, D: ConvDevice> TimeInjection<TE, CO, G, D>
    for DeviceScaleShift<TE, CO, f32, D>
{
    fn inject<T: Tape<f32, D> + Merge<T>>(
        &self,
        h: Act<D, T>,
        temb: &Tensor<(usize, Const<TE>), f32, D>,
        norm: &DeviceGroupNorm<CO, G, f32, D>,
    ) -> Act<D, T> {
        let shape = *h.shape();
        let scale = time_per_channel::<TE, CO, D, T>(&self.scale, temb, shape);
        let shift = time_per_channel::<TE, CO, D, T>(&self.shift, temb, shape);
        let n = norm.forward(h);
        n.retaped::<T>() * scale + n + shift
    }
}
// ANCHOR_END: time_injection

impl<const TE: usize, const CO: usize, D: Device<f32>> BuildOnDevice<D, f32>
    for ScaleShift<TE, CO>
{
    type Built = DeviceScaleShift<TE, CO, f32, D>;
}

impl<const TE: usize, const CO: usize, D: Device<f32>> TensorCollection<f32, D>
    for DeviceScaleShift<TE, CO, f32, D>
{
    type To<E2: Dtype, D2: Device<E2>> = DeviceScaleShift<TE, CO, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, f32, D>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::module("scale", |s| &s.scale, |s| &mut s.scale),
                Self::module("shift", |s| &s.shift, |s| &mut s.shift),
            ),
            |(scale, shift)| DeviceScaleShift { scale, shift },
        )
    }
}

/// The additive injection's builder (a Linear from the embedding to the channels).
pub type Additive<const TE: usize, const CO: usize> = dfdx::nn::builders::Linear<TE, CO>;

/// A residual block (Ho et al.'s, after Wide ResNet): GroupNorm → SiLU → 3×3 conv, the time
/// embedding let in by `TI`, GroupNorm → SiLU → dropout → 3×3 conv, plus the skip.
/// `SK` is [`Identity`] when CI = CO, else `Conv<CI, CO, 1, 1, 0>`; `TI` is [`Additive`] (the
/// default) or [`ScaleShift`] (adaptive group norm).
#[derive(Clone, Copy, Debug, Default)]
pub struct ResBlock<
    const CI: usize,
    const CO: usize,
    const TE: usize,
    const G: usize,
    SK,
    TI = Additive<TE, CO>,
>(std::marker::PhantomData<(SK, TI)>);

#[derive(Clone, Debug)]
pub struct DeviceResBlock<
    const CI: usize,
    const CO: usize,
    const TE: usize,
    const G: usize,
    SK,
    E: Dtype,
    D: Storage<E>,
    TI = modules::Linear<TE, CO, E, D>,
> {
    pub norm1: DeviceGroupNorm<CI, G, E, D>,
    pub conv1: DeviceConv<CI, CO, 3, 1, 1, E, D>,
    pub time: TI,
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
        TI: BuildOnDevice<D, f32>,
        D: Device<f32>,
    > BuildOnDevice<D, f32> for ResBlock<CI, CO, TE, G, SK, TI>
where
    SK::Built: TensorCollection<f32, D>,
    TI::Built: TensorCollection<f32, D>,
{
    type Built = DeviceResBlock<CI, CO, TE, G, SK::Built, f32, D, TI::Built>;
}

impl<
        const CI: usize,
        const CO: usize,
        const TE: usize,
        const G: usize,
        SK: TensorCollection<f32, D>,
        TI: TensorCollection<f32, D>,
        D: Device<f32>,
    > TensorCollection<f32, D> for DeviceResBlock<CI, CO, TE, G, SK, f32, D, TI>
{
    type To<E2: Dtype, D2: Device<E2>> =
        DeviceResBlock<CI, CO, TE, G, SK::To<E2, D2>, E2, D2, TI::To<E2, D2>>;

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

// ANCHOR: res_block
impl<
        const CI: usize,
        const CO: usize,
        const TE: usize,
        const G: usize,
        SK: Skip<D>,
        TI: TimeInjection<TE, CO, G, D>,
        D: ConvDevice,
    > DeviceResBlock<CI, CO, TE, G, SK, f32, D, TI>
{
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
            .forward(silu(self.norm1.forward(x.retaped::<T>())));
        let h = D::silu(self.time.inject(h, temb, &self.norm2));
        let h = if T::OWNS_TAPE && self.dropout > 0.0 {
            h.dropout(self.dropout)
        } else {
            h
        };
        self.conv2.forward(h) + self.skip.skip(x)
    }
}
// ANCHOR_END: res_block

// ------------------------------------------------------------------------------ attention

/// Self-attention over the H·W positions of a feature map (each position a C-dim token), with
/// a GroupNorm before and a residual connection around it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Attention<const C: usize, const H: usize, const G: usize>;

#[derive(Clone, Debug)]
pub struct DeviceAttention<const C: usize, const H: usize, const G: usize, E: Dtype, D: Storage<E>>
{
    pub norm: DeviceGroupNorm<C, G, E, D>,
    pub mha: modules::MultiHeadAttention<C, H, C, C, E, D>,
}

impl<const C: usize, const H: usize, const G: usize, D: Device<f32>> BuildOnDevice<D, f32>
    for Attention<C, H, G>
{
    type Built = DeviceAttention<C, H, G, f32, D>;
}

impl<const C: usize, const H: usize, const G: usize, D: Device<f32>> TensorCollection<f32, D>
    for DeviceAttention<C, H, G, f32, D>
{
    type To<E2: Dtype, D2: Device<E2>> = DeviceAttention<C, H, G, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, f32, D>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::module("norm", |s| &s.norm, |s| &mut s.norm),
                Self::module("mha", |s| &s.mha, |s| &mut s.mha),
            ),
            |(norm, mha)| DeviceAttention { norm, mha },
        )
    }
}

// ANCHOR: attention
impl<const C: usize, const H: usize, const G: usize, D: ConvDevice>
    DeviceAttention<C, H, G, f32, D>
{
    /// x + Attention(GroupNorm(x)), the attention over the `[B, H·W, C]` tokens of the map.
    pub fn forward<T: Tape<f32, D> + Merge<T>>(&self, x: Act<D, T>) -> Act<D, T> {
        let shape = *x.shape();
        let (b, c, h, w) = shape;
        let tokens = self
            .norm
            .forward(x.retaped::<T>())
            .reshape_like(&(b, c, h * w))
            .permute::<_, Axes3<0, 2, 1>>();
        let tokens = realized::<_, (usize, usize, Const<C>), D, T>(tokens);
        let attended = realized::<_, (usize, usize, usize), D, T>(self.mha.forward(tokens));
        let out = attended.permute::<_, Axes3<0, 2, 1>>().reshape_like(&shape);
        out + x
    }
}
// ANCHOR_END: attention

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn silu_is_x_times_sigmoid() {
        let dev: Cpu = Default::default();
        let y = silu(dev.tensor([-2.0f32, 0.0, 3.0])).as_vec();
        for (x, v) in [-2.0f32, 0.0, 3.0].iter().zip(y) {
            assert!((v - x / (1.0 + (-x).exp())).abs() < 1e-6);
        }
    }

    type AdaGnBlock = ResBlock<4, 6, 8, 2, Conv<4, 6, 1, 1, 0>, ScaleShift<8, 6>>;

    /// The scale-shift (adaptive group norm) block's gradients against central finite
    /// differences, for the input, the embedding projections and a convolution weight.
    #[test]
    fn scale_shift_block_gradients_match_finite_differences() {
        let dev: Cpu = Cpu::seed_from_u64(8);
        let block = dev.build_module::<AdaGnBlock, f32>();
        let x: Act<Cpu, NoneTape> = dev.sample_normal_like(&(2, 4, 5, 5));
        let r: Act<Cpu, NoneTape> = dev.sample_normal_like(&(2, 6, 5, 5));
        let temb: Tensor<(usize, Const<8>), f32, Cpu> = dev.sample_normal_like(&(2, Const));
        let f = |b: &DeviceResBlock<
            4,
            6,
            8,
            2,
            DeviceConv<4, 6, 1, 1, 0, f32, Cpu>,
            f32,
            Cpu,
            DeviceScaleShift<8, 6, f32, Cpu>,
        >,
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
        param!(time.scale.weight, 5);
        param!(time.shift.weight, 9);
        param!(time.scale.bias, 2);
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
}
