//! The quantities derived from the β's, indexed by the papers' t = 1, …, T.

use dfdx::prelude::*;

use crate::BetaSchedule;

/// What can be wrong when building a schedule.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ScheduleError {
    #[error("a schedule needs at least one step, got T = {0}")]
    NoSteps(usize),
    #[error(
        "β_{t} = {beta} is outside (0, 1): every step must add some noise and keep some signal"
    )]
    BetaOutOfRange { t: usize, beta: f64 },
    #[error("unknown schedule '{0}': expected one of linear, cosine, quadratic, sigmoid")]
    UnknownSchedule(String),
}

/// A noise schedule β_1..β_T with everything DDPM derives from it, precomputed in `f64`.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    beta: Vec<f64>,
    /// ᾱ_0 = 1, ᾱ_1, …, ᾱ_T (index = t).
    alpha_bar: Vec<f64>,
}

impl Schedule {
    /// The named schedule with `t_max` = T steps.
    pub fn new(kind: BetaSchedule, t_max: usize) -> Result<Self, ScheduleError> {
        if t_max == 0 {
            return Err(ScheduleError::NoSteps(0));
        }
        Self::from_betas(kind.betas(t_max))
    }

    // ANCHOR: alpha_bar
    /// A schedule from explicit β's (`beta[0]` is β_1). Each must lie in (0, 1).
    pub fn from_betas(beta: Vec<f64>) -> Result<Self, ScheduleError> {
        if beta.is_empty() {
            return Err(ScheduleError::NoSteps(0));
        }
        if let Some((i, &b)) = beta
            .iter()
            .enumerate()
            .find(|(_, &b)| !(b > 0.0 && b < 1.0))
        {
            return Err(ScheduleError::BetaOutOfRange { t: i + 1, beta: b });
        }
        // ᾱ_t = α_1 · α_2 ⋯ α_t, the running product of α_s = 1 − β_s; ᾱ_0 = 1.
        let mut alpha_bar = Vec::with_capacity(beta.len() + 1);
        alpha_bar.push(1.0);
        for b in &beta {
            alpha_bar.push(alpha_bar.last().unwrap() * (1.0 - b));
        }
        Ok(Self { beta, alpha_bar })
    }
    // ANCHOR_END: alpha_bar

    /// T, the number of diffusion steps.
    pub fn t_max(&self) -> usize {
        self.beta.len()
    }

    /// β_1, …, β_T (index 0 holds β_1).
    pub fn betas(&self) -> &[f64] {
        &self.beta
    }

    fn check(&self, t: usize, from: usize) {
        assert!(
            (from..=self.t_max()).contains(&t),
            "t = {t} is outside {from}..={} for this schedule",
            self.t_max()
        );
    }

    /// β_t, for t in 1..=T.
    pub fn beta(&self, t: usize) -> f64 {
        self.check(t, 1);
        self.beta[t - 1]
    }

    /// α_t = 1 − β_t, for t in 1..=T.
    pub fn alpha(&self, t: usize) -> f64 {
        1.0 - self.beta(t)
    }

    /// ᾱ_t = ∏_{s=1..t} α_s, for t in 0..=T (ᾱ_0 = 1).
    pub fn alpha_bar(&self, t: usize) -> f64 {
        self.check(t, 0);
        self.alpha_bar[t]
    }

    /// √ᾱ_t: how much of x_0 is left in x_t.
    pub fn sqrt_alpha_bar(&self, t: usize) -> f64 {
        self.alpha_bar(t).sqrt()
    }

    /// √(1 − ᾱ_t): the standard deviation of the noise in x_t.
    pub fn sqrt_one_minus_alpha_bar(&self, t: usize) -> f64 {
        (1.0 - self.alpha_bar(t)).sqrt()
    }

    // ANCHOR: snr
    /// Signal-to-noise ratio of x_t: SNR(t) = ᾱ_t / (1 − ᾱ_t).
    pub fn snr(&self, t: usize) -> f64 {
        let ab = self.alpha_bar(t);
        ab / (1.0 - ab)
    }

    /// ln SNR(t), computed as ln ᾱ_t − ln(1 − ᾱ_t) so it stays accurate at both ends.
    pub fn log_snr(&self, t: usize) -> f64 {
        let ab = self.alpha_bar(t);
        ab.ln() - (-ab).ln_1p()
    }
    // ANCHOR_END: snr

