//! Algorithm 2: ancestral sampling from x_T ~ N(0, I) down to x_0 — for any data that comes as
//! rows of numbers (chapter 6's points, chapter 8's images), behind one sampler interface.

use ddpm_data::{GaussianMixture, Point};
use ddpm_forward::Rows;
use ddpm_loss::Objective;
use ddpm_plot::Progress;
use ddpm_schedule::{randn, Schedule};
use ddpm_vlb::{p_sample_step, p_sample_step_learned, ModelVariance};
use dfdx::prelude::*;
use rand::Rng;

use crate::model::DeviceEpsMlp;

/// A network, or any function, that sees a batch x_t as rows (`[B, N]`) with each row's step
/// and returns its output for every row: ε̂, x̂₀ or v̂, as its [`Objective`] says.
pub trait Denoiser<D: Device<f32>> {
    fn denoise(&self, x_t: Rows<D>, ts: &[usize]) -> Rows<D>;
    /// Whether each output row is N numbers of prediction followed by N of v, the network's own
    /// reverse variance (Improved DDPM; see [`reverse_step`]).
    fn learns_variance(&self) -> bool {
        false
    }
}

// ANCHOR: reverse_step
/// One reverse step of a chain on schedule `r` (its step `i`), given the network's output `out`
/// at x_t (asked at the training step t, on the training schedule `s`): ε̂ from the output by
/// the objective, then x_{i−1} with σ² fixed by `opts.variance` — or, for a network that learns
/// it, σ² = exp(v ln β_i + (1 − v) ln β̃_i) from its v. `z` is `None` at the chain's last step.
#[allow(clippy::too_many_arguments)]
pub fn reverse_step<D: Device<f32>>(
    s: &Schedule,
    r: &Schedule,
    (i, t): (usize, usize),
    x: Rows<D>,
    out: Rows<D>,
    learned: bool,
    z: Option<Rows<D>>,
    opts: &SampleOptions,
) -> Rows<D> {
    let ts = vec![t; x.shape().0];
    let (out, v) = split_variance(out, learned);
    let eps = opts.objective.eps_hat(s, out, &x, &ts);
    match v {
        Some(v) => p_sample_step_learned(r, i, x, eps, v, z),
        None => p_sample_step(r, i, x, eps, opts.variance, z),
    }
}
// ANCHOR_END: reverse_step

// ANCHOR: clip_x0
/// A network whose x̂₀ is clipped to the data's range [−1, 1] before every reverse step, as Ho et
/// al.'s and Nichol & Dhariwal's samplers do (`clip_denoised`): the output is turned into x̂₀ by
/// the objective, clipped, and turned back, so the samplers use it unchanged. A step whose x̂₀
/// is already in range is the plain step; a learned variance passes through.
pub struct ClipX0<'a, M> {
    pub model: &'a M,
    pub schedule: &'a Schedule,
    pub objective: Objective,
}

impl<D: Device<f32>, M: Denoiser<D>> Denoiser<D> for ClipX0<'_, M> {
    fn denoise(&self, x_t: Rows<D>, ts: &[usize]) -> Rows<D> {
        let learned = self.model.learns_variance();
        let (out, v) = split_variance(self.model.denoise(x_t.clone(), ts), learned);
        let (s, o) = (self.schedule, self.objective);
        let x0 = o.x0_hat(s, out, &x_t, ts).clamp(-1.0, 1.0);
        let out = o.output_from_x0(s, x0, &x_t, ts);
        match v {
            Some(v) => (out, v).concat_along(Axis::<1>),
            None => out,
        }
    }

    fn learns_variance(&self) -> bool {
        self.model.learns_variance()
    }
}
// ANCHOR_END: clip_x0

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

impl<const H: usize, const E: usize, D: Device<f32>> Denoiser<D> for DeviceEpsMlp<H, E, f32, D> {
    fn denoise(&self, x_t: Rows<D>, ts: &[usize]) -> Rows<D> {
        let n = x_t.shape().0;
        self.forward(x_t.reshape_like(&(n, Const::<2>)), ts)
            .reshape_like(&(n, 2))
    }
}

