//! The sampling layer's samplers (`ddpm-sampling`: strided, DDIM, Heun, DPM-Solver++) tested on chapter 6's exact
//! denoiser: with E[ε | x_t] known in closed form, whatever error is left is the sampler's own.

#[cfg(test)]
mod tests {
    use crate::{sliced_wasserstein, MixtureDenoiser};
    use ddpm_data::GaussianMixture;
    use ddpm_forward::Rows;
    use ddpm_sampling::{
        ddim_invert, Ancestral, Chain, Ddim, Denoiser, Diffusion, Heun, SampleOptions, Sampler,
        SamplerKind, Strided,
    };
    use ddpm_schedule::BetaSchedule;
    use ddpm_schedule::Schedule;
    use ddpm_vlb::ModelVariance;
    use dfdx::prelude::*;
    use rand::{rngs::StdRng, SeedableRng};

    fn setup() -> (Schedule, GaussianMixture) {
        (
            Schedule::new(BetaSchedule::Linear, 1000).unwrap(),
            GaussianMixture::ring(8, 2.0, 0.15),
        )
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
                    .build()
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
                    .build()
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

    /// x_0 of 200 chains from one x_T, solved by `sampler` with chapter 6's exact denoiser of
    /// the ring of eight Gaussians: the only error left is the solver's.
    fn solve_exactly(sampler: &dyn Sampler<Cpu>) -> Vec<f32> {
        let s = Schedule::new(BetaSchedule::Linear, 1000).unwrap();
        let mixture = GaussianMixture::ring(8, 2.0, 0.5);
        let exact = MixtureDenoiser {
            mixture: &mixture,
            schedule: &s,
        };
        let dev: Cpu = Default::default();
        let x_t: Rows<Cpu> = ddpm_schedule::randn(&dev, (200, 2), &mut StdRng::seed_from_u64(4));
        let mut rng = StdRng::seed_from_u64(0);
        sampler
            .sample_from(&exact, &Diffusion::new(&s), x_t, &mut rng, &[], None)
            .x0
    }

    /// The root-mean-square distance between two samples.
    fn rms_between(x: &[f32], y: &[f32]) -> f64 {
        let sq: f64 = x
            .iter()
            .zip(y)
            .map(|(a, b)| (*a as f64 - *b as f64).powi(2))
            .sum();
        (sq / x.len() as f64).sqrt()
    }

    /// Heun's method is second order and DDIM (η = 0: Euler's method on the same ODE) first
    /// order. From the same x_T, with chapter 6's exact denoiser (so the only error is the
    /// solver's), the distance to a 1,000-step Heun solution falls about fourfold for Heun and
    /// twofold for DDIM each time the steps double, and Heun is closer at equal network calls
    /// (measured, rms distance for 10/20/40/80 steps: Heun 0.064, 0.013, 0.0028, 0.00068 —
    /// ÷5.1, ÷4.4, ÷4.2; DDIM 0.154, 0.075, 0.037, 0.019 — ÷2.05, ÷2.01, ÷2.00).
    #[test]
    fn heun_converges_at_second_order_and_ddim_at_first() {
        let reference = solve_exactly(&Heun { steps: 1000 });
        let rms = |x: &[f32]| rms_between(x, &reference);
        let steps = [10, 20, 40, 80];
        let heun: Vec<f64> = steps
            .iter()
            .map(|&n| rms(&solve_exactly(&Heun { steps: n })))
            .collect();
        let ddim: Vec<f64> = steps
            .iter()
            .map(|&n| rms(&solve_exactly(&Ddim { steps: n, eta: 0.0 })))
            .collect();
        eprintln!("steps {steps:?}\nheun {heun:?}\nddim {ddim:?}");
        for k in 0..steps.len() - 1 {
            let (rh, rd) = (heun[k] / heun[k + 1], ddim[k] / ddim[k + 1]);
            eprintln!(
                "{} → {}: Heun ÷{rh:.2}, DDIM ÷{rd:.2}",
                steps[k],
                steps[k + 1]
            );
            // Order p divides the error by 2^p: 2 for Heun (÷3.2–6), 1 for DDIM (÷1.7–2.4).
            assert!(
                (3.2..6.0).contains(&rh),
                "Heun ÷{rh} from {} steps",
                steps[k]
            );
            assert!(
                (1.7..2.4).contains(&rd),
                "DDIM ÷{rd} from {} steps",
                steps[k]
            );
            // At equal network calls (Heun's S steps cost 2S − 1), Heun is still closer.
            assert!(
                heun[k] < ddim[k + 1],
                "{} Heun steps vs {} DDIM",
                steps[k],
                steps[k + 1]
            );
        }
    }

    /// DPM-Solver++(2M) is second order at one network call a step: from the same x_T, with
    /// chapter 6's exact denoiser, its distance to a 1,000-step Heun solution falls about
    /// fourfold as the steps double once they are fine enough (its first and last two steps are
    /// DDIM's), and at equal calls it is closer than DDIM and than Heun (measured, rms distance
    /// for 10/20/40/80 steps: 0.062, 0.027, 0.0060, 0.0013 — ÷2.3, ÷4.5, ÷4.5). Those DDIM steps
    /// are checked too: in three steps the two samplers agree, in four they part. And one
    /// sampler object draws the same chain twice (it forgets its memory where a chain starts).
    #[test]
    fn dpm_solver_converges_at_second_order_with_one_call_a_step() {
        let s = Schedule::new(BetaSchedule::Linear, 1000).unwrap();
        let solve = |name: &str| solve_exactly(&*name.parse::<SamplerKind>().unwrap().build());
        let reference = solve("heun:1000");
        let rms = |x: &[f32]| rms_between(x, &reference);

        assert!(rms_between(&solve("dpm++2m:2"), &solve("ddim:2")) < 1e-5);
        assert!(rms_between(&solve("dpm++2m:3"), &solve("ddim:3")) < 1e-5);
        assert!(rms_between(&solve("dpm++2m:4"), &solve("ddim:4")) > 1e-3);
        let runner = "dpm++2m:10".parse::<SamplerKind>().unwrap().build::<Cpu>();
        assert_eq!(solve_exactly(&*runner), solve_exactly(&*runner));

        // Why the step into τ_1 is DDIM's (the chapter's numbers): in 10 steps it spans 3.6 of
        // λ's 9.7, and r = (λ_112 − λ_223)/(λ_1 − λ_112) = 0.21.
        let lambda = |t: usize| 0.5 * (s.alpha_bar(t) / (1.0 - s.alpha_bar(t))).ln();
        let r = (lambda(112) - lambda(223)) / (lambda(1) - lambda(112));
        assert_eq!(&ddpm_sampling::respaced_steps(1000, 10)[..3], [1, 112, 223]);
        assert!((lambda(1) - 4.6).abs() < 0.01 && (lambda(112) - 0.97).abs() < 0.005);
        assert!((lambda(1) - lambda(1000) - 9.66).abs() < 0.01 && (r - 0.21).abs() < 0.005);

        let steps = [10, 20, 40, 80];
        let at = |name: &str| -> Vec<f64> {
            steps
                .iter()
                .map(|n| rms(&solve(&format!("{name}:{n}"))))
                .collect()
        };
        let (dpm, ddim, heun) = (at("dpm++2m"), at("ddim"), at("heun"));
        eprintln!("steps {steps:?}\ndpm++2m {dpm:?}\nddim {ddim:?}\nheun {heun:?}");
        for k in 0..steps.len() - 1 {
            let r = dpm[k] / dpm[k + 1];
            eprintln!("{} → {}: DPM-Solver++(2M) ÷{r:.2}", steps[k], steps[k + 1]);
            // Order 2 divides the error by 4 (÷3.2–6) from 20 steps; from 10, where the three
            // first-order steps weigh most, at least by DDIM's 2.
            let expected = if k == 0 { 1.8..6.0 } else { 3.2..6.0 };
            assert!(expected.contains(&r), "÷{r} from {} steps", steps[k]);
            // Equal network calls: S steps of DPM-Solver++ and of DDIM, 2S − 1 ≈ 2S of Heun.
            assert!(
                dpm[k] < ddim[k],
                "{} steps: DPM {} vs DDIM {}",
                steps[k],
                dpm[k],
                ddim[k]
            );
        }
        for k in 1..steps.len() {
            assert!(
                dpm[k] < heun[k - 1],
                "{} DPM steps vs {} Heun",
                steps[k],
                steps[k - 1]
            );
        }
    }

    /// DDIM inversion encodes data into the noise that DDIM (η = 0) decodes back to it, with an
    /// error that halves as the steps double (first order: the encoder reads ε̂ at the start of
    /// each step, the decoder at its end) — with chapter 6's exact denoiser, so the error is the
    /// two solvers' alone (measured: rms 0.046, 0.026, 0.014, 0.0070 at 25, 50, 100, 200 steps).
    /// And the codes approach noise: their mean square falls towards 1 as the steps grow.
    #[test]
    fn ddim_inversion_round_trips_at_first_order() {
        let s = Schedule::new(BetaSchedule::Linear, 1000).unwrap();
        let mixture = GaussianMixture::ring(8, 2.0, 0.5);
        let exact = MixtureDenoiser {
            mixture: &mixture,
            schedule: &s,
        };
        let dev: Cpu = Default::default();
        let d = Diffusion::new(&s);
        let points: Vec<f32> = mixture
            .sample(200, 3)
            .iter()
            .flat_map(|p| [p[0], p[1]])
            .collect();
        let x0: Rows<Cpu> = dev.tensor_from_vec(points.clone(), (200, 2));
        let round_trip = |steps: usize| -> (f64, f64) {
            let code = ddim_invert(&exact, &d, x0.clone(), steps);
            let power = code
                .as_vec()
                .iter()
                .map(|&v| (v as f64).powi(2))
                .sum::<f64>()
                / 400.0;
            let back = Ddim { steps, eta: 0.0 }
                .sample_from(&exact, &d, code, &mut StdRng::seed_from_u64(0), &[], None)
                .x0;
            let sq: f64 = back
                .iter()
                .zip(&points)
                .map(|(a, b)| (*a as f64 - *b as f64).powi(2))
                .sum();
            ((sq / 400.0).sqrt(), power)
        };
        let errors: Vec<(f64, f64)> = [25, 50, 100, 200].iter().map(|&n| round_trip(n)).collect();
        eprintln!("rms round-trip error, code power for 25/50/100/200 steps: {errors:?}");
        for k in 0..errors.len() - 1 {
            let ratio = errors[k].0 / errors[k + 1].0;
            assert!(
                (1.6..2.5).contains(&ratio),
                "error ÷{ratio} from step count {k}"
            );
        }
        // The encoder's own first-order error inflates the codes at few steps (measured: mean
        // square 1.40, 1.22, 1.14, 1.10 at 25–200 steps); it falls as steps grow and ends within
        // 0.2 of 1 (the s.e. of a mean square of 400 unit normals is √(2/400) ≈ 0.07).
        for k in 0..errors.len() - 1 {
            assert!(
                errors[k + 1].1 < errors[k].1,
                "code power did not fall: {errors:?}"
            );
        }
        let last = errors.last().unwrap().1;
        assert!((0.8..1.2).contains(&last), "code mean square {last}");
    }
}
