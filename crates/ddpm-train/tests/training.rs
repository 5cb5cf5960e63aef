//! The training loop end to end on a tiny UNet: checkpoint → load → sample, exact resumption,
//! the divergence guard, and Adam against dfdx's.

use std::path::PathBuf;

use ddpm_data::{Dataset, Images, Split};
use ddpm_sampling::SampleOptions;
use ddpm_schedule::BetaSchedule;
use ddpm_train::adam::{AdamHyper, AdamState};
use ddpm_train::checkpoint::named_tensors;
use ddpm_train::net::{SmallNet, TinyNet};
use ddpm_train::sample::SampleJob;
use ddpm_train::{
    fresh, train, Checkpoint, CheckpointError, Outcome, Preset, RunOptions, TrainConfig, TrainError,
};
use ddpm_vlb::ModelVariance;
use dfdx::prelude::*;
use rand::SeedableRng;

type Tiny = <TinyNet as BuildOnDevice<Cpu, f32>>::Built;
type Small = <SmallNet as BuildOnDevice<Cpu, f32>>::Built;

fn digits(n: usize) -> Images {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist");
    let train = Dataset::load(root, Split::Train).unwrap();
    train.images.select(&(0..n).collect::<Vec<_>>())
}

fn tiny_config(steps: usize) -> TrainConfig {
    TrainConfig {
        preset: Preset::Tiny,
        schedule: BetaSchedule::Linear,
        t_max: 50,
        steps,
        batch: 4,
        lr: 2e-3,
        warmup: 2,
        ..Default::default()
    }
}

fn params(m: &Tiny) -> Vec<f32> {
    named_tensors(m, "")
        .into_iter()
        .flat_map(|(_, _, v)| v)
        .collect()
}

#[test]
fn tiny_run_trains_saves_loads_and_samples() {
    let dir = tempfile::tempdir().unwrap();
    let dev = Cpu::seed_from_u64(0);
    let opts = RunOptions::new(dir.path());
    let run = fresh::<Cpu, Tiny>(&dev, tiny_config(6));
    let (run, outcome, losses) = train(&dev, &digits(64), run, &opts).unwrap();
    assert_eq!(outcome, Outcome::Finished);
    assert_eq!((run.step, losses.len()), (6, 6));
    assert!(losses.iter().all(|l| l.is_finite()));
    // The loss curve was written, one row per step.
    let csv = ddpm_train::train::read_loss_csv(&dir.path().join("loss.csv")).unwrap();
    assert_eq!(csv.len(), 6);
    assert_eq!(csv[5], (6, losses[5]));
    // The checkpoint holds this run: same weights, EMA, step and config.
    let template: Tiny = fresh::<Cpu, Tiny>(&Cpu::seed_from_u64(9), tiny_config(6)).model;
    let loaded = Checkpoint::load(&opts.checkpoint_path(), &template).unwrap();
    assert_eq!(loaded.step, 6);
    assert_eq!(loaded.config, run.config);
    assert_eq!(params(&loaded.model), params(&run.model));
    assert_eq!(params(&loaded.ema), params(&run.ema));
    assert_ne!(params(&loaded.ema), params(&loaded.model));
    // And samples: 3 images, with the frames asked for.
    let s = loaded.config.noise_schedule();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let opts = SampleOptions {
        variance: ModelVariance::Beta,
        keep: &[50, 10, 0],
        ..Default::default()
    };
    let job = SampleJob::one_batch(3, opts);
    let out = ddpm_train::sample::sample(&dev, &loaded.ema, &s, &job, &mut rng);
    assert_eq!(
        (out.images.count, out.images.rows, out.images.cols),
        (3, 28, 28)
    );
    assert_eq!(
        out.frames.iter().map(|f| f.0).collect::<Vec<_>>(),
        vec![50, 10, 0]
    );
    assert_eq!(out.frames[2].1, out.images);
}

