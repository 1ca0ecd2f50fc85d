"""Bad input (RELIABILITY B1-B13): each fixture and its exact expected outcome."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ingestion.loader import ingest
from ingestion.manifest import Manifest
from lakecore.errors import HostilePathError
from lakecore.settings import Settings
from tests.helpers import PROJECT
from tests.helpers.landing import (
    PLANS_HEADER,
    WriteLanding,
    bronze_rows,
    plan_line,
    quarantine_rows,
    subscription,
)

PLANS = "billing/plans/2024-03-01/part-0001.csv"
SUBS = "billing/subscriptions/2024-03-01/part-0001.jsonl"


def batch(settings: Settings, landing_file: str):
    return next(b for b in Manifest(settings.manifest_path).batches()
                if b.landing_file == landing_file)


def test_b1_malformed_csv_quarantines_bad_lines_and_lands_good_rows(
    settings: Settings, write_landing: WriteLanding
) -> None:
    """Given a plans CSV with an unterminated quote, a ragged row, quoted commas and newlines and a
    blank line, when it is ingested, then the good rows land, the bad lines are quarantined by line
    with a reason, and the batch's counts reconcile."""
    # Given a CSV with an unterminated quote on line 3 and a ragged row on line 4
    write_landing(PLANS, "\n".join([
        PLANS_HEADER,
        plan_line("p1", '"Growth, annual"'),
        'p2,"Broken,growth,month,1,100,usd,true,2024-01-01T00:00:00Z',
        "p3,Short,growth",
        plan_line("p4"),
        plan_line("p5", '"Multi\nline"'),
        "",
    ]) + "\n")
    # When it is ingested
    report = ingest(settings)
    # Then good rows land (a quoted field may hold a comma or a newline), bad ones are
    # quarantined with line and reason, and the counts reconcile
    assert [r[0] for r in bronze_rows(settings, "billing/plans", "plan_id, plan_name")] == [
        "p1", "p4", "p5"]
    assert bronze_rows(settings, "billing/plans", "plan_name")[2] == ("Multi\nline",)
    assert quarantine_rows(settings) == [
        (PLANS, 3, "unterminated quoted field"),
        (PLANS, 4, "expected 9 fields, found 3"),
    ]
    b = batch(settings, PLANS)
    assert (b.input_rows, b.landed_rows, b.quarantined_rows) == (5, 3, 2)
    assert b.blank_lines == 1  # a blank line is not a row, only counted
    assert report.landed_rows == 3


def test_b2_malformed_json_lines_named_by_line(settings: Settings,
                                              write_landing: WriteLanding) -> None:
    """Given JSON Lines with a truncated object and a line of invalid UTF-8, when they are ingested,
    then the other lines land and the two bad ones are quarantined, named by line and reason."""
    # Given JSON Lines with a truncated object (line 2) and invalid UTF-8 (line 3)
    content = (subscription(subscription_id="s1").encode() + b"\n"
               + b'{"subscription_id": "s2", "account_id": \n'
               + subscription(subscription_id="s3", account_id="acc_X").encode().replace(
                   b"acc_X", b"acc_\xff")  # a lone 0xff byte is not UTF-8
               + b"\n" + subscription(subscription_id="s4").encode() + b"\n")
    write_landing(SUBS, content)
    # When it is ingested
    ingest(settings)
    # Then the other lines land and the bad ones are quarantined, named by line and reason
    assert [r[0] for r in bronze_rows(settings, "billing/subscriptions", "subscription_id")] == [
        "s1", "s4"]
    assert quarantine_rows(settings) == [
        (SUBS, 2, "malformed JSON"),
        (SUBS, 3, "invalid UTF-8 (is the file Latin-1?)"),
    ]


