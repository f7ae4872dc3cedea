//! The README's commands, run as written. Every ```sh block the README marks with
//! `<!-- readme-test -->` runs from the repository root against the deployed stack (after
//! `make deploy-local`); a block marked `<!-- readme-test: scratch -->` runs in a scratch
//! copy of the workspace (it creates files), sharing this workspace's `target/` and
//! `build/` so nothing is compiled or installed twice. A block marked
//! `<!-- readme-test: no-account -->` runs from the root without its `sam deploy` lines,
//! which need a real AWS account: the `sam build` before them stands in, in SAM's debug
//! build mode (`SAM_BUILD_MODE=debug`; a release build of every function would take a
//! quarter of an hour here and proves nothing more about the template). Each block runs
//! under `bash -euo pipefail`: the first command that fails fails the test, with its output.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    /// From the repository root, against the deployed stack.
    Root,
    /// In a scratch copy of the workspace.
    Scratch,
    /// From the root, without the lines that need an AWS account.
    NoAccount,
}

struct Block {
    line: usize,
    kind: Kind,
    script: String,
}

/// Lines that need a real AWS account; a `no-account` block runs without them.
fn needs_account(line: &str) -> bool {
    line.trim_start().starts_with("sam deploy")
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn marked_blocks(readme: &str) -> Vec<Block> {
    let lines: Vec<&str> = readme.lines().collect();
    let mut blocks = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let kind = match line.trim() {
            "<!-- readme-test -->" => Kind::Root,
            "<!-- readme-test: scratch -->" => Kind::Scratch,
            "<!-- readme-test: no-account -->" => Kind::NoAccount,
            _ => continue,
        };
        assert_eq!(
            lines.get(i + 1).map(|l| l.trim()),
            Some("```sh"),
            "README.md:{}: a readme-test mark must sit right above a ```sh block",
            i + 1
        );
        let body: Vec<&str> = lines[i + 2..]
            .iter()
            .take_while(|l| l.trim() != "```")
            .copied()
            .collect();
        let script = if kind == Kind::NoAccount {
            assert!(
                body.iter().any(|l| needs_account(l)),
                "README.md:{}: a no-account block has no `sam deploy` line to leave out",
                i + 1
            );
            body.into_iter()
                .filter(|l| !needs_account(l))
                .collect::<Vec<_>>()
        } else {
            body
        };
        blocks.push(Block {
            line: i + 3,
            kind,
            script: script.join("\n"),
        });
    }
    blocks
}

/// Runs `script` in `dir` in its own process group, which is killed afterwards (a block may
/// start a watcher in the background); `Err` with the output when it fails or times out.
fn run(
    script: &str,
    dir: &Path,
    env: &[(&str, String)],
    limit: Duration,
) -> Result<String, String> {
    let log = tempfile_path("readme-block.log");
    let out = std::fs::File::create(&log).unwrap();
    let mut child = Command::new("setsid")
        .args(["bash", "-euo", "pipefail", "-c", script])
        .current_dir(dir)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .expect("setsid and bash are on the PATH");
    let started = Instant::now();
    // Wait for the block to exit WITHOUT reaping it: while it is a zombie its pid (the
    // group's id) stays reserved, so the group kill below cannot reach a stranger that
    // got the pid after a wrap-round (pids wrap at 32768 here, within minutes under load).
    let finished = loop {
        if is_zombie(child.id()) {
            break true;
        }
        if started.elapsed() > limit {
            break false;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    // Ask a watcher the block left running to stop (as Ctrl-C would), then make sure.
    signal_group("INT", child.id());
    std::thread::sleep(Duration::from_secs(2));
    signal_group("KILL", child.id());
    let status = child.wait().ok().filter(|_| finished);
    let output = std::fs::read_to_string(&log).unwrap_or_default();
    match status {
        Some(s) if s.success() => Ok(output),
        Some(s) => Err(format!("exited {s}:\n{output}")),
        None => Err(format!("still running after {limit:?}:\n{output}")),
    }
}

/// Sends `signal` to the process group `pgid`, and to nothing else.
fn signal_group(signal: &str, pgid: u32) {
    // `--` matters: procps-ng's kill reads `-12345` after the signal as the option `-1`
    // (every process there is) plus junk, so `kill -INT -12345` interrupts the machine.
    let _ = Command::new("kill")
        .args([&format!("-{signal}"), "--", &format!("-{pgid}")])
        .stderr(Stdio::null())
        .status();
}

#[test]
fn a_group_signal_reaches_that_group_only() {
    // SIGWINCH: ignored by default, so a mistake reaches nobody else in harm's way. A
    // stranger and a target each note the signal; pids beginning with 1 to 9 all qualify.
    let note = |name: &str| {
        let file = tempfile_path(name);
        let _ = std::fs::remove_file(&file);
        let child = Command::new("setsid")
            .args([
                "bash",
                "-c",
                &format!(
                    "trap 'echo got >> {}' WINCH; for i in $(seq 100); do sleep 0.1; done",
                    file.display()
                ),
            ])
            .spawn()
            .unwrap();
        (child, file)
    };
    let (mut stranger, stranger_file) = note("stranger");
    let (mut target, target_file) = note("target");
    std::thread::sleep(Duration::from_millis(300)); // the traps are set
    signal_group("WINCH", target.id());
    let deadline = Instant::now() + Duration::from_secs(5);
    while !target_file.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300)); // a stray signal would land by now
    for c in [&mut stranger, &mut target] {
        let _ = c.kill();
        let _ = c.wait();
    }
    assert!(target_file.exists(), "the target group got nothing");
    assert!(
        !stranger_file.exists(),
        "a process outside the group got the signal"
    );
}