/// How to sample: the reverse variance σ_t², what the model outputs, which steps to keep, and
/// where to show progress.
#[derive(Clone, Copy)]
pub struct SampleOptions<'a> {
    pub variance: ModelVariance,
    pub objective: Objective,
    /// The steps t whose whole batch x_t is kept (0 = the result).
    pub keep: &'a [usize],
    pub progress: Option<&'a Progress>,
}

impl Default for SampleOptions<'_> {
    /// Ho et al.'s choice: σ_t² = β_t, an ε-model, nothing kept, no progress.
    fn default() -> Self {
        Self {
            variance: ModelVariance::Beta,
            objective: Objective::Eps,
            keep: &[],
            progress: None,
        }
    }
}

/// A sampler's result on the host: `n` rows of `dim` numbers, and x_t at each kept step.
#[derive(Clone, Debug, PartialEq)]
pub struct Chain {
    pub dim: usize,
    pub x0: Vec<f32>,
    /// (t, x_t) for each t in the options' `keep`, from t = T down (t = 0 is the result).
    pub frames: Vec<(usize, Vec<f32>)>,
}

/// A way to turn noise into samples with a trained model. Samplers share this interface, so
/// the CLI and the evaluation pick one by name ([`SamplerKind`]) and a new one joins without
/// touching the others.
pub trait Sampler {
    /// Draws `n` samples of `dim` numbers (`shape` = (n, dim)): x_T ~ N(0, I) from `rng`, then
    /// the reverse process.
    fn sample<D: Device<f32>>(
        &self,
        dev: &D,
        model: &impl Denoiser<D>,
        s: &Schedule,
        shape: (usize, usize),
        rng: &mut impl Rng,
        opts: &SampleOptions,
    ) -> Chain;

    /// How many network calls a sample costs (for progress bars and time budgets).
    fn steps(&self, s: &Schedule) -> usize;
}

/// Algorithm 2 of Ho et al.: every step from T down to 1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ancestral;

// ANCHOR: algorithm2
impl Sampler for Ancestral {
    /// Algorithm 2: x_T ~ N(0, I); for t = T, …, 1: z ~ N(0, I) if t > 1 else z = 0,
    /// x_{t−1} = (1/√α_t)(x_t − β_t/√(1 − ᾱ_t) · ε_θ(x_t, t)) + σ_t z.
    fn sample<D: Device<f32>>(
        &self,
        dev: &D,
        model: &impl Denoiser<D>,
        s: &Schedule,
        (n, dim): (usize, usize),
        rng: &mut impl Rng,
        opts: &SampleOptions,
    ) -> Chain {
        let mut x: Rows<D> = randn(dev, (n, dim), rng);
        let mut frames = Vec::new();
        for t in (1..=s.t_max()).rev() {
            if opts.keep.contains(&t) {
                frames.push((t, x.as_vec()));
            }
            let out = model.denoise(x.clone(), &vec![t; n]);
            let z = (t > 1).then(|| randn(dev, (n, dim), rng));
            x = reverse_step(s, s, (t, t), x, out, model.learns_variance(), z, opts);
            if let Some(p) = opts.progress {
                p.inc(1);
            }
        }
        let x0 = x.as_vec();
        if opts.keep.contains(&0) {
            frames.push((0, x0.clone()));
        }
        Chain { dim, x0, frames }
    }

    fn steps(&self, s: &Schedule) -> usize {
        s.t_max()
    }
}
// ANCHOR_END: algorithm2

/// The samplers, by the names the command line uses: `ancestral`, `strided:S` (S steps) and
/// `ddim:S` or `ddim:S:η` (η = 0 unless given).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum SamplerKind {
    /// Algorithm 2 (Ho et al. 2020): T steps.
    #[default]
    Ancestral,
    /// Algorithm 2 on a respaced schedule (Nichol & Dhariwal 2021).
    Strided(crate::Strided),
    /// DDIM (Song, Meng & Ermon 2021).
    Ddim(crate::Ddim),
}

