//! Chapter 6's coding exercises. `cargo xtask exercises start 06` copies this file with the
//! bodies between the SOLUTION markers taken out into `exercises/ch06/`, where `cargo test`
//! grades an attempt with the tests below.

use ddpm_schedule::Schedule;

/// Exercise 6.1: the sinusoidal embedding of one step t as `dim` numbers (dim even):
/// sin(t·ω_i) for i = 0, …, dim/2 − 1, then cos(t·ω_i), with ω_i = 10000^(−i/(dim/2)).
pub fn embedding(t: usize, dim: usize) -> Vec<f64> {
    // SOLUTION START
    // WRONG (cosines in both halves): `.sin()).collect()` -> `.cos()).collect()`
    // WRONG (frequencies over dim, not dim/2): `/ half as f64` -> `/ dim as f64`
    // WRONG (base 1000, not 10000): `10000f64.ln()` -> `1000f64.ln()`
    // WRONG (rising frequencies (the minus sign dropped)): `-(10000f64.ln())` -> `(10000f64.ln())`
    let half = dim / 2;
    let w = |i: usize| (-(10000f64.ln()) * i as f64 / half as f64).exp();
    let mut v: Vec<f64> = (0..half).map(|i| (t as f64 * w(i)).sin()).collect();
    v.extend((0..half).map(|i| (t as f64 * w(i)).cos()));
    v
    // SOLUTION END
}

/// Exercise 6.2: one step of Algorithm 2 for one number: from x_t, the noise prediction ε̂, the
/// reverse variance σ² and a standard normal draw z (not used at t = 1), return x_{t−1}.
pub fn reverse_step(s: &Schedule, xt: f64, eps: f64, t: usize, sigma2: f64, z: f64) -> f64 {
    // SOLUTION START
    // WRONG (1 − ᾱ_t for its square root): `(1.0 - s.alpha_bar(t)).sqrt()` -> `(1.0 - s.alpha_bar(t))`
    // WRONG (σ² for σ on the noise): `sigma2.sqrt() * z` -> `sigma2 * z`
    // WRONG (noise added at t = 1 too): `if t > 1` -> `if t > 0`
    // WRONG (√ᾱ_t for √α_t): `s.alpha(t).sqrt()` -> `s.alpha_bar(t).sqrt()`
    let mean = (xt - s.beta(t) / (1.0 - s.alpha_bar(t)).sqrt() * eps) / s.alpha(t).sqrt();
    if t > 1 {
        mean + sigma2.sqrt() * z
    } else {
        mean
    }
    // SOLUTION END
}

/// Exercise 6.3: the sliced Wasserstein distance's one-dimensional core: the mean absolute
/// difference between the sorted values of two equally long samples.
pub fn sorted_distance(a: &[f64], b: &[f64]) -> f64 {
    // SOLUTION START
    // WRONG (only one sample sorted): `b.sort_by(f64::total_cmp);` -> ``
    // WRONG (signed differences (a difference of means)): `(x - y).abs()` -> `(x - y)`
    // WRONG (a sum, not a mean): ` / a.len() as f64` -> ``
    // WRONG (squared differences): `(x - y).abs()` -> `(x - y).powi(2)`
    let (mut a, mut b) = (a.to_vec(), b.to_vec());
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    a.iter().zip(&b).map(|(x, y)| (x - y).abs()).sum::<f64>() / a.len() as f64
    // SOLUTION END
}

#[cfg(test)]
mod tests {
    use super::*;
    use ddpm_schedule::BetaSchedule;
    use ddpm_toy::dfdx::prelude::*;

    /// Against the course's `timestep_embedding`.
    #[test]
    fn exercise_6_1_embedding() {
        let dev: Cpu = Default::default();
        let want = ddpm_toy::timestep_embedding::<32, Cpu>(&dev, &[0, 7, 999]).as_vec();
        for (k, t) in [0, 7, 999].into_iter().enumerate() {
            let got = embedding(t, 32);
            assert_eq!(got.len(), 32);
            for (i, g) in got.iter().enumerate() {
                assert!(
                    (g - want[k * 32 + i] as f64).abs() < 1e-6,
                    "t = {t}, entry {i}"
                );
            }
        }
    }

    /// Against chapter 4's `p_sample_step`, the step both chapter 6's and chapter 8's samplers
    /// take.
    #[test]
    fn exercise_6_2_reverse_step() {
        let s = Schedule::new(BetaSchedule::Linear, 1000).unwrap();
        let dev: Cpu = Default::default();
        for (t, xt, eps, z) in [
            (1, 0.4f32, -0.3f32, 0.9f32),
            (2, -1.0, 0.5, -0.2),
            (700, 2.0, 1.1, 0.3),
        ] {
            let v = ddpm_vlb::ModelVariance::Beta;
            let one = |x: f32| dev.tensor_from_vec(vec![x], (1,));
            let want =
                ddpm_vlb::p_sample_step(&s, t, one(xt), one(eps), v, (t > 1).then(|| one(z)));
            let got = reverse_step(&s, xt as f64, eps as f64, t, v.variance(&s, t), z as f64);
            assert!((got - want.as_vec()[0] as f64).abs() < 1e-5, "t = {t}");
        }
    }

    /// Zero for a sample and its shuffle, the size of a shift for a shifted sample, symmetric,
    /// and not just a difference of means: [−1, 1] and [0, 0] are 1 apart.
    #[test]
    fn exercise_6_3_sorted_distance() {
        let a: Vec<f64> = (0..100).map(|i| ((i * 37) % 100) as f64 / 10.0).collect();
        let mut shuffled = a.clone();
        shuffled.reverse();
        assert!(sorted_distance(&a, &shuffled).abs() < 1e-12);
        let shifted: Vec<f64> = a.iter().map(|x| x + 0.25).collect();
        assert!((sorted_distance(&a, &shifted) - 0.25).abs() < 1e-12);
        let b: Vec<f64> = (0..100).map(|i| (i as f64).sqrt()).collect();
        assert!((sorted_distance(&a, &b) - sorted_distance(&b, &a)).abs() < 1e-12);
        assert!((sorted_distance(&[-1.0, 1.0], &[0.0, 0.0]) - 1.0).abs() < 1e-12);
    }
}
