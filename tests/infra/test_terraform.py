"""infra/terraform, statically: parsed with python-hcl2 and its wiring asserted; checked for the
layout `terraform fmt` writes; scanned with checkov (from its own virtualenv, .venv-checkov)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import hcl2
import pytest

from lambdas import package
from tests.conftest import REPO_ROOT
from tradeflow.config import DEAD_LETTER, NEWS, ORDERS, PRICES, SIGNALS, TOPICS

TF = REPO_ROOT / "infra" / "terraform"
CHECKOV = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"


def plain(value: Any) -> Any:
    """python-hcl2 8 keeps string literals quoted and marks blocks; tests want plain values."""
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items() if k != "__is_block__"}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"')
    return value


def load(path: Path) -> dict[str, Any]:
    with open(path) as fh:
        return plain(hcl2.load(fh))


@pytest.fixture(scope="module")
def tf() -> dict[str, Any]:
    merged: dict[str, Any] = {"resource": {}, "data": {}, "variable": {}, "output": {}}
    for path in sorted(TF.glob("*.tf")):
        doc = load(path)
        for kind in merged:
            for block in doc.get(kind, []):
                for typ, named in block.items():
                    if kind in ("resource", "data"):
                        merged[kind].setdefault(typ, {}).update(named)
                    else:
                        merged[kind][typ] = named
    return merged


def res(tf: dict[str, Any], typ: str, name: str) -> dict[str, Any]:
    return tf["resource"][typ][name]


def one(block: Any) -> dict[str, Any]:
    return block[0] if isinstance(block, list) else block


def statements(tf: dict[str, Any], doc: str) -> dict[str, dict[str, Any]]:
    return {s["sid"]: s for s in tf["data"]["aws_iam_policy_document"][doc]["statement"]}


def test_event_source_mapping_wiring(tf):
    esm = res(tf, "aws_lambda_event_source_mapping", "signals")
    assert esm["event_source_arn"] == '${aws_kinesis_stream.topic["trading-signals"].arn}'
    assert esm["function_name"] == '${aws_lambda_function.fn["execute_signals"].arn}'
    assert esm["function_response_types"] == ["ReportBatchItemFailures"]
    assert esm["bisect_batch_on_function_error"] is True
    on_failure = one(one(esm["destination_config"])["on_failure"])
    assert on_failure["destination_arn"] == '${aws_sqs_queue.dlq["execute_signals"].arn}'


def test_functions_schedules_and_handlers(tf):
    fn = res(tf, "aws_lambda_function", "fn")
    assert fn["handler"] == "lambdas.${each.key}.handler" and fn["runtime"] == "python3.11"
    assert "${aws_kms_key.tradeflow.arn}" == fn["kms_key_arn"]
    assert one(fn["tracing_config"])["mode"] == "Active"
    main = (TF / "main.tf").read_text()
    assert '["ingest_prices", "ingest_news", "execute_signals"]' in main
    for name in ("ingest_prices", "ingest_news", "execute_signals"):
        assert (REPO_ROOT / "lambdas" / f"{name}.py").exists()  # the handler the zip will hold
    rule = res(tf, "aws_cloudwatch_event_rule", "ingest")
    assert rule["schedule_expression"] == "${var.ingest_schedule}"
    perm = res(tf, "aws_lambda_permission", "schedule")
    assert perm["principal"] == "events.amazonaws.com"


def _locals() -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for path in sorted(TF.glob("*.tf")):
        for block in load(path).get("locals", []):
            merged.update(block)
    return merged


def test_streams_are_the_topics_and_functions_the_handlers():
    local = _locals()
    assert tuple(local["topics"]) == TOPICS  # one Kinesis stream per topic the code names
    assert sorted(local["functions"]) == sorted(package.FUNCTIONS)


def topics_of(statement: dict[str, Any]) -> set[str]:
    """The topics whose streams a policy statement names."""
    resources = statement["resources"]
    text = " ".join(resources) if isinstance(resources, list) else str(resources)
    return set(re.findall(r'"([a-z-]+)"', " ".join(re.findall(r"stream_arn\[[^]]*\]", text))))


def test_each_role_reaches_only_the_streams_its_code_uses(tf):
    granted = {doc: {sid: topics_of(st) for sid, st in statements(tf, doc).items()}
               for doc in ("ingest", "execute", "flink")}
    # What each component reads or writes (lambdas/ingest.py, lambdas/execute.py, the job's SQL).
    assert set().union(*granted["ingest"].values()) == {PRICES, NEWS, DEAD_LETTER}
    assert granted["execute"]["ReadSignals"] == {SIGNALS}
    assert set().union(*granted["execute"].values()) == {SIGNALS, ORDERS, DEAD_LETTER}
    assert set().union(*granted["flink"].values()) == {PRICES, NEWS, SIGNALS, DEAD_LETTER}
    # Every state, secret and artifact is named by its own resource; "*" only where AWS has no
    # resource-level permission (X-Ray; namespaced metrics).
    for doc in granted:
        for sid, st in statements(tf, doc).items():
            resources = st["resources"] if isinstance(st["resources"], list) else []
            if "*" in resources:
                assert sid in ("Tracing", "Metrics"), (doc, sid)
    assert "dynamodb:Scan" not in statements(tf, "execute")["DecisionState"]["actions"]


def test_encryption_everywhere(tf):
    streams = res(tf, "aws_kinesis_stream", "topic")
    assert streams["encryption_type"] == "KMS"
    assert streams["kms_key_id"] == "${aws_kms_key.tradeflow.arn}"
    for table in ("state", "audit", "ingest"):
        sse = one(res(tf, "aws_dynamodb_table", table)["server_side_encryption"])
        assert sse["enabled"] is True and sse["kms_key_arn"] == "${aws_kms_key.tradeflow.arn}"
        assert one(res(tf, "aws_dynamodb_table", table)["point_in_time_recovery"])["enabled"]
    for secret in ("alpaca", "slack"):
        s = res(tf, "aws_secretsmanager_secret", secret)
        assert s["kms_key_id"] == "${aws_kms_key.tradeflow.arn}"
    assert "aws_secretsmanager_secret_version" not in tf["resource"]  # values out of band
    assert res(tf, "aws_kms_key", "tradeflow")["enable_key_rotation"] is True
    sse = one(one(res(tf, "aws_s3_bucket_server_side_encryption_configuration",
                      "artifacts")["rule"])["apply_server_side_encryption_by_default"])
    assert sse["sse_algorithm"] == "aws:kms"


def test_artifacts_bucket_private_and_versioned(tf):
    block = res(tf, "aws_s3_bucket_public_access_block", "artifacts")
    assert all(block[k] is True for k in ("block_public_acls", "block_public_policy",
                                          "ignore_public_acls", "restrict_public_buckets"))
    versioning = one(res(tf, "aws_s3_bucket_versioning", "artifacts")["versioning_configuration"])
    assert versioning["status"] == "Enabled"


def test_flink_application(tf):
    app = res(tf, "aws_kinesisanalyticsv2_application", "signals")
    assert app["runtime_environment"] == "FLINK-1_20"
    groups = {g["property_group_id"]: g["property_map"] for g in one(one(
        app["application_configuration"])["environment_properties"])["property_group"]}
    assert groups["kinesis.analytics.flink.run.options"] == {
        "python": "main.py", "jarfile": "lib/pyflink-dependencies.jar"}
    assert set(groups["tradeflow"]) >= {"aws_region", "prices_stream_arn", "news_stream_arn",
                                        "signals_stream_arn", "dead_letter_stream_arn"}


def test_alarms_cover_lag_errors_and_flink_downtime(tf):
    alarms = tf["resource"]["aws_cloudwatch_metric_alarm"]
    metrics = {a["metric_name"] for a in alarms.values()}
    assert {"IteratorAge", "Errors", "downtime", "GetRecords.IteratorAgeMilliseconds"} <= metrics


def test_variables_have_descriptions_and_example_is_complete(tf):
    for name, var in tf["variable"].items():
        assert var.get("description"), name
    example = load(TF / "terraform.tfvars.example")
    assert {k for k in example if not k.startswith("__")} <= set(tf["variable"])
    assert not re.search(r"(?i)(secret_key|bot_token|xoxb-)\s*=", (TF / "terraform.tfvars.example")
                         .read_text())


ASSIGN = re.compile(r'^(\s*)([A-Za-z0-9_."-]+)(\s*)=(?![=>])\s*(.*)$')


def _net_brackets(s: str) -> int:
    n, quoted, escaped = 0, False, False
    for c in s:
        if quoted:
            quoted = not (c == '"' and not escaped)
            escaped = c == "\\" and not escaped
        elif c == '"':
            quoted = True
        else:
            n += (c in "([{") - (c in ")]}")
    return n


@pytest.mark.parametrize("path", sorted(TF.glob("*.tf")) + [TF / "terraform.tfvars.example"],
                         ids=lambda p: p.name)
def test_layout_is_what_terraform_fmt_writes(path):
    """2-space indents and `=` aligned in each run of single-line attributes (hclwrite's rule:
    a line opening a multi-line value, a blank line or a comment ends the run)."""
    lines = path.read_text().split("\n")
    assert lines[-1] == "" and lines[-2] != "", "one trailing newline"
    depth = 0
    chain: list[tuple[int, int]] = []

    def close() -> None:
        cols = {c for _, c in chain}
        assert len(cols) <= 1, f"{path.name}: '=' not aligned on lines {[i + 1 for i, _ in chain]}"
        if chain:
            widest = max(len(lines[i].split("=")[0].rstrip()) for i, _ in chain)
            assert cols == {widest + 1}, f"{path.name}:{chain[0][0] + 1}: extra spaces before '='"
        chain.clear()

    for i, line in enumerate(lines):
        stripped = line.strip()
        net = _net_brackets(line)
        # Like hclwrite: one level per line that opens brackets, whatever their number.
        if net < 0:
            depth -= 1
        if stripped:
            indent = len(line) - len(line.lstrip(" "))
            assert "\t" not in line and indent == 2 * depth, \
                f"{path.name}:{i + 1}: indent {indent}, expected {2 * depth}"
        m = ASSIGN.match(line)
        if m and not stripped.startswith("#") and _net_brackets(m.group(4)) == 0:
            chain.append((i, line.index("=", len(m.group(1)) + len(m.group(2)))))
        else:
            close()
        if net > 0:
            depth += 1
    close()


@pytest.mark.integration
def test_checkov_passes_with_every_skip_explained():
    if not CHECKOV.exists():
        pytest.skip(f"checkov is not installed in its own virtualenv ({CHECKOV} is absent): "
                    "python3.11 -m venv .venv-checkov && .venv-checkov/bin/pip install "
                    "checkov==3.3.30")
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "LOG_LEVEL": "ERROR"}
    proc = subprocess.run([str(CHECKOV), "-d", str(TF), "--framework", "terraform",
                           "--skip-download", "-o", "json"],
                          capture_output=True, text=True, env=env, timeout=300)
    report = json.loads(proc.stdout)
    failed = [f"{c['check_id']} {c['resource']}" for c in report["results"]["failed_checks"]]
    assert failed == [], failed
    skipped = report["results"]["skipped_checks"]
    unexplained = [c["check_id"] for c in skipped
                   if len((c["check_result"].get("suppress_comment") or "").strip()) < 20]
    assert unexplained == []
    assert report["summary"]["passed"] > 100 and report["summary"]["parsing_errors"] == 0
