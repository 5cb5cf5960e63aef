//! The statistics the chapter's tests use to compare a simulation with a formula.

use ddpm_schedule::standard_normal_cdf;

/// Per-column mean and (population) variance of a row-major `[rows, cols]` buffer, in f64.
pub fn column_moments(values: &[f32], cols: usize) -> (Vec<f64>, Vec<f64>) {
    let rows = values.len() / cols;
    let mut mean = vec![0.0; cols];
    for (i, &v) in values.iter().enumerate() {
        mean[i % cols] += v as f64 / rows as f64;
    }
    let mut var = vec![0.0; cols];
    for (i, &v) in values.iter().enumerate() {
        var[i % cols] += (v as f64 - mean[i % cols]).powi(2) / rows as f64;
    }
    (mean, var)
}

// ANCHOR: ks
/// The Kolmogorov–Smirnov statistic D = sup_x |F_n(x) − Φ(x)| between the empirical CDF of
/// `samples` and the standard normal CDF.
pub fn ks_statistic_standard_normal(samples: &[f64]) -> f64 {
    let mut x = samples.to_vec();
    x.sort_by(f64::total_cmp);
    let n = x.len() as f64;
    x.iter()
        .enumerate()
        .map(|(i, &xi)| {
            let phi = standard_normal_cdf(xi);
            (phi - i as f64 / n).max((i + 1) as f64 / n - phi)
        })
        .fold(0.0, f64::max)
}

/// The asymptotic critical value of D for `n` samples at significance `alpha`:
/// √(−ln(α/2) / 2) / √n (≈ 1.63/√n at α = 0.01).
pub fn ks_critical_value(n: usize, alpha: f64) -> f64 {
    (-(alpha / 2.0).ln() / 2.0).sqrt() / (n as f64).sqrt()
}
// ANCHOR_END: ks

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ks_is_small_for_exact_quantiles_and_large_for_a_shift() {
        // The normal quantiles of (i + ½)/n: D is exactly 1/(2n) up to inversion error.
        let n = 1000;
        let quantiles: Vec<f64> = (0..n)
            .map(|i| {
                let p = (i as f64 + 0.5) / n as f64;
                // Invert Φ by bisection.
                let (mut lo, mut hi) = (-10.0, 10.0);
                for _ in 0..200 {
                    let mid = 0.5 * (lo + hi);
                    if standard_normal_cdf(mid) < p {
                        lo = mid
                    } else {
                        hi = mid
                    }
                }
                0.5 * (lo + hi)
            })
            .collect();
        assert!((ks_statistic_standard_normal(&quantiles) - 0.5 / n as f64).abs() < 1e-9);
        // Shifted by 0.5: D = Φ(0.25) − Φ(−0.25) ≈ 0.197 at the worst point.
        let shifted: Vec<f64> = quantiles.iter().map(|q| q + 0.5).collect();
        assert!((ks_statistic_standard_normal(&shifted) - 0.1974).abs() < 2e-3);
        assert!((ks_critical_value(10_000, 0.01) - 0.016276).abs() < 1e-5);
    }

    #[test]
    fn column_moments_of_a_known_table() {
        let (m, v) = column_moments(&[1.0, 10.0, 3.0, 20.0], 2);
        assert_eq!(m, vec![2.0, 15.0]);
        assert_eq!(v, vec![1.0, 25.0]);
    }
}
