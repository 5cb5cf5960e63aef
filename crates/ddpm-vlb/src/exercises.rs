//! Chapter 4's coding exercises. `cargo xtask exercises start 04` copies this file with the
//! bodies between the SOLUTION markers taken out into `exercises/ch04/`, where `cargo test`
//! grades an attempt with the tests below.

use ddpm_schedule::Schedule;

/// Exercise 4.1: the posterior q(x_{t−1} | x_t, x_0) for one number, as (mean, variance):
/// μ̃ = √ᾱ_{t−1} β_t/(1 − ᾱ_t) · x_0 + √α_t (1 − ᾱ_{t−1})/(1 − ᾱ_t) · x_t and
/// β̃ = (1 − ᾱ_{t−1})/(1 − ᾱ_t) · β_t.
pub fn posterior(s: &Schedule, x0: f64, xt: f64, t: usize) -> (f64, f64) {
    // SOLUTION START
    // WRONG (ᾱ_t for ᾱ_{t−1}): `s.alpha_bar(t - 1)` -> `s.alpha_bar(t)`
    // WRONG (α_t for √α_t on x_t): `s.alpha(t).sqrt()` -> `s.alpha(t)`
    // WRONG (β_t for the posterior variance β̃_t): `(mean, (1.0 - ab_prev) / (1.0 - ab) * beta)` -> `(mean, beta)`
    // WRONG (ᾱ_{t−1} for √ᾱ_{t−1} on x_0): `ab_prev.sqrt() * beta` -> `ab_prev * beta`
    let (ab, ab_prev, beta) = (s.alpha_bar(t), s.alpha_bar(t - 1), s.beta(t));
    let mean = ab_prev.sqrt() * beta / (1.0 - ab) * x0
        + s.alpha(t).sqrt() * (1.0 - ab_prev) / (1.0 - ab) * xt;
    (mean, (1.0 - ab_prev) / (1.0 - ab) * beta)
    // SOLUTION END
}

/// Exercise 4.2: KL(N(m1, v1) ‖ N(m2, v2)) between two 1-D Gaussians given by mean and
/// variance, in nats.
pub fn kl_normal(m1: f64, v1: f64, m2: f64, v2: f64) -> f64 {
    // SOLUTION START
    // WRONG (the log ratio upside down): `(v2 / v1).ln()` -> `(v1 / v2).ln()`
    // WRONG (the ½ dropped): `0.5 * (` -> `(`
    // WRONG (|m1 − m2| for its square): `(m1 - m2).powi(2)` -> `(m1 - m2).abs()`
    // WRONG (the − 1 dropped): ` - 1.0)` -> `)`
    0.5 * ((v2 / v1).ln() + (v1 + (m1 - m2).powi(2)) / v2 - 1.0)
    // SOLUTION END
}

/// Exercise 4.3: the prior term of the bound for one number, L_T = KL(q(x_T | x_0) ‖ N(0, 1)),
/// with q(x_T | x_0) = N(√ᾱ_T x_0, 1 − ᾱ_T).
pub fn prior_term(s: &Schedule, x0: f64) -> f64 {
    // SOLUTION START
    // WRONG (ᾱ_T for √ᾱ_T on x_0): `s.alpha_bar(t).sqrt() * x0` -> `s.alpha_bar(t) * x0`
    // WRONG (the standard deviation passed as the variance): `1.0 - s.alpha_bar(t), 0.0, 1.0` -> `(1.0 - s.alpha_bar(t)).sqrt(), 0.0, 1.0`
    // WRONG (the KL's arguments swapped): `kl_normal(s.alpha_bar(t).sqrt() * x0, 1.0 - s.alpha_bar(t), 0.0, 1.0)` -> `kl_normal(0.0, 1.0, s.alpha_bar(t).sqrt() * x0, 1.0 - s.alpha_bar(t))`
    // WRONG (step T − 1 for T): `let t = s.t_max();` -> `let t = s.t_max() - 1;`
    let t = s.t_max();
    kl_normal(s.alpha_bar(t).sqrt() * x0, 1.0 - s.alpha_bar(t), 0.0, 1.0)
    // SOLUTION END
}

#[cfg(test)]
mod tests {
    use super::*;
    use ddpm_schedule::BetaSchedule;

    /// Against chapter 4's `q_posterior` (itself checked against Bayes' rule numerically).
    #[test]
    fn exercise_4_1_posterior() {
        let s = Schedule::new(BetaSchedule::Cosine, 1000).unwrap();
        for (t, x0, xt) in [(2, 0.7, -0.1), (400, -1.0, 0.6), (1000, 0.2, 1.9)] {
            let (m, v) = posterior(&s, x0, xt, t);
            let (wm, wv) = ddpm_vlb::q_posterior(&s, x0, xt, t);
            assert!((m - wm).abs() < 1e-10 && (v - wv).abs() < 1e-12, "t = {t}");
        }
    }

    /// Against chapter 4's `normal_kl`, zero for equal Gaussians, and never negative.
    #[test]
    fn exercise_4_2_kl_normal() {
        for (m1, v1, m2, v2) in [
            (0.0, 1.0, 0.0, 1.0),
            (0.3, 0.5, -1.0, 2.0),
            (2.0, 0.01, 2.1, 0.04),
        ] {
            let got = kl_normal(m1, v1, m2, v2);
            assert!((got - ddpm_vlb::normal_kl(m1, v1, m2, v2)).abs() < 1e-12);
            assert!(got >= 0.0);
        }
        assert!(kl_normal(0.5, 0.2, 0.5, 0.2).abs() < 1e-15);
    }

    /// Tiny for a whole chain (ᾱ_T ≈ 4·10⁻⁵: x_T forgets x_0) and growing with |x_0|.
    #[test]
    fn exercise_4_3_prior_term() {
        let s = Schedule::new(BetaSchedule::Linear, 1000).unwrap();
        let ab = s.alpha_bar(1000);
        for x0 in [-1.0, 0.0, 1.0] {
            let want = 0.5 * (ab * x0 * x0 - ab - (1.0 - ab).ln());
            assert!((prior_term(&s, x0) - want).abs() < 1e-12, "x_0 = {x0}");
        }
        assert!(prior_term(&s, 1.0) < 1e-4 && prior_term(&s, 1.0) > prior_term(&s, 0.5));
    }
}
