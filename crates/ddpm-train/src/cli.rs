//! `ddpm`'s command line: every subcommand's flags as clap definitions, and how the sampling
//! flags resolve. The binary (`src/bin/ddpm.rs`) parses with these and dispatches; the parse is
//! tested here, so the binary — whose code instantiates every preset's UNet — is compiled once,
//! not again as a test harness.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use ddpm_data::{Dataset, Split};
use ddpm_sampling::SamplerKind;
use ddpm_vlb::ModelVariance;

use crate::commands::{Sampling, GRID_MAX};
use crate::sample::{DEFAULT_CLIP_X0, DEFAULT_SAMPLER};
use crate::TrainConfig;

/// The bundled MNIST, relative to the repository root (where the README's commands run).
pub const BUNDLED_MNIST: &str = "data/mnist";
/// The course's classifier, relative to the repository root.
pub const CLASSIFIER: &str = "checkpoints/mnist-classifier.safetensors";
pub const NOISY_CLASSIFIER: &str = "checkpoints/noisy-classifier.safetensors";

#[derive(Parser)]
#[command(
    name = "ddpm",
    version,
    about = "Train, sample and evaluate a DDPM on MNIST (the course's chapter 8).",
    after_help = "Run from the repository root: the defaults read data/mnist and checkpoints/."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
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
pub struct PlanArgs {
    /// The plan file: one run per line, `NAME train|eval ARGS…`, `#` starts a comment.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Where each run's folder goes (NAME is a path under it).
    #[arg(long, default_value = "results", value_name = "DIR")]
    pub results: PathBuf,
    /// Print what would run, and run nothing.
    #[arg(long = "dry-run")]
    pub dry_run: bool,
}

/// Where the digits come from.
#[derive(Args, Clone)]
pub struct DataArg {
    /// Folder of MNIST-format IDX files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz],
    /// t10k-…), e.g. Debian's Fashion-MNIST in /usr/share/datasets/fashion-mnist. [default: the
    /// bundled MNIST in data/mnist, checked against MNIST's published checksums]
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
}

impl DataArg {
    pub fn load(&self, split: Split) -> Result<Dataset> {
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

    pub fn describe(&self) -> String {
        self.data
            .as_ref()
            .map_or(BUNDLED_MNIST.into(), |d| d.display().to_string())
    }
}

#[derive(Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub data: DataArg,
    /// Output folder: checkpoint.safetensors, loss.csv, loss.png.
    #[arg(long, default_value = "runs/mnist", value_name = "DIR")]
    pub out: PathBuf,
    /// Continue the run in --out from its checkpoint. Its recorded settings are used; a setting
    /// given on the command line must agree with them.
    #[arg(long)]
    pub resume: bool,
    /// Write a checkpoint every this many steps (and at the end, and on Ctrl-C).
    #[arg(long = "checkpoint-every", default_value_t = 500, value_name = "STEPS")]
    pub checkpoint_every: usize,
    #[command(flatten)]
    pub config: TrainConfig,
}

/// The output formats of `ddpm sample`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutFormat {
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
pub struct SampleArgs {
    /// The checkpoint to sample from (its config says the UNet, T, schedule and objective).
    #[arg(
        long,
        default_value = "runs/mnist/checkpoint.safetensors",
        value_name = "FILE"
    )]
    pub checkpoint: PathBuf,
    /// How many digits. Any number: they are sampled in batches and written as each is done.
    #[arg(long, default_value_t = 64)]
    pub count: usize,
    /// Digits sampled at once: what memory holds (the base UNet needs a few MB per digit).
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Seed of the sampling noise.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub how: SamplingArgs,
    /// Classifier guidance (chapter 9, Dhariwal & Nichol): steer an ε-predicting checkpoint
    /// (a class-conditional one is asked for "no label") with the gradient of this noisy
    /// classifier's log p(digit | x_t) (from `ddpm classifier --noisy`), scaled by --guidance,
    /// instead of classifier-free guidance. [default: none]
    #[arg(long = "classifier-guidance", value_name = "FILE")]
    pub classifier_guidance: Option<PathBuf>,
    /// Sample with the raw trained weights instead of their moving average.
    #[arg(long = "no-ema")]
    pub no_ema: bool,
    /// Output formats, comma-separated or repeated.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [OutFormat::Grid])]
    pub format: Vec<OutFormat>,
    /// Output folder. [default: the checkpoint's folder]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// How a checkpoint is sampled.
