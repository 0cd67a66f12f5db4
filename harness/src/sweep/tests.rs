//! Resume, failure rows, merge checks and the golden header of the sweep CSV.

use super::config::{expand, parse, shard};
use super::merge::merge;
use super::run::{done_ids, run_points};
use crate::csvio::header_of;
use std::path::PathBuf;

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rmbench-sweep-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const TINY: &str = r#"
name = "tiny"
steps = 2
warmup_steps = 0
quality_reps = 5
[[grid]]
model = ["quadratic", "mlp"]
hidden = [4]
layers = [1]
dim = [6, 10]
batch = [8]
samples = [2]
objective = ["rm", "ggis-basic"]
threads = [1]
"#;

#[test]
fn resumes_without_doubling_and_records_quality() {
    let dir = tmp("resume");
    let csv = dir.join("s.csv");
    let cfg = parse(TINY, "tiny").unwrap();
    let pts = expand(&cfg);
    let s1 = run_points(&cfg, &pts, &csv, |_, _, _| {}).unwrap();
    assert_eq!((s1.measured, s1.already_done, s1.failed), (pts.len(), 0, 0));
    let s2 = run_points(&cfg, &pts, &csv, |_, _, _| {}).unwrap();
    assert_eq!((s2.measured, s2.already_done), (0, pts.len()));
    // Simulate an interruption: keep the header and the first row only.
    let text = std::fs::read_to_string(&csv).unwrap();
    let kept: Vec<&str> = text.lines().take(2).collect();
    std::fs::write(&csv, kept.join("\n") + "\n").unwrap();
    let s3 = run_points(&cfg, &pts, &csv, |_, _, _| {}).unwrap();
    assert_eq!((s3.measured, s3.already_done), (pts.len() - 1, 1));
    let rows: Vec<super::schema::SweepRecord> = crate::csvio::read_rows(&csv).unwrap();
    assert_eq!(rows.len(), pts.len());
    assert_eq!(done_ids(&csv).unwrap().len(), pts.len());
    let q = rows.iter().find(|r| r.objective == "ggis-basic").unwrap();
    assert!(q.grad_cosine.unwrap() > 0.0 && q.step_ms_median.unwrap() > 0.0);
    // The quadratic ggis-basic loss estimate is exact (its gradient is not): zero loss bias.
    let quad = rows.iter().find(|r| r.model == "quadratic" && r.objective == "ggis-basic").unwrap();
    assert!(quad.loss_rel_bias.unwrap().abs() < 1e-5, "{:?}", quad.loss_rel_bias);
}

#[test]
fn a_failing_point_writes_an_error_row_and_the_sweep_goes_on() {
    let dir = tmp("fail");
    let csv = dir.join("s.csv");
    let cfg =
        parse(&TINY.replace("max_point_seconds", "x").replace("steps = 2", "steps = 2\nmax_point_seconds = 1e-9"), "t")
            .unwrap();
    let pts = expand(&cfg);
    let s = run_points(&cfg, &pts, &csv, |_, _, _| {}).unwrap();
    assert_eq!(s.failed, pts.len());
    let rows: Vec<super::schema::SweepRecord> = crate::csvio::read_rows(&csv).unwrap();
    assert!(rows.iter().all(|r| r.err.starts_with("skipped:") && r.step_ms_median.is_none()));
}

#[test]
fn merge_checks_missing_and_doubled_points() {
    let dir = tmp("merge");
    let cfg = parse(TINY, "tiny").unwrap();
    let pts = expand(&cfg);
    let shards: Vec<PathBuf> = (1..=2).map(|k| dir.join(format!("shard{k}.csv"))).collect();
    for (k, p) in shards.iter().enumerate() {
        run_points(&cfg, &shard(pts.clone(), k + 1, 2), p, |_, _, _| {}).unwrap();
    }
    let out = dir.join("merged.csv");
    assert_eq!(merge(&shards, Some(&cfg), &out).unwrap(), pts.len());
    let e = merge(&shards[..1], Some(&cfg), &out).unwrap_err().to_string();
    assert!(e.contains("missing from every shard"), "{e}");
    let e = merge(&[shards[0].clone(), shards[0].clone()], None, &out).unwrap_err().to_string();
    assert!(e.contains("is also in"), "{e}");
}

#[test]
fn golden_header() {
    let cfg = parse(TINY, "tiny").unwrap();
    let row = super::run::empty_row(&cfg, &expand(&cfg)[0]);
    let want = "schema_version,point_id,config,model,dim,hidden,layers,batch,samples,objective,without_replacement,\
warmup_steps,steps,step_ms_median,step_ms_q1,step_ms_q3,peak_bytes,flops_per_step,gflops,peak_gflops,frac_of_peak,\
quality_reps,grad_rel_bias,grad_rel_var,grad_cosine,loss_rel_bias,err,seed,finished_unix,cpu,cpu_features,isa,rustflags,\
profile,threads,git_rev,gemm_gflops_in_step,gemm_frac_of_peak,gemm_share";
    assert_eq!(header_of(&row).join(","), want);
}
