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

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{ArgMatches, FromArgMatches};
use ddpm_data::formats::Format;
use ddpm_data::Split;
use ddpm_train::cli::*;
use ddpm_train::commands::{self, Dev};
use ddpm_train::{with_preset, TrainConfig};

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
    a.check(given)?;
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
