//! # The sampling layer
//!
//! One place owns what a network's output *means* and one interface serves every sampler —
//! what the chapters from 6 on build on:
//!
//! - [`embedding`]: the sinusoidal time embedding that tells a network which step it is at
//!   (chapter 6's MLP and chapter 7's UNet);
//! - [`denoiser`]: what a sampler asks of a network ([`Denoiser`]);
//! - [`diffusion`]: [`Diffusion::p_mean_variance`], the output read as ε̂, x̂₀, μ and σ², and
//!   [`Diffusion::eps_x0`], ε̂ and x̂₀ alone (x̂₀ clipped if asked) — for every sampler and the
//!   bound;
//! - [`sampler`]: the [`Steps`] and [`Sampler`] traits (the steps a sampler visits, and one
//!   `step`, given a [`Step`]) and the loop that runs any of them;
//! - [`respace`]: the subsequence of steps a shorter sampler visits, and its chain's schedule;
//! - [`samplers`]: the samplers, from Algorithm 2 ([`Ancestral`]) on, one file each, and the
//!   registry that knows them by name ([`SamplerKind`]: "ancestral", "strided:50", "ddim:50:1",
//!   …; [`SAMPLER_NAMES`] lists them) as `Box<dyn Sampler<D>>`.

pub use dfdx;

pub mod denoiser;
pub mod diffusion;
pub mod embedding;
pub mod respace;
pub mod sampler;
pub mod samplers;

pub use denoiser::Denoiser;
pub use diffusion::{split_variance, Diffusion, Prediction, StepAt, Variance};
pub use embedding::timestep_embedding;
pub use respace::{respaced_schedule, respaced_steps, slerp};
pub use sampler::{chain_schedule, noise, Chain, SampleOptions, Sampler, Step, Steps};
pub use samplers::*;
