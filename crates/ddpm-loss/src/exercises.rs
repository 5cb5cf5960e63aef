//! Chapter 5's coding exercises. `cargo xtask exercises start 05` copies this file with the
//! bodies between the SOLUTION markers taken out into `exercises/ch05/`, where `cargo test`
//! grades an attempt with the tests below.

use ddpm_schedule::Schedule;

/// Exercise 5.1: the model's mean from a noise prediction,
/// μ_θ = (1/√α_t)(x_t − β_t/√(1 − ᾱ_t) · ε̂).
pub fn mean_from_eps(s: &Schedule, xt: f64, eps: f64, t: usize) -> f64 {
    // SOLUTION START
    // WRONG (1 − ᾱ_t for its square root): `(1.0 - s.alpha_bar(t)).sqrt()` -> `(1.0 - s.alpha_bar(t))`
    // WRONG (√ᾱ_t for √α_t): `/ s.alpha(t).sqrt()` -> `/ s.alpha_bar(t).sqrt()`
    // WRONG (β_t dropped from the noise term): `s.beta(t) / (1.0 - s.alpha_bar(t)).sqrt() * eps` -> `(1.0 - s.alpha_bar(t)).sqrt() * eps`
    // WRONG (the noise added, not subtracted): `(xt - s.beta(t)` -> `(xt + s.beta(t)`
    (xt - s.beta(t) / (1.0 - s.alpha_bar(t)).sqrt() * eps) / s.alpha(t).sqrt()
    // SOLUTION END
}

/// Exercise 5.2: the weight of the noise regression in L_{t−1} for reverse variance σ²,
/// w_t = β_t² / (2 σ² α_t (1 − ᾱ_t)).
pub fn eps_weight(s: &Schedule, t: usize, sigma2: f64) -> f64 {
    // SOLUTION START
    // WRONG (β_t for β_t²): `s.beta(t).powi(2)` -> `s.beta(t)`
    // WRONG (the 2 dropped): `2.0 * sigma2` -> `sigma2`
    // WRONG (ᾱ_t for α_t): `sigma2 * s.alpha(t)` -> `sigma2 * s.alpha_bar(t)`
    // WRONG (√(1 − ᾱ_t) for 1 − ᾱ_t): `(1.0 - s.alpha_bar(t)))` -> `(1.0 - s.alpha_bar(t)).sqrt())`
    s.beta(t).powi(2) / (2.0 * sigma2 * s.alpha(t) * (1.0 - s.alpha_bar(t)))
    // SOLUTION END
}

/// Exercise 5.3: the v-prediction target of Salimans & Ho (2022) for one number,
/// v = √ᾱ_t ε − √(1 − ᾱ_t) x_0.
pub fn v_target(s: &Schedule, x0: f64, eps: f64, t: usize) -> f64 {
    // SOLUTION START
    // WRONG (x_0 and ε swapped): `s.alpha_bar(t).sqrt() * eps - (1.0 - s.alpha_bar(t)).sqrt() * x0` -> `s.alpha_bar(t).sqrt() * x0 - (1.0 - s.alpha_bar(t)).sqrt() * eps`
    // WRONG (the sign of the x_0 term): `- (1.0` -> `+ (1.0`
    // WRONG (ᾱ_t for √ᾱ_t): `s.alpha_bar(t).sqrt() * eps` -> `s.alpha_bar(t) * eps`
    s.alpha_bar(t).sqrt() * eps - (1.0 - s.alpha_bar(t)).sqrt() * x0
    // SOLUTION END
}

#[cfg(test)]
mod tests {
    use super::*;
    use ddpm_schedule::BetaSchedule;
    use ddpm_vlb::ModelVariance;

    /// Against chapter 4's `p_mean_from_eps`, and the posterior mean at the predicted x_0.
    #[test]
    fn exercise_5_1_mean_from_eps() {
        let s = Schedule::new(BetaSchedule::Linear, 1000).unwrap();
        for (t, xt, eps) in [(2, 0.3, -1.1), (500, -0.8, 0.4), (1000, 1.7, 2.2)] {
            let got = mean_from_eps(&s, xt, eps, t);
            assert!((got - ddpm_vlb::p_mean_from_eps(&s, xt, eps, t)).abs() < 1e-10);
            let x0 = ddpm_vlb::predict_x0_from_eps(&s, xt, eps, t);
            assert!((got - ddpm_vlb::q_posterior(&s, x0, xt, t).0).abs() < 1e-8);
        }
    }

    /// Against chapter 5's `eps_weight` for both fixed variances.
    #[test]
    fn exercise_5_2_eps_weight() {
        let s = Schedule::new(BetaSchedule::Linear, 1000).unwrap();
        for variance in ModelVariance::ALL {
            for t in [2, 10, 500, 1000] {
                let got = eps_weight(&s, t, variance.variance(&s, t));
                let want = ddpm_loss::eps_weight(&s, t, variance);
                assert!(
                    (got - want).abs() < 1e-10 * want.max(1.0),
                    "{variance} t = {t}"
                );
            }
        }
    }

    /// Against the objective type's target, and its defining property: from x_t and v, x_0
    /// comes back as √ᾱ_t x_t − √(1 − ᾱ_t) v.
    #[test]
    fn exercise_5_3_v_target() {
        let s = Schedule::new(BetaSchedule::Cosine, 1000).unwrap();
        for (t, x0, eps) in [(1, 0.5, -0.2), (600, -0.9, 1.4), (1000, 0.1, 0.7)] {
            let got = v_target(&s, x0, eps, t);
            let want = ddpm_loss::Objective::V.target_scalar(&s, x0, eps, t);
            assert!((got - want).abs() < 1e-12);
            let xt = s.sqrt_alpha_bar(t) * x0 + s.sqrt_one_minus_alpha_bar(t) * eps;
            let back = s.sqrt_alpha_bar(t) * xt - s.sqrt_one_minus_alpha_bar(t) * got;
            assert!((back - x0).abs() < 1e-9);
        }
    }
}
