//! The declared flags: what each one is for, who owns it and when it must be gone.
//!
//! A flag exists when it is declared twice, on purpose: here (its description, owner and expiry, which
//! belong to the code that reads the flag) and in `[features]` of `profiles/default.toml` (its static
//! default, which operators may override like any setting). [`crate::FlagStore::open`] refuses a
//! mismatch, and a unit test catches it before that. Handlers name flags through the constants below, so
//! a typo is a compile error rather than a page that silently stays hidden.

use chrono::NaiveDate;

/// The redesigned sign-up page at `/signup-v2`.
pub const SIGNUP_V2: &str = "signup_v2";
/// The new checkout flow; an example flag that gates nothing yet.
pub const NEW_CHECKOUT: &str = "new_checkout";

/// What the code says about one flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlagDefinition {
    pub name: &'static str,
    pub description: &'static str,
    /// Who decides when the flag is rolled out and removed: a team or a person to ask.
    pub owner: &'static str,
    /// The day after which the flag should be gone from the code; `keel flags check` fails after it.
    /// `None` for a permanent operational switch (a kill switch).
    pub expires: Option<NaiveDate>,
}

/// Every flag keel knows, in the order listings show them.
pub const CATALOG: &[FlagDefinition] = &[
    FlagDefinition {
        name: SIGNUP_V2,
        description: "The redesigned sign-up page at /signup-v2.",
        owner: "growth-team",
        expires: Some(date(2027, 6, 30)),
    },
    FlagDefinition {
        name: NEW_CHECKOUT,
        description: "The new checkout flow (an example flag that gates nothing yet).",
        owner: "payments-team",
        expires: Some(date(2027, 12, 31)),
    },
];

/// A calendar date checked at compile time: an impossible date fails the build, not a request.
const fn date(year: i32, month: u32, day: u32) -> NaiveDate {
    match NaiveDate::from_ymd_opt(year, month, day) {
        Some(date) => date,
        None => panic!("a flag's expiry date in the catalogue is not a calendar date"),
    }
}

/// The declaration of `name`, if there is one.
pub fn definition(name: &str) -> Option<&'static FlagDefinition> {
    CATALOG.iter().find(|flag| flag.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_declared_flag_has_a_static_default_and_the_reverse() {
        let settings = keel_config::load(&keel_config::LoadOptions {
            environment: Some("testing".to_owned()),
            vars: keel_config::Vars::from_iter([("APP_SECRETS_DIR", "/nonexistent")]),
            ..keel_config::LoadOptions::default()
        })
        .unwrap()
        .settings;
        let mut declared: Vec<&str> = CATALOG.iter().map(|flag| flag.name).collect();
        declared.sort_unstable();
        let defaults: Vec<&str> = settings.features.0.keys().map(String::as_str).collect();
        assert_eq!(
            declared, defaults,
            "declare each flag in both catalog.rs and [features] of profiles/default.toml"
        );
    }

    #[test]
    fn flag_names_are_unique_and_plain() {
        for (index, flag) in CATALOG.iter().enumerate() {
            assert!(
                flag.name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{} is not a plain flag name",
                flag.name
            );
            assert!(
                CATALOG[index + 1..]
                    .iter()
                    .all(|other| other.name != flag.name),
                "{} is declared twice",
                flag.name
            );
            assert!(!flag.description.is_empty() && !flag.owner.is_empty());
        }
    }
}