def test_b3_wrong_types_are_quarantined_never_nulled(settings: Settings,
                                                    write_landing: WriteLanding) -> None:
    """Given subscriptions with a fractional quantity, a quoted quantity and an impossible date, and
    a plan with a non-numeric amount, when they are ingested, then those rows are quarantined with
    the type error (never nulled) and only the clean row lands."""
    # Given values of the wrong type: a fractional and a quoted quantity, an impossible
    # date, a non-numeric amount
    write_landing(SUBS, "\n".join([
        subscription(subscription_id="s1", quantity=1.5),
        subscription(subscription_id="s2", started_at="2024-02-31T00:00:00Z"),
        subscription(subscription_id="s3", quantity="3"),
        subscription(subscription_id="s4"),
    ]) + "\n")
    write_landing(PLANS, PLANS_HEADER + "\n" + plan_line("p1", amount="abc") + "\n")
    # When they are ingested
    ingest(settings)
    # Then only the clean row lands; the others are quarantined with the type error
    assert bronze_rows(settings, "billing/subscriptions", "subscription_id, quantity") == [
        ("s4", 2)]
    assert quarantine_rows(settings) == [
        (PLANS, 2, "unit_amount_minor: not an integer: 'abc'"),
        (SUBS, 1, "quantity: not an integer: '1.5'"),
        (SUBS, 2, "started_at: not a valid timestamp: '2024-02-31T00:00:00Z'"),
        (SUBS, 3, "quantity: not an integer: '\"3\"'"),
    ]


def test_b4_missing_required_column_rejects_the_whole_file(
    settings: Settings, write_landing: WriteLanding
) -> None:
    """Given a plans CSV whose header lacks the required tier and currency columns, when it is
    ingested, then the whole file is rejected naming them, nothing lands or is committed, and a
    rerun reports it as rejected earlier."""
    # Given a plans file whose header lacks two required columns
    header = PLANS_HEADER.replace(",currency", "").replace(",tier", "")
    write_landing(PLANS, header + "\np1,Growth,month,1,4900,true,2024-01-01T00:00:00Z\n")
    # When it is ingested
    report = ingest(settings)
    # Then the file is rejected whole, naming them, and nothing lands or is committed
    assert [(o.status, o.message) for o in report.outcomes] == [
        ("rejected", "header lacks required columns: tier, currency")]
    assert bronze_rows(settings, "billing/plans") == []
    assert quarantine_rows(settings) == []
    assert not list(settings.bronze.rglob("*.parquet"))
    assert Manifest(settings.manifest_path).batches() == []
    # And a rerun does not retry the same bytes but says so again
    again = ingest(settings)
    assert again.outcomes[0].status == "rejected"
    assert "rejected earlier" in again.outcomes[0].message


def test_b5_unknown_columns_are_kept_in_extra_and_reported(
    settings: Settings, write_landing: WriteLanding
) -> None:
    """Given a plans CSV and subscriptions with columns the contract does not know, when they are
    ingested, then the rows land with those values as JSON in _extra (null when empty) and the
    outcome names the columns ignored downstream."""
    # Given a plans column and a subscription field the contract does not know
    write_landing(PLANS, PLANS_HEADER + ",color\n" + plan_line("p1") + ",red\n"
                  + plan_line("p2") + ",\n")
    write_landing(SUBS, subscription(subscription_id="s1", promo="X1") + "\n")
    # When they are ingested
    report = ingest(settings)
    # Then they are kept in _extra (null when empty) and the outcome names them
    assert bronze_rows(settings, "billing/plans", "plan_id, _extra") == [
        ("p1", '{"color":"red"}'), ("p2", None)]
    assert bronze_rows(settings, "billing/subscriptions", "subscription_id, _extra") == [
        ("s1", '{"promo":"X1"}')]
    plans_outcome = next(o for o in report.outcomes if o.landing_file == PLANS)
    assert plans_outcome.message == "unknown columns kept in _extra, ignored downstream: color"


def test_b6_duplicate_keys_are_all_kept_in_bronze(settings: Settings,
                                                 write_landing: WriteLanding) -> None:
    """Given one subscription key twice in a file and again in a later export, when they are
    ingested, then Bronze keeps all three rows, each with its export date and line number."""
    # Given key s1 twice in one file and once more in the next day's export
    line = subscription(subscription_id="s1")
    write_landing(SUBS, line + "\n" + line + "\n")
    write_landing("billing/subscriptions/2024-03-02/part-0001.jsonl",
                  subscription(subscription_id="s1", quantity=3) + "\n")
    # When they are ingested
    ingest(settings)
    # Then Bronze keeps all three, with their export date and line
    assert bronze_rows(settings, "billing/subscriptions",
                       "subscription_id, quantity, _export_date::varchar, _line_number") == [
        ("s1", 2, "2024-03-01", 1), ("s1", 2, "2024-03-01", 2), ("s1", 3, "2024-03-02", 1)]


