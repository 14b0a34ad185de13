"""IAM coverage from real calls: record what a pipeline calls, evaluate its role against it.

1. `CallRecorder` hooks every botocore client (before and after each call) and keeps the calls
   made by pipeline code: inside a Prefect flow run, or on a worker thread (tasks' upload
   pools); the test's own set-up calls on the main thread outside a run are not the pipeline's.
2. `requests_for(call)` maps an API call to the IAM authorisation requests AWS makes for it:
   action, resource ARN and the condition keys the request carries (a GET/HEAD answered 404
   also needs `s3:ListBucket` on the bucket: without it S3 answers 403).
3. `RolePolicy` resolves a role's statements from the CloudFormation template with its default
   parameters (inline policies, managed policies, standalone policies attached to it, honouring
   resource conditions) and evaluates a request: allowed when an Allow statement matches and no
   Deny does (action and resource patterns with `*`/`?`, the condition operators the template
   uses, `...IfExists`).
"""

from __future__ import annotations

import fnmatch
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import botocore.session

from tests.deployments.cfn import Template

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's account, and the account the template is evaluated in
PARTITION = "aws"


# --- recording -------------------------------------------------------------------------------


@dataclass
class Call:
    """One API call a pipeline made."""

    service: str
    operation: str
    params: dict[str, Any]
    status: int | None = None

    def __str__(self) -> str:
        target = self.params.get("Bucket") or self.params.get("TableName") or ""
        target = target or self.params.get("QueueUrl") or self.params.get("QueueName") or ""
        key = self.params.get("Key") if self.service == "s3" else None
        return f"{self.service}:{self.operation} {target}{'/' + key if key else ''}"


def _in_pipeline_code() -> bool:
    from prefect.context import FlowRunContext

    return (
        FlowRunContext.get() is not None
        or threading.current_thread() is not threading.main_thread()
    )


