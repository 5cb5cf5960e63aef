//! # Chapter 2 — notation and noise schedules
//!
//! The forward process adds Gaussian noise in `T` small steps; step `t` has variance β_t. Every
//! other quantity in DDPM is a function of the β's:
//!
//! | symbol | definition | method |
//! |---|---|---|
//! | α_t | 1 − β_t | [`Schedule::alpha`] |
//! | ᾱ_t | ∏_{s ≤ t} α_s (ᾱ_0 = 1) | [`Schedule::alpha_bar`] |
//! | SNR(t) | ᾱ_t / (1 − ᾱ_t) | [`Schedule::snr`] |
//! | β̃_t | (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · β_t | [`Schedule::posterior_variance`] |
//!
//! [`betas`] holds the four schedules (linear, cosine, quadratic, sigmoid), [`schedule`] the
//! derived quantities, [`gaussian`] the Gaussian helpers used from chapter 3 on, and [`figures`]
//! the chapter's plots. Time runs t = 1, …, T as in the papers; t = 0 is the data.

// The crate under its own name, so the exercise file reads the same here and in the copy
// `cargo xtask exercises start 02` makes (which depends on this crate).
extern crate self as ddpm_schedule;

pub mod betas;
// The reference solutions are compiled for their tests only, not part of the crate's API.
#[cfg(test)]
mod exercises;
/// dfdx and rand, re-exported so notebooks and users get the versions the crate uses.
pub use dfdx;
pub use rand;

pub mod figures;
pub mod gaussian;
pub mod schedule;

pub use betas::{
    cosine_alpha_bar, cosine_betas, linear_betas, quadratic_betas, sigmoid_betas, BetaSchedule,
};
pub use gaussian::{log_normal_pdf, normal_samples, randn, standard_normal_cdf};
pub use schedule::{Schedule, ScheduleError};
