//! Improved DDPM's hybrid objective (Nichol & Dhariwal 2021, §3.1) for a network that learns its
//! reverse variance: L_hybrid = L_simple + λ L_vlb. L_simple trains ε̂ (and so the mean) as
//! before; the bound's term at the sampled step trains v, the variance's interpolation, and
//! reaches the mean not at all (a stop-gradient), so L_simple stays the mean's only teacher.
//!
//! Here on the device, differentiable in v: chapter 4's KL term for t ≥ 2 and the discretised
//! decoder for t = 1, whose normal CDF is the tanh approximation Improved DDPM's code uses
//! (dfdx has no erf). The host bound of chapter 4 (exact CDF, f64) stays the evaluation.

use ddpm_forward::Rows;
use ddpm_schedule::Schedule;
use ddpm_vlb::decoder::HALF_BIN;
use ddpm_vlb::{log_variance_range, posterior_mean_coef1, posterior_mean_coef2};
use dfdx::prelude::*;

use crate::l_simple;

/// λ: the bound's weight in L_hybrid (Nichol & Dhariwal 2021).
pub const LAMBDA: f64 = 0.001;

/// One row's constant per step t, spread across the row.
fn per_row<D: Device<f32>>(
    s: &Schedule,
    like: &Rows<D>,
    ts: &[usize],
    coef: impl Fn(&Schedule, usize) -> f64,
) -> Rows<D> {
    let (dev, shape) = (like.device().clone(), *like.shape());
    s.gather(&dev, coef, ts)
        .broadcast_like::<_, Axis<1>>(&shape)
}

/// Φ(x) ≈ ½ (1 + tanh(√(2/π) (x + 0.044715 x³))), within 3.5e−4 of the normal CDF everywhere.
fn approx_normal_cdf<D: Device<f32>, T: Tape<f32, D>>(
    x: Tensor<(usize, usize), f32, D, T>,
) -> Tensor<(usize, usize), f32, D, T> {
    let cube = x.retaped::<T>().powi(3) * 0.044715;
    ((x + cube) * (2.0 / std::f32::consts::PI).sqrt()).tanh() * 0.5 + 0.5
}

// ANCHOR: vlb_term
/// The bound's term L_{t−1} of each image at its step `ts[i]`, in bits per dimension, as a
/// function of the network's variance output `v` only: the mean μ_θ comes from `eps_hat`, which
/// carries no tape (the stop-gradient). For t ≥ 2 the KL divergence
/// ½ (−1 + ln σ² − ln β̃_t + (β̃_t + (μ̃_t − μ_θ)²)/σ²) from the posterior; for t = 1 the decoder's
/// −ln P(x_0 | x_1); ln σ² = v ln β_t + (1 − v) ln β̃_t.
pub fn vlb_term<D: Device<f32>, T: Tape<f32, D> + Merge<T>>(
    s: &Schedule,
    x0: &Rows<D>,
    x_t: &Rows<D>,
    ts: &[usize],
    eps_hat: &Rows<D>,
    v: Tensor<(usize, usize), f32, D, T>,
) -> Tensor<(usize,), f32, D, T> {
    let row = |coef: fn(&Schedule, usize) -> f64| per_row(s, x0, ts, coef);
    // The constants: the posterior q(x_{t−1} | x_t, x_0), the model's mean from ε̂, and the
    // log-variance range (β̃_1 = 0 clipped to β̃_2, so t = 1 rows stay finite).
    let width = row(|s, t| log_variance_range(s, t).0 - log_variance_range(s, t).1);
    let lower = row(|s, t| log_variance_range(s, t).1);
    let mu_q = row(posterior_mean_coef1) * x0.clone() + row(posterior_mean_coef2) * x_t.clone();
    let mu_p = (x_t.clone()
        - row(|s, t| s.beta(t) / s.sqrt_one_minus_alpha_bar(t)) * eps_hat.clone())
        * row(|s, t| 1.0 / s.alpha(t).sqrt());
    let log_var = v * width + lower.clone();

    // t ≥ 2: KL(q ‖ p_θ) per number; (β̃_t + (μ̃ − μ_θ)²) e^{−ln σ²}.
    let spread = lower.clone().exp() + (mu_q - mu_p.clone()).square();
    let kl = ((log_var.retaped::<T>() - lower) + (log_var.retaped::<T>().negate().exp() * spread)
        - 1.0)
        * 0.5;

    // t = 1: −ln of N(μ_θ, σ²)'s mass on x_0's bin (edge bins open-ended).
    let inv_sd = (log_var * -0.5).exp();
    let centred = x0.clone() - mu_p;
    let cdf_plus = approx_normal_cdf(inv_sd.retaped::<T>() * (centred.clone() + HALF_BIN as f32));
    let cdf_minus = approx_normal_cdf(inv_sd * (centred - HALF_BIN as f32));
    let top = x0.clone().ge(1.0 - HALF_BIN as f32);
    let bottom = x0.clone().le(-1.0 + HALF_BIN as f32);
    let (dev, shape) = (x0.device().clone(), *x0.shape());
    let (ones, zeros) = (dev.ones_like(&shape), dev.zeros_like(&shape));
    let mass = cdf_plus * top.clone().choose(zeros.clone(), ones.clone())
        + top.choose(ones.clone(), zeros.clone())
        - cdf_minus * bottom.choose(zeros, ones);
    let decoder = mass.clamp(1e-12, f32::INFINITY).ln().negate();

    let first = row(|_, t| if t == 1 { 1.0 } else { 0.0 });
    let nats = kl * (first.clone().negate() + 1.0) + decoder * first;
    nats.mean::<_, Axis<1>>() * (1.0 / std::f32::consts::LN_2)
}
// ANCHOR_END: vlb_term

