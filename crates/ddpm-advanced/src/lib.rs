//! # Chapter 9 — recent developments, each one measured
//!
//! The chapter's measurements are runs of the `ddpm` command listed in plan files
//! (`plans/ch09-*.plan`, run by `ddpm plan`), each writing its `eval.json` under
//! `results/ch09/`. This crate reads those files back ([`results`]) and draws the chapter's
//! figures and tables from them ([`figures`]), so every number in the chapter comes from a run
//! that one command repeats.
//!
//! The methods themselves live with the code they extend: the strided and DDIM samplers in the
//! sampling layer `ddpm-sampling` (beside Algorithm 2), the ε/x₀/v objectives in `ddpm-loss`, the
//! UNet's depth, attention and time-injection options in `ddpm-unet`.

// The crate under its own name, so the exercise file reads the same here and in the copy
// `cargo xtask exercises start 09` makes (which depends on this crate).
extern crate self as ddpm_advanced;

pub mod ablation;
// The reference solutions are compiled for their tests only, not part of the crate's API.
#[cfg(test)]
mod exercises;
pub mod figures;
pub mod results;

pub use results::{families, load_sampler_results, ResultsError, SamplerResult};