/// A run interrupted after 3 of 8 steps and resumed from its checkpoint takes exactly the
/// steps the uninterrupted run takes: same losses, same final weights.
#[test]
fn interrupted_and_resumed_run_equals_uninterrupted() {
    let data = digits(64);
    let whole_dir = tempfile::tempdir().unwrap();
    let dev = Cpu::seed_from_u64(1);
    let run = fresh::<Cpu, Tiny>(&dev, tiny_config(8));
    let (whole, _, whole_losses) =
        train(&dev, &data, run, &RunOptions::new(whole_dir.path())).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let dev = Cpu::seed_from_u64(1);
    let mut opts = RunOptions::new(dir.path());
    opts.stop_after = Some(3);
    let run = fresh::<Cpu, Tiny>(&dev, tiny_config(8));
    let (_, outcome, first) = train(&dev, &data, run, &opts).unwrap();
    assert_eq!(outcome, Outcome::Interrupted { step: 3 });
    // A new process: a fresh device and model, everything else from the checkpoint.
    let dev = Cpu::seed_from_u64(77);
    let template: Tiny = fresh::<Cpu, Tiny>(&dev, tiny_config(8)).model;
    let resumed = Checkpoint::load(&opts.checkpoint_path(), &template).unwrap();
    assert_eq!(resumed.step, 3);
    let (done, outcome, rest) = train(&dev, &data, resumed, &RunOptions::new(dir.path())).unwrap();
    assert_eq!(outcome, Outcome::Finished);
    assert_eq!([first, rest].concat(), whole_losses);
    assert_eq!(params(&done.model), params(&whole.model));
    assert_eq!(params(&done.ema), params(&whole.ema));
    // The loss curve reads as one run.
    let csv = ddpm_train::train::read_loss_csv(&dir.path().join("loss.csv")).unwrap();
    assert_eq!(csv.iter().map(|r| r.1).collect::<Vec<_>>(), whole_losses);
}

/// An absurd learning rate makes the loss overflow: training stops with a message naming the
/// step and the checkpoint, and the last checkpoint written before it is intact.
#[test]
fn a_diverging_run_stops_and_keeps_its_last_good_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let dev = Cpu::seed_from_u64(2);
    let mut opts = RunOptions::new(dir.path());
    opts.checkpoint_every = 1;
    let mut cfg = tiny_config(50);
    cfg.lr = 1e12;
    cfg.warmup = 0;
    let run = fresh::<Cpu, Tiny>(&dev, cfg.clone());
    let err = train(&dev, &digits(64), run, &opts).unwrap_err();
    let TrainError::NonFinite { step, .. } = err else {
        panic!("expected a divergence error, got {err}");
    };
    let msg = err.to_string();
    assert!(
        msg.contains("diverged") && msg.contains("checkpoint.safetensors"),
        "{msg}"
    );
    assert!(
        step >= 2,
        "diverged at step {step}: the first step should be finite"
    );
    let template: Tiny = fresh::<Cpu, Tiny>(&dev, cfg).model;
    let last = Checkpoint::load(&opts.checkpoint_path(), &template).unwrap();
    assert_eq!(last.step, step - 1);
    assert!(params(&last.model).iter().all(|v| v.is_finite()));
}

/// The saveable Adam takes the same steps as dfdx's own Adam. Both are fed the same gradients
/// (computed on ours; a clone keeps its tensors' ids, so they apply to theirs as well): with
/// gradients recomputed on each copy, the rounding of the two forward passes differs with the
/// CPU's vector width and Adam's normalisation amplifies it (a 1.2e-5 gap on an AVX-512 CPU
/// after 3 steps, none on AVX2), which says nothing about the optimiser.
#[test]
fn adam_matches_dfdx_adam() {
    use dfdx::optim::{Adam, AdamConfig, Optimizer};
    let dev = Cpu::seed_from_u64(3);
    let mut ours: Tiny = fresh::<Cpu, Tiny>(&dev, tiny_config(1)).model;
    let mut theirs = ours.clone();
    let mut state = AdamState::new(&ours);
    let mut opt = Adam::new(
        &theirs,
        AdamConfig {
            lr: 1e-2,
            ..Default::default()
        },
    );
    let x: Tensor<(usize, usize, usize, usize), f32, Cpu> = dev.sample_normal_like(&(2, 1, 28, 28));
    for _ in 0..3 {
        let g1 = ours
            .forward(x.leaky_trace(), &[3, 9])
            .square()
            .mean()
            .backward();
        state.update(&mut ours, &g1, 1e-2, AdamHyper::default(), None);
        opt.update(&mut theirs, &g1).unwrap();
    }
    let (a, b) = (params(&ours), params(&theirs));
    let worst = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max);
    assert!(worst < 1e-5, "largest parameter difference {worst}");
    assert!(a.iter().zip(&b).any(|(x, y)| x != &0.0 && y != &0.0));
}

