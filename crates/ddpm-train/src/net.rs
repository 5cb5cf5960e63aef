//! Which UNet: the presets a run can name, and the one trait training, sampling and evaluation
//! need from a noise model.
//!
//! dfdx 0.13 gives every parameter a compile-time shape, so a UNet's size is a type
//! ([`ddpm_unet::UNet`]'s const generics). A run names a [`Preset`]; the CLI dispatches on it
//! once ([`with_preset!`](crate::with_preset)) and everything below is generic code.

use std::fmt;
use std::str::FromStr;

use ddpm_toy::Denoiser;
use ddpm_unet::blocks::{Act, Attend};
use ddpm_unet::{ConvDevice, DeviceUNet, UNet};
use dfdx::prelude::*;

/// A network the course trains on images: its output for x_t `[B, 1, 28, 28]` at steps `ts`,
/// with any tape — ε̂, x̂₀ or v̂, as the run's objective says; the parameter walk (dfdx's
/// `TensorCollection`) that optimisers, EMA and checkpoints use; and, for the samplers, the
/// same output on rows ([`Denoiser`]).
pub trait DiffusionNet<D: ConvDevice>:
    TensorCollection<f32, D, To<f32, D> = Self> + Clone + Denoiser<D>
{
    fn predict<T: Tape<f32, D> + Merge<T>>(&self, x: Act<D, T>, ts: &[usize]) -> Act<D, T>;
    /// Dropout probability in the residual blocks (acts only while training).
    fn set_dropout(&mut self, p: f32);
}

impl<
        const C1: usize,
        const C2: usize,
        const C12: usize,
        const C22: usize,
        const TE: usize,
        const H: usize,
        const G: usize,
        const XB: usize,
        const T1: usize,
        const T2: usize,
        A7: Attend<D> + TensorCollection<f32, D, To<f32, D> = A7> + Clone,
        A14: Attend<D> + TensorCollection<f32, D, To<f32, D> = A14> + Clone,
        D: ConvDevice,
    > DiffusionNet<D> for DeviceUNet<C1, C2, C12, C22, TE, H, G, f32, D, XB, T1, T2, A7, A14>
{
    fn predict<T: Tape<f32, D> + Merge<T>>(&self, x: Act<D, T>, ts: &[usize]) -> Act<D, T> {
        self.forward(x, ts)
    }
    fn set_dropout(&mut self, p: f32) {
        DeviceUNet::set_dropout(self, p)
    }
}

// ANCHOR: presets
/// The named UNet sizes (channels at 28×28 and at 14×14/7×7, time-embedding width, heads,
/// groups). `Small` is what fits the ten-minute CPU budget; `Base` is chapter 7's `MnistUNet`.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// 4 / 8 channels: for tests (seconds).
    Tiny,
    /// 16 / 32 channels, 64-wide time embedding, 4 heads, 8 groups: 150,033 parameters, the
    /// ten-minute CPU budget.
    Small,
    /// 32 / 64 channels, 128-wide time embedding, 4 heads, 8 groups: 596,001 parameters,
    /// chapter 7's `MnistUNet`.
    Base,
}

pub type TinyNet = UNet<4, 8, 12, 16, 8, 2, 2>;
pub type SmallNet = ddpm_unet::SmallUNet;
pub type BaseNet = ddpm_unet::MnistUNet;
// ANCHOR_END: presets

impl Preset {
    pub const ALL: [Preset; 3] = [Preset::Tiny, Preset::Small, Preset::Base];

    pub fn name(self) -> &'static str {
        match self {
            Preset::Tiny => "tiny",
            Preset::Small => "small",
            Preset::Base => "base",
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Preset {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| format!("unknown UNet preset '{s}': expected tiny, small or base"))
    }
}

/// Runs `$body` with the type alias `$net` bound to the preset's built UNet on device `$dev`:
/// `with_preset!(preset, Cpu, Net => train::<Cpu, Net>(...))`.
#[macro_export]
macro_rules! with_preset {
    ($preset:expr, $dev:ty, $net:ident => $body:expr) => {
        match $preset {
            $crate::Preset::Tiny => {
                type $net = <$crate::net::TinyNet as dfdx::nn::BuildOnDevice<$dev, f32>>::Built;
                $body
            }
            $crate::Preset::Small => {
                type $net = <$crate::net::SmallNet as dfdx::nn::BuildOnDevice<$dev, f32>>::Built;
                $body
            }
            $crate::Preset::Base => {
                type $net = <$crate::net::BaseNet as dfdx::nn::BuildOnDevice<$dev, f32>>::Built;
                $body
            }
        }
    };
}
