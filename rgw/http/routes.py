"""Matching a request's method and path against a table of route templates (`/collections/{name}/points`).

Static segments are tried before parameters at every level, and a path that matches a template
under another method only is told apart (405 with the methods allowed) from one that matches
nothing (404). Parameters come out percent-decoded; static segments are matched as sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar
from urllib.parse import unquote

Target = TypeVar("Target")


class BadPath(ValueError):
    """A path segment whose percent-encoding does not decode to UTF-8 text."""


@dataclass(frozen=True, slots=True)
class Route(Generic[Target]):
    method: str
    template: str  # "/collections/{collection_name}/points/{id}"
    name: str  # what the route is called in logs, metrics and traces
    target: Target  # what the application dispatches on


@dataclass(frozen=True, slots=True)
class Match(Generic[Target]):
    route: Route[Target]
    params: dict[str, str]  # parameter name -> decoded segment


@dataclass(frozen=True, slots=True)
class NoMatch:
    allowed: tuple[str, ...]  # methods the path is served with; empty when nothing serves it


@dataclass
class _Node(Generic[Target]):
    static: dict[str, _Node[Target]] = field(default_factory=dict)
    param: tuple[str, _Node[Target]] | None = None  # (parameter name, node below it)
    routes: dict[str, Route[Target]] = field(default_factory=dict)  # method -> route ending here


class Router(Generic[Target]):
    def __init__(self, routes: list[Route[Target]]) -> None:
        self.routes = routes
        self._root: _Node[Target] = _Node()
        for route in routes:
            self._add(route)

    def _add(self, route: Route[Target]) -> None:
        node = self._root
        for part in _segments(route.template):
            if part.startswith("{") and part.endswith("}"):
                name = part[1:-1]
                if node.param is None:
                    node.param = (name, _Node())
                elif node.param[0] != name:
                    raise ValueError(f"{route.template}: parameter {{{name}}} where another route has "
                                     f"{{{node.param[0]}}}")
                node = node.param[1]
            else:
                node = node.static.setdefault(part, _Node())
        if route.method in node.routes:
            raise ValueError(f"{route.method} {route.template}: served twice")
        node.routes[route.method] = route

    def match(self, method: str, path: str) -> Match[Target] | NoMatch:
        """The route serving `method path`; BadPath when a parameter does not decode."""
        candidates: list[tuple[_Node[Target], list[tuple[str, str]]]] = []
        _walk(self._root, _segments(path), 0, [], candidates)
        allowed: list[str] = []
        for node, raw in candidates:  # static-first order: the first that serves the method wins
            route = node.routes.get(method)
            if route is not None:
                return Match(route, {name: _decode(value) for name, value in raw})
            allowed.extend(m for m in node.routes if m not in allowed)
        return NoMatch(tuple(allowed))


def _segments(path: str) -> list[str]:
    return path.strip("/").split("/") if path.strip("/") else []


def _walk(node: _Node[Target], parts: list[str], at: int, params: list[tuple[str, str]],
          out: list[tuple[_Node[Target], list[tuple[str, str]]]]) -> None:
    if at == len(parts):
        if node.routes:
            out.append((node, params))
        return
    part = parts[at]
    below = node.static.get(part)
    if below is not None:
        _walk(below, parts, at + 1, params, out)
    if node.param is not None and part:
        _walk(node.param[1], parts, at + 1, [*params, (node.param[0], part)], out)


def _decode(segment: str) -> str:
    if "%" not in segment:
        return segment
    try:
        return unquote(segment, errors="strict")
    except UnicodeDecodeError as exc:
        raise BadPath(f"path segment {segment[:60]!r} is not percent-encoded UTF-8") from exc