/// Every way a checkpoint can be wrong gets its own error naming the file.
#[test]
fn bad_checkpoints_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let dev = Cpu::seed_from_u64(4);
    let run = fresh::<Cpu, Tiny>(&dev, tiny_config(1));
    let good = dir.path().join("good.safetensors");
    run.save(&good).unwrap();
    let template = run.model.clone();
    let load = |p: &std::path::Path| Checkpoint::<Tiny>::load(p, &template).unwrap_err();

    let missing = dir.path().join("missing.safetensors");
    assert!(matches!(load(&missing), CheckpointError::Io { .. }));

    let bytes = std::fs::read(&good).unwrap();
    let truncated = dir.path().join("truncated.safetensors");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let e = load(&truncated);
    assert!(matches!(e, CheckpointError::NotSafetensors { .. }), "{e}");
    assert!(e.to_string().contains("truncated.safetensors"));

    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "hello").unwrap();
    assert!(matches!(
        load(&text),
        CheckpointError::NotSafetensors { .. }
    ));

    // A safetensors file that is not a checkpoint: plain dfdx weights.
    let plain = dir.path().join("plain.safetensors");
    run.model.save_safetensors(&plain).unwrap();
    let e = load(&plain);
    assert!(matches!(e, CheckpointError::NotACheckpoint { .. }), "{e}");

    // A checkpoint of another UNet.
    let small_template: Small = fresh::<Cpu, Small>(&dev, TrainConfig::default()).model;
    let e = Checkpoint::<Small>::load(&good, &small_template).unwrap_err();
    assert!(matches!(e, CheckpointError::Mismatch { .. }), "{e}");
    assert!(e.to_string().contains("does not fit"), "{e}");
}

/// The committed checkpoint (`checkpoints/mnist-small/`, chapter 8) has learned to denoise:
/// its EMA weights' L_simple on 256 test digits at random steps is far below an untrained
/// UNet's (which predicts roughly nothing: loss ≈ 1) — measured 0.022 against 1.17.
#[test]
fn committed_checkpoint_predicts_the_noise_in_test_digits() {
    use ddpm_train::checkpoint::read_config;
    use rand::Rng;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../checkpoints/mnist-small");
    let path = root.join("checkpoint.safetensors");
    let config = read_config(&path).unwrap();
    assert_eq!(config.preset, Preset::Small);
    let dev = Cpu::seed_from_u64(0);
    let template: Small = fresh::<Cpu, Small>(&dev, config.clone()).model;
    let ckpt = Checkpoint::load(&path, &template).unwrap();
    let test = Dataset::load(root.join("../../data/mnist"), Split::Test).unwrap();
    let s = config.noise_schedule();
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let n = 256;
    let x0 = ddpm_data::images_to_tensor(&dev, &test.images.select(&(0..n).collect::<Vec<_>>()))
        .reshape_like(&(n, 784));
    let ts: Vec<usize> = (0..n).map(|_| rng.gen_range(1..=config.t_max)).collect();
    let eps = ddpm_schedule::randn(&dev, (n, 784), &mut rng);
    let x_t = ddpm_forward::q_sample(&s, &x0, &ts, &eps).reshape_like(&(n, 1, 28, 28));
    let loss = |m: &Small| {
        let e = m.forward(x_t.clone(), &ts).reshape_like(&(n, 784));
        ddpm_loss::l_simple(e, &eps).array()
    };
    let (trained, untrained) = (loss(&ckpt.ema), loss(&template));
    eprintln!("L_simple on test digits: trained {trained:.4}, untrained {untrained:.4}");
    assert!(trained < 0.05, "trained loss {trained}");
    assert!(untrained > 0.5, "untrained loss {untrained}");
}