#[derive(Args, Clone, Copy)]
pub struct SamplingArgs {
    /// The sampler, by name (`--help` lists them). [default: ddim:50:1 for sample (chapter 9's
    /// measurements), ancestral for eval (chapter 8's reference)]
    #[arg(long, long_help = sampler_help())]
    pub sampler: Option<SamplerKind>,
    /// σ_t² of the reverse steps: beta (σ² = β_t) or posterior (σ² = β̃_t). A checkpoint that
    /// learns its variance (preset small-learned) uses its own and ignores this; so do DDIM,
    /// whose noise comes from η, and Heun's method, which adds none.
    #[arg(long, default_value_t = ModelVariance::Beta)]
    pub variance: ModelVariance,
    /// The digit 0–9 to draw, from a class-conditional checkpoint (preset small-class).
    /// [default: the digits 0–9 in turn: row r of a batch draws r mod 10]
    #[arg(long, value_name = "DIGIT", value_parser = clap::value_parser!(u8).range(0..10))]
    pub class: Option<u8>,
    /// Classifier-free guidance scale s of a class-conditional checkpoint:
    /// ε = ε(x, no label) + s·(ε(x, digit) − ε(x, no label)); 0 ignores the digit, 1 is the
    /// plain conditional model, larger draws the asked digit more often (chapter 9 measured the
    /// lowest Fréchet distance at s = 2, with s = 1 and 3 within two standard errors of it).
    /// With --classifier-guidance, the classifier's scale.
    #[arg(long, default_value_t = 2.0)]
    pub guidance: f32,
    /// Clip the predicted x̂₀ to [−1, 1] before every reverse step, as Ho et al.'s and Nichol &
    /// Dhariwal's samplers do (chapter 9: it tames the cosine schedule's last step). `--clip-x0`
    /// alone is `--clip-x0 true`. [default: true for sample, false for eval]
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub clip_x0: Option<bool>,
}

/// What the sampling flags leave open is settled by what the digits are for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// `ddpm sample`: the sampler chapter 9 measured best for its time.
    Draw,
    /// `ddpm eval`: chapter 8's reference, Algorithm 2 unclipped, so its numbers compare.
    Judge,
}

impl SamplingArgs {
    pub fn resolve(self, purpose: Purpose) -> Sampling {
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
pub struct EvalArgs {
    /// The checkpoint to measure.
    #[arg(
        long,
        default_value = "runs/mnist/checkpoint.safetensors",
        value_name = "FILE",
        conflicts_with = "samples_from"
    )]
    pub checkpoint: PathBuf,
    /// Judge these digits instead of a checkpoint's: a folder of PNGs, an .npz (uint8 arr_0 of
    /// shape [N, 28, 28] or [N, 28, 28, 1]) or an IDX file — any model's samples. No bits/dim.
    /// [default: none: sample from --checkpoint]
    #[arg(long = "samples-from", value_name = "PATH")]
    pub samples_from: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataArg,
    /// Classifier weights (from `ddpm classifier`).
    #[arg(long, default_value = CLASSIFIER, value_name = "FILE")]
    pub classifier: PathBuf,
    /// Classifier guidance (chapter 9, Dhariwal & Nichol): steer an ε-predicting checkpoint
    /// (a class-conditional one is asked for "no label") with the gradient of this noisy
    /// classifier's log p(digit | x_t) (from `ddpm classifier --noisy`), scaled by --guidance,
    /// instead of classifier-free guidance. [default: none]
    #[arg(long = "classifier-guidance", value_name = "FILE")]
    pub classifier_guidance: Option<PathBuf>,
    /// Generated digits to judge (with --checkpoint).
    #[arg(long, default_value_t = 256)]
    pub samples: usize,
    /// Digits sampled at once.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Test digits whose bound is computed (each costs T network calls, batched); 0 skips the
    /// bound.
    #[arg(long = "bpd-images", default_value_t = 64)]
    pub bpd_images: usize,
    /// Test digits whose features are the reference for the Fréchet distance.
    #[arg(long, default_value_t = 5000)]
    pub reference: usize,
    /// Seed of the sampling noise, the bound's noise and the noised row.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub how: SamplingArgs,
    /// Where eval.json goes. [default: beside the checkpoint or the samples]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Args)]
pub struct ClassifierArgs {
    #[command(flatten)]
    pub data: DataArg,
    /// Where the weights go. [default: checkpoints/mnist-classifier.safetensors, with --noisy
    /// checkpoints/noisy-classifier.safetensors]
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Passes over the 60,000 training digits.
    #[arg(long, default_value_t = 3)]
    pub epochs: usize,
    /// Train the noise-aware classifier of classifier guidance instead (chapter 9): digits
    /// noised to a random step of the linear T = 1000 schedule, --steps batches of 128.
    #[arg(long)]
    pub noisy: bool,
    /// With --noisy: training batches.
    #[arg(long, default_value_t = 3000)]
    pub steps: usize,
    /// Seed of the initial weights and the order of the batches.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(Args)]
pub struct QuickstartArgs {
    #[command(flatten)]
    pub data: DataArg,
    /// Output folder: the checkpoint, loss.csv and loss.png, samples.png, denoising.gif.
    #[arg(long, default_value = "runs/quickstart", value_name = "DIR")]
    pub out: PathBuf,
    /// The whole job's time, training and sampling, in minutes: the number of training steps
    /// is fitted to it after measuring this machine's speed.
    #[arg(
        long = "budget-minutes",
        default_value_t = 10.0,
        value_name = "MINUTES"
    )]
    pub budget_minutes: f64,
    /// Digits sampled at the end.
    #[arg(long, default_value_t = 64)]
    pub digits: usize,
    /// The sampler for those digits (see `ddpm sample --help`).
    #[arg(long, default_value_t = DEFAULT_SAMPLER)]
    pub sampler: SamplerKind,
    /// Clip the predicted x̂₀ to [−1, 1] before every reverse step (see `ddpm sample --help`).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true",
          default_value_t = DEFAULT_CLIP_X0, action = clap::ArgAction::Set)]
    pub clip_x0: bool,
    /// The run's recipe, as for `ddpm train` but with chapter 10's defaults where they differ
    /// (`BUDGET_RECIPE`); the step count is chosen by the budget, and the warm-up too unless
    /// --warmup is given.
    #[command(
        flatten,
        next_help_heading = "Recipe (as for `ddpm train`, with chapter 10's defaults: --objective v --lr 0.004)"
    )]
    pub recipe: TrainConfig,
}

