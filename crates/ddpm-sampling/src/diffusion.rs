//! What a network's output means: the one place the course turns an output at x_t into ε̂, x̂₀,
//! the reverse step's mean μ and its variance σ² (improved-diffusion's `p_mean_variance`).
//! Every sampler and the bound read outputs through [`Diffusion`] (`p_mean_variance`, or
//! `eps_x0` for the samplers that need only ε̂ and x̂₀), x̂₀ is clipped there, and guided outputs
//! are mixed before it reads them; none of them re-derives x̂₀ or μ.

use ddpm_forward::Rows;
use ddpm_loss::Objective;
use ddpm_schedule::Schedule;
use ddpm_vlb::{learned_sd, learned_variance, p_mean, ModelVariance};
use dfdx::prelude::*;

/// How a network's output is read: the training schedule, the objective (ε, x₀ or v), σ² when
/// the network does not learn it, whether it does (its output is then the prediction followed
/// by v), and whether x̂₀ is clipped to the data's range [−1, 1].
#[derive(Clone, Copy, Debug)]
pub struct Diffusion<'a> {
    pub schedule: &'a Schedule,
    pub objective: Objective,
    pub variance: ModelVariance,
    pub learned: bool,
    pub clip_x0: bool,
}

/// Where a reverse step is: step `i` (from 1) of the chain being sampled, whose schedule is
/// `chain` (the training schedule, or a respaced one); the network is asked at the training
/// step `t`, and the step lands at the training step `prev` (0: the data).
#[derive(Clone, Copy, Debug)]
pub struct StepAt<'a> {
    pub i: usize,
    pub t: usize,
    pub prev: usize,
    pub chain: &'a Schedule,
}

/// σ² of a reverse step: one number for the whole batch, or the network's own v for each
/// number (σ² = exp(v ln β + (1 − v) ln β̃), Improved DDPM).
#[derive(Clone, Debug)]
pub enum Variance<D: Device<f32>> {
    Fixed(f64),
    Learned(Rows<D>),
}

/// A network output read at x_t: ε̂ and x̂₀ (clipped if asked, with ε̂ then the noise the clipped
/// x̂₀ implies), and the reverse step's mean μ and variance σ².
#[derive(Clone, Debug)]
pub struct Prediction<D: Device<f32>> {
    pub eps: Rows<D>,
    pub x0: Rows<D>,
    pub mean: Rows<D>,
    pub variance: Variance<D>,
}

impl<'a> Diffusion<'a> {
    /// Ho et al.'s reading: an ε-network, σ² = β_t, nothing clipped.
    pub fn new(schedule: &'a Schedule) -> Self {
        Self {
            schedule,
            objective: Objective::Eps,
            variance: ModelVariance::Beta,
            learned: false,
            clip_x0: false,
        }
    }

    // ANCHOR: eps_x0
    /// ε̂ and x̂₀ from an output (its first half if the network learns its variance, which is
    /// returned as the second), each row at its own step `ts[r]`. With `clip_x0`, x̂₀ is
    /// clipped to [−1, 1] and ε̂ = (x_t − √ᾱ_t x̂₀)/√(1 − ᾱ_t) is the noise it implies.
    pub fn eps_x0<D: Device<f32>>(
        &self,
        x_t: &Rows<D>,
        ts: &[usize],
        out: Rows<D>,
    ) -> (Rows<D>, Rows<D>, Option<Rows<D>>) {
        let (s, o) = (self.schedule, self.objective);
        let (out, v) = split_variance(out, self.learned);
        if self.clip_x0 {
            let x0 = o.x0_hat(s, out, x_t, ts).clamp(-1.0, 1.0);
            let eps = Objective::X0.eps_hat(s, x0.clone(), x_t, ts);
            return (eps, x0, v);
        }
        let x0 = o.x0_hat(s, out.clone(), x_t, ts);
        let eps = o.eps_hat(s, out, x_t, ts);
        (eps, x0, v)
    }
    // ANCHOR_END: eps_x0