    // ANCHOR: posterior_variance
    /// β̃_t = (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · β_t, the variance of q(x_{t−1} | x_t, x_0).
    /// β̃_1 = 0: given x_1 and x_0, x_0 is known exactly.
    pub fn posterior_variance(&self, t: usize) -> f64 {
        self.check(t, 1);
        (1.0 - self.alpha_bar(t - 1)) / (1.0 - self.alpha_bar(t)) * self.beta(t)
    }
    // ANCHOR_END: posterior_variance

    /// `coef(t)` for each example's `t` in a batch, as a `[B]` tensor: how per-example
    /// coefficients such as √ᾱ_t reach a batched computation on any device.
    pub fn gather<D: Device<f32>>(
        &self,
        dev: &D,
        coef: impl Fn(&Self, usize) -> f64,
        ts: &[usize],
    ) -> Tensor<(usize,), f32, D> {
        let v = ts.iter().map(|&t| coef(self, t) as f32).collect();
        dev.tensor_from_vec(v, (ts.len(),))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// T values every property is checked at (the linear family needs T > 20, see below).
    const SIZES: [usize; 4] = [25, 100, 1000, 4000];

    fn all() -> impl Iterator<Item = Schedule> {
        BetaSchedule::ALL
            .into_iter()
            .flat_map(|k| SIZES.into_iter().map(move |t| Schedule::new(k, t).unwrap()))
    }

    fn rel(a: f64, b: f64) -> f64 {
        (a - b).abs() / b.abs()
    }

    #[test]
    fn alpha_bar_is_the_running_product_of_alphas() {
        // Independent route: ᾱ_t = exp(Σ_{s≤t} ln(1 − β_s)).
        for s in all() {
            let mut log_sum = 0.0;
            assert_eq!(s.alpha_bar(0), 1.0);
            for t in 1..=s.t_max() {
                log_sum += (-s.beta(t)).ln_1p();
                assert!(rel(s.alpha_bar(t), log_sum.exp()) < 1e-10, "t = {t}");
            }
        }
    }

    #[test]
    fn alpha_bar_decreases_strictly() {
        for s in all() {
            for t in 1..=s.t_max() {
                assert!(
                    s.alpha_bar(t) < s.alpha_bar(t - 1),
                    "T = {}, t = {t}",
                    s.t_max()
                );
                assert!(s.alpha_bar(t) > 0.0);
            }
        }
    }

    /// Golden value from an independent computation in Python (standard library only):
    /// ```python
    /// T = 1000
    /// b = [1e-4 + (0.02 - 1e-4) * i / (T - 1) for i in range(T)]
    /// ab = 1.0
    /// for x in b: ab *= 1 - x
    /// print(repr(ab))  # 4.0358297653756754e-05
    /// ```
    #[test]
    fn linear_alpha_bar_at_t_1000_matches_its_known_value() {
        let s = Schedule::new(BetaSchedule::Linear, 1000).unwrap();
        assert!(
            rel(s.alpha_bar(1000), 4.0358297653756754e-05) < 1e-9,
            "{}",
            s.alpha_bar(1000)
        );
        assert_eq!(s.beta(1), 1e-4);
        assert!(rel(s.beta(1000), 0.02) < 1e-14);
    }

    #[test]
    fn linear_schedule_rescales_with_t() {
        let s = Schedule::new(BetaSchedule::Linear, 4000).unwrap();
        assert!(rel(s.beta(1), 2.5e-5) < 1e-12 && rel(s.beta(4000), 5e-3) < 1e-12);
        // The rescaling keeps the total noise comparable: ᾱ_T stays tiny for every T ≥ 100.
        for t in [100, 250, 1000, 4000] {
            let s = Schedule::new(BetaSchedule::Linear, t).unwrap();
            assert!(s.alpha_bar(t) < 1e-4, "T = {t}: ᾱ_T = {}", s.alpha_bar(t));
        }
    }

    /// Golden values from an independent computation in Python (standard library only), written
    /// from the formula √β_t = √β_1 + (t − 1)/(T − 1) · (√β_T − √β_1) with the linear schedule's
    /// endpoints β_1 = 10⁻⁴, β_T = 0.02 at T = 1000:
    /// ```python
    /// import math
    /// T, b1, bT = 1000, 1e-4, 0.02
    /// beta = [(math.sqrt(b1) + (t - 1) / (T - 1) * (math.sqrt(bT) - math.sqrt(b1))) ** 2
    ///         for t in range(1, T + 1)]
    /// ab = 1.0
    /// for b in beta: ab *= 1 - b
    /// print([repr(beta[t - 1]) for t in (1, 2, 500, 1000)], repr(ab))
    /// # ['0.0001', '0.00010264836435083402', '0.005722151147768562', '0.02'] 0.0007334124595808166
    /// ```
    /// Tolerance: 10⁻¹² relative for the β's, 10⁻¹⁰ for ᾱ_T (a product of 1000 rounded factors).
    #[test]
    fn quadratic_betas_match_golden_values() {
        let s = Schedule::new(BetaSchedule::Quadratic, 1000).unwrap();
        for (t, want) in [
            (1, 0.0001),
            (2, 0.00010264836435083402),
            (500, 0.005722151147768562),
            (1000, 0.02),
        ] {
            assert!(rel(s.beta(t), want) < 1e-12, "β_{t} = {}", s.beta(t));
        }
        assert!(rel(s.alpha_bar(1000), 0.0007334124595808166) < 1e-10);
    }

    /// Golden values from an independent computation in Python (standard library only), written
    /// from the formula β_t = β_1 + (β_T − β_1) / (1 + e^(−u_t)), u_t = −6 + 12 (t − 1)/(T − 1),
    /// with β_1 = 10⁻⁴, β_T = 0.02 at T = 1000 (the logistic curve only approaches them: σ(−6)
    /// and σ(6) are 0.0025 and 0.9975):
    /// ```python
    /// import math
    /// T, b1, bT = 1000, 1e-4, 0.02
    /// beta = [b1 + (bT - b1) / (1 + math.exp(-(-6 + 12 * (t - 1) / (T - 1))))
    ///         for t in range(1, T + 1)]
    /// ab = 1.0
    /// for b in beta: ab *= 1 - b
    /// print([repr(beta[t - 1]) for t in (1, 2, 500, 1000)], repr(ab))
    /// # ['0.00014920520081703202', '0.00014979833041933025', '0.010020120209938985',
    /// #  '0.01995079479918297'] 3.968181990533219e-05
    /// ```
    /// Tolerance: 10⁻¹² relative for the β's, 10⁻¹⁰ for ᾱ_T.
    #[test]
    fn sigmoid_betas_match_golden_values() {
        let s = Schedule::new(BetaSchedule::Sigmoid, 1000).unwrap();
        for (t, want) in [
            (1, 0.00014920520081703202),
            (2, 0.00014979833041933025),
            (500, 0.010020120209938985),
            (1000, 0.01995079479918297),
        ] {
            assert!(rel(s.beta(t), want) < 1e-12, "β_{t} = {}", s.beta(t));
        }
        assert!(rel(s.alpha_bar(1000), 3.968181990533219e-05) < 1e-10);
    }

    /// Golden values from an independent computation in Python (standard library only), written
    /// from Nichol & Dhariwal's definition: ᾱ_t = f(t)/f(0), f(t) = cos²((t/T + s)/(1 + s) · π/2),
    /// s = 0.008, β_t = min(1 − ᾱ_t/ᾱ_{t−1}, 0.999), at T = 1000:
    /// ```python
    /// import math
    /// T, s = 1000, 0.008
    /// f = lambda t: math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2
    /// ab = lambda t: f(t) / f(0)
    /// beta = [min(1 - ab(t) / ab(t - 1), 0.999) for t in range(1, T + 1)]
    /// print([repr(beta[t - 1]) for t in (1, 2, 500, 999, 1000)])
    /// # ['4.128422482196914e-05', '4.614175273665033e-05', '0.0031458862304780677',
    /// #  '0.7499993929011166', '0.999']
    /// print([repr(ab(t)) for t in (1, 250, 500, 999)], repr(ab(999) * (1 - 0.999)))
    /// # ['0.999958715775178', '0.8470121613269047', '0.49384359044063775',
    /// #  '2.428766907034851e-06'] 2.428766907034853e-09
    /// ```
    /// The schedule's ᾱ_t is the running product of the capped β's, so ᾱ_1000 is ᾱ(999) · 0.001,
    /// not f(T)/f(0) = 0. Tolerance: 10⁻¹⁰ relative — β_t = 1 − ᾱ_t/ᾱ_{t−1} cancels about four of
    /// the sixteen digits at small t, and ᾱ_t is a product of t rounded factors. A wrong s (say
    /// 0.009) moves β_1 by 12%, a wrong f or cap far more.
    #[test]
    fn cosine_schedule_matches_golden_values() {
        let s = Schedule::new(BetaSchedule::Cosine, 1000).unwrap();
        for (t, want) in [
            (1, 4.128422482196914e-05),
            (2, 4.614175273665033e-05),
            (500, 0.0031458862304780677),
            (999, 0.7499993929011166),
            (1000, 0.999),
        ] {
            assert!(rel(s.beta(t), want) < 1e-10, "β_{t} = {}", s.beta(t));
        }
        for (t, want) in [
            (1, 0.999958715775178),
            (250, 0.8470121613269047),
            (500, 0.49384359044063775),
            (999, 2.428766907034851e-06),
            (1000, 2.428766907034853e-09),
        ] {
            assert!(
                rel(s.alpha_bar(t), want) < 1e-10,
                "ᾱ_{t} = {}",
                s.alpha_bar(t)
            );
        }
    }

    #[test]
    fn cosine_alpha_bar_follows_its_defining_formula() {
        for t_max in [50, 1000, 4000] {
            let s = Schedule::new(BetaSchedule::Cosine, t_max).unwrap();
            let clipped: Vec<usize> = (1..=t_max)
                .filter(|&t| s.beta(t) >= crate::betas::MAX_BETA)
                .collect();
            // Only the very last step hits the 0.999 cap (there f(T) = cos²(π/2) = 0).
            assert_eq!(clipped, vec![t_max]);
            for t in 0..t_max {
                let formula = crate::cosine_alpha_bar(t as f64, t_max);
                assert!(rel(s.alpha_bar(t), formula) < 1e-9, "T = {t_max}, t = {t}");
            }
            let last = s.alpha_bar(t_max - 1) * (1.0 - crate::betas::MAX_BETA);
            assert!(rel(s.alpha_bar(t_max), last) < 1e-12);
        }
    }

    #[test]
    fn posterior_variance_lies_between_zero_and_beta() {
        for s in all() {
            assert_eq!(s.posterior_variance(1), 0.0);
            for t in 2..=s.t_max() {
                let v = s.posterior_variance(t);
                assert!(
                    0.0 < v && v < s.beta(t),
                    "T = {}, t = {t}: {v} vs {}",
                    s.t_max(),
                    s.beta(t)
                );
            }
        }
    }

    #[test]
    fn snr_is_alpha_bar_over_its_complement_and_falls() {
        for s in all() {
            for t in 1..=s.t_max() {
                let ab = s.alpha_bar(t);
                assert!(rel(s.snr(t), ab / (1.0 - ab)) < 1e-12);
                assert!((s.log_snr(t) - s.snr(t).ln()).abs() < 1e-9 * s.log_snr(t).abs().max(1.0));
                if t > 1 {
                    assert!(s.snr(t) < s.snr(t - 1));
                }
            }
        }
    }

    #[test]
    fn bad_schedules_are_errors() {
        assert_eq!(
            Schedule::new(BetaSchedule::Linear, 0),
            Err(ScheduleError::NoSteps(0))
        );
        assert_eq!(Schedule::from_betas(vec![]), Err(ScheduleError::NoSteps(0)));
        assert_eq!(
            Schedule::from_betas(vec![0.1, 1.0]),
            Err(ScheduleError::BetaOutOfRange { t: 2, beta: 1.0 })
        );
        assert!(Schedule::from_betas(vec![0.0]).is_err());
        assert!(Schedule::from_betas(vec![f64::NAN]).is_err());
        // Rescaled to T = 10 the linear schedule would need β_T = 0.02 · 1000/10 = 2: refused.
        assert!(matches!(
            Schedule::new(BetaSchedule::Linear, 10),
            Err(ScheduleError::BetaOutOfRange { .. })
        ));
        let err = "cosinus".parse::<BetaSchedule>().unwrap_err();
        assert!(err.to_string().contains("cosinus") && err.to_string().contains("cosine"));
        for k in BetaSchedule::ALL {
            assert_eq!(k.name().parse::<BetaSchedule>().unwrap(), k);
        }
    }

    #[test]
    #[should_panic(expected = "t = 0 is outside 1..=10")]
    fn beta_at_t_zero_is_a_programming_error() {
        Schedule::from_betas(vec![0.1; 10]).unwrap().beta(0);
    }

    #[test]
    fn gather_picks_each_examples_coefficient() {
        let dev: Cpu = Default::default();
        let s = Schedule::new(BetaSchedule::Cosine, 100).unwrap();
        let g = s.gather(&dev, Schedule::sqrt_alpha_bar, &[1, 50, 100]);
        let want = [
            s.sqrt_alpha_bar(1),
            s.sqrt_alpha_bar(50),
            s.sqrt_alpha_bar(100),
        ];
        for (a, b) in g.as_vec().iter().zip(want) {
            assert!((*a as f64 - b).abs() < 1e-7);
        }
    }
}
