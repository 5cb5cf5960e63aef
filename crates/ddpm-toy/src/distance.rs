//! How far apart are two point clouds? The sliced Wasserstein distance.
//!
//! In one dimension the Wasserstein-1 distance between two equal-size samples is the mean
//! absolute difference of their sorted values. In two dimensions, project both clouds onto many
//! directions and average the 1-D distances: SW₁(a, b) = E_θ W₁(⟨a, u_θ⟩, ⟨b, u_θ⟩). It is zero
//! for identical clouds, in the data's units, and cheap (a sort per direction).

use ddpm_data::Point;

// ANCHOR: sliced_wasserstein
/// SW₁ between two clouds of the same size, over `directions` evenly spaced angles in [0, π).
pub fn sliced_wasserstein(a: &[Point], b: &[Point], directions: usize) -> f64 {
    assert!(
        !a.is_empty() && a.len() == b.len(),
        "sliced_wasserstein needs two clouds of the same, non-zero size"
    );
    let project = |cloud: &[Point], (c, s): (f64, f64)| {
        let mut v: Vec<f64> = cloud
            .iter()
            .map(|p| c * p[0] as f64 + s * p[1] as f64)
            .collect();
        v.sort_by(f64::total_cmp);
        v
    };
    let total: f64 = (0..directions)
        .map(|k| {
            let theta = std::f64::consts::PI * k as f64 / directions as f64;
            let u = (theta.cos(), theta.sin());
            let (pa, pb) = (project(a, u), project(b, u));
            pa.iter().zip(&pb).map(|(x, y)| (x - y).abs()).sum::<f64>() / a.len() as f64
        })
        .sum();
    total / directions as f64
}
// ANCHOR_END: sliced_wasserstein

#[cfg(test)]
mod tests {
    use super::*;
    use ddpm_data::{two_moons, GaussianMixture};

    #[test]
    fn identical_clouds_are_at_distance_zero() {
        let a = two_moons(500, 0.1, 1);
        assert_eq!(sliced_wasserstein(&a, &a, 64), 0.0);
        // Order does not matter.
        let mut b = a.clone();
        b.reverse();
        assert!(sliced_wasserstein(&a, &b, 64) < 1e-12);
    }

    /// Shifting a cloud by v moves every projection by ⟨v, u_θ⟩, so SW₁ = mean_θ |⟨v, u_θ⟩| =
    /// |v| · 2/π (the mean of |cos| over a half turn).
    #[test]
    fn a_shift_costs_two_over_pi_of_its_length() {
        let a = two_moons(300, 0.1, 2);
        let b: Vec<Point> = a.iter().map(|p| [p[0] + 0.3, p[1] - 0.4]).collect();
        let d = sliced_wasserstein(&a, &b, 1000);
        assert!((d - 0.5 * 2.0 / std::f64::consts::PI).abs() < 1e-4, "{d}");
    }

    #[test]
    fn scaling_both_clouds_scales_the_distance() {
        let a = two_moons(300, 0.1, 3);
        let b = GaussianMixture::ring(4, 1.0, 0.2).sample(300, 3);
        let scale = |c: &[Point]| {
            c.iter()
                .map(|p| [3.0 * p[0], 3.0 * p[1]])
                .collect::<Vec<_>>()
        };
        let (d, d3) = (
            sliced_wasserstein(&a, &b, 90),
            sliced_wasserstein(&scale(&a), &scale(&b), 90),
        );
        assert!((d3 - 3.0 * d).abs() < 1e-5 * d3, "{d3} vs 3 × {d}");
    }

    #[test]
    fn same_distribution_is_closer_than_a_different_one() {
        let a = two_moons(2000, 0.05, 4);
        let b = two_moons(2000, 0.05, 5);
        let c = GaussianMixture::ring(8, 1.0, 0.1).sample(2000, 4);
        let (same, other) = (
            sliced_wasserstein(&a, &b, 64),
            sliced_wasserstein(&a, &c, 64),
        );
        assert!(
            same < 0.05 && other > 5.0 * same,
            "same {same}, other {other}"
        );
    }
}
