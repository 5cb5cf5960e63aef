//! The two parameterisations of the model mean and the weight that links L_{t−1} to the noise
//! error.

use ddpm_schedule::Schedule;
use ddpm_vlb::ModelVariance;

// ANCHOR: mu_term
/// The μ-parameterisation's term: ‖μ̃_t − μ_θ‖² / (2σ_t²) for one coordinate — L_{t−1} up to a
/// constant C that does not depend on the model.
pub fn mu_mse_term(posterior_mean: f64, model_mean: f64, sigma2: f64) -> f64 {
    (posterior_mean - model_mean).powi(2) / (2.0 * sigma2)
}
// ANCHOR_END: mu_term

// ANCHOR: eps_weight
/// The weight of the ε-parameterisation, w_t = β_t² / (2σ_t² α_t (1 − ᾱ_t)), for t in 2..=T:
/// L_{t−1} − C = w_t ‖ε − ε_θ(x_t, t)‖².
pub fn eps_weight(s: &Schedule, t: usize, variance: ModelVariance) -> f64 {
    let sigma2 = variance.variance(s, t);
    s.beta(t).powi(2) / (2.0 * sigma2 * s.alpha(t) * (1.0 - s.alpha_bar(t)))
}
// ANCHOR_END: eps_weight

#[cfg(test)]
mod tests {
    use super::*;
    use ddpm_schedule::{normal_samples, BetaSchedule};
    use ddpm_vlb::{normal_kl, p_mean_from_eps, q_posterior};

    /// For random x_0, ε, t and an arbitrary prediction ε_θ: the KL term minus its model-free
    /// constant equals (a) the μ-form ‖μ̃ − μ_θ‖²/(2σ²) and (b) the ε-form w_t ‖ε − ε_θ‖², to a
    /// relative 1e-8, for both schedules and both fixed variances.
    #[test]
    fn kl_term_equals_the_weighted_noise_error() {
        let draws = normal_samples(4 * 500, 0.0, 1.0, 99);
        for kind in [BetaSchedule::Linear, BetaSchedule::Cosine] {
            let s = Schedule::new(kind, 1000).unwrap();
            for (k, d) in draws.chunks(4).enumerate() {
                let t = 2 + (k * 997) % 999; // spread over 2..=1000
                let (x0, eps, eps_theta) = ((d[0] * 0.5).clamp(-1.0, 1.0), d[1], d[2] + 0.3 * d[3]);
                let xt = s.sqrt_alpha_bar(t) * x0 + s.sqrt_one_minus_alpha_bar(t) * eps;
                let (mq, vq) = q_posterior(&s, x0, xt, t);
                let m_theta = p_mean_from_eps(&s, xt, eps_theta, t);
                for variance in ModelVariance::ALL {
                    let sigma2 = variance.variance(&s, t);
                    let kl = normal_kl(mq, vq, m_theta, sigma2);
                    let c = normal_kl(mq, vq, mq, sigma2); // the perfect mean's KL: the constant
                    let mu_form = mu_mse_term(mq, m_theta, sigma2);
                    let eps_form = eps_weight(&s, t, variance) * (eps - eps_theta).powi(2);
                    let scale = (kl - c).abs().max(1e-300);
                    assert!(
                        ((kl - c) - mu_form).abs() <= 1e-8 * scale + 1e-15,
                        "{kind} t={t}: μ-form"
                    );
                    assert!(
                        ((kl - c) - eps_form).abs() <= 1e-8 * scale + 1e-15,
                        "{kind} t={t}: ε-form"
                    );
                }
            }
        }
    }

    /// With σ² = β̃ the weight simplifies to w_t = β_t / (2 α_t (1 − ᾱ_{t−1})), which is
    /// ½ (SNR(t − 1)/SNR(t) − 1); for the linear schedule it falls from ≈ 0.60 at t = 2
    /// (SNR(1)/SNR(2) ≈ 2.20) to ≈ 0.0102 at t = T (SNR ratio ≈ 1.020): the bound weighs the
    /// easy, nearly clean steps ~59× more than the last ones.
    #[test]
    fn weights_have_the_expected_shape() {
        let s = Schedule::new(BetaSchedule::Linear, 1000).unwrap();
        let w = |t| eps_weight(&s, t, ModelVariance::PosteriorBeta);
        for t in 2..=1000 {
            let simplified = s.beta(t) / (2.0 * s.alpha(t) * (1.0 - s.alpha_bar(t - 1)));
            assert!((w(t) / simplified - 1.0).abs() < 1e-10);
            let via_snr = 0.5 * (s.snr(t - 1) / s.snr(t) - 1.0);
            assert!((w(t) / via_snr - 1.0).abs() < 1e-9, "t = {t}");
        }
        assert!((s.snr(1) / s.snr(2) - 2.20).abs() < 5e-3);
        assert!((s.snr(999) / s.snr(1000) - 1.020).abs() < 5e-4);
        assert!((w(2) - 0.5997).abs() < 1e-3, "w_2 = {}", w(2));
        assert!((w(1000) - 0.0102).abs() < 1e-3, "w_T = {}", w(1000));
    }
}
