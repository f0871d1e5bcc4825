"""Request bodies as JSON or multipart/form-data (the SDK sends multipart), into one model.

Multipart field names like `video[id]` become nested objects, uploaded files are returned
apart (as bytes, read up to the upload limit), and empty fields count as absent.
"""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile

from kinema.server.errors import ApiError, bad_request, validation_message
from kinema.server.uploads import too_large

Model = TypeVar("Model", bound=BaseModel)
_NESTED = re.compile(r"^([A-Za-z_]\w*)\[([A-Za-z_]\w*)\]$")
MAX_FORM_FIELDS = 64
MAX_FORM_FILES = 4


async def read_body(
    request: Request, max_upload_bytes: int
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """(fields, files) of a JSON or form body."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        return await _read_form(request, max_upload_bytes)
    if content_type not in ("", "application/json"):
        raise ApiError(
            415,
            f"send application/json or multipart/form-data, not {content_type}",
            code="unsupported_media_type",
        )
    raw = await request.body()
    try:
        body = json.loads(raw) if raw.strip() else {}
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise bad_request("the request body is not valid JSON", code="invalid_json") from None
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object", code="invalid_json")
    return body, {}


async def _read_form(
    request: Request, max_upload_bytes: int
) -> tuple[dict[str, Any], dict[str, bytes]]:
    form = await request.form(
        max_files=MAX_FORM_FILES, max_fields=MAX_FORM_FIELDS, max_part_size=1024 * 1024
    )
    fields: dict[str, Any] = {}
    files: dict[str, bytes] = {}
    try:
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                data = await value.read(max_upload_bytes + 1)
                if len(data) > max_upload_bytes:
                    raise too_large(key, max_upload_bytes)
                files[key] = data
                continue
            if value == "":
                continue
            nested = _NESTED.match(key)
            if nested:
                parent = fields.setdefault(nested.group(1), {})
                if isinstance(parent, dict):
                    parent[nested.group(2)] = value
            else:
                fields[key] = value
    finally:
        await form.close()
    return fields, files


def validate(model: type[Model], fields: dict[str, Any], files: dict[str, bytes]) -> Model:
    """The body as `model`; file fields are checked by the caller, not here."""
    try:
        return model.model_validate({k: v for k, v in fields.items() if k not in files})
    except ValidationError as error:
        message, param = validation_message(error)
        raise bad_request(message, param) from None
