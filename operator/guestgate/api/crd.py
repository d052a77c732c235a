"""CustomResourceDefinitions generated from the pydantic models (the one source of truth).

pydantic's JSON schema is close to what Kubernetes wants; this module makes it structural:
refs inlined, titles dropped, optional fields as plain (omittable) properties, defaults of
default_factory fields filled in, `int | str` as int-or-string, no additionalProperties: false
(the apiserver prunes or, with strict field validation, rejects unknown fields itself).
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import BaseModel

from guestgate.api.common import GROUP, VERSION
from guestgate.api.resources import CATEGORY, RESOURCES, Resource

JSON = dict[str, Any]
_DROP = {"title", "additionalProperties", "$defs", "discriminator"}


def _resolve(node: Any, defs: JSON) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            target = defs[node["$ref"].split("/")[-1]]
            merged = {**_resolve(target, defs), **{k: v for k, v in node.items() if k != "$ref"}}
            return _resolve(merged, defs)
        return {k: _resolve(v, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(v, defs) for v in node]
    return node


def _structural(node: JSON) -> JSON:
    """Rewrite one resolved pydantic schema node into a structural Kubernetes schema node."""
    node = dict(node)
    any_of = node.pop("anyOf", None)
    if any_of is not None:
        kinds = [a for a in any_of if a.get("type") != "null"]
        types = sorted(a.get("type", "") for a in kinds)
        if types == ["integer", "string"]:
            node["x-kubernetes-int-or-string"] = True
        elif len(kinds) == 1:
            # Optional[X]: the field may be omitted; null itself is not needed on the wire.
            node = {**kinds[0], **node}
        else:  # pragma: no cover - the models use no other unions
            raise ValueError(f"unsupported union in schema: {any_of}")
    if node.get("default", ...) is None:
        del node["default"]
    out: JSON = {}
    for key, value in node.items():
        if key in _DROP:
            continue
        if key == "properties":
            out[key] = {name: _structural(prop) for name, prop in value.items()}
        elif key == "items":
            out[key] = _structural(value)
        elif key == "additionalProperties_":
            continue
        else:
            out[key] = value
    if node.get("additionalProperties") not in (None, False, True):
        out["additionalProperties"] = _structural(node["additionalProperties"])
    if out.get("format") == "date-time":
        out["type"] = "string"
    return out


def _fill_factory_defaults(schema: JSON, model: type[BaseModel]) -> None:
    """pydantic leaves default_factory out of the schema; Kubernetes should apply them too."""
    props = schema.get("properties", {})
    for name, field in model.model_fields.items():
        alias = field.alias or name
        prop = props.get(alias)
        if prop is None:
            continue
        annotation = field.annotation
        nested = _model_of(annotation)
        if field.default_factory is not None:
            value = field.default_factory()  # type: ignore[call-arg]
            # Whole default objects: the API server checks a default against the CEL rules as it
            # stands, without filling nested defaults into it first.
            prop["default"] = _plain(value)
        if nested is not None:
            _fill_factory_defaults(prop, nested)
        elif prop.get("type") == "array":
            item_model = _model_of(_list_item(annotation))
            if item_model is not None:
                _fill_factory_defaults(prop["items"], item_model)


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(by_alias=True, exclude_none=True, mode="json")
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


def _list_item(annotation: Any) -> Any:
    args = getattr(annotation, "__args__", ())
    return args[0] if args else None


def model_schema(model: type[BaseModel]) -> JSON:
    """The structural OpenAPI v3 schema of one model."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    resolved = _resolve(raw, raw.get("$defs", {}))
    schema = _structural(resolved)
    _fill_factory_defaults(schema, model)
    return schema


def build_crd(resource: Resource) -> JSON:
    """The CustomResourceDefinition manifest of one resource."""
    spec_schema = model_schema(resource.spec)
    status_schema = model_schema(resource.status)
    columns = [
        {
            "name": c.name,
            "type": c.type,
            "jsonPath": c.json_path,
            **({"priority": c.priority} if c.priority else {}),
            **({"description": c.description} if c.description else {}),
        }
        for c in resource.columns
    ]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{resource.plural}.{GROUP}",
            "labels": {"app.kubernetes.io/name": "guestgate", "app.kubernetes.io/part-of": "guestgate"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": resource.kind,
                "listKind": f"{resource.kind}List",
                "plural": resource.plural,
                "singular": resource.singular,
                "shortNames": list(resource.short_names),
                "categories": [CATEGORY],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": resource.description,
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string", "description": "APIVersion of the object."},
                                "kind": {"type": "string", "description": "Kind of the object."},
                                "metadata": {"type": "object"},
                                "spec": spec_schema,
                                "status": status_schema,
                            },
                        }
                    },
                }
            ],
        },
    }


def render_crd_files() -> dict[str, str]:
    """File name -> YAML text for crds/ (and the chart's crds/)."""
    header = "# Generated by `make crds` from operator/guestgate/api; do not edit by hand.\n"
    return {
        f"{GROUP}_{r.plural}.yaml": header + yaml.safe_dump(build_crd(r), sort_keys=False, width=100)
        for r in RESOURCES
    }