/// Whether `pid` has exited but not been reaped (state `Z` in `/proc/<pid>/stat`).
fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| Some(s.rsplit_once(')')?.1.trim_start().starts_with('Z')))
        .unwrap_or(false)
}

fn tempfile_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("eventkit-{}-{name}", std::process::id()))
}

/// The workspace as git sees it (tracked and untracked-but-not-ignored files), copied;
/// `build/` links to this workspace's tools.
fn scratch_copy() -> PathBuf {
    let root = root();
    // One level down, so a block may write beside the copy (`DIR=..`) and it all goes after.
    let dir = tempfile_path("scratch").join("eventkit");
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
    let files = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(&root)
        .output()
        .expect("git");
    for file in files.stdout.split(|b| *b == 0).filter(|f| !f.is_empty()) {
        let rel = Path::new(std::str::from_utf8(file).unwrap());
        let (from, to) = (root.join(rel), dir.join(rel));
        if from.is_file() {
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(&from, &to).unwrap();
        }
    }
    std::os::unix::fs::symlink(root.join("build"), dir.join("build")).unwrap();
    dir
}

#[test]
fn the_readme_marks_its_runnable_blocks() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let blocks = marked_blocks(&readme);
    assert!(
        blocks
            .iter()
            .any(|b| b.kind == Kind::Root && b.script.contains("dlq list")),
        "the on-call walk-through is marked"
    );
    assert!(
        blocks
            .iter()
            .any(|b| b.kind == Kind::Root && b.script.contains("make local-invoke")),
        "the development loop is marked"
    );
    assert!(
        blocks
            .iter()
            .any(|b| b.kind == Kind::Scratch && b.script.contains("make new-function")),
        "scaffolding is marked"
    );
    assert!(
        blocks
            .iter()
            .any(|b| b.kind == Kind::Root && b.script.contains("cargo lambda deploy")),
        "deploying one function with cargo-lambda is marked"
    );
    let sam = blocks
        .iter()
        .find(|b| b.kind == Kind::NoAccount)
        .expect("the SAM block is marked no-account");
    assert!(
        sam.script.contains("sam build") && !sam.script.contains("sam deploy"),
        "the SAM block runs `sam build` and leaves `sam deploy` out:\n{}",
        sam.script
    );
}

