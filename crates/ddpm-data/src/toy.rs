//! Seeded 2-D toy datasets.
//!
//! Two dimensions are the smallest space in which a distribution has a *shape*: we can plot every
//! sample, watch the forward process dissolve it into a Gaussian blob, and judge by eye whether a
//! trained model puts it back. Every generator takes a seed, and the same seed gives the same
//! points.

use std::f64::consts::PI;

use dfdx::prelude::*;
use rand::{rngs::StdRng, Rng, SeedableRng};
use rand_distr::{Distribution, Normal, StandardNormal};

/// A point in the plane. `f32` because that is what the models consume.
pub type Point = [f32; 2];

/// The swiss roll is divided by this so its points lie roughly in [−2, 2]².
pub const SWISS_ROLL_SCALE: f64 = 7.0;

// ANCHOR: swiss_roll
/// The swiss roll: θ ~ U(1.5π, 4.5π), x = (θ cos θ, θ sin θ) / 7, plus Gaussian noise of standard
/// deviation `noise` (in the unscaled units) on each coordinate.
pub fn swiss_roll(n: usize, noise: f64, seed: u64) -> Vec<Point> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let theta = 1.5 * PI * (1.0 + 2.0 * rng.gen::<f64>());
            let (e1, e2): (f64, f64) = (rng.sample(StandardNormal), rng.sample(StandardNormal));
            let x = theta * theta.cos() + noise * e1;
            let y = theta * theta.sin() + noise * e2;
            [(x / SWISS_ROLL_SCALE) as f32, (y / SWISS_ROLL_SCALE) as f32]
        })
        .collect()
}
// ANCHOR_END: swiss_roll

/// Two interleaved half circles. Each point picks a moon with probability ½ and an angle
/// θ ~ U(0, π): the upper moon is (cos θ, sin θ), the lower (1 − cos θ, ½ − sin θ); the whole
/// set is shifted by (−½, −¼) to centre it, then Gaussian noise of std `noise` is added.
pub fn two_moons(n: usize, noise: f64, seed: u64) -> Vec<Point> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let theta = PI * rng.gen::<f64>();
            let (x, y) = if rng.gen::<bool>() {
                (theta.cos(), theta.sin())
            } else {
                (1.0 - theta.cos(), 0.5 - theta.sin())
            };
            let (e1, e2): (f64, f64) = (rng.sample(StandardNormal), rng.sample(StandardNormal));
            [
                (x - 0.5 + noise * e1) as f32,
                (y - 0.25 + noise * e2) as f32,
            ]
        })
        .collect()
}

/// An equally weighted mixture of isotropic Gaussians, N(μ_k, σ² I).
///
/// Kept as a struct (not just a sampler) because later chapters need its parameters: for a
/// Gaussian mixture the optimal denoiser is known in closed form, which lets the course test its
/// sampler without training anything.
#[derive(Clone, Debug, PartialEq)]
pub struct GaussianMixture {
    pub means: Vec<[f64; 2]>,
    pub std: f64,
}

impl GaussianMixture {
    /// `k` components evenly spaced on a circle of radius `radius`, each with std `std`.
    pub fn ring(k: usize, radius: f64, std: f64) -> Self {
        let means = (0..k)
            .map(|i| {
                let a = 2.0 * PI * i as f64 / k as f64;
                [radius * a.cos(), radius * a.sin()]
            })
            .collect();
        Self { means, std }
    }

    /// Draws `n` points: a component uniformly at random, then a Gaussian around its mean.
    pub fn sample(&self, n: usize, seed: u64) -> Vec<Point> {
        assert!(
            !self.means.is_empty(),
            "a mixture needs at least one component"
        );
        assert!(
            self.std > 0.0,
            "mixture std must be positive, got {}",
            self.std
        );
        let mut rng = StdRng::seed_from_u64(seed);
        let noise = Normal::new(0.0, self.std).expect("std checked above");
        (0..n)
            .map(|_| {
                let m = self.means[rng.gen_range(0..self.means.len())];
                [
                    (m[0] + noise.sample(&mut rng)) as f32,
                    (m[1] + noise.sample(&mut rng)) as f32,
                ]
            })
            .collect()
    }
}

/// Stacks points into an `[n, 2]` tensor on any dfdx device.
pub fn points_to_tensor<D: Device<f32>>(
    dev: &D,
    points: &[Point],
) -> Tensor<(usize, Const<2>), f32, D> {
    let flat: Vec<f32> = points.iter().flat_map(|p| *p).collect();
    dev.tensor_from_vec(flat, (points.len(), Const::<2>))
}

