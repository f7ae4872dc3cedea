//! `make bench`: cold start to the floor. Starts each function's release bootstrap as
//! Lambda would (the environment the template gives it, resolved by
//! `tools/bench/function_envs.py`; Lambda's own variables; a Runtime API on loopback) and
//! times exec to its first `GET .../invocation/next`, the end of its init; the median of
//! `COLDSTART_STARTS` (20) starts, taken round-robin so drift hits every row alike. The
//! floor is `echo-floor`, a bare `lambda_runtime` echo from the same release profile; a
//! second, `echo-sdk-floor`, adds the SDK's configuration and a DynamoDB client, what any
//! function calling AWS starts with.
//! Beside each: the bootstrap's size deflated (`gzip -6`, what a zip of it holds within
//! a hundred bytes). Reads the binaries next to its own executable, so build them first
//! (`make bench` does). Nothing here talks to AWS or LocalStack. `COLDSTART_ENV="K=V K2=V2"`
//! adds variables to every start, to try what a setting changes (every start has
//! `EVENTKIT_PREWARM=0`: no connection is made in init, since nothing answers here); `COLDSTART_ONLY=a,b`
//! starts only those functions' binaries (and the floors), to compare one function
//! before and after a change without building the others.
//!
//! CPU: where this process may create cgroups (v1 `cpu` and `cpuacct`, as root here), each
//! start runs in one, and the table adds its CPU time to the first `next` (user + system,
//! every thread, from `cpuacct.usage`). `COLDSTART_MEMORY_MB=128` also caps the group at
//! the share of a core Lambda gives that memory size (memory / 1,769 MB of one vCPU, by a
//! CFS quota), so the wall column shows what the CPU costs in latency at that size. Lambda
//! gives init a full core, so capped init walls are an upper bound; the cap is what the
//! first invocation (its TLS handshakes) runs under, which this bench does not run yet.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use eventkit_bench::{lambda_env, CpuGroup};
use eventkit_testkit::median;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::process::Command;

const NEXT: &str = "GET /2018-06-01/runtime/invocation/next ";

struct Target {
    label: String,
    binary: PathBuf,
    env: Vec<(String, String)>,
    starts: Vec<f64>,
    cpu: Vec<f64>,
}

/// `init-steps` run `rounds` times: each step's median, in the order the steps ran.
fn init_steps(
    binary: &Path,
    extra: &[(String, String)],
    rounds: usize,
) -> anyhow::Result<Vec<(String, f64)>> {
    let mut steps: Vec<(String, Vec<f64>)> = Vec::new();
    for _ in 0..rounds {
        let out = std::process::Command::new(binary)
            .env_clear()
            .envs(lambda_env("init-steps", "127.0.0.1:9"))
            .envs(extra.iter().cloned())
            .env("OTEL_TRACES_EXPORTER", "none")
            .output()
            .with_context(|| format!("cannot run {}", binary.display()))?;
        anyhow::ensure!(out.status.success(), "init-steps failed");
        for line in String::from_utf8_lossy(&out.stderr).lines() {
            let mut parts = line.split(' ').skip_while(|p| *p != "init-step").skip(1);
            if let (Some(name), Some(ms)) = (parts.next(), parts.next()) {
                let ms: f64 = ms.parse()?;
                match steps.iter_mut().find(|(n, _)| n == name) {
                    Some((_, v)) => v.push(ms),
                    None => steps.push((name.to_owned(), vec![ms])),
                }
            }
        }
    }
    Ok(steps.into_iter().map(|(n, v)| (n, median(&v))).collect())
}

