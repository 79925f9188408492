//! The notes service against a migrated SQLite file: the rules, the pages and the version check.

use keel_config::{LoadOptions, Override, Vars};

use super::*;

struct Fixture {
    notes: Notes,
    db: Db,
    _folder: tempfile::TempDir,
}

async fn fixture(page_size: u64) -> Fixture {
    let folder = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        folder.path().join("notes.sqlite3").display()
    );
    let loaded = keel_config::load(&LoadOptions {
        environment: Some("testing".to_owned()),
        vars: Vars::from_iter([("APP_SECRETS_DIR", "/nonexistent")]),
        overrides: vec![Override::new("database.url", url)],
        ..LoadOptions::default()
    })
    .unwrap();
    let db = Db::connect(&loaded.settings.database).await.unwrap();
    db.migrate_up().await.unwrap();
    Fixture {
        notes: Notes::new(db.clone(), page_size),
        db,
        _folder: folder,
    }
}

fn draft(title: &str, body: &str) -> NoteDraft {
    NoteDraft {
        title: title.to_owned(),
        body: body.to_owned(),
    }
}

fn invalid_fields(error: Error) -> Vec<(String, String)> {
    match error {
        Error::Invalid(fields) => fields.into_iter().collect(),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn a_draft_needs_a_title_and_stays_within_the_length_limits() {
    let long_title = "t".repeat(TITLE_MAX_CHARS + 1);
    let long_body = "b".repeat(BODY_MAX_CHARS + 1);
    let cases: [(NoteDraft, Vec<(&str, String)>); 4] = [
        (draft("  ", ""), vec![("title", "is required".to_owned())]),
        (
            draft(&long_title, &long_body),
            vec![
                (
                    "body",
                    format!("must be at most {BODY_MAX_CHARS} characters"),
                ),
                (
                    "title",
                    format!("must be at most {TITLE_MAX_CHARS} characters"),
                ),
            ],
        ),
        // Characters, not bytes: 200 accented letters are a valid title.
        (draft(&"é".repeat(TITLE_MAX_CHARS), ""), vec![]),
        (draft("  padded  ", "body"), vec![]),
    ];
    for (draft, expected) in cases {
        let expected: Vec<(String, String)> = expected
            .into_iter()
            .map(|(field, message)| (field.to_owned(), message))
            .collect();
        match draft.clone().checked() {
            Ok(checked) => {
                assert!(expected.is_empty(), "{draft:?} passed");
                assert_eq!(checked.title, draft.title.trim());
            }
            Err(error) => assert_eq!(invalid_fields(error), expected, "{draft:?}"),
        }
    }
}

#[tokio::test]
async fn an_update_with_the_version_read_wins_and_one_with_an_older_version_changes_nothing() {
    let fixture = fixture(20).await;
    let created = fixture
        .notes
        .create(draft(" First ", "body"))
        .await
        .unwrap();
    assert_eq!((created.title.as_str(), created.version), ("First", 1));

    let updated = fixture
        .notes
        .update(created.id, 1, draft("Second", "changed"))
        .await
        .unwrap();
    assert_eq!((updated.title.as_str(), updated.version), ("Second", 2));

    let stale = fixture
        .notes
        .update(created.id, 1, draft("Lost", ""))
        .await
        .unwrap_err();
    assert!(
        matches!(
            stale,
            Error::Stale {
                sent: 1,
                current: 2,
                ..
            }
        ),
        "{stale:?}"
    );
    assert_eq!(
        fixture.notes.find(created.id).await.unwrap().title,
        "Second"
    );

    assert!(matches!(
        fixture.notes.delete(created.id, Some(1)).await,
        Err(Error::Stale { .. })
    ));
    fixture.notes.delete(created.id, Some(2)).await.unwrap();
    assert!(matches!(
        fixture.notes.find(created.id).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        fixture.notes.update(created.id, 2, draft("x", "")).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        fixture.notes.delete(created.id, None).await,
        Err(Error::NotFound(_))
    ));
}

#[tokio::test]
async fn pages_run_newest_first_without_gaps_or_repeats_and_the_last_has_no_cursor() {
    let fixture = fixture(2).await;
    assert_eq!(
        fixture.notes.list(None, 2).await.unwrap(),
        Page {
            notes: vec![],
            next: None
        }
    );
    for n in 1..=5 {
        fixture
            .notes
            .create(draft(&format!("n{n}"), ""))
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        // A limit above the page size is held to it.
        let page = fixture.notes.list(cursor, 50).await.unwrap();
        assert!(page.notes.len() <= 2);
        seen.extend(page.notes.iter().map(|note| note.title.clone()));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, ["n5", "n4", "n3", "n2", "n1"]);
    // Exactly a page left: no cursor to an empty page.
    let two = fixture.notes.list(None, 2).await.unwrap();
    let last = fixture.notes.list(two.next, 2).await.unwrap();
    let tail = fixture.notes.list(last.next, 2).await.unwrap();
    assert_eq!(tail.notes.len(), 1);
    assert_eq!(tail.next, None);
}

#[tokio::test]
async fn a_database_failure_is_a_database_error_not_a_missing_note() {
    let fixture = fixture(20).await;
    fixture.db.clone().close().await.unwrap();
    assert!(matches!(
        fixture.notes.find(1).await,
        Err(Error::Database(_))
    ));
}
