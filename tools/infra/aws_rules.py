#!/usr/bin/env python3
"""The rules AWS applies when it creates a resource, checked before deployment.

LocalStack accepts definitions AWS refuses (an alarm with two ReturnData metrics, an
event source mapping whose queue times out before its function, a dashboard body that
is not a dashboard...), so a template that deploys locally can fail on AWS. cfn-lint
checks each property against its resource schema; this module checks what the schemas
cannot say: rules across properties, across resources, and inside JSON strings. Each
function below is one family of rules and returns readable problems naming the
resource, the rule and what to do; each rule cites the AWS page it comes from.

Usage:
  aws_rules.py TEMPLATE                  every rule; exit 1 on problems
  aws_rules.py TEMPLATE --asl-out DIR    write each state machine definition, its
                                         DefinitionSubstitutions applied, to DIR (for
                                         tools/infra/asl/asl-check.sh)
Tests: tools/infra/test_aws_rules.py (built from the examples on the cited pages).
"""

import argparse
import json
import math
import os
import re
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
from assemble import CfnLoader  # noqa: E402

DASHBOARD_SCHEMA = os.path.join(ROOT, "tools/localstack/plugin/eventkit_localstack/aws_cloudwatch_dashboard.schema.json")


def load(path):
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=CfnLoader)  # noqa: S506 (a SafeLoader subclass)


def of_type(template, *kinds):
    return sorted((k, r) for k, r in (template.get("Resources") or {}).items() if r.get("Type") in kinds)


def as_list(value):
    return [] if value is None else value if isinstance(value, list) else [value]


# ---- intrinsic functions ----------------------------------------------------------------
# CloudFormation resolves these at deploy time; the rules need values. Parameters take
# their Default (or the value given); a reference to a resource becomes a value of the
# kind CloudFormation returns for it (an ARN, a queue URL, a name). With longest=True,
# names and parameters take the longest value AWS allows them, for the size limits.

NOVALUE = object()
FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")
STATE_MACHINE_TYPES = ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine")
# (ARN form, longest name) per type; names from each service's quota page.
KINDS = {
    "AWS::SQS::Queue": ("arn:{p}:sqs:{r}:{a}:{n}", 80),
    "AWS::Serverless::Function": ("arn:{p}:lambda:{r}:{a}:function:{n}", 64),
    "AWS::Lambda::Function": ("arn:{p}:lambda:{r}:{a}:function:{n}", 64),
    "AWS::DynamoDB::Table": ("arn:{p}:dynamodb:{r}:{a}:table/{n}", 255),
    "AWS::S3::Bucket": ("arn:{p}:s3:::{n}", 63),
    "AWS::Events::EventBus": ("arn:{p}:events:{r}:{a}:event-bus/{n}", 256),
    "AWS::Events::Rule": ("arn:{p}:events:{r}:{a}:rule/{n}", 64),
    "AWS::Logs::LogGroup": ("arn:{p}:logs:{r}:{a}:log-group:{n}:*", 512),
    "AWS::IAM::Role": ("arn:{p}:iam::{a}:role/{n}", 64),
    "AWS::Serverless::StateMachine": ("arn:{p}:states:{r}:{a}:stateMachine:{n}", 80),
    "AWS::StepFunctions::StateMachine": ("arn:{p}:states:{r}:{a}:stateMachine:{n}", 80),
    "AWS::SNS::Topic": ("arn:{p}:sns:{r}:{a}:{n}", 256),
}
# Ref returns the ARN for these, the URL for a queue, the name for the rest.
REF_IS_ARN = {"AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine", "AWS::SNS::Topic"}


def longest_parameter(spec):
    """The longest value a parameter's constraints allow (its Default when unconstrained)."""
    if spec.get("AllowedValues"):
        return max((str(v) for v in spec["AllowedValues"]), key=len)
    if spec.get("MaxLength"):
        return "x" * int(spec["MaxLength"])
    m = re.search(r"\{(\d+,)?(\d+)\}\$?$", str(spec.get("AllowedPattern", "")))
    if m:
        return "x" * int(m.group(2))
    if spec.get("Type") == "Number" and "MaxValue" in spec:
        return spec["MaxValue"]
    return spec.get("Default", "")


