//! The `keel` binary as the black-box tests run it: the real one, plus the test-only routes.

fn main() -> std::process::ExitCode {
    keel_server::main_with(Some(keel_tests::test_routes))
}
