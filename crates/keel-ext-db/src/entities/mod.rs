//! sea-orm entities: the Rust shape of today's tables, written once to match the migrations.
//!
//! Entities describe rows and nothing else; queries live with the code that needs them. Migrations never
//! import these types, so changing an entity can never rewrite history.

pub mod feature_flag;
pub mod flag_audit;
pub mod note;
