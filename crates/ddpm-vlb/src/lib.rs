//! # Chapter 4 — the reverse process and the variational bound
//!
//! The model runs the chain backwards with Gaussian steps p_θ(x_{t−1} | x_t) = N(μ_θ(x_t, t), σ_t² I).
//! It is trained by maximising a lower bound on ln p_θ(x_0); its negative splits into one term per
//! step:
//!
//! L_vlb = L_T + Σ_{t=2..T} L_{t−1} + L_0, with
//! L_T = KL(q(x_T | x_0) ‖ p(x_T)), L_{t−1} = KL(q(x_{t−1} | x_t, x_0) ‖ p_θ(x_{t−1} | x_t)) and
//! L_0 = −ln p_θ(x_0 | x_1).
//!
//! The pieces: the Gaussian posterior q(x_{t−1} | x_t, x_0) ([`posterior`]), the model's mean and
//! variance ([`reverse`]), the KL divergence between Gaussians ([`kl`]), the discretised decoder
//! for 8-bit data ([`decoder`]), and the whole bound in bits per dimension for any ε-model
//! ([`bound`]). All in `f64` on the host: this is evaluation, where precision matters and no
//! gradient is needed.

/// dfdx, re-exported so notebooks and users get the same version the crate uses.
pub use dfdx;

// The crate under its own name, so the exercise file reads the same here and in the copy
// `cargo xtask exercises start 04` makes (which depends on this crate).
extern crate self as ddpm_vlb;

pub mod bound;
pub mod decoder;
// The reference solutions are compiled for their tests only, not part of the crate's API.
#[cfg(test)]
mod exercises;
pub mod figures;
pub mod gaussian_data;
pub mod kl;
pub mod posterior;
pub mod reverse;

pub use bound::{vlb_terms, vlb_terms_with_variance, EpsModel, VlbTerms};
pub use decoder::{discretized_gaussian_log_likelihood, pixel_bin_centres};
pub use gaussian_data::DiscretisedGaussian;
pub use kl::normal_kl;
pub use posterior::{posterior_mean_coef1, posterior_mean_coef2, q_posterior};
pub use reverse::{
    learned_sd, learned_variance, log_variance_range, p_mean, p_mean_from_eps, p_sample_step,
    p_sample_step_learned, predict_x0_from_eps, ModelVariance,
};
