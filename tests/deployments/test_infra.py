"""deployments/infra/template.yaml: cfn-lint clean, least-privilege IAM, storage and queue rules.

The IAM check is a plain function (`iam_violations`) so a test can prove it catches a bad
statement. The last test creates the stack in moto's threaded server, as the local stack does.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import boto3
import pytest

from tasks.common.settings import Settings, get_settings
from tests.deployments.cfn import TEMPLATE, Template, load_template

# Actions that AWS authorises only with `Resource: "*"` (the service defines no resource type
# for them), so a statement made only of these may use "*". Everything else must name ARNs.
STAR_RESOURCE_ALLOWLIST = frozenset(
    {
        # CloudWatch metrics have no ARN; scoped instead by a cloudwatch:namespace condition.
        "cloudwatch:putmetricdata",
        # An ECR auth token is registry-wide.
        "ecr:getauthorizationtoken",
        # Task-definition registration/listing is account-wide in ECS's authorisation model.
        "ecs:registertaskdefinition",
        "ecs:describetaskdefinition",
        "ecs:deregistertaskdefinition",
        "ecs:listtaskdefinitions",
        # EC2 Describe* calls support no resource-level permissions (default-VPC subnet lookup).
        "ec2:describesubnets",
        "ec2:describevpcs",
    }
)

# Resource types whose policy documents are identity policies (what a principal may do).
_IDENTITY_POLICY_TYPES = ("AWS::IAM::Role", "AWS::IAM::User", "AWS::IAM::Group")
_STANDALONE_POLICY_TYPES = ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")


@pytest.fixture(scope="module")
def template() -> Template:
    return load_template()


def _resources(template: Mapping[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in template["Resources"].items() if res.get("Type") == kind}


def _props(template: Mapping[str, Any], logical_id: str) -> dict[str, Any]:
    props = template["Resources"][logical_id]["Properties"]
    assert isinstance(props, dict)
    return props


# --- the IAM checker -------------------------------------------------------------------------


def _branches(value: Any) -> Iterator[Any]:
    """Every value a (possibly `Fn::If`-wrapped) template value can take; `AWS::NoValue` = none."""
    if isinstance(value, dict) and len(value) == 1:
        if "Fn::If" in value:
            _, when_true, when_false = value["Fn::If"]
            yield from _branches(when_true)
            yield from _branches(when_false)
            return
        if value.get("Ref") == "AWS::NoValue":
            return
    yield value


def _items(value: Any) -> list[Any]:
    """A scalar-or-list policy field as a flat list, expanding `Fn::If` at both levels."""
    out: list[Any] = []
    for branch in _branches(value):
        for item in branch if isinstance(branch, list) else [branch]:
            out.extend(_branches(item))
    return out


def _literal(value: Any) -> str | None:
    """The string a resource/action expression evaluates to when it is knowable statically."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Sub" in value:
        body = value["Fn::Sub"]
        text = body[0] if isinstance(body, list) and body else body  # [string, variables] form
        return text if isinstance(text, str) else None
    return None


_SUB_VARIABLE = re.compile(r"\$\{[^}]*\}")
# `arn:<partition>:<service>:<region>:<account>:*`: every resource of a service.
_SERVICE_WIDE_ARN = re.compile(r"^arn:[^:]*:[^:]*:[^:]*:[^:]*:\*$")


def _is_wildcard_resource(value: Any) -> bool:
    text = _literal(value)
    if text is None:
        return False
    text = _SUB_VARIABLE.sub("X", text)
    return text == "*" or bool(_SERVICE_WIDE_ARN.match(text))


