"""jsonschema validator classes whose cost a client's schema and a model's answer cannot run away.

`bounded(cls)` extends a jsonschema validator class (`jsonschema.validators.extend`):

* every keyword function charges the active `budget.Budget` one step, plus one per 64 entries
  of its value (`properties`, `enum`, `required`...), so a check stops when its budget is spent;
* `pattern`, `patternProperties` and `additionalProperties` match with the `regex` package and a
  timeout (`PATTERN_SECONDS`, capped by the budget) instead of `re`, which backtracks without
  end on patterns like `^(a|a)*$`;
* `uniqueItems` hashes canonical keys (linear) instead of comparing every pair;
* `unevaluatedProperties` / `unevaluatedItems` look up evaluated names in a set, not a list;
* subschemas stay on bounded classes whatever their `$schema` says.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from typing import Any
from typing import Protocol

import regex
from attrs import fields
from jsonschema import _keywords
from jsonschema import _legacy_keywords
from jsonschema import _utils
from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator
from jsonschema.validators import Draft7Validator
from jsonschema.validators import Draft201909Validator
from jsonschema.validators import Draft202012Validator
from jsonschema.validators import extend
from jsonschema.validators import validator_for

from .budget import current
from .budget import spend
from .canonical import duplicate

PATTERN_SECONDS = 0.05        # one match; the request's budget caps the sum
CACHED_PATTERN_LENGTH = 1_000  # longer patterns are compiled on each use, never kept
PATTERN_CACHE = 256

_twins: dict[type[Validator], type[Validator]] = {}
_twins_lock = threading.Lock()


class Applying(Protocol):
    """What a keyword function uses of the validator applying it (a jsonschema validator)."""

    def is_type(self, instance: Any, type: str) -> bool:
        """Tell whether `instance` is of the JSON type named `type`."""
        ...

    def descend(self, instance: Any, schema: Any, path: Any = None,
                schema_path: Any = None) -> Iterator[ValidationError]:
        """Apply a subschema to a part of the instance."""
        ...


# A keyword function: (validator, the keyword's value, instance, schema) -> the instance's errors
Keyword = Callable[[Applying, Any, Any, Mapping[str, Any]], Iterator[ValidationError] | None]


def bounded(cls: type[Validator]) -> type[Validator]:
    """Return the bounded twin of a jsonschema validator class (a bounded class is its own)."""
    twin = _twins.get(cls)
    if twin is None:
        with _twins_lock:
            twin = _twins.get(cls)
            if twin is None:
                twin = _extend(cls)
                _twins[cls] = _twins[twin] = twin
    return twin


def _extend(cls: type[Validator]) -> type[Validator]:
    keywords = {name: _counted(_REPLACEMENTS.get(function) or function)
                for name, function in cls.VALIDATORS.items()}
    twin = extend(cls, keywords)
    twin.EVOLVE_FIELDS = tuple((f.name, f.alias) for f in fields(twin) if f.init)
    # jsonschema's evolve() picks the class by the subschema's $schema, which would leave
    # the bounded classes for the original ones: ours maps the choice to its bounded twin
    twin.evolve = _evolve
    return twin


def _evolve(self: Any, **changes: Any) -> Validator:
    schema = changes.setdefault("schema", self.schema)
    cls = bounded(validator_for(schema, default=type(self)))
    for name, alias in self.EVOLVE_FIELDS:
        if alias not in changes:
            changes[alias] = getattr(self, name)
    return cls(**changes)


def _counted(keyword: Keyword) -> Keyword:
    @functools.wraps(keyword)
    def counted(validator: Applying, value: Any, instance: Any,
                schema: Mapping[str, Any]) -> Iterator[ValidationError] | None:
        spend(1 + (len(value) >> 6 if isinstance(value, (dict, list)) else 0))
        return keyword(validator, value, instance, schema)
    return counted


# -- regular expressions -------------------------------------------------------------------

def search(pattern: str, text: str) -> bool | None:
    """Tell whether `pattern` matches somewhere in `text`; None when matching took too long."""
    short = len(pattern) <= CACHED_PATTERN_LENGTH
    compiled = _compiled(pattern) if short else regex.compile(pattern, cache_pattern=False)
    spend(1 + (len(text) >> 12))
    budget = current()
    timeout = PATTERN_SECONDS
    if budget is not None:
        timeout = min(timeout, budget.seconds_remaining())
        if timeout <= 0:
            raise budget.exhausted()
    try:
        return compiled.search(text, timeout=timeout) is not None
    except TimeoutError:
        return None
    finally:
        if budget is not None:
            budget.mind_clock()


@functools.lru_cache(maxsize=PATTERN_CACHE)
def _compiled(pattern: str) -> regex.Pattern[str]:
    return regex.compile(pattern, cache_pattern=False)   # this cache, not regex's (500 of any size)


def _slow(pattern: str) -> ValidationError:
    return ValidationError(f"the pattern {pattern!r} took too long to match (over"
                           f" {PATTERN_SECONDS:g} s); use a simpler pattern")


def pattern(validator: Applying, patrn: str, instance: Any,
            schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    """`pattern`, matched with a timeout."""
    if not validator.is_type(instance, "string"):
        return
    found = search(patrn, instance)
    if found is None:
        yield _slow(patrn)
    elif not found:
        yield ValidationError(f"{instance!r} does not match {patrn!r}")


def pattern_properties(validator: Applying, patterns: Mapping[str, Any], instance: Any,
                       schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    """`patternProperties`, matched with a timeout."""
    if not validator.is_type(instance, "object"):
        return
    for patrn, subschema in patterns.items():
        for name, value in instance.items():
            found = search(patrn, name)
            if found is None:
                yield _slow(patrn)
                return
            if found:
                yield from validator.descend(value, subschema, path=name, schema_path=patrn)


def additional_properties(validator: Applying, extra_schema: Any, instance: Any,
                          schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    """`additionalProperties`; names are matched against `patternProperties` with a timeout."""
    patterns = schema.get("patternProperties")
    if not patterns or not validator.is_type(instance, "object"):
        # the stub (types-jsonschema) says it returns None; jsonschema's keyword is a generator
        yield from _keywords.additionalProperties(  # type: ignore[func-returns-value,misc]
            validator, extra_schema, instance, schema)
        return
    properties = schema.get("properties", {})
    extras = []
    for name in instance:
        if name in properties:
            continue
        found = [search(patrn, name) for patrn in patterns]
        if None in found:
            yield _slow(next(p for p, f in zip(patterns, found, strict=True) if f is None))
            return
        if not any(found):
            extras.append(name)
    if validator.is_type(extra_schema, "object"):
        for name in extras:
            yield from validator.descend(instance[name], extra_schema, path=name)
    elif not extra_schema and extras:
        verb = "does" if len(extras) == 1 else "do"
        names = ", ".join(repr(name) for name in sorted(extras))
        listed = ", ".join(repr(patrn) for patrn in sorted(patterns))
        yield ValidationError(f"{names} {verb} not match any of the regexes: {listed}")


# -- linear replacements -------------------------------------------------------------------

# finds what a schema's other keywords evaluated: (validator, instance, schema) -> names or indexes
Finder = Callable[[Any, Any, Any], Iterable[Any]]


def unique_items(validator: Applying, unique: bool, instance: Any,
                 schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    """`uniqueItems` in one pass over canonical keys."""
    if unique and validator.is_type(instance, "array"):
        spend(len(instance) >> 6)
        same = duplicate(instance)
        if same is not None:
            first, second = same
            yield ValidationError(f"has non-unique elements: items {first} and {second} are equal")


def _extras(names: list[Any]) -> str:
    verb = "was" if len(names) == 1 else "were"
    return f"{', '.join(repr(name) for name in names)} {verb}"


def properties(validator: Applying, declared: Mapping[str, Any], instance: Any,
               schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    """`properties`, looping over the smaller side: a call's few arguments, not 10,000 names."""
    if not validator.is_type(instance, "object"):
        return
    names = declared if len(declared) <= len(instance) else [n for n in instance if n in declared]
    for name in names:
        if name in instance:
            yield from validator.descend(instance[name], declared[name], path=name,
                                         schema_path=name)


