//! The `keel` binary. Everything is in the library, so the black-box tests can build an identical binary.

fn main() -> std::process::ExitCode {
    keel_server::main()
}