/// Starts `target` once; the time from spawn to its first `next`, and the CPU time the
/// process used (in `group`), in milliseconds.
async fn start(
    target: &Target,
    listener: &TcpListener,
    group: Option<&CpuGroup>,
) -> anyhow::Result<(f64, Option<f64>)> {
    let api = listener.local_addr()?;
    let lambda_env = lambda_env(&target.label, &api.to_string());
    let mut command = Command::new(&target.binary);
    command
        .env_clear()
        // No connection opened in init: nothing here answers, and the connection's cost
        // is coldpath-bench's to measure, against LocalStack. `COLDSTART_ENV` may override.
        .env("EVENTKIT_PREWARM", "0")
        .envs(target.env.iter().cloned())
        .envs(lambda_env)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let used_before = group.map(CpuGroup::usage_ns).transpose()?;
    let began = Instant::now();
    let mut child = match group {
        Some(group) => group.spawn(&mut command),
        None => command.spawn().map_err(Into::into),
    }
    .with_context(|| format!("cannot start {}", target.binary.display()))?;
    // The runtime's first request on its first connection is `next`, unless init failed.
    let next = async {
        let (mut socket, _) = listener.accept().await?;
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = socket.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        if head.starts_with(NEXT.as_bytes()) {
            return Ok::<_, anyhow::Error>(began.elapsed());
        }
        // anything else (an init error report, say) ends this start
        let _ = socket
            .write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n")
            .await;
        anyhow::bail!(
            "asked `{}` before `next`",
            String::from_utf8_lossy(&head[..head.len().min(80)])
        );
    };
    let outcome = tokio::select! {
        took = next => took,
        status = child.wait() => Err(anyhow::anyhow!("exited before `next`: {}", status?)),
        _ = tokio::time::sleep(Duration::from_secs(10)) => Err(anyhow::anyhow!("no `next` within 10 s")),
    };
    let _ = child.start_kill();
    let output = child.wait_with_output().await?;
    // Read once the process is gone: all of its CPU, to the first `next` and the kill.
    let cpu_ms = match (group, used_before) {
        (Some(group), Some(before)) => Some((group.usage_ns()? - before) as f64 / 1e6),
        _ => None,
    };
    match outcome {
        Ok(took) => Ok((took.as_secs_f64() * 1000.0, cpu_ms)),
        Err(e) => Err(e.context(format!(
            "{} ({}): {}",
            target.label,
            target.binary.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        ))),
    }
}

