//! The samplers, one file each, and the registry that knows them by name: the one grammar the
//! command line, the evaluation and chapter 9's results reader use. A new sampler is a file
//! here and its lines in this one (its module, its variant, its name, `build` and `info`).

use std::fmt;
use std::str::FromStr;

use ddpm_schedule::Schedule;
use dfdx::prelude::*;

use crate::{Sampler, Steps};

mod ancestral;
mod ddim;
mod dpm_solver;
mod heun;
mod strided;

pub use ancestral::Ancestral;
pub use ddim::{ddim_invert, Ddim};
pub use dpm_solver::DpmSolver;
pub use heun::Heun;
pub use strided::Strided;

/// The names [`SamplerKind`] reads, for help texts and error messages.
pub const SAMPLER_NAMES: &str =
    "ancestral (Algorithm 2, all T steps), strided:STEPS (Algorithm 2 on STEPS evenly spaced \
     steps), ddim:STEPS (DDIM, deterministic), ddim:STEPS:ETA (η = ETA in [0, 1]), heun:STEPS (Heun's \
     second-order method on DDIM's ODE, 2 network calls a step) or dpm++2m:STEPS (DPM-Solver++(2M), \
     second order at 1 network call a step); STEPS ≥ 1";

/// The samplers, by the names the command line uses: `ancestral`, `strided:S` (S steps),
/// `ddim:S` or `ddim:S:η` (η = 0 unless given), `heun:S` and `dpm++2m:S`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum SamplerKind {
    /// Algorithm 2 (Ho et al. 2020): T steps.
    #[default]
    Ancestral,
    /// Algorithm 2 on a respaced schedule (Nichol & Dhariwal 2021).
    Strided(Strided),
    /// DDIM (Song, Meng & Ermon 2021).
    Ddim(Ddim),
    /// Heun's method on DDIM's ODE (Karras et al. 2022).
    Heun(Heun),
    /// DPM-Solver++(2M) on the same ODE (Lu et al. 2022b).
    DpmSolver(DpmSolver),
}

// ANCHOR: registry
impl SamplerKind {
    /// The sampler itself, on device `D`.
    pub fn build<D: Device<f32>>(self) -> Box<dyn Sampler<D>> {
        match self {
            SamplerKind::Ancestral => Box::new(Ancestral),
            SamplerKind::Strided(k) => Box::new(k),
            SamplerKind::Ddim(k) => Box::new(k),
            SamplerKind::Heun(k) => Box::new(k),
            SamplerKind::DpmSolver(k) => k.build(),
        }
    }

    /// What the sampler is without a device: its steps, its cost, its noise.
    pub fn info(&self) -> &dyn Steps {
        match self {
            SamplerKind::Ancestral => &Ancestral,
            SamplerKind::Strided(k) => k,
            SamplerKind::Ddim(k) => k,
            SamplerKind::Heun(k) => k,
            SamplerKind::DpmSolver(k) => k,
        }
    }
}

impl FromStr for SamplerKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("unknown sampler '{s}': expected {SAMPLER_NAMES}");
        let steps = |p: &str| p.parse::<usize>().ok().filter(|&n| n >= 1).ok_or_else(bad);
        let eta = |p: &str| {
            p.parse::<f64>()
                .ok()
                .filter(|e| (0.0..=1.0).contains(e))
                .ok_or_else(bad)
        };
        let parts: Vec<&str> = s.split(':').collect();
        match parts[..] {
            ["ancestral"] => Ok(SamplerKind::Ancestral),
            ["strided", n] => Ok(SamplerKind::Strided(Strided { steps: steps(n)? })),
            ["ddim", n] => Ok(SamplerKind::Ddim(Ddim {
                steps: steps(n)?,
                eta: 0.0,
            })),
            ["ddim", n, e] => Ok(SamplerKind::Ddim(Ddim {
                steps: steps(n)?,
                eta: eta(e)?,
            })),
            ["heun", n] => Ok(SamplerKind::Heun(Heun { steps: steps(n)? })),
            ["dpm++2m", n] => Ok(SamplerKind::DpmSolver(DpmSolver { steps: steps(n)? })),
            _ => Err(bad()),
        }
    }
}
// ANCHOR_END: registry

impl SamplerKind {
    /// Its place in the registry (the order of the variants): tables list families in it.
    pub fn rank(&self) -> usize {
        match self {
            SamplerKind::Ancestral => 0,
            SamplerKind::Strided(_) => 1,
            SamplerKind::Ddim(_) => 2,
            SamplerKind::Heun(_) => 3,
            SamplerKind::DpmSolver(_) => 4,
        }
    }

