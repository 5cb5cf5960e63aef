//! `ddpm`: train a UNet on MNIST, sample digits from it, and measure what it learned.
//!
//! ```text
//! ddpm quickstart                      # the README's main job: train, sample, evaluate
//! ddpm train --out runs/mnist          # Algorithm 1, checkpoints in runs/mnist
//! ddpm train --out runs/mnist --resume # continue an interrupted run
//! ddpm sample --checkpoint runs/mnist/checkpoint.safetensors
//! ddpm eval --checkpoint runs/mnist/checkpoint.safetensors
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use ddpm_schedule::BetaSchedule;
use ddpm_train::{with_preset, Preset, TrainConfig};
use ddpm_vlb::ModelVariance;

#[cfg(not(feature = "cuda"))]
type Dev = dfdx::tensor::Cpu;
#[cfg(feature = "cuda")]
type Dev = dfdx::tensor::Cuda;

#[derive(Parser)]
#[command(
    name = "ddpm",
    version,
    about = "Train, sample and evaluate a DDPM on MNIST (the course's chapter 8)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a UNet with Algorithm 1 (checkpoints, loss curve and samples in --out).
    Train(TrainArgs),
    /// Sample digits with Algorithm 2: an image grid and the denoising as a GIF.
    Sample(SampleArgs),
    /// Measure a checkpoint: bits/dim on test digits, and how a classifier sees its samples.
    Eval(EvalArgs),
    /// Train the MNIST classifier that `eval` uses, and report its test accuracy.
    Classifier(ClassifierArgs),
    /// The README's main job: train the default run, then sample from it.
    Quickstart(QuickstartArgs),
}