// ANCHOR: l_hybrid
/// L_hybrid = L_simple + λ L_vlb for a network whose output rows are ε̂'s numbers then v's
/// (`[B, 2N]`). With t uniform on 1..=T, T · L_{t−1} estimates L_vlb, so the bound's part is
/// λ T times the batch mean of [`vlb_term`] — with λ = 0.001 and T = 1000, the term itself.
pub fn l_hybrid<D: Device<f32>, T: Tape<f32, D> + Merge<T>>(
    s: &Schedule,
    out: Tensor<(usize, usize), f32, D, T>,
    x0: &Rows<D>,
    x_t: &Rows<D>,
    eps: &Rows<D>,
    ts: &[usize],
) -> Tensor<(), f32, D, T> {
    let (b, n) = *x0.shape();
    assert_eq!(
        *out.shape(),
        (b, 2 * n),
        "a learned-variance output has 2N numbers per row"
    );
    // Two slices of one tensor. dfdx 0.13's CPU slice backward writes its region of the source's
    // gradient instead of adding to it, which is right only because these two never overlap.
    let v = out.retaped::<T>().slice((.., n..2 * n));
    let eps_hat = out.slice((.., 0..n));
    let frozen = eps_hat.retaped::<NoneTape>();
    let bound = vlb_term(s, x0, x_t, ts, &frozen, v).mean() * (LAMBDA * s.t_max() as f64) as f32;
    l_simple(eps_hat, eps) + bound
}
// ANCHOR_END: l_hybrid

#[cfg(test)]
mod tests {
    use super::*;
    use ddpm_schedule::BetaSchedule;
    use ddpm_vlb::{discretized_gaussian_log_likelihood, learned_variance, normal_kl};
    use ddpm_vlb::{p_mean_from_eps, q_posterior};
    use rand::{rngs::StdRng, Rng, SeedableRng};

    const N: usize = 6;

    /// Four images of N pixels (bin centres, edges included) at steps 1, 2, 300 and 1000: x_0,
    /// x_t, ε̂ and v as rows, and the steps.
    type Batch = (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>, Vec<usize>);

    fn batch() -> Batch {
        let mut rng = StdRng::seed_from_u64(7);
        let ts = vec![1, 2, 300, 1000];
        let x0: Vec<f32> = (0..4 * N)
            .map(|i| match i % N {
                0 => -1.0,
                1 => 1.0,
                _ => -1.0 + 2.0 * rng.gen_range(0..256) as f32 / 255.0,
            })
            .collect();
        let s = Schedule::new(BetaSchedule::Linear, 1000).unwrap();
        let eps: Vec<f32> = (0..4 * N).map(|_| rng.gen_range(-2.0..2.0)).collect();
        let x_t: Vec<f32> = (0..4 * N)
            .map(|i| {
                let t = ts[i / N];
                (s.sqrt_alpha_bar(t) * x0[i] as f64 + s.sqrt_one_minus_alpha_bar(t) * eps[i] as f64)
                    as f32
            })
            .collect();
        // A prediction near the truth, and variances over and beyond [0, 1].
        let eps_hat = eps.iter().map(|e| e + rng.gen_range(-0.3..0.3)).collect();
        let v = (0..4 * N).map(|_| rng.gen_range(-0.5..1.5)).collect();
        (x0, x_t, eps_hat, v, ts)
    }