/// DDIM inversion on real digits (chapter 9): eight test digits encoded with the committed
/// model into x_T by `ddim_invert`, then decoded by DDIM with η = 0, in 20, 50 and 200 steps.
/// Measured (rms error in [−1, 1] units; code mean square): 0.193 / 0.066 / 0.0155 and 0.67 /
/// 0.68 / 0.76 (1,000 steps, run once: 0.0035 and 0.83). Asserted: the error falls at least
/// fivefold from 20 to 200 steps and ends below 0.03 (4 grey levels); the codes' mean square is
/// below 1 (the learned flow packs digits into a narrower code than noise) but above 0.5, and
/// grows with the steps.
#[test]
fn ddim_inversion_round_trips_test_digits() {
    use ddpm_sampling::{ddim_invert, Ddim, Diffusion, Sampler};
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../checkpoints/mnist-small");
    let path = root.join("checkpoint.safetensors");
    let config = ddpm_train::checkpoint::read_config(&path).unwrap();
    let dev = Cpu::seed_from_u64(0);
    let template: Small = fresh::<Cpu, Small>(&dev, config.clone()).model;
    let ckpt = Checkpoint::load(&path, &template).unwrap();
    let test = Dataset::load(root.join("../../data/mnist"), Split::Test).unwrap();
    let s = config.noise_schedule();
    let d = Diffusion::new(&s);
    let n = 8;
    let x0 = ddpm_data::images_to_tensor(&dev, &test.images.select(&(0..n).collect::<Vec<_>>()))
        .reshape_like(&(n, 784));
    let digits = x0.as_vec();
    let mut errors = Vec::new();
    for steps in [20, 50, 200] {
        let code = ddim_invert(&ckpt.ema, &d, x0.clone(), steps);
        let power = code
            .as_vec()
            .iter()
            .map(|&v| (v as f64).powi(2))
            .sum::<f64>()
            / (n * 784) as f64;
        let back = Ddim { steps, eta: 0.0 }
            .sample_from(
                &ckpt.ema,
                &d,
                code,
                &mut rand::rngs::StdRng::seed_from_u64(0),
                &[],
                None,
            )
            .x0;
        let sq: f64 = back
            .iter()
            .zip(&digits)
            .map(|(a, b)| (*a as f64 - *b as f64).powi(2))
            .sum();
        let rms = (sq / (n * 784) as f64).sqrt();
        eprintln!("{steps} steps: code mean square {power:.3}, rms round-trip error {rms:.4}");
        errors.push((rms, power));
    }
    assert!(
        errors[2].0 < errors[0].0 / 5.0,
        "round-trip errors {errors:?}"
    );
    assert!(errors[2].0 < 0.03, "round-trip errors {errors:?}");
    for k in 0..errors.len() {
        assert!(
            (0.5..1.0).contains(&errors[k].1),
            "code mean squares {errors:?}"
        );
    }
    assert!(errors[2].1 > errors[0].1, "code mean squares {errors:?}");
}

/// Two runs with the same config and seed write byte-identical checkpoint files (the metadata
/// and tensors in one canonical order), which the `safetensors` crate reads back.
#[test]
fn equal_runs_write_equal_checkpoint_files() {
    let data = digits(16);
    let mut files = Vec::new();
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    for dir in &dirs {
        let dev = Cpu::seed_from_u64(5);
        let run = fresh::<Cpu, Tiny>(&dev, tiny_config(2));
        train(&dev, &data, run, &RunOptions::new(dir.path())).unwrap();
        files.push(std::fs::read(dir.path().join("checkpoint.safetensors")).unwrap());
    }
    assert_eq!(files[0], files[1]);
    let st = ::safetensors::SafeTensors::deserialize(&files[0]).unwrap();
    assert!(st.names().iter().any(|n| n.starts_with("adam_m.")));
    // Saving the same run twice in one process gives the same bytes too.
    let template: Tiny = fresh::<Cpu, Tiny>(&Cpu::seed_from_u64(0), tiny_config(2)).model;
    let run = Checkpoint::load(&dirs[0].path().join("checkpoint.safetensors"), &template).unwrap();
    let again = dirs[0].path().join("again.safetensors");
    run.save(&again).unwrap();
    assert_eq!(std::fs::read(&again).unwrap(), files[0]);
}

