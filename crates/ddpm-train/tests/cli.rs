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
    let png = image::open(dir.path().join("samples.png")).unwrap();
    assert_eq!(
        (png.width(), png.height()),
        (2 * (28 * 3 + 6) + 6, 2 * (28 * 3 + 6) + 6)
    );
    assert!(std::fs::read(dir.path().join("denoising.gif"))
        .unwrap()
        .starts_with(b"GIF89a"));
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