    /// Each image's term is chapter 4's, computed on the host in f64 with the exact normal CDF:
    /// the KL terms to f32 precision, the decoder within the tanh approximation's error.
    #[test]
    fn the_device_term_is_chapter_4s_bound_term() {
        let dev: Cpu = Default::default();
        let s = Schedule::new(BetaSchedule::Linear, 1000).unwrap();
        let (x0, x_t, eps_hat, v, ts) = batch();
        let rows = |v: &[f32]| dev.tensor_from_vec(v.to_vec(), (4, N));
        let got = vlb_term(&s, &rows(&x0), &rows(&x_t), &ts, &rows(&eps_hat), rows(&v)).as_vec();
        for (b, &t) in ts.iter().enumerate() {
            let nats: f64 = (b * N..(b + 1) * N)
                .map(|i| {
                    let (x, xt) = (x0[i] as f64, x_t[i] as f64);
                    let mean = p_mean_from_eps(&s, xt, eps_hat[i] as f64, t);
                    let var = learned_variance(&s, t, v[i] as f64);
                    if t == 1 {
                        -discretized_gaussian_log_likelihood(x, mean, var)
                    } else {
                        let (mq, vq) = q_posterior(&s, x, xt, t);
                        normal_kl(mq, vq, mean, var)
                    }
                })
                .sum();
            let want = nats / (N as f64 * std::f64::consts::LN_2);
            let tol = if t == 1 {
                2e-3 * want.abs().max(1.0)
            } else {
                1e-4 * want.abs().max(1.0)
            };
            assert!(
                (got[b] as f64 - want).abs() < tol,
                "t={t}: {} vs {want}",
                got[b]
            );
        }
    }

    /// The stop-gradient: λ L_vlb's gradient on the network's ε̂ outputs is exactly zero, so
    /// L_hybrid's gradient on them is L_simple's, bit for bit; on the v outputs it is the bound's
    /// alone and matches central finite differences of the loss.
    #[test]
    fn l_hybrids_gradient_does_not_reach_the_mean_through_l_vlb() {
        let dev: Cpu = Default::default();
        let s = Schedule::new(BetaSchedule::Linear, 1000).unwrap();
        let (x0, x_t, eps_hat, v, ts) = batch();
        let mut rng = StdRng::seed_from_u64(8);
        let eps: Vec<f32> = (0..4 * N).map(|_| rng.gen_range(-2.0..2.0)).collect();
        let rows = |v: &[f32]| dev.tensor_from_vec(v.to_vec(), (4, N));
        let (x0, x_t, eps) = (rows(&x0), rows(&x_t), rows(&eps));
        let out_vec: Vec<f32> = (0..4)
            .flat_map(|b| {
                let e = &eps_hat[b * N..(b + 1) * N];
                let w = &v[b * N..(b + 1) * N];
                e.iter().chain(w).copied().collect::<Vec<_>>()
            })
            .collect();
        let out = dev.tensor_from_vec(out_vec.clone(), (4, 2 * N));

        let hybrid = l_hybrid(&s, out.leaky_trace(), &x0, &x_t, &eps, &ts);
        let simple = l_simple(out.leaky_trace().slice((.., 0..N)), &eps);
        // The value: L_simple + λ T · mean L_{t−1}, with λ T = 0.001 · 1000 = 1.
        let (h, l) = (hybrid.as_vec()[0], simple.as_vec()[0]);
        let terms = vlb_term(&s, &x0, &x_t, &ts, &rows(&eps_hat), rows(&v)).as_vec();
        let want = l + terms.iter().sum::<f32>() / terms.len() as f32;
        assert!((h - want).abs() < 1e-5 * want.abs(), "{h} vs {want}");
        let g_hybrid = hybrid.backward().get(&out).as_vec();
        let g_simple = simple.backward().get(&out).as_vec();
        for b in 0..4 {
            for j in 0..N {
                let i = b * 2 * N + j;
                assert_eq!(g_hybrid[i], g_simple[i], "ε̂ output {b},{j}");
                assert_eq!(g_simple[i + N], 0.0);
                assert!(g_hybrid[i + N] != 0.0, "v output {b},{j} gets no gradient");
            }
        }
        // Finite differences on the v outputs, in f64 around f32 evaluations.
        let loss_at = |o: &[f32]| {
            let o = dev.tensor_from_vec(o.to_vec(), (4, 2 * N));
            l_hybrid(&s, o, &x0, &x_t, &eps, &ts).as_vec()[0] as f64
        };
        for b in 0..4 {
            for j in [0, 2, N - 1] {
                let i = b * 2 * N + N + j;
                let h = 1e-2;
                let (mut up, mut down) = (out_vec.clone(), out_vec.clone());
                up[i] += h as f32;
                down[i] -= h as f32;
                let fd = (loss_at(&up) - loss_at(&down)) / (2.0 * h);
                let g = g_hybrid[i] as f64;
                assert!(
                    (fd - g).abs() < 2e-2 * g.abs().max(1e-3),
                    "v {b},{j}: {g} vs fd {fd}"
                );
            }
        }
    }
}
