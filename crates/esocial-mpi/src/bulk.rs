//! Bulk work on the master index: the initial import of legacy records (JSON Lines, or CSV
//! with a column map), and exports of links and clusters. Imports link each record as it is
//! read, in memory, and write to the store in large transactions.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::time::Instant;

use serde_json::{Map, Value, json};

use crate::compare::Features;
use crate::engine::{MasterIndex, MpiError, Outcome};
use crate::index::{Index, Link, NameCounts};
use crate::model::Model;
use crate::record::{SourceRecord, json_problem};
use esocial_store::{MpiBatch, Store, StoreError};

/// Records written per transaction during an import.
pub const IMPORT_BATCH: usize = 5_000;
/// Records read to learn the model before linking, when the index has none yet.
pub const TRAINING_SAMPLE: usize = 200_000;
/// Pairs of each kind (candidate, random) the training compares.
pub const TRAINING_PAIRS: usize = 500_000;

/// The format of an import file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputFormat {
    JsonLines,
    /// CSV with a header row; `columns` maps record fields (`firstName`, `address.district`)
    /// to header names. Fields not mapped are read from a column of their own name.
    Csv {
        columns: HashMap<String, String>,
    },
}

/// The record fields a CSV column can feed.
pub const CSV_FIELDS: [&str; 14] = [
    "localId",
    "idnp",
    "firstName",
    "lastName",
    "patronymic",
    "birthDate",
    "sex",
    "phone",
    "address.district",
    "address.locality",
    "address.street",
    "address.house",
    "address.postalCode",
    "identifiers",
];

/// Parses `field=column,field=column`; names the bad part.
pub fn parse_column_map(text: &str) -> Result<HashMap<String, String>, String> {
    let mut map = HashMap::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (field, column) = part
            .split_once('=')
            .ok_or_else(|| format!("`{part}` is not field=column"))?;
        let field = field.trim();
        if !CSV_FIELDS.contains(&field) {
            return Err(format!(
                "`{field}` is not a record field; known: {}",
                CSV_FIELDS.join(", ")
            ));
        }
        map.insert(field.to_owned(), column.trim().to_owned());
    }
    Ok(map)
}

/// A line that could not be imported. The reason names the field, never its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub line: usize,
    pub reason: String,
}

/// What an import did.
#[derive(Debug, Clone, Default)]
pub struct ImportSummary {
    pub lines: usize,
    pub imported: usize,
    pub rejected: usize,
    pub new_persons: usize,
    pub auto_linked: usize,
    pub reviews: usize,
    pub updated: usize,
    pub trained: bool,
    pub seconds: f64,
    /// Of `seconds`, the time linking waited for the store (writes overlap linking).
    pub waiting_seconds: f64,
}

/// Reads records one by one from JSON Lines or CSV; yields (line number, record or reason).
pub struct RecordReader<R: BufRead> {
    inner: ReaderKind<R>,
}

enum ReaderKind<R: BufRead> {
    Json {
        lines: std::io::Lines<R>,
        line: usize,
    },
    Csv {
        reader: csv::Reader<R>,
        fields: Vec<(String, usize)>,
    },
}

impl<R: BufRead> RecordReader<R> {
    pub fn new(input: R, format: &InputFormat) -> Result<Self, String> {
        Ok(Self {
            inner: match format {
                InputFormat::JsonLines => ReaderKind::Json {
                    lines: input.lines(),
                    line: 0,
                },
                InputFormat::Csv { columns } => {
                    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(input);
                    let headers = reader
                        .headers()
                        .map_err(|e| format!("line 1: CSV header: {e}"))?
                        .clone();
                    let mut fields = Vec::new();
                    for field in CSV_FIELDS {
                        let column = columns.get(field).map_or(field, String::as_str);
                        match headers.iter().position(|h| h.trim() == column) {
                            Some(position) => fields.push((field.to_owned(), position)),
                            None if columns.contains_key(field) => {
                                return Err(format!(
                                    "line 1: column `{column}` mapped to `{field}` is not in the header"
                                ));
                            }
                            None => {}
                        }
                    }
                    if !fields.iter().any(|(f, _)| f == "localId") {
                        return Err(
                            "line 1: no column for localId (map one with --columns localId=NAME)"
                                .into(),
                        );
                    }
                    ReaderKind::Csv { reader, fields }
                }
            },
        })
    }
}