impl SamplerKind {
    /// Runs the named sampler (see [`Sampler::sample`]).
    pub fn sample<D: Device<f32>>(
        self,
        dev: &D,
        model: &impl Denoiser<D>,
        s: &Schedule,
        shape: (usize, usize),
        rng: &mut impl Rng,
        opts: &SampleOptions,
    ) -> Chain {
        match self {
            SamplerKind::Ancestral => Ancestral.sample(dev, model, s, shape, rng, opts),
            SamplerKind::Strided(k) => k.sample(dev, model, s, shape, rng, opts),
            SamplerKind::Ddim(k) => k.sample(dev, model, s, shape, rng, opts),
        }
    }

    pub fn steps(self, s: &Schedule) -> usize {
        match self {
            SamplerKind::Ancestral => Ancestral.steps(s),
            SamplerKind::Strided(k) => k.steps(s),
            SamplerKind::Ddim(k) => k.steps(s),
        }
    }
}

impl std::fmt::Display for SamplerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SamplerKind::Ancestral => f.write_str("ancestral"),
            SamplerKind::Strided(k) => write!(f, "strided:{}", k.steps),
            SamplerKind::Ddim(k) if k.eta == 0.0 => write!(f, "ddim:{}", k.steps),
            SamplerKind::Ddim(k) => write!(f, "ddim:{}:{}", k.steps, k.eta),
        }
    }
}

impl std::str::FromStr for SamplerKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "unknown sampler '{s}': expected ancestral, strided:STEPS, ddim:STEPS or \
                 ddim:STEPS:ETA (STEPS ≥ 1, ETA in [0, 1])"
            )
        };
        let parts: Vec<&str> = s.split(':').collect();
        let steps = |p: &str| p.parse::<usize>().ok().filter(|&n| n >= 1).ok_or_else(bad);
        match parts[..] {
            ["ancestral"] => Ok(SamplerKind::Ancestral),
            ["strided", n] => Ok(SamplerKind::Strided(crate::Strided { steps: steps(n)? })),
            ["ddim", n] => Ok(SamplerKind::Ddim(crate::Ddim {
                steps: steps(n)?,
                eta: 0.0,
            })),
            ["ddim", n, e] => {
                let eta = e
                    .parse::<f64>()
                    .ok()
                    .filter(|e| (0.0..=1.0).contains(e))
                    .ok_or_else(bad)?;
                Ok(SamplerKind::Ddim(crate::Ddim {
                    steps: steps(n)?,
                    eta,
                }))
            }
            _ => Err(bad()),
        }
    }
}

/// Points sampled with Algorithm 2, and the whole batch at each step that was asked for.
#[derive(Clone, Debug)]
pub struct Sampled {
    pub points: Vec<Point>,
    /// (t, x_t) for each t in `keep`, from t = T down (t = 0 is the final sample).
    pub trajectory: Vec<(usize, Vec<Point>)>,
}

fn to_points(v: &[f32]) -> Vec<Point> {
    v.chunks(2).map(|p| [p[0], p[1]]).collect()
}

/// `n` points from an ε-model with Algorithm 2 ([`Ancestral`]), keeping x_t for each t in
/// `keep`.
pub fn sample<D: Device<f32>>(
    dev: &D,
    model: &impl Denoiser<D>,
    s: &Schedule,
    n: usize,
    variance: ModelVariance,
    keep: &[usize],
    rng: &mut impl Rng,
) -> Sampled {
    let opts = SampleOptions {
        variance,
        keep,
        ..Default::default()
    };
    let chain = Ancestral.sample(dev, model, s, (n, 2), rng, &opts);
    Sampled {
        points: to_points(&chain.x0),
        trajectory: chain
            .frames
            .iter()
            .map(|(t, v)| (*t, to_points(v)))
            .collect(),
    }
}

