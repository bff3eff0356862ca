#!/usr/bin/env python3
"""Quality of beneficiary record linkage: score our master index, and a `recordlinkage` baseline.

The master person index (`src/mpi/`) groups source records into persons. This script measures how
well a grouping matches the truth of a test data set, with pairwise precision, recall and F1 of
"same person" record pairs, and runs the well-known PyPI toolkit `recordlinkage` on the same
records so that the benchmark can compare both on the same files and the same truth.

Subcommands
-----------
evaluate       Score a grouping (our linker's output) against the truth.

    mpi_quality.py evaluate --truth TRUTH.jsonl --clusters CLUSTERS.jsonl [--json OUT.json]
                            [--subset]

    TRUTH.jsonl    one line per record:  {"localId": "R0000001", "personId": "P0000001"}
    CLUSTERS.jsonl one line per found person:
                   {"personId": "<uuid>",
                    "records": [{"source": "legacy", "localId": "R0000001"}, ...]}
                   `source` is ignored; each localId must appear once in all clusters.

    Every clustered record must be in the truth. By default every truth record must also be
    clustered (a linker that drops records is an error); with --subset the score covers only
    the clustered records, for a linker run on part of the truth's records.

recordlinkage  Link RECORDS with `recordlinkage` (blocking, comparison, unsupervised ECM, the
               Fellegi-Sunter/EM analogue of our EM-trained linker), cluster the predicted links
               by connected components, and score the clusters exactly as `evaluate` does.

    mpi_quality.py recordlinkage --records RECORDS.jsonl --truth TRUTH.jsonl [--json OUT.json]
                                 [--max-records N] [--clusters-out CLUSTERS.jsonl] [--jobs J]
                                 [--window W]

    RECORDS.jsonl  the master index's import format (defined in src/mpi/record.rs), one record a
                   line; every field but localId is optional:
                   {"localId", "idnp", "identifiers": [{"system", "value"}], "firstName",
                    "lastName", "patronymic", "birthDate": "YYYY-MM-DD|YYYY-MM|YYYY",
                    "sex": "M|F", "address": {"district", "locality", "street", "house",
                    "postalCode"}, "phone"}
    --max-records N keeps the first N records (recordlinkage holds every candidate pair in
                   memory and compares in Python; 50k-100k records is practical, 1M is not).
                   The score then covers those N records only.

    Pipeline (a competent reading of the recordlinkage documentation; the one choice made
    after seeing scores on our synthetic data is to leave two extra indexers off, see below):
      preprocessing  Cyrillic transliterated with a simple Romanian-oriented letter table, then
                     recordlinkage.preprocessing.clean(strip_accents="unicode") (lower case,
                     diacritics such as s/t with comma or cedilla, a, a-circumflex, i-circumflex
                     stripped); IDNP and phone reduced to digits (phone: last 8 digits).
      indexing       union of blocks: IDNP; birth date + first letter of surname; soundex of
                     surname + birth year. Optionally (--window W) also a sorted neighbourhood
                     on "surname first name". Off by default: on our synthetic data (50k
                     records) a window of 9 multiplied candidate pairs by five, mostly
                     namesakes, and the ECM fit then lost half its precision; likewise a block
                     on phone (shared by families) cost precision for little recall.
      comparison     Jaro-Winkler >= 0.85 on first name, surname, patronymic and locality;
                     exact on IDNP, birth date, sex and phone (missing values disagree: the ECM
                     classifier takes binary features only).
      classification recordlinkage.ECMClassifier (unsupervised EM, Jaro's initialisation).
      clustering     connected components of predicted links (union-find).
    Reports wall time per stage and in total, candidate pairs, links, the learnt m/u
    probabilities, and the peak resident set size (getrusage; with --jobs > 1 the worker
    processes' own memory is not included).

selftest       Score a tiny built-in example with a hand-computed answer, cross-check the
               contingency counting against brute-force pair enumeration, and check input
               errors and name preprocessing. Exits non-zero on any mismatch.

Scores
------
Pairs are unordered pairs of distinct records. With k(t, f) the number of records of truth
person t in found cluster f: true positives = sum C(k(t, f), 2); predicted pairs = sum over
found clusters of C(size, 2); true pairs = sum over truth persons of C(size, 2).
precision = TP / predicted, recall = TP / true, F1 = 2 TP / (predicted + true); null (n/a) when
the denominator is 0. Also: false merges = found clusters holding records of >= 2 truth persons;
missed links = truth persons whose records are split over >= 2 found clusters; exact persons =
truth persons found as exactly one cluster with exactly their records. Counting is linear in the
number of records, so 1,000,000+ records are fine (`evaluate` needs no third-party package).

Output prints counts and scores only, never names, identifiers or other personal data; input
errors name the file and line number, not the value.

Requirements
------------
`evaluate` and `selftest` need only Python 3 (3.11 tested). `recordlinkage` needs these pip
packages, tested with Debian's python3 3.11.2 in a virtualenv (recordlinkage, jellyfish, pandas
and numpy are used directly; the rest are their dependencies as pip resolved them):

    recordlinkage==0.16 jellyfish==1.3.0 pandas==2.3.3 numpy==2.4.6 scipy==1.17.1
    scikit-learn==1.9.1 joblib==1.6.0 python-dateutil==4.0.0 pytz==2026.6 tzdata==2026.6
    threadpoolctl==3.8.0 narwhals==2.29.0 cloudpickle==3.1.2

    python3 -m venv VENV
    VENV/bin/pip install recordlinkage==0.16 jellyfish==1.3.0 pandas==2.3.3 numpy==2.4.6 \
        scipy==1.17.1 scikit-learn==1.9.1 joblib==1.6.0 python-dateutil==4.0.0 pytz==2026.6 \
        tzdata==2026.6 threadpoolctl==3.8.0 narwhals==2.29.0 cloudpickle==3.1.2
    VENV/bin/python scripts/mpi_quality.py selftest
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import json
import os
import random
import resource
import sys
import tempfile
import time
import unicodedata
import uuid
from collections import Counter

PROG = "mpi_quality"


class InputError(Exception):
    """A problem with an input file; the message names the file and line, never the value."""


# ---------------------------------------------------------------------------------------------
# Reading JSON Lines
# ---------------------------------------------------------------------------------------------


def iter_jsonl(path):
    """Yields (line number, object) for each non-blank line of a JSON Lines file."""
    try:
        handle = open(path, "rb")
    except OSError as error:
        raise InputError(f"{path}: cannot open: {error.strerror}") from None
    with handle:
        for number, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise InputError(f"{path}:{number}: not valid UTF-8") from None
            if not text.strip():
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as error:
                raise InputError(
                    f"{path}:{number}: not valid JSON ({error.msg} at column {error.colno})"
                ) from None
            if not isinstance(value, dict):
                raise InputError(f"{path}:{number}: expected a JSON object")
            yield number, value


def required_string(obj, key, where):
    value = obj.get(key)
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{where}: \"{key}\" must be a non-blank string")
    return value.strip()


def read_clusters(path):
    """Reads CLUSTERS.jsonl into {localId: cluster number}; returns (mapping, cluster count)."""
    found = {}
    cluster_lines = []
    for number, obj in iter_jsonl(path):
        where = f"{path}:{number}"
        cluster = len(cluster_lines)
        cluster_lines.append(number)
        records = obj.get("records")
        if not isinstance(records, list):
            raise InputError(f"{where}: \"records\" must be a list")
        for index, record in enumerate(records):
            if not isinstance(record, dict):
                raise InputError(f"{where}: records[{index}] must be an object")
            local_id = required_string(record, "localId", f"{where}: records[{index}]")
            if local_id in found:
                raise InputError(
                    f"{where}: records[{index}]: localId already listed on line "
                    f"{cluster_lines[found[local_id]]}; each record must be in one cluster only"
                )
            found[local_id] = cluster
    return found, len(cluster_lines)


def read_truth(path, wanted=None):
    """Reads TRUTH.jsonl into {localId: person number}.

    With `wanted` (a set of localIds), keeps only those records. Returns (mapping, number of
    truth records read in all).
    """
    truth = {}
    persons = {}
    lines = {}
    total = 0
    for number, obj in iter_jsonl(path):
        where = f"{path}:{number}"
        local_id = required_string(obj, "localId", where)
        person_id = required_string(obj, "personId", where)
        total += 1
        if local_id in lines:
            raise InputError(f"{where}: localId already given on line {lines[local_id]}")
        lines[local_id] = number
        if wanted is not None and local_id not in wanted:
            continue
        truth[local_id] = persons.setdefault(person_id, len(persons))
    return truth, total


# ---------------------------------------------------------------------------------------------
# Scoring
# ---------------------------------------------------------------------------------------------


def pairs_of(size):
    return size * (size - 1) // 2


def ratio(numerator, denominator):
    return numerator / denominator if denominator else None


def score(labels):
    """Pairwise scores of a grouping against the truth.

    `labels` yields one (truth person, found cluster) pair of hashable labels per record. The
    count is linear in the records: a contingency table of (truth, found) cells, never pairs.
    """
    cells = Counter(labels)
    truth_sizes = Counter()
    found_sizes = Counter()
    truth_cells = Counter()
    found_cells = Counter()
    true_positives = 0
    for (truth, found), count in cells.items():
        truth_sizes[truth] += count
        found_sizes[found] += count
        truth_cells[truth] += 1
        found_cells[found] += 1
        true_positives += pairs_of(count)
    true_pairs = sum(pairs_of(size) for size in truth_sizes.values())
    predicted_pairs = sum(pairs_of(size) for size in found_sizes.values())
    exact = sum(
        1
        for (truth, found), count in cells.items()
        if count == truth_sizes[truth] == found_sizes[found]
    )
    return {
        "records": sum(truth_sizes.values()),
        "truthPersons": len(truth_sizes),
        "foundClusters": len(found_sizes),
        "truePairs": true_pairs,
        "predictedPairs": predicted_pairs,
        "truePositives": true_positives,
        "falsePositivePairs": predicted_pairs - true_positives,
        "falseNegativePairs": true_pairs - true_positives,
        "precision": ratio(true_positives, predicted_pairs),
        "recall": ratio(true_positives, true_pairs),
        "f1": ratio(2 * true_positives, predicted_pairs + true_pairs),
        "falseMerges": sum(1 for n in found_cells.values() if n >= 2),
        "missedLinks": sum(1 for n in truth_cells.values() if n >= 2),
        "exactPersons": exact,
    }


def score_grouping(truth, found, truth_path, found_what, subset):
    """Scores `found` ({localId: cluster}) against `truth` ({localId: person}).

    Every found record must be in the truth. Truth records absent from `found` are an error
    unless `subset`, when the score covers the found records only.
    """
    unknown = sum(1 for local_id in found if local_id not in truth)
    if unknown:
        raise InputError(
            f"{unknown} record(s) of {found_what} have no line in the truth file {truth_path}"
        )
    missing = len(truth) - len(found)
    if missing and not subset:
        raise InputError(
            f"{missing} record(s) of the truth file {truth_path} are in no cluster of "
            f"{found_what}; pass --subset to score only the clustered records"
        )
    result = score((truth[local_id], cluster) for local_id, cluster in found.items())
    result["truthRecordsNotScored"] = missing
    return result


def fmt_count(value):
    return f"{value:,}"


def fmt_ratio(value):
    return "n/a" if value is None else f"{value:.4f}"


def print_scores(result, out=sys.stdout):
    rows = [
        ("records", fmt_count(result["records"])),
        ("truth persons", fmt_count(result["truthPersons"])),
        ("found clusters", fmt_count(result["foundClusters"])),
        ("true pairs", fmt_count(result["truePairs"])),
        ("predicted pairs", fmt_count(result["predictedPairs"])),
        ("true positive pairs", fmt_count(result["truePositives"])),
        ("false positive pairs", fmt_count(result["falsePositivePairs"])),
        ("false negative pairs", fmt_count(result["falseNegativePairs"])),
        ("precision", fmt_ratio(result["precision"])),
        ("recall", fmt_ratio(result["recall"])),
        ("F1", fmt_ratio(result["f1"])),
        ("false merges (clusters mixing >= 2 persons)", fmt_count(result["falseMerges"])),
        ("missed links (persons split over >= 2 clusters)", fmt_count(result["missedLinks"])),
        ("persons found exactly", fmt_count(result["exactPersons"])),
    ]
    if result.get("truthRecordsNotScored"):
        rows.append(("truth records not scored (not clustered/linked)",
                     fmt_count(result["truthRecordsNotScored"])))
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value:>14}", file=out)


def write_json(path, document):
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2)
        handle.write("\n")


class Progress:
    """Stage timer that reports to stderr."""

    def __init__(self, quiet=False):
        self.start = time.perf_counter()
        self.stages = {}
        self.quiet = quiet
        self._stage = None
        self._stage_start = None

    def say(self, message):
        if not self.quiet:
            elapsed = time.perf_counter() - self.start
            print(f"[{PROG} {elapsed:8.1f}s] {message}", file=sys.stderr, flush=True)

    def begin(self, stage, message=None):
        self.end()
        self._stage = stage
        self._stage_start = time.perf_counter()
        self.say(message or f"{stage}...")

    def end(self):
        if self._stage is not None:
            took = time.perf_counter() - self._stage_start
            self.stages[self._stage] = round(took, 3)
            self.say(f"{self._stage} done in {took:.1f}s")
            self._stage = None

    def total(self):
        return round(time.perf_counter() - self.start, 3)


def peak_rss_mib():
    """Peak resident set size of this process (and of waited-for children), in MiB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # Linux reports KiB; macOS reports bytes.
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024
    return round(own / scale, 1), round(children / scale, 1)


