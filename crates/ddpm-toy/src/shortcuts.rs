//! Samplers that take fewer steps than T: Algorithm 2 on a respaced schedule (Nichol & Dhariwal
//! 2021) and DDIM (Song, Meng & Ermon 2021). Both visit a subsequence τ_1 < … < τ_S = T of the
//! training steps and call the network at those t only; they join [`Sampler`] beside
//! [`Ancestral`](crate::Ancestral) without changing it.

use ddpm_forward::Rows;
use ddpm_schedule::{randn, Schedule};
use dfdx::prelude::*;
use rand::Rng;

use crate::sample::{reverse_step, split_variance, Chain, Denoiser, SampleOptions, Sampler};

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

/// Algorithm 2 on the respaced schedule: S steps, each a Gaussian reverse step of the
/// shortened chain (the network is still asked at the original t = τ_i).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Strided {
    pub steps: usize,
}

// ANCHOR: strided
impl Sampler for Strided {
    fn sample<D: Device<f32>>(
        &self,
        dev: &D,
        model: &impl Denoiser<D>,
        s: &Schedule,
        (n, dim): (usize, usize),
        rng: &mut impl Rng,
        opts: &SampleOptions,
    ) -> Chain {
        let taus = respaced_steps(s.t_max(), self.steps);
        let r = respaced_schedule(s, &taus);
        let mut x: Rows<D> = randn(dev, (n, dim), rng);
        let mut frames = Vec::new();
        for i in (1..=taus.len()).rev() {
            let t = taus[i - 1];
            if opts.keep.contains(&t) {
                frames.push((t, x.as_vec()));
            }
            let out = model.denoise(x.clone(), &vec![t; n]);
            let z = (i > 1).then(|| randn(dev, (n, dim), rng));
            x = reverse_step(s, &r, (i, t), x, out, model.learns_variance(), z, opts);
            if let Some(p) = opts.progress {
                p.inc(1);
            }
        }
        finish(x, dim, frames, opts)
    }

    fn steps(&self, s: &Schedule) -> usize {
        respaced_steps(s.t_max(), self.steps).len()
    }
}
// ANCHOR_END: strided

/// DDIM: from the same ε-model, a chain whose step is deterministic when η = 0. At each τ_i it
/// predicts x̂₀ and re-noises it to the level of τ_{i−1}, with only part of the noise fresh.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ddim {
    pub steps: usize,
    /// 0: deterministic (DDIM); 1 with all T steps: Algorithm 2 with σ_t² = β̃_t.
    pub eta: f64,
}

// ANCHOR: ddim
impl Sampler for Ddim {
    /// x̂₀ = (x_t − √(1 − ᾱ_t) ε̂)/√ᾱ_t,
    /// σ = η √((1 − ᾱ_p)/(1 − ᾱ_t)) √(1 − ᾱ_t/ᾱ_p),
    /// x_p = √ᾱ_p x̂₀ + √(1 − ᾱ_p − σ²) ε̂ + σ z, for t = τ_i and p = τ_{i−1} (ᾱ_0 = 1).
    fn sample<D: Device<f32>>(
        &self,
        dev: &D,
        model: &impl Denoiser<D>,
        s: &Schedule,
        (n, dim): (usize, usize),
        rng: &mut impl Rng,
        opts: &SampleOptions,
    ) -> Chain {
        let x_t: Rows<D> = randn(dev, (n, dim), rng);
        self.sample_from(dev, model, s, x_t, rng, opts)
    }

    fn steps(&self, s: &Schedule) -> usize {
        respaced_steps(s.t_max(), self.steps).len()
    }
}

impl Ddim {
    /// The chain from a given x_T (rows): with η = 0 a fixed map from noise to samples, which
    /// is what lets two noises be interpolated (chapter 9's figure).
    pub fn sample_from<D: Device<f32>>(
        &self,
        dev: &D,
        model: &impl Denoiser<D>,
        s: &Schedule,
        mut x: Rows<D>,
        rng: &mut impl Rng,
        opts: &SampleOptions,
    ) -> Chain {
        let (n, dim) = *x.shape();
        let taus = respaced_steps(s.t_max(), self.steps);
        let mut frames = Vec::new();
        for i in (1..=taus.len()).rev() {
            let (t, p) = (taus[i - 1], if i > 1 { taus[i - 2] } else { 0 });
            if opts.keep.contains(&t) {
                frames.push((t, x.as_vec()));
            }
            let ts = vec![t; n];
            // A learned variance plays no part: DDIM's σ comes from η.
            let (out, _) = split_variance(model.denoise(x.clone(), &ts), model.learns_variance());
            let eps = opts.objective.eps_hat(s, out, &x, &ts);
            let (ab_t, ab_p) = (s.alpha_bar(t), s.alpha_bar(p));
            let sigma = self.eta * ((1.0 - ab_p) / (1.0 - ab_t) * (1.0 - ab_t / ab_p)).sqrt();
            let x0 = (x - eps.clone() * (1.0 - ab_t).sqrt() as f32) * (1.0 / ab_t.sqrt()) as f32;
            let direction = (1.0 - ab_p - sigma * sigma).max(0.0).sqrt();
            x = x0 * ab_p.sqrt() as f32 + eps * direction as f32;
            if sigma > 0.0 {
                x = x + randn(dev, (n, dim), rng) * sigma as f32;
            }
            if let Some(p) = opts.progress {
                p.inc(1);
            }
        }
        finish(x, dim, frames, opts)
    }
}
// ANCHOR_END: ddim

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

