//! Which UNet: the presets a run can name, and the one trait training, sampling and evaluation
//! need from a noise model.
//!
//! dfdx 0.13 gives every parameter a compile-time shape, so a UNet's size is a type
//! ([`ddpm_unet::UNet`]'s const generics). A run names a [`Preset`]; the CLI dispatches on it
//! once ([`with_preset!`](crate::with_preset)) and everything below is generic code.

use std::fmt;
use std::str::FromStr;

use ddpm_sampling::Denoiser;
use ddpm_unet::blocks::{Act, Attend, Labels};
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
    /// The classes a conditional network knows (0: unconditional); label `CLASSES` is "none".
    const CLASSES: usize;
    /// [`predict`](Self::predict) given each image's class (ignored when unconditional).
    fn predict_labelled<T: Tape<f32, D> + Merge<T>>(
        &self,
        x: Act<D, T>,
        ts: &[usize],
        labels: Option<&[usize]>,
    ) -> Act<D, T>;
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
        L: Labels<TE, D> + TensorCollection<f32, D, To<f32, D> = L> + Clone,
        const OUT: usize,
        D: ConvDevice,
    > DiffusionNet<D>
    for DeviceUNet<C1, C2, C12, C22, TE, H, G, f32, D, XB, T1, T2, A7, A14, L, OUT>
{
    fn predict<T: Tape<f32, D> + Merge<T>>(&self, x: Act<D, T>, ts: &[usize]) -> Act<D, T> {
        self.forward(x, ts)
    }
    const CLASSES: usize = L::CLASSES;
    fn predict_labelled<T: Tape<f32, D> + Merge<T>>(
        &self,
        x: Act<D, T>,
        ts: &[usize],
        labels: Option<&[usize]>,
    ) -> Act<D, T> {
        self.forward_labelled(x, ts, labels)
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
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// 4 / 8 channels: for tests (seconds).
    Tiny,
    /// 16 / 32 channels, 64-wide time embedding, 4 heads, 8 groups: 150,033 parameters, the
    /// ten-minute CPU budget.
    Small,
    /// 32 / 64 channels, 128-wide time embedding, 4 heads, 8 groups: 596,001 parameters,
    /// chapter 7's `MnistUNet`.
    Base,
    /// Chapter 9's "deeper and narrower": two ResBlocks per level at 16 / 24 channels
    /// (133,689 parameters, 11% fewer than `small`).
    SmallDeep,
    /// Chapter 9's "more attention": `small` with self-attention at 14×14 as well as 7×7.
    SmallAttn14,
    /// Chapter 9's "more heads": `small` with 8 attention heads of 4 channels (not 4 of 8).
    SmallHeads8,
    /// Chapter 9's "fewer heads": `small` with 1 attention head of 32 channels.
    SmallHeads1,
    /// Chapter 9's "fewer heads": `small` with 2 attention heads of 16 channels.
    SmallHeads2,
    /// Chapter 9's heads of 8 channels (as `small`'s): 2 heads, queries, keys and values 16 wide.
    SmallHeads2x8,
    /// Chapter 9's heads of 8 channels (as `small`'s): 8 heads, queries, keys and values 64 wide.
    SmallHeads8x8,
    /// Chapter 9's "adaptive group norm": `small` with the time embedding as a scale and shift
    /// after every ResBlock's second GroupNorm.
    SmallAdagn,
    /// Chapter 9's guidance: `small` told which digit to draw (a learned embedding per class,
    /// and one for "no label", added to the time embedding).
    SmallClass,
    /// Chapter 9's learned variances: `small` with a second output channel, v, for the reverse
    /// variance σ² = exp(v ln β_t + (1 − v) ln β̃_t), trained with L_hybrid.
    SmallLearned,
}

pub type TinyNet = UNet<4, 8, 12, 16, 8, 2, 2>;
pub type SmallNet = ddpm_unet::SmallUNet;
pub type BaseNet = ddpm_unet::MnistUNet;
// ANCHOR_END: presets

// ANCHOR: ablation_presets
/// Chapter 9's variants of `small`, each changing one thing (see [`UNet`]'s parameters).
pub type SmallDeepNet = UNet<16, 24, 40, 48, 64, 4, 8, 1>;
pub type SmallAttn14Net = UNet<16, 32, 48, 64, 64, 4, 8, 0, 16, 32, Attn32, Attn32>;
pub type SmallHeads8Net = UNet<16, 32, 48, 64, 64, 8, 8>;
pub type SmallHeads1Net = UNet<16, 32, 48, 64, 64, 1, 8>;
pub type SmallHeads2Net = UNet<16, 32, 48, 64, 64, 2, 8>;
pub type SmallHeads2x8Net = UNet<16, 32, 48, 64, 64, 2, 8, 0, 16, 32, Attn<2, 16>>;
pub type SmallHeads8x8Net = UNet<16, 32, 48, 64, 64, 8, 8, 0, 16, 32, Attn<8, 64>>;
pub type SmallAdagnNet = UNet<16, 32, 48, 64, 64, 4, 8, 0, 32, 64>;
pub type SmallClassNet = UNet<16, 32, 48, 64, 64, 4, 8, 0, 16, 32, Attn32, Identity, Digits>;
pub type SmallLearnedNet = UNet<16, 32, 48, 64, 64, 4, 8, 0, 16, 32, Attn32, Identity, Identity, 2>;
/// The ten digits and "no label", each a 64-wide vector.
type Digits = dfdx::nn::builders::Embedding<11, 64>;
type Attn32 = ddpm_unet::blocks::Attention<32, 4, 8>;
/// Attention at 7×7 (32 channels) with `H` heads and queries, keys and values `QKV` wide.
type Attn<const H: usize, const QKV: usize> = ddpm_unet::blocks::Attention<32, H, 8, QKV>;
use ddpm_unet::blocks::Identity;
// ANCHOR_END: ablation_presets

impl Preset {
    pub const ALL: [Preset; 13] = [
        Preset::Tiny,
        Preset::Small,
        Preset::Base,
        Preset::SmallDeep,
        Preset::SmallAttn14,
        Preset::SmallHeads8,
        Preset::SmallHeads1,
        Preset::SmallHeads2,
        Preset::SmallHeads2x8,
        Preset::SmallHeads8x8,
        Preset::SmallAdagn,
        Preset::SmallClass,
        Preset::SmallLearned,
    ];

    /// Whether its UNet is told the digit (class-conditional, for guidance).
    pub fn is_conditional(self) -> bool {
        self == Preset::SmallClass
    }

    /// Whether its UNet gives its own reverse variance (a second output channel).
    pub fn learns_variance(self) -> bool {
        self == Preset::SmallLearned
    }

    pub fn name(self) -> &'static str {
        match self {
            Preset::Tiny => "tiny",
            Preset::Small => "small",
            Preset::Base => "base",
            Preset::SmallDeep => "small-deep",
            Preset::SmallAttn14 => "small-attn14",
            Preset::SmallHeads8 => "small-heads8",
            Preset::SmallHeads1 => "small-heads1",
            Preset::SmallHeads2 => "small-heads2",
            Preset::SmallHeads2x8 => "small-heads2x8",
            Preset::SmallHeads8x8 => "small-heads8x8",
            Preset::SmallAdagn => "small-adagn",
            Preset::SmallClass => "small-class",
            Preset::SmallLearned => "small-learned",
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
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|p| p.name()).collect();
                format!(
                    "unknown UNet preset '{s}': expected one of {}",
                    names.join(", ")
                )
            })
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
            $crate::Preset::SmallDeep => {
                type $net =
                    <$crate::net::SmallDeepNet as dfdx::nn::BuildOnDevice<$dev, f32>>::Built;
                $body
            }
            $crate::Preset::SmallAttn14 => {
                type $net =
                    <$crate::net::SmallAttn14Net as dfdx::nn::BuildOnDevice<$dev, f32>>::Built;
                $body
            }
            $crate::Preset::SmallHeads8 => {
                type $net =
                    <$crate::net::SmallHeads8Net as dfdx::nn::BuildOnDevice<$dev, f32>>::Built;
                $body
            }
            $crate::Preset::SmallHeads1 => {
                type $net =
                    <$crate::net::SmallHeads1Net as dfdx::nn::BuildOnDevice<$dev, f32>>::Built;
                $body
            }
            $crate::Preset::SmallHeads2 => {
                type $net =
                    <$crate::net::SmallHeads2Net as dfdx::nn::BuildOnDevice<$dev, f32>>::Built;
                $body
            }
            $crate::Preset::SmallHeads2x8 => {
                type $net =
                    <$crate::net::SmallHeads2x8Net as dfdx::nn::BuildOnDevice<$dev, f32>>::Built;
                $body
            }
            $crate::Preset::SmallHeads8x8 => {
                type $net =
                    <$crate::net::SmallHeads8x8Net as dfdx::nn::BuildOnDevice<$dev, f32>>::Built;
                $body
            }
            $crate::Preset::SmallAdagn => {
                type $net =
                    <$crate::net::SmallAdagnNet as dfdx::nn::BuildOnDevice<$dev, f32>>::Built;
                $body
            }
            $crate::Preset::SmallClass => {
                type $net =
                    <$crate::net::SmallClassNet as dfdx::nn::BuildOnDevice<$dev, f32>>::Built;
                $body
            }
            $crate::Preset::SmallLearned => {
                type $net =
                    <$crate::net::SmallLearnedNet as dfdx::nn::BuildOnDevice<$dev, f32>>::Built;
                $body
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Presets whose parameters have the same shapes start from the same weights (the device's
    /// random draws come in the same order): `small-heads1`, `-heads2` and `-heads8` differ from
    /// `small` only in how its attention is split into heads. A preset with other shapes
    /// (`small-heads2x8`) draws the same weights up to its attention and other ones from there
    /// on, as another seed would.
    #[test]
    fn presets_of_the_same_shapes_start_from_the_same_weights() {
        type Built<N> = <N as BuildOnDevice<Cpu, f32>>::Built;
        let small = Built::<SmallNet>::build(&Cpu::seed_from_u64(0));
        let heads2 = Built::<SmallHeads2Net>::build(&Cpu::seed_from_u64(0));
        let narrow = Built::<SmallHeads2x8Net>::build(&Cpu::seed_from_u64(0));
        assert_eq!(
            small.attn.mha.w_q.weight.as_vec(),
            heads2.attn.mha.w_q.weight.as_vec()
        );
        assert_eq!(
            small.conv_out.weight.as_vec(),
            heads2.conv_out.weight.as_vec()
        );
        assert_eq!(
            small.down2.conv1.weight.as_vec(),
            narrow.down2.conv1.weight.as_vec()
        );
        assert_ne!(
            small.conv_out.weight.as_vec(),
            narrow.conv_out.weight.as_vec()
        );
    }

    /// The CLI asks the preset whether a model takes labels; the type is what knows.
    #[test]
    fn presets_name_their_types_and_say_which_take_labels() {
        for p in Preset::ALL {
            let (classes, learned) = crate::with_preset!(p, Cpu, Net => {
                let net = <Net as BuildModule<Cpu, f32>>::build(&Cpu::default());
                (<Net as DiffusionNet<Cpu>>::CLASSES, net.learns_variance())
            });
            assert_eq!(p.is_conditional(), classes > 0, "{p}");
            assert_eq!(p.learns_variance(), learned, "{p}");
            assert_eq!(p.name().parse::<Preset>(), Ok(p));
            let json = serde_json::to_value(p).unwrap();
            assert_eq!(
                json,
                serde_json::json!(p.name()),
                "checkpoints store the CLI's name"
            );
        }
        assert!("huge"
            .parse::<Preset>()
            .unwrap_err()
            .contains("small-class"));
    }
}
