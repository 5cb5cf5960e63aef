//! Spatial self-attention: every position of a feature map attends to every other.

use dfdx::nn::modules;
use dfdx::prelude::*;

use super::{DeviceGroupNorm, Identity};
use crate::device::ConvDevice;
use crate::ops::{realized, Act};

/// Self-attention over the h·w positions of a feature map (each position a C-dim token), with
/// a GroupNorm before and a residual connection around it. The queries, keys and values are
/// `QKV` wide (C unless said), split into `H` heads of QKV/H channels: a fixed QKV with more
/// heads means narrower heads; QKV = H·(channels per head) keeps the heads' width as their
/// number changes, as Dhariwal & Nichol do (chapter 9).
#[derive(Clone, Copy, Debug, Default)]
pub struct Attention<const C: usize, const H: usize, const G: usize, const QKV: usize = C>;

#[derive(Clone, Debug)]
pub struct DeviceAttention<
    const C: usize,
    const H: usize,
    const G: usize,
    E: Dtype,
    D: Storage<E>,
    const QKV: usize = C,
> {
    pub norm: DeviceGroupNorm<C, G, E, D>,
    pub mha: modules::MultiHeadAttention<C, H, QKV, QKV, E, D>,
}

impl<const C: usize, const H: usize, const G: usize, const QKV: usize, D: Device<f32>>
    BuildOnDevice<D, f32> for Attention<C, H, G, QKV>
{
    type Built = DeviceAttention<C, H, G, f32, D, QKV>;
}

impl<const C: usize, const H: usize, const G: usize, const QKV: usize, D: Device<f32>>
    TensorCollection<f32, D> for DeviceAttention<C, H, G, f32, D, QKV>
{
    type To<E2: Dtype, D2: Device<E2>> = DeviceAttention<C, H, G, E2, D2, QKV>;

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
impl<const C: usize, const H: usize, const G: usize, const QKV: usize, D: ConvDevice>
    DeviceAttention<C, H, G, f32, D, QKV>
{
    /// x + Attention(GroupNorm(x)), the attention over the `[B, h·w, C]` tokens of the map.
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
        D::add(out, x)
    }
}
// ANCHOR_END: attention

/// A place in the UNet where attention may run: [`DeviceAttention`] there, or [`Identity`]
/// (the feature map passes unchanged) — which resolutions attend is part of the UNet's type.
pub trait Attend<D: ConvDevice> {
    /// Whether this place attends.
    const ATTENDS: bool;
    fn attend<T: Tape<f32, D> + Merge<T>>(&self, x: Act<D, T>) -> Act<D, T>;
}

impl<D: ConvDevice> Attend<D> for Identity {
    const ATTENDS: bool = false;
    fn attend<T: Tape<f32, D> + Merge<T>>(&self, x: Act<D, T>) -> Act<D, T> {
        x
    }
}

impl<const C: usize, const H: usize, const G: usize, const QKV: usize, D: ConvDevice> Attend<D>
    for DeviceAttention<C, H, G, f32, D, QKV>
{
    const ATTENDS: bool = true;
    fn attend<T: Tape<f32, D> + Merge<T>>(&self, x: Act<D, T>) -> Act<D, T> {
        self.forward(x)
    }
}
