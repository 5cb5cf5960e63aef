//! # Chapter 6 — Algorithms 1 and 2 on 2-D data
//!
//! Ho et al.'s two algorithms, implemented as written and seen working on data small enough to
//! train on a CPU in seconds:
//!
//! - the sinusoidal time embedding that tells the network which step it is at is the sampling
//!   layer's ([`timestep_embedding`], in `ddpm-sampling`: the UNet of chapter 7 uses it too);
//! - [`model`]: an MLP ε-model for 2-D points;
//! - [`train`]: **Algorithm 1**, gradient steps on L_simple;
//! - [`sample`]: **Algorithm 2**, ancestral sampling from x_T ~ N(0, I) with the sampling
//!   layer's [`Ancestral`] sampler, plus the *exact* noise predictor of a Gaussian mixture,
//!   which tests every sampler without any training ([`shortcuts`] tests the strided sampler
//!   and DDIM with it);
//! - [`distance`]: the sliced Wasserstein distance between point clouds, to say "close" with a
//!   number;
//! - [`figures`]: the chapter's figures and the reverse-process animation.

/// dfdx, re-exported so notebooks and users get the same version the crate uses.
pub use dfdx;

// The crate under its own name, so the exercise file reads the same here and in the copy
// `cargo xtask exercises start 06` makes (which depends on this crate).
extern crate self as ddpm_toy;

// dfdx side by side with PyTorch, for the book's "Start here" page; tests only.
mod dfdx_guide;
pub mod distance;
// The reference solutions are compiled for their tests only, not part of the crate's API.
#[cfg(test)]
mod exercises;
pub mod figures;
pub mod model;
pub mod sample;
pub mod shortcuts;
pub mod train;

pub use distance::sliced_wasserstein;
pub use model::{DeviceEpsMlp, EpsMlp, Points, ToyModel};
pub use sample::{sample, MixtureDenoiser, Sampled};
pub use train::{train, TrainConfig};

/// The sampling layer, re-exported under the names chapter 6 introduces.
pub use ddpm_sampling::{
    respaced_schedule, respaced_steps, slerp, split_variance, timestep_embedding, Ancestral, Chain,
    Ddim, Denoiser, Diffusion, Heun, SampleOptions, Sampler, SamplerKind, Steps, Strided,
};
