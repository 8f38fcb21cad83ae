// songlake's pages: a few small features on server-rendered HTML, one function each.
// Writes go to the JSON API (PATCH /songs/{id}/labels, POST /songs); the browser sends the
// HttpOnly login cookie with them, so no token is ever visible to this script.
"use strict";

const $ = (selector, root = document) => root.querySelector(selector);
const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

// fetch() with a JSON body and answer; never throws for HTTP errors: {ok, status, data}.
async function api(method, url, body) {
  const options = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, options);
  } catch (err) {
    return { ok: false, status: 0, data: { error: `the server did not answer (${err.message})` } };
  }
  let data = null;
  try { data = await response.json(); } catch (_) { data = { error: `${response.status} ${response.statusText}` }; }
  return { ok: response.ok, status: response.status, data };
}

function errorText(result) {
  if (result.status === 401) return "sign in first: writes need an API token";
  return (result.data && result.data.error) || `failed (${result.status})`;
}

function timeText(seconds) {
  if (!isFinite(seconds)) return "0:00";
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function cellText(value) {
  if (value === null || value === undefined) return "";
  const text = typeof value === "object" ? JSON.stringify(value) : String(value);
  return text.length > 200 ? text.slice(0, 199) + "…" : text;
}

// --- library: the SQL box replaces the table with the query's rows --------------------------

function initSqlBox() {
  const form = $("#sql-form");
  if (!form) return;
  const text = $("#sql-text"), status = $("#sql-status"), error = $("#sql-error");
  text.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); form.requestSubmit(); }
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.hidden = true;
    status.textContent = "running…";
    const result = await api("POST", "/sql", { sql: text.value, format: "json" });
    if (!result.ok) {
      status.textContent = "";
      error.textContent = errorText(result);
      error.hidden = false;
      return;
    }
    renderSqlResult(result.data);
  });
}

function renderSqlResult(result) {
  const table = $("#songs-table");
  const names = (result.columns || []).map((c) => (typeof c === "string" ? c : c.name));
  const head = document.createElement("tr");
  for (const name of names) {
    const th = document.createElement("th");
    th.textContent = name;
    head.appendChild(th);
  }
  const body = document.createElement("tbody");
  for (const row of result.rows || []) {
    const tr = document.createElement("tr");
    row.forEach((value, i) => {
      const td = document.createElement("td");
      if (names[i] === "song_id" && typeof value === "string") {
        const a = document.createElement("a");
        a.href = `/ui/songs/${encodeURIComponent(value)}`;
        a.textContent = value;
        td.appendChild(a);
      } else {
        td.textContent = cellText(value);
      }
      tr.appendChild(td);
    });
    body.appendChild(tr);
  }
  table.tHead.replaceChildren(head);
  table.tBodies[0].replaceWith(body);
  table.classList.add("sql-result");
  const pager = $("#pager");
  if (pager) pager.hidden = true;
  $("#sql-reset").hidden = false;
  $("#song-count").textContent = "query result";
  const rows = result.row_count ?? (result.rows || []).length;
  $("#sql-status").textContent =
    `${rows} row${rows === 1 ? "" : "s"}${result.truncated ? " (truncated)" : ""} in ${Number(result.seconds || 0).toFixed(3)} s, lake version ${result.version}`;
}

// --- song page: waveform, beat grid, playhead -----------------------------------------------

async function initWaveform(song, player) {
  const canvas = $("#waveform");
  if (!canvas) return;
  const base = document.createElement("canvas");
  base.width = canvas.width;
  base.height = canvas.height;
  const result = await api("GET", song.urls.waveform);
  const duration = (result.ok && result.data.duration) || song.duration;
  drawWave(base, result.ok ? result.data.peaks : []);
  drawBeats(base, song.beats, song.downbeats, duration);
  if (!result.ok) {
    const ctx = base.getContext("2d");
    ctx.fillStyle = "#a33";
    ctx.fillText(`waveform: ${errorText(result)}`, 8, 16);
  }
  canvas.dataset.ready = "true";
  const draw = () => {
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.drawImage(base, 0, 0);
    const x = (player.time() / duration) * canvas.width;
    ctx.fillStyle = "#d33";
    ctx.fillRect(Math.round(x), 0, 2, canvas.height);
    requestAnimationFrame(draw);
  };
  requestAnimationFrame(draw);
  canvas.addEventListener("click", (e) => {
    const box = canvas.getBoundingClientRect();
    player.seek(((e.clientX - box.left) / box.width) * duration);
  });
}

