//! The `keel` binary: hands the process's arguments, environment and standard streams to
//! [`keel_server::run`] and exits with the code it returns.

use std::process::ExitCode;

fn main() -> ExitCode {
    let code = keel_server::run(
        std::env::args_os(),
        keel_config::Vars::from_process(),
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    );
    ExitCode::from(code)
}