/// x₀- and v-prediction runs train (their own targets: the loss falls), are recorded in the
/// checkpoint's config, and sample through their own conversion to ε̂: finite digits of the
/// right shape, different from an ε-model's from the same weights.
#[test]
fn x0_and_v_runs_train_and_sample() {
    use ddpm_loss::Objective;
    let data = digits(64);
    for objective in [Objective::X0, Objective::V] {
        let dir = tempfile::tempdir().unwrap();
        let dev = Cpu::seed_from_u64(6);
        let mut cfg = tiny_config(30);
        cfg.objective = objective;
        let run = fresh::<Cpu, Tiny>(&dev, cfg);
        let (run, _, losses) = train(&dev, &data, run, &RunOptions::new(dir.path())).unwrap();
        let (first, last) = (
            losses[..5].iter().sum::<f32>() / 5.0,
            losses[25..].iter().sum::<f32>() / 5.0,
        );
        assert!(last < first, "{objective}: loss {first} -> {last}");
        let config =
            ddpm_train::checkpoint::read_config(&dir.path().join("checkpoint.safetensors"))
                .unwrap();
        assert_eq!(config.objective, objective);
        let s = config.noise_schedule();
        let sample_as = |objective| {
            let opts = SampleOptions {
                objective,
                ..Default::default()
            };
            let job = SampleJob::one_batch(2, opts);
            ddpm_train::sample::sample(
                &dev,
                &run.ema,
                &s,
                &job,
                &mut rand::rngs::StdRng::seed_from_u64(1),
            )
            .images
        };
        let own = sample_as(objective);
        assert_eq!((own.count, own.rows, own.cols), (2, 28, 28));
        assert_ne!(
            own,
            sample_as(Objective::Eps),
            "{objective}: the objective is not used"
        );
    }
}

/// Min-SNR-γ weighting is the plain loss reweighted per image: with γ above every SNR an
/// ε-run's first loss is the plain one (weights of 1); with γ = 0.5 the weights
/// min(SNR_t, γ)/SNR_t are below 1, so the same first batch costs less; the weighted run still
/// learns, and its checkpoint records γ.
#[test]
fn min_snr_runs_reweight_the_loss_and_train() {
    let data = digits(64);
    let first_losses = |gamma: f64, steps: usize| {
        let dir = tempfile::tempdir().unwrap();
        let dev = Cpu::seed_from_u64(6);
        let mut cfg = tiny_config(steps);
        cfg.batch = 16;
        cfg.min_snr = gamma;
        let run = fresh::<Cpu, Tiny>(&dev, cfg);
        let (_, _, losses) = train(&dev, &data, run, &RunOptions::new(dir.path())).unwrap();
        let config =
            ddpm_train::checkpoint::read_config(&dir.path().join("checkpoint.safetensors"))
                .unwrap();
        assert_eq!(config.min_snr, gamma);
        losses
    };
    let plain = first_losses(0.0, 1)[0];
    let huge = first_losses(1e12, 1)[0];
    assert!((plain - huge).abs() <= 1e-6 * plain, "{plain} vs {huge}");
    let weighted = first_losses(0.5, 30);
    assert!(weighted[0] < 0.9 * plain, "{} vs {plain}", weighted[0]);
    let (first, last) = (
        weighted[..5].iter().sum::<f32>() / 5.0,
        weighted[25..].iter().sum::<f32>() / 5.0,
    );
    assert!(last < first, "loss {first} -> {last}");
}
