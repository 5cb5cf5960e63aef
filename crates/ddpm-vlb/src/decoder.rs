//! The discretised Gaussian decoder p_θ(x_0 | x_1) for 8-bit data (Ho et al. 2020, §3.3).
//!
//! Pixels take 256 values, which the course maps to the bin centres −1, −1 + 2/255, …, 1. The
//! decoder gives each centre the probability mass of N(μ_θ(x_1, 1), σ_1²) over its bin
//! [x − 1/255, x + 1/255], with the outermost bins stretched to −∞ and +∞, so the 256
//! probabilities sum to exactly 1 and the bound is a true (discrete) log-likelihood.

use ddpm_schedule::standard_normal_cdf;

/// Half the width of a pixel's bin on the [−1, 1] scale.
pub const HALF_BIN: f64 = 1.0 / 255.0;

/// The 256 values pixels take on the [−1, 1] scale.
pub fn pixel_bin_centres() -> Vec<f64> {
    (0..256).map(|k| -1.0 + 2.0 * k as f64 / 255.0).collect()
}

// ANCHOR: decoder
/// ln P(x) where x is a bin centre and P is N(mean, var) integrated over x's bin:
/// P(x) = Φ((x + 1/255 − μ)/σ) − Φ((x − 1/255 − μ)/σ), with the edge bins open-ended.
/// A mass below f64's smallest normal number (≈ 2e−308) floors at ln of it, ≈ −708 nats.
pub fn discretized_gaussian_log_likelihood(x: f64, mean: f64, var: f64) -> f64 {
    let sd = var.sqrt();
    let upper = if x > 1.0 - HALF_BIN {
        f64::INFINITY
    } else {
        (x + HALF_BIN - mean) / sd
    };
    let lower = if x < -1.0 + HALF_BIN {
        f64::NEG_INFINITY
    } else {
        (x - HALF_BIN - mean) / sd
    };
    // Subtract CDFs on the side where they are small, so tails don't cancel to zero.
    let p = if lower > 0.0 {
        standard_normal_cdf(-lower) - standard_normal_cdf(-upper)
    } else {
        standard_normal_cdf(upper) - standard_normal_cdf(lower)
    };
    p.max(f64::MIN_POSITIVE).ln()
}
// ANCHOR_END: decoder

#[cfg(test)]
mod tests {
    use super::*;

    /// The 256 bin probabilities are a distribution: they sum to 1 for any mean and variance.
    #[test]
    fn bin_probabilities_sum_to_one() {
        for (mean, var) in [
            (0.0, 1.0),
            (0.37, 1e-4),
            (-0.99, 2e-5),
            (1.5, 0.5),
            (0.0, 1e-8),
        ] {
            let total: f64 = pixel_bin_centres()
                .iter()
                .map(|&x| discretized_gaussian_log_likelihood(x, mean, var).exp())
                .sum();
            assert!(
                (total - 1.0).abs() < 1e-12,
                "N({mean}, {var}): Σ P = {total}"
            );
        }
    }

    /// Golden values of (4.7) from an independent computation in Python (standard library only):
    /// the mass of N(μ, σ²) over bin k, [x − 1/255, x + 1/255] around x = −1 + 2k/255, with the
    /// edge bins open-ended, from `math.erf` (and `math.erfc` far in a tail, where a difference
    /// of two erf's near 1 would cancel):
    /// ```python
    /// import math
    /// def log_p(k, m, var):
    ///     x, sd = -1 + 2 * k / 255, math.sqrt(var)
    ///     hi = math.inf if k == 255 else (x + 1 / 255 - m) / sd
    ///     lo = -math.inf if k == 0 else (x - 1 / 255 - m) / sd
    ///     if lo > 0:
    ///         return math.log(0.5 * (math.erfc(lo / math.sqrt(2)) - math.erfc(hi / math.sqrt(2))))
    ///     return math.log(0.5 * (math.erf(hi / math.sqrt(2)) - math.erf(lo / math.sqrt(2))))
    /// for k, m, var in [(100, -1 + 200 / 255 + 0.003, 1e-4), (0, -0.98, 4e-4),
    ///                   (255, 0.995, 1e-4), (200, -1 + 400 / 255 - 0.05, 1e-4)]:
    ///     print(repr(log_p(k, m, var)))
    /// # -1.2299955376795855, -1.5572196482854699, -0.7829404702167514, -13.12259910840466
    /// ```
    /// An interior bin, both edge bins and a far-tail bin. Confusing σ with σ² fails: passing
    /// σ² = 10⁻⁴ where σ is used gives ln P = 0.0 for the first case, and σ = 0.01 where σ² is
    /// used gives −3.465. Tolerance: 10⁻¹² relative.
    #[test]
    fn one_bin_matches_golden_values() {
        let centres = pixel_bin_centres();
        for (k, mean, var, want) in [
            (100, centres[100] + 0.003, 1e-4, -1.2299955376795855),
            (0, -0.98, 4e-4, -1.5572196482854699),
            (255, 0.995, 1e-4, -0.7829404702167514),
            (200, centres[200] - 0.05, 1e-4, -13.12259910840466),
        ] {
            let got = discretized_gaussian_log_likelihood(centres[k], mean, var);
            assert!(
                (got - want).abs() < 1e-12 * want.abs(),
                "bin {k}: {got} vs {want}"
            );
        }
    }

    /// A narrow Gaussian centred on a bin puts almost all its mass there; a far tail bin still
    /// gets a finite log-probability.
    #[test]
    fn narrow_decoder_concentrates_on_its_bin() {
        let c = pixel_bin_centres()[100];
        assert!(discretized_gaussian_log_likelihood(c, c, 1e-7) > -1e-6);
        let far = discretized_gaussian_log_likelihood(0.9, -0.9, 1e-3);
        // Φ(−56.8) underflows f64: the log-probability floors at ln(f64::MIN_POSITIVE) ≈ −708.
        assert!(far.is_finite() && far < -700.0, "{far}");
    }
}
