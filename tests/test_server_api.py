"""The server through the official `openai` SDK (and plain HTTP for Kinema's own paths),
against a live uvicorn server on loopback serving a trained debug model."""

from __future__ import annotations

import base64
import io
import logging
import warnings

import av
import httpx
import numpy as np
import openai
import pytest
from PIL import Image
from serverkit import LiveServer, make_app, wait_for

from kinema.model import load_model
from kinema.server import Limits

PROMPT = "a red circle moves to the right on a black background"
KEY = "test-key-0123456789abcdef"

# The SDK marks the Videos API deprecated (OpenAI's service closes); Kinema serves it.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def model(debug_run):
    return load_model(debug_run, "cpu")


@pytest.fixture
def serve(model, debug_run, tmp_path):
    """serve(**config) -> a running LiveServer on a fresh data folder."""
    servers = []

    def start(**overrides) -> LiveServer:
        app = make_app(model, debug_run, tmp_path / f"data{len(servers)}", **overrides)
        server = LiveServer(app).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)


def sdk(server: LiveServer, key: str = "any") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0)


def state(server: LiveServer):
    return server.server.config.app.state.kinema


def finish(client: openai.OpenAI, video_id: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        video = client.videos.poll(video_id, poll_interval_ms=20)
    assert video.status == "completed", video.error
    return video


def decode_mp4(data: bytes) -> tuple[np.ndarray, str, str]:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
        return np.stack(frames), stream.codec_context.name, stream.codec_context.pix_fmt


def png_bytes(size=(24, 20), colour=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


def test_create_poll_download_decode(serve):
    server = serve()
    client = sdk(server)
    video = client.videos.create(prompt=PROMPT, seconds="2", size="16x16")
    assert video.status == "queued" and video.object == "video" and video.progress == 0
    done = finish(client, video.id)
    assert (done.seconds, done.size, done.progress) == ("2", "16x16", 100)
    assert done.completed_at >= done.created_at and done.prompt == PROMPT
    frames, codec, pix_fmt = decode_mp4(client.videos.download_content(video.id).read())
    assert (codec, pix_fmt) == ("h264", "yuv420p")
    assert frames.shape == (9, 16, 16, 3)  # 1 + 2 s × 4 fps

    thumbnail = Image.open(
        io.BytesIO(client.videos.download_content(video.id, variant="thumbnail").read())
    )
    assert (thumbnail.format, thumbnail.size) == ("WEBP", (16, 16))
    sheet_bytes = client.videos.download_content(video.id, variant="spritesheet").read()
    sheet = Image.open(io.BytesIO(sheet_bytes))
    assert (sheet.format, sheet.size) == ("JPEG", (48, 48))  # 9 frames in a 3 × 3 grid


def test_refused_requests_are_clean_sdk_errors(serve):
    client = sdk(serve())
    with pytest.raises(openai.BadRequestError) as refused:
        client.videos.create(prompt=PROMPT, size="1280x720")
    assert refused.value.param == "size" and refused.value.code == "invalid_size"
    assert "16x16" in refused.value.message and "multiple of 8" in refused.value.message
    with pytest.raises(openai.BadRequestError) as refused:
        client.videos.create(prompt=PROMPT, seconds="3.3")
    assert refused.value.param == "seconds"
    assert "0, 1, 2, 3, 4 seconds" in refused.value.message
    with pytest.raises(openai.BadRequestError, match="prompt is empty"):
        client.videos.create(prompt="   ")
    with pytest.raises(openai.BadRequestError, match="at most 1000 characters"):
        client.videos.create(prompt="a " * 600)
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve("video_" + "0" * 32)
    with pytest.raises(openai.NotFoundError):
        client.videos.remix("../../etc/passwd", prompt=PROMPT)
    # A JSON integer past the float range is a bad duration, not a server error.
    huge = f'{{"prompt": "{PROMPT}", "seconds": 1{"0" * 400}}}'
    response = httpx.post(
        f"{client.base_url}videos", content=huge, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400 and response.json()["error"]["param"] == "seconds"


def test_remix_and_extend(serve):
    server = serve()
    client, files = sdk(server), state(server).files
    source = finish(client, client.videos.create(prompt=PROMPT).id)
    remix = client.videos.remix(source.id, prompt="a blue square stays still on a gray background")
    assert remix.remixed_from_video_id == source.id and remix.status == "queued"
    remix = finish(client, remix.id)
    assert (remix.mode, remix.size, remix.seconds) == ("remix", source.size, source.seconds)
    original = files.output_frames(source.id)
    assert not np.array_equal(files.output_frames(remix.id), original)
    # The edit is told what the source shows: the prompt that made it.
    assert state(server).store.get(remix.id).spec.source_prompt == PROMPT

    for direction in ("forward", "backward"):
        response = httpx.post(
            f"{server.url}/v1/videos/{source.id}/extend",
            json={"prompt": PROMPT, "seconds": "1", "direction": direction},
        )
        assert response.status_code == 200, response.text
        extended = finish(client, response.json()["id"])
        assert (extended.mode, extended.seconds, extended.frames) == ("extend", "2", 9)
        frames = files.output_frames(extended.id)
        kept = frames[:5] if direction == "forward" else frames[4:]
        np.testing.assert_array_equal(kept, original)  # the input is kept, exactly

    # The SDK's own extend and edit upload a video file.
    mp4 = client.videos.download_content(source.id).read()
    upload = client.videos.extend(prompt=PROMPT, seconds="2", video=("in.mp4", mp4, "video/mp4"))
    assert finish(client, upload.id).frames == 5 + 8
    edit = client.videos.edit(prompt=PROMPT, video=("in.mp4", mp4, "video/mp4"))
    assert finish(client, edit.id).mode == "edit"


def test_image_loop_and_connect(serve):
    server = serve()
    client = sdk(server)
    image = client.videos.create(
        prompt=PROMPT, input_reference=("ref.png", png_bytes(), "image/png")
    )
    assert finish(client, image.id).mode == "image"
    data_url = "data:image/png;base64," + base64.b64encode(png_bytes()).decode()
    response = httpx.post(
        f"{server.url}/v1/videos",
        json={"prompt": PROMPT, "loop": True, "input_reference": {"image_url": data_url}},
    )
    assert response.status_code == 200, response.text
    loop = finish(client, response.json()["id"])
    assert (loop.mode, loop.frames) == ("loop", 5)

    response = httpx.post(
        f"{server.url}/v1/videos/connect",
        json={"prompt": PROMPT, "first": {"id": image.id}, "second": {"id": loop.id}},
    )
    assert response.status_code == 200, response.text
    assert finish(client, response.json()["id"]).frames == 5 + 4 + 5

    with pytest.raises(openai.BadRequestError) as refused:
        client.videos.create(prompt=PROMPT, input_reference=("x.png", b"not an image", "image/png"))
    assert refused.value.code == "invalid_image"
    remote = {"image_url": "http://169.254.169.254/latest/meta-data"}
    response = httpx.post(
        f"{server.url}/v1/videos", json={"prompt": PROMPT, "input_reference": remote}
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "unsupported_url"
    playlist = b"#EXTM3U\n#EXTINF:1,\nfile:///etc/passwd\n"
    with pytest.raises(openai.BadRequestError, match="must be a MP4"):
        client.videos.edit(prompt=PROMPT, video=("x.m3u8", playlist, "video/mp4"))


def test_list_paging(serve):
    client = sdk(serve())
    created = [client.videos.create(prompt=f"{PROMPT} {i}").id for i in range(5)]
    page = client.videos.list(limit=2)
    assert [v.id for v in page.data] == created[::-1][:2] and page.has_more
    assert [v.id for v in client.videos.list(limit=2)] == created[::-1]  # the SDK pages on
    ascending = client.videos.list(limit=3, order="asc")
    assert [v.id for v in ascending.data] == created[:3]
    rest = client.videos.list(limit=3, order="asc", after=ascending.last_id)
    assert [v.id for v in rest.data] == created[3:] and not rest.has_more
    with pytest.raises(openai.BadRequestError):
        client.videos.list(after="video_" + "f" * 32)


def test_delete_cancels_queued_and_running_jobs(serve, caplog):
    server = serve(limits=Limits(max_steps=20000))
    client, worker = sdk(server), state(server).worker
    caplog.set_level(logging.INFO, logger="kinema.server")
    slow = client.videos.create(
        prompt=PROMPT, size="32x32", seconds="4", extra_body={"steps": 20000}
    )
    queued = client.videos.create(prompt=PROMPT)
    wait_for(lambda: client.videos.retrieve(slow.id).progress > 0)
    assert client.videos.retrieve(queued.id).status == "queued"
    with pytest.raises(openai.ConflictError, match="in_progress"):
        client.videos.remix(slow.id, prompt=PROMPT)  # only completed videos can be remixed
    with pytest.raises(openai.ConflictError):
        client.videos.download_content(queued.id)
    assert client.videos.delete(queued.id).deleted
    deleted = client.videos.delete(slow.id)
    assert (deleted.id, deleted.deleted, deleted.object) == (slow.id, True, "video.deleted")
    wait_for(lambda: worker.running is None, timeout=10)
    assert f"job {slow.id} cancelled" in caplog.text
    for video_id in (slow.id, queued.id):
        with pytest.raises(openai.NotFoundError):
            client.videos.retrieve(video_id)
        assert not state(server).files.folder(video_id).exists()
    assert client.videos.list().data == []
    with pytest.raises(openai.NotFoundError):
        client.videos.delete(slow.id)


def test_queue_limit_answers_429(serve):
    server = serve(limits=Limits(max_queue=2, max_steps=20000))
    client = sdk(server)
    slow = {"steps": 20000}
    ids = [client.videos.create(prompt=PROMPT, extra_body=slow).id for _ in range(2)]
    with pytest.raises(openai.RateLimitError) as refused:
        client.videos.create(prompt=PROMPT)
    assert refused.value.code == "queue_full"
    assert refused.value.response.headers["retry-after"] == "5"
    for video_id in ids:
        client.videos.delete(video_id)
    assert client.videos.create(prompt=PROMPT).status == "queued"


def test_api_key_and_upload_limits(serve):
    server = serve(api_key=KEY, limits=Limits(max_upload_bytes=2000))
    with pytest.raises(openai.AuthenticationError):
        sdk(server, key="wrong-key").videos.list()
    assert httpx.get(f"{server.url}/v1/videos").status_code == 401
    client = sdk(server, key=KEY)
    assert finish(client, client.videos.create(prompt=PROMPT).id).progress == 100
    page = httpx.get(f"{server.url}/")  # the studio page itself needs no key
    assert page.status_code == 200 and "Kinema" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]

    big = ("big.png", b"\x89PNG\r\n\x1a\n" + bytes(5000), "image/png")
    with pytest.raises(openai.APIStatusError) as refused:
        client.videos.create(prompt=PROMPT, input_reference=big)
    assert refused.value.status_code == 413
    response = httpx.post(
        f"{server.url}/v1/videos",
        content=b"x" * 200_000,
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
    )
    assert response.status_code == 413 and response.json()["error"]["code"] == "request_too_large"

    def endless_upload():  # chunked, no Content-Length: cut off while it arrives
        yield b'--b\r\nContent-Disposition: form-data; name="input_reference"; filename="a"\r\n\r\n'
        for _ in range(100):
            yield bytes(10_000)

    response = httpx.post(
        f"{server.url}/v1/videos",
        content=endless_upload(),
        headers={
            "Authorization": f"Bearer {KEY}",
            "Content-Type": "multipart/form-data; boundary=b",
        },
    )
    assert response.status_code == 413 and response.json()["error"]["code"] == "request_too_large"


def test_other_sites_and_host_names_are_refused(serve):
    server = serve()
    url = f"{server.url}/v1/videos"
    own = {"Origin": server.url}
    assert httpx.post(url, json={"prompt": PROMPT}, headers=own).status_code == 200
    # A page elsewhere posting a form to the local server (CSRF), and DNS rebinding.
    for headers in ({"Origin": "https://evil.example"}, {"Host": "evil.example:80"}):
        response = httpx.post(url, files={"prompt": (None, PROMPT)}, headers=headers)
        assert response.status_code == 403, headers
        assert response.json()["error"]["code"] == "forbidden"
    assert len(sdk(server).videos.list().data) == 1
