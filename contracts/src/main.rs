//! `eventkit-contracts write|check [DIR]`: generate `events/schemas/` from the code, or
//! check the committed folder against it (the compatibility gate). Exit 1 on a problem.

use std::path::PathBuf;
use std::process::ExitCode;

use eventkit_contracts::gate;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let command = args.next().unwrap_or_default();
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "events/schemas".into()));
    match command.as_str() {
        "write" => match gate::write(&dir) {
            Ok(written) => {
                for f in &written {
                    println!("wrote {}", dir.join(f).display());
                }
                println!("{}: {} file(s) written", dir.display(), written.len());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("eventkit-contracts: {e}");
                ExitCode::FAILURE
            }
        },
        "check" => match gate::check(&dir) {
            Ok(problems) if problems.is_empty() => {
                println!("{}: every schema matches the code", dir.display());
                ExitCode::SUCCESS
            }
            Ok(problems) => {
                for p in problems {
                    eprintln!("{p}");
                }
                ExitCode::FAILURE
            }
            Err(e) => {
                eprintln!("eventkit-contracts: {e}");
                ExitCode::FAILURE
            }
        },
        _ => {
            eprintln!("usage: eventkit-contracts write|check [DIR] (default events/schemas)");
            ExitCode::from(2)
        }
    }
}
