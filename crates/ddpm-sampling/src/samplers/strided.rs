//! The strided sampler (Nichol & Dhariwal 2021): Algorithm 2 on a respaced schedule.

use ddpm_forward::Rows;
use dfdx::prelude::*;
use rand::RngCore;

use super::Ancestral;
use crate::respace::respaced_steps;
use crate::{Sampler, Step, Steps};

/// Algorithm 2 on the respaced schedule: S steps, each a Gaussian reverse step of the
/// shortened chain (the network is still asked at the original t = τ_i).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Strided {
    pub steps: usize,
}

// ANCHOR: strided
impl Steps for Strided {
    fn name(&self) -> String {
        format!("strided:{}", self.steps)
    }
    fn family(&self) -> String {
        "strided Algorithm 2".into()
    }
    fn timesteps(&self, t_max: usize) -> Vec<usize> {
        respaced_steps(t_max, self.steps)
    }
    fn is_deterministic(&self) -> bool {
        false
    }
}

impl<D: Device<f32>> Sampler<D> for Strided {
    /// Algorithm 2's step on the respaced chain: μ and σ² from the chain's β'_i (the loop hands
    /// the step the chain's schedule), the network asked at τ_i.
    fn step(&self, s: &Step<D>, x: Rows<D>, rng: &mut dyn RngCore) -> Rows<D> {
        Ancestral.step(s, x, rng)
    }
}
// ANCHOR_END: strided