def _policy_documents(template: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """(where, PolicyDocument) of every identity policy (role trust policies excluded)."""
    for name, res in template.get("Resources", {}).items():
        kind = res.get("Type")
        props = res.get("Properties", {})
        if kind in _IDENTITY_POLICY_TYPES:
            for policy in _items(props.get("Policies", [])):
                label = policy.get("PolicyName", "?")
                for document in _branches(policy.get("PolicyDocument")):
                    yield f"{name}/{label}", document
        elif kind in _STANDALONE_POLICY_TYPES:
            for document in _branches(props.get("PolicyDocument")):
                yield name, document


def iam_violations(template: Mapping[str, Any]) -> list[str]:
    """Allow statements that grant wildcard actions or `*` resources beyond the allowlist.

    Deny statements only take access away and are not checked. Actions are compared
    case-insensitively, as IAM does.
    """
    violations: list[str] = []
    for where, document in _policy_documents(template):
        if not isinstance(document, dict):
            violations.append(f"{where}: policy document is not a literal mapping")
            continue
        for index, statement in enumerate(_items(document.get("Statement", []))):
            if not isinstance(statement, dict):
                violations.append(f"{where}/#{index}: statement is not a literal mapping")
                continue
            label = f"{where}/{statement.get('Sid', f'#{index}')}"
            if statement.get("Effect") == "Deny":
                continue
            violations.extend(
                f"{label}: Allow with {field} grants by exclusion"
                for field in ("NotAction", "NotResource")
                if field in statement
            )
            actions = _items(statement.get("Action", []))
            names: list[str] = []
            for action in actions:
                if not isinstance(action, str):
                    violations.append(f"{label}: action {action!r} is not a literal string")
                    continue
                names.append(action.lower())
                if "*" in action:
                    violations.append(f"{label}: wildcard action {action!r}")
            wildcards = [
                r for r in _items(statement.get("Resource", [])) if _is_wildcard_resource(r)
            ]
            if wildcards:
                outside = sorted(a for a in names if a not in STAR_RESOURCE_ALLOWLIST)
                if outside or not names:
                    violations.append(
                        f"{label}: Resource {_literal(wildcards[0])!r} with actions that support "
                        f"narrower resources: {outside or actions}"
                    )
    return violations


# --- tests -----------------------------------------------------------------------------------


def test_cfn_lint_reports_no_errors() -> None:
    # cfnlint has no __main__ module; run its console entry point in this interpreter.
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from cfnlint.runner import main; sys.exit(main())",
            "--format",
            "json",
            "--",
            str(TEMPLATE),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    try:
        matches = json.loads(result.stdout or "[]")
    except json.JSONDecodeError:
        pytest.fail(f"cfn-lint crashed (exit {result.returncode}):\n{result.stderr}")
    lines = [
        f"{m['Level']} {m['Rule']['Id']} "
        f"line {m['Location']['Start']['LineNumber']}: {m['Message']}"
        for m in matches
    ]
    errors = [m for m in matches if m["Level"] == "Error"]
    assert not errors, "cfn-lint findings (errors fail, warnings are listed):\n" + "\n".join(lines)
    for line in lines:
        warnings.warn(f"cfn-lint: {line}", stacklevel=1)


def test_iam_policies_are_least_privilege(template: Template) -> None:
    documents = list(_policy_documents(template))
    assert len(documents) >= 9, "the checker should see every role's policies"
    assert iam_violations(template) == []


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        pytest.param(
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
            ["wildcard action 's3:*'", "Resource '*'"],
            id="service-wide-action-and-star-resource",
        ),
        pytest.param(
            {"Effect": "Allow", "Action": ["*"], "Resource": "arn:aws:s3:::bucket/*"},
            ["wildcard action '*'"],
            id="star-action",
        ),
        pytest.param(
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
            ["Resource '*'"],
            id="star-resource-for-scopable-action",
        ),
        pytest.param(
            {
                "Effect": "Allow",
                "Action": ["ec2:DescribeVpcs", "dynamodb:Scan"],
                "Resource": {"Fn::Sub": "arn:${AWS::Partition}:dynamodb:${AWS::Region}:*:*"},
            },
            ["with actions that support narrower resources: ['dynamodb:scan']"],
            id="service-wide-arn-mixed-with-allowlisted",
        ),
        pytest.param(
            {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
            ["Allow with NotAction", "Resource '*'"],
            id="not-action",
        ),
    ],
)
def test_iam_checker_reports_injected_statement(
    template: Template, statement: dict[str, Any], expected: list[str]
) -> None:
    mutated = copy.deepcopy(template)
    policy = mutated["Resources"]["LampRole"]["Properties"]["Policies"][0]
    policy["PolicyDocument"]["Statement"].append({"Sid": "Injected", **statement})

    violations = [v for v in iam_violations(mutated) if "/Injected" in v]

    assert violations, "the checker missed the injected statement"
    for fragment in expected:
        assert any(fragment in v for v in violations), (fragment, violations)
    assert iam_violations(template) == [], "the original template must be untouched"