    /// Reverse steps of one sample on schedule `s` (network calls are
    /// [`Steps::network_calls`]: Heun's S steps cost 2S − 1).
    pub fn steps(self, s: &Schedule) -> usize {
        self.info().timesteps(s.t_max()).len()
    }
}

impl fmt::Display for SamplerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.info().name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Denoiser, SampleOptions};
    use ddpm_forward::Rows;
    use ddpm_schedule::BetaSchedule;
    use ddpm_vlb::ModelVariance;
    use rand::SeedableRng;

    /// The samplers' names on the command line, both ways, and what each says of itself.
    #[test]
    fn sampler_names_round_trip() {
        for name in [
            "ancestral",
            "strided:100",
            "ddim:50",
            "ddim:20:0.5",
            "ddim:50:1",
            "heun:10",
            "dpm++2m:20",
        ] {
            let k: SamplerKind = name.parse().unwrap();
            assert_eq!(k.to_string(), name);
            assert_eq!(k.build::<Cpu>().name(), name);
        }
        assert_eq!(
            "ddim:50:0".parse::<SamplerKind>().unwrap(),
            SamplerKind::Ddim(Ddim {
                steps: 50,
                eta: 0.0
            })
        );
        for bad in [
            "ddim",
            "ddim:0",
            "strided:x",
            "ddim:10:2",
            "euler",
            "ancestral:3",
        ] {
            let e = bad.parse::<SamplerKind>().unwrap_err();
            assert!(e.contains(bad) && e.contains("ddim:STEPS"), "{e}");
        }
        let s = Schedule::new(BetaSchedule::Linear, 1000).unwrap();
        assert_eq!("strided:100".parse::<SamplerKind>().unwrap().steps(&s), 100);
        assert_eq!(SamplerKind::Ancestral.steps(&s), 1000);
        let deterministic: Vec<bool> = [
            "ancestral",
            "strided:10",
            "ddim:10",
            "ddim:10:0.5",
            "heun:10",
            "dpm++2m:10",
        ]
        .iter()
        .map(|n| n.parse::<SamplerKind>().unwrap().info().is_deterministic())
        .collect();
        assert_eq!(deterministic, [false, false, true, false, true, true]);
        let calls: Vec<usize> = [
            "ancestral",
            "strided:10",
            "ddim:10",
            "heun:10",
            "dpm++2m:10",
        ]
        .iter()
        .map(|n| n.parse::<SamplerKind>().unwrap().info().network_calls(1000))
        .collect();
        assert_eq!(calls, [1000, 10, 10, 19, 10]);
        let uses: Vec<bool> = ["ancestral", "strided:10", "ddim:10:1", "dpm++2m:10"]
            .iter()
            .map(|n| n.parse::<SamplerKind>().unwrap().info().uses_variance())
            .collect();
        assert_eq!(uses, [true, true, false, false]);
    }

    /// Predicts no noise: enough to walk a sampler's steps.
    struct Zero;
    impl Denoiser<Cpu> for Zero {
        fn denoise(&self, x_t: Rows<Cpu>, _: &[usize]) -> Rows<Cpu> {
            x_t * 0.0
        }
    }

    /// Every sampler runs at the fewest steps its name allows (one step straight to x₀, where
    /// a fixed σ² would need a β̃_2 that a one-step chain does not have) and at T, and returns
    /// finite samples of the asked shape.
    #[test]
    fn every_sampler_runs_from_one_step_to_t() {
        let s = Schedule::new(BetaSchedule::Linear, 100).unwrap();
        let dev = Cpu::default();
        for name in [
            "ancestral",
            "strided:1",
            "strided:100",
            "ddim:1",
            "ddim:1:1",
            "heun:1",
            "heun:100",
            "dpm++2m:1",
            "dpm++2m:2",
            "dpm++2m:100",
        ] {
            for variance in ModelVariance::ALL {
                let opts = SampleOptions {
                    variance,
                    ..Default::default()
                };
                let mut rng = rand::rngs::StdRng::seed_from_u64(0);
                let sampler = name.parse::<SamplerKind>().unwrap().build::<Cpu>();
                let chain = sampler.sample(&dev, &Zero, &s, (3, 2), &mut rng, &opts);
                assert_eq!(chain.x0.len(), 6, "{name}");
                assert!(
                    chain.x0.iter().all(|x| x.is_finite()),
                    "{name}: {:?}",
                    chain.x0
                );
            }
        }
    }
}
