//! The forward process on dfdx tensors: one step, the chain of steps, and the closed form.

use ddpm_schedule::{randn, Schedule};
use dfdx::prelude::*;
use rand::Rng;

/// A batch of B examples, each flattened to N numbers: shape `[B, N]`.
pub type Rows<D> = Tensor<(usize, usize), f32, D>;

/// Spreads one coefficient per example (`[B]`) across that example's N numbers (`[B, N]`).
fn per_row<D: Device<f32>>(coef: Tensor<(usize,), f32, D>, shape: (usize, usize)) -> Rows<D> {
    coef.broadcast_like::<_, Axis<1>>(&shape)
}

// ANCHOR: q_step
/// One forward step, x_t = √(1 − β_t) x_{t−1} + √β_t ε, for each example at its own `ts[i]`:
/// a sample of q(x_t | x_{t−1}) = N(√(1 − β_t) x_{t−1}, β_t I) given the noise ε.
pub fn q_step<D: Device<f32>>(
    schedule: &Schedule,
    x_prev: &Rows<D>,
    ts: &[usize],
    eps: &Rows<D>,
) -> Rows<D> {
    let (dev, shape) = (x_prev.device().clone(), *x_prev.shape());
    let keep = per_row(schedule.gather(&dev, |s, t| s.alpha(t).sqrt(), ts), shape);
    let add = per_row(schedule.gather(&dev, |s, t| s.beta(t).sqrt(), ts), shape);
    x_prev.clone() * keep + eps.clone() * add
}
// ANCHOR_END: q_step

// ANCHOR: q_chain
/// Runs the chain x_0 → x_1 → … → x_t_end step by step with fresh noise from `rng`, and returns
/// x_t_end together with copies of x_t at each t in `record`.
pub fn q_chain<D: Device<f32>>(
    schedule: &Schedule,
    x0: &Rows<D>,
    t_end: usize,
    record: &[usize],
    rng: &mut impl Rng,
) -> (Rows<D>, Vec<(usize, Rows<D>)>) {
    let (dev, shape) = (x0.device().clone(), *x0.shape());
    let mut x = x0.clone();
    let mut kept = Vec::new();
    for t in 1..=t_end {
        let eps = randn(&dev, shape, rng);
        x = q_step(schedule, &x, &vec![t; shape.0], &eps);
        if record.contains(&t) {
            kept.push((t, x.clone()));
        }
    }
    (x, kept)
}
// ANCHOR_END: q_chain

// ANCHOR: q_sample
/// The ᾱ trick: x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε, a sample of q(x_t | x_0) in one step, for each
/// example at its own `ts[i]`.
pub fn q_sample<D: Device<f32>>(
    schedule: &Schedule,
    x0: &Rows<D>,
    ts: &[usize],
    eps: &Rows<D>,
) -> Rows<D> {
    let (dev, shape) = (x0.device().clone(), *x0.shape());
    let signal = per_row(schedule.gather(&dev, Schedule::sqrt_alpha_bar, ts), shape);
    let noise = per_row(
        schedule.gather(&dev, Schedule::sqrt_one_minus_alpha_bar, ts),
        shape,
    );
    x0.clone() * signal + eps.clone() * noise
}
// ANCHOR_END: q_sample