def test_b7_negative_money_absurd_quantity_unknown_enum(
    settings: Settings, write_landing: WriteLanding
) -> None:
    """Given an absurd quantity, an unknown status, a discount above 100 % and a negative plan
    amount, when they are ingested, then each of those rows is quarantined naming the rule it
    breaks."""
    # Given an absurd quantity, an unknown status, a discount above 100, a negative amount
    write_landing(SUBS, "\n".join([
        subscription(subscription_id="s1", quantity=250000),
        subscription(subscription_id="s2", status="paused"),
        subscription(subscription_id="s3", discount_percent=120),
    ]) + "\n")
    write_landing(PLANS, PLANS_HEADER + "\n" + plan_line("p1", amount="-100") + "\n")
    # When they are ingested
    ingest(settings)
    # Then each row is quarantined naming the rule it breaks
    assert quarantine_rows(settings) == [
        (PLANS, 2, "unit_amount_minor: below the minimum 0: -100"),
        (SUBS, 1, "quantity: above the maximum 100000: 250000"),
        (SUBS, 2, "status: unknown value 'paused'"),
        (SUBS, 3, "discount_percent: above the maximum 100: 120"),
    ]


def test_b8_timestamps_without_offset_or_out_of_range(
    settings: Settings, write_landing: WriteLanding
) -> None:
    """Given timestamps without an offset, before 2000, far in the future, and one at +02:00, when
    they are ingested, then the first three are quarantined with the reason and the last lands
    normalised to UTC, partitioned by its export date."""
    # Given timestamps without an offset, too old, too far ahead, and one at +02:00
    write_landing(SUBS, "\n".join([
        subscription(subscription_id="s1", updated_at="2024-01-05T10:00:00"),
        subscription(subscription_id="s2", created_at="1900-01-01T00:00:00Z"),
        subscription(subscription_id="s3", created_at="2999-01-01T00:00:00Z"),
        subscription(subscription_id="s4", updated_at="2024-01-05T12:00:00+02:00"),
    ]) + "\n")
    # When they are ingested
    ingest(settings)
    # Then the first three are quarantined with the reason
    assert quarantine_rows(settings) == [
        (SUBS, 1, "updated_at: timestamp without UTC offset: '2024-01-05T10:00:00'"),
        (SUBS, 2, "created_at: out of the accepted range: '1900-01-01T00:00:00Z'"),
        (SUBS, 3, "created_at: out of the accepted range: '2999-01-01T00:00:00Z'"),
    ]
    # And offsets are normalised to UTC; the partition is the export date, never the event's
    rows = bronze_rows(settings, "billing/subscriptions", "updated_at::varchar, ingestion_date")
    assert rows == [("2024-01-05 10:00:00+00", __import__("datetime").date(2024, 3, 1))]
    assert [p.name for p in (settings.bronze / "billing" / "subscriptions").iterdir()] == [
        "ingestion_date=2024-03-01"]


