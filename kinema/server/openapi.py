"""The OpenAPI document: request bodies read by hand (JSON or multipart) and the error shape.

Routes that accept both JSON and multipart/form-data parse their bodies themselves, so
their schemas are declared here and added to the document's components; FastAPI's own 422
answers are replaced by the 400 in OpenAI's error shape that the server really sends.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from kinema.server import schemas

_REF = "#/components/schemas/{model}"
_DOCUMENTED: list[type[BaseModel]] = []

_DESCRIPTIONS = {
    400: "A parameter breaks a rule; the message names what is allowed.",
    401: "Missing or wrong API key.",
    403: "Addressed to another host name, or sent by another web site.",
    404: "No such video.",
    409: "The video is not completed yet.",
    413: "Upload or body too large.",
    415: "Body is neither JSON nor multipart/form-data.",
    429: "Too many videos queued; retry later.",
}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    if model not in _DOCUMENTED:
        _DOCUMENTED.append(model)
    return {"$ref": _REF.format(model=model.__name__)}


def request_body(
    json_model: type[BaseModel], form_model: type[BaseModel] | None = None
) -> dict[str, Any]:
    """`openapi_extra` for a route whose body is `json_model` as JSON (and `form_model`,
    or `json_model` again, as multipart/form-data)."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": _ref(json_model)},
                "multipart/form-data": {"schema": _ref(form_model or json_model)},
            },
        }
    }


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {"model": schemas.ErrorResponse, "description": _DESCRIPTIONS[status]}
        for status in (*statuses, 401, 403)
    }


def install_openapi(app: FastAPI, bearer: bool) -> None:
    def build() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        components = document.setdefault("components", {}).setdefault("schemas", {})
        for model in _DOCUMENTED:
            schema = model.model_json_schema(ref_template=_REF)
            components.update(schema.pop("$defs", {}))
            components[model.__name__] = schema
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        error = {"$ref": _REF.format(model="ErrorResponse")}
        for path in document.get("paths", {}).values():
            for operation in path.values():
                responses = operation.get("responses", {})
                if responses.pop("422", None) is not None:
                    responses.setdefault(
                        "400",
                        {
                            "description": _DESCRIPTIONS[400],
                            "content": {"application/json": {"schema": error}},
                        },
                    )
        if bearer:
            document["components"]["securitySchemes"] = {
                "bearerAuth": {"type": "http", "scheme": "bearer"}
            }
            document["security"] = [{"bearerAuth": []}]
        app.openapi_schema = document
        return document

    app.openapi = build  # type: ignore[method-assign]
