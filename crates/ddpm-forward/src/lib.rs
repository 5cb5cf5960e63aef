//! # Chapter 3 — the forward process and the ᾱ trick
//!
//! The forward process turns data into noise one small Gaussian step at a time:
//! q(x_t | x_{t−1}) = N(√(1−β_t) x_{t−1}, β_t I). Composing t such steps gives a single Gaussian,
//! q(x_t | x_0) = N(√ᾱ_t x_0, (1−ᾱ_t) I), so x_t can be sampled in one go with the
//! reparameterisation x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε. This crate implements both routes on dfdx
//! tensors ([`process`]), the statistics that check one against the other ([`stats`]), and the
//! chapter's figures ([`figures`]).
//!
//! Batches are `[B, N]` tensors: B examples, each flattened to N numbers (2 for points, 784
//! for a 28 × 28 image), each example with its own t.

/// dfdx, re-exported so notebooks and users get the same version the crate uses.
pub use dfdx;

// The crate under its own name, so the exercise file reads the same here and in the copy
// `cargo xtask exercises start 03` makes (which depends on this crate).
extern crate self as ddpm_forward;

// The reference solutions are compiled for their tests only, not part of the crate's API.
#[cfg(test)]
mod exercises;
pub mod figures;
pub mod process;
pub mod stats;

pub use process::{q_chain, q_mean_variance, q_sample, q_step, Rows};
pub use stats::{column_moments, ks_critical_value, ks_statistic_standard_normal};
