//! Which kernels a device runs for the UNet's convolution, GroupNorm, SiLU and the data movement
//! between layers: the course's fast CPU ops on `Cpu`, the device-generic dfdx compositions
//! elsewhere (CUDA kernels for the fast ops are a later step).

use dfdx::prelude::*;

use crate::conv::conv2d_reference;
#[cfg(feature = "cuda")]
use crate::ops::{group_norm_generic, silu};
use crate::ops::{realized, Act, Rank4Dyn};

/// A device the UNet can run on: it knows how to convolve, normalise and move activations.
pub trait ConvDevice: Device<f32> {
    /// conv2d with the tape on `x` and const-shaped parameters; gradients reach all three.
    fn conv2d<T: Tape<f32, Self> + Merge<T>, const CO: usize, const CI: usize, const K: usize>(
        x: Tensor<Rank4Dyn, f32, Self, T>,
        weight: &Tensor<Rank4<CO, CI, K, K>, f32, Self>,
        bias: &Tensor<Rank1<CO>, f32, Self>,
        stride: usize,
        pad: usize,
    ) -> Tensor<Rank4Dyn, f32, Self, T>;

    /// GroupNorm with its per-channel affine over `groups` groups.
    fn group_norm<T: Tape<f32, Self> + Merge<T>, const C: usize>(
        x: Act<Self, T>,
        gamma: &Tensor<Rank1<C>, f32, Self>,
        beta: &Tensor<Rank1<C>, f32, Self>,
        groups: usize,
    ) -> Act<Self, T>;

    /// SiLU on activations.
    fn silu<T: Tape<f32, Self> + Merge<T>>(x: Act<Self, T>) -> Act<Self, T>;

    // The data movement between the layers: dfdx's ops by default, parallel kernels on the CPU
    // (`crate::moves`).

    /// a + b: the residual connections.
    fn add<T: Tape<f32, Self> + Merge<T>>(a: Act<Self, T>, b: Act<Self, T>) -> Act<Self, T> {
        a + b
    }

    /// h `[B, C, H, W]` + e `[B, C]` spread over the pixels: the time embedding into a ResBlock.
    fn add_per_channel<T: Tape<f32, Self> + Merge<T>>(
        h: Act<Self, T>,
        e: Tensor<(usize, usize), f32, Self, T>,
    ) -> Act<Self, T> {
        let shape = *h.shape();
        h + e.broadcast_like::<_, Axes2<2, 3>>(&shape)
    }

    /// a and b side by side along the channels: the UNet's skip connections.
    fn concat_channels<T: Tape<f32, Self> + Merge<T>>(
        a: Act<Self, T>,
        b: Act<Self, T>,
    ) -> Act<Self, T> {
        (a, b).concat_along(Axis::<1>)
    }

    /// Nearest-neighbour 2× upsampling ([`crate::upsample`]).
    fn upsample<T: Tape<f32, Self>>(x: Act<Self, T>) -> Act<Self, T> {
        crate::unet::upsample(x)
    }
}

impl ConvDevice for Cpu {
    fn conv2d<T: Tape<f32, Self> + Merge<T>, const CO: usize, const CI: usize, const K: usize>(
        x: Tensor<Rank4Dyn, f32, Self, T>,
        weight: &Tensor<Rank4<CO, CI, K, K>, f32, Self>,
        bias: &Tensor<Rank1<CO>, f32, Self>,
        stride: usize,
        pad: usize,
    ) -> Tensor<Rank4Dyn, f32, Self, T> {
        crate::conv::conv2d(x, weight, bias, stride, pad)
    }

    fn group_norm<T: Tape<f32, Self> + Merge<T>, const C: usize>(
        x: Act<Self, T>,
        gamma: &Tensor<Rank1<C>, f32, Self>,
        beta: &Tensor<Rank1<C>, f32, Self>,
        groups: usize,
    ) -> Act<Self, T> {
        crate::fused::group_norm_cpu(x, gamma, beta, groups, 1e-5)
    }

    fn silu<T: Tape<f32, Self> + Merge<T>>(x: Act<Self, T>) -> Act<Self, T> {
        crate::fused::silu_cpu(x)
    }

    fn add<T: Tape<f32, Self> + Merge<T>>(a: Act<Self, T>, b: Act<Self, T>) -> Act<Self, T> {
        crate::moves::add_cpu(a, b)
    }

    fn add_per_channel<T: Tape<f32, Self> + Merge<T>>(
        h: Act<Self, T>,
        e: Tensor<(usize, usize), f32, Self, T>,
    ) -> Act<Self, T> {
        crate::moves::add_per_channel_cpu(h, e)
    }

    fn concat_channels<T: Tape<f32, Self> + Merge<T>>(
        a: Act<Self, T>,
        b: Act<Self, T>,
    ) -> Act<Self, T> {
        crate::moves::concat_channels_cpu(a, b)
    }

    fn upsample<T: Tape<f32, Self>>(x: Act<Self, T>) -> Act<Self, T> {
        crate::moves::upsample_cpu(x)
    }
}

/// The reference path, for any device: the parameters get empty tapes so the copying ops of
/// the reference (reshape, permute, broadcast) record their gradients.
pub fn conv2d_generic<
    D: Device<f32>,
    T: Tape<f32, D> + Merge<T>,
    const CO: usize,
    const CI: usize,
    const K: usize,
>(
    x: Tensor<Rank4Dyn, f32, D, T>,
    weight: &Tensor<Rank4<CO, CI, K, K>, f32, D>,
    bias: &Tensor<Rank1<CO>, f32, D>,
    stride: usize,
    pad: usize,
) -> Tensor<Rank4Dyn, f32, D, T> {
    let w = realized::<_, Rank4Dyn, D, T>(weight.retaped::<T>());
    let b = realized::<_, (usize,), D, T>(bias.retaped::<T>());
    conv2d_reference(x, w, b, stride, pad)
}

#[cfg(feature = "cuda")]
impl ConvDevice for Cuda {
    fn conv2d<T: Tape<f32, Self> + Merge<T>, const CO: usize, const CI: usize, const K: usize>(
        x: Tensor<Rank4Dyn, f32, Self, T>,
        weight: &Tensor<Rank4<CO, CI, K, K>, f32, Self>,
        bias: &Tensor<Rank1<CO>, f32, Self>,
        stride: usize,
        pad: usize,
    ) -> Tensor<Rank4Dyn, f32, Self, T> {
        conv2d_generic(x, weight, bias, stride, pad)
    }

    fn group_norm<T: Tape<f32, Self> + Merge<T>, const C: usize>(
        x: Act<Self, T>,
        gamma: &Tensor<Rank1<C>, f32, Self>,
        beta: &Tensor<Rank1<C>, f32, Self>,
        groups: usize,
    ) -> Act<Self, T> {
        group_norm_generic(x, gamma, beta, groups)
    }

    fn silu<T: Tape<f32, Self> + Merge<T>>(x: Act<Self, T>) -> Act<Self, T> {
        silu(x)
    }
}