/// The exact noise predictor of a Gaussian-mixture dataset, E[ε | x_t], known in closed form.
///
/// Given component k, x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε is Gaussian with mean √ᾱ_t μ_k and variance
/// v_t = ᾱ_t s² + 1 − ᾱ_t, so E[ε | x_t, k] = √(1−ᾱ_t)(x_t − √ᾱ_t μ_k)/v_t; averaging over k with
/// the posterior weights r_k ∝ exp(−‖x_t − √ᾱ_t μ_k‖²/(2 v_t)) gives E[ε | x_t].
pub struct MixtureDenoiser<'a> {
    pub mixture: &'a GaussianMixture,
    pub schedule: &'a Schedule,
}

impl MixtureDenoiser<'_> {
    // ANCHOR: exact_eps
    /// E[ε | x_t] for one point.
    pub fn exact_eps(&self, x: [f64; 2], t: usize) -> [f64; 2] {
        let (ab, s2) = (self.schedule.alpha_bar(t), self.mixture.std.powi(2));
        let v = ab * s2 + 1.0 - ab;
        let d: Vec<[f64; 2]> = self
            .mixture
            .means
            .iter()
            .map(|m| [x[0] - ab.sqrt() * m[0], x[1] - ab.sqrt() * m[1]])
            .collect();
        let logits: Vec<f64> = d
            .iter()
            .map(|d| -(d[0] * d[0] + d[1] * d[1]) / (2.0 * v))
            .collect();
        let top = logits.iter().cloned().fold(f64::MIN, f64::max);
        let w: Vec<f64> = logits.iter().map(|l| (l - top).exp()).collect();
        let z: f64 = w.iter().sum();
        let c = (1.0 - ab).sqrt() / v;
        let mut eps = [0.0; 2];
        for (wk, dk) in w.iter().zip(&d) {
            eps[0] += wk / z * c * dk[0];
            eps[1] += wk / z * c * dk[1];
        }
        eps
    }
    // ANCHOR_END: exact_eps
}

