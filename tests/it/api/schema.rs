//! `schema.graphql` is the public contract as generated from code; this test fails when they
//! drift, and rewrites the file instead when `UPDATE_SCHEMA=1`.

use std::path::Path;

#[test]
fn schema_graphql_matches_the_code() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema.graphql");
    let generated = format!("{}\n", escrowgrid::graphql::sdl().trim_end());
    if std::env::var_os("UPDATE_SCHEMA").is_some_and(|value| value == "1") {
        std::fs::write(&path, &generated).expect("schema.graphql is writable");
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    if checked_in.trim_end() == generated.trim_end() {
        return;
    }
    let first_difference = checked_in
        .lines()
        .zip(generated.lines())
        .position(|(old, new)| old != new)
        .unwrap_or_else(|| checked_in.lines().count().min(generated.lines().count()));
    let line = |text: &str| {
        text.lines()
            .nth(first_difference)
            .unwrap_or("<end of file>")
            .to_owned()
    };
    panic!(
        "schema.graphql is out of date with the code (first difference at line {}):\n  \
         file: {}\n  code: {}\n\
         If the change is intended, regenerate it and review the diff:\n  \
         UPDATE_SCHEMA=1 cargo test --test it schema_graphql_matches_the_code\n  \
         (or: cargo run -- print-schema > schema.graphql)",
        first_difference + 1,
        line(&checked_in),
        line(&generated),
    );
}
