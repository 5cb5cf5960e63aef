//! `ddpm`: train a UNet on MNIST, sample digits from it, and measure what it learned.
//!
//! ```text
//! ddpm quickstart                      # the README's main job: train, sample, judge, in 10 minutes
//! ddpm train --out runs/mnist          # Algorithm 1, checkpoints in runs/mnist
//! ddpm train --out runs/mnist --resume # continue an interrupted run
//! ddpm sample --checkpoint runs/mnist/checkpoint.safetensors --format grid,npz
//! ddpm eval --checkpoint runs/mnist/checkpoint.safetensors
//! ddpm eval --samples-from runs/mnist/samples_1000x28x28x1.npz
//! ddpm plan plans/ch09-samplers.plan   # every run of a chapter's measurements, resumable
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use ddpm_data::formats::Format;
use ddpm_data::{Dataset, Split};
use ddpm_sampling::SamplerKind;
use ddpm_train::commands::{self, Dev, Sampling, GRID_MAX};
use ddpm_train::sample::{DEFAULT_CLIP_X0, DEFAULT_SAMPLER};
use ddpm_train::{with_preset, TrainConfig};
use ddpm_vlb::ModelVariance;

/// The bundled MNIST, relative to the repository root (where the README's commands run).
const BUNDLED_MNIST: &str = "data/mnist";
/// The course's classifier, relative to the repository root.
const CLASSIFIER: &str = "checkpoints/mnist-classifier.safetensors";
const NOISY_CLASSIFIER: &str = "checkpoints/noisy-classifier.safetensors";

#[derive(Parser)]
#[command(
    name = "ddpm",
    version,
    about = "Train, sample and evaluate a DDPM on MNIST (the course's chapter 8).",
    after_help = "Run from the repository root: the defaults read data/mnist and checkpoints/."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a UNet with Algorithm 1 (checkpoints and the loss curve in --out).
    Train(TrainArgs),
    /// Sample digits from a checkpoint, in batches, written as a grid and animation or in the
    /// formats evaluation tools read.
    Sample(SampleArgs),
    /// Measure a checkpoint (bits/dim on test digits, and how a classifier sees its samples),
    /// or judge samples from a file.
    Eval(EvalArgs),
    /// Train the MNIST classifier that `eval` uses, and report its test accuracy.
    Classifier(ClassifierArgs),
    /// The README's main job: train the default run within a time budget, sample from it, and
    /// show how the course's classifier sees the digits.
    Quickstart(QuickstartArgs),
    /// Run an experiment plan: a file of named `train` and `eval` runs, each into its own
    /// folder under --results; run again, it skips finished evaluations and resumes trainings.
    Plan(PlanArgs),
}

#[derive(Args)]
struct PlanArgs {
    /// The plan file: one run per line, `NAME train|eval ARGS…`, `#` starts a comment.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Where each run's folder goes (NAME is a path under it).
    #[arg(long, default_value = "results", value_name = "DIR")]
    results: PathBuf,
    /// Print what would run, and run nothing.
    #[arg(long = "dry-run")]
    dry_run: bool,
}

/// Where the digits come from.
#[derive(Args, Clone)]
struct DataArg {
    /// Folder of MNIST-format IDX files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz],
    /// t10k-…), e.g. Debian's Fashion-MNIST in /usr/share/datasets/fashion-mnist. [default: the
    /// bundled MNIST in data/mnist, checked against MNIST's published checksums]
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
}

impl DataArg {
    fn load(&self, split: Split) -> Result<Dataset> {
        match &self.data {
            Some(dir) => Dataset::load(dir, split)
                .with_context(|| format!("loading MNIST-format data from {}", dir.display())),
            None => Dataset::load_mnist_verified(BUNDLED_MNIST, split).with_context(|| {
                format!(
                    "loading the bundled MNIST from {BUNDLED_MNIST} (run ddpm from the \
                     repository root, or pass --data DIR)"
                )
            }),
        }
    }

    fn describe(&self) -> String {
        self.data
            .as_ref()
            .map_or(BUNDLED_MNIST.into(), |d| d.display().to_string())
    }
}

#[derive(Args)]
struct TrainArgs {
    #[command(flatten)]
    data: DataArg,
    /// Output folder: checkpoint.safetensors, loss.csv, loss.png.
    #[arg(long, default_value = "runs/mnist", value_name = "DIR")]
    out: PathBuf,
    /// Continue the run in --out from its checkpoint. Its recorded settings are used; a setting
    /// given on the command line must agree with them.
    #[arg(long)]
    resume: bool,
    /// Write a checkpoint every this many steps (and at the end, and on Ctrl-C).
    #[arg(long = "checkpoint-every", default_value_t = 500, value_name = "STEPS")]
    checkpoint_every: usize,
    #[command(flatten)]
    config: TrainConfig,
}

