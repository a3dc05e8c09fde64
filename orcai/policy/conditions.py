"""Policy conditions in CEL: checked when saved, evaluated by the worker.

CEL (`common-expression-language`, a Rust implementation) parses and evaluates without any
access to Python: a condition from a web form can read the facts and nothing else. Its
compiler reports syntax errors with line and column, but it has no type checker and does
not expose its syntax tree, so `validate` adds three checks of its own:

1. every top-level name the compiled program references (`Program.variables()`) must be a
   fact root (`dag`, `run`, `anomaly`, `now`) or a variable bound by a macro such as
   `dag.tags.exists(t, …)`;
2. every `root.field` in the source (string literals blanked out first) must be a
   documented fact — an unknown one is named with its line, column and the nearest fact;
3. the program is run on sample facts of the declared types, twice with the booleans
   flipped so both sides of `&&` / `||` run; a type mismatch (`dag.runs_24h > "3"`) or a
   result that is not true/false is an error. Errors that depend on the values (a division
   by zero) are not: live, such a condition disables its policy with the error shown.

Cost. CEL has no loops, but its comprehension macros (`all`, `exists`, `exists_one`, `map`,
`filter`) nest, and nested they multiply: ten lists of ten, nested seven deep, is ten million
steps (seven seconds) per DAG per cycle. Before anything runs, `validate` refuses
comprehensions nested more than `MAX_COMPREHENSION_DEPTH` deep, or whose estimated work (the
product of the sizes of the lists they walk: a literal's element count, `ASSUMED_RANGE_SIZE`
for a fact or a computed list) exceeds `MAX_COMPREHENSION_WORK`. Whatever still slips through
is bounded in time: every evaluation (the type checks here, the worker, the backtest) runs in
a child process (`orcai.policy.sandbox`) that is killed past its time budget.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

import cel

from orcai.errors import ConditionRuntimeError, ConditionTimeout
from orcai.policy import sandbox
from orcai.policy.facts import FACTS, sample_facts

RESOURCE_ROOT = "resource"  # resource.<name>: facts from Prometheus, named by configuration
MAX_CONDITION_CHARS = 2_000
MAX_COMPREHENSION_DEPTH = 2
MAX_COMPREHENSION_WORK = 10_000
ASSUMED_RANGE_SIZE = 100  # a fact's list or map (tags, a per-node resource) or a computed list
VALIDATION_BUDGET_S = 2.0
_PARSE_ERROR = re.compile(r"<input>:(\d+):(\d+):\s*(.*)")
_STRING_LITERAL = re.compile(r"""'''.*?'''|\"\"\".*?\"\"\"|'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*\"""", re.S)
_FIELD_ACCESS = re.compile(r"\b(" + "|".join(FACTS) + r")\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)")
_MACRO_CALL = re.compile(r"\.\s*(all|exists_one|exists|map|filter)\s*\(")
_MACRO_VARIABLE = re.compile(r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*,")


@dataclass(frozen=True)
class ConditionError:
    message: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = f"line {self.line}, column {self.column}: " if self.line else ""
        return where + self.message


def validate(condition: str) -> list[ConditionError]:
    """Every problem with a condition, each with its position when known; [] when valid."""
    if not condition.strip():
        return [ConditionError("the condition is empty")]
    if len(condition) > MAX_CONDITION_CHARS:
        return [ConditionError(f"the condition is longer than {MAX_CONDITION_CHARS} characters")]
    try:
        program = cel.compile(condition)
    except ValueError as exc:
        return [_syntax_error(str(exc))]
    errors = _unknown_names(condition, program) + _unknown_fields(condition) + cost_errors(condition)
    return errors or _type_errors(condition)


def compile_condition(condition: str):
    """A compiled program for a condition that `validate` accepted."""
    return cel.compile(condition)


def evaluate_all(condition: str, facts_list: list[dict],
                 budget_s: float = sandbox.DEFAULT_BUDGET_S) -> list[bool | ConditionRuntimeError]:
    """The condition on each facts, in the time-bounded child process: true/false, or the
    runtime error of that evaluation. Raises ConditionTimeout when one runs past `budget_s`."""
    results: list[bool | ConditionRuntimeError] = []
    for answer in sandbox.run(condition, facts_list, budget_s):
        if "compile_error" in answer:
            raise ConditionRuntimeError(f"does not compile: {_first_line(answer['compile_error'])}")
        if "error" in answer:
            results.append(ConditionRuntimeError(_first_line(answer["message"])))
        elif not isinstance(answer["value"], bool) or "type" in answer:
            results.append(ConditionRuntimeError(
                f"the condition returned {answer.get('type') or _cel_type(answer['value'])} "
                f"{answer['value']!r}, not true/false"))
        else:
            results.append(answer["value"])
    return results


def cost_errors(condition: str) -> list[ConditionError]:
    """Comprehensions nested too deep, or with too much estimated work (see the module doc)."""
    source = _blank_strings(condition)
    calls = []  # (start, end, size) of each macro call's argument span
    for match in _MACRO_CALL.finditer(source):
        end = _closing(source, match.end() - 1)
        calls.append((match.start(), end, _range_size(source, match.start()), match))
    worst_depth, worst_work, where = 0, 1, None
    for start, end, size, match in calls:
        enclosing = [c for c in calls if c[0] < start and start < c[1]]
        depth, work = len(enclosing) + 1, size
        for outer in enclosing:
            work *= outer[2]
        if depth > worst_depth or work > worst_work:
            worst_depth, worst_work = max(worst_depth, depth), max(worst_work, work)
            where = match
    errors = []
    line, column = _position(condition, where)
    if worst_depth > MAX_COMPREHENSION_DEPTH:
        errors.append(ConditionError(
            f"too costly: comprehensions (all, exists, exists_one, map, filter) are nested {worst_depth} deep; "
            f"at most {MAX_COMPREHENSION_DEPTH} are allowed", line, column))
    elif worst_work > MAX_COMPREHENSION_WORK:
        errors.append(ConditionError(
            f"too costly: the comprehensions would take about {worst_work:,} steps per DAG (the lists they walk, "
            f"multiplied); at most {MAX_COMPREHENSION_WORK:,} are allowed", line, column))
    return errors


def _closing(source: str, open_index: int) -> int:
    """Index of the bracket closing the one at `open_index` (or the end of the source)."""
    depth = 0
    for index in range(open_index, len(source)):
        depth += source[index] in "([{"
        depth -= source[index] in ")]}"
        if depth == 0:
            return index
    return len(source)


def _range_size(source: str, dot: int) -> int:
    """How many elements the expression before `.macro(` has: a literal's count, else assumed."""
    end = dot - 1
    while end >= 0 and source[end].isspace():
        end -= 1
    if end < 0 or source[end] != "]":
        return ASSUMED_RANGE_SIZE
    depth = 0
    for start in range(end, -1, -1):
        depth += source[start] in ")]}"
        depth -= source[start] in "([{"
        if depth == 0:
            break
    else:
        return ASSUMED_RANGE_SIZE
    if start > 0 and re.match(r"[A-Za-z0-9_\])]", source[start - 1]):  # an index: x[k].all(…)
        return ASSUMED_RANGE_SIZE
    inner = source[start + 1:end]
    if not inner.strip():
        return 0
    depth, commas = 0, 0
    for char in inner:
        depth += char in "([{"
        depth -= char in ")]}"
        commas += char == "," and depth == 0
    return commas + 1


def evaluate(program, facts: dict) -> bool:
    """Run a compiled condition on facts; anything but true/false is a runtime error."""
    try:
        result = program.execute(facts)
    except Exception as exc:  # the Rust extension raises TypeError, KeyError, RuntimeError, ValueError
        raise ConditionRuntimeError(_first_line(exc)) from None
    if not isinstance(result, bool):
        raise ConditionRuntimeError(f"the condition returned {type(result).__name__} {result!r}, not true/false")
    return result


def _syntax_error(message: str) -> ConditionError:
    if "Recursion limit" in message:  # the parser's own guard against deeply nested input
        depth = re.search(r"Recursion limit of (\d+)", message)
        return ConditionError(f"the condition is nested too deeply (more than {depth.group(1) if depth else 'the'} "
                              "levels of brackets or operators): split it up")
    match = _PARSE_ERROR.search(message)
    if not match:
        return ConditionError(f"syntax error: {_first_line(message)}")
    text = re.sub(r"^Syntax error:\s*", "", match.group(3).strip())
    return ConditionError(f"syntax error: {text}", int(match.group(1)), int(match.group(2)))


def _unknown_names(source: str, program) -> list[ConditionError]:
    bound = set(_MACRO_VARIABLE.findall(source))
    errors = []
    for name in program.variables():
        if name in FACTS or name in bound or name == RESOURCE_ROOT:
            continue
        line, column = _position(source, re.search(rf"\b{re.escape(name)}\b", _blank_strings(source)))
        hint = _nearest(name, list(FACTS))
        errors.append(ConditionError(f"unknown fact '{name}': the facts are {', '.join(FACTS)}{hint}",
                                     line, column))
    return errors


def _unknown_fields(source: str) -> list[ConditionError]:
    errors = []
    for match in _FIELD_ACCESS.finditer(_blank_strings(source)):
        root, field = match.group(1), match.group(2)
        if field not in FACTS[root]:
            line, column = _position(source, match, group=2)
            errors.append(ConditionError(f"unknown fact '{root}.{field}'{_nearest(field, list(FACTS[root]), root)}",
                                         line, column))
    return errors


def _type_errors(condition: str) -> list[ConditionError]:
    """Run on sample facts; a resource fact is tried as a number and as a map by label, and
    the condition passes if one of the two shapes types."""
    used = set(re.findall(r"\bresource\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)", _blank_strings(condition)))
    shapes = [0.5, {"default_pool": 0.5}] if used else [0.5]
    errors: list[ConditionError] = []
    for shape in shapes:
        facts = [{**sample, RESOURCE_ROOT: {name: shape for name in used}}
                 for sample in (sample_facts(), sample_facts(flip=True))]
        try:
            answers = sandbox.run(condition, facts, VALIDATION_BUDGET_S)
        except ConditionTimeout:
            return [ConditionError(f"too costly: evaluating it once on sample facts took longer than "
                                   f"{VALIDATION_BUDGET_S:g} s; simplify it")]
        errors = _answer_errors(answers)
        if not errors:
            return []
    return errors


def _answer_errors(answers: list[dict]) -> list[ConditionError]:
    for answer in answers:
        if answer.get("error") == "TypeError":  # operands of the wrong type: wrong whatever the values
            return [ConditionError(f"type error: {_first_sentence(answer['message'])} "
                                   "See the facts' types beside the editor.")]
        if "error" in answer:  # division by zero, index out of range: depends on the values
            continue
        if not isinstance(answer.get("value"), bool) or "type" in answer:
            kind = answer.get("type") or _cel_type(answer.get("value"))
            return [ConditionError(f"a condition must be true or false; this one gives a value of type "
                                   f"{kind} (e.g. compare it: `… > 2`)")]
    return []


def _blank_strings(source: str) -> str:
    """The source with string literals replaced by spaces: same length, same positions."""
    return _STRING_LITERAL.sub(lambda m: " " * len(m.group(0)), source)


def _position(source: str, match, group: int = 0) -> tuple[int | None, int | None]:
    if match is None:
        return None, None
    offset = match.start(group)
    line = source.count("\n", 0, offset) + 1
    return line, offset - (source.rfind("\n", 0, offset) + 1) + 1


def _nearest(name: str, known: list[str], root: str | None = None) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if not close:
        return "" if root is None else f": {root} has {', '.join(known)}"
    return f" — did you mean '{root + '.' if root else ''}{close[0]}'?"


def _cel_type(value) -> str:
    return {bool: "bool", int: "int", float: "double", str: "string", list: "list", dict: "map"}.get(
        type(value), type(value).__name__)


def _first_sentence(exc) -> str:
    text = _first_line(exc)
    return text.split(". ")[0].rstrip(".") + "."


def _first_line(exc) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
