//! Vault as a secret store, against a real OpenBao dev server: an AppRole login with a least-privilege
//! policy, the KV version 2 read, provenance and precedence, the failure policy per environment (a wrong
//! secret id, a denied path, a missing path, a stopped server), `keel check`'s report, `keel healthcheck`
//! leaving the store alone, and canaries that never show.
//!
//! These tests run when `TEST_BAO` names the `bao` binary (`.ci/secrets-setup` installs it and `.ci/run`
//! sets it), and fail rather than skip when it is set but the server does not start. TLS and time limits
//! are in `vault_transport.rs`.

use serde_json::{Value, json};

use crate::bao::{self, Bao};
use crate::helpers::Outcome;
use crate::stores::{self, keel};
use keel_server::{EXIT_CONFIG, EXIT_FAILURE, EXIT_SUCCESS};

const SECRET_KEY: &str = "canary-vault-secret-key-5e1c-0123456789abcdef";
const ADMIN_TOKEN: &str = "canary-vault-admin-token-9a7b-0123456789";

/// A dev server holding `secret/keel/<environment>` for each of `environments`, and role `keel` that may
/// read only `readable`. Returns the server and the variables that point keel at it.
fn vault_with(environments: &[&str], readable: &str) -> Option<(Bao, Vec<(String, String)>)> {
    let bao = Bao::start(&bao::binary()?);
    for environment in environments {
        bao.put_secret(
            &format!("keel/{environment}"),
            json!({ "secret_key": SECRET_KEY, "admin_token": ADMIN_TOKEN }),
        );
    }
    let (role_id, secret_id) = bao.approle_reading(readable);
    // The secret id arrives through a file, as an orchestrator would mount it.
    let secret_id_file = bao.folder.path().join("secret_id");
    std::fs::write(&secret_id_file, format!("{secret_id}\n")).unwrap();
    let vars = vec![
        ("VAULT_ADDR".to_owned(), bao.addr.clone()),
        ("VAULT_ROLE_ID".to_owned(), role_id),
        (
            "VAULT_SECRET_ID_FILE".to_owned(),
            secret_id_file.display().to_string(),
        ),
    ];
    Some((bao, vars))
}

fn assert_no_canary(outcome: &Outcome) {
    stores::assert_no_canary(outcome, &[SECRET_KEY, ADMIN_TOKEN]);
}

fn show_config(outcome: &Outcome) -> Value {
    assert_eq!(outcome.code, EXIT_SUCCESS, "{}", outcome.stderr);
    assert_no_canary(outcome);
    serde_json::from_str(&outcome.stdout).unwrap()
}

#[test]
fn approle_reads_the_environments_secret_into_its_keys_and_names_each_field_as_the_source() {
    let Some((_bao, vars)) = vault_with(&["production"], "keel/production") else {
        return;
    };
    // Production refuses the built-in secret key: it starts only because Vault gave a real one.
    let args = [
        "--env",
        "production",
        "show-config",
        "--all",
        "--explain",
        "--json",
    ];
    let shown = show_config(&keel(&args, &vars, &[]));
    assert_eq!(
        shown["security.secret_key"],
        json!({ "value": "***", "source": "vault:secret/keel/production#secret_key" })
    );
    assert_eq!(
        shown["security.admin_token"]["source"],
        "vault:secret/keel/production#admin_token"
    );
    assert_eq!(shown["secrets.vault.role_id"]["value"], "***");
    assert_eq!(
        shown["secrets.vault.secret_id"]["source"],
        format!("secret file {} (named by VAULT_SECRET_ID_FILE)", vars[2].1)
    );
}

#[test]
fn vault_beats_secret_files_and_loses_to_environment_variables() {
    let Some((bao, mut vars)) = vault_with(&["testing"], "keel/testing") else {
        return;
    };
    vars.extend(stores::files_and_a_variable(bao.folder.path()));
    let args = [
        "--env",
        "testing",
        "show-config",
        "--all",
        "--explain",
        "--json",
    ];
    let shown = show_config(&keel(&args, &vars, &[]));
    stores::assert_store_between_files_and_variables(
        &shown,
        "vault:secret/keel/testing#secret_key",
    );
}

#[test]
fn check_reports_the_store_reachable_signed_in_and_the_names_it_read() {
    let Some((bao, vars)) = vault_with(&["testing"], "keel/testing") else {
        return;
    };
    let outcome = keel(&["--env", "testing", "check"], &vars, &[]);
    assert_no_canary(&outcome);
    let expected = format!(
        "ok    secret store vault: secret/keel/testing at {}: reachable, signed in by AppRole login, 2 key(s) read: admin_token, secret_key",
        bao.addr
    );
    assert!(outcome.stdout.contains(&expected), "{}", outcome.stdout);
}

/// (what, the variable set instead of keel's own, the path read when it is not the environment's, the
/// cause after the store's location)
type FailureCase = (
    &'static str,
    (&'static str, &'static str),
    Option<&'static str>,
    &'static str,
);

/// Runs `show-config` in `environment` with `vars` and `extra`; returns the outcome.
fn show(environment: &str, vars: &[(String, String)], extra: &[(&str, &str)]) -> Outcome {
    keel(&["--env", environment, "show-config"], vars, extra)
}