/// The output formats of `ddpm sample`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum OutFormat {
    /// samples.png, a grid of the digits, and denoising.gif, the first batch's denoising.
    Grid,
    /// samples/000000.png, …: one 28×28 grey PNG per digit (pytorch-fid, clean-fid).
    Png,
    /// samples_Nx28x28x1.npz: a uint8 array arr_0 of shape [N, 28, 28, 1] (guided-diffusion's
    /// evaluator, NumPy).
    Npz,
    /// samples-images-idx3-ubyte: an IDX file like MNIST's own.
    Idx,
}

#[derive(Args)]
struct SampleArgs {
    /// The checkpoint to sample from (its config says the UNet, T, schedule and objective).
    #[arg(
        long,
        default_value = "runs/mnist/checkpoint.safetensors",
        value_name = "FILE"
    )]
    checkpoint: PathBuf,
    /// How many digits. Any number: they are sampled in batches and written as each is done.
    #[arg(long, default_value_t = 64)]
    count: usize,
    /// Digits sampled at once: what memory holds (the base UNet needs a few MB per digit).
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Seed of the sampling noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[command(flatten)]
    how: SamplingArgs,
    /// Classifier guidance (chapter 9, Dhariwal & Nichol): steer an ε-predicting checkpoint
    /// (a class-conditional one is asked for "no label") with the gradient of this noisy
    /// classifier's log p(digit | x_t) (from `ddpm classifier --noisy`), scaled by --guidance,
    /// instead of classifier-free guidance. [default: none]
    #[arg(long = "classifier-guidance", value_name = "FILE")]
    classifier_guidance: Option<PathBuf>,
    /// Sample with the raw trained weights instead of their moving average.
    #[arg(long = "no-ema")]
    no_ema: bool,
    /// Output formats, comma-separated or repeated.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [OutFormat::Grid])]
    format: Vec<OutFormat>,
    /// Output folder. [default: the checkpoint's folder]
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

/// How a checkpoint is sampled.
#[derive(Args, Clone, Copy)]
struct SamplingArgs {
    /// The sampler, by name (`--help` lists them). [default: ddim:50:1 for sample (chapter 9's
    /// measurements), ancestral for eval (chapter 8's reference)]
    #[arg(long, long_help = sampler_help())]
    sampler: Option<SamplerKind>,
    /// σ_t² of the reverse steps: beta (σ² = β_t) or posterior (σ² = β̃_t). A checkpoint that
    /// learns its variance (preset small-learned) uses its own and ignores this; so do DDIM,
    /// whose noise comes from η, and Heun's method, which adds none.
    #[arg(long, default_value_t = ModelVariance::Beta)]
    variance: ModelVariance,
    /// The digit 0–9 to draw, from a class-conditional checkpoint (preset small-class).
    /// [default: the digits 0–9 in turn: row r of a batch draws r mod 10]
    #[arg(long, value_name = "DIGIT", value_parser = clap::value_parser!(u8).range(0..10))]
    class: Option<u8>,
    /// Classifier-free guidance scale s of a class-conditional checkpoint:
    /// ε = ε(x, no label) + s·(ε(x, digit) − ε(x, no label)); 0 ignores the digit, 1 is the
    /// plain conditional model, larger draws the asked digit more often (chapter 9 measured the
    /// lowest Fréchet distance at s = 2, with s = 1 and 3 within two standard errors of it).
    /// With --classifier-guidance, the classifier's scale.
    #[arg(long, default_value_t = 2.0)]
    guidance: f32,
    /// Clip the predicted x̂₀ to [−1, 1] before every reverse step, as Ho et al.'s and Nichol &
    /// Dhariwal's samplers do (chapter 9: it tames the cosine schedule's last step). `--clip-x0`
    /// alone is `--clip-x0 true`. [default: true for sample, false for eval]
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    clip_x0: Option<bool>,
}

/// What the sampling flags leave open is settled by what the digits are for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Purpose {
    /// `ddpm sample`: the sampler chapter 9 measured best for its time.
    Draw,
    /// `ddpm eval`: chapter 8's reference, Algorithm 2 unclipped, so its numbers compare.
    Judge,
}

impl SamplingArgs {
    fn resolve(self, purpose: Purpose) -> Sampling {
        let draw = purpose == Purpose::Draw;
        Sampling {
            sampler: self.sampler.unwrap_or(match draw {
                true => DEFAULT_SAMPLER,
                false => SamplerKind::Ancestral,
            }),
            variance: self.variance,
            class: self.class,
            guidance: self.guidance,
            clip_x0: self.clip_x0.unwrap_or(draw && DEFAULT_CLIP_X0),
        }
    }
}

