//! The learned reverse step p_θ(x_{t−1} | x_t) = N(μ_θ(x_t, t), σ_t² I), with μ_θ computed from a
//! noise prediction ε_θ(x_t, t) and σ_t² fixed — or, for chapter 9's learned variances, given by
//! the network per number.

use std::fmt;
use std::str::FromStr;

use ddpm_schedule::Schedule;
use dfdx::prelude::*;

/// The two fixed choices of σ_t² in Ho et al. §3.2: both give similar samples; they are the
/// upper and lower bounds on the optimal reverse variance for data that is a point mass (β̃_t)
/// or N(0, I) (β_t).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModelVariance {
    /// σ_t² = β_t ("fixed large").
    Beta,
    /// σ_t² = β̃_t ("fixed small").
    PosteriorBeta,
}

impl ModelVariance {
    pub const ALL: [ModelVariance; 2] = [ModelVariance::Beta, ModelVariance::PosteriorBeta];

    // ANCHOR: model_variance
    /// σ_t² for t in 1..=T. At t = 1 both choices use β̃_2, as in Ho et al.'s code: β̃_1 = 0
    /// would make the decoder p_θ(x_0 | x_1) a point mass, and its log-likelihood infinite.
    pub fn variance(self, s: &Schedule, t: usize) -> f64 {
        match (self, t) {
            (_, 1) => s.posterior_variance(2),
            (ModelVariance::Beta, t) => s.beta(t),
            (ModelVariance::PosteriorBeta, t) => s.posterior_variance(t),
        }
    }
    // ANCHOR_END: model_variance

    pub fn name(self) -> &'static str {
        match self {
            ModelVariance::Beta => "beta",
            ModelVariance::PosteriorBeta => "posterior",
        }
    }
}

impl fmt::Display for ModelVariance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ModelVariance {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|v| v.name() == s)
            .ok_or_else(|| {
                format!("unknown variance '{s}': expected 'beta' (σ² = β) or 'posterior' (σ² = β̃)")
            })
    }
}

// ANCHOR: from_eps
/// x̂_0 = (x_t − √(1 − ᾱ_t) ε̂) / √ᾱ_t: the data the noise prediction implies.
pub fn predict_x0_from_eps(s: &Schedule, xt: f64, eps: f64, t: usize) -> f64 {
    (xt - s.sqrt_one_minus_alpha_bar(t) * eps) / s.sqrt_alpha_bar(t)
}

/// μ_θ = (1/√α_t) (x_t − β_t / √(1 − ᾱ_t) · ε̂): the posterior mean μ̃_t with x_0 replaced by x̂_0.
pub fn p_mean_from_eps(s: &Schedule, xt: f64, eps: f64, t: usize) -> f64 {
    (xt - s.beta(t) / s.sqrt_one_minus_alpha_bar(t) * eps) / s.alpha(t).sqrt()
}
// ANCHOR_END: from_eps

// ANCHOR: p_sample_step
/// One step of the learned reverse process on a whole batch, any shape, any device — the one
/// place the course turns a noise prediction at step t into x_{t−1} (chapter 6's points and
/// chapter 8's images alike): x_{t−1} = μ_θ(x_t, t) + σ_t z with
/// μ_θ = (1/√α_t)(x_t − β_t/√(1 − ᾱ_t) · ε̂), the same formula as [`p_mean_from_eps`]. The
/// noise z is `None` at t = 1, where the step returns the mean.
pub fn p_sample_step<S: Shape, D: Device<f32>>(
    s: &Schedule,
    t: usize,
    x_t: Tensor<S, f32, D>,
    eps_hat: Tensor<S, f32, D>,
    variance: ModelVariance,
    z: Option<Tensor<S, f32, D>>,
) -> Tensor<S, f32, D> {
    let mean = p_mean(s, t, x_t, eps_hat);
    match z {
        Some(z) => mean + z * variance.variance(s, t).sqrt() as f32,
        None => mean,
    }
}
// ANCHOR_END: p_sample_step

/// μ_θ(x_t, t) = (1/√α_t)(x_t − β_t/√(1 − ᾱ_t) · ε̂) on a whole batch: [`p_mean_from_eps`] on a
/// device, and the mean of every reverse step the course takes.
pub fn p_mean<S: Shape, D: Device<f32>>(
    s: &Schedule,
    t: usize,
    x_t: Tensor<S, f32, D>,
    eps_hat: Tensor<S, f32, D>,
) -> Tensor<S, f32, D> {
    (x_t - eps_hat * (s.beta(t) / s.sqrt_one_minus_alpha_bar(t)) as f32)
        * (1.0 / s.alpha(t).sqrt()) as f32
}