function drawWave(canvas, peaks) {
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, mid = h / 2;
  ctx.fillStyle = "#f6f7f9";
  ctx.fillRect(0, 0, w, h);
  if (!peaks || !peaks.length) return;
  ctx.fillStyle = "#3b6ea8";
  for (let x = 0; x < w; x++) {
    const [lo, hi] = peaks[Math.min(peaks.length - 1, Math.floor((x / w) * peaks.length))];
    const top = mid - hi * mid * 0.95, bottom = mid - lo * mid * 0.95;
    ctx.fillRect(x, top, 1, Math.max(1, bottom - top));
  }
}

function drawBeats(canvas, beats, downbeats, duration) {
  if (!duration) return;
  const ctx = canvas.getContext("2d");
  const line = (t, style, width) => {
    ctx.fillStyle = style;
    ctx.fillRect(Math.round((t / duration) * canvas.width), 0, width, canvas.height);
  };
  for (const t of beats || []) line(t, "rgba(0, 0, 0, 0.18)", 1);
  for (const t of downbeats || []) line(t, "rgba(0, 0, 0, 0.55)", 2);
}

// --- song page: the mix and four stems on one clock ------------------------------------------

// The mix plays alone, or the stems play together. The first playing element is the clock;
// the others are pulled back to it when they drift, so solo and mute never shift them in time.
function initPlayers(song) {
  const mix = $("#audio-mix");
  const stems = $$("audio.stem-audio");
  const playButton = $("#play"), clockText = $("#clock");
  const solo = new Set(), mute = new Set();
  let mode = "mix";
  let playing = false;

  const active = () => (mode === "mix" ? [mix] : stems);
  const master = () => active()[0];
  const all = () => [mix, ...stems];
  const time = () => (master() ? master().currentTime : 0);

  function applyLevels() {
    for (const el of stems) {
      const name = el.dataset.stem;
      el.muted = solo.size ? !solo.has(name) : mute.has(name);
    }
    for (const b of $$("button.solo")) b.setAttribute("aria-pressed", String(solo.has(b.dataset.stem)));
    for (const b of $$("button.mute")) b.setAttribute("aria-pressed", String(mute.has(b.dataset.stem)));
    for (const row of $$(".stem")) row.classList.toggle("silent", $("audio", row).muted);
  }

  async function play() {
    const t = time();
    for (const el of all()) if (!active().includes(el)) el.pause();
    for (const el of active()) el.currentTime = t;
    playing = true;
    playButton.textContent = "❚❚ Pause";
    try {
      await Promise.all(active().map((el) => el.play()));
    } catch (err) {
      pause();
      clockText.textContent = `cannot play: ${err.message}`;
    }
  }

  function pause() {
    playing = false;
    for (const el of all()) el.pause();
    playButton.textContent = "▶ Play";
  }

  function seek(t) {
    for (const el of all()) el.currentTime = Math.max(0, t);
  }

  function setMode(next) {
    if (next === mode) return;
    const t = time();
    const was = playing;
    pause();
    mode = next;
    seek(t);
    if (was) play();
  }

  function followClock() {
    const m = master();
    if (m && playing) {
      for (const el of active()) {
        if (el !== m && Math.abs(el.currentTime - m.currentTime) > 0.08) el.currentTime = m.currentTime;
      }
    }
    clockText.textContent = `${timeText(time())} / ${timeText(song.duration)}`;
  }

  playButton.addEventListener("click", () => (playing ? pause() : play()));
  for (const radio of $$('input[name="mode"]')) radio.addEventListener("change", () => setMode(radio.value));
  for (const b of $$("button.solo")) b.addEventListener("click", () => {
    solo.has(b.dataset.stem) ? solo.delete(b.dataset.stem) : solo.add(b.dataset.stem);
    if (mode !== "stems") { $('input[name="mode"][value="stems"]').checked = true; setMode("stems"); }
    applyLevels();
  });
  for (const b of $$("button.mute")) b.addEventListener("click", () => {
    mute.has(b.dataset.stem) ? mute.delete(b.dataset.stem) : mute.add(b.dataset.stem);
    if (mode !== "stems") { $('input[name="mode"][value="stems"]').checked = true; setMode("stems"); }
    applyLevels();
  });
  for (const el of all()) el.addEventListener("ended", () => { if (el === master()) { pause(); seek(0); } });
  setInterval(followClock, 100);
  applyLevels();
  return { time, seek, play, pause, setMode };
}

// --- label forms: only the changed fields are sent -------------------------------------------

function changedLabels(root) {
  const labels = {};
  for (const input of $$("[data-original]", root)) {
    const value = input.value.trim();
    if (value === input.dataset.original || value === "") continue;
    labels[input.name] = input.dataset.kind === "number" ? Number(value) : value;
  }
  return labels;
}

