"""OpenAPI conformance: schemathesis generates requests from the server's own schema (valid
and invalid ones, JSON and multipart) and checks that none gets a server error and that
every answer matches the documented status codes, content types and schemas."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from serverkit import make_app

from kinema.model import load_model
from kinema.server import Limits


@pytest.fixture(scope="module")
def app(debug_run, tmp_path_factory):
    app = make_app(
        load_model(debug_run, "cpu"),
        debug_run,
        tmp_path_factory.mktemp("api"),
        limits=Limits(max_queue=10_000),
        allowed_hosts=("testserver",),  # the host name schemathesis' ASGI client sends
    )
    yield app
    app.state.kinema.worker.stop()  # schemathesis keeps the app's lifespan running


@pytest.fixture(scope="module")
def api_schema(app):
    return schemathesis.openapi.from_asgi("/openapi.json", app)


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


# Each operation's cases are drawn with hypothesis directly rather than through
# schemathesis' pytest plugin, which relies on a pytest internal that pytest 9 removed.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_conforms_to_its_schema(api_schema, mode):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 9
    if mode is GenerationMode.NEGATIVE:  # an operation without inputs has no invalid ones
        operations = [op for op in operations if list(op.iter_parameters()) or op.body]
    failures = []
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=12,
            deadline=None,
            derandomize=True,  # the same examples on every run
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def check(case):
            case.call_and_validate(checks=CHECKS)

        try:
            check()
        except Exception as error:  # collect every operation's failure, then report them all
            failures.append(f"{operation.label}: {error}")
    assert not failures, "\n\n".join(failures)


def test_schema_documents_every_mode(app):
    document = app.openapi()
    paths = document["paths"]
    for path in (
        "/v1/videos",
        "/v1/videos/{video_id}",
        "/v1/videos/{video_id}/content",
        "/v1/videos/{video_id}/remix",
        "/v1/videos/{video_id}/extend",
        "/v1/videos/extensions",
        "/v1/videos/edits",
        "/v1/videos/connect",
        "/v1/kinema",
    ):
        assert path in paths, path
    create = paths["/v1/videos"]["post"]["requestBody"]["content"]
    assert set(create) == {"application/json", "multipart/form-data"}
    schemas = document["components"]["schemas"]
    assert {"loop", "input_reference", "seed", "steps"} <= set(schemas["CreateVideo"]["properties"])
    assert (
        schemas["CreateVideoForm"]["properties"]["input_reference"]["anyOf"][0]["format"]
        == "binary"
    )
    assert set(schemas["Video"]["properties"]["mode"]["enum"]) >= {
        "loop",
        "connect",
        "image",
        "extend",
    }