def unevaluated_properties(find_evaluated: Finder) -> Keyword:
    """`unevaluatedProperties` with the evaluated names in a set (jsonschema's finder)."""
    def keyword(validator: Applying, rest: Any, instance: Any,
                schema: Mapping[str, Any]) -> Iterator[ValidationError]:
        if not validator.is_type(instance, "object"):
            return
        evaluated = set(find_evaluated(validator, instance, schema))
        failed = [name for name in instance if name not in evaluated
                  and next(validator.descend(instance[name], rest, path=name), None) is not None]
        if failed and rest is False:
            yield ValidationError("Unevaluated properties are not allowed"
                                  f" ({_extras(sorted(failed, key=str))} unexpected)")
        elif failed:
            yield ValidationError("Unevaluated properties are not valid under the given schema"
                                  f" ({_extras(failed)} unevaluated and invalid)")
    return keyword


def unevaluated_items(find_evaluated: Finder) -> Keyword:
    """`unevaluatedItems` with the evaluated indexes in a set (jsonschema's finder)."""
    def keyword(validator: Applying, rest: Any, instance: Any,
                schema: Mapping[str, Any]) -> Iterator[ValidationError]:
        if not validator.is_type(instance, "array"):
            return
        evaluated = set(find_evaluated(validator, instance, schema))
        left = [item for index, item in enumerate(instance) if index not in evaluated]
        if left:
            yield ValidationError(f"Unevaluated items are not allowed ({_extras(left)} unexpected)")
    return keyword