def test_iam_checker_sees_conditional_and_standalone_policies(template: Template) -> None:
    mutated = copy.deepcopy(template)
    bad = {"Sid": "Injected", "Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"}
    statements = mutated["Resources"]["Nyc311SecretPolicy"]["Properties"]["PolicyDocument"]
    statements["Statement"] = [{"Fn::If": ["HasSocrataSecret", bad, {"Ref": "AWS::NoValue"}]}]

    violations = iam_violations(mutated)

    assert any(v.startswith("Nyc311SecretPolicy/Injected") for v in violations), violations


_S3_ARN = re.compile(r"^arn:\$\{AWS::Partition\}:s3:::(?P<bucket>[^/]+)(?P<key>/.*)?$")


def _s3_bucket(resource: Any) -> str | None:
    """An identity for the bucket an S3 ARN expression names (its `${...}` plus Sub variables)."""
    text = _literal(resource)
    match = _S3_ARN.match(text or "")
    if match is None:
        return None
    body = resource.get("Fn::Sub") if isinstance(resource, dict) else None
    variables = body[1] if isinstance(body, list) and len(body) > 1 else {}
    return match["bucket"] + json.dumps(variables, sort_keys=True)


def test_roles_that_read_objects_may_list_the_bucket(template: Template) -> None:
    # Without s3:ListBucket, S3 answers a GET/HEAD of a missing key with 403 instead of 404, and
    # skip-unchanged checks and first-run checkpoints would fail as "access denied".
    for name, res in _resources(template, "AWS::IAM::Role").items():
        readable: set[str] = set()
        listable: set[str] = set()
        for policy in _items(res["Properties"].get("Policies", [])):
            for statement in _items(policy["PolicyDocument"]["Statement"]):
                actions = {a.lower() for a in _items(statement["Action"])}
                buckets = {_s3_bucket(r) for r in _items(statement["Resource"])} - {None}
                if "s3:getobject" in actions:
                    readable |= {b for b in buckets if b is not None}
                if "s3:listbucket" in actions:
                    listable |= {b for b in buckets if b is not None}
        assert readable <= listable, f"{name} reads but cannot list: {readable - listable}"


def test_every_bucket_is_encrypted_private_and_tls_only(template: Template) -> None:
    buckets = _resources(template, "AWS::S3::Bucket")
    assert len(buckets) == 8
    tls_only = {
        res["Properties"]["Bucket"]["Ref"]
        for res in _resources(template, "AWS::S3::BucketPolicy").values()
        if any(
            s["Effect"] == "Deny"
            and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            and s["Action"] == "s3:*"
            for s in res["Properties"]["PolicyDocument"]["Statement"]
        )
    }
    for name, res in buckets.items():
        props = res["Properties"]
        rules = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        algorithms = {rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] for rule in rules}
        assert algorithms <= {"AES256", "aws:kms", "aws:kms:dsse"}, name
        assert algorithms, name
        block = props["PublicAccessBlockConfiguration"]
        flags = (
            "BlockPublicAcls",
            "BlockPublicPolicy",
            "IgnorePublicAcls",
            "RestrictPublicBuckets",
        )
        assert all(block.get(flag) is True for flag in flags), (name, block)
        ownership = props["OwnershipControls"]["Rules"]
        assert ownership == [{"ObjectOwnership": "BucketOwnerEnforced"}], name
        assert name in tls_only, f"{name} has no bucket policy denying non-TLS requests"
        assert res.get("DeletionPolicy") == "Retain", name


