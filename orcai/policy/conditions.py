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
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

import cel

from orcai.errors import ConditionRuntimeError
from orcai.policy.facts import FACTS, sample_facts

MAX_CONDITION_CHARS = 2_000
_PARSE_ERROR = re.compile(r"<input>:(\d+):(\d+):\s*(.*)")
_STRING_LITERAL = re.compile(r"""'''.*?'''|\"\"\".*?\"\"\"|'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*\"""", re.S)
_FIELD_ACCESS = re.compile(r"\b(" + "|".join(FACTS) + r")\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)")
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
    errors = _unknown_names(condition, program) + _unknown_fields(condition)
    return errors or _type_errors(program)


def compile_condition(condition: str):
    """A compiled program for a condition that `validate` accepted."""
    return cel.compile(condition)


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
        if name in FACTS or name in bound:
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


def _type_errors(program) -> list[ConditionError]:
    for facts in (sample_facts(), sample_facts(flip=True)):
        try:
            result = program.execute(facts)
        except TypeError as exc:  # operands of the wrong type: wrong whatever the values
            return [ConditionError(f"type error: {_first_sentence(exc)} See the facts' types beside the editor.")]
        except Exception:  # division by zero, index out of range: depends on the values, not an error here
            continue
        if not isinstance(result, bool):
            return [ConditionError(f"a condition must be true or false; this one gives a value of type "
                                   f"{_cel_type(result)} (e.g. compare it: `… > 2`)")]
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
