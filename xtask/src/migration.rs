//! `new-migration NAME`: writes `migrations/src/mYYYYMMDD_NNNNNN_NAME.rs` from a template and registers
//! it in the migrator (`migrations/src/lib.rs`), both or neither.
//!
//! A name `create_<table>` gets a working migration that creates the table (an id and a creation time)
//! and drops it again. Any other name gets `todo!()` bodies: the workspace denies `todo` in CI and
//! running it panics before anything is recorded, so an unfinished migration can never be applied and
//! then be skipped forever once it is written.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::rename::{Change, Plan};

/// Where the migrations live, relative to the repository root.
pub(crate) const FOLDER: &str = "migrations/src";

/// The migration's file and the migrator with it registered, or why not.
pub(crate) fn plan(
    name: &str,
    today: &str,
    existing: &[String],
    lib_rs: &str,
) -> Result<Plan, String> {
    check_name(name)?;
    let module = next_module(existing, today, name);
    let registered = register(lib_rs, &module)?;
    Ok(Plan {
        changes: vec![
            Change {
                from: PathBuf::from(format!("{FOLDER}/{module}.rs")),
                to: PathBuf::from(format!("{FOLDER}/{module}.rs")),
                contents: template(name).into_bytes(),
                creates: true,
            },
            Change {
                from: PathBuf::from(format!("{FOLDER}/lib.rs")),
                to: PathBuf::from(format!("{FOLDER}/lib.rs")),
                contents: registered.into_bytes(),
                creates: false,
            },
        ],
    })
}