def test_telemetry_archive_moves_to_glacier_after_seven_days(template: Template) -> None:
    rules = _props(template, "TelemetryArchiveBucket")["LifecycleConfiguration"]["Rules"]
    transitions = [
        t for rule in rules if rule["Status"] == "Enabled" for t in rule.get("Transitions", [])
    ]
    assert {"StorageClass": "GLACIER", "TransitionInDays": 7} in transitions


def test_source_queues_redrive_to_dlq_after_three_receives(template: Template) -> None:
    queues = _resources(template, "AWS::SQS::Queue")
    targets = {
        res["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        for res in queues.values()
        if "RedrivePolicy" in res["Properties"]
    }
    assert targets == {"TelemetryDlq"}
    for name, res in queues.items():
        props = res["Properties"]
        assert props.get("SqsManagedSseEnabled") is True, name
        if name in targets | {"LambdaFailureQueue"}:  # where failures end: kept 14 days
            assert "RedrivePolicy" not in props
            assert props["MessageRetentionPeriod"] == 14 * 24 * 3600
            continue
        redrive = props["RedrivePolicy"]
        assert redrive["maxReceiveCount"] == 3, name
        assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["TelemetryDlq", "Arn"]}, name
    assert {"TelemetryHighQueue", "TelemetryLowQueue"} <= queues.keys()


def test_tables_have_pitr_sse_and_on_demand_billing(template: Template) -> None:
    tables = _resources(template, "AWS::DynamoDB::Table")
    assert set(tables) == {"TelemetryTable", "TripsTable", "CsvMetadataTable"}
    for name, res in tables.items():
        props = res["Properties"]
        assert props["BillingMode"] == "PAY_PER_REQUEST", name
        assert props["SSESpecification"]["SSEEnabled"] is True, name
        pitr = props["PointInTimeRecoverySpecification"]
        assert pitr["PointInTimeRecoveryEnabled"] is True, name