#[derive(Args)]
struct EvalArgs {
    /// The checkpoint to measure.
    #[arg(
        long,
        default_value = "runs/mnist/checkpoint.safetensors",
        value_name = "FILE",
        conflicts_with = "samples_from"
    )]
    checkpoint: PathBuf,
    /// Judge these digits instead of a checkpoint's: a folder of PNGs, an .npz (uint8 arr_0 of
    /// shape [N, 28, 28] or [N, 28, 28, 1]) or an IDX file — any model's samples. No bits/dim.
    /// [default: none: sample from --checkpoint]
    #[arg(long = "samples-from", value_name = "PATH")]
    samples_from: Option<PathBuf>,
    #[command(flatten)]
    data: DataArg,
    /// Classifier weights (from `ddpm classifier`).
    #[arg(long, default_value = CLASSIFIER, value_name = "FILE")]
    classifier: PathBuf,
    /// Classifier guidance (chapter 9, Dhariwal & Nichol): steer an ε-predicting checkpoint
    /// (a class-conditional one is asked for "no label") with the gradient of this noisy
    /// classifier's log p(digit | x_t) (from `ddpm classifier --noisy`), scaled by --guidance,
    /// instead of classifier-free guidance. [default: none]
    #[arg(long = "classifier-guidance", value_name = "FILE")]
    classifier_guidance: Option<PathBuf>,
    /// Generated digits to judge (with --checkpoint).
    #[arg(long, default_value_t = 256)]
    samples: usize,
    /// Digits sampled at once.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Test digits whose bound is computed (each costs T network calls, batched); 0 skips the
    /// bound.
    #[arg(long = "bpd-images", default_value_t = 64)]
    bpd_images: usize,
    /// Test digits whose features are the reference for the Fréchet distance.
    #[arg(long, default_value_t = 5000)]
    reference: usize,
    /// Seed of the sampling noise, the bound's noise and the noised row.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[command(flatten)]
    how: SamplingArgs,
    /// Where eval.json goes. [default: beside the checkpoint or the samples]
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

#[derive(Args)]
struct ClassifierArgs {
    #[command(flatten)]
    data: DataArg,
    /// Where the weights go. [default: checkpoints/mnist-classifier.safetensors, with --noisy
    /// checkpoints/noisy-classifier.safetensors]
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Passes over the 60,000 training digits.
    #[arg(long, default_value_t = 3)]
    epochs: usize,
    /// Train the noise-aware classifier of classifier guidance instead (chapter 9): digits
    /// noised to a random step of the linear T = 1000 schedule, --steps batches of 128.
    #[arg(long)]
    noisy: bool,
    /// With --noisy: training batches.
    #[arg(long, default_value_t = 3000)]
    steps: usize,
    /// Seed of the initial weights and the order of the batches.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[derive(Args)]
struct QuickstartArgs {
    #[command(flatten)]
    data: DataArg,
    /// Output folder: the checkpoint, loss.csv and loss.png, samples.png, denoising.gif.
    #[arg(long, default_value = "runs/quickstart", value_name = "DIR")]
    out: PathBuf,
    /// The whole job's time, training and sampling, in minutes: the number of training steps
    /// is fitted to it after measuring this machine's speed.
    #[arg(
        long = "budget-minutes",
        default_value_t = 10.0,
        value_name = "MINUTES"
    )]
    budget_minutes: f64,
    /// Digits sampled at the end.
    #[arg(long, default_value_t = 64)]
    digits: usize,
    /// The sampler for those digits (see `ddpm sample --help`).
    #[arg(long, default_value_t = DEFAULT_SAMPLER)]
    sampler: SamplerKind,
    /// Clip the predicted x̂₀ to [−1, 1] before every reverse step (see `ddpm sample --help`).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true",
          default_value_t = DEFAULT_CLIP_X0, action = clap::ArgAction::Set)]
    clip_x0: bool,
    /// The run's recipe, as for `ddpm train` but with chapter 10's defaults where they differ
    /// (`BUDGET_RECIPE`); the step count is chosen by the budget, and the warm-up too unless
    /// --warmup is given.
    #[command(
        flatten,
        next_help_heading = "Recipe (as for `ddpm train`, with chapter 10's defaults: --objective v --lr 0.004)"
    )]
    recipe: TrainConfig,
}

fn main() -> ExitCode {
    let started = Instant::now();
    ddpm_unet::keep_freed_memory();
    let matches = cli().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    match run(cli, &matches, started) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli, matches: &ArgMatches, started: Instant) -> Result<()> {
    match cli.command {
        Command::Train(a) => {
            let sub = matches
                .subcommand_matches("train")
                .expect("train's matches");
            train(a, &given_settings(sub))
        }
        Command::Sample(a) => sample(a).map(|_| ()),
        Command::Eval(a) => eval(a),
        Command::Classifier(a) => classifier(a),
        Command::Quickstart(a) => {
            let sub = matches
                .subcommand_matches("quickstart")
                .expect("quickstart's matches");
            quickstart(a, &given_settings(sub), started)
        }
        Command::Plan(a) => plan(a),
    }
}