# ---------------------------------------------------------------------------------------------
# evaluate
# ---------------------------------------------------------------------------------------------


def cmd_evaluate(args):
    progress = Progress(args.quiet)
    progress.begin("read clusters", f"reading clusters from {args.clusters}")
    found, clusters = read_clusters(args.clusters)
    progress.say(f"{fmt_count(len(found))} records in {fmt_count(clusters)} clusters")
    progress.begin("read truth", f"reading truth from {args.truth}")
    truth, _ = read_truth(args.truth)
    progress.begin("score")
    result = score_grouping(truth, found, args.truth, args.clusters, args.subset)
    progress.end()
    print(f"Pairwise linkage quality of {args.clusters} against {args.truth}:")
    print_scores(result)
    if args.json:
        write_json(args.json, {
            "tool": "mpi",
            "truth": args.truth,
            "clusters": args.clusters,
            "subset": args.subset,
            "quality": result,
            "seconds": progress.total(),
        })
        progress.say(f"wrote {args.json}")
    return 0


# ---------------------------------------------------------------------------------------------
# recordlinkage baseline
# ---------------------------------------------------------------------------------------------

# Cyrillic -> Latin, one letter at a time, in the spelling Romanian Moldovan names use (Чебан ->
# ceban, Цуркан -> turcan, Кожокару -> cojocaru). Deliberately simple: what a user of the
# toolkit would write in a few minutes, not our linker's context-aware folding.
CYRILLIC = {
    "а": "a", "б": "b", "в": "v", "г": "g", "ґ": "g", "д": "d", "е": "e", "ё": "io", "є": "ie",
    "ж": "j", "з": "z", "и": "i", "і": "i", "ї": "i", "й": "i", "к": "c", "л": "l", "м": "m",
    "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "h",
    "ц": "t", "ч": "c", "ш": "s", "щ": "st", "ъ": "", "ы": "i", "ь": "", "э": "a", "ю": "iu",
    "я": "ia",
}
CYRILLIC_TABLE = str.maketrans(
    {**CYRILLIC, **{k.upper(): v for k, v in CYRILLIC.items()}}
)


