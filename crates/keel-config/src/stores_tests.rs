//! Loader behaviour with secret stores: their place among the layers, the problems a store's values
//! cause, `secrets.required`, and the first loading phase.

use crate::{LoadOptions, Secret, StoreEntry, Vars, load, preload};

const CANARY: &str = "canary-vault-7d2e-never-shown-0123456789abcdef";

fn entry(name: &str, value: &str) -> StoreEntry {
    StoreEntry {
        name: name.to_owned(),
        value: Secret::new(value),
        origin: format!("vault:secret/keel/testing#{name}"),
    }
}

/// Options for a load in `environment` with `entries` from a store, `vars` and a secrets folder `dir`.
fn options(
    environment: &str,
    entries: Vec<StoreEntry>,
    vars: &[(&str, &str)],
    dir: &std::path::Path,
) -> LoadOptions {
    let secrets_dir = dir.display().to_string();
    LoadOptions {
        environment: Some(environment.to_owned()),
        instance_dir: Some(dir.join("instance")),
        vars: vars
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .chain([("APP_SECRETS_DIR".to_owned(), secrets_dir)])
            .collect::<Vars>(),
        store_entries: entries,
        ..LoadOptions::default()
    }
}

#[test]
fn a_store_value_beats_a_secret_file_loses_to_a_variable_and_names_its_field() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("admin_token"),
        "an-admin-token-from-a-secret-file",
    )
    .unwrap();
    std::fs::write(dir.path().join("redis_url"), "redis://from-a-file:6379").unwrap();
    let entries = vec![
        entry("admin_token", CANARY),
        entry("SECRET_KEY", "a-secret-key-from-vault-0123456789abcdef"),
        entry("redis.url", "redis://from-vault:6379"),
    ];
    let vars = [("REDIS_URL", "redis://from-a-variable:6379")];
    let loaded = load(&options("testing", entries, &vars, dir.path())).unwrap();
    let security = &loaded.settings.security;
    assert_eq!(security.admin_token.as_ref().unwrap().expose(), CANARY);
    assert_eq!(
        security.secret_key.expose(),
        "a-secret-key-from-vault-0123456789abcdef"
    );
    assert_eq!(
        loaded.settings.redis.url.as_ref().unwrap().expose(),
        "redis://from-a-variable:6379"
    );
    let source = |key| loaded.provenance.source_of(key).unwrap().to_owned();
    assert_eq!(
        source("security.admin_token"),
        "vault:secret/keel/testing#admin_token"
    );
    assert_eq!(
        source("security.secret_key"),
        "vault:secret/keel/testing#SECRET_KEY"
    );
    assert_eq!(source("redis.url"), "environment variable REDIS_URL");
    let shown = format!(
        "{}{:?}",
        serde_json::to_string(&loaded.masked_entries()).unwrap(),
        loaded
    );
    assert!(!shown.contains(CANARY), "{shown}");
}

#[test]
fn a_name_that_stands_for_no_secret_setting_or_an_empty_value_is_a_problem_without_the_value() {
    let dir = tempfile::tempdir().unwrap();
    let entries = vec![
        entry("server.port", CANARY),
        entry("admin_tokn", CANARY),
        entry("admin_token", "  "),
    ];
    let message = load(&options("testing", entries, &[], dir.path()))
        .unwrap_err()
        .to_string();
    assert!(!message.contains(CANARY), "{message}");
    let lines: Vec<&str> = message.lines().collect();
    assert_eq!(lines.len(), 3, "{message}");
    assert!(
        lines[0].starts_with("vault:secret/keel/testing#server.port: \"server.port\" names no setting keel reads from a secret store: name it after a secret file (secret_key, admin_token, database_url, database_password, redis_url)"),
        "{message}"
    );
    assert!(
        lines[1]
            .starts_with("vault:secret/keel/testing#admin_tokn: \"admin_tokn\" names no setting"),
        "{message}"
    );
    assert_eq!(
        lines[2],
        "security.admin_token (set by vault:secret/keel/testing#admin_token): is empty: write the secret into the store"
    );
}

