// Kinema studio: a page over the server's own /v1 API. No libraries, nothing from elsewhere.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  caps: null,          // GET /v1/kinema
  source: null,        // a gallery video chosen for remix or extend
  current: null,       // the id of the last video submitted here
  cards: new Map(),    // id -> card element (kept, so playing videos are not reset)
  media: new Map(),    // id -> object URL of the downloaded mp4
  listsAsked: 0,       // gallery lists requested so far
  listShown: 0,        // the newest request whose answer the gallery shows
};

// ---- the API ------------------------------------------------------------------------------

function headers() {
  const key = sessionStorage.getItem("kinema-api-key");
  return key ? { Authorization: `Bearer ${key}` } : {};
}

async function api(path, options = {}) {
  const response = await fetch(`/v1${path}`, {
    ...options,
    headers: { ...headers(), ...(options.headers || {}) },
  });
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      message = (await response.json()).error.message;
    } catch (_) { /* not our JSON error */ }
    const error = new Error(message);
    error.status = response.status;
    throw error;
  }
  return response;
}

const postJSON = (path, body) =>
  api(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });

const postForm = (path, fields) => {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) {
    if (value !== undefined && value !== null && value !== "") form.append(name, value);
  }
  return api(path, { method: "POST", body: form });
};

// ---- setup --------------------------------------------------------------------------------

async function loadCapabilities() {
  try {
    state.caps = await (await api("/kinema")).json();
  } catch (error) {
    if (error.status === 401) {
      $("key-row").hidden = false;
      $("model-info").textContent = "This server needs an API key.";
      return false;
    }
    $("model-info").textContent = `Cannot reach the server: ${error.message}`;
    return false;
  }
  const caps = state.caps;
  $("model-info").textContent =
    `${caps.model} · ${caps.default_size} at ${caps.fps} fps · sizes: ${caps.size_rule}`;
  fillSelect($("size"), caps.sizes, caps.default_size);
  updateForm();
  return true;
}

function fillSelect(select, values, chosen, label = (v) => v) {
  const previous = select.value;
  select.replaceChildren(
    ...values.map((value) => {
      const option = document.createElement("option");
      option.value = value;
      option.textContent = label(value);
      return option;
    })
  );
  if (values.includes(previous)) select.value = previous;
  else if (values.includes(chosen)) select.value = chosen;
}

// ---- the form -----------------------------------------------------------------------------

function updateForm() {
  const caps = state.caps;
  if (!caps) return;
  const mode = $("mode").value;
  const fromSource = state.source !== null && (mode === "remix" || mode === "extend");
  const extending = mode === "extend" || mode === "connect";
  let seconds = extending ? caps.extension_seconds : caps.seconds;
  if (mode === "loop") seconds = seconds.filter((s) => Number(s) > 0);
  fillSelect($("seconds"), seconds, extending ? seconds[0] : caps.default_seconds, (s) => `${s} s`);

  $("seconds-field").hidden = mode === "remix" || mode === "edit";
  $("size-field").hidden = fromSource || mode === "connect" || mode === "remix";
  $("direction-field").hidden = mode !== "extend";
  $("connect-field").hidden = mode !== "connect";
  $("source-row").hidden = !fromSource;
  $("source-id").textContent = fromSource ? state.source : "";

  const upload = { image: "Image (first frame)", loop: "Image (optional first frame)",
                   edit: "Video to edit", extend: "Video to extend" }[mode];
  $("upload-field").hidden = !upload || fromSource;
  $("upload-label").textContent = upload || "";
}

function chooseSource(id, mode) {
  state.source = id;
  $("mode").value = mode;
  updateForm();
  $("prompt").focus();
}

async function submit(event) {
  event.preventDefault();
  const mode = $("mode").value;
  const file = $("upload").files[0];
  const common = {
    prompt: $("prompt").value,
    seed: Number($("seed").value || 0),
  };
  const seconds = $("seconds").value;
  const size = $("size").value;
  let response;
  setMessage("Sending…");
  try {
    if (mode === "text" || mode === "image" || mode === "loop") {
      if (mode === "image" && !file) throw new Error("Choose an image to animate.");
      const fields = { ...common, seconds, size, loop: mode === "loop" };
      response = file && mode !== "text"
        ? await postForm("/videos", { ...fields, input_reference: file })
        : await postJSON("/videos", fields);
    } else if (mode === "remix") {
      response = await postJSON(`/videos/${state.source}/remix`, common);
    } else if (mode === "extend" && state.source) {
      response = await postJSON(`/videos/${state.source}/extend`,
        { ...common, seconds, direction: $("direction").value });
    } else if (mode === "extend" || mode === "edit") {
      if (!file) throw new Error("Choose a video file.");
      const path = mode === "extend" ? "/videos/extensions" : "/videos/edits";
      const extra = mode === "extend" ? { seconds, direction: $("direction").value } : {};
      response = await postForm(path, { ...common, ...extra, size, video: file });
    } else if (mode === "connect") {
      const first = $("first").value, second = $("second").value;
      if (!first || !second) throw new Error("Pick two completed videos from the gallery.");
      response = await postJSON("/videos/connect",
        { ...common, seconds, first: { id: first }, second: { id: second } });
    }
  } catch (error) {
    setMessage(error.message, true);
    return;
  }
  const video = await response.json();
  state.current = video.id;
  setMessage("Queued.");
  showCurrent(video);
  refresh();
}

