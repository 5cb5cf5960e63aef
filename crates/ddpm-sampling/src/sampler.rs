//! The sampler interface: a sampler visits a subsequence τ_1 < … < τ_S = T of the training
//! steps and takes one reverse step at each; one loop ([`Sampler::sample_from`]) runs them all.

use ddpm_forward::Rows;
use ddpm_loss::Objective;
use ddpm_plot::Progress;
use ddpm_schedule::{randn, Schedule};
use ddpm_vlb::ModelVariance;
use dfdx::prelude::*;
use rand::RngCore;

use crate::respace::respaced_schedule;
use crate::{Denoiser, Diffusion, StepAt};

/// How to sample: the reverse variance σ_t² (when the network does not learn it), what the
/// network outputs, whether x̂₀ is clipped to [−1, 1], which steps to keep, where to show
/// progress.
#[derive(Clone, Copy)]
pub struct SampleOptions<'a> {
    pub variance: ModelVariance,
    pub objective: Objective,
    pub clip_x0: bool,
    /// The steps t whose whole batch x_t is kept (0 = the result).
    pub keep: &'a [usize],
    pub progress: Option<&'a Progress>,
}

impl Default for SampleOptions<'_> {
    /// Ho et al.'s choice: σ_t² = β_t, an ε-model, nothing clipped or kept, no progress.
    fn default() -> Self {
        Self {
            variance: ModelVariance::Beta,
            objective: Objective::Eps,
            clip_x0: false,
            keep: &[],
            progress: None,
        }
    }
}

impl SampleOptions<'_> {
    /// How `model`'s output is read on schedule `s` under these options.
    pub fn diffusion<'s, D: Device<f32>>(
        &self,
        s: &'s Schedule,
        model: &dyn Denoiser<D>,
    ) -> Diffusion<'s> {
        Diffusion {
            schedule: s,
            objective: self.objective,
            variance: self.variance,
            learned: model.learns_variance(),
            clip_x0: self.clip_x0,
        }
    }
}

/// A sampler's result on the host: `n` rows of `dim` numbers, and x_t at each kept step.
#[derive(Clone, Debug, PartialEq)]
pub struct Chain {
    pub dim: usize,
    pub x0: Vec<f32>,
    /// (t, x_t) for each kept t, from t = T down (t = 0 is the result).
    pub frames: Vec<(usize, Vec<f32>)>,
}

/// What can be said of a sampler without a device: its name, the steps it visits and what a
/// sample costs.
pub trait Steps {
    /// The name the registry reads back ([`SamplerKind`](crate::SamplerKind)): "ddim:50:1".
    fn name(&self) -> String;
    /// What its runs are compared as, whatever their step count: "DDIM, η = 1". Chapter 9's
    /// table and figure group runs by it.
    fn family(&self) -> String;
    /// τ_1 < … < τ_S = T: the training steps at which the network is asked.
    fn timesteps(&self, t_max: usize) -> Vec<usize>;
    /// Whether the samples are a function of x_T alone (no fresh noise on the way).
    fn is_deterministic(&self) -> bool;
    /// Network evaluations for one sample at T = `t_max`, for a network whose `denoise` is one
    /// evaluation (one a step unless the sampler says otherwise).
    fn network_calls(&self, t_max: usize) -> usize {
        self.timesteps(t_max).len()
    }
    /// Whether its noise is σ² of the [`Diffusion`] (fixed or learned); DDIM's comes from η.
    fn uses_variance(&self) -> bool {
        true
    }
    /// How the noise of its steps is said in messages: "σ² = β_t", "noise from η = 1".
    fn noise(&self, variance: &str) -> String {
        format!("σ² = {variance}")
    }
}

/// A way to turn noise into samples with a trained network: one reverse step at a time, on any
/// device. Chosen by name through [`SamplerKind`](crate::SamplerKind) as a
/// `Box<dyn Sampler<D>>`; a new sampler is one file that implements [`Steps`] and `step`, plus
/// its entries in the registry (`samplers/mod.rs`).
pub trait Sampler<D: Device<f32>>: Steps {
    /// x at `s.at.prev` from x at `s.at.t`, asking the network as often as the sampler needs.
    fn step(&self, s: &Step<D>, x: Rows<D>, rng: &mut dyn RngCore) -> Rows<D>;

