//! The README's main job: train the default run on MNIST and sample digits from it, fitted to a
//! time budget on whatever machine it runs on.
//!
//! A fixed step count cannot keep a promise about time: the same code runs several times
//! faster on one CPU than on another. So the job first measures this machine — a few training
//! steps of a throwaway copy of the model, a few network calls at the sampling batch — then
//! chooses the number of training steps (and with it the learning-rate schedule) that leaves
//! time for sampling, and says what it chose and why.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use ddpm_data::Images;
use ddpm_plot::Progress;
use ddpm_sampling::{SampleOptions, SamplerKind};
use ddpm_unet::ConvDevice;
use ddpm_vlb::ModelVariance;
use dfdx::prelude::*;
use rand::SeedableRng;

use crate::net::DiffusionNet;
use crate::sample::{denoising_gif, grid_png, sample, SampleJob, Samples};
use crate::train::{fresh, train, Outcome, RunOptions};
use crate::TrainConfig;

/// What the job is asked for.
#[derive(Clone, Debug)]
pub struct QuickstartOptions {
    /// Where the run's checkpoint, loss curve, samples and animation go.
    pub out: PathBuf,
    /// The whole job's time, from `started`: training plus sampling.
    pub budget: Duration,
    /// When the job started (the budget counts from here, data loading included).
    pub started: Instant,
    /// Digits sampled at the end, with which sampler, and whether x̂₀ is clipped to [−1, 1].
    pub digits: usize,
    pub sampler: SamplerKind,
    pub clip_x0: bool,
    /// The run's settings; `steps` is replaced by the plan, and `warmup` too unless
    /// [`warmup`](Self::warmup) is set.
    pub config: TrainConfig,
    /// A warm-up chosen by the user (at most the planned steps), instead of the plan's.
    pub warmup: Option<usize>,
}

/// The measured speeds and the run chosen from them.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Seconds per training step (batch `config.batch`), measured.
    pub train_step: f64,
    /// Seconds per network call while sampling (batch `digits`), measured.
    pub sample_call: f64,
    /// Network calls the sampling makes (T for Algorithm 2, S for S-step samplers).
    pub sample_calls: usize,
    /// Seconds already spent (loading, measuring) and kept in reserve (saving, plotting,
    /// judging, and a margin for the machine slowing down).
    pub spent: f64,
    pub reserve: f64,
    pub budget: f64,
    /// The training steps and warm-up chosen.
    pub steps: usize,
    pub warmup: usize,
}

/// The fewest training steps the job will run, however slow the machine: below this the
/// digits are noise, and the job says so (and runs over its budget).
pub const MIN_STEPS: usize = 100;

/// The run's own steps timed before the step count is planned again (at most the warm-up).
pub const REPLAN_AFTER: usize = 60;

// ANCHOR: budget_recipe
/// Where the main job's recipe differs from `ddpm train`'s defaults: chapter 10's choice from
/// its search at equal time (`plans/ch10-budget.plan`). Pairs of (setting, value) as the
/// command line names them, so `ddpm quickstart --help` shows them as its defaults and a flag
/// given on the command line still wins.
pub const BUDGET_RECIPE: &[(&str, &str)] = &[("objective", "v"), ("lr", "0.004")];
// ANCHOR_END: budget_recipe

/// `ddpm train`'s defaults with [`BUDGET_RECIPE`] applied, through the same flag parser: the
/// recipe a plain `ddpm quickstart` trains (before its step count is planned).
pub fn budget_config() -> TrainConfig {
    use clap::{Args, FromArgMatches};
    let mut args = vec!["quickstart".to_string()];
    for (id, value) in BUDGET_RECIPE {
        args.push(format!("--{}", id.replace('_', "-")));
        args.push(value.to_string());
    }
    let cmd = TrainConfig::augment_args(clap::Command::new("quickstart"));
    TrainConfig::from_arg_matches(&cmd.get_matches_from(args))
        .expect("BUDGET_RECIPE names TrainConfig's settings with valid values")
}

impl Plan {
    /// Seconds the sampling is expected to take.
    pub fn sampling(&self) -> f64 {
        self.sample_call * self.sample_calls as f64
    }