class Resolver:
    def __init__(self, template, parameters=None, longest=False):
        self.resources = template.get("Resources") or {}
        self.conditions = template.get("Conditions") or {}
        specs = template.get("Parameters") or {}
        self.params = {k: (longest_parameter(v) if longest else v.get("Default")) for k, v in specs.items()}
        self.params.update(parameters or {})
        self.longest = longest
        self.pseudo = {
            "AWS::Region": "us-isof-south-1" if longest else "us-east-1",
            "AWS::AccountId": "123456789012",
            "AWS::StackName": "s" * 128 if longest else "eventkit",
            "AWS::Partition": "aws-us-gov" if longest else "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": NOVALUE,
        }

    def name(self, logical):
        kind = self.resources[logical].get("Type")
        longest = KINDS.get(kind, ("", 64))[1]
        return "n" * longest if self.longest else f"eventkit-{logical}"[:longest]

    def arn(self, logical):
        form = KINDS.get(self.resources[logical].get("Type"), ("arn:{p}:unknown:{r}:{a}:{n}", 64))[0]
        return form.format(p=self.pseudo["AWS::Partition"], r=self.pseudo["AWS::Region"],
                           a=self.pseudo["AWS::AccountId"], n=self.name(logical))

    def ref(self, name):
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.params:
            return self.params[name]
        if name not in self.resources:
            return f"<unresolved {name}>"
        kind = self.resources[name].get("Type")
        if kind == "AWS::SQS::Queue":
            return f"https://sqs.{self.pseudo['AWS::Region']}.amazonaws.com/{self.pseudo['AWS::AccountId']}/{self.name(name)}"
        return self.arn(name) if kind in REF_IS_ARN else self.name(name)

    def getatt(self, logical, attribute):
        if logical not in self.resources:
            return f"<unresolved {logical}.{attribute}>"
        if attribute == "Arn":
            return self.arn(logical)
        if attribute == "StreamArn":
            return self.arn(logical) + "/stream/2026-01-01T00:00:00.000"
        if attribute == "QueueUrl":
            return self.ref(logical)
        return self.name(logical)

    def condition(self, name):
        return self.truth(self.conditions.get(name, True))

    def truth(self, expr):
        if isinstance(expr, dict) and len(expr) == 1:
            (fn, arg), = expr.items()
            if fn == "Fn::Equals":
                return str(self.resolve(arg[0])) == str(self.resolve(arg[1]))
            if fn == "Fn::Not":
                return not self.truth(arg[0])
            if fn == "Fn::And":
                return all(self.truth(a) for a in arg)
            if fn == "Fn::Or":
                return any(self.truth(a) for a in arg)
            if fn == "Condition":
                return self.condition(arg)
        return bool(expr)

    def sub(self, text, variables=None):
        def one(m):
            name = m.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if variables and name in variables:
                value = self.resolve(variables[name])
            elif "." in name and not name.startswith("AWS::"):
                value = self.getatt(*name.split(".", 1))
            else:
                value = self.ref(name)
            return str(value)
        return re.sub(r"\$\{([^}]+)\}", one, text)

    def resolve(self, value):
        """The value with every intrinsic function replaced by what it would give."""
        if isinstance(value, list):
            return [v for v in (self.resolve(x) for x in value) if v is not NOVALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (fn, arg), = value.items()
            if fn == "Ref":
                return self.ref(arg)
            if fn == "Fn::GetAtt":
                logical, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
                return self.getatt(logical, attribute)
            if fn == "Fn::Sub":
                return self.sub(arg, None) if isinstance(arg, str) else self.sub(arg[0], arg[1])
            if fn == "Fn::Join":
                return str(arg[0]).join(str(v) for v in self.resolve(arg[1]))
            if fn == "Fn::If":
                return self.resolve(arg[1] if self.condition(arg[0]) else arg[2])
            if fn == "Fn::Select":
                return self.resolve(arg[1])[int(self.resolve(arg[0]))]
            if fn.startswith("Fn::"):
                return f"<unresolved {fn}>"
        return {k: v for k, v in ((k, self.resolve(v)) for k, v in value.items()) if v is not NOVALUE}


def number(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


# ---- CloudWatch alarms ------------------------------------------------------------------
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_MetricDataQuery.html
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html

# MetricDataQuery.Id: "The valid characters are letters, numbers, and underscore. The first
# character must be a lowercase letter."
METRIC_ID = re.compile(r"[a-z][a-zA-Z0-9_]*")
# "If you use the Metrics parameter, you cannot include the Namespace, MetricName,
# Dimensions, Period, Unit, Statistic, or ExtendedStatistic parameters of PutMetricAlarm."
SINGLE_METRIC_ONLY = ("Namespace", "MetricName", "Dimensions", "Period", "Unit", "Statistic", "ExtendedStatistic")
# ExtendedStatistic: "p90, tm90, tc90, ts90, wm90, IQM, PR(n:m), TC(X%:X%), TM(X%:X%),
# TS(X%:X%), WM(X%:X%)" (percentiles p0.0 to p100).
EXTENDED_STATISTIC = re.compile(r"(p|tm|tc|ts|wm)(\d{1,2}(\.\d+)?|100)|IQM|PR\([^:]*:[^)]*\)"
                                r"|(TC|TM|TS|WM)\(\d+(\.\d+)?%?:\d+(\.\d+)?%?\)")


def period_problems(where, period, evaluation_periods):
    """Period: "Valid values are 10, 20, 30, and any multiple of 60." "Period multiplied by
    EvaluationPeriods can't be more than 604,800 seconds. For alarms with a period of less
    than one hour (3,600 seconds), the total evaluation period can't be longer than one
    day (86,400 seconds)." (PutMetricAlarm, Period)"""
    p = number(period)
    if p is None:
        return [f"{where}: Period is missing: give one (60 or a multiple)"]
    problems = []
    if not (p in (10, 20, 30) or (p >= 60 and p % 60 == 0)):
        problems.append(f"{where}: Period {p:g} is not 10, 20, 30 or a multiple of 60, which PutMetricAlarm refuses")
    n = number(evaluation_periods) or 1
    limit = 86400 if p < 3600 else 604800
    if p * n > limit:
        problems.append(f"{where}: Period x EvaluationPeriods is {p * n:g} s, over the {limit} s PutMetricAlarm allows "
                        f"for a {'period under an hour' if limit == 86400 else 'period'}: evaluate fewer or shorter periods")
    return problems


def metric_ids_in(expression):
    """The metric ids an expression names: lower-case-initial words outside string literals
    (functions and keywords such as SUM, METRICS, IF are upper case). A Metrics Insights
    query (SELECT ...) names none."""
    if expression.lstrip().upper().startswith("SELECT"):
        return set()
    code = re.sub(r'"(\\.|[^"\\])*"|\'(\\.|[^\'\\])*\'', "", expression)
    return set(re.findall(r"(?<![\w.])([a-z][A-Za-z0-9_]*)\b(?!\s*\()", code))


def alarm_problems(template):
    problems = []
    r = Resolver(template)
    for name, resource in of_type(template, "AWS::CloudWatch::Alarm"):
        p = r.resolve(resource.get("Properties") or {})
        n = number(p.get("EvaluationPeriods"))
        # DatapointsToAlarm is the M of "M out of N": at most EvaluationPeriods (N).
        # https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-evaluation.html
        if number(p.get("DatapointsToAlarm")) and n and number(p["DatapointsToAlarm"]) > n:
            problems.append(f"{name}: DatapointsToAlarm {p['DatapointsToAlarm']} is more than EvaluationPeriods {n:g} "
                            "(M out of N needs M <= N)")
        metrics = p.get("Metrics")
        if metrics is None:
            # "you must specify either MetricName or a Metrics array"; "you must specify
            # either Statistic or ExtendedStatistic, but not both".
            if not p.get("MetricName") or not p.get("Namespace"):
                problems.append(f"{name}: a single-metric alarm needs Namespace and MetricName (or a Metrics array)")
            if ("Statistic" in p) == ("ExtendedStatistic" in p):
                problems.append(f"{name}: give exactly one of Statistic and ExtendedStatistic")
            if "ExtendedStatistic" in p and not EXTENDED_STATISTIC.fullmatch(str(p["ExtendedStatistic"])):
                problems.append(f"{name}: ExtendedStatistic {p['ExtendedStatistic']!r} is not a percentile (p0.0-p100) "
                                "or a documented trimmed statistic")
            problems += period_problems(name, p.get("Period"), n)
            continue
        for key in SINGLE_METRIC_ONLY:
            if key in p:
                problems.append(f"{name}: {key} cannot be given with Metrics: move it into each MetricStat")
        # "A single PutMetricAlarm call can include up to 20 MetricDataQuery structures ...
        # as many as 10 structures that contain a MetricStat ... and as many as 10 ...
        # Expression."
        stats = [m for m in metrics if "MetricStat" in m]
        expressions = [m for m in metrics if "Expression" in m]
        if len(metrics) > 20 or len(stats) > 10 or len(expressions) > 10:
            problems.append(f"{name}: {len(metrics)} metrics ({len(stats)} MetricStat, {len(expressions)} Expression): "
                            "an alarm takes at most 20, of which 10 of each kind")
        ids = [m.get("Id") for m in metrics]
        for i in sorted({i for i in ids if ids.count(i) > 1}, key=str):
            problems.append(f"{name}: metric Id {i!r} is used twice: Ids must be unique within the alarm")
        for i in ids:
            if not isinstance(i, str) or not METRIC_ID.fullmatch(i):
                problems.append(f"{name}: metric Id {i!r} must start with a lower-case letter and hold only letters, "
                                "digits and '_'")
        for m in metrics:
            if ("MetricStat" in m) == ("Expression" in m):
                problems.append(f"{name}: metric {m.get('Id')!r} must have either MetricStat or Expression, not both or neither")
            if "Expression" in m:
                for unknown in sorted(metric_ids_in(str(m["Expression"])) - set(ids)):
                    problems.append(f"{name}: expression {m['Expression']!r} names {unknown!r}, which is no metric Id here")
            if "MetricStat" in m:
                problems += period_problems(f"{name} metric {m.get('Id')!r}", m["MetricStat"].get("Period"), n)
        # ReturnData: "When used in PutMetricAlarm, specify true for the one expression
        # result to use as the alarm. For all other metrics and expressions in the same
        # PutMetricAlarm operation, specify ReturnData as False." It defaults to true. An
        # anomaly detection alarm's band (ThresholdMetricId) returns data beside it.
        band = p.get("ThresholdMetricId")
        if band is not None and band not in [m.get("Id") for m in expressions]:
            problems.append(f"{name}: ThresholdMetricId {band!r} is no Expression of the alarm")
        returned = [m.get("Id") for m in metrics
                    if m.get("ReturnData", True) in (True, "true", "True") and m.get("Id") != band]
        if len(returned) != 1:
            problems.append(f"{name}: {len(returned)} metrics return data ({', '.join(map(str, returned)) or 'none'}); "
                            "exactly one may (ReturnData defaults to true: set false on the others)")
    return problems


# ---- CloudWatch dashboards --------------------------------------------------------------
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CloudWatch-Dashboard-Body-Structure.html
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutDashboard.html
WIDGET_TYPES = {"metric", "text", "log", "alarm", "explorer", "custom"}
METRIC_VIEWS = {"timeSeries", "singleValue", "gauge", "bar", "pie", "table"}


def dashboard_body_problems(where, body):
    """The body against the documented structure: "The dashboard must include a widgets
    array" of "between 0 and 500 widget objects"; a widget has a type and properties,
    width 1-24, height 1-1000, x 0-23, y >= 0; a metric widget names its region, each
    metric is [Namespace, MetricName, (dimension name, value)..., {options}] or a
    rendering object with an expression, and its period is 1, 5, 10, 30 or a multiple of 60."""
    if not isinstance(body, dict) or not isinstance(body.get("widgets"), list):
        return [f"{where}: the body must be a JSON object with a widgets array"]
    problems = []
    if len(body["widgets"]) > 500:
        problems.append(f"{where}: {len(body['widgets'])} widgets, over the 500 a dashboard holds")
    for i, w in enumerate(body["widgets"]):
        at = f"{where} widget {i}"
        if not isinstance(w, dict):
            problems.append(f"{at} is not an object")
            continue
        if w.get("type") not in WIDGET_TYPES:
            problems.append(f"{at}: type {w.get('type')!r} is not one of {', '.join(sorted(WIDGET_TYPES))}")
        for key, low, high in (("width", 1, 24), ("height", 1, 1000), ("x", 0, 23), ("y", 0, None)):
            v = w.get(key)
            if v is not None and (not isinstance(v, int) or v < low or (high is not None and v > high)):
                problems.append(f"{at}: {key} {v!r} is outside {low}..{high if high is not None else ''}")
        props = w.get("properties")
        if not isinstance(props, dict):
            problems.append(f"{at}: properties (an object) is required")
            continue
        if w.get("type") == "text" and not isinstance(props.get("markdown"), str):
            problems.append(f"{at}: a text widget needs markdown")
        if w.get("type") != "metric":
            continue
        if not props.get("region"):
            problems.append(f"{at}: a metric widget needs its region")
        if "view" in props and props["view"] not in METRIC_VIEWS:
            problems.append(f"{at}: view {props['view']!r} is not one of {', '.join(sorted(METRIC_VIEWS))}")
        period = props.get("period")
        if period is not None and not (period in (1, 5, 10, 30) or (isinstance(period, int) and period > 0 and period % 60 == 0)):
            problems.append(f"{at}: period {period!r} is not 1, 5, 10, 30 or a multiple of 60")
        metrics = props.get("metrics", [])
        if not isinstance(metrics, list) or not (metrics or props.get("annotations") or props.get("alarms")):
            problems.append(f"{at}: a metric widget needs a metrics array (or annotations)")
            continue
        for j, m in enumerate(metrics):
            parts = m if isinstance(m, list) else [None]
            options = parts[-1] if parts and isinstance(parts[-1], dict) else None
            names = parts[:-1] if options is not None else parts
            if options is not None and "expression" in options and not names:
                continue
            ok = all(isinstance(s, str) for s in names) and (
                (len(names) >= 2 and len(names) % 2 == 0) or (names and all(s == "." * len(s) for s in names[:2])))
            if not ok:
                problems.append(f"{at} metric {j}: {m!r} is not [Namespace, MetricName, dimension name, value, ..., "
                                "{options}] nor {\"expression\": ...}")
    return problems


def dashboard_problems(template):
    import jsonschema
    with open(DASHBOARD_SCHEMA, encoding="utf-8") as f:
        # The resource's properties as the LocalStack plugin's provider declares them.
        validator = jsonschema.Draft7Validator(json.load(f))
    problems = []
    r = Resolver(template)
    for name, resource in of_type(template, "AWS::CloudWatch::Dashboard"):
        props = r.resolve(resource.get("Properties") or {})
        problems += [f"{name}: {e.message}" for e in validator.iter_errors(props)]
        # PutDashboard: "can contain only alphanumerics, dash (-), and underscore (_)", 1-255.
        dashboard_name = props.get("DashboardName")
        if dashboard_name is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,255}", str(dashboard_name)):
            problems.append(f"{name}: DashboardName {dashboard_name!r} may hold only letters, digits, '-' and '_' (1-255)")
        if not isinstance(props.get("DashboardBody"), str):
            continue
        try:
            body = json.loads(props["DashboardBody"])
        except ValueError as e:
            problems.append(f"{name}: DashboardBody is not JSON once resolved ({e})")
            continue
        problems += dashboard_body_problems(name, body)
    return problems


# ---- EventBridge --------------------------------------------------------------------------
# Patterns: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html
# compiled by LocalStack's port of aws/event-ruler (the engine EventBridge uses), which
# refuses what PutRule refuses: scalars where arrays belong, empty arrays, unknown
# operators, malformed numeric ranges, CIDRs and wildcards.
# https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutRule.html: EventPattern
# "Maximum length of 4096."


def event_pattern(r, resource):
    pattern = r.resolve((resource.get("Properties") or {}).get("EventPattern"))
    return json.loads(pattern) if isinstance(pattern, str) else pattern


def event_pattern_problems(template):
    from localstack.aws.api.events import InvalidEventPatternException
    from localstack.services.events.event_rule_engine import EventPatternCompiler
    problems = []
    r = Resolver(template)
    for name, resource in of_type(template, "AWS::Events::Rule", "AWS::Events::Archive"):
        try:
            pattern = event_pattern(r, resource)
        except ValueError as e:
            problems.append(f"{name}: EventPattern is not JSON ({e})")
            continue
        if pattern is None:
            continue
        if len(json.dumps(pattern, separators=(",", ":"))) > 4096:
            problems.append(f"{name}: EventPattern is over the 4096 characters PutRule accepts")
        try:
            EventPatternCompiler().compile_event_pattern(pattern)
        except InvalidEventPatternException as e:
            problems.append(f"{name}: EventBridge refuses the EventPattern: {e.message}")
    return problems


# Input transformers: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-transform-target-input.html
# and https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_InputTransformer.html:
# InputPathsMap "can have as many as 100 key-value pairs", keys [A-Za-z0-9_-]+ (1-256) that
# "cannot start with AWS", values JSON paths (dot notation, dashes, underscores,
# alphanumerics, array indices, wildcards, forward slashes) of at most 256 characters; the
# predefined variables need no path; "aws.events.event" and "aws.events.event.json" "can
# only be used as a value for a JSON field, as its contents are not escaped".
PREDEFINED = {"aws.events.rule-arn", "aws.events.rule-name", "aws.events.event.ingestion-time",
              "aws.events.event", "aws.events.event.json"}
UNESCAPED = {"aws.events.event", "aws.events.event.json"}
INPUT_PATH = re.compile(r"\$(\.[A-Za-z0-9_\-/*]+|\[(\d+|\*)\])*")
PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")


def fill_template(template):
    """The InputTemplate as EventBridge fills it, each value "x": a placeholder inside a
    JSON string takes the value's text; outside one, the value as JSON.
    Returns (text, [names used inside strings], [names used as keys])."""
    out, inside, quoted, keys, i = [], False, [], [], 0
    while i < len(template):
        c = template[i]
        m = PLACEHOLDER.match(template, i) if c == "<" else None
        if m:
            if inside:
                quoted.append(m.group(1))
                out.append("x")
            else:
                out.append('"x"')
                if template[m.end():].lstrip().startswith(":"):
                    keys.append(m.group(1))
            i = m.end()
            continue
        if inside and c == "\\":
            out.append(template[i:i + 2])
            i += 2
            continue
        if c == '"':
            inside = not inside
        out.append(c)
        i += 1
    return "".join(out), quoted, keys


def json_path(event, path):
    """The value at a dot-notation path in an event, or KeyError."""
    value = event
    for key, index in re.findall(r"\.([^.\[]+)|\[(\d+)\]", path[1:]):
        if key == "*":
            return value
        value = value[int(index)] if index else value[key]
    return value


def sample_events(root=ROOT):
    """(path, event) for every EventBridge event under events/ (outside schemas/): files
    that are one, and SQS records whose body is one."""
    found = []
    folder = os.path.join(root, "events")
    for dirpath, dirs, files in sorted(os.walk(folder)):
        dirs[:] = sorted(d for d in dirs if d != "schemas")
        for f in sorted(files):
            if not f.endswith(".json"):
                continue
            path = os.path.join(dirpath, f)
            with open(path, encoding="utf-8") as fh:
                try:
                    doc = json.load(fh)
                except ValueError:
                    continue
            records = doc.get("Records") or [] if isinstance(doc, dict) else []
            candidates = [doc] + [json.loads(rec["body"]) for rec in records
                                  if isinstance(rec.get("body"), str) and rec["body"].startswith("{")]
            for c in candidates:
                if isinstance(c, dict) and {"source", "detail-type", "detail"} <= set(c):
                    found.append((os.path.relpath(path, root), c))
    return found


def input_transformer_problems(template, samples=()):
    from localstack.services.events.event_rule_engine import EventRuleEngine
    problems = []
    r = Resolver(template)
    for name, resource in of_type(template, "AWS::Events::Rule"):
        pattern = event_pattern(r, resource)
        matched = [(p, e) for p, e in samples if pattern and EventRuleEngine().evaluate_pattern_on_event(pattern, e)]
        for target in as_list((resource.get("Properties") or {}).get("Targets")):
            t = r.resolve(target.get("InputTransformer"))
            if not t:
                continue
            at = f"{name} target {target.get('Id')!r}"
            paths = t.get("InputPathsMap") or {}
            if len(paths) > 100:
                problems.append(f"{at}: {len(paths)} InputPathsMap entries, over the 100 allowed")
            for key, path in paths.items():
                if not re.fullmatch(r"[A-Za-z0-9_\-]{1,256}", key) or key.startswith("AWS") or key in PREDEFINED:
                    problems.append(f"{at}: InputPathsMap key {key!r} must be letters, digits, '_' or '-' (1-256), "
                                    "not starting with AWS")
                if not isinstance(path, str) or len(path) > 256 or not INPUT_PATH.fullmatch(path):
                    problems.append(f"{at}: InputPathsMap[{key!r}] = {path!r} is not a JSON path in dot notation "
                                    "starting with '$' (at most 256 characters)")
            text = str(t.get("InputTemplate", ""))
            for used in sorted(set(PLACEHOLDER.findall(text)) - set(paths) - PREDEFINED):
                problems.append(f"{at}: InputTemplate uses <{used}>, which InputPathsMap does not define")
            if text.lstrip().startswith(("{", "[")):
                # "The InputTemplate must be valid JSON" once filled (when it is JSON at all).
                filled, quoted, keys = fill_template(text)
                for key in keys:
                    problems.append(f"{at}: <{key}> is used as an object key, which the InputTemplate may not do")
                try:
                    json.loads(filled)
                except ValueError as e:
                    problems.append(f"{at}: InputTemplate is not valid JSON once its placeholders are filled ({e}): {filled}")
                for unescaped in sorted(set(quoted) & UNESCAPED):
                    problems.append(f"{at}: <{unescaped}> is inside a JSON string; it may only be a field's value")
            # The paths exist in the sample events this rule matches (events/).
            for key, path in paths.items():
                for sample, event in matched:
                    try:
                        json_path(event, path)
                    except (KeyError, IndexError, TypeError):
                        problems.append(f"{at}: InputPathsMap[{key!r}] = {path} is missing from {sample}, which the "
                                        "rule matches: the target would get null (fix the path or the sample)")
    return problems


# ---- Lambda event source mappings ---------------------------------------------------------
# https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-parameters.html
# https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html
# https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html
STREAM_ONLY = ("StartingPosition", "StartingPositionTimestamp", "ParallelizationFactor", "BisectBatchOnFunctionError",
               "MaximumRetryAttempts", "MaximumRecordAgeInSeconds", "DestinationConfig", "TumblingWindowInSeconds")


def function_of(value):
    """The logical id a FunctionName (!Ref F / !GetAtt F.Arn) names."""
    if isinstance(value, dict):
        if "Ref" in value:
            return value["Ref"]
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            return (target.split(".")[0] if isinstance(target, str) else target[0])
    return None


def event_source_mappings(template):
    """(where, function logical id, source logical id, source kind, properties) for every
    AWS::Lambda::EventSourceMapping and every SQS/DynamoDB/Kinesis event of a SAM function."""
    resources = template.get("Resources") or {}
    found = []
    for name, resource in of_type(template, "AWS::Lambda::EventSourceMapping"):
        p = resource.get("Properties") or {}
        found.append((name, function_of(p.get("FunctionName")), function_of(p.get("EventSourceArn")), None, p))
    for name, resource in of_type(template, "AWS::Serverless::Function"):
        for event, spec in sorted(((resource.get("Properties") or {}).get("Events") or {}).items()):
            if spec.get("Type") in ("SQS", "DynamoDB", "Kinesis"):
                p = dict(spec.get("Properties") or {})
                source = p.pop("Queue", None) or p.pop("Stream", None)
                found.append((f"{name}.Events.{event}", name, function_of(source), spec["Type"], p))
    out = []
    for where, fn, source, kind, p in found:
        source_type = resources.get(source, {}).get("Type")
        arn = str(p.get("EventSourceArn", ""))
        kind = kind or {"AWS::SQS::Queue": "SQS", "AWS::DynamoDB::Table": "DynamoDB", "AWS::Kinesis::Stream": "Kinesis"}.get(
            source_type) or next((k for k, s in (("SQS", ":sqs:"), ("DynamoDB", ":dynamodb:"), ("Kinesis", ":kinesis:"))
                                  if s in arn), None)
        out.append((where, fn, source, kind, p))
    return out


def function_timeout(template, r, fn):
    """A function's timeout: its own, else the SAM Globals', else Lambda's default 3 s."""
    resource = (template.get("Resources") or {}).get(fn) or {}
    timeout = (resource.get("Properties") or {}).get("Timeout")
    if timeout is None and resource.get("Type") == "AWS::Serverless::Function":
        timeout = ((template.get("Globals") or {}).get("Function") or {}).get("Timeout")
    return number(r.resolve(timeout)) if timeout is not None else 3


def event_source_mapping_problems(template, parameter_sets=({},)):
    """parameter_sets: the parameter values to check the queue/function timeouts with
    (the Defaults always, plus e.g. the local test stack's overrides)."""
    resources = template.get("Resources") or {}
    problems = []
    r = Resolver(template)
    for where, fn, source, kind, raw in event_source_mappings(template):
        p = r.resolve(raw)
        batch = number(p.get("BatchSize"))
        window = number(p.get("MaximumBatchingWindowInSeconds"))
        # FunctionResponseTypes: "Valid Values: ReportBatchItemFailures" (at most one).
        for t in as_list(p.get("FunctionResponseTypes")):
            if t != "ReportBatchItemFailures":
                problems.append(f"{where}: FunctionResponseTypes {t!r}: the only valid value is ReportBatchItemFailures")
        if window is not None and not 0 <= window <= 300:
            problems.append(f"{where}: MaximumBatchingWindowInSeconds {window:g} is outside 0..300")
        if kind == "SQS":
            queue = resources.get(source, {}).get("Properties") or {}
            fifo = str(r.resolve(queue.get("FifoQueue"))).lower() == "true"
            # "For standard queues, the maximum is 10,000. For FIFO queues, the maximum is
            # 10." "Batching window is not supported for FIFO queues."
            if batch is not None and batch > (10 if fifo else 10000):
                problems.append(f"{where}: BatchSize {batch:g} is over the {10 if fifo else 10000} allowed for a "
                                f"{'FIFO' if fifo else 'standard'} queue")
            if fifo and window:
                problems.append(f"{where}: a FIFO queue takes no MaximumBatchingWindowInSeconds: remove it")
            # "when you set BatchSize to a value greater than 10, you must set
            # MaximumBatchingWindowInSeconds to at least 1" (applied to SQS: a stream's
            # default BatchSize is 100 with no window).
            if not fifo and batch is not None and batch > 10 and not (window and window >= 1):
                problems.append(f"{where}: BatchSize {batch:g} > 10 needs MaximumBatchingWindowInSeconds >= 1")
            for key in STREAM_ONLY:
                if key in p:
                    problems.append(f"{where}: {key} applies to streams only; an SQS mapping is refused with it")
            # "Your function's timeout must be less than or equal to the queue's visibility
            # timeout. Lambda validates this requirement when you create or update an event
            # source mapping."
            for params in (parameter_sets if source in resources else ()):
                rp = Resolver(template, params)
                visibility = queue.get("VisibilityTimeout")
                visibility = number(rp.resolve(visibility)) if visibility is not None else 30
                timeout = function_timeout(template, rp, fn)
                if timeout is not None and visibility is not None and timeout > visibility:
                    given = " ".join(f"{k}={v}" for k, v in params.items()) or "the parameters' Defaults"
                    problems.append(f"{where}: {fn} times out after {timeout:g} s but {source}'s VisibilityTimeout is "
                                    f"{visibility:g} s (with {given}): Lambda refuses the mapping; raise the visibility "
                                    "timeout (AWS advises 6 x the function timeout)")
        elif kind in ("DynamoDB", "Kinesis"):
            # StartingPosition is required for streams; AT_TIMESTAMP is Kinesis only.
            allowed = ("TRIM_HORIZON", "LATEST") + (("AT_TIMESTAMP",) if kind == "Kinesis" else ())
            if p.get("StartingPosition") not in allowed:
                problems.append(f"{where}: a {kind} stream mapping needs StartingPosition, one of {', '.join(allowed)}")
            if batch is not None and batch > 10000:
                problems.append(f"{where}: BatchSize {batch:g} is over the 10000 a stream allows")
    return problems


# ---- Lambda environment variables ---------------------------------------------------------
# https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html: "The total size of
# all environment variables doesn't exceed 4 KB", keys "[a-zA-Z]([a-zA-Z0-9_])+".
# https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars-runtime.html: "The keys
# for these environment variables are reserved and cannot be set in your function
# configuration." That list, TZ included (the environment's time zone, UTC).
RESERVED_VARIABLES = {"TZ",
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
}
ENVIRONMENT_LIMIT = 4096


def environments(template):
    """{function: {name: value}}: each function's variables, SAM Globals merged in."""
    globals_ = (((template.get("Globals") or {}).get("Function") or {}).get("Environment") or {}).get("Variables") or {}
    out = {}
    for name, resource in of_type(template, *FUNCTION_TYPES):
        own = (((resource.get("Properties") or {}).get("Environment") or {}).get("Variables")) or {}
        out[name] = {**(globals_ if resource["Type"] == "AWS::Serverless::Function" else {}), **own}
    return out


def environment_problems(template):
    problems = []
    # Values measured at their longest: a reference as the longest name or ARN of its
    # kind, a parameter as the longest value its constraints allow.
    r = Resolver(template, longest=True)
    for fn, variables in environments(template).items():
        for key in sorted(variables):
            if key in RESERVED_VARIABLES:
                problems.append(f"{fn}: environment variable {key} is reserved by Lambda: rename it")
            elif not re.fullmatch(r"[a-zA-Z][a-zA-Z0-9_]+", key):
                problems.append(f"{fn}: environment variable name {key!r} must match [a-zA-Z][a-zA-Z0-9_]+")
        sizes = {k: len(k.encode()) + len(str(r.resolve(v)).encode()) for k, v in variables.items()}
        if sum(sizes.values()) > ENVIRONMENT_LIMIT:
            top = ", ".join(f"{k} {n}" for k, n in sorted(sizes.items(), key=lambda kv: -kv[1])[:3])
            problems.append(f"{fn}: its environment variables can reach {sum(sizes.values())} bytes (longest names and "
                            f"parameter values), over Lambda's 4 KB: largest {top}; pass long values another way")
    return problems


# ---- Payload limits on every hop ------------------------------------------------------------
# The documented limits: SQS, EventBridge and asynchronous Lambda invocations 1 MiB since
# 29 January 2026 (https://aws.amazon.com/blogs/compute/more-room-to-build-serverless-services-now-support-payloads-up-to-1-mb/);
# SNS 256 KiB (https://docs.aws.amazon.com/general/latest/gr/sns.html); Step Functions
# execution input and state 256 KiB (https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html);
# PutEvents 10 entries a call (https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEvents.html).
DOCUMENTED_LIMITS = {"Sqs": 1_048_576, "EventBridge": 1_048_576, "LambdaAsync": 1_048_576,
                     "Sns": 262_144, "StepFunctions": 262_144}
PUT_EVENTS_ENTRIES = 10


def rust_int(expr):
    """The value of a Rust integer literal or product: `1_048_576`, `8 * 1024`."""
    return math.prod(int(term.replace("_", "")) for term in expr.split("*"))


def kit_limits(root=ROOT):
    """The size constants the kit's Rust code uses, read from the source: each transport's
    limit (Transport::limit), the headroom its default claim-check threshold keeps, the
    Extended Client threshold, and the PutEvents batch sizes."""
    def const(rel, pattern):
        with open(os.path.join(root, rel), encoding="utf-8") as f:
            m = re.search(pattern, f.read(), re.S)
        if not m:
            raise ValueError(f"{rel}: no match for {pattern!r}: update tools/infra/aws_rules.py kit_limits")
        return m.group(1)
    claim_check = "shared/src/claim_check.rs"
    limits = {}
    arms = const(claim_check, r"fn limit\(self\) -> usize \{(.*?)\n    \}")
    for arm, value in re.findall(r"((?:Transport::\w+\s*\|?\s*)+)=>\s*([\d_]+)", arms):
        for t in re.findall(r"Transport::(\w+)", arm):
            limits[t] = rust_int(value)
    return {
        "limits": limits,
        "headroom": rust_int(const(claim_check, r"fn default_threshold\(self\) -> usize \{\s*self\.limit\(\) - ([\d_ *]+)\n")),
        "extended_client_threshold": rust_int(const(claim_check, r"EXTENDED_CLIENT_DEFAULT_THRESHOLD: usize = ([\d_ *]+);")),
        "put_events_batches": {
            "shared/src/aws/eventbridge.rs MAX_ENTRIES": rust_int(const("shared/src/aws/eventbridge.rs",
                                                                        r"const MAX_ENTRIES: usize = ([\d_]+);")),
            "shared/src/outbox.rs BATCH": rust_int(const("shared/src/outbox.rs", r"const BATCH: usize = ([\d_]+);")),
        },
    }


def kit_limit_problems(kit):
    problems = []
    for transport, documented in DOCUMENTED_LIMITS.items():
        ours = kit["limits"].get(transport)
        if ours is None:
            problems.append(f"shared/src/claim_check.rs: Transport::{transport} has no limit arm the check can read")
        elif ours > documented:
            problems.append(f"shared/src/claim_check.rs: Transport::{transport}.limit() is {ours} bytes, over the documented "
                            f"{documented}: messages between are refused")
    if kit["headroom"] <= 0:
        problems.append("shared/src/claim_check.rs: default_threshold() keeps no headroom below the limit, but the caller adds "
                        "attributes and the rule its envelope after sizing")
    if kit["extended_client_threshold"] > DOCUMENTED_LIMITS["Sqs"]:
        problems.append(f"shared/src/claim_check.rs: EXTENDED_CLIENT_DEFAULT_THRESHOLD {kit['extended_client_threshold']} is "
                        "over the SQS message limit")
    for where, n in kit["put_events_batches"].items():
        if not 1 <= n <= PUT_EVENTS_ENTRIES:
            problems.append(f"{where} is {n}: PutEvents takes 1 to {PUT_EVENTS_ENTRIES} entries a call")
    return problems


def payload_problems(template, kit):
    """Hops the template makes that the kit's thresholds do not fit."""
    problems = []
    r = Resolver(template)
    resources = template.get("Resources") or {}
    bus_largest = kit["limits"]["EventBridge"] - kit["headroom"]
    rule_targets = {}
    for name, resource in of_type(template, "AWS::Events::Rule"):
        for target in as_list((resource.get("Properties") or {}).get("Targets")):
            rule_targets.setdefault(function_of(target.get("Arn")), []).append((name, target))
    for logical, targets in sorted(rule_targets.items(), key=lambda kv: str(kv[0])):
        kind = resources.get(logical, {}).get("Type")
        for rule, target in targets:
            # A bus event carries up to the EventBridge threshold; StartExecution input is
            # 256 KiB: a rule must cut the event down before a state machine.
            if kind in STATE_MACHINE_TYPES and not ({"InputTransformer", "Input"} & set(target)):
                problems.append(f"{rule} target {target.get('Id')!r}: {logical} gets whole bus events (up to {bus_largest} "
                                f"bytes, the kit's EventBridge claim-check threshold), over Step Functions' "
                                f"{DOCUMENTED_LIMITS['StepFunctions']}: pass an InputTransformer that keeps what it needs")
    for name, resource in of_type(template, "AWS::SQS::Queue"):
        size = (resource.get("Properties") or {}).get("MaximumMessageSize")
        if size is None:
            continue
        size = number(r.resolve(size))
        need = kit["limits"]["Sqs"] - kit["headroom"]
        if name in rule_targets:
            need = max(need, kit["limits"]["EventBridge"])
        if size < need:
            problems.append(f"{name}: MaximumMessageSize {size:g} is below the {need} bytes the kit lets through "
                            "(its claim-check threshold, or a bus event): remove it or raise it")
    return problems


# ---- Step Functions definitions (validated by asl-validator in tools/infra/asl/) -----------


def state_machine_definitions(template, template_dir):
    """[(logical id, definition text with its DefinitionSubstitutions applied)], problems.
    A substitution takes a value of the kind it will have on AWS (an ARN, a queue URL),
    so the validator checks the definition as Step Functions will get it."""
    r = Resolver(template)
    found, problems = [], []
    for name, resource in of_type(template, *STATE_MACHINE_TYPES):
        p = resource.get("Properties") or {}
        if isinstance(p.get("DefinitionUri"), str):
            with open(os.path.join(template_dir, p["DefinitionUri"]), encoding="utf-8") as f:
                text = f.read()
        elif "Definition" in p:
            text = json.dumps(r.resolve(p["Definition"]), indent=2)
        elif "DefinitionString" in p:
            text = str(r.resolve(p["DefinitionString"]))
        else:
            continue  # in S3: nothing to read here
        substitutions = r.resolve(p.get("DefinitionSubstitutions") or {})

        def one(m):
            if m.group(1) not in substitutions:
                problems.append(f"{name}: the definition uses ${{{m.group(1)}}}, which DefinitionSubstitutions does not "
                                "give: Step Functions would get the placeholder itself")
                return m.group(0)
            return json.dumps(str(substitutions[m.group(1)]))[1:-1]
        found.append((name, re.sub(r"\$\{([A-Za-z0-9_.:]+)\}", one, text)))
    return found, problems


# ---- the command ----------------------------------------------------------------------------


def local_parameters(root=ROOT):
    """The parameter overrides of the local test stacks (the Makefile's LOCAL_PARAMETERS)."""
    with open(os.path.join(root, "Makefile"), encoding="utf-8") as f:
        m = re.search(r"^LOCAL_PARAMETERS \?= (.*)$", f.read(), re.M)
    return dict(kv.split("=", 1) for kv in m.group(1).split()) if m else {}


def check(template, template_dir, root=ROOT):
    """(problems, coverage counts) of every rule family."""
    params = template.get("Parameters") or {}
    local = {k: v for k, v in local_parameters(root).items() if k in params}
    samples = sample_events(root)
    kit = kit_limits(root)
    definitions, asl_problems = state_machine_definitions(template, template_dir)
    problems = (alarm_problems(template) + dashboard_problems(template) + event_pattern_problems(template)
                + input_transformer_problems(template, samples)
                + event_source_mapping_problems(template, ({}, local))
                + environment_problems(template) + kit_limit_problems(kit) + payload_problems(template, kit)
                + asl_problems)
    rules = of_type(template, "AWS::Events::Rule")
    counts = {
        "alarms": len(of_type(template, "AWS::CloudWatch::Alarm")),
        "dashboards": len(of_type(template, "AWS::CloudWatch::Dashboard")),
        "event patterns": sum(1 for _, r in of_type(template, "AWS::Events::Rule", "AWS::Events::Archive")
                              if "EventPattern" in (r.get("Properties") or {})),
        "input transformers": sum(1 for _, r in rules for t in as_list((r.get("Properties") or {}).get("Targets"))
                                  if "InputTransformer" in t),
        "sample events": len(samples),
        "event source mappings": len(event_source_mappings(template)),
        "function environments": len(environments(template)),
        "state machine definitions": len(definitions),
    }
    return problems, counts


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("template")
    parser.add_argument("--asl-out", metavar="DIR")
    args = parser.parse_args()
    template = load(args.template)
    template_dir = os.path.dirname(os.path.abspath(args.template))
    if args.asl_out:
        definitions, problems = state_machine_definitions(template, template_dir)
        os.makedirs(args.asl_out, exist_ok=True)
        for old in os.listdir(args.asl_out):
            if old.endswith(".asl.json"):
                os.remove(os.path.join(args.asl_out, old))
        for name, text in definitions:
            with open(os.path.join(args.asl_out, f"{name}.asl.json"), "w", encoding="utf-8") as f:
                f.write(text)
    else:
        problems, counts = check(template, template_dir)
        print("aws_rules: " + ", ".join(f"{n} {what}" for what, n in counts.items()))
    for p in problems:
        print(f"aws_rules: {p}", file=sys.stderr)
    if problems:
        print(f"aws_rules: {len(problems)} problem(s) AWS would refuse at create time (tools/infra/aws_rules.py)",
              file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
