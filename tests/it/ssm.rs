//! The AWS SSM Parameter Store as a secret store, against a real moto server: SecureString parameters in
//! their keys with the parameter as provenance, precedence against secret files, variables and Vault,
//! pagination, a path with nothing under it, access denied and refused credentials (moto enforcing IAM),
//! a stopped server under each environment's policy, `keel check`'s report, and canaries that never show.
//!
//! These tests run when `TEST_MOTO` names the `moto_server` binary (`.ci/secrets-setup` installs it and
//! `.ci/run` sets it), and fail rather than skip when it is set but the server does not start.

use serde_json::{Value, json};

use crate::helpers::Outcome;
use crate::moto::{self, Moto, REGION};
use crate::stores::{self, keel};
use keel_server::{EXIT_CONFIG, EXIT_FAILURE, EXIT_SUCCESS};

const SECRET_KEY: &str = "canary-ssm-secret-key-7d2f-0123456789abcdef";
const ADMIN_TOKEN: &str = "canary-ssm-admin-token-3c8e-0123456789";
/// The dummy access key of a server that checks no credentials.
const ACCESS_KEY_SECRET: &str = "canary-ssm-access-key-secret-0123456789";

/// A server holding the secret key and the admin token under `/keel/<environment>/` for each of
/// `environments` (the admin token nested, so it reads as `security.admin_token`), and the variables
/// that point keel at it.
fn ssm_with(environments: &[&str]) -> Option<(Moto, Vec<(String, String)>)> {
    let moto = Moto::start(&moto::binary()?);
    for environment in environments {
        moto.put_secure_string(&format!("/keel/{environment}/SECRET_KEY"), SECRET_KEY);
        moto.put_secure_string(
            &format!("/keel/{environment}/security/admin_token"),
            ADMIN_TOKEN,
        );
    }
    let vars = variables(&moto, "keel-tests", ACCESS_KEY_SECRET);
    Some((moto, vars))
}

fn variables(moto: &Moto, key_id: &str, key_secret: &str) -> Vec<(String, String)> {
    [
        ("APP_SECRETS__SSM__ENABLED", "true"),
        ("AWS_REGION", REGION),
        ("AWS_ENDPOINT_URL_SSM", moto.endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", key_id),
        ("AWS_SECRET_ACCESS_KEY", key_secret),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value.to_owned()))
    .collect()
}

fn assert_no_canary(outcome: &Outcome) {
    stores::assert_no_canary(outcome, &[SECRET_KEY, ADMIN_TOKEN, ACCESS_KEY_SECRET]);
}

const SHOW_ALL: [&str; 4] = ["show-config", "--all", "--explain", "--json"];

fn show_config(environment: &str, vars: &[(String, String)], extra: &[(&str, &str)]) -> Value {
    let args: Vec<&str> = ["--env", environment].into_iter().chain(SHOW_ALL).collect();
    let outcome = keel(&args, vars, extra);
    assert_eq!(outcome.code, EXIT_SUCCESS, "{}", outcome.stderr);
    assert_no_canary(&outcome);
    serde_json::from_str(&outcome.stdout).unwrap()
}

fn location(moto: &Moto, path: &str) -> String {
    format!("{path} in {REGION} at {}", moto.endpoint)
}

#[test]
fn secure_strings_land_in_their_keys_and_name_the_parameter_as_the_source() {
    let Some((_moto, vars)) = ssm_with(&["production"]) else {
        return;
    };
    // Production refuses the built-in secret key: it starts only because SSM gave a real one.
    let shown = show_config("production", &vars, &[]);
    assert_eq!(
        shown["security.secret_key"],
        json!({ "value": "***", "source": "ssm:/keel/production/SECRET_KEY" })
    );
    assert_eq!(
        shown["security.admin_token"]["source"],
        "ssm:/keel/production/security/admin_token"
    );
    assert_eq!(shown["secrets.ssm.secret_access_key"]["value"], "***");
    assert_eq!(
        shown["secrets.ssm.path"],
        json!({ "value": "/keel/production/", "source": "built-in default (/app.name/environment/)" })
    );
}

