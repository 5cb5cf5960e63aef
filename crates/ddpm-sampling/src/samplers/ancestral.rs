//! Algorithm 2 of Ho et al. 2020, the sampler every other one is measured against.

use ddpm_forward::Rows;
use dfdx::prelude::*;
use rand::RngCore;

use crate::{noise, Sampler, Step, Steps};

/// Algorithm 2 of Ho et al.: every step from T down to 1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ancestral;

impl Steps for Ancestral {
    fn name(&self) -> String {
        "ancestral".into()
    }
    fn family(&self) -> String {
        "ancestral (Algorithm 2)".into()
    }
    fn timesteps(&self, t_max: usize) -> Vec<usize> {
        (1..=t_max).collect()
    }
    fn is_deterministic(&self) -> bool {
        false
    }
}

// ANCHOR: algorithm2
impl<D: Device<f32>> Sampler<D> for Ancestral {
    /// Algorithm 2's step 3–4 (and, on a respaced chain, the strided sampler's):
    /// z ~ N(0, I) if i > 1 else z = 0, x_{t−1} = μ_θ(x_t, t) + σ_t z with
    /// μ_θ = (1/√α_t)(x_t − β_t/√(1 − ᾱ_t) · ε_θ(x_t, t)).
    fn step(&self, s: &Step<D>, x: Rows<D>, rng: &mut dyn RngCore) -> Rows<D> {
        let prediction = s.d.p_mean_variance(&x, s.at, s.output(&x, s.at.t));
        let z = (s.at.i > 1).then(|| noise(x.device(), *x.shape(), rng));
        prediction.sample(s.at, z)
    }
}
// ANCHOR_END: algorithm2
