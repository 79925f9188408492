//! How keel reaches Vault: HTTPS verified against the public roots (an OpenBao dev server with a CA of its
//! own is refused, which shows the rustls/ring path runs) and, with `VAULT_CACERT`, against a private CA
//! too (the same server is then reached, and a file that is no CA certificate is refused); and a server
//! that never answers — Vault's or SSM's — given up after `secrets.timeout_secs` (tried twice) or
//! `secrets.startup_timeout_secs`.
//!
//! The TLS test runs when `TEST_BAO` names the `bao` binary; the time limits need no store and always run.

use crate::bao::{self, Bao};
use crate::helpers::run_keel;
use keel_server::EXIT_CONFIG;

#[test]
fn an_https_address_is_verified_and_a_certificate_from_an_unknown_ca_refused() {
    let Some(binary) = bao::binary() else {
        return;
    };
    let bao = Bao::start_tls(&binary);
    let ca_file = bao.ca_file().display().to_string();
    let not_a_ca = bao.folder.path().join("not-a-ca.pem");
    std::fs::write(&not_a_ca, "not a certificate\n").unwrap();
    let not_a_ca = not_a_ca.display().to_string();
    let cases = [
        // The public roots do not include the dev server's CA.
        (
            None,
            "cannot reach the server (TLS: invalid peer certificate: UnknownIssuer)",
        ),
        // Trusting the server's CA, keel reaches it: the handshake succeeds and Vault itself refuses
        // the made-up token.
        (
            Some(ca_file.as_str()),
            "the token may not read it (HTTP 403)",
        ),
        // A file that holds no certificate is named, with what to give instead.
        (
            Some(not_a_ca.as_str()),
            &format!(
                "cannot use the CA certificate {not_a_ca} (VAULT_CACERT, secrets.vault.cacert): it holds no CERTIFICATE block: give the PEM file of the CA that signed the server's certificate\n"
            ),
        ),
    ];
    for (cacert, cause) in cases {
        let vars = [
            ("VAULT_ADDR", bao.addr.as_str()),
            ("VAULT_TOKEN", "a-token-for-a-server-keel-must-not-trust"),
        ];
        let vars: Vec<(&str, &str)> = vars
            .into_iter()
            .chain(cacert.map(|path| ("VAULT_CACERT", path)))
            .collect();
        let outcome = run_keel(&["--env", "production", "show-config"], &vars, None);
        assert_eq!(outcome.code, EXIT_CONFIG, "{}", outcome.stderr);
        let expected = format!(
            "keel: configuration error: secret store vault (secret/keel/production at {}): {cause}",
            bao.addr
        );
        assert!(outcome.stderr.starts_with(&expected), "{}", outcome.stderr);
    }
}

#[test]
fn a_server_that_never_answers_is_given_up_after_the_timeout_and_the_startup_deadline() {
    // Needs no store: a listener that never reads or answers (the kernel completes the connection).
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("http://{}", silent.local_addr().unwrap());
    // Vault over keel's own transport, and SSM through the AWS SDK's client: the same limits hold.
    let stores: [(String, Vec<(&str, &str)>); 2] = [
        (
            format!("secret store vault (secret/keel/production at {addr})"),
            vec![("VAULT_ADDR", addr.as_str()), ("VAULT_TOKEN", "a-token")],
        ),
        (
            format!("secret store ssm (/keel/production/ in eu-west-1 at {addr})"),
            vec![
                ("APP_SECRETS__SSM__ENABLED", "true"),
                ("AWS_REGION", "eu-west-1"),
                ("AWS_ENDPOINT_URL_SSM", addr.as_str()),
                ("AWS_ACCESS_KEY_ID", "AKIAKEELTESTS"),
                ("AWS_SECRET_ACCESS_KEY", "a-dummy-secret"),
            ],
        ),
    ];
    // (timeout, start-up deadline, the cause)
    let cases = [
        (
            "1",
            "5",
            "no answer within 1 s (secrets.timeout_secs), twice: check the address, or raise the timeout",
        ),
        (
            "2",
            "1",
            "reading took longer than 1 s (secrets.startup_timeout_secs): check the server, or raise it",
        ),
    ];
    for (location, vars) in &stores {
        for (timeout, deadline, cause) in cases {
            let outcome = run_keel(
                &[
                    "--env",
                    "production",
                    "--set",
                    &format!("secrets.timeout_secs={timeout}"),
                    "--set",
                    &format!("secrets.startup_timeout_secs={deadline}"),
                    "show-config",
                ],
                vars,
                None,
            );
            assert_eq!(outcome.code, EXIT_CONFIG, "{}", outcome.stderr);
            assert_eq!(
                outcome.stderr,
                format!("keel: configuration error: {location}: {cause}\n")
            );
        }
    }
}