impl<R: BufRead> Iterator for RecordReader<R> {
    type Item = (usize, Result<SourceRecord, String>);

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.inner {
            ReaderKind::Json { lines, line } => loop {
                *line += 1;
                let text = match lines.next()? {
                    Ok(text) => text,
                    Err(e) => return Some((*line, Err(format!("cannot read the line: {e}")))),
                };
                if text.trim().is_empty() {
                    continue;
                }
                let parsed = serde_json::from_str::<SourceRecord>(&text)
                    .map_err(|e| format!("not a valid record: {}", json_problem(&e)));
                return Some((*line, parsed));
            },
            ReaderKind::Csv { reader, fields } => {
                let mut row = csv::StringRecord::new();
                match reader.read_record(&mut row) {
                    Ok(false) => None,
                    Ok(true) => {
                        let line = row.position().map_or(0, |p| p.line() as usize);
                        Some((line, csv_record(&row, fields)))
                    }
                    Err(e) => {
                        let line = e.position().map_or(0, |p| p.line() as usize);
                        Some((line, Err(format!("bad CSV row: {}", csv_problem(&e)))))
                    }
                }
            }
        }
    }
}

fn csv_problem(error: &csv::Error) -> String {
    match error.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("expected {expected_len} fields, found {len}"),
        csv::ErrorKind::Utf8 { .. } => "not valid UTF-8".into(),
        _ => "unreadable".into(),
    }
}

/// Builds a record from a CSV row; `identifiers` is `system:value;system:value`.
fn csv_record(row: &csv::StringRecord, fields: &[(String, usize)]) -> Result<SourceRecord, String> {
    let mut object = Map::new();
    let mut address = Map::new();
    for (field, position) in fields {
        let value = row.get(*position).unwrap_or("").trim();
        if value.is_empty() {
            continue;
        }
        if let Some(part) = field.strip_prefix("address.") {
            address.insert(part.to_owned(), json!(value));
        } else if field == "identifiers" {
            let mut identifiers = Vec::new();
            for pair in value.split(';').filter(|p| !p.trim().is_empty()) {
                let (system, id) = pair
                    .split_once(':')
                    .ok_or("identifiers: expected system:value;system:value")?;
                identifiers.push(json!({"system": system.trim(), "value": id.trim()}));
            }
            object.insert("identifiers".into(), Value::Array(identifiers));
        } else {
            object.insert(field.clone(), json!(value));
        }
    }
    if !address.is_empty() {
        object.insert("address".into(), Value::Object(address));
    }
    serde_json::from_value(Value::Object(object))
        .map_err(|e| format!("not a valid record: {}", json_problem(&e)))
}

/// Learns a model from the first records of an input, before linking it, as if they were
/// the index's source `source`. Not yet checked: see [`Model::check`].
pub fn learn_model<R: BufRead>(reader: RecordReader<R>, sample: usize, source: &str) -> Model {
    let mut index = Index::new(Model::prior());
    let mut taken = 0;
    for (line, record) in reader {
        let Ok(record) = record else { continue };
        if record.check().is_err() {
            continue;
        }
        let Ok(features) = Features::of(&record, index.interner()) else {
            continue;
        };
        let key = crate::index::RecordRef {
            source: source.into(),
            local_id: format!("{line}"),
        };
        let link = Link {
            rule: "training".into(),
            score: None,
            anchor: None,
            actor: "".into(),
            at: 0,
            pinned: false,
        };
        index.upsert(key, features, uuid::Uuid::new_v4(), link);
        taken += 1;
        if taken >= sample {
            break;
        }
    }
    index.training_pairs(TRAINING_PAIRS, 0x5eed).learn()
}

/// The names of every record of an input that an import into an empty index would add
/// (records that fail their checks are left out, as the import rejects them): see
/// [`MasterIndex::fix_name_counts`].
pub fn count_names<R: BufRead>(reader: RecordReader<R>) -> NameCounts {
    let mut counts = NameCounts::default();
    for (_, record) in reader {
        let Ok(record) = record else { continue };
        if record.check().is_ok() {
            counts.add_record(&record);
        }
    }
    counts
}

