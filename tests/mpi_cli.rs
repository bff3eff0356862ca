//! The master index's bulk commands as an operator runs them: synthetic data, import with bad
//! lines reported by number, CSV with a column map, exports of clusters and links.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

const HUB: &str = env!("CARGO_BIN_EXE_esocial-hub");
const KEY: &str = "test-digest-key-0123456789abcdef0123456789";

fn mpi(dir: &Path, args: &[&str]) -> Output {
    Command::new(HUB)
        .arg("mpi")
        .args(args)
        .env(
            "HUB__STORE__URL",
            format!("sqlite://{}?mode=rwc", dir.join("index.db").display()),
        )
        .env("HUB__AUDIT__DIGEST_KEY", KEY)
        .env("RUST_LOG", "error")
        .current_dir(dir)
        .output()
        .expect("the hub binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn json_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// Writes `persons` synthetic persons' records to `r.jsonl` (their truth to `t.jsonl`) and
/// returns how many records that is.
fn synth(dir: &Path, persons: usize, seed: u64) -> usize {
    let (persons, seed) = (persons.to_string(), seed.to_string());
    let synth = mpi(
        dir,
        &[
            "synth",
            "--persons",
            &persons,
            "--seed",
            &seed,
            "--out",
            "r.jsonl",
            "--truth",
            "t.jsonl",
        ],
    );
    assert!(synth.status.success(), "{}", text(&synth.stderr));
    json_lines(&dir.join("r.jsonl")).len()
}

#[test]
fn synthetic_records_import_and_export_as_clusters_covering_every_record() {
    let dir = tempfile::tempdir().unwrap();
    let records = synth(dir.path(), 300, 42);
    assert!(records > 300, "duplicates expected, got {records} records");

    let import = mpi(dir.path(), &["import", "--source", "legacy", "r.jsonl"]);
    assert_eq!(import.status.code(), Some(0), "{}", text(&import.stderr));
    let out = text(&import.stdout);
    assert!(
        out.contains(&format!("imported {records} of {records} lines")),
        "{out}"
    );
    // The file taught the weights (it holds duplicates), so once all its lines are in, the
    // records linked before their duplicates came are decided again.
    assert!(out.contains("relinked with the whole file in"), "{out}");

    let export = mpi(dir.path(), &["export", "--clusters", "c.jsonl"]);
    assert!(export.status.success(), "{}", text(&export.stderr));
    let clusters = json_lines(&dir.path().join("c.jsonl"));
    let exported: usize = clusters
        .iter()
        .map(|c| c["records"].as_array().unwrap().len())
        .sum();
    assert_eq!(exported, records);
    assert!(clusters.len() < records, "some records were linked");

    let links = mpi(dir.path(), &["export", "--links", "l.jsonl"]);
    assert!(links.status.success());
    let links = json_lines(&dir.path().join("l.jsonl"));
    assert_eq!(links.len(), records - clusters.len());
    assert!(
        links
            .iter()
            .all(|l| l["a"]["source"] == "legacy" && l["b"]["localId"].is_string())
    );
}

#[test]
fn after_an_import_relinks_the_records_it_left_undecided_a_full_relink_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    synth(dir.path(), 4000, 20261207);
    let import = mpi(dir.path(), &["import", "--source", "legacy", "r.jsonl"]);
    assert_eq!(import.status.code(), Some(0), "{}", text(&import.stderr));
    let out = text(&import.stdout);
    assert!(out.contains("relinked with the whole file in"), "{out}");
    // The import re-decided only some of its records; deciding every one of them again under
    // the same weights finds nothing to change.
    let relink = mpi(dir.path(), &["relink"]);
    assert!(relink.status.success(), "{}", text(&relink.stderr));
    let summary = text(&relink.stdout);
    assert!(
        summary.contains(
            "0 moved to another person, 0 taken out to a person of their own, reviews 0 opened and 0 withdrawn"
        ),
        "{summary}"
    );
}

#[test]
fn bad_lines_are_reported_by_number_without_their_values_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("in.jsonl"),
        concat!(
            "{\"localId\":\"1\",\"firstName\":\"Ion\",\"lastName\":\"Rusu\",\"birthDate\":\"1980-01-02\"}\n",
            "{\"localId\":\"2\",\"birthDate\":\"1980-02-30\"}\n",
            "not json\n",
            "{\"localId\":\"4\",\"lastName\":7730}\n",
            "{\"localId\":\"5\",\"idnp\":\"2000000000005\"}\n",
        ),
    )
    .unwrap();
    let import = mpi(dir.path(), &["import", "--source", "legacy", "in.jsonl"]);
    assert_eq!(import.status.code(), Some(3), "some lines rejected");
    let errors = text(&import.stderr);
    assert!(
        errors.contains("line 2: invalid record: birthDate"),
        "{errors}"
    );
    assert!(errors.contains("line 3:"), "{errors}");
    assert!(
        errors.contains("line 4:") && !errors.contains("7730"),
        "{errors}"
    );
    assert!(
        !errors.contains("line 1:") && !errors.contains("line 5:"),
        "{errors}"
    );
    assert!(text(&import.stdout).contains("imported 2 of 5 lines"));
}

