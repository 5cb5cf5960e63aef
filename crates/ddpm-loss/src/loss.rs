//! The training losses on dfdx tensors (with a tape, so they can be minimised).

use ddpm_forward::Rows;
use dfdx::prelude::*;

// ANCHOR: weighted
/// The weighted noise regression (1/B) Σ_b w_b · mean_n (ε_bn − ε̂_bn)²: each example's squared
/// error, averaged over its N numbers, weighted by its own w_b (the w_t of its step).
pub fn weighted_eps_loss<D: Device<f32>, T: Tape<f32, D>>(
    eps_hat: Tensor<(usize, usize), f32, D, T>,
    eps: &Rows<D>,
    weights: &Tensor<(usize,), f32, D>,
) -> Tensor<(), f32, D, T> {
    let per_example = (eps_hat - eps.clone()).square().mean::<(usize,), Axis<1>>();
    (per_example * weights.clone()).mean()
}
// ANCHOR_END: weighted

// ANCHOR: l_simple
/// L_simple = E ‖ε − ε_θ(√ᾱ_t x_0 + √(1 − ᾱ_t) ε, t)‖²: the mean squared error between the true
/// and predicted noise (Ho et al. 2020, eq. 14), averaged over examples and numbers.
pub fn l_simple<D: Device<f32>, T: Tape<f32, D>>(
    eps_hat: Tensor<(usize, usize), f32, D, T>,
    eps: &Rows<D>,
) -> Tensor<(), f32, D, T> {
    (eps_hat - eps.clone()).square().mean()
}
// ANCHOR_END: l_simple

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(dev: &Cpu) -> (Rows<Cpu>, Rows<Cpu>) {
        let eps_hat = dev.tensor_from_vec(vec![0.5, -1.0, 2.0, 0.0, 0.3, 0.7], (3, 2));
        let eps = dev.tensor_from_vec(vec![0.0, 1.0, 1.5, -0.5, 0.3, -0.3], (3, 2));
        (eps_hat, eps)
    }

    /// Squared errors per example: (0.25 + 4)/2, (0.25 + 0.25)/2, (0 + 1)/2.
    #[test]
    fn l_simple_is_the_mean_squared_noise_error() {
        let dev: Cpu = Default::default();
        let (eps_hat, eps) = setup(&dev);
        let want = (4.25 / 2.0 + 0.5 / 2.0 + 1.0 / 2.0) / 3.0;
        assert!((l_simple(eps_hat, &eps).array() - want).abs() < 1e-6);
    }

    #[test]
    fn weighted_loss_weights_each_example() {
        let dev: Cpu = Default::default();
        let (eps_hat, eps) = setup(&dev);
        let w = dev.tensor_from_vec(vec![2.0, 0.0, 10.0], (3,));
        let want = (2.0 * 4.25 / 2.0 + 0.0 + 10.0 * 1.0 / 2.0) / 3.0;
        assert!((weighted_eps_loss(eps_hat, &eps, &w).array() - want).abs() < 1e-5);
    }

    /// L_simple is the weighted loss with every weight set to 1 — in value and in gradient.
    #[test]
    fn l_simple_is_the_weighted_loss_with_unit_weights() {
        let dev: Cpu = Default::default();
        let (eps_hat, eps) = setup(&dev);
        let ones = dev.tensor_from_vec(vec![1.0; 3], (3,));
        let a = l_simple(eps_hat.leaky_trace(), &eps);
        let b = weighted_eps_loss(eps_hat.leaky_trace(), &eps, &ones);
        assert!((a.array() - b.array()).abs() < 1e-7);
        let ga = a.backward().get(&eps_hat).as_vec();
        let gb = b.backward().get(&eps_hat).as_vec();
        for (x, y) in ga.iter().zip(&gb) {
            assert!((x - y).abs() < 1e-7);
        }
        // d/dε̂ of the mean of (ε̂ − ε)² over 6 numbers is 2(ε̂ − ε)/6.
        let want: Vec<f32> = eps_hat
            .as_vec()
            .iter()
            .zip(eps.as_vec())
            .map(|(h, e)| 2.0 * (h - e) / 6.0)
            .collect();
        for (x, y) in ga.iter().zip(&want) {
            assert!((x - y).abs() < 1e-6);
        }
    }
}