class CallRecorder:
    """Records calls of every botocore client created while it is installed."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self._original: Any = None

    def __enter__(self) -> CallRecorder:
        original = botocore.session.Session.create_client
        self._original = original
        recorder = self

        def create_client(session: Any, *args: Any, **kwargs: Any) -> Any:
            client = original(session, *args, **kwargs)
            client.meta.events.register("provide-client-params.*.*", recorder._before)
            client.meta.events.register("after-call.*.*", recorder._after)
            return client

        setattr(botocore.session.Session, "create_client", create_client)  # noqa: B010
        return self

    def __exit__(self, *_exc: object) -> None:
        setattr(botocore.session.Session, "create_client", self._original)  # noqa: B010

    def _before(
        self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        if not _in_pipeline_code():
            return
        call = Call(model.service_model.service_name, model.name, dict(params))
        context["iam_call"] = call
        with self._lock:
            self.calls.append(call)

    def _after(self, http_response: Any, context: dict[str, Any], **_: Any) -> None:
        call = context.get("iam_call")
        if call is not None:
            call.status = getattr(http_response, "status_code", None)

    def take(self) -> list[Call]:
        """The calls recorded so far (and forget them)."""
        with self._lock:
            calls, self.calls = self.calls, []
        return calls


# --- calls → authorisation requests ------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """What IAM is asked: may the principal do `action` on `resource` (with `context` keys)?"""

    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()
    call: str = field(default="", compare=False)

    def __str__(self) -> str:
        keys = ", ".join(f"{k}={v}" for k, v in self.context)
        return (
            f"{self.action} on {self.resource}"
            + (f" ({keys})" if keys else "")
            + (f" [from {self.call}]" if self.call else "")
        )


def _s3(bucket: str, key: str | None = None) -> str:
    return f"arn:{PARTITION}:s3:::{bucket}" + (f"/{key}" if key is not None else "")


def _table(name: str, index: str | None = None) -> str:
    arn = f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT}:table/{name}"
    return arn + (f"/index/{index}" if index else "")


def _queue(url_or_name: str) -> str:
    return f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:{url_or_name.rstrip('/').rsplit('/', 1)[-1]}"


_S3_OBJECT_ACTIONS = {
    "HeadObject": "s3:GetObject",
    "GetObject": "s3:GetObject",
    "PutObject": "s3:PutObject",
    "DeleteObject": "s3:DeleteObject",
    # a multipart upload (s3.put_stream) is authorised as s3:PutObject at every step
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
}
_SQS_ACTIONS = {
    "SendMessageBatch": "sqs:SendMessage",
    "DeleteMessageBatch": "sqs:DeleteMessage",
    "ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
}


def requests_for(call: Call) -> list[Request]:
    """The IAM requests one API call makes (raises for a call this mapping does not know)."""
    p, op, origin = call.params, call.operation, str(call)
    if call.service == "s3":
        if op in _S3_OBJECT_ACTIONS:
            found = [Request(_S3_OBJECT_ACTIONS[op], _s3(p["Bucket"], p["Key"]), call=origin)]
            if op in {"HeadObject", "GetObject"} and call.status == 404:
                found.append(Request("s3:ListBucket", _s3(p["Bucket"]), call=origin))
            return found
        if op in {"ListObjectsV2", "ListObjects"}:
            prefix = p.get("Prefix")
            context = (("s3:prefix", prefix),) if prefix is not None else ()
            return [Request("s3:ListBucket", _s3(p["Bucket"]), context, call=origin)]
    if call.service == "dynamodb":
        if op in {"BatchWriteItem", "BatchGetItem"}:
            return [Request(f"dynamodb:{op}", _table(t), call=origin) for t in p["RequestItems"]]
        if "TableName" in p:
            return [
                Request(f"dynamodb:{op}", _table(p["TableName"], p.get("IndexName")), call=origin)
            ]
    if call.service == "sqs":
        target = p.get("QueueUrl") or p.get("QueueName")
        if target:
            return [Request(_SQS_ACTIONS.get(op, f"sqs:{op}"), _queue(target), call=origin)]
    if call.service == "monitoring" and op == "PutMetricData":
        context = (("cloudwatch:namespace", p.get("Namespace", "")),)
        return [Request("cloudwatch:PutMetricData", "*", context, call=origin)]
    if call.service == "secretsmanager" and op == "GetSecretValue":
        return [Request("secretsmanager:GetSecretValue", p["SecretId"], call=origin)]
    raise NotImplementedError(f"no IAM mapping for {call.service}:{op} ({origin})")


# --- the template, resolved with default parameters ---------------------------------------------


class Resolver:
    """Evaluates CloudFormation intrinsics with the template's default parameters."""

    def __init__(self, template: Template, overrides: Mapping[str, str] | None = None) -> None:
        self.template = template
        self.parameters = {
            name: str((overrides or {}).get(name, spec.get("Default", "")))
            for name, spec in template.get("Parameters", {}).items()
        }

    # - conditions -
    def condition(self, name: str) -> bool:
        return bool(self.value(self.template["Conditions"][name]))

    # - values -
    def value(self, expr: Any) -> Any:
        if isinstance(expr, list):
            return [self.value(e) for e in expr]
        if not isinstance(expr, dict):
            return expr
        if len(expr) != 1:
            return {k: self.value(v) for k, v in expr.items()}
        ((name, arg),) = expr.items()
        if name == "Ref":
            return self.ref(arg)
        if name == "Fn::GetAtt":
            return self.get_att(*arg)
        if name == "Fn::Sub":
            return self.sub(arg)
        if name == "Fn::If":
            cond, when_true, when_false = arg
            return self.value(when_true if self.condition(cond) else when_false)
        if name == "Fn::Equals":
            first, second = (self.value(a) for a in arg)
            return first == second
        if name == "Fn::Not":
            return not self.value(arg[0])
        if name == "Condition":
            return self.condition(arg)
        return {name: self.value(arg)}

    def ref(self, name: str) -> Any:
        pseudo = {
            "AWS::Partition": PARTITION,
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::StackName": "prefect-pipelines",
            "AWS::NoValue": None,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        resource = self.template["Resources"][name]
        props = resource.get("Properties", {})
        kind = resource["Type"]
        if kind == "AWS::S3::Bucket":
            return self.value(props["BucketName"])
        if kind == "AWS::DynamoDB::Table":
            return self.value(props["TableName"])
        if kind == "AWS::SQS::Queue":
            return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{self.value(props['QueueName'])}"
        if kind in {"AWS::IAM::ManagedPolicy"}:
            return f"arn:{PARTITION}:iam::{ACCOUNT}:policy/{name}"
        if kind == "AWS::IAM::Role":
            return name
        return name

    def get_att(self, name: str, attribute: str) -> Any:
        resource = self.template["Resources"][name]
        kind, props = resource["Type"], resource.get("Properties", {})
        if kind == "AWS::DynamoDB::Table" and attribute == "Arn":
            return _table(self.value(props["TableName"]))
        if kind == "AWS::SQS::Queue" and attribute == "Arn":
            return _queue(self.value(props["QueueName"]))
        if kind == "AWS::SQS::Queue" and attribute == "QueueName":
            return self.value(props["QueueName"])
        if kind == "AWS::S3::Bucket" and attribute == "Arn":
            return _s3(self.value(props["BucketName"]))
        if kind == "AWS::IAM::Role" and attribute == "Arn":
            return f"arn:{PARTITION}:iam::{ACCOUNT}:role/{name}"
        raise NotImplementedError(f"GetAtt {name}.{attribute}")

    def sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        local = {k: self.value(v) for k, v in variables.items()}

        def replace(match: re.Match[str]) -> str:
            token = match.group(1)
            if token in local:
                return str(local[token])
            if "." in token:
                return str(self.get_att(*token.split(".", 1)))
            return str(self.ref(token))

        return re.sub(r"\$\{([^}!]+)\}", replace, text)


def _listify(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


@dataclass
class Statement:
    """One resolved policy statement."""

    sid: str
    effect: str
    actions: list[str]
    resources: list[str]
    conditions: dict[str, dict[str, list[str]]]

    def matches(self, request: Request) -> bool:
        return (
            any(fnmatch.fnmatchcase(request.action.lower(), a.lower()) for a in self.actions)
            and any(fnmatch.fnmatchcase(request.resource, r) for r in self.resources)
            and all(
                _condition(op, key, values, dict(request.context))
                for op, keys in self.conditions.items()
                for key, values in keys.items()
            )
        )


def _condition(operator: str, key: str, values: Sequence[str], context: Mapping[str, str]) -> bool:
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    if key not in context:
        return if_exists
    actual = context[key]
    if base in {"StringEquals", "ArnEquals"}:
        return actual in values
    if base in {"StringLike", "ArnLike"}:
        return any(fnmatch.fnmatchcase(actual, v) for v in values)
    if base == "StringNotEquals":
        return actual not in values
    if base == "Bool":
        return actual.lower() in {v.lower() for v in values}
    raise NotImplementedError(f"condition operator {operator}")


class RolePolicy:
    """The effective identity policy of one role of the template (default parameters)."""

    def __init__(self, template: Template, role: str, resolver: Resolver | None = None) -> None:
        self.role = role
        self.resolver = resolver or Resolver(template)
        self.statements = list(self._statements(template))

    def _documents(self, template: Template) -> Iterator[tuple[str, Any]]:
        resources = template["Resources"]
        props = resources[self.role]["Properties"]
        for policy in _listify(props.get("Policies")):
            yield policy["PolicyName"], policy["PolicyDocument"]
        for arn in _listify(props.get("ManagedPolicyArns")):
            ref = arn.get("Ref") if isinstance(arn, dict) else None
            if isinstance(ref, str) and ref in resources:
                yield ref, resources[ref]["Properties"]["PolicyDocument"]
        for name, res in resources.items():
            if res["Type"] not in {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"}:
                continue
            if "Condition" in res and not self.resolver.condition(res["Condition"]):
                continue
            roles = _listify(res["Properties"].get("Roles"))
            if any(isinstance(r, dict) and r.get("Ref") == self.role for r in roles):
                yield name, res["Properties"]["PolicyDocument"]

    def _statements(self, template: Template) -> Iterator[Statement]:
        for name, document in self._documents(template):
            for i, raw in enumerate(_listify(document["Statement"])):
                stmt = self.resolver.value(raw)
                conditions = {
                    op: {k: [str(v) for v in _listify(vals)] for k, vals in keys.items()}
                    for op, keys in (stmt.get("Condition") or {}).items()
                }
                yield Statement(
                    sid=f"{name}/{stmt.get('Sid', i)}",
                    effect=stmt["Effect"],
                    actions=[str(a) for a in _listify(stmt.get("Action"))],
                    resources=[str(r) for r in _listify(stmt.get("Resource"))],
                    conditions=conditions,
                )

    def allows(self, request: Request) -> bool:
        if any(s.effect == "Deny" and s.matches(request) for s in self.statements):
            return False
        return any(s.effect == "Allow" and s.matches(request) for s in self.statements)

    def denied(self, requests: Sequence[Request]) -> list[Request]:
        """The requests this role does not allow."""
        return [r for r in requests if not self.allows(r)]

    def unused(self, requests: Sequence[Request]) -> list[str]:
        """`<statement> <action>` pairs no request needed (an Allow statement's action no
        recorded request, allowed by that statement, asked for)."""
        unused = []
        for stmt in (s for s in self.statements if s.effect == "Allow"):
            for action in stmt.actions:
                needed = any(
                    fnmatch.fnmatchcase(r.action.lower(), action.lower()) and stmt.matches(r)
                    for r in requests
                )
                if not needed:
                    unused.append(f"{stmt.sid} {action}")
        return unused