function setMessage(text, isError = false) {
  $("message").textContent = text;
  $("message").classList.toggle("error", isError);
}

function showCurrent(video) {
  $("current").hidden = false;
  $("current-id").textContent = video.id;
  $("current-status").textContent =
    video.status === "failed" ? `failed: ${video.error ? video.error.message : ""}` : video.status;
  $("current-progress").value = video.progress;
}

// ---- the gallery --------------------------------------------------------------------------

async function refresh() {
  // Refreshes overlap (the poll, a submit, a delete): an answer that arrives after a newer
  // one is dropped, or a finished video would flip back to "in_progress" for a moment.
  const asked = ++state.listsAsked;
  let list;
  try {
    list = await (await api("/videos?limit=50&order=desc")).json();
  } catch (error) {
    if (error.status === 401) $("key-row").hidden = false;
    return;
  }
  if (asked < state.listShown) return;
  state.listShown = asked;
  const seen = new Set();
  const gallery = $("gallery");
  list.data.forEach((video, index) => {
    seen.add(video.id);
    const card = state.cards.get(video.id) || makeCard(video);
    updateCard(card, video);
    if (gallery.children[index] !== card) gallery.insertBefore(card, gallery.children[index] || null);
    if (video.id === state.current) showCurrent(video);
  });
  for (const [id, card] of state.cards) {
    if (!seen.has(id)) forget(id, card);
  }
  $("gallery-empty").hidden = list.data.length > 0;
  const completed = list.data.filter((v) => v.status === "completed").map((v) => v.id);
  fillSelect($("first"), completed, completed[1]);
  fillSelect($("second"), completed, completed[0]);
}

function makeCard(video) {
  const card = $("card-template").content.firstElementChild.cloneNode(true);
  card.dataset.id = video.id;
  card.querySelector(".remix").addEventListener("click", () => chooseSource(video.id, "remix"));
  card.querySelector(".extend").addEventListener("click", () => chooseSource(video.id, "extend"));
  card.querySelector(".delete").addEventListener("click", async () => {
    try {
      await api(`/videos/${video.id}`, { method: "DELETE" });
    } catch (error) {
      setMessage(error.message, true);
    }
    refresh();
  });
  state.cards.set(video.id, card);
  return card;
}

function updateCard(card, video) {
  card.dataset.status = video.status;
  card.querySelector(".prompt").textContent = video.prompt || "";
  card.querySelector(".meta").textContent =
    `${video.mode} · ${video.size} · ${video.seconds} s · seed ${video.seed} · ${video.status}`;
  const progress = card.querySelector("progress");
  progress.value = video.progress;
  progress.hidden = video.status === "completed" || video.status === "failed";
  const error = card.querySelector(".error");
  error.hidden = video.status !== "failed";
  error.textContent = video.error ? video.error.message : "";
  const done = video.status === "completed";
  card.querySelector(".remix").hidden = !done;
  card.querySelector(".extend").hidden = !done;
  card.querySelector(".delete").textContent = done || video.status === "failed" ? "Delete" : "Cancel";
  if (done && !state.media.has(video.id)) loadVideo(card, video.id);
}

async function loadVideo(card, id) {
  // Fetched with the API key, then played from memory: a <video src> cannot send headers.
  state.media.set(id, null);
  try {
    const blob = await (await api(`/videos/${id}/content?variant=video`)).blob();
    const url = URL.createObjectURL(blob);
    state.media.set(id, url);
    const player = card.querySelector("video");
    player.src = url;
    player.hidden = false;
    player.play().catch(() => { /* autoplay may be refused; the controls remain */ });
    const link = card.querySelector(".download");
    link.href = url;
    link.download = `${id}.mp4`;
    link.hidden = false;
  } catch (error) {
    state.media.delete(id);
  }
}

function forget(id, card) {
  const url = state.media.get(id);
  if (url) URL.revokeObjectURL(url);
  state.media.delete(id);
  state.cards.delete(id);
  card.remove();
  if (state.source === id) {
    state.source = null;
    updateForm();
  }
}

// ---- start --------------------------------------------------------------------------------

$("mode").addEventListener("change", () => {
  if ($("mode").value !== "extend" && $("mode").value !== "remix") state.source = null;
  updateForm();
});
$("clear-source").addEventListener("click", () => {
  state.source = null;
  if ($("mode").value === "remix") $("mode").value = "edit";
  updateForm();
});
$("api-key").addEventListener("change", async () => {
  sessionStorage.setItem("kinema-api-key", $("api-key").value.trim());
  if (await loadCapabilities()) {
    $("key-row").hidden = true;
    refresh();
  }
});
$("create-form").addEventListener("submit", submit);

(async () => {
  if (await loadCapabilities()) refresh();
  // Live progress: poll quickly while something is queued or running, slowly otherwise.
  const tick = async () => {
    if (state.caps) await refresh();
    const busy = [...state.cards.values()].some(
      (card) => card.dataset.status === "queued" || card.dataset.status === "in_progress"
    );
    setTimeout(tick, busy ? 400 : 2000);
  };
  setTimeout(tick, 400);
})();