#[test]
fn a_store_that_cannot_be_read_stops_production_with_exit_78_and_only_warns_in_development() {
    // The policy reads every path under keel/production, so keel/production/none is missing, not denied.
    let Some((mut bao, vars)) = vault_with(&["production"], "keel/production*") else {
        return;
    };
    let addr = bao.addr.clone();
    let location = |path: &str| format!("secret store vault (secret/{path} at {addr})");
    let wrong_secret_id = "a-wrong-secret-id-0000-canary";
    let cases: [FailureCase; 3] = [
        (
            "a wrong secret id",
            ("VAULT_SECRET_ID", wrong_secret_id),
            None,
            "the AppRole login was refused (HTTP 400): check VAULT_ROLE_ID and VAULT_SECRET_ID, and that the secret id has not expired",
        ),
        (
            "a path the policy denies",
            ("APP_SECRETS__VAULT__PATH", "keel/staging"),
            Some("keel/staging"),
            "the token may not read it (HTTP 403): give the role a policy with read on secret/data/keel/staging, or check VAULT_TOKEN",
        ),
        (
            "a missing path",
            ("APP_SECRETS__VAULT__PATH", "keel/production/none"),
            Some("keel/production/none"),
            "no secret there (HTTP 404): write it (bao kv put -mount=secret keel/production/none secret_key=…), or set secrets.vault.path",
        ),
    ];
    for (what, (name, value), path, cause) in cases {
        // The wrong secret id replaces the file that holds the right one.
        let vars: Vec<(String, String)> = vars
            .iter()
            .filter(|(set, _)| name != "VAULT_SECRET_ID" || set != "VAULT_SECRET_ID_FILE")
            .cloned()
            .collect();
        let failed = show("production", &vars, &[(name, value)]);
        assert_eq!(failed.code, EXIT_CONFIG, "{what}: {}", failed.stderr);
        let production_path = path.unwrap_or("keel/production");
        let expected = format!(
            "keel: configuration error: {}: {cause}\n",
            location(production_path)
        );
        assert_eq!(failed.stderr, expected, "{what}");
        assert!(
            !failed.stderr.contains(wrong_secret_id),
            "{}",
            failed.stderr
        );
        assert_no_canary(&failed);

        let warned = show("development", &vars, &[(name, value)]);
        assert_eq!(warned.code, EXIT_SUCCESS, "{what}: {}", warned.stderr);
        let development_path = path.unwrap_or("keel/development");
        assert!(
            warned
                .stderr
                .contains(&format!("keel: warning: {}: ", location(development_path))),
            "{what}: {}",
            warned.stderr
        );
        assert_no_canary(&warned);
    }

    bao.stop();
    let failed = show("production", &vars, &[]);
    assert_eq!(failed.code, EXIT_CONFIG, "{}", failed.stderr);
    assert!(
        failed.stderr.starts_with(&format!(
            "keel: configuration error: {}: cannot reach the server (",
            location("keel/production")
        )),
        "{}",
        failed.stderr
    );
    let warned = show("development", &vars, &[]);
    assert_eq!(warned.code, EXIT_SUCCESS, "{}", warned.stderr);
    assert!(
        warned.stderr.contains("; going on without its values"),
        "{}",
        warned.stderr
    );
    // `check` reports the store among the other checks instead of stopping at it.
    let checked = keel(&["--env", "testing", "check"], &vars, &[]);
    assert_eq!(checked.code, EXIT_FAILURE, "{}", checked.stderr);
    let line = format!(
        "FAIL  secret store vault: secret/keel/testing at {addr}: cannot reach the server ("
    );
    assert!(checked.stdout.contains(&line), "{}", checked.stdout);
    assert!(
        checked.stdout.contains("ok    listen address"),
        "{}",
        checked.stdout
    );
    // In production the settings the store would have given are missing too: both are said, in one run.
    let checked = keel(&["--env", "production", "check"], &vars, &[]);
    assert_eq!(checked.code, EXIT_CONFIG, "{}", checked.stderr);
    let first = format!(
        "keel: configuration error: {}: cannot reach the server (",
        location("keel/production")
    );
    assert!(checked.stderr.starts_with(&first), "{}", checked.stderr);
    assert!(
        checked
            .stderr
            .contains("\nsecurity.secret_key (set by built-in defaults (profiles/default.toml)): "),
        "{}",
        checked.stderr
    );
}

#[test]
fn healthcheck_never_reads_the_store() {
    let Some((mut bao, vars)) = vault_with(&[], "keel/production") else {
        return;
    };
    bao.stop();
    // Production with the store down and no secret key: any command that read the store or all the
    // settings would exit 78; the probe only finds nothing listening.
    let outcome = keel(
        &[
            "--env",
            "production",
            "--set",
            "server.port=1",
            "healthcheck",
            "--timeout-secs",
            "2",
        ],
        &vars,
        &[],
    );
    assert_eq!(outcome.code, EXIT_FAILURE, "{}", outcome.stderr);
    assert!(
        outcome.stderr.starts_with("keel: unhealthy"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn a_served_app_keeps_vault_values_out_of_its_logs_and_ops_config() {
    let Some((_bao, vars)) = vault_with(&["testing"], "keel/testing") else {
        return;
    };
    stores::served_app_keeps_canaries_out(
        &vars,
        ADMIN_TOKEN,
        "vault:secret/keel/testing#admin_token",
        &[SECRET_KEY, ADMIN_TOKEN],
    );
}