fn finish<D: Device<f32>>(
    x: Rows<D>,
    dim: usize,
    mut frames: Vec<(usize, Vec<f32>)>,
    opts: &SampleOptions,
) -> Chain {
    let x0 = x.as_vec();
    if opts.keep.contains(&0) {
        frames.push((0, x0.clone()));
    }
    Chain { dim, x0, frames }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{sliced_wasserstein, Ancestral, MixtureDenoiser, SamplerKind};
    use ddpm_data::GaussianMixture;
    use ddpm_schedule::BetaSchedule;
    use ddpm_vlb::ModelVariance;
    use rand::{rngs::StdRng, SeedableRng};

    fn setup() -> (Schedule, GaussianMixture) {
        (
            Schedule::new(BetaSchedule::Linear, 1000).unwrap(),
            GaussianMixture::ring(8, 2.0, 0.15),
        )
    }

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

    /// DDIM with η = 0 is deterministic given x_T, and with the exact denoiser of chapter 6 —
    /// in only 50 steps — lands on the data: sliced Wasserstein distance to fresh data within
    /// 1.5× of the distance between two data samples (measured 0.031 against 0.031). The
    /// strided sampler needs more steps: its reverse steps are Gaussian, which a jump over a
    /// large stretch of the chain is not (at 50 steps it measured 0.058; at 250, 0.042).
    #[test]
    fn shortcuts_with_the_exact_denoiser_land_on_the_data() {
        let (s, mixture) = setup();
        let exact = MixtureDenoiser {
            mixture: &mixture,
            schedule: &s,
        };
        let dev: Cpu = Default::default();
        let n = 3000;
        let baseline = sliced_wasserstein(&mixture.sample(n, 1), &mixture.sample(n, 2), 64);
        let points =
            |c: &Chain| -> Vec<[f32; 2]> { c.x0.chunks(2).map(|p| [p[0], p[1]]).collect() };
        let opts = SampleOptions {
            variance: ModelVariance::PosteriorBeta,
            ..Default::default()
        };
        let ddim = Ddim {
            steps: 50,
            eta: 0.0,
        };
        let a = ddim.sample(
            &dev,
            &exact,
            &s,
            (n, 2),
            &mut StdRng::seed_from_u64(5),
            &opts,
        );
        let b = ddim.sample(
            &dev,
            &exact,
            &s,
            (n, 2),
            &mut StdRng::seed_from_u64(5),
            &opts,
        );
        assert_eq!(a, b, "DDIM with η = 0 is a function of x_T");
        for (name, c) in [
            ("ddim", a),
            (
                "strided",
                Strided { steps: 250 }.sample(
                    &dev,
                    &exact,
                    &s,
                    (n, 2),
                    &mut StdRng::seed_from_u64(6),
                    &opts,
                ),
            ),
        ] {
            let d = sliced_wasserstein(&points(&c), &mixture.sample(n, 3), 64);
            eprintln!("{name}: SW₁ {d:.4} (data vs data {baseline:.4})");
            assert!(d < 1.5 * baseline, "{name}: {d} vs {baseline}");
        }
    }

    /// The strided sampler at all T steps is Algorithm 2 itself, bit for bit.
    #[test]
    fn strided_at_every_step_is_ancestral_sampling() {
        let (s, mixture) = setup();
        let exact = MixtureDenoiser {
            mixture: &mixture,
            schedule: &s,
        };
        let dev: Cpu = Default::default();
        let opts = SampleOptions::default();
        let a = Strided { steps: 1000 }.sample(
            &dev,
            &exact,
            &s,
            (50, 2),
            &mut StdRng::seed_from_u64(2),
            &opts,
        );
        let b = Ancestral.sample(
            &dev,
            &exact,
            &s,
            (50, 2),
            &mut StdRng::seed_from_u64(2),
            &opts,
        );
        let worst =
            a.x0.iter()
                .zip(&b.x0)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f32::max);
        assert!(worst < 1e-4, "largest difference {worst}");
    }

    /// DDIM with η = 1 at all T steps is Algorithm 2 with σ_t² = β̃_t (Song et al. §4.1): from
    /// the same noise, the same samples up to float rounding.
    #[test]
    fn ddim_with_eta_1_at_every_step_is_ancestral_sampling() {
        let (s, mixture) = setup();
        let exact = MixtureDenoiser {
            mixture: &mixture,
            schedule: &s,
        };
        let dev: Cpu = Default::default();
        let opts = SampleOptions {
            variance: ModelVariance::PosteriorBeta,
            ..Default::default()
        };
        let ddim = Ddim {
            steps: 1000,
            eta: 1.0,
        }
        .sample(
            &dev,
            &exact,
            &s,
            (200, 2),
            &mut StdRng::seed_from_u64(9),
            &opts,
        );
        let anc = Ancestral.sample(
            &dev,
            &exact,
            &s,
            (200, 2),
            &mut StdRng::seed_from_u64(9),
            &opts,
        );
        let worst = ddim
            .x0
            .iter()
            .zip(&anc.x0)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(worst < 1e-3, "largest difference {worst}");
    }

    /// The samplers' names on the command line, both ways.
    #[test]
    fn sampler_names_round_trip() {
        use crate::SamplerKind;
        for name in ["ancestral", "strided:100", "ddim:50", "ddim:20:0.5"] {
            let k: SamplerKind = name.parse().unwrap();
            assert_eq!(k.to_string(), name);
        }
        assert_eq!(
            "ddim:50:0".parse::<SamplerKind>().unwrap(),
            SamplerKind::Ddim(Ddim {
                steps: 50,
                eta: 0.0
            })
        );
        for bad in ["ddim", "ddim:0", "strided:x", "ddim:10:2", "euler"] {
            let e = bad.parse::<SamplerKind>().unwrap_err();
            assert!(e.contains(bad) && e.contains("ddim:STEPS"), "{e}");
        }
        let s = Schedule::new(BetaSchedule::Linear, 1000).unwrap();
        assert_eq!("strided:100".parse::<SamplerKind>().unwrap().steps(&s), 100);
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

    /// A denoiser that also outputs a constant v, as a learned-variance network would.
    struct WithV<'a>(MixtureDenoiser<'a>, f32);

    impl<D: Device<f32>> Denoiser<D> for WithV<'_> {
        fn denoise(&self, x_t: Rows<D>, ts: &[usize]) -> Rows<D> {
            let eps = self.0.denoise(x_t, ts);
            let v = eps.device().ones_like(eps.shape()) * self.1;
            (eps, v).concat_along(Axis::<1>)
        }
        fn learns_variance(&self) -> bool {
            true
        }
    }

    /// The samplers read a learned variance from the network's second half: v = 0 everywhere is
    /// σ² = β̃ (fixed small) and v = 1 is σ² = β (fixed large) — on the respaced chain's own
    /// β′ and β̃′ for the strided sampler — sample for sample within f32 rounding; DDIM ignores v.
    #[test]
    fn a_learned_variance_at_its_ends_samples_as_the_fixed_ones() {
        let (s, mixture) = setup();
        let dev: Cpu = Default::default();
        let exact = || MixtureDenoiser {
            mixture: &mixture,
            schedule: &s,
        };
        for name in ["ancestral", "strided:50", "ddim:20:1"] {
            let sampler: SamplerKind = name.parse().unwrap();
            for (v, fixed) in [
                (0.0, ModelVariance::PosteriorBeta),
                (1.0, ModelVariance::Beta),
            ] {
                let opts = |variance| SampleOptions {
                    variance,
                    ..Default::default()
                };
                let rng = || StdRng::seed_from_u64(5);
                let learned = sampler
                    .sample(
                        &dev,
                        &WithV(exact(), v),
                        &s,
                        (300, 2),
                        &mut rng(),
                        &opts(ModelVariance::Beta),
                    )
                    .x0;
                let want = sampler
                    .sample(&dev, &exact(), &s, (300, 2), &mut rng(), &opts(fixed))
                    .x0;
                let worst = learned
                    .iter()
                    .zip(&want)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f32::max);
                assert!(worst < 1e-3, "{name} v = {v}: differs by {worst}");
            }
        }
    }

    /// Chapter 9's reading of DDIM with η = 1 against the strided sampler with σ² = β′: with 10
    /// steps of the linear schedule the last jumps (τ = 223 → 112 → 1) have β′ = 0.3168 and
    /// 0.1263 but β̃′ = 0.0993 and 1.0e-4, while at the noisy end (τ = 1000) the two agree.
    #[test]
    fn few_strided_steps_end_with_a_large_beta_but_a_small_posterior_variance() {
        let s = Schedule::new(ddpm_schedule::BetaSchedule::Linear, 1000).unwrap();
        let taus = respaced_steps(1000, 10);
        assert_eq!(&taus[..3], &[1, 112, 223]);
        let r = respaced_schedule(&s, &taus);
        let near = |a: f64, b: f64, tol: f64| (a - b).abs() < tol;
        assert!(near(r.beta(3), 0.3168, 1e-4) && near(r.posterior_variance(3), 0.0993, 1e-4));
        assert!(near(r.beta(2), 0.1263, 1e-4) && near(r.posterior_variance(2), 1.0e-4, 2e-6));
        assert!(near(r.posterior_variance(10) / r.beta(10), 1.0, 1e-3));
    }
}