impl<D: Device<f32>> Denoiser<D> for MixtureDenoiser<'_> {
    fn denoise(&self, x_t: Rows<D>, ts: &[usize]) -> Rows<D> {
        let v: Vec<f32> = x_t
            .as_vec()
            .chunks(2)
            .zip(ts)
            .flat_map(|(p, &t)| {
                self.exact_eps([p[0] as f64, p[1] as f64], t)
                    .map(|e| e as f32)
            })
            .collect();
        x_t.device().tensor_from_vec(v, *x_t.shape())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sliced_wasserstein;
    use ddpm_schedule::{log_normal_pdf, BetaSchedule};
    use rand::{rngs::StdRng, SeedableRng};

    /// Algorithm 2 with the exact E[ε | x_t] of a ring of 8 Gaussians (radius 2, std 0.15)
    /// reproduces the data distribution, with either σ_t²: mean within 5 standard errors of 0,
    /// per-axis variance within 5% of 2.0225, correlation below 0.05, every component
    /// holding 1/8 of the samples within 5 binomial standard errors, and the sliced Wasserstein
    /// distance to fresh data below 1.5 × the distance between two data samples of the same size.
    #[test]
    fn algorithm_2_with_the_exact_denoiser_reproduces_the_data() {
        let dev: Cpu = Default::default();
        let s = Schedule::new(BetaSchedule::Linear, 1000).unwrap();
        let mixture = GaussianMixture::ring(8, 2.0, 0.15);
        let denoiser = MixtureDenoiser {
            mixture: &mixture,
            schedule: &s,
        };
        let n = 4000;
        let baseline = sliced_wasserstein(&mixture.sample(n, 1), &mixture.sample(n, 2), 64);
        for variance in ModelVariance::ALL {
            let out = sample(
                &dev,
                &denoiser,
                &s,
                n,
                variance,
                &[],
                &mut StdRng::seed_from_u64(7),
            );
            let pts = &out.points;
            let mean = |k: usize| pts.iter().map(|p| p[k] as f64).sum::<f64>() / n as f64;
            let (mx, my) = (mean(0), mean(1));
            let cov = |a: usize, b: usize, ma: f64, mb: f64| {
                pts.iter()
                    .map(|p| (p[a] as f64 - ma) * (p[b] as f64 - mb))
                    .sum::<f64>()
                    / n as f64
            };
            let want_var = 0.15f64.powi(2) + 2.0f64.powi(2) / 2.0;
            assert!(
                mx.abs() < 5.0 * (want_var / n as f64).sqrt()
                    && my.abs() < 5.0 * (want_var / n as f64).sqrt(),
                "{variance}: mean ({mx}, {my})"
            );
            for (k, m) in [(0, mx), (1, my)] {
                let v = cov(k, k, m, m);
                assert!(
                    (v / want_var - 1.0).abs() < 0.05,
                    "{variance}: variance {v} vs {want_var}"
                );
            }
            let corr = cov(0, 1, mx, my) / want_var;
            assert!(corr.abs() < 0.05, "{variance}: correlation {corr}");
            for m in &mixture.means {
                let near = pts
                    .iter()
                    .filter(|p| (p[0] as f64 - m[0]).hypot(p[1] as f64 - m[1]) < 0.6)
                    .count() as f64;
                let se = (n as f64 / 8.0 * 7.0 / 8.0).sqrt();
                assert!(
                    (near - n as f64 / 8.0).abs() < 5.0 * se,
                    "{variance}: {near} samples near {m:?}"
                );
            }
            let d = sliced_wasserstein(pts, &mixture.sample(n, 3), 64);
            eprintln!("σ² = {variance}: SW₁ to data {d:.4} (data vs data {baseline:.4})");
            assert!(
                d < 1.5 * baseline,
                "{variance}: SW₁ {d} vs baseline {baseline}"
            );
        }
    }

    /// (6.3) by another route, Tweedie's formula: x_t has density
    /// q_t(x) = (1/K) Σ_k N(x; √ᾱ_t μ_k, v_t I), and E[ε | x_t] = −√(1 − ᾱ_t) ∇ ln q_t(x_t) for any
    /// data distribution. The gradient of ln q_t by central differences (h = 10⁻⁵) equals
    /// `exact_eps` to 10⁻⁶ (relative, or absolute below 1) for a ring of 8 Gaussians, at points on,
    /// between and far from the components, for t = 1, 10, 300 and 1000.
    #[test]
    fn exact_eps_is_the_scaled_score_of_the_noised_data() {
        let s = Schedule::new(BetaSchedule::Linear, 1000).unwrap();
        let mixture = GaussianMixture::ring(8, 2.0, 0.15);
        let denoiser = MixtureDenoiser {
            mixture: &mixture,
            schedule: &s,
        };
        for t in [1, 10, 300, 1000] {
            let ab = s.alpha_bar(t);
            let v = ab * mixture.std.powi(2) + 1.0 - ab;
            let log_q = |x: [f64; 2]| {
                let logs: Vec<f64> = mixture
                    .means
                    .iter()
                    .map(|m| {
                        log_normal_pdf(x[0], ab.sqrt() * m[0], v)
                            + log_normal_pdf(x[1], ab.sqrt() * m[1], v)
                    })
                    .collect();
                let top = logs.iter().cloned().fold(f64::MIN, f64::max);
                top + logs.iter().map(|l| (l - top).exp()).sum::<f64>().ln()
                    - (mixture.means.len() as f64).ln()
            };
            for x in [
                [2.0, 0.05],
                [1.5, 1.3],
                [0.3, -0.2],
                [-2.5, 3.0],
                [0.0, 0.0],
            ] {
                let h = 1e-5;
                let score = [
                    (log_q([x[0] + h, x[1]]) - log_q([x[0] - h, x[1]])) / (2.0 * h),
                    (log_q([x[0], x[1] + h]) - log_q([x[0], x[1] - h])) / (2.0 * h),
                ];
                let eps = denoiser.exact_eps(x, t);
                for k in 0..2 {
                    let want = -(1.0 - ab).sqrt() * score[k];
                    assert!(
                        (eps[k] - want).abs() < 1e-6 * want.abs().max(1.0),
                        "t = {t}, x = {x:?}: ε̂ = {eps:?}, Tweedie {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn trajectory_keeps_the_requested_steps() {
        let dev: Cpu = Default::default();
        let s = Schedule::new(BetaSchedule::Linear, 100).unwrap();
        let mixture = GaussianMixture::ring(2, 1.0, 0.1);
        let denoiser = MixtureDenoiser {
            mixture: &mixture,
            schedule: &s,
        };
        let out = sample(
            &dev,
            &denoiser,
            &s,
            10,
            ModelVariance::Beta,
            &[100, 50, 0],
            &mut StdRng::seed_from_u64(0),
        );
        let ts: Vec<usize> = out.trajectory.iter().map(|(t, _)| *t).collect();
        assert_eq!(ts, vec![100, 50, 0]);
        assert_eq!(out.trajectory[2].1, out.points);
        assert_eq!(out.points.len(), 10);
    }

    /// A stand-in network: a fixed output (in its objective's units) for every number, and a
    /// constant v when it learns its variance.
    struct Fixed {
        out: f32,
        v: Option<f32>,
    }

    impl<D: Device<f32>> Denoiser<D> for Fixed {
        fn denoise(&self, x_t: Rows<D>, _: &[usize]) -> Rows<D> {
            let out = x_t.device().ones_like(x_t.shape()) * self.out;
            match self.v {
                Some(v) => {
                    let v = x_t.device().ones_like(x_t.shape()) * v;
                    (out, v).concat_along(Axis::<1>)
                }
                None => out,
            }
        }
        fn learns_variance(&self) -> bool {
            self.v.is_some()
        }
    }

    /// `ClipX0`: for every objective, the x̂₀ its output implies is the model's x̂₀ clipped to
    /// [−1, 1] — unchanged where it was in range — and a learned v passes through bit for bit.
    #[test]
    fn clipping_keeps_the_implied_x0_in_the_data_range() {
        let dev: Cpu = Default::default();
        let s = Schedule::new(BetaSchedule::Linear, 1000).unwrap();
        let x: Rows<Cpu> = dev.tensor_from_vec(vec![-2.5, -0.4, 0.0, 0.3, 1.7, 3.0], (2, 3));
        let ts = [40, 700];
        for objective in Objective::ALL {
            for v in [None, Some(0.25f32)] {
                let model = Fixed { out: 0.6, v };
                let (raw, _) = split_variance(model.denoise(x.clone(), &ts), v.is_some());
                let want: Vec<f32> = objective
                    .x0_hat(&s, raw, &x, &ts)
                    .as_vec()
                    .iter()
                    .map(|x0| x0.clamp(-1.0, 1.0))
                    .collect();
                let clipped = ClipX0 {
                    model: &model,
                    schedule: &s,
                    objective,
                };
                assert_eq!(Denoiser::<Cpu>::learns_variance(&clipped), v.is_some());
                let (out, got_v) = split_variance(clipped.denoise(x.clone(), &ts), v.is_some());
                let got = objective.x0_hat(&s, out, &x, &ts).as_vec();
                for (g, w) in got.iter().zip(&want) {
                    assert!((g - w).abs() < 1e-4, "{objective}: x̂₀ {g} vs {w}");
                }
                if let (Some(v), Some(got_v)) = (v, got_v) {
                    assert!(got_v.as_vec().iter().all(|&x| x == v));
                }
            }
        }
    }
}