/// The command line: the derived `Cli`, with the quickstart's recipe defaults set to chapter
/// 10's (`BUDGET_RECIPE`), so its help, its parse and `given_settings` agree.
fn cli() -> clap::Command {
    Cli::command().mut_subcommand("quickstart", |q| {
        ddpm_train::quickstart::BUDGET_RECIPE
            .iter()
            .fold(q, |q, &(id, value)| {
                q.mut_arg(id, |a| a.default_value(value))
            })
    })
}

/// Parses `args` (the program's name first) as `main` does.
#[cfg(test)]
fn parse_from(args: &[&str]) -> Result<Cli, clap::Error> {
    Cli::from_arg_matches(&cli().try_get_matches_from(args)?)
}

/// The training settings given on the command line (not defaulted), by their config names.
fn given_settings(m: &ArgMatches) -> Vec<String> {
    use clap::Args as _;
    TrainConfig::augment_args(clap::Command::new("settings"))
        .get_arguments()
        .map(|a| a.get_id().as_str().to_string())
        .filter(|id| m.value_source(id) == Some(ValueSource::CommandLine))
        .collect()
}

/// The config a `train` call runs: the checkpoint's when resuming (settings given on the
/// command line must agree with it), else the flags'.
fn train_config(a: &TrainArgs, given: &[String]) -> Result<TrainConfig> {
    if !a.resume {
        a.config.validate()?;
        return Ok(a.config.clone());
    }
    let path = a.out.join(ddpm_train::train::CHECKPOINT_FILE);
    let recorded = ddpm_train::checkpoint::read_config(&path)?;
    let (want, have) = (a.config.to_json(), recorded.to_json());
    let changed: Vec<String> = given
        .iter()
        .filter(|id| want.get(id) != have.get(id))
        .map(|id| {
            format!(
                "--{} {} (the run has {})",
                id.replace('_', "-"),
                want[id],
                have[id]
            )
        })
        .collect();
    if !changed.is_empty() {
        bail!(
            "--resume continues the run recorded in {}; drop the flags that change its \
             settings: {}",
            a.out.display(),
            changed.join(", ")
        );
    }
    recorded.validate()?;
    Ok(recorded)
}

fn train(a: TrainArgs, given: &[String]) -> Result<()> {
    let config = train_config(&a, given)?;
    if a.checkpoint_every == 0 {
        bail!("--checkpoint-every must be at least 1");
    }
    let data = a.data.load(Split::Train)?;
    let mut opts = ddpm_train::RunOptions::new(&a.out);
    opts.checkpoint_every = a.checkpoint_every;
    opts.show_progress = true;
    let stop = opts.stop.clone();
    ctrlc::set_handler(move || {
        eprintln!("\nCtrl-C: saving a checkpoint after this step…");
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
    })
    .context("installing the Ctrl-C handler")?;
    let dev = Dev::seed_from_u64(config.seed);
    eprintln!(
        "training the '{}' UNet ({} objective) on {} images from {}: {} steps of {}, lr {}, T = {} ({})",
        config.preset,
        config.objective,
        data.len(),
        a.data.describe(),
        config.steps,
        config.batch,
        config.lr,
        config.t_max,
        config.schedule
    );
    with_preset!(config.preset, Dev, Net => {
        let run = if a.resume {
            let run: ddpm_train::Checkpoint<Net> =
                ddpm_train::load_checkpoint(&dev, &opts.checkpoint_path())?;
            eprintln!("resuming at step {} of {}", run.step, config.steps);
            run
        } else {
            ddpm_train::fresh::<Dev, Net>(&dev, config.clone())
        };
        let parameters = dfdx::nn::NumParams::num_trainable_params(&run.model);
        eprintln!("{parameters} parameters");
        let (first, started) = (run.step, Instant::now());
        let (run, outcome, _) = ddpm_train::train_labelled(&dev, &data.images, Some(&data.labels), run, &opts)?;
        write_timing(&a.out, parameters, run.step - first, started.elapsed().as_secs_f64())?;
        if let ddpm_train::Outcome::Interrupted { step } = outcome {
            eprintln!("stopped at step {step}; continue with: ddpm train --out {} --resume", a.out.display());
            return Ok(());
        }
    });
    write_loss_plot(&a.out)
}

