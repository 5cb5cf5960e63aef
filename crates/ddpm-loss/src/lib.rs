//! # Chapter 5 — from L_{t−1} to L_simple
//!
//! Each term of the bound compares two Gaussians with the same variance σ_t², so it is a
//! squared distance between means: L_{t−1} = ‖μ̃_t − μ_θ‖² / (2σ_t²) + C. Writing the model's mean
//! through a noise prediction (the ε-parameterisation) turns that into a weighted noise
//! regression, L_{t−1} − C = w_t ‖ε − ε_θ‖² with w_t = β_t² / (2σ_t² α_t (1 − ᾱ_t)); dropping w_t
//! gives Ho et al.'s L_simple. [`weights`] holds the identities (host, `f64`, tested against the
//! KL of chapter 4), [`loss`] the training losses on dfdx tensors, [`objective`] what the network
//! outputs (ε, x₀ or v) and the conversions between them, [`figures`] the weight plot.

/// dfdx, re-exported so notebooks and users get the same version the crate uses.
pub use dfdx;

// The crate under its own name, so the exercise file reads the same here and in the copy
// `cargo xtask exercises start 05` makes (which depends on this crate).
extern crate self as ddpm_loss;

// The reference solutions are compiled for their tests only, not part of the crate's API.
#[cfg(test)]
mod exercises;
pub mod figures;
pub mod hybrid;
pub mod loss;
pub mod objective;
pub mod weights;

pub use hybrid::l_hybrid;
pub use loss::{l_simple, weighted_eps_loss};
pub use objective::Objective;
pub use weights::{eps_weight, mu_mse_term};