    // ANCHOR: plan_choose
    /// Chooses the step count that fits: budget − spent − reserve − sampling, over the time
    /// of one step; the warm-up is a seventh of the run, at most 200 steps.
    pub fn choose(mut self) -> Self {
        let left = self.budget - self.spent - self.reserve - self.sampling();
        self.steps = ((left / self.train_step).floor().max(0.0) as usize).max(MIN_STEPS);
        self.warmup = (self.steps / 7).clamp(1, 200);
        self
    }
    // ANCHOR_END: plan_choose

    /// Whether the chosen run is expected to end within the budget.
    pub fn fits(&self) -> bool {
        self.spent + self.reserve + self.sampling() + self.steps as f64 * self.train_step
            <= self.budget
    }

    /// What was measured and chosen, in words.
    pub fn explain(&self, batch: usize, digits: usize) -> String {
        let mut s = format!(
            "measured on this machine: {:.3} s per training step of {batch} digits, {:.3} s per \
             network call while sampling {digits} digits ({} calls: ≈ {:.0} s of sampling)\n\
             budget {:.0} s − {:.0} s spent loading and measuring − {:.0} s sampling − {:.0} s \
             reserve = {:.0} s of training → {} steps (warm-up {}), learning rate decaying over \
             those steps",
            self.train_step,
            self.sample_call,
            self.sample_calls,
            self.sampling(),
            self.budget,
            self.spent,
            self.sampling(),
            self.reserve,
            self.steps as f64 * self.train_step,
            self.steps,
            self.warmup,
        );
        if !self.fits() {
            s += &format!(
                "\nthis machine is too slow for the budget: even {MIN_STEPS} steps and the \
                 sampling need ≈ {:.0} s; the job will run over (give it more time with \
                 --budget-minutes)",
                self.spent + self.reserve + self.sampling() + self.steps as f64 * self.train_step
            );
        }
        s
    }
}

/// The job's record, written last: the plan, what was trained and how long each part took.
pub const REPORT_FILE: &str = "quickstart.json";

/// What the job did.
#[derive(Clone, Debug)]
pub struct QuickstartReport {
    pub plan: Plan,
    /// Seconds per step of the run's own first steps, from which `plan.steps` was chosen
    /// again (`None` for runs too short to time).
    pub in_run_step: Option<f64>,
    /// Steps trained (fewer than planned if the budget's deadline came first).
    pub trained: usize,
    pub train_secs: f64,
    pub sample_secs: f64,
    pub total_secs: f64,
    pub samples: Samples,
    pub checkpoint: PathBuf,
}

impl QuickstartReport {
    /// The record written to [`REPORT_FILE`].
    fn record(&self, config: &TrainConfig, opts: &QuickstartOptions) -> QuickstartRecord {
        let p = &self.plan;
        QuickstartRecord {
            budget_secs: p.budget,
            measured_train_step_secs: p.train_step,
            measured_sample_call_secs: p.sample_call,
            in_run_train_step_secs: self.in_run_step,
            planned_steps: p.steps,
            trained_steps: self.trained,
            train_secs: self.train_secs,
            sample_secs: self.sample_secs,
            total_secs: self.total_secs,
            digits: opts.digits,
            sampler: opts.sampler.to_string(),
            clip_x0: opts.clip_x0,
            config: config.to_json(),
        }
    }
}

/// [`REPORT_FILE`]'s contents: what a finished job measured, planned and did (chapter 10 reads
/// these back to compare recipes at equal time).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct QuickstartRecord {
    pub budget_secs: f64,
    pub measured_train_step_secs: f64,
    pub measured_sample_call_secs: f64,
    /// Seconds per step of the run's own first steps, which re-planned the step count (absent
    /// in records written before the job did so).
    #[serde(default)]
    pub in_run_train_step_secs: Option<f64>,
    pub planned_steps: usize,
    pub trained_steps: usize,
    pub train_secs: f64,
    pub sample_secs: f64,
    pub total_secs: f64,
    pub digits: usize,
    pub sampler: String,
    pub clip_x0: bool,
    /// The run's [`TrainConfig`] as stored in its checkpoint.
    pub config: serde_json::Value,
}