/// `timing.json`: the parameter count and how fast this machine trained the steps of the last
/// uninterrupted stretch (chapter 9 reports time per step as a ratio between runs).
fn write_timing(out: &Path, parameters: usize, steps: usize, seconds: f64) -> Result<()> {
    if steps == 0 {
        return Ok(());
    }
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let timing = serde_json::json!({
        "parameters": parameters,
        "steps_timed": steps,
        "seconds": seconds,
        "seconds_per_step": seconds / steps as f64,
        "cpu": cpu,
        "threads": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    });
    let path = out.join("timing.json");
    std::fs::write(&path, serde_json::to_string_pretty(&timing)? + "\n")
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn write_loss_plot(out: &Path) -> Result<()> {
    let losses = ddpm_train::train::read_loss_csv(&out.join(ddpm_train::train::LOSS_FILE))?;
    let png = ddpm_train::figures::loss_curve(&losses)?;
    let path = out.join("loss.png");
    png.save(&path)?;
    eprintln!("loss curve: {}", path.display());
    Ok(())
}

fn sample(a: SampleArgs) -> Result<()> {
    if a.count == 0 || a.batch == 0 {
        bail!("--count and --batch must be at least 1");
    }
    if a.format.is_empty() {
        bail!("--format needs at least one of grid, png, npz, idx");
    }
    let grid = a.format.contains(&OutFormat::Grid);
    let out = a.out.clone().unwrap_or_else(|| {
        a.checkpoint
            .parent()
            .unwrap_or(Path::new("."))
            .to_path_buf()
    });
    let formats: Vec<Format> = a
        .format
        .iter()
        .filter_map(|f| match f {
            OutFormat::Grid => None,
            OutFormat::Png => Some(Format::Png),
            OutFormat::Npz => Some(Format::Npz),
            OutFormat::Idx => Some(Format::Idx),
        })
        .collect();
    let draw = commands::Draw {
        checkpoint: &a.checkpoint,
        count: a.count,
        batch: a.batch,
        seed: a.seed,
        how: a.how.resolve(Purpose::Draw),
        no_ema: a.no_ema,
        classifier: a.classifier_guidance.as_deref(),
    };
    for path in commands::sample_to_files(&draw, &out, &formats, grid)? {
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

fn classifier(a: ClassifierArgs) -> Result<()> {
    if a.noisy {
        return noisy_classifier(a);
    }
    if a.epochs == 0 {
        bail!("--epochs must be at least 1");
    }
    let out = a.out.clone().unwrap_or_else(|| CLASSIFIER.into());
    let (train, test) = (a.data.load(Split::Train)?, a.data.load(Split::Test)?);
    let dev = Dev::seed_from_u64(a.seed);
    let mut model = dfdx::nn::BuildModule::build(&dev);
    let started = Instant::now();
    let losses =
        ddpm_train::classifier::train_classifier(&mut model, &train, a.epochs, a.seed, true);
    let acc = ddpm_train::classifier::accuracy(&model.predict(&test.images), &test.labels);
    eprintln!(
        "classifier: {} epochs in {:.0} s, loss per epoch {losses:?}; test accuracy {:.2}% on {} images",
        a.epochs,
        started.elapsed().as_secs_f64(),
        100.0 * acc,
        test.len()
    );
    save_weights(&model, &out)
}

/// Writes a classifier's weights (atomically: a partial file never takes the name).
fn save_weights<M: dfdx::nn::SaveToSafetensors<f32, Dev>>(model: &M, out: &Path) -> Result<()> {
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let partial = out.with_extension("partial");
    model
        .save_safetensors(&partial)
        .map_err(|e| anyhow::anyhow!("{}: {e:?}", partial.display()))?;
    std::fs::rename(&partial, out).with_context(|| format!("writing {}", out.display()))?;
    eprintln!("weights: {}", out.display());
    Ok(())
}

/// `ddpm classifier --noisy`: the noise-aware classifier of classifier guidance, with its test
/// accuracy at a few noise levels.
fn noisy_classifier(a: ClassifierArgs) -> Result<()> {
    use ddpm_train::noisy_classifier::{train_noisy_classifier, DeviceNoisyClassifier};
    if a.steps == 0 {
        bail!("--steps must be at least 1");
    }
    let out = a.out.clone().unwrap_or_else(|| NOISY_CLASSIFIER.into());
    let (train, test) = (a.data.load(Split::Train)?, a.data.load(Split::Test)?);
    let dev = Dev::seed_from_u64(a.seed);
    let mut model: DeviceNoisyClassifier<f32, Dev> = dfdx::nn::BuildModule::build(&dev);
    let s = ddpm_schedule::Schedule::new(ddpm_schedule::BetaSchedule::Linear, 1000)?;
    let started = Instant::now();
    let losses = train_noisy_classifier(&mut model, &s, &train, a.steps, a.seed, true);
    eprintln!(
        "noisy classifier: {} steps of 128 in {:.0} s, loss per 100 steps {losses:?}",
        a.steps,
        started.elapsed().as_secs_f64()
    );
    let ts = [1, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000];
    let acc = model.accuracy_by_step(&s, &test, &ts, test.len(), a.seed);
    for (t, acc) in ts.iter().zip(&acc) {
        eprintln!("test accuracy at t = {t:4}: {:.2}%", 100.0 * acc);
    }
    save_weights(&model, &out)
}

fn eval(a: EvalArgs) -> Result<()> {
    let how = a.how.resolve(Purpose::Judge);
    let test = a.data.load(Split::Test)?;
    let dev = Dev::seed_from_u64(a.seed);
    let judge = ddpm_train::classifier::load_classifier(&dev, &a.classifier)?;
    // eval.json goes beside the checkpoint, or in the samples' folder (or beside their file).
    let (report, beside) = match &a.samples_from {
        Some(path) => (
            commands::eval_samples(path, &test, &judge, a.reference, a.seed)?,
            match path.is_dir() {
                true => path.as_path(),
                false => path.parent().unwrap_or(Path::new(".")),
            },
        ),
        None => {
            let e = commands::EvalCheckpoint {
                checkpoint: &a.checkpoint,
                samples: a.samples,
                batch: a.batch,
                bpd_images: a.bpd_images,
                reference: a.reference,
                seed: a.seed,
                how,
                classifier: a.classifier_guidance.as_deref(),
            };
            (
                commands::eval_checkpoint(&e, &test, &judge)?,
                a.checkpoint.parent().unwrap_or(Path::new(".")),
            )
        }
    };
    println!("{}", report.judged.table());
    if let Some(b) = &report.measured.bits_per_dim {
        println!(
            "bits/dim on {} test digits: {:.3} ± {:.3} (σ² = {})",
            b.images,
            b.mean,
            b.standard_error,
            report.measured.variance.as_deref().unwrap_or("?")
        );
    }
    println!(
        "classifier test accuracy {:.2}%",
        100.0 * report.judged.classifier_test_accuracy
    );
    let out = a.out.clone().unwrap_or_else(|| beside.to_path_buf());
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let path = out.join("eval.json");
    std::fs::write(&path, serde_json::to_string_pretty(&report)? + "\n")
        .with_context(|| format!("writing {}", path.display()))?;
    eprintln!("report: {}", path.display());
    Ok(())
}

fn plan(a: PlanArgs) -> Result<()> {
    use ddpm_train::plan::{parse_plan, Step};
    let text = std::fs::read_to_string(&a.file)
        .with_context(|| format!("reading the plan {}", a.file.display()))?;
    let runs = parse_plan(&a.file.display().to_string(), &text)?;
    let me = std::env::current_exe().context("finding the ddpm executable")?;
    for (i, run) in runs.iter().enumerate() {
        let head = format!("plan: [{}/{}] {}", i + 1, runs.len(), run.name);
        match run.step(&a.results) {
            Step::Done => eprintln!(
                "{head}: done before ({} exists)",
                run.dir(&a.results).join("eval.json").display()
            ),
            Step::Run(args) => {
                eprintln!("{head}: ddpm {}", args.join(" "));
                if a.dry_run {
                    continue;
                }
                let status = std::process::Command::new(&me)
                    .args(&args)
                    .status()
                    .with_context(|| format!("starting {}", me.display()))?;
                if !status.success() {
                    bail!(
                        "{}, line {}: run '{}' failed ({status}); fix it and run the plan again \
                         to carry on from there",
                        a.file.display(),
                        run.line,
                        run.name
                    );
                }
            }
        }
    }
    eprintln!(
        "plan: all {} runs done; results in {}",
        runs.len(),
        a.results.display()
    );
    Ok(())
}

fn quickstart(a: QuickstartArgs, given: &[String], started: Instant) -> Result<()> {
    if given.iter().any(|g| g == "steps") {
        bail!("--steps: the quickstart chooses its number of steps to fit --budget-minutes");
    }
    if !(a.budget_minutes.is_finite() && a.budget_minutes > 0.0) {
        bail!("--budget-minutes must be a positive number of minutes");
    }
    if a.digits == 0 || a.digits > GRID_MAX {
        bail!("--digits must be between 1 and {GRID_MAX}");
    }
    let data = a.data.load(Split::Train)?;
    let config = a.recipe.clone();
    config.validate()?;
    let dev = Dev::seed_from_u64(config.seed);
    let opts = ddpm_train::quickstart::QuickstartOptions {
        out: a.out.clone(),
        budget: Duration::from_secs_f64(a.budget_minutes * 60.0),
        started,
        digits: a.digits,
        sampler: a.sampler,
        clip_x0: a.clip_x0,
        warmup: given.iter().any(|g| g == "warmup").then_some(config.warmup),
        config: config.clone(),
    };
    eprintln!(
        "quickstart: the '{}' UNet predicting {}, learning rate {}, on {} digits from {}, within {} minutes (training plus sampling with the {} sampler{})",
        config.preset,
        config.objective,
        config.lr,
        data.len(),
        a.data.describe(),
        a.budget_minutes,
        a.sampler,
        if a.clip_x0 { ", x̂₀ clipped" } else { "" }
    );
    let report = with_preset!(config.preset, Dev, Net => {
        ddpm_train::quickstart::quickstart::<Dev, Net>(&dev, &data.images, &opts, true)?
    });
    write_loss_plot(&a.out)?;
    eprintln!(
        "trained {} steps in {:.0} s, sampled {} digits in {:.0} s; whole job {:.0} s of a {:.0} s budget",
        report.trained,
        report.train_secs,
        a.digits,
        report.sample_secs,
        report.total_secs,
        opts.budget.as_secs_f64()
    );
    eprintln!(
        "wrote {}, {} and {}",
        report.checkpoint.display(),
        a.out.join("samples.png").display(),
        a.out.join("denoising.gif").display()
    );
    // A first look at quality: how the course's classifier sees the digits.
    let judge_path = Path::new(CLASSIFIER);
    if judge_path.is_file() {
        let judge = ddpm_train::classifier::load_classifier(&dev, judge_path)?;
        let p = judge.predict(&report.samples.images);
        let confident = p.confidences().iter().filter(|&&c| c >= 0.9).count();
        let mut hist = [0usize; 10];
        p.classes().iter().for_each(|&c| hist[c] += 1);
        eprintln!(
            "the classifier is ≥ 90% sure of {confident} of the {} digits; classes 0–9: {hist:?}\n\
             for the full measurement: ddpm eval --checkpoint {} --sampler {} --clip-x0 {}",
            a.digits,
            report.checkpoint.display(),
            a.sampler,
            a.clip_x0
        );
    }
    Ok(())
}

/// `--sampler`'s long help: the registry's own list of names.
fn sampler_help() -> String {
    format!(
        "The sampler: {}. [default: ddim:50:1 for sample (chapter 9's measurements), ancestral \
         for eval (chapter 8's reference)]",
        ddpm_sampling::SAMPLER_NAMES
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ddpm_loss::Objective;
    use ddpm_train::Preset;

    /// The sampling defaults as a user meets them: `sample` and `quickstart` draw with chapter
    /// 9's choice, `eval` judges chapter 8's Algorithm 2; `--clip-x0` alone means true and does
    /// not swallow the flag after it; every choice can be undone.
    #[test]
    fn sample_and_quickstart_default_to_the_measured_sampler_and_eval_to_algorithm_2() {
        let parse = |args: &[&str]| {
            let mut all = vec!["ddpm"];
            all.extend(args);
            parse_from(&all).unwrap().command
        };
        let how = |args: &[&str], purpose| match parse(args) {
            Command::Sample(a) => a.how.resolve(purpose),
            Command::Eval(a) => a.how.resolve(purpose),
            _ => unreachable!(),
        };
        let drawn = how(&["sample"], Purpose::Draw);
        assert_eq!((drawn.sampler, drawn.clip_x0), (DEFAULT_SAMPLER, true));
        let judged = how(&["eval"], Purpose::Judge);
        assert_eq!(
            (judged.sampler, judged.clip_x0),
            (SamplerKind::Ancestral, false)
        );
        let undone = how(
            &["sample", "--sampler", "ancestral", "--clip-x0", "false"],
            Purpose::Draw,
        );
        assert_eq!(
            (undone.sampler, undone.clip_x0),
            (SamplerKind::Ancestral, false)
        );
        // What DDIM does not use is said, not dropped in silence.
        assert_eq!(drawn.ignored(Preset::Small, 1000), None);
        assert!(drawn
            .ignored(Preset::SmallLearned, 1000)
            .is_some_and(|n| n.contains("--sampler strided:50")));
        let posterior = how(&["sample", "--variance", "posterior"], Purpose::Draw);
        assert!(posterior.ignored(Preset::Small, 1000).is_some());
        assert_eq!(undone.ignored(Preset::SmallLearned, 1000), None);
        match parse(&["eval", "--clip-x0", "--samples", "4"]) {
            Command::Eval(a) => {
                assert_eq!((a.how.clip_x0, a.samples), (Some(true), 4));
            }
            _ => unreachable!(),
        }
        match parse(&["quickstart"]) {
            Command::Quickstart(a) => assert_eq!((a.sampler, a.clip_x0), (DEFAULT_SAMPLER, true)),
            _ => unreachable!(),
        }
        match parse(&["quickstart", "--clip-x0", "false", "--digits", "9"]) {
            Command::Quickstart(a) => assert_eq!((a.clip_x0, a.digits), (false, 9)),
            _ => unreachable!(),
        }
        match parse(&["quickstart", "--clip-x0", "--digits", "9"]) {
            Command::Quickstart(a) => assert_eq!((a.clip_x0, a.digits), (true, 9)),
            _ => unreachable!(),
        }
    }

    /// The quickstart takes `ddpm train`'s recipe (what chapter 10's search varies); its step
    /// count is the budget's, so an explicit --steps is refused, while an explicit --warmup is
    /// kept.
    #[test]
    fn quickstart_takes_the_recipe_but_not_the_steps() {
        let args = [
            "ddpm",
            "quickstart",
            "--objective",
            "v",
            "--min-snr",
            "5",
            "--warmup",
            "50",
        ];
        let matches = cli().get_matches_from(args);
        let given = given_settings(matches.subcommand_matches("quickstart").unwrap());
        assert_eq!(given, ["objective", "warmup", "min_snr"].map(String::from));
        match parse_from(&args).unwrap().command {
            Command::Quickstart(a) => {
                assert_eq!((a.recipe.objective, a.recipe.min_snr), (Objective::V, 5.0));
                assert_eq!(a.recipe.preset, TrainConfig::default().preset);
            }
            _ => unreachable!(),
        }
        let args = ["ddpm", "quickstart", "--steps", "10"];
        let matches = cli().get_matches_from(args);
        let Command::Quickstart(a) = parse_from(&args).unwrap().command else {
            unreachable!()
        };
        let given = given_settings(matches.subcommand_matches("quickstart").unwrap());
        let err = quickstart(a, &given, Instant::now())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--steps") && err.contains("--budget-minutes"),
            "{err}"
        );
    }

    /// The quickstart's recipe is chapter 10's (`BUDGET_RECIPE` on `train`'s defaults); `train`
    /// keeps its own; a flag given still wins and counts as given.
    #[test]
    fn quickstart_defaults_to_chapter_10s_recipe() {
        let recipe = |args: &[&str]| match parse_from(args).unwrap().command {
            Command::Quickstart(a) => a.recipe,
            Command::Train(a) => a.config,
            _ => unreachable!(),
        };
        assert_eq!(recipe(&["ddpm", "train"]), TrainConfig::default());
        let quick = recipe(&["ddpm", "quickstart"]);
        assert_eq!(quick, ddpm_train::quickstart::budget_config());
        assert_eq!((quick.objective, quick.lr), (Objective::V, 0.004));
        let args = ["ddpm", "quickstart", "--objective", "eps"];
        assert_eq!(recipe(&args).objective, Objective::Eps);
        let matches = cli().get_matches_from(args);
        let given = given_settings(matches.subcommand_matches("quickstart").unwrap());
        assert_eq!(given, ["objective"]);
        let matches = cli().get_matches_from(["ddpm", "quickstart"]);
        assert!(given_settings(matches.subcommand_matches("quickstart").unwrap()).is_empty());
        // The help's heading names the recipe, and each flag shows it as its default.
        let mut cmd = cli();
        let help = cmd
            .find_subcommand_mut("quickstart")
            .unwrap()
            .render_long_help()
            .to_string();
        for (id, value) in ddpm_train::quickstart::BUDGET_RECIPE {
            assert!(
                help.contains(&format!("--{id} {value}")),
                "heading: --{id} {value}"
            );
            assert!(
                help.contains(&format!("[default: {value}]")),
                "--{id}'s default"
            );
        }
    }

    /// Every flag of every subcommand says what it does and what it is when not given: a
    /// default clap prints, or one the help states (unless required); and clap finds the
    /// definitions consistent.
    #[test]
    fn every_flag_is_documented() {
        let cmd = cli();
        cmd.clone().debug_assert();
        let mut flags = 0;
        for sub in cmd.get_subcommands() {
            for arg in sub.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" {
                    continue;
                }
                flags += 1;
                let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
                assert!(
                    help.len() > 10,
                    "ddpm {} --{id}: no description",
                    sub.get_name()
                );
                // A required argument (the plan's FILE) has no default to state.
                if arg.get_action().takes_values() && !arg.is_required_set() {
                    assert!(
                        !arg.get_default_values().is_empty() || help.contains("[default:"),
                        "ddpm {} --{id}: no default stated",
                        sub.get_name()
                    );
                }
            }
        }
        assert!(flags >= 40, "{flags} flags");
    }
}