    // ANCHOR: p_mean_variance
    /// The reverse step's Gaussian p(x_prev | x_t) = N(μ, σ²) at `at`, from the network's
    /// output there: μ = (1/√α_i)(x_t − β_i/√(1 − ᾱ_i) · ε̂) on the chain's schedule, and
    /// σ² = the fixed choice at i, or the network's own.
    pub fn p_mean_variance<D: Device<f32>>(
        &self,
        x_t: &Rows<D>,
        at: StepAt,
        out: Rows<D>,
    ) -> Prediction<D> {
        let ts = vec![at.t; x_t.shape().0];
        let (eps, x0, v) = self.eps_x0(x_t, &ts, out);
        let mean = p_mean(at.chain, at.i, x_t.clone(), eps.clone());
        let variance = match v {
            Some(v) => Variance::Learned(v),
            // A one-step chain's only step is its last, which returns μ: there is no β̃_2.
            None if at.chain.t_max() < 2 => Variance::Fixed(0.0),
            None => Variance::Fixed(self.variance.variance(at.chain, at.i)),
        };
        Prediction {
            eps,
            x0,
            mean,
            variance,
        }
    }
    // ANCHOR_END: p_mean_variance

    /// σ² of each of `len` numbers at the chain's step `i` (what the bound needs on the host).
    pub fn variance_host<D: Device<f32>>(
        &self,
        chain: &Schedule,
        i: usize,
        variance: &Variance<D>,
        len: usize,
    ) -> Vec<f64> {
        match variance {
            Variance::Fixed(v) => vec![*v; len],
            Variance::Learned(v) => v
                .as_vec()
                .into_iter()
                .map(|v| learned_variance(chain, i, v as f64))
                .collect(),
        }
    }
}

impl<D: Device<f32>> Prediction<D> {
    /// x_prev = μ + σ z; `z` is `None` at the chain's last step, which returns μ.
    pub fn sample(self, at: StepAt, z: Option<Rows<D>>) -> Rows<D> {
        match (z, self.variance) {
            (None, _) => self.mean,
            (Some(z), Variance::Fixed(v)) => self.mean + z * v.sqrt() as f32,
            (Some(z), Variance::Learned(v)) => self.mean + z * learned_sd(at.chain, at.i, v),
        }
    }
}