#[test]
fn a_required_key_no_store_gave_stops_production_and_warns_in_development() {
    let dir = tempfile::tempdir().unwrap();
    let key = "a-production-secret-key-0123456789abcdef";
    let vars = [
        ("SECRET_KEY", key),
        (
            "APP_SECRETS__REQUIRED",
            r#"["security.secret_key", "security.admin_token"]"#,
        ),
    ];
    let entries = || vec![entry("secret_key", key)];
    let message = load(&options("production", entries(), &vars, dir.path()))
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("security.admin_token (set by secrets.required): is listed in secrets.required but no secret store gave it"),
        "{message}"
    );
    assert!(
        !message.contains("security.secret_key (set by secrets"),
        "{message}"
    );
    let loaded = load(&options("development", entries(), &vars, dir.path())).unwrap();
    assert!(
        loaded.warnings.iter().any(
            |warning| warning.starts_with("security.admin_token is listed in secrets.required")
        ),
        "{:?}",
        loaded.warnings
    );
    let bad = [("APP_SECRETS__REQUIRED", r#"["server.port"]"#)];
    let message = load(&options("testing", Vec::new(), &bad, dir.path()))
        .unwrap_err()
        .to_string();
    assert!(
        message.starts_with("secrets.required (set by environment variable APP_SECRETS__REQUIRED): lists \"server.port\", which is not a secret setting"),
        "{message}"
    );
}

#[test]
fn vault_is_configured_by_its_own_variables_with_the_path_from_the_name_and_environment() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("role"), "a-role-id\n").unwrap();
    let role_file = dir.path().join("role").display().to_string();
    let vars = [
        ("VAULT_ADDR", "http://127.0.0.1:8200"),
        ("VAULT_ROLE_ID_FILE", role_file.as_str()),
        ("VAULT_SECRET_ID", CANARY),
        ("APP_APP__NAME", "My Shop"),
    ];
    // Production refuses the development secret key, but the first phase does not read [security].
    let preloaded = preload(&options("production", Vec::new(), &vars, dir.path())).unwrap();
    let vault = &preloaded.secrets.vault;
    assert_eq!(vault.addr.as_deref(), Some("http://127.0.0.1:8200"));
    assert_eq!(vault.role_id.as_ref().unwrap().expose(), "a-role-id");
    assert_eq!(vault.secret_id.as_ref().unwrap().expose(), CANARY);
    assert_eq!(vault.location(), "secret/my-shop/production");
    assert!(load(&options("production", Vec::new(), &vars, dir.path())).is_err());

    // (variables, the problem)
    let cases: [(&[(&str, &str)], &str); 3] = [
        (
            &[("VAULT_ADDR", "vault.internal:8200"), ("VAULT_TOKEN", "t")],
            "secrets.vault.addr (set by environment variable VAULT_ADDR): \"vault.internal:8200\" is not an http(s) URL",
        ),
        (
            &[
                ("VAULT_ADDR", "https://vault.internal"),
                ("VAULT_ROLE_ID", "r"),
            ],
            "secrets.vault.addr (set by environment variable VAULT_ADDR): Vault is set but keel cannot log in",
        ),
        (
            &[("APP_SECRETS__VAULT__PATH", "keel/prod?x=1")],
            "secrets.vault.path (set by environment variable APP_SECRETS__VAULT__PATH): \"keel/prod?x=1\" must be a Vault path",
        ),
    ];
    for (vars, expected) in cases {
        let message = preload(&options("testing", Vec::new(), vars, dir.path()))
            .unwrap_err()
            .to_string();
        assert!(message.starts_with(expected), "{message}");
    }
}

#[test]
fn ssm_is_configured_by_the_aws_variables_with_the_path_from_the_name_and_environment() {
    let dir = tempfile::tempdir().unwrap();
    let vars = [
        ("APP_SECRETS__SSM__ENABLED", "true"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_REGION", "eu-west-1"),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:1"),
        ("AWS_ENDPOINT_URL_SSM", "http://127.0.0.1:5000"),
        ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", CANARY),
        ("APP_APP__NAME", "My Shop"),
    ];
    let preloaded = preload(&options("production", Vec::new(), &vars, dir.path())).unwrap();
    let ssm = &preloaded.secrets.ssm;
    assert!(ssm.enabled);
    // The more specific variable wins, as in the AWS SDK.
    assert_eq!(ssm.region.as_deref(), Some("eu-west-1"));
    assert_eq!(ssm.endpoint_url.as_deref(), Some("http://127.0.0.1:5000"));
    assert_eq!(ssm.secret_access_key.as_ref().unwrap().expose(), CANARY);
    assert_eq!(ssm.location(), "/my-shop/production/");

    // (variables, the problem)
    let cases: [(&[(&str, &str)], &str); 5] = [
        (
            &[("APP_SECRETS__SSM__ENABLED", "true")],
            "SSM is enabled but no region is set: set AWS_REGION",
        ),
        (
            &[("AWS_REGION", "Europe")],
            "secrets.ssm.region (set by environment variable AWS_REGION): \"Europe\" is not an AWS region name",
        ),
        (
            &[("AWS_ENDPOINT_URL_SSM", "localhost:5000")],
            "secrets.ssm.endpoint_url (set by environment variable AWS_ENDPOINT_URL_SSM): \"localhost:5000\" is not an http(s) URL",
        ),
        (
            &[("AWS_SECRET_ACCESS_KEY", CANARY)],
            "an access key needs both halves: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
        ),
        (
            &[("APP_SECRETS__SSM__PATH", "keel/production")],
            "secrets.ssm.path (set by environment variable APP_SECRETS__SSM__PATH): \"keel/production\" must be a parameter path that starts with /",
        ),
    ];
    for (vars, expected) in cases {
        let message = preload(&options("testing", Vec::new(), vars, dir.path()))
            .unwrap_err()
            .to_string();
        assert!(message.contains(expected), "{message}");
        assert!(!message.contains(CANARY), "{message}");
    }
}
