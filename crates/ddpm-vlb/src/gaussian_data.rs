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

#[cfg(test)]
mod tests {
    use super::*;
    use ddpm_schedule::{standard_normal_cdf, BetaSchedule};

    /// The variance the rounding adds to N(μ, s²): the Gaussian's mass summed over an unbounded
    /// grid of bins of width Δ = 2/255 centred on the pixel values (no edge bins), minus s².
    fn rounding_variance(mean: f64, sd: f64) -> f64 {
        let (mut mass, mut m1, mut m2) = (0.0, 0.0, 0.0);
        for k in -2000..2300 {
            let c = -1.0 + 2.0 * k as f64 / 255.0;
            let p = standard_normal_cdf((c + 1.0 / 255.0 - mean) / sd)
                - standard_normal_cdf((c - 1.0 / 255.0 - mean) / sd);
            (mass, m1, m2) = (mass + p, m1 + p * c, m2 + p * c * c);
        }
        m2 / mass - (m1 / mass).powi(2) - sd * sd
    }

    /// (4.9)'s quantisation term, checked directly. Rounding N(0.1, 0.3²) to the pixel bins adds
    /// Δ²/12 = (2/255)²/12 = 5.126e-6 to its variance (Sheppard's correction: summed over the
    /// bins, the excess is Δ²/12 to 1e-9 relative, asserted). The predictor's v, recovered from
    /// its output by solving ε̂ = √(1 − ᾱ_t)(x_t − √ᾱ_t μ)/(ᾱ_t v + 1 − ᾱ_t) for v, is s² plus
    /// that excess (to 1e-6 relative of the excess; dropping the term would miss by 100%).
    ///
    /// Golden values of ε̂ from an independent computation in Python (standard library only),
    /// linear schedule at T = 1000:
    /// ```python
    /// import math
    /// T, mu, s = 1000, 0.1, 0.3
    /// beta = [1e-4 + (0.02 - 1e-4) * i / (T - 1) for i in range(T)]
    /// ab = [1.0]
    /// for b in beta: ab.append(ab[-1] * (1 - b))
    /// v = s * s + (2 / 255) ** 2 / 12
    /// for t, xt in [(1, 0.25), (10, -0.4), (500, 1.3)]:
    ///     a = ab[t]
    ///     print(repr(math.sqrt(1 - a) * (xt - math.sqrt(a) * mu) / (a * v + 1 - a)))
    /// # 0.016649439576316837, -0.2372249415317263, 1.3150051302327253
    /// ```
    /// Without the quantisation term the first two would be 5.7e-5 and 5.6e-5 larger in relative
    /// terms, far beyond the tolerance of 10⁻¹².
    #[test]
    fn optimal_eps_adds_the_rounding_variance() {
        let data = DiscretisedGaussian { mean: 0.1, sd: 0.3 };
        let delta: f64 = 2.0 / 255.0;
        let excess = rounding_variance(data.mean, data.sd);
        assert!(
            (excess / (delta * delta / 12.0) - 1.0).abs() < 1e-9,
            "rounding adds {excess}, Δ²/12 = {}",
            delta * delta / 12.0
        );
        let s = Schedule::new(BetaSchedule::Linear, 1000).unwrap();
        for (t, xt, want) in [
            (1, 0.25, 0.016649439576316837),
            (10, -0.4, -0.2372249415317263),
            (500, 1.3, 1.3150051302327253),
        ] {
            let eps = data.optimal_eps(&s, xt, t);
            assert!(
                (eps - want).abs() < 1e-12 * want.abs(),
                "t = {t}: {eps} vs {want}"
            );
        }
        // The v the code uses, read back from its output at t = 1 (where ᾱ_t v dominates).
        let (t, xt) = (1, 0.25);
        let ab = s.alpha_bar(t);
        let eps = data.optimal_eps(&s, xt, t);
        let v = ((1.0 - ab).sqrt() * (xt - ab.sqrt() * data.mean) / eps - (1.0 - ab)) / ab;
        let term = v - data.sd * data.sd;
        assert!(
            (term / excess - 1.0).abs() < 1e-6,
            "v − s² = {term}, rounding adds {excess}"
        );
    }

    /// The book's statement about the binned data: its exact variance, summed over the 256 bins
    /// (the edge bins absorbing the tails), is 0.08976 — below s² = 0.09 because the edge bin at
    /// +1 = μ + 3s pulls the upper tail in.
    #[test]
    fn binned_data_has_the_stated_variance() {
        let data = DiscretisedGaussian { mean: 0.1, sd: 0.3 };
        let p = data.probabilities();
        let c = pixel_bin_centres();
        let mean: f64 = p.iter().zip(&c).map(|(p, c)| p * c).sum();
        let var: f64 = p.iter().zip(&c).map(|(p, c)| p * (c - mean).powi(2)).sum();
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!((var - 0.08976).abs() < 5e-6, "{var}");
    }
}
