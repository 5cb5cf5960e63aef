//! The forward process run backwards *given x_0*: q(x_{t−1} | x_t, x_0) = N(μ̃_t, β̃_t I).

use ddpm_schedule::Schedule;

// ANCHOR: posterior
/// The weight of x_0 in μ̃_t: β_t √ᾱ_{t−1} / (1 − ᾱ_t).
pub fn posterior_mean_coef1(s: &Schedule, t: usize) -> f64 {
    s.beta(t) * s.alpha_bar(t - 1).sqrt() / (1.0 - s.alpha_bar(t))
}

/// The weight of x_t in μ̃_t: √α_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t).
pub fn posterior_mean_coef2(s: &Schedule, t: usize) -> f64 {
    s.alpha(t).sqrt() * (1.0 - s.alpha_bar(t - 1)) / (1.0 - s.alpha_bar(t))
}

/// Mean and variance of q(x_{t−1} | x_t, x_0) for one coordinate:
/// μ̃_t = coef1 · x_0 + coef2 · x_t and β̃_t = (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · β_t.
pub fn q_posterior(s: &Schedule, x0: f64, xt: f64, t: usize) -> (f64, f64) {
    let mean = posterior_mean_coef1(s, t) * x0 + posterior_mean_coef2(s, t) * xt;
    (mean, s.posterior_variance(t))
}
// ANCHOR_END: posterior

#[cfg(test)]
mod tests {
    use super::*;
    use ddpm_schedule::{log_normal_pdf, BetaSchedule};

    /// Bayes' rule, numerically: q(x_{t−1} | x_t, x_0) ∝ q(x_t | x_{t−1}) q(x_{t−1} | x_0).
    /// Evaluate the product on a fine 1-D grid, normalise, and take its mean and variance; they
    /// must equal μ̃_t and β̃_t (relative error < 1e-6).
    #[test]
    fn posterior_equals_bayes_rule_on_a_grid() {
        for kind in [BetaSchedule::Linear, BetaSchedule::Cosine] {
            let s = Schedule::new(kind, 1000).unwrap();
            for (t, x0, xt) in [
                (2, 0.7, 0.3),
                (10, -0.4, 1.2),
                (300, 1.0, -0.5),
                (999, -1.0, 0.8),
            ] {
                let (m_cf, v_cf) = q_posterior(&s, x0, xt, t);
                // The posterior is narrow (sd √β̃_t): integrate over μ̃ ± 12 sd with 20,001 points.
                let sd = v_cf.sqrt();
                let (lo, n) = (m_cf - 12.0 * sd, 20_000);
                let h = 24.0 * sd / n as f64;
                let log_p: Vec<f64> = (0..=n)
                    .map(|i| {
                        let x = lo + i as f64 * h;
                        log_normal_pdf(xt, s.alpha(t).sqrt() * x, s.beta(t))
                            + log_normal_pdf(
                                x,
                                s.sqrt_alpha_bar(t - 1) * x0,
                                1.0 - s.alpha_bar(t - 1),
                            )
                    })
                    .collect();
                let peak = log_p.iter().cloned().fold(f64::MIN, f64::max);
                let w: Vec<f64> = log_p.iter().map(|l| (l - peak).exp()).collect();
                let z: f64 = w.iter().sum();
                let mean: f64 = w
                    .iter()
                    .enumerate()
                    .map(|(i, wi)| wi * (lo + i as f64 * h))
                    .sum::<f64>()
                    / z;
                let var: f64 = w
                    .iter()
                    .enumerate()
                    .map(|(i, wi)| wi * (lo + i as f64 * h - mean).powi(2))
                    .sum::<f64>()
                    / z;
                assert!(
                    (mean - m_cf).abs() < 1e-6 * m_cf.abs().max(sd),
                    "{kind} t={t}: mean {mean} vs {m_cf}"
                );
                assert!(
                    (var / v_cf - 1.0).abs() < 1e-6,
                    "{kind} t={t}: variance {var} vs {v_cf}"
                );
            }
        }
    }
}
