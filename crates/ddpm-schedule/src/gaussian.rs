//! Gaussian helpers: the log-density and seeded sampling, on the host and as dfdx tensors.

use std::f64::consts::PI;

use dfdx::prelude::*;
use rand::{rngs::StdRng, Rng, SeedableRng};
use rand_distr::{Normal, StandardNormal};

// ANCHOR: log_normal_pdf
/// ln N(x; μ, σ²) = −½ [ ln(2πσ²) + (x − μ)² / σ² ].
pub fn log_normal_pdf(x: f64, mean: f64, var: f64) -> f64 {
    -0.5 * ((2.0 * PI * var).ln() + (x - mean).powi(2) / var)
}
// ANCHOR_END: log_normal_pdf

// ANCHOR: normal_cdf
/// Φ(x), the standard normal CDF: ½ erfc(−x/√2). `erfc` keeps the lower tail accurate where
/// 1 + erf(x/√2) would cancel to zero.
pub fn standard_normal_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}
// ANCHOR_END: normal_cdf

/// `n` draws from N(mean, std²) with a seeded generator.
pub fn normal_samples(n: usize, mean: f64, std: f64, seed: u64) -> Vec<f64> {
    let dist = Normal::new(mean, std).expect("std must be finite and non-negative");
    StdRng::seed_from_u64(seed)
        .sample_iter(dist)
        .take(n)
        .collect()
}

/// A tensor of i.i.d. N(0, 1) values drawn on the host from `rng`, then moved to `dev`.
///
/// Drawing on the host makes a seed give the same numbers on every device (CPU or CUDA), which
/// keeps runs reproducible when they move between machines.
pub fn randn<S: Shape, D: Device<f32>>(dev: &D, shape: S, rng: &mut impl Rng) -> Tensor<S, f32, D> {
    let n = shape.num_elements();
    let v: Vec<f32> = (0..n).map(|_| rng.sample(StandardNormal)).collect();
    dev.tensor_from_vec(v, shape)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Golden values from Python's standard library (an independent implementation):
    /// ```python
    /// from statistics import NormalDist; import math
    /// for x, m, s in [(0.3, -0.2, 1.5), (2.0, 0.0, 1.0), (-1.0, 0.5, 0.1)]:
    ///     print(repr(math.log(NormalDist(m, s).pdf(x))))
    /// # -1.3799591968683926, -2.9189385332046727, -111.1163534402106
    /// ```
    #[test]
    fn log_density_matches_golden_values() {
        let cases = [
            (0.3, -0.2, 1.5, -1.3799591968683926),
            (2.0, 0.0, 1.0, -2.9189385332046727),
            (-1.0, 0.5, 0.1, -111.1163534402106),
        ];
        for (x, m, s, want) in cases {
            let got = log_normal_pdf(x, m, s * s);
            assert!((got - want).abs() < 1e-12 * want.abs(), "{got} vs {want}");
        }
    }

    /// Golden values from Python's standard library:
    /// ```python
    /// from statistics import NormalDist
    /// for x in [-3.0, -1.0, 0.0, 0.5, 2.5]: print(repr(NormalDist().cdf(x)))
    /// ```
    #[test]
    fn normal_cdf_matches_golden_values() {
        let cases = [
            (-3.0, 0.0013498980316301035),
            (-1.0, 0.15865525393145707),
            (0.0, 0.5),
            (0.5, 0.6914624612740131),
            (2.5, 0.9937903346742238),
        ];
        for (x, want) in cases {
            let got = standard_normal_cdf(x);
            assert!((got - want).abs() < 1e-14, "Φ({x}) = {got}, want {want}");
        }
        // Far in the tail erfc keeps relative accuracy: Φ(−30) ≈ 4.9e−198.
        assert!(standard_normal_cdf(-30.0) > 0.0);
    }

    #[test]
    fn density_integrates_to_one() {
        // Composite Simpson's rule over μ ± 12σ; the tails beyond carry < 1e-32.
        for (mean, var) in [(0.0, 1.0), (3.0, 0.01), (-2.0, 25.0)] {
            let sd: f64 = f64::sqrt(var);
            let (a, b, n) = (mean - 12.0 * sd, mean + 12.0 * sd, 4000);
            let h = (b - a) / n as f64;
            let f = |i: usize| log_normal_pdf(a + i as f64 * h, mean, var).exp();
            let inner: f64 = (1..n)
                .map(|i| if i % 2 == 1 { 4.0 * f(i) } else { 2.0 * f(i) })
                .sum();
            let integral = h / 3.0 * (f(0) + inner + f(n));
            assert!(
                (integral - 1.0).abs() < 1e-9,
                "∫ = {integral} for N({mean}, {var})"
            );
        }
    }

    #[test]
    fn samples_have_the_requested_mean_and_variance() {
        let n = 200_000;
        let xs = normal_samples(n, 1.5, 2.0, 42);
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        // Standard errors: σ/√n = 0.0045 for the mean, σ²·√(2/n) = 0.0126 for the variance.
        assert!((mean - 1.5).abs() < 5.0 * 0.0045, "mean {mean}");
        assert!((var - 4.0).abs() < 5.0 * 0.0127, "variance {var}");
        assert_eq!(xs[..5], normal_samples(5, 1.5, 2.0, 42)[..]);
    }

    #[test]
    fn randn_is_seeded_and_standard() {
        let dev: Cpu = Default::default();
        let a: Tensor<(usize, Const<4>), f32, _> =
            randn(&dev, (50_000, Const), &mut StdRng::seed_from_u64(1));
        let b: Tensor<(usize, Const<4>), f32, _> =
            randn(&dev, (50_000, Const), &mut StdRng::seed_from_u64(1));
        assert_eq!(a.as_vec(), b.as_vec());
        let v = a.as_vec();
        let n = v.len() as f64;
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
        let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
        // n = 200,000: standard errors 0.0022 (mean) and 0.0032 (variance).
        assert!(
            mean.abs() < 0.012 && (var - 1.0).abs() < 0.016,
            "mean {mean}, var {var}"
        );
    }
}
