//! DDIM (Song, Meng & Ermon 2021): from the same trained network, a chain whose step is
//! deterministic when η = 0. At each τ_i it predicts x̂₀ and re-noises it to the level of
//! τ_{i−1}, with only part of the noise fresh.

use ddpm_forward::Rows;
use dfdx::prelude::*;
use rand::RngCore;

use crate::respace::respaced_steps;
use crate::{noise, Denoiser, Diffusion, Sampler, Step, Steps};

/// DDIM in `steps` steps with stochasticity η.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ddim {
    pub steps: usize,
    /// 0: deterministic (DDIM); 1 with all T steps: Algorithm 2 with σ_t² = β̃_t.
    pub eta: f64,
}

impl Steps for Ddim {
    fn name(&self) -> String {
        match self.eta {
            0.0 => format!("ddim:{}", self.steps),
            eta => format!("ddim:{}:{eta}", self.steps),
        }
    }
    fn family(&self) -> String {
        format!("DDIM, η = {}", self.eta)
    }
    fn timesteps(&self, t_max: usize) -> Vec<usize> {
        respaced_steps(t_max, self.steps)
    }
    fn is_deterministic(&self) -> bool {
        self.eta == 0.0
    }
    fn uses_variance(&self) -> bool {
        false
    }
    fn noise(&self, _variance: &str) -> String {
        format!("noise from η = {}", self.eta)
    }
}

// ANCHOR: ddim
impl<D: Device<f32>> Sampler<D> for Ddim {
    /// x̂₀ and ε̂ from the network (x̂₀ clipped if asked),
    /// σ = η √((1 − ᾱ_p)/(1 − ᾱ_t)) √(1 − ᾱ_t/ᾱ_p),
    /// x_p = √ᾱ_p x̂₀ + √(1 − ᾱ_p − σ²) ε̂ + σ z, for t = τ_i and p = τ_{i−1} (ᾱ_0 = 1).
    /// A learned variance plays no part: DDIM's σ comes from η.
    fn step(&self, s: &Step<D>, x: Rows<D>, rng: &mut dyn RngCore) -> Rows<D> {
        let (eps, x0) = s.eps_x0(&x, s.at.t);
        let (ab_t, ab_p) = s.alpha_bars();
        let sigma = self.eta * ((1.0 - ab_p) / (1.0 - ab_t) * (1.0 - ab_t / ab_p)).sqrt();
        let direction = (1.0 - ab_p - sigma * sigma).max(0.0).sqrt();
        let x_p = x0 * ab_p.sqrt() as f32 + eps * direction as f32;
        if sigma > 0.0 {
            x_p + noise(x.device(), *x.shape(), rng) * sigma as f32
        } else {
            x_p
        }
    }
}
// ANCHOR_END: ddim

// ANCHOR: ddim_invert
/// DDIM inversion: data `x0` encoded into the x_T from which `Ddim { steps, eta: 0.0 }` draws it
/// back — the η = 0 update run upwards, from p = τ_{i−1} (0: the data) to t = τ_i:
/// ε̂ = ε_θ(x_p, t), x̂₀ = (x_p − √(1 − ᾱ_p) ε̂)/√ᾱ_p, x_t = √ᾱ_t x̂₀ + √(1 − ᾱ_t) ε̂.
/// The sampler reads ε̂ at x_t and the encoder at x_p, so the round trip is exact only as the
/// steps grow (each step's mismatch is first order in the step's size). x̂₀ is not clipped.
pub fn ddim_invert<D: Device<f32>>(
    model: &dyn Denoiser<D>,
    d: &Diffusion,
    x0: Rows<D>,
    steps: usize,
) -> Rows<D> {
    let s = d.schedule;
    let d = Diffusion {
        clip_x0: false,
        ..*d
    };
    let n = x0.shape().0;
    let (mut x, mut p) = (x0, 0usize);
    let alpha_bar = |t: usize| if t == 0 { 1.0 } else { s.alpha_bar(t) };
    for t in respaced_steps(s.t_max(), steps) {
        let ts = vec![t; n];
        let (eps, _, _) = d.eps_x0(&x, &ts, model.denoise(x.clone(), &ts));
        let (ab_p, ab_t) = (alpha_bar(p), alpha_bar(t));
        let x0_hat = (x - eps.clone() * (1.0 - ab_p).sqrt() as f32) / ab_p.sqrt() as f32;
        x = x0_hat * ab_t.sqrt() as f32 + eps * (1.0 - ab_t).sqrt() as f32;
        p = t;
    }
    x
}
// ANCHOR_END: ddim_invert
