//! # Chapter 6 — Algorithms 1 and 2 on 2-D data
//!
//! Ho et al.'s two algorithms, implemented as written and seen working on data small enough to
//! train on a CPU in seconds:
//!
//! - [`embedding`]: the sinusoidal time embedding that tells the network which step it is at
//!   (the UNet of chapter 7 uses the same one);
//! - [`model`]: an MLP ε-model for 2-D points;
//! - [`train`]: **Algorithm 1**, gradient steps on L_simple;
//! - [`sample`]: **Algorithm 2**, ancestral sampling from x_T ~ N(0, I), plus the *exact* noise
//!   predictor of a Gaussian mixture, which tests the sampler without any training;
//! - [`distance`]: the sliced Wasserstein distance between point clouds, to say "close" with a
//!   number;
//! - [`figures`]: the chapter's figures and the reverse-process animation.

/// dfdx, re-exported so notebooks and users get the same version the crate uses.
pub use dfdx;

// The crate under its own name, so the exercise file reads the same here and in the copy
// `cargo xtask exercises start 06` makes (which depends on this crate).
extern crate self as ddpm_toy;

pub mod distance;
pub mod embedding;
pub mod exercises;
pub mod figures;
pub mod model;
pub mod sample;
pub mod shortcuts;
pub mod train;

pub use distance::sliced_wasserstein;
pub use embedding::timestep_embedding;
pub use model::{DeviceEpsMlp, EpsMlp, Points, ToyModel};
pub use sample::{
    reverse_step, sample, split_variance, Ancestral, Chain, ClipX0, Denoiser, MixtureDenoiser,
    SampleOptions, Sampled, Sampler, SamplerKind,
};
pub use shortcuts::{respaced_schedule, respaced_steps, slerp, Ddim, Strided};
pub use train::{train, TrainConfig};