// ANCHOR: learned_variance
/// The two ends of Improved DDPM's learned variance (Nichol & Dhariwal 2021, §3.1) at step t:
/// (ln β_t, ln β̃_t), with β̃_1 = 0 replaced by β̃_2 as for [`ModelVariance`].
pub fn log_variance_range(s: &Schedule, t: usize) -> (f64, f64) {
    (
        s.beta(t).ln(),
        ModelVariance::PosteriorBeta.variance(s, t).ln(),
    )
}

/// σ² = exp(v ln β_t + (1 − v) ln β̃_t): the network outputs v for each number, and the
/// variance moves between the two fixed choices in the log domain (v = 1: β_t; v = 0: β̃_t;
/// outside [0, 1] it may go beyond them).
pub fn learned_variance(s: &Schedule, t: usize, v: f64) -> f64 {
    let (upper, lower) = log_variance_range(s, t);
    (v * upper + (1.0 - v) * lower).exp()
}

/// [`p_sample_step`] with the network's own variance, one per number:
/// x_{t−1} = μ_θ(x_t, t) + exp(½ (v ln β_t + (1 − v) ln β̃_t)) z.
pub fn p_sample_step_learned<S: Shape, D: Device<f32>>(
    s: &Schedule,
    t: usize,
    x_t: Tensor<S, f32, D>,
    eps_hat: Tensor<S, f32, D>,
    v: Tensor<S, f32, D>,
    z: Option<Tensor<S, f32, D>>,
) -> Tensor<S, f32, D> {
    let mean = p_mean(s, t, x_t, eps_hat);
    match z {
        Some(z) => mean + z * learned_sd(s, t, v),
        None => mean,
    }
}

/// σ = exp(½ (v ln β_t + (1 − v) ln β̃_t)) for each number of the network's v.
pub fn learned_sd<S: Shape, D: Device<f32>>(
    s: &Schedule,
    t: usize,
    v: Tensor<S, f32, D>,
) -> Tensor<S, f32, D> {
    let (upper, lower) = log_variance_range(s, t);
    ((v * (upper - lower) as f32 + lower as f32) * 0.5).exp()
}
// ANCHOR_END: learned_variance

#[cfg(test)]
mod tests {
    use super::*;
    use crate::q_posterior;
    use ddpm_schedule::BetaSchedule;

    /// The ε-form of the mean is the posterior mean evaluated at the predicted x_0.
    #[test]
    fn mean_from_eps_is_the_posterior_mean_at_the_predicted_x0() {
        let s = Schedule::new(BetaSchedule::Cosine, 1000).unwrap();
        for (t, xt, eps) in [(2, 0.3, -1.1), (500, -0.8, 0.4), (1000, 1.7, 2.2)] {
            let x0_hat = predict_x0_from_eps(&s, xt, eps, t);
            let (via_posterior, _) = q_posterior(&s, x0_hat, xt, t);
            let direct = p_mean_from_eps(&s, xt, eps, t);
            assert!(
                (via_posterior - direct).abs() < 1e-9 * direct.abs().max(1.0),
                "t={t}"
            );
        }
    }

    /// The batched device step is the host formula, number for number, and adds σ_t z.
    #[test]
    fn device_step_is_the_host_formula() {
        let s = Schedule::new(BetaSchedule::Linear, 1000).unwrap();
        let dev: Cpu = Default::default();
        let (xt, eps, z) = (
            [0.3f32, -1.2, 2.0],
            [0.5f32, 0.1, -0.7],
            [1.0f32, -2.0, 0.25],
        );
        let tensor = |v: [f32; 3]| dev.tensor_from_vec(v.to_vec(), (3,));
        for t in [1, 2, 500, 1000] {
            let noise = (t > 1).then(|| tensor(z));
            let got = p_sample_step(&s, t, tensor(xt), tensor(eps), ModelVariance::Beta, noise);
            let sigma = ModelVariance::Beta.variance(&s, t).sqrt();
            for i in 0..3 {
                let mean = p_mean_from_eps(&s, xt[i] as f64, eps[i] as f64, t);
                let want = mean + if t > 1 { sigma * z[i] as f64 } else { 0.0 };
                assert!(
                    (got.as_vec()[i] as f64 - want).abs() < 1e-5 * want.abs().max(1.0),
                    "t={t}"
                );
            }
        }
    }

    #[test]
    fn variance_choices() {
        let s = Schedule::new(BetaSchedule::Linear, 1000).unwrap();
        assert_eq!(ModelVariance::Beta.variance(&s, 10), s.beta(10));
        assert_eq!(
            ModelVariance::PosteriorBeta.variance(&s, 10),
            s.posterior_variance(10)
        );
        assert_eq!(ModelVariance::Beta.variance(&s, 1), s.posterior_variance(2));
        assert!("posterior".parse::<ModelVariance>().is_ok());
        assert!("large"
            .parse::<ModelVariance>()
            .unwrap_err()
            .contains("large"));
    }