def test_table_keys_ttl_and_gsi(template: Template) -> None:
    telemetry = _props(template, "TelemetryTable")
    assert telemetry["KeySchema"] == [
        {"AttributeName": "vehicle_id", "KeyType": "HASH"},
        {"AttributeName": "timestamp", "KeyType": "RANGE"},
    ]
    assert telemetry["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}

    trips = _props(template, "TripsTable")
    assert trips["KeySchema"] == [{"AttributeName": "trip_id", "KeyType": "HASH"}]
    (gsi,) = [g for g in trips["GlobalSecondaryIndexes"] if g["IndexName"] == "pickup_date-index"]
    # hash key only: a sort key would leave trips without pickup_datetime out of the index
    assert gsi["KeySchema"] == [{"AttributeName": "pickup_date", "KeyType": "HASH"}]
    assert gsi["Projection"] == {
        "ProjectionType": "INCLUDE",
        "NonKeyAttributes": ["pickup_datetime", "fare_amount", "estimated_fare_amount"],
    }
    types = {a["AttributeName"]: a["AttributeType"] for a in trips["AttributeDefinitions"]}
    assert types == {"trip_id": "S", "pickup_date": "S"}

    csv = _props(template, "CsvMetadataTable")
    assert csv["KeySchema"] == [{"AttributeName": "file_name", "KeyType": "HASH"}]


# Name-bearing resource -> (name property, settings field holding the code's default name).
# logical id → (name property, the settings field naming it, or the name itself for resources
# of pipelines that are not built yet and so have no setting)
_NAMES = {
    "LampBucket": ("BucketName", "lamp_bucket"),
    "GtfsBucket": ("BucketName", "gtfs_bucket"),
    "TelemetryRawBucket": ("BucketName", "telemetry_raw_bucket"),
    "TelemetryArchiveBucket": ("BucketName", "telemetry_archive_bucket"),
    "KpiBucket": ("BucketName", "kpi_bucket"),
    "Nyc311RawBucket": ("BucketName", "nyc311_raw_bucket"),
    "Nyc311ProcessedBucket": ("BucketName", "nyc311_processed_bucket"),
    "CsvBucket": ("BucketName", "csv_bucket"),
    "TelemetryTable": ("TableName", "telemetry_table"),
    "TripsTable": ("TableName", "trips_table"),
    "CsvMetadataTable": ("TableName", "csv_metadata_table"),
    "TelemetryHighQueue": ("QueueName", "telemetry_high_queue"),
    "TelemetryLowQueue": ("QueueName", "telemetry_low_queue"),
    "TelemetryDlq": ("QueueName", "telemetry_dlq"),
    "LambdaFailureQueue": ("QueueName", "=prefect-pipelines-lambda-failures-{env}"),
}


def _default_name(template: Mapping[str, Any], expression: Any) -> str:
    """The name an expression yields with default parameters (`${Environment}` kept symbolic)."""
    if isinstance(expression, dict) and "Ref" in expression:
        default = template["Parameters"][expression["Ref"]]["Default"]
        assert default, f"parameter {expression['Ref']} needs a non-empty default"
        return str(default)
    if isinstance(expression, dict) and "Fn::Sub" in expression:  # a fixed name per environment
        return str(expression["Fn::Sub"])
    condition, when_default, _ = expression["Fn::If"]
    parameter = template["Conditions"][condition]["Fn::Equals"][0]["Ref"]
    assert template["Parameters"][parameter]["Default"] == ""
    return str(when_default["Fn::Sub"])


def test_default_names_match_the_settings(template: Template) -> None:
    assert set(_NAMES) == {
        name
        for name, res in template["Resources"].items()
        if res["Type"] in ("AWS::S3::Bucket", "AWS::DynamoDB::Table", "AWS::SQS::Queue")
    }
    for logical_id, (prop, field) in _NAMES.items():
        default = field[1:] if field.startswith("=") else Settings.model_fields[field].default
        expected = str(default).replace("{env}", "${Environment}")
        actual = _default_name(template, _props(template, logical_id)[prop])
        assert actual == expected, logical_id


def test_lambda_wiring_is_conditional_and_acyclic(template: Template) -> None:
    functions = _resources(template, "AWS::Lambda::Function")
    assert set(functions) == {"CsvProfileFunction", "TelemetryFunction"}
    for name, res in functions.items():
        assert res["Condition"] == "HasLambdaImage", name
        props = res["Properties"]
        assert props["PackageType"] == "Image"
        assert props["MemorySize"] == 512
        assert props["ImageConfig"]["Command"] == ["deployments.lambda_handler.handler"]
        variables = props["Environment"]["Variables"]
        assert variables["PREFECT_HOME"] == "/tmp/.prefect"
        assert variables["PREFECT_SERVER_EPHEMERAL_ENABLED"] == "false"
        assert {"PIPELINES_ENV", "PREFECT_API_URL"} <= variables.keys()
        # every PIPELINES_* variable the function gets is a setting the code reads
        settings_vars = {f"PIPELINES_{field.upper()}" for field in Settings.model_fields}
        assert {v for v in variables if v.startswith("PIPELINES_")} <= settings_vars, name
    for name, res in _resources(template, "AWS::Lambda::Permission").items():
        assert res["Condition"] == "HasLambdaImage", name
        # Built from the name parameter: a GetAtt on the bucket would close a dependency cycle.
        assert "Fn::Sub" in res["Properties"]["SourceArn"], name

    csv_filter = _props(template, "CsvBucket")["NotificationConfiguration"]["Fn::If"][1]
    rules = csv_filter["LambdaConfigurations"][0]["Filter"]["S3Key"]["Rules"]
    assert {"Name": "prefix", "Value": "uploads/"} in rules
    assert {"Name": "suffix", "Value": ".csv"} in rules
    # suffix filters are case-sensitive: every spelling of ".csv" has its own configuration
    suffixes = {
        rule["Value"]
        for config in csv_filter["LambdaConfigurations"]
        for rule in config["Filter"]["S3Key"]["Rules"]
        if rule["Name"] == "suffix"
    }
    assert {s.lower() for s in suffixes} == {".csv"}
    assert len(suffixes) == len(csv_filter["LambdaConfigurations"]) == 8
    raw_filter = _props(template, "TelemetryRawBucket")["NotificationConfiguration"]["Fn::If"][1]
    rules = raw_filter["LambdaConfigurations"][0]["Filter"]["S3Key"]["Rules"]
    assert {"Name": "prefix", "Value": "incoming/"} in rules
    assert {"Name": "suffix", "Value": ".csv"} in rules
    for bucket in ("CsvBucket", "TelemetryRawBucket"):
        assert template["Resources"][bucket]["DependsOn"] == "LambdaPermissionsGate"


@pytest.mark.parametrize(
    "parameters",
    [
        pytest.param({}, id="defaults"),
        pytest.param(
            {
                "Environment": "ci",
                "LambdaImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/pipelines:1",
                "SocrataAppTokenSecretArn": (
                    "arn:aws:secretsmanager:us-east-1:123456789012:secret:socrata-AbCdEf"
                ),
                "CsvBucketName": "acme-data-ingestion",
            },
            id="lambda-and-overrides",
        ),
    ],
)
def test_moto_creates_the_stack(
    parameters: dict[str, str], aws_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = aws_server  # wiped threaded moto server
    session = boto3.Session(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    cfn = session.client("cloudformation", endpoint_url=endpoint)
    with warnings.catch_warnings():  # moto warns about each resource type it ignores
        warnings.simplefilter("ignore")
        cfn.create_stack(
            StackName="pipelines",
            TemplateBody=TEMPLATE.read_text(encoding="utf-8"),
            Parameters=[
                {"ParameterKey": key, "ParameterValue": value} for key, value in parameters.items()
            ],
            Capabilities=["CAPABILITY_NAMED_IAM"],
        )
    stack = cfn.describe_stacks(StackName="pipelines")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}

    env = parameters.get("Environment", "dev")
    monkeypatch.setenv("PIPELINES_ENV", env)
    settings = get_settings()
    # resources of pipelines not built yet are named as the template defaults them
    buckets = {
        settings.lamp_bucket,
        settings.gtfs_bucket,
        settings.telemetry_raw_bucket,
        settings.telemetry_archive_bucket,
        settings.kpi_bucket,
        settings.nyc311_raw_bucket,
        settings.nyc311_processed_bucket,
        parameters.get("CsvBucketName", settings.csv_bucket),
    }
    s3 = session.client("s3", endpoint_url=endpoint)
    assert {b["Name"] for b in s3.list_buckets()["Buckets"]} == buckets
    assert outputs["CsvBucketName"] == parameters.get("CsvBucketName", settings.csv_bucket)

    dynamodb = session.client("dynamodb", endpoint_url=endpoint)
    tables = {settings.telemetry_table, settings.trips_table, settings.csv_metadata_table}
    assert set(dynamodb.list_tables()["TableNames"]) == tables
    trips = dynamodb.describe_table(TableName=settings.trips_table)["Table"]
    assert [g["IndexName"] for g in trips.get("GlobalSecondaryIndexes", [])] == [
        "pickup_date-index"
    ]

    sqs = session.client("sqs", endpoint_url=endpoint)
    dlq = settings.telemetry_dlq
    for queue in (settings.telemetry_high_queue, settings.telemetry_low_queue):
        url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])
        redrive = json.loads(attributes["Attributes"]["RedrivePolicy"])
        assert redrive["maxReceiveCount"] == 3
        assert redrive["deadLetterTargetArn"].endswith(f":{dlq}")
    sqs.get_queue_url(QueueName=dlq)

    assert outputs["ClusterName"] == f"prefect-pipelines-{env}"
    assert outputs["LogGroupName"] == f"/prefect-pipelines/{env}"
    roles = (
        "Lamp",
        "Historic",
        "Telemetry",
        "TripKpis",
        "Nyc311",
        "CsvProfile",
        "EcsTaskExecution",
    )
    for role in (*roles, "PrefectWorker"):
        assert outputs[f"{role}RoleArn"].startswith("arn:aws:iam::"), role
    has_lambda = "LambdaImageUri" in parameters
    assert ("CsvProfileFunctionName" in outputs) is has_lambda