#[derive(Args)]
struct EvalArgs {
    #[arg(long, default_value = "runs/mnist/checkpoint.safetensors")]
    checkpoint: PathBuf,
    /// Folder with the test set (t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]).
    #[arg(long, default_value = "data/mnist")]
    data: PathBuf,
    /// Classifier weights (from `ddpm classifier`).
    #[arg(long, default_value = "checkpoints/mnist-classifier.safetensors")]
    classifier: PathBuf,
    /// Generated digits to judge.
    #[arg(long, default_value_t = 256)]
    samples: usize,
    /// Test digits whose bound is computed (each costs T network calls, batched).
    #[arg(long = "bpd-images", default_value_t = 64)]
    bpd_images: usize,
    /// Test digits whose features are the reference for the Fréchet distance.
    #[arg(long, default_value_t = 5000)]
    reference: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// σ_t² for sampling and for the bound: 'beta' or 'posterior'.
    #[arg(long, default_value = "beta")]
    variance: ModelVariance,
    /// Where eval.json goes; default: beside the checkpoint.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Args)]
struct ClassifierArgs {
    #[arg(long, default_value = "data/mnist")]
    data: PathBuf,
    #[arg(long, default_value = "checkpoints/mnist-classifier.safetensors")]
    out: PathBuf,
    #[arg(long, default_value_t = 3)]
    epochs: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[derive(Args)]
struct TrainArgs {
    /// Folder of IDX files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz]).
    #[arg(long, default_value = "data/mnist")]
    data: PathBuf,
    /// Output folder: checkpoint.safetensors, loss.csv, loss.png, samples.
    #[arg(long, default_value = "runs/mnist")]
    out: PathBuf,
    /// Continue the run in --out from its checkpoint (its recorded settings are used).
    #[arg(long)]
    resume: bool,
    #[arg(long)]
    preset: Option<Preset>,
    #[arg(long)]
    steps: Option<usize>,
    #[arg(long)]
    batch: Option<usize>,
    #[arg(long)]
    lr: Option<f64>,
    #[arg(long)]
    warmup: Option<usize>,
    /// linear, cosine, quadratic or sigmoid.
    #[arg(long)]
    schedule: Option<BetaSchedule>,
    /// T, the number of diffusion steps.
    #[arg(long = "t-max")]
    t_max: Option<usize>,
    #[arg(long = "ema-decay")]
    ema_decay: Option<f64>,
    #[arg(long = "grad-clip")]
    grad_clip: Option<f64>,
    /// Dropout probability in the residual blocks while training.
    #[arg(long)]
    dropout: Option<f32>,
    #[arg(long)]
    seed: Option<u64>,
    /// Write a checkpoint every this many steps (and at the end, and on Ctrl-C).
    #[arg(long = "checkpoint-every", default_value_t = 500)]
    checkpoint_every: usize,
}

#[derive(Args)]
struct SampleArgs {
    #[arg(long, default_value = "runs/mnist/checkpoint.safetensors")]
    checkpoint: PathBuf,
    /// How many digits.
    #[arg(long, default_value_t = 64)]
    count: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// σ_t²: 'beta' (σ² = β_t) or 'posterior' (σ² = β̃_t).
    #[arg(long, default_value = "beta")]
    variance: ModelVariance,
    /// Sample with the raw trained weights instead of their moving average.
    #[arg(long = "no-ema")]
    no_ema: bool,
    /// Where the grid (PNG) and the animation (GIF) go; default: beside the checkpoint.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Args)]
struct QuickstartArgs {
    #[arg(long, default_value = "data/mnist")]
    data: PathBuf,
    #[arg(long, default_value = "runs/quickstart")]
    out: PathBuf,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Train(a) => train(a),
        Command::Sample(a) => sample(a).map(|_| ()),
        Command::Eval(a) => eval(a),
        Command::Classifier(a) => classifier(a),
        Command::Quickstart(a) => {
            train(TrainArgs {
                data: a.data,
                out: a.out.clone(),
                resume: false,
                preset: None,
                steps: None,
                batch: None,
                lr: None,
                warmup: None,
                schedule: None,
                t_max: None,
                ema_decay: None,
                grad_clip: None,
                dropout: None,
                seed: None,
                checkpoint_every: 500,
            })?;
            let started = std::time::Instant::now();
            let digits = sample(SampleArgs {
                checkpoint: a.out.join(ddpm_train::train::CHECKPOINT_FILE),
                count: 64,
                seed: 0,
                variance: ModelVariance::Beta,
                no_ema: false,
                out: Some(a.out.clone()),
            })?;
            eprintln!("sampled in {:.0} s", started.elapsed().as_secs_f64());
            // A first look at quality: how the course's classifier sees the 64 digits.
            let judge_path = Path::new("checkpoints/mnist-classifier.safetensors");
            if judge_path.is_file() {
                let judge = ddpm_train::classifier::load_classifier(&Dev::default(), judge_path)?;
                let p = judge.predict(&digits);
                let confident = p.confidences().iter().filter(|&&c| c >= 0.9).count();
                let mut hist = [0usize; 10];
                p.classes().iter().for_each(|&c| hist[c] += 1);
                eprintln!(
                    "the classifier is ≥ 90% sure of {confident} of the 64 digits; classes 0–9: {hist:?}\n\
                     for the full measurement: ddpm eval --checkpoint {}",
                    a.out.join(ddpm_train::train::CHECKPOINT_FILE).display()
                );
            }
            Ok(())
        }
    }
}

/// The config a `train` call asks for: the checkpoint's when resuming (explicit flags must
/// agree with it), else the defaults with the flags applied.
fn train_config(a: &TrainArgs) -> Result<TrainConfig> {
    let mut c = if a.resume {
        let path = a.out.join(ddpm_train::train::CHECKPOINT_FILE);
        ddpm_train::checkpoint::read_config(&path)?
    } else {
        TrainConfig::default()
    };
    let before = c.clone();
    macro_rules! apply {
        ($($f:ident),*) => {$(if let Some(v) = a.$f { c.$f = v; })*};
    }
    apply!(preset, steps, batch, lr, warmup, schedule, t_max, ema_decay, grad_clip, dropout, seed);
    if a.resume && c != before {
        bail!(
            "--resume continues the run recorded in {}; drop the flags that change its settings",
            a.out.display()
        );
    }
    c.validate()?;
    Ok(c)
}

fn train(a: TrainArgs) -> Result<()> {
    let config = train_config(&a)?;
    if a.checkpoint_every == 0 {
        bail!("--checkpoint-every must be at least 1");
    }
    let data = ddpm_data::Dataset::load(&a.data, ddpm_data::Split::Train)
        .with_context(|| format!("loading the training set from {}", a.data.display()))?;
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
        "training the '{}' UNet on {} images from {}: {} steps of {}, lr {}, T = {} ({})",
        config.preset,
        data.len(),
        a.data.display(),
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
        eprintln!("{} parameters", dfdx::nn::NumParams::num_trainable_params(&run.model));
        let (_, outcome, _) = ddpm_train::train(&dev, &data.images, run, &opts)?;
        if let ddpm_train::Outcome::Interrupted { step } = outcome {
            eprintln!("stopped at step {step}; continue with: ddpm train --out {} --resume", a.out.display());
            return Ok(());
        }
    });
    write_loss_plot(&a.out)?;
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

fn sample(a: SampleArgs) -> Result<ddpm_data::Images> {
    if a.count == 0 {
        bail!("--count must be at least 1");
    }
    let config = ddpm_train::checkpoint::read_config(&a.checkpoint)?;
    let dev = Dev::seed_from_u64(a.seed);
    let out = a.out.clone().unwrap_or_else(|| {
        a.checkpoint
            .parent()
            .unwrap_or(Path::new("."))
            .to_path_buf()
    });
    let s = config.noise_schedule();
    let keep = ddpm_train::sample::animation_steps(config.t_max, 40);
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(a.seed);
    let samples = with_preset!(config.preset, Dev, Net => {
        let ckpt: ddpm_train::Checkpoint<Net> = ddpm_train::load_checkpoint(&dev, &a.checkpoint)?;
        let model = if a.no_ema { &ckpt.model } else { &ckpt.ema };
        eprintln!("sampling {} digits from {} (step {}, {} weights, σ² = {})", a.count, a.checkpoint.display(), ckpt.step, if a.no_ema { "raw" } else { "EMA" }, a.variance);
        ddpm_train::sample::sample(&dev, model, &s, a.count, a.variance, &keep, &mut rng, true)
    });
    let cols = (a.count as f64).sqrt().ceil() as usize;
    let grid = out.join("samples.png");
    ddpm_train::sample::grid_png(&samples.images, cols, 3)?.save(&grid)?;
    let gif = out.join("denoising.gif");
    ddpm_train::sample::denoising_gif(&samples, cols, 2)?.save(&gif)?;
    eprintln!("samples: {}\nanimation: {}", grid.display(), gif.display());
    Ok(samples.images)
}

fn classifier(a: ClassifierArgs) -> Result<()> {
    if a.epochs == 0 {
        bail!("--epochs must be at least 1");
    }
    let load = |split| {
        ddpm_data::Dataset::load(&a.data, split)
            .with_context(|| format!("loading MNIST from {}", a.data.display()))
    };
    let (train, test) = (
        load(ddpm_data::Split::Train)?,
        load(ddpm_data::Split::Test)?,
    );
    let dev = Dev::seed_from_u64(a.seed);
    let mut model = dfdx::nn::BuildModule::build(&dev);
    let started = std::time::Instant::now();
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
    if let Some(dir) = a.out.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    dfdx::nn::SaveToSafetensors::save_safetensors(&model, &a.out)
        .map_err(|e| anyhow::anyhow!("{}: {e:?}", a.out.display()))?;
    eprintln!("weights: {}", a.out.display());
    Ok(())
}

fn eval(a: EvalArgs) -> Result<()> {
    if a.samples < 2 || a.bpd_images == 0 {
        bail!("--samples must be at least 2 and --bpd-images at least 1");
    }
    let config = ddpm_train::checkpoint::read_config(&a.checkpoint)?;
    let test = ddpm_data::Dataset::load(&a.data, ddpm_data::Split::Test)
        .with_context(|| format!("loading the test set from {}", a.data.display()))?;
    if a.reference + a.samples.max(a.bpd_images) > test.len() {
        bail!(
            "--reference {} plus --samples {} needs more than the {} test images in {}",
            a.reference,
            a.samples,
            test.len(),
            a.data.display()
        );
    }
    let dev = Dev::seed_from_u64(a.seed);
    let judge = ddpm_train::classifier::load_classifier(&dev, &a.classifier)?;
    let accuracy = ddpm_train::classifier::accuracy(&judge.predict(&test.images), &test.labels);
    let (reference, held_out) =
        ddpm_train::eval::split_test(&test, a.reference, a.samples.max(a.bpd_images));
    let bpd_set = held_out.select(&(0..a.bpd_images).collect::<Vec<_>>());
    let held_out = held_out.select(&(0..a.samples).collect::<Vec<_>>());
    let ref_features = judge.predict(&reference).features;
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(a.seed);
    let s = config.noise_schedule();
    let (samples, bpd, step) = with_preset!(config.preset, Dev, Net => {
        let ckpt: ddpm_train::Checkpoint<Net> = ddpm_train::load_checkpoint(&dev, &a.checkpoint)?;
        eprintln!("evaluating {} (step {}, EMA weights)", a.checkpoint.display(), ckpt.step);
        let samples = ddpm_train::sample::sample(&dev, &ckpt.ema, &s, a.samples, a.variance, &[], &mut rng, true);
        let bpd = ddpm_train::eval::bits_per_dim(&dev, &ckpt.ema, &s, &bpd_set, a.variance, &mut rng, true);
        (samples.images, bpd, ckpt.step)
    });
    let q_samples = ddpm_train::eval::quality(&judge, &samples, &ref_features);
    let q_real = ddpm_train::eval::quality(&judge, &held_out, &ref_features);
    let noisy = ddpm_train::eval::noised(&held_out, 1.0, &mut rng);
    let q_noised = ddpm_train::eval::quality(&judge, &noisy, &ref_features);
    let (bpd_mean, bpd_sem) = ddpm_train::eval::mean_sem(&bpd);
    let report = serde_json::json!({
        "checkpoint": a.checkpoint.display().to_string(),
        "step": step,
        "variance": a.variance.name(),
        "seed": a.seed,
        "classifier_test_accuracy": accuracy,
        "bits_per_dim": {"images": bpd.len(), "mean": bpd_mean, "standard_error": bpd_sem},
        "reference_test_images": a.reference,
        "samples": q_samples.to_json(),
        "held_out_real": q_real.to_json(),
        "noised_real_sigma_1": q_noised.to_json(),
    });
    println!(
        "| | images | confident (p ≥ 0.9) | class entropy (ln 10 = 2.303) | Fréchet distance |"
    );
    println!("|---|---|---|---|---|");
    for (name, q) in [
        ("samples", &q_samples),
        ("held-out test digits (floor)", &q_real),
        ("test digits + N(0, 1) noise", &q_noised),
    ] {
        println!(
            "| {name} | {} | {:.1}% | {:.3} | {:.2} |",
            q.count,
            100.0 * q.confident,
            q.class_entropy,
            q.frechet
        );
    }
    println!(
        "\nbits/dim on {} test digits: {bpd_mean:.3} ± {bpd_sem:.3} (σ² = {}); classifier test accuracy {:.2}%",
        bpd.len(),
        a.variance,
        100.0 * accuracy
    );
    let out = a.out.clone().unwrap_or_else(|| {
        a.checkpoint
            .parent()
            .unwrap_or(Path::new("."))
            .to_path_buf()
    });
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let path = out.join("eval.json");
    std::fs::write(&path, serde_json::to_string_pretty(&report)? + "\n")
        .with_context(|| format!("writing {}", path.display()))?;
    eprintln!("report: {}", path.display());
    Ok(())
}
