//! Prints chapter 9's tables from the committed results, as the book must show them:
//! `cargo run -p ddpm-advanced --example tables` (after running a plan, paste them in).

use std::path::Path;

use ddpm_advanced::ablation::{
    ablation_table, defaults_table, fewsteps_table, guidance_table, load_ablation, load_defaults,
    load_fewsteps, load_guidance, seeds_table,
};
use ddpm_advanced::figures::{samplers_dir, COMMITTED_T};
use ddpm_advanced::results::{load_sampler_results, sampler_table};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    println!("Sampling in fewer steps:\n");
    println!(
        "{}",
        sampler_table(&load_sampler_results(&samplers_dir(&root), COMMITTED_T)?)
    );
    println!("The ablation:\n");
    let ablation = load_ablation(&root)?;
    println!("{}", ablation_table(&ablation));
    println!("Over several seeds:\n");
    println!("{}", seeds_table(&ablation));
    println!("Learned variances in few steps:\n");
    println!("{}", fewsteps_table(&load_fewsteps(&root)?));
    println!("What the commands use:\n");
    println!("{}", defaults_table(&load_defaults(&root, COMMITTED_T)?));
    println!("Guidance:\n");
    println!("{}", guidance_table(&load_guidance(&root)?));
    Ok(())
}