    // ANCHOR: loop
    /// The chain from a given x_T (rows): each visited step from τ_S = T down to τ_1, keeping x_t
    /// at the steps `keep` asks for. The chain's own schedule (ᾱ'_i = ᾱ_{τ_i}) gives the steps
    /// their β'_i; at all T steps it is the training schedule itself.
    fn sample_from(
        &self,
        model: &dyn Denoiser<D>,
        d: &Diffusion,
        mut x: Rows<D>,
        rng: &mut dyn RngCore,
        keep: &[usize],
        progress: Option<&Progress>,
    ) -> Chain {
        let dim = x.shape().1;
        let taus = self.timesteps(d.schedule.t_max());
        let chain = chain_schedule(d.schedule, &taus);
        let mut frames = Vec::new();
        for i in (1..=taus.len()).rev() {
            let prev = if i > 1 { taus[i - 2] } else { 0 };
            let at = StepAt {
                i,
                t: taus[i - 1],
                prev,
                chain: &chain,
            };
            if keep.contains(&at.t) {
                frames.push((at.t, x.as_vec()));
            }
            x = self.step(&Step { d, model, at }, x, rng);
            if let Some(p) = progress {
                p.inc(1);
            }
        }
        let x0 = x.as_vec();
        if keep.contains(&0) {
            frames.push((0, x0.clone()));
        }
        Chain { dim, x0, frames }
    }
    // ANCHOR_END: loop

    /// Draws `n` samples of `dim` numbers (`shape` = (n, dim)): x_T ~ N(0, I) from `rng`, then
    /// the chain ([`Sampler::sample_from`]) with `model` read as `opts` say.
    fn sample(
        &self,
        dev: &D,
        model: &dyn Denoiser<D>,
        s: &Schedule,
        shape: (usize, usize),
        rng: &mut dyn RngCore,
        opts: &SampleOptions,
    ) -> Chain {
        let x = noise(dev, shape, rng);
        let d = opts.diffusion(s, model);
        self.sample_from(model, &d, x, rng, opts.keep, opts.progress)
    }
}

/// What a step is given: how outputs are read, the network, and where in the chain it is.
pub struct Step<'a, D: Device<f32>> {
    pub d: &'a Diffusion<'a>,
    pub model: &'a dyn Denoiser<D>,
    pub at: StepAt<'a>,
}

impl<D: Device<f32>> Step<'_, D> {
    /// The network's output at x and training step t, for every row.
    pub fn output(&self, x: &Rows<D>, t: usize) -> Rows<D> {
        self.model.denoise(x.clone(), &vec![t; x.shape().0])
    }

    /// (ᾱ_t, ᾱ_p) of the training schedule at the step's t and prev (ᾱ_0 = 1).
    pub fn alpha_bars(&self) -> (f64, f64) {
        let s = self.d.schedule;
        (s.alpha_bar(self.at.t), s.alpha_bar(self.at.prev))
    }

    /// ε̂ and x̂₀ at x and training step t, read by the diffusion (x̂₀ clipped if asked).
    pub fn eps_x0(&self, x: &Rows<D>, t: usize) -> (Rows<D>, Rows<D>) {
        let (eps, x0, _) = self.d.eps_x0(x, &vec![t; x.shape().0], self.output(x, t));
        (eps, x0)
    }
}

/// z ~ N(0, I) of the given shape, from any random number generator.
pub fn noise<D: Device<f32>>(dev: &D, shape: (usize, usize), rng: &mut dyn RngCore) -> Rows<D> {
    randn(dev, shape, &mut &mut *rng)
}

/// The schedule of the chain over `taus`: the training schedule when it visits every step,
/// else the respaced one.
pub fn chain_schedule(s: &Schedule, taus: &[usize]) -> Schedule {
    if taus.len() == s.t_max() {
        s.clone()
    } else {
        respaced_schedule(s, taus)
    }
}
