#!/usr/bin/env python3
"""Why the master index kept apart the true pairs it missed.

After `mpi import` of a data set's sources and `mpi export --clusters`, lists every pair of
records that the truth says are one person but the index holds as two, and asks the index
(`esocial-hub mpi match`, which changes nothing) how each record sees the other's person: the
rule that calls it somebody else, the reason it needs a human, a score between the review and
the auto-link weights or below the review weight, or no candidate at all (the two records share
no blocking key). Counts the pairs per cause, with a few examples each.

    python3 scripts/mpi_misses.py --hub target/release/esocial-hub \\
        --db "sqlite://$W/hub.db?mode=rwc" --truth $W/truth.jsonl \\
        --clusters $W/hub-clusters.jsonl --records $W/febrl-a.jsonl $W/febrl-b.jsonl \\
        [--examples 3] [--json misses.jsonl]

`mpi match` reads the store like the other `mpi` commands: HUB__AUDIT__DIGEST_KEY (and the
sealing key, if the store was written with one) must be set as they were for the import. The
examples print the records' fields; use the script on test data only.
"""

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile

# How many candidates `mpi match` lists per record: enough that a split person is among them.
CANDIDATES = 200


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def missed_pairs(truth, found):
    """Pairs of local ids of one true person that sit in different found persons."""
    by_person = collections.defaultdict(list)
    for local_id, person in truth.items():
        if local_id in found:
            by_person[person].append(local_id)
    pairs = []
    for members in by_person.values():
        members.sort()
        for i, a in enumerate(members):
            for b in members[i + 1:]:
                if found[a] != found[b]:
                    pairs.append((a, b))
    return pairs


def cause_of(view):
    if view is None:
        return "not a candidate (no blocking key shared)"
    if view.get("anotherPersonBecause"):
        return "somebody else: " + view["anotherPersonBecause"]
    if view.get("needsReviewBecause"):
        return "review: " + view["needsReviewBecause"]
    return {
        "review": "review: score between the review and auto-link weights",
        "no-match": "score below the review weight",
        "auto-link": "would link now (an effect of the load order)",
    }[view["outcome"]]


def brief(record):
    place = record.get("address") or {}
    ids = [record.get("idnp")] + [i.get("value") for i in record.get("identifiers") or []]
    return " | ".join(str(v) for v in (
        record.get("localId"), record.get("firstName"), record.get("lastName"),
        record.get("patronymic"), record.get("birthDate"), [i for i in ids if i],
        place.get("house"), place.get("street"), place.get("locality"),
    ))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hub", required=True, help="the esocial-hub binary")
    parser.add_argument("--db", required=True, help="the index's store URL")
    parser.add_argument("--truth", required=True)
    parser.add_argument("--clusters", required=True, help="`mpi export --clusters` output")
    parser.add_argument("--records", required=True, nargs="+", help="the source files imported")
    parser.add_argument("--examples", type=int, default=2, help="examples shown per cause")
    parser.add_argument("--json", help="write one JSON line per missed pair here")
    args = parser.parse_args()

    truth = {t["localId"]: t["personId"] for t in read_lines(args.truth)}
    found = {}
    for cluster in read_lines(args.clusters):
        for record in cluster["records"]:
            found[record["localId"]] = cluster["personId"]
    records = {}
    for path in args.records:
        for record in read_lines(path):
            records[record["localId"]] = record
    pairs = missed_pairs(truth, found)
    involved = sorted({local_id for pair in pairs for local_id in pair})
    print(f"{len(pairs)} true pairs held apart, {len(involved)} records involved", file=sys.stderr)

    views = {}
    if involved:
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as query:
            for local_id in involved:
                query.write(json.dumps(records[local_id], ensure_ascii=False) + "\n")
        try:
            run = subprocess.run(
                [args.hub, "mpi", "match", "--db", args.db, "--limit", str(CANDIDATES), query.name],
                capture_output=True, text=True, env=dict(os.environ, RUST_LOG="error"))
        finally:
            os.unlink(query.name)
        if run.returncode != 0:
            sys.exit(f"mpi match failed: {run.stderr.strip()}")
        for local_id, line in zip(involved, run.stdout.splitlines()):
            views[local_id] = json.loads(line)["match"]["candidates"]

    counts = collections.Counter()
    examples = collections.defaultdict(list)
    out = open(args.json, "w", encoding="utf-8") if args.json else None
    for a, b in pairs:
        # The other's person as each record sees it; the better of the two views decides.
        best = None
        for mine, theirs in ((a, b), (b, a)):
            for view in views[mine]:
                if view["personId"] == found[theirs]:
                    if best is None or view["weight"] > best["weight"]:
                        best = view
        cause = cause_of(best)
        counts[cause] += 1
        if len(examples[cause]) < args.examples:
            examples[cause].append((best and best["weight"], records[a], records[b]))
        if out:
            out.write(json.dumps({
                "cause": cause, "weight": best and best["weight"],
                "explanation": best and best["explanation"], "a": records[a], "b": records[b],
            }, ensure_ascii=False) + "\n")
    if out:
        out.close()

    for cause, count in counts.most_common():
        print(f"{count:6d}  {cause}")
        for weight, a, b in examples[cause]:
            print(f"          weight {weight}: {brief(a)}")
            print(f"                     {' ' * len(str(weight))}{brief(b)}")


if __name__ == "__main__":
    main()
