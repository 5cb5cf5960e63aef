//! Samplers that take fewer steps than T visit a subsequence τ_1 < … < τ_S = T of the training
//! steps, evenly spaced; the chain over them has its own schedule (Nichol & Dhariwal 2021).

use ddpm_schedule::Schedule;

// ANCHOR: respaced_steps
/// `steps` of the T training steps, evenly spaced and rounded: τ_1 < … < τ_S with τ_S = T
/// (all of them when `steps` ≥ T).
pub fn respaced_steps(t_max: usize, steps: usize) -> Vec<usize> {
    let s = steps.clamp(1, t_max);
    if s == 1 {
        return vec![t_max];
    }
    let mut v: Vec<usize> = (0..s)
        .map(|i| (1.0 + (t_max - 1) as f64 * i as f64 / (s - 1) as f64).round() as usize)
        .collect();
    v.dedup();
    v
}

/// The schedule of the chain that jumps τ_{i−1} → τ_i: ᾱ'_i = ᾱ_{τ_i}, so
/// β'_i = 1 − ᾱ_{τ_i}/ᾱ_{τ_{i−1}} (with τ_0 = 0, ᾱ_0 = 1). Its posterior variances β̃'_i are the
/// right σ² for the shortened reverse steps.
pub fn respaced_schedule(s: &Schedule, taus: &[usize]) -> Schedule {
    let mut prev = 1.0;
    let betas = taus
        .iter()
        .map(|&t| {
            let b = 1.0 - s.alpha_bar(t) / prev;
            prev = s.alpha_bar(t);
            b
        })
        .collect();
    Schedule::from_betas(betas).expect("a respaced schedule keeps each β in (0, 1)")
}
// ANCHOR_END: respaced_steps

// ANCHOR: slerp
/// Spherical interpolation between two noise vectors, λ ∈ [0, 1]: stays on the shell where
/// Gaussian noise of this dimension lives (a straight line between two draws passes through
/// noise of too small a norm, which DDIM maps to blurred digits).
pub fn slerp(a: &[f32], b: &[f32], lambda: f64) -> Vec<f32> {
    let dot: f64 = a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum();
    let norm = |v: &[f32]| v.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
    let theta = (dot / (norm(a) * norm(b))).clamp(-1.0, 1.0).acos();
    let (wa, wb) = if theta.sin().abs() < 1e-9 {
        (1.0 - lambda, lambda)
    } else {
        (
            ((1.0 - lambda) * theta).sin() / theta.sin(),
            (lambda * theta).sin() / theta.sin(),
        )
    };
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (wa * x as f64 + wb * y as f64) as f32)
        .collect()
}
// ANCHOR_END: slerp

#[cfg(test)]
mod tests {
    use super::*;
    use ddpm_schedule::BetaSchedule;

    #[test]
    fn respacing_keeps_t_and_the_total_noise() {
        assert_eq!(respaced_steps(1000, 1000), (1..=1000).collect::<Vec<_>>());
        let taus = respaced_steps(1000, 10);
        assert_eq!((taus.len(), taus[0], *taus.last().unwrap()), (10, 1, 1000));
        assert!(taus.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(respaced_steps(50, 1), vec![50]);
        // The shortened chain reaches the same ᾱ at each visited step.
        let s = Schedule::new(BetaSchedule::Cosine, 1000).unwrap();
        let r = respaced_schedule(&s, &taus);
        for (i, &t) in taus.iter().enumerate() {
            assert!((r.alpha_bar(i + 1) - s.alpha_bar(t)).abs() < 1e-12);
        }
        // And at full length it is the original schedule.
        let full = respaced_schedule(&s, &respaced_steps(1000, 1000));
        assert!((full.beta(500) - s.beta(500)).abs() < 1e-12);
    }

    /// The ends are the two noises; in between, the norm stays that of the ends (for two
    /// orthogonal vectors of equal norm, exactly), where a straight line shrinks it by √2 at λ = ½.
    #[test]
    fn slerp_keeps_the_ends_and_the_norm() {
        let a = [3.0f32, 0.0, 0.0, 0.0];
        let b = [0.0f32, 3.0, 0.0, 0.0];
        assert_eq!(slerp(&a, &b, 0.0), a.to_vec());
        for (x, y) in slerp(&a, &b, 1.0).iter().zip(&b) {
            assert!((x - y).abs() < 1e-6);
        }
        for lambda in [0.1, 0.5, 0.9] {
            let m = slerp(&a, &b, lambda);
            let norm = m.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 3.0).abs() < 1e-5, "λ = {lambda}: norm {norm}");
        }
        let half = slerp(&a, &b, 0.5);
        assert!((half[0] - 3.0 / 2f32.sqrt()).abs() < 1e-5 && (half[0] - half[1]).abs() < 1e-6);
        // Parallel vectors: a straight line.
        assert_eq!(slerp(&a, &a, 0.3), a.to_vec());
    }

    /// Chapter 9's reading of DDIM with η = 1 against the strided sampler with σ² = β′: with 10
    /// steps of the linear schedule the last jumps (τ = 223 → 112 → 1) have β′ = 0.3168 and
    /// 0.1263 but β̃′ = 0.0993 and 1.0e-4, while at the noisy end (τ = 1000) the two agree.
    #[test]
    fn few_strided_steps_end_with_a_large_beta_but_a_small_posterior_variance() {
        let s = Schedule::new(BetaSchedule::Linear, 1000).unwrap();
        let taus = respaced_steps(1000, 10);
        assert_eq!(&taus[..3], &[1, 112, 223]);
        let r = respaced_schedule(&s, &taus);
        let near = |a: f64, b: f64, tol: f64| (a - b).abs() < tol;
        assert!(near(r.beta(3), 0.3168, 1e-4) && near(r.posterior_variance(3), 0.0993, 1e-4));
        assert!(near(r.beta(2), 0.1263, 1e-4) && near(r.posterior_variance(2), 1.0e-4, 2e-6));
        assert!(near(r.posterior_variance(10) / r.beta(10), 1.0, 1e-3));
    }
}
