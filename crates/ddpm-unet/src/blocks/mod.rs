//! The UNet's building blocks as dfdx modules, one file per layer. Parameters have
//! compile-time shapes (dfdx's optimisers, EMA and safetensors see only those); activations are
//! `[B, C, H, W]` with run-time sizes.

use dfdx::prelude::*;

mod attention;
mod conv;
mod labels;
mod norm;
mod res_block;

pub use attention::{Attend, Attention, DeviceAttention};
pub use conv::{Conv, DeviceConv};
pub use labels::Labels;
pub use norm::{DeviceGroupNorm, GroupNorm};
pub use res_block::{DeviceResBlock, ResBlock, Skip};

pub use crate::ops::{group_norm_generic, silu, Act};

/// The identity: a residual skip that needs no projection, a place where no attention runs, or
/// an unconditional UNet's (absent) labels.
#[derive(Clone, Copy, Debug, Default)]
pub struct Identity;

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
