//! Heun's method on DDIM's ODE (Karras et al. 2022, "EDM", Algorithm 1): a second-order sampler.
//! With σ = √((1 − ᾱ)/ᾱ) and x̃ = x/√ᾱ, DDIM's deterministic step is exactly Euler's method on
//! dx̃/dσ = ε̂(x, t); Heun's method corrects each Euler step with the slope at its end, two
//! network calls a step for an error that falls with the square of the step size.

use ddpm_forward::Rows;
use dfdx::prelude::*;
use rand::RngCore;

use crate::respace::respaced_steps;
use crate::{Sampler, Step, Steps};

/// Heun's second-order method in `steps` steps: deterministic, 2 network calls a step (the last
/// step, to σ = 0, is Euler's: the network cannot be asked at t = 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heun {
    pub steps: usize,
}

impl Steps for Heun {
    fn name(&self) -> String {
        format!("heun:{}", self.steps)
    }
    fn family(&self) -> String {
        "Heun (2nd order)".into()
    }
    fn timesteps(&self, t_max: usize) -> Vec<usize> {
        respaced_steps(t_max, self.steps)
    }
    fn is_deterministic(&self) -> bool {
        true
    }
    fn network_calls(&self, t_max: usize) -> usize {
        2 * self.timesteps(t_max).len() - 1
    }
    fn uses_variance(&self) -> bool {
        false
    }
    fn noise(&self, _variance: &str) -> String {
        "no noise after x_T".into()
    }
}

// ANCHOR: heun
impl<D: Device<f32>> Sampler<D> for Heun {
    /// h = σ_p − σ_t; Euler: x̃' = x̃_t + h ε̂(x_t, t); Heun: x̃_p = x̃_t + h (ε̂(x_t, t) + ε̂(x', p))/2
    /// with x' = √ᾱ_p x̃'; x_p = √ᾱ_p x̃_p. At p = 0 (σ = 0) the Euler step is x̂₀ itself.
    fn step(&self, s: &Step<D>, x: Rows<D>, _rng: &mut dyn RngCore) -> Rows<D> {
        let (ab_t, ab_p) = s.alpha_bars();
        let sigma = |ab: f64| ((1.0 - ab) / ab).sqrt();
        let h = sigma(ab_p) - sigma(ab_t);
        let x_tilde = x.clone() * (1.0 / ab_t.sqrt()) as f32;
        let (slope, _) = s.eps_x0(&x, s.at.t);
        let euler = x_tilde.clone() + slope.clone() * h as f32;
        if s.at.prev == 0 {
            return euler;
        }
        let (end_slope, _) = s.eps_x0(&(euler * ab_p.sqrt() as f32), s.at.prev);
        (x_tilde + (slope + end_slope) * (h / 2.0) as f32) * ab_p.sqrt() as f32
    }
}
// ANCHOR_END: heun