/// A learned-variance output `[B, 2N]` split into the prediction `[B, N]` and v `[B, N]`.
pub fn split_variance<D: Device<f32>>(out: Rows<D>, learned: bool) -> (Rows<D>, Option<Rows<D>>) {
    if !learned {
        return (out, None);
    }
    let n = out.shape().1 / 2;
    (
        out.clone().slice((.., 0..n)),
        Some(out.slice((.., n..2 * n))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ddpm_schedule::BetaSchedule;
    use ddpm_vlb::{p_mean_from_eps, p_sample_step, p_sample_step_learned, q_posterior};

    fn setup() -> (Cpu, Schedule, Rows<Cpu>) {
        let dev: Cpu = Default::default();
        let s = Schedule::new(BetaSchedule::Linear, 1000).unwrap();
        let x = dev.tensor_from_vec(vec![-2.5, -0.4, 0.0, 0.3, 1.7, 3.0], (2, 3));
        (dev, s, x)
    }

    /// For every objective: x̂₀ and ε̂ are the objective's own conversions, consistent with
    /// each other (x_t = √ᾱ x̂₀ + √(1 − ᾱ) ε̂); μ is the posterior mean q(x_{t−1} | x_t, x̂₀) by
    /// chapter 4's route (an independent formula); σ² is the fixed choice.
    #[test]
    fn the_prediction_is_consistent_and_its_mean_is_the_posterior_mean_at_x0_hat() {
        let (dev, s, x) = setup();
        let out = dev.tensor_from_vec(vec![0.6, -1.2, 0.1, 2.0, -0.3, 0.9], (2, 3));
        for objective in Objective::ALL {
            for t in [2, 40, 700] {
                let d = Diffusion {
                    objective,
                    variance: ModelVariance::PosteriorBeta,
                    ..Diffusion::new(&s)
                };
                let at = StepAt {
                    i: t,
                    t,
                    prev: t - 1,
                    chain: &s,
                };
                let p = d.p_mean_variance(&x, at, out.clone());
                let (xs, outs) = (x.as_vec(), out.as_vec());
                let (eps, x0, mean) = (p.eps.as_vec(), p.x0.as_vec(), p.mean.as_vec());
                for k in 0..xs.len() {
                    let (xt, o) = (xs[k] as f64, outs[k] as f64);
                    let want_eps = objective.eps_scalar(&s, o, xt, t);
                    let want_x0 = objective.x0_scalar(&s, o, xt, t);
                    let tol = |w: f64| 2e-4 * w.abs().max(1.0);
                    assert!(
                        (eps[k] as f64 - want_eps).abs() < tol(want_eps),
                        "{objective}"
                    );
                    assert!((x0[k] as f64 - want_x0).abs() < tol(want_x0), "{objective}");
                    let (posterior, _) = q_posterior(&s, want_x0, xt, t);
                    assert!(
                        (mean[k] as f64 - posterior).abs() < tol(posterior),
                        "{objective} t = {t}: μ {} vs posterior mean {posterior}",
                        mean[k]
                    );
                    let via_eps = p_mean_from_eps(&s, xt, want_eps, t);
                    assert!((posterior - via_eps).abs() < 1e-9 * via_eps.abs().max(1.0));
                }
                match p.variance {
                    Variance::Fixed(v) => assert_eq!(v, s.posterior_variance(t)),
                    Variance::Learned(_) => panic!("not learned"),
                }
            }
        }
    }

    /// Clipping: x̂₀ is the unclipped x̂₀ clipped to [−1, 1] (unchanged where it was in range),
    /// and ε̂ is the noise that clipped x̂₀ implies; a learned v passes through bit for bit.
    #[test]
    fn clipping_keeps_x0_in_the_data_range_and_eps_follows_it() {
        let (dev, s, x) = setup();
        let ts = [40, 700];
        for objective in Objective::ALL {
            let out = dev.tensor_from_vec(vec![0.6; 6], (2, 3));
            let v = dev.tensor_from_vec(vec![0.25; 6], (2, 3));
            let both = (out.clone(), v).concat_along(Axis::<1>);
            let plain = Diffusion {
                objective,
                learned: true,
                ..Diffusion::new(&s)
            };
            let clipped = Diffusion {
                clip_x0: true,
                ..plain
            };
            let (_, x0, _) = plain.eps_x0(&x, &ts, both.clone());
            let (eps_c, x0_c, v_c) = clipped.eps_x0(&x, &ts, both);
            let xs = x.as_vec();
            for (k, (u, c)) in x0.as_vec().iter().zip(x0_c.as_vec()).enumerate() {
                assert!(
                    (u.clamp(-1.0, 1.0) - c).abs() < 1e-5,
                    "{objective}: {u} → {c}"
                );
                let (a, b) = (
                    s.sqrt_alpha_bar(ts[k / 3]),
                    s.sqrt_one_minus_alpha_bar(ts[k / 3]),
                );
                let want = (xs[k] as f64 - a * c as f64) / b;
                let got = eps_c.as_vec()[k] as f64;
                assert!(
                    (got - want).abs() < 1e-4 * want.abs().max(1.0),
                    "{objective}"
                );
            }
            assert!(v_c.unwrap().as_vec().iter().all(|&v| v == 0.25));
        }
    }

    /// The step the prediction takes is chapter 4's device step, bit for bit, with the fixed
    /// σ² and with a learned one.
    #[test]
    fn the_step_is_p_sample_step() {
        let (dev, s, x) = setup();
        let eps = dev.tensor_from_vec(vec![0.5, 0.1, -0.7, 0.2, 1.1, -0.3], (2, 3));
        let z = dev.tensor_from_vec(vec![1.0, -2.0, 0.25, 0.4, -0.1, 0.7], (2, 3));
        let v = dev.tensor_from_vec(vec![0.1, 0.9, 0.5, -0.2, 1.3, 0.0], (2, 3));
        for t in [2, 500, 1000] {
            let at = StepAt {
                i: t,
                t,
                prev: t - 1,
                chain: &s,
            };
            let d = Diffusion::new(&s);
            let got = d
                .p_mean_variance(&x, at, eps.clone())
                .sample(at, Some(z.clone()));
            let want = p_sample_step(
                &s,
                t,
                x.clone(),
                eps.clone(),
                ModelVariance::Beta,
                Some(z.clone()),
            );
            assert_eq!(got.as_vec(), want.as_vec(), "t = {t}");
            let learned = Diffusion { learned: true, ..d };
            let both = (eps.clone(), v.clone()).concat_along(Axis::<1>);
            let got = learned
                .p_mean_variance(&x, at, both)
                .sample(at, Some(z.clone()));
            let want =
                p_sample_step_learned(&s, t, x.clone(), eps.clone(), v.clone(), Some(z.clone()));
            assert_eq!(got.as_vec(), want.as_vec(), "learned, t = {t}");
        }
    }
}
