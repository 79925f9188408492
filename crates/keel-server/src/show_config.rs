//! `keel show-config`: the masked settings as text or JSON, optionally with the layer behind each value.

use keel_config::{COMMON_KEYS, Entry, Loaded};

use crate::cli::ShowConfigOptions;

/// The report `show-config` prints. Values come from [`Loaded::masked_entries`], so secrets are masked.
pub(crate) fn render(loaded: &Loaded, options: &ShowConfigOptions) -> String {
    let entries: Vec<Entry> = loaded
        .masked_entries()
        .into_iter()
        .filter(|entry| options.all || COMMON_KEYS.contains(&entry.key.as_str()))
        .collect();
    if options.json {
        render_json(&entries, options.explain)
    } else {
        render_text(&entries, options.explain)
    }
}

fn render_text(entries: &[Entry], explain: bool) -> String {
    let width = entries
        .iter()
        .map(|entry| entry.key.len())
        .max()
        .unwrap_or(0);
    entries
        .iter()
        .map(|entry| {
            let line = format!("{:width$} = {}", entry.key, entry.value);
            if explain {
                format!("{line}  # {}\n", entry.source)
            } else {
                format!("{line}\n")
            }
        })
        .collect()
}

fn render_json(entries: &[Entry], explain: bool) -> String {
    let mut text = serde_json::to_string_pretty(&keel_config::entries_to_json(entries, explain))
        .unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use keel_config::{LoadOptions, Override};
    use serde_json::{Value, json};

    use super::*;

    fn loaded() -> Loaded {
        keel_config::load(&LoadOptions {
            environment: Some("testing".to_owned()),
            instance_dir: Some("/nonexistent/keel-instance".into()),
            dotenv_file: None,
            overrides: vec![Override::new("server.port", "9000")],
            ..LoadOptions::default()
        })
        .unwrap()
    }

    #[test]
    fn text_lists_the_common_keys_and_explain_adds_the_source() {
        let plain = render(&loaded(), &ShowConfigOptions::default());
        assert!(plain.contains("server.port          = 9000\n"), "{plain}");
        assert!(!plain.contains("max_body_bytes"), "{plain}");

        let explained = render(
            &loaded(),
            &ShowConfigOptions {
                explain: true,
                ..Default::default()
            },
        );
        assert!(
            explained.contains("= 9000  # override server.port\n"),
            "{explained}"
        );
    }

    #[test]
    fn json_is_keyed_by_dotted_key_and_masks_the_secret_key() {
        let options = ShowConfigOptions {
            all: true,
            explain: true,
            json: true,
        };
        let report: Value = serde_json::from_str(&render(&loaded(), &options)).unwrap();
        assert_eq!(
            report["server.port"],
            json!({"value": 9000, "source": "override server.port"})
        );
        let secret = report["security.secret_key"]["value"].as_str().unwrap();
        assert!(secret.starts_with("***"), "{secret}");
        assert!(!secret.contains("keel-development"), "{secret}");
    }
}
