"""Measure a client's JSON Schema before it is compiled, and refuse one too costly to apply.

The size of the JSON says little: a 1.4 KB schema whose `$defs` each refer to the next one
twice makes every check walk 2^K subschemas. So the schema is measured as a check would see
it: every object and array counted with each `$ref` (local pointer, `$anchor` or `$id`)
inlined, a reference back into itself counted once. Declared properties and enum values are
counted too. The walk is linear in the schema's size: each part is measured once.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

MAX_SCHEMA_BYTES = 2_000_000   # its canonical JSON (sorted keys, ASCII)
MAX_NODES = 200_000            # objects and arrays, with every $ref inlined
MAX_PROPERTIES = 20_000        # entries of all its `properties`
MAX_ENUM = 20_000              # values of all its `enum`s
REF_KEYWORDS = ("$ref", "$dynamicRef", "$recursiveRef")
_NOTED = ("patternProperties", "unevaluatedProperties")
_END = object()


def measure(schema: Any) -> str | None:
    """Return why a schema is too costly to apply (one line), or None when it is within limits."""
    if not isinstance(schema, (dict, list)):
        return None
    index = Index(schema)
    if index.properties > MAX_PROPERTIES:
        return f"it declares {index.properties:,} properties (at most {MAX_PROPERTIES:,})"
    if index.enum_values > MAX_ENUM:
        return f"its enums list {index.enum_values:,} values (at most {MAX_ENUM:,})"
    if index.keywords.issuperset(_NOTED):
        # jsonschema matches patternProperties for unevaluatedProperties with `re`, unbounded
        return "patternProperties cannot be combined with unevaluatedProperties here"
    if expanded_size(schema, index, MAX_NODES) > MAX_NODES:
        return (f"with its $refs followed (through allOf, anyOf, oneOf...) it expands to more"
                f" than {MAX_NODES:,} subschemas")
    return None


def too_long(size: int) -> str | None:
    """Return why a schema of this canonical JSON length is refused, or None."""
    if size > MAX_SCHEMA_BYTES:
        return f"it is {size:,} bytes of JSON (at most {MAX_SCHEMA_BYTES:,})"
    return None


class Index:
    """One pass over a schema: its anchors and ids, declared properties and enum values."""

    def __init__(self, root: Any):
        self.root = root
        self.anchors: dict[str, Any] = {}
        self.ids: dict[str, Any] = {}
        self.properties = 0
        self.enum_values = 0
        self.keywords: set[str] = set()
        self._resolved: dict[str, Any] = {}
        stack = [root]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                self._note(node)
                stack.extend(v for v in node.values() if isinstance(v, (dict, list)))
            else:
                stack.extend(v for v in node if isinstance(v, (dict, list)))

    def _note(self, node: dict) -> None:
        self.keywords.update(k for k in _NOTED if k in node)
        if isinstance(node.get("properties"), dict):
            self.properties += len(node["properties"])
        if isinstance(node.get("enum"), list):
            self.enum_values += len(node["enum"])
        for name in ("$anchor", "$dynamicAnchor"):
            if isinstance(node.get(name), str):
                self.anchors.setdefault(node[name], node)
        for name in ("$id", "id"):
            if isinstance(node.get(name), str):
                self.ids.setdefault(node[name].rstrip("#"), node)

    def resolve(self, ref: str) -> Any:
        """Return the part of the schema a reference names, or None when it is not local."""
        if ref not in self._resolved:
            self._resolved[ref] = self._lookup(ref)
        return self._resolved[ref]

    def _lookup(self, ref: str) -> Any:
        base, _, fragment = ref.partition("#")
        node = self.ids.get(base) if base else self.root
        if node is None:
            return None
        if fragment and not fragment.startswith("/"):
            return self.anchors.get(fragment)
        for part in unquote(fragment).split("/")[1:]:
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict):
                node = node.get(part)
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return None
        return node

    def children(self, node: Any) -> Iterator[Any]:
        """Yield a node's objects and arrays, and what its references point at."""
        values = node.values() if isinstance(node, dict) else node
        for value in values:
            if isinstance(value, (dict, list)):
                yield value
        if isinstance(node, dict):
            for name in REF_KEYWORDS:
                if isinstance(node.get(name), str):
                    target = self.resolve(node[name])
                    if isinstance(target, (dict, list)):
                        yield target


def expanded_size(root: Any, index: Index, limit: int) -> int:
    """Count objects and arrays with references inlined, stopping past `limit` (then limit + 1).

    Each part is measured once and its count reused wherever it is referred to, so the walk
    costs the schema's size, not the expansion's; a reference back to a part being measured
    (recursion, bounded by the answer's depth) counts 1.
    """
    measured: dict[int, int] = {}
    open_parts = {id(root)}
    stack = [[root, index.children(root), 1]]
    while stack:
        frame = stack[-1]
        child = next(frame[1], _END)
        if child is _END:
            stack.pop()
            open_parts.discard(id(frame[0]))
            measured[id(frame[0])] = frame[2]
            if not stack:
                return frame[2]
            stack[-1][2] += frame[2]
        elif id(child) in measured:
            frame[2] += measured[id(child)]
        elif id(child) in open_parts:
            frame[2] += 1
        else:
            open_parts.add(id(child))
            stack.append([child, index.children(child), 1])
            continue
        if stack[-1][2] > limit:
            return limit + 1
    return 0