    /// v = 1 and v = 0 are the two fixed variances (at t = 1, β_1 and the clipped β̃_2); v = ½ is
    /// their geometric mean. The device step adds exp(½ ln σ²) z to the same mean.
    #[test]
    fn learned_variance_interpolates_the_fixed_ones_in_the_log_domain() {
        let s = Schedule::new(BetaSchedule::Linear, 1000).unwrap();
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12 * b.abs();
        for t in [1, 2, 10, 500, 1000] {
            assert!(close(learned_variance(&s, t, 1.0), s.beta(t)), "t={t}");
            let lower = ModelVariance::PosteriorBeta.variance(&s, t);
            assert!(close(learned_variance(&s, t, 0.0), lower), "t={t}");
            assert!(
                close(learned_variance(&s, t, 0.5), (s.beta(t) * lower).sqrt()),
                "t={t}"
            );
        }
        let dev: Cpu = Default::default();
        let tensor = |v: [f32; 3]| dev.tensor_from_vec(v.to_vec(), (3,));
        let (xt, eps, v, z) = (
            [0.3f32, -1.2, 2.0],
            [0.5f32, 0.1, -0.7],
            [0.0f32, 0.7, 1.3],
            [1.0f32, -2.0, 0.25],
        );
        for t in [1, 2, 500] {
            let noise = (t > 1).then(|| tensor(z));
            let got = p_sample_step_learned(&s, t, tensor(xt), tensor(eps), tensor(v), noise);
            for i in 0..3 {
                let mean = p_mean_from_eps(&s, xt[i] as f64, eps[i] as f64, t);
                let sd = learned_variance(&s, t, v[i] as f64).sqrt();
                let want = mean + if t > 1 { sd * z[i] as f64 } else { 0.0 };
                let got = got.as_vec()[i] as f64;
                assert!(
                    (got - want).abs() < 1e-5 * want.abs().max(1.0),
                    "t={t}: {got} vs {want}"
                );
            }
        }
    }

    /// Why learning the variance matters only early in the chain (chapter 9): for the linear
    /// schedule β̃_t/β_t = (1 − ᾱ_{t−1})/(1 − ᾱ_t) rises with t, is above 0.95 from t = 36 on and
    /// above 0.99 from t = 168 on, and 0.45 at t = 2.
    #[test]
    fn the_two_fixed_variances_differ_only_at_small_t() {
        let s = Schedule::new(BetaSchedule::Linear, 1000).unwrap();
        let ratio = |t| s.posterior_variance(t) / s.beta(t);
        let first_above = |r: f64| (2..=1000).find(|&t| ratio(t) > r).unwrap();
        assert_eq!(first_above(0.95), 36);
        assert_eq!(first_above(0.99), 168);
        assert!((2..1000).all(|t| ratio(t) <= ratio(t + 1) && ratio(t + 1) < 1.0));
        assert!((ratio(2) - 0.4547).abs() < 1e-3, "{}", ratio(2));
    }

    /// How much μ_θ moves per unit of ε̂ error, β_t/(√α_t √(1 − ᾱ_t)) (the slope of
    /// `p_mean_from_eps`): 31.6 at the cosine schedule's last step (β_T clipped at 0.999),
    /// against 0.020 for the linear schedule — chapter 9's reading of the cosine run. Only the
    /// cosine schedule's last two steps have a slope above 1.
    #[test]
    fn the_cosine_schedules_last_step_amplifies_the_noise_error() {
        let slope = |s: &Schedule, t: usize| {
            let h = 1e-4;
            (p_mean_from_eps(s, 0.3, 0.2 + h, t) - p_mean_from_eps(s, 0.3, 0.2 - h, t)).abs()
                / (2.0 * h)
        };
        let cosine = Schedule::new(BetaSchedule::Cosine, 1000).unwrap();
        let linear = Schedule::new(BetaSchedule::Linear, 1000).unwrap();
        assert!(
            (slope(&cosine, 1000) - 31.59).abs() < 0.01,
            "{}",
            slope(&cosine, 1000)
        );
        assert!(
            (slope(&linear, 1000) - 0.0202).abs() < 1e-4,
            "{}",
            slope(&linear, 1000)
        );
        let steep: Vec<usize> = (1..=1000).filter(|&t| slope(&cosine, t) > 1.0).collect();
        assert_eq!(steep, vec![999, 1000]);
        assert!((1..=1000).all(|t| slope(&linear, t) < 0.021));
    }
}