impl QuickstartRecord {
    /// Reads a `quickstart.json`; the error names the file and what is wrong with it.
    pub fn read(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The run's settings.
    pub fn train_config(&self) -> Result<TrainConfig, String> {
        TrainConfig::from_json(&self.config).map_err(|e| e.to_string())
    }
}

/// Seconds per training step of a throwaway copy of a fresh run (2 untimed steps, then
/// `timed`), and seconds per tape-free network call at a batch of `digits`.
pub fn measure<D: ConvDevice, M: DiffusionNet<D>>(
    dev: &D,
    data: &Images,
    config: &TrainConfig,
    digits: usize,
    timed: usize,
) -> anyhow::Result<(f64, f64)> {
    let scratch = tempfile_dir()?;
    let mut cfg = config.clone();
    cfg.steps = 2 + timed;
    cfg.warmup = 1;
    let opts = RunOptions::new(scratch.path());
    let mut run = fresh::<D, M>(dev, cfg.clone());
    run.config.steps = 2;
    let (mut run, _, _) = train(dev, data, run, &opts)?;
    run.config.steps = cfg.steps;
    let t = Instant::now();
    let (run, _, _) = train(dev, data, run, &opts)?;
    let train_step = t.elapsed().as_secs_f64() / timed as f64;
    let x: Tensor<(usize, usize), f32, D> = dev.sample_normal_like(&(digits, 28 * 28));
    let ts = vec![config.t_max / 2; digits];
    let _ = ddpm_sampling::Denoiser::denoise(&run.ema, x.clone(), &ts);
    let calls = 4;
    let t = Instant::now();
    for _ in 0..calls {
        let _ = ddpm_sampling::Denoiser::denoise(&run.ema, x.clone(), &ts);
    }
    let sample_call = t.elapsed().as_secs_f64() / calls as f64;
    Ok((train_step, sample_call))
}

fn tempfile_dir() -> anyhow::Result<TempDir> {
    let base = std::env::temp_dir().join(format!("ddpm-quickstart-{}", std::process::id()));
    std::fs::create_dir_all(&base).with_context(|| format!("creating {}", base.display()))?;
    Ok(TempDir(base))
}

/// A scratch folder removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ANCHOR: quickstart
/// Measures, plans, trains and samples (see the module's doc), writing the run to `opts.out`.
pub fn quickstart<D: ConvDevice, M: DiffusionNet<D>>(
    dev: &D,
    data: &Images,
    opts: &QuickstartOptions,
    show_progress: bool,
) -> anyhow::Result<QuickstartReport> {
    let sampler = opts.sampler;
    let schedule = opts.config.noise_schedule();
    let (train_step, sample_call) = measure::<D, M>(dev, data, &opts.config, opts.digits, 8)?;
    let budget = opts.budget.as_secs_f64();
    let plan = Plan {
        train_step,
        sample_call,
        sample_calls: sampler.info().network_calls(schedule.t_max()),
        spent: opts.started.elapsed().as_secs_f64(),
        reserve: 10.0 + 0.05 * budget,
        budget,
        steps: 0,
        warmup: 0,
    }
    .choose();
    if show_progress {
        eprintln!("{}", plan.explain(opts.config.batch, opts.digits));
    }
    let mut config = opts.config.clone();
    config.steps = plan.steps;
    config.warmup = opts.warmup.map_or(plan.warmup, |w| w.min(plan.steps));
    config.validate()?;

    // Train, stopping early (with a checkpoint) if the machine turns out slower than measured.
    let mut run_opts = RunOptions::new(&opts.out);
    run_opts.show_progress = show_progress;
    let sampling_reserve = plan.sampling() + plan.reserve / 2.0;
    run_opts.deadline =
        Some(opts.started + Duration::from_secs_f64((budget - sampling_reserve).max(0.0)));
    let started = Instant::now();
    let mut run = fresh::<D, M>(dev, config.clone());
    // The first steps of the run itself are timed and the step count planned again from them
    // (a few steps of a throwaway copy predict the run's speed only to within about ±10%).
    // They lie inside the learning rate's warm-up, which does not depend on the step count.
    let mut plan = plan;
    let mut in_run_step = None;
    let probe = config.warmup.min(REPLAN_AFTER).min(config.steps);
    if probe >= 10 && probe < config.steps {
        let quiet = RunOptions {
            show_progress: false,
            stop_after: Some(probe),
            ..run_opts.clone()
        };
        let t = Instant::now();
        run = train(dev, data, run, &quiet)?.0;
        let step_secs = t.elapsed().as_secs_f64() / run.step as f64;
        let rest = Plan {
            train_step: step_secs,
            spent: opts.started.elapsed().as_secs_f64(),
            ..plan.clone()
        }
        .choose();
        let steps = (run.step + rest.steps).max(MIN_STEPS);
        if show_progress {
            eprintln!(
                "the first {} steps took {step_secs:.3} s each: {} steps in all (planned {})",
                run.step, steps, plan.steps
            );
        }
        (run.config.steps, config.steps, plan.steps) = (steps, steps, steps);
        in_run_step = Some(step_secs);
    }
    let (run, outcome, _) = train(dev, data, run, &run_opts)?;
    let train_secs = started.elapsed().as_secs_f64();
    if let Outcome::Interrupted { step } = outcome {
        eprintln!(
            "the training deadline came at step {step} of {}: sampling from there",
            plan.steps
        );
    }

    // Sample with the moving average of the weights.
    let started = Instant::now();
    let keep = crate::sample::animation_steps_for(sampler, config.t_max, 40);
    let job = SampleJob {
        count: opts.digits,
        batch: opts.digits,
        sampler,
        opts: SampleOptions {
            variance: ModelVariance::Beta,
            objective: config.objective,
            clip_x0: opts.clip_x0,
            keep: &keep,
            progress: None,
        },
    };
    let progress = Progress::new(
        job.steps(&schedule) as u64,
        "sampling",
        "steps",
        show_progress,
    );
    let job = SampleJob {
        opts: SampleOptions {
            progress: Some(&progress),
            ..job.opts
        },
        ..job
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let samples = sample(dev, &run.ema, &schedule, &job, &mut rng);
    progress.finish();
    let sample_secs = started.elapsed().as_secs_f64();
    let cols = (opts.digits as f64).sqrt().ceil() as usize;
    let write = |name: &str, bytes: &[u8]| {
        let path = opts.out.join(name);
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))
    };
    write("samples.png", &grid_png(&samples.images, cols, 3)?.0)?;
    write("denoising.gif", &denoising_gif(&samples, cols, 2)?.0)?;
    let report = QuickstartReport {
        plan,
        in_run_step,
        trained: run.step,
        train_secs,
        sample_secs,
        total_secs: opts.started.elapsed().as_secs_f64(),
        samples,
        checkpoint: run_opts.checkpoint_path(),
    };
    // Last, so its presence says the job ran to the end (a plan skips such a run).
    write(
        REPORT_FILE,
        serde_json::to_string_pretty(&report.record(&config, opts))?.as_bytes(),
    )?;
    Ok(report)
}
// ANCHOR_END: quickstart

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(train_step: f64, sample_call: f64) -> Plan {
        Plan {
            train_step,
            sample_call,
            sample_calls: 1000,
            spent: 5.0,
            reserve: 40.0,
            budget: 600.0,
            steps: 0,
            warmup: 0,
        }
        .choose()
    }

    /// The plan fills the budget: what is left after sampling and the reserve, in steps; a
    /// machine three times slower gets about a third of the steps, and both fit.
    #[test]
    fn the_plan_fills_the_budget_on_fast_and_slow_machines() {
        let fast = plan(0.3, 0.1);
        assert_eq!(fast.steps, ((600.0 - 5.0 - 40.0 - 100.0) / 0.3) as usize);
        assert_eq!(fast.warmup, 200);
        assert!(fast.fits());
        let slow = plan(0.9, 0.3);
        assert!(slow.fits());
        assert_eq!(slow.steps, ((600.0 - 5.0 - 40.0 - 300.0) / 0.9) as usize);
        assert!(slow.explain(64, 64).contains("steps"));
    }

    /// A machine too slow for even the minimum is told so, not silently over budget.
    #[test]
    fn a_machine_too_slow_is_told() {
        let crawl = plan(5.0, 0.6);
        assert_eq!(crawl.steps, MIN_STEPS);
        assert!(!crawl.fits());
        assert!(
            crawl.explain(64, 64).contains("too slow"),
            "{}",
            crawl.explain(64, 64)
        );
    }
}