/// Mean and variance of q(x_t | x_0) for one number x_0: (√ᾱ_t x_0, 1 − ᾱ_t).
pub fn q_mean_variance(schedule: &Schedule, x0: f64, t: usize) -> (f64, f64) {
    (schedule.sqrt_alpha_bar(t) * x0, 1.0 - schedule.alpha_bar(t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{column_moments, ks_critical_value, ks_statistic_standard_normal};
    use ddpm_schedule::BetaSchedule;
    use rand::{rngs::StdRng, SeedableRng};

    const X0: [f32; 4] = [-1.0, -0.3, 0.4, 1.0];

    /// `n` copies of the row X0.
    fn repeated_x0(dev: &Cpu, n: usize) -> Rows<Cpu> {
        dev.tensor_from_vec(X0.iter().copied().cycle().take(4 * n).collect(), (n, 4))
    }

    /// One step from a fixed x_{t−1}: mean √(1 − β_t) x_{t−1} and variance β_t (eq. 3.1), each
    /// within 5 standard errors over 100,000 draws, at several t of both schedules.
    #[test]
    fn one_step_has_the_stated_mean_and_variance() {
        let dev: Cpu = Default::default();
        let n = 100_000;
        let mut rng = StdRng::seed_from_u64(21);
        for kind in [BetaSchedule::Linear, BetaSchedule::Cosine] {
            let s = Schedule::new(kind, 1000).unwrap();
            for (t, x) in [(1, 0.9f32), (200, -0.4), (999, 1.5)] {
                let x_prev: Rows<Cpu> = dev.tensor_from_vec(vec![x; n], (n, 1));
                let eps = randn(&dev, (n, 1), &mut rng);
                let (m, v) = column_moments(&q_step(&s, &x_prev, &vec![t; n], &eps).as_vec(), 1);
                let (want_m, want_v) = ((1.0 - s.beta(t)).sqrt() * x as f64, s.beta(t));
                assert!(
                    (m[0] - want_m).abs() < 5.0 * (want_v / n as f64).sqrt(),
                    "{kind} t={t}: mean {}",
                    m[0]
                );
                assert!(
                    (v[0] - want_v).abs() < 5.0 * want_v * (2.0 / n as f64).sqrt(),
                    "{kind} t={t}: var {}",
                    v[0]
                );
            }
        }
    }

    /// The chain's empirical mean and variance after t steps match √ᾱ_t x_0 and 1 − ᾱ_t.
    /// n = 20,000 chains per x_0: the mean's standard error is √((1−ᾱ_t)/n) and the variance's
    /// (1−ᾱ_t)·√(2/n); each moment must be within 5 standard errors (a false alarm has
    /// probability < 1e-5 per check, and the seed is fixed).
    #[test]
    fn chain_matches_the_closed_form() {
        let dev: Cpu = Default::default();
        let n = 20_000;
        let x0 = repeated_x0(&dev, n);
        for kind in [BetaSchedule::Linear, BetaSchedule::Cosine] {
            let s = Schedule::new(kind, 1000).unwrap();
            let checkpoints = [1, 10, 100, 300, 600, 999];
            let (_, kept) = q_chain(&s, &x0, 999, &checkpoints, &mut StdRng::seed_from_u64(3));
            assert_eq!(kept.len(), checkpoints.len());
            for (t, xt) in kept {
                let (means, vars) = column_moments(&xt.as_vec(), 4);
                for j in 0..4 {
                    let (m, v) = q_mean_variance(&s, X0[j] as f64, t);
                    let se_mean = (v / n as f64).sqrt();
                    let se_var = v * (2.0 / n as f64).sqrt();
                    assert!(
                        (means[j] - m).abs() < 5.0 * se_mean,
                        "{kind} t={t}: mean {} vs {m}",
                        means[j]
                    );
                    assert!(
                        (vars[j] - v).abs() < 5.0 * se_var,
                        "{kind} t={t}: var {} vs {v}",
                        vars[j]
                    );
                }
            }
        }
    }

    /// The derivation's key step: √(α_t(1−α_{t−1})) ε₁ + √(1−α_t) ε₂ is one Gaussian of variance
    /// 1 − α_t α_{t−1}; and two chained steps equal one step with α_t α_{t−1}.
    #[test]
    fn two_noises_merge_into_one() {
        let dev: Cpu = Default::default();
        let s = Schedule::new(BetaSchedule::Linear, 1000).unwrap();
        let n = 200_000;
        let mut rng = StdRng::seed_from_u64(11);
        for t in [2, 50, 500, 1000] {
            let (a_t, a_prev) = (s.alpha(t), s.alpha(t - 1));
            let e1: Rows<Cpu> = randn(&dev, (n, 1), &mut rng);
            let e2: Rows<Cpu> = randn(&dev, (n, 1), &mut rng);
            let merged = e1 * (a_t * (1.0 - a_prev)).sqrt() as f32 + e2 * (1.0 - a_t).sqrt() as f32;
            let v = merged.as_vec();
            let (m, var) = column_moments(&v, 1);
            let want = 1.0 - a_t * a_prev;
            assert!(
                m[0].abs() < 5.0 * (want / n as f64).sqrt(),
                "t={t}: mean {}",
                m[0]
            );
            assert!(
                (var[0] - want).abs() < 5.0 * want * (2.0 / n as f64).sqrt(),
                "t={t}: var {} vs {want}",
                var[0]
            );
            // Its shape is Gaussian: standardised, it passes a KS test at the 1% level.
            let z: Vec<f64> = v.iter().map(|&x| x as f64 / want.sqrt()).collect();
            assert!(
                ks_statistic_standard_normal(&z) < ks_critical_value(n, 0.01),
                "t={t}: not Gaussian"
            );

            // Two steps from a fixed x_{t−2}: mean √(α_t α_{t−1}) x_{t−2}, variance 1 − α_t α_{t−1}.
            let x = dev.tensor_from_vec(vec![0.8f32; n], (n, 1));
            let (e1, e2) = (randn(&dev, (n, 1), &mut rng), randn(&dev, (n, 1), &mut rng));
            let x1 = q_step(&s, &x, &vec![t - 1; n], &e1);
            let x2 = q_step(&s, &x1, &vec![t; n], &e2);
            let (m, var) = column_moments(&x2.as_vec(), 1);
            let want_mean = (a_t * a_prev).sqrt() * 0.8;
            assert!(
                (m[0] - want_mean).abs() < 5.0 * (want / n as f64).sqrt(),
                "t={t}: two-step mean"
            );
            assert!(
                (var[0] - want).abs() < 5.0 * want * (2.0 / n as f64).sqrt(),
                "t={t}: two-step var"
            );
        }
    }

    /// After T = 1000 linear steps, pixels that started at the extremes of [−1, 1] are
    /// indistinguishable from N(0, 1) by a Kolmogorov–Smirnov test at the 1% level — while after
    /// 100 steps the same test rejects decisively, so the test can tell the difference.
    #[test]
    fn x_t_is_standard_normal_after_the_whole_chain() {
        let dev: Cpu = Default::default();
        let s = Schedule::new(BetaSchedule::Linear, 1000).unwrap();
        let n = 20_000;
        let x0: Vec<f32> = (0..n)
            .map(|i| if i % 3 == 0 { 1.0 } else { -1.0 })
            .collect();
        let x0 = dev.tensor_from_vec(x0, (n, 1));
        let (x_t, kept) = q_chain(&s, &x0, 1000, &[100], &mut StdRng::seed_from_u64(5));
        let to_f64 = |t: &Rows<Cpu>| t.as_vec().into_iter().map(f64::from).collect::<Vec<_>>();
        let d_end = ks_statistic_standard_normal(&to_f64(&x_t));
        let d_100 = ks_statistic_standard_normal(&to_f64(&kept[0].1));
        let critical = ks_critical_value(n, 0.01);
        assert!(d_end < critical, "x_T: KS D = {d_end} ≥ {critical}");
        assert!(
            d_100 > 10.0 * critical,
            "x_100 should be far from N(0,1): D = {d_100}"
        );
    }

    /// Each example gets the coefficients of its own t.
    #[test]
    fn q_sample_uses_each_examples_t() {
        let dev: Cpu = Default::default();
        let s = Schedule::new(BetaSchedule::Cosine, 100).unwrap();
        let ts = [1, 37, 100];
        let x0 = dev
            .tensor([[0.5f32, -0.25], [1.0, 0.0], [-1.0, 0.75]])
            .reshape_like(&(3, 2));
        let eps = dev
            .tensor([[0.1f32, 2.0], [-1.0, 0.3], [0.7, -0.2]])
            .reshape_like(&(3, 2));
        let got = q_sample(&s, &x0, &ts, &eps).as_vec();
        let (x0, eps) = (x0.as_vec(), eps.as_vec());
        for (i, &t) in ts.iter().enumerate() {
            for j in 0..2 {
                let k = 2 * i + j;
                let want = s.sqrt_alpha_bar(t) * x0[k] as f64
                    + s.sqrt_one_minus_alpha_bar(t) * eps[k] as f64;
                assert!((got[k] as f64 - want).abs() < 1e-6, "row {i} (t = {t})");
            }
        }
    }
}