fn deflated(binary: &Path) -> anyhow::Result<u64> {
    let out = std::process::Command::new("gzip")
        .args(["-6", "-c"])
        .arg(binary)
        .output()
        .context("gzip")?;
    anyhow::ensure!(out.status.success(), "gzip {} failed", binary.display());
    Ok(out.stdout.len() as u64)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let bin_dir = eventkit_bench::bin_dir()?;
    let python = std::env::var("BENCH_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("build/venv/bin/python"));
    let out = std::process::Command::new(&python)
        .arg(root.join("tools/bench/function_envs.py"))
        .arg(root.join("infra/template.yaml"))
        .output()
        .with_context(|| format!("{} tools/bench/function_envs.py", python.display()))?;
    anyhow::ensure!(
        out.status.success(),
        "function_envs.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let functions: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout)?;

    let mut targets = vec![
        Target {
            label: "floor: lambda_runtime echo".into(),
            binary: bin_dir.join("echo-floor"),
            env: Vec::new(),
            starts: Vec::new(),
            cpu: Vec::new(),
        },
        Target {
            label: "floor + SDK config and a DynamoDB client".into(),
            binary: bin_dir.join("echo-sdk-floor"),
            env: Vec::new(),
            starts: Vec::new(),
            cpu: Vec::new(),
        },
    ];
    let only: Option<Vec<String>> = std::env::var("COLDSTART_ONLY")
        .ok()
        .map(|v| v.split(',').map(|b| b.trim().to_owned()).collect());
    for f in &functions {
        if let Some(only) = &only {
            if !only
                .iter()
                .any(|b| f["binary"].as_str() == Some(b.as_str()))
            {
                continue;
            }
        }
        let env = f["env"]
            .as_object()
            .context("env")?
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
            .collect();
        targets.push(Target {
            label: format!(
                "{} ({})",
                f["function"].as_str().unwrap_or("?"),
                f["binary"].as_str().unwrap_or("?")
            ),
            binary: bin_dir.join(f["binary"].as_str().context("binary")?),
            env,
            starts: Vec::new(),
            cpu: Vec::new(),
        });
    }
    for t in &targets {
        anyhow::ensure!(
            t.binary.exists(),
            "{} is missing: build the release binaries first (`make bench` does, or `cargo build --release --workspace --bins`)",
            t.binary.display()
        );
    }

    let extra: Vec<(String, String)> = std::env::var("COLDSTART_ENV")
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    for t in targets.iter_mut() {
        t.env.extend(extra.iter().cloned());
    }
    let rounds: usize = std::env::var("COLDSTART_STARTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let memory_mb = match std::env::var("COLDSTART_MEMORY_MB") {
        Ok(v) => Some(
            v.parse::<f64>()
                .context("COLDSTART_MEMORY_MB: a number of MB, e.g. 128")?,
        ),
        Err(_) => None,
    };
    let group = CpuGroup::new(memory_mb)?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    for _ in 0..rounds {
        for t in targets.iter_mut() {
            let (took, cpu) = start(t, &listener, group.as_ref()).await?;
            t.starts.push(took);
            t.cpu.extend(cpu);
        }
    }

    let floor = median(&targets[0].starts);
    let floor_size = deflated(&targets[0].binary)?;
    let sdk_floor = median(&targets[1].starts);
    let cpu_floor = (!targets[0].cpu.is_empty()).then(|| median(&targets[0].cpu));
    println!(
        "Cold start: exec to the first Runtime API `next`, median of {rounds} starts; size = the bootstrap deflated (gzip -6){}",
        match (&group, group.as_ref().and_then(|g| g.share)) {
            (_, Some(share)) => format!("; CPU capped at {:.1}% of a core ({} MB)", share * 100.0, memory_mb.unwrap_or_default()),
            (Some(_), None) => "; CPU uncapped".to_owned(),
            (None, _) => "; no cgroup here: no CPU column".to_owned(),
        }
    );
    println!(
        "{:<52} {:>9} {:>9} {:>8} {:>10} {:>9} {:>10} {:>9} {:>9}",
        "", "median", "min", "/ floor", "/ SDK floor", "size", "over floor", "CPU", "/ floor"
    );
    let mut results = Vec::new();
    for t in &targets {
        let size = deflated(&t.binary)?;
        let min = t.starts.iter().copied().fold(f64::MAX, f64::min);
        let med = median(&t.starts);
        let cpu = (!t.cpu.is_empty()).then(|| median(&t.cpu));
        results.push(json!({"label": t.label, "ms": med, "bytes": size, "cpu_ms": cpu}));
        let cpu_cols = match (cpu, cpu_floor) {
            (Some(c), Some(f)) => format!(" {c:>6.2} ms {:>8.2}x", c / f),
            _ => String::new(),
        };
        println!(
            "{:<52} {med:>6.2} ms {min:>6.2} ms {:>7.2}x {:>9.2}x {:>6.2} MB {:>7.2} MB{cpu_cols}",
            t.label,
            med / floor,
            med / sdk_floor,
            size as f64 / 1e6,
            (size as f64 - floor_size as f64) / 1e6
        );
    }
    eventkit_testkit::record_bench(&json!({
        "bench": "coldstart", "starts": rounds, "memory_mb": memory_mb,
        "echo": results[0], "sdk_echo": results[1], "functions": results[2..],
    }))?;
    println!(
        "Where a function's init goes (`init-steps`: the steps of a function's main in a fresh process, median of {rounds}):"
    );
    for (step, ms) in init_steps(&bin_dir.join("init-steps"), &extra, rounds)? {
        println!("  {step:<14} {ms:>6.3} ms");
    }
    Ok(())
}
