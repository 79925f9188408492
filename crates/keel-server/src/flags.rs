//! `keel flags list | set NAME on|off [--rollout N] | check [--date YYYY-MM-DD]`.
//!
//! `list` and `set` go through the same store as the running app: a change is written with its audit row
//! (actor `cli:<user>`) and announced on Redis when `redis.url` is set, so running instances apply it
//! within a second (else at their next resync). `check` needs no database: it reads the catalogue and
//! fails when a flag is past its expiry date, for CI.

use std::fmt::Write as _;

use chrono::NaiveDate;
use keel_config::Settings;
use keel_ext_flags::catalog::CATALOG;
use keel_ext_flags::{ACTOR_MAX_CHARS, Announcement, Change, FlagState, FlagStore, Source};

use crate::cli::{FlagsCommand, Switch};
use crate::failure::Failure;

/// How far ahead `check` warns about flags that are about to expire.
const EXPIRY_WARNING_DAYS: u64 = 30;

/// What `check` found: the report and how many flags have expired.
pub(crate) struct CheckReport {
    pub(crate) text: String,
    pub(crate) expired: usize,
}

/// Runs `list` or `set` and returns the report to print.
pub(crate) async fn run(
    command: FlagsCommand,
    settings: &Settings,
    user: &str,
) -> Result<String, Failure> {
    let db = keel_app_factory::open_database(settings)
        .await
        .map_err(|error| Failure::from(error).context("cannot open the flag store's database"))?;
    let store = FlagStore::open(settings, db.clone()).await?;
    let report = match command {
        FlagsCommand::List => list(&store),
        FlagsCommand::Set {
            name,
            switch,
            rollout,
        } => {
            let change = Change {
                enabled: switch == Switch::On,
                rollout_percent: rollout,
            };
            let changed = store.set(&name, change, &actor(user)).await?;
            let reach = match changed.announcement {
                Announcement::Sent => {
                    "announced on Redis: running instances apply it within a second".to_owned()
                }
                Announcement::Failed => format!(
                    "Redis did not take the announcement: running instances apply it at their next resync (within {} s)",
                    settings.flag_sync.resync_interval.as_secs()
                ),
                Announcement::NotConfigured => format!(
                    "running instances apply it at their next resync (within {} s; set redis.url for a second)",
                    settings.flag_sync.resync_interval.as_secs()
                ),
            };
            format!(
                "{}: {} (was {}); {reach}\n",
                changed.flag.name(),
                describe(&changed.flag.state),
                describe(&changed.before)
            )
        }
        FlagsCommand::Check { .. } => String::new(),
    };
    // Closing the pool is tidy, not essential: the process ends next.
    let _ = db.close().await;
    Ok(report)
}

/// Lists flags past (and near) their expiry date on `today`.
pub(crate) fn check(today: NaiveDate) -> CheckReport {
    let mut text = String::new();
    let mut expired = 0;
    for flag in CATALOG {
        let Some(expires) = flag.expires else {
            continue;
        };
        if today > expires {
            expired += 1;
            let _ = writeln!(
                text,
                "expired  {} on {expires} (owner {}): remove it from the code, catalog.rs and [features]",
                flag.name, flag.owner
            );
        } else if today
            .checked_add_days(chrono::Days::new(EXPIRY_WARNING_DAYS))
            .is_some_and(|horizon| horizon > expires)
        {
            let _ = writeln!(
                text,
                "soon     {} expires on {expires} (owner {})",
                flag.name, flag.owner
            );
        }
    }
    if expired == 0 {
        let _ = writeln!(
            text,
            "ok: none of the {} flags is past its expiry date on {today}",
            CATALOG.len()
        );
    }
    CheckReport { text, expired }
}

fn list(store: &FlagStore) -> String {
    let today = chrono::Utc::now().date_naive();
    let mut text = format!(
        "{:<16} {:<24} {:<8} {:<16} {:<11} {}\n",
        "flag", "state", "source", "owner", "expires", "description"
    );
    for flag in store.snapshot().flags() {
        let source = match flag.source {
            Source::Default => "default",
            Source::Runtime { .. } => "runtime",
        };
        let expires = match flag.definition.expires {
            Some(date) if flag.is_expired(today) => format!("{date}!"),
            Some(date) => date.to_string(),
            None => "never".to_owned(),
        };
        let _ = writeln!(
            text,
            "{:<16} {:<24} {:<8} {:<16} {:<11} {}",
            flag.name(),
            describe(&flag.state),
            source,
            flag.definition.owner,
            expires,
            flag.definition.description
        );
    }
    text
}

/// `on`, `off`, or `on for 25 % of visitors`.
fn describe(state: &FlagState) -> String {
    match (state.enabled, state.rollout_percent) {
        (false, _) => "off".to_owned(),
        (true, 100) => "on".to_owned(),
        (true, percent) => format!("on for {percent} % of visitors"),
    }
}

/// The audit actor for a command-line change: `cli:<user>`, with the user name cut to fit and
/// stripped of what an actor may not hold (it comes from the environment).
fn actor(user: &str) -> String {
    let user: String = user
        .chars()
        .filter(|c| keel_ext_flags::is_actor_char(*c))
        .take(ACTOR_MAX_CHARS - "cli:".len())
        .collect();
    if user.is_empty() {
        "cli:unknown".to_owned()
    } else {
        format!("cli:{user}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn the_cli_actor_is_cut_to_fit_and_has_no_control_or_invisible_characters() {
        assert_eq!(actor("alice"), "cli:alice");
        assert_eq!(actor("al\nice"), "cli:alice");
        assert_eq!(actor("al\u{202e}ice"), "cli:alice");
        assert_eq!(actor(""), "cli:unknown");
        assert_eq!(actor(&"x".repeat(500)).chars().count(), ACTOR_MAX_CHARS);
    }

    #[test]
    fn check_fails_after_an_expiry_date_and_warns_before_it() {
        // (today, expired flags, a line the report must hold)
        let cases = [
            (
                "2026-01-01",
                0,
                "ok: none of the 2 flags is past its expiry date on 2026-01-01",
            ),
            ("2027-06-30", 0, "soon     signup_v2 expires on 2027-06-30"),
            (
                "2027-07-01",
                1,
                "expired  signup_v2 on 2027-06-30 (owner growth-team)",
            ),
            (
                "2028-01-01",
                2,
                "expired  new_checkout on 2027-12-31 (owner payments-team)",
            ),
        ];
        for (today, expired, line) in cases {
            let report = check(date(today));
            assert_eq!(report.expired, expired, "{today}: {}", report.text);
            assert!(report.text.contains(line), "{today}: {}", report.text);
        }
    }
}
