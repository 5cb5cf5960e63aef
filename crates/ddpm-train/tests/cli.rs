//! The `ddpm` command as a user meets it: a tiny train → sample round trip, Ctrl-C, and one
//! clear error (no panic) for each kind of bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn ddpm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ddpm"))
        .args(args)
        .output()
        .expect("running ddpm")
}

fn mnist() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/mnist")
        .display()
        .to_string()
}

/// The eval.json `ddpm eval` wrote into `dir`.
fn read_eval(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("eval.json")).unwrap()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const TINY: [&str; 10] = [
    "--preset", "tiny", "--t-max", "50", "--batch", "4", "--warmup", "1", "--seed", "3",
];

#[test]
fn tiny_train_then_sample_writes_every_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().display().to_string();
    let m = mnist();
    let mut args = vec!["train", "--data", &m, "--out", &out, "--steps", "5"];
    args.extend(TINY);
    let o = ddpm(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    for f in ["checkpoint.safetensors", "loss.csv", "loss.png"] {
        assert!(dir.path().join(f).is_file(), "{f} missing");
    }
    let ckpt = dir
        .path()
        .join("checkpoint.safetensors")
        .display()
        .to_string();
    let o = ddpm(&[
        "sample",
        "--checkpoint",
        &ckpt,
        "--count",
        "4",
        "--out",
        &out,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Unless told, `sample` draws with chapter 9's choice (DDIM η = 1, 50 steps, x̂₀ clipped)…
    for said in ["ddim:50:1 sampler", "noise from η = 1", "x̂₀ clipped"] {
        assert!(stderr(&o).contains(said), "{said}: {}", stderr(&o));
    }
    let png = image::open(dir.path().join("samples.png")).unwrap();
    assert_eq!(
        (png.width(), png.height()),
        (2 * (28 * 3 + 6) + 6, 2 * (28 * 3 + 6) + 6)
    );
    assert!(std::fs::read(dir.path().join("denoising.gif"))
        .unwrap()
        .starts_with(b"GIF89a"));
    // … and each choice can be undone.
    let plain = dir.path().join("plain").display().to_string();
    let o = ddpm(&[
        "sample",
        "--checkpoint",
        &ckpt,
        "--count",
        "4",
        "--sampler",
        "ancestral",
        "--clip-x0",
        "false",
        "--out",
        &plain,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("ancestral sampler, σ² = beta"));
    assert!(!stderr(&o).contains("clipped"), "{}", stderr(&o));
    // `eval` keeps chapter 8's reference: Algorithm 2, unclipped.
    let classifier = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../checkpoints/mnist-classifier.safetensors")
        .display()
        .to_string();
    let judged = dir.path().join("judged");
    let o = ddpm(&[
        "eval",
        "--checkpoint",
        &ckpt,
        "--data",
        &mnist(),
        "--classifier",
        &classifier,
        "--samples",
        "4",
        "--bpd-images",
        "0",
        "--reference",
        "100",
        "--out",
        &judged.display().to_string(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let report = read_eval(&judged);
    assert_eq!(report["sampler"], "ancestral");
    assert!(report.get("clip_x0").is_none(), "{report}");
    // Resuming a finished run changes nothing and says so through the step count.
    let o = ddpm(&["train", "--data", &mnist(), "--out", &out, "--resume"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("resuming at step 5 of 5"),
        "{}",
        stderr(&o)
    );
    // …but a resume that changes the settings is refused.
    let o = ddpm(&[
        "train",
        "--data",
        &mnist(),
        "--out",
        &out,
        "--resume",
        "--lr",
        "0.1",
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("--resume continues the run"),
        "{}",
        stderr(&o)
    );
}

/// SIGINT (what Ctrl-C sends) during training: the run saves a checkpoint, exits with success
/// and says how to continue.
#[cfg(unix)]
#[test]
fn ctrl_c_saves_a_checkpoint_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().display().to_string();
    let m = mnist();
    let mut args = vec![
        "train",
        "--data",
        &m,
        "--out",
        &out,
        "--steps",
        "1000000",
        "--checkpoint-every",
        "1000000",
    ];
    args.extend(TINY);
    let child = Command::new(env!("CARGO_BIN_EXE_ddpm"))
        .args(&args)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until training is under way (the loss log gets its first rows on disk only at a
    // checkpoint, so wait for the file and give it a moment).
    let start = Instant::now();
    while !dir.path().join("loss.csv").exists() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "training never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("--resume"), "{}", stderr(&o));
    let cfg =
        ddpm_train::checkpoint::read_config(&dir.path().join("checkpoint.safetensors")).unwrap();
    assert_eq!(cfg.steps, 1_000_000);
}

fn fails_with(args: &[&str], needles: &[&str]) {
    let o = ddpm(args);
    let err = stderr(&o);
    assert!(!o.status.success(), "{args:?} succeeded");
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    for n in needles {
        assert!(err.contains(n), "{args:?}: expected '{n}' in: {err}");
    }
}

#[test]
fn bad_input_gets_one_clear_error_each() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().display().to_string();
    let m = mnist();
    // Missing dataset, and a corrupt one.
    fails_with(
        &["train", "--data", "/no/such/folder", "--out", &out],
        &["/no/such/folder"],
    );
    let corrupt = dir.path().join("corrupt");
    std::fs::create_dir_all(&corrupt).unwrap();
    std::fs::write(corrupt.join("train-images-idx3-ubyte"), b"not an idx file").unwrap();
    std::fs::write(corrupt.join("train-labels-idx1-ubyte"), b"nor this").unwrap();
    fails_with(
        &[
            "train",
            "--data",
            &corrupt.display().to_string(),
            "--out",
            &out,
        ],
        &["train-images-idx3-ubyte"],
    );
    // Nonsensical settings.
    fails_with(
        &["train", "--data", &m, "--out", &out, "--steps", "0"],
        &["--steps"],
    );
    fails_with(
        &["train", "--data", &m, "--out", &out, "--batch", "0"],
        &["--batch"],
    );
    fails_with(
        &["train", "--data", &m, "--out", &out, "--t-max", "1"],
        &["--t-max"],
    );
    fails_with(
        &["train", "--data", &m, "--out", &out, "--preset", "huge"],
        &["huge"],
    );
    // Resuming where there is nothing to resume.
    fails_with(
        &["train", "--data", &m, "--out", &out, "--resume"],
        &["checkpoint.safetensors"],
    );
    // Checkpoints that are not: missing, not safetensors, truncated.
    let missing = dir.path().join("none.safetensors").display().to_string();
    fails_with(&["sample", "--checkpoint", &missing], &["none.safetensors"]);
    let text = dir.path().join("text.safetensors");
    std::fs::write(&text, "hello").unwrap();
    fails_with(
        &["sample", "--checkpoint", &text.display().to_string()],
        &["text.safetensors", "not a safetensors file"],
    );
    // Plain weights (the classifier's) are not a diffusion checkpoint.
    let classifier = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../checkpoints/mnist-classifier.safetensors");
    fails_with(
        &["sample", "--checkpoint", &classifier.display().to_string()],
        &["not a ddpm-course checkpoint"],
    );
    fails_with(
        &["sample", "--checkpoint", &missing, "--count", "0"],
        &["--count"],
    );
}

/// Many digits are sampled in batches and streamed: every format holds the same digits, pixel
/// for pixel, and a grid too large to draw, or an .npz too large for a zip, is refused up front
/// with the way out — never an abort.
#[test]
fn sample_streams_every_format_and_refuses_the_impossible() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().display().to_string();
    let m = mnist();
    let mut args = vec!["train", "--data", &m, "--out", &out, "--steps", "2"];
    args.extend(TINY);
    assert!(ddpm(&args).status.success());
    let ckpt = dir
        .path()
        .join("checkpoint.safetensors")
        .display()
        .to_string();
    let o = ddpm(&[
        "sample",
        "--checkpoint",
        &ckpt,
        "--count",
        "7",
        "--batch",
        "3",
        "--format",
        "grid,png,npz,idx",
        "--out",
        &out,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let read = |p: PathBuf| ddpm_data::formats::read_images(&p).unwrap().0;
    let idx = read(dir.path().join("samples-images-idx3-ubyte"));
    assert_eq!((idx.count, idx.rows, idx.cols), (7, 28, 28));
    assert_eq!(read(dir.path().join("samples_7x28x28x1.npz")), idx);
    assert_eq!(read(dir.path().join("samples")), idx);
    // The grid shows the same digits: its first tile is the first digit, three times enlarged.
    let grid = image::open(dir.path().join("samples.png"))
        .unwrap()
        .to_luma8();
    for (k, &p) in idx.image(0).iter().enumerate() {
        let (r, c) = ((k / 28) as u32, (k % 28) as u32);
        assert_eq!(grid.get_pixel(2 * 3 + 3 * c, 2 * 3 + 3 * r).0[0], p);
    }
    // The same seed and batch size give the same digits again.
    let again = dir.path().join("again");
    let again_s = again.display().to_string();
    let o = ddpm(&[
        "sample",
        "--checkpoint",
        &ckpt,
        "--count",
        "7",
        "--batch",
        "3",
        "--format",
        "idx",
        "--out",
        &again_s,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(read(again.join("samples-images-idx3-ubyte")), idx);
    fails_with(
        &["sample", "--checkpoint", &ckpt, "--count", "100000000"],
        &["--count 100000000", "--format png, npz or idx"],
    );
    fails_with(
        &[
            "sample",
            "--checkpoint",
            &ckpt,
            "--count",
            "100000000",
            "--format",
            "npz",
            "--out",
            &out,
        ],
        &["--format idx or png"],
    );
}

/// `ddpm eval --samples-from` judges digits from any of the formats exactly as it judges the
/// digits themselves: 40 held-out test digits, written in each format, get the numbers the
/// library gives for the same digits in memory.
#[test]
fn eval_judges_samples_from_every_format_alike() {
    use ddpm_data::formats::{Format, SampleWriter};
    use ddpm_data::{Dataset, Split};
    let dir = tempfile::tempdir().unwrap();
    let test = Dataset::load(mnist(), Split::Test).unwrap();
    let digits = test.images.select(&(9000..9040).collect::<Vec<_>>());
    let dev = dfdx::prelude::Cpu::default();
    let classifier = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../checkpoints/mnist-classifier.safetensors");
    let judge = ddpm_train::classifier::load_classifier(&dev, &classifier).unwrap();
    let want = ddpm_train::eval::judge_samples(&judge, &test, &digits, 1000, 0).unwrap();
    let want = serde_json::to_value(&want).unwrap();
    for format in Format::ALL {
        let sub = dir.path().join(format.name());
        let mut w = SampleWriter::create(&sub, format, digits.count, 28, 28, false).unwrap();
        w.write(&digits, None).unwrap();
        let path = w.finish().unwrap();
        let o = ddpm(&[
            "eval",
            "--samples-from",
            &path.display().to_string(),
            "--data",
            &mnist(),
            "--classifier",
            &classifier.display().to_string(),
            "--reference",
            "1000",
            "--out",
            &sub.display().to_string(),
        ]);
        assert!(o.status.success(), "{format}: {}", stderr(&o));
        let report = read_eval(&sub);
        for key in [
            "samples",
            "held_out_real",
            "noised_real_sigma_1",
            "classifier_test_accuracy",
        ] {
            assert_eq!(report[key], want[key], "{format}: {key}");
        }
        assert!(report["bits_per_dim"].is_null());
    }
}

/// SIGKILL (no chance to save) at random moments of a run, then `--resume`: the run ends with
/// the same checkpoint bytes and loss curve as a run never interrupted.
#[cfg(unix)]
#[test]
fn killed_runs_resume_to_the_same_checkpoint() {
    let m = mnist();
    let steps = "200";
    let run = |out: &str| {
        let mut args = vec![
            "train",
            "--data",
            &m,
            "--out",
            out,
            "--steps",
            steps,
            "--checkpoint-every",
            "7",
        ];
        args.extend(TINY);
        args.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let whole = tempfile::tempdir().unwrap();
    let whole_out = whole.path().display().to_string();
    let o = ddpm(
        &run(&whole_out)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert!(o.status.success(), "{}", stderr(&o));

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().display().to_string();
    let ckpt = dir.path().join("checkpoint.safetensors");
    let mut kills = 0;
    for (attempt, wait_ms) in [150u64, 400, 250].into_iter().enumerate() {
        let mut args = run(&out);
        if attempt > 0 {
            args.push("--resume".into());
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_ddpm"))
            .args(&args)
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Let it get under way (past its first checkpoint), then kill it without warning.
        let start = Instant::now();
        while !ckpt.exists() && start.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(wait_ms));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            kills += 1;
        }
        child.wait().unwrap();
    }
    let mut args = run(&out);
    args.push("--resume".into());
    let o = ddpm(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(kills >= 1, "the run finished before it could be killed");
    for f in ["checkpoint.safetensors", "loss.csv"] {
        let a = std::fs::read(whole.path().join(f)).unwrap();
        let b = std::fs::read(dir.path().join(f)).unwrap();
        assert!(a == b, "{f} differs after {kills} kills");
    }
}

/// `ddpm plan` runs each named run into its folder; run again, it resumes the training (which
/// is finished, so nothing changes) instead of starting over; a bad line is named.
#[test]
fn a_plan_runs_and_carries_on() {
    let dir = tempfile::tempdir().unwrap();
    let m = mnist();
    let plan = dir.path().join("tiny.plan");
    std::fs::write(
        &plan,
        format!(
            "# one tiny training\nruns/tiny train --data {m} --steps 3 {}\n",
            TINY.join(" ")
        ),
    )
    .unwrap();
    let results = dir.path().join("results");
    let (p, r) = (plan.display().to_string(), results.display().to_string());
    let o = ddpm(&["plan", &p, "--results", &r]);
    assert!(o.status.success(), "{}", stderr(&o));
    let ckpt = results.join("runs/tiny/checkpoint.safetensors");
    let first = std::fs::read(&ckpt).unwrap();
    let o = ddpm(&["plan", &p, "--results", &r]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("--resume"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&ckpt).unwrap(), first);

    std::fs::write(&plan, "runs/x sample --count 3\n").unwrap();
    fails_with(
        &["plan", &p, "--results", &r],
        &["tiny.plan, line 1", "'sample' is not a plan command"],
    );
}
