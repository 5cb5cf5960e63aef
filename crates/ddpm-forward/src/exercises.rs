//! Chapter 3's coding exercises. `cargo xtask exercises start 03` copies this file with the
//! bodies between the SOLUTION markers taken out into `exercises/ch03/`, where `cargo test`
//! grades an attempt with the tests below — the same tests that check these reference
//! solutions here.

use ddpm_forward::dfdx::prelude::*;
use ddpm_schedule::Schedule;

/// Exercise 3.1: ᾱ_t = (1 − β_1)(1 − β_2)⋯(1 − β_t) for t = 0, 1, …, T from `betas` =
/// [β_1, …, β_T]; the first entry is ᾱ_0 = 1 (the empty product), so the result has T + 1
/// entries.
pub fn alpha_bar_from_betas(betas: &[f64]) -> Vec<f64> {
    // SOLUTION START
    // WRONG (ᾱ_0 = 1 left out (each entry one step late)): `vec![1.0]` -> `vec![1.0 - betas[0]]`
    // WRONG (α_t, not the running product): `out.last().unwrap() * (1.0 - b)` -> `(1.0 - b)`
    // WRONG (the product of the β, not of 1 − β): `(1.0 - b)` -> `b`
    // WRONG (√(1 − β) multiplied, as in one step's mean): `(1.0 - b)` -> `(1.0 - b).sqrt()`
    let mut out = vec![1.0];
    for b in betas {
        out.push(out.last().unwrap() * (1.0 - b));
    }
    out
    // SOLUTION END
}

/// Exercise 3.2: the ᾱ trick on a batch: x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε for rows `[B, N]`,
/// row i at its own step `ts[i]` (each row's two coefficients spread along the row).
pub fn q_sample_rows<D: Device<f32>>(
    s: &Schedule,
    x0: &Tensor<(usize, usize), f32, D>,
    ts: &[usize],
    eps: &Tensor<(usize, usize), f32, D>,
) -> Tensor<(usize, usize), f32, D> {
    // SOLUTION START
    // WRONG (the variance 1 − ᾱ_t for its square root): `(1.0 - s.alpha_bar(t)).sqrt() as f32` -> `(1.0 - s.alpha_bar(t)) as f32`
    // WRONG (ᾱ_t for √ᾱ_t on x_0): `s.alpha_bar(t).sqrt() as f32` -> `s.alpha_bar(t) as f32`
    // WRONG (ᾱ_{t−1} for ᾱ_t): `alpha_bar(t)` -> `alpha_bar(t - 1)`
    // WRONG (α_t for ᾱ_t): `alpha_bar(t)` -> `alpha(t)`
    // WRONG (every row at the first row's step): `ts.iter().map(|&t|` -> `ts.iter().map(|_| ts[0]).map(|t|`
    let (b, n) = *x0.shape();
    let dev = x0.device().clone();
    let per_row = |v: Vec<f32>| {
        dev.tensor_from_vec(v, (b,))
            .broadcast_like::<_, Axis<1>>(&(b, n))
    };
    let signal = per_row(ts.iter().map(|&t| s.alpha_bar(t).sqrt() as f32).collect());
    let noise = per_row(
        ts.iter()
            .map(|&t| (1.0 - s.alpha_bar(t)).sqrt() as f32)
            .collect(),
    );
    x0.clone() * signal + eps.clone() * noise
    // SOLUTION END
}

/// Exercise 3.3: run the forward chain step by step on a batch `[B, N]` for steps 1, …, t,
/// each step x_s = √(1 − β_s) x_{s−1} + √β_s ε_s with ε_s the s-th entry of `noises` (the
/// noise of step s, `[B, N]`), and return x_t. (Chapter 3's `q_step` does one such step.)
pub fn run_chain<D: Device<f32>>(
    s: &Schedule,
    x0: &Tensor<(usize, usize), f32, D>,
    noises: &[Tensor<(usize, usize), f32, D>],
) -> Tensor<(usize, usize), f32, D> {
    // SOLUTION START
    // WRONG (β_s for √β_s on the noise): `eps.clone() * s.beta(t).sqrt() as f32` -> `eps.clone() * s.beta(t) as f32`
    // WRONG (1 − β_s for √(1 − β_s) on x): `(1.0 - s.beta(t)).sqrt() as f32` -> `(1.0 - s.beta(t)) as f32`
    // WRONG (the same noise at every step): `noises.iter().enumerate()` -> `std::iter::repeat(&noises[0]).take(noises.len()).enumerate()`
    // WRONG (the step's noise unscaled): `eps.clone() * s.beta(t).sqrt() as f32` -> `eps.clone()`
    let mut x = x0.clone();
    for (i, eps) in noises.iter().enumerate() {
        let t = i + 1;
        x = x * (1.0 - s.beta(t)).sqrt() as f32 + eps.clone() * s.beta(t).sqrt() as f32;
    }
    x
    // SOLUTION END
}