fn check_name(name: &str) -> Result<(), String> {
    let snake_case = name.starts_with(|first: char| first.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.ends_with('_')
        && !name.contains("__");
    if !snake_case || name.len() > 60 {
        return Err(format!(
            "{name:?} cannot name a migration: use snake_case saying what it does, at most 60 characters, e.g. create_bookmarks or add_index_on_notes_title"
        ));
    }
    Ok(())
}

/// `mYYYYMMDD_NNNNNN_name`: today's date and the next number of the day, or, when the newest migration
/// is dated later than today (a clock behind, or a date chosen by hand), that date, so the new one is
/// still the last in name order.
pub(crate) fn next_module(existing: &[String], today: &str, name: &str) -> String {
    let newest = existing
        .iter()
        .filter_map(|module| {
            let date = module.get(1..9)?;
            let number: u32 = module.get(10..16)?.parse().ok()?;
            Some((date.to_owned(), number))
        })
        .max();
    let (date, number) = match newest {
        Some((date, number)) if date.as_str() >= today => (date, number + 1),
        _ => (today.to_owned(), 1),
    };
    format!("m{date}_{number:06}_{name}")
}

/// `lib_rs` with `mod <module>;` after the last migration module and the migration appended to the list.
pub(crate) fn register(lib_rs: &str, module: &str) -> Result<String, String> {
    let lines: Vec<&str> = lib_rs.lines().collect();
    let last_mod = lines
        .iter()
        .rposition(|line| line.starts_with("mod m") && line.ends_with(';'));
    let last_entry = lines
        .iter()
        .rposition(|line| line.trim_start().starts_with("Box::new(m"));
    let (Some(last_mod), Some(last_entry)) = (last_mod, last_entry) else {
        return Err(format!(
            "{FOLDER}/lib.rs has no `mod m…;` line or no `Box::new(m….::Migration),` entry to add the new migration after: register it by hand"
        ));
    };
    let indent: String = lines[last_entry]
        .chars()
        .take_while(|c| c.is_whitespace())
        .collect();
    let mut registered = Vec::with_capacity(lines.len() + 2);
    for (index, line) in lines.iter().enumerate() {
        registered.push((*line).to_owned());
        if index == last_mod {
            registered.push(format!("mod {module};"));
        }
        if index == last_entry {
            registered.push(format!("{indent}Box::new({module}::Migration),"));
        }
    }
    Ok(registered.join("\n") + "\n")
}

/// The new migration's source.
pub(crate) fn template(name: &str) -> String {
    let (summary, up, down, uses, iden) = match name.strip_prefix("create_") {
        Some(table) => {
            let iden = camel_case(table);
            (
                format!("The `{table}` table: say what a row is and why the table exists."),
                format!(
                    "manager
            .create_table(
                Table::create()
                    .table({iden}::Table)
                    .col(pk_auto({iden}::Id))
                    .col(timestamp_with_time_zone_default_now({iden}::CreatedAt))
                    .to_owned(),
            )
            .await"
                ),
                format!(
                    "manager
            .drop_table(Table::drop().table({iden}::Table).to_owned())
            .await"
                ),
                "use sea_orm_migration::schema::{pk_auto, timestamp_with_time_zone_default_now};\n",
                format!(
                    "\n/// The table's identifiers; its own, never an entity's, so this migration never changes.\n#[derive(DeriveIden)]\nenum {iden} {{\n    Table,\n    Id,\n    CreatedAt,\n}}\n"
                ),
            )
        }
        None => (
            format!("{}: say what changes and why.", name.replace('_', " ")),
            "todo!(\"write the change with `manager` (alter_table, create_index, …), never through an entity\")".to_owned(),
            "todo!(\"undo exactly what `up` does\")".to_owned(),
            "",
            String::new(),
        ),
    };
    format!(
        "//! {summary}
//!
//! Migrations never import entities: history must not change when today's model does.

use sea_orm_migration::prelude::*;
{uses}
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;
{iden}
#[async_trait::async_trait]
impl MigrationTrait for Migration {{
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {{
        {up}
    }}

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {{
        {down}
    }}
}}
"
    )
}

fn camel_case(snake: &str) -> String {
    snake
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

/// Today's date in UTC as `YYYYMMDD` (the civil-from-days algorithm; the standard library has no
/// calendar).
pub(crate) fn today() -> String {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let (year, month, day) = civil_date(i64::try_from(seconds / 86_400).unwrap_or(0));
    format!("{year:04}{month:02}{day:02}")
}

fn civil_date(days_since_epoch: i64) -> (i64, i64, i64) {
    let days = days_since_epoch + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIB_RS: &str = "//! Migrations.\n\nmod m20261123_000001_create_a;\nmod m20261123_000002_create_b;\n\nuse sea_orm_migration::prelude::*;\n\nimpl MigratorTrait for Migrator {\n    fn migrations() -> Vec<Box<dyn MigrationTrait>> {\n        vec![\n            Box::new(m20261123_000001_create_a::Migration),\n            Box::new(m20261123_000002_create_b::Migration),\n        ]\n    }\n}\n";

    #[test]
    fn a_migration_is_numbered_after_the_newest_and_dated_today_or_later() {
        let existing = [
            "m20261123_000001_create_a".to_owned(),
            "m20261123_000002_create_b".to_owned(),
        ];
        let cases = [
            ("20261201", "m20261201_000001_create_c"),
            ("20261123", "m20261123_000003_create_c"),
            // The clock is behind the newest migration: keep its date, so the order holds.
            ("20261001", "m20261123_000003_create_c"),
        ];
        for (today, module) in cases {
            assert_eq!(next_module(&existing, today, "create_c"), module);
        }
        assert_eq!(next_module(&[], "20270101", "x"), "m20270101_000001_x");
    }

    #[test]
    fn the_new_migration_is_registered_after_the_last_one() {
        let registered = register(LIB_RS, "m20261201_000001_create_c").unwrap();
        assert!(
            registered
                .contains("mod m20261123_000002_create_b;\nmod m20261201_000001_create_c;\n\nuse")
        );
        assert!(registered.contains(
            "            Box::new(m20261123_000002_create_b::Migration),\n            Box::new(m20261201_000001_create_c::Migration),\n        ]"
        ));
        let error = register("//! Nothing here.\n", "m1").unwrap_err();
        assert!(error.contains("register it by hand"), "{error}");
    }

    #[test]
    fn names_that_are_not_snake_case_are_refused() {
        for name in ["", "Create", "create-c", "create__c", "c_", "9c", "create_"] {
            assert!(check_name(name).is_err(), "{name:?}");
        }
        assert!(check_name("create_bookmarks").is_ok());
        assert!(check_name("add_index_on_notes_title").is_ok());
    }

    #[test]
    fn create_table_names_get_a_working_migration_and_others_cannot_run_unwritten() {
        let create = template("create_reading_lists");
        assert!(create.contains("enum ReadingLists {"), "{create}");
        assert!(create.contains(".table(ReadingLists::Table)"), "{create}");
        assert!(create.contains("drop_table"), "{create}");
        assert!(!create.contains("todo!"), "{create}");
        let change = template("add_index_on_notes_title");
        assert!(change.starts_with("//! add index on notes title: say what changes"));
        assert_eq!(change.matches("todo!(").count(), 2, "{change}");
    }

    #[test]
    fn the_plan_creates_the_file_and_rewrites_the_migrator() {
        let plan = plan("create_c", "20261201", &[], LIB_RS).unwrap();
        let paths: Vec<(&str, bool)> = plan
            .changes
            .iter()
            .map(|change| (change.to.to_str().unwrap(), change.creates))
            .collect();
        assert_eq!(
            paths,
            [
                ("migrations/src/m20261201_000001_create_c.rs", true),
                ("migrations/src/lib.rs", false),
            ]
        );
    }

    #[test]
    fn dates_are_computed_from_days_since_the_epoch() {
        assert_eq!(civil_date(0), (1970, 1, 1));
        assert_eq!(civil_date(11_016), (2000, 2, 29));
        assert_eq!(civil_date(20_788), (2026, 12, 1));
        assert_eq!(civil_date(-1), (1969, 12, 31));
    }
}