def test_b9_encodings_bom_latin1_emoji_nul_crlf(settings: Settings,
                                               write_landing: WriteLanding) -> None:
    """Given a plans CSV with a BOM and CRLF line ends holding emoji, a Latin-1 byte and a NUL byte,
    when it is ingested, then the UTF-8 rows land intact and the Latin-1 and NUL lines are
    quarantined with an encoding reason."""
    # Given a plans file with a BOM and CRLF line ends: emoji, a Latin-1 byte, a NUL byte
    rows = [
        PLANS_HEADER,
        plan_line("p1", "Café 🚀"),
        plan_line("p2", "Caf\xe9"),  # becomes Latin-1 below
        plan_line("p3", "Nul\x00Byte"),
        plan_line("p4", "Crlf"),
    ]
    content = b"\xef\xbb\xbf" + "\r\n".join(rows).encode("utf-8").replace(
        b"Caf\xc3\xa9,", b"Caf\xe9,") + b"\r\n"
    write_landing(PLANS, content)
    # When it is ingested
    ingest(settings)
    # Then UTF-8 rows land intact; the Latin-1 and NUL lines are quarantined with a reason
    assert bronze_rows(settings, "billing/plans", "plan_id, plan_name") == [
        ("p1", "Café 🚀"), ("p4", "Crlf")]
    assert quarantine_rows(settings) == [
        (PLANS, 3, "invalid UTF-8 (is the file Latin-1?)"),
        (PLANS, 4, "NUL byte in line"),
    ]


@pytest.mark.parametrize(
    ("relative", "content"),
    [
        ("billing/plans/2024-03-01/empty.csv", b""),
        ("billing/plans/2024-03-01/header-only.csv", (PLANS_HEADER + "\n").encode()),
        ("billing/subscriptions/2024-03-01/empty.jsonl", b""),
        ("billing/subscriptions/2024-03-01/array.jsonl", b"[]\n"),
    ],
)
def test_b10_empty_files_are_empty_batches(settings: Settings, write_landing: WriteLanding,
                                          relative: str, content: bytes) -> None:
    """Given a landing file without rows (empty, header only, or a JSON array), when it is ingested,
    then it is committed as an empty batch without a Bronze file that still sets the as-of date."""
    # Given a landing file without rows
    write_landing(relative, content)
    # When it is ingested
    report = ingest(settings)
    # Then it is an empty batch: committed, no rows, no Bronze file, and it sets the as-of date
    assert [o.status for o in report.outcomes] == ["empty"]
    b = batch(settings, relative)
    assert (b.input_rows, b.landed_rows, b.quarantined_rows, b.bronze_file) == (0, 0, 0, None)
    assert Manifest(settings.manifest_path).as_of_date() == "2024-03-01"


def test_b12_null_or_blank_keys_are_quarantined(settings: Settings,
                                               write_landing: WriteLanding) -> None:
    """Given subscriptions whose key is null or blank, when they are ingested, then those rows are
    quarantined as blank keys."""
    # Given subscriptions whose key is null or blank
    write_landing(SUBS, "\n".join([
        subscription(subscription_id=None),
        subscription(subscription_id="  "),
        subscription(subscription_id="s3"),
    ]) + "\n")
    # When they are ingested
    ingest(settings)
    # Then those rows are quarantined as blank keys
    assert quarantine_rows(settings) == [
        (SUBS, 1, "subscription_id: blank key"),
        (SUBS, 2, "subscription_id: blank key"),
    ]


def test_b13_hostile_paths_are_refused_before_any_read(
    settings: Settings, write_landing: WriteLanding, tmp_path: Path
) -> None:
    """Given a symlink to a file outside the landing zone, a symlinked folder and a file name
    holding quotes and SQL, when hostile paths are named explicitly and the zone is then ingested,
    then the paths are refused before any read, the symlinks are refused unread, and only the oddly
    named file lands."""
    # Given a file outside the landing zone
    outside = tmp_path / "secret.csv"
    outside.write_text(PLANS_HEADER + "\n" + plan_line("stolen") + "\n")
    # a symlink inside the landing zone pointing out of it, and a folder symlink
    link = settings.landing / "billing/plans/2024-03-01/link.csv"
    link.parent.mkdir(parents=True)
    os.symlink(outside, link)
    os.symlink(tmp_path, settings.landing / "billing/accounts")
    # a name with quotes and SQL in it is fine: names never reach SQL
    quoted = "billing/plans/2024-03-02/it's\"; drop table x; --.csv"
    write_landing(quoted, PLANS_HEADER + "\n" + plan_line("q1") + "\n")
    # When hostile paths are named explicitly, then each is refused before any read
    for hostile in ("../secret.csv", str(outside), "billing/../../secret.csv"):
        with pytest.raises(HostilePathError):
            ingest(settings, files=[hostile])
    # When the whole landing zone is ingested
    report = ingest(settings)
    # Then both symlinks are refused unread, the oddly named file lands, the secret does not
    statuses = {o.landing_file: (o.status, o.message) for o in report.outcomes}
    assert statuses["billing/plans/2024-03-01/link.csv"] == (
        "refused", "a symlink leads outside the landing zone; not read")
    assert statuses["billing/accounts"] == (
        "refused", "symlinked folder in the landing zone; not followed")
    assert statuses[quoted][0] == "loaded"
    assert [r[0] for r in bronze_rows(settings, "billing/plans", "plan_id")] == ["q1"]
    assert outside.read_text().count("stolen") == 1  # untouched
    assert not any("stolen" in str(r) for r in bronze_rows(settings, "billing/plans"))