#[test]
#[ignore = "needs the deployed stack: make readme-test"]
fn every_marked_readme_block_runs_as_written() {
    let root = root();
    assert!(
        root.join("build/stack-outputs.env").exists(),
        "no deployed stack: run `make deploy-local` first (or `make readme-test`)"
    );
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let mut failures = Vec::new();
    for block in marked_blocks(&readme) {
        let (dir, env) = match block.kind {
            Kind::Scratch => (
                scratch_copy(),
                vec![(
                    "CARGO_TARGET_DIR",
                    root.join("target").display().to_string(),
                )],
            ),
            Kind::NoAccount => (
                root.clone(),
                vec![
                    ("SAM_BUILD_MODE", "debug".to_owned()),
                    ("SAM_CLI_TELEMETRY", "0".to_owned()),
                    // With make's CARGO_BUILD_TARGET, the tests' own build: nothing recompiles.
                    ("CARGO_LAMBDA_COMPILER", "cargo".to_owned()),
                ],
            ),
            Kind::Root => (root.clone(), vec![]),
        };
        let started = Instant::now();
        let outcome = run(&block.script, &dir, &env, Duration::from_secs(900));
        let outcome = match (outcome, block.kind) {
            (Ok(_), Kind::NoAccount) => every_function_built(&root),
            (outcome, _) => outcome.map(drop),
        };
        match outcome {
            Ok(()) => eprintln!("README.md:{}: ran in {:.0?}", block.line, started.elapsed()),
            Err(e) => failures.push(format!("README.md:{}: {e}", block.line)),
        }
        if block.kind == Kind::Scratch {
            let _ = std::fs::remove_dir_all(dir.parent().unwrap());
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// After `sam build`: one `bootstrap` under `.aws-sam/build/` for each function the
/// template builds with cargo-lambda, so no function was skipped or misnamed.
fn every_function_built(root: &Path) -> Result<(), String> {
    let template = std::fs::read_to_string(root.join("infra/template.yaml")).unwrap();
    let functions = template
        .lines()
        .filter(|l| l.trim() == "BuildMethod: rust-cargolambda")
        .count();
    let built = std::fs::read_dir(root.join(".aws-sam/build"))
        .map_err(|e| format!("sam build left no .aws-sam/build: {e}"))?
        .filter_map(Result::ok)
        .filter(|d| d.path().join("bootstrap").is_file())
        .count();
    if functions > 0 && built == functions {
        Ok(())
    } else {
        Err(format!(
            "sam build built {built} bootstrap(s); the template has {functions} Rust functions"
        ))
    }
}

/// Runs a `tools/dev` script with `env`; its exit code and stderr.
fn dev_script(script: &str, env: &[(&str, &str)]) -> (i32, String) {
    let out = Command::new("bash")
        .arg(root().join("tools/dev").join(script))
        .envs(env.iter().copied())
        .output()
        .expect("bash");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_loop_refuses_bad_input_with_a_one_line_fix() {
    let (code, err) = dev_script("new-function.sh", &[("NAME", "Order Audit")]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("is not a name the kit takes") && err.contains("NAME=order-audit"),
        "{err}"
    );
    let (code, err) = dev_script("new-function.sh", &[("NAME", "p2p-consumer")]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("functions/p2p-consumer already exists"),
        "{err}"
    );
    let (code, err) = dev_script(
        "new-function.sh",
        &[("NAME", "order-audit"), ("DIR", "functions")],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("is inside this workspace") && err.contains("make new-function"),
        "{err}"
    );
    assert!(!root().join("functions/order-audit").exists());

    let (code, err) = dev_script(
        "local-invoke.sh",
        &[
            ("FN", "p2p-consumer"),
            ("EVENT", "events/p2p-consumer/no-such.json"),
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("no event file events/p2p-consumer/no-such.json")
            && err.contains("sqs-open-and-post.json"),
        "{err}"
    );
    let (code, err) = dev_script("local-invoke.sh", &[("FN", "p2p-consumer")]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("say which event"), "{err}");

    let (code, err) = dev_script("watch.sh", &[("FN", "no-such-function")]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("no function crate `no-such-function`") && err.contains("p2p-consumer"),
        "{err}"
    );
    let (code, err) = dev_script("watch.sh", &[("FN", "")]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("say which function"), "{err}");
}

/// `make <target> ARGS` planned with `make -n` (nothing runs), as a user's shell would call
/// it: none of the calling make's variables leak in. Its exit code, stdout and stderr.
fn make_plan(args: &[&str]) -> (i32, String, String) {
    let out = Command::new("make")
        .arg("-n")
        .args(args)
        .current_dir(root())
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .env_remove("MAKELEVEL")
        .env_remove("STACK")
        .output()
        .expect("make");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_aws_targets_want_a_named_stack_and_plan_nothing_local() {
    for target in ["aws-deploy", "aws-test", "aws-destroy", "aws-outputs"] {
        let (code, _, err) = make_plan(&[target]);
        assert_ne!(code, 0, "{target} ran without STACK");
        assert!(
            err.contains("STACK is not set") && err.contains(&format!("make {target} STACK=")),
            "{target}: {err}"
        );
    }
    let (code, plan, err) = make_plan(&["aws-test", "STACK=t"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        plan.contains("EVENTKIT_TARGET=aws")
            && plan.contains("STACK_OUTPUTS=")
            && plan.contains("build/stack-outputs-t.env"),
        "{plan}"
    );
    for local in [
        "LOCALSTACK_ENDPOINT",
        "AWS_ACCESS_KEY_ID",
        "AWS_ENDPOINT_URL",
        ":4566",
    ] {
        assert!(!plan.contains(local), "aws-test plans `{local}`:\n{plan}");
    }
    let (code, plan, err) = make_plan(&["aws-deploy", "STACK=t", "DRY_RUN=1"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        plan.contains("STACK=\"t\"") && plan.contains("DRY_RUN=\"1\"") && !plan.contains(":4566"),
        "{plan}"
    );
    // The script itself refuses an empty or malformed name before any AWS call.
    for (stack, says) in [
        ("", "STACK is not set"),
        ("my stack", "a stack name here is"),
    ] {
        let out = Command::new("bash")
            .arg(root().join("tools/deploy/aws.sh"))
            .arg("deploy")
            .env("STACK", stack)
            .output()
            .expect("bash");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(says), "{err}");
    }
}
