//! Checks for the invariants in ARCHITECTURE.md that the compiler cannot see.

use std::{fs, path::Path};

/// Integrations know nothing about HTTP serving or storage.
#[test]
fn connector_types_do_not_depend_on_api_or_storage() {
    let forbidden = [
        "axum",
        "sqlx",
        "crate::api",
        "crate::store",
        "crate::settings",
    ];
    let mut offenders = Vec::new();
    visit(Path::new("src/connector_types"), &mut |path, text| {
        for word in forbidden {
            if text.contains(word) {
                offenders.push(format!("{} mentions `{word}`", path.display()));
            }
        }
    });
    assert!(offenders.is_empty(), "{offenders:#?}");
}

/// The store knows SQL, not vendors or HTTP.
#[test]
fn the_store_does_not_depend_on_api_or_connector_types() {
    let forbidden = ["axum", "reqwest", "crate::api", "crate::connector_types"];
    let mut offenders = Vec::new();
    visit(Path::new("src/store"), &mut |path, text| {
        for word in forbidden {
            if text.contains(word) {
                offenders.push(format!("{} mentions `{word}`", path.display()));
            }
        }
    });
    assert!(offenders.is_empty(), "{offenders:#?}");
}

fn visit(dir: &Path, check: &mut dyn FnMut(&Path, &str)) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            visit(&path, check);
        } else if path.extension().is_some_and(|it| it == "rs") {
            check(&path, &fs::read_to_string(&path).unwrap());
        }
    }
}