#[test]
fn ssm_beats_secret_files_and_loses_to_environment_variables() {
    let Some((moto, mut vars)) = ssm_with(&["testing"]) else {
        return;
    };
    vars.extend(stores::files_and_a_variable(moto.folder.path()));
    let shown = show_config("testing", &vars, &[]);
    stores::assert_store_between_files_and_variables(&shown, "ssm:/keel/testing/SECRET_KEY");
}

#[test]
fn vault_wins_over_ssm_where_both_give_a_key() {
    let (Some(_), Some(bao_binary)) = (moto::binary(), crate::bao::binary()) else {
        return;
    };
    let Some((_moto, mut vars)) = ssm_with(&["testing"]) else {
        return;
    };
    let bao = crate::bao::Bao::start(&bao_binary);
    bao.put_secret(
        "keel/testing",
        json!({ "secret_key": "a-secret-key-from-vault-0123456789abcdef" }),
    );
    let (role_id, secret_id) = bao.approle_reading("keel/testing");
    vars.extend([
        ("VAULT_ADDR".to_owned(), bao.addr.clone()),
        ("VAULT_ROLE_ID".to_owned(), role_id),
        ("VAULT_SECRET_ID".to_owned(), secret_id),
    ]);
    let shown = show_config("testing", &vars, &[]);
    assert_eq!(
        shown["security.secret_key"]["source"],
        "vault:secret/keel/testing#secret_key"
    );
    assert_eq!(
        shown["security.admin_token"]["source"],
        "ssm:/keel/testing/security/admin_token"
    );
}

#[test]
fn every_page_is_read_and_an_unknown_name_is_an_error_naming_the_parameter() {
    let Some((moto, vars)) = ssm_with(&[]) else {
        return;
    };
    // SSM answers at most 10 parameters a page: 13 take two pages.
    for index in 1..=13 {
        moto.put_secure_string(&format!("/keel/testing/unknown_{index:02}"), "x");
    }
    let outcome = keel(&["--env", "testing", "show-config"], &vars, &[]);
    assert_eq!(outcome.code, EXIT_CONFIG, "{}", outcome.stderr);
    for index in 1..=13 {
        let expected = format!(
            "ssm:/keel/testing/unknown_{index:02}: \"unknown_{index:02}\" names no setting keel reads from a secret store"
        );
        assert!(outcome.stderr.contains(&expected), "{}", outcome.stderr);
    }
}

#[test]
fn a_path_with_nothing_under_it_warns_and_starts() {
    let Some((moto, vars)) = ssm_with(&["production"]) else {
        return;
    };
    let outcome = keel(&["--env", "testing", "show-config"], &vars, &[]);
    assert_eq!(outcome.code, EXIT_SUCCESS, "{}", outcome.stderr);
    let expected = format!(
        "keel: warning: secret store ssm ({}): it holds nothing there, so it gave no value: write the secrets into it, or check the path\n",
        location(&moto, "/keel/testing/")
    );
    assert!(outcome.stderr.contains(&expected), "{}", outcome.stderr);
    let checked = keel(&["--env", "testing", "check"], &vars, &[]);
    let line = format!(
        "ok    secret store ssm: {}: reachable, signed in by access key (AWS_ACCESS_KEY_ID), but it holds nothing there\n",
        location(&moto, "/keel/testing/")
    );
    assert!(checked.stdout.contains(&line), "{}", checked.stdout);
}

