//! DPM-Solver++(2M) (Lu et al. 2022b, "DPM-Solver++", Algorithm 2): a second-order multistep
//! method on DDIM's ODE at one network call a step. In λ = log(√ᾱ/√(1 − ᾱ)) (half the log
//! signal-to-noise ratio) the ODE's linear part is solved exactly, leaving an integral of x̂₀
//! over λ. DDIM takes x̂₀ constant over the step (first order); DPM-Solver++(2M) draws a line
//! through this step's x̂₀ and the last step's, so the second order costs no extra call — the
//! sampler remembers one prediction instead.

use std::cell::RefCell;

use ddpm_forward::Rows;
use dfdx::prelude::*;
use rand::RngCore;

use crate::respace::respaced_steps;
use crate::{Sampler, Step, Steps};

/// DPM-Solver++(2M) in `steps` steps: deterministic, one network call a step. Its first step
/// (no earlier x̂₀ yet) is DDIM's, and so are its last two: into τ_1, where the line through the
/// last two predictions would be extrapolated over most of λ's range (the "lower order final"
/// of Lu et al.'s code), and to t = 0, which is x̂₀ itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DpmSolver {
    pub steps: usize,
}

impl Steps for DpmSolver {
    fn name(&self) -> String {
        format!("dpm++2m:{}", self.steps)
    }
    fn family(&self) -> String {
        "DPM-Solver++(2M)".into()
    }
    fn timesteps(&self, t_max: usize) -> Vec<usize> {
        respaced_steps(t_max, self.steps)
    }
    fn is_deterministic(&self) -> bool {
        true
    }
    fn uses_variance(&self) -> bool {
        false
    }
    fn noise(&self, _variance: &str) -> String {
        "no noise after x_T".into()
    }
}

impl DpmSolver {
    /// The sampler on device `D`: a runner that keeps the last step's (λ, x̂₀) along a chain.
    pub fn build<D: Device<f32>>(self) -> Box<dyn Sampler<D>> {
        Box::new(Multistep {
            kind: self,
            last: RefCell::new(None),
        })
    }
}

/// [`DpmSolver`] with its memory: λ and x̂₀ of the step before, forgotten where a chain starts
/// (at t = T), so one runner serves chain after chain.
struct Multistep<D: Device<f32>> {
    kind: DpmSolver,
    last: RefCell<Option<(f64, Rows<D>)>>,
}

impl<D: Device<f32>> Steps for Multistep<D> {
    fn name(&self) -> String {
        self.kind.name()
    }
    fn family(&self) -> String {
        self.kind.family()
    }
    fn timesteps(&self, t_max: usize) -> Vec<usize> {
        self.kind.timesteps(t_max)
    }
    fn is_deterministic(&self) -> bool {
        self.kind.is_deterministic()
    }
    fn uses_variance(&self) -> bool {
        self.kind.uses_variance()
    }
    fn noise(&self, variance: &str) -> String {
        self.kind.noise(variance)
    }
}

// ANCHOR: dpm_solver
impl<D: Device<f32>> Sampler<D> for Multistep<D> {
    /// h = λ_p − λ_t; D = x̂₀ on the first step, else D = (1 + 1/2r) x̂₀ − (1/2r) x̂₀_last with
    /// r = (λ_t − λ_last)/h; x_p = (σ_p/σ_t) x_t + √ᾱ_p (1 − e^{−h}) D, with σ = √(1 − ᾱ).
    /// With D = x̂₀ (the first step and the step into τ_1) this is DDIM's η = 0 step; to p = 0
    /// (λ = ∞) it is x̂₀.
    fn step(&self, s: &Step<D>, x: Rows<D>, _rng: &mut dyn RngCore) -> Rows<D> {
        let (_, x0) = s.eps_x0(&x, s.at.t);
        let last = match s.at.t == s.d.schedule.t_max() {
            true => None, // a new chain
            false => self.last.borrow_mut().take(),
        };
        if s.at.prev == 0 {
            return x0;
        }
        let (ab_t, ab_p) = s.alpha_bars();
        let lambda = |ab: f64| 0.5 * (ab / (1.0 - ab)).ln();
        let (l_t, l_p) = (lambda(ab_t), lambda(ab_p));
        let h = l_p - l_t;
        let d = match &last {
            // The step into τ_1 spans most of λ's range (τ_1 = 1 is almost noise-free): a
            // line through two predictions far behind it would be extrapolated too far.
            _ if s.at.i == 2 => x0.clone(),
            None => x0.clone(),
            Some((l_last, x0_last)) => {
                let k = h / (2.0 * (l_t - l_last)); // 1/2r
                x0.clone() * (1.0 + k) as f32 - x0_last.clone() * k as f32
            }
        };
        let decay = ((1.0 - ab_p) / (1.0 - ab_t)).sqrt(); // σ_p/σ_t
        let gain = ab_p.sqrt() * -(-h).exp_m1(); // √ᾱ_p (1 − e^{−h})
        *self.last.borrow_mut() = Some((l_t, x0));
        x * decay as f32 + d * gain as f32
    }
}
// ANCHOR_END: dpm_solver