/// Imports records into the index. `rejected` is told about every bad line as it is met;
/// `progress` about the number of lines read, every 1,000 lines.
pub async fn import<R: BufRead>(
    index: &MasterIndex,
    source: &str,
    reader: RecordReader<R>,
    actor: &str,
    mut rejected: impl FnMut(Rejected),
    mut progress: impl FnMut(usize),
) -> Result<ImportSummary, MpiError> {
    crate::engine::check_source(source)?;
    let started = Instant::now();
    let mut summary = ImportSummary::default();
    let mut pending = MpiBatch::default();
    let mut pending_records = 0;
    let mut writer = BatchWriter::new(index.store().clone());
    for (line, record) in reader {
        summary.lines = summary.lines.max(line);
        let outcome = record.and_then(|record| {
            index
                .register_unwritten(source, &record, actor)
                .map_err(|e| e.to_string())
        });
        match outcome {
            Ok((batch, registration)) => {
                summary.imported += 1;
                if registration.updated {
                    summary.updated += 1;
                }
                if registration.created_person {
                    summary.new_persons += 1;
                }
                match registration.outcome {
                    Outcome::AutoLink if !registration.created_person => summary.auto_linked += 1,
                    _ => {}
                }
                if registration.review_id.is_some() {
                    summary.reviews += 1;
                }
                pending.extend(batch);
                pending_records += 1;
            }
            Err(reason) => {
                summary.rejected += 1;
                rejected(Rejected { line, reason });
            }
        }
        if pending_records >= IMPORT_BATCH {
            let waiting = Instant::now();
            writer.write(std::mem::take(&mut pending)).await?;
            summary.waiting_seconds += waiting.elapsed().as_secs_f64();
            pending_records = 0;
        }
        if line % 1000 == 0 {
            progress(line);
        }
    }
    let waiting = Instant::now();
    writer.write(pending).await?;
    writer.finish().await?;
    summary.waiting_seconds += waiting.elapsed().as_secs_f64();
    progress(summary.lines);
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Writes batches in the background, one at a time and in order, so that linking the next
/// batch overlaps writing this one.
struct BatchWriter {
    store: Store,
    in_flight: Option<tokio::task::JoinHandle<Result<(), MpiError>>>,
}

impl BatchWriter {
    fn new(store: Store) -> Self {
        Self {
            store,
            in_flight: None,
        }
    }

    /// Waits for the previous batch, then starts writing this one.
    async fn write(&mut self, mut batch: MpiBatch) -> Result<(), MpiError> {
        self.finish().await?;
        keep_last_versions(&mut batch);
        let store = self.store.clone();
        self.in_flight = Some(tokio::spawn(async move {
            store.mpi_apply(&batch).await.map_err(MpiError::from)
        }));
        Ok(())
    }

    /// Waits for the batch being written, if any.
    async fn finish(&mut self) -> Result<(), MpiError> {
        match self.in_flight.take() {
            None => Ok(()),
            Some(handle) => handle.await.map_err(|e| {
                MpiError::Store(StoreError::Corrupt(format!("import writer stopped: {e}")))
            })?,
        }
    }
}

/// Keeps only the last version of a record seen twice in a batch (one row per key).
fn keep_last_versions(batch: &mut MpiBatch) {
    let mut last = HashMap::new();
    for (position, record) in batch.records.iter().enumerate() {
        last.insert((record.source.clone(), record.local_id.clone()), position);
    }
    if last.len() < batch.records.len() {
        let mut position = 0;
        batch.records.retain(|record| {
            let keep = last[&(record.source.clone(), record.local_id.clone())] == position;
            position += 1;
            keep
        });
    }
}

/// Writes one JSON line per linked pair (`--links`) or per person (`--clusters`), straight
/// from the store. Returns the number of lines written.
pub async fn export(
    store: &Store,
    clusters: bool,
    out: &mut impl Write,
) -> Result<usize, MpiError> {
    let mut persons: HashMap<String, Vec<(String, String, Link)>> = HashMap::new();
    store
        .mpi_each_record(|row| {
            let link: Link = serde_json::from_str(&row.link)
                .map_err(|e| StoreError::Corrupt(format!("stored link: {e}")))?;
            persons
                .entry(row.person_id)
                .or_default()
                .push((row.source, row.local_id, link));
            Ok(())
        })
        .await?;
    let mut ids: Vec<&String> = persons.keys().collect();
    ids.sort();
    let mut written = 0;
    let io = |e: std::io::Error| MpiError::Store(StoreError::Corrupt(format!("write: {e}")));
    for id in ids {
        let mut records = persons[id].clone();
        records.sort_by_key(|(_, _, link)| link.at);
        if clusters {
            let list: Vec<Value> = records
                .iter()
                .map(|(source, local_id, _)| json!({"source": source, "localId": local_id}))
                .collect();
            serde_json::to_writer(&mut *out, &json!({"personId": id, "records": list}))
                .map_err(|e| io(e.into()))?;
            out.write_all(b"\n").map_err(io)?;
            written += 1;
        } else {
            let (first_source, first_local, _) = &records[0];
            let in_person = |anchor: &crate::index::RecordKey| {
                records
                    .iter()
                    .any(|(s, l, _)| **s == *anchor.source && **l == *anchor.local_id)
            };
            for (source, local_id, link) in records.iter().skip(1) {
                // The record it was matched with, if that one is still in the same person.
                let (b_source, b_local) = match &link.anchor {
                    Some(anchor) if in_person(anchor) => (&*anchor.source, &*anchor.local_id),
                    _ => (first_source.as_str(), first_local.as_str()),
                };
                let line = json!({
                    "a": {"source": source, "localId": local_id},
                    "b": {"source": b_source, "localId": b_local},
                    "score": link.score,
                    "rule": link.rule,
                });
                serde_json::to_writer(&mut *out, &line).map_err(|e| io(e.into()))?;
                out.write_all(b"\n").map_err(io)?;
                written += 1;
            }
        }
    }
    out.flush().map_err(io)?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(text: &str, format: &InputFormat) -> Vec<(usize, Result<SourceRecord, String>)> {
        RecordReader::new(text.as_bytes(), format)
            .expect("reader")
            .collect()
    }

    #[test]
    fn json_lines_report_bad_lines_by_number_and_skip_blank_ones() {
        let text = "{\"localId\":\"1\"}\n\n{\"localId\":\"2\",\"sex\":\"M\"\n{\"localId\":\"3\",\"surname\":\"Rusu\"}\n";
        let rows = read_all(text, &InputFormat::JsonLines);
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].0, 1);
        assert!(rows[0].1.is_ok());
        assert_eq!(rows[1].0, 3);
        assert!(rows[1].1.is_err());
        assert_eq!(rows[2].0, 4);
        let reason = rows[2].1.clone().unwrap_err();
        assert!(reason.contains("surname"), "{reason}");
        assert!(!reason.contains("Rusu"), "{reason}");
    }

    #[test]
    fn csv_columns_are_mapped_to_fields() {
        let columns =
            parse_column_map("localId=cod,lastName=nume,firstName=prenume,address.district=raion")
                .expect("map");
        let text = "cod,nume,prenume,raion,birthDate\nA1,Rusu,Ion,Cahul,1980-01-02\nA2,Ceban\n";
        let rows = read_all(text, &InputFormat::Csv { columns });
        assert_eq!(rows.len(), 2);
        let first = rows[0].1.clone().expect("first row");
        assert_eq!(first.local_id, "A1");
        assert_eq!(first.last_name.as_deref(), Some("Rusu"));
        assert_eq!(first.birth_date.as_deref(), Some("1980-01-02"));
        assert_eq!(
            first.address.and_then(|a| a.district).as_deref(),
            Some("Cahul")
        );
        assert_eq!(rows[1].0, 3);
        assert!(rows[1].1.clone().unwrap_err().contains("expected 5 fields"));
    }

    #[test]
    fn column_maps_name_unknown_fields() {
        let error = parse_column_map("surname=nume").unwrap_err();
        assert!(error.contains("surname"), "{error}");
        let error = RecordReader::new(
            "cod\n1\n".as_bytes(),
            &InputFormat::Csv {
                columns: HashMap::new(),
            },
        )
        .err()
        .expect("no localId column");
        assert!(error.contains("localId"), "{error}");
    }
}
