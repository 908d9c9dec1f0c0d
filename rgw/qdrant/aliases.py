"""Collection aliases: the `POST /collections/aliases` body (Qdrant's ChangeAliasesOperation),
parsed into a list of actions applied in order and atomically, and how a table of aliases
changes under them. Shared by the region store (which keeps the table) and the gateway."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rgw.qdrant.errors import BadRequest, FormatError, NotFound, collection_missing
from rgw.qdrant.fields import Obj, array, at, string


@dataclass(frozen=True)
class CreateAlias:
    alias_name: str
    collection_name: str


@dataclass(frozen=True)
class DeleteAlias:
    alias_name: str


@dataclass(frozen=True)
class RenameAlias:
    old_alias_name: str
    new_alias_name: str


AliasAction = CreateAlias | DeleteAlias | RenameAlias


def alias_changes(value: Any) -> tuple[AliasAction, ...]:
    """`{"actions": [{"create_alias": {...}} | {"delete_alias": {...}} | {"rename_alias": {...}}, ...]}`."""
    actions: list[AliasAction] = []
    for i, item in enumerate(Obj.of(value).req("actions", array)):
        entry = Obj.of(item, at("actions", i))
        if entry.has("create_alias"):
            body = entry.req("create_alias", Obj.of)
            actions.append(CreateAlias(body.req("alias_name", string), body.req("collection_name", string)))
        elif entry.has("delete_alias"):
            actions.append(DeleteAlias(entry.req("delete_alias", Obj.of).req("alias_name", string)))
        elif entry.has("rename_alias"):
            body = entry.req("rename_alias", Obj.of)
            actions.append(RenameAlias(body.req("old_alias_name", string), body.req("new_alias_name", string)))
        else:
            raise FormatError(entry.path, "expected one of `create_alias`, `delete_alias`, `rename_alias`")
    return tuple(actions)


def apply_alias_changes(aliases: Mapping[str, str], actions: tuple[AliasAction, ...],
                        collection_exists: Callable[[str], bool]) -> dict[str, str]:
    """The alias table (alias -> collection) after `actions`, as Qdrant applies them: an alias
    must point at an existing collection and must not be a collection's name; creating an alias
    that exists re-points it; deleting one that does not exist does nothing. Raises on the first
    action that fails, so a caller that keeps the old table on error changes all or nothing."""
    table = dict(aliases)
    for action in actions:
        match action:
            case CreateAlias(alias_name=alias, collection_name=collection):
                if not collection_exists(collection):
                    raise collection_missing(collection)
                if collection_exists(alias):
                    raise BadRequest(f"Wrong input: Collection `{alias}` already exists!")
                table[alias] = collection
            case DeleteAlias(alias_name=alias):
                table.pop(alias, None)
            case RenameAlias(old_alias_name=old, new_alias_name=new):
                if old not in table:
                    raise NotFound(f"Alias {old} does not exists!")
                if collection_exists(new):
                    raise BadRequest(f"Wrong input: Collection `{new}` already exists!")
                table[new] = table.pop(old)
    return table
