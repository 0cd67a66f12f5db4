//! Command definitions (clap derive) and dispatch.

mod model_cmds;
mod run_cmds;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

/// rmbench: learn binary energy-based models fast, and measure what each objective costs and buys.
#[derive(Parser, Debug)]
#[command(name = "rmbench", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub cmd: Cmd,
}

/// Options every command takes.
#[derive(Args, Debug, Clone)]
pub struct Global {
    /// rayon threads (default: all cores).
    #[arg(long, global = true)]
    pub threads: Option<usize>,
    /// Kernel instruction set: scalar, avx2, avx512 or auto.
    #[arg(long, global = true, default_value = "auto")]
    pub isa: String,
    /// MLP dense products: f32; bf16, the flipped rows' products as differences from their base
    /// row in 16 bits (bf16 on AMX tiles where the CPU has them and `RMBENCH_AMX` is not 0, else
    /// fp16 on AVX512-FP16 CPUs unless `RMBENCH_FP16` is 0, else bf16 `vdpbf16ps` on AVX512-BF16,
    /// else int16 fixed point `vpmaddwd` on AVX2; recorded as `+amx-bf16`, `+fp16`, `+bf16` or
    /// `+i16` on the ISA column); or bf16x3, every hidden→hidden product (base and flipped rows,
    /// forward, backward and weight gradient) as three bf16 products hi·hi + hi·lo + lo·hi, each
    /// within 3·2⁻¹⁶ of exact: f32-class results, faster than f32 on AMX tiles only
    /// (`+amx-bf16x3`).
    #[arg(long, global = true, default_value = "f32", value_parser = rmbench_kernels::bf16::Precision::NAMES)]
    pub precision: String,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Run a sweep over models, dimensions, batch sizes, sample counts, objectives and threads
    /// (default: the embedded small sweep), writing CSV rows and plots.
    Sweep(run_cmds::SweepArgs),
    /// Join shard CSVs of one sweep, checking that no point is missing or doubled.
    Merge(run_cmds::MergeArgs),
    /// Redraw plots from CSVs alone.
    Plot(run_cmds::PlotArgs),
    /// Time training steps of one configuration and print one JSON line.
    StepBench(run_cmds::StepBenchArgs),
    /// Measure (and cache) the machine's dense f32 GEMM peak and memory bandwidth.
    Peak(run_cmds::PeakArgs),
    /// Train a model and write its training curve (CSV) and final weights (safetensors).
    Train(model_cmds::TrainArgs),
    /// Energies, all single-flip ΔE and input gradients of a model on data, as safetensors.
    Energy(model_cmds::EnergyArgs),
    /// Loss and parameter gradient of an objective on data, averaged over repeats, as safetensors.
    Grad(model_cmds::GradArgs),
    /// Evaluate a model on data: log Z, NLL, MMD (JSON; optionally append a CSV row).
    Eval(model_cmds::EvalArgs),
    /// Generate a dataset and write it to a file (text or .npy).
    Data(model_cmds::DataArgs),
    /// Write the model density and the data histogram over the plane for a 2-D toy dataset (CSV).
    Density(model_cmds::DensityArgs),
    /// Draw samples from a model by Gibbs sweeps from uniform starts and write them (text or .npy).
    Sample(model_cmds::SampleArgs),
}

/// Installs the global rayon pool and the ISA, then runs the command.
pub fn run(cli: Cli) -> Result<()> {
    let isa = rmbench_kernels::Isa::parse(&cli.global.isa).map_err(anyhow::Error::msg).context("--isa")?;
    rmbench_kernels::simd::set_isa(isa).map_err(anyhow::Error::msg).context("--isa")?;
    let precision = rmbench_kernels::bf16::Precision::parse(&cli.global.precision).map_err(anyhow::Error::msg)?;
    rmbench_kernels::bf16::set_precision_default(precision).map_err(anyhow::Error::msg).context("--precision")?;
    if let Some(t) = cli.global.threads {
        anyhow::ensure!(t > 0, "--threads must be at least 1");
        rayon::ThreadPoolBuilder::new().num_threads(t).build_global().context("--threads")?;
    }
    match cli.cmd {
        // A sweep measures each point in a pool of its own (entered from this thread, which then
        // just waits); running it from a worker of another pool would leave that worker spinning
        // beside the measured threads.
        cmd @ Cmd::Sweep(_) => dispatch(cmd),
        // Everything else runs on a worker of the global pool: parallel regions then start from
        // inside the pool (a local deque) instead of being injected from a blocked main thread,
        // which was put to sleep and woken around each of the ≈50 regions of an MLP step.
        cmd => rayon::scope(|_| dispatch(cmd)),
    }
}

fn dispatch(cmd: Cmd) -> Result<()> {
    match cmd {
        Cmd::Sweep(a) => run_cmds::sweep(a),
        Cmd::Merge(a) => run_cmds::merge(a),
        Cmd::Plot(a) => run_cmds::plot(a),
        Cmd::StepBench(a) => run_cmds::step_bench(a),
        Cmd::Peak(a) => run_cmds::peak(a),
        Cmd::Train(a) => model_cmds::train(a),
        Cmd::Energy(a) => model_cmds::energy(a),
        Cmd::Grad(a) => model_cmds::grad(a),
        Cmd::Eval(a) => model_cmds::eval(a),
        Cmd::Data(a) => model_cmds::data(a),
        Cmd::Density(a) => model_cmds::density(a),
        Cmd::Sample(a) => model_cmds::sample(a),
    }
}

/// A progress bar on stderr, hidden when stderr is not a terminal.
pub fn progress(len: u64, what: &str) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let pb = indicatif::ProgressBar::new(len);
    pb.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({elapsed}<{eta})")
            .expect("static template")
            .progress_chars("=> "),
    );
    pb.set_message(what.to_string());
    pb
}