def test_contract_gaps_invisible_keys_offsets_nul_and_json_arrays(
        settings: Settings, write_landing: WriteLanding) -> None:
    """Given subscriptions whose key is only a tab or a zero-width space, whose key holds a JSON
    \\u0000 escape, with a UTC offset of +25:00, a line that is a JSON array, and three timestamp
    spellings the contract accepts (+0530, a space for T, nanoseconds), when they are ingested,
    then the first five are quarantined with their real reason, and the last three land in UTC,
    the nanoseconds truncated to Bronze's microseconds."""
    # Given the hostile rows and the accepted spellings
    write_landing(SUBS, "\n".join([
        subscription(subscription_id="\t"),
        subscription(subscription_id="\u200b"),
        subscription(subscription_id="s\u0000x"),
        subscription(subscription_id="s4", updated_at="2024-01-05T10:00:00+25:00"),
        "[" + subscription(subscription_id="s5") + "]",
        subscription(subscription_id="s6", updated_at="2024-01-05T10:00:00+0530"),
        subscription(subscription_id="s7", updated_at="2024-01-05 10:00:00Z"),
        subscription(subscription_id="s8", updated_at="2024-01-05T10:00:00.123456789Z"),
    ]) + "\n")
    # When they are ingested
    ingest(settings)
    # Then the first five are quarantined, each with its real reason
    assert quarantine_rows(settings) == [
        (SUBS, 1, "subscription_id: blank key"),
        (SUBS, 2, "subscription_id: blank key"),
        (SUBS, 3, "subscription_id: NUL character in value"),
        (SUBS, 4, "updated_at: UTC offset out of range (-14:00 to +14:00): "
                  "'2024-01-05T10:00:00+25:00'"),
        (SUBS, 5, "not a JSON object: the line is a JSON array"),
    ]
    # And the accepted spellings land normalised to UTC (nanoseconds cut to microseconds)
    assert bronze_rows(settings, "billing/subscriptions",
                       "subscription_id, updated_at::varchar") == [
        ("s6", "2024-01-05 04:30:00+00"),
        ("s7", "2024-01-05 10:00:00+00"),
        ("s8", "2024-01-05 10:00:00.123456+00"),
    ]


def test_bare_cr_line_ends_reject_the_file(settings: Settings,
                                          write_landing: WriteLanding) -> None:
    """Given a plans CSV whose lines end in a bare CR (classic Mac), when it is ingested, then the
    file is rejected whole with that reason and nothing of it lands (its rows would merge)."""
    write_landing(PLANS, "\r".join([PLANS_HEADER, plan_line("p1"), plan_line("p2")]) + "\r")
    report = ingest(settings)
    assert [o.status for o in report.outcomes] == ["rejected"]
    assert "bare CR" in report.outcomes[0].message
    assert bronze_rows(settings, "billing/plans", "plan_id") == []


USERS_HEADER = "user_id,account_id,email,role,created_at,updated_at,deleted_at"


def users_csv(header: str, created_at: str = "2024-02-01T10:00:00Z") -> str:
    """Three users under ``header`` (its columns in any order; ``team`` filled if present)."""
    names = header.split(",")
    values = {"account_id": "acc_1", "email": "someone@example.com", "role": "member",
              "created_at": created_at, "updated_at": "2024-02-01T10:00:00Z",
              "deleted_at": "", "team": "data"}
    rows = [",".join(f"u{n}" if c == "user_id" else values[c] for c in names)
            for n in range(1, 4)]
    return "\n".join([header, *rows]) + "\n"


