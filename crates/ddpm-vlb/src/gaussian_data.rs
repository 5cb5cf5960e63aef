//! Data whose optimal denoiser is known in closed form: 1-D Gaussian values rounded to the 256
//! pixel bins. It lets the course evaluate the bound of the *best possible* ε-model without
//! training one, and compare it with the data's true negative log-likelihood.

use ddpm_schedule::Schedule;
use rand::Rng;
use rand_distr::StandardNormal;

use crate::{discretized_gaussian_log_likelihood, pixel_bin_centres};

/// x_0 ~ N(mean, sd²), rounded to the nearest pixel bin centre (values beyond ±1 to the edge).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DiscretisedGaussian {
    pub mean: f64,
    pub sd: f64,
}

impl DiscretisedGaussian {
    /// P(bin k) for the 256 bins: the Gaussian mass over each bin, edge bins open-ended.
    pub fn probabilities(&self) -> Vec<f64> {
        pixel_bin_centres()
            .iter()
            .map(|&c| discretized_gaussian_log_likelihood(c, self.mean, self.sd * self.sd).exp())
            .collect()
    }

    /// The true NLL of the data, its entropy −Σ P log₂ P, in bits.
    pub fn entropy_bits(&self) -> f64 {
        -self
            .probabilities()
            .iter()
            .filter(|&&p| p > 0.0)
            .map(|p| p * p.log2())
            .sum::<f64>()
    }

    /// `n` samples (bin centres).
    pub fn sample(&self, n: usize, rng: &mut impl Rng) -> Vec<f64> {
        let centres = pixel_bin_centres();
        (0..n)
            .map(|_| {
                let x: f64 = self.mean + self.sd * rng.sample::<f64, _>(StandardNormal);
                centres[((x + 1.0) * 127.5).round().clamp(0.0, 255.0) as usize]
            })
            .collect()
    }

    // ANCHOR: optimal_eps
    /// The optimal noise prediction E[ε | x_t] for Gaussian data of variance v (sd² plus the
    /// rounding's (2/255)²/12): ε̂ = √(1 − ᾱ_t) (x_t − √ᾱ_t μ) / (ᾱ_t v + 1 − ᾱ_t).
    pub fn optimal_eps(&self, s: &Schedule, xt: f64, t: usize) -> f64 {
        let v = self.sd * self.sd + (2.0f64 / 255.0).powi(2) / 12.0;
        let ab = s.alpha_bar(t);
        (1.0 - ab).sqrt() * (xt - ab.sqrt() * self.mean) / (ab * v + 1.0 - ab)
    }
    // ANCHOR_END: optimal_eps
}
