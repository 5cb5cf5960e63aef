//! The four β schedules. Each returns `[β_1, …, β_T]` (index 0 holds β_1).

use std::f64::consts::FRAC_PI_2;
use std::fmt;
use std::str::FromStr;

use crate::ScheduleError;

/// A named way to choose β_1, …, β_T.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BetaSchedule {
    /// Ho et al. 2020: β rises linearly from 10⁻⁴ to 0.02 (at T = 1000).
    Linear,
    /// Nichol & Dhariwal 2021: ᾱ follows a squared cosine, so noise arrives gently.
    Cosine,
    /// β rises as the square of a linear ramp between the linear schedule's endpoints.
    Quadratic,
    /// β follows a logistic curve between the linear schedule's endpoints.
    Sigmoid,
}

impl BetaSchedule {
    /// Every schedule, in the order the book plots them.
    pub const ALL: [BetaSchedule; 4] = [
        BetaSchedule::Linear,
        BetaSchedule::Cosine,
        BetaSchedule::Quadratic,
        BetaSchedule::Sigmoid,
    ];

    /// The lower-case name used on command lines and in checkpoints.
    pub fn name(self) -> &'static str {
        match self {
            BetaSchedule::Linear => "linear",
            BetaSchedule::Cosine => "cosine",
            BetaSchedule::Quadratic => "quadratic",
            BetaSchedule::Sigmoid => "sigmoid",
        }
    }

    /// β_1, …, β_T for `t_max` = T steps.
    pub fn betas(self, t_max: usize) -> Vec<f64> {
        match self {
            BetaSchedule::Linear => linear_betas(t_max),
            BetaSchedule::Cosine => cosine_betas(t_max),
            BetaSchedule::Quadratic => quadratic_betas(t_max),
            BetaSchedule::Sigmoid => sigmoid_betas(t_max),
        }
    }
}

impl fmt::Display for BetaSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BetaSchedule {
    type Err = ScheduleError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| ScheduleError::UnknownSchedule(s.to_string()))
    }
}

/// `n` evenly spaced values from `a` to `b` inclusive (NumPy's `linspace`).
fn linspace(a: f64, b: f64, n: usize) -> Vec<f64> {
    match n {
        0 => vec![],
        1 => vec![a],
        _ => (0..n)
            .map(|i| a + (b - a) * i as f64 / (n - 1) as f64)
            .collect(),
    }
}

// ANCHOR: linear
/// The endpoints β_1 and β_T of the linear schedule, scaled by 1000/T so that any T destroys
/// the signal about as much as T = 1000 does (improved-diffusion's convention).
pub fn linear_endpoints(t_max: usize) -> (f64, f64) {
    let scale = 1000.0 / t_max as f64;
    (scale * 1e-4, scale * 0.02)
}

/// Linear schedule: β_t rises evenly from β_1 = 10⁻⁴ to β_T = 0.02 (for T = 1000).
pub fn linear_betas(t_max: usize) -> Vec<f64> {
    let (start, end) = linear_endpoints(t_max);
    linspace(start, end, t_max)
}
// ANCHOR_END: linear

// ANCHOR: cosine
/// The offset s of the cosine schedule: keeps β_1 from being vanishingly small.
pub const COSINE_S: f64 = 0.008;
/// The cap on cosine β's: near t = T the formula would give β → 1.
pub const MAX_BETA: f64 = 0.999;

/// ᾱ(t) = f(t) / f(0) with f(t) = cos²((t/T + s)/(1 + s) · π/2) — the curve the cosine schedule
/// is *defined* by. `t` may be fractional.
pub fn cosine_alpha_bar(t: f64, t_max: usize) -> f64 {
    let f = |t: f64| {
        ((t / t_max as f64 + COSINE_S) / (1.0 + COSINE_S) * FRAC_PI_2)
            .cos()
            .powi(2)
    };
    f(t) / f(0.0)
}

/// Cosine schedule: β_t = 1 − ᾱ(t)/ᾱ(t − 1), clipped at 0.999, so that the running product of
/// the α's follows [`cosine_alpha_bar`].
pub fn cosine_betas(t_max: usize) -> Vec<f64> {
    (1..=t_max)
        .map(|t| {
            let beta =
                1.0 - cosine_alpha_bar(t as f64, t_max) / cosine_alpha_bar(t as f64 - 1.0, t_max);
            beta.min(MAX_BETA)
        })
        .collect()
}
// ANCHOR_END: cosine

// ANCHOR: quadratic_sigmoid
/// Quadratic schedule: √β_t rises linearly between the linear schedule's √β_1 and √β_T.
pub fn quadratic_betas(t_max: usize) -> Vec<f64> {
    let (start, end) = linear_endpoints(t_max);
    linspace(start.sqrt(), end.sqrt(), t_max)
        .into_iter()
        .map(|b| b * b)
        .collect()
}

/// Sigmoid schedule: β_t = β_1 + (β_T − β_1) · σ(u_t), with u_t evenly spaced on [−6, 6].
pub fn sigmoid_betas(t_max: usize) -> Vec<f64> {
    let (start, end) = linear_endpoints(t_max);
    linspace(-6.0, 6.0, t_max)
        .into_iter()
        .map(|u| start + (end - start) / (1.0 + (-u).exp()))
        .collect()
}
// ANCHOR_END: quadratic_sigmoid
