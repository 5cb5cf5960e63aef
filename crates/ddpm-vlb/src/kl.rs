//! KL divergence between two Gaussians, the building block of every term of the bound.

// ANCHOR: normal_kl
/// KL(N(μ₁, σ₁²) ‖ N(μ₂, σ₂²)) = ½ [ ln(σ₂²/σ₁²) + (σ₁² + (μ₁ − μ₂)²) / σ₂² − 1 ], in nats, for
/// one coordinate; for diagonal Gaussians, sum over coordinates.
pub fn normal_kl(mean1: f64, var1: f64, mean2: f64, var2: f64) -> f64 {
    0.5 * ((var2 / var1).ln() + (var1 + (mean1 - mean2).powi(2)) / var2 - 1.0)
}
// ANCHOR_END: normal_kl

#[cfg(test)]
mod tests {
    use super::*;
    use ddpm_schedule::{log_normal_pdf, normal_samples};

    /// KL(p ‖ q) = E_p[ln p(x) − ln q(x)]: a Monte Carlo average over 400,000 samples of p lands
    /// within 5 standard errors of the closed form.
    #[test]
    fn kl_matches_monte_carlo() {
        for (m1, v1, m2, v2) in [
            (0.0, 1.0, 1.0, 2.0),
            (0.3, 0.01, -0.2, 0.04),
            (2.0, 4.0, 0.0, 1.0),
        ] {
            let xs = normal_samples(400_000, m1, f64::sqrt(v1), 17);
            let d: Vec<f64> = xs
                .iter()
                .map(|&x| log_normal_pdf(x, m1, v1) - log_normal_pdf(x, m2, v2))
                .collect();
            let n = d.len() as f64;
            let mean = d.iter().sum::<f64>() / n;
            let se = (d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0) / n).sqrt();
            let kl = normal_kl(m1, v1, m2, v2);
            assert!(
                (mean - kl).abs() < 5.0 * se,
                "MC {mean} ± {se} vs closed form {kl}"
            );
        }
    }

    #[test]
    fn kl_is_zero_only_for_equal_gaussians() {
        assert!(normal_kl(0.4, 0.3, 0.4, 0.3).abs() < 1e-15);
        assert!(normal_kl(0.4, 0.3, 0.5, 0.3) > 0.0);
        assert!(normal_kl(0.4, 0.3, 0.4, 0.31) > 0.0);
    }
}