async function saveLabels(url, labels, note, status) {
  if (!Object.keys(labels).length) {
    status.textContent = "nothing changed";
    return null;
  }
  status.textContent = "saving…";
  status.className = "status";
  const result = await api("PATCH", url, note ? { labels, note } : { labels });
  if (!result.ok) {
    status.textContent = errorText(result);
    status.className = "status error";
    return null;
  }
  status.textContent = `saved (lake version ${result.data.version})`;
  status.className = "status ok";
  return result.data;
}

function initLabelForm() {
  const form = $("#label-form");
  if (!form) return;
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const labels = changedLabels(form);
    const note = $("[data-note]", form).value.trim();
    const saved = await saveLabels(form.dataset.url, labels, note, $("#label-status"));
    if (!saved) return;
    for (const input of $$("[data-original]", form)) {
      if (input.name in labels) {
        input.dataset.original = input.value.trim();
        input.closest("label").classList.add("labelled");
      }
    }
  });
}

function initAnnotationQueue() {
  for (const row of $$("#queue tr[data-song]")) {
    const button = $("button.fix", row), status = $(".status", row);
    button.addEventListener("click", async () => {
      const labels = changedLabels(row);
      const saved = await saveLabels(row.dataset.url, labels, "annotation queue", status);
      if (!saved) return;
      for (const input of $$("[data-original]", row)) if (input.name in labels) input.dataset.original = input.value.trim();
      row.classList.add("fixed");
    });
  }
}

// --- upload: one request per file with a progress bar, then its job followed ----------------

function initUpload() {
  const form = $("#upload-form");
  if (!form) return;
  const drop = $("#drop"), input = $("#files");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    input.files = e.dataTransfer.files;
  });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    for (const file of input.files) uploadFile(file, $("#license").value.trim(), $("#source").value.trim());
    form.reset();
  });
}

function uploadFile(file, license, source) {
  const row = document.createElement("tr");
  row.className = "upload-row";
  row.innerHTML = `<td class="name"></td><td><progress max="100" value="0"></progress></td>` +
    `<td class="job">uploading</td><td class="song"></td>`;
  $(".name", row).textContent = file.name;
  $("#uploads tbody").appendChild(row);
  const bar = $("progress", row), job = $(".job", row);

  const body = new FormData();
  if (license) body.append("license", license);
  if (source) body.append("source", source);
  body.append("files", file, file.name);
  const xhr = new XMLHttpRequest();
  xhr.open("POST", "/songs");
  xhr.setRequestHeader("Accept", "application/json");
  xhr.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = (100 * e.loaded) / e.total; };
  xhr.onerror = () => { job.textContent = "the upload failed: the server did not answer"; row.dataset.state = "failed"; };
  xhr.onload = () => {
    bar.value = 100;
    let data = {};
    try { data = JSON.parse(xhr.responseText); } catch (_) { /* keep {} */ }
    const first = (data.jobs || [])[0];
    if (xhr.status === 401) {
      job.innerHTML = 'sign in first: <a href="/ui/login?next=/ui/upload">sign in</a>';
      row.dataset.state = "refused";
    } else if (first && first.status === "queued") {
      followJob(first.id, row);
    } else {
      job.textContent = (first && first.detail) || data.error || `refused (${xhr.status})`;
      row.dataset.state = "refused";
    }
  };
  xhr.send(body);
}

async function followJob(id, row) {
  const job = $(".job", row), song = $(".song", row);
  row.dataset.job = id;
  for (;;) {
    const result = await api("GET", `/jobs/${encodeURIComponent(id)}`);
    if (!result.ok) {
      job.textContent = errorText(result);
      row.dataset.state = "failed";
      return;
    }
    const j = result.data;
    const stages = Object.entries(j.stages || {}).map(([k, v]) => `${k} ${v}`).join(", ");
    job.textContent = `${j.state}${stages ? ": " + stages : ""}`;
    if (j.song_id && !song.firstChild) {
      const a = document.createElement("a");
      a.href = `/ui/songs/${encodeURIComponent(j.song_id)}`;
      a.textContent = (j.song && j.song.title) || j.filename || j.song_id.slice(0, 12);
      a.className = "song-link";
      song.appendChild(a);
    }
    if (j.done) {
      row.dataset.state = j.state;
      if (j.detail && j.state !== "done") job.textContent += ` (${j.detail})`;
      return;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

// --- start what the page has -----------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  initSqlBox();
  initLabelForm();
  initAnnotationQueue();
  initUpload();
  const data = $("#song-data");
  if (data) {
    const song = JSON.parse(data.textContent);
    const player = initPlayers(song);
    initWaveform(song, player);
    window.songlakePlayer = player; // for the browser tests and the console
  }
});