impl QuickstartArgs {
    /// The checks that need no data: the budget chooses the steps, so --steps is refused; the
    /// budget and the number of digits must make sense.
    pub fn check(&self, given: &[String]) -> Result<()> {
        if given.iter().any(|g| g == "steps") {
            bail!("--steps: the quickstart chooses its number of steps to fit --budget-minutes");
        }
        if !(self.budget_minutes.is_finite() && self.budget_minutes > 0.0) {
            bail!("--budget-minutes must be a positive number of minutes");
        }
        if self.digits == 0 || self.digits > GRID_MAX {
            bail!("--digits must be between 1 and {GRID_MAX}");
        }
        Ok(())
    }
}

/// The command line: the derived `Cli`, with the quickstart's recipe defaults set to chapter
/// 10's (`BUDGET_RECIPE`), so its help, its parse and `given_settings` agree.
pub fn cli() -> clap::Command {
    Cli::command().mut_subcommand("quickstart", |q| {
        crate::quickstart::BUDGET_RECIPE
            .iter()
            .fold(q, |q, &(id, value)| {
                q.mut_arg(id, |a| a.default_value(value))
            })
    })
}

/// Parses `args` (the program's name first) as `main` does.
pub fn parse_from(args: &[&str]) -> Result<Cli, clap::Error> {
    Cli::from_arg_matches(&cli().try_get_matches_from(args)?)
}

/// The training settings given on the command line (not defaulted), by their config names.
pub fn given_settings(m: &ArgMatches) -> Vec<String> {
    use clap::Args as _;
    TrainConfig::augment_args(clap::Command::new("settings"))
        .get_arguments()
        .map(|a| a.get_id().as_str().to_string())
        .filter(|id| m.value_source(id) == Some(ValueSource::CommandLine))
        .collect()
}

/// `--sampler`'s long help: the registry's own list of names.
pub fn sampler_help() -> String {
    format!(
        "The sampler: {}. [default: ddim:50:1 for sample (chapter 9's measurements), ancestral \
         for eval (chapter 8's reference)]",
        ddpm_sampling::SAMPLER_NAMES
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Preset;
    use ddpm_loss::Objective;

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
        let err = a.check(&given).unwrap_err().to_string();
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
        assert_eq!(quick, crate::quickstart::budget_config());
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
        for (id, value) in crate::quickstart::BUDGET_RECIPE {
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