#[cfg(test)]
mod tests {
    use super::*;
    use ddpm_schedule::{rand::SeedableRng, randn, BetaSchedule};

    /// Against the schedule's own ᾱ, for the linear and the cosine schedule.
    #[test]
    fn exercise_3_1_alpha_bar_from_betas() {
        for kind in [BetaSchedule::Linear, BetaSchedule::Cosine] {
            let s = Schedule::new(kind, 1000).unwrap();
            let got = alpha_bar_from_betas(s.betas());
            assert_eq!(got.len(), 1001, "T + 1 entries, ᾱ_0 first");
            for t in [0, 1, 2, 500, 1000] {
                assert!((got[t] - s.alpha_bar(t)).abs() < 1e-12, "{kind:?}: ᾱ_{t}");
            }
        }
    }

    /// Against chapter 3's `q_sample` on a batch of four rows of five numbers at steps 1, 300,
    /// 301 and 1000.
    #[test]
    fn exercise_3_2_q_sample_rows() {
        let s = Schedule::new(BetaSchedule::Linear, 1000).unwrap();
        let dev: Cpu = Default::default();
        let mut rng = ddpm_schedule::rand::rngs::StdRng::seed_from_u64(32);
        let x0: Tensor<(usize, usize), f32, Cpu> = randn(&dev, (4, 5), &mut rng);
        let eps: Tensor<(usize, usize), f32, Cpu> = randn(&dev, (4, 5), &mut rng);
        let ts = [1, 300, 301, 1000];
        let want = ddpm_forward::q_sample(&s, &x0, &ts, &eps).as_vec();
        let got = q_sample_rows(&s, &x0, &ts, &eps).as_vec();
        assert_eq!(got.len(), 20);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                (g - w).abs() < 1e-5,
                "row {}, column {}: {g} vs {w}",
                i / 5,
                i % 5
            );
        }
    }

    /// Against chapter 3's `q_step`, step by step, and the chain's end in distribution: 20,000
    /// numbers from x_0 = 1 after 300 steps have mean √ᾱ_300 and variance 1 − ᾱ_300 (within
    /// 5 standard errors).
    #[test]
    fn exercise_3_3_run_chain() {
        let s = Schedule::new(BetaSchedule::Linear, 1000).unwrap();
        let dev: Cpu = Default::default();
        let mut rng = ddpm_schedule::rand::rngs::StdRng::seed_from_u64(3);
        let (b, n, t) = (4, 5000, 300);
        let x0 = dev.tensor_from_vec(vec![1.0f32; b * n], (b, n));
        let noises: Vec<_> = (0..t).map(|_| randn(&dev, (b, n), &mut rng)).collect();
        let got = run_chain(&s, &x0, &noises);
        let mut want = x0.clone();
        for (i, eps) in noises.iter().take(3).enumerate() {
            want = ddpm_forward::q_step(&s, &want, &vec![i + 1; b], eps);
        }
        let three = run_chain(&s, &x0, &noises[..3]);
        for (a, w) in three.as_vec().iter().zip(want.as_vec()) {
            assert!((a - w).abs() < 1e-6, "after 3 steps");
        }
        let v = got.as_vec();
        let m = v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|&x| (x as f64 - m).powi(2)).sum::<f64>() / v.len() as f64;
        let (wm, wv) = (s.alpha_bar(t).sqrt(), 1.0 - s.alpha_bar(t));
        let se = (wv / v.len() as f64).sqrt();
        assert!((m - wm).abs() < 5.0 * se, "mean {m} vs {wm}");
        assert!(
            (var - wv).abs() < 5.0 * wv * (2.0 / v.len() as f64).sqrt(),
            "variance {var} vs {wv}"
        );
    }
}