#[test]
fn access_denied_and_refused_credentials_stop_production_and_warn_in_development() {
    let Some(binary) = moto::binary() else {
        return;
    };
    // Seven set-up calls: one parameter and two users' three each; every later call is checked.
    let moto = Moto::start_enforcing_iam(&binary, 7);
    moto.put_secure_string("/keel/production/SECRET_KEY", SECRET_KEY);
    let (key_id, key_secret) =
        moto.user_allowed("keel", &["ssm:GetParametersByPath", "kms:Decrypt"]);
    let (other_id, other_secret) = moto.user_allowed("other", &["ssm:GetParameter"]);
    let vars = variables(&moto, &key_id, &key_secret);

    // The two actions of the documented policy are enough, signed with the user's key.
    let shown = show_config("production", &vars, &[]);
    assert_eq!(
        shown["security.secret_key"]["source"],
        "ssm:/keel/production/SECRET_KEY"
    );

    let denied = "access denied (AccessDenied): allow ssm:GetParametersByPath on the parameters under /keel/production/ (arn:aws:ssm:REGION:ACCOUNT:parameter/keel/production/*) and kms:Decrypt on their key";
    let refused = "AWS refused the credentials (InvalidClientTokenId): check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, or the role keel runs with";
    let cases = [
        (
            "a user whose policy lacks the action",
            [
                ("AWS_ACCESS_KEY_ID", other_id.as_str()),
                ("AWS_SECRET_ACCESS_KEY", other_secret.as_str()),
            ],
            denied,
        ),
        (
            "an unknown access key",
            [
                ("AWS_ACCESS_KEY_ID", "AKIAKEELTESTSUNKNOWN"),
                ("AWS_SECRET_ACCESS_KEY", key_secret.as_str()),
            ],
            refused,
        ),
    ];
    for (what, extra, cause) in cases {
        let path = "/keel/production/";
        let failed = keel(&["--env", "production", "show-config"], &vars, &extra);
        assert_eq!(failed.code, EXIT_CONFIG, "{what}: {}", failed.stderr);
        let expected = format!(
            "keel: configuration error: secret store ssm ({}): {cause}\n",
            location(&moto, path)
        );
        assert_eq!(failed.stderr, expected, "{what}");
        assert!(!failed.stderr.contains(&key_secret), "{}", failed.stderr);
        assert!(!failed.stderr.contains(&other_secret), "{}", failed.stderr);
        assert_no_canary(&failed);

        let warned = keel(&["--env", "development", "show-config"], &vars, &extra);
        assert_eq!(warned.code, EXIT_SUCCESS, "{what}: {}", warned.stderr);
        assert!(
            warned.stderr.contains("keel: warning: secret store ssm ("),
            "{what}: {}",
            warned.stderr
        );
        assert!(
            warned.stderr.contains("; going on without its values"),
            "{}",
            warned.stderr
        );
        assert!(!warned.stderr.contains(&key_secret), "{}", warned.stderr);
    }
}

#[test]
fn a_stopped_server_stops_production_warns_in_development_and_fails_check() {
    let Some((mut moto, vars)) = ssm_with(&["testing"]) else {
        return;
    };
    let checked = keel(&["--env", "testing", "check"], &vars, &[]);
    assert_no_canary(&checked);
    let line = format!(
        "ok    secret store ssm: {}: reachable, signed in by access key (AWS_ACCESS_KEY_ID), 2 key(s) read: SECRET_KEY, security.admin_token",
        location(&moto, "/keel/testing/")
    );
    assert!(checked.stdout.contains(&line), "{}", checked.stdout);

    moto.stop();
    let failed = keel(&["--env", "production", "show-config"], &vars, &[]);
    assert_eq!(failed.code, EXIT_CONFIG, "{}", failed.stderr);
    let start = format!(
        "keel: configuration error: secret store ssm ({}): cannot reach the server (",
        location(&moto, "/keel/production/")
    );
    assert!(failed.stderr.starts_with(&start), "{}", failed.stderr);
    assert_no_canary(&failed);

    let warned = keel(&["--env", "development", "show-config"], &vars, &[]);
    assert_eq!(warned.code, EXIT_SUCCESS, "{}", warned.stderr);
    assert!(
        warned.stderr.contains("; going on without its values"),
        "{}",
        warned.stderr
    );

    let checked = keel(&["--env", "testing", "check"], &vars, &[]);
    assert_eq!(checked.code, EXIT_FAILURE, "{}", checked.stderr);
    let line = format!(
        "FAIL  secret store ssm: {}: cannot reach the server (",
        location(&moto, "/keel/testing/")
    );
    assert!(checked.stdout.contains(&line), "{}", checked.stdout);
}

#[test]
fn a_served_app_keeps_ssm_values_out_of_its_logs_and_ops_config() {
    let Some((_moto, vars)) = ssm_with(&["testing"]) else {
        return;
    };
    stores::served_app_keeps_canaries_out(
        &vars,
        ADMIN_TOKEN,
        "ssm:/keel/testing/security/admin_token",
        &[SECRET_KEY, ADMIN_TOKEN, ACCESS_KEY_SECRET],
    );
}
