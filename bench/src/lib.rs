//! What the bench programs share: a process started as Lambda starts a function, in a
//! cgroup that counts its CPU and can cap it as Lambda does.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use tokio::process::{Child, Command};

/// The folder of the running bench program, where the release binaries it starts are.
pub fn bin_dir() -> anyhow::Result<PathBuf> {
    Ok(std::env::current_exe()?
        .parent()
        .context("the bench's own folder")?
        .to_path_buf())
}

/// Lambda gives a function CPU in proportion to its memory: one vCPU at 1,769 MB.
pub const MB_PER_VCPU: f64 = 1769.0;

/// The cgroup (v1) every start runs in: `cpuacct` counts its CPU time, `cpu` holds its quota.
/// A child joins it by being forked from a thread that is in it (v1 groups hold threads).
pub struct CpuGroup {
    join: [File; 2],
    back: [File; 2],
    usage: PathBuf,
    quota: PathBuf,
    /// The quota as a share of one core, when one is set.
    pub share: Option<f64>,
}

impl CpuGroup {
    /// `None` where cgroups cannot be made here (not root, or no v1 `cpu`/`cpuacct`).
    pub fn new(memory_mb: Option<f64>) -> anyhow::Result<Option<Self>> {
        let root = Path::new("/sys/fs/cgroup");
        let (acct, cpu) = (root.join("cpuacct"), root.join("cpu"));
        let group = "eventkit-bench";
        if std::fs::create_dir_all(acct.join(group)).is_err()
            || std::fs::create_dir_all(cpu.join(group)).is_err()
        {
            anyhow::ensure!(
                memory_mb.is_none(),
                "COLDSTART_MEMORY_MB needs cgroup v1 `cpu` and `cpuacct` at /sys/fs/cgroup (as root)"
            );
            return Ok(None);
        }
        // Where this process's threads are now, to go back to after each fork.
        let own = std::fs::read_to_string("/proc/self/cgroup")?;
        let own_path = |controller: &str| {
            own.lines()
                .filter_map(|l| {
                    let mut fields = l.splitn(3, ':').skip(1);
                    fields.next().zip(fields.next())
                })
                .find(|(c, _)| c.split(',').any(|c| c == controller))
                .map_or("/".to_owned(), |(_, p)| p.to_owned())
        };
        let share = memory_mb.map(|mb| mb / MB_PER_VCPU);
        std::fs::write(cpu.join(group).join("cpu.cfs_period_us"), "100000")?;
        let tasks = |dir: PathBuf| File::options().write(true).open(dir.join("tasks"));
        let own_dir = |base: &Path, c: &str| base.join(own_path(c).trim_start_matches('/'));
        let this = Self {
            join: [tasks(acct.join(group))?, tasks(cpu.join(group))?],
            back: [
                tasks(own_dir(&acct, "cpuacct"))?,
                tasks(own_dir(&cpu, "cpu"))?,
            ],
            usage: acct.join(group).join("cpuacct.usage"),
            quota: cpu.join(group).join("cpu.cfs_quota_us"),
            share,
        };
        this.cap(share)?;
        Ok(Some(this))
    }

    /// Caps the group at `share` of one core from now on (`None`: no cap). Lambda runs a
    /// function's init with a full core and its invocations at its memory's share.
    pub fn cap(&self, share: Option<f64>) -> anyhow::Result<()> {
        let quota = share.map_or("-1".to_owned(), |s| format!("{:.0}", s * 100_000.0));
        std::fs::write(&self.quota, quota)?;
        Ok(())
    }

    /// Nanoseconds of CPU every task of the group has used so far.
    pub fn usage_ns(&self) -> anyhow::Result<u64> {
        Ok(std::fs::read_to_string(&self.usage)?.trim().parse()?)
    }

    /// Spawns `command` from this thread moved into the group ("0" moves the writing
    /// thread), then moves the thread back: the child starts, and stays, in the group.
    pub fn spawn(&self, command: &mut Command) -> anyhow::Result<Child> {
        for f in &self.join {
            (&*f).write_all(b"0")?;
        }
        let child = command.spawn();
        for f in &self.back {
            (&*f).write_all(b"0")?;
        }
        Ok(child?)
    }
}

/// The variables Lambda sets for a function (`provided.al2023`), with `api` as its Runtime API.
pub fn lambda_env(function: &str, api: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_LAMBDA_RUNTIME_API", api.to_owned()),
        ("AWS_LAMBDA_FUNCTION_NAME", function.to_owned()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".into()),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{function}"),
        ),
        (
            "AWS_LAMBDA_LOG_STREAM_NAME",
            "2026/12/03/[$LATEST]bench".into(),
        ),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into()),
        ("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_DEFAULT_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "ASIABENCH".into()),
        ("AWS_SECRET_ACCESS_KEY", "bench".into()),
        ("AWS_SESSION_TOKEN", "bench".into()),
        ("LAMBDA_TASK_ROOT", "/var/task".into()),
        ("_HANDLER", "bootstrap".into()),
        ("TZ", ":UTC".into()),
        ("PATH", "/usr/local/bin:/usr/bin:/bin".into()),
    ]
}
