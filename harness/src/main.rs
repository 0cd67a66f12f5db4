//! The `rmbench` command-line tool: a thin clap layer over the harness library.
//!
//! Every command prints one line naming the file, key or step at fault and exits non-zero on bad
//! input. `--threads` sizes the rayon pool (default: all cores), `--isa` forces a kernel path.

mod cli;

use clap::Parser;

#[global_allocator]
static ALLOC: rmbench_harness::alloc_count::CountingAlloc = rmbench_harness::alloc_count::CountingAlloc;

fn main() {
    let args = cli::Cli::parse();
    if let Err(e) = cli::run(args) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