/// The inverse of [`points_to_tensor`]: reads any tensor of (x, y) pairs, row by row, back
/// into points (an `[n, 2]` tensor with const or run-time columns).
pub fn tensor_to_points<S: Shape, D: Device<f32>>(t: &Tensor<S, f32, D>) -> Vec<Point> {
    assert!(
        t.shape().num_elements().is_multiple_of(2),
        "points need an even number of values"
    );
    t.as_vec().chunks(2).map(|c| [c[0], c[1]]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mean_and_var(xs: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
        let n = xs.clone().count() as f64;
        let m = xs.clone().sum::<f64>() / n;
        (m, xs.map(|x| (x - m).powi(2)).sum::<f64>() / n)
    }

    #[test]
    fn same_seed_same_points_other_seed_other_points() {
        assert_eq!(swiss_roll(100, 0.5, 7), swiss_roll(100, 0.5, 7));
        assert_ne!(swiss_roll(100, 0.5, 7), swiss_roll(100, 0.5, 8));
        assert_eq!(two_moons(100, 0.1, 1), two_moons(100, 0.1, 1));
        assert_ne!(two_moons(100, 0.1, 1), two_moons(100, 0.1, 2));
        let gm = GaussianMixture::ring(8, 2.0, 0.1);
        assert_eq!(gm.sample(100, 3), gm.sample(100, 3));
        assert_ne!(gm.sample(100, 3), gm.sample(100, 4));
        assert_eq!(swiss_roll(17, 0.0, 0).len(), 17);
    }

    #[test]
    fn noise_free_swiss_roll_lies_on_the_spiral() {
        // Without noise, a point at angle θ has radius θ/7 and polar angle θ (mod 2π).
        for p in swiss_roll(2000, 0.0, 11) {
            let (x, y) = (
                p[0] as f64 * SWISS_ROLL_SCALE,
                p[1] as f64 * SWISS_ROLL_SCALE,
            );
            let theta = x.hypot(y);
            assert!(
                (1.5 * PI - 1e-4..=4.5 * PI + 1e-4).contains(&theta),
                "radius {theta}"
            );
            let d = (y.atan2(x) - theta).rem_euclid(2.0 * PI);
            assert!(d < 1e-4 || 2.0 * PI - d < 1e-4, "angle off by {d}");
        }
    }

    #[test]
    fn noise_free_moons_lie_on_their_unit_circles() {
        let pts = two_moons(2000, 0.0, 5);
        let mut upper = 0;
        for p in &pts {
            let (x, y) = (p[0] as f64 + 0.5, p[1] as f64 + 0.25);
            let r_upper = x.hypot(y);
            let r_lower = (x - 1.0).hypot(y - 0.5);
            if (r_upper - 1.0).abs() < 1e-5 && y >= -1e-6 {
                upper += 1;
            } else {
                assert!(
                    (r_lower - 1.0).abs() < 1e-5 && y <= 0.5 + 1e-6,
                    "{p:?} on no moon"
                );
            }
        }
        // Binomial(2000, ½): 4 standard deviations is ±89.
        assert!(
            (upper as i64 - 1000).abs() < 90,
            "upper moon got {upper} of 2000"
        );
    }

    #[test]
    fn mixture_components_have_the_stated_means_and_std() {
        let gm = GaussianMixture::ring(4, 3.0, 0.2);
        let pts = gm.sample(20_000, 9);
        for m in &gm.means {
            // Points are far closer to their own centre (3σ = 0.6) than to a neighbour (4.2).
            let own: Vec<Point> = pts
                .iter()
                .copied()
                .filter(|p| (p[0] as f64 - m[0]).hypot(p[1] as f64 - m[1]) < 1.5)
                .collect();
            let n = own.len() as f64;
            // Each component gets ~5000 points: count within 5 binomial std (≈ 306).
            assert!((n - 5000.0).abs() < 310.0, "component at {m:?} got {n}");
            for axis in 0..2 {
                let (mean, var) = mean_and_var(own.iter().map(|p| p[axis] as f64));
                // Standard error of the mean σ/√n ≈ 0.0028: allow 5 of them.
                assert!(
                    (mean - m[axis]).abs() < 5.0 * 0.2 / n.sqrt(),
                    "mean {mean} vs {}",
                    m[axis]
                );
                // Var of the sample variance ≈ 2σ⁴/n: allow 5 standard errors.
                let se = (2.0 * 0.2f64.powi(4) / n).sqrt();
                assert!((var - 0.04).abs() < 5.0 * se, "variance {var}");
            }
        }
    }

    #[test]
    fn points_become_an_n_by_2_tensor() {
        let dev: Cpu = Default::default();
        let pts = vec![[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]];
        let t = points_to_tensor(&dev, &pts);
        assert_eq!(t.shape().0, 3);
        assert_eq!(t.as_vec(), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(tensor_to_points(&t), pts);
    }
}