def test_f14_schema_drift_is_reported_recorded_and_follows_the_policy(
        settings: Settings, write_landing: WriteLanding) -> None:
    """Given users exports whose columns drift (a day without the optional deleted_at and with a
    new team column, then a day whose created_at became epoch numbers) and a subscriptions export
    without its required discount_percent and with a new coupon key (F14), when they are ingested,
    then each file's progress line names its differences, meta.schema_changes records exactly the
    changes against the previous batch, `status` lists them, and the policy holds: a missing
    optional column lands as null, a new one goes to _extra, retyped and missing required values
    are quarantined with their reason."""
    from analytics.query import run_query

    # Given four exports whose columns drift
    day1, day2, day3 = (f"app/users/2024-03-0{d}/part-0001.csv" for d in (1, 2, 3))
    write_landing(day1, users_csv(USERS_HEADER))
    write_landing(day2, users_csv("user_id,account_id,email,role,created_at,updated_at,team"))
    write_landing(day3, users_csv(USERS_HEADER, created_at="1709287200"))
    line = json.loads(subscription(subscription_id="s1", coupon="SPRING"))
    del line["discount_percent"]
    write_landing(SUBS, json.dumps(line) + "\n")
    # When they are ingested
    lines: list[str] = []
    report = ingest(settings, progress=lines.append)
    # Then each drifting file's line names its differences (and the clean one has none)
    by_file = {o.landing_file: o for o in report.outcomes}
    assert by_file[day1].message == ""
    assert by_file[day2].message == ("unknown columns kept in _extra, ignored downstream: "
                                     "team; columns missing from the file (null in Bronze): "
                                     "deleted_at")
    assert by_file[day3].message == ("column created_at retyped? 3 of 3 rows are not a valid "
                                     "timestamp and were quarantined")
    assert by_file[SUBS].message == (
        "unknown columns kept in _extra, ignored downstream: coupon; columns missing from the "
        "file (null in Bronze): discount_percent")
    assert any(line.startswith(f"{day2}: 3 rows landed") for line in lines)
    assert lines[-1].startswith("ingest: 100% (4 of 4 files;")
    # and meta.schema_changes holds exactly the changes against each previous batch
    changes = run_query(settings, "select entity, export_date, change, column_name, detail "
                                  "from meta.schema_changes order by all").to_pylist()
    assert [(c["entity"], c["export_date"], c["change"], c["column_name"]) for c in changes] == [
        ("subscriptions", "2024-03-01", "missing", "discount_percent"),
        ("subscriptions", "2024-03-01", "new", "coupon"),
        ("users", "2024-03-02", "missing", "deleted_at"),
        ("users", "2024-03-02", "new", "team"),
        ("users", "2024-03-03", "missing", "team"),
        ("users", "2024-03-03", "new", "deleted_at"),
        ("users", "2024-03-03", "retyped", "created_at"),
    ]
    # and the policy holds: null for the missing optional column, _extra for the new one,
    # quarantine with the reason for retyped values and a missing required field
    assert bronze_rows(settings, "app/users", "_export_date::varchar, deleted_at, _extra")[3:] == [
        ("2024-03-02", None, '{"team":"data"}')] * 3
    reasons = {(f, r) for f, _, r in quarantine_rows(settings)}
    assert (day3, "created_at: not an ISO-8601 timestamp: '1709287200'") in reasons
    assert (SUBS, "discount_percent: missing required field") in reasons
    # and `lakehouse status` lists the latest changes
    status = subprocess.run([sys.executable, "-m", "saaslake.cli", "--root", str(settings.root),
                             "status"], cwd=PROJECT, capture_output=True, text=True, check=True)
    assert "latest schema changes (all: meta.schema_changes):" in status.stdout
    assert (f"app/users 2024-03-03 {day3}: retyped created_at (3 of 3 rows are not a valid "
            "timestamp and were quarantined)") in status.stdout