#[test]
fn csv_is_read_through_a_column_map_and_a_missing_key_is_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("in.csv"),
        "cod,nume,prenume,data\nA1,Ceban,Ion,1980-04-07\nA2,Чебан,Ион,1980-07-04\n",
    )
    .unwrap();
    let import = mpi(
        dir.path(),
        &[
            "import",
            "--source",
            "school",
            "in.csv",
            "--columns",
            "localId=cod,lastName=nume,firstName=prenume,birthDate=data",
        ],
    );
    assert_eq!(import.status.code(), Some(0), "{}", text(&import.stderr));
    assert!(
        text(&import.stdout).contains("imported 2 of 3 lines"),
        "{}",
        text(&import.stdout)
    );

    let unknown = mpi(
        dir.path(),
        &[
            "import",
            "--source",
            "school",
            "in.csv",
            "--columns",
            "surname=nume",
        ],
    );
    assert!(!unknown.status.success());
    assert!(text(&unknown.stderr).contains("surname"));
    let no_key = Command::new(HUB)
        .args(["mpi", "import", "--source", "school", "in.csv"])
        .env("HUB__STORE__URL", "sqlite::memory:")
        .env_remove("HUB__AUDIT__DIGEST_KEY")
        .output()
        .unwrap();
    assert!(!no_key.status.success());
    assert!(text(&no_key.stderr).contains("HUB__AUDIT__DIGEST_KEY"));
}

/// Pairwise precision and recall of found clusters against the truth, over the clustered
/// records.
fn pair_scores(
    clusters: &[Value],
    truth: &std::collections::HashMap<String, String>,
) -> (f64, f64) {
    use std::collections::HashMap;
    let mut found_pairs = 0u64;
    let mut true_positive = 0u64;
    let mut per_person: HashMap<&str, u64> = HashMap::new();
    for cluster in clusters {
        let mut by_person: HashMap<&str, u64> = HashMap::new();
        let records = cluster["records"].as_array().unwrap();
        for record in records {
            let person = truth[record["localId"].as_str().unwrap()].as_str();
            *by_person.entry(person).or_default() += 1;
            *per_person.entry(person).or_default() += 1;
        }
        let n = records.len() as u64;
        found_pairs += n * n.saturating_sub(1) / 2;
        true_positive += by_person.values().map(|k| k * (k - 1) / 2).sum::<u64>();
    }
    let true_pairs: u64 = per_person.values().map(|k| k * (k - 1) / 2).sum();
    (
        true_positive as f64 / found_pairs.max(1) as f64,
        true_positive as f64 / true_pairs.max(1) as f64,
    )
}

#[test]
fn a_clean_register_loaded_first_then_a_second_source_links() {
    let dir = tempfile::tempdir().unwrap();
    let synth = mpi(
        dir.path(),
        &["synth", "--persons", "1500", "--sources", "sources"],
    );
    assert!(synth.status.success(), "{}", text(&synth.stderr));
    // A register has no duplicates: what EM learns from it alone is refused, the prior stays.
    let register = mpi(
        dir.path(),
        &["import", "--source", "register", "sources/register.jsonl"],
    );
    assert_eq!(
        register.status.code(),
        Some(0),
        "{}",
        text(&register.stderr)
    );
    assert!(
        text(&register.stderr).contains("kept the prior weights"),
        "{}",
        text(&register.stderr)
    );
    assert!(
        !text(&register.stdout).contains("relinked"),
        "{}",
        text(&register.stdout)
    );
    // The second source: weights learned across both, then everything relinked under them.
    let school = mpi(
        dir.path(),
        &["import", "--source", "school", "sources/school.jsonl"],
    );
    assert_eq!(school.status.code(), Some(0), "{}", text(&school.stderr));
    let out = text(&school.stdout);
    assert!(out.contains("relinked under the new weights"), "{out}");

    let export = mpi(dir.path(), &["export", "--clusters", "c.jsonl"]);
    assert!(export.status.success(), "{}", text(&export.stderr));
    let truth: std::collections::HashMap<String, String> =
        json_lines(&dir.path().join("sources/truth.jsonl"))
            .into_iter()
            .map(|t| {
                (
                    t["localId"].as_str().unwrap().to_owned(),
                    t["personId"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
    let clusters = json_lines(&dir.path().join("c.jsonl"));
    let (precision, recall) = pair_scores(&clusters, &truth);
    assert!(precision >= 0.99, "precision {precision}");
    assert!(recall >= 0.9, "recall {recall}");
}