def transliterate(text):
    """Cyrillic letters to Latin (lower case for Cyrillic input); other characters kept."""
    return text.translate(CYRILLIC_TABLE) if isinstance(text, str) else text


def fold_name(text):
    """The preprocessing in plain Python: what transliterate + recordlinkage's clean() give.

    Used by selftest to state the expected result; the pipeline itself calls clean().
    """
    text = unicodedata.normalize("NFKD", transliterate(text).lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = "".join(c for c in text if c.isascii() and (c.isalnum() or c in " -_"))
    return " ".join(text.replace("-", " ").replace("_", " ").split())


def digits_only(text):
    if not isinstance(text, str):
        return None
    digits = "".join(c for c in text if c.isascii() and c.isdigit())
    return digits or None


def load_records(path, max_records, progress):
    """Reads RECORDS.jsonl into column lists (the first `max_records` records if given)."""
    columns = {name: [] for name in (
        "local_id", "idnp", "first_name", "last_name", "patronymic", "birth_date", "sex",
        "locality", "phone",
    )}
    seen = {}

    def text(obj, key, where):
        value = obj.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise InputError(f"{where}: \"{key}\" must be a string")
        return value

    for number, obj in iter_jsonl(path):
        if max_records is not None and len(seen) >= max_records:
            break
        where = f"{path}:{number}"
        local_id = required_string(obj, "localId", where)
        if local_id in seen:
            raise InputError(f"{where}: localId already used on line {seen[local_id]}")
        seen[local_id] = number
        address = obj.get("address")
        if address is None:
            address = {}
        if not isinstance(address, dict):
            raise InputError(f"{where}: \"address\" must be an object")
        sex = text(obj, "sex", where)
        columns["local_id"].append(local_id)
        columns["idnp"].append(digits_only(text(obj, "idnp", where)))
        columns["first_name"].append(text(obj, "firstName", where))
        columns["last_name"].append(text(obj, "lastName", where))
        columns["patronymic"].append(text(obj, "patronymic", where))
        birth = text(obj, "birthDate", where)
        columns["birth_date"].append((birth.strip() or None) if birth else None)
        columns["sex"].append((sex.strip().upper() or None) if sex else None)
        columns["locality"].append(text(address, "locality", f"{where}: address"))
        phone = digits_only(text(obj, "phone", where))
        columns["phone"].append(phone[-8:] if phone and len(phone) >= 6 else None)
        if len(seen) % 100_000 == 0:
            progress.say(f"{fmt_count(len(seen))} records read")
    return columns


def preprocess(columns):
    """Builds the DataFrame the pipeline indexes and compares (index: record position)."""
    import numpy as np
    import pandas as pd
    from recordlinkage.preprocessing import clean, phonetic

    df = pd.DataFrame(columns, dtype=object)

    def on_present(series, function):
        """Applies a Series function to the present values only (pandas' .str accessor
        refuses a column that holds no string at all); missing values stay NaN."""
        present = series.dropna()
        result = pd.Series(np.nan, index=series.index, dtype=object)
        if len(present):
            result.loc[present.index] = function(present).replace("", np.nan)
        return result

    def name(series):
        return clean(series.map(transliterate), strip_accents="unicode")

    for column in ("first_name", "last_name", "patronymic", "locality"):
        df[column] = on_present(df[column], name)
    df["birth_year"] = on_present(df["birth_date"], lambda s: s.str.slice(0, 4))
    df["surname_initial"] = on_present(df["last_name"], lambda s: s.str.slice(0, 1))
    df["surname_soundex"] = on_present(df["last_name"],
                                       lambda s: phonetic(s, method="soundex"))
    df["name_key"] = on_present(df["last_name"], lambda s: s) + " " + df["first_name"].fillna("")
    return df


def union_find_clusters(n, left, right):
    """Connected components of n nodes under the given links; returns a root per node."""
    parent = list(range(n))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in zip(left, right):
        ra, rb = find(a), find(b)
        if ra != rb:
            if ra < rb:
                parent[rb] = ra
            else:
                parent[ra] = rb
    return [find(x) for x in range(n)]


def write_clusters(path, local_ids, roots):
    groups = {}
    for local_id, root in zip(local_ids, roots):
        groups.setdefault(root, []).append(local_id)
    namespace = uuid.UUID("7a1c2f1e-6d7b-4c1a-9a53-2f0f6c0b5e11")
    with open(path, "w", encoding="utf-8") as handle:
        for members in groups.values():
            handle.write(json.dumps({
                "personId": str(uuid.uuid5(namespace, members[0])),
                "records": [{"source": "recordlinkage", "localId": m} for m in members],
            }) + "\n")


def package_versions():
    from importlib import metadata

    versions = {}
    for package in ("recordlinkage", "jellyfish", "pandas", "numpy", "scipy", "scikit-learn"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def import_recordlinkage():
    """Imports the toolkit, or says which packages are missing."""
    try:
        return importlib.import_module("recordlinkage")
    except ImportError as error:
        raise InputError(
            f"the recordlinkage subcommand needs pip packages not installed here ({error}); "
            "see this script's docstring for the pinned versions"
        ) from None


def cmd_recordlinkage(args):
    recordlinkage = import_recordlinkage()

    progress = Progress(args.quiet)
    progress.begin("load", f"reading records from {args.records}"
                   + (f" (first {fmt_count(args.max_records)})" if args.max_records else ""))
    columns = load_records(args.records, args.max_records, progress)
    n = len(columns["local_id"])
    progress.say(f"{fmt_count(n)} records")
    if n < 2:
        raise InputError(f"{args.records}: {n} record(s); linking needs at least 2")

    progress.begin("preprocess")
    df = preprocess(columns)
    del columns

    progress.begin("index", "indexing (blocking"
                   + (" and sorted neighbourhood)" if args.window else ")"))
    indexer = recordlinkage.Index()
    indexer.block("idnp")
    indexer.block(["birth_date", "surname_initial"])
    indexer.block(["surname_soundex", "birth_year"])
    if args.window:
        indexer.sortedneighbourhood("name_key", window=args.window)
    candidates = indexer.index(df)
    progress.say(f"{fmt_count(len(candidates))} candidate pairs")

    progress.begin("compare", f"comparing {fmt_count(len(candidates))} candidate pairs")
    compare = recordlinkage.Compare(n_jobs=args.jobs)
    compare.exact("idnp", "idnp", label="idnp")
    compare.string("first_name", "first_name", method="jarowinkler", threshold=0.85,
                   label="first_name")
    compare.string("last_name", "last_name", method="jarowinkler", threshold=0.85,
                   label="last_name")
    compare.string("patronymic", "patronymic", method="jarowinkler", threshold=0.85,
                   label="patronymic")
    compare.exact("birth_date", "birth_date", label="birth_date")
    compare.exact("sex", "sex", label="sex")
    compare.string("locality", "locality", method="jarowinkler", threshold=0.85,
                   label="locality")
    compare.exact("phone", "phone", label="phone")
    features = compare.compute(candidates, df)
    features = features.astype("int8")

    progress.begin("classify", "classifying with the ECM classifier (unsupervised EM)")
    ecm = recordlinkage.ECMClassifier(binarize=None)
    links = ecm.fit_predict(features) if len(features) else candidates[:0]
    progress.say(f"{fmt_count(len(links))} predicted links")
    model = {}
    try:
        model = {
            "prior": float(ecm.p),
            "m": {k: float(v[1]) for k, v in ecm.m_probs.items()},
            "u": {k: float(v[1]) for k, v in ecm.u_probs.items()},
        }
    except Exception:  # an empty or degenerate fit has no parameters to report
        pass
    del features

    progress.begin("cluster", "clustering links (union-find)")
    roots = union_find_clusters(
        n, links.get_level_values(0).tolist(), links.get_level_values(1).tolist()
    )
    local_ids = df["local_id"].tolist()
    del df
    if args.clusters_out:
        progress.begin("write clusters", f"writing clusters to {args.clusters_out}")
        write_clusters(args.clusters_out, local_ids, roots)
        progress.say(f"wrote {args.clusters_out}")

    progress.begin("evaluate", f"reading truth from {args.truth} and scoring")
    found = dict(zip(local_ids, roots))
    truth, truth_total = read_truth(args.truth, wanted=found)
    result = score_grouping(truth, found, args.truth, args.records, subset=True)
    result["truthRecordsNotScored"] = truth_total - len(truth)
    progress.end()

    total = progress.total()
    rss_self, rss_children = peak_rss_mib()
    print(f"recordlinkage baseline on {fmt_count(n)} records of {args.records}:")
    print_scores(result)
    print(f"  candidate pairs {fmt_count(len(candidates)):>14}   predicted links "
          f"{fmt_count(len(links)):>12}")
    print("  seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in progress.stages.items())
          + f", total {total:.1f}")
    print(f"  peak RSS {rss_self:,.0f} MiB" + (f" (children {rss_children:,.0f} MiB)"
                                              if rss_children else ""))
    if args.json:
        write_json(args.json, {
            "tool": "recordlinkage",
            "versions": package_versions(),
            "records": args.records,
            "truth": args.truth,
            "maxRecords": args.max_records,
            "recordsLinked": n,
            "jobs": args.jobs,
            "sortedNeighbourhoodWindow": args.window,
            "candidatePairs": int(len(candidates)),
            "predictedLinks": int(len(links)),
            "ecm": model,
            "quality": result,
            "seconds": {**progress.stages, "total": total},
            "peakRssMiB": rss_self,
            "peakRssChildrenMiB": rss_children,
        })
        progress.say(f"wrote {args.json}")
    return 0


# ---------------------------------------------------------------------------------------------
# selftest
# ---------------------------------------------------------------------------------------------


def brute_force(labels):
    """The scores by enumerating every pair and comparing record sets: O(n^2), small inputs."""
    true_pairs = predicted = both = 0
    for (t1, f1), (t2, f2) in itertools.combinations(labels, 2):
        true_pairs += t1 == t2
        predicted += f1 == f2
        both += t1 == t2 and f1 == f2
    truth_sets, found_sets = {}, {}
    for record, (t, f) in enumerate(labels):
        truth_sets.setdefault(t, set()).add(record)
        found_sets.setdefault(f, set()).add(record)
    merges = sum(1 for s in found_sets.values() if len({labels[r][0] for r in s}) >= 2)
    missed = sum(1 for s in truth_sets.values() if len({labels[r][1] for r in s}) >= 2)
    exact = sum(1 for s in truth_sets.values() if s in found_sets.values())
    return true_pairs, predicted, both, merges, missed, exact


def cmd_selftest(args):
    failures = []

    def check(what, got, expected):
        ok = got == expected
        print(f"  {'ok  ' if ok else 'FAIL'} {what}: {got!r}" + ("" if ok else f" != {expected!r}"))
        if not ok:
            failures.append(what)

    print("hand-computed example (5 records):")
    # Truth: R1 R2 R3 are person P1, R4 R5 are P2.  True pairs: C(3,2) + C(2,2) = 4.
    # Found: {R1 R2} {R3 R4} {R5}.  Predicted pairs: 1 + 1 + 0 = 2.
    # True positives: only R1-R2.  precision 1/2, recall 1/4, F1 = 2*1/(2+4) = 1/3.
    # {R3 R4} mixes P1 and P2 (one false merge); P1 and P2 are both split (two missed links);
    # no person is found exactly.
    with tempfile.TemporaryDirectory(prefix="mpi_quality_") as tmp:
        truth_path = os.path.join(tmp, "truth.jsonl")
        clusters_path = os.path.join(tmp, "clusters.jsonl")
        with open(truth_path, "w", encoding="utf-8") as handle:
            for local_id, person in [("R1", "P1"), ("R2", "P1"), ("R3", "P1"), ("R4", "P2"),
                                     ("R5", "P2")]:
                handle.write(json.dumps({"localId": local_id, "personId": person}) + "\n")
        with open(clusters_path, "w", encoding="utf-8") as handle:
            for cluster in (["R1", "R2"], ["R3", "R4"], ["R5"]):
                handle.write(json.dumps({
                    "personId": str(uuid.uuid4()),
                    "records": [{"source": "legacy", "localId": r} for r in cluster],
                }) + "\n")
        found, _ = read_clusters(clusters_path)
        truth, _ = read_truth(truth_path)
        result = score_grouping(truth, found, truth_path, clusters_path, subset=False)
        expected = {
            "records": 5, "truthPersons": 2, "foundClusters": 3, "truePairs": 4,
            "predictedPairs": 2, "truePositives": 1, "falsePositivePairs": 1,
            "falseNegativePairs": 3, "precision": 0.5, "recall": 0.25, "f1": 1 / 3,
            "falseMerges": 1, "missedLinks": 2, "exactPersons": 0, "truthRecordsNotScored": 0,
        }
        for key, value in expected.items():
            check(key, result[key], value)

        print("input checks:")
        bad_path = os.path.join(tmp, "bad.jsonl")
        with open(bad_path, "w", encoding="utf-8") as handle:
            handle.write('{"localId":"R1","personId":"P1"}\n\n{"localId":"R2",\n')
        try:
            read_truth(bad_path)
            check("malformed line reported", "no error", "error naming line 3")
        except InputError as error:
            check("malformed line names file:line", str(error).startswith(f"{bad_path}:3:"), True)
        with open(bad_path, "w", encoding="utf-8") as handle:
            handle.write('{"personId":"x","records":[{"localId":"SECRET-1"}]}\n'
                         '{"personId":"y","records":[{"localId":"SECRET-1"}]}\n')
        try:
            read_clusters(bad_path)
            check("duplicate localId reported", "no error", "error")
        except InputError as error:
            message = str(error)
            check("duplicate localId names line 2 and line 1",
                  message.startswith(f"{bad_path}:2:") and "line 1" in message, True)
            check("error message hides the value", "SECRET" in message, False)
        partial = {k: v for k, v in found.items() if k != "R5"}
        try:
            score_grouping(truth, partial, truth_path, clusters_path, subset=False)
            check("unclustered truth record reported", "no error", "error")
        except InputError:
            check("unclustered truth record is an error without --subset", True, True)
        subset = score_grouping(truth, partial, truth_path, clusters_path, subset=True)
        check("--subset scores the 4 clustered records", subset["records"], 4)

    print("contingency counts against brute-force pair enumeration (200 random groupings):")
    rng = random.Random(20240601)
    mismatches = 0
    for _ in range(200):
        n = rng.randint(0, 60)
        persons = rng.randint(1, 15)
        labels = []
        for _ in range(n):
            t = rng.randrange(persons)
            # mostly follow the truth, sometimes merge or split
            f = t if rng.random() < 0.7 else rng.randrange(persons + 5)
            labels.append((t, f))
        result = score(labels)
        reference = brute_force(labels)
        got = tuple(result[key] for key in ("truePairs", "predictedPairs", "truePositives",
                                            "falseMerges", "missedLinks", "exactPersons"))
        mismatches += got != reference
        links = [(i, j) for i, j in itertools.combinations(range(n), 2)
                 if labels[i][1] == labels[j][1]]
        union = union_find_clusters(n, [i for i, _ in links], [j for _, j in links])
        regrouped = score((labels[i][0], union[i]) for i in range(n))
        mismatches += (regrouped["predictedPairs"], regrouped["truePositives"]) != reference[1:3]
    check("random groupings matching brute force (and union-find regrouping)", mismatches, 0)

    print("name preprocessing:")
    for raw, expected in [
        ("Țurcanu", "turcanu"), ("ŢURCANU", "turcanu"), ("Ţurcanu", "turcanu"),
        ("Цуркану", "turcanu"), ("Ștefan", "stefan"), ("Şevciuc", "sevciuc"),
        ("Чебан", "ceban"), ("Bălan", "balan"), ("Sârbu", "sarbu"),
        ("Cojocaru-Rusu", "cojocaru rusu"),
    ]:
        check(f"fold {raw!r}", fold_name(raw), expected)
    try:
        import pandas as pd
        from recordlinkage.preprocessing import clean
    except ImportError:
        print("  skip recordlinkage.preprocessing.clean (recordlinkage not installed)")
    else:
        raws = ["Țurcanu", "ŢURCANU", "Цуркану", "Ştefan cel Mare", "Gârlea", "Cojocaru-Rusu"]
        cleaned = clean(pd.Series(raws).map(transliterate), strip_accents="unicode").tolist()
        check("clean() agrees with fold_name", cleaned, [fold_name(r) for r in raws])

    if failures:
        print(f"selftest FAILED: {len(failures)} check(s): {', '.join(failures)}")
        return 1
    print("selftest passed")
    return 0


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def build_parser():
    parser = argparse.ArgumentParser(
        prog="mpi_quality.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run 'mpi_quality.py SUBCOMMAND --help' for each subcommand's options.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="SUBCOMMAND")

    evaluate = sub.add_parser(
        "evaluate", help="score our linker's clusters against the truth",
        description="Score a grouping of records into persons against the truth: pairwise "
                    "precision, recall and F1, pair counts, false merges and missed links.",
    )
    evaluate.add_argument("--truth", required=True, metavar="TRUTH.jsonl",
                          help='one {"localId", "personId"} object per line, one per record')
    evaluate.add_argument("--clusters", required=True, metavar="CLUSTERS.jsonl",
                          help='one {"personId", "records": [{"source", "localId"}, ...]} object '
                               "per found person")
    evaluate.add_argument("--json", metavar="OUT.json", help="also write the scores as JSON")
    evaluate.add_argument("--subset", action="store_true",
                          help="score only the clustered records (default: every truth record "
                               "must be clustered)")
    evaluate.add_argument("--quiet", action="store_true", help="no progress on stderr")
    evaluate.set_defaults(func=cmd_evaluate)

    linkage = sub.add_parser(
        "recordlinkage", help="link records with the recordlinkage toolkit and score the result",
        description="Baseline: link RECORDS with recordlinkage (blocking, Jaro-Winkler/exact "
                    "comparison, unsupervised ECM classifier), cluster links by connected "
                    "components, and score the clusters as 'evaluate' does. Reports stage "
                    "times, candidate pairs and peak RSS.",
    )
    linkage.add_argument("--records", required=True, metavar="RECORDS.jsonl",
                         help="source records in the master index's import format")
    linkage.add_argument("--truth", required=True, metavar="TRUTH.jsonl",
                         help='one {"localId", "personId"} object per line; may hold more '
                              "records than are linked")
    linkage.add_argument("--json", metavar="OUT.json",
                         help="also write scores, times, counts and memory as JSON")
    linkage.add_argument("--max-records", type=positive_int, metavar="N",
                         help="link only the first N records (e.g. 50000-100000; the score "
                              "covers those records)")
    linkage.add_argument("--clusters-out", metavar="CLUSTERS.jsonl",
                         help="write the baseline's clusters in the CLUSTERS format")
    linkage.add_argument("--jobs", type=positive_int, default=1, metavar="J",
                         help="worker processes for the comparison stage (default 1)")
    linkage.add_argument("--window", type=int, default=0, metavar="W",
                         help="also index by a sorted neighbourhood of this odd window on "
                              "'surname first name' (default 0: off; see the docstring)")
    linkage.add_argument("--quiet", action="store_true", help="no progress on stderr")
    linkage.set_defaults(func=cmd_recordlinkage)

    selftest = sub.add_parser(
        "selftest", help="check the scoring on built-in examples with known answers",
        description="Score a hand-computed 5-record example, compare contingency counting "
                    "with brute-force pair enumeration, check input errors and name "
                    "preprocessing. Exits 1 on any mismatch.",
    )
    selftest.set_defaults(func=cmd_selftest)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    window = getattr(args, "window", 0)
    if window and (window < 0 or window % 2 == 0):
        print(f"{PROG}: --window must be 0 (off) or a positive odd number", file=sys.stderr)
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