# jsonschema's own finders (the module is private; jsonschema is pinned in requirements.txt)
_REPLACEMENTS: dict[Callable[..., Any], Keyword] = {
    _keywords.pattern: pattern,
    _keywords.patternProperties: pattern_properties,
    _keywords.additionalProperties: additional_properties,
    _keywords.uniqueItems: unique_items,
    _keywords.properties: properties,
    _keywords.unevaluatedProperties:
        unevaluated_properties(_utils.find_evaluated_property_keys_by_schema),
    _legacy_keywords.unevaluatedProperties_draft2019:
        unevaluated_properties(_legacy_keywords.find_evaluated_property_keys_by_schema),
    _keywords.unevaluatedItems: unevaluated_items(_utils.find_evaluated_item_indexes_by_schema),
    _legacy_keywords.unevaluatedItems_draft2019:
        unevaluated_items(_legacy_keywords.find_evaluated_item_indexes_by_schema),
}


def schema_error(cls: type[Validator], schema: Any) -> ValidationError | None:
    """Return the first way `schema` breaks its meta-schema (on a bounded class), or None.

    Schemas of 2019-09 and 2020-12 are checked against draft 7's meta-schema: theirs resolve a
    `$dynamicRef` at every subschema, which costs jsonschema five times as much (3 s of CPU
    for a 15,000-property tool schema). Draft 7's catches the same common mistakes (a wrong
    `type`, `properties` or `required` of the wrong shape); a malformed keyword that only the
    newer drafts know fails when it is applied instead, as "the schema could not be applied".
    """
    meta_cls = Draft7Validator if cls.META_SCHEMA.get("$id") in _DYNAMIC_METAS else cls
    return next(_meta_validator(meta_cls).iter_errors(schema), None)


_DYNAMIC_METAS = {Draft201909Validator.META_SCHEMA["$id"], Draft202012Validator.META_SCHEMA["$id"]}


@functools.lru_cache(maxsize=16)
def _meta_validator(cls: type[Validator]) -> Validator:
    meta = bounded(validator_for(cls.META_SCHEMA, default=cls))
    return meta(cls.META_SCHEMA, format_checker=meta.FORMAT_CHECKER)
